"""CP2K side of the high-energy benchmark: all frames of one material in one job.

:class:`Cp2kHighEnergyMaker` runs CP2K through ASE's CP2K calculator (one
``cp2k.psmp -s`` shell under ``mpiexec`` per input, reused for every frame) and
writes the same ``HighEnergyReferenceDocument`` as the VASP path: forces in eV/Å,
stress in eV/Å³ with ASE's sign (tensile > 0), energy (Mermin free energy) in eV.

Before the frames run, the material's element set is validated on a small distorted
cell (:func:`validate_elements`): the forces must sum to zero and one analytic force
component must match a central finite difference of the energy. A set that fails, or
an element without a vetted kind (:data:`~softbench.makers.cp2k.settings.VETTED_KINDS`),
makes the reference ``unusable`` with the reason; a frame whose SCF did not converge
is excluded with the reason.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from ase import Atoms
from ase.data import atomic_numbers, covalent_radii
from jobflow import Maker, job
from pymatgen.core import Structure
from pymatgen.io.ase import AseAtomsAdaptor

from softbench.makers.cp2k.runner import (
    Cp2kError,
    Cp2kResult,
    Cp2kRunner,
    cp2k_command,
    cp2k_problem,
    cp2k_ranks,
    cp2k_refusal,
)
from softbench.makers.cp2k.settings import Cp2kSettings
from softbench.schemas.configuration import ARRAYS_KEY, Configuration
from softbench.schemas.high_energy import HighEnergyFramesDocument, HighEnergyReferenceDocument

SUM_TOLERANCE = 5e-3  # eV/Å: largest |sum of forces| component
FD_STEP = 0.01  # Å
FD_ABS_TOLERANCE = 5e-3  # eV/Å
FD_REL_TOLERANCE = 0.01


def validation_cell(elements: Iterable[str], seed: int = 0) -> Atoms:
    """A small distorted cell of an element set: one atom per element (at least two).

    Atoms sit on sites of a 2x2x2 grid (spacing: the largest covalent bond length of
    the set) in a slightly oblique cell twice the spacing wide, so neighbours are at a
    bonding distance and periodic images are not crowded; a seeded displacement of up
    to 0.15 Å per Cartesian component breaks every symmetry, so no force vanishes by
    symmetry. Few atoms keep the three Γ-point runs of the check cheap.
    """
    elements = sorted(set(elements))
    radii = sorted(covalent_radii[atomic_numbers[e]] for e in elements)
    spacing = 2 * radii[-1] if len(radii) == 1 else radii[-1] + radii[-2]
    n_sites = max(2, len(elements))
    nz = max(2, -(-n_sites // 4))
    order = [(0, 0, 0), (1, 0, 0), (0, 1, 0), (0, 0, 1), (1, 1, 0), (1, 0, 1), (0, 1, 1)]
    order += [(i, j, k) for k in range(nz) for j in range(2) for i in range(2)]
    sites = list(dict.fromkeys(order))[:n_sites]
    symbols = [elements[n % len(elements)] for n in range(n_sites)]
    rng = np.random.default_rng(seed)
    positions = spacing * np.asarray(sites, float) + rng.uniform(-0.15, 0.15, (n_sites, 3))
    cell = spacing * np.diag([2.0, 2.0, float(nz)])
    cell[0, 1] = 0.1 * spacing  # a slightly oblique cell
    return Atoms(symbols, positions=positions, cell=cell, pbc=True)


def validate_elements(
    elements: Iterable[str], settings: Cp2kSettings, runner: Cp2kRunner
) -> tuple[str | None, dict[str, Any]]:
    """(why the element set fails, or None; the numbers of the checks).

    Γ-point calculations on :func:`validation_cell` at the settings' cutoff and SCF
    tolerance: (1) every Cartesian component of the sum of forces within
    ``SUM_TOLERANCE``; (2) the x force on atom 0 equal to ``-(E(+h) - E(-h)) / 2h``
    within ``FD_ABS_TOLERANCE + FD_REL_TOLERANCE * |F|``.
    """
    elements = sorted(set(elements))
    unvetted = settings.unvetted(elements)
    if unvetted:
        return unvetted, {}
    atoms = validation_cell(elements)
    eps = settings.eps_scf
    kinds = ", ".join(
        f"{e}: {settings.kinds[e].potential}/{settings.kinds[e].basis}" for e in elements
    )
    checks: dict[str, Any] = {"elements": elements, "cell_symbols": atoms.get_chemical_symbols()}
    try:
        base = runner.compute(atoms, None, eps, stress=False)
    except Cp2kError as exc:
        return f"validation run failed: {exc}", checks
    checks["force_sum"] = base.forces.sum(axis=0).tolist()
    if not base.converged:
        return "validation SCF did not converge", checks
    worst = float(np.abs(base.forces.sum(axis=0)).max())
    if worst > SUM_TOLERANCE:
        return (
            f"CP2K validation failed for {kinds}: forces do not sum to zero "
            f"(largest component {worst:.3g} eV/Å > {SUM_TOLERANCE:g}) on a distorted "
            f"{len(atoms)}-atom cell",
            checks,
        )
    energies = []
    try:
        for sign in (1, -1):
            moved = atoms.copy()
            moved.positions[0, 0] += sign * FD_STEP
            energies.append(runner.compute(moved, None, eps, stress=False))
    except Cp2kError as exc:
        return f"validation run failed: {exc}", checks
    if not all(r.converged for r in energies):
        return "validation SCF did not converge", checks
    finite = -(energies[0].energy - energies[1].energy) / (2 * FD_STEP)
    analytic = float(base.forces[0, 0])
    checks.update({"fd_force": finite, "analytic_force": analytic, "fd_step": FD_STEP})
    if abs(finite - analytic) > FD_ABS_TOLERANCE + FD_REL_TOLERANCE * abs(analytic):
        return (
            f"CP2K validation failed for {kinds}: analytic force {analytic:.5f} eV/Å vs "
            f"finite difference {finite:.5f} eV/Å (step {FD_STEP} Å)",
            checks,
        )
    return None, checks


@dataclass
class Cp2kHighEnergyMaker(Maker):
    """CP2K energy, forces and stress of every frame of one material, in one job.

    The job validates the element set first (see :func:`validate_elements`), then
    computes the frames one after another in the job folder with ``ranks`` MPI ranks
    (``SOFTBENCH_CP2K_RANKS`` when None).
    """

    name: str = "cp2k statics"
    settings: Cp2kSettings = field(default_factory=Cp2kSettings)
    ranks: int | None = None

    @job(data=ARRAYS_KEY)
    def make(
        self,
        frames: HighEnergyFramesDocument | dict[str, Any] | None,
        material_id: str,
        sampling_key: str | None = None,
        relaxation: Any = None,
    ) -> HighEnergyReferenceDocument:
        """One reference document for the material's frames.

        ``relaxation``: the record of the CP2K relaxation the MD started from, if any
        (kept in ``dft_settings``).
        """
        return cp2k_reference(
            frames, material_id, self.settings, sampling_key, self.ranks, relaxation=relaxation
        )


def cp2k_reference(
    frames: HighEnergyFramesDocument | dict[str, Any] | None,
    material_id: str,
    settings: Cp2kSettings | None = None,
    sampling_key: str | None = None,
    ranks: int | None = None,
    directory: str | Path = ".",
    relaxation: Any = None,
) -> HighEnergyReferenceDocument:
    """The work of :class:`Cp2kHighEnergyMaker`, callable without jobflow."""
    from softbench.ingest.base import finalize

    settings = settings or Cp2kSettings()
    doc = HighEnergyReferenceDocument(
        material_id=material_id,
        reference=settings.label(),
        source="CP2K (ASE calculator) statics on sampled MD frames",
        sampling_key=sampling_key,
        dft_settings=settings.describe(),
    )
    if frames is None:
        doc.state = "unusable"
        doc.reason = (
            "no sampled frames: an upstream job (CP2K relaxation, MD or frame sampling) failed"
        )
        return doc
    if isinstance(frames, dict):
        frames = HighEnergyFramesDocument.model_validate(frames)
    doc.sampling, doc.sampling_key = frames.sampling, frames.sampling_key
    doc.source_checksum = frames.sampling_key
    doc.source = f"CP2K (ASE calculator) statics on frames of {frames.sampling.describe()}"
    doc.formula = frames.formula
    elements = sorted({s.symbol for f in frames.frames for s in f.structure.species})
    problem = cp2k_refusal(elements, settings, ranks)
    if problem:
        doc.state, doc.reason = "unusable", problem
        return doc
    adaptor = AseAtomsAdaptor()
    directory = Path(directory).resolve()
    confs = []
    with Cp2kRunner(settings, directory / "validation", ranks) as runner:
        reason, checks = validate_elements(elements, settings, runner)
    doc.dft_settings = {
        **settings.describe(),
        "kinds": {e: settings.kinds[e].model_dump() for e in elements if e in settings.kinds},
        "validation": checks,
        "workflow": "softbench Cp2kHighEnergyMaker (ASE CP2K calculator)",
    }
    if relaxation is not None:  # the RelaxationRecord of the CP2K start relaxation
        record = relaxation.model_dump() if hasattr(relaxation, "model_dump") else relaxation
        doc.dft_settings["relaxation"] = {k: v for k, v in record.items() if k[0] != "@"}
    if reason:
        doc.state, doc.reason = "unusable", reason
        return doc
    kpoints_used: dict[str, list[int]] = {}
    with Cp2kRunner(settings, directory / "frames", ranks) as runner:
        for frame in frames.frames:
            cid = frame.configuration_id
            structure: Structure = frame.structure
            atoms = adaptor.get_atoms(structure)
            kpoints = settings.kpoints(np.asarray(atoms.cell))
            kpoints_used[cid] = list(kpoints)
            try:
                result = runner.compute(atoms, kpoints)
            except Cp2kError as exc:
                doc.excluded_configurations[cid] = str(exc)
                continue
            if not result.converged:
                doc.excluded_configurations[cid] = (
                    f"CP2K SCF not converged within {settings.max_scf} steps "
                    f"(EPS_SCF {settings.eps_scf:g})"
                )
                continue
            confs.append(
                Configuration.from_structure(
                    structure,
                    cid,
                    energy=result.energy,
                    forces=result.forces,
                    stress=result.stress,
                    metadata={
                        **frame.label_metadata(frames.sampling.md_model),
                        "kpoints": list(kpoints),
                    },
                )
            )
            doc.dft_dirs[cid] = str(directory / "frames")
    doc.dft_settings["kpoints"] = kpoints_used
    return finalize(doc, confs)  # type: ignore[return-value]


__all__ = [
    "Cp2kError",
    "Cp2kHighEnergyMaker",
    "Cp2kResult",
    "Cp2kRunner",
    "cp2k_command",
    "cp2k_problem",
    "cp2k_ranks",
    "cp2k_reference",
    "validate_elements",
    "validation_cell",
]
