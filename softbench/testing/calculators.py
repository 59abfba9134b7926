"""Small ASE calculators for tests: broken, springs, cosine path, bond counting, force constants."""

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


class CosinePath(Calculator):
    """An analytic migration potential on one ion; every other atom feels nothing.

    E = sum_k a_k / 2 * (1 - cos(2 pi (x - origin) / p_k)), x the Cartesian x of the
    first ``ion`` atom (atomate2's moving-ion convention), for ``terms`` = [(a_k, p_k)]
    in (eV, Å). With terms [(B, d)] an ion hopping along x from ``origin`` to
    ``origin + d`` meets a barrier of exactly B at d/2. Stress is zero.
    ``fail_between`` = (lo, hi): raise for lo < x - origin < hi (a failing model).
    """

    implemented_properties = ["energy", "forces", "stress"]

    def __init__(
        self,
        ion: str = "Li",
        terms: Any = ((0.5, 2.0),),
        origin: float = 0.0,
        fail_between: Any = None,
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        self.ion = ion
        self.fail_between = None if fail_between is None else tuple(map(float, fail_between))
        self.terms = [(float(a), float(p)) for a, p in terms]
        self.origin = float(origin)

    def calculate(
        self, atoms: Any = None, properties: Any = None, system_changes: Any = all_changes
    ) -> None:
        """Energy and forces of the moving ion's x coordinate."""
        super().calculate(atoms, properties, system_changes)
        assert self.atoms is not None
        symbols = self.atoms.get_chemical_symbols()
        forces = np.zeros((len(self.atoms), 3))
        energy = 0.0
        if self.ion in symbols:
            i = symbols.index(self.ion)
            x = float(self.atoms.positions[i, 0]) - self.origin
            if self.fail_between and self.fail_between[0] < x < self.fail_between[1]:
                raise RuntimeError(f"CosinePath fails at x = {x:.3f} Å (by construction)")
            for a, p in self.terms:
                energy += 0.5 * a * (1 - np.cos(2 * np.pi * x / p))
                forces[i, 0] -= 0.5 * a * (2 * np.pi / p) * np.sin(2 * np.pi * x / p)
        self.results = {"energy": energy, "forces": forces, "stress": np.zeros(6)}


def cosine_energy(x: float, terms: Any, origin: float = 0.0) -> float:
    """:class:`CosinePath`'s energy at moving-ion coordinate ``x`` (Å)."""
    return float(sum(0.5 * a * (1 - np.cos(2 * np.pi * (x - origin) / p)) for a, p in terms))


def register_cosine(
    name: str, ion: str, terms: Any, origin: float = 0.0, fail_between: Any = None
) -> str:
    """Register (or replace) the model ``name``: a :class:`CosinePath` potential."""
    from softbench.models import ModelSpec, register

    spec = ModelSpec(
        name=name,
        family="ase",
        version="1",
        source="test cosine path",
        options={
            "import_path": f"{__name__}.CosinePath",
            "kwargs": {
                "ion": ion,
                "terms": [list(t) for t in terms],
                "origin": origin,
                "fail_between": fail_between,
            },
        },
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
