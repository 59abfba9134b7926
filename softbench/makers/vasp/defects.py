"""DFT side of the point-defect task with VASP (atomate2 relax makers, MPRelaxSet).

Per material: an MP GGA relaxation of the primitive bulk (MPRelaxSet, ISIF=3), the
perfect and every defect supercell carried onto the relaxed lattice
(:func:`~softbench.makers.defects.on_lattice`) and relaxed at fixed cell
(MPRelaxSet + ISIF=2), and per element one full relaxation of its ground state
(shared by all materials of the flow). A conversion job turns atomate2's TaskDocs
into the same :class:`DefectReferenceDocument` the CP2K path writes, with the same
formation-energy arithmetic as the model side. A relaxation that used all of its
NSW ionic steps is marked ``converged=False`` (its last energy kept).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from jobflow import Flow, Job, Maker, job

from softbench.ingest.elements import element_structure
from softbench.makers.defects import fill_formation_energies, on_lattice, perfect_supercell
from softbench.schemas.base import input_checksum
from softbench.schemas.defects import (
    DefectEnergy,
    DefectReferenceDocument,
    DefectSet,
    ElementalReference,
)
from softbench.schemas.parity import RelaxedEnergy

VASP_LABEL = "vasp:mp-pbe-defects"
BULK_SUPERCELL = "bulk"  # key of the perfect supercell among the strained cells
FIXED_CELL_INCAR = {"ISIF": 2}  # defect and perfect supercells: ions only


def mp_relax_maker(name: str, incar: dict[str, Any] | None = None) -> Any:
    """atomate2's MPGGARelaxMaker on pymatgen's MPRelaxSet (+ ``incar`` updates)."""
    from atomate2.vasp.jobs.mp import MPGGARelaxMaker
    from pymatgen.io.vasp.sets import MPRelaxSet

    generator: Any = MPRelaxSet(user_incar_settings=dict(incar or {}))
    return MPGGARelaxMaker(name=name, input_set_generator=generator)


@dataclass
class VaspDefectReferenceMaker(Maker):
    """DFT reference by computation: bulk, elements and defect supercells with VASP."""

    name: str = "vasp defect reference"
    label: str = VASP_LABEL
    relax_maker: Any = field(default_factory=lambda: mp_relax_maker("MP GGA relax"))
    fixed_cell_maker: Any = field(
        default_factory=lambda: mp_relax_maker("MP GGA fixed-cell relax", FIXED_CELL_INCAR)
    )

    def element_job(self, element: str) -> Job:
        """Full relaxation of one element's ground state."""
        relax = self.relax_maker.make(element_structure(element))
        relax.name = f"MP GGA relax element {element}"
        return relax

    def make(self, defects: DefectSet, element_jobs: dict[str, Job] | None = None) -> Flow:
        """VASP jobs of one material, then its reference document.

        ``element_jobs``: element relaxations already in the flow (made if absent).
        """
        mid = defects.material_id
        element_jobs = element_jobs if element_jobs is not None else {}
        jobs: list[Job | Flow] = []
        for el in sorted({e.symbol for e in defects.bulk.composition.elements}):
            if el not in element_jobs:
                element_jobs[el] = self.element_job(el)
                jobs.append(element_jobs[el])
        bulk = self.relax_maker.make(defects.bulk)
        bulk.name = f"MP GGA relax bulk {mid}"
        cells = strained_supercells(defects.model_dump(), bulk.output.structure)
        cells.name = f"defect supercells {mid}"
        jobs += [bulk, cells]
        relaxed: dict[str, Any] = {}
        for label in [BULK_SUPERCELL, *(d.label for d in defects.defects)]:
            relax = self.fixed_cell_maker.make(cells.output[label])
            relax.name = f"MP GGA fixed-cell relax {mid} {label}"
            jobs.append(relax)
            relaxed[label] = relax.output
        elements = {
            el: element_jobs[el].output
            for el in {e.symbol for e in defects.bulk.composition.elements}
        }
        convert = defect_reference_from_vasp(
            defects.model_dump(),
            bulk.output,
            relaxed,
            elements,
            self.label,
            self.settings(),
            input_checksum(defects),
        )
        convert.name = f"defect reference {mid}"
        jobs.append(convert)
        return Flow(jobs, output=convert.output, name=f"{self.name} {mid}")

    def settings(self) -> dict[str, Any]:
        """What the reference was computed with (recorded in the document)."""
        return {
            "code": "VASP",
            "workflow": "atomate2 MPGGARelaxMaker (MPRelaxSet)",
            "bulk_and_elements": "MPRelaxSet, ISIF=3",
            "supercells": f"MPRelaxSet + {FIXED_CELL_INCAR} at the relaxed bulk cell",
        }


@job
def strained_supercells(defects: dict[str, Any], relaxed_bulk: Any) -> dict[str, Any]:
    """The perfect and every defect supercell on the relaxed bulk lattice, by label."""
    from pymatgen.core import Structure

    dset = DefectSet.coerce(defects)
    relaxed = (
        relaxed_bulk if isinstance(relaxed_bulk, Structure) else Structure.from_dict(relaxed_bulk)
    )
    cells = {
        BULK_SUPERCELL: on_lattice(
            perfect_supercell(dset.bulk, dset.supercell_matrix), dset.bulk, relaxed
        )
    }
    cells.update({d.label: on_lattice(d.structure, dset.bulk, relaxed) for d in dset.defects})
    return cells


def relaxed_from_taskdoc(taskdoc: Any) -> tuple[Any, RelaxedEnergy]:
    """(final structure, energy record) of an atomate2 VASP relaxation TaskDoc."""
    import numpy as np
    from emmet.core.tasks import TaskDoc

    doc = taskdoc if isinstance(taskdoc, TaskDoc) else TaskDoc.model_validate(taskdoc)
    out: Any = doc.output
    if out is None or out.structure is None or out.energy is None:
        raise ValueError("VASP task document has no final structure or energy")
    structure = out.structure
    calc: Any = doc.calcs_reversed[0] if doc.calcs_reversed else None
    steps = len(calc.output.ionic_steps) if calc is not None and calc.output.ionic_steps else None
    nsw = doc.input.incar.get("NSW") if doc.input and doc.input.incar else None
    forces = np.asarray(out.forces) if out.forces is not None else None
    return structure, RelaxedEnergy(
        energy_ev=float(out.energy),
        n_atoms=len(structure),
        converged=None if steps is None or nsw is None else bool(steps < nsw),
        steps=steps,
        max_force_ev_a=float(np.linalg.norm(forces, axis=1).max()) if forces is not None else None,
        reason=None
        if doc.state is None or str(doc.state.value) == "successful"
        else str(doc.state),
    )


@job
def defect_reference_from_vasp(
    defects: dict[str, Any],
    bulk: Any,
    supercells: dict[str, Any],
    elements: dict[str, Any],
    label: str,
    settings: dict[str, Any] | None = None,
    checksum: str | None = None,
) -> DefectReferenceDocument:
    """Turn the TaskDocs of one material into its defect reference document.

    ``checksum``: the defect set's input checksum (what a rerun matches to reuse it).
    """
    dset = DefectSet.coerce(defects)
    doc = DefectReferenceDocument(
        material_id=dset.material_id,
        formula=dset.formula,
        reference=label,
        dft_settings=dict(settings or {}),
        supercell_matrix=dset.supercell_matrix,
        input_checksum=checksum,
    )
    doc.bulk_structure, doc.bulk = relaxed_from_taskdoc(bulk)
    _, doc.bulk_supercell = relaxed_from_taskdoc(supercells[BULK_SUPERCELL])
    for el in sorted(elements):
        _, rec = relaxed_from_taskdoc(elements[el])
        per_atom = (
            rec.energy_ev / rec.n_atoms if rec.energy_ev is not None and rec.n_atoms else None
        )
        doc.elemental_references.append(
            ElementalReference(element=el, energy_per_atom_ev=per_atom, **rec.model_dump())
        )
    for spec in dset.defects:
        _, rec = relaxed_from_taskdoc(supercells[spec.label])
        doc.defects.append(
            DefectEnergy(
                label=spec.label,
                kind=spec.kind,
                element_changes=spec.element_changes,
                **rec.model_dump(),
            )
        )
    fill_formation_energies(doc)
    return doc


def vasp_defect_flow_jobs(
    sets: Sequence[DefectSet], maker: VaspDefectReferenceMaker | None = None
) -> list[Flow]:
    """One reference flow per material; element relaxations shared across materials."""
    maker = maker or VaspDefectReferenceMaker()
    element_jobs: dict[str, Job] = {}
    return [maker.make(dset, element_jobs) for dset in sets]
