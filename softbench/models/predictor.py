"""Predictors: a loaded model that labels many structures in one call."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from softbench.models.errors import NonFiniteForcesError, UnsupportedElementsError

if TYPE_CHECKING:
    from ase.calculators.calculator import Calculator
    from pymatgen.core import Structure

    from softbench.models.spec import ModelSpec

Progress = Callable[[int], None]
TUNE_FRAMES = 8  # frames each candidate setting is timed on (at least one batch)
SIZE_EDGES = (32, 128, 512)  # mean atom counts separating size classes


def size_class(structures: Sequence[Structure]) -> int:
    """Bucket by mean atom count: 0 (<32), 1 (<128), 2 (<512), 3 (larger)."""
    mean = sum(len(s) for s in structures) / len(structures)
    return sum(mean >= edge for edge in SIZE_EDGES)


@dataclass(frozen=True)
class RunSetting:
    """How to run a chunk: torch intra-op threads (None: as is) and batch size."""

    threads: int | None
    batch: int


@dataclass
class _Timing:
    frames: int = 0
    atoms: int = 0
    seconds: float = 0.0


@contextmanager
def torch_threads(threads: int | None) -> Iterator[None]:
    """Temporarily set torch's intra-op thread count (no-op for None)."""
    if threads is None:
        yield
        return
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@dataclass
class Prediction:
    """Energy (eV), forces (N, 3, eV/Å) and stress (3x3, eV/Å³, ASE sign)."""

    energy: float
    forces: np.ndarray
    stress: np.ndarray | None = None

    def check_finite(self, model: str, label: str) -> None:
        """Raise NonFiniteForcesError naming the model and configuration."""
        if not np.isfinite(self.energy) or not np.isfinite(self.forces).all():
            raise NonFiniteForcesError(
                f"model {model} returned non-finite energy/forces for {label}"
            )


class Predictor:
    """Base class. Subclasses implement :meth:`_predict_chunk` (one batch).

    On CPU the fastest way to run depends on the machine and its load: single- or
    multi-threaded torch, batched or one structure at a time. :meth:`predict` times
    each candidate :class:`RunSetting` on the real structures (keeping every
    result, so nothing is evaluated twice) and then uses the fastest, per size
    class, for the rest of this and later calls.
    """

    #: batch sizes worth trying per size class on CPU (backends that batch override)
    cpu_batches: dict[int, tuple[int, ...]] = {}
    gpu_batch: int = 1

    def __init__(self, spec: ModelSpec, device: str, batch_size: int | None = None):
        self.spec = spec
        self.device = device
        self.fixed_batch = batch_size
        self._timings: dict[int, dict[RunSetting, _Timing]] = {}
        self._warm = False
        self._last: RunSetting | None = None

    @property
    def batch_size(self) -> int:
        """Batch size used most recently (for provenance)."""
        return self._last.batch if self._last else self.fixed_batch or 1

    @property
    def supported_elements(self) -> frozenset[str] | None:
        """Elements the model covers, or None if unknown."""
        return None

    def check_elements(self, structure: Structure, where: str = "") -> None:
        """Raise UnsupportedElementsError if the structure has uncovered elements."""
        covered = self.supported_elements
        if covered is None:
            return
        present = {el.symbol for el in structure.composition.elements}
        missing = present - covered
        if missing:
            raise UnsupportedElementsError(self.spec.name, missing, where)

    def candidates(self, size: int) -> list[RunSetting]:
        """Settings to try for a size class (one, i.e. no tuning, off CPU)."""
        if self.device != "cpu":
            return [RunSetting(None, self.fixed_batch or self.gpu_batch)]
        try:
            import torch

            most = torch.get_num_threads()
        except ImportError:
            return [RunSetting(None, 1)]
        threads = [most] if most <= 1 else [most, 1]
        batches = (self.fixed_batch,) if self.fixed_batch else self.cpu_batches.get(size, (1,))
        return [RunSetting(t, b) for b in batches for t in threads]

    def _choose(self, size: int) -> tuple[RunSetting, bool]:
        """(setting, still measuring?): an under-sampled candidate, else the fastest."""
        timings = self._timings.setdefault(size, {})
        options = self.candidates(size)
        for option in options:
            if len(options) > 1 and timings.get(option, _Timing()).frames < max(
                TUNE_FRAMES, option.batch
            ):
                return option, True
        best = max(options, key=lambda o: _rate(timings.get(o)))
        return best, False

    def predict(
        self,
        structures: Sequence[Structure],
        progress: Progress | None = None,
        stress: bool = True,
    ) -> list[Prediction]:
        """Label all structures with the fastest measured setting.

        ``stress=False`` skips the stress where that saves work (CHGNet computes it
        with a second backward pass).
        """
        if not structures:
            return []
        size = size_class(structures)
        out: list[Prediction] = []
        pos = 0
        while pos < len(structures):
            setting, measuring = self._choose(size)
            chunk = structures[pos : pos + setting.batch]
            start = time.perf_counter()
            with torch_threads(setting.threads):
                out.extend(self._predict_chunk(chunk, stress=stress))
            elapsed = time.perf_counter() - start
            if self._warm and measuring:
                t = self._timings[size].setdefault(setting, _Timing())
                t.frames += len(chunk)
                t.atoms += sum(len(s) for s in chunk)
                t.seconds += elapsed
            self._warm = True  # the very first chunk pays one-off costs: not timed
            self._last = setting
            pos += len(chunk)
            if progress is not None:
                progress(len(chunk))
        return out

    def tuned(self) -> dict[int, RunSetting]:
        """The setting chosen per size class so far."""
        return {size: self._choose(size)[0] for size in self._timings}

    def _predict_chunk(
        self, structures: Sequence[Structure], stress: bool = True
    ) -> list[Prediction]:
        raise NotImplementedError

    def calculator(self) -> Calculator:
        """An ASE calculator backed by the same loaded weights."""
        raise NotImplementedError(f"{type(self).__name__} exposes no ASE calculator")


class AsePredictor(Predictor):
    """One loaded ASE calculator, called once per structure (fastest on CPU)."""

    def __init__(
        self,
        spec: ModelSpec,
        calc: Calculator,
        device: str = "cpu",
        elements: frozenset[str] | None = None,
    ):
        super().__init__(spec, device)
        self._calc = calc
        self._elements = elements

    @property
    def supported_elements(self) -> frozenset[str] | None:
        """Elements given by the backend (None when the calculator does not say)."""
        return self._elements

    def calculator(self) -> Calculator:
        """The wrapped calculator."""
        return self._calc

    def _predict_chunk(
        self, structures: Sequence[Structure], stress: bool = True
    ) -> list[Prediction]:
        from pymatgen.io.ase import AseAtomsAdaptor

        out = []
        for structure in structures:
            atoms = AseAtomsAdaptor.get_atoms(structure)
            atoms.calc = self._calc
            energy = float(atoms.get_potential_energy())
            forces = np.array(atoms.get_forces(), dtype=float)
            sigma = _voigt_to_matrix(_try_stress(atoms)) if stress else None
            out.append(Prediction(energy=energy, forces=forces, stress=sigma))
        return out


def _rate(timing: _Timing | None) -> float:
    """Atoms per second measured for a setting (0 if unmeasured)."""
    if timing is None or timing.seconds <= 0:
        return 0.0
    return timing.atoms / timing.seconds


def _try_stress(atoms: Any) -> np.ndarray | None:
    from ase.calculators.calculator import PropertyNotImplementedError

    if not all(atoms.pbc):
        return None
    try:
        return np.asarray(atoms.get_stress(voigt=True), dtype=float)
    except (PropertyNotImplementedError, NotImplementedError):
        return None


def _voigt_to_matrix(voigt: np.ndarray | None) -> np.ndarray | None:
    if voigt is None:
        return None
    xx, yy, zz, yz, xz, xy = voigt
    return np.array([[xx, xy, xz], [xy, yy, yz], [xz, yz, zz]])


def resolve_device(device: str | None) -> str:
    """'cuda' when available unless a device is given."""
    if device:
        return device
    try:
        import torch
    except ImportError:
        return "cpu"

    return "cuda" if torch.cuda.is_available() else "cpu"
