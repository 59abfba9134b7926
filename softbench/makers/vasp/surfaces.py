"""DFT side of the surface benchmark computed with VASP (atomate2 relax makers).

MP-compatible settings on pymatgen's ``MPRelaxSet`` (PBE, MP POTCARs, +U, MAGMOM):

- bulk: atomate2 ``MPGGARelaxMaker``, full relaxation (ISIF = 3) with Gaussian
  smearing of 0.05 eV (as MP's surface workflow, so bulk and slab smear alike);
- slabs (cut from the relaxed bulk by the shared rules,
  :func:`softbench.analysis.surfaces.make_slabs`): ions only (ISIF = 2), ISYM = 0,
  the dipole correction and mixing of pymatgen's ``MVLSlabSet`` (MP's surface set:
  LDIPOL, IDIPOL = 3, DIPOL at the centre of mass, AMIN/AMIX/BMIX, NELMIN 8),
  EDIFFG = -0.05 eV/Å, and a Γ-centred mesh of ``k_product`` / (in-plane length)
  points in plane and one point along the normal (MVLSlabSet's rule).

The slab jobs are made at run time, from the relaxed bulk (a jobflow replace), and
a last job writes the same :class:`SurfaceReferenceDocument` the CP2K side writes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from jobflow import Flow, Maker, Response, job

from softbench.schemas.elastic import RelaxationRecord
from softbench.schemas.surfaces import SurfaceReferenceDocument

if TYPE_CHECKING:
    from pymatgen.core import Structure

VASP_LABEL = "vasp:mp-pbe-surfaces"
SMEARING_INCAR = {"ISMEAR": 0, "SIGMA": 0.05}
BULK_INCAR = {**SMEARING_INCAR, "ISIF": 3}
SLAB_INCAR: dict[str, Any] = {
    **SMEARING_INCAR,
    "ISIF": 2,
    "ISYM": 0,
    "IBRION": 2,
    "NSW": 200,
    "EDIFFG": -0.05,
    "NELMIN": 8,
    "AMIN": 0.01,
    "AMIX": 0.2,
    "BMIX": 0.001,
    "LDIPOL": True,
    "IDIPOL": 3,
    "LVTOT": False,
}
BULK_NSW = 99  # MPRelaxSet's NSW: a bulk relaxation using all of them did not converge
K_PRODUCT = 50  # k-points x in-plane length (Å), MVLSlabSet's default
BULK_KPOINTS = {"reciprocal_density": 100}


def mp_bulk_relax_maker() -> Any:
    """atomate2's MPGGARelaxMaker on MPRelaxSet (full relaxation, Gaussian 0.05 eV)."""
    from atomate2.vasp.jobs.mp import MPGGARelaxMaker
    from pymatgen.io.vasp.sets import MPRelaxSet

    generator: Any = MPRelaxSet(
        force_gamma=True, user_incar_settings=BULK_INCAR, user_kpoints_settings=BULK_KPOINTS
    )
    return MPGGARelaxMaker(name="MP GGA bulk relax", input_set_generator=generator)


def slab_kpoints(slab: Structure, k_product: int = K_PRODUCT) -> tuple[int, int, int]:
    """Γ mesh: round(k_product / a), round(k_product / b), 1 (MVLSlabSet's rule)."""
    a, b, _ = slab.lattice.abc
    return max(1, int(k_product / a + 0.5)), max(1, int(k_product / b + 0.5)), 1


def slab_incar(slab: Structure) -> dict[str, Any]:
    """SLAB_INCAR with the dipole centred at the slab's centre of mass (fractional)."""
    weights = [site.species.weight for site in slab]
    centre = np.average(slab.frac_coords, weights=weights, axis=0)
    return {**SLAB_INCAR, "DIPOL": [float(x) for x in centre]}


def mp_slab_relax_maker(slab: Structure, facet: str = "") -> Any:
    """atomate2's MPGGARelaxMaker for one slab: MPRelaxSet + slab updates (ions only)."""
    from atomate2.vasp.jobs.mp import MPGGARelaxMaker
    from pymatgen.io.vasp import Kpoints
    from pymatgen.io.vasp.sets import MPRelaxSet

    kpoints: Any = Kpoints.gamma_automatic(slab_kpoints(slab))  # a Kpoints object is accepted
    generator: Any = MPRelaxSet(user_incar_settings=slab_incar(slab), user_kpoints_settings=kpoints)
    name = f"MP GGA slab relax {facet}".strip()
    return MPGGARelaxMaker(name=name, input_set_generator=generator)


@dataclass
class VaspSurfaceReferenceMaker(Maker):
    """DFT surface energies by VASP: bulk relax, slab relaxes, reference document."""

    name: str = "vasp surfaces"
    label: str = VASP_LABEL
    options: dict[str, Any] = field(default_factory=dict)
    bulk_maker: Any = field(default_factory=mp_bulk_relax_maker)

    def make(self, structure: Structure, material_id: str) -> Flow:
        """Bulk relaxation, then (at run time) one relaxation per slab and the document."""
        from softbench.makers.surfaces import input_key

        bulk = self.bulk_maker.make(structure)
        options = {**_defaults(), **self.options}
        slabs = vasp_slab_relaxes(
            bulk.output, material_id, self.label, options, input_key(structure, options)
        )
        slabs.name = f"surface reference {material_id}"
        return Flow([bulk, slabs], output=slabs.output, name=f"{self.name} {material_id}")


def _defaults() -> dict[str, Any]:
    from softbench.makers.surfaces import DEFAULT_GEOMETRY

    return dict(DEFAULT_GEOMETRY)


def vasp_settings(bulk_maker: Any) -> dict[str, Any]:
    """What the VASP reference was computed with (recorded in the document)."""
    return {
        "code": "VASP",
        "workflow": "atomate2 MPGGARelaxMaker (MPRelaxSet base): bulk ISIF 3, slabs ISIF 2",
        "input_set": type(bulk_maker.input_set_generator).__name__,
        "bulk_incar": dict(BULK_INCAR),
        "slab_incar": dict(SLAB_INCAR),
        "slab_kpoints": f"Gamma, round({K_PRODUCT}/a) x round({K_PRODUCT}/b) x 1",
        "bulk_kpoints": dict(BULK_KPOINTS),
    }


def task_fields(task: Any) -> tuple[Structure, float, float, int]:
    """(final structure, energy in eV, max force in eV/Å, ionic steps) of a VASP TaskDoc."""
    from emmet.core.tasks import TaskDoc

    doc = task if isinstance(task, TaskDoc) else TaskDoc.model_validate(task)
    if doc.output is None or doc.output.energy is None or doc.output.structure is None:
        raise ValueError("VASP task has no final energy or structure")
    forces = np.asarray(doc.output.forces or [[0.0, 0.0, 0.0]], float)
    calcs = doc.calcs_reversed or []
    ionic = (calcs[0].output.ionic_steps or []) if calcs and calcs[0].output else []
    max_force = float(np.linalg.norm(forces, axis=1).max())
    return doc.output.structure, float(doc.output.energy), max_force, len(ionic)


@job
def vasp_slab_relaxes(
    bulk_task: Any, material_id: str, label: str, options: dict[str, Any], key: str
) -> Response:
    """Slabs of the relaxed bulk, one VASP relaxation each, then the reference document."""
    from softbench.makers.surfaces import slabs_of

    bulk, _, _, _ = task_fields(bulk_task)
    slab_set = slabs_of(bulk, options)
    relaxes = []
    meta = []
    for spec in slab_set.slabs:
        relax = mp_slab_relax_maker(spec.slab, spec.facet).make(spec.slab)
        relaxes.append(relax)
        meta.append(
            {
                "facet": spec.facet,
                "miller_index": list(spec.miller_index),
                "termination": spec.termination,
                "shift": spec.shift,
                "slab": spec.slab.as_dict(),
                "kpoints": list(slab_kpoints(spec.slab)),
            }
        )
    collect = surface_reference_from_vasp(
        bulk_task,
        [r.output for r in relaxes],
        meta,
        slab_set.skipped,
        material_id,
        label,
        options,
        key,
        {**vasp_settings(mp_bulk_relax_maker())},
    )
    collect.name = f"surface reference {material_id} (collect)"
    return Response(replace=Flow([*relaxes, collect], output=collect.output))


@job
def surface_reference_from_vasp(
    bulk_task: Any,
    slab_tasks: list[Any],
    slabs: list[dict[str, Any]],
    skipped: dict[str, str],
    material_id: str,
    label: str,
    options: dict[str, Any],
    key: str | None = None,
    settings: dict[str, Any] | None = None,
) -> SurfaceReferenceDocument:
    """The reference document from the VASP TaskDocs of the bulk and the slabs.

    A slab job that failed (no output) or whose final cell has another composition
    than its slab is a failed surface with the reason; a relaxation whose final max
    force exceeds ``fmax`` keeps its energy, marked not converged.
    """
    from pymatgen.core import Structure

    from softbench.analysis.surfaces import SlabSpec
    from softbench.makers.surfaces import failed_record, surface_record

    doc = SurfaceReferenceDocument(
        material_id=material_id,
        reference=label,
        source="atomate2 VASP relaxations of bulk and slabs",
        settings=options,
        dft_settings=dict(settings or {}),
        input_key=key,
        skipped_facets=dict(skipped),
    )
    try:
        bulk, bulk_energy, bulk_force, bulk_steps = task_fields(bulk_task)
    except Exception as exc:  # the bulk job failed: no slab can be used
        return doc.with_failure(f"VASP bulk relaxation unusable: {exc}", "unusable")
    doc.formula = bulk.composition.reduced_formula
    doc.bulk_structure = bulk
    doc.bulk_energy_per_atom_ev = bulk_energy / len(bulk)
    doc.bulk_relaxation = RelaxationRecord(  # MPRelaxSet stops on energy (no EDIFFG)
        converged=bulk_steps < BULK_NSW, steps=bulk_steps, fmax=0.0, max_force=bulk_force
    )
    fmax = float(options["fmax"])
    for meta, task in zip(slabs, slab_tasks, strict=True):
        slab = meta["slab"]  # jobflow hands back the Structure (or its dict)
        slab = slab if isinstance(slab, Structure) else Structure.from_dict(slab)
        spec = SlabSpec(tuple(meta["miller_index"]), meta["termination"], meta["shift"], slab)  # type: ignore[arg-type]
        if task is None:
            doc.surfaces.append(failed_record(spec, "VASP slab relaxation failed (no output)"))
            continue
        try:
            final, energy, force, steps = task_fields(task)
        except Exception as exc:  # unparseable output is this slab's failure
            doc.surfaces.append(failed_record(spec, f"VASP slab output unusable: {exc}"))
            continue
        if final.composition != slab.composition:
            doc.surfaces.append(
                failed_record(
                    spec,
                    f"VASP output is {final.composition.formula} ({len(final)} atoms), the "
                    f"slab {slab.composition.formula} ({len(slab)} atoms)",
                )
            )
            continue
        converged = force <= fmax and steps < SLAB_INCAR["NSW"]
        record = RelaxationRecord(converged=converged, steps=steps, fmax=fmax, max_force=force)
        doc.surfaces.append(
            surface_record(
                spec,
                final,
                energy,
                doc.bulk_energy_per_atom_ev,
                converged,
                record,
                kpoints=meta["kpoints"],
            )
        )
    doc.facets = [s.facet for s in doc.surfaces]
    if not slabs:
        doc.with_failure("no facet up to max index has a symmetric stoichiometric slab", "unusable")
    return doc
