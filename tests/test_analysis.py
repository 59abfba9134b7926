"""Force-parity arithmetic on honest synthetic data."""

import numpy as np
import pytest

from softbench.analysis.softening import bootstrap_ci, force_parity, softening_scale


def test_scale_of_exactly_scaled_forces():
    rng = np.random.default_rng(1)
    model = [rng.normal(size=(8, 3)) for _ in range(6)]
    dft = [1.25 * m for m in model]
    p = force_parity(dft, model)
    assert abs(p.softening_scale - 0.8) < 1e-12
    assert p.force_cmae < 1e-12
    assert p.force_mae == pytest.approx(np.mean(np.abs(np.concatenate(model) * 0.25)))
    assert p.n_components == 6 * 8 * 3
    assert p.ci95[0] == pytest.approx(0.8) and p.ci95[1] == pytest.approx(0.8)


def test_slope_is_through_the_origin_not_an_intercept_fit():
    x = np.array([1.0, 2.0, 3.0])
    y = x + 1.0  # an intercept fit would give slope 1
    assert softening_scale(x, y) == pytest.approx((x @ y) / (x @ x))
    assert softening_scale(x, y) != pytest.approx(1.0)


def test_bootstrap_interval_covers_truth_and_shrinks_with_data():
    rng = np.random.default_rng(0)

    def sample(n_conf):
        dft = [rng.normal(size=(10, 3)) for _ in range(n_conf)]
        model = [0.85 * d + rng.normal(scale=0.2, size=d.shape) for d in dft]
        return dft, model

    (lo_s, hi_s), method = bootstrap_ci(*sample(8))
    (lo_l, hi_l), _ = bootstrap_ci(*sample(200))
    assert method == "configurations"
    assert lo_l < 0.85 < hi_l
    assert (hi_l - lo_l) < (hi_s - lo_s)


def test_few_configurations_resample_atoms():
    rng = np.random.default_rng(2)
    dft = [rng.normal(size=(50, 3)) for _ in range(2)]
    model = [0.9 * d + rng.normal(scale=0.05, size=d.shape) for d in dft]
    p = force_parity(dft, model)
    assert p.ci_method == "atoms"
    assert p.ci95[0] < p.softening_scale < p.ci95[1]


@pytest.mark.parametrize(
    ("dft", "model", "match"),
    [
        ([np.zeros((2, 3))], [np.ones((2, 3))], "all zero"),
        ([np.ones((2, 3))], [np.ones((3, 3))], "2 atoms, model 3"),
        ([np.ones((2, 3))], [np.full((2, 3), np.nan)], "non-finite"),
        ([np.ones((2, 3))], [], "1 reference vs 0 model"),
    ],
)
def test_bad_input_is_named(dft, model, match):
    with pytest.raises(ValueError, match=match):
        force_parity(dft, model)


def _noisy_pairs():
    """Two configurations of two atoms: reference x, model y = 0.8 x + noise (seeded)."""
    rng = np.random.default_rng(42)
    ref = [rng.normal(size=(2, 3)), rng.normal(size=(2, 3))]
    model = [0.8 * r + rng.normal(scale=0.1, size=r.shape) for r in ref]
    return ref, model


def test_metrics_on_noisy_forces_match_hand_arithmetic():
    ref, model = _noisy_pairs()
    # plain numpy, component by component (12 components), not softbench's code
    x = [float(v) for r in ref for v in r.ravel()]
    y = [float(v) for m in model for v in m.ravel()]
    n = len(x)
    s = sum(a * b for a, b in zip(x, y, strict=True)) / sum(a * a for a in x)
    mae = sum(abs(b - a) for a, b in zip(x, y, strict=True)) / n
    cmae = sum(abs(b / s - a) for a, b in zip(x, y, strict=True)) / n
    rmse = (sum((b - a) ** 2 for a, b in zip(x, y, strict=True)) / n) ** 0.5
    # R² as the code defines it: residuals of the through-origin fit y = s x over
    # the spread of y about its mean (not the uncentred Σy² variant)
    y_mean = sum(y) / n
    ss_res = sum((b - s * a) ** 2 for a, b in zip(x, y, strict=True))
    ss_tot = sum((b - y_mean) ** 2 for b in y)
    r2 = 1 - ss_res / ss_tot

    p = force_parity(ref, model, n_bootstrap=200)
    assert p.softening_scale == pytest.approx(s, rel=1e-12)
    assert p.force_mae == pytest.approx(mae, rel=1e-12)
    assert p.force_cmae == pytest.approx(cmae, rel=1e-12)
    assert p.force_rmse == pytest.approx(rmse, rel=1e-12)
    assert p.r2 == pytest.approx(r2, rel=1e-12)
    assert (p.n_components, p.n_configurations) == (12, 2)
    # the data are noisy: every error metric is visibly non-zero, and cMAE is not
    # one of the plausible wrong formulas
    assert cmae > 0.02 and mae > 0.02
    x_arr, y_arr = np.array(x), np.array(y)
    assert p.force_cmae != pytest.approx(np.mean(np.abs(y_arr - s * x_arr)), rel=1e-3)
    slope_with_intercept = np.polyfit(x_arr, y_arr, 1)[0]
    assert p.force_cmae != pytest.approx(
        np.mean(np.abs(y_arr / slope_with_intercept - x_arr)), rel=1e-3
    )


def _coverage_sample(rng, method: str, slope: float):
    if method == "configurations":  # 60 independent configurations of 4 atoms
        ref = [rng.normal(size=(4, 3)) for _ in range(60)]
    else:  # 3 configurations: atoms are resampled, so atom noise is independent
        ref = [rng.normal(size=(60, 3)) for _ in range(3)]
    model = [slope * r + rng.normal(scale=0.3, size=r.shape) for r in ref]
    return ref, model


@pytest.mark.parametrize("method", ["configurations", "atoms"])
def test_bootstrap_95_interval_covers_the_true_slope_about_95_percent(method):
    slope, n_sets = 0.85, 400  # 400 sets: binomial sd of the coverage ~1.2 %
    rng = np.random.default_rng(2024)
    hits = 0
    for i in range(n_sets):
        ref, model = _coverage_sample(rng, method, slope)
        (lo, hi), used = bootstrap_ci(ref, model, n_bootstrap=400, seed=i)
        assert used == method
        hits += lo <= slope <= hi
    assert 0.90 <= hits / n_sets <= 0.99, f"coverage {hits / n_sets:.3f}"
