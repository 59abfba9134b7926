"""Force-parity softening documents written by the softening builders."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from softbench.schemas.amplitude import AmplitudePointer
from softbench.schemas.base import AnalysisDocument, SummaryDocument, analysis_key

SOFTENING = "softening"  # collection of SofteningDocument
SOFTENING_SUMMARY = "softening_summary"  # collection of SofteningSummaryDocument
softening_key = analysis_key  # task|material_id|model|reference


class SofteningDocument(AnalysisDocument):
    """Force parity of one model against the reference for one material."""

    reference_provenance: dict[str, Any] = Field(default_factory=dict)
    state: Literal["successful", "flagged", "failed"] = Field(
        "successful", description="flagged: computed, but the slope carries no signal"
    )
    softening_scale: float | None = Field(
        None, description="LSQ slope through the origin, model vs reference forces"
    )
    softening_scale_ci95: list[float] | None = None
    softening_scale_ci_method: str | None = None
    force_mae: float | None = Field(None, description="eV/Å")
    force_cmae: float | None = Field(None, description="MAE after forces/scale, eV/Å")
    force_rmse: float | None = None
    r2: float | None = None
    energy_mae_per_atom: float | None = Field(
        None,
        description="eV/atom; only where the reference shares the models' energy zero "
        "(MP-compatible VASP), not for CP2K (GTH pseudopotential total energies)",
    )
    relative_energy_mae_per_atom: float | None = Field(
        None, description="eV/atom, after removing the mean per-atom offset (>= 2 frames)"
    )
    n_components: int = 0
    n_configurations: int = 0
    excluded_configurations: dict[str, str] = Field(default_factory=dict)
    amplitude: AmplitudePointer | None = Field(
        None, description="set when this model's PES is flagged rough (amplitude task)"
    )


class SofteningSummaryDocument(SummaryDocument):
    """Per (task, model, reference) aggregate of the softening documents."""

    n_flagged: int = Field(0, description="computed without signal: not in the medians")
    flagged_materials: dict[str, str] = Field(default_factory=dict)
    median_softening_scale: float | None = None
    fraction_softened: float | None = Field(
        None, description="fraction of materials with softening_scale < 1"
    )
    mean_force_mae: float | None = None
    mean_force_cmae: float | None = None
