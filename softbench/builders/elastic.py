"""Elastic builders: pair model and DFT moduli per material, summarise per model.

Both are incremental: only (prediction, reference) pairs that are new or changed
are processed (``processed`` lists their keys), and documents are upserted by key.
A prediction is paired with the reference it was computed from (its
``reference_uuid``), else with the newest reference of the same material and label.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np
from jobflow import JobStore
from maggma.core import Store
from pydantic import BaseModel

from softbench.analysis.elastic import (
    diagonal_ratios,
    elastic_softening,
    log_ratio_stats,
    ratio,
)
from softbench.builders.base import GroupSummaryBuilder, PairBuilder
from softbench.builders.pairing import predictions_with_references
from softbench.schemas.base import ELASTIC_PREDICTION, ELASTIC_REFERENCE
from softbench.schemas.elastic import (
    ELASTIC,
    ELASTIC_SUMMARY,
    TASK,
    ElasticPredictionDocument,
    ElasticReferenceDocument,
    ElasticSofteningDocument,
    ElasticSummaryDocument,
    elastic_key,
)

if TYPE_CHECKING:
    from softbench.stores import SoftbenchStores


class ElasticBuilder(PairBuilder):
    """Model against DFT moduli, one document per (material, model, reference)."""

    document_class = ElasticSofteningDocument
    reference_class = ElasticReferenceDocument

    def __init__(self, jobs: JobStore, elastic: Store, **kwargs: Any):
        self.elastic = elastic
        super().__init__(jobs, elastic, **kwargs)

    def pairs(self) -> Iterator[dict[str, Any]]:
        """Newest prediction per key, with the reference it was computed from.

        Else (that reference is gone) the newest reference of its material and label.
        """
        pairs = predictions_with_references(
            self.jobs,
            ELASTIC_PREDICTION,
            lambda p: elastic_key(p.material_id, str(p.model), p.reference),
            ELASTIC_REFERENCE,
        )
        for key, (pred, ref_uuid) in pairs.items():
            yield {"key": key, "prediction_uuid": pred.uuid, "reference_uuid": ref_uuid}

    def document(self, reference: Any, item: dict[str, Any]) -> BaseModel:
        """Compare one prediction with its reference."""
        pred = ElasticPredictionDocument.model_validate(item["prediction"])
        return compare(pred, reference, item)


def compare(
    pred: ElasticPredictionDocument,
    ref: ElasticReferenceDocument | None,
    item: dict[str, Any],
) -> ElasticSofteningDocument:
    """Ratios, diagonal ratios and elastic softening of one prediction."""
    doc = ElasticSofteningDocument.for_pair(
        pred,
        ref,
        item,
        task=TASK,
        n_atoms=pred.n_atoms,
        volume_change=pred.volume_change,
        relaxation_converged=pred.relaxation.converged if pred.relaxation else None,
    )
    if ref is not None:
        doc.dft_k_vrh_gpa, doc.dft_g_vrh_gpa = ref.k_vrh_gpa, ref.g_vrh_gpa
        doc.dft_elastic_tensor = ref.elastic_tensor
        doc.dft_mechanically_stable = ref.mechanically_stable
    if pred.state != "successful":
        return doc.with_failure(pred.reason or "model elastic job failed")
    doc.k_vrh_gpa, doc.g_vrh_gpa = pred.k_vrh_gpa, pred.g_vrh_gpa
    doc.elastic_tensor = pred.elastic_tensor
    doc.mechanically_stable = pred.mechanically_stable
    if pred.eigenvalues_gpa:
        doc.min_eigenvalue_gpa = min(pred.eigenvalues_gpa)
    if ref is None:
        return doc.with_failure(f"no elastic reference for ({pred.material_id}, {pred.reference})")
    if ref.state != "successful":
        return doc.with_failure(f"reference unusable: {ref.reason}")
    doc.k_ratio = ratio(pred.k_vrh_gpa, ref.k_vrh_gpa)
    doc.g_ratio = ratio(pred.g_vrh_gpa, ref.g_vrh_gpa)
    diag = None
    if ref.elastic_tensor is not None and pred.elastic_tensor is not None:
        diag = diagonal_ratios(pred.elastic_tensor, ref.elastic_tensor)
        doc.diagonal_ratios = diag
    doc.elastic_softening, doc.softening_basis = elastic_softening(doc.k_ratio, doc.g_ratio, diag)
    if pred.strain_scan:
        doc.strain_scan = [
            p.model_copy(
                update={
                    "k_ratio": ratio(p.k_vrh_gpa, ref.k_vrh_gpa),
                    "g_ratio": ratio(p.g_vrh_gpa, ref.g_vrh_gpa),
                }
            )
            for p in pred.strain_scan
        ]
    return doc


def used(doc: ElasticSofteningDocument) -> bool:
    """Whether a document enters the statistics (successful, stable, both ratios)."""
    return (
        doc.state == "successful"
        and doc.mechanically_stable is True
        and doc.k_ratio is not None
        and doc.g_ratio is not None
    )


class ElasticSummaryBuilder(GroupSummaryBuilder):
    """Per (model, reference): medians, fractions softened, MAE, log-ratio spread."""

    def summarize(self, docs: list[dict[str, Any]]) -> ElasticSummaryDocument:
        """Aggregate one group."""
        return summarize_elastic([ElasticSofteningDocument.model_validate(d) for d in docs])


def summarize_elastic(docs: list[ElasticSofteningDocument]) -> ElasticSummaryDocument:
    """Statistics over stable tensors; failed and unstable ones are counted, not used."""
    first = docs[0]
    ok = [d for d in docs if d.state == "successful"]
    unstable = [d for d in ok if d.mechanically_stable is not True]
    good = [d for d in ok if used(d)]
    k = np.array([d.k_ratio for d in good], dtype=float)
    g = np.array([d.g_ratio for d in good], dtype=float)
    soft = np.array([d.elastic_softening for d in good if d.elastic_softening is not None])
    k_err = [abs(float(d.k_vrh_gpa) - float(d.dft_k_vrh_gpa)) for d in good]  # type: ignore[arg-type]
    g_err = [abs(float(d.g_vrh_gpa) - float(d.dft_g_vrh_gpa)) for d in good]  # type: ignore[arg-type]
    return ElasticSummaryDocument(
        key=f"{TASK}|{first.model}|{first.reference}",
        model=first.model,
        reference=first.reference,
        n_materials=len(docs),
        n_successful=len(ok),
        n_failed=len(docs) - len(ok),
        n_unstable=len(unstable),
        n_used=len(good),
        n_unconverged=sum(1 for d in good if d.relaxation_converged is False),
        failed_materials={d.material_id: d.reason or "" for d in docs if d.state != "successful"},
        unstable_materials=sorted(d.material_id for d in unstable),
        median_k_ratio=float(np.median(k)) if good else None,
        median_g_ratio=float(np.median(g)) if good else None,
        median_elastic_softening=float(np.median(soft)) if soft.size else None,
        fraction_k_softened=float((k < 1).mean()) if good else None,
        fraction_g_softened=float((g < 1).mean()) if good else None,
        fraction_softened=float((soft < 1).mean()) if soft.size else None,
        k_mae_gpa=float(np.mean(k_err)) if good else None,
        g_mae_gpa=float(np.mean(g_err)) if good else None,
        log10_k_ratio=log_ratio_stats(k.tolist()),
        log10_g_ratio=log_ratio_stats(g.tolist()),
    )


def build_elastic(stores: SoftbenchStores, task: str | None = None) -> dict[str, int]:
    """Build step for ``softbench build`` (runs unless another task is asked for)."""
    from softbench.run import run_builder

    if task not in (None, TASK):
        return {}
    pair = ElasticBuilder(stores.jobs, stores.collection(ELASTIC))
    run_builder(pair)
    summary = ElasticSummaryBuilder(stores.collection(ELASTIC), stores.collection(ELASTIC_SUMMARY))
    run_builder(summary)
    return {"elastic": len(pair.processed), "elastic_summary": len(summary.processed)}
