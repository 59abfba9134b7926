"""Linear correction: the fit, the registered corrected model, ``softbench correct``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from softbench.analysis.correction import CorrectionError, fit_linear_correction
from softbench.cli import main
from softbench.testing.calculators import Springs, register_springs


def _frames(n: int, seed: int = 0, material: str = "Si8") -> list:
    from ase.build import bulk

    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        atoms = bulk("Si", "diamond", a=5.43, cubic=True)
        atoms.positions += rng.normal(0, 0.05, atoms.positions.shape)
        atoms.info["material_id"] = material
        atoms.info["configuration_id"] = f"frame-{i:02d}"
        out.append(atoms)
    return out


def _write(path: Path, frames: list, factor: float, forces: bool = True) -> Path:
    """Extended XYZ whose 'DFT' energy and forces are ``factor`` x the springs model's."""
    from ase.calculators.singlepoint import SinglePointCalculator
    from ase.io import write

    labelled = []
    for frame in frames:
        atoms = frame.copy()
        atoms.calc = Springs(k=1.0)
        energy, f = atoms.get_potential_energy(), atoms.get_forces()
        atoms.calc = SinglePointCalculator(
            atoms, energy=factor * energy, forces=factor * f if forces else None
        )
        labelled.append(atoms)
    write(str(path), labelled, format="extxyz")
    return path


def test_fit_closed_form_and_relation_to_softening_scale() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(10, 3))  # "DFT"
    y = 0.7 * x + rng.normal(0, 0.2, size=x.shape)  # a softened, noisy model
    fit = fit_linear_correction([x], [y])
    assert fit.c == pytest.approx(float((x * y).sum() / (y * y).sum()))
    s = float((x * y).sum() / (x * x).sum())
    assert fit.softening_scale == pytest.approx(s)
    # c is not 1/s: c * s is the uncentred R^2 (< 1 unless exactly proportional)
    assert fit.c * fit.softening_scale == pytest.approx(fit.uncentred_r2)
    assert fit.c < 1 / s
    exact = fit_linear_correction([x], [0.8 * x])
    assert exact.c == pytest.approx(1.25) and exact.c == pytest.approx(1 / exact.softening_scale)
    with pytest.raises(CorrectionError):
        fit_linear_correction([], [])
    with pytest.raises(CorrectionError):
        fit_linear_correction([x], [np.zeros_like(x)])


def test_correct_synthetic_exact(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], stores
) -> None:
    register_springs(1.0)
    data = _write(tmp_path / "si.extxyz", _frames(4), 1.25)
    code = main(
        [
            "correct",
            "--model",
            "springs-1.0",
            "--labels",
            str(data),
            "--label-frames",
            "frame-00",
            "--test",
            str(data),
            "--name",
            "syn",
            "--store",
            "memory",
        ]
    )
    assert code == 0
    out = capsys.readouterr()
    assert "springs-1.0+lc:syn" in out.out
    assert "1 test configuration(s) are label configurations" in out.err
    code = main(["query", "correction", "--format", "json", "--store", "memory"])
    (doc,) = json.loads(capsys.readouterr().out)
    # exact up to the 8 decimals extended XYZ keeps of positions and forces
    assert doc["c"] == pytest.approx(1.25, abs=1e-7)
    assert doc["n_labels"] == 1 and doc["n_test"] == 3
    assert doc["model"] == "springs-1.0" and doc["correction"] == "springs-1.0+lc:syn"
    assert doc["softening_scale_before"] == pytest.approx(0.8, abs=1e-7)
    assert doc["softening_scale_after"] == pytest.approx(1.0, abs=1e-7)
    assert doc["force_mae_after"] == pytest.approx(0.0, abs=1e-7)
    assert doc["force_mae_before"] > 0.01
    assert doc["force_cmae_after"] == pytest.approx(doc["force_cmae_before"], abs=1e-12)
    assert doc["warnings"] == []
    assert doc["provenance"]["correction"]["c"] == pytest.approx(1.25)
    assert doc["provenance"]["correction"]["label_configurations"] == ["Si8/frame-00"]
    assert doc["method"] == "linear" and "parity" not in doc  # figure data stays out of queries
    (stored,) = stores_memory_docs()
    for points in (stored["parity"]["labels"], stored["parity"]["held_out"]):
        assert points["after"] == pytest.approx(points["dft"], abs=1e-7)
        assert points["before"] == pytest.approx(0.8 * np.asarray(points["dft"]), abs=1e-7)
    assert len(stored["parity"]["held_out"]["dft"]) == 3 * 8 * 3
    assert main(["report", "correction", "--out", str(tmp_path / "fig"), "--store", "memory"]) == 0
    assert (tmp_path / "fig" / "correction_parity_springs-1.0.png").stat().st_size > 10_000

    # a fresh process resolves, lists and evaluates the registered correction
    script = (
        "import json, numpy as np\n"
        "from softbench.models import get_model, known_models\n"
        "from softbench.models.evaluate import evaluate\n"
        "from softbench.models.calculator import registry_calculator\n"
        "from ase.build import bulk\n"
        "from pymatgen.io.ase import AseAtomsAdaptor\n"
        "name = 'springs-1.0+lc:syn'\n"
        "spec = get_model(name)\n"
        "atoms = bulk('Si', 'diamond', a=5.43, cubic=True)\n"
        "atoms.positions[0] += [0.1, 0.0, -0.05]\n"
        "ev = evaluate(spec, [AseAtomsAdaptor.get_structure(atoms)])\n"
        "atoms.calc = registry_calculator(name)\n"
        "print(json.dumps({'c': spec.options['c'], 'listed': name in "
        "[m.name for m in known_models()], 'f': ev.predictions[0].forces[0].tolist(), "
        "'e': ev.predictions[0].energy, 'calc_f': atoms.get_forces()[0].tolist(), "
        "'calc_e': atoms.get_potential_energy(), "
        "'prov': ev.provenance.correction['base']}))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])}
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, check=True
    )
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    assert got["c"] == pytest.approx(1.25) and got["listed"] and got["prov"] == "springs-1.0"
    expected_f = [-1.25 * 0.1, 0.0, 1.25 * 0.05]
    assert got["f"] == pytest.approx(expected_f, abs=1e-9)
    assert got["calc_f"] == pytest.approx(expected_f, abs=1e-9)
    expected_e = 1.25 * 0.5 * (0.1**2 + 0.05**2)
    assert got["e"] == pytest.approx(expected_e) and got["calc_e"] == pytest.approx(expected_e)
    listing = subprocess.run(
        [sys.executable, "-m", "softbench", "models", "--format", "json"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    assert "springs-1.0+lc:syn" in {r["name"] for r in json.loads(listing.stdout)}


def stores_memory_docs() -> list[dict]:
    from softbench.stores import open_stores

    return list(open_stores("memory").collection("correction").query({}))


def _correct(*args: str) -> int:
    return main(["correct", "--model", "springs-1.0", "--store", "memory", *args])


def test_correct_input_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    register_springs(1.0)
    data = _write(tmp_path / "si.extxyz", _frames(3), 1.25)
    # unknown label frame: exit 2, one line
    assert _correct("--labels", str(data), "--label-frames", "frame-99", "--test", str(data)) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "frame-99" in err
    # labels without forces: fewer labels than needed
    bare = _write(tmp_path / "bare.extxyz", _frames(2), 1.0, forces=False)
    assert _correct("--labels", str(bare), "--test", str(data)) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "at least 1" in err
    # every test frame is a label: nothing held out
    assert _correct("--labels", str(data), "--test", str(data)) == 2
    assert "no held-out" in capsys.readouterr().err
    # a bad correction label
    assert _correct("--labels", str(data), "--test", str(data), "--name", "a b") == 2
    capsys.readouterr()


def test_correct_warnings(tmp_path: Path, capsys: pytest.CaptureFixture[str], stores) -> None:
    register_springs(1.0)
    labels = _write(tmp_path / "lab.extxyz", _frames(1, seed=2), 3.0)
    other = _write(tmp_path / "ge.extxyz", _frames(2, seed=3, material="Ge8"), 3.0)
    assert _correct("--labels", str(labels), "--test", str(other), "--name", "w") == 0
    err = capsys.readouterr().err
    assert "outside [0.5, 2]" in err and "transferred across materials" in err
    main(["query", "correction", "--format", "json", "--store", "memory"])
    (doc,) = json.loads(capsys.readouterr().out)
    assert doc["c"] == pytest.approx(3.0) and doc["c_out_of_range"] is True
    assert len(doc["warnings"]) == 2 and doc["material_id"] == "Ge8"
