"""Surface energies: slab rules, gamma on an exactly solvable potential, pairing, bad input.

The exact case: :class:`softbench.testing.calculators.BondCounting` gives every
nearest-neighbour bond -0.5 eV and nothing else, with zero forces and stress on a
perfect lattice and on unrelaxed slabs cut from it. Its surface energies are the
broken-bond values, known in closed form for fcc: gamma = n bond / (2A) with n
broken bonds per surface cell of area A: (100) 4 per a²/2, (110) 6 per a²/sqrt(2),
(111) 3 per a² sqrt(3)/4.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from pymatgen.core import Lattice, Structure

from softbench.analysis.surfaces import (
    EV_PER_A2_IN_J_PER_M2,
    SurfaceInputError,
    check_bulk,
    make_slabs,
    surface_energy,
)
from softbench.builders.surfaces import build_surfaces, summarize_surfaces
from softbench.ingest.elements import elemental_structure
from softbench.makers.surfaces import predict_surfaces
from softbench.schemas.surfaces import (
    NO_DFT,
    SurfaceEnergyDocument,
    SurfacePredictionDocument,
    SurfaceRecord,
    SurfaceReferenceDocument,
)

BOND = 0.5  # eV, BondCounting's default
BOND_MODEL = "ase:softbench.testing.calculators.BondCounting"
SMALL = {"max_index": 1, "min_slab_a": 6.0, "min_vacuum_a": 6.0}


def test_surface_energy_arithmetic():
    # 10 atoms, bulk -3 eV/atom, slab 2 eV above 10 bulk atoms, two faces of 4 Å²
    gamma = surface_energy(-28.0, 10, -3.0, 4.0)
    assert gamma == pytest.approx(0.25)
    assert gamma * EV_PER_A2_IN_J_PER_M2 == pytest.approx(4.005441, rel=1e-6)
    with pytest.raises(ValueError, match="area must be positive"):
        surface_energy(-28.0, 10, -3.0, 0.0)


def test_si_slabs_follow_the_rules():
    slabs = make_slabs(elemental_structure("Si"), max_index=1)
    facets = [s.facet for s in slabs.slabs]
    assert facets == ["(1,0,0)", "(1,1,0)", "(1,1,1)", "(1,1,1)#1"]
    assert not slabs.skipped
    for spec in slabs.slabs:
        assert spec.slab.is_symmetric()
        assert spec.slab.composition.reduced_formula == "Si"
        normal = np.cross(*spec.slab.lattice.matrix[:2])
        assert abs(spec.slab.lattice.matrix[2] @ normal) / np.linalg.norm(normal) >= 20.0


def test_polar_facets_are_skipped_with_the_reason(shared):
    gan = Structure.from_file(shared / "data/vasp-outputs/GaN/v_N_GaN/bulk/CONTCAR.gz")
    slabs = make_slabs(gan, max_index=1, min_slab=6, min_vacuum=6)
    assert "(0,0,1)" in slabs.skipped
    assert "no symmetric stoichiometric slab" in slabs.skipped["(0,0,1)"]
    assert slabs.slabs  # the non-polar facets remain
    for spec in slabs.slabs:
        assert spec.slab.composition.reduced_formula == "GaN" and spec.slab.is_symmetric()


def test_bad_bulk_input():
    disordered = Structure(Lattice.cubic(3.6), [{"Cu": 0.5, "Au": 0.5}], [[0, 0, 0]])
    with pytest.raises(SurfaceInputError, match="disordered"):
        check_bulk(disordered, "CuAu")
    doc = predict_surfaces(disordered, "CuAu", BOND_MODEL, NO_DFT, options=SMALL)
    assert doc.state == "failed" and "disordered" in doc.reason


def test_broken_bond_surface_energies_are_exact():
    bulk = elemental_structure("Cu")  # conventional fcc cell; no relaxation moves it here
    a = bulk.lattice.a
    doc = predict_surfaces(bulk, "Cu", BOND_MODEL, NO_DFT, options=SMALL)
    assert doc.state == "successful", doc.reason
    assert doc.bulk_energy_per_atom_ev == pytest.approx(-6 * BOND)  # 12 bonds, halved
    # bonds a surface atom (cell) loses, per area of one surface cell; the cut bonds'
    # energy is shared by the two faces the cut makes: gamma = n_broken * bond / (2 A)
    broken_and_area = {
        "(1,0,0)": (4, a * a / 2),
        "(1,1,0)": (6, a * a / math.sqrt(2)),
        "(1,1,1)": (3, a * a * math.sqrt(3) / 4),
    }
    expected = {f: n * BOND / (2 * area) for f, (n, area) in broken_and_area.items()}
    got = {s.facet: s for s in doc.surfaces}
    assert sorted(got) == sorted(expected)
    for facet, gamma in expected.items():
        record = got[facet]
        assert record.converged
        assert record.surface_energy_ev_a2 == pytest.approx(gamma, rel=1e-9)
        assert record.surface_energy_j_m2 == pytest.approx(gamma * EV_PER_A2_IN_J_PER_M2)


def test_unconverged_relaxation_is_kept_and_flagged(stores):
    from softbench.builders.surfaces import compare

    doc = predict_surfaces(
        elemental_structure("Cu"),
        "Cu",
        "ase:ase.calculators.emt.EMT",
        "cp2k:test",
        options={**SMALL, "slab_steps": 2, "fmax": 1e-4},
    )
    unconverged = [s for s in doc.surfaces if not s.converged]
    assert unconverged, "EMT slabs relax for more than 2 steps"
    record = unconverged[0]
    assert record.surface_energy_j_m2 is not None and record.relaxation.steps == 2
    reference = SurfaceReferenceDocument(
        material_id="Cu",
        reference="cp2k:test",
        surfaces=[record.model_copy(update={"converged": True})],
        facets=[record.facet],
    )
    item = {"key": "k", "facet": record.facet, "reference_uuid": "r", "prediction_uuid": "p"}
    parity = compare(doc, reference, item)
    assert parity.state == "flagged" and "model relaxation not converged" in parity.reason
    assert parity.error_j_m2 == pytest.approx(0.0)  # same record on both sides
    assert summarize_surfaces([parity]).n_flagged == 1


def _record(facet: str, gamma: float, converged: bool = True) -> SurfaceRecord:
    return SurfaceRecord(
        facet=facet,
        miller_index=(1, 0, 0),
        n_atoms=4,
        area_a2=10.0,
        surface_energy_j_m2=gamma,
        surface_energy_ev_a2=gamma / EV_PER_A2_IN_J_PER_M2,
        converged=converged,
    )


def _store_outputs(stores, docs: dict[str, object]) -> None:
    """Write task documents as job outputs (the shape jobflow stores)."""
    from monty.json import jsanitize

    for uuid, doc in docs.items():
        stores.jobs.docs_store.update(
            [{"uuid": uuid, "index": 1, "output": jsanitize(doc, strict=True, allow_bson=True)}],
            key=["uuid", "index"],
        )


def _paired_and_unpaired(stores) -> None:
    """A DFT reference with (1,0,0), (1,1,1); a model with (1,0,0), (1,1,0); a model
    run without DFT for material Y."""
    from softbench.models import resolve_model

    provenance = resolve_model(BOND_MODEL).safe_provenance()
    ref = SurfaceReferenceDocument(
        material_id="X",
        reference="cp2k:test",
        surfaces=[_record("(1,0,0)", 1.0), _record("(1,1,1)", 2.0)],
        facets=["(1,0,0)", "(1,1,1)"],
    )
    pred = SurfacePredictionDocument(
        material_id="X",
        reference="cp2k:test",
        reference_uuid="ref-1",
        model=provenance,
        surfaces=[_record("(1,0,0)", 0.8), _record("(1,1,0)", 0.5)],
        facets=["(1,0,0)", "(1,1,0)"],
    )
    alone = SurfacePredictionDocument(
        material_id="Y",
        reference=NO_DFT,
        model=provenance,
        surfaces=[_record("(1,0,0)", 0.7)],
        facets=["(1,0,0)"],
    )
    _store_outputs(stores, {"ref-1": ref, "pred-1": pred, "pred-2": alone})


def test_builder_pairs_per_facet_and_reports_missing_partners(stores):
    _paired_and_unpaired(stores)
    counts = build_surfaces(stores)
    assert counts["surfaces"] == 4
    docs = {
        (d["material_id"], d["facet"]): SurfaceEnergyDocument.model_validate(d)
        for d in stores.collection("surfaces").query({})
    }
    paired = docs[("X", "(1,0,0)")]
    assert paired.state == "successful" and paired.error_j_m2 == pytest.approx(-0.2)
    assert docs[("X", "(1,1,0)")].state == "missing_reference"
    assert "DFT made no slab" in docs[("X", "(1,1,0)")].reason
    assert docs[("X", "(1,1,1)")].state == "failed"  # DFT only: the model has no value
    assert docs[("Y", "(1,0,0)")].state == "missing_reference"
    assert docs[("Y", "(1,0,0)")].surface_energy_j_m2 == pytest.approx(0.7)
    summary = {d["reference"]: d for d in stores.collection("surfaces_summary").query({})}
    cp2k = summary["cp2k:test"]
    assert cp2k["n_paired"] == 1 and cp2k["mae_j_m2"] == pytest.approx(0.2)
    assert cp2k["mean_signed_error_j_m2"] == pytest.approx(-0.2)
    assert cp2k["fraction_underpredicted"] == 1.0 and cp2k["n_missing_reference"] == 1
    assert summary[NO_DFT]["n_missing_reference"] == 1
    assert build_surfaces(stores)["surfaces"] == 0  # nothing new


def test_cli_rejects_bad_structures(tmp_path, capsys):
    from softbench.cli import main

    xyz = tmp_path / "water.xyz"
    xyz.write_text("3\nwater\nO 0 0 0\nH 0.76 0.59 0\nH -0.76 0.59 0\n")
    cif = tmp_path / "CuAu.json"
    disordered = Structure(Lattice.cubic(3.6), [{"Cu": 0.5, "Au": 0.5}], [[0, 0, 0]])
    cif.write_text(json.dumps(disordered.as_dict()))
    for value, message in [
        (str(xyz), "cannot read a structure"),
        (str(cif), "disordered"),
        ("Unobtainium", "not a built-in element"),
    ]:
        code = main(["run", "surfaces", "--structure", value, "--models", BOND_MODEL])
        err = capsys.readouterr().err.strip().splitlines()
        assert code == 2 and message in err[-1], err


def test_chgnet_si_surfaces_and_query(tmp_path, capsys):
    """A real model: CHGNet 0.3.0 on Si (100), (110), (111), small slabs, few steps."""
    pytest.importorskip("chgnet")
    from softbench.cli import main

    store = str(tmp_path / "store")
    args = ["run", "surfaces", "--structure", "Si", "--models", "chgnet-0.3.0"]
    args += ["--max-index", "1", "--min-slab", "6", "--min-vacuum", "6", "--steps", "20"]
    assert main([*args, "--store", store]) == 0
    capsys.readouterr()
    assert main(["query", "surfaces", "--format", "json", "--store", store]) == 0
    docs = json.loads(capsys.readouterr().out)
    assert {tuple(d["miller_index"]) for d in docs} == {(1, 0, 0), (1, 1, 0), (1, 1, 1)}
    for d in docs:
        assert {"material", "miller_index", "model", "surface_energy_j_m2", "converged"} <= set(d)
        assert d["material"] == "Si" and d["model"] == "chgnet-0.3.0"
        assert d["surface_energy_j_m2"] > 0
        assert d["state"] == "missing_reference"  # no DFT side was asked for


def test_energetics_report_has_a_surfaces_panel(stores, tmp_path):
    from softbench.reports.energetics import PANELS, collect, report_energetics

    _paired_and_unpaired(stores)
    build_surfaces(stores)
    (panel,) = collect(stores, PANELS)
    assert panel.panel.query == "surfaces"
    assert panel.points == {BOND_MODEL: [(1.0, pytest.approx(0.8), False)]}
    assert panel.n_unpaired == 2 and panel.n_failed == 1
    (path,) = report_energetics(stores, tmp_path / "report")
    assert path.name == "energetics_parity.png" and path.stat().st_size > 10_000


def test_cp2k_side_rules_without_running_cp2k():
    from softbench.makers.cp2k.settings import Cp2kSettings
    from softbench.makers.cp2k.surfaces import cp2k_surfaces, slab_kpoints

    settings = Cp2kSettings(kspacing=0.5)
    for spec in make_slabs(elemental_structure("Si"), max_index=1, min_slab=7, min_vacuum=8).slabs:
        mesh = slab_kpoints(settings, spec.slab.lattice.matrix)
        assert mesh[2] == 1 and mesh[:2] == settings.kpoints(spec.slab.lattice.matrix)[:2]
    doc = cp2k_surfaces(elemental_structure("Cu"), "Cu", settings)
    assert doc.state == "unusable" and "no vetted CP2K pseudopotential/basis for Cu" in doc.reason
    assert doc.reference == settings.label()


def test_rerun_reuses_predictions_and_new_geometry_recomputes(tmp_path, capsys):
    from softbench.cli import main

    store = str(tmp_path / "store")
    args = ["run", "surfaces", "--structure", "Cu", "--models", BOND_MODEL, "--max-index", "1"]
    args += ["--min-slab", "6", "--min-vacuum", "6", "--store", store]
    assert main(args) == 0
    assert "0 prediction(s) reused; running 1 job(s)" in capsys.readouterr().err
    assert main(args) == 0
    assert "1 prediction(s) reused; running 0 job(s)" in capsys.readouterr().err
    assert main([*args[:-2], "--min-slab", "8", "--store", store]) == 0  # other slabs
    assert "0 prediction(s) reused; running 1 job(s)" in capsys.readouterr().err


class _EmtRunner:
    """Stands in for Cp2kRunner: EMT energies and forces, stress only when asked."""

    def __init__(self, unconverged_every: int = 0):
        self.calls, self.unconverged_every = 0, unconverged_every

    def compute(self, atoms, kpoints, eps_scf=None, stress=True):
        from ase.calculators.emt import EMT

        from softbench.makers.cp2k.runner import Cp2kResult

        self.calls += 1
        atoms = atoms.copy()
        atoms.calc = EMT()
        converged = not (self.unconverged_every and self.calls % self.unconverged_every == 0)
        return Cp2kResult(
            float(atoms.get_potential_energy()),
            atoms.get_forces(),
            atoms.get_stress(voigt=False) if stress else None,
            converged,
        )


def test_cp2k_relaxation_path_with_a_stand_in_runner():
    """The CP2K side's optimiser plumbing (fixed-cell slab without stress, bulk with)."""
    from softbench.makers.cp2k.surfaces import relax_with_cp2k

    (spec, *_) = make_slabs(elemental_structure("Cu"), 1, 6, 6).slabs
    runner = _EmtRunner()
    relaxed, energy, record, scf_failures = relax_with_cp2k(
        spec.slab, runner, (3, 3, 1), 0.05, 50, relax_cell=False
    )
    assert record.converged and record.max_force <= 0.05 and scf_failures == 0
    assert np.isfinite(energy) and runner.calls >= record.steps
    assert np.allclose(relaxed.lattice.matrix, spec.slab.lattice.matrix)  # cell fixed
    _, _, record, scf_failures = relax_with_cp2k(
        spec.slab, _EmtRunner(unconverged_every=2), (3, 3, 1), 0.05, 50, relax_cell=False
    )
    assert scf_failures > 0 and not record.converged  # an unconverged SCF taints it
    bulk = elemental_structure("Cu")
    relaxed, _, record, _ = relax_with_cp2k(bulk, _EmtRunner(), (3, 3, 3), 0.01, 50, True)
    assert record.converged and record.max_stress_gpa is not None
    assert relaxed.volume != pytest.approx(bulk.volume, rel=1e-4)  # EMT's Cu differs
