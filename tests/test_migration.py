"""Ion migration (ApproxNEB) end to end on an analytic potential with exact barriers.

The model is :class:`softbench.testing.calculators.CosinePath`: the energy depends only
on the x coordinate of the moving ion, E(x) = sum_k a_k/2 (1 - cos(2 pi x / p_k)), so
end points sit exactly at minima and every image energy is known in closed form. The
"DFT" reference of the paired tests is the same formula with other amplitudes,
written to a JSON file and ingested like a published ApproxNEB set.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from pymatgen.core import Lattice, Structure

from softbench.analysis.migration import barrier, barrier_statistics
from softbench.cli import main
from softbench.ingest.base import ReferenceFormatError
from softbench.ingest.migration import hop_record, read_hops, reference_document
from softbench.makers.migration import MigrationInputError, hops_from_host, predict_migration
from softbench.schemas.migration import MigrationReferenceDocument
from softbench.testing.calculators import cosine_energy, register_cosine

D = 2.5  # Å, hop length along x
TOL = 1e-6  # eV


def toy_host() -> Structure:
    """Li sites at x = 0 and x = D (cell 2D along x) and one Si that feels nothing."""
    lattice = Lattice.orthorhombic(2 * D, 6.0, 6.0)
    return Structure(lattice, ["Li", "Li", "Si"], [[0, 0, 0], [0.5, 0, 0], [0.25, 0.5, 0.5]])


def hop_reference(hop, n_images: int = 5, energies=None) -> MigrationReferenceDocument:
    record = hop_record(hop, n_images, "toy", "checksum")
    if energies is not None:
        record["energies_ev"] = energies
    return reference_document(record, "model-only" if energies is None else "analytic")


def test_kra_arithmetic():
    result = barrier([1.0, 1.3, 1.8, 1.5, 1.2])
    assert result.relative_energies == pytest.approx([-0.1, 0.2, 0.7, 0.4, 0.1], abs=1e-12)
    assert result.kra_barrier == pytest.approx(0.7, abs=1e-12)  # 1.8 - (1.0 + 1.2) / 2
    assert result.asymmetry == pytest.approx(0.2, abs=1e-12)
    assert result.forward_barrier == pytest.approx(0.8, abs=1e-12)
    assert result.reverse_barrier == pytest.approx(0.6, abs=1e-12)
    assert result.max_image == 2
    # only images count: one below both end points gives a negative KRA barrier
    assert barrier([0.0, -0.2, -0.1]).kra_barrier == pytest.approx(-0.15, abs=1e-12)
    with pytest.raises(ValueError, match="at least one image"):
        barrier([0.0, 1.0])
    with pytest.raises(ValueError, match="non-finite"):
        barrier([0.0, math.nan, 1.0])
    stats = barrier_statistics([0.5, 0.4, 0.3], [0.3, 0.5, 0.2])
    assert stats["mae_ev"] == pytest.approx(0.4 / 3)
    assert stats["mean_signed_difference_ev"] == pytest.approx(0.2 / 3)
    assert stats["fraction_underpredicted"] == pytest.approx(2 / 3)


def test_hops_of_a_host():
    hops = hops_from_host(toy_host(), "Li", "toy", limit="vacancy", min_length=0)
    assert len(hops) == 2  # through the Si plane and past it: symmetry-distinct
    for hop in hops:
        assert hop.distance == pytest.approx(D)
        assert hop.host.composition.formula == "Si1"  # both Li sites of the hop removed
        assert abs(hop.end_points[1][0] - hop.end_points[0][0]) == pytest.approx(0.5)
    (big,) = hops_from_host(toy_host(), "Li", "toy", min_length=8.0)[:1]
    assert big.host.lattice.abc == pytest.approx((10.0, 12.0, 12.0))
    assert big.host.composition["Li"] == 2 * 8 - 2  # vacancy limit: the other Li stay
    empty = hops_from_host(toy_host(), "Li", "toy", limit="empty", min_length=8.0)[0]
    assert "Li" not in empty.host.composition


@pytest.mark.parametrize(("amplitude", "tilt"), [(0.4, 0.0), (0.4, 0.1), (0.25, -0.05)])
def test_analytic_barrier_exact(amplitude, tilt):
    """Image energies, referencing and KRA barrier equal the closed form to 1e-6 eV."""
    terms = [(amplitude, D), (tilt, 2 * D)]
    model = register_cosine(f"cosine-{amplitude}-{tilt}", "Li", terms)  # names: cached per name
    for hop in hops_from_host(toy_host(), "Li", "toy", min_length=0):
        doc = predict_migration(hop_reference(hop), model)
        assert doc.state == "successful", doc.reason
        xs = [float(image[0].coords[0]) for image in doc.images]
        # the ion is fixed at the linear images i*D/6 (end points at their minima)
        sign = np.sign(xs[-1])
        assert xs == pytest.approx([sign * i * D / 6 for i in range(7)], abs=1e-9)
        exact = [cosine_energy(x, terms) for x in xs]
        assert doc.image_energies_ev == pytest.approx(exact, abs=TOL)
        mean_end = 0.5 * (exact[0] + exact[-1])
        assert doc.relative_energies_ev == pytest.approx([e - mean_end for e in exact], abs=TOL)
        assert doc.barrier_ev == pytest.approx(max(exact[1:-1]) - mean_end, abs=TOL)
        assert doc.asymmetry_ev == pytest.approx(tilt, abs=TOL)
        if tilt == 0.0:
            assert doc.barrier_ev == pytest.approx(amplitude, abs=TOL)  # the midpoint
        # atomate2's fix_two_atoms: moving ion and the atom farthest from it fixed
        flags = doc.images[3].site_properties["selective_dynamics"]
        assert flags[0] == [False, False, False]
        assert sum(f == [False, False, False] for f in flags) == 2
        assert all(r is not None and r.converged for r in doc.image_relaxations)


def test_bad_input_ion_not_in_host_and_no_vasp(tmp_path, capsys, monkeypatch):
    host = tmp_path / "host.cif"
    toy_host().to(filename=str(host))
    with pytest.raises(MigrationInputError, match="working ion Mg is not in the host"):
        hops_from_host(toy_host(), "Mg", "toy")
    code = main(
        ["run", "migration", "--host", str(host), "--ion", "Mg", "--models", "chgnet-0.3.0",
         "--store", str(tmp_path / "store")]
    )  # fmt: skip
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert err[-1].startswith("softbench: error: working ion Mg is not in the host")
    # --dft vasp where VASP is not configured: one line, nothing run
    monkeypatch.setattr("softbench.cli.high_energy.vasp_problem", lambda: "VASP is not configured")
    code = main(
        ["run", "migration", "--host", str(host), "--ion", "Li", "--dft", "vasp", "--models",
         "chgnet-0.3.0", "--min-length", "0", "--store", str(tmp_path / "store")]
    )  # fmt: skip
    assert code == 2
    assert capsys.readouterr().err.strip() == "softbench: error: VASP is not configured"


def test_end_points_collapse():
    """A potential whose only minimum is the hop midpoint pulls both end points there."""
    model = register_cosine("cosine-collapse", "Li", [(0.3, 4 * D)], origin=D / 2)
    host = Structure(
        Lattice.orthorhombic(4 * D, 6.0, 6.0), ["Li", "Li", "Si"],
        [[0, 0, 0], [0.25, 0, 0], [0.6, 0.5, 0.5]],
    )  # fmt: skip
    hop = next(h for h in hops_from_host(host, "Li", "toy", min_length=0) if h.end_points[1][0] > 0)
    doc = predict_migration(hop_reference(hop), model, options={"relax_steps": 2000})
    assert doc.state == "failed"
    assert doc.reason.startswith("end points collapsed")
    assert doc.barrier_ev is None


def test_paired_pipeline_failures_and_report(tmp_path, capsys):
    """Ingested analytic 'DFT', two models (one failing on one hop), build, query, report."""
    dft_terms, model_terms = [(0.5, D)], [(0.4, D)]
    hops = hops_from_host(toy_host(), "Li", "toy", min_length=0)
    records = []
    for hop in hops:
        record = hop_record(hop, 5, "toy", "x")
        xs = [hop.end_points[0][0] * 2 * D + (hop.end_points[1][0] - hop.end_points[0][0])
              * 2 * D * i / 6 for i in range(7)]  # fmt: skip
        record["energies_ev"] = [cosine_energy(x, dft_terms) - 100.0 for x in xs]
        records.append(record)
    data = tmp_path / "hops.json"
    data.write_text(json.dumps({"label": "analytic-dft", "hops": records}))
    good = register_cosine("cosine-0.4", "Li", model_terms)
    # fails by construction on the images of the hop towards +x only
    bad = register_cosine("cosine-fails", "Li", model_terms, fail_between=(0.3 * D, 0.7 * D))
    store = str(tmp_path / "store")
    assert main(["run", "migration", "--reference", str(data), "--models", f"{good},{bad}",
                 "--store", store]) == 0  # fmt: skip
    capsys.readouterr()
    assert main(["query", "migration", "--format", "json", "--store", store]) == 0
    docs = json.loads(capsys.readouterr().out)
    assert len(docs) == 4
    for d in docs:
        assert {"host", "hop_id", "model", "barrier_ev", "image_energies_ev"} <= set(d)
    ok = [d for d in docs if d["state"] == "successful"]
    failed = [d for d in docs if d["state"] == "failed"]
    assert len(ok) == 3 and len(failed) == 1
    assert failed[0]["model"] == bad
    assert failed[0]["reason"].startswith("hop incomplete: 3 of 5 image relaxation(s) failed")
    for d in ok:
        assert d["paired"] is True and d["relaxations_converged"] is True
        assert d["barrier_ev"] == pytest.approx(0.4, abs=TOL)
        assert d["dft_barrier_ev"] == pytest.approx(0.5, abs=TOL)
        assert d["barrier_difference_ev"] == pytest.approx(0.1, abs=TOL)
        assert d["image_energies_ev"][3] == pytest.approx(0.4, abs=TOL)
    assert main(["query", "migration-summary", "--format", "json", "--store", store]) == 0
    summaries = {s["model"]: s for s in json.loads(capsys.readouterr().out)}
    assert summaries[good]["n_paired"] == 2
    assert summaries[good]["mae_ev"] == pytest.approx(0.1, abs=TOL)
    assert summaries[good]["mean_signed_difference_ev"] == pytest.approx(0.1, abs=TOL)
    assert summaries[good]["fraction_underpredicted"] == 1.0
    assert summaries[bad]["n_failed"] == 1 and summaries[bad]["n_paired"] == 1
    # a rerun reuses the references and the successful predictions
    assert main(["run", "migration", "--reference", str(data), "--models", good,
                 "--store", store]) == 0  # fmt: skip
    assert "2 reference(s) and 2 prediction(s) reused; running 0 job(s)" in capsys.readouterr().err
    out = tmp_path / "figs"
    assert main(["report", "migration", "--out", str(out), "--store", store]) == 0
    written = capsys.readouterr().out.split()
    assert {p.split("/")[-1] for p in written} == {
        "migration_barrier_difference_hist.png",
        "migration_path_toy_hop0.png",
    }
    assert all((out / p.split("/")[-1]).stat().st_size > 10_000 for p in written)


def test_ingest_formats(tmp_path):
    hop = hops_from_host(toy_host(), "Li", "toy", min_length=0)[1]
    (tmp_path / "host.json").write_text(json.dumps(hop.host.as_dict()))
    csv_file = tmp_path / "hops.csv"
    csv_file.write_text(
        "host,hop_id,working_ion,host_structure,end_point_0,end_point_1,energies_ev\n"
        "toy,a,Li,host.json,0 0 0,0.5 0 0,-3.0;-2.8;-2.5;-2.9\n"
    )
    label, records = read_hops(csv_file)
    doc = reference_document(records[0], label)
    assert label == "file:hops" and doc.state == "successful"
    assert doc.n_images == 2 and doc.barrier_ev == pytest.approx(-2.5 - (-3.0 - 2.9) / 2)
    assert doc.hop_distance_ang == pytest.approx(D)
    # images given: host and end points come from them
    images = []
    for f in np.linspace(0, 0.5, 4):
        s = hop.host.copy()
        s.insert(0, "Li", [f, 0, 0])
        images.append(s.as_dict())
    json_file = tmp_path / "hops.json"
    json_file.write_text(json.dumps([
        {"host": "toy", "working_ion": "Li", "images": images, "energies_ev": [0, 0.2, 0.3, 0.1]},
        {"host": "toy", "working_ion": "Li", "images": images, "energies_ev": [0, 0.2]},
    ]))  # fmt: skip
    _, records = read_hops(json_file)
    first, second = (reference_document(r, "x") for r in records)
    assert first.state == "successful" and first.n_images == 2
    assert first.end_points[1] == pytest.approx([0.5, 0, 0])
    assert first.barrier_ev == pytest.approx(0.25)
    assert second.state == "unusable" and "at least one image" in second.reason
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([{"hop_id": 1}]))
    with pytest.raises(ReferenceFormatError, match="has no 'host'"):
        read_hops(bad)


def test_cp2k_path_runs_the_same_protocol(monkeypatch, tmp_path):
    """``--dft cp2k`` plumbing: CP2K runner replaced by the analytic potential (no CP2K).

    Checks the element validation gate, the ASE calculator over the runner, the label
    and the reference document; CP2K's own numbers are checked in test_cp2k.py.
    """
    from softbench.makers.cp2k import migration as cp2k_migration
    from softbench.makers.cp2k.runner import Cp2kResult
    from softbench.testing.calculators import CosinePath

    terms = [(0.3, D)]
    calls = []

    def compute(self, atoms, kpoints, eps_scf=None, stress=True):
        calc = CosinePath(ion="Li", terms=terms)
        calls.append(stress)
        a = atoms.copy()
        a.calc = calc
        return Cp2kResult(a.get_potential_energy(), a.get_forces(), np.zeros((3, 3)), True)

    monkeypatch.setattr(cp2k_migration.Cp2kRunner, "compute", compute)
    monkeypatch.setattr(cp2k_migration, "validate_elements", lambda *a: (None, {"ok": True}))
    maker = cp2k_migration.Cp2kMigrationMaker(n_images=5)
    hop = hops_from_host(toy_host(), "Li", "toy", min_length=0)[1]
    record = hop_record(hop, 5, "toy", "x")
    doc = cp2k_migration.cp2k_migration_reference(record, maker, tmp_path)
    assert doc.state == "successful", doc.reason
    assert doc.reference == f"{maker.settings.label()}-approxneb"
    assert doc.barrier_ev == pytest.approx(0.3, abs=TOL)
    assert doc.image_energies_ev[3] == pytest.approx(0.3, abs=TOL)
    assert doc.dft_settings["validation"] == {"ok": True}
    assert calls and all(calls)  # one input (with stress) for every step: one CP2K shell
    # an element without a vetted CP2K kind is refused before any CP2K run
    monkeypatch.undo()
    mg_host = Structure(Lattice.cubic(5.0), ["Mg", "O"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    record = hop_record(hops_from_host(mg_host, "Mg", "MgO", min_length=0)[0], 5, "m", "x")
    refused = cp2k_migration.cp2k_migration_reference(record, maker, tmp_path)
    assert refused.state == "unusable"
    assert refused.reason.startswith("no vetted CP2K pseudopotential/basis for O")


def blob_chgcar(host: Structure, centre, width: float = 0.6):
    """A host CHGCAR with one Gaussian blob of density (high potential) at ``centre``."""
    from pymatgen.io.vasp import Poscar
    from pymatgen.io.vasp.outputs import Chgcar

    n = (40, 48, 48)
    grid = np.meshgrid(*[np.arange(k) / k for k in n], indexing="ij")
    frac = np.stack(grid, -1) - host.lattice.get_fractional_coords(centre)
    frac -= np.round(frac)
    cart = frac @ host.lattice.matrix
    rho = 1.0 + 50 * np.exp(-(cart**2).sum(-1) / (2 * width**2))
    return Chgcar(Poscar(host), {"total": rho * host.volume})


def ion_y(structure: Structure) -> float:
    """y of the moving ion, unwrapped to (-3, 3] Å."""
    y = float(structure[0].coords[1])
    return y - 6.0 if y > 3.0 else y


def test_charge_density_guided_images(tmp_path):
    """With a CHGCAR, atomate2's pathfinder bends the ion's path around dense regions."""
    from softbench.makers.migration import linear_images

    hop = hops_from_host(toy_host(), "Li", "toy", min_length=0)[1]  # 0 -> +D along x
    ends = []
    for frac in hop.end_points:
        end = hop.host.copy()
        end.insert(0, "Li", frac)
        ends.append(end)
    chgcar = blob_chgcar(hop.host, [D / 2, 0.8, 0.0])  # density beside the straight line
    straight = linear_images(ends[0], ends[1], 5, "Li")
    guided = linear_images(ends[0], ends[1], 5, "Li", chgcar)
    assert [float(s[0].coords[1]) for s in straight] == pytest.approx([0.0] * 5, abs=1e-9)
    y = [ion_y(s) for s in guided]
    assert min(y) < -0.5  # the middle image moved away from the blob (at y = +0.8 Å)
    assert all(v < 0 for v in y)
    assert all(s.site_properties["selective_dynamics"][0] == [False] * 3 for s in guided)
    path = tmp_path / "CHGCAR"
    chgcar.write_file(str(path))
    model = register_cosine("cosine-chgcar", "Li", [(0.4, D)])
    doc = predict_migration(hop_reference(hop), model, options={"chgcar": str(path)})
    assert doc.state == "successful", doc.reason
    assert doc.settings["chgcar"] == str(path)
    assert ion_y(doc.images[3]) < -0.5  # the relaxed path kept the guided ion position
