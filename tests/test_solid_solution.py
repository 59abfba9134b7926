"""Solid solutions: ordering generation, mixing-energy arithmetic (exactly zero at the end
members), exact lattice-gas answers through maker, flow, builder and CLI."""

from __future__ import annotations

import json
from itertools import combinations

import pytest
from pymatgen.analysis.structure_matcher import StructureMatcher
from pymatgen.io.ase import AseAtomsAdaptor

from softbench.makers.solid_solution import (
    SolidSolutionInputError,
    fill_mixing_energies,
    mixing_energy_per_cation,
    orderings,
    predict_solid_solution,
)
from softbench.schemas.solid_solution import OrderingEnergy, SolidSolutionPredictionDocument
from softbench.testing.calculators import unlike_pairs

LATTICE_GAS = "ase:softbench.testing.calculators.UnlikeCations"  # J = 0.1 eV, cutoff 3.6 Å


def test_orderings_are_distinct_seeded_and_cover_every_composition():
    system = orderings((2, 1, 1), n_orderings=3, seed=0)
    xs = sorted({o.x for o in system.orderings})
    assert xs == [0, 0.25, 0.5, 0.75, 1, 1.25, 1.5, 1.75, 2]
    assert system.n_sublattice_sites == 8
    for x in xs:
        same = [o for o in system.orderings if o.x == x]
        assert len(same) == min(3, system.n_distinct[f"{x:g}"])
        matcher = StructureMatcher(primitive_cell=False, scale=False, attempt_supercell=False)
        for a, b in combinations(same, 2):
            assert not matcher.fit(a.structure, b.structure)  # distinct orderings only
        for o in same:
            comp = o.structure.composition
            assert comp["Ca"] == o.n_guest and comp["Mg"] == o.n_host and comp["O"] == 8
            assert 2 * o.n_guest / 8 == o.x
    again = orderings((2, 1, 1), n_orderings=3, seed=0)
    assert [o.guest_sites for o in again.orderings] == [o.guest_sites for o in system.orderings]
    other = orderings((2, 1, 1), n_orderings=1, seed=5)
    assert len(other.orderings) == 9
    with pytest.raises(SolidSolutionInputError, match=">= 1"):
        orderings(n_orderings=0)
    with pytest.raises(SolidSolutionInputError, match="three positive integers"):
        orderings((2, 0, 1))


def test_mixing_energy_arithmetic_and_exact_zero_at_end_members():
    # by hand: E/n - (n_A/n) e_A - (n_B/n) e_B
    assert mixing_energy_per_cation(-30.0, 2, 2, -8.0, -7.0) == pytest.approx(-7.5 + 4 + 3.5)
    for energy, n in ((-50.511451721191406, 4), (-53.93630218505859, 8), (-1.0 / 3.0, 6)):
        e = energy / n
        assert mixing_energy_per_cation(energy, n, 0, e, -99.0) == 0.0  # exactly
        assert mixing_energy_per_cation(energy, 0, n, -99.0, e) == 0.0
    doc = SolidSolutionPredictionDocument.model_construct(
        orderings=[
            OrderingEnergy(label="x=0/0", x=0, n_guest=0, n_host=6, energy_ev=-1.0 / 3.0),
            OrderingEnergy(label="x=1/0", x=1, n_guest=3, n_host=3, energy_ev=-0.2),
            OrderingEnergy(label="x=2/0", x=2, n_guest=6, n_host=0, energy_ev=0.7),
        ]
    )
    assert fill_mixing_energies(doc) is None
    mix = [o.mixing_energy_ev_per_cation for o in doc.orderings]
    assert mix[0] == 0.0 and mix[2] == 0.0
    assert mix[1] == pytest.approx(-0.2 / 6 - 0.5 * (-1 / 18) - 0.5 * (0.7 / 6))
    doc.orderings = doc.orderings[:2]
    assert fill_mixing_energies(doc) == "no energy for the guest end member"


def test_lattice_gas_mixing_energies_are_exact():
    system = orderings((2, 1, 1), n_orderings=2, seed=1)
    doc = predict_solid_solution(system, LATTICE_GAS, "vasp:test")
    assert doc.state == "successful", doc.reason
    by_label = {o.label: o for o in system.orderings}
    for o in doc.orderings:
        atoms = AseAtomsAdaptor.get_atoms(by_label[o.label].structure)
        expected = 0.1 * unlike_pairs(atoms, 3.6) / 8
        assert o.mixing_energy_ev_per_cation == pytest.approx(expected, abs=1e-12)
        if o.n_guest in (0, 8):
            assert o.mixing_energy_ev_per_cation == 0.0
    assert max(o.mixing_energy_ev_per_cation for o in doc.orderings) > 0


def test_cli_builder_and_query(tmp_path, capsys):
    from softbench.cli import main

    store = str(tmp_path / "store")
    args = ["run", "solid-solution", "--models", LATTICE_GAS, "--orderings", "2", "--no-dft",
            "--store", store]  # fmt: skip
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "x=0.5/1" in out and "unpaired" in out
    assert main(["query", "solid-solution", "--format", "json", "--store", store]) == 0
    docs = json.loads(capsys.readouterr().out)
    assert len(docs) == 14  # x = 0, 0.25, 1.75, 2: one distinct ordering each; else two
    ends = [d for d in docs if d["x"] in (0, 2)]
    assert [d["model_value"] for d in ends] == [0.0, 0.0]
    assert all(d["unit"] == "eV/cation" and d["state"] == "unpaired" for d in docs)
    assert main(["query", "solid-solution-summary", "--format", "json", "--store", store]) == 0
    (summary,) = json.loads(capsys.readouterr().out)
    assert summary["n_unpaired"] == 14 and summary["mae"] is None
