"""Amplitude builders: the softening-scale curve per (material, model), rows, summaries.

The DFT force constants Φ of each phonon reference are built once per reference
and builder run (phonopy, full matrix, symmetrized as phonopy.load does); each
model's forces minus its residual at the undisplaced geometry are compared with
-Φu per amplitude. Incremental like every :class:`PairBuilder`; the flat rows
(collection ``amplitude``) are rewritten with their curve.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from functools import cache
from typing import Any

import numpy as np
from jobflow import JobStore
from maggma.core import Store
from pydantic import BaseModel

from softbench.analysis.amplitude import (
    RESIDUAL_WARN_RATIO,
    ROUGH_TOLERANCE,
    amplitude_parity,
    full_force_constants,
    is_rough,
    minimum_image_displacement,
    roughness,
)
from softbench.analysis.phonons import build_phonopy, n_displacements
from softbench.analysis.softening import DEFAULT_BOOTSTRAP
from softbench.builders.base import GroupSummaryBuilder, PairBuilder
from softbench.builders.pairing import predictions_with_references
from softbench.makers.phonons import PHONOPY_KEY
from softbench.schemas.amplitude import (
    AMPLITUDE,
    AMPLITUDE_CURVES,
    AMPLITUDE_SUMMARY,
    TASK,
    UNDISPLACED,
    AmplitudeDocument,
    AmplitudePoint,
    AmplitudePointer,
    AmplitudePredictionDocument,
    AmplitudeRow,
    AmplitudeSummaryDocument,
    amplitude_key,
    point_key,
)
from softbench.schemas.base import AMPLITUDE_PREDICTION, REFERENCE
from softbench.schemas.phonons import PHONON_TASKS, PHONONS
from softbench.schemas.reference import ReferenceTaskDocument
from softbench.schemas.softening import SOFTENING

logger = logging.getLogger(__name__)

REFERENCE_TASK = PHONON_TASKS["fixed"]  # the amplitude task reads the phonon references


class AmplitudeBuilder(PairBuilder):
    """Softening scale per amplitude of one model against the harmonic DFT forces."""

    document_class = AmplitudeDocument
    reference_class = ReferenceTaskDocument

    def __init__(
        self,
        jobs: JobStore,
        curves: Store,
        rows: Store,
        n_bootstrap: int = DEFAULT_BOOTSTRAP,
        **kwargs: Any,
    ):
        self.curves = curves
        self.rows = rows
        self.n_bootstrap = n_bootstrap
        super().__init__(jobs, curves, extra_targets=[rows], **kwargs)

    def pairs(self) -> Iterator[dict[str, Any]]:
        """Newest prediction per key, with the reference it was computed from.

        Else (that reference is gone) the newest phonon reference of its material and label.
        """
        pairs = predictions_with_references(
            self.jobs,
            AMPLITUDE_PREDICTION,
            lambda p: amplitude_key(p.material_id, str(p.model), p.reference),
            REFERENCE,
            task=REFERENCE_TASK,
        )
        for key, (pred, ref_uuid) in pairs.items():
            yield {"key": key, "prediction_uuid": pred.uuid, "reference_uuid": ref_uuid}

    def documents(self, reference: Any, items: list[dict[str, Any]]) -> list[BaseModel]:
        """Documents of every model of one reference (Φ built once, only if needed)."""

        @cache
        def phi() -> np.ndarray | str:
            try:
                return dft_force_constants(reference)
            except Exception as exc:
                return f"DFT force constants failed: {type(exc).__name__}: {exc}"

        context = {"ref": reference, "phi": phi}
        return [self.safely(self.document, context, item) for item in items]

    def document(self, context: Any, item: dict[str, Any]) -> BaseModel:
        """The curve of one (material, model)."""
        pred = AmplitudePredictionDocument.model_validate(item["prediction"])
        return curve(pred, context["ref"], context["phi"], item, self.n_bootstrap)

    def update_targets(self, items: list[list[dict[str, Any]]]) -> None:
        """Replace the rows of the curves, then upsert the curves by key.

        Rows first: if writing them fails, the curves stay pending and are rebuilt.
        """
        docs = [d for group in items for d in group]
        if not docs:
            return
        rows = [r.model_dump(mode="python") for d in docs for r in rows_of(d)]
        fresh = {r["key"] for r in rows}
        old = self.rows.query({"curve_key": {"$in": [d["key"] for d in docs]}}, properties=["key"])
        stale = [d["key"] for d in old if d["key"] not in fresh]  # amplitudes no longer run
        if stale:
            self.rows.remove_docs({"key": {"$in": stale}})
        if rows:
            self.rows.update(rows, key="key")
        self.curves.update(docs, key="key")
        self.processed.extend(d["key"] for d in docs)


def dft_force_constants(ref: ReferenceTaskDocument) -> np.ndarray:
    """Full (3N, 3N) DFT force constants of a phonon reference, eV/Å²."""
    meta = ref.dft_settings[PHONOPY_KEY]
    confs = sorted(ref.configurations, key=lambda c: c.metadata["displacement_index"])
    if len(confs) != n_displacements(meta) or any(c.forces is None for c in confs):
        raise ValueError(
            f"{len(confs)} displaced supercells with forces of {n_displacements(meta)}"
        )
    ph = build_phonopy(meta)
    ph.forces = np.asarray([c.forces for c in confs], dtype=float)
    ph.produce_force_constants(calculate_full_force_constants=True)
    ph.symmetrize_force_constants(show_drift=False)
    return full_force_constants(ph)


def curve(
    pred: AmplitudePredictionDocument,
    ref: ReferenceTaskDocument | None,
    phi_of: Any,
    item: dict[str, Any],
    n_bootstrap: int = DEFAULT_BOOTSTRAP,
) -> AmplitudeDocument:
    """Parity per amplitude, roughness and warnings of one prediction."""
    settings = pred.settings
    doc = AmplitudeDocument.for_pair(
        pred,
        ref,
        item,
        task=TASK,
        n_patterns=settings.get("n_patterns"),
        seed=settings.get("seed"),
        rough_tolerance=ROUGH_TOLERANCE,
    )
    if ref is None:
        return doc.with_failure(f"no phonon reference for ({pred.material_id}, {pred.reference})")
    if ref.state != "successful":
        return doc.with_failure(f"reference unusable: {ref.reason}", state="unusable")
    if pred.state != "successful":
        return doc.with_failure(pred.reason or "model amplitude job failed")
    if PHONOPY_KEY not in ref.dft_settings:
        return doc.with_failure("reference has no phonopy metadata")
    phi = phi_of()
    if isinstance(phi, str):
        return doc.with_failure(phi)
    by_id = {c.configuration_id: c for c in pred.configurations}
    if UNDISPLACED not in by_id:
        return doc.with_failure("prediction has no undisplaced configuration")
    base = by_id.pop(UNDISPLACED)
    residual = base.forces
    lattice, r0 = np.asarray(base.arrays.lattice), np.asarray(base.arrays.positions)
    if residual is None or 3 * len(r0) != phi.shape[0]:
        return doc.with_failure(
            f"prediction supercell has {len(r0)} atoms, the force constants {phi.shape[0] // 3}"
        )
    disps: dict[float, list[np.ndarray]] = {}
    forces: dict[float, list[np.ndarray]] = {}
    for conf in by_id.values():
        a = float(conf.metadata["amplitude_angstrom"])
        disps.setdefault(a, []).append(
            minimum_image_displacement(np.asarray(conf.arrays.positions), r0, lattice)
        )
        forces.setdefault(a, []).append(conf.forces)  # type: ignore[arg-type]
    doc.n_atoms = len(r0)
    doc.residual_force_rms = float(np.sqrt((residual**2).mean()))
    results = amplitude_parity(phi, disps, forces, residual, n_bootstrap=n_bootstrap)
    for r in results:
        p = r.parity
        doc.points.append(
            AmplitudePoint(
                amplitude_angstrom=r.amplitude,
                softening_scale=p.softening_scale,
                softening_scale_ci95=list(p.ci95),
                softening_scale_ci_method=p.ci_method,
                force_mae=p.force_mae,
                r2=p.r2,
                harmonic_force_rms=r.harmonic_rms,
                residual_ratio=r.residual_ratio,
                n_patterns=p.n_configurations,
                n_components=p.n_components,
                no_signal=p.no_signal,
            )
        )
    scales = {
        pt.amplitude_angstrom: pt.softening_scale
        for pt in doc.points
        if pt.softening_scale is not None and pt.no_signal is None
    }
    doc.roughness = roughness(scales)
    doc.rough = is_rough(doc.roughness)
    smallest = results[0] if results else None
    if smallest is not None and smallest.residual_ratio > RESIDUAL_WARN_RATIO:
        doc.warnings.append(
            f"residual force at the reference geometry (RMS {doc.residual_force_rms:.3g} eV/Å) "
            f"is {smallest.residual_ratio:.2g}x the harmonic forces at {smallest.amplitude:g} Å: "
            "the comparison is meaningless there"
        )
    for pt in doc.points:
        if pt.no_signal:
            doc.warnings.append(f"{pt.amplitude_angstrom:g} Å: {pt.no_signal}")
    return doc


def rows_of(doc: dict[str, Any]) -> list[AmplitudeRow]:
    """The flat per-amplitude rows of a curve document (one row if it has none)."""
    common = {
        "curve_key": doc["key"],
        "material_id": doc["material_id"],
        "formula": doc.get("formula"),
        "model": doc["model"],
        "reference": doc["reference"],
        "state": doc["state"],
        "roughness": doc.get("roughness"),
        "rough": doc.get("rough"),
        "reason": doc.get("reason"),
    }
    points = doc.get("points") or []
    if not points:
        return [AmplitudeRow(key=doc["key"], amplitude_angstrom=float("nan"), **common)]
    return [
        AmplitudeRow(
            key=point_key(doc["key"], p["amplitude_angstrom"]),
            amplitude_angstrom=p["amplitude_angstrom"],
            softening_scale=p.get("softening_scale"),
            softening_scale_ci95=p.get("softening_scale_ci95"),
            force_mae=p.get("force_mae"),
            residual_ratio=p.get("residual_ratio"),
            **common,
        )
        for p in points
    ]


class AmplitudeSummaryBuilder(GroupSummaryBuilder):
    """Per (model, reference): median scale per amplitude and median roughness."""

    def summarize(self, docs: list[dict[str, Any]]) -> AmplitudeSummaryDocument:
        """Aggregate one group."""
        return summarize_amplitude([AmplitudeDocument.model_validate(d) for d in docs])


def summarize_amplitude(docs: list[AmplitudeDocument]) -> AmplitudeSummaryDocument:
    """Median curve over successful materials (amplitudes every one of them has)."""
    first = docs[0]
    ok = [d for d in docs if d.state == "successful" and d.points]
    curves = [{p.amplitude_angstrom: p.softening_scale for p in d.points} for d in ok]
    amplitudes = sorted(set.intersection(*(set(c) for c in curves))) if curves else []
    medians: list[float | None] = []
    for a in amplitudes:
        values = [v for c in curves if (v := c[a]) is not None]
        medians.append(float(np.median(values)) if values else None)
    rough_values = [d.roughness for d in ok if d.roughness is not None]
    return AmplitudeSummaryDocument(
        key=f"{TASK}|{first.model}|{first.reference}",
        model=first.model,
        reference=first.reference,
        n_materials=len(docs),
        n_successful=len(ok),
        n_failed=len(docs) - len(ok),
        failed_materials={d.material_id: d.reason or "" for d in docs if d not in ok},
        amplitudes_angstrom=amplitudes,
        median_softening_scale=medians,
        median_roughness=float(np.median(rough_values)) if rough_values else None,
        n_rough=sum(1 for d in ok if d.rough),
        rough_materials=sorted(d.material_id for d in ok if d.rough),
    )


def point_rough_documents(stores: Any) -> int:
    """Set ``amplitude`` on the phonon and force-parity documents of rough curves.

    Matches (material, model, reference label) of each rough curve to the phonon
    documents (both modes) and the fixed-mode force-parity document; only the
    pointer field changes. Returns the number of documents updated.
    """
    rough = list(stores.collection(AMPLITUDE_CURVES).query({"rough": True}))
    rough_keys = {c["key"] for c in rough}
    n = 0
    for name, task in ((PHONONS, None), (SOFTENING, REFERENCE_TASK)):
        target = stores.collection(name)
        updated = []
        for d in target.query({"amplitude": {"$ne": None}}):  # no longer rough: drop
            if d["amplitude"]["key"] not in rough_keys:
                d.pop("_id", None)
                d["amplitude"] = None
                updated.append(d)
        for c in rough:
            pointer = AmplitudePointer(key=c["key"], roughness=c["roughness"]).model_dump()
            criteria = {
                "material_id": c["material_id"],
                "model": c["model"],
                "reference": c["reference"],
            }
            if task:
                criteria["task"] = task
            for d in target.query(criteria):
                if d.get("amplitude") != pointer:
                    d.pop("_id", None)
                    d["amplitude"] = pointer
                    updated.append(d)
        if updated:
            target.update(updated, key="key")
            n += len(updated)
    return n


def build_amplitude(stores: Any, task: str | None = None) -> dict[str, int]:
    """Build step (``run.BUILD_STEPS``): curves and rows, summaries, pointers."""
    from softbench.run import run_builder

    if task not in (None, TASK):  # other tasks rewrite phonon/softening documents
        return {"amplitude_pointers": point_rough_documents(stores)}
    pair = AmplitudeBuilder(
        stores.jobs, stores.collection(AMPLITUDE_CURVES), stores.collection(AMPLITUDE)
    )
    run_builder(pair)
    summary = AmplitudeSummaryBuilder(
        stores.collection(AMPLITUDE_CURVES), stores.collection(AMPLITUDE_SUMMARY)
    )
    run_builder(summary)
    pointers = point_rough_documents(stores)
    return {
        "amplitude": len(pair.processed),
        "amplitude_summary": len(summary.processed),
        "amplitude_pointers": pointers,
    }
