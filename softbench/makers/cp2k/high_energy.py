"""CP2K side of the high-energy benchmark: all frames of one material in one job.

:class:`Cp2kHighEnergyMaker` runs CP2K through ASE's CP2K calculator (one
``cp2k.psmp -s`` shell under ``mpiexec`` per input, reused for every frame) and
writes the same ``HighEnergyReferenceDocument`` as the VASP path: forces in eV/Å,
stress in eV/Å³ with ASE's sign (tensile > 0), energy (Mermin free energy) in eV.

Before the frames run, the material's element set is validated on a small distorted
cell (:func:`validate_elements`): the forces must sum to zero and one analytic force
component must match a central finite difference of the energy. A set that fails, or
an element without a vetted kind (:data:`~softbench.makers.cp2k.settings.VETTED_KINDS`),
makes the reference ``unusable`` with the reason; a frame whose SCF did not converge
is excluded with the reason.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from ase import Atoms
from ase.data import atomic_numbers, covalent_radii
from jobflow import Maker, job
from pymatgen.core import Structure
from pymatgen.io.ase import AseAtomsAdaptor

from softbench.makers.cp2k.settings import DEFAULT_RANKS, Cp2kSettings
from softbench.schemas.configuration import ARRAYS_KEY, Configuration
from softbench.schemas.high_energy import HighEnergyFramesDocument, HighEnergyReferenceDocument

CP2K_EXECUTABLE = "cp2k.psmp"
NOT_CONVERGED = "SCF run NOT converged"
SUM_TOLERANCE = 5e-3  # eV/Å: largest |sum of forces| component
FD_STEP = 0.01  # Å
FD_ABS_TOLERANCE = 5e-3  # eV/Å
FD_REL_TOLERANCE = 0.01


class Cp2kError(RuntimeError):
    """CP2K could not compute a configuration."""


def cp2k_ranks() -> int:
    """MPI ranks (``SOFTBENCH_CP2K_RANKS``, default 2)."""
    value = os.environ.get("SOFTBENCH_CP2K_RANKS", "").strip()
    if not value:
        return DEFAULT_RANKS
    ranks = int(value)
    if ranks < 1:
        raise ValueError(f"SOFTBENCH_CP2K_RANKS must be >= 1, got {value!r}")
    return ranks


#: Measured: 8-atom Si (32 valence electrons, 4x4x4 k-points) took 26 s per frame on
#: 2 ranks of an idle 2-core machine (README). Cost is taken as electrons^3 x k-points.
CALIBRATION = (26.0, 32, 64, 2)  # seconds, electrons, k-points, ranks
WARN_SECONDS = 3600.0  # per material: warn above this estimate


def estimated_seconds(structure: Any, settings: Cp2kSettings, n_frames: int, ranks: int) -> float:
    """Rough CP2K wall time of one material (validation + frames), from :data:`CALIBRATION`.

    Cubic in valence electrons and linear in k-points, scaled by ranks; SCF step counts
    and hot, strained frames vary it by a factor of ~2 either way.
    """
    seconds, electrons, kpoints, calibration_ranks = CALIBRATION
    symbols = [site.specie.symbol for site in structure]
    missing = settings.missing(symbols)
    if missing:
        return 0.0  # refused by the validation, which is quick
    n_el = settings.n_electrons(symbols)
    n_k = int(np.prod(settings.kpoints(structure.lattice.matrix)))
    per_frame = seconds * (n_el / electrons) ** 3 * (n_k / kpoints) * calibration_ranks / ranks
    return per_frame * n_frames + seconds * 3  # the validation: three small Γ-point runs


def cp2k_command(ranks: int | None = None) -> str:
    """Shell command of the CP2K shell (``cp2k.psmp -s``, under mpiexec for >1 rank)."""
    ranks = cp2k_ranks() if ranks is None else ranks
    if ranks == 1:
        return f"{CP2K_EXECUTABLE} -s"
    root = " --allow-run-as-root" if hasattr(os, "geteuid") and os.geteuid() == 0 else ""
    return f"mpiexec{root} -np {ranks} {CP2K_EXECUTABLE} -s"


def cp2k_problem(ranks: int | None = None) -> str | None:
    """Why CP2K cannot run here (one line with how to install it), or None."""
    try:
        ranks = cp2k_ranks() if ranks is None else ranks
    except ValueError as exc:
        return str(exc)
    if shutil.which(CP2K_EXECUTABLE) is None:
        return (
            f"CP2K is not installed: {CP2K_EXECUTABLE} is not on PATH. Install it with "
            "`apt-get install cp2k` (Debian/Ubuntu), `conda install -c conda-forge cp2k`, "
            "or `module load cp2k` on a cluster"
        )
    if ranks > 1 and shutil.which("mpiexec") is None:
        return (
            f"mpiexec is not on PATH (needed for SOFTBENCH_CP2K_RANKS={ranks}); install an "
            "MPI (apt-get install openmpi-bin) or set SOFTBENCH_CP2K_RANKS=1"
        )
    return None


@dataclass
class Cp2kResult:
    """Energy (eV), forces (eV/Å), stress (eV/Å³, ASE sign) and SCF state of one run."""

    energy: float
    forces: np.ndarray
    stress: np.ndarray | None
    converged: bool


class Cp2kRunner:
    """ASE CP2K calculators in one folder, one per distinct input, reused across frames."""

    def __init__(
        self, settings: Cp2kSettings, directory: str | Path = ".", ranks: int | None = None
    ):
        self.settings = settings
        self.directory = Path(directory)
        self.command = cp2k_command(ranks)
        self._calcs: dict[str, Any] = {}
        self._count = 0

    def compute(
        self,
        atoms: Atoms,
        kpoints: tuple[int, int, int] | None,
        eps_scf: float | None = None,
        stress: bool = True,
    ) -> Cp2kResult:
        """Energy, forces (and stress) of ``atoms``."""
        from ase.calculators.cp2k import CP2K

        symbols = atoms.get_chemical_symbols()
        inp = self.settings.input(symbols, kpoints, self.settings.n_electrons(symbols), eps_scf)
        key = f"{inp}|{stress}"
        if key not in self._calcs:
            self.close()  # one CP2K shell at a time: the cores are few
            self.directory.mkdir(parents=True, exist_ok=True)
            self._count += 1
            label = _project_label(self.directory / f"cp2k-{self._count}")
            self._calcs[key] = CP2K(
                command=self.command,
                label=label,
                inp=inp,
                basis_set=None,
                basis_set_file=None,
                pseudo_potential=None,
                potential_file=None,
                xc=None,
                cutoff=None,
                max_scf=None,
                stress_tensor=stress,
                print_level="LOW",
            )
        calc = self._calcs[key]
        out = Path(f"{calc.label}.out")
        before = _count_not_converged(out)
        atoms = atoms.copy()
        atoms.calc = calc
        try:
            forces = np.asarray(atoms.get_forces(), float)
            energy = float(atoms.get_potential_energy())
            sigma = np.asarray(atoms.get_stress(voigt=False), float) if stress else None
        except Exception as exc:
            self._drop(key)
            raise Cp2kError(f"CP2K failed ({type(exc).__name__}: {exc}); see {out}") from exc
        converged = _count_not_converged(out) == before
        return Cp2kResult(energy, forces, sigma, converged)

    def _drop(self, key: str) -> None:
        calc = self._calcs.pop(key, None)
        if calc is not None:
            with contextlib.suppress(Exception):  # a dead shell may not close cleanly
                calc.close()

    def close(self) -> None:
        """End every CP2K shell."""
        for key in list(self._calcs):
            self._drop(key)

    def __enter__(self) -> Cp2kRunner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


MAX_PROJECT = 80  # characters CP2K accepts for GLOBAL/PROJECT (ASE puts the label there)


def _project_label(path: Path) -> str:
    """The calculator label: relative to the working directory where that is shorter."""
    label = min(str(path), os.path.relpath(path), key=len)
    if len(label) > MAX_PROJECT:
        raise Cp2kError(
            f"CP2K run folder path {label} is longer than the {MAX_PROJECT} characters CP2K "
            "accepts as a project name: run from (or in) a folder with a shorter path"
        )
    return label


def _count_not_converged(out: Path) -> int:
    if not out.exists():
        return 0
    return out.read_text(errors="replace").count(NOT_CONVERGED)


def validation_cell(elements: Iterable[str], seed: int = 0) -> Atoms:
    """A small distorted cell of an element set: one atom per element (at least two).

    Atoms sit on sites of a 2x2x2 grid (spacing: the largest covalent bond length of
    the set) in a slightly oblique cell twice the spacing wide, so neighbours are at a
    bonding distance and periodic images are not crowded; a seeded displacement of up
    to 0.15 Å per Cartesian component breaks every symmetry, so no force vanishes by
    symmetry. Few atoms keep the three Γ-point runs of the check cheap.
    """
    elements = sorted(set(elements))
    radii = sorted(covalent_radii[atomic_numbers[e]] for e in elements)
    spacing = 2 * radii[-1] if len(radii) == 1 else radii[-1] + radii[-2]
    n_sites = max(2, len(elements))
    nz = max(2, -(-n_sites // 4))
    order = [(0, 0, 0), (1, 0, 0), (0, 1, 0), (0, 0, 1), (1, 1, 0), (1, 0, 1), (0, 1, 1)]
    order += [(i, j, k) for k in range(nz) for j in range(2) for i in range(2)]
    sites = list(dict.fromkeys(order))[:n_sites]
    symbols = [elements[n % len(elements)] for n in range(n_sites)]
    rng = np.random.default_rng(seed)
    positions = spacing * np.asarray(sites, float) + rng.uniform(-0.15, 0.15, (n_sites, 3))
    cell = spacing * np.diag([2.0, 2.0, float(nz)])
    cell[0, 1] = 0.1 * spacing  # a slightly oblique cell
    return Atoms(symbols, positions=positions, cell=cell, pbc=True)


def validate_elements(
    elements: Iterable[str], settings: Cp2kSettings, runner: Cp2kRunner
) -> tuple[str | None, dict[str, Any]]:
    """(why the element set fails, or None; the numbers of the checks).

    Γ-point calculations on :func:`validation_cell` at the settings' cutoff and SCF
    tolerance: (1) every Cartesian component of the sum of forces within
    ``SUM_TOLERANCE``; (2) the x force on atom 0 equal to ``-(E(+h) - E(-h)) / 2h``
    within ``FD_ABS_TOLERANCE + FD_REL_TOLERANCE * |F|``.
    """
    elements = sorted(set(elements))
    missing = settings.missing(elements)
    if missing:
        return (
            f"no vetted CP2K pseudopotential/basis for {', '.join(missing)} "
            f"(vetted: {', '.join(sorted(settings.kinds))})",
            {},
        )
    atoms = validation_cell(elements)
    eps = settings.eps_scf
    kinds = ", ".join(
        f"{e}: {settings.kinds[e].potential}/{settings.kinds[e].basis}" for e in elements
    )
    checks: dict[str, Any] = {"elements": elements, "cell_symbols": atoms.get_chemical_symbols()}
    try:
        base = runner.compute(atoms, None, eps, stress=False)
    except Cp2kError as exc:
        return f"validation run failed: {exc}", checks
    checks["force_sum"] = base.forces.sum(axis=0).tolist()
    if not base.converged:
        return "validation SCF did not converge", checks
    worst = float(np.abs(base.forces.sum(axis=0)).max())
    if worst > SUM_TOLERANCE:
        return (
            f"CP2K validation failed for {kinds}: forces do not sum to zero "
            f"(largest component {worst:.3g} eV/Å > {SUM_TOLERANCE:g}) on a distorted "
            f"{len(atoms)}-atom cell",
            checks,
        )
    energies = []
    try:
        for sign in (1, -1):
            moved = atoms.copy()
            moved.positions[0, 0] += sign * FD_STEP
            energies.append(runner.compute(moved, None, eps, stress=False))
    except Cp2kError as exc:
        return f"validation run failed: {exc}", checks
    if not all(r.converged for r in energies):
        return "validation SCF did not converge", checks
    finite = -(energies[0].energy - energies[1].energy) / (2 * FD_STEP)
    analytic = float(base.forces[0, 0])
    checks.update({"fd_force": finite, "analytic_force": analytic, "fd_step": FD_STEP})
    if abs(finite - analytic) > FD_ABS_TOLERANCE + FD_REL_TOLERANCE * abs(analytic):
        return (
            f"CP2K validation failed for {kinds}: analytic force {analytic:.5f} eV/Å vs "
            f"finite difference {finite:.5f} eV/Å (step {FD_STEP} Å)",
            checks,
        )
    return None, checks


@dataclass
class Cp2kHighEnergyMaker(Maker):
    """CP2K energy, forces and stress of every frame of one material, in one job.

    The job validates the element set first (see :func:`validate_elements`), then
    computes the frames one after another in the job folder with ``ranks`` MPI ranks
    (``SOFTBENCH_CP2K_RANKS`` when None).
    """

    name: str = "cp2k statics"
    settings: Cp2kSettings = field(default_factory=Cp2kSettings)
    ranks: int | None = None

    @job(data=ARRAYS_KEY)
    def make(
        self,
        frames: HighEnergyFramesDocument | dict[str, Any] | None,
        material_id: str,
        sampling_key: str | None = None,
    ) -> HighEnergyReferenceDocument:
        """One reference document for the material's frames."""
        return cp2k_reference(frames, material_id, self.settings, sampling_key, self.ranks)


def cp2k_reference(
    frames: HighEnergyFramesDocument | dict[str, Any] | None,
    material_id: str,
    settings: Cp2kSettings | None = None,
    sampling_key: str | None = None,
    ranks: int | None = None,
    directory: str | Path = ".",
) -> HighEnergyReferenceDocument:
    """The work of :class:`Cp2kHighEnergyMaker`, callable without jobflow."""
    from softbench.ingest.base import finalize

    settings = settings or Cp2kSettings()
    doc = HighEnergyReferenceDocument(
        material_id=material_id,
        reference=settings.label(),
        source="CP2K (ASE calculator) statics on sampled MD frames",
        sampling_key=sampling_key,
        dft_settings=settings.describe(),
    )
    if frames is None:
        doc.state = "unusable"
        doc.reason = "no sampled frames: an upstream job (MD or frame sampling) failed"
        return doc
    if isinstance(frames, dict):
        frames = HighEnergyFramesDocument.model_validate(frames)
    doc.sampling, doc.sampling_key = frames.sampling, frames.sampling_key
    doc.source_checksum = frames.sampling_key
    doc.source = f"CP2K (ASE calculator) statics on frames of {frames.sampling.describe()}"
    doc.formula = frames.formula
    elements = sorted({s.symbol for f in frames.frames for s in f.structure.species})
    missing = settings.missing(elements)
    problem = (
        f"no vetted CP2K pseudopotential/basis for {', '.join(missing)} "
        f"(vetted: {', '.join(sorted(settings.kinds))})"
        if missing
        else cp2k_problem(ranks)
    )
    if problem:
        doc.state, doc.reason = "unusable", problem
        return doc
    adaptor = AseAtomsAdaptor()
    directory = Path(directory).resolve()
    confs = []
    with Cp2kRunner(settings, directory / "validation", ranks) as runner:
        reason, checks = validate_elements(elements, settings, runner)
    doc.dft_settings = {
        **settings.describe(),
        "kinds": {e: settings.kinds[e].model_dump() for e in elements if e in settings.kinds},
        "validation": checks,
        "workflow": "softbench Cp2kHighEnergyMaker (ASE CP2K calculator)",
    }
    if reason:
        doc.state, doc.reason = "unusable", reason
        return doc
    kpoints_used: dict[str, list[int]] = {}
    with Cp2kRunner(settings, directory / "frames", ranks) as runner:
        for frame in frames.frames:
            cid = frame.configuration_id
            structure: Structure = frame.structure
            atoms = adaptor.get_atoms(structure)
            kpoints = settings.kpoints(np.asarray(atoms.cell))
            kpoints_used[cid] = list(kpoints)
            try:
                result = runner.compute(atoms, kpoints)
            except Cp2kError as exc:
                doc.excluded_configurations[cid] = str(exc)
                continue
            if not result.converged:
                doc.excluded_configurations[cid] = (
                    f"CP2K SCF not converged within {settings.max_scf} steps "
                    f"(EPS_SCF {settings.eps_scf:g})"
                )
                continue
            confs.append(
                Configuration.from_structure(
                    structure,
                    cid,
                    energy=result.energy,
                    forces=result.forces,
                    stress=result.stress,
                    metadata={
                        **frame.label_metadata(frames.sampling.md_model),
                        "kpoints": list(kpoints),
                    },
                )
            )
            doc.dft_dirs[cid] = str(directory / "frames")
    doc.dft_settings["kpoints"] = kpoints_used
    return finalize(doc, confs)  # type: ignore[return-value]


__all__ = [
    "Cp2kError",
    "Cp2kHighEnergyMaker",
    "Cp2kResult",
    "Cp2kRunner",
    "cp2k_command",
    "cp2k_problem",
    "cp2k_ranks",
    "cp2k_reference",
    "validate_elements",
    "validation_cell",
]
