"""CP2K statics for the high-energy task: settings, validation, references, no mixing.

Tests marked ``needs_cp2k`` run the real ``cp2k.psmp`` (``make test`` installs it with
apt where it can) on 2-atom cells at a low cutoff and few k-points, so they take tens
of seconds; they are skipped, saying why, where CP2K is absent. The flow test uses a
CP2K double (springs instead of DFT) to prove that VASP and CP2K references of one
material stay apart.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from pymatgen.core import Lattice, Structure

from softbench.makers.cp2k.settings import (
    HASHED_ELEMENTS,
    VETTED_KINDS,
    Cp2kKind,
    Cp2kSettings,
)
from softbench.schemas.high_energy import (
    HighEnergyFramesDocument,
    HighEnergySampling,
    SampledFrame,
)

needs_cp2k = pytest.mark.skipif(
    shutil.which("cp2k.psmp") is None,
    reason="CP2K is not installed (cp2k.psmp not on PATH): `apt-get install cp2k` "
    "(make test does it where apt works), conda-forge cp2k, or module load cp2k",
)
# cheap but real: low cutoff and coarse k-points (the checks hold at any settings)
FAST = Cp2kSettings(cutoff_ry=300, rel_cutoff_ry=40, kspacing=1.2)
GAN = Path("data/vasp-outputs/GaN/Mg_Ga/bulk_sc")


def _frames(structures: list[Structure], material_id: str = "m") -> HighEnergyFramesDocument:
    sampling = HighEnergySampling(n_steps=100, n_frames=len(structures), n_strained=0, relax=False)
    frames = [
        SampledFrame(configuration_id=f"frame-{k:02d}", md_step=k, time_fs=2.0 * k, structure=s)
        for k, s in enumerate(structures)
    ]
    return HighEnergyFramesDocument(
        material_id=material_id,
        sampling=sampling,
        sampling_key=sampling.key(structures[0]),
        frames=frames,
        formula=structures[0].composition.reduced_formula,
    )


def _si2(shift: float = 0.0) -> Structure:
    s = Structure(
        Lattice([[0, 2.715, 2.715], [2.715, 0, 2.715], [2.715, 2.715, 0]]),
        ["Si", "Si"],
        [[0.01, -0.02, 0.03], [1.37, 1.33, 1.40]],
        coords_are_cartesian=True,
    )
    s.translate_sites([0], [shift, 0, 0], frac_coords=False, to_unit_cell=False)
    return s


def test_settings_label_kpoints_and_input():
    s = Cp2kSettings()
    label = s.label()
    assert label.startswith("cp2k:pbe-dzvp-500ry-") and len(label.rsplit("-", 1)[1]) == 8
    assert Cp2kSettings(cutoff_ry=600).label() != label
    broken = {**VETTED_KINDS, "Mg": Cp2kKind(potential="GTH-PBE-q10", basis="DZVP-MOLOPT-SR-GTH")}
    assert Cp2kSettings(kinds=broken).label() != label  # a kind change is another reference
    # the label of the first vetted table: stored CP2K references stay reusable
    assert label == "cp2k:pbe-dzvp-500ry-902fe762"
    first = {e: k for e, k in VETTED_KINDS.items() if e in HASHED_ELEMENTS}
    assert Cp2kSettings(kinds=first).label() == label  # vetting an element adds, keeps labels
    sn14 = {**VETTED_KINDS, "Sn": Cp2kKind(potential="GTH-PBE-q14", basis="DZVP-MOLOPT-SR-GTH")}
    assert Cp2kSettings(kinds=sn14).label() != label
    si8 = Structure(Lattice.cubic(5.43), ["Si"] * 8, np.random.default_rng(0).random((8, 3)))
    assert s.kpoints(si8.lattice.matrix) == (4, 4, 4)
    assert s.kpoints(si8.lattice.matrix * 1.03) == (4, 4, 4)
    text = s.input(["Mg", "Si"], (2, 2, 2), 12)
    assert "BASIS_SET_FILE_NAME BASIS_MOLOPT_UCL" in text
    assert "POTENTIAL GTH-PBE-q2" in text and "SCHEME MONKHORST-PACK 2 2 2" in text
    assert "KPOINTS" not in s.input(["Si"], None, 8)
    assert s.n_electrons(["Mg", "Si", "Si"]) == 10
    assert s.missing(["Si", "Xe"]) == ["Xe"]


def test_unvetted_element_and_missing_cp2k_are_refused(monkeypatch, tmp_path):
    from softbench.makers.cp2k import runner
    from softbench.makers.cp2k.high_energy import cp2k_reference
    from softbench.makers.cp2k.runner import cp2k_problem

    xe = Structure(Lattice.cubic(4.0), ["Xe", "Si"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    doc = cp2k_reference(_frames([xe]), "XeSi", directory=tmp_path)
    assert doc.state == "unusable"
    assert "no vetted CP2K pseudopotential/basis for Xe" in doc.reason
    assert doc.reference == Cp2kSettings().label()

    monkeypatch.setattr(runner, "CP2K_EXECUTABLE", "no-such-cp2k.psmp")
    problem = cp2k_problem()
    assert "apt-get install cp2k" in problem and "conda-forge" in problem
    assert "module load" in problem and "\n" not in problem
    doc = cp2k_reference(_frames([_si2()]), "Si", directory=tmp_path)
    assert doc.state == "unusable" and "not installed" in doc.reason
    monkeypatch.setenv("SOFTBENCH_CP2K_RANKS", "0")
    assert "SOFTBENCH_CP2K_RANKS" in cp2k_problem()
    monkeypatch.setenv("SOFTBENCH_CP2K_RANKS", "1")
    assert runner.cp2k_command() == "no-such-cp2k.psmp -s"


def test_validation_cell_is_small_and_distorted():
    from softbench.makers.cp2k.high_energy import validation_cell

    one = validation_cell(["Si"])
    assert one.get_chemical_symbols() == ["Si", "Si"]
    four = validation_cell(["Ga", "As", "Li", "O"])
    assert sorted(four.get_chemical_symbols()) == ["As", "Ga", "Li", "O"]
    d = four.get_all_distances(mic=True)
    assert d[np.triu_indices(4, 1)].min() > 1.5


class _Springs:
    """A CP2K double: springs to the structure's own lattice sites (checks plumbing)."""

    def __init__(self, not_converged: set[int] | None = None):
        self.calls = 0
        self.not_converged = not_converged or set()

    def install(self, monkeypatch, module):
        """Replace real CP2K runs (and the check that CP2K is installed) by this double."""

        def compute(runner, atoms, kpoints, eps_scf=None, stress=True):
            return self.compute(atoms, kpoints, eps_scf, stress)

        from softbench.makers.cp2k import runner

        for where in {module, runner}:
            monkeypatch.setattr(where, "cp2k_problem", lambda ranks=None: None)
        monkeypatch.setattr(module.Cp2kRunner, "compute", compute)

    def compute(self, atoms, kpoints, eps_scf=None, stress=True):
        from softbench.makers.cp2k.runner import Cp2kResult

        self.calls += 1
        frac = atoms.get_scaled_positions(wrap=False)
        disp = (frac - np.round(frac * 4) / 4) @ np.asarray(atoms.cell)
        disp -= disp.mean(axis=0)
        energy = 0.5 * float((disp**2).sum())
        return Cp2kResult(
            energy,
            -disp,
            np.zeros((3, 3)) if stress else None,
            converged=self.calls not in self.not_converged,
        )


def test_unconverged_frame_is_excluded(monkeypatch, tmp_path):
    from softbench.makers.cp2k import high_energy

    double = _Springs(not_converged={5})  # 3 validation runs, then frames 0, 1, 2
    double.install(monkeypatch, high_energy)
    doc = high_energy.cp2k_reference(
        _frames([_si2(), _si2(0.02), _si2(0.04)]), "Si", directory=tmp_path
    )
    assert doc.state == "successful"
    assert doc.configuration_ids == ["frame-00", "frame-02"]
    assert "SCF not converged" in doc.excluded_configurations["frame-01"]
    assert doc.dft_settings["validation"]["force_sum"] == pytest.approx([0, 0, 0], abs=1e-12)


@needs_cp2k
def test_real_cp2k_forces_are_ev_per_angstrom(tmp_path):
    """Real CP2K through the maker's function: zero-sum, and forces = -dE/dx of the doc."""
    from softbench.makers.cp2k.high_energy import cp2k_reference

    h = 0.01
    doc = cp2k_reference(
        _frames([_si2(), _si2(h), _si2(-h)]), "Si", settings=FAST, directory=tmp_path
    )
    assert doc.state == "successful", doc.reason
    assert doc.reference == FAST.label()
    assert not doc.excluded_configurations
    base, plus, minus = doc.configurations
    forces = base.forces
    assert forces.shape == (2, 3)
    np.testing.assert_allclose(forces.sum(axis=0), 0, atol=5e-3)
    assert np.abs(forces).max() > 0.1  # a distorted cell: real forces
    finite = -(plus.energy - minus.energy) / (2 * h)  # eV / Å
    assert finite == pytest.approx(forces[0, 0], rel=0.01, abs=5e-3)
    stress = np.asarray(base.arrays.stress)
    assert stress.shape == (3, 3)
    np.testing.assert_allclose(stress, stress.T, atol=1e-6)
    assert np.abs(stress).max() < 1.0  # eV/Å³ (a GPa or kbar value would be far larger)
    assert doc.dft_settings["validation"]["fd_force"] == pytest.approx(
        doc.dft_settings["validation"]["analytic_force"], rel=0.01, abs=5e-3
    )
    assert base.metadata["kpoints"] == list(FAST.kpoints(_si2().lattice.matrix))


@needs_cp2k
def test_real_cp2k_validation_refuses_a_broken_pseudopotential(tmp_path):
    """Mg GTH-PBE-q10 with the SR MOLOPT basis breaks the zero-sum rule: refused."""
    from softbench.makers.cp2k.high_energy import cp2k_reference

    broken = FAST.model_copy(
        update={
            "cutoff_ry": 500.0,
            "kinds": {"Mg": Cp2kKind(potential="GTH-PBE-q10", basis="DZVP-MOLOPT-SR-GTH")},
        }
    )
    mg = Structure(Lattice.hexagonal(3.21, 5.21), ["Mg", "Mg"], [[0, 0, 0], [1 / 3, 2 / 3, 0.5]])
    doc = cp2k_reference(_frames([mg]), "Mg", settings=broken, directory=tmp_path)
    assert doc.state == "unusable"
    assert "do not sum to zero" in doc.reason and "GTH-PBE-q10" in doc.reason
    assert not doc.configurations


@needs_cp2k
def test_real_cp2k_unconverged_scf_is_detected(tmp_path):
    from softbench.makers.cp2k.runner import Cp2kRunner

    atoms = __import__("pymatgen.io.ase", fromlist=["AseAtomsAdaptor"]).AseAtomsAdaptor.get_atoms(
        _si2()
    )
    with Cp2kRunner(FAST.model_copy(update={"max_scf": 2}), tmp_path) as runner:
        result = runner.compute(atoms, None, 1e-9, stress=False)
    assert not result.converged


def test_vasp_and_cp2k_references_never_mix(stores, shared, tmp_path, monkeypatch):
    """Same material, same frames: a VASP and a CP2K reference give two softening docs."""
    from softbench.ingest.structures import read_structures
    from softbench.makers.cp2k import high_energy as cp2k_side
    from softbench.models import get_models
    from softbench.run import build_all, run_flow
    from softbench.testing.vasp import fake_vasp
    from softbench.workflows.high_energy import high_energy_flow, reusable, sampling_keys

    structures = read_structures(shared / GAN / "CONTCAR.gz")
    sampling = HighEnergySampling(n_steps=20, seed=3, relax=False)
    models = get_models("chgnet-0.3.0")
    with fake_vasp(monkeypatch, lambda name: shared / GAN):
        flow, _ = high_energy_flow(structures, models, sampling, show_progress=False)
        run_flow(flow, stores, root_dir=tmp_path / "vasp", create_folders=True, log=False)

    # GaN is not vetted: the double stands in for CP2K, so any kinds do for the plumbing
    gan = {"Ga": Cp2kKind(potential="GTH-PBE-q13", basis="DZVP-MOLOPT-SR-GTH")}
    gan["N"] = Cp2kKind(potential="GTH-PBE-q5", basis="DZVP-MOLOPT-SR-GTH")
    settings = Cp2kSettings(kinds={**VETTED_KINDS, **gan})
    keys = sampling_keys(structures, sampling)
    refs, frames = reusable(stores.jobs, keys, settings.label())
    assert refs == {} and set(frames) == {"bulk_sc"}  # the VASP reference is not reused
    double = _Springs()
    double.install(monkeypatch, cp2k_side)
    flow, plan = high_energy_flow(
        structures,
        models,
        sampling,
        label=settings.label(),
        existing_frames=frames,
        cp2k=settings,
        show_progress=False,
    )
    assert plan.counts == {"cp2k statics": 1, "reference": 1, "model": 1}
    run_flow(flow, stores, root_dir=tmp_path / "cp2k", create_folders=True, log=False)
    build_all(stores, task="high-energy")

    docs = list(
        stores.collection("softening").query({"task": "high-energy", "material_id": "bulk_sc"})
    )
    assert sorted(d["reference"] for d in docs) == sorted(["vasp:MPStaticSet", settings.label()])
    assert len({d["reference_uuid"] for d in docs}) == 2
    by_ref = {d["reference"]: d for d in docs}
    assert by_ref[settings.label()]["n_configurations"] == 10
    assert by_ref[settings.label()]["reference_provenance"]["dft_settings"]["code"] == "cp2k"
    # CP2K's total energies have their own zero: only the offset-free energy MAE is kept
    assert by_ref[settings.label()]["energy_mae_per_atom"] is None
    assert by_ref[settings.label()]["relative_energy_mae_per_atom"] is not None
    vasp = by_ref["vasp:MPStaticSet"]
    assert vasp["relative_energy_mae_per_atom"] <= vasp["energy_mae_per_atom"] + 1e-12
    summaries = list(stores.collection("softening_summary").query({"task": "high-energy"}))
    assert sorted(s["reference"] for s in summaries) == sorted(
        ["vasp:MPStaticSet", settings.label()]
    )
    with pytest.raises(ValueError, match="relaxed_with is 'vasp:MPRelaxSet'"):
        high_energy_flow(structures, models, HighEnergySampling(n_steps=20), cp2k=settings)


def test_cli_dft_cp2k_says_how_to_install(monkeypatch, shared, capsys, tmp_path):
    from softbench.cli import main
    from softbench.makers.cp2k import runner

    monkeypatch.setattr(runner, "CP2K_EXECUTABLE", "no-such-cp2k.psmp")
    argv = ["run", "high-energy", "--structures", str(shared / GAN / "CONTCAR.gz")]
    argv += [
        "--store",
        "memory",
        "--dft",
        "cp2k",
        "--md-steps",
        "20",
        "--work-dir",
        str(tmp_path / "w"),
    ]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "jobs to run: 1 cp2k relax, 1 md, 1 frames, 1 cp2k statics" in err
    line = [x for x in err.splitlines() if x.startswith("softbench: error:")]
    assert len(line) == 1 and "apt-get install cp2k" in line[0]
    assert not (tmp_path / "w").exists()
    assert main([*argv, "--no-relax"]) == 2  # the MD from the input structure, as before
    err = capsys.readouterr().err
    assert "1 cp2k statics" in err and "relax" not in err.split("jobs to run:")[1].split("\n")[0]
    assert "apt-get install cp2k" in err
    assert main([*argv, "--label", "mine"]) == 2
    assert "label comes from its settings" in capsys.readouterr().err


def test_cost_estimate_warns_for_large_cells(capsys):
    from softbench.cli.high_energy import _warn_cp2k_cost
    from softbench.makers.cp2k.runner import WARN_SECONDS, estimated_seconds

    si8 = Structure(Lattice.cubic(5.43), ["Si"] * 8, np.random.default_rng(0).random((8, 3)))
    small = estimated_seconds(si8, Cp2kSettings(), 4, 2)
    assert 26 * 4 < small < WARN_SECONDS  # 4 frames at the calibration point + validation
    assert estimated_seconds(si8, Cp2kSettings(), 4, 4) < small  # more ranks, less time
    big = si8 * (2, 2, 2)
    assert estimated_seconds(big, Cp2kSettings(), 10, 2) > WARN_SECONDS
    _warn_cp2k_cost({"si8": si8, "si64": big}, Cp2kSettings(), 10)
    err = capsys.readouterr().err
    assert "si64 (64 atoms, 256 valence electrons" in err and "si8" not in err


@needs_cp2k
def test_real_cp2k_phonons_reach_the_phonon_builder(stores, tmp_path, monkeypatch):
    """CP2K finite displacements -> phonons-fixed reference -> model job -> phonon docs."""
    from softbench.makers.cp2k.phonons import cp2k_phonon_reference
    from softbench.models import get_models
    from softbench.run import build_all, run_flow
    from softbench.testing.calculators import register_springs
    from softbench.workflows.phonons import cp2k_phonon_flow

    settings = Cp2kSettings(cutoff_ry=300, rel_cutoff_ry=40, kspacing=0.5)
    si = Structure.from_spacegroup("Fd-3m", Lattice.cubic(5.43), ["Si"], [[0, 0, 0]])
    monkeypatch.chdir(tmp_path)  # CP2K takes at most 80 characters of run-folder path
    doc = cp2k_phonon_reference(si, "Si", settings, min_length=3.0)
    assert doc.state == "successful", doc.reason
    assert doc.reference == settings.label() and doc.task == "phonons-fixed"
    assert len(doc.configurations) == 1  # diamond: one symmetry-distinct displacement
    (disp,) = doc.configurations
    assert len(disp.structure) == 2  # the primitive cell (3.84 Å >= 3 Å)
    np.testing.assert_allclose(disp.forces.sum(axis=0), 0, atol=5e-3)
    assert np.abs(disp.forces).max() > 0.01  # 0.01 Å displacement: real restoring force

    model = register_springs(1.0)
    flow = cp2k_phonon_flow({"Si": si}, get_models(model), settings, ["fixed"], 3.0)
    run_flow(flow, stores, root_dir=tmp_path / "run", create_folders=True, log=False)
    build_all(stores, task="phonons-fixed")
    (ph,) = list(stores.collection("phonons").query({"material_id": "Si"}))
    assert ph["reference"] == settings.label() and ph["model"] == model
    assert ph["dft_max_freq_thz"] > 5  # Si's Γ optical mode (15.5 THz measured)


def test_cli_phonons_structures_need_dft_cp2k(capsys, tmp_path):
    from softbench.cli import main

    si = tmp_path / "Si.cif"
    Structure.from_spacegroup("Fd-3m", Lattice.cubic(5.43), ["Si"], [[0, 0, 0]]).to(
        filename=str(si)
    )
    argv = ["run", "phonons", "--structures", str(si), "--models", "chgnet-0.3.0"]
    assert main([*argv, "--store", "memory"]) == 2
    assert "--structures and --dft cp2k go together" in capsys.readouterr().err
