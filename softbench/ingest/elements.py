"""Built-in elemental ground-state structures (starting points for full relaxations).

Lattice constants are room-temperature experimental values (Å) as tabulated in
C. Kittel, *Introduction to Solid State Physics* (8th ed., ch. 1) and the CRC
Handbook, rounded to 0.01 Å; every method relaxes cell and ions before using them,
so they only set the starting point. Structures are built with pymatgen and returned
as primitive cells. Elements whose ground state is molecular or complex (H, N, O,
halogens, Mn, Ga, B, ...) are not here: a material containing them has no
elemental reference (:class:`MissingElementError`).
"""

from __future__ import annotations

from pymatgen.core import Lattice, Structure

from softbench.ingest.base import ReferenceFormatError

FCC = {"Cu": 3.61, "Al": 4.05, "Ni": 3.52, "Ag": 4.09, "Au": 4.08, "Pt": 3.92, "Pd": 3.89,
       "Pb": 4.95, "Ir": 3.84, "Rh": 3.80, "Ca": 5.58, "Sr": 6.08}  # fmt: skip
BCC = {"Fe": 2.87, "Cr": 2.88, "Mo": 3.15, "W": 3.16, "V": 3.03, "Nb": 3.30, "Ta": 3.30,
       "Li": 3.49, "Na": 4.23, "K": 5.23, "Ba": 5.02}  # fmt: skip
HCP = {"Mg": (3.21, 5.21), "Ti": (2.95, 4.68), "Zn": (2.66, 4.95), "Co": (2.51, 4.07),
       "Zr": (3.23, 5.15), "Cd": (2.98, 5.62), "Be": (2.29, 3.58), "Sc": (3.31, 5.27),
       "Y": (3.65, 5.73), "Hf": (3.19, 5.05), "Ru": (2.71, 4.28), "Re": (2.76, 4.46),
       "Os": (2.74, 4.32)}  # fmt: skip
DIAMOND = {"C": 3.57, "Si": 5.43, "Ge": 5.66}

ELEMENTS = frozenset({*FCC, *BCC, *HCP, *DIAMOND})


class MissingElementError(ReferenceFormatError):
    """An element without a built-in ground-state structure."""


def element_structure(symbol: str) -> Structure:
    """Primitive cell of the elemental ground state of ``symbol``."""
    return elemental_structure(symbol).get_primitive_structure()


def elemental_structure(symbol: str) -> Structure:
    """Conventional cell of the elemental ground state of ``symbol``."""
    if symbol in FCC:
        conv = Structure.from_spacegroup("Fm-3m", Lattice.cubic(FCC[symbol]), [symbol], [[0, 0, 0]])
    elif symbol in BCC:
        conv = Structure.from_spacegroup("Im-3m", Lattice.cubic(BCC[symbol]), [symbol], [[0, 0, 0]])
    elif symbol in HCP:
        a, c = HCP[symbol]
        conv = Structure.from_spacegroup(
            "P6_3/mmc", Lattice.hexagonal(a, c), [symbol], [[1 / 3, 2 / 3, 0.25]]
        )
    elif symbol in DIAMOND:
        conv = Structure.from_spacegroup(
            "Fd-3m", Lattice.cubic(DIAMOND[symbol]), [symbol], [[0, 0, 0]]
        )
    else:
        raise MissingElementError(
            f"no elemental reference for {symbol}: built-in ground states exist for "
            f"{', '.join(sorted(ELEMENTS))}"
        )
    return conv


def check_elements(symbols: list[str] | set[str], where: str = "") -> None:
    """Raise :class:`MissingElementError` naming every element without a reference."""
    missing = sorted(set(symbols) - ELEMENTS)
    if missing:
        place = f" in {where}" if where else ""
        raise MissingElementError(
            f"no elemental reference for {', '.join(missing)}{place} (built-in ground "
            f"states: {', '.join(sorted(ELEMENTS))})"
        )
