"""DFT side of the surface benchmark through atomate2's VASP relax makers, with the double.

What this validates: the VASP inputs against pymatgen's MPRelaxSet (every INCAR key
MP's set writes is kept unless the slab/bulk updates change it on purpose; slabs
relax ions only, ISIF = 2, with one k-point along the normal and MP's dipole
settings), and the whole flow: bulk relaxation, slabs cut at run time from the bulk
VASP returned, one relaxation per slab, TaskDoc parsing of real VASP outputs
(``$SOFTBENCH_SHARED/data/vasp-outputs``) into the reference document, and the
builder pairing it with a model.
What it does not validate: the numbers. The double hands every job the one real GaN
run with all the files atomate2 parses (``Mg_Ga/bulk_sc``: 32-atom bulk, PBEsol):
the (1,1,0) slab has 32 atoms too, so its "slab" energy is the bulk's and gamma is
exactly 0; the 16-atom (1,0,0) slabs get 32 atoms back and are recorded as failed
(composition differs from the slab).
"""

from __future__ import annotations

import numpy as np
import pytest
from pymatgen.core import Structure
from pymatgen.io.vasp import Vasprun
from pymatgen.io.vasp.sets import MPRelaxSet

from softbench.analysis.surfaces import make_slabs, slab_area
from softbench.ingest.elements import elemental_structure
from softbench.makers.vasp.surfaces import (
    BULK_INCAR,
    SLAB_INCAR,
    VASP_LABEL,
    mp_bulk_relax_maker,
    mp_slab_relax_maker,
    slab_kpoints,
)
from softbench.run import run_flow
from softbench.schemas.surfaces import SurfaceReferenceDocument
from softbench.testing.vasp import fake_vasp

GAN = "data/vasp-outputs/GaN"
OPTIONS = {"max_index": 1, "min_slab_a": 10.0, "min_vacuum_a": 10.0}


def _same(a, b) -> bool:
    if isinstance(a, float | int) and isinstance(b, float | int):
        return a == pytest.approx(b)
    if isinstance(a, list):
        return np.allclose(a, b)
    return a == b


def _check_against_mprelaxset(incar: dict, structure: Structure, updates: dict) -> None:
    """Every MPRelaxSet key as MP writes it, except the documented updates."""
    mp = MPRelaxSet(structure).get_input_set(potcar_spec=True).incar
    for key, value in mp.items():
        expected = updates.get(key, value)
        assert _same(incar[key], expected), (key, incar[key], expected)
    for key, value in updates.items():
        assert _same(incar[key], value), key


def test_slab_inputs_against_mprelaxset():
    slabs = make_slabs(elemental_structure("Si"), max_index=1)
    for spec in slabs.slabs:
        maker = mp_slab_relax_maker(spec.slab, spec.facet)
        inputs = maker.input_set_generator.get_input_set(spec.slab, potcar_spec=True)
        centre = np.average(spec.slab.frac_coords, axis=0)
        _check_against_mprelaxset(
            dict(inputs.incar), spec.slab, {**SLAB_INCAR, "DIPOL": centre.tolist()}
        )
        assert inputs.incar["ISIF"] == 2 and inputs.incar["LDIPOL"] is True
        assert inputs.incar["IDIPOL"] == 3
        (mesh,) = inputs.kpoints.kpts
        assert mesh[2] == 1 and tuple(mesh) == slab_kpoints(spec.slab)
        assert inputs.kpoints.style.name == "Gamma"
        a, b, _ = spec.slab.lattice.abc
        assert mesh[0] == round(50 / a) and mesh[1] == round(50 / b)
        assert maker.input_set_generator.potcar_symbols == ["Si"]


def test_bulk_inputs_against_mprelaxset():
    bulk = elemental_structure("Si")
    inputs = mp_bulk_relax_maker().input_set_generator.get_input_set(bulk, potcar_spec=True)
    _check_against_mprelaxset(dict(inputs.incar), bulk, BULK_INCAR)
    assert inputs.incar["ISIF"] == 3


def test_vasp_surface_flow_with_double(shared, stores, tmp_path, monkeypatch):
    from softbench.builders.surfaces import build_surfaces
    from softbench.models import get_models
    from softbench.workflows.surfaces import surfaces_flow

    run_dir = shared / GAN / "Mg_Ga/bulk_sc"
    gan = Structure.from_file(run_dir / "CONTCAR.gz")
    models = get_models("ase:softbench.testing.calculators.BondCounting")
    flow = surfaces_flow({"GaN-test": gan}, models, "vasp", {**OPTIONS, "slab_steps": 5})
    monkeypatch.chdir(tmp_path)
    with fake_vasp(monkeypatch, lambda _name: run_dir) as double:
        run_flow(flow, stores, root_dir=tmp_path, create_folders=True, log=False)

    bulk_runs = [s for n, s in double.runs.items() if n.startswith("MP GGA bulk relax")]
    slab_runs = {n: s for n, s in double.runs.items() if n.startswith("MP GGA slab relax")}
    assert len(bulk_runs) == 1 and bulk_runs[0].incar["ISIF"] == 3
    assert set(slab_runs) == {
        "MP GGA slab relax (1,0,0)",
        "MP GGA slab relax (1,0,0)#1",
        "MP GGA slab relax (1,1,0)",
    }
    for seen in slab_runs.values():
        slab = seen.poscar_structure
        _check_against_mprelaxset(seen.incar, slab, {**SLAB_INCAR, "DIPOL": seen.incar["DIPOL"]})
        assert seen.kpoints.kpts[0][2] == 1
        weights = [site.species.weight for site in slab]
        # atomate2 writes DIPOL with the POSCAR's site order; the centre is order-free
        assert np.allclose(
            seen.incar["DIPOL"], np.average(slab.frac_coords, weights=weights, axis=0), atol=1e-4
        )
        assert seen.potcar_symbols == ["Ga_d", "N"]

    ref_uuid = flow.jobs[0].jobs[-1].uuid
    ref = SurfaceReferenceDocument.model_validate(stores.jobs.get_output(ref_uuid))
    assert ref.reference == VASP_LABEL and ref.state == "successful"
    assert "(0,0,1)" in ref.skipped_facets  # polar: no symmetric stoichiometric slab
    vasprun = Vasprun(run_dir / "vasprun.xml.gz")
    assert ref.bulk_energy_per_atom_ev == pytest.approx(vasprun.final_energy / 32)
    (ok,) = [s for s in ref.surfaces if s.state == "successful"]
    assert ok.facet == "(1,1,0)" and ok.n_atoms == 32
    assert ok.slab_energy_ev == pytest.approx(vasprun.final_energy)
    assert ok.area_a2 == pytest.approx(slab_area(vasprun.final_structure))
    assert ok.surface_energy_ev_a2 == pytest.approx(0.0, abs=1e-12)  # slab run = bulk run
    assert ok.surface_energy_j_m2 == pytest.approx(0.0, abs=1e-10)
    failed = [s for s in ref.surfaces if s.state == "failed"]
    assert {s.facet for s in failed} == {"(1,0,0)", "(1,0,0)#1"}
    assert all("(32 atoms), the slab Ga8 N8 (16 atoms)" in s.reason for s in failed)

    build_surfaces(stores)
    docs = {d["facet"]: d for d in stores.collection("surfaces").query({})}
    assert set(docs) == {"(1,0,0)", "(1,0,0)#1", "(1,1,0)"}
    assert docs["(1,1,0)"]["dft_surface_energy_j_m2"] == pytest.approx(ok.surface_energy_j_m2)
    assert docs["(1,1,0)"]["state"] in ("successful", "flagged")
    assert docs["(1,0,0)"]["state"] == "missing_reference"
    assert "DFT slab failed" in docs["(1,0,0)"]["reason"]
