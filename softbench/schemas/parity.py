"""Labelled energy parity: one DFT and one model value per (material, label, model).

Shared by the point-defect and solid-solution tasks, whose job documents hold many
labelled energies (one per defect, one per ordering) each. An analysis document
pairs one label's DFT and model value; a summary aggregates one (task, model,
reference) group.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from softbench.schemas.base import AnalysisDocument, SummaryDocument

#: states of a labelled parity document: paired; paired but a relaxation hit its step
#: limit (values kept, left out of the statistics); model value without a DFT
#: partner; no value
PARITY_STATES = ("successful", "flagged", "unpaired", "failed")


def labelled_key(task: str, material_id: str, label: str, model: str, reference: str) -> str:
    """Key of one labelled parity document: ``task|material_id|label|model|reference``."""
    return f"{task}|{material_id}|{label}|{model}|{reference}"


class LabelledParityDocument(AnalysisDocument):
    """Model against DFT value of one labelled quantity (a defect, an ordering)."""

    key: str = Field(description="task|material_id|label|model|reference")
    pair_key: str = Field(description="task|material_id|model|reference of the job pair")
    state: Literal["successful", "flagged", "unpaired", "failed"] = "successful"
    label: str
    unit: str = "eV"
    model_value: float | None = None
    dft_value: float | None = None
    error: float | None = Field(None, description="model - DFT")
    model_converged: bool | None = Field(None, description="all model relaxations converged")
    dft_converged: bool | None = Field(None, description="all DFT relaxations converged")


class ParitySummaryDocument(SummaryDocument):
    """Per (task, model, reference): errors over paired, converged labels."""

    unit: str = "eV"
    n_labels: int = Field(0, description="labelled documents in the group")
    n_used: int = Field(0, description="paired and converged: enter the statistics")
    n_flagged: int = Field(0, description="paired, a relaxation unconverged (excluded)")
    n_unpaired: int = Field(0, description="model value without a DFT partner")
    missing_partners: list[str] = Field(default_factory=list, description="material|label")
    mae: float | None = None
    mean_signed_error: float | None = Field(None, description="mean of model - DFT")
    fraction_underpredicted: float | None = Field(None, description="fraction model < DFT")
    model_mean: float | None = Field(None, description="mean model value over all its labels")


class RelaxedEnergy(BaseModel):
    """Energy after a relaxation and how the relaxation ended."""

    energy_ev: float | None = None
    n_atoms: int | None = None
    converged: bool | None = None
    steps: int | None = None
    max_force_ev_a: float | None = Field(None, description="final max atomic force")
    reason: str | None = None
