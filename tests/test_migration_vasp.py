"""DFT side of the migration task with atomate2's ApproxNEB VASP makers (no VASP run).

What this validates: the flow is built from atomate2's ApproxNEB pieces (host double
relaxation, ``get_endpoints_and_relax``, ``collate_results``) with linear images;
each image job writes MP-compatible inputs (MPRelaxSet base: PBE, MP POTCARs, ENCUT
520; atomate2's ApproxNEB image updates ISIF=2, ISYM=0, EDIFFG -0.05) and a POSCAR
whose selective dynamics fix the moving ion and the atom farthest from it; atomate2's
collation of image outputs turns into a softbench reference with the KRA barrier.
What it does not validate: VASP numbers. The collation is fed hand-made image
outputs (energies chosen here), not VASP results.
"""

from __future__ import annotations

import numpy as np
import pytest
from pymatgen.core import Lattice, Structure

from softbench.ingest.migration import hop_record
from softbench.makers.migration import hops_from_host
from softbench.makers.vasp.migration import (
    VaspMigrationReferenceMaker,
    linear_images_and_relax,
    migration_reference_from_vasp,
)


@pytest.fixture
def li2o_hop():
    li2o = Structure.from_spacegroup(
        "Fm-3m", Lattice.cubic(4.61), ["Li", "O"], [[0.25, 0.25, 0.25], [0, 0, 0]]
    )
    hop = hops_from_host(li2o, "Li", "Li2O", min_length=4.0)[0]
    ends = []
    for frac in hop.end_points:
        end = hop.host.copy()
        end.insert(0, "Li", frac)  # atomate2's insertion: moving ion at site 0
        ends.append(end)
    return hop, ends


def test_flow_is_atomate2_approxneb(li2o_hop):
    hop, _ = li2o_hop
    maker = VaspMigrationReferenceMaker(n_images=5)
    flow = maker.make(hop_record(hop, 5, "li2o", "x"))
    names = [j.name for j in flow.jobs]
    assert names == [
        "host structure ApproxNEB host relax",
        "get_endpoints_and_relax",
        "linear_images_and_relax",
        "collate_results",
        "migration_reference_from_vasp",
    ]
    host_maker = maker.host_relax_maker
    assert [j.name for j in flow.jobs[0].jobs] == [
        "host structure relax 1",
        "host structure relax 2",
    ]
    gen = host_maker.relax_maker1.input_set_generator
    host_inputs = gen.get_input_set(hop.host, potcar_spec=True)
    assert host_inputs.incar["ISIF"] == 3 and host_inputs.incar["ISYM"] == 1


def test_image_inputs_fixed_ion_and_mp_settings(li2o_hop):
    _, ends = li2o_hop
    maker = VaspMigrationReferenceMaker()
    ep_output = {str(k): {"structure": s} for k, s in enumerate(ends)}
    response = linear_images_and_relax.original("Li", ep_output, 5, maker.image_relax_maker)
    jobs = response.replace.jobs
    assert [j.name for j in jobs] == [
        f"ApproxNEB image relax hop 0+1 image {k}" for k in range(1, 6)
    ]
    start = ends[0][0].coords
    step = (ends[1][0].coords - start) / 6
    for k, job in enumerate(jobs, start=1):
        image = job.function_args[0]
        inputs = job.maker.input_set_generator.get_input_set(image, potcar_spec=True)
        incar = inputs.incar
        # MP-compatible: MPRelaxSet base (PBE, MP POTCARs, 520 eV), ApproxNEB image updates
        assert incar["ENCUT"] == 520 and "GGA" not in incar
        assert inputs["POTCAR.spec"].split() == ["Li_sv", "O"]
        assert incar["ISIF"] == 2 and incar["ISYM"] == 0 and incar["IBRION"] == 1
        assert incar["EDIFFG"] == pytest.approx(-0.05) and incar["NSW"] == 400
        assert incar["LDAU"] is False
        assert job.maker.run_vasp_kwargs["job_type"].value == "double relaxation"
        # the POSCAR fixes the moving ion (at its linear position) and one farthest atom
        poscar = inputs.poscar
        flags = poscar.selective_dynamics
        moving = int(
            np.argmin([np.linalg.norm(s.coords - (start + k * step)) for s in poscar.structure])
        )
        assert poscar.structure[moving].species_string == "Li"
        assert np.linalg.norm(poscar.structure[moving].coords - (start + k * step)) < 1e-6
        assert flags[moving] == [False, False, False]
        assert sum(f == [False, False, False] for f in flags) == 2
        assert sum(f == [True, True, True] for f in flags) == len(image) - 2


def test_collapsed_end_points_are_a_hop_failure(li2o_hop):
    _, ends = li2o_hop
    same = {"0": {"structure": ends[0]}, "1": {"structure": ends[0]}}
    response = linear_images_and_relax.original("Li", same, 5, None)
    assert response.output == {
        "0+1": ["Linear distance traversed by working ion is below threshold."]
    }


def test_collation_to_reference(li2o_hop):
    """atomate2's collate_results on hand-made outputs, then the softbench reference."""
    from atomate2.common.jobs.approx_neb import collate_results

    hop, ends = li2o_hop
    record = hop_record(hop, 3, "li2o", "x")
    energies = [-50.0, -49.8, -49.55, -49.75, -49.9]  # hand-made, not VASP
    images = [ends[0], *ends[0].interpolate(ends[1], 4, pbc=True)[1:-1], ends[1]]
    calc = [
        {"energy": e, "structure": s, "initial_structure": s}
        for e, s in zip(energies, images, strict=True)
    ]
    ep_output = {"0": calc[0], "1": calc[-1]}
    result = collate_results.original(hop.host, "Li", ep_output, {"0+1": calc[1:-1]})
    doc = migration_reference_from_vasp.original(result, record, "vasp:test")
    assert doc.state == "successful", doc.reason
    assert doc.image_energies_ev == energies
    assert doc.barrier_ev == pytest.approx(-49.55 - (-50.0 - 49.9) / 2)
    assert doc.asymmetry_ev == pytest.approx(0.1)
    assert doc.hop_distance_ang == pytest.approx(hop.distance)
    failed = collate_results.original(
        hop.host, "Li", ep_output, {"0+1": ["Endpoint structure relaxation failed."]}
    )
    bad = migration_reference_from_vasp.original(failed, record, "vasp:test")
    assert bad.state == "unusable"
    assert bad.reason == "VASP ApproxNEB hop incomplete: Endpoint structure relaxation failed."


def test_charge_density_path_is_atomate2s_image_job(li2o_hop):
    hop, _ = li2o_hop
    flow = VaspMigrationReferenceMaker(path="chgcar").make(hop_record(hop, 5, "li2o", "x"))
    assert [j.name for j in flow.jobs][2] == "get_images_and_relax"
    assert flow.jobs[2].function_kwargs["charge_density_path"].uuid == flow.jobs[0].output.uuid
    with pytest.raises(ValueError, match="CHGCAR of the host relaxation"):
        VaspMigrationReferenceMaker(path="chgcar", relax_host=False).make(
            hop_record(hop, 5, "li2o", "x")
        )
