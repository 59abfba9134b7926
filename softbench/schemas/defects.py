"""Point-defect documents: the defect set, DFT and model energies, parity and summary.

E_f = E_defect - E_bulk - sum_i mu_i dN_i (eV), with E_bulk the perfect supercell,
dN_i the atoms of element i added (vacancy: -1) and mu_i the energy per atom of the
relaxed elemental ground state of i, all computed by one method (DFT for the
reference, each model for itself).
"""

from __future__ import annotations

from typing import Any, Final, Literal

from pydantic import BaseModel, Field
from pymatgen.core import Structure

from softbench.schemas.base import TaskDocument
from softbench.schemas.parity import LabelledParityDocument, RelaxedEnergy, labelled_key
from softbench.schemas.prediction import ModelTaskDocument

TASK = "defects"
DEFECTS = "defects"  # collection of DefectParityDocument
DEFECTS_SUMMARY = "defects_summary"  # collection of ParitySummaryDocument
DEFECT_REFERENCE: Final = "defect_reference"  # doc_type of the DFT job document
DEFECT_PREDICTION: Final = "defect_prediction"  # doc_type of the model job document

DefectKind = Literal["vacancy", "interstitial", "antisite"]


def defect_key(material_id: str, label: str, model: str, reference: str) -> str:
    """Key of one defect parity document."""
    return labelled_key(TASK, material_id, label, model, reference)


class DefectSpec(BaseModel):
    """One defect: its label, kind, atoms added per element and unrelaxed supercell."""

    label: str = Field(description="pymatgen-analysis-defects name, _1, _2 for repeats")
    kind: DefectKind
    element_changes: dict[str, int] = Field(description="atoms added per element")
    site_frac_coords: list[float] = Field(description="defect site, primitive cell")
    structure: Structure = Field(description="defect supercell on the input lattice")


class DefectSet(BaseModel):
    """The defects of one bulk structure, built once and given to every method."""

    material_id: str
    formula: str
    bulk: Structure = Field(description="primitive standard cell of the input")
    supercell_matrix: list[list[int]]
    n_supercell_atoms: int
    min_length: float = Field(description="requested minimum supercell edge, Å")
    defects: list[DefectSpec] = Field(default_factory=list)

    @classmethod
    def coerce(cls, obj: DefectSet | dict[str, Any]) -> DefectSet:
        """``obj`` itself, or validated from its dict."""
        return obj if isinstance(obj, cls) else cls.model_validate(obj)


class DefectEnergy(RelaxedEnergy):
    """One relaxed defect supercell and its formation energy."""

    label: str
    kind: DefectKind
    element_changes: dict[str, int]
    formation_energy_ev: float | None = None


class ElementalReference(RelaxedEnergy):
    """The relaxed elemental ground state that sets mu of one element."""

    element: str
    energy_per_atom_ev: float | None = None


class DefectEnergies(BaseModel):
    """What one method computes for one material's defect set."""

    settings: dict[str, Any] = Field(default_factory=dict)
    supercell_matrix: list[list[int]] | None = None
    bulk_structure: Structure | None = Field(None, description="relaxed primitive cell")
    bulk: RelaxedEnergy | None = Field(None, description="relaxation of the primitive cell")
    bulk_supercell: RelaxedEnergy | None = Field(None, description="perfect supercell")
    elemental_references: list[ElementalReference] = Field(default_factory=list)
    chemical_potentials_ev: dict[str, float] = Field(
        default_factory=dict, description="mu_i, eV/atom"
    )
    defects: list[DefectEnergy] = Field(default_factory=list)


class DefectReferenceDocument(TaskDocument, DefectEnergies):
    """DFT defect energies of one material (VASP or CP2K)."""

    doc_type: Literal["defect_reference"] = DEFECT_REFERENCE
    task: str = TASK
    state: Literal["successful", "unusable"] = "successful"
    dft_settings: dict[str, Any] = Field(default_factory=dict)
    input_checksum: str | None = Field(
        None, description="input_checksum of the input set (reruns reuse an identical one)"
    )


class DefectPredictionDocument(ModelTaskDocument, DefectEnergies):
    """A model's defect energies of one material."""

    doc_type: Literal["defect_prediction"] = DEFECT_PREDICTION
    task: str = TASK


class DefectParityDocument(LabelledParityDocument):
    """Model against DFT formation energy of one defect."""

    task: str = TASK
    kind: DefectKind | None = None
    element_changes: dict[str, int] = Field(default_factory=dict)
