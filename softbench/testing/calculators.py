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


class BrokenBonds(Calculator):
    """Bond counting: E = -eps x (pairs closer than ``cutoff``); forces and stress zero.

    Exact answers for an fcc metal with a cutoff between its first and second
    neighbour shells (12 bonds per atom, mu = -6 eps): vacancy formation energy 6 eps;
    an interstitial with b bonds: (6 - b) eps. Zero forces and stress make every
    relaxation stop at once, so the answers stay exact.
    """

    implemented_properties = ["energy", "forces", "stress"]

    def __init__(self, eps: float = 0.5, cutoff: float = 2.8, **kwargs: Any):
        super().__init__(**kwargs)
        self.eps = eps
        self.cutoff = cutoff

    def calculate(
        self, atoms: Any = None, properties: Any = None, system_changes: Any = all_changes
    ) -> None:
        """Count pairs within the cutoff."""
        from ase.neighborlist import neighbor_list

        super().calculate(atoms, properties, system_changes)
        assert self.atoms is not None
        i, _ = neighbor_list("ij", self.atoms, self.cutoff)
        self.results = {
            "energy": -self.eps * len(i) / 2,
            "forces": np.zeros((len(self.atoms), 3)),
            "stress": np.zeros(6),
        }


class UnlikeCations(Calculator):
    """E = J x (unlike Mg-Ca pairs closer than ``cutoff``); forces and stress zero.

    A lattice-gas model of the rocksalt cation sublattice: the end members have no
    unlike pairs, so an ordering's exact mixing energy per cation is J x pairs / n.
    """

    implemented_properties = ["energy", "forces", "stress"]

    def __init__(self, j: float = 0.1, cutoff: float = 3.6, **kwargs: Any):
        super().__init__(**kwargs)
        self.j = j
        self.cutoff = cutoff

    def calculate(
        self, atoms: Any = None, properties: Any = None, system_changes: Any = all_changes
    ) -> None:
        """Count Mg-Ca pairs within the cutoff."""
        super().calculate(atoms, properties, system_changes)
        assert self.atoms is not None
        self.results = {
            "energy": self.j * unlike_pairs(self.atoms, self.cutoff),
            "forces": np.zeros((len(self.atoms), 3)),
            "stress": np.zeros(6),
        }


def unlike_pairs(atoms: Any, cutoff: float, a: str = "Mg", b: str = "Ca") -> int:
    """Number of (a, b) pairs closer than ``cutoff`` (each pair once)."""
    from ase.neighborlist import neighbor_list

    i, j = neighbor_list("ij", atoms, cutoff)
    symbols = np.asarray(atoms.get_chemical_symbols())
    return int(((symbols[i] == a) & (symbols[j] == b)).sum())
