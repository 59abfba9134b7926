"""A small built-in set of elemental bulk structures (input for tasks that relax them).

Room-temperature experimental lattice constants (Å) of the common phase, from
C. Kittel, *Introduction to Solid State Physics*, 8th ed., Table 1.3 (hcp c from
the same source's c/a). Each method relaxes these cells itself: the numbers only
give a sensible starting point and the space group.
"""

from __future__ import annotations

from pymatgen.core import Lattice, Structure

from softbench.ingest.base import ReferenceFormatError

#: element -> (space group, lattice parameters a[, c], Wyckoff site)
ELEMENTS: dict[str, tuple[str, tuple[float, ...], tuple[float, float, float]]] = {
    "Si": ("Fd-3m", (5.431,), (0.0, 0.0, 0.0)),
    "Ge": ("Fd-3m", (5.658,), (0.0, 0.0, 0.0)),
    "C": ("Fd-3m", (3.567,), (0.0, 0.0, 0.0)),
    "Al": ("Fm-3m", (4.05,), (0.0, 0.0, 0.0)),
    "Cu": ("Fm-3m", (3.615,), (0.0, 0.0, 0.0)),
    "Ag": ("Fm-3m", (4.086,), (0.0, 0.0, 0.0)),
    "Au": ("Fm-3m", (4.078,), (0.0, 0.0, 0.0)),
    "Ni": ("Fm-3m", (3.524,), (0.0, 0.0, 0.0)),
    "Pt": ("Fm-3m", (3.924,), (0.0, 0.0, 0.0)),
    "Mo": ("Im-3m", (3.147,), (0.0, 0.0, 0.0)),
    "W": ("Im-3m", (3.165,), (0.0, 0.0, 0.0)),
    "Mg": ("P6_3/mmc", (3.209, 5.211), (1 / 3, 2 / 3, 0.25)),
}


def elemental_structure(symbol: str) -> Structure:
    """The conventional cell of a built-in element (ReferenceFormatError if not built in)."""
    if symbol not in ELEMENTS:
        raise ReferenceFormatError(
            f"{symbol} is not in the built-in elemental set ({', '.join(sorted(ELEMENTS))})"
        )
    group, params, site = ELEMENTS[symbol]
    if len(params) == 1:
        lattice = Lattice.cubic(params[0])
    else:
        lattice = Lattice.hexagonal(params[0], params[1])
    return Structure.from_spacegroup(group, lattice, [symbol], [list(site)])
