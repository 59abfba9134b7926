"""Predictors: a loaded model that labels many structures in one call."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from softbench.models.errors import NonFiniteForcesError, UnsupportedElementsError

if TYPE_CHECKING:
    from ase.calculators.calculator import Calculator
    from pymatgen.core import Structure

    from softbench.models.spec import ModelSpec

Progress = Callable[[int], None]


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
        """Label all structures, ``batch_size`` at a time."""
        out: list[Prediction] = []
        for start in range(0, len(structures), self.batch_size):
            chunk = structures[start : start + self.batch_size]
            out.extend(self._predict_chunk(chunk))
            if progress is not None:
                progress(len(chunk))
        return out

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
