"""CP2K side of the defect task: the wiring with a stand-in for CP2K (exact answers), and
the refusals (no CP2K, unvetted elements). A real CP2K run is in docs/defects.md."""

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
