"""The CP2K start relaxation of the high-energy task (``--dft cp2k`` without ``--no-relax``).

CP2K is replaced by EMT (energies, forces and stress of Al, which is vetted) for the
flow wiring: the MD starts from the relaxed cell, the plan counts the relaxation, the
sampling key tells relaxed and unrelaxed starts apart (stored frames are never reused
across them, and the builders never pair one's prediction with the other's frames), and
an unvetted element is refused with the reason. One test runs the real CP2K on 2-atom Si.
"""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
from pymatgen.core import Lattice, Structure

from softbench.makers.cp2k import runner as runner_module
from softbench.makers.cp2k.runner import Cp2kResult, Cp2kRunner
from softbench.makers.cp2k.settings import Cp2kSettings
from softbench.schemas.high_energy import VASP_RELAX, HighEnergySampling
from tests.test_cp2k import FAST, needs_cp2k

MID = "al4"
LABEL = Cp2kSettings().label()
EMT_A = 3.99  # EMT's fcc Al lattice constant, Å


def _al4(a: float = 4.25) -> Structure:
    """Conventional fcc Al, 6.5 % wider than EMT's equilibrium."""
    return Structure.from_spacegroup("Fm-3m", Lattice.cubic(a), ["Al"], [[0, 0, 0]])


def _emt_compute(runner, atoms, kpoints, eps_scf=None, stress=True):
    """Stands in for one CP2K run: EMT energy, forces and stress."""
    from ase.calculators.emt import EMT

    atoms = atoms.copy()
    atoms.calc = EMT()
    return Cp2kResult(
        float(atoms.get_potential_energy()),
        atoms.get_forces(),
        atoms.get_stress(voigt=False) if stress else None,
        True,
    )


@pytest.fixture
def emt_cp2k(monkeypatch):
    """Every CP2K run (validation, relaxation, statics) is an EMT calculation."""
    monkeypatch.setattr(Cp2kRunner, "compute", _emt_compute)
    monkeypatch.setattr(runner_module, "cp2k_problem", lambda ranks=None: None)


def _sampling(relax: bool) -> HighEnergySampling:
    return HighEnergySampling(n_steps=20, n_frames=4, n_strained=2, seed=1, relax=relax,
                              relaxed_with=LABEL)  # fmt: skip


def test_sampling_key_and_text_say_who_relaxed():
    s = _al4()
    unrelaxed = HighEnergySampling(relax=False)
    vasp = HighEnergySampling()
    cp2k = HighEnergySampling(relaxed_with=LABEL)

    def old_key(sampling):  # the key before ``relaxed_with`` existed
        data = sampling.model_dump(mode="json")
        del data["relaxed_with"]
        digest = hashlib.sha256(json.dumps(data, sort_keys=True).encode())
        from softbench.schemas.configuration import structure_hash

        digest.update(structure_hash(s).encode())
        return digest.hexdigest()

    # stored VASP-relaxed and unrelaxed frames keep their keys
    assert vasp.key(s) == old_key(vasp) and unrelaxed.key(s) == old_key(unrelaxed)
    assert HighEnergySampling(relax=False, relaxed_with=LABEL).key(s) == unrelaxed.key(s)
    keys = {unrelaxed.key(s), vasp.key(s), cp2k.key(s)}
    assert len(keys) == 3  # a CP2K-relaxed start is neither
    other = Cp2kSettings(cutoff_ry=600).label()
    assert HighEnergySampling(relaxed_with=other).key(s) != cp2k.key(s)
    assert "from the VASP MPRelaxSet-relaxed structure" in vasp.describe()
    assert f"from the CP2K-relaxed ({LABEL}) structure" in cp2k.describe()
    assert "from the input structure" in HighEnergySampling(relax=False).describe()
    assert vasp.relaxed_with == VASP_RELAX
    with pytest.raises(ValueError, match="relaxed_with"):
        HighEnergySampling(relaxed_with="qe:pw")


def test_relaxation_with_a_stand_in_reaches_the_equilibrium(emt_cp2k, tmp_path):
    from softbench.makers.cp2k.relax import cp2k_relax

    doc = cp2k_relax(_al4(), MID, directory=tmp_path)
    assert doc.record.converged and doc.record.max_force <= 0.01
    assert doc.record.max_stress_gpa is not None and doc.record.max_stress_gpa < 0.5
    assert 0 < doc.record.steps <= 50
    assert doc.relaxed_lattice[0] == pytest.approx(EMT_A, abs=0.01)
    assert doc.input_lattice == pytest.approx([4.25] * 3)
    assert doc.volume_change < 0
    assert doc.structure.get_space_group_info()[0] == "Fm-3m"  # symmetry kept
    assert doc.kpoints == list(Cp2kSettings().kpoints(_al4().lattice.matrix))
    assert doc.reference == LABEL and doc.dft_settings["validation"]["force_sum"]


def test_unvetted_element_and_unconverged_scf_are_refused(monkeypatch, tmp_path):
    from softbench.makers.cp2k.relax import Cp2kRelaxError, cp2k_relax

    xe = Structure(Lattice.cubic(4.0), ["Xe", "Al"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    with pytest.raises(
        Cp2kRelaxError, match="refused: no vetted CP2K pseudopotential/basis for Xe"
    ):
        cp2k_relax(xe, "XeAl", directory=tmp_path)
    monkeypatch.setattr(runner_module, "cp2k_problem", lambda ranks=None: "CP2K is missing")
    with pytest.raises(Cp2kRelaxError, match="refused: CP2K is missing"):
        cp2k_relax(_al4(), MID, directory=tmp_path)

    monkeypatch.setattr(runner_module, "cp2k_problem", lambda ranks=None: None)

    def unconverged(runner, atoms, kpoints, eps_scf=None, stress=True):
        result = _emt_compute(runner, atoms, kpoints, eps_scf, stress)
        result.converged = not stress  # the validation (no stress) converges, the relaxation not
        return result

    monkeypatch.setattr(Cp2kRunner, "compute", unconverged)
    with pytest.raises(Cp2kRelaxError, match="failed: CP2K SCF did not converge"):
        cp2k_relax(_al4(), MID, directory=tmp_path)


def _run(stores, tmp_path, sampling, structures, models=(), **kwargs):
    from softbench.models import get_models
    from softbench.run import run_flow
    from softbench.workflows.high_energy import high_energy_flow, reusable, sampling_keys

    refs, frames = reusable(stores.jobs, sampling_keys(structures, sampling), LABEL)
    flow, plan = high_energy_flow(
        structures,
        get_models(",".join(models)) if models else [],
        sampling,
        label=LABEL,
        existing_references=refs,
        existing_frames=frames,
        cp2k=Cp2kSettings(),
        show_progress=False,
        **kwargs,
    )
    run_flow(flow, stores, root_dir=tmp_path, create_folders=True, log=False)
    return plan


def _outputs(stores, doc_type, **criteria):
    from softbench.builders.pairing import load_output

    query = {"output.doc_type": doc_type, **{f"output.{k}": v for k, v in criteria.items()}}
    return {d["uuid"]: load_output(stores.jobs, d["uuid"]) for d in stores.jobs.query(query)}


@pytest.mark.slow
def test_flow_md_starts_from_the_cp2k_relaxed_cell(stores, emt_cp2k, tmp_path):
    from softbench.builders.pairing import load_output, pair_configurations
    from softbench.run import build_all
    from softbench.schemas.high_energy import HighEnergyReferenceDocument
    from softbench.schemas.prediction import PredictionTaskDocument
    from softbench.workflows.high_energy import reusable, sampling_keys

    structures = {MID: _al4()}
    # --no-relax first: the old flow, MD from the input cell
    plan = _run(stores, tmp_path / "a", _sampling(False), structures, ["chgnet-0.3.0"])
    assert plan.counts == {"md": 1, "frames": 1, "cp2k statics": 1, "reference": 1, "model": 1}
    # the relaxed run reuses neither those frames nor that reference
    keys = sampling_keys(structures, _sampling(True))
    assert reusable(stores.jobs, keys, LABEL) == ({}, {})
    plan = _run(stores, tmp_path / "b", _sampling(True), structures, ["chgnet-0.3.0"])
    assert plan.counts == {
        "cp2k relax": 1,
        "md": 1,
        "frames": 1,
        "cp2k statics": 1,
        "reference": 1,
        "model": 1,
    }
    (relaxed,) = [
        Structure.from_dict(d["output"]["structure"])
        for d in stores.jobs.query({"metadata.softbench.step": "cp2k relax"})
    ]
    assert relaxed.lattice.a == pytest.approx(EMT_A, abs=0.01)
    frames = {f["sampling_key"]: f for f in _outputs(stores, "high_energy_frames").values()}
    assert set(frames) == {_sampling(False).key(_al4()), keys[MID]}
    for key, doc in frames.items():
        cell = relaxed.lattice if key == keys[MID] else _al4().lattice
        for frame in doc["frames"]:
            if frame["strain"] == 0:  # NVT: the MD cell is the start cell
                lattice = Structure.from_dict(frame["structure"]).lattice
                assert np.allclose(lattice.matrix, cell.matrix, atol=1e-6)

    refs = {
        u: HighEnergyReferenceDocument.model_validate(d)
        for u, d in _outputs(stores, "reference").items()
    }
    by_key = {r.sampling_key: (u, r) for u, r in refs.items()}
    assert set(by_key) == set(frames)
    new_uuid, new_ref = by_key[keys[MID]]
    assert new_ref.state == "successful" and new_ref.reference == LABEL
    assert new_ref.dft_settings["relaxation"]["converged"] is True
    assert "CP2K-relaxed" in new_ref.source
    old_uuid, old_ref = by_key[_sampling(False).key(_al4())]
    assert "relaxation" not in old_ref.dft_settings
    # the same stored data answers the unrelaxed run with its own frames and reference only
    old_keys = sampling_keys(structures, _sampling(False))
    old_frames = _frames_uuid(stores, old_keys[MID])
    assert reusable(stores.jobs, old_keys, LABEL) == ({MID: old_uuid}, {MID: old_frames})

    # the builders pair the newest prediction with its own reference: never both frame sets
    build_all(stores, task="high-energy")
    (soft,) = stores.collection("softening").query({"task": "high-energy", "material_id": MID})
    assert soft["reference_uuid"] == new_uuid and soft["n_configurations"] == 4
    # a prediction on the other sampling's frames never pairs with these (geometry differs)
    preds = {
        d["output"]["reference_uuid"]: PredictionTaskDocument.model_validate(
            load_output(stores.jobs, d["uuid"])
        )
        for d in stores.jobs.query({"output.doc_type": "prediction"})
    }
    paired = pair_configurations(new_ref, preds[old_uuid])
    assert paired.configuration_ids == [] and len(paired.excluded) == 4
    assert all("geometry" in r for r in paired.excluded.values())


def _frames_uuid(stores, key):
    """uuid of the frames document of a sampling key."""
    frames = _outputs(stores, "high_energy_frames")
    (uuid,) = [u for u, d in frames.items() if d["sampling_key"] == key]
    return uuid


def test_flow_refuses_an_unvetted_element_with_an_unusable_reference(stores, tmp_path):
    from softbench.workflows.high_energy import high_energy_flow

    cu = Structure.from_spacegroup("Fm-3m", Lattice.cubic(3.6), ["Cu"], [[0, 0, 0]])
    plan = _run(stores, tmp_path, _sampling(True), {"cu": cu})
    assert plan.counts["cp2k relax"] == 1
    assert not list(stores.jobs.query({"metadata.softbench.step": "md"}))  # never ran
    (ref,) = _outputs(stores, "reference").values()
    assert ref["state"] == "unusable"
    assert "CP2K relaxation" in ref["reason"] and "no sampled frames" in ref["reason"]
    # the sampling must say the flow's relaxation
    with pytest.raises(ValueError, match="relaxed_with"):
        high_energy_flow({"cu": cu}, [], HighEnergySampling(), cp2k=Cp2kSettings())
    with pytest.raises(ValueError, match="relaxed_with"):
        high_energy_flow({"cu": cu}, [], _sampling(True))  # VASP flow, CP2K sampling


def test_cli_cp2k_relaxes_unless_no_relax(shared, capsys, tmp_path):
    from softbench.cli import main

    si = tmp_path / "si.cif"
    _al4().to(filename=str(si))
    argv = ["run", "high-energy", "--structures", str(si), "--store", "memory", "--dft", "cp2k"]
    argv += ["--md-steps", "20", "--dry-run"]
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert "jobs to run: 1 cp2k relax, 1 md, 1 frames, 1 cp2k statics, 1 reference, 1 model" in err
    assert "from the CP2K-relaxed (cp2k:" in err
    assert main([*argv, "--no-relax"]) == 0
    err = capsys.readouterr().err
    assert "jobs to run: 1 md, 1 frames, 1 cp2k statics, 1 reference, 1 model" in err
    assert "from the input structure" in err


def test_cost_estimate_counts_the_relaxation():
    from softbench.makers.cp2k.runner import RELAX_RUNS, estimated_seconds

    si8 = Structure(Lattice.cubic(5.43), ["Si"] * 8, np.random.default_rng(0).random((8, 3)))
    plain = estimated_seconds(si8, Cp2kSettings(), 10, 2)
    relaxed = estimated_seconds(si8, Cp2kSettings(), 10, 2, relax=True)
    per_frame = (plain - 26 * 3) / 10
    assert relaxed == pytest.approx(plain + RELAX_RUNS * per_frame + 26 * 3)


@needs_cp2k
def test_real_cp2k_relaxes_two_atom_si(tmp_path):
    """Real CP2K (low cutoff, coarse k-points): a compressed Si cell expands, symmetric."""
    from softbench.makers.cp2k.relax import cp2k_relax

    si = Structure.from_spacegroup("Fd-3m", Lattice.cubic(5.30), ["Si"], [[0, 0, 0]])
    si = si.get_primitive_structure()
    doc = cp2k_relax(si, "si2", FAST, fmax=0.05, steps=15, ranks=1, directory=tmp_path)
    assert doc.record.steps >= 1 and doc.volume_change > 0.01
    assert doc.record.max_force < 1e-3  # symmetry keeps the diamond sites force-free
    assert doc.structure.get_space_group_info()[0] == "Fd-3m"
