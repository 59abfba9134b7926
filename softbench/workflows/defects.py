"""Point-defect flows: per material a DFT reference (VASP or CP2K, optional) and model jobs.

The defect set is built once per material (:func:`softbench.makers.defects.defect_set`)
and given to every method, so DFT and models compute the same labelled defects.
A rerun reuses the newest successful DFT document of the same label computed from an
identical defect set (same checksum) instead of a new DFT job, and skips (material,
model) pairs whose successful document was computed from it, unless ``rerun``. Model
jobs name the reference they pair with (``reference_uuid``).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any

from jobflow import Flow, Job, JobStore

from softbench.makers.defects import PointDefectMaker
from softbench.models import ModelSpec, model_ref
from softbench.schemas.base import doc_type_query, input_checksum
from softbench.schemas.defects import DEFECT_PREDICTION, DEFECT_REFERENCE, TASK, DefectSet
from softbench.workflows.forces import route
from softbench.workflows.reuse import reusable_computed


def defect_model_job(
    spec: ModelSpec,
    dset: DefectSet,
    label: str,
    device: str | None = None,
    options: dict[str, Any] | None = None,
    reference_uuid: str | None = None,
) -> Job:
    """One model job on one material's defect set, routed to the model's environment."""
    maker = PointDefectMaker(
        name=f"{spec.name} defects {dset.material_id}",
        model=model_ref(spec),
        device=device,
        label=label,
        **(options or {}),
    )
    job = maker.make(dset.model_dump(), reference_uuid)
    return route(job, spec, TASK, dset.material_id)


def dft_jobs(
    sets: Sequence[DefectSet], label: str, dft: str | None, cp2k: Any = None
) -> tuple[list[Job | Flow], dict[str, str]]:
    """DFT jobs of ``sets`` and material -> uuid of the job writing its reference."""
    if dft == "vasp":
        from softbench.makers.vasp.defects import VaspDefectReferenceMaker, vasp_defect_flow_jobs

        flows = vasp_defect_flow_jobs(sets, VaspDefectReferenceMaker(label=label))
        return list(flows), {s.material_id: f.output.uuid for s, f in zip(sets, flows, strict=True)}
    if dft == "cp2k":
        from softbench.makers.cp2k.defects import Cp2kDefectMaker

        maker = Cp2kDefectMaker(settings=cp2k) if cp2k is not None else Cp2kDefectMaker()
        jobs: list[Job | Flow] = []
        for dset in sets:
            job = maker.make(dset.model_dump())
            job.name = f"cp2k defects {dset.material_id}"
            jobs.append(job)
        return jobs, {s.material_id: j.uuid for s, j in zip(sets, jobs, strict=True)}
    return [], {}


def defects_flow(
    sets: Sequence[DefectSet],
    models: Sequence[ModelSpec],
    label: str,
    dft: str | None = "vasp",
    skip: set[tuple[str, str]] | None = None,
    device: str | None = None,
    options: dict[str, Any] | None = None,
    cp2k: Any = None,
    references: dict[str, str] | None = None,
) -> Flow:
    """DFT (``dft``: "vasp", "cp2k" or None) and model jobs of every material.

    ``references``: material -> uuid of a stored reference to reuse (no DFT job).
    """
    skip = skip or set()
    references = references or {}
    todo = [s for s in sets if s.material_id not in references]
    jobs, computed = dft_jobs(todo, label, dft, cp2k)
    pairs = {**references, **computed}
    for dset in sets:
        opts = {**(options or {}), "input_checksum": input_checksum(dset)}
        jobs += [
            defect_model_job(spec, dset, label, device, opts, pairs.get(dset.material_id))
            for spec in models
            if (dset.material_id, spec.name) not in skip
        ]
    return Flow(jobs, name="softbench defects")


def paired_references(
    material_ids: Collection[str], reused: Mapping[str, str], dft: str | None
) -> dict[str, str | None]:
    """Material -> uuid of the reference new model jobs will name (None: computed now).

    Without a DFT side only the reused materials have one.
    """
    return {m: reused.get(m) for m in material_ids} if dft else dict(reused)


def existing_model_documents(
    jobs: JobStore,
    doc_type: str,
    label: str,
    checksums: dict[str, str],
    models: Sequence[str],
    references: Mapping[str, str | None] | None = None,
) -> set[tuple[str, str]]:
    """(material_id, model) pairs with a successful document on an identical input set.

    ``references`` (:func:`paired_references`): a document that names another reference
    than its material's is not reused (it would pair with that one).
    """
    references = references or {}
    found = set()
    for d in jobs.query(
        {
            "output.doc_type": doc_type_query(doc_type),
            "output.reference": label,
            "output.state": "successful",
            "output.material_id": {"$in": list(checksums)},
            "output.model.name": {"$in": list(models)},
        },
        properties=[
            "output.material_id",
            "output.model.name",
            "output.settings.input_checksum",
            "output.reference_uuid",
        ],
    ):
        out = d["output"]
        mid = out["material_id"]
        if out.get("settings", {}).get("input_checksum") != checksums[mid]:
            continue
        if mid in references and out.get("reference_uuid") not in (None, references[mid]):
            continue
        found.add((mid, out["model"]["name"]))
    return found


def existing_defect_predictions(
    jobs: JobStore,
    label: str,
    sets: Sequence[DefectSet],
    models: Sequence[str],
    references: Mapping[str, str | None] | None = None,
) -> set[tuple[str, str]]:
    """(material_id, model) pairs already computed on the same defect sets."""
    checksums = {s.material_id: input_checksum(s) for s in sets}
    return existing_model_documents(jobs, DEFECT_PREDICTION, label, checksums, models, references)


def reusable_defect_references(
    jobs: JobStore, label: str, sets: Sequence[DefectSet]
) -> dict[str, str]:
    """material_id -> uuid of the newest successful DFT document of the same defect set."""
    checksums = {s.material_id: input_checksum(s) for s in sets}
    return reusable_computed(jobs, DEFECT_REFERENCE, label, checksums)
