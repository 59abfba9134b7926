"""Softening builders: per-(material, model) force parity and per-model summaries.

Both are incremental: a rerun processes only predictions (or softening documents)
that are new or changed since the last run, and updates documents by key, so
rebuilding never duplicates.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import numpy as np
from jobflow import JobStore
from maggma.core import Store
from pydantic import BaseModel

from softbench.analysis.softening import DEFAULT_BOOTSTRAP, force_parity
from softbench.builders.base import GroupSummaryBuilder, PairBuilder
from softbench.builders.pairing import iter_pairs, pair_configurations
from softbench.schemas.phonons import BOTH_MODES, PHONON_TASKS
from softbench.schemas.prediction import PredictionTaskDocument
from softbench.schemas.reference import ReferenceTaskDocument
from softbench.schemas.softening import (
    SOFTENING,
    SOFTENING_SUMMARY,
    SofteningDocument,
    SofteningSummaryDocument,
    softening_key,
)

logger = logging.getLogger(__name__)


class SofteningBuilder(PairBuilder):
    """Pair reference and model forces by (task, material, configuration)."""

    document_class = SofteningDocument
    reference_class = ReferenceTaskDocument
    version = 2  # 2: energy MAE only on a shared energy zero; relative energy MAE

    def __init__(
        self,
        jobs: JobStore,
        softening: Store,
        task: str | None = None,
        n_bootstrap: int = DEFAULT_BOOTSTRAP,
        **kwargs: Any,
    ):
        self.softening = softening
        self.task = task
        self.n_bootstrap = n_bootstrap
        super().__init__(jobs, softening, **kwargs)

    def pairs(self) -> Iterator[dict[str, Any]]:
        """Newest prediction per (task, material, reference, model) and its reference."""
        # 'phonons' (both modes) builds the force parity of fixed mode's predictions
        task = PHONON_TASKS["fixed"] if self.task == BOTH_MODES else self.task
        criteria = {"task": task} if task else {}
        for (task, mid, label, model), pred, ref in iter_pairs(self.jobs, **criteria):
            yield {
                "key": softening_key(task, mid, model, label),
                "prediction_uuid": pred.uuid,
                "reference_uuid": ref.uuid if ref else None,
            }

    def document(self, reference: Any, item: dict[str, Any]) -> BaseModel:
        """The softening document of one (material, model) pair."""
        pred = PredictionTaskDocument.model_validate(item["prediction"])
        return build_softening(pred, reference, item, self.n_bootstrap)


def build_softening(
    pred: PredictionTaskDocument,
    ref: ReferenceTaskDocument | None,
    item: dict[str, Any],
    n_bootstrap: int = DEFAULT_BOOTSTRAP,
) -> SofteningDocument:
    """Softening document for one prediction and its reference (either may fail)."""
    doc = SofteningDocument.for_pair(pred, ref, item)
    if ref is not None:
        doc.reference_provenance = {
            "source": ref.source,
            "source_checksum": ref.source_checksum,
            "dft_settings": ref.dft_settings,
            "code_version": ref.code_version,
        }
    if pred.state != "successful":
        return doc.with_failure(pred.reason or "model evaluation failed")
    if ref is None:
        return doc.with_failure(
            f"no reference document for ({pred.task}, {pred.material_id}, {pred.reference})"
        )
    if ref.state != "successful":
        return doc.with_failure(f"reference unusable: {ref.reason}")
    paired = pair_configurations(ref, pred)
    doc.excluded_configurations = paired.excluded
    if not paired.configuration_ids:
        reasons = sorted(set(paired.excluded.values())) or ["nothing to compare"]
        return doc.with_failure("no comparable configurations: " + "; ".join(reasons))
    try:
        parity = force_parity(paired.reference_forces, paired.model_forces, n_bootstrap=n_bootstrap)
    except ValueError as exc:
        return doc.with_failure(str(exc))
    doc.softening_scale = parity.softening_scale
    doc.softening_scale_ci95 = list(parity.ci95)
    doc.softening_scale_ci_method = parity.ci_method
    doc.force_mae = parity.force_mae
    doc.force_cmae = parity.force_cmae
    doc.force_rmse = parity.force_rmse
    doc.r2 = parity.r2
    doc.n_components = parity.n_components
    doc.n_configurations = parity.n_configurations
    if parity.no_signal:
        doc.state, doc.reason = "flagged", parity.no_signal
    energies = [
        (r, m, n)
        for r, m, n in zip(
            paired.reference_energies, paired.model_energies, paired.n_atoms, strict=True
        )
        if r is not None and m is not None
    ]
    if energies and len(energies) == len(paired.configuration_ids):
        errors = np.array([(m - r) / n for r, m, n in energies])
        if not own_energy_zero(ref):
            doc.energy_mae_per_atom = float(np.mean(np.abs(errors)))
        if len(errors) > 1:
            doc.relative_energy_mae_per_atom = float(np.mean(np.abs(errors - errors.mean())))
    return doc


def own_energy_zero(ref: ReferenceTaskDocument) -> bool:
    """Whether the reference's total energies have a zero of their own (CP2K's GTH).

    Such energies differ from MP-compatible ones (what uMLIPs are trained on) by a
    large per-element constant, so only energy differences can be compared.
    """
    return ref.dft_settings.get("code") == "cp2k"


class SofteningSummaryBuilder(GroupSummaryBuilder):
    """Per (task, model, reference): median scale, fraction softened, mean MAE/cMAE."""

    def summarize(self, docs: list[dict[str, Any]]) -> SofteningSummaryDocument:
        """Aggregate one group."""
        return summarize([SofteningDocument.model_validate(d) for d in docs])


def summarize(docs: list[SofteningDocument]) -> SofteningSummaryDocument:
    """Summary statistics over the softening documents of one group."""
    first = docs[0]
    ok = [d for d in docs if d.state == "successful" and d.softening_scale is not None]
    flagged = [d for d in docs if d.state == "flagged"]
    failed = [d for d in docs if d.state == "failed" or (d.state == "successful" and d not in ok)]
    scales = np.array([d.softening_scale for d in ok], dtype=float)
    return SofteningSummaryDocument(
        key=f"{first.task}|{first.model}|{first.reference}",
        task=first.task,
        model=first.model,
        reference=first.reference,
        n_materials=len(docs),
        n_successful=len(ok),
        n_failed=len(failed),
        n_flagged=len(flagged),
        failed_materials={d.material_id: d.reason or "" for d in failed},
        flagged_materials={d.material_id: d.reason or "" for d in flagged},
        median_softening_scale=float(np.median(scales)) if ok else None,
        fraction_softened=float((scales < 1).mean()) if ok else None,
        mean_force_mae=float(np.mean([d.force_mae for d in ok])) if ok else None,
        mean_force_cmae=float(np.mean([d.force_cmae for d in ok])) if ok else None,
    )


def build_step(stores: Any, task: str | None = None) -> dict[str, int]:
    """Build step (``run.BUILD_STEPS``): softening documents, then their summaries."""
    from softbench.run import run_builder

    pair = SofteningBuilder(stores.jobs, stores.collection(SOFTENING), task=task)
    run_builder(pair)
    summary = SofteningSummaryBuilder(
        stores.collection(SOFTENING), stores.collection(SOFTENING_SUMMARY)
    )
    run_builder(summary)
    return {"softening": len(pair.processed), "summary": len(summary.processed)}
