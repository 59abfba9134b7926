"""Elastic tensors from stress-strain data, VRH moduli, Born stability, softening ratios.

Units and signs: stresses are in GPa with the physical sign (tensile positive),
which is pymatgen's elastic convention and also ASE's (ASE reports eV/Å³):
``ase_stress_to_gpa`` only changes units. VASP's stress (kbar, compressive
positive) differs by a factor -10; atomate2 converts it the same way.

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

EV_A3_TO_GPA = 160.21766208
MP_STRAIN_MAGNITUDES: tuple[float, ...] = (-0.01, -0.005, 0.005, 0.01)
SYMPREC = 0.1  # atomate2's SETTINGS.SYMPREC, used for strain reduction and expansion
FITTING_METHOD = "finite_difference"  # atomate2's SETTINGS.ELASTIC_FITTING_METHOD
STABILITY_TOL_GPA = 1e-6


def ase_stress_to_gpa(stress: Any) -> np.ndarray:
    """ASE stress (3x3 or Voigt-6 xx,yy,zz,yz,xz,xy; eV/Å³) as a 3x3 tensor in GPa."""
    arr = np.asarray(stress, dtype=float)
    if arr.shape == (6,):
        xx, yy, zz, yz, xz, xy = arr
        arr = np.array([[xx, xy, xz], [xy, yy, yz], [xz, yz, zz]])
    if arr.shape != (3, 3):
        raise ValueError(f"stress must be 3x3 or Voigt-6, got shape {arr.shape}")
    return arr * EV_A3_TO_GPA


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
    """Fit the 2nd-order tensor (IEEE orientation, GPa) as atomate2 does.

    ``stresses_gpa`` are Cauchy stresses (tensile positive) of the deformed cells;
    ``symprec`` expands symmetry-reduced strains (None: no expansion).
    """
    from atomate2.common.schemas.elastic import expand_strains
    from pymatgen.analysis.elasticity import (
        Deformation,
        ElasticTensor,
        ElasticTensorExpansion,
        Stress,
    )

    strains = [Deformation(d).green_lagrange_strain for d in deformations]
    stresses = [Stress(np.asarray(s, dtype=float)) for s in stresses_gpa]
    if symprec is not None:
        labels = [str(i) for i in range(len(strains))]
        strains, stresses, _, _ = expand_strains(
            structure, strains, stresses, labels, labels, symprec
        )
    pk2 = [
        s.piola_kirchoff_2(st.get_deformation_matrix())
        for s, st in zip(stresses, strains, strict=True)
    ]
    eq = None if eq_stress_gpa is None else Stress(np.asarray(eq_stress_gpa, dtype=float))
    if method == "finite_difference":
        tensor = ElasticTensor(
            ElasticTensorExpansion.from_diff_fit(strains, pk2, eq_stress=eq, order=2)[0]
        )
    elif method == "independent":
        tensor = ElasticTensor.from_independent_strains(strains, pk2, eq_stress=eq)
    elif method == "pseudoinverse":
        tensor = ElasticTensor.from_pseudoinverse(strains, pk2)
    else:
        raise ValueError(f"unknown fitting method {method!r}")
    return tensor.convert_to_ieee(structure)


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

    Born stability in its general form: all eigenvalues of the (symmetrised) Voigt
    matrix positive. Reuss bounds of an unstable tensor are still computed (they
    may be negative or huge); callers exclude unstable tensors from statistics.
    """
    c = np.asarray(voigt, dtype=float)
    if c.shape != (6, 6) or not np.isfinite(c).all():
        raise ValueError("elastic tensor must be a finite 6x6 Voigt matrix")
    c = 0.5 * (c + c.T)
    eig = np.linalg.eigvalsh(c)
    k_v = (c[0, 0] + c[1, 1] + c[2, 2] + 2 * (c[0, 1] + c[1, 2] + c[0, 2])) / 9
    g_v = (
        c[0, 0]
        + c[1, 1]
        + c[2, 2]
        - (c[0, 1] + c[1, 2] + c[0, 2])
        + 3 * (c[3, 3] + c[4, 4] + c[5, 5])
    ) / 15
    try:
        s = np.linalg.inv(c)
        k_r = 1 / (s[0, 0] + s[1, 1] + s[2, 2] + 2 * (s[0, 1] + s[1, 2] + s[0, 2]))
        g_r = 15 / (
            4 * (s[0, 0] + s[1, 1] + s[2, 2])
            - 4 * (s[0, 1] + s[1, 2] + s[0, 2])
            + 3 * (s[3, 3] + s[4, 4] + s[5, 5])
        )
    except np.linalg.LinAlgError:
        k_r = g_r = float("nan")
    return Moduli(
        k_voigt=float(k_v),
        k_reuss=float(k_r),
        k_vrh=float((k_v + k_r) / 2),
        g_voigt=float(g_v),
        g_reuss=float(g_r),
        g_vrh=float((g_v + g_r) / 2),
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
