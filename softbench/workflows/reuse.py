"""Find work already in the store so reruns redo nothing (no DFT, no re-ingestion)."""

from __future__ import annotations

from collections.abc import Sequence

from jobflow import JobStore

from softbench.ingest import SourceItem
from softbench.ingest.base import file_checksum


def reusable_references(
    jobs: JobStore, task: str, label: str, items: Sequence[SourceItem]
) -> dict[str, str]:
    """material_id -> uuid of the newest stored reference read from identical data."""
    wanted = {item.material_id: item for item in items}
    checksums: dict[str, str] = {}
    found: dict[str, tuple[str, str]] = {}
    docs = jobs.query(
        {
            "output.doc_type": "reference",
            "output.task": task,
            "output.reference": label,
            "output.material_id": {"$in": list(wanted)},
        },
        properties=["uuid", "output.material_id", "output.source_checksum", "output.created_at"],
    )
    for doc in docs:
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
    jobs: JobStore, reference_uuids: dict[str, str], models: Sequence[str]
) -> set[tuple[str, str]]:
    """(material_id, model) pairs already predicted on the given reference documents."""
    if not reference_uuids:
        return set()
    docs = jobs.query(
        {
            "output.doc_type": "prediction",
            "output.reference_uuid": {"$in": list(reference_uuids.values())},
            "output.model.name": {"$in": list(models)},
        },
        properties=["output.material_id", "output.model.name", "output.state"],
    )
    return {
        (d["output"]["material_id"], d["output"]["model"]["name"])
        for d in docs
        if d["output"].get("state") == "successful"
    }
