"""DFT side of the solid-solution task with VASP (atomate2 MPGGARelaxMaker, MPRelaxSet).

One full relaxation (ISIF=3) per ordering, then a conversion job that writes the same
:class:`SolidSolutionReferenceDocument` as the model side, with the same mixing-energy
arithmetic (:func:`~softbench.makers.solid_solution.fill_mixing_energies`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from jobflow import Flow, Maker, job

from softbench.makers.solid_solution import fill_mixing_energies
from softbench.makers.vasp.defects import mp_relax_maker, relaxed_from_taskdoc
from softbench.schemas.base import input_checksum
from softbench.schemas.solid_solution import (
    OrderingEnergy,
    SolidSolutionReferenceDocument,
    SolidSolutionSet,
)

VASP_LABEL = "vasp:mp-pbe-solid-solution"


@dataclass
class VaspSolidSolutionReferenceMaker(Maker):
    """DFT reference by computation: every ordering relaxed with MPRelaxSet."""

    name: str = "vasp solid-solution reference"
    label: str = VASP_LABEL
    relax_maker: Any = field(default_factory=lambda: mp_relax_maker("MP GGA relax"))

    def make(self, system: SolidSolutionSet) -> Flow:
        """One relaxation per ordering, then the reference document."""
        jobs = []
        outputs = {}
        for o in system.orderings:
            relax = self.relax_maker.make(o.structure)
            relax.name = f"MP GGA relax {system.material_id} {o.label}"
            jobs.append(relax)
            outputs[o.label] = relax.output
        convert = solid_solution_reference_from_vasp(
            system.model_dump(),
            outputs,
            self.label,
            {"code": "VASP", "input_set": "MPRelaxSet"},
            input_checksum(system),
        )
        convert.name = f"solid-solution reference {system.material_id}"
        return Flow([*jobs, convert], output=convert.output, name=self.name)


@job
def solid_solution_reference_from_vasp(
    system: dict[str, Any],
    relaxations: dict[str, Any],
    label: str,
    settings: dict[str, Any],
    checksum: str | None = None,
) -> SolidSolutionReferenceDocument:
    """Turn the TaskDocs of every ordering into the reference document.

    ``checksum``: the ordering set's input checksum (what a rerun matches to reuse it).
    """
    sset = SolidSolutionSet.coerce(system)
    doc = SolidSolutionReferenceDocument(
        material_id=sset.material_id,
        formula=sset.material_id,
        reference=label,
        dft_settings=settings,
        host=sset.host,
        guest=sset.guest,
        input_checksum=checksum,
    )
    for o in sset.orderings:
        _, rec = relaxed_from_taskdoc(relaxations[o.label])
        doc.orderings.append(
            OrderingEnergy(
                label=o.label, x=o.x, n_guest=o.n_guest, n_host=o.n_host, **rec.model_dump()
            )
        )
    reason = fill_mixing_energies(doc)
    if reason:
        doc.state, doc.reason = "unusable", reason
    return doc
