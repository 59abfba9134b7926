"""Amplitude-resolved force parity against an exact harmonic model.

A pure force-constant calculator (F = -sΦu with the reference's own Φ) must give a
softening scale of exactly s at every amplitude, whatever its residual force; bad
amplitudes are refused, and a reference without forces is a per-material result.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.emt import EMT

from softbench.analysis.amplitude import (
    check_amplitudes,
    displacement_patterns,
    minimum_image_displacement,
    roughness,
)
from softbench.cli import main
from softbench.testing.calculators import register_force_constants

AMPLITUDES = "0.005,0.01,0.02,0.05,0.1"


@pytest.fixture(scope="module")
def emt_phonons(tmp_path_factory) -> Path:
    """A phonopy yaml of fcc Cu (32-atom supercell) with EMT displacement forces."""
    from phonopy import Phonopy
    from phonopy.structure.atoms import PhonopyAtoms

    cu = bulk("Cu", "fcc", a=3.6, cubic=True)
    unit = PhonopyAtoms(
        symbols=cu.get_chemical_symbols(),
        cell=cu.cell[:],
        scaled_positions=cu.get_scaled_positions(),
    )
    ph = Phonopy(unit, supercell_matrix=np.eye(3, dtype=int) * 2, primitive_matrix="auto")
    ph.generate_displacements(distance=0.01)
    forces = []
    for cell in ph.supercells_with_displacements:
        from ase import Atoms

        atoms = Atoms(
            cell.symbols, cell=cell.cell, scaled_positions=cell.scaled_positions, pbc=True
        )
        atoms.calc = EMT()
        forces.append(atoms.get_forces())
    ph.forces = np.asarray(forces)
    folder = tmp_path_factory.mktemp("refs")
    (folder / "emt-cu").mkdir()
    ph.save(str(folder / "emt-cu" / "phonopy.yaml"), settings={"force_sets": True})
    return folder


def _harmonic_models(folder: Path, tmp: Path) -> list[str]:
    """Models F = -sΦu with the builder's own Φ: s = 1, 0.8, and s = 1 with a residual."""
    from softbench.builders.amplitude import dft_force_constants
    from softbench.ingest import discover, read_reference
    from softbench.makers.amplitude import reference_supercell
    from softbench.makers.phonons import PHONOPY_KEY, with_phonopy_metadata

    item = discover(folder, "phonopy")[0]
    ref = with_phonopy_metadata(read_reference(item, "phonons-fixed", "t", {}), item.path)
    phi = dft_force_constants(ref)
    cell = reference_supercell(ref.dft_settings[PHONOPY_KEY])
    positions = cell.cart_coords
    np.savez(tmp / "fc.npz", force_constants=phi, positions=positions, cell=cell.lattice.matrix)
    shifted = positions.copy()
    shifted[0] += [0.05, 0.0, 0.0]  # off-equilibrium model: residual force, same curvature
    np.savez(tmp / "off.npz", force_constants=phi, positions=shifted, cell=cell.lattice.matrix)
    return [
        register_force_constants("harmonic-1.0", str(tmp / "fc.npz"), 1.0),
        register_force_constants("harmonic-0.8", str(tmp / "fc.npz"), 0.8),
        register_force_constants("harmonic-off", str(tmp / "off.npz"), 1.0),
    ]


def test_force_constant_model_recovers_its_scale_at_every_amplitude(
    emt_phonons, tmp_path, stores, capsys
):
    models = _harmonic_models(emt_phonons, tmp_path)
    argv = ["run", "amplitude", "--reference", str(emt_phonons), "--models", ",".join(models),
            "--amplitudes", AMPLITUDES, "--patterns", "3", "--store", "memory"]  # fmt: skip
    assert main(argv) == 0
    out, err = capsys.readouterr()
    assert "amplitude_angstrom" in out and "roughness" in out
    assert "harmonic-off: residual force" in err and "meaningless" in err
    assert main(["query", "amplitude", "--format", "json", "--store", "memory"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == 3 * 5
    for row in rows:
        assert {"material_id", "model", "amplitude_angstrom", "softening_scale",
                "softening_scale_ci95", "reference"} <= set(row)  # fmt: skip
        expected = 0.8 if row["model"] == "harmonic-0.8" else 1.0
        assert row["softening_scale"] == pytest.approx(expected, abs=1e-9)
        lo, hi = row["softening_scale_ci95"]
        assert lo == pytest.approx(expected, abs=1e-9) and hi == pytest.approx(expected, abs=1e-9)
        assert row["roughness"] == pytest.approx(1.0, abs=1e-9)
    assert sorted({r["amplitude_angstrom"] for r in rows}) == [0.005, 0.01, 0.02, 0.05, 0.1]
    assert main(["query", "amplitude-curves", "--format", "json", "--store", "memory"]) == 0
    curves = {c["model"]: c for c in json.loads(capsys.readouterr().out)}
    assert curves["harmonic-1.0"]["rough"] is False
    assert curves["harmonic-1.0"]["residual_force_rms"] == pytest.approx(0.0, abs=1e-12)
    assert curves["harmonic-off"]["residual_force_rms"] > 0.01
    assert main(["query", "amplitude-summary", "--format", "json", "--store", "memory"]) == 0
    summary = {s["model"]: s for s in json.loads(capsys.readouterr().out)}
    assert summary["harmonic-0.8"]["median_softening_scale"] == pytest.approx([0.8] * 5, abs=1e-9)
    # a rerun with the same settings evaluates nothing
    assert main(argv) == 0
    assert "3 result(s) reused; running 0 job(s)" in capsys.readouterr().err
    out_dir = tmp_path / "figs"
    assert main(["report", "amplitude", "--out", str(out_dir), "--store", "memory"]) == 0
    assert (out_dir / "amplitude_softening.png").stat().st_size > 10_000
    # other amplitudes: a new job, whose curve replaces the rows; back to the first
    # settings: the newest prediction differs, so that is a new job too
    one = ["--models", "harmonic-1.0", "--reference", str(emt_phonons), "--store", "memory"]
    assert main(["run", "amplitude", *one, "--amplitudes", "0.01,0.1", "--patterns", "3"]) == 0
    assert "0 result(s) reused; running 1 job(s)" in capsys.readouterr().err
    assert main(["query", "amplitude", "--model", "harmonic-1.0", "--store", "memory",
                 "--format", "json"]) == 0  # fmt: skip
    assert [r["amplitude_angstrom"] for r in json.loads(capsys.readouterr().out)] == [0.01, 0.1]
    assert main(["run", "amplitude", *one, "--amplitudes", AMPLITUDES, "--patterns", "3"]) == 0
    assert "0 result(s) reused; running 1 job(s)" in capsys.readouterr().err


def test_rough_model_is_flagged_and_its_phonon_documents_point_to_it(
    emt_phonons, tmp_path, stores, capsys
):
    """F = -(1 + 10 a)Φu: scale 1.1 at 0.01 Å, 2.0 at 0.1 Å, roughness 0.55."""
    _harmonic_models(emt_phonons, tmp_path)
    rough = register_force_constants("stiffening", str(tmp_path / "fc.npz"), 1.0, 10.0)
    common = ["--reference", str(emt_phonons), "--store", "memory"]
    assert (
        main(["run", "phonons", "--mode", "fixed", "--models", f"{rough},harmonic-1.0", *common])
        == 0
    )
    argv = [
        "run",
        "amplitude",
        "--models",
        f"{rough},harmonic-1.0",
        "--amplitudes",
        "0.01,0.1",
        *common,
    ]
    assert main(argv) == 0
    capsys.readouterr()
    assert (
        main(["query", "amplitude", "--format", "json", "--store", "memory", "--model", rough]) == 0
    )
    scales = {
        r["amplitude_angstrom"]: r["softening_scale"] for r in json.loads(capsys.readouterr().out)
    }
    assert scales == pytest.approx({0.01: 1.1, 0.1: 2.0}, abs=1e-9)
    for what in ("phonons", "softening"):
        assert main(["query", what, "--format", "json", "--store", "memory"]) == 0
        docs = {d["model"]: d for d in json.loads(capsys.readouterr().out)}
        assert docs[rough]["amplitude"]["roughness"] == pytest.approx(0.55, abs=1e-9)
        assert (
            docs[rough]["amplitude"]["key"]
            == f"amplitude|emt-cu|{rough}|phonopy:{emt_phonons.name}"
        )
        assert docs["harmonic-1.0"].get("amplitude") is None


def test_reference_without_forces_is_a_per_material_result(shared, disk_store, capsys):
    """On the embedded on-disk store (rows written to a collection that does not exist yet)."""
    argv = ["run", "amplitude", "--reference", str(shared / "data/phonons-pbe"),
            "--materials", "mp-2809", "--models", "ase:ase.calculators.emt.EMT",
            "--store", disk_store]  # fmt: skip
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert "mp-2809 ase:ase.calculators.emt.EMT unusable: reference unusable" in err
    assert main(["query", "amplitude", "--format", "json", "--store", disk_store]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert row["state"] == "unusable" and "no displacement dataset" in row["reason"]


@pytest.mark.parametrize(("value", "message"), [
    ("0", "is not positive"), ("-0.01", "is not positive"), ("0.5", "is above 0.3"),
    ("0.01,x", "expected numbers in Å, got 'x'"), ("", "no amplitudes given"),
])  # fmt: skip
def test_bad_amplitudes_are_refused(value, message, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["run", "amplitude", "--reference", ".", "--models", "x", "--amplitudes", value])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "--amplitudes" in err and message in err


def test_patterns_have_the_amplitude_per_atom_and_are_seeded():
    pats = displacement_patterns(7, [0.01, 0.1], n_patterns=3, seed=4)
    assert np.allclose(np.linalg.norm(pats[0.01], axis=-1), 0.01)
    assert np.allclose(pats[0.1], 10 * pats[0.01])
    assert np.array_equal(pats[0.1], displacement_patterns(7, [0.1], 3, seed=4)[0.1])
    assert not np.allclose(pats[0.1], displacement_patterns(7, [0.1], 3, seed=5)[0.1])
    assert check_amplitudes([0.1, 0.01, 0.1]) == (0.01, 0.1)


def test_minimum_image_and_roughness():
    lattice = np.eye(3) * 4.0
    u = minimum_image_displacement(np.array([[3.99, 0, 0]]), np.array([[0.0, 0, 0]]), lattice)
    assert np.allclose(u, [[-0.01, 0, 0]])
    assert roughness({0.005: 0.3, 0.01: 0.4, 0.1: 0.8}) == pytest.approx(0.5)
    assert roughness({0.01: 0.4}) is None
