"""Force-parity flow: ingest references, then one model job per (material, model)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict
from typing import Any

from jobflow import Flow, Job, Maker, OutputReference

from softbench.ingest import SourceItem
from softbench.makers.forces import ModelForcesMaker
from softbench.makers.reference import IngestReferenceMaker
from softbench.models import ModelSpec, model_ref


def model_job(
    spec: ModelSpec,
    reference: OutputReference | dict[str, Any],
    reference_uuid: str | None,
    material_id: str,
    device: str | None = None,
    task: str = "forces",
    stress: bool = False,
) -> Job:
    """A model-forces job named after material and model, routed to the model's env."""
    maker = ModelForcesMaker(
        name=f"{spec.name} {task} {material_id}",
        model=model_ref(spec),  # by name, or by full spec for non-built-in models
        device=device,
        stress=stress,
    )
    return route(maker.make(reference, reference_uuid=reference_uuid), spec, task, material_id)


def route(job: Job, spec: ModelSpec, task: str, material_id: str) -> Job:
    """Send a model job to the model's environment and tag it with task, material, model."""
    # FireWorks: only workers of the model's environment pick this job up.
    job.update_config({"manager_config": {"_category": spec.environment}})
    job.metadata.update(
        {"softbench": {"task": task, "material_id": material_id, "model": spec.name}}
    )
    return job


def ingest_or_reuse(
    item: SourceItem, task: str, maker: Maker, existing_references: dict[str, str]
) -> tuple[str, OutputReference, Job | Flow | None]:
    """(uuid, output reference, new job or None) of a material's reference.

    A reference already in the store (``existing_references``: material id -> job
    uuid) is referenced by uuid; otherwise ``maker`` ingests it in a new job.
    """
    mid = item.material_id
    if mid in existing_references:
        uuid = existing_references[mid]
        return uuid, OutputReference(uuid), None
    job = maker.make(asdict(item))
    job.metadata.update({"softbench": {"task": task, "material_id": mid}})
    return job.uuid, job.output, job


ModelJobs = Callable[[str, OutputReference, str], Iterable[Job]]


def reference_flow(
    items: Sequence[SourceItem],
    task: str,
    ingest_maker: Callable[[str], Maker],
    existing_references: dict[str, str] | None,
    model_jobs: ModelJobs,
    name: str,
) -> Flow:
    """Per material: its reference (ingested or reused), then its model jobs.

    ``ingest_maker(material_id)`` makes the ingestion maker (used only where no
    stored reference is reused, see :func:`ingest_or_reuse`);
    ``model_jobs(material_id, reference output, reference uuid)`` gives the jobs
    on that reference.
    """
    existing_references = existing_references or {}
    jobs: list[Job | Flow] = []
    for item in items:
        mid = item.material_id
        maker = ingest_maker(mid)
        ref_uuid, ref_output, ingest = ingest_or_reuse(item, task, maker, existing_references)
        if ingest is not None:
            jobs.append(ingest)
        jobs.extend(model_jobs(mid, ref_output, ref_uuid))
    return Flow(jobs, name=name)


def force_parity_flow(
    items: Sequence[SourceItem],
    models: Sequence[ModelSpec],
    label: str,
    task: str = "forces",
    settings: dict[str, Any] | None = None,
    existing_references: dict[str, str] | None = None,
    skip: set[tuple[str, str]] | None = None,
    device: str | None = None,
    stress: bool = False,
) -> Flow:
    """Build the flow.

    ``existing_references`` maps material ids to the job uuid of a reference already
    in the store: those are reused, not re-ingested. ``skip`` holds (material,
    model) pairs whose predictions already exist.
    """
    skip = skip or set()

    def ingest_maker(mid: str) -> Maker:
        return IngestReferenceMaker(
            name=f"ingest {task} {mid}", task=task, label=label, settings=settings or {}
        )

    def model_jobs(mid: str, ref_output: OutputReference, ref_uuid: str) -> list[Job]:
        return [
            model_job(spec, ref_output, ref_uuid, mid, device, task, stress)
            for spec in models
            if (mid, spec.name) not in skip
        ]

    return reference_flow(
        items, task, ingest_maker, existing_references, model_jobs, name=f"softbench {task}"
    )
