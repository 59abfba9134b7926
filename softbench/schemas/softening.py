"""Force-parity softening documents written by the softening builders."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from softbench.schemas.provenance import ModelProvenance, code_version, utcnow


class SofteningDocument(BaseModel):
    """Force parity of one model against the reference for one material."""

    key: str = Field(description="task|material_id|model|reference")
    task: str
    material_id: str
    formula: str | None = None
    model: str
    model_provenance: ModelProvenance | None = None
    reference: str
    reference_uuid: str | None = None
    prediction_uuid: str | None = None
    reference_provenance: dict[str, Any] = Field(default_factory=dict)
    state: Literal["successful", "flagged", "failed"] = Field(
        "successful", description="flagged: computed, but the slope carries no signal"
    )
    reason: str | None = None
    softening_scale: float | None = Field(
        None, description="LSQ slope through the origin, model vs reference forces"
    )
    softening_scale_ci95: list[float] | None = None
    softening_scale_ci_method: str | None = None
    force_mae: float | None = Field(None, description="eV/Å")
    force_cmae: float | None = Field(None, description="MAE after forces/scale, eV/Å")
    force_rmse: float | None = None
    r2: float | None = None
    energy_mae_per_atom: float | None = Field(None, description="eV/atom")
    n_components: int = 0
    n_configurations: int = 0
    excluded_configurations: dict[str, str] = Field(default_factory=dict)
    code_version: str = Field(default_factory=code_version)
    last_updated: datetime = Field(default_factory=utcnow)


class SofteningSummaryDocument(BaseModel):
    """Per (task, model, reference) aggregate of the softening documents."""

    key: str = Field(description="task|model|reference")
    task: str
    model: str
    reference: str
    n_materials: int
    n_successful: int
    n_failed: int
    n_flagged: int = Field(0, description="computed without signal: not in the medians")
    failed_materials: dict[str, str] = Field(default_factory=dict)
    flagged_materials: dict[str, str] = Field(default_factory=dict)
    median_softening_scale: float | None = None
    fraction_softened: float | None = Field(
        None, description="fraction of materials with softening_scale < 1"
    )
    mean_force_mae: float | None = None
    mean_force_cmae: float | None = None
    code_version: str = Field(default_factory=code_version)
    last_updated: datetime = Field(default_factory=utcnow)
