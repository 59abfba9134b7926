"""Phonon flow: ingest (or reuse) DFT phonons, then fixed- and/or relaxed-mode model jobs.

Per (material, model): fixed mode is one batched :class:`ModelForcesMaker` job on
the reference's displaced supercells (task ``phonons-fixed``, so force parity comes
from the SofteningBuilder); relaxed mode is one :class:`RelaxedPhononMaker` job.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

from jobflow import Flow, Job, JobStore, Maker, OutputReference

from softbench.ingest import SourceItem
from softbench.makers.phonons import (
    PHONOPY_KEY,
    RELAX_FMAX,
    RELAX_STEPS,
    PhononReferenceMaker,
    RelaxedPhononMaker,
)
from softbench.models import ModelSpec, model_ref
from softbench.schemas.base import PHONON_RELAXED, REFERENCE, doc_type_query
from softbench.schemas.phonons import PHONON_TASKS
from softbench.workflows.forces import model_job, reference_flow, route
from softbench.workflows.reuse import (
    existing_predictions,
    newest_matching,
    reusable_references,
)

MODES = ("fixed", "relaxed")


def relaxed_job(
    spec: ModelSpec,
    reference: OutputReference | dict[str, Any],
    reference_uuid: str | None,
    material_id: str,
    device: str | None = None,
    fmax: float = RELAX_FMAX,
    max_steps: int = RELAX_STEPS,
) -> Job:
    """A relaxed-mode job named after material and model, routed to the model's env."""
    maker = RelaxedPhononMaker(
        name=f"{spec.name} phonons-relaxed {material_id}",
        model=model_ref(spec),
        fmax=fmax,
        max_steps=max_steps,
        device=device,
    )
    job = maker.make(reference, reference_uuid=reference_uuid)
    return route(job, spec, PHONON_TASKS["relaxed"], material_id)


def mode_jobs(
    models: Sequence[ModelSpec],
    modes: Sequence[str],
    skip: set[tuple[str, str, str]],
    device: str | None = None,
    fmax: float = RELAX_FMAX,
    max_steps: int = RELAX_STEPS,
) -> Callable[[str, OutputReference, str], Iterator[Job]]:
    """``model_jobs(material, reference output, reference uuid)``: every mode's model jobs.

    Both modes run on the one reference of a material; ``skip`` holds (mode,
    material, model) already done.
    """

    def model_jobs(mid: str, ref_output: OutputReference, ref_uuid: str) -> Iterator[Job]:
        for spec in models:
            if "fixed" in modes and ("fixed", mid, spec.name) not in skip:
                yield model_job(spec, ref_output, ref_uuid, mid, device, PHONON_TASKS["fixed"])
            if "relaxed" in modes and ("relaxed", mid, spec.name) not in skip:
                yield relaxed_job(spec, ref_output, ref_uuid, mid, device, fmax, max_steps)

    return model_jobs


def phonon_flow(
    items: Sequence[SourceItem],
    models: Sequence[ModelSpec],
    label: str,
    modes: Sequence[str] = MODES,
    settings: dict[str, Any] | None = None,
    existing_references: dict[str, str] | None = None,
    skip: set[tuple[str, str, str]] | None = None,
    device: str | None = None,
    fmax: float = RELAX_FMAX,
    max_steps: int = RELAX_STEPS,
) -> Flow:
    """Build the flow; ``skip`` holds (mode, material, model) already done."""
    task = PHONON_TASKS["fixed"]

    def ingest_maker(mid: str) -> Maker:
        return PhononReferenceMaker(
            name=f"ingest phonons {mid}", task=task, label=label, settings=settings or {}
        )

    model_jobs = mode_jobs(models, modes, skip or set(), device, fmax, max_steps)
    return reference_flow(
        items, task, ingest_maker, existing_references, model_jobs, name="softbench phonons"
    )


def reusable_phonon_references(
    jobs: JobStore, label: str, items: Sequence[SourceItem]
) -> dict[str, str]:
    """Stored references of identical data that carry the phonopy metadata."""
    found = reusable_references(jobs, PHONON_TASKS["fixed"], label, items)
    if not found:
        return {}
    with_meta = {
        d["uuid"]
        for d in jobs.query(
            {
                "uuid": {"$in": list(found.values())},
                f"output.dft_settings.{PHONOPY_KEY}": {"$exists": True},
            },
            properties=["uuid"],
        )
    }
    return {mid: uuid for mid, uuid in found.items() if uuid in with_meta}


def existing_phonon_work(
    jobs: JobStore, reference_uuids: dict[str, str], models: Sequence[str]
) -> set[tuple[str, str, str]]:
    """(mode, material, model) with a successful result on the given references."""
    done = {("fixed", mid, m) for mid, m in existing_predictions(jobs, reference_uuids, models)}
    relaxed = existing_predictions(jobs, reference_uuids, models, doc_type=PHONON_RELAXED)
    return done | {("relaxed", mid, m) for mid, m in relaxed}


def cp2k_phonon_flow(
    structures: dict[str, Any],
    models: Sequence[ModelSpec],
    settings: Any,
    modes: Sequence[str] = MODES,
    min_length: float = 10.0,
    device: str | None = None,
    existing_references: dict[str, str] | None = None,
    skip: set[tuple[str, str, str]] | None = None,
    fmax: float = RELAX_FMAX,
    max_steps: int = RELAX_STEPS,
) -> Flow:
    """Per material: CP2K phonons (:mod:`softbench.makers.cp2k.phonons`), then model jobs.

    ``existing_references``: material id -> job uuid of a stored CP2K reference of
    the same input (:func:`reusable_cp2k_phonon_references`; no CP2K job then);
    ``skip``: (mode, material, model) already done on it.
    """
    from softbench.makers.cp2k.phonons import Cp2kPhononReferenceMaker

    existing_references = existing_references or {}
    model_jobs = mode_jobs(models, modes, skip or set(), device, fmax, max_steps)
    jobs: list[Job | Flow] = []
    for mid, structure in structures.items():
        if mid in existing_references:
            ref_uuid = existing_references[mid]
            ref_output = OutputReference(ref_uuid)
        else:
            maker = Cp2kPhononReferenceMaker(
                name=f"cp2k phonons {mid}", settings=settings, min_length=min_length
            )
            ref = maker.make(structure, mid)
            ref.update_config({"manager_config": {"_category": "default"}})
            ref.metadata.update({"softbench": {"task": PHONON_TASKS["fixed"], "material_id": mid}})
            jobs.append(ref)
            ref_uuid, ref_output = ref.uuid, ref.output
        jobs.extend(model_jobs(mid, ref_output, ref_uuid))
    return Flow(jobs, name="softbench phonons (CP2K)")


def reusable_cp2k_phonon_references(
    jobs: JobStore, label: str, input_keys: dict[str, str]
) -> dict[str, str]:
    """material_id -> uuid of the newest successful CP2K reference of the same input.

    ``input_keys``: material id -> :func:`~softbench.makers.cp2k.phonons.phonon_input_key`
    (structure, CP2K settings, supercell and displacement).
    """
    criteria = {
        "output.doc_type": doc_type_query(REFERENCE),
        "output.task": PHONON_TASKS["fixed"],
        "output.reference": label,
        "output.state": "successful",
    }
    return newest_matching(jobs, criteria, list(input_keys), "input_key", input_keys.__getitem__)
