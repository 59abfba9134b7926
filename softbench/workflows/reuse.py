"""Find work already in the store so reruns redo nothing (no DFT, no re-ingestion)."""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from functools import cache
from typing import Any

from jobflow import JobStore

from softbench.builders.pairing import newest
from softbench.ingest import SourceItem
from softbench.ingest.base import file_checksum
from softbench.schemas.base import PREDICTION, REFERENCE, doc_type_query


def reusable_references(
    jobs: JobStore,
    task: str | None,
    label: str,
    items: Sequence[SourceItem],
    doc_type: str = REFERENCE,
) -> dict[str, str]:
    """material_id -> uuid of the newest stored reference read from identical data.

    ``task=None`` matches any task (document types that belong to one task).
    """
    wanted = {item.material_id: item for item in items}
    criteria: dict[str, Any] = {
        "output.doc_type": doc_type_query(doc_type),
        "output.reference": label,
    }
    if task is not None:
        criteria["output.task"] = task
    checksum = cache(file_checksum)  # each file read once, and only if a document needs it
    return newest_matching(
        jobs, criteria, wanted, "source_checksum", lambda mid: checksum(wanted[mid].path)
    )


def reusable_computed(
    jobs: JobStore, doc_type: str, label: str, keys: dict[str, str], field: str = "input_checksum"
) -> dict[str, str]:
    """material_id -> uuid of the newest successful DFT document computed from the same input.

    ``keys``: material id -> the input's key, matched against ``output.<field>``; unusable
    documents and those without the field (older versions) are never reused.
    """
    criteria = {
        "output.doc_type": doc_type_query(doc_type),
        "output.reference": label,
        "output.state": "successful",
    }
    return newest_matching(jobs, criteria, list(keys), field, keys.__getitem__)


def newest_matching(
    jobs: JobStore,
    criteria: dict[str, Any],
    material_ids: Collection[str],
    field: str,
    expected: Callable[[str], Any],
) -> dict[str, str]:
    """material_id -> uuid of the newest matching job document of each material.

    A document matches ``criteria`` and its ``output.<field>`` equals
    ``expected(material_id)`` (e.g. the checksum of the material's source file).
    """
    docs = jobs.query(
        {**criteria, "output.material_id": {"$in": list(material_ids)}},
        properties=["uuid", "output.material_id", f"output.{field}", "output.created_at"],
    )

    def material(doc: dict[str, Any]) -> str | None:
        out = doc["output"]
        return out["material_id"] if out.get(field) == expected(out["material_id"]) else None

    return {mid: doc["uuid"] for mid, doc in newest(docs, material).items()}


def existing_predictions(
    jobs: JobStore,
    reference_uuids: dict[str, str],
    models: Sequence[str],
    doc_type: str = PREDICTION,
) -> set[tuple[str, str]]:
    """(material_id, model) pairs already predicted successfully on the given references."""
    if not reference_uuids:
        return set()
    docs = jobs.query(
        {
            "output.doc_type": doc_type_query(doc_type),
            "output.reference_uuid": {"$in": list(reference_uuids.values())},
            "output.model.name": {"$in": list(models)},
            "output.state": "successful",
        },
        properties=["output.material_id", "output.model.name"],
    )
    return {(d["output"]["material_id"], d["output"]["model"]["name"]) for d in docs}
