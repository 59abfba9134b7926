"""One atomic configuration with optional energy, forces and stress.

Per-atom arrays live in :class:`ConfigurationArrays`, which jobflow saves to the
``data`` additional store (one blob per configuration), so index documents stay
small whatever the supercell size.
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np
from pydantic import BaseModel, Field
from pymatgen.core import Lattice, Structure

ARRAYS_KEY = "arrays"  # the field jobflow moves to the ``data`` store


class ConfigurationArrays(BaseModel):
    """Per-atom data. Units: Å, eV/Å; stress 3x3 in eV/Å³ (ASE sign: tensile > 0)."""

    species: list[str]
    lattice: list[list[float]] | None = None
    positions: list[list[float]] | None = Field(None, description="Cartesian, Å")
    forces: list[list[float]] | None = None
    stress: list[list[float]] | None = None


class Configuration(BaseModel):
    """A configuration (frame, displaced supercell, ionic step) and its labels."""

    configuration_id: str
    n_atoms: int
    formula: str
    structure_hash: str | None = None
    energy: float | None = Field(None, description="Total energy, eV")
    metadata: dict[str, Any] = Field(default_factory=dict)
    arrays: ConfigurationArrays

    @classmethod
    def from_structure(
        cls,
        structure: Structure,
        configuration_id: str,
        energy: float | None = None,
        forces: Any = None,
        stress: Any = None,
        metadata: dict[str, Any] | None = None,
    ) -> Configuration:
        """Build a configuration from a pymatgen structure and its labels."""
        arrays = ConfigurationArrays(
            species=[site.specie.symbol for site in structure],
            lattice=structure.lattice.matrix.tolist(),
            positions=structure.cart_coords.tolist(),
            forces=None if forces is None else np.asarray(forces, float).tolist(),
            stress=None if stress is None else np.asarray(stress, float).tolist(),
        )
        return cls(
            configuration_id=str(configuration_id),
            n_atoms=len(structure),
            formula=structure.composition.reduced_formula,
            structure_hash=structure_hash(structure),
            energy=None if energy is None else float(energy),
            metadata=metadata or {},
            arrays=arrays,
        )

    @property
    def structure(self) -> Structure:
        """The configuration as a pymatgen Structure."""
        if self.arrays.lattice is None or self.arrays.positions is None:
            raise ValueError(f"configuration {self.configuration_id} stores no geometry")
        return Structure(
            Lattice(self.arrays.lattice),
            self.arrays.species,
            self.arrays.positions,
            coords_are_cartesian=True,
        )

    @property
    def forces(self) -> np.ndarray | None:
        """Forces as an (N, 3) array, or None."""
        f = self.arrays.forces
        return None if f is None else np.asarray(f, dtype=float).reshape(-1, 3)


class ConfigurationSet(BaseModel):
    """Mixin of task documents that carry configurations (ids kept queryable without arrays)."""

    configurations: list[Configuration] = Field(default_factory=list)
    configuration_ids: list[str] = Field(default_factory=list)

    def model_post_init(self, __context: Any) -> None:
        """Keep the id list (queried without loading arrays) in sync."""
        if not self.configuration_ids:
            self.configuration_ids = [c.configuration_id for c in self.configurations]


def structure_hash(structure: Structure, decimals: int = 4) -> str:
    """Short digest of species, lattice and Cartesian positions (rounded)."""
    h = hashlib.sha1(usedforsecurity=False)
    h.update(",".join(site.specie.symbol for site in structure).encode())
    h.update(np.round(structure.lattice.matrix, decimals).tobytes())
    h.update(np.round(structure.cart_coords, decimals).tobytes())
    return h.hexdigest()[:16]
