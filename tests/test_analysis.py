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
