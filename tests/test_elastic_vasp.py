"""DFT side of elastic softening through atomate2's real VASP ElasticMaker, with the double.

What this validates: the MP-compatible ElasticMaker is built for real (MPRelaxSet
base: PBE, MP POTCARs; atomate2's tight-relax and elastic-relax INCAR updates;
7000 k-points per reciprocal atom), the whole atomate2 flow runs (double tight
relaxation, symmetry-reduced strains, one fixed-cell relaxation per strained cell,
TaskDoc parsing, atomate2's tensor fit), every VASP job gets the intended inputs,
each strained job is given exactly F·(relaxed cell), and the conversion job turns
atomate2's ElasticDocument into a softbench reference that the model jobs and the
builder consume.
What it does not validate: the numbers. The double copies one real 32-atom GaN run
(Mg_Ga/bulk_sc, PBEsol, unstrained) into every job, so every "strained" stress is
the same unstrained stress, atomate2 fits a ~zero tensor, and the reference is
(correctly) marked unusable. The conversion of a meaningful tensor is checked
separately on a synthetic atomate2 ElasticDocument.
"""

from __future__ import annotations

import numpy as np
import pytest
from pymatgen.analysis.elasticity import Deformation
from pymatgen.core import Lattice, Structure

from softbench.analysis.elastic import elastic_deformations
from softbench.makers.vasp.elastic import (
    ELASTIC_RELAX_INCAR,
    VaspElasticReferenceMaker,
    elastic_reference_from_vasp,
    mp_vasp_elastic_maker,
)
from softbench.run import run_flow
from softbench.schemas.elastic import ElasticReferenceDocument
from softbench.testing.vasp import fake_vasp


@pytest.fixture
def gan(shared):
    bulk = shared / "data/vasp-outputs/GaN/Mg_Ga/bulk_sc"
    return Structure.from_file(bulk / "CONTCAR.gz"), bulk


def test_mp_elastic_maker_inputs(gan):
    structure, _ = gan
    maker = mp_vasp_elastic_maker()
    tight = maker.bulk_relax_maker.relax_maker1.input_set_generator
    inputs = tight.get_input_set(structure, potcar_spec=True)
    assert inputs.incar["ISIF"] == 3 and inputs.incar["ENCUT"] == 700
    assert inputs.incar["EDIFF"] == pytest.approx(1e-7)
    assert inputs.incar["EDIFFG"] == pytest.approx(-0.001)
    assert "GGA" not in inputs.incar  # PBE (atomate2's own default would be PBEsol)
    assert tight.potcar_symbols == ["Ga_d", "N"]  # MP POTCAR choice (set by get_input_set)
    elastic = maker.elastic_relax_maker.input_set_generator.get_input_set(
        structure, potcar_spec=True
    )
    assert elastic.incar["ISIF"] == 2 and elastic.incar["NSW"] == 99
    assert elastic.incar["LREAL"] is False and elastic.incar["ALGO"] == "Normal"
    assert "grid density = 7000" in elastic.kpoints.comment
    assert maker.order == 2 and maker.sym_reduce


def test_vasp_elastic_flow_with_double(gan, stores, tmp_path, monkeypatch):
    from softbench.builders.elastic import build_elastic
    from softbench.makers.vasp.elastic import VaspElasticReferenceMaker
    from softbench.models import get_models
    from softbench.workflows.elastic import dft_elastic_flow

    structure, bulk = gan
    models = get_models("ase:ase.calculators.emt.EMT")
    flow = dft_elastic_flow({"GaN-test": structure}, models, VaspElasticReferenceMaker())
    monkeypatch.chdir(tmp_path)
    with fake_vasp(monkeypatch, lambda _name: bulk) as double:
        run_flow(flow, stores, root_dir=tmp_path, create_folders=True, log=False)

    relaxes = [s for n, s in double.runs.items() if n.startswith("MP GGA tight relax")]
    strained = {n: s for n, s in double.runs.items() if n.startswith("MP GGA elastic relax")}
    assert len(relaxes) == 2  # atomate2's double relaxation
    assert strained, sorted(double.runs)
    for seen in strained.values():
        for key, value in ELASTIC_RELAX_INCAR.items():
            assert (
                seen.incar[key] == pytest.approx(value)
                if isinstance(value, float)
                else (seen.incar[key] == value)
            )
        assert seen.potcar_symbols == ["Ga_d", "N"]
    # every strained job was given F·(relaxed cell), and the Fs are exactly the MP /
    # atomate2 strain set of the relaxed cell (here: the CONTCAR the double returned)
    relaxed = Structure.from_file(bulk / "CONTCAR.gz")
    given = [
        np.linalg.solve(relaxed.lattice.matrix, seen.poscar_structure.lattice.matrix).T
        for seen in strained.values()
    ]
    expected = [np.asarray(d) for d in elastic_deformations(relaxed)]
    assert len(given) == len(expected)
    for f in expected:
        assert any(np.allclose(f, g, atol=1e-8) for g in given)
    # one strain component at +-0.5 % or +-1 % each (shear: engineering +-1 %, +-2 %)
    for f in given:
        strain = Deformation(f).green_lagrange_strain.voigt
        (nonzero,) = np.nonzero(np.abs(strain) > 1e-6)
        assert len(nonzero) == 1
        scale = 2 if nonzero[0] >= 3 else 1
        assert round(abs(strain[nonzero[0]]) / scale, 4) in (0.005, 0.01)

    ref_uuid = flow.jobs[0].jobs[-1].uuid
    ref = ElasticReferenceDocument.model_validate(stores.jobs.get_output(ref_uuid))
    assert ref.material_id == "GaN-test" and ref.reference == "vasp:mp-pbe-elastic"
    assert ref.elastic_tensor is not None and np.shape(ref.elastic_tensor) == (6, 6)
    # identical copied stresses: zero stiffness, and the reference says so
    assert ref.state == "unusable" and "not positive definite" in ref.reason
    assert ref.dft_settings["input_set"] == "MPRelaxSet"

    build_elastic(stores)
    (doc,) = list(stores.collection("elastic").query({}))
    assert doc["material_id"] == "GaN-test" and doc["state"] == "failed"
    assert "reference unusable" in doc["reason"]


def test_conversion_of_a_real_tensor():
    from atomate2.common.schemas.elastic import ElasticDocument, ElasticTensorDocument

    c = np.array(
        [
            [390, 145, 106, 0, 0, 0],
            [145, 390, 106, 0, 0, 0],
            [106, 106, 398, 0, 0, 0],
            [0, 0, 0, 105, 0, 0],
            [0, 0, 0, 0, 105, 0],
            [0, 0, 0, 0, 0, 122.5],
        ],
        dtype=float,
    )
    structure = Structure.from_spacegroup(
        "P6_3mc",
        Lattice.hexagonal(3.19, 5.19),
        ["Ga", "N"],
        [[1 / 3, 2 / 3, 0], [1 / 3, 2 / 3, 0.377]],
    )
    edoc = ElasticDocument(
        structure=structure,
        elastic_tensor=ElasticTensorDocument(raw=c.tolist(), ieee_format=c.tolist()),
    )
    ref = elastic_reference_from_vasp.original(edoc, "GaN", "vasp:test")
    assert ref.state == "successful"
    k_v = (c[0, 0] + c[1, 1] + c[2, 2] + 2 * (c[0, 1] + c[1, 2] + c[0, 2])) / 9
    assert ref.k_vrh_gpa == pytest.approx(k_v, rel=0.02)  # Voigt and Reuss nearly equal here
    assert ref.mechanically_stable and ref.formula == "GaN"
    np.testing.assert_allclose(ref.elastic_tensor, c)


def test_reference_maker_is_a_flow(gan):
    structure, _ = gan
    flow = VaspElasticReferenceMaker().make(structure, "GaN-x")
    assert flow.jobs[-1].name == "elastic reference GaN-x"
    assert flow.output is not None
