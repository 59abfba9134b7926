"""Force-parity flow: ingest references, then one model job per (material, model)."""

from __future__ import annotations

from collections.abc import Sequence
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
    job = maker.make(reference, reference_uuid=reference_uuid)
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
    existing_references = existing_references or {}
    skip = skip or set()
    jobs: list[Job | Flow] = []
    for item in items:
        mid = item.material_id
        maker = IngestReferenceMaker(
            name=f"ingest {task} {mid}", task=task, label=label, settings=settings or {}
        )
        ref_uuid, ref_output, ingest = ingest_or_reuse(item, task, maker, existing_references)
        if ingest is not None:
            jobs.append(ingest)
        for spec in models:
            if (mid, spec.name) in skip:
                continue
            jobs.append(model_job(spec, ref_output, ref_uuid, mid, device, task, stress))
    return Flow(jobs, name=f"softbench {task}")
