"""DFT side of the phonon benchmark computed with CP2K (finite displacements, phonopy).

The structure's primitive cell is repeated to a supercell of at least ``min_length``
Å along each lattice vector, phonopy displaces it (0.01 Å, as the VASP data set) and
CP2K computes every displaced supercell with the project's settings, after the
element validation. The result is the same ``phonons-fixed`` reference document that
ingestion and the VASP side write (phonopy metadata in ``dft_settings``), so the model
jobs and the phonon builder take it unchanged. No relaxation: the input structure is
taken as the equilibrium (relax it with the same method first for real numbers).
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from jobflow import Maker, job
from pymatgen.core import Structure
from pymatgen.io.ase import AseAtomsAdaptor

from softbench.analysis.phonons import phonopy_metadata
from softbench.ingest.base import finalize
from softbench.makers.cp2k.high_energy import validate_elements
from softbench.makers.cp2k.runner import Cp2kError, Cp2kRunner
from softbench.makers.cp2k.settings import Cp2kSettings
from softbench.makers.phonons import PHONOPY_KEY
from softbench.schemas.configuration import ARRAYS_KEY, Configuration
from softbench.schemas.phonons import PHONON_TASKS
from softbench.schemas.reference import ReferenceTaskDocument


def supercell_matrix(structure: Structure, min_length: float) -> np.ndarray:
    """Diagonal repetition giving every lattice vector at least ``min_length`` Å."""
    return np.diag([max(1, math.ceil(min_length / a - 1e-9)) for a in structure.lattice.abc])


def phonon_input_key(
    structure: Structure, settings: Cp2kSettings, min_length: float, displacement: float = 0.01
) -> str:
    """Hash of input structure, CP2K label, supercell and displacement (a rerun's identity)."""
    payload = {
        "lattice": np.round(structure.lattice.matrix, 6).tolist(),
        "species": [str(s.species) for s in structure],
        "frac": np.round(structure.frac_coords, 6).tolist(),
        "label": settings.label(),
        "supercell": supercell_matrix(structure.get_primitive_structure(), min_length).tolist(),
        "displacement": displacement,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


@dataclass
class Cp2kPhononReferenceMaker(Maker):
    """CP2K forces on phonopy's displaced supercells of one material, in one job."""

    name: str = "cp2k phonons"
    settings: Cp2kSettings = field(default_factory=Cp2kSettings)
    min_length: float = 10.0
    displacement: float = 0.01
    ranks: int | None = None

    @job(data=ARRAYS_KEY)
    def make(self, structure: Structure, material_id: str) -> ReferenceTaskDocument:
        """Validate the elements, displace, compute; failures are data (``unusable``)."""
        return cp2k_phonon_reference(
            structure, material_id, self.settings, self.min_length, self.displacement,
            self.ranks,
        )  # fmt: skip


def cp2k_phonon_reference(
    structure: Structure,
    material_id: str,
    settings: Cp2kSettings,
    min_length: float = 10.0,
    displacement: float = 0.01,
    ranks: int | None = None,
    directory: str | Path = ".",
) -> ReferenceTaskDocument:
    """The work of :class:`Cp2kPhononReferenceMaker`, callable without jobflow."""
    from phonopy import Phonopy
    from pymatgen.io.phonopy import get_phonopy_structure, get_pmg_structure

    primitive = structure.get_primitive_structure()
    matrix = supercell_matrix(primitive, min_length)
    ph = Phonopy(get_phonopy_structure(primitive), matrix, primitive_matrix=np.eye(3))
    ph.generate_displacements(distance=displacement)
    supercells = [get_pmg_structure(s) for s in ph.supercells_with_displacements or []]
    doc = ReferenceTaskDocument(
        task=PHONON_TASKS["fixed"],
        material_id=material_id,
        formula=structure.composition.reduced_formula,
        reference=settings.label(),
        source="softbench CP2K finite displacements (phonopy)",
        input_key=phonon_input_key(structure, settings, min_length, displacement),
        dft_settings={
            **settings.describe(),
            "displacement_angstrom": displacement,
            "supercell_matrix": matrix.tolist(),
            PHONOPY_KEY: phonopy_metadata(ph),
        },
    )
    folder = Path(directory)
    elements = sorted({e.symbol for e in structure.composition})
    with Cp2kRunner(settings, folder / "validation", ranks) as runner:
        why, checks = validate_elements(elements, settings, runner)
    doc.dft_settings["validation"] = checks
    if why:
        return doc.with_failure(why, "unusable")
    confs = []
    with Cp2kRunner(settings, folder / "displacements", ranks) as runner:
        for i, supercell in enumerate(supercells):
            atoms = AseAtomsAdaptor.get_atoms(supercell)
            try:
                result = runner.compute(atoms, settings.kpoints(atoms.cell[:]), stress=False)
            except Cp2kError as exc:
                return doc.with_failure(f"displacement {i + 1}: {exc}", "unusable")
            if not result.converged:  # every displacement is needed for the force constants
                return doc.with_failure(
                    f"displacement {i + 1}: CP2K SCF did not converge", "unusable"
                )
            confs.append(
                Configuration.from_structure(
                    supercell,
                    f"disp-{i + 1:03d}",
                    energy=result.energy,
                    forces=result.forces,
                    metadata={"displacement_index": i},
                )
            )
    return finalize(doc, confs)
