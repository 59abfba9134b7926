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


class BondCounting(Calculator):
    """Each pair closer than ``r_on`` is one bond of energy -``bond`` (eV); none beyond ``r_off``.

    Between the two radii the pair energy falls off smoothly (cubic smoothstep). With
    every neighbour distance outside (r_on, r_off), as on a perfect lattice or an
    unrelaxed slab cut from it, forces and stress vanish exactly, and a surface costs
    exactly ``bond`` per broken bond: the textbook broken-bond model, whose surface
    energies are known in closed form (fcc (100): 8 bond / a², ...).
    """

    implemented_properties = ["energy", "free_energy", "forces", "stress"]

    def __init__(self, bond: float = 0.5, r_on: float = 2.8, r_off: float = 3.3, **kwargs: Any):
        super().__init__(**kwargs)
        self.bond, self.r_on, self.r_off = bond, r_on, r_off

    def _pair(self, d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x = np.clip((d - self.r_on) / (self.r_off - self.r_on), 0.0, 1.0)
        f = 1 - (3 * x**2 - 2 * x**3)  # 1 inside r_on, 0 beyond r_off
        df = -(6 * x - 6 * x**2) / (self.r_off - self.r_on)
        return -self.bond * f, -self.bond * df

    def calculate(
        self, atoms: Any = None, properties: Any = None, system_changes: Any = all_changes
    ) -> None:
        """Pair sum over an ASE neighbour list (each pair counted twice, halved)."""
        from ase.neighborlist import neighbor_list

        super().calculate(atoms, properties, system_changes)
        assert self.atoms is not None
        i, j, d, vec = neighbor_list("ijdD", self.atoms, self.r_off)
        phi, dphi = self._pair(d)
        energy = 0.5 * float(phi.sum())
        pair_force = (dphi / d)[:, None] * vec  # dE/dr_j of each (i, j) term, halved twice
        forces = np.zeros((len(self.atoms), 3))
        np.add.at(forces, i, pair_force)
        np.add.at(forces, j, -pair_force)
        forces *= 0.5
        virial = 0.5 * np.einsum("k,ka,kb->ab", dphi / d, vec, vec)
        stress = virial / self.atoms.get_volume() if self.atoms.cell.rank == 3 else virial * 0
        self.results = {
            "energy": energy,
            "free_energy": energy,
            "forces": forces,
            "stress": stress.flat[[0, 4, 8, 5, 2, 1]],
        }
