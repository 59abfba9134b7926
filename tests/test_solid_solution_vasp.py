"""DFT side of the solid-solution task through atomate2's VASP relax maker, with the double.

Validates the inputs (MPRelaxSet, every INCAR key, ISIF=3), one job per ordering given
that ordering's cell, and the parsing of a real VASP output through the conversion and
mixing-energy code. Not the numbers: every job gets the same GaN run, so all energies
are equal and every mixing energy is zero (which the test checks, as the arithmetic
demands).
"""

from __future__ import annotations

import pytest
from pymatgen.io.vasp import Vasprun
from pymatgen.io.vasp.sets import MPRelaxSet

from softbench.makers.solid_solution import orderings
from softbench.run import run_flow
from softbench.schemas.solid_solution import SolidSolutionReferenceDocument
from softbench.testing.vasp import fake_vasp
from softbench.workflows.solid_solution import solid_solution_flow


def test_vasp_solid_solution_flow_with_double(shared, stores, tmp_path, monkeypatch):
    from softbench.builders.solid_solution import build_solid_solution
    from softbench.models import get_models

    run = shared / "data/vasp-outputs/GaN/Mg_Ga/bulk_sc"
    system = orderings((1, 1, 1), n_orderings=2)
    models = get_models("ase:softbench.testing.calculators.UnlikeCations")
    flow = solid_solution_flow(system, models, "vasp:mp-pbe-solid-solution", dft="vasp")
    monkeypatch.chdir(tmp_path)
    with fake_vasp(monkeypatch, lambda _name: run) as double:
        run_flow(flow, stores, root_dir=tmp_path, create_folders=True, log=False)

    assert len(double.runs) == len(system.orderings) == 5
    cells = {o.label: o.structure for o in system.orderings}
    for name, seen in double.runs.items():
        label = name.rsplit(" ", 1)[-1]
        assert seen.poscar_structure.composition == cells[label].composition
        expected = dict(MPRelaxSet(seen.poscar_structure).incar)
        for key, value in expected.items():
            assert seen.incar[key] == (pytest.approx(value) if isinstance(value, float) else value)
        assert seen.incar["ISIF"] == 3

    ref_job = flow.jobs[0].jobs[-1]
    ref = SolidSolutionReferenceDocument.model_validate(stores.jobs.get_output(ref_job.uuid))
    energy = Vasprun(str(run / "vasprun.xml.gz"), parse_potcar_file=False).final_energy
    assert ref.state == "successful"
    assert all(o.energy_ev == pytest.approx(energy, abs=1e-6) for o in ref.orderings)
    assert all(o.mixing_energy_ev_per_cation == pytest.approx(0, abs=1e-12) for o in ref.orderings)

    build_solid_solution(stores)
    docs = {d["label"]: d for d in stores.collection("solid_solution").query({})}
    assert set(docs) == set(cells)
    assert all(d["state"] in ("successful", "flagged") for d in docs.values())
    assert docs["x=0/0"]["error"] == 0.0 and docs["x=2/0"]["error"] == 0.0
