"""CP2K side of the defect task: the wiring with a stand-in for CP2K (exact answers), the
refusals (no CP2K, unvetted elements) and reruns that reuse the stored reference. A real
CP2K run is in docs/defects.md."""

from __future__ import annotations

import numpy as np
import pytest

import softbench.makers.cp2k.defects as cp2k_defects
from softbench.ingest.elements import element_structure
from softbench.makers.cp2k.runner import Cp2kResult
from softbench.makers.cp2k.settings import Cp2kSettings
from softbench.makers.defects import defect_set
from softbench.testing.calculators import BrokenBonds


class BondRunner:
    """Stands in for Cp2kRunner: the bond-counting energy, no forces, no stress."""

    calls: list[tuple[int, tuple[int, int, int] | None]] = []

    def __init__(self, settings, directory=".", ranks=None):
        self.settings = settings

    def compute(self, atoms, kpoints, eps_scf=None, stress=True):
        type(self).calls.append((len(atoms), kpoints))
        atoms = atoms.copy()
        atoms.calc = BrokenBonds()
        return Cp2kResult(
            atoms.get_potential_energy(), np.zeros((len(atoms), 3)), np.zeros((3, 3)), True
        )

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return None


def test_cp2k_path_runs_the_shared_relaxations(monkeypatch, tmp_path):
    monkeypatch.setattr(cp2k_defects, "Cp2kRunner", BondRunner)
    monkeypatch.setattr(cp2k_defects, "cp2k_problem", lambda ranks=None: None)
    monkeypatch.setattr(cp2k_defects, "validate_elements", lambda *a: (None, {"ok": True}))
    settings = Cp2kSettings()
    ds = defect_set(element_structure("Cu"), "Cu", kinds=("vacancy",), min_length=5.0)
    BondRunner.calls = []
    doc = cp2k_defects.cp2k_defect_reference(ds, settings, directory=tmp_path)
    assert doc.state == "successful", doc.reason
    assert doc.reference == settings.label() and doc.dft_settings["validation"] == {"ok": True}
    assert doc.defects[0].formation_energy_ev == pytest.approx(6 * 0.5)
    # k-points follow the settings' spacing per cell (primitive cell and 32-atom supercell)
    expected = {1: settings.kpoints(ds.bulk.lattice.matrix)}
    for n, kpts in BondRunner.calls:
        if n == 1:
            assert kpts == expected[1]
        else:
            assert kpts == settings.kpoints(ds.defects[0].structure.lattice.matrix)


def test_cp2k_refusals_are_unusable_references(monkeypatch, tmp_path):
    ds = defect_set(element_structure("Cu"), "Cu", kinds=("vacancy",), min_length=5.0)
    monkeypatch.setattr(cp2k_defects, "cp2k_problem", lambda ranks=None: "CP2K is not installed")
    doc = cp2k_defects.cp2k_defect_reference(ds, directory=tmp_path)
    assert doc.state == "unusable" and doc.reason == "CP2K is not installed"
    monkeypatch.setattr(cp2k_defects, "cp2k_problem", lambda ranks=None: None)
    doc = cp2k_defects.cp2k_defect_reference(ds, directory=tmp_path)  # Cu is not vetted
    assert doc.state == "unusable"
    assert doc.reason.startswith("no vetted CP2K pseudopotential/basis for Cu")


BONDS = "ase:softbench.testing.calculators.BrokenBonds"
EMT = "ase:ase.calculators.emt.EMT"


@pytest.fixture
def cp2k_stand_in(monkeypatch, tmp_path, capsys):
    """CP2K replaced by BondRunner; returns run(models, *options) -> (stderr, CP2K calls)."""
    from softbench.cli import main
    from softbench.makers.cp2k import runner

    monkeypatch.setattr(cp2k_defects, "Cp2kRunner", BondRunner)
    monkeypatch.setattr(cp2k_defects, "cp2k_problem", lambda ranks=None: None)
    monkeypatch.setattr(runner, "cp2k_problem", lambda ranks=None: None)
    monkeypatch.setattr(cp2k_defects, "validate_elements", lambda *a: (None, {"ok": True}))
    store = str(tmp_path / "store")

    def run(models, *options):
        BondRunner.calls = []
        args = ["run", "defects", "--structure", "Cu", "--min-length", "5", "--dft", "cp2k",
                "--models", models, "--store", store, "--work-dir", str(tmp_path / "work"),
                *options]  # fmt: skip
        assert main(args) == 0
        return capsys.readouterr().err, len(BondRunner.calls)

    run.store = store
    return run


def _outputs(store):
    from softbench.stores import open_stores

    stores = open_stores(store)
    refs = list(stores.jobs.query({"output.doc_type": "defect_reference"}, properties=["uuid",
                "output.input_checksum", "output.state", "output.created_at"]))  # fmt: skip
    parity = list(stores.collection("defects").query({}))
    stores.close()
    return sorted(refs, key=lambda d: str(d["output"]["created_at"])), parity


def test_cli_rerun_with_a_new_model_reuses_the_cp2k_reference(cp2k_stand_in):
    run = cp2k_stand_in
    err, calls = run(BONDS, "--kinds", "vacancy")
    assert "0 reference(s) and 0 prediction(s) reused; running 2 job(s)" in err and calls
    # another input (more defect kinds): a new CP2K reference, newer than the first
    err, calls = run(BONDS, "--kinds", "vacancy,interstitial")
    assert "0 reference(s) and 0 prediction(s) reused; running 2 job(s)" in err and calls
    (first, changed), _ = _outputs(run.store)
    assert first["output"]["input_checksum"] != changed["output"]["input_checksum"]

    # the first input again with one more model: no CP2K, only the new model's job
    err, calls = run(f"{BONDS},{EMT}", "--kinds", "vacancy")
    assert "1 reference(s) and 1 prediction(s) reused; running 1 job(s)" in err and calls == 0
    refs, parity = _outputs(run.store)
    assert len(refs) == 2
    (emt,) = [d for d in parity if d["model"] == EMT]
    # paired with the stored reference of its input, not the newer one of the other input
    assert emt["label"] == "v_Cu" and emt["reference_uuid"] == first["uuid"]
    assert emt["dft_value"] == pytest.approx(6 * 0.5) and emt["error"] is not None

    err, calls = run(f"{BONDS},{EMT}", "--kinds", "vacancy", "--rerun")
    assert "0 reference(s) and 0 prediction(s) reused; running 3 job(s)" in err and calls
    assert len(_outputs(run.store)[0]) == 3


def test_an_unusable_cp2k_reference_is_computed_again(cp2k_stand_in, monkeypatch):
    run = cp2k_stand_in
    monkeypatch.setattr(cp2k_defects, "cp2k_problem", lambda ranks=None: "CP2K went away")
    err, calls = run(BONDS, "--kinds", "vacancy")
    assert "running 2 job(s)" in err and calls == 0
    (bad,), parity = _outputs(run.store)
    assert bad["output"]["state"] == "unusable" and parity[0]["state"] == "unpaired"

    monkeypatch.setattr(cp2k_defects, "cp2k_problem", lambda ranks=None: None)
    err, calls = run(BONDS, "--kinds", "vacancy")
    # the model document named the unusable reference: it is computed again with the new one
    assert "0 reference(s) and 0 prediction(s) reused; running 2 job(s)" in err and calls
    (_, good), (doc,) = _outputs(run.store)
    assert good["output"]["state"] == "successful"
    assert doc["reference_uuid"] == good["uuid"] and doc["state"] == "successful"
    assert doc["error"] == pytest.approx(0.0)
