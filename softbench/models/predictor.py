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
TUNE_MIN_STRUCTURES = 24  # below this, tuning costs more than it saves
TUNE_SAMPLE = 3


def _size_class(structures: Sequence[Structure]) -> int:
    """Bucket by mean atom count: 0 (<32), 1 (<128), 2 (<512), 3 (larger)."""
    mean = sum(len(s) for s in structures) / len(structures)
    return sum(mean >= edge for edge in (32, 128, 512))


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
    """Base class. Subclasses implement :meth:`_predict_chunk`."""

    def __init__(self, spec: ModelSpec, device: str, batch_size: int = 1):
        self.spec = spec
        self.device = device
        self.batch_size = max(1, int(batch_size))
        self._tuned_threads: dict[int, int] = {}

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

    def predict(
        self, structures: Sequence[Structure], progress: Progress | None = None
    ) -> list[Prediction]:
        """Label all structures, ``batch_size`` at a time, with the faster thread count."""
        threads = self._threads_for(structures)
        out: list[Prediction] = []
        with torch_threads(threads):
            for start in range(0, len(structures), self.batch_size):
                chunk = structures[start : start + self.batch_size]
                out.extend(self._predict_chunk(chunk))
                if progress is not None:
                    progress(len(chunk))
        return out

    def _threads_for(self, structures: Sequence[Structure]) -> int | None:
        """On CPU, time one and all torch threads on a few structures; keep the faster.

        Small graphs often run faster single-threaded (thread overhead, busy
        machines); large ones profit from all cores. Decided once per size class.
        """
        if self.device != "cpu" or len(structures) < TUNE_MIN_STRUCTURES:
            return None
        try:
            import torch
        except ImportError:
            return None
        size = _size_class(structures)
        if size not in self._tuned_threads:
            most = torch.get_num_threads()
            if most <= 1:
                self._tuned_threads[size] = most
                return most
            sample = list(structures[:TUNE_SAMPLE])
            self._predict_chunk(sample[:1])  # warm-up
            timings = {}
            for threads in (1, most):
                with torch_threads(threads):
                    start = time.perf_counter()
                    for s in sample:
                        self._predict_chunk([s])
                    timings[threads] = time.perf_counter() - start
            self._tuned_threads[size] = min(timings, key=lambda t: timings[t])
        return self._tuned_threads[size]

    def _predict_chunk(self, structures: Sequence[Structure]) -> list[Prediction]:
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
        super().__init__(spec, device, batch_size=1)
        self._calc = calc
        self._elements = elements

    @property
    def supported_elements(self) -> frozenset[str] | None:
        """Elements given by the backend (None when the calculator does not say)."""
        return self._elements

    def calculator(self) -> Calculator:
        """The wrapped calculator."""
        return self._calc

    def _predict_chunk(self, structures: Sequence[Structure]) -> list[Prediction]:
        from pymatgen.io.ase import AseAtomsAdaptor

        out = []
        for structure in structures:
            atoms = AseAtomsAdaptor.get_atoms(structure)
            atoms.calc = self._calc
            energy = float(atoms.get_potential_energy())
            forces = np.array(atoms.get_forces(), dtype=float)
            stress = _voigt_to_matrix(_try_stress(atoms))
            out.append(Prediction(energy=energy, forces=forces, stress=stress))
        return out


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
