"""Fit, register and evaluate a linear correction (``softbench correct``).

c is fitted on DFT-labelled configurations (:mod:`softbench.analysis.correction`),
the corrected model ``<base>+lc:<label>`` is registered and saved (so any later
process resolves it), and base and corrected model are evaluated on held-out
configurations. One document per (test material, base model, correction) goes to
the ``correction`` collection.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from softbench.analysis.correction import C_RANGE, CorrectionFit, fit_linear_correction
from softbench.ingest.base import ReferenceFormatError

if TYPE_CHECKING:
    from softbench.models.spec import ModelSpec
    from softbench.schemas.configuration import Configuration
    from softbench.stores import SoftbenchStores

COLLECTION = "correction"
TASK = "correction"


class CorrectionInputError(ReferenceFormatError):
    """Labels or test set unusable for a correction (exit 2, one line)."""


@dataclass
class LabelledFrames:
    """DFT-labelled configurations (with forces) of one source, by material."""

    source: str
    reference: str
    frames: list[tuple[str, Configuration]] = field(default_factory=list)

    @property
    def materials(self) -> list[str]:
        """Material ids in order of appearance."""
        return list(dict.fromkeys(m for m, _ in self.frames))

    def formulas(self) -> set[str]:
        """Reduced formulas of the frames."""
        return {c.formula for _, c in self.frames}


def read_frames(
    path: str | Path, fmt: str | None = None, materials: list[str] | None = None
) -> LabelledFrames:
    """Every configuration with forces of a reference source (any ``--reference`` format)."""
    from softbench.ingest import FORMATS, default_label, discover

    items = discover(path, fmt, materials)
    out = LabelledFrames(str(path), default_label(path, items[0].fmt))
    for item in items:
        confs, _settings, reason = FORMATS[item.fmt].read(item)
        with_forces = [c for c in confs if c.arrays.forces is not None]
        if reason and not with_forces:
            raise CorrectionInputError(f"{item.path} ({item.material_id}): {reason}")
        out.frames += [(item.material_id, c) for c in with_forces]
    return out


def select(frames: LabelledFrames, ids: Sequence[str] | None) -> LabelledFrames:
    """Only the configurations named (by ``configuration_id``); unknown ids are an error."""
    if not ids:
        return frames
    known = {c.configuration_id for _, c in frames.frames}
    missing = [i for i in ids if i not in known]
    if missing:
        raise CorrectionInputError(
            f"label frame(s) {', '.join(missing)} not in {frames.source} "
            f"(configurations: {', '.join(sorted(known))})"
        )
    keep = [(m, c) for m, c in frames.frames if c.configuration_id in set(ids)]
    return LabelledFrames(frames.source, frames.reference, keep)


@dataclass
class CorrectionResult:
    """What :func:`correct` did."""

    spec: ModelSpec
    fit: CorrectionFit
    documents: list[dict[str, Any]]
    warnings: list[str]
    n_excluded_from_test: int = 0


def _warn(warnings: list[str], message: str) -> None:
    warnings.append(message)
    print(f"softbench: warning: {message}", file=sys.stderr)


def _predict(
    spec: ModelSpec, frames: LabelledFrames, device: str | None, stress: bool
) -> list[Any]:
    from softbench.models.evaluate import evaluate

    ev = evaluate(
        spec,
        [c.structure for _, c in frames.frames],
        device,
        labels=[f"{m}/{c.configuration_id}" for m, c in frames.frames],
        stress=stress,
    )
    bad = [i for i, p in enumerate(ev.predictions) if p is None]
    if bad:
        raise CorrectionInputError("; ".join(ev.errors[i] for i in bad))
    return ev.predictions


def correct(
    stores: SoftbenchStores | None,
    base: ModelSpec,
    labels: LabelledFrames,
    test: LabelledFrames,
    name: str,
    device: str | None = None,
    energy_weight: float = 0.0,
    stress_weight: float = 0.0,
) -> CorrectionResult:
    """Fit c on ``labels``, register ``<base>+lc:<name>``, evaluate both on ``test``."""
    from softbench.models.corrections import correction_name, correction_spec, save_correction
    from softbench.models.registry import register

    try:
        correction_name(base.name, name)
    except ValueError as exc:
        raise CorrectionInputError(str(exc)) from None
    warnings: list[str] = []
    if not labels.frames:
        raise CorrectionInputError(
            f"need at least 1 DFT-labelled configuration with forces to fit c; "
            f"{labels.source} gives none"
        )
    test, excluded = held_out(labels, test, warnings)

    with_stress = stress_weight > 0
    label_preds = _predict(base, labels, device, with_stress)
    confs = [c for _, c in labels.frames]
    try:
        fit = fit_linear_correction(
            [np.asarray(c.arrays.forces) for c in confs],
            [p.forces for p in label_preds],
            dft_energies_per_atom=[(c.energy or 0.0) / c.n_atoms for c in confs],
            model_energies_per_atom=[
                p.energy / c.n_atoms for p, c in zip(label_preds, confs, strict=True)
            ],
            energy_weight=energy_weight,
            dft_stresses=[
                np.asarray(c.arrays.stress) for c in confs if c.arrays.stress is not None
            ],
            model_stresses=[
                p.stress
                for p, c in zip(label_preds, confs, strict=True)
                if c.arrays.stress is not None and p.stress is not None
            ],
            stress_weight=stress_weight,
        )
    except ValueError as exc:
        raise CorrectionInputError(str(exc)) from exc
    if fit.out_of_range():
        _warn(
            warnings,
            f"c = {fit.c:.4g} is outside [{C_RANGE[0]:g}, {C_RANGE[1]:g}]: "
            "recorded, but check the labels",
        )
    info = {
        "label_source": str(Path(labels.source).expanduser().resolve()),
        "label_reference": labels.reference,
        "label_materials": labels.materials,
        "label_configurations": [f"{m}/{c.configuration_id}" for m, c in labels.frames],
        "fit": "least squares c = sum(f_dft f_model) / sum(f_model^2)"
        + (f" + energies (w={energy_weight:g})" if energy_weight > 0 else "")
        + (f" + stresses (w={stress_weight:g})" if stress_weight > 0 else ""),
        "energy_weight": energy_weight,
        "stress_weight": stress_weight,
        "n_components": fit.n_components,
        "label_softening_scale": fit.softening_scale,
        "c_out_of_range": fit.out_of_range(),
    }
    spec = register(correction_spec(base, name, fit.c, info), overwrite=True)
    save_correction(spec)

    about = {
        "method": "linear",
        "c": fit.c,
        "c_out_of_range": fit.out_of_range(),
        "n_labels": fit.n_configurations,
        "label_configurations": info["label_configurations"],
        "label_reference": labels.reference,
        "label_softening_scale": fit.softening_scale,
        "label_uncentred_r2": fit.uncentred_r2,
        "energy_weight": fit.energy_weight,
        "stress_weight": fit.stress_weight,
    }
    docs = evaluate_correction(stores, base, spec, labels, test, about, warnings, device)
    return CorrectionResult(spec, fit, docs, warnings, excluded)


def held_out(
    labels: LabelledFrames, test: LabelledFrames, warnings: list[str]
) -> tuple[LabelledFrames, int]:
    """The test frames that are not labels (and how many were left out).

    Warns (and records in ``warnings``) when the test set has materials the labels do
    not: a correction fitted on one material is transferred to another.
    """
    label_hashes = {c.structure_hash for _, c in labels.frames}
    kept = [(m, c) for m, c in test.frames if c.structure_hash not in label_hashes]
    excluded = len(test.frames) - len(kept)
    if excluded:
        print(
            f"softbench: {excluded} test configuration(s) are label configurations: "
            "left out of the test set",
            file=sys.stderr,
        )
    if not kept:
        raise CorrectionInputError(
            f"no held-out configurations: every configuration of {test.source} is a label"
        )
    test = LabelledFrames(test.source, test.reference, kept)
    foreign = [m for m in test.materials if m not in labels.materials]
    if foreign:
        same = "same formula" if test.formulas() == labels.formulas() else "other formula"
        _warn(
            warnings,
            f"labels are of material(s) {', '.join(labels.materials)} but the test set has "
            f"{', '.join(foreign)} ({same}): the correction is transferred across materials",
        )
    return test, excluded


def evaluate_correction(
    stores: SoftbenchStores | None,
    base: ModelSpec,
    corrected: ModelSpec,
    labels: LabelledFrames,
    test: LabelledFrames,
    about: dict[str, Any],
    warnings: list[str],
    device: str | None = None,
) -> list[dict[str, Any]]:
    """Base and corrected model on held-out ``test``: one document per test material.

    ``about`` describes the correction (``method``, ``c`` or None, ``n_labels``, label
    configurations, ...). Documents also keep a sample of force components (DFT,
    before, after) on the labels and on each material's held-out frames: the
    correction figure's parity plot.
    """
    before = _predict(base, test, device, stress=False)
    after = _predict(corrected, test, device, stress=False)
    label_points = _parity_points(
        [np.asarray(c.arrays.forces) for _, c in labels.frames],
        [p.forces for p in _predict(base, labels, device, stress=False)],
        [p.forces for p in _predict(corrected, labels, device, stress=False)],
    )
    docs = [
        _document(base, corrected, test, material, before, after, warnings, about)
        for material in test.materials
    ]
    for doc in docs:
        doc["parity"]["labels"] = label_points
    if stores is not None:
        stores.collection(COLLECTION).update(docs, key="key")
    return docs


PARITY_POINTS = 600  # force components kept per set for the figure (seeded sample)


def _parity_points(
    dft: Sequence[Any], before: Sequence[Any], after: Sequence[Any]
) -> dict[str, list[float]]:
    x, y0, y1 = (np.concatenate([np.ravel(a) for a in arrays]) for arrays in (dft, before, after))
    if x.size > PARITY_POINTS:
        keep = np.sort(np.random.default_rng(0).choice(x.size, PARITY_POINTS, replace=False))
        x, y0, y1 = x[keep], y0[keep], y1[keep]
    return {"dft": x.tolist(), "before": y0.tolist(), "after": y1.tolist()}


def _document(
    base: ModelSpec,
    spec: ModelSpec,
    test: LabelledFrames,
    material: str,
    before: Sequence[Any],
    after: Sequence[Any],
    warnings: list[str],
    about: dict[str, Any],
) -> dict[str, Any]:
    from softbench.analysis.softening import force_parity
    from softbench.schemas.provenance import code_version, utcnow

    idx = [i for i, (m, _) in enumerate(test.frames) if m == material]
    confs = [test.frames[i][1] for i in idx]
    ref = [np.asarray(c.arrays.forces) for c in confs]
    p0 = force_parity(ref, [before[i].forces for i in idx])
    p1 = force_parity(ref, [after[i].forces for i in idx])
    return {
        "key": f"{material}|{base.name}|{spec.name}",
        "task": TASK,
        "reference": test.reference,
        "material_id": material,
        "formula": confs[0].formula,
        "model": base.name,
        "correction": spec.name,
        **about,
        "n_test": len(confs),
        "test_configurations": [c.configuration_id for c in confs],
        "test_source": str(Path(test.source).expanduser().resolve()),
        "softening_scale_before": p0.softening_scale,
        "softening_scale_after": p1.softening_scale,
        "force_mae_before": p0.force_mae,
        "force_mae_after": p1.force_mae,
        "force_cmae_before": p0.force_cmae,
        "force_cmae_after": p1.force_cmae,
        "r2_before": p0.r2,
        "parity": {
            "held_out": _parity_points(
                ref, [before[i].forces for i in idx], [after[i].forces for i in idx]
            )
        },
        "warnings": list(warnings),
        "state": "successful",
        "provenance": spec.safe_provenance().model_dump(),
        "code_version": code_version(),
        "last_updated": utcnow(),
    }
