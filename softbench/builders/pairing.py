"""Find and pair reference and prediction task documents in a jobflow JobStore.

Pairing key: (task, material_id, reference label) picks the newest reference; its
configurations are matched to the prediction's by configuration id, and each pair
is checked for equal atom count, species order and geometry hash.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import islice
from typing import Any, TypeVar

import numpy as np
from jobflow import JobStore
from maggma.core import Store

from softbench.schemas.base import PREDICTION, REFERENCE, doc_type_query
from softbench.schemas.prediction import PredictionTaskDocument
from softbench.schemas.reference import ReferenceTaskDocument

T = TypeVar("T")

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
    reference_uuid: str | None = None


def _get(output: dict[str, Any], path: str) -> Any:
    value: Any = output
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def _created(doc: Any) -> str:
    return doc.created_at if isinstance(doc, DocRef) else str(doc["output"].get("created_at"))


def newest(docs: Iterable[T], key: Callable[[T], Hashable | None]) -> dict[Any, T]:
    """The newest document (by ``created_at``) per ``key(document)``.

    Takes job documents (``output.created_at``) or :class:`DocRef` entries; a key
    of None leaves a document out. The one "newest by key" rule of softbench:
    builders, reuse lookups and flows all pick documents through it.
    """
    best: dict[Any, tuple[str, T]] = {}
    for d in docs:
        k = key(d)
        if k is None:
            continue
        created = _created(d)
        if k not in best or created > best[k][0]:
            best[k] = (created, d)
    return {k: d for k, (_, d) in best.items()}


def index(jobs: JobStore, doc_type: str, **criteria: Any) -> Iterator[DocRef]:
    """Index entries of the task documents of one type (criteria on output fields)."""
    query = {
        "output.doc_type": doc_type_query(doc_type),
        **{f"output.{k}": v for k, v in criteria.items()},
    }
    for d in jobs.query(query, properties=[*INDEX_FIELDS, "output.reference_uuid"]):
        o = d["output"]
        yield DocRef(
            d["uuid"],
            o.get("task", ""),
            o["material_id"],
            o["reference"],
            o.get("state", ""),
            str(o.get("created_at")),
            _get(o, "model.name"),
            o.get("reference_uuid"),
        )


def newest_references(
    jobs: JobStore, doc_type: str = REFERENCE, **criteria: Any
) -> dict[tuple[str, str, str], DocRef]:
    """Newest reference per (task, material_id, reference)."""
    refs = index(jobs, doc_type, **criteria)
    return newest(refs, lambda r: (r.task, r.material_id, r.reference))


def newest_predictions(
    jobs: JobStore, doc_type: str = PREDICTION, **criteria: Any
) -> dict[tuple[str, str, str, str], DocRef]:
    """Newest prediction per (task, material_id, reference, model)."""
    preds = index(jobs, doc_type, **criteria)
    return newest(preds, lambda p: (p.task, p.material_id, p.reference, str(p.model)))


def predictions_with_references(
    jobs: JobStore,
    prediction_type: str,
    key: Callable[[DocRef], Hashable],
    reference_type: str,
    **reference_criteria: Any,
) -> dict[Any, tuple[DocRef, str | None]]:
    """Newest prediction per ``key`` and the uuid of the reference to pair it with.

    That is the reference the prediction was computed from; where that one is gone,
    the newest reference of the same material and label (None if there is none).
    """
    refs = list(index(jobs, reference_type, **reference_criteria))
    known = {r.uuid for r in refs}
    newest_ref = newest(refs, lambda r: (r.material_id, r.reference))
    out: dict[Any, tuple[DocRef, str | None]] = {}
    for k, pred in newest(index(jobs, prediction_type), key).items():
        ref_uuid = pred.reference_uuid
        if ref_uuid not in known:
            ref = newest_ref.get((pred.material_id, pred.reference))
            ref_uuid = ref.uuid if ref else None
        out[k] = (pred, ref_uuid)
    return out


def load_output(jobs: JobStore, uuid: str) -> dict[str, Any]:
    """A job's output with its arrays loaded from the data store."""
    outputs = load_outputs(jobs, [uuid])
    if uuid not in outputs:
        raise KeyError(f"no job output with uuid {uuid}")
    return outputs[uuid]


def load_outputs(jobs: JobStore, uuids: Iterable[str]) -> dict[str, dict[str, Any]]:
    """Outputs (newest run) of many jobs, arrays loaded with one query per data store.

    jobflow resolves the arrays of one document per data-store query. The embedded
    store (montydb) has no indexes and decodes its whole data collection for every
    query, so loading outputs one by one costs O(n) full scans; this costs one.
    """
    from jobflow.utils.find import find_key, update_in_dictionary
    from pydash import get

    wanted = sorted(set(uuids))
    if not wanted:
        return {}
    docs: dict[str, dict[Hashable, Any]] = {}
    for d in jobs.docs_store.query(
        {"uuid": {"$in": wanted}}, properties=["uuid", "index", "output"]
    ):
        if d["uuid"] not in docs or d["index"] > docs[d["uuid"]]["index"]:
            docs[d["uuid"]] = d
    by_store: dict[str, dict[str, tuple[str, tuple]]] = {}
    for uuid, d in docs.items():
        for path in find_key(d, "blob_uuid"):
            blob = get(d, list(path))
            by_store.setdefault(blob["store"], {})[blob["blob_uuid"]] = (uuid, tuple(path))
    inserts: dict[str, dict[tuple, Any]] = {uuid: {} for uuid in docs}
    data_stores: dict[str, Store] = getattr(jobs, "additional_stores")  # noqa: B009 - untyped
    for name, blobs in by_store.items():
        store = data_stores.get(name)
        if store is None:
            raise ValueError(f"job output refers to unknown data store {name!r}")
        for o in _find_blobs(store, list(blobs)):
            uuid, location = blobs[o["blob_uuid"]]
            inserts[uuid][location] = o["data"]
    for uuid, d in docs.items():
        update_in_dictionary(d, inserts[uuid])
    return {uuid: d["output"] for uuid, d in docs.items()}


def _find_blobs(store: Store, blob_ids: list[str]) -> Iterator[dict[str, Any]]:
    """Data documents with these ids (one query).

    montydb matches ``$in`` in pure Python at (ids x documents) cost; a plain scan
    filtered here costs one pass over the documents.
    """
    from maggma.stores import MontyStore

    properties = ["blob_uuid", "data"]
    if isinstance(store, MontyStore):
        wanted = set(blob_ids)
        return (o for o in store.query({}, properties=properties) if o["blob_uuid"] in wanted)
    return store.query({"blob_uuid": {"$in": blob_ids}}, properties=properties)


def with_outputs(
    jobs: JobStore,
    items: Iterable[dict[str, Any]],
    fields: Sequence[str] = ("prediction_uuid", "reference_uuid"),
    batch: int = 64,
) -> Iterator[dict[str, Any]]:
    """Builder items with the outputs named by ``fields`` attached, fetched in batches.

    ``item["prediction_uuid"]`` adds ``item["prediction"]`` (the loaded output), and
    so on; a field whose uuid is None gives None; a uuid not in the store, KeyError.
    """
    items = iter(items)
    while chunk := list(islice(items, batch)):
        outputs = load_outputs(jobs, (i[f] for i in chunk for f in fields if i.get(f)))
        for item in chunk:
            for f in fields:
                uuid = item.get(f)
                if uuid and uuid not in outputs:
                    raise KeyError(f"no job output with uuid {uuid} ({f})")
                item[f.removesuffix("_uuid")] = outputs[uuid] if uuid else None
            yield item


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
