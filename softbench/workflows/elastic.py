"""Elastic flows: reference (ingested, VASP or CP2K) and one model job per (material, model)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from jobflow import Flow, Job, JobStore, Maker, OutputReference

from softbench.builders.pairing import newest
from softbench.ingest import SourceItem
from softbench.makers.elastic import IngestElasticReferenceMaker, ModelElasticMaker
from softbench.models import ModelSpec, model_ref
from softbench.schemas.base import ELASTIC_PREDICTION, ELASTIC_REFERENCE
from softbench.schemas.elastic import TASK
from softbench.workflows.forces import reference_flow, route
from softbench.workflows.reuse import (
    existing_predictions,
    newest_matching,
    reusable_references,
)

if TYPE_CHECKING:
    from pymatgen.core import Structure


def elastic_model_job(
    spec: ModelSpec,
    reference: OutputReference | dict[str, Any],
    reference_uuid: str | None,
    material_id: str,
    device: str | None = None,
    options: dict[str, Any] | None = None,
) -> Job:
    """One model elastic job, named after material and model, routed to the model's env."""
    maker = ModelElasticMaker(
        name=f"{spec.name} elastic {material_id}",
        model=model_ref(spec),
        device=device,
        **(options or {}),
    )
    return route(maker.make(reference, reference_uuid=reference_uuid), spec, TASK, material_id)


def elastic_flow(
    items: Sequence[SourceItem],
    models: Sequence[ModelSpec],
    label: str,
    settings: dict[str, Any] | None = None,
    existing_references: dict[str, str] | None = None,
    skip: set[tuple[str, str]] | None = None,
    device: str | None = None,
    options: dict[str, Any] | None = None,
) -> Flow:
    """Ingest references (or reuse stored ones) and run every model on every material.

    ``existing_references``: material id -> job uuid of a stored reference to reuse;
    ``skip``: (material, model) pairs already predicted on that reference.
    ``options``: :class:`ModelElasticMaker` fields (fmax, relax_deformed, ...).
    """
    skip = skip or set()

    def ingest_maker(mid: str) -> Maker:
        return IngestElasticReferenceMaker(
            name=f"ingest elastic {mid}", label=label, settings=settings or {}
        )

    def model_jobs(mid: str, ref_output: OutputReference, ref_uuid: str) -> list[Job]:
        return [
            elastic_model_job(spec, ref_output, ref_uuid, mid, device, options)
            for spec in models
            if (mid, spec.name) not in skip
        ]

    return reference_flow(
        items, TASK, ingest_maker, existing_references, model_jobs, name="softbench elastic"
    )


def dft_elastic_flow(
    structures: dict[str, Structure],
    models: Sequence[ModelSpec],
    maker: Any,
    device: str | None = None,
    options: dict[str, Any] | None = None,
    existing_references: dict[str, str] | None = None,
    skip: set[tuple[str, str]] | None = None,
) -> Flow:
    """DFT by computation, then the models on its reference.

    ``maker``: :class:`VaspElasticReferenceMaker` (a flow whose last job writes the
    reference) or :class:`~softbench.makers.cp2k.elastic.Cp2kElasticMaker` (one job);
    ``maker.make(structure, material_id)``. ``existing_references``: material id ->
    job uuid of a stored reference computed from the same input (no DFT job then);
    ``skip``: (material, model) pairs already predicted on it.
    """
    existing_references, skip = existing_references or {}, skip or set()
    jobs: list[Job | Flow] = []
    for mid, structure in structures.items():
        if mid in existing_references:
            ref_uuid = existing_references[mid]
            ref_output: OutputReference = OutputReference(ref_uuid)
        else:
            dft = maker.make(structure, mid)
            dft.name = f"{maker.name} {mid}"
            jobs.append(dft)
            # a flow's reference document is the output of its last (conversion) job
            last = dft.jobs[-1] if isinstance(dft, Flow) else dft
            last.metadata.update({"softbench": {"task": TASK, "material_id": mid}})
            ref_uuid, ref_output = last.uuid, last.output
        for spec in models:
            if (mid, spec.name) not in skip:
                jobs.append(elastic_model_job(spec, ref_output, ref_uuid, mid, device, options))
    return Flow(jobs, name=f"softbench elastic ({maker.name})")


def reusable_computed_references(
    jobs: JobStore, label: str, input_keys: dict[str, str]
) -> dict[str, str]:
    """material_id -> uuid of the newest successful computed reference of the same input.

    ``input_keys``: material id -> the reference maker's input key (structure,
    settings and protocol hash, e.g. :func:`~softbench.makers.cp2k.elastic.elastic_input_key`).
    """
    criteria = {
        "output.doc_type": ELASTIC_REFERENCE,
        "output.reference": label,
        "output.state": "successful",
    }
    return newest_matching(jobs, criteria, list(input_keys), "input_key", input_keys.__getitem__)


def reusable_elastic_references(
    jobs: JobStore, label: str, items: Sequence[SourceItem]
) -> dict[str, str]:
    """material_id -> uuid of the newest stored reference read from the same file bytes."""
    return reusable_references(jobs, None, label, items, doc_type=ELASTIC_REFERENCE)


def existing_elastic_predictions(
    jobs: JobStore,
    reference_uuids: dict[str, str],
    models: Sequence[str],
    strain_scan: Sequence[float] = (),
) -> set[tuple[str, str]]:
    """(material_id, model) pairs with a successful prediction on the given references.

    With ``strain_scan``, a pair counts only when its newest successful prediction
    holds that scan (the builder reads the newest one).
    """
    if not strain_scan:
        return existing_predictions(jobs, reference_uuids, models, doc_type=ELASTIC_PREDICTION)
    if not reference_uuids:
        return set()
    docs = jobs.query(
        {
            "output.doc_type": ELASTIC_PREDICTION,
            "output.reference_uuid": {"$in": list(reference_uuids.values())},
            "output.model.name": {"$in": list(models)},
            "output.state": "successful",
        },
        properties=[
            "output.material_id",
            "output.model.name",
            "output.created_at",
            "output.settings.strain_scan",
        ],
    )
    wanted = [float(m) for m in strain_scan]
    latest = newest(docs, lambda d: (d["output"]["material_id"], d["output"]["model"]["name"]))
    return {
        key
        for key, d in latest.items()
        if (d["output"].get("settings") or {}).get("strain_scan") == wanted
    }
