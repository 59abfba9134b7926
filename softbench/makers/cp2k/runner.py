"""Running CP2K through ASE's CP2K calculator: command, ranks, cost, one shell per input.

:class:`Cp2kRunner` keeps one ``cp2k.psmp -s`` shell (under ``mpiexec`` with
``SOFTBENCH_CP2K_RANKS`` ranks) per distinct input in one folder and reuses it for
every configuration; :func:`cp2k_problem` says in one line why CP2K cannot run here;
:func:`estimated_seconds` is the rough cost the CLI warns with.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from ase import Atoms

from softbench.makers.cp2k.settings import DEFAULT_RANKS, Cp2kSettings

CP2K_EXECUTABLE = "cp2k.psmp"
NOT_CONVERGED = "SCF run NOT converged"


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
#: The start relaxation (cell and ions, with stress) in frame-equivalents: 8-atom Si took
#: 3 SCF runs (volume only, README); free internal coordinates add BFGS steps, so 10.
RELAX_RUNS = 10


def estimated_seconds(
    structure: Any, settings: Cp2kSettings, n_frames: int, ranks: int, relax: bool = False
) -> float:
    """Rough CP2K wall time of one material (validation + frames), from :data:`CALIBRATION`.

    Cubic in valence electrons and linear in k-points, scaled by ranks; SCF step counts
    and hot, strained frames vary it by a factor of ~2 either way. ``relax`` adds the
    start relaxation as :data:`RELAX_RUNS` frames (and its own validation).
    """
    seconds, electrons, kpoints, calibration_ranks = CALIBRATION
    symbols = [site.specie.symbol for site in structure]
    missing = settings.missing(symbols)
    if missing:
        return 0.0  # refused by the validation, which is quick
    n_el = settings.n_electrons(symbols)
    n_k = int(np.prod(settings.kpoints(structure.lattice.matrix)))
    per_frame = seconds * (n_el / electrons) ** 3 * (n_k / kpoints) * calibration_ranks / ranks
    validation = seconds * 3  # three small Γ-point runs
    if relax:
        return per_frame * (n_frames + RELAX_RUNS) + 2 * validation
    return per_frame * n_frames + validation


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


def cp2k_refusal(elements: Any, settings: Cp2kSettings, ranks: int | None = None) -> str | None:
    """Why CP2K cannot compute these elements here (unvetted kind, no CP2K), or None."""
    return settings.unvetted(elements) or cp2k_problem(ranks)


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
