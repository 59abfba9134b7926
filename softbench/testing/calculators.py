"""Small ASE calculators for tests: a broken model and a spring model."""

from __future__ import annotations

from typing import Any

import numpy as np
from ase.calculators.calculator import Calculator, all_changes


class NaNForces(Calculator):
    """Returns NaN forces: a model gone wrong, to test that it is caught."""

    implemented_properties = ["energy", "forces"]

    def calculate(
        self, atoms: Any = None, properties: Any = None, system_changes: Any = all_changes
    ) -> None:
        """Energy 0, forces NaN."""
        super().calculate(atoms, properties, system_changes)
        assert self.atoms is not None
        self.results = {"energy": 0.0, "forces": np.full((len(self.atoms), 3), np.nan)}


class Springs(Calculator):
    """Harmonic springs to reference positions: F = -k (r - r0), E = k/2 |r - r0|²."""

    implemented_properties = ["energy", "forces"]

    def __init__(self, k: float = 1.0, reference: Any = None, **kwargs: Any):
        super().__init__(**kwargs)
        self.k = k
        self.reference = None if reference is None else np.asarray(reference, float)

    def calculate(
        self, atoms: Any = None, properties: Any = None, system_changes: Any = all_changes
    ) -> None:
        """Springs to ``reference`` (default: the scaled positions rounded to 1/4)."""
        super().calculate(atoms, properties, system_changes)
        assert self.atoms is not None
        pos = self.atoms.get_positions()
        ref = self.reference
        if ref is None:
            frac = np.round(self.atoms.get_scaled_positions(wrap=False) * 4) / 4
            ref = frac @ self.atoms.cell.array
        d = pos - ref
        self.results = {"energy": 0.5 * self.k * float((d * d).sum()), "forces": -self.k * d}


def register_springs(k: float) -> str:
    """Register (or replace) the model ``springs-<k>``: :class:`Springs` of stiffness k."""
    from softbench.models import ModelSpec, register

    name = f"springs-{k}"
    spec = ModelSpec(
        name=name,
        family="ase",
        version=str(k),
        source="test springs",
        options={"import_path": f"{__name__}.Springs", "kwargs": {"k": k}},
    )
    register(spec, overwrite=True)
    return name


class ForceConstants(Calculator):
    """A pure force-constant (harmonic) model: F = -s Φu, E = s/2 uᵀΦu.

    ``path``: an ``.npz`` with ``force_constants`` (3N, 3N) in eV/Å², ``positions``
    (N, 3) in Å and ``cell`` (3, 3); u is each atom's minimum-image displacement from
    ``positions``. ``scale`` s multiplies Φ (0.8: a model 20 % softer everywhere).
    ``stiffening`` k (1/Å) makes the stiffness grow with the RMS displacement norm a:
    F = -s (1 + k a) Φu, a rough PES in the amplitude test's sense (not conservative
    for k != 0; the energy is then only indicative).
    """

    implemented_properties = ["energy", "forces"]

    def __init__(self, path: str = "", scale: float = 1.0, stiffening: float = 0.0, **kwargs: Any):
        super().__init__(**kwargs)
        data = np.load(path)
        self.phi = np.asarray(data["force_constants"], float)
        self.positions = np.asarray(data["positions"], float)
        self.cell = np.asarray(data["cell"], float)
        self.scale = float(scale)
        self.stiffening = float(stiffening)

    def calculate(
        self, atoms: Any = None, properties: Any = None, system_changes: Any = all_changes
    ) -> None:
        """Harmonic energy and forces about the stored positions."""
        from softbench.analysis.amplitude import minimum_image_displacement

        super().calculate(atoms, properties, system_changes)
        assert self.atoms is not None
        u = minimum_image_displacement(self.atoms.get_positions(), self.positions, self.cell)
        a = float(np.sqrt((u**2).sum(axis=1).mean()))
        f = -self.scale * (1.0 + self.stiffening * a) * (self.phi @ u.reshape(-1))
        self.results = {"energy": -0.5 * float(f @ u.reshape(-1)), "forces": f.reshape(-1, 3)}


def register_force_constants(
    name: str, path: str, scale: float = 1.0, stiffening: float = 0.0
) -> str:
    """Register (or replace) model ``name``: :class:`ForceConstants` of ``path``."""
    from softbench.models import ModelSpec, register

    spec = ModelSpec(
        name=name,
        family="ase",
        version=str(scale),
        source="test force constants",
        options={
            "import_path": f"{__name__}.ForceConstants",
            "kwargs": {"path": str(path), "scale": scale, "stiffening": stiffening},
        },
    )
    register(spec, overwrite=True)
    return name
