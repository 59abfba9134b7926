"""Point defects: generation, formation-energy arithmetic, exact answers of a bond-counting
potential through the maker, flow, builder and CLI, bad input, and a real CHGNet run."""

from __future__ import annotations

import json

import numpy as np
import pytest
from jobflow import Flow, job
from pymatgen.core import Lattice, Molecule, Structure

from softbench.ingest.elements import MissingElementError, element_structure
from softbench.makers.defects import (
    DefectInputError,
    defect_set,
    fill_formation_energies,
    formation_energy,
    predict_defects,
)
from softbench.schemas.defects import (
    DefectEnergy,
    DefectPredictionDocument,
    DefectReferenceDocument,
    ElementalReference,
)
from softbench.schemas.parity import RelaxedEnergy

BONDS = "ase:softbench.testing.calculators.BrokenBonds"  # eps 0.5 eV, cutoff 2.8 Å
EPS = 0.5


def nial() -> Structure:
    return Structure.from_spacegroup(
        "Pm-3m", Lattice.cubic(2.88), ["Ni", "Al"], [[0, 0, 0], [0.5, 0.5, 0.5]]
    )


def test_copper_defect_set():
    ds = defect_set(element_structure("Cu"), "Cu", min_length=5.0)
    assert [d.label for d in ds.defects] == ["v_Cu", "Cu_i_1", "Cu_i_2"]
    assert [d.kind for d in ds.defects] == ["vacancy", "interstitial", "interstitial"]
    assert ds.n_supercell_atoms == 32
    for d in ds.defects:
        assert len(d.structure) == 32 + sum(d.element_changes.values())
        assert min(d.structure.lattice.abc) >= 5.0
        assert all(not hasattr(s.specie, "oxi_state") or s.specie.oxi_state is None
                   for s in d.structure)  # fmt: skip
    bigger = defect_set(element_structure("Cu"), "Cu", kinds=("vacancy",), min_length=8.0)
    assert [d.label for d in bigger.defects] == ["v_Cu"]
    assert min(bigger.defects[0].structure.lattice.abc) >= 8.0


def test_binary_has_antisites_with_element_changes():
    ds = defect_set(nial(), "NiAl", kinds=("vacancy", "antisite"), min_length=5.0)
    changes = {d.label: d.element_changes for d in ds.defects}
    assert changes["v_Ni"] == {"Ni": -1} and changes["v_Al"] == {"Al": -1}
    assert changes["Ni_Al"] == {"Al": -1, "Ni": 1} and changes["Al_Ni"] == {"Ni": -1, "Al": 1}
    assert {d.kind for d in ds.defects} == {"vacancy", "antisite"}


def test_bad_input_is_a_clear_error():
    disordered = Structure(Lattice.cubic(3.6), [{"Cu": 0.5, "Ni": 0.5}], [[0, 0, 0]])
    with pytest.raises(DefectInputError, match="disordered"):
        defect_set(disordered, "CuNi")
    with pytest.raises(DefectInputError, match="not a periodic structure"):
        defect_set(Molecule(["Cu", "Cu"], [[0, 0, 0], [0, 0, 2.5]]), "Cu2")
    ternary = Structure(
        Lattice.cubic(4), ["Cu", "Ni", "Al"], [[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5]]
    )
    with pytest.raises(DefectInputError, match="3 elements"):
        defect_set(ternary, "CuNiAl")
    gan = Structure.from_spacegroup(
        "P6_3mc",
        Lattice.hexagonal(3.19, 5.19),
        ["Ga", "N"],
        [[1 / 3, 2 / 3, 0], [1 / 3, 2 / 3, 0.377]],
    )
    with pytest.raises(MissingElementError, match="no elemental reference for Ga, N in GaN"):
        defect_set(gan, "GaN")
    with pytest.raises(DefectInputError, match="unknown defect kind"):
        defect_set(element_structure("Cu"), "Cu", kinds=("divacancy",))
    with pytest.raises(DefectInputError, match="no supercell with edges >= 20 Å within 4 atoms"):
        defect_set(element_structure("Cu"), "Cu", kinds=("vacancy",), min_length=20, max_atoms=4)


def test_formation_energy_arithmetic():
    # E_f = E_defect - E_bulk - sum mu_i dN_i, by hand
    assert formation_energy(-100.0, -104.5, {"Cu": -1}, {"Cu": -4.0}) == pytest.approx(0.5)
    assert formation_energy(-106.0, -104.5, {"Cu": 1}, {"Cu": -4.0}) == pytest.approx(2.5)
    antisite = formation_energy(-50.0, -51.0, {"Ni": 1, "Al": -1}, {"Ni": -5.5, "Al": -3.75})
    assert antisite == pytest.approx(1.0 - (-5.5) + (-3.75))
    with pytest.raises(KeyError, match="no chemical potential for Al"):
        formation_energy(-1.0, -2.0, {"Al": -1}, {"Ni": -5.5})
    doc = DefectPredictionDocument.model_construct(
        bulk_supercell=RelaxedEnergy(energy_ev=-51.0),
        elemental_references=[
            ElementalReference(element="Ni", energy_ev=-5.5, n_atoms=1, energy_per_atom_ev=-5.5)
        ],
        defects=[
            DefectEnergy(label="v_Ni", kind="vacancy", element_changes={"Ni": -1}, energy_ev=-45.0),
            DefectEnergy(label="v_Al", kind="vacancy", element_changes={"Al": -1}, energy_ev=-47.0),
        ],
        chemical_potentials_ev={},
    )
    fill_formation_energies(doc)
    assert doc.chemical_potentials_ev == {"Ni": -5.5}
    assert doc.defects[0].formation_energy_ev == pytest.approx(-45.0 + 51.0 - 5.5)
    assert doc.defects[1].formation_energy_ev is None
    assert doc.defects[1].reason == "no chemical potential for Al"


def test_bond_counting_gives_the_exact_broken_bond_answers():
    ds = defect_set(element_structure("Cu"), "Cu", min_length=5.0)
    doc = predict_defects(ds, BONDS, "vasp:test")
    assert doc.state == "successful", doc.reason
    assert doc.chemical_potentials_ev == {"Cu": -6 * EPS}  # 12 bonds / 2 per atom
    ef = {d.label: d.formation_energy_ev for d in doc.defects}
    sites = {d.label: np.round(d.site_frac_coords, 3).tolist() for d in ds.defects}
    assert ef["v_Cu"] == 6 * EPS  # 12 bonds broken, one atom to the reservoir
    for label in ("Cu_i_1", "Cu_i_2"):
        bonds = 4 if sites[label] == [0.25, 0.25, 0.25] else 6  # tetrahedral / octahedral
        assert ef[label] == (6 - bonds) * EPS
    assert all(d.converged for d in doc.defects)


def test_unconverged_relaxation_keeps_last_energy_and_is_flagged(stores):
    from softbench.builders.defects import build_defects
    from softbench.models import get_models
    from softbench.run import run_flow
    from softbench.workflows.defects import defects_flow

    ds = defect_set(element_structure("Cu"), "Cu", kinds=("interstitial",), min_length=5.0)
    flow = defects_flow([ds], get_models("ase:ase.calculators.emt.EMT"), "vasp:test", dft=None,
                        options={"steps": 3})  # fmt: skip
    run_flow(flow, stores, log=False)
    pred = DefectPredictionDocument.model_validate(stores.jobs.get_output(flow.jobs[0].uuid))
    assert all(d.converged is False and d.steps == 3 for d in pred.defects)
    assert all(d.energy_ev is not None and d.formation_energy_ev is not None for d in pred.defects)
    _emit_reference(stores, _reference_like(pred, shift=0.1))
    build_defects(stores)
    docs = list(stores.collection("defects").query({}))
    assert {d["state"] for d in docs} == {"flagged"}
    assert all("model relaxation hit its step limit" in d["reason"] for d in docs)
    assert all(d["error"] == pytest.approx(-0.1) for d in docs)
    (summary,) = list(stores.collection("defects_summary").query({}))
    assert summary["n_flagged"] == 2 and summary["n_used"] == 0 and summary["mae"] is None


@job
def _emit(doc):
    return doc


def _emit_reference(stores, ref: DefectReferenceDocument) -> None:
    from softbench.run import run_flow

    run_flow(Flow([_emit(ref)]), stores, log=False)


def _reference_like(pred: DefectPredictionDocument, shift: float) -> DefectReferenceDocument:
    """A synthetic DFT document: the model's formation energies plus ``shift``."""
    ref = DefectReferenceDocument(
        material_id=pred.material_id, formula=pred.formula, reference=pred.reference
    )
    for d in pred.defects:
        ref.defects.append(
            d.model_copy(
                update={"formation_energy_ev": d.formation_energy_ev + shift, "converged": True}
            )
        )
    ref.bulk = ref.bulk_supercell = RelaxedEnergy(energy_ev=0.0, converged=True)
    return ref


def test_builder_pairs_reports_missing_partners_and_summarises(stores):
    from softbench.builders.defects import build_defects, parity_points
    from softbench.models import get_models
    from softbench.run import run_flow
    from softbench.workflows.defects import defects_flow

    cu = defect_set(element_structure("Cu"), "Cu", min_length=5.0)
    al = defect_set(element_structure("Al"), "Al", kinds=("vacancy",), min_length=5.0)
    flow = defects_flow([cu, al], get_models(BONDS), "vasp:test", dft=None)
    run_flow(flow, stores, log=False)
    pred = DefectPredictionDocument.model_validate(stores.jobs.get_output(flow.jobs[0].uuid))
    ref = _reference_like(pred, shift=0.25)  # DFT 0.25 eV above the model for Cu only
    ref.defects = ref.defects[:2]  # DFT lacks one interstitial
    _emit_reference(stores, ref)
    assert build_defects(stores) == {"defects": 4, "defects_summary": 1}
    docs = {(d["material_id"], d["label"]): d for d in stores.collection("defects").query({})}
    assert docs["Cu", "v_Cu"]["state"] == "successful"
    assert docs["Cu", "v_Cu"]["error"] == pytest.approx(-0.25)
    assert docs["Cu", "v_Cu"]["dft_value"] == pytest.approx(6 * EPS + 0.25)
    assert docs["Cu", "Cu_i_2"]["state"] == "unpaired"
    assert "no DFT partner" in docs["Cu", "Cu_i_2"]["reason"]
    assert docs["Al", "v_Al"]["state"] == "unpaired"
    assert "no vasp:test document for Al" in docs["Al", "v_Al"]["reason"]
    (s,) = list(stores.collection("defects_summary").query({}))
    assert s["n_used"] == 2 and s["n_unpaired"] == 2
    assert s["missing_partners"] == ["Al|v_Al", "Cu|Cu_i_2"]
    assert s["mae"] == pytest.approx(0.25) and s["mean_signed_error"] == pytest.approx(-0.25)
    assert s["fraction_underpredicted"] == 1.0
    # incremental: nothing new, nothing rebuilt
    assert build_defects(stores) == {"defects": 0, "defects_summary": 0}
    points = parity_points(stores)
    assert {(p["material"], p["label"]) for p in points} == {("Cu", "v_Cu"), ("Cu", "Cu_i_1")}
    assert set(points[0]) >= {"task", "material", "label", "model", "dft_value", "model_value",
                              "unit"}  # fmt: skip


def test_cli_runs_models_and_prints_json(tmp_path, capsys):
    from softbench.cli import main

    store = str(tmp_path / "store")
    args = ["run", "defects", "--structure", "Cu", "--models", BONDS, "--min-length", "5",
            "--no-dft", "--store", store]  # fmt: skip
    assert main(args) == 0
    assert main(["query", "defects", "--format", "json", "--store", store]) == 0
    out = capsys.readouterr().out
    docs = json.loads(out[out.index("[\n") :])
    assert {d["label"]: d["model_value"] for d in docs} == {
        "v_Cu": 3.0,
        "Cu_i_1": 1.0,
        "Cu_i_2": 0.0,
    }
    assert {d["state"] for d in docs} == {"unpaired"}
    # a rerun reuses the stored model document
    assert main(args) == 0
    assert "0 reference(s) and 1 prediction(s) reused" in capsys.readouterr().err


def test_cli_bad_input_exits_2(tmp_path, capsys):
    from softbench.cli import main

    store = ["--store", str(tmp_path / "s"), "--no-dft", "--models", BONDS]
    assert main(["run", "defects", "--structure", "Xx", *store]) == 2
    assert "not a built-in element" in capsys.readouterr().err
    label = ["--dft", "cp2k", "--label", "x"]
    assert main(["run", "defects", "--structure", "Si", *label, *store]) == 2
    assert "the CP2K reference label comes from its settings" in capsys.readouterr().err
    poscar = tmp_path / "GaN.vasp"
    Structure.from_spacegroup(
        "P6_3mc",
        Lattice.hexagonal(3.19, 5.19),
        ["Ga", "N"],
        [[1 / 3, 2 / 3, 0], [1 / 3, 2 / 3, 0.377]],
    ).to(filename=str(poscar), fmt="poscar")
    assert main(["run", "defects", "--structure", str(poscar), *store]) == 2
    err = capsys.readouterr().err
    assert err.strip().splitlines()[-1].startswith("softbench: error: no elemental reference for")


@pytest.mark.slow
def test_chgnet_copper_vacancy_formation_energy_is_positive():
    ds = defect_set(element_structure("Cu"), "Cu", kinds=("vacancy",), min_length=5.0)
    doc = predict_defects(ds, "chgnet-0.3.0", "vasp:test")
    assert doc.state == "successful", doc.reason
    (vac,) = doc.defects
    assert vac.converged and doc.bulk.converged
    # CHGNet 0.3.0, 32-atom cell: ~0.7 eV (PBE ~1.0-1.1 eV; experiment 1.28 eV)
    assert 0.3 < vac.formation_energy_ev < 1.5


def test_missing_vasp_skips_the_dft_side_with_a_warning(tmp_path, capsys, monkeypatch):
    import softbench.cli.high_energy
    from softbench.cli import main

    monkeypatch.setattr(
        softbench.cli.high_energy, "vasp_problem", lambda: "VASP is not configured: test. Set X"
    )
    store = str(tmp_path / "store")
    args = ["run", "defects", "--structure", "Cu", "--kinds", "vacancy", "--models", BONDS,
            "--min-length", "5", "--store", store]  # fmt: skip
    assert main(args) == 0
    captured = capsys.readouterr()
    assert "warning: VASP is not configured: test. DFT side skipped" in captured.err
    assert "no DFT partner: no vasp:mp-pbe-defects document for Cu" in captured.out


def test_energetics_report_has_defect_and_mixing_panels(tmp_path):
    """The energetics figure draws every task with DFT-paired values; unpaired are counted."""
    from softbench.reports.energetics import collect, report_energetics
    from softbench.stores import open_stores

    stores = open_stores(str(tmp_path / "store"))
    base = {"reference": "ref", "model": "m", "material_id": "Cu"}
    stores.collection("defects").update(
        [
            {
                **base,
                "key": "a",
                "label": "v_Cu",
                "state": "successful",
                "dft_value": 1.0,
                "model_value": 0.8,
            },
            {
                **base,
                "key": "b",
                "label": "Cu_i",
                "state": "unpaired",
                "dft_value": None,
                "model_value": 2.0,
            },
        ],
        key="key",
    )
    stores.collection("solid_solution").update(
        [
            {
                **base,
                "key": "c",
                "label": "x1",
                "state": "successful",
                "dft_value": 0.1,
                "model_value": 0.05,
            }
        ],
        key="key",
    )
    data = {d.panel.query: d for d in collect(stores)}
    assert set(data) == {"defects", "solid-solution"}
    assert data["defects"].points == {"m": [(1.0, 0.8, False)]} and data["defects"].n_unpaired == 1
    (path,) = report_energetics(stores, tmp_path / "fig")
    assert path.stat().st_size > 10_000
