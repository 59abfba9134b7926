"""High-energy-state task: frame sampling, the whole flow with a VASP double, MP inputs.

The VASP double answers every VASP job with the real 32-atom GaN PBEsol run in
``vasp-outputs/GaN/Mg_Ga/bulk_sc``; its numbers belong to that run, not to the
sampled frames, so the tests check plumbing, provenance and warnings, never values.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from pymatgen.core import Lattice, Structure
from pymatgen.io.vasp import Kpoints

from softbench.ingest.base import ReferenceFormatError
from softbench.ingest.structures import read_structures
from softbench.makers.high_energy import sample_frames, strain_assignment, strain_structure
from softbench.schemas.high_energy import HighEnergySampling

GAN = Path("data/vasp-outputs/GaN/Mg_Ga/bulk_sc")
MD_STEPS = 30  # short but real CHGNet MD (frames every 2 steps from step 12)


def _trajectory(n: int, interval: int) -> list[Structure]:
    """Synthetic trajectory: frame i (MD step i*interval) has a lattice that encodes i."""
    rng = np.random.default_rng(1)
    frames = []
    for i in range(n):
        lattice = Lattice([[4.0 + 0.01 * i, 0.1, 0], [0, 5.0, 0.2], [0.3, 0, 6.0]])
        frames.append(Structure(lattice, ["Na", "Cl", "Cl"], rng.random((3, 3))))
    for i, frame in enumerate(frames):
        frame.properties["md_step"] = i * interval
    return frames


def test_frame_sampling_and_strain_arithmetic():
    sampling = HighEnergySampling(n_steps=100, equilibration=0.2, seed=3)
    assert sampling.frame_interval == 8
    steps = sampling.frame_steps()
    assert steps == [24, 32, 40, 48, 56, 64, 72, 80, 88, 96]
    assert steps[0] > sampling.equilibration * sampling.n_steps
    traj = _trajectory(100 // 8 + 1, 8)
    frames = sample_frames(traj, sampling, energies=[-float(i) for i in range(len(traj))])

    assert [f.configuration_id for f in frames] == [f"frame-{k:02d}" for k in range(10)]
    assert [f.md_step for f in frames] == steps
    assert [f.time_fs for f in frames] == [2.0 * s for s in steps]
    strains = [f.strain for f in frames]
    assert sorted(strains) == [-0.03, -0.03] + [0.0] * 6 + [0.03, 0.03]
    for frame in frames:
        source = traj[frame.md_step // 8]
        assert source.properties["md_step"] == frame.md_step
        assert frame.md_energy == -(frame.md_step // 8)
        np.testing.assert_allclose(frame.structure.frac_coords, source.frac_coords, atol=1e-12)
        np.testing.assert_allclose(
            frame.structure.lattice.matrix, (1 + frame.strain) * source.lattice.matrix, rtol=1e-12
        )
        assert math.isclose(
            frame.structure.volume, (1 + frame.strain) ** 3 * source.volume, rel_tol=1e-12
        )
        assert [s.symbol for s in frame.structure.species] == ["Na", "Cl", "Cl"]

    # deterministic for a seed, another seed picks other frames
    again = sample_frames(traj, sampling)
    assert [f.strain for f in again] == strains
    assert strain_assignment(10, 4, 0.03, 3) == strains
    assert any(strain_assignment(10, 4, 0.03, s) != strains for s in range(4, 10))
    # the input trajectory is untouched
    assert traj[3].lattice.matrix[0, 0] == pytest.approx(4.03)


def test_sampling_rejects_impossible_settings():
    with pytest.raises(ValueError, match="production steps"):
        HighEnergySampling(n_steps=10, equilibration=0.5)
    with pytest.raises(ValueError, match="n_strained"):
        HighEnergySampling(n_strained=11)
    sampling = HighEnergySampling(n_steps=100)
    with pytest.raises(ValueError, match="MD stop early"):
        sample_frames(_trajectory(5, 8), sampling)
    s = strain_structure(_trajectory(1, 1)[0], -0.03)
    assert s.lattice.abc[0] == pytest.approx(0.97 * _trajectory(1, 1)[0].lattice.abc[0])


def test_structure_inputs(shared, tmp_path):
    one = read_structures(shared / GAN / "CONTCAR.gz")
    assert list(one) == ["bulk_sc"]
    assert one["bulk_sc"].composition.reduced_formula == "GaN"
    folder = read_structures(shared / "data/vasp-outputs/GaN")
    assert folder["Mg_Ga/q=0"].composition["Mg"] == 1
    wbm = shared / "data/wbm-equilibrium/wbm-random-pbe52-equilibrium-2025.1.json.gz"
    picked = read_structures(wbm, sample=3, seed=5)
    assert len(picked) == 3
    assert picked == read_structures(wbm, sample=3, seed=5)
    ids = list(picked)
    assert list(read_structures(wbm, materials=ids[:1])) == ids[:1]
    # --dft cp2k samples only what CP2K can compute; named materials are kept as given
    from softbench.makers.cp2k.settings import VETTED_KINDS

    def vetted(s):
        return {e.symbol for e in s.composition} <= set(VETTED_KINDS)

    cp2k = read_structures(wbm, sample=2, seed=0, eligible=vetted)
    assert len(cp2k) == 2 and all(vetted(s) for s in cp2k.values())
    assert list(read_structures(wbm, materials=ids[:1], eligible=vetted)) == ids[:1]
    assert len(read_structures(wbm, eligible=vetted)) == 972  # filters --sample only
    with pytest.raises(ReferenceFormatError, match="eligible"):
        read_structures(wbm, sample=1, eligible=lambda s: False)

    bad = tmp_path / "broken.cif"
    bad.write_text("data_x\n_cell_length_a nonsense\n")
    with pytest.raises(ReferenceFormatError, match="broken.cif"):
        read_structures(bad)
    records = tmp_path / "records.json"
    records.write_text(json.dumps([{"material_id": "m1", "structure": "{'not': 'a structure'}"}]))
    with pytest.raises(ReferenceFormatError, match=r"records.json \[m1\]"):
        read_structures(records)
    with pytest.raises(ReferenceFormatError, match="nope"):
        read_structures(wbm, materials=["nope"])


@pytest.fixture(scope="module")
def gan_run(tmp_path_factory):
    """The whole flow on GaN: VASP double, real short CHGNet MD, builders."""
    from softbench.models import get_models
    from softbench.run import build_all, run_flow
    from softbench.stores import open_stores
    from softbench.testing.vasp import fake_vasp
    from softbench.workflows.high_energy import high_energy_flow, reusable, sampling_keys

    shared = Path(__import__("os").environ["SOFTBENCH_SHARED"])
    outputs = shared / GAN
    structures = read_structures(outputs / "CONTCAR.gz")
    sampling = HighEnergySampling(n_steps=MD_STEPS, seed=7)
    # an on-disk store of its own: the `stores` fixture of other tests resets memory stores
    store_dir = str(tmp_path_factory.mktemp("store"))
    stores = open_stores(store_dir)
    with pytest.MonkeyPatch.context() as mp, fake_vasp(mp, lambda name: outputs) as double:
        flow, plan = high_energy_flow(
            structures, get_models("chgnet-0.3.0"), sampling, show_progress=False
        )
        run_flow(flow, stores, root_dir=tmp_path_factory.mktemp("runs"), create_folders=True)
    counts = build_all(stores, task="high-energy")
    refs, frames = reusable(stores.jobs, sampling_keys(structures, sampling))
    yield {
        "stores": stores,
        "double": double,
        "plan": plan,
        "counts": counts,
        "sampling": sampling,
        "structures": structures,
        "refs": refs,
        "frames": frames,
        "store_dir": store_dir,
    }
    stores.close()


def _reference(run):
    from softbench.builders.pairing import load_output
    from softbench.schemas.high_energy import HighEnergyReferenceDocument

    uuid = run["refs"]["bulk_sc"]
    return HighEnergyReferenceDocument.model_validate(load_output(run["stores"].jobs, uuid))


def test_flow_end_to_end_with_vasp_double(gan_run):
    plan, sampling = gan_run["plan"], gan_run["sampling"]
    assert plan.counts == {
        "relax": 1,
        "md": 1,
        "frames": 1,
        "dft static": 10,
        "reference": 1,
        "model": 1,
    }
    assert set(gan_run["double"].runs) == {"dft relax bulk_sc"} | {
        f"dft static bulk_sc frame-{k:02d}" for k in range(10)
    }

    ref = _reference(gan_run)
    assert ref.task == "high-energy"
    assert ref.reference == "vasp:MPStaticSet"
    assert ref.state == "successful"
    assert ref.configuration_ids == [f"frame-{k:02d}" for k in range(10)]
    assert [c.metadata["md_step"] for c in ref.configurations] == sampling.frame_steps()
    strains = sorted(c.metadata["strain"] for c in ref.configurations)
    assert strains == [-0.03, -0.03] + [0.0] * 6 + [0.03, 0.03]
    assert all(c.arrays.forces is not None and c.n_atoms == 32 for c in ref.configurations)
    # The double's outputs are not the frames: every frame must carry a visible warning,
    # and the PBEsol functional of that run must be reported, not hidden.
    geometry = [w for w in ref.warnings if "differs from the sampled frame" in w]
    assert len(geometry) == 10
    assert any("PBEsol" in w for w in ref.warnings)
    assert ref.dft_settings["functional"] == "PBEsol"
    assert ref.dft_settings["input_set"] == "MPStaticSet"
    assert ref.dft_settings["potcars"] == ["Ga_d", "N"]
    assert ref.sampling == sampling
    assert set(ref.dft_dirs) == set(ref.configuration_ids)

    soft = (
        gan_run["stores"]
        .collection("softening")
        .query_one({"task": "high-energy", "model": "chgnet-0.3.0", "material_id": "bulk_sc"})
    )
    assert soft is not None, gan_run["counts"]
    # The double's VASP forces belong to other structures (plumbing only): the parity
    # is computed, and correctly flagged as carrying no signal.
    assert soft["state"] == "flagged", soft.get("reason")
    assert soft["reason"].startswith("no signal")
    assert soft["n_configurations"] == 10
    assert soft["n_components"] == 10 * 32 * 3
    assert math.isfinite(soft["softening_scale"])
    assert soft["reference_provenance"]["dft_settings"]["functional"] == "PBEsol"


def test_reuse_adds_only_model_jobs(gan_run):
    from softbench.models import get_models
    from softbench.workflows.high_energy import high_energy_flow
    from softbench.workflows.reuse import existing_predictions

    stores, sampling, structures = gan_run["stores"], gan_run["sampling"], gan_run["structures"]
    refs = gan_run["refs"]
    assert set(refs) == set(gan_run["frames"]) == {"bulk_sc"}
    models = get_models("chgnet-0.3.0")
    done = existing_predictions(stores.jobs, refs, ["chgnet-0.3.0"])
    assert done == {("bulk_sc", "chgnet-0.3.0")}
    flow, plan = high_energy_flow(structures, models, sampling, existing_references=refs, skip=done)
    assert not flow.jobs
    flow, plan = high_energy_flow(structures, models, sampling, existing_references=refs)
    assert plan.counts == {"model": 1}
    assert plan.reused_references == refs
    # other sampling settings are another benchmark: nothing stored matches them
    from softbench.workflows.high_energy import reusable, sampling_keys

    other = HighEnergySampling(n_steps=MD_STEPS, seed=8)
    assert reusable(stores.jobs, sampling_keys(structures, other)) == ({}, {})


def test_vasp_inputs_follow_mp_settings(gan_run):
    runs = gan_run["double"].runs
    n_atoms = 32
    for name, seen in runs.items():
        incar, structure = seen.incar, seen.poscar_structure
        assert len(structure) == n_atoms
        assert incar["ENCUT"] == 520
        assert incar["EDIFF"] == pytest.approx(5e-5 * n_atoms)
        assert incar["ISMEAR"] == -5
        assert incar["ISPIN"] == 2
        assert incar["PREC"] == "Accurate"
        assert incar["LORBIT"] == 11
        assert "GGA" not in incar  # PBE
        assert seen.potcar_symbols == ["Ga_d", "N"]
        density = 64 if name.startswith("dft relax") else 100
        expected = Kpoints.automatic_density_by_vol(structure, density)
        assert seen.kpoints.style == expected.style
        assert [list(k) for k in seen.kpoints.kpts] == [list(k) for k in expected.kpts]
        if name.startswith("dft relax"):
            assert (incar["ISIF"], incar["IBRION"], incar["NSW"]) == (3, 2, 99)
        else:
            assert incar["NSW"] == 0
            assert incar["LREAL"] is False
    # the statics ran on the sampled (partly strained) frames, site by site
    from softbench.builders.pairing import load_output
    from softbench.schemas.high_energy import HighEnergyFramesDocument

    stores = gan_run["stores"]
    frames = HighEnergyFramesDocument.model_validate(
        load_output(stores.jobs, gan_run["frames"]["bulk_sc"])
    )
    for frame in frames.frames:
        poscar = runs[f"dft static bulk_sc {frame.configuration_id}"].poscar_structure
        np.testing.assert_allclose(poscar.lattice.matrix, frame.structure.lattice.matrix, atol=1e-6)
        assert poscar.species == frame.structure.species
    strained = frames.strained_ids()
    assert len(strained) == 4
    volumes = {f.configuration_id: f.structure.volume for f in frames.frames}
    plain = [v for cid, v in volumes.items() if cid not in strained]
    for cid, strain in strained.items():
        assert volumes[cid] == pytest.approx((1 + strain) ** 3 * np.mean(plain), rel=0.01)


@pytest.fixture(scope="module")
def gan_taskdoc(tmp_path_factory):
    """The real bulk_sc run parsed by emmet, as atomate2 stores it (a dict)."""
    import shutil

    from emmet.core.tasks import TaskDoc

    folder = tmp_path_factory.mktemp("bulk_sc")
    for path in (Path(__import__("os").environ["SOFTBENCH_SHARED"]) / GAN).iterdir():
        if ".orig" not in path.name:
            shutil.copy(path, folder / path.name)
    return TaskDoc.from_directory(folder).model_dump(mode="json")


def test_reference_excludes_bad_runs_and_warns_on_geometry(gan_taskdoc):
    """Frames equal to the VASP structure give no warning; strained ones do; bad runs drop."""
    import copy

    from softbench.makers.high_energy import clean_structure
    from softbench.makers.vasp.high_energy import collect_reference

    crystal = clean_structure(Structure.from_dict(gan_taskdoc["output"]["structure"]))
    sampling = HighEnergySampling(n_steps=100, seed=2, relax=False)
    frames = sample_frames([crystal] * 13, sampling)
    from softbench.schemas.high_energy import HighEnergyFramesDocument

    doc = HighEnergyFramesDocument(
        material_id="GaN", sampling=sampling, sampling_key=sampling.key(crystal), frames=frames
    )
    statics: list = [copy.deepcopy(gan_taskdoc) for _ in frames]
    statics[0] = None  # the VASP job failed
    statics[1]["output"]["structure"]["sites"].pop()  # wrong atom count
    calc = statics[2]["calcs_reversed"][0]
    nelm = calc["input"]["parameters"]["NELM"]
    calc["output"]["ionic_steps"][-1]["electronic_steps"] *= nelm  # SCF hit NELM
    statics[2]["state"] = "failed"
    statics[3]["state"] = "failed"
    statics[3]["analysis"]["errors"] = ["Bad structure (atoms are too close!)"]

    ref = collect_reference(doc, statics, "GaN", sampling_key=doc.sampling_key)
    assert ref.state == "successful"
    assert set(ref.excluded_configurations) == {"frame-00", "frame-01", "frame-02", "frame-03"}
    assert "failed" in ref.excluded_configurations["frame-00"]
    assert "31 atoms" in ref.excluded_configurations["frame-01"]
    assert "not converged" in ref.excluded_configurations["frame-02"]
    assert "too close" in ref.excluded_configurations["frame-03"]
    kept = {c.configuration_id for c in ref.configurations}
    assert kept == {f"frame-{k:02d}" for k in range(4, 10)}
    warned = {w.split(":")[0] for w in ref.warnings if "differs from the sampled frame" in w}
    strained = {f.configuration_id for f in frames if f.strain} & kept
    assert warned == strained
    assert ref.source_checksum == doc.sampling_key

    none = collect_reference(doc, [None] * 10, "GaN")
    assert none.state == "unusable"
    assert "frame-05" in none.excluded_configurations
    missing = collect_reference(None, [None] * 10, "GaN")
    assert missing.state == "unusable"
    assert "no sampled frames" in missing.reason


def test_failed_md_gives_unusable_reference_not_a_crash(stores, tmp_path, shared, monkeypatch):
    """An MD model that cannot run: the reference and the softening result say why."""
    from softbench.models import get_models
    from softbench.run import build_all, run_flow
    from softbench.testing.vasp import fake_vasp
    from softbench.workflows.high_energy import high_energy_flow

    structures = read_structures(shared / GAN / "CONTCAR.gz")
    sampling = HighEnergySampling(md_model="mace-mp-0-medium", n_steps=20, relax=False)
    monkeypatch.delenv("SOFTBENCH_ENV_MACE", raising=False)
    with fake_vasp(monkeypatch, lambda name: shared / GAN) as double:
        flow, _ = high_energy_flow(structures, get_models("chgnet-0.3.0"), sampling)
        run_flow(flow, stores, root_dir=tmp_path, create_folders=True, log=False)
    assert not double.runs  # no frames, so no VASP run
    build_all(stores, task="high-energy")
    ref = stores.jobs.query_one({"output.doc_type": "reference"})["output"]
    assert ref["state"] == "unusable"
    assert "no sampled frames" in ref["reason"]
    soft = stores.collection("softening").query_one({"task": "high-energy"})
    assert soft["state"] == "failed"
    assert "no sampled frames" in soft["reason"]


def test_cli_plan_vasp_check_and_frames_only(gan_run, tmp_path, shared, monkeypatch, capsys):
    """Plan first; a clear error without VASP; --no-dft writes frames that DFT runs reuse."""
    from atomate2 import SETTINGS

    from softbench.cli import main

    contcar = str(shared / GAN / "CONTCAR.gz")
    same = ["run", "high-energy", "--structures", contcar, "--store", gan_run["store_dir"]]
    same += ["--md-steps", str(MD_STEPS), "--md-seed", "7"]
    assert main([*same, "--dry-run"]) == 0
    err = capsys.readouterr().err
    assert "1 reference(s), 0 frame set(s)" in err
    assert "jobs to run: none" in err

    monkeypatch.setattr(SETTINGS, "VASP_CMD", "srun no-such-vasp-binary_std")
    assert main([*same[:-1], "8", "--work-dir", str(tmp_path / "w")]) == 2
    err = capsys.readouterr().err
    assert "jobs to run: 1 relax, 1 md, 1 frames, 10 dft static, 1 reference, 1 model" in err
    assert "VASP is not configured" in err and "no-such-vasp-binary_std" in err
    assert not (tmp_path / "w").exists()  # nothing started

    bad = tmp_path / "bad.cif"
    bad.write_text("not a cif")
    assert main(["run", "high-energy", "--structures", str(bad), "--store", "memory"]) == 2
    assert "bad.cif" in capsys.readouterr().err

    frames_only = [*same[:6], "--md-steps", "16", "--no-dft"]
    out = tmp_path / "frames"
    argv = [*frames_only, "--frames-dir", str(out), "--work-dir", str(tmp_path / "w2")]
    assert main(argv) == 0
    written = sorted(p.name for p in (out / "bulk_sc").iterdir())
    assert written == sorted([f"frame-{k:02d}.vasp" for k in range(10)] + ["frames.json"])
    info = json.loads((out / "bulk_sc" / "frames.json").read_text())
    assert [f["md_step"] for f in info["frames"]] == HighEnergySampling(n_steps=16).frame_steps()
    assert sum(1 for f in info["frames"] if f["strain"]) == 4
    assert (
        Structure.from_file(out / "bulk_sc" / "frame-03.vasp").composition.reduced_formula == "GaN"
    )
    capsys.readouterr()
    # the DFT run with the same settings would start from these frames, not redo the MD
    assert main([*frames_only[:-1], "--no-relax", "--dry-run"]) == 0
    err = capsys.readouterr().err
    assert "0 reference(s), 1 frame set(s)" in err
    assert "jobs to run: 10 dft static, 1 reference, 1 model" in err


def test_progress_calculator_is_transparent(capsys):
    from ase.build import bulk
    from ase.calculators.emt import EMT

    from softbench.makers.high_energy import ProgressCalculator

    atoms = bulk("Cu", cubic=True).repeat(2)
    atoms.rattle(0.05, seed=1)
    reference = atoms.copy()
    reference.calc = EMT()
    atoms.calc = ProgressCalculator(EMT(), total=2, description="test MD")
    np.testing.assert_allclose(atoms.get_forces(), reference.get_forces())
    assert atoms.get_potential_energy() == pytest.approx(reference.get_potential_energy())
    np.testing.assert_allclose(atoms.get_stress(), reference.get_stress())
    atoms.positions[0, 0] += 0.01
    atoms.get_forces()
    assert atoms.calc.bar.n == 2  # one tick per new geometry, not per property
    assert "test MD" in capsys.readouterr().err


# --- the MD that runs is the MD that was asked for ---------------------------------

EMT_MODEL = "ase:ase.calculators.emt.EMT"  # a cheap MD driver for copper


@pytest.fixture
def langevin_runs(monkeypatch):
    """Every ASE Langevin atomate2 builds: its arguments, and dt, T, friction at each step."""
    import ase.md.langevin

    runs: list[dict] = []

    class RecordingLangevin(ase.md.langevin.Langevin):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.record: dict = {"kwargs": dict(kwargs), "steps": []}
            runs.append(self.record)

        def step(self, *args, **kwargs):
            self.record["steps"].append((self.dt, self.temp, self.fr))
            return super().step(*args, **kwargs)

    # atomate2 looks the class up in ase.md.langevin when the MD job runs
    monkeypatch.setattr(ase.md.langevin, "Langevin", RecordingLangevin)
    return runs


@pytest.fixture
def cli_flows(monkeypatch):
    """The flows `softbench run high-energy` builds (and then runs)."""
    import softbench.workflows.high_energy as workflow

    flows: list = []
    build = workflow.high_energy_flow

    def spy(*args, **kwargs):
        flow, plan = build(*args, **kwargs)
        flows.append(flow)
        return flow, plan

    monkeypatch.setattr(workflow, "high_energy_flow", spy)
    return flows


def _md_frames_only(tmp_path: Path, *options: str) -> dict:
    """`softbench run high-energy --no-dft` on fcc Cu, 16 EMT MD steps; frames.json back."""
    from softbench.cli import main

    copper = Structure.from_spacegroup("Fm-3m", Lattice.cubic(3.61), ["Cu"], [[0, 0, 0]])
    copper.to(filename=str(tmp_path / "Cu.cif"))
    argv = ["run", "high-energy", "--structures", str(tmp_path / "Cu.cif")]
    argv += ["--store", str(tmp_path / "store"), "--no-dft", "--md-model", EMT_MODEL]
    argv += ["--md-steps", "16", "--frames-dir", str(tmp_path / "frames")]
    argv += ["--work-dir", str(tmp_path / "runs"), *options]
    assert main(argv) == 0
    return json.loads((tmp_path / "frames" / "Cu" / "frames.json").read_text())


def _md_maker(flows: list):
    """The maker of the single MD job of the single flow built."""
    from softbench.makers.high_energy import HighEnergyMDMaker

    (flow,) = flows
    (md,) = [j for j in flow.jobs if isinstance(j.maker, HighEnergyMDMaker)]
    return md.maker


def _assert_dynamics(runs: list[dict], temperature: float, time_step_fs: float, n_steps: int):
    """One Langevin run at ``temperature`` K and ``time_step_fs`` fs, at every step."""
    from ase import units

    (run,) = runs  # NVT with atomate2's default thermostat: Langevin
    assert run["kwargs"]["temperature_K"] == pytest.approx(temperature)
    assert run["kwargs"]["timestep"] == pytest.approx(time_step_fs * units.fs)
    assert run["kwargs"]["friction"] == pytest.approx(0.01 / units.fs)  # 10 ps^-1, as VASP
    assert len(run["steps"]) == n_steps
    for dt, kt, friction in run["steps"]:
        assert dt == pytest.approx(time_step_fs * units.fs)
        assert kt == pytest.approx(units.kB * temperature)
        assert friction == pytest.approx(0.01 / units.fs)


def test_md_defaults_are_1000_K_nvt_2_fs(tmp_path, langevin_runs, cli_flows):
    """docs/high-energy.md: NVT Langevin at 1000 K, 10000 x 2 fs, by default everywhere."""
    from atomate2.ase.md import MDEnsemble

    from softbench.makers.high_energy import md_maker

    maker = md_maker(HighEnergySampling(), "x")  # the Python API's defaults
    assert maker.ensemble == MDEnsemble.nvt
    assert maker.dynamics in (None, "langevin")
    assert (maker.temperature, maker.time_step, maker.n_steps) == (1000.0, 2.0, 10000)

    info = _md_frames_only(tmp_path)  # the command line's defaults (only fewer steps)
    maker = _md_maker(cli_flows)
    assert maker.ensemble == MDEnsemble.nvt
    assert (maker.temperature, maker.time_step, maker.n_steps) == (1000.0, 2.0, 16)
    assert maker.calculator_kwargs["model"] == EMT_MODEL
    _assert_dynamics(langevin_runs, 1000.0, 2.0, 16)
    assert info["sampling"]["temperature"] == 1000.0
    assert [f["time_fs"] for f in info["frames"]] == [2.0 * f["md_step"] for f in info["frames"]]


def test_cli_temperature_and_time_step_reach_the_md(tmp_path, langevin_runs, cli_flows):
    from atomate2.ase.md import MDEnsemble

    info = _md_frames_only(tmp_path, "--temperature", "777", "--time-step", "1.5")
    maker = _md_maker(cli_flows)
    assert maker.ensemble == MDEnsemble.nvt
    assert (maker.temperature, maker.time_step, maker.n_steps) == (777.0, 1.5, 16)
    _assert_dynamics(langevin_runs, 777.0, 1.5, 16)
    assert info["sampling"]["temperature"] == 777.0
    assert info["sampling"]["time_step"] == 1.5
    assert [f["time_fs"] for f in info["frames"]] == [1.5 * f["md_step"] for f in info["frames"]]
