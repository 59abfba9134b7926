"""Elastic tensors from stress-strain data, VRH moduli, Born stability, softening ratios.

Units and signs: stresses are in GPa with the physical sign (tensile positive),
which is pymatgen's elastic convention and also ASE's (ASE reports eV/Å³):
``ase_stress_to_gpa`` only changes units (``ase.units.GPa``, Voigt order by
``ase.stress``). VASP's stress (kbar, compressive positive) differs by a factor -10;
atomate2 converts it the same way.

The numerics are the libraries': the fit is atomate2's
``ElasticDocument.from_stresses`` and the moduli are pymatgen's ``ElasticTensor``
properties. What they lack is kept here: the Born stability check (eigenvalues of
the symmetrised Voigt matrix) and the softening ratios.

Strain set (``MP_STRAIN_MAGNITUDES``): atomate2's ElasticMaker defaults, which MP's
current elasticity workflow uses: six single-component strain states, normal
states ``e_ii`` and shear states with engineering strain ``2 e_ij``, each at
magnitudes -1 %, -0.5 %, +0.5 %, +1 % (so tensor shear strains of ±0.5 % and ±1 %,
engineering ±1 %, ±2 %), reduced by symmetry and fitted by finite differences
with the equilibrium stress as the zero-strain point.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

if TYPE_CHECKING:
    from pymatgen.analysis.elasticity import Deformation, ElasticTensor
    from pymatgen.core import Structure

MP_STRAIN_MAGNITUDES: tuple[float, ...] = (-0.01, -0.005, 0.005, 0.01)
SYMPREC = 0.1  # atomate2's SETTINGS.SYMPREC, used for strain reduction and expansion
FITTING_METHOD = "finite_difference"  # atomate2's SETTINGS.ELASTIC_FITTING_METHOD
STABILITY_TOL_GPA = 1e-6


def ase_stress_to_gpa(stress: Any) -> np.ndarray:
    """ASE stress (3x3 or Voigt-6 xx,yy,zz,yz,xz,xy; eV/Å³) as a 3x3 tensor in GPa."""
    from ase.stress import voigt_6_to_full_3x3_stress
    from ase.units import GPa

    arr = np.asarray(stress, dtype=float)
    if arr.shape == (6,):
        arr = voigt_6_to_full_3x3_stress(arr)
    if arr.shape != (3, 3):
        raise ValueError(f"stress must be 3x3 or Voigt-6, got shape {arr.shape}")
    return arr / GPa


def elastic_deformations(
    structure: Structure,
    magnitudes: Sequence[float] = MP_STRAIN_MAGNITUDES,
    sym_reduce: bool = True,
    symprec: float = SYMPREC,
) -> list[Deformation]:
    """atomate2's strain set for a 2nd-order tensor (symmetry-reduced by default)."""
    from atomate2.common.jobs.elastic import generate_elastic_deformations

    generate = generate_elastic_deformations.original  # type: ignore[attr-defined]
    return generate(
        structure,
        order=2,
        strain_magnitudes=list(magnitudes),
        symprec=symprec,
        sym_reduce=sym_reduce,
    )


def fit_elastic_tensor(
    structure: Structure,
    deformations: Sequence[Any],
    stresses_gpa: Sequence[Any],
    eq_stress_gpa: Any | None = None,
    symprec: float | None = SYMPREC,
    method: str = FITTING_METHOD,
) -> ElasticTensor:
    """Fit the 2nd-order tensor (IEEE orientation, GPa) with atomate2's fit.

    ``stresses_gpa`` are Cauchy stresses (tensile positive) of the deformed cells;
    ``symprec`` expands symmetry-reduced strains (None: no expansion). atomate2's
    ``ElasticDocument.from_stresses`` expects VASP's kbar (compressive positive) and
    multiplies by -0.1, so the stresses are handed over times -10 (a round trip
    exact to a few ulp).
    """
    from atomate2.common.schemas.elastic import ElasticDocument
    from pymatgen.analysis.elasticity import Deformation, ElasticTensor, Stress

    kbar = [Stress(-10.0 * np.asarray(s, dtype=float)) for s in stresses_gpa]
    labels = [str(i) for i in range(len(kbar))]
    eq = None if eq_stress_gpa is None else (-10.0 * np.asarray(eq_stress_gpa, float)).tolist()
    doc = ElasticDocument.from_stresses(
        structure,
        kbar,
        [Deformation(d) for d in deformations],
        labels,
        labels,
        fitting_method=method,
        order=2,
        equilibrium_stress=eq,
        symprec=symprec,  # type: ignore[arg-type]  # atomate2 accepts None (no expansion)
        allow_elastically_unstable_structs=True,
    )
    ieee = doc.elastic_tensor.ieee_format if doc.elastic_tensor else None
    if ieee is None:  # pragma: no cover - atomate2 always sets it
        raise ValueError("atomate2 returned no elastic tensor")
    return ElasticTensor.from_voigt(np.asarray(ieee, dtype=float))


@dataclass(frozen=True)
class Moduli:
    """Voigt, Reuss and Hill bulk and shear moduli (GPa) and Born stability."""

    k_voigt: float
    k_reuss: float
    k_vrh: float
    g_voigt: float
    g_reuss: float
    g_vrh: float
    eigenvalues: tuple[float, ...]
    stable: bool


def moduli(voigt: Any) -> Moduli:
    """VRH moduli of a 6x6 Voigt tensor (GPa) and whether it is positive definite.

    The moduli are pymatgen's ``ElasticTensor`` properties of the symmetrised
    matrix. Born stability in its general form (which pymatgen lacks): all
    eigenvalues of the symmetrised Voigt matrix positive. Reuss bounds of an
    unstable tensor are still computed (they may be negative or huge); callers
    exclude unstable tensors from statistics.
    """
    from pymatgen.analysis.elasticity import ElasticTensor

    c = np.asarray(voigt, dtype=float)
    if c.shape != (6, 6) or not np.isfinite(c).all():
        raise ValueError("elastic tensor must be a finite 6x6 Voigt matrix")
    c = 0.5 * (c + c.T)
    eig = np.linalg.eigvalsh(c)
    tensor = ElasticTensor.from_voigt(c)
    try:
        k_r, g_r = float(tensor.k_reuss), float(tensor.g_reuss)
        k_vrh, g_vrh = float(tensor.k_vrh), float(tensor.g_vrh)
    except np.linalg.LinAlgError:  # singular: no compliance, no Reuss bound
        k_r = g_r = k_vrh = g_vrh = float("nan")
    return Moduli(
        k_voigt=float(tensor.k_voigt),
        k_reuss=k_r,
        k_vrh=k_vrh,
        g_voigt=float(tensor.g_voigt),
        g_reuss=g_r,
        g_vrh=g_vrh,
        eigenvalues=tuple(float(e) for e in eig),
        stable=bool(eig.min() > STABILITY_TOL_GPA),
    )


def ratio(model: float | None, dft: float | None) -> float | None:
    """model/DFT, or None when either is missing or DFT is not positive."""
    if model is None or dft is None or not np.isfinite([model, dft]).all() or dft <= 0:
        return None
    return float(model / dft)


def diagonal_ratios(model_voigt: Any, dft_voigt: Any) -> list[float | None]:
    """C_ii(model)/C_ii(DFT) for i = 1..6 (both IEEE-oriented Voigt matrices)."""
    m, d = np.asarray(model_voigt, float), np.asarray(dft_voigt, float)
    return [ratio(float(m[i, i]), float(d[i, i])) for i in range(6)]


def elastic_softening(
    k_ratio: float | None,
    g_ratio: float | None,
    diag_ratios: Sequence[float | None] | None = None,
) -> tuple[float | None, Literal["diagonal", "moduli"] | None]:
    """Median of the six diagonal ratios where a DFT tensor exists, else of K and G.

    Returns (value, basis) with basis ``"diagonal"`` or ``"moduli"``.
    """
    diag = [r for r in (diag_ratios or []) if r is not None]
    if diag_ratios is not None and len(diag) == 6:
        return float(np.median(diag)), "diagonal"
    both = [r for r in (k_ratio, g_ratio) if r is not None]
    if len(both) == 2:
        return float(np.median(both)), "moduli"
    return None, None


def log_ratio_stats(ratios: Sequence[float]) -> dict[str, float]:
    """Distribution of log10(ratio): mean, std and the 5/25/50/75/95 percentiles."""
    values = np.log10([r for r in ratios if r is not None and r > 0])
    if values.size == 0:
        return {}
    q = np.percentile(values, [5, 25, 50, 75, 95])
    return {
        "n": float(values.size),
        "mean": float(values.mean()),
        "std": float(values.std()),
        **{f"p{p}": float(v) for p, v in zip((5, 25, 50, 75, 95), q, strict=True)},
    }
