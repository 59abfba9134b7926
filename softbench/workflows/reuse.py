"""Find work already in the store so reruns redo nothing (no DFT, no re-ingestion)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from jobflow import JobStore

from softbench.ingest import SourceItem
from softbench.ingest.base import file_checksum


def reusable_references(
    jobs: JobStore,
    task: str | None,
    label: str,
    items: Sequence[SourceItem],
    doc_type: str = "reference",
) -> dict[str, str]:
    """material_id -> uuid of the newest stored reference read from identical data.

    ``task=None`` matches any task (document types that belong to one task).
    """
    wanted = {item.material_id: item for item in items}
    criteria: dict[str, Any] = {
        "output.doc_type": doc_type,
        "output.reference": label,
        "output.material_id": {"$in": list(wanted)},
    }
    if task is not None:
        criteria["output.task"] = task
    checksums: dict[str, str] = {}
    found: dict[str, tuple[str, str]] = {}
    properties = ["uuid", "output.material_id", "output.source_checksum", "output.created_at"]
    for doc in jobs.query(criteria, properties=properties):
        out = doc["output"]
        mid = out["material_id"]
        path = wanted[mid].path
        if path not in checksums:
            checksums[path] = file_checksum(path)
        if out.get("source_checksum") != checksums[path]:
            continue
        created = str(out.get("created_at"))
        if mid not in found or created > found[mid][1]:
            found[mid] = (doc["uuid"], created)
    return {mid: uuid for mid, (uuid, _) in found.items()}


def existing_predictions(
    jobs: JobStore,
    reference_uuids: dict[str, str],
    models: Sequence[str],
    doc_type: str = "prediction",
) -> set[tuple[str, str]]:
    """(material_id, model) pairs already predicted successfully on the given references."""
    if not reference_uuids:
        return set()
    docs = jobs.query(
        {
            "output.doc_type": doc_type,
            "output.reference_uuid": {"$in": list(reference_uuids.values())},
            "output.model.name": {"$in": list(models)},
            "output.state": "successful",
        },
        properties=["output.material_id", "output.model.name"],
    )
    return {(d["output"]["material_id"], d["output"]["model"]["name"]) for d in docs}
