"""DFT side through atomate2's real VASP PhononMaker, with the VASP double.

What this validates: the atomate2 flow is built and run for real (primitive cell,
supercell, displacement generation, one VASP job per displacement, TaskDoc parsing,
atomate2's phonon analysis); every job writes MP-compatible inputs; the reference
job regenerates exactly the displaced supercells VASP was given and stores them with
the parsed forces and the phonopy metadata the builder needs.
What it does not validate: the numbers. The double copies one real 32-atom GaN run
(Mg_Ga/bulk_sc, PBEsol, an undisplaced supercell) into every job, so the "forces"
do not belong to the displaced structures and no phonon frequency from this test
means anything. The tight relaxation is not run through the double (its output
would be that 32-atom cell, not the relaxed primitive); only its input set is
checked. atomate2's own phonon analysis job (generate_frequencies_eigenvectors)
fails on these ~zero forces (its DOS file overflows); the reference job does not
depend on it, and the test checks that it still completes.
"""

from __future__ import annotations

import numpy as np
import pytest
from pymatgen.core import Structure
from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

from softbench.analysis.phonons import build_phonopy, n_displacements
from softbench.makers.phonons import PHONOPY_KEY
from softbench.makers.vasp.phonons import MP_ENCUT, VaspPhononReferenceMaker, mp_phonon_maker
from softbench.run import run_flow
from softbench.schemas.reference import ReferenceTaskDocument
from softbench.testing.vasp import fake_vasp


@pytest.fixture
def gan_primitive(shared):
    bulk = shared / "data/vasp-outputs/GaN/Mg_Ga/bulk_sc"
    structure = Structure.from_file(bulk / "POSCAR.gz")
    return SpacegroupAnalyzer(structure, symprec=1e-3).get_primitive_standard_structure(), bulk


def test_mp_phonon_maker_inputs(gan_primitive):
    """The relax and displacement input sets are MP-compatible (PBE PAW, 520 eV)."""
    prim, _ = gan_primitive
    maker = mp_phonon_maker()
    relax = maker.bulk_relax_maker.relax_maker1.input_set_generator
    incar = relax.get_input_set(prim, potcar_spec=True).incar
    assert incar["ENCUT"] == MP_ENCUT
    assert incar["EDIFF"] == pytest.approx(1e-7)
    disp = maker.phonon_displacement_maker.input_set_generator.get_input_set(prim, potcar_spec=True)
    assert disp.incar["ENCUT"] == MP_ENCUT
    assert disp.incar["NSW"] == 0
    assert disp.incar["LREAL"] is False
    assert maker.born_maker is None
    assert maker.displacement == pytest.approx(0.01)


def test_vasp_phonon_flow_with_double(gan_primitive, stores, tmp_path, monkeypatch):
    prim, bulk = gan_primitive
    maker = VaspPhononReferenceMaker(phonon_maker=mp_phonon_maker(relax=False))
    flow = maker.make(prim, "GaN-test", supercell_matrix=(2 * np.eye(3)).astype(int).tolist())
    monkeypatch.chdir(tmp_path)
    with fake_vasp(monkeypatch, lambda _name: bulk) as double:
        responses = run_flow(flow, stores, root_dir=tmp_path, create_folders=True, log=False)
    phonon_runs = {k: v for k, v in double.runs.items() if k.startswith("phonon static")}
    assert phonon_runs, f"no displacement job ran: {sorted(double.runs)}"
    for seen in double.runs.values():  # static energy run and displacement runs
        assert seen.incar["ENCUT"] == MP_ENCUT
        assert seen.potcar_symbols == ["Ga_d", "N"]
    for seen in phonon_runs.values():
        assert seen.incar["EDIFF"] == pytest.approx(1e-7)
        assert seen.incar["NSW"] == 0
        assert len(seen.poscar_structure) == 32
    out = responses[flow.jobs[-1].uuid][1].output
    ref = ReferenceTaskDocument.model_validate(
        stores.jobs.get_output(flow.jobs[-1].uuid, load=True)
    )
    assert out is not None
    assert ref.state == "successful", ref.reason
    meta = ref.dft_settings[PHONOPY_KEY]
    assert n_displacements(meta) == len(phonon_runs) == len(ref.configurations)
    # the reference holds exactly the supercells VASP was given, in displacement order
    given = sorted(phonon_runs.values(), key=lambda s: int(s.job_name.split()[-1].split("/")[0]))
    for conf, seen in zip(ref.configurations, given, strict=True):
        assert np.allclose(conf.structure.cart_coords, seen.poscar_structure.cart_coords, atol=1e-6)
        assert conf.forces.shape == (32, 3)
    # and the stored metadata rebuilds the same displaced supercells
    rebuilt = build_phonopy(meta).supercells_with_displacements
    assert np.allclose(rebuilt[0].positions, ref.configurations[0].structure.cart_coords)
