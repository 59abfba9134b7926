"""The linear correction: E, F, sigma of a model scaled by one scalar c fitted to DFT labels.

With DFT forces x and model forces y (all 3N components of the labelled
configurations), the corrected model predicts c·y. The least-squares c over the
force components is

    c = Σ x·y / Σ y²          (minimises Σ (x - c·y)²)

This is **not** 1/s for the softening scale s = Σ x·y / Σ x² (the slope of the model
against DFT, :mod:`softbench.analysis.softening`): c·s = (Σxy)² / (Σx² Σy²) = ρ₀², the
uncentred R² (squared cosine between the two force vectors), so c = ρ₀² / s ≤ 1/s, with
equality only when the model forces are exactly proportional to DFT's. Dividing by s
(what the cMAE does) minimises nothing on the corrected side; c minimises the squared
force error of the corrected model. After correcting with c fitted on the *same*
frames, the softening scale of c·y against x is c·s = ρ₀² (≤ 1), not exactly 1.

Default: forces only. Energies (per atom) and stresses can be added with weights,
c = (Σ x·y + w_E Σ e_x e_y + w_sigma Σ sigma_x sigma_y) / (Σ y² + w_E Σ e_y² + w_sigma Σ sigma_y²).
Energy weights are off by default because a DFT code's energy zero (CP2K GTH
valence energies) need not match the model's (MP-compatible) one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

C_RANGE = (0.5, 2.0)  # outside: warn and record (a correction this large is suspect)
MIN_LABEL_CONFIGURATIONS = 1
FORCE_FLOOR = 1e-6  # eV/Å: model forces below this everywhere cannot fix c


class CorrectionError(ValueError):
    """The labels cannot determine c (none given, no forces, model forces ~0)."""


@dataclass(frozen=True)
class CorrectionFit:
    """The fitted scalar and what it was fitted on."""

    c: float
    n_configurations: int
    n_components: int
    softening_scale: float  # s = Σxy/Σx² of the base model on the label frames
    uncentred_r2: float  # ρ₀² = c·s
    energy_weight: float = 0.0
    stress_weight: float = 0.0

    def out_of_range(self) -> bool:
        """Whether c lies outside :data:`C_RANGE`."""
        lo, hi = C_RANGE
        return not (lo <= self.c <= hi)


def _flat(arrays: Sequence[np.ndarray] | None) -> np.ndarray:
    if not arrays:
        return np.zeros(0)
    return np.concatenate([np.asarray(a, float).ravel() for a in arrays])


def fit_linear_correction(
    dft_forces: Sequence[np.ndarray],
    model_forces: Sequence[np.ndarray],
    dft_energies_per_atom: Sequence[float] | None = None,
    model_energies_per_atom: Sequence[float] | None = None,
    energy_weight: float = 0.0,
    dft_stresses: Sequence[np.ndarray] | None = None,
    model_stresses: Sequence[np.ndarray] | None = None,
    stress_weight: float = 0.0,
) -> CorrectionFit:
    """Least-squares c of ``dft ≈ c · model`` (forces; optionally weighted E and sigma)."""
    if len(dft_forces) != len(model_forces):
        raise CorrectionError(
            f"{len(dft_forces)} DFT vs {len(model_forces)} model label configurations"
        )
    if len(dft_forces) < MIN_LABEL_CONFIGURATIONS:
        raise CorrectionError(
            f"need at least {MIN_LABEL_CONFIGURATIONS} DFT-labelled configuration with "
            f"forces to fit c, got {len(dft_forces)}"
        )
    x, y = _flat(dft_forces), _flat(model_forces)
    if x.shape != y.shape:
        raise CorrectionError(f"force shapes differ: DFT {x.shape} vs model {y.shape}")
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise CorrectionError("non-finite forces in the label configurations")
    if float(np.abs(y).max(initial=0.0)) < FORCE_FLOOR:
        raise CorrectionError("the model forces on the label configurations are ~0: c is undefined")
    num, den = float(x @ y), float(y @ y)
    if energy_weight > 0:
        if dft_energies_per_atom is None or model_energies_per_atom is None:
            raise CorrectionError("an energy weight needs DFT and model energies")
        ex = np.asarray(dft_energies_per_atom, float)
        ey = np.asarray(model_energies_per_atom, float)
        num += energy_weight * float(ex @ ey)
        den += energy_weight * float(ey @ ey)
    if stress_weight > 0:
        if not dft_stresses or not model_stresses:
            raise CorrectionError("a stress weight needs DFT and model stresses")
        sx, sy = _flat(dft_stresses), _flat(model_stresses)
        num += stress_weight * float(sx @ sy)
        den += stress_weight * float(sy @ sy)
    c = num / den
    sxx = float(x @ x)
    s = float(x @ y) / sxx if sxx > 0 else float("nan")
    rho2 = float(x @ y) ** 2 / (sxx * float(y @ y)) if sxx > 0 else float("nan")
    return CorrectionFit(
        c=c,
        n_configurations=len(dft_forces),
        n_components=int(x.size),
        softening_scale=s,
        uncentred_r2=rho2,
        energy_weight=energy_weight,
        stress_weight=stress_weight,
    )
