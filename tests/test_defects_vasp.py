"""DFT side of the defect task through atomate2's real VASP relax makers, with the double.

What this validates: the VASP inputs (MPRelaxSet: every INCAR key; ISIF=3 for bulk
and elements, ISIF=2 for the supercells), that each supercell job is given its
defect supercell carried onto the lattice the bulk job returned, and that real VASP
outputs (``$SOFTBENCH_SHARED/data/vasp-outputs``) are parsed through the same
conversion and formation-energy code into a reference the builder pairs. What it does
not validate: the numbers. The double copies GaN runs (PBEsol) into Cu jobs, so the
energies are GaN's: never read them as a Cu result.
"""

from __future__ import annotations

import numpy as np
import pytest
from jobflow import Flow
from pymatgen.io.vasp import Vasprun
from pymatgen.io.vasp.sets import MPRelaxSet

from softbench.ingest.elements import element_structure
from softbench.makers.defects import defect_set, on_lattice
from softbench.makers.vasp.defects import FIXED_CELL_INCAR, VaspDefectReferenceMaker
from softbench.run import run_flow
from softbench.schemas.defects import DefectReferenceDocument
from softbench.testing.vasp import fake_vasp

BONDS = "ase:softbench.testing.calculators.BrokenBonds"


def assert_incar_matches(incar: dict, expected: dict) -> None:
    for key, value in expected.items():
        if isinstance(value, float):
            assert incar[key] == pytest.approx(value), key
        elif isinstance(value, list):
            assert list(incar[key]) == pytest.approx(value), key
        else:
            assert incar[key] == value, key


def test_inputs_are_mp_relax_set():
    cu = defect_set(element_structure("Cu"), "Cu", kinds=("vacancy",), min_length=5.0)
    maker = VaspDefectReferenceMaker()
    bulk = maker.relax_maker.input_set_generator.get_input_set(cu.bulk, potcar_spec=True)
    assert_incar_matches(bulk.incar, dict(MPRelaxSet(cu.bulk).incar))
    assert bulk.incar["ISIF"] == 3 and bulk.incar["ENCUT"] == 520 and "GGA" not in bulk.incar
    cell = cu.defects[0].structure
    fixed = maker.fixed_cell_maker.input_set_generator.get_input_set(cell, potcar_spec=True)
    assert_incar_matches(fixed.incar, {**dict(MPRelaxSet(cell).incar), **FIXED_CELL_INCAR})
    assert fixed.incar["ISIF"] == 2


@pytest.fixture
def gan_runs(shared):
    root = shared / "data/vasp-outputs/GaN/Mg_Ga"  # full output sets (OUTCAR included)
    return root / "bulk_sc", root / "q=0"


def test_vasp_defect_flow_with_double(gan_runs, stores, tmp_path, monkeypatch):
    from softbench.builders.defects import build_defects
    from softbench.models import get_models
    from softbench.workflows.defects import defects_flow

    bulk_run, defect_run = gan_runs
    cu = defect_set(element_structure("Cu"), "Cu", kinds=("vacancy",), min_length=5.0)
    flow = defects_flow([cu], get_models(BONDS), "vasp:mp-pbe-defects", dft="vasp")
    monkeypatch.chdir(tmp_path)
    with fake_vasp(monkeypatch, lambda name: defect_run if "v_Cu" in name else bulk_run) as double:
        run_flow(flow, stores, root_dir=tmp_path, create_folders=True, log=False)

    assert sorted(double.runs) == [
        "MP GGA fixed-cell relax Cu bulk",
        "MP GGA fixed-cell relax Cu v_Cu",
        "MP GGA relax bulk Cu",
        "MP GGA relax element Cu",
    ]
    for name, seen in double.runs.items():
        expected = dict(MPRelaxSet(seen.poscar_structure).incar)
        if "fixed-cell" in name:
            expected.update(FIXED_CELL_INCAR)
        assert_incar_matches(seen.incar, expected)
        assert seen.potcar_symbols == ["Cu_pv"]  # MP's POTCAR choice
    # the supercell jobs got their cells on the lattice the bulk job returned
    bulk_vr = Vasprun(str(bulk_run / "vasprun.xml.gz"), parse_potcar_file=False)
    relaxed = bulk_vr.final_structure
    vac = double.runs["MP GGA fixed-cell relax Cu v_Cu"].poscar_structure
    want = on_lattice(cu.defects[0].structure, cu.bulk, relaxed)
    assert len(vac) == cu.n_supercell_atoms - 1
    np.testing.assert_allclose(vac.lattice.matrix, want.lattice.matrix, atol=1e-5)
    np.testing.assert_allclose(vac.frac_coords % 1, want.frac_coords % 1, atol=1e-5)

    # real outputs parsed through the conversion: E_f = E_def - E_bulk + mu (one vacancy)
    ref_job = next(j for j in flow.jobs[0].jobs if j.name == "defect reference Cu")
    ref = DefectReferenceDocument.model_validate(stores.jobs.get_output(ref_job.uuid))
    defect_vr = Vasprun(str(defect_run / "vasprun.xml.gz"), parse_potcar_file=False)
    e_bulk, e_def = bulk_vr.final_energy, defect_vr.final_energy
    assert ref.bulk_supercell.energy_ev == pytest.approx(e_bulk, abs=1e-6)
    assert ref.defects[0].energy_ev == pytest.approx(e_def, abs=1e-6)
    assert ref.defects[0].steps == len(defect_vr.ionic_steps) > 1
    mu = e_bulk / len(relaxed)
    assert ref.chemical_potentials_ev["Cu"] == pytest.approx(mu, abs=1e-9)
    assert ref.defects[0].formation_energy_ev == pytest.approx(e_def - e_bulk + mu, abs=1e-6)
    assert ref.reference == "vasp:mp-pbe-defects" and ref.dft_settings["code"] == "VASP"

    build_defects(stores)
    (doc,) = list(stores.collection("defects").query({}))
    assert doc["label"] == "v_Cu" and doc["state"] in ("successful", "flagged")
    assert doc["dft_value"] == pytest.approx(ref.defects[0].formation_energy_ev)
    assert doc["error"] == pytest.approx(3.0 - doc["dft_value"])  # bond model: 6 eps = 3 eV


def test_rerun_with_another_model_reuses_the_vasp_reference(gan_runs, stores, tmp_path,
                                                            monkeypatch):  # fmt: skip
    from softbench.builders.defects import build_defects
    from softbench.models import get_models
    from softbench.workflows.defects import (
        defects_flow,
        existing_defect_predictions,
        paired_references,
        reusable_defect_references,
    )

    emt, label = "ase:ase.calculators.emt.EMT", "vasp:mp-pbe-defects"
    bulk_run, defect_run = gan_runs
    cu = defect_set(element_structure("Cu"), "Cu", kinds=("vacancy",), min_length=5.0)
    first = defects_flow([cu], get_models(BONDS), label, dft="vasp")
    monkeypatch.chdir(tmp_path)
    with fake_vasp(monkeypatch, lambda name: defect_run if "v_Cu" in name else bulk_run) as double:
        run_flow(first, stores, root_dir=tmp_path, create_folders=True, log=False)
        assert len(double.runs) == 4
        reuse = reusable_defect_references(stores.jobs, label, [cu])
        assert reuse == {"Cu": first.jobs[0].output.uuid}  # the conversion job's document
        pairs = paired_references(["Cu"], reuse, "vasp")
        skip = existing_defect_predictions(stores.jobs, label, [cu], [BONDS, emt], pairs)
        assert skip == {("Cu", BONDS)}
        second = defects_flow([cu], get_models(f"{BONDS},{emt}"), label, dft="vasp", skip=skip,
                              references=reuse)  # fmt: skip
        assert [j.name for j in second.jobs] == [f"{emt} defects Cu"]  # no VASP job
        double.runs.clear()
        run_flow(second, stores, root_dir=tmp_path, create_folders=True, log=False)
        assert double.runs == {}

    build_defects(stores)
    docs = {d["model"]: d for d in stores.collection("defects").query({})}
    assert docs[emt]["reference_uuid"] == docs[BONDS]["reference_uuid"] == reuse["Cu"]
    assert docs[emt]["dft_value"] == pytest.approx(docs[BONDS]["dft_value"])
    assert docs[emt]["error"] is not None
    # another input (a bigger supercell) is not reused; --rerun passes no references
    big = defect_set(element_structure("Cu"), "Cu", kinds=("vacancy",), min_length=8.0)
    assert reusable_defect_references(stores.jobs, label, [big]) == {}
    again = defects_flow([big], get_models(emt), label, dft="vasp")
    assert len(again.jobs) == 2 and isinstance(again.jobs[0], Flow)
