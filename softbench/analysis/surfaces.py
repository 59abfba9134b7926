"""Surface energies: slab geometry rules and gamma = (E_slab - N_slab·ε_bulk) / (2A).

One set of geometry rules for every method (models, VASP, CP2K), so that the slabs
of DFT and model are the same slabs built on each method's own relaxed bulk:

- Miller indices are those of the conventional standard cell (what people mean by
  Si (111)), up to ``max_index``, symmetrically distinct
  (pymatgen ``get_symmetrically_distinct_miller_indices``);
- slabs are cut from the primitive cell (smallest in-plane cell for that plane) with
  pymatgen's ``SlabGenerator`` (``min_slab_size``, ``min_vacuum_size`` in Å,
  centred, LLL-reduced, c as close to the normal as ``max_normal_search`` allows).
  SlabGenerator counts sizes in whole oriented-unit-cell heights, so the slab and
  vacuum it returns are at least, and often well above, the minima; the documents
  record the real thickness (outermost atomic planes) and vacuum gap;
- only symmetric (both faces equivalent: ``get_slabs(symmetrize=True)`` then
  ``Slab.is_symmetric``) and stoichiometric slabs are kept; every distinct
  termination is one surface, numbered by increasing shift. A facet without any
  is skipped with the reason.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from functools import reduce
from typing import TYPE_CHECKING

import numpy as np
from ase.units import _e

if TYPE_CHECKING:
    from pymatgen.core import Structure
    from pymatgen.core.surface import Slab

#: 1 eV/Å² in J/m² (elementary charge x 1e20)
EV_PER_A2_IN_J_PER_M2 = _e * 1e20
SYMPREC = 0.01  # Å, symmetry tolerance of the standard cells


class SurfaceInputError(ValueError):
    """A bulk structure that cannot give slabs (disordered, no lattice, ...)."""


def surface_energy(
    slab_energy: float, n_slab_atoms: int, bulk_energy_per_atom: float, area: float
) -> float:
    """Surface energy (eV/Å²) of a symmetric slab with two faces of ``area`` Å² each."""
    if not area > 0:
        raise ValueError(f"surface area must be positive, got {area}")
    return (slab_energy - n_slab_atoms * bulk_energy_per_atom) / (2.0 * area)


def to_j_per_m2(gamma_ev_a2: float) -> float:
    """eV/Å² to J/m²."""
    return gamma_ev_a2 * EV_PER_A2_IN_J_PER_M2


def check_bulk(structure: Structure, where: str = "") -> None:
    """Raise :class:`SurfaceInputError` for bulk input that cannot be cut into slabs."""
    name = f" ({where})" if where else ""
    if not hasattr(structure, "lattice"):
        raise SurfaceInputError(f"bulk input{name} is not periodic (no lattice)")
    if not structure.is_ordered:
        raise SurfaceInputError(
            f"bulk input{name} is disordered (partial occupancies): order it first"
        )
    if len(structure) == 0:
        raise SurfaceInputError(f"bulk input{name} has no atoms")


def standard_cells(bulk: Structure, symprec: float = SYMPREC) -> tuple[Structure, Structure]:
    """(conventional standard, primitive) cells, in the same Cartesian frame."""
    from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

    conventional = SpacegroupAnalyzer(bulk, symprec=symprec).get_conventional_standard_structure()
    primitive = conventional.get_primitive_structure(tolerance=symprec)
    return conventional, primitive


def miller_in(
    miller: tuple[int, int, int], source: Structure, target: Structure
) -> tuple[int, int, int]:
    """The Miller index, in ``target``'s lattice, of the plane ``miller`` of ``source``."""
    normal = source.lattice.reciprocal_lattice_crystallographic.get_cartesian_coords(miller)
    values = target.lattice.matrix @ normal  # a_i · G: the target's Miller components
    for multiple in range(1, 25):
        scaled = values * multiple
        if np.allclose(scaled, np.round(scaled), atol=1e-3):
            ints = [round(float(v)) for v in scaled]
            divisor = reduce(math.gcd, (abs(i) for i in ints if i)) or 1
            h, k, ell = (i // divisor for i in ints)
            return h, k, ell
    raise ValueError(f"plane {miller} has no small Miller index in the target lattice")


def facet_id(miller: tuple[int, int, int] | list[int], termination: int) -> str:
    """Name of one surface: ``(1,1,1)`` plus ``#<termination>`` beyond the first."""
    name = "(" + ",".join(str(int(i)) for i in miller) + ")"
    return name if termination == 0 else f"{name}#{termination}"


@dataclass
class SlabSpec:
    """One symmetric stoichiometric slab of a facet and termination."""

    miller_index: tuple[int, int, int]  # conventional standard cell
    termination: int
    shift: float
    slab: Slab

    @property
    def facet(self) -> str:
        """Name of the surface (:func:`facet_id`)."""
        return facet_id(self.miller_index, self.termination)


@dataclass
class SlabSet:
    """The slabs of one bulk, and the facets without a usable slab (with why)."""

    slabs: list[SlabSpec] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)


def make_slabs(
    bulk: Structure,
    max_index: int = 2,
    min_slab: float = 10.0,
    min_vacuum: float = 10.0,
    symprec: float = SYMPREC,
) -> SlabSet:
    """Every symmetric, stoichiometric slab up to ``max_index`` (see the module docstring)."""
    from pymatgen.core.surface import SlabGenerator, get_symmetrically_distinct_miller_indices

    check_bulk(bulk)
    conventional, primitive = standard_cells(bulk, symprec)
    target = primitive.composition.reduced_composition
    found = SlabSet()
    for hkl in get_symmetrically_distinct_miller_indices(conventional, max_index):
        miller = (int(hkl[0]), int(hkl[1]), int(hkl[2]))
        plane = miller_in(miller, conventional, primitive)
        generator = SlabGenerator(
            primitive,
            plane,
            min_slab,
            min_vacuum,
            center_slab=True,
            primitive=True,
            lll_reduce=True,
            max_normal_search=max(abs(i) for i in plane),
        )
        with warnings.catch_warnings():  # "Too many sites removed": filtered out below
            warnings.filterwarnings("ignore", "Too many sites removed", UserWarning)
            candidates = generator.get_slabs(symmetrize=True)
        kept = [
            s
            for s in candidates
            if s.is_symmetric() and s.composition.reduced_composition == target
        ]
        if not kept:
            found.skipped[facet_id(miller, 0)] = (
                f"no symmetric stoichiometric slab for {facet_id(miller, 0)} "
                f"({len(candidates)} symmetrized candidate(s), none both symmetric and "
                f"{target.reduced_formula})"
            )
            continue
        for termination, slab in enumerate(sorted(kept, key=lambda s: s.shift)):
            found.slabs.append(SlabSpec(miller, termination, float(slab.shift), slab))
    return found


def slab_area(structure: Structure) -> float:
    """In-plane area |a x b| of a slab cell, Å²."""
    a, b = structure.lattice.matrix[:2]
    return float(np.linalg.norm(np.cross(a, b)))


def slab_thickness(structure: Structure) -> tuple[float, float]:
    """(slab thickness, vacuum) along the surface normal, Å."""
    matrix = structure.lattice.matrix
    normal = np.cross(matrix[0], matrix[1])
    normal /= np.linalg.norm(normal)
    height = float(abs(matrix[2] @ normal))
    z = np.sort((structure.cart_coords @ normal) % height)
    gaps = np.diff(np.concatenate([z, [z[0] + height]]))
    vacuum = float(gaps.max())
    return height - vacuum, vacuum
