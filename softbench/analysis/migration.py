"""Migration-barrier numerics: energies along a hop referenced to its end points.

Definitions (ApproxNEB, Rong et al., J. Chem. Phys. 145, 074112 (2016); KRA after
Van der Ven et al., Phys. Rev. B 64, 184307 (2001)). For the energies
``E_0 .. E_N`` of the end points (0, N) and the ``N-1`` images between them:

- reference energy ``E_ref = (E_0 + E_N) / 2`` (the mean of the end points);
- relative energies ``e_i = E_i - E_ref`` (end points at ``-/+ asymmetry/2``);
- KRA barrier ``max_{0<i<N} e_i``: the highest *image* energy above the end-point
  mean; it is the same for both hop directions;
- end-point asymmetry ``E_N - E_0``;
- forward / reverse barrier ``max_i E_i - E_0`` / ``max_i E_i - E_N`` (i over all
  points): what atomate2's ``NebResult`` calls forward/reverse barrier, except
  that atomate2 takes the maximum of a cubic spline, this the highest image.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Barrier:
    """A hop's energies and barriers, eV."""

    relative_energies: list[float]  # e_i = E_i - (E_0 + E_N)/2, end points included
    kra_barrier: float
    asymmetry: float  # E_N - E_0
    forward_barrier: float  # max E_i - E_0
    reverse_barrier: float  # max E_i - E_N
    max_image: int  # index (0..N) of the highest image


def barrier(energies: Sequence[float]) -> Barrier:
    """Barrier of one hop from absolute energies ``E_0 .. E_N`` (end points first and last).

    At least one image is needed (three energies); non-finite energies are refused.
    """
    e = np.asarray(energies, dtype=float)
    if e.ndim != 1 or e.size < 3:
        raise ValueError(f"a hop needs both end points and at least one image, got {e.size}")
    if not np.isfinite(e).all():
        raise ValueError("non-finite energy along the hop")
    reference = 0.5 * (e[0] + e[-1])
    relative = e - reference
    images = relative[1:-1]
    top = int(np.argmax(images)) + 1
    highest = float(max(e.max(), e[top]))
    return Barrier(
        relative_energies=relative.tolist(),
        kra_barrier=float(images.max()),
        asymmetry=float(e[-1] - e[0]),
        forward_barrier=highest - float(e[0]),
        reverse_barrier=highest - float(e[-1]),
        max_image=top,
    )


def barrier_statistics(dft: Sequence[float], model: Sequence[float]) -> dict[str, float | None]:
    """MAE, mean signed difference (DFT - model) and fraction underpredicted, eV."""
    d = np.asarray(dft, dtype=float)
    m = np.asarray(model, dtype=float)
    if d.size == 0:
        return {"mae_ev": None, "mean_signed_difference_ev": None, "fraction_underpredicted": None}
    diff = d - m
    return {
        "mae_ev": float(np.abs(diff).mean()),
        "mean_signed_difference_ev": float(diff.mean()),
        "fraction_underpredicted": float((m < d).mean()),
    }
