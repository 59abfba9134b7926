"""Amplitude flow: ingest (or reuse) phonon references, then one model job per pair.

The references are the phonon task's (task ``phonons-fixed``, with phonopy
metadata), so a material already run with ``softbench run phonons`` is not
re-ingested.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from jobflow import Flow, Job, JobStore, Maker, OutputReference

from softbench.analysis.amplitude import DEFAULT_AMPLITUDES, DEFAULT_PATTERNS, DEFAULT_SEED
from softbench.builders.pairing import newest
from softbench.ingest import SourceItem
from softbench.makers.amplitude import ModelAmplitudeMaker
from softbench.makers.phonons import PhononReferenceMaker
from softbench.models import ModelSpec, model_ref
from softbench.schemas.amplitude import TASK
from softbench.schemas.base import AMPLITUDE_PREDICTION, doc_type_query
from softbench.schemas.phonons import PHONON_TASKS
from softbench.workflows.forces import reference_flow, route


def amplitude_job(
    spec: ModelSpec,
    reference: OutputReference | dict[str, Any],
    reference_uuid: str | None,
    material_id: str,
    device: str | None = None,
    options: dict[str, Any] | None = None,
) -> Job:
    """One model amplitude job, named after material and model, routed to the model's env."""
    maker = ModelAmplitudeMaker(
        name=f"{spec.name} amplitude {material_id}",
        model=model_ref(spec),
        device=device,
        **(options or {}),
    )
    return route(maker.make(reference, reference_uuid=reference_uuid), spec, TASK, material_id)


def amplitude_flow(
    items: Sequence[SourceItem],
    models: Sequence[ModelSpec],
    label: str,
    settings: dict[str, Any] | None = None,
    existing_references: dict[str, str] | None = None,
    skip: set[tuple[str, str]] | None = None,
    device: str | None = None,
    options: dict[str, Any] | None = None,
) -> Flow:
    """Build the flow; ``skip`` holds (material, model) pairs already done with ``options``.

    ``options``: :class:`ModelAmplitudeMaker` fields (amplitudes, n_patterns, seed).
    """
    skip = skip or set()
    task = PHONON_TASKS["fixed"]

    def ingest_maker(mid: str) -> Maker:
        return PhononReferenceMaker(
            name=f"ingest phonons {mid}", task=task, label=label, settings=settings or {}
        )

    def model_jobs(mid: str, ref_output: OutputReference, ref_uuid: str) -> list[Job]:
        return [
            amplitude_job(spec, ref_output, ref_uuid, mid, device, options)
            for spec in models
            if (mid, spec.name) not in skip
        ]

    return reference_flow(
        items, task, ingest_maker, existing_references, model_jobs, name="softbench amplitude"
    )


def existing_amplitude_predictions(
    jobs: JobStore,
    reference_uuids: dict[str, str],
    models: Sequence[str],
    options: dict[str, Any] | None = None,
) -> set[tuple[str, str]]:
    """(material, model) pairs whose newest successful prediction has these settings.

    Only predictions on ``reference_uuids`` count; the builder reads the newest one.
    """
    if not reference_uuids:
        return set()
    opts = {
        "amplitudes": DEFAULT_AMPLITUDES,
        "n_patterns": DEFAULT_PATTERNS,
        "seed": DEFAULT_SEED,
        **(options or {}),
    }
    settings = {
        "amplitudes_angstrom": sorted(float(a) for a in opts["amplitudes"]),
        "n_patterns": opts["n_patterns"],
        "seed": opts["seed"],
    }
    docs = jobs.query(
        {
            "output.doc_type": doc_type_query(AMPLITUDE_PREDICTION),
            "output.reference_uuid": {"$in": list(reference_uuids.values())},
            "output.model.name": {"$in": list(models)},
            "output.state": "successful",
        },
        properties=[
            "output.material_id",
            "output.model.name",
            "output.settings",
            "output.created_at",
        ],
    )
    latest = newest(docs, lambda d: (d["output"]["material_id"], d["output"]["model"]["name"]))
    return {key for key, d in latest.items() if d["output"].get("settings") == settings}
