"""Solid-solution documents: the orderings, DFT and model energies, parity and summary.

Mixing energy per cation of an ordering with n_B guest and n_A host cations
(n = n_A + n_B): dE = E/n - (n_A/n) e_A - (n_B/n) e_B, where e_A, e_B are the
energies per cation of the two end members in the same supercell, computed by the
same method. At an end member the expression is exactly zero.
"""

from __future__ import annotations

from typing import Any, Final, Literal

from pydantic import BaseModel, Field
from pymatgen.core import Structure

from softbench.schemas.base import TaskDocument
from softbench.schemas.parity import LabelledParityDocument, RelaxedEnergy, labelled_key
from softbench.schemas.prediction import ModelTaskDocument

TASK = "solid-solution"
SOLID_SOLUTION = "solid_solution"  # collection of OrderingParityDocument
SOLID_SOLUTION_SUMMARY = "solid_solution_summary"  # collection of ParitySummaryDocument
SOLID_SOLUTION_REFERENCE: Final = "solid_solution_reference"  # doc_type of the DFT job document
SOLID_SOLUTION_PREDICTION: Final = "solid_solution_prediction"  # doc_type of the model job document


def ordering_key(material_id: str, label: str, model: str, reference: str) -> str:
    """Key of one ordering parity document."""
    return labelled_key(TASK, material_id, label, model, reference)


class OrderingSpec(BaseModel):
    """One cation ordering: composition, occupied guest sites and unrelaxed cell."""

    label: str = Field(description="x=<x>/<index>")
    x: float = Field(description="guest cations per formula unit (0 .. formula cations)")
    n_guest: int
    n_host: int
    guest_sites: list[int] = Field(description="indices of the sublattice sites with the guest")
    structure: Structure


class SolidSolutionSet(BaseModel):
    """The orderings of one pseudo-binary system, built once for every method."""

    material_id: str = Field(description="system id, e.g. CaO-MgO")
    host: str
    guest: str
    formula_cations: int = Field(description="cations per formula unit (x runs 0..this)")
    supercell: list[int]
    n_sublattice_sites: int
    n_orderings: int = Field(description="requested orderings per composition")
    seed: int
    orderings: list[OrderingSpec] = Field(default_factory=list)
    n_distinct: dict[str, int] = Field(
        default_factory=dict, description="distinct orderings found per x (enumerated or sampled)"
    )

    @classmethod
    def coerce(cls, obj: SolidSolutionSet | dict[str, Any]) -> SolidSolutionSet:
        """``obj`` itself, or validated from its dict."""
        return obj if isinstance(obj, cls) else cls.model_validate(obj)


class OrderingEnergy(RelaxedEnergy):
    """One relaxed ordering and its mixing energy."""

    label: str
    x: float
    n_guest: int
    n_host: int
    mixing_energy_ev_per_cation: float | None = None


class SolidSolutionEnergies(BaseModel):
    """What one method computes for one system's orderings."""

    settings: dict[str, Any] = Field(default_factory=dict)
    host: str | None = None
    guest: str | None = None
    orderings: list[OrderingEnergy] = Field(default_factory=list)


class SolidSolutionReferenceDocument(TaskDocument, SolidSolutionEnergies):
    """DFT ordering energies of one system."""

    doc_type: Literal["solid_solution_reference"] = SOLID_SOLUTION_REFERENCE
    task: str = TASK
    state: Literal["successful", "unusable"] = "successful"
    dft_settings: dict[str, Any] = Field(default_factory=dict)
    input_checksum: str | None = Field(
        None, description="input_checksum of the input set (reruns reuse an identical one)"
    )


class SolidSolutionPredictionDocument(ModelTaskDocument, SolidSolutionEnergies):
    """A model's ordering energies of one system."""

    doc_type: Literal["solid_solution_prediction"] = SOLID_SOLUTION_PREDICTION
    task: str = TASK


class OrderingParityDocument(LabelledParityDocument):
    """Model against DFT mixing energy (eV/cation) of one ordering."""

    task: str = TASK
    unit: str = "eV/cation"
    x: float | None = None
