"""Find and pair reference and prediction task documents in a jobflow JobStore.

Pairing key: (task, material_id, reference label) picks the newest reference; its
configurations are matched to the prediction's by configuration id, and each pair
is checked for equal atom count, species order and geometry hash.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from jobflow import JobStore

from softbench.schemas.prediction import PredictionTaskDocument
from softbench.schemas.reference import ReferenceTaskDocument

INDEX_FIELDS = [
    "uuid",
    "output.task",
    "output.material_id",
    "output.reference",
    "output.state",
    "output.created_at",
    "output.model.name",
]


@dataclass(frozen=True)
class DocRef:
    """Light index entry of a task document (no arrays loaded)."""

    uuid: str
    task: str
    material_id: str
    reference: str
    state: str
    created_at: Any
    model: str | None = None


def _index(jobs: JobStore, doc_type: str, criteria: dict[str, Any]) -> list[DocRef]:
    query = {"output.doc_type": doc_type, **{f"output.{k}": v for k, v in criteria.items()}}
    out = []
    for d in jobs.query(query, properties=INDEX_FIELDS):
        o = d["output"]
        out.append(
            DocRef(
                d["uuid"],
                o["task"],
                o["material_id"],
                o["reference"],
                o["state"],
                str(o.get("created_at")),
                (o.get("model") or {}).get("name"),
            )
        )
    return out


def newest_references(jobs: JobStore, **criteria: Any) -> dict[tuple[str, str, str], DocRef]:
    """Newest reference per (task, material_id, reference)."""
    best: dict[tuple[str, str, str], DocRef] = {}
    for ref in _index(jobs, "reference", criteria):
        key = (ref.task, ref.material_id, ref.reference)
        if key not in best or ref.created_at > best[key].created_at:
            best[key] = ref
    return best


def newest_predictions(jobs: JobStore, **criteria: Any) -> dict[tuple[str, str, str, str], DocRef]:
    """Newest prediction per (task, material_id, reference, model)."""
    best: dict[tuple[str, str, str, str], DocRef] = {}
    for pred in _index(jobs, "prediction", criteria):
        key = (pred.task, pred.material_id, pred.reference, str(pred.model))
        if key not in best or pred.created_at > best[key].created_at:
            best[key] = pred
    return best


def load_output(jobs: JobStore, uuid: str) -> dict[str, Any]:
    """A job's output with its arrays loaded from the data store."""
    doc = jobs.query_one({"uuid": uuid}, load=True, sort={"index": -1})
    if doc is None:
        raise KeyError(f"no job output with uuid {uuid}")
    return doc["output"]


@dataclass
class PairedForces:
    """Matched per-configuration forces (and energies) of reference and model."""

    configuration_ids: list[str] = field(default_factory=list)
    reference_forces: list[np.ndarray] = field(default_factory=list)
    model_forces: list[np.ndarray] = field(default_factory=list)
    reference_energies: list[float | None] = field(default_factory=list)
    model_energies: list[float | None] = field(default_factory=list)
    n_atoms: list[int] = field(default_factory=list)
    excluded: dict[str, str] = field(default_factory=dict)


def pair_configurations(
    reference: ReferenceTaskDocument, prediction: PredictionTaskDocument
) -> PairedForces:
    """Match configurations by id and check that each pair is the same structure."""
    paired = PairedForces()
    ref_confs = {c.configuration_id: c for c in reference.configurations}
    pred_confs = {c.configuration_id: c for c in prediction.configurations}
    for cid, reason in prediction.failed_configurations.items():
        paired.excluded[cid] = f"model failed: {reason}"
    for cid, reason in reference.excluded_configurations.items():
        paired.excluded[cid] = f"reference excluded: {reason}"
    for cid in ref_confs.keys() - pred_confs.keys():
        paired.excluded.setdefault(cid, "no model prediction for this configuration")
    for cid in pred_confs.keys() - ref_confs.keys():
        paired.excluded.setdefault(cid, "not in the reference")
    for cid in (c for c in ref_confs if c in pred_confs):
        ref, pred = ref_confs[cid], pred_confs[cid]
        problem = _mismatch(ref, pred)
        if problem:
            paired.excluded[cid] = problem
            continue
        paired.configuration_ids.append(cid)
        paired.reference_forces.append(np.asarray(ref.arrays.forces, float))
        paired.model_forces.append(np.asarray(pred.arrays.forces, float))
        paired.reference_energies.append(ref.energy)
        paired.model_energies.append(pred.energy)
        paired.n_atoms.append(ref.n_atoms)
    return paired


def _mismatch(ref: Any, pred: Any) -> str | None:
    if ref.n_atoms != pred.n_atoms:
        return f"atom count differs: reference {ref.n_atoms}, model {pred.n_atoms}"
    if ref.arrays.species != pred.arrays.species:
        return "species order differs between reference and model configuration"
    if ref.structure_hash and pred.structure_hash and ref.structure_hash != pred.structure_hash:
        return "geometry differs from the reference (predicted on another version)"
    if pred.arrays.forces is None:
        return "model stored no forces"
    forces = np.asarray(pred.arrays.forces, float)
    if forces.shape != (ref.n_atoms, 3) or not np.isfinite(forces).all():
        return "model forces malformed or non-finite"
    return None


def iter_pairs(
    jobs: JobStore, **criteria: Any
) -> Iterator[tuple[tuple[str, str, str, str], DocRef, DocRef | None]]:
    """(key, newest prediction, matching newest reference or None) for each key."""
    refs = newest_references(jobs, **criteria)
    for key, pred in newest_predictions(jobs, **criteria).items():
        yield key, pred, refs.get(key[:3])
