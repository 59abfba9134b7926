"""DFT side of the elastic benchmark computed with VASP (atomate2's ElasticMaker).

atomate2's VASP ElasticMaker with MP-compatible settings (``mp_vasp_elastic_maker``),
plus a job that turns atomate2's ``ElasticDocument`` into the same
:class:`ElasticReferenceDocument` that ingestion writes (with the full tensor), so
model jobs and builders treat both alike.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from jobflow import Flow, Maker, job

from softbench.analysis.elastic import moduli
from softbench.schemas.elastic import ElasticReferenceDocument

if TYPE_CHECKING:
    from pymatgen.core import Structure

VASP_LABEL = "vasp:mp-pbe-elastic"

#: atomate2 ElasticMaker INCAR updates (tight relax / fixed-cell elastic relax)
TIGHT_RELAX_INCAR = {
    "IBRION": 2,
    "ISIF": 3,
    "ENCUT": 700,
    "EDIFF": 1e-7,
    "LAECHG": False,
    "EDIFFG": -0.001,
    "LREAL": False,
    "NSW": 99,
    "LCHARG": False,
}
ELASTIC_RELAX_INCAR = {**TIGHT_RELAX_INCAR, "ISIF": 2, "ALGO": "Normal"}
KPOINTS_GRID_DENSITY = 7000  # k-points per reciprocal atom, as MP's elastic workflow


def mp_vasp_elastic_maker(**kwargs: Any) -> Any:
    """atomate2's VASP ElasticMaker with MP-compatible (PBE) settings.

    atomate2's defaults use PBEsol (its base set); MP's elasticity data are PBE/PBE+U
    with MP's POTCARs. This keeps atomate2's tight-relax and elastic-relax INCAR
    updates and k-point density but builds them on pymatgen's ``MPRelaxSet``
    (functional, +U values, POTCARs, magnetic moments of MP).
    """
    from atomate2.vasp.flows.core import DoubleRelaxMaker
    from atomate2.vasp.flows.elastic import ElasticMaker
    from atomate2.vasp.jobs.elastic import ElasticRelaxMaker
    from atomate2.vasp.jobs.mp import MPGGARelaxMaker
    from pymatgen.io.vasp.sets import MPRelaxSet

    kpoints = {"grid_density": KPOINTS_GRID_DENSITY}
    # atomate2's MP makers take pymatgen's MP sets as input set generators (its
    # type hints name only its own generator class)
    tight_set: Any = MPRelaxSet(
        force_gamma=True, user_incar_settings=TIGHT_RELAX_INCAR, user_kpoints_settings=kpoints
    )
    elastic_set: Any = MPRelaxSet(
        force_gamma=True, user_incar_settings=ELASTIC_RELAX_INCAR, user_kpoints_settings=kpoints
    )
    tight = MPGGARelaxMaker(name="MP GGA tight relax", input_set_generator=tight_set)
    elastic = ElasticRelaxMaker(name="MP GGA elastic relax", input_set_generator=elastic_set)
    double: Any = DoubleRelaxMaker.from_relax_maker(tight)
    return ElasticMaker(
        name="MP GGA elastic",
        bulk_relax_maker=double,
        elastic_relax_maker=elastic,
        **kwargs,
    )


@dataclass
class VaspElasticReferenceMaker(Maker):
    """DFT reference by computation: MP-compatible atomate2 VASP ElasticMaker + conversion.

    The flow's output is an :class:`ElasticReferenceDocument` (with the full tensor),
    so model jobs and builders treat it like an ingested reference.
    """

    name: str = "vasp elastic reference"
    label: str = VASP_LABEL
    elastic_maker: Any = field(default_factory=mp_vasp_elastic_maker)

    def make(self, structure: Structure, material_id: str) -> Flow:
        """VASP elastic flow for one structure, then the reference document."""
        dft = self.elastic_maker.make(structure)
        convert = elastic_reference_from_vasp(
            dft.output, material_id, self.label, vasp_settings(self.elastic_maker)
        )
        convert.name = f"elastic reference {material_id}"
        return Flow([dft, convert], output=convert.output, name=f"{self.name} {material_id}")


def vasp_settings(maker: Any) -> dict[str, Any]:
    """What the VASP reference was computed with (recorded in the document)."""
    gen = maker.elastic_relax_maker.input_set_generator
    return {
        "code": "VASP",
        "workflow": "atomate2 ElasticMaker (MP-compatible: MPRelaxSet base)",
        "input_set": type(gen).__name__,
        "elastic_relax_incar": dict(getattr(gen, "user_incar_settings", {}) or {}),
        "kpoints": dict(getattr(gen, "user_kpoints_settings", {}) or {}),
    }


@job
def elastic_reference_from_vasp(
    elastic_doc: Any, material_id: str, label: str, settings: dict[str, Any] | None = None
) -> ElasticReferenceDocument:
    """Turn atomate2's ElasticDocument into an elastic reference document."""
    from atomate2.common.schemas.elastic import ElasticDocument

    edoc = (
        elastic_doc
        if isinstance(elastic_doc, ElasticDocument)
        else ElasticDocument.model_validate(elastic_doc)
    )
    doc = ElasticReferenceDocument(
        material_id=material_id,
        reference=label,
        source="atomate2 VASP ElasticMaker",
        dft_settings=dict(settings or {}),
    )
    tensor = edoc.elastic_tensor.ieee_format if edoc.elastic_tensor else None
    if edoc.structure is None or tensor is None:
        doc.state, doc.reason = "unusable", "VASP elastic flow produced no tensor"
        return doc
    m = moduli(tensor)
    doc.structure = edoc.structure
    doc.formula = edoc.structure.composition.reduced_formula
    doc.elastic_tensor = np.asarray(tensor, dtype=float).tolist()
    doc.k_vrh_gpa, doc.g_vrh_gpa = m.k_vrh, m.g_vrh
    doc.mechanically_stable = m.stable
    if edoc.fitting_data and edoc.fitting_data.failed_uuids:
        doc.warnings.append(f"{len(edoc.fitting_data.failed_uuids)} deformation(s) failed")
    if not m.stable or m.k_vrh <= 0 or m.g_vrh <= 0:
        doc.state = "unusable"
        doc.reason = (
            f"DFT tensor not positive definite (min eigenvalue {min(m.eigenvalues):.3g} GPa)"
        )
    return doc
