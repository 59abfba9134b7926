"""Surface energies, model side (DFT: :mod:`.vasp.surfaces`, :mod:`.cp2k.surfaces`).

:class:`ModelSurfaceMaker`: one job per (material, model), the model loaded once for
all of the material's slabs. The bulk relaxes (cell and ions, BFGS on a
FrechetCellFilter with FixSymmetry, :func:`softbench.makers.relax.relax_atoms`); the
slabs are cut from the relaxed bulk (:func:`softbench.analysis.surfaces.make_slabs`:
in-plane lattice = relaxed bulk) and their ions relax at fixed cell to ``fmax``
(0.05 eV/Å), without symmetry constraints (as VASP's ISYM = 0 of MP's slab set). A
relaxation that hits its step limit keeps its last energy, marked not converged.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from jobflow import Maker, job

from softbench.analysis.surfaces import (
    SlabSpec,
    SurfaceInputError,
    check_bulk,
    make_slabs,
    slab_area,
    slab_thickness,
    standard_cells,
    surface_energy,
    to_j_per_m2,
)
from softbench.models import ModelRef, resolve_model
from softbench.schemas.elastic import RelaxationRecord
from softbench.schemas.surfaces import (
    SurfacePredictionDocument,
    SurfaceRecord,
    SurfaceReferenceDocument,
    SurfaceTaskDocument,
)

if TYPE_CHECKING:
    from pymatgen.core import Structure

#: geometry and relaxation options shared by every method (model, VASP, CP2K)
DEFAULT_GEOMETRY: dict[str, Any] = {
    "max_index": 2,
    "min_slab_a": 10.0,
    "min_vacuum_a": 10.0,
    "fmax": 0.05,  # eV/Å, slab ions
    "bulk_fmax": 0.01,  # eV/Å, bulk (ions and cell)
}
GEOMETRY_KEYS = ("max_index", "min_slab_a", "min_vacuum_a")


def input_key(structure: Structure, options: dict[str, Any]) -> str:
    """Hash of the bulk input and the slab geometry rules (what makes slabs the same)."""
    payload = {
        "lattice": np.round(structure.lattice.matrix, 6).tolist(),
        "species": [str(s.species) for s in structure],
        "frac": np.round(structure.frac_coords, 6).tolist(),
        **{k: options.get(k, DEFAULT_GEOMETRY[k]) for k in GEOMETRY_KEYS},
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


def slabs_of(bulk: Structure, options: dict[str, Any]) -> Any:
    """The :class:`~softbench.analysis.surfaces.SlabSet` of a relaxed bulk."""
    return make_slabs(
        bulk,
        max_index=int(options["max_index"]),
        min_slab=float(options["min_slab_a"]),
        min_vacuum=float(options["min_vacuum_a"]),
    )


def surface_record(
    spec: SlabSpec,
    relaxed: Structure,
    energy: float | None,
    bulk_energy_per_atom: float,
    converged: bool | None,
    relaxation: RelaxationRecord | None = None,
    **extra: Any,
) -> SurfaceRecord:
    """The record of one relaxed slab, gamma from its energy and the bulk energy per atom."""
    thickness, vacuum = slab_thickness(relaxed)
    area = slab_area(relaxed)
    record = SurfaceRecord(
        facet=spec.facet,
        miller_index=spec.miller_index,
        termination=spec.termination,
        shift=spec.shift,
        n_atoms=len(relaxed),
        formula=relaxed.composition.reduced_formula,
        area_a2=area,
        thickness_a=thickness,
        vacuum_a=vacuum,
        slab_energy_ev=energy,
        converged=converged,
        relaxation=relaxation,
        structure=relaxed,
        **extra,
    )
    if energy is None or not np.isfinite(energy):
        record.state, record.reason = "failed", "no finite slab energy"
        return record
    gamma = surface_energy(energy, len(relaxed), bulk_energy_per_atom, area)
    record.surface_energy_ev_a2 = gamma
    record.surface_energy_j_m2 = to_j_per_m2(gamma)
    return record


def failed_record(spec: SlabSpec, reason: str, **extra: Any) -> SurfaceRecord:
    """The record of a slab whose relaxation raised."""
    return SurfaceRecord(
        facet=spec.facet,
        miller_index=spec.miller_index,
        termination=spec.termination,
        shift=spec.shift,
        n_atoms=len(spec.slab),
        formula=spec.slab.composition.reduced_formula,
        area_a2=slab_area(spec.slab),
        state="failed",
        reason=reason,
        **extra,
    )


def compute_surfaces(
    doc: SurfaceTaskDocument,
    structure: Structure,
    options: dict[str, Any],
    relax_bulk: Callable[[Structure], tuple[Structure, float, RelaxationRecord]],
    relax_slab: Callable[[SlabSpec], tuple[Structure, float, RelaxationRecord, dict[str, Any]]],
) -> SurfaceTaskDocument:
    """Relax the bulk (its primitive standard cell), cut the slabs, relax each; fill ``doc``.

    ``relax_bulk(structure) -> (relaxed, energy per atom, record)``;
    ``relax_slab(spec) -> (relaxed slab, energy, record, extra record fields)``. A
    bulk that fails fails the document; a slab that fails is a failed record.
    """
    failed = "unusable" if isinstance(doc, SurfaceReferenceDocument) else "failed"
    try:
        bulk, per_atom, record = relax_bulk(standard_cells(structure)[1])
    except Exception as exc:  # calculator or optimiser failure is per-material data
        return doc.with_failure(f"bulk relaxation failed: {type(exc).__name__}: {exc}", failed)
    doc.bulk_structure, doc.bulk_energy_per_atom_ev, doc.bulk_relaxation = bulk, per_atom, record
    try:
        slab_set = slabs_of(bulk, options)
    except Exception as exc:  # spglib or SlabGenerator failure on this bulk
        return doc.with_failure(f"slab generation failed: {type(exc).__name__}: {exc}", failed)
    doc.skipped_facets = slab_set.skipped
    for spec in slab_set.slabs:
        try:
            relaxed, energy, slab_record, extra = relax_slab(spec)
        except Exception as exc:  # one slab the method cannot handle
            doc.surfaces.append(
                failed_record(spec, f"slab relaxation failed: {type(exc).__name__}: {exc}")
            )
            continue
        doc.surfaces.append(
            surface_record(
                spec, relaxed, energy, per_atom, slab_record.converged, slab_record, **extra
            )
        )
    doc.facets = [s.facet for s in doc.surfaces]
    if not slab_set.slabs:
        return doc.with_failure(
            "no facet up to max index has a symmetric stoichiometric slab", failed
        )
    return doc


@dataclass
class ModelSurfaceMaker(Maker):
    """A model's surface energies of one bulk (see the module docstring)."""

    name: str = "model surfaces"
    model: ModelRef = "chgnet-0.3.0"
    device: str | None = None
    max_index: int = 2
    min_slab_a: float = 10.0
    min_vacuum_a: float = 10.0
    fmax: float = 0.05
    bulk_fmax: float = 0.01
    slab_steps: int = 200
    bulk_steps: int = 300

    @job
    def make(
        self,
        structure: Structure,
        material_id: str,
        reference: str,
        reference_uuid: str | None = None,
    ) -> SurfacePredictionDocument:
        """Relax the bulk and every slab with the model."""
        return predict_surfaces(
            structure,
            material_id,
            self.model,
            reference,
            reference_uuid,
            self.device,
            self.options(),
        )

    def options(self) -> dict[str, Any]:
        """The settings recorded with every document."""
        return {
            "max_index": self.max_index,
            "min_slab_a": self.min_slab_a,
            "min_vacuum_a": self.min_vacuum_a,
            "fmax": self.fmax,
            "bulk_fmax": self.bulk_fmax,
            "slab_steps": self.slab_steps,
            "bulk_steps": self.bulk_steps,
            "optimizer": "BFGS",
            "bulk": "FrechetCellFilter + FixSymmetry",
            "slab": "ions only, fixed cell, no symmetry constraint",
        }


def predict_surfaces(
    structure: Structure,
    material_id: str,
    model: ModelRef,
    reference: str,
    reference_uuid: str | None = None,
    device: str | None = None,
    options: dict[str, Any] | None = None,
) -> SurfacePredictionDocument:
    """The work of :class:`ModelSurfaceMaker`, callable without jobflow."""
    from softbench.makers.elastic import relax
    from softbench.makers.relax import CalculatorUnavailable, load_calculator

    opts = {**ModelSurfaceMaker().options(), **(options or {})}
    spec = resolve_model(model)
    doc = SurfacePredictionDocument(
        material_id=material_id,
        formula=structure.composition.reduced_formula,
        reference=reference,
        reference_uuid=reference_uuid,
        model=spec.safe_provenance(),
        settings=opts,
        input_key=input_key(structure, opts),
    )
    try:
        check_bulk(structure, material_id)
    except SurfaceInputError as exc:
        return doc.with_failure(str(exc))
    start = time.perf_counter()
    try:
        predictor, calc = load_calculator(spec, device, [structure], material_id, "surfaces")
    except CalculatorUnavailable as exc:
        return doc.with_failure(str(exc))
    doc.model = spec.safe_provenance()
    doc.device = predictor.device
    loaded = time.perf_counter()

    def relax_bulk(bulk: Structure) -> tuple[Structure, float, RelaxationRecord]:
        relaxed, record, _ = relax(bulk, calc, opts["bulk_fmax"], opts["bulk_steps"], True, True)
        return relaxed, energy_of(relaxed, calc) / len(relaxed), record

    def relax_slab(slab: SlabSpec) -> tuple[Structure, float, RelaxationRecord, dict[str, Any]]:
        relaxed, record, _ = relax(slab.slab, calc, opts["fmax"], opts["slab_steps"], False, False)
        return relaxed, energy_of(relaxed, calc), record, {}

    compute_surfaces(doc, structure, opts, relax_bulk, relax_slab)
    end = time.perf_counter()
    doc.timing = {
        "load_seconds": loaded - start,
        "total_seconds": end - start,
        "n_slabs": float(len(doc.surfaces)),
        "n_slab_atoms": float(sum(s.n_atoms for s in doc.surfaces)),
    }
    return doc


def energy_of(structure: Structure, calc: Any) -> float:
    """Potential energy (eV) of ``structure`` with an ASE calculator."""
    from pymatgen.io.ase import AseAtomsAdaptor

    atoms = AseAtomsAdaptor.get_atoms(structure)
    atoms.calc = calc
    energy = float(atoms.get_potential_energy())
    if not np.isfinite(energy):
        raise FloatingPointError("non-finite energy")
    return energy
