"""CP2K relaxations: the shared BFGS driver and the high-energy task's start relaxation.

:func:`relax_with_cp2k` relaxes a structure with CP2K forces (and stress) through
:class:`~softbench.makers.cp2k.calculator.Cp2kCalculator` and the project's one
relaxation protocol (:func:`softbench.makers.relax.relax_atoms`: BFGS, FrechetCellFilter
and FixSymmetry when the cell relaxes); the surface maker uses it for bulk and slabs.

:class:`Cp2kRelaxMaker` is the CP2K counterpart of the VASP MPRelaxSet relaxation that
starts the high-energy task's MD: it validates the element set
(:func:`~softbench.makers.cp2k.high_energy.validate_elements`), then relaxes cell and
ions (fmax 0.01 eV/Å on atoms and cell, at most 50 BFGS steps, one SCF with stress per
step, the settings' k-mesh of the input cell kept for every step). A refusal (an
element without a vetted kind, no CP2K, a failed validation) or an SCF that does not
converge fails the job with :class:`Cp2kRelaxError`, as a failed VASP relaxation
fails its job: the MD and frame jobs after it do not run and the CP2K statics job
writes an ``unusable`` reference. A relaxation that runs out of steps is kept, its
record saying ``converged: false``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from jobflow import Maker, job
from pydantic import BaseModel, Field
from pymatgen.core import Structure

from softbench.makers.cp2k.calculator import Cp2kCalculator
from softbench.makers.cp2k.runner import Cp2kError, Cp2kRunner, cp2k_refusal
from softbench.makers.cp2k.settings import Cp2kSettings
from softbench.schemas.elastic import RelaxationRecord

RELAX_FMAX = 0.01  # eV/Å, on atoms and (through the cell filter) the cell
RELAX_STEPS = 50  # BFGS steps, one CP2K SCF (with stress) each


class Cp2kRelaxError(Cp2kError):
    """The CP2K relaxation was refused or failed (the message says why)."""


def relax_with_cp2k(
    structure: Structure,
    runner: Cp2kRunner,
    kpoints: tuple[int, int, int],
    fmax: float,
    steps: int,
    relax_cell: bool,
    strict: bool = False,
) -> tuple[Structure, float, RelaxationRecord, int]:
    """Relax with CP2K forces (and stress); (relaxed, energy, record, unconverged SCFs).

    ``strict``: an unconverged SCF raises :class:`~softbench.makers.cp2k.runner.Cp2kError`
    (else it is counted, and the record is not ``converged``).
    """
    from pymatgen.io.ase import AseAtomsAdaptor

    from softbench.analysis.elastic import ase_stress_to_gpa
    from softbench.makers.relax import relax_atoms

    atoms = AseAtomsAdaptor.get_atoms(structure)
    calc = Cp2kCalculator(runner, kpoints, stress=relax_cell, strict=strict)
    result = relax_atoms(atoms, calc, fmax, steps, relax_cell, fix_symmetry=relax_cell)
    energy = float(atoms.get_potential_energy())
    forces = np.asarray(atoms.get_forces(), float)
    stress = ase_stress_to_gpa(atoms.get_stress(voigt=False)) if relax_cell else None
    atoms.set_constraint()
    record = RelaxationRecord(
        converged=result.converged and calc.scf_failures == 0,
        steps=result.steps,
        fmax=fmax,
        max_force=float(np.linalg.norm(forces, axis=1).max()),
        max_stress_gpa=float(np.abs(stress).max()) if stress is not None else None,
    )
    return AseAtomsAdaptor.get_structure(atoms), energy, record, calc.scf_failures


class Cp2kRelaxDocument(BaseModel):
    """Output of :class:`Cp2kRelaxMaker`: the relaxed structure and how it went."""

    material_id: str
    reference: str = Field(description="CP2K settings label of the relaxation")
    structure: Structure = Field(description="relaxed cell and ions")
    energy: float = Field(description="CP2K energy (Mermin free energy) of the relaxed cell, eV")
    record: RelaxationRecord
    kpoints: list[int]
    input_lattice: list[float] = Field(description="a, b, c (Å) of the input cell")
    relaxed_lattice: list[float] = Field(description="a, b, c (Å) of the relaxed cell")
    volume_change: float = Field(description="relaxed / input volume - 1")
    dft_settings: dict[str, Any] = Field(default_factory=dict)


@dataclass
class Cp2kRelaxMaker(Maker):
    """CP2K relaxation (cell and ions) of one material's start structure, in one job."""

    name: str = "cp2k relax"
    settings: Cp2kSettings = field(default_factory=Cp2kSettings)
    fmax: float = RELAX_FMAX
    steps: int = RELAX_STEPS
    ranks: int | None = None

    @job
    def make(self, structure: Structure, material_id: str) -> Cp2kRelaxDocument:
        """The relaxed structure; raises :class:`Cp2kRelaxError` when refused or failed."""
        return cp2k_relax(structure, material_id, self.settings, self.fmax, self.steps, self.ranks)


def cp2k_relax(
    structure: Structure,
    material_id: str,
    settings: Cp2kSettings | None = None,
    fmax: float = RELAX_FMAX,
    steps: int = RELAX_STEPS,
    ranks: int | None = None,
    directory: str | Path = ".",
) -> Cp2kRelaxDocument:
    """The work of :class:`Cp2kRelaxMaker`, callable without jobflow."""
    from softbench.makers.cp2k.high_energy import validate_elements

    settings = settings or Cp2kSettings()
    directory = Path(directory).resolve()
    elements = sorted({s.symbol for s in structure.species})
    problem = cp2k_refusal(elements, settings, ranks)
    if problem:
        raise Cp2kRelaxError(f"CP2K relaxation of {material_id} refused: {problem}")
    with Cp2kRunner(settings, directory / "validation", ranks) as runner:
        reason, checks = validate_elements(elements, settings, runner)
    if reason:
        raise Cp2kRelaxError(f"CP2K relaxation of {material_id} refused: {reason}")
    mesh = settings.kpoints(structure.lattice.matrix)
    with Cp2kRunner(settings, directory / "relax", ranks) as runner:
        try:
            relaxed, energy, record, _ = relax_with_cp2k(
                structure, runner, mesh, fmax, steps, relax_cell=True, strict=True
            )
        except Cp2kError as exc:
            raise Cp2kRelaxError(f"CP2K relaxation of {material_id} failed: {exc}") from exc
    return Cp2kRelaxDocument(
        material_id=material_id,
        reference=settings.label(),
        structure=relaxed,
        energy=energy,
        record=record,
        kpoints=list(mesh),
        input_lattice=list(structure.lattice.abc),
        relaxed_lattice=list(relaxed.lattice.abc),
        volume_change=relaxed.volume / structure.volume - 1,
        dft_settings={
            **settings.describe(),
            "kinds": {e: settings.kinds[e].model_dump() for e in elements},
            "validation": checks,
            "workflow": "softbench Cp2kRelaxMaker (ASE CP2K calculator, BFGS on a "
            "FrechetCellFilter with FixSymmetry)",
        },
    )
