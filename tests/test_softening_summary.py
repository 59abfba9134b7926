"""Softening and summary builders on noisy forces, checked against plain numpy.

The reference forces are a unit-spring 'DFT' times a per-material stiffness plus
seeded noise; the model is a spring model of known stiffness. Every number the
builders store is recomputed here from the file's own forces and positions.
"""

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.singlepoint import SinglePointCalculator
from ase.io import read, write

from softbench.builders.softening import build_step
from softbench.ingest import discover
from softbench.models import get_models
from softbench.run import run_flow
from softbench.testing.calculators import register_springs as _register_springs
from softbench.workflows.forces import force_parity_flow

MODEL_K = 1.0
# material -> stiffness of its reference: scales near 0.8, 1.25 and 0.91
STIFFNESS = {"m-soft": 1.25, "m-stiff": 0.8, "m-mid": 1.1}


def build_softening(stores) -> tuple[int, int]:
    """The softening and summary builders only: (documents written, summaries written)."""
    counts = build_step(stores)
    return counts["softening"], counts["summary"]


def _write_noisy(path, n_frames=3):
    frames = []
    for m_i, (mid, stiffness) in enumerate(STIFFNESS.items()):
        for i in range(n_frames):
            atoms = bulk("Cu", "fcc", a=3.6, cubic=True).repeat((2, 1, 1))
            ideal = atoms.get_positions()
            atoms.rattle(0.05, seed=100 * m_i + i)
            noise = np.random.default_rng(1000 + 10 * m_i + i).normal(scale=0.01, size=ideal.shape)
            forces = -stiffness * (atoms.get_positions() - ideal) + noise
            atoms.calc = SinglePointCalculator(atoms, energy=0.0, forces=forces)
            atoms.info["material_id"] = mid
            frames.append(atoms)
    bad = bulk("Cu", "fcc", a=3.6, cubic=True)  # no forces at all: an unusable reference
    bad.info["material_id"] = "m-bad"
    frames.append(bad)
    write(path, frames)
    return path


def _expected_from_file(path, k):
    """Per-material (scale, MAE, cMAE, RMSE) from the file, plain numpy."""
    xs, ys = {}, {}
    for atoms in read(path, index=":"):
        mid = atoms.info["material_id"]
        if mid == "m-bad":
            continue
        pos = atoms.get_positions()
        # the spring model's rest positions: fractional coordinates rounded to 1/4
        rest = np.round(atoms.get_scaled_positions(wrap=False) * 4) / 4 @ atoms.cell.array
        xs.setdefault(mid, []).append(atoms.get_forces().ravel())
        ys.setdefault(mid, []).append((-k * (pos - rest)).ravel())
    out = {}
    for mid, x_parts in xs.items():
        x, y = np.concatenate(x_parts), np.concatenate(ys[mid])
        s = np.sum(x * y) / np.sum(x * x)
        out[mid] = {
            "softening_scale": s,
            "force_mae": np.mean(np.abs(y - x)),
            "force_cmae": np.mean(np.abs(y / s - x)),
            "force_rmse": np.sqrt(np.mean((y - x) ** 2)),
        }
    return out


def test_softening_and_summary_values_on_noisy_forces(stores, tmp_path):
    path = _write_noisy(tmp_path / "noisy.extxyz")
    model = _register_springs(MODEL_K)
    flow = force_parity_flow(discover(path), get_models([model]), "extxyz:noisy")
    run_flow(flow, stores, log=False)
    assert build_softening(stores) == (4, 1)

    expected = _expected_from_file(path, MODEL_K)
    docs = {d["material_id"]: d for d in stores.collection("softening").query({})}
    for mid, values in expected.items():
        doc = docs[mid]
        assert doc["state"] == "successful", doc["reason"]
        for name, value in values.items():
            assert doc[name] == pytest.approx(value, rel=1e-9), (mid, name)
        assert doc["force_cmae"] > 0.003  # noisy: the linear correction leaves an error
        lo, hi = doc["softening_scale_ci95"]
        assert lo < doc["softening_scale"] < hi
    assert docs["m-bad"]["state"] == "failed"

    scales = [v["softening_scale"] for v in expected.values()]
    assert sorted(np.round(scales, 1)) == [0.8, 0.9, 1.2]  # the design worked
    (summary,) = stores.collection("softening_summary").query({})
    assert summary["key"] == f"forces|{model}|extxyz:noisy"
    assert (summary["n_materials"], summary["n_successful"], summary["n_failed"]) == (4, 3, 1)
    assert summary["median_softening_scale"] == pytest.approx(np.median(scales), rel=1e-9)
    assert summary["median_softening_scale"] == pytest.approx(
        expected["m-mid"]["softening_scale"], rel=1e-9
    )
    assert summary["fraction_softened"] == pytest.approx(2 / 3)
    assert summary["mean_force_mae"] == pytest.approx(
        np.mean([v["force_mae"] for v in expected.values()]), rel=1e-9
    )
    assert summary["mean_force_cmae"] == pytest.approx(
        np.mean([v["force_cmae"] for v in expected.values()]), rel=1e-9
    )
    assert list(summary["failed_materials"]) == ["m-bad"]
    assert "reference unusable" in summary["failed_materials"]["m-bad"]
