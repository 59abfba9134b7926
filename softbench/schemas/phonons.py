"""Phonon softening documents: relaxed-mode task output, analysis, summary, bands.

Modes: ``fixed`` = model forces on the reference's own displaced supercells
(force-constant softening only); ``relaxed`` = the paper's protocol (relax the
primitive cell with the model, then displace with the reference's supercell matrix
and displacement dataset). Frequencies in THz, heat capacity in J/(K·mol) per mole
of primitive cells.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from softbench.schemas.amplitude import AmplitudePointer
from softbench.schemas.base import (
    PHONON_RELAXED,
    AnalysisDocument,
    SummaryDocument,
    analysis_key,
)
from softbench.schemas.configuration import ConfigurationSet
from softbench.schemas.prediction import ModelTaskDocument
from softbench.schemas.provenance import utcnow

PHONON_TASKS = {"fixed": "phonons-fixed", "relaxed": "phonons-relaxed"}
BOTH_MODES = "phonons"  # build task of both modes: one phonon builder pass, DFT phonons once
PhononMode = Literal["fixed", "relaxed"]
PHONONS = "phonons"  # collection of PhononDocument
PHONON_SUMMARY = "phonon_summary"  # collection of PhononSummaryDocument
PHONON_BANDS = "phonon_bands"  # collection of PhononBandsDocument
phonon_key = analysis_key  # task|material_id|model|reference (as softening keys)


class RelaxationInfo(BaseModel):
    """How the model relaxed the primitive cell (relaxed mode)."""

    converged: bool
    fmax_target: float = Field(description="eV/Å, on atoms and cell (FrechetCellFilter)")
    fmax_final: float | None = None
    steps: int = 0
    max_steps: int = 0
    optimizer: str = "BFGS"
    fix_symmetry: bool = True
    energy_per_atom: float | None = Field(None, description="eV/atom, relaxed")
    volume_ratio: float | None = Field(None, description="V(model) / V(DFT), primitive cell")
    lattice_abc: list[float] | None = Field(None, description="Å, relaxed primitive")
    dft_lattice_abc: list[float] | None = None
    space_group_dft: str | None = None
    space_group_relaxed: str | None = None
    primitive_lattice: list[list[float]] | None = Field(None, description="Å, rows")
    primitive_positions: list[list[float]] | None = Field(None, description="fractional")


class RelaxedPhononTaskDocument(ModelTaskDocument, ConfigurationSet):
    """Model forces on displaced supercells of the model-relaxed cell (one job)."""

    doc_type: Literal["phonon_relaxed"] = PHONON_RELAXED
    task: str = PHONON_TASKS["relaxed"]
    relaxation: RelaxationInfo | None = None
    phonopy: dict[str, Any] = Field(
        default_factory=dict,
        description="relaxed unit cell + the reference's matrices and dataset (no forces)",
    )
    warnings: list[str] = Field(default_factory=list)


class PhononDocument(AnalysisDocument):
    """Model vs DFT phonons of one (material, model, mode)."""

    mode: PhononMode
    state: Literal["successful", "failed", "unusable"] = "successful"
    max_freq_ratio: float | None = Field(None, description="ω_max(model) / ω_max(DFT)")
    mean_freq_ratio: float | None = None
    dft_max_freq_thz: float | None = None
    model_max_freq_thz: float | None = None
    dft_mean_freq_thz: float | None = None
    model_mean_freq_thz: float | None = None
    freq_mae_thz: float | None = Field(None, description="on DFT's mesh q-points")
    band_mae_thz: float | None = Field(None, description="along the common band path")
    dft_heat_capacity: float | None = Field(None, description="J/(K mol) at 300 K")
    model_heat_capacity: float | None = None
    dft_min_freq_thz: float | None = None
    model_min_freq_thz: float | None = None
    dft_imaginary: bool | None = None
    model_imaginary: bool | None = None
    softening_scale: float | None = Field(
        None, description="fixed mode: force-parity slope on the displaced supercells"
    )
    force_mae: float | None = Field(None, description="fixed mode, eV/Å")
    relaxation: RelaxationInfo | None = None
    mesh: list[int] | None = None
    temperature_k: float | None = None
    imaginary_tol_thz: float | None = None
    band_path_scheme: str | None = None
    n_displacements: int | None = None
    warnings: list[str] = Field(default_factory=list)
    amplitude: AmplitudePointer | None = Field(
        None, description="set when this model's PES is flagged rough (amplitude task)"
    )


class PhononSummaryDocument(SummaryDocument):
    """Per (mode, model, reference): fraction softened and median ω_max ratio."""

    mode: PhononMode
    n_unusable: int
    unusable_materials: dict[str, str] = Field(default_factory=dict)
    fraction_softened: float | None = Field(
        None, description="fraction of materials with max_freq_ratio < 1"
    )
    median_max_freq_ratio: float | None = None
    mean_max_freq_ratio: float | None = None
    median_mean_freq_ratio: float | None = None
    mean_freq_mae_thz: float | None = None
    n_model_imaginary: int = 0
    n_dft_imaginary: int = 0


class PhononBandsDocument(BaseModel):
    """DFT and model frequencies along the common band path (for figures)."""

    key: str
    task: str
    mode: PhononMode
    material_id: str
    formula: str | None = None
    model: str
    reference: str
    labels: list[list[str]] = Field(description="(start, end) label of each segment")
    distances: list[list[float]] = Field(description="1/Å along DFT's reciprocal cell")
    dft_frequencies: list[list[list[float]]] = Field(description="THz, [segment][q][band]")
    model_frequencies: list[list[list[float]]]
    last_updated: datetime = Field(default_factory=utcnow)
