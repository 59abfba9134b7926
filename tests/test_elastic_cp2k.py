"""CP2K side of the elastic task, with a stand-in for CP2K (EMT through the runner's
interface): the protocol reaches the same moduli as the model side and as an
independent equation of state, references never mix, refusals name the problem, and
a rerun reuses the stored reference. A real CP2K run is in README (elastic, CP2K)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.emt import EMT
from ase.eos import EquationOfState
from ase.units import GPa
from pymatgen.io.ase import AseAtomsAdaptor

import softbench.makers.cp2k.elastic as cp2k_elastic
from softbench.makers.cp2k.runner import Cp2kResult
from softbench.makers.cp2k.settings import Cp2kSettings

EMT_MODEL = "ase:ase.calculators.emt.EMT"


class EmtRunner:
    """Stands in for Cp2kRunner: EMT energy, forces and stress; records each mesh."""

    meshes: list[tuple[int, int, int] | None] = []
    stress_scale = 1.0  # != 1: stress inconsistent with the energy
    unconverged_at: int | None = None  # this call's SCF "does not converge"

    def __init__(self, settings, directory=".", ranks=None):
        self.settings = settings

    def compute(self, atoms, kpoints, eps_scf=None, stress=True):
        type(self).meshes.append(kpoints)
        atoms = atoms.copy()
        atoms.calc = EMT()
        converged = len(type(self).meshes) != type(self).unconverged_at
        sigma = atoms.get_stress(voigt=False) * type(self).stress_scale if stress else None
        return Cp2kResult(atoms.get_potential_energy(), atoms.get_forces(), sigma, converged)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return None


@pytest.fixture
def emt_cp2k(monkeypatch):
    """CP2K replaced by EMT behind the runner; the element validation passes."""
    monkeypatch.setattr(cp2k_elastic, "Cp2kRunner", EmtRunner)
    monkeypatch.setattr(cp2k_elastic, "cp2k_problem", lambda ranks=None: None)
    monkeypatch.setattr(cp2k_elastic, "validate_elements", lambda *a: (None, {"ok": True}))
    monkeypatch.setattr(EmtRunner, "meshes", [])
    return EmtRunner


def _cu(a: float = 3.62):
    return AseAtomsAdaptor.get_structure(bulk("Cu", "fcc", a=a))


def _eos_bulk_modulus() -> float:
    """EMT Cu bulk modulus (GPa) from an E(V) fit: independent of any stress."""
    volumes, energies = [], []
    for scale in np.linspace(0.98, 1.02, 9):
        atoms = bulk("Cu", "fcc", a=3.59 * scale)
        atoms.calc = EMT()
        volumes.append(atoms.get_volume())
        energies.append(atoms.get_potential_energy())
    eos = EquationOfState(volumes, energies)
    eos.fit()
    return float(eos.B / GPa)


def test_cp2k_protocol_gives_the_equation_of_state_bulk_modulus(emt_cp2k, tmp_path):
    settings = Cp2kSettings()
    doc = cp2k_elastic.cp2k_elastic_reference(_cu(), "Cu", settings, directory=tmp_path)
    assert doc.state == "successful", doc.reason
    assert doc.reference == settings.label() and doc.reference.startswith("cp2k:")
    # the fitted tensor's K_VRH against an E(V) fit that never reads a stress
    assert doc.k_vrh_gpa == pytest.approx(_eos_bulk_modulus(), rel=0.02)
    tensor = np.asarray(doc.elastic_tensor)
    assert tensor[0, 0] > tensor[0, 1] > 0 and tensor[3, 3] > 0  # cubic, stable
    assert doc.mechanically_stable and doc.relaxation.converged
    # one mesh (the settings' of the input primitive cell) for every CP2K run
    assert set(emt_cp2k.meshes) == {tuple(doc.dft_settings["kpoints"])}
    check = doc.dft_settings["stress_check"]
    assert check["analytic_gpa"] == pytest.approx(check["finite_gpa"], abs=0.05)
    assert len(doc.deformations) == len(doc.stresses_gpa) > 0
    assert doc.input_key == cp2k_elastic.elastic_input_key(_cu(), settings, {})


def test_cp2k_elastic_refusals_name_the_problem(emt_cp2k, monkeypatch, tmp_path):
    # a stress that is not the derivative of the energy is caught before any strain
    monkeypatch.setattr(EmtRunner, "stress_scale", 1.5)
    doc = cp2k_elastic.cp2k_elastic_reference(_cu(), "Cu", directory=tmp_path)
    assert doc.state == "unusable" and "stress check failed" in doc.reason
    assert doc.deformations == []
    # an SCF that does not converge fails the reference, saying so
    monkeypatch.setattr(EmtRunner, "stress_scale", 1.0)
    monkeypatch.setattr(EmtRunner, "meshes", [])
    monkeypatch.setattr(EmtRunner, "unconverged_at", 3)
    doc = cp2k_elastic.cp2k_elastic_reference(_cu(), "Cu", directory=tmp_path)
    assert doc.state == "unusable" and "SCF did not converge" in doc.reason
    # no CP2K here: one line saying how to install it
    monkeypatch.setattr(cp2k_elastic, "cp2k_problem", lambda ranks=None: "CP2K is not installed")
    doc = cp2k_elastic.cp2k_elastic_reference(_cu(), "Cu", directory=tmp_path)
    assert doc.state == "unusable" and doc.reason == "CP2K is not installed"


def test_unvetted_element_is_refused_without_running_cp2k(monkeypatch, tmp_path):
    from softbench.makers.cp2k.high_energy import validate_elements

    monkeypatch.setattr(cp2k_elastic, "Cp2kRunner", EmtRunner)
    monkeypatch.setattr(cp2k_elastic, "cp2k_problem", lambda ranks=None: None)
    monkeypatch.setattr(cp2k_elastic, "validate_elements", validate_elements)
    monkeypatch.setattr(EmtRunner, "meshes", [])
    doc = cp2k_elastic.cp2k_elastic_reference(_cu(), "Cu", directory=tmp_path)
    assert doc.state == "unusable" and "no vetted CP2K pseudopotential/basis for Cu" in doc.reason
    assert EmtRunner.meshes == []


def _reference_file(tmp_path):
    path = tmp_path / "elastic.json"
    record = {
        "mp_id": "Cu",
        "structure": _cu().as_dict(),
        "bulk_modulus_vrh": 140.0,
        "shear_modulus_vrh": 48.0,
    }
    path.write_text(json.dumps([record]))
    return path


def test_cli_dft_cp2k_pairs_with_its_own_reference_and_reuses_it(
    emt_cp2k, monkeypatch, tmp_path, capsys
):
    """EMT as the model and as the (stand-in) DFT: ratios 1; the file's reference stays
    a separate document; a rerun computes no reference and no prediction."""
    from softbench.cli import main
    from softbench.makers.cp2k import runner

    monkeypatch.setattr(runner, "cp2k_problem", lambda ranks=None: None)
    monkeypatch.chdir(tmp_path)
    path = _reference_file(tmp_path)
    store = f"json:{tmp_path / 'store'}"
    args = ["run", "elastic", "--reference", str(path), "--models", EMT_MODEL, "--store", store]
    assert main([*args, "--dft", "cp2k"]) == 0
    out = capsys.readouterr()
    assert "DFT reference cp2k:" in out.out and "file_k_vrh_gpa" in out.out
    assert main([*args]) == 0  # the file's moduli as the reference
    capsys.readouterr()
    assert main(["query", "elastic", "--format", "json", "--store", store]) == 0
    docs = {d["reference"]: d for d in json.loads(capsys.readouterr().out)}
    label = cp2k_elastic.elastic_settings().label()
    assert label != Cp2kSettings().label()  # the elastic k-spacing is its own label
    assert set(docs) == {label, "elastic-json:elastic"}  # two documents, never one mixed
    assert docs[label]["k_ratio"] == pytest.approx(1.0, abs=0.01)
    assert docs[label]["g_ratio"] == pytest.approx(1.0, abs=0.02)
    assert docs["elastic-json:elastic"]["dft_k_vrh_gpa"] == 140.0
    calls = len(EmtRunner.meshes)
    assert main([*args, "--dft", "cp2k"]) == 0
    err = capsys.readouterr().err
    assert "0 to compute, 1 reused" in err and "running 0 job(s)" in err
    assert len(EmtRunner.meshes) == calls  # no CP2K run the second time


def test_sample_draws_only_materials_cp2k_can_compute(tmp_path):
    from softbench.cli.common import UsageError
    from softbench.cli.elastic import select_items

    si = AseAtomsAdaptor.get_structure(bulk("Si", "diamond", a=5.43))
    records = [
        {"mp_id": mid, "structure": s.as_dict(), "k_vrh": 1.0, "g_vrh": 1.0}
        for mid, s in (("Cu", _cu()), ("Si", si))
    ]
    path = tmp_path / "two.json"
    path.write_text(json.dumps(records))
    for seed in range(5):
        (item,) = select_items(path, None, 1, seed, None, elements={"Si", "C"})
        assert item.material_id == "Si"
    assert len(select_items(path, None, 2, 0, None)) == 2  # no element filter: both
    # named materials are taken as given (the reference then says why it is refused)
    assert [i.material_id for i in select_items(path, ["Cu"], None, 0, None, {"Si"})] == ["Cu"]
    with pytest.raises(UsageError, match="only the elements"):
        select_items(path, None, 1, 0, None, elements={"Al"})
