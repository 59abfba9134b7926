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


def test_cli_rerun_with_another_model_reuses_the_vasp_reference(shared, tmp_path, monkeypatch,
                                                                capsys):  # fmt: skip
    import softbench.cli.high_energy
    from softbench.cli import main
    from softbench.stores import open_stores

    lattice_gas = "ase:softbench.testing.calculators.UnlikeCations"
    bonds = "ase:softbench.testing.calculators.BrokenBonds"
    monkeypatch.setattr(softbench.cli.high_energy, "vasp_problem", lambda: None)
    monkeypatch.chdir(tmp_path)
    store = str(tmp_path / "store")

    def run(models, *options):
        args = ["run", "solid-solution", "--supercell", "1,1,1", "--models", models,
                "--store", store, "--work-dir", str(tmp_path / "work"), *options]  # fmt: skip
        double.runs.clear()
        assert main(args) == 0
        return capsys.readouterr().err, len(double.runs)

    vasp_run = shared / "data/vasp-outputs/GaN/Mg_Ga/bulk_sc"
    with fake_vasp(monkeypatch, lambda _name: vasp_run) as double:
        err, n_vasp = run(lattice_gas, "--orderings", "2")
        assert "0 reference(s) and 0 prediction(s) reused; running 2 job(s)" in err
        assert n_vasp == 5
        err, n_vasp = run(f"{lattice_gas},{bonds}", "--orderings", "2")
        assert "1 reference(s) and 1 prediction(s) reused; running 1 job(s)" in err
        assert n_vasp == 0
        stores = open_stores(store)
        (ref,) = stores.jobs.query({"output.doc_type": "solid_solution_reference"}, ["uuid"])
        docs = list(stores.collection("solid_solution").query({"model": bonds}))
        stores.close()
        assert len(docs) == 5 and {d["reference_uuid"] for d in docs} == {ref["uuid"]}
        assert all(d["dft_value"] == pytest.approx(0, abs=1e-12) for d in docs)
        # another ordering request (--orderings 1) is not reused; --rerun recomputes
        err, n_vasp = run(bonds, "--orderings", "1")
        assert "0 reference(s) and 0 prediction(s) reused" in err and n_vasp == 5
        err, n_vasp = run(bonds, "--orderings", "2", "--rerun")
        assert "0 reference(s) and 0 prediction(s) reused; running 2 job(s)" in err
        assert n_vasp == 5
