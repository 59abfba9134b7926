"""Phonon makers: ingest DFT phonons with their phonopy metadata; relaxed-mode model job.

Fixed mode needs no maker of its own: :class:`ModelForcesMaker` evaluates the
reference's displaced supercells (task ``phonons-fixed``) and the phonon builder
turns both force sets into force constants. Relaxed mode follows the paper:
relax the primitive cell with the model (atoms and cell, fmax 1e-5 eV/Å), then
displace with the reference's supercell matrix and displacement dataset, and
evaluate all displaced supercells with the same loaded model in one job.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
from jobflow import Maker, job

from softbench.analysis.phonons import (
    build_phonopy,
    n_displacements,
    phonopy_metadata,
    unitcell_from_relaxed_primitive,
)
from softbench.ingest import ReferenceFormatError, SourceItem, read_reference
from softbench.makers.reference import IngestReferenceMaker
from softbench.models import ModelError, ModelRef, resolve_model
from softbench.models.evaluate import evaluate, load_predictor
from softbench.schemas.configuration import ARRAYS_KEY, Configuration
from softbench.schemas.phonons import PHONON_TASKS, RelaxationInfo, RelaxedPhononTaskDocument
from softbench.schemas.reference import ReferenceTaskDocument

PHONOPY_KEY = "phonopy"  # dft_settings entry holding the phonopy metadata (no forces)
RELAX_FMAX = 1e-5  # eV/Å, the paper's relaxation threshold
RELAX_STEPS = 1000


@dataclass
class PhononReferenceMaker(IngestReferenceMaker):
    """Ingest a phonopy yaml and keep what rebuilding its Phonopy object needs.

    ``dft_settings["phonopy"]`` gets the unit cell (with masses), supercell and
    primitive matrices, symmetry tolerance and the displacement dataset without
    forces; the forces stay in the configurations. Builders rebuild force
    constants from the stored document alone, never from the source file.
    """

    name: str = "ingest phonons"
    task: str = PHONON_TASKS["fixed"]

    @job(data=ARRAYS_KEY)
    def make(self, item: SourceItem | dict[str, Any]) -> ReferenceTaskDocument:
        """Ingest ``item``; a yaml without forces gives an 'unusable' document."""
        if isinstance(item, dict):
            item = SourceItem(**item)
        return with_phonopy_metadata(
            read_reference(item, self.task, self.label, self.settings), item.path
        )


def with_phonopy_metadata(doc: ReferenceTaskDocument, path: str) -> ReferenceTaskDocument:
    """Add the phonopy metadata of ``path`` to an ingested reference document."""
    from softbench.ingest.phonopy import load_phonopy

    try:
        ph = load_phonopy(path)
    except ReferenceFormatError:
        return doc  # read_reference already recorded why
    meta = phonopy_metadata(ph)
    doc.dft_settings[PHONOPY_KEY] = meta
    if meta["has_nac"]:
        doc.warnings.append("NAC (Born charges) present in the yaml; softbench does not apply it")
    if doc.state == "successful" and len(doc.configurations) != n_displacements(meta):
        doc.warnings.append(
            f"{len(doc.configurations)} usable displaced supercells of "
            f"{n_displacements(meta)}: force constants cannot be built"
        )
    return doc


@dataclass
class RelaxedPhononMaker(Maker):
    """Relax the primitive cell with a model, displace as the reference did, get forces.

    One job per (material, model): the model is loaded once for the relaxation and
    all displaced supercells. A non-converged relaxation is recorded (and the
    forces still computed), a model failure gives a 'failed' document.
    """

    name: str = "relaxed phonons"
    model: ModelRef = "chgnet-0.3.0"  # registry name or ModelSpec.to_dict()
    fmax: float = RELAX_FMAX
    max_steps: int = RELAX_STEPS
    fix_symmetry: bool = True
    device: str | None = None
    show_progress: bool = True

    @job(data=ARRAYS_KEY)
    def make(
        self,
        reference: ReferenceTaskDocument | dict[str, Any],
        reference_uuid: str | None = None,
    ) -> RelaxedPhononTaskDocument:
        """Relax, displace and evaluate."""
        return relaxed_phonon_forces(
            reference,
            self.model,
            reference_uuid,
            fmax=self.fmax,
            max_steps=self.max_steps,
            fix_symmetry=self.fix_symmetry,
            device=self.device,
            show_progress=self.show_progress,
        )


def relaxed_phonon_forces(
    reference: ReferenceTaskDocument | dict[str, Any],
    model: ModelRef,
    reference_uuid: str | None = None,
    fmax: float = RELAX_FMAX,
    max_steps: int = RELAX_STEPS,
    fix_symmetry: bool = True,
    device: str | None = None,
    show_progress: bool = False,
) -> RelaxedPhononTaskDocument:
    """The work of :class:`RelaxedPhononMaker`, callable without jobflow."""
    ref = ReferenceTaskDocument.coerce(reference)
    spec = resolve_model(model)
    doc = RelaxedPhononTaskDocument.from_reference(ref, spec.safe_provenance(), reference_uuid)
    if ref.state != "successful":
        return doc.with_failure(f"reference unusable: {ref.reason}")
    meta = ref.dft_settings.get(PHONOPY_KEY)
    if not meta:
        return doc.with_failure(
            "reference has no phonopy metadata (ingest it with PhononReferenceMaker)"
        )
    if not spec.package_installed():
        return doc.with_failure(
            f"relaxed mode runs {spec.name}'s ASE calculator in this interpreter, but "
            f"{spec.package} is not installed here (run it in the {spec.environment!r} "
            "environment)",
        )
    start = time.perf_counter()
    try:
        predictor = load_predictor(spec, device)
        ph = build_phonopy(meta)
        from pymatgen.io.phonopy import get_pmg_structure

        predictor.check_elements(get_pmg_structure(ph.primitive), where=ref.material_id)
        info, lattice, positions = relax_primitive(
            ph, predictor.calculator(), fmax, max_steps, fix_symmetry
        )
    except ModelError as exc:
        return doc.with_failure(str(exc))
    except Exception as exc:  # a model blowing up inside ASE is a per-material failure
        return doc.with_failure(f"relaxation failed: {type(exc).__name__}: {exc}")
    relaxed_at = time.perf_counter()
    doc.relaxation = info
    if not info.converged:
        doc.warnings.append(
            f"relaxation not converged: fmax {info.fmax_final:.2e} eV/Å after {info.steps} "
            f"steps (target {fmax:.0e})"
        )
    unit = unitcell_from_relaxed_primitive(meta, lattice, positions)
    ph_relaxed = build_phonopy(meta, unitcell=unit)
    info.space_group_relaxed = ph_relaxed.symmetry.get_international_table()
    if info.space_group_relaxed != meta["space_group"]:
        return doc.with_failure(
            f"relaxed cell has space group {info.space_group_relaxed}, the reference "
            f"{meta['space_group']}: the reference's symmetry-reduced displacements do not apply",
        )
    doc.phonopy = phonopy_metadata(ph_relaxed)
    structures = [_pmg(cell) for cell in ph_relaxed.supercells_with_displacements or []]
    labels = [f"disp-{i + 1:03d}" for i in range(len(structures))]
    try:
        ev = evaluate(
            spec,
            structures,
            device=device,
            labels=labels,
            show_progress=show_progress,
            description=f"{spec.name} relaxed {ref.material_id}",
            stress=False,  # force constants need forces only
        )
    except ModelError as exc:
        return doc.with_failure(str(exc))
    except Exception as exc:  # one material's failure must not stop the others
        return doc.with_failure(f"model evaluation failed: {type(exc).__name__}: {exc}")
    if ev.errors:
        return doc.with_failure(
            "; ".join(f"{labels[i]}: {e}" for i, e in sorted(ev.errors.items()))
        )
    if ev.provenance is not None:
        doc.model = ev.provenance
    doc.configurations = [
        Configuration.from_structure(
            s, label, energy=p.energy, forces=p.forces, metadata={"displacement_index": i}
        )
        for i, (s, label, p) in enumerate(zip(structures, labels, ev.predictions, strict=True))
        if p is not None
    ]
    doc.configuration_ids = [c.configuration_id for c in doc.configurations]
    doc.device = ev.device
    doc.timing = {
        "relax_seconds": relaxed_at - start,
        "eval_seconds": ev.eval_seconds,
        "frames_per_second": len(structures) / ev.eval_seconds if ev.eval_seconds > 0 else 0.0,
    }
    return doc


def relax_primitive(
    ph: Any, calculator: Any, fmax: float, max_steps: int, fix_symmetry: bool = True
) -> tuple[RelaxationInfo, np.ndarray, np.ndarray]:
    """Relax phonopy's primitive cell (positions and cell) with an ASE calculator.

    atomate2's ``AseRelaxer``: BFGS on a FrechetCellFilter; with ``fix_symmetry`` an
    ASE FixSymmetry constraint keeps the space group, so the reference's
    symmetry-reduced displacement set stays complete. Returns the record, the
    relaxed lattice (rows, Å) and fractional positions (not wrapped, phonopy's
    primitive atom order).
    """
    from ase import Atoms

    from softbench.makers.relax import relax_atoms

    prim = ph.primitive
    atoms = Atoms(
        symbols=list(prim.symbols),
        cell=np.asarray(prim.cell),
        scaled_positions=np.asarray(prim.scaled_positions),
        pbc=True,
    )
    dft_volume = atoms.get_volume()
    dft_abc = atoms.cell.cellpar()[:3].tolist()
    relaxed = relax_atoms(
        atoms,
        calculator,
        fmax,
        max_steps,
        fix_symmetry=fix_symmetry,
        symprec=max(ph.symmetry.tolerance, 1e-4),
    )
    info = RelaxationInfo(
        converged=relaxed.converged,
        fmax_target=fmax,
        fmax_final=relaxed.fmax_final,
        steps=relaxed.steps,
        max_steps=max_steps,
        optimizer="BFGS",
        fix_symmetry=fix_symmetry,
        energy_per_atom=float(atoms.get_potential_energy()) / len(atoms),
        volume_ratio=float(atoms.get_volume() / dft_volume),
        lattice_abc=atoms.cell.cellpar()[:3].tolist(),
        dft_lattice_abc=dft_abc,
        space_group_dft=ph.symmetry.get_international_table(),
        primitive_lattice=np.asarray(atoms.cell).tolist(),
        primitive_positions=atoms.get_scaled_positions(wrap=False).tolist(),
    )
    return info, np.asarray(atoms.cell), atoms.get_scaled_positions(wrap=False)


def _pmg(cell: Any) -> Any:
    from pymatgen.io.phonopy import get_pmg_structure

    return get_pmg_structure(cell)
