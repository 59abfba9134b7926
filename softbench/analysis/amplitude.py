"""Force parity against the harmonic DFT reference as a function of displacement amplitude.

The DFT force constants Φ of a phonon reference (phonopy, from its DFT displacement
forces) give the harmonic forces F = -Φu of any displacement field u of its
supercell. Seeded random patterns (every atom displaced by exactly A Å in a random
direction; the same directions at every amplitude, scaled to A) probe the model's
PES at a controlled distance from the reference geometry. The harmonic reference is
exact only for small amplitudes (anharmonicity grows with A), which is why
amplitudes are bounded (:data:`MAX_AMPLITUDE`) and the default set stops at 0.1 Å.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from softbench.analysis.softening import DEFAULT_BOOTSTRAP, ForceParity, force_parity

DEFAULT_AMPLITUDES = (0.005, 0.01, 0.02, 0.05, 0.1)  # Å
MAX_AMPLITUDE = 0.3  # Å; above this a harmonic reference is not a meaningful comparison
DEFAULT_PATTERNS = 4  # random patterns per amplitude
DEFAULT_SEED = 0
ROUGHNESS_SMALL, ROUGHNESS_LARGE = 0.01, 0.1  # Å: roughness = scale(0.01) / scale(0.1)
ROUGH_TOLERANCE = 0.2  # |roughness - 1| above this flags a rough PES
RESIDUAL_WARN_RATIO = 0.5  # residual RMS / harmonic RMS at the smallest amplitude


def check_amplitudes(amplitudes: Sequence[float]) -> tuple[float, ...]:
    """Sorted, distinct amplitudes; ValueError naming the bad value otherwise."""
    if not amplitudes:
        raise ValueError("no amplitudes given")
    for a in amplitudes:
        if not np.isfinite(a) or a <= 0:
            raise ValueError(f"amplitude {a:g} Å is not positive")
        if a > MAX_AMPLITUDE:
            raise ValueError(
                f"amplitude {a:g} Å is above {MAX_AMPLITUDE:g} Å, where a harmonic "
                "reference means nothing"
            )
    return tuple(sorted({float(a) for a in amplitudes}))


def unit_directions(n_atoms: int, n_patterns: int, seed: int = DEFAULT_SEED) -> np.ndarray:
    """(n_patterns, n_atoms, 3) random unit vectors (isotropic), reproducible from ``seed``."""
    rng = np.random.default_rng(seed)
    v = rng.normal(size=(n_patterns, n_atoms, 3))
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def displacement_patterns(
    n_atoms: int, amplitudes: Sequence[float], n_patterns: int, seed: int = DEFAULT_SEED
) -> dict[float, np.ndarray]:
    """Amplitude -> (n_patterns, n_atoms, 3) displacements, each atom's norm exactly A."""
    directions = unit_directions(n_atoms, n_patterns, seed)
    return {float(a): float(a) * directions for a in amplitudes}


def minimum_image_displacement(
    positions: np.ndarray, reference: np.ndarray, lattice: np.ndarray
) -> np.ndarray:
    """Cartesian u = r - r0 of each atom, wrapped to the nearest periodic image."""
    lattice = np.asarray(lattice, float)
    frac = (np.asarray(positions, float) - np.asarray(reference, float)) @ np.linalg.inv(lattice)
    return (frac - np.round(frac)) @ lattice


def full_force_constants(ph: Any) -> np.ndarray:
    """(3N, 3N) matrix Φ of a Phonopy object with produced force constants, eV/Å²."""
    fc = np.asarray(ph.force_constants, float)
    n = fc.shape[1]
    if fc.shape[0] != n:  # compact form: expand to all atoms
        from phonopy.harmonic.force_constants import compact_fc_to_full_fc

        fc = compact_fc_to_full_fc(ph.primitive, fc)
    return fc.transpose(0, 2, 1, 3).reshape(3 * n, 3 * n)


def harmonic_forces(phi: np.ndarray, displacement: np.ndarray) -> np.ndarray:
    """F = -Φu as (N, 3), eV/Å."""
    u = np.asarray(displacement, float).reshape(-1)
    return -(phi @ u).reshape(-1, 3)


@dataclass(frozen=True)
class AmplitudeParity:
    """Force parity at one amplitude, and how the model's residual force compares."""

    amplitude: float
    parity: ForceParity
    harmonic_rms: float  # eV/Å, RMS component of -Φu at this amplitude
    residual_ratio: float  # RMS residual force component / harmonic_rms


def amplitude_parity(
    phi: np.ndarray,
    displacements: dict[float, list[np.ndarray]],
    model_forces: dict[float, list[np.ndarray]],
    residual: np.ndarray,
    n_bootstrap: int = DEFAULT_BOOTSTRAP,
) -> list[AmplitudeParity]:
    """Force parity per amplitude of (model - residual) against -Φu.

    ``displacements`` and ``model_forces``: amplitude -> per-pattern (N, 3) arrays;
    ``residual``: the model's forces at the undisplaced geometry (subtracted).
    """
    residual = np.asarray(residual, float).reshape(-1, 3)
    residual_rms = float(np.sqrt((residual**2).mean()))
    out = []
    for amplitude in sorted(displacements):
        ref = [harmonic_forces(phi, u) for u in displacements[amplitude]]
        mod = [np.asarray(f, float).reshape(-1, 3) - residual for f in model_forces[amplitude]]
        parity = force_parity(ref, mod, n_bootstrap=n_bootstrap)
        rms = float(np.sqrt(np.mean([(r**2).mean() for r in ref])))
        out.append(AmplitudeParity(amplitude, parity, rms, residual_rms / rms if rms else np.inf))
    return out


def roughness(scales: dict[float, float]) -> float | None:
    """scale(0.01 Å) / scale(0.1 Å) (1 for a smooth PES); None without both amplitudes."""
    small = _at(scales, ROUGHNESS_SMALL)
    large = _at(scales, ROUGHNESS_LARGE)
    if small is None or large is None or large == 0:
        return None
    return small / large


def is_rough(value: float | None, tolerance: float = ROUGH_TOLERANCE) -> bool | None:
    """Whether a roughness number departs from 1 by more than ``tolerance``."""
    return None if value is None else bool(abs(value - 1.0) > tolerance)


def _at(scales: dict[float, float], amplitude: float) -> float | None:
    for a, s in scales.items():
        if np.isclose(a, amplitude, rtol=1e-6, atol=1e-9):
            return s
    return None
