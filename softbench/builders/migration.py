"""Migration builders: pair model and DFT barriers per hop, summarise per model.

A prediction is paired with the reference it was computed from (its
``reference_uuid``), else with the newest reference of the same hop and label. A
reference without DFT energies (model-only hops) gives a document with the model
barrier and ``paired: false``; summaries count only paired hops.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np
from jobflow import JobStore
from maggma.core import Store
from pydantic import BaseModel

from softbench.analysis.migration import barrier_statistics
from softbench.builders.base import GroupSummaryBuilder, PairBuilder
from softbench.builders.pairing import newest
from softbench.schemas.base import MIGRATION_PREDICTION, MIGRATION_REFERENCE, doc_type_query
from softbench.schemas.migration import (
    MIGRATION,
    MIGRATION_SUMMARY,
    TASK,
    MigrationBarrierDocument,
    MigrationPredictionDocument,
    MigrationReferenceDocument,
    MigrationSummaryDocument,
    migration_key,
)

if TYPE_CHECKING:
    from softbench.stores import SoftbenchStores

FIELDS = [
    "uuid",
    "output.material_id",
    "output.hop_id",
    "output.reference",
    "output.reference_uuid",
    "output.model.name",
    "output.created_at",
]


def hop_docs(jobs: JobStore, doc_type: str) -> list[dict[str, Any]]:
    """Light job documents (no structures) of one migration document type."""
    return list(jobs.query({"output.doc_type": doc_type_query(doc_type)}, properties=FIELDS))


class MigrationBuilder(PairBuilder):
    """Model against DFT barrier, one document per (host, hop, model, reference)."""

    document_class = MigrationBarrierDocument
    reference_class = MigrationReferenceDocument

    def __init__(self, jobs: JobStore, migration: Store, **kwargs: Any):
        self.migration = migration
        super().__init__(jobs, migration, **kwargs)

    def pairs(self) -> Iterator[dict[str, Any]]:
        """Newest prediction per key with its reference (else the hop's newest one)."""
        refs = hop_docs(self.jobs, MIGRATION_REFERENCE)
        known = {r["uuid"] for r in refs}
        newest_ref = newest(
            refs,
            lambda r: (r["output"]["material_id"], r["output"]["hop_id"], r["output"]["reference"]),
        )

        def pred_key(p: dict[str, Any]) -> str:
            o = p["output"]
            return migration_key(o["material_id"], o["hop_id"], o["model"]["name"], o["reference"])

        for key, pred in newest(hop_docs(self.jobs, MIGRATION_PREDICTION), pred_key).items():
            out = pred["output"]
            ref_uuid = out.get("reference_uuid")
            if ref_uuid not in known:
                ref = newest_ref.get((out["material_id"], out["hop_id"], out["reference"]))
                ref_uuid = ref["uuid"] if ref else None
            yield {"key": key, "prediction_uuid": pred["uuid"], "reference_uuid": ref_uuid}

    def document(self, reference: Any, item: dict[str, Any]) -> BaseModel:
        """Compare one prediction with its reference."""
        pred = MigrationPredictionDocument.model_validate(item["prediction"])
        return compare(pred, reference, item)

    def failure(self, item: dict[str, Any], reason: str) -> BaseModel:
        """The failure document of a pair (the key names host, hop, model and label)."""
        _, hop, model, label = item["key"].split("|", 3)
        host, hop_id = hop.rsplit("#", 1)
        return MigrationBarrierDocument(
            key=item["key"],
            material_id=host,
            host=host,
            hop_id=hop_id,
            model=model,
            reference=label,
            reference_uuid=item["reference_uuid"],
            prediction_uuid=item["prediction_uuid"],
            state="failed",
            reason=reason,
        )


def compare(
    pred: MigrationPredictionDocument,
    ref: MigrationReferenceDocument | None,
    item: dict[str, Any],
) -> MigrationBarrierDocument:
    """Model barrier, DFT barrier (if any) and their difference, DFT - model."""
    doc = MigrationBarrierDocument.for_pair(
        pred,
        ref,
        item,
        task=TASK,
        host=pred.material_id,
        hop_id=pred.hop_id,
        working_ion=pred.working_ion,
        n_images=pred.n_images,
        hop_distance_ang=pred.hop_distance_ang,
    )
    if ref is not None and ref.state == "successful":
        doc.dft_barrier_ev = ref.barrier_ev
        doc.dft_image_energies_ev = ref.relative_energies_ev
        doc.dft_asymmetry_ev = ref.asymmetry_ev
    if pred.state != "successful":
        return doc.with_failure(pred.reason or "model migration job failed")
    doc.barrier_ev = pred.barrier_ev
    records = [pred.host_relaxation, *pred.end_point_relaxations, *pred.image_relaxations]
    doc.relaxations_converged = all(r.converged for r in records if r is not None)
    doc.image_energies_ev = pred.relative_energies_ev
    doc.asymmetry_ev = pred.asymmetry_ev
    doc.forward_barrier_ev = pred.forward_barrier_ev
    if ref is None:
        return doc.with_failure(f"no migration reference for {pred.material_id}#{pred.hop_id}")
    if ref.state != "successful":
        return doc.with_failure(f"reference unusable: {ref.reason}")
    if ref.barrier_ev is None:
        return doc  # model-only hop
    if ref.n_images != pred.n_images:
        return doc.with_failure(
            f"DFT path has {ref.n_images} images, the model's {pred.n_images}: not comparable"
        )
    doc.paired = True
    doc.barrier_difference_ev = float(ref.barrier_ev) - float(pred.barrier_ev)  # type: ignore[arg-type]
    return doc


class MigrationSummaryBuilder(GroupSummaryBuilder):
    """Per (model, reference): MAE, mean signed difference, fraction underpredicted."""

    def summarize(self, docs: list[dict[str, Any]]) -> MigrationSummaryDocument:
        """Aggregate one group."""
        return summarize_migration([MigrationBarrierDocument.model_validate(d) for d in docs])


def summarize_migration(docs: list[MigrationBarrierDocument]) -> MigrationSummaryDocument:
    """Statistics over paired successful hops; failed hops are counted with reasons."""
    first = docs[0]
    ok = [d for d in docs if d.state == "successful"]
    paired = [d for d in ok if d.paired]
    stats = barrier_statistics(
        [float(d.dft_barrier_ev) for d in paired],  # type: ignore[arg-type]
        [float(d.barrier_ev) for d in paired],  # type: ignore[arg-type]
    )
    return MigrationSummaryDocument(
        key=f"{TASK}|{first.model}|{first.reference}",
        model=first.model,
        reference=first.reference,
        n_materials=len(docs),
        n_successful=len(ok),
        n_failed=len(docs) - len(ok),
        failed_materials={
            f"{d.host}#{d.hop_id}": d.reason or "" for d in docs if d.state != "successful"
        },
        n_paired=len(paired),
        mean_barrier_ev=float(np.mean([d.barrier_ev for d in ok])) if ok else None,
        mean_dft_barrier_ev=float(np.mean([d.dft_barrier_ev for d in paired])) if paired else None,
        **stats,
    )


def build_migration(stores: SoftbenchStores, task: str | None = None) -> dict[str, int]:
    """Build step for ``softbench build`` (runs unless another task is asked for)."""
    from softbench.run import run_builder

    if task not in (None, TASK):
        return {}
    pair = MigrationBuilder(stores.jobs, stores.collection(MIGRATION))
    run_builder(pair)
    summary = MigrationSummaryBuilder(
        stores.collection(MIGRATION), stores.collection(MIGRATION_SUMMARY)
    )
    run_builder(summary)
    return {"migration": len(pair.processed), "migration_summary": len(summary.processed)}
