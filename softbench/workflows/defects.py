"""Point-defect flows: per material a DFT reference (VASP or CP2K, optional) and model jobs.

The defect set is built once per material (:func:`softbench.makers.defects.defect_set`)
and given to every method, so DFT and models compute the same labelled defects.
A rerun skips (material, model) pairs whose successful document was computed from an
identical defect set (same checksum) unless ``rerun``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any

from jobflow import Flow, Job, JobStore

from softbench.makers.defects import PointDefectMaker
from softbench.models import ModelSpec, model_ref
from softbench.schemas.base import doc_type_query
from softbench.schemas.defects import DEFECT_PREDICTION, TASK, DefectSet
from softbench.workflows.forces import route


def input_checksum(obj: Any) -> str:
    """SHA-256 (first 16) of a pydantic input set's JSON: the same input gives the same."""
    from monty.json import jsanitize

    text = json.dumps(jsanitize(obj.model_dump(), strict=True), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def defect_model_job(
    spec: ModelSpec,
    dset: DefectSet,
    label: str,
    device: str | None = None,
    options: dict[str, Any] | None = None,
) -> Job:
    """One model job on one material's defect set, routed to the model's environment."""
    maker = PointDefectMaker(
        name=f"{spec.name} defects {dset.material_id}",
        model=model_ref(spec),
        device=device,
        label=label,
        **(options or {}),
    )
    return route(maker.make(dset.model_dump()), spec, TASK, dset.material_id)


def defects_flow(
    sets: Sequence[DefectSet],
    models: Sequence[ModelSpec],
    label: str,
    dft: str | None = "vasp",
    skip: set[tuple[str, str]] | None = None,
    device: str | None = None,
    options: dict[str, Any] | None = None,
    cp2k: Any = None,
) -> Flow:
    """DFT (``dft``: "vasp", "cp2k" or None) and model jobs of every material."""
    skip = skip or set()
    jobs: list[Job | Flow] = []
    if dft == "vasp":
        from softbench.makers.vasp.defects import VaspDefectReferenceMaker, vasp_defect_flow_jobs

        jobs += vasp_defect_flow_jobs(sets, VaspDefectReferenceMaker(label=label))
    elif dft == "cp2k":
        from softbench.makers.cp2k.defects import Cp2kDefectMaker

        maker = Cp2kDefectMaker(settings=cp2k) if cp2k is not None else Cp2kDefectMaker()
        for dset in sets:
            job = maker.make(dset.model_dump())
            job.name = f"cp2k defects {dset.material_id}"
            jobs.append(job)
    for dset in sets:
        opts = {**(options or {}), "input_checksum": input_checksum(dset)}
        jobs += [
            defect_model_job(spec, dset, label, device, opts)
            for spec in models
            if (dset.material_id, spec.name) not in skip
        ]
    return Flow(jobs, name="softbench defects")


def existing_model_documents(
    jobs: JobStore,
    doc_type: str,
    label: str,
    checksums: dict[str, str],
    models: Sequence[str],
) -> set[tuple[str, str]]:
    """(material_id, model) pairs with a successful document on an identical input set."""
    found = set()
    for d in jobs.query(
        {
            "output.doc_type": doc_type_query(doc_type),
            "output.reference": label,
            "output.state": "successful",
            "output.material_id": {"$in": list(checksums)},
            "output.model.name": {"$in": list(models)},
        },
        properties=["output.material_id", "output.model.name", "output.settings.input_checksum"],
    ):
        out = d["output"]
        if out.get("settings", {}).get("input_checksum") == checksums[out["material_id"]]:
            found.add((out["material_id"], out["model"]["name"]))
    return found


def existing_defect_predictions(
    jobs: JobStore, label: str, sets: Sequence[DefectSet], models: Sequence[str]
) -> set[tuple[str, str]]:
    """(material_id, model) pairs already computed on the same defect sets."""
    checksums = {s.material_id: input_checksum(s) for s in sets}
    return existing_model_documents(jobs, DEFECT_PREDICTION, label, checksums, models)
