"""Force-parity metrics: softening scale (slope through the origin), MAE, cMAE.

With reference forces x and model forces y (all 3N components of all
configurations of one material), the softening scale is the least-squares slope
of y = s x, i.e. s = Σxy / Σx². s < 1 means the model's PES is softer. The
corrected MAE (cMAE) is mean |y / s - x|: the error left after the linear
correction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

DEFAULT_BOOTSTRAP = 1000
MIN_CONFIGURATIONS_FOR_CONFIG_BOOTSTRAP = 5


@dataclass(frozen=True)
class ForceParity:
    """Force-parity metrics of one model against its reference."""

    softening_scale: float
    force_mae: float
    force_cmae: float
    force_rmse: float
    r2: float
    n_components: int
    n_configurations: int
    ci95: tuple[float, float]
    ci_method: str
    no_signal: str | None = None


def softening_scale(reference: np.ndarray, model: np.ndarray) -> float:
    """Least-squares slope through the origin of model vs reference components."""
    x = np.asarray(reference, float).ravel()
    y = np.asarray(model, float).ravel()
    if x.shape != y.shape:
        raise ValueError(f"shape mismatch: reference {x.shape} vs model {y.shape}")
    sxx = float(x @ x)
    if sxx == 0.0:
        raise ValueError("reference forces are all zero: the slope is undefined")
    return float(x @ y) / sxx


def force_parity(
    reference: Sequence[np.ndarray],
    model: Sequence[np.ndarray],
    n_bootstrap: int = DEFAULT_BOOTSTRAP,
    seed: int = 0,
) -> ForceParity:
    """Compute all parity metrics for lists of per-configuration (N, 3) forces."""
    if len(reference) != len(model):
        raise ValueError(f"{len(reference)} reference vs {len(model)} model configurations")
    if not reference:
        raise ValueError("no configurations to compare")
    refs = [np.asarray(r, float).reshape(-1, 3) for r in reference]
    mods = [np.asarray(m, float).reshape(-1, 3) for m in model]
    for i, (r, m) in enumerate(zip(refs, mods, strict=True)):
        if r.shape != m.shape:
            raise ValueError(f"configuration {i}: reference has {len(r)} atoms, model {len(m)}")
    x = np.concatenate([r.ravel() for r in refs])
    y = np.concatenate([m.ravel() for m in mods])
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise ValueError("non-finite forces reached the parity analysis")
    scale = softening_scale(x, y)
    residual = y - scale * x
    ss_tot = float(((y - y.mean()) ** 2).sum())
    r2 = 1.0 - float((residual**2).sum()) / ss_tot if ss_tot > 0 else float("nan")
    ci, method = bootstrap_ci(refs, mods, n_bootstrap=n_bootstrap, seed=seed)
    return ForceParity(
        softening_scale=scale,
        force_mae=float(np.abs(y - x).mean()),
        force_cmae=float(np.abs(y / scale - x).mean()) if scale != 0.0 else float("nan"),
        force_rmse=float(np.sqrt(((y - x) ** 2).mean())),
        r2=r2,
        n_components=int(x.size),
        n_configurations=len(refs),
        ci95=ci,
        ci_method=method,
        no_signal=no_signal(scale, ci, x, y),
    )


FORCE_FLOOR = 1e-6  # eV/Å: forces below this everywhere carry no signal


def no_signal(scale: float, ci95: tuple[float, float], x: np.ndarray, y: np.ndarray) -> str | None:
    """Why a parity carries no usable slope, or None.

    Reference forces without signal (all components equal, or a model that returns
    ~0) still give a number. It is meaningless when either side's forces are ~0
    everywhere, when the slope's 95 % interval reaches 0 (or is undefined), or when
    the slope is not positive. (R² is not a criterion: the reported R² is centred on
    the mean model force, so a model with a net force drift can have R² < 0 and a
    well-determined slope.)
    """
    for name, f in (("reference", x), ("model", y)):
        if float(np.abs(f).max()) < FORCE_FLOOR:
            return f"no signal: the {name} forces are ~0 (max |F| < {FORCE_FLOOR:g} eV/Å)"
    lo, hi = ci95
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return "no signal: the bootstrap interval of the slope is undefined"
    if lo <= 0.0 <= hi:
        return f"no signal: the 95% interval of the slope [{lo:.3g}, {hi:.3g}] contains 0"
    if scale <= 0.0:
        return f"no signal: the slope {scale:.3g} is not positive"
    return None


def bootstrap_ci(
    reference: Sequence[np.ndarray],
    model: Sequence[np.ndarray],
    n_bootstrap: int = DEFAULT_BOOTSTRAP,
    seed: int = 0,
) -> tuple[tuple[float, float], str]:
    """95% percentile bootstrap interval of the softening scale.

    Resamples configurations with replacement; with fewer than
    ``MIN_CONFIGURATIONS_FOR_CONFIG_BOOTSTRAP`` configurations (e.g. a phonon set
    with two displacements) it resamples atoms instead and says so.
    """
    if len(reference) >= MIN_CONFIGURATIONS_FOR_CONFIG_BOOTSTRAP:
        method = "configurations"
        sxy = np.array([float((r * m).sum()) for r, m in zip(reference, model, strict=False)])
        sxx = np.array([float((r * r).sum()) for r in reference])
    else:
        method = "atoms"
        r_all = np.concatenate([np.asarray(r).reshape(-1, 3) for r in reference])
        m_all = np.concatenate([np.asarray(m).reshape(-1, 3) for m in model])
        sxy = (r_all * m_all).sum(axis=1)
        sxx = (r_all * r_all).sum(axis=1)
    rng = np.random.default_rng(seed)
    n = len(sxx)
    chunk = max(1, min(n_bootstrap, 2_000_000 // max(n, 1)))
    slopes_list = []
    for start in range(0, n_bootstrap, chunk):
        idx = rng.integers(0, n, size=(min(chunk, n_bootstrap - start), n))
        num, den = sxy[idx].sum(axis=1), sxx[idx].sum(axis=1)
        ok = den > 0
        slopes_list.append(num[ok] / den[ok])
    slopes = np.concatenate(slopes_list)
    if slopes.size == 0:
        return (float("nan"), float("nan")), method
    lo, hi = np.percentile(slopes, [2.5, 97.5])
    return (float(lo), float(hi)), method
