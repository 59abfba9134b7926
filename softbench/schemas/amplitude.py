"""Amplitude-resolved force parity: model job output, per-(material, model) curve, rows.

The reference is a phonon reference (task ``phonons-fixed``, phonopy metadata and
DFT displacement forces); its force constants Φ give the harmonic forces F = -Φu
of seeded random displacement patterns. The harmonic reference is exact only at
small amplitudes: a model's departure from it at 0.1 Å mixes model error with
DFT anharmonicity (see docs/amplitude.md for how large that is).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from softbench.schemas.base import (
    AMPLITUDE_PREDICTION,
    AnalysisDocument,
    SummaryDocument,
    analysis_key,
)
from softbench.schemas.configuration import ConfigurationSet
from softbench.schemas.prediction import ModelTaskDocument

TASK = "amplitude"
AMPLITUDE = "amplitude"  # collection of AmplitudePoint rows (one per amplitude)
AMPLITUDE_CURVES = "amplitude_curves"  # collection of AmplitudeDocument
AMPLITUDE_SUMMARY = "amplitude_summary"  # collection of AmplitudeSummaryDocument
HARMONIC_NOTE = (
    "reference forces are harmonic (F = -Phi u from the DFT force constants): exact only "
    "at small amplitudes; at larger ones DFT anharmonicity enters the comparison"
)
UNDISPLACED = "undisplaced"  # configuration id of the model's residual-force frame


def amplitude_key(material_id: str, model: str, reference: str) -> str:
    """Key of a per-(material, model) amplitude document."""
    return analysis_key(TASK, material_id, model, reference)


def point_key(curve_key: str, amplitude: float) -> str:
    """Key of one amplitude row of a curve."""
    return f"{curve_key}|{amplitude:g}"


class AmplitudePredictionDocument(ModelTaskDocument, ConfigurationSet):
    """A model's forces on the reference supercell and its seeded displacement patterns.

    Configuration ``undisplaced`` is the reference geometry (its forces are the
    model's residual); the others carry ``amplitude_angstrom`` and ``pattern`` in
    their metadata.
    """

    doc_type: Literal["amplitude_prediction"] = AMPLITUDE_PREDICTION
    task: str = TASK
    settings: dict[str, Any] = Field(default_factory=dict)


class AmplitudePoint(BaseModel):
    """Force parity at one amplitude."""

    amplitude_angstrom: float
    softening_scale: float | None = None
    softening_scale_ci95: list[float] | None = None
    softening_scale_ci_method: str | None = None
    force_mae: float | None = Field(None, description="eV/Å, model - residual vs -Φu")
    r2: float | None = None
    harmonic_force_rms: float | None = Field(None, description="eV/Å, RMS component of -Φu")
    residual_ratio: float | None = Field(
        None, description="RMS residual force / harmonic_force_rms at this amplitude"
    )
    n_patterns: int = 0
    n_components: int = 0
    no_signal: str | None = None


class AmplitudeDocument(AnalysisDocument):
    """The softening-scale curve of one (material, model) and its roughness."""

    task: str = TASK
    state: Literal["successful", "failed", "unusable"] = "successful"
    points: list[AmplitudePoint] = Field(default_factory=list)
    roughness: float | None = Field(
        None, description="scale at 0.01 Å / scale at 0.1 Å (1 for a smooth PES)"
    )
    rough: bool | None = Field(None, description="|roughness - 1| above the tolerance")
    rough_tolerance: float | None = None
    residual_force_rms: float | None = Field(
        None, description="eV/Å, model at the undisplaced reference geometry"
    )
    n_atoms: int | None = None
    n_patterns: int | None = None
    seed: int | None = None
    harmonic_reference: str = HARMONIC_NOTE
    warnings: list[str] = Field(default_factory=list)


class AmplitudeRow(BaseModel):
    """One amplitude of one curve, flat for ``softbench query amplitude``."""

    key: str
    curve_key: str
    task: str = TASK
    material_id: str
    formula: str | None = None
    model: str
    reference: str
    state: str
    amplitude_angstrom: float
    softening_scale: float | None = None
    softening_scale_ci95: list[float] | None = None
    force_mae: float | None = None
    residual_ratio: float | None = None
    roughness: float | None = None
    rough: bool | None = None
    reason: str | None = None


class AmplitudeSummaryDocument(SummaryDocument):
    """Per (model, reference): the median curve and roughness across materials."""

    task: str = TASK
    amplitudes_angstrom: list[float] = Field(default_factory=list)
    median_softening_scale: list[float | None] = Field(
        default_factory=list, description="per amplitude, over successful materials"
    )
    median_roughness: float | None = None
    n_rough: int = 0
    rough_materials: list[str] = Field(default_factory=list)


class AmplitudePointer(BaseModel):
    """Set on phonon and force-parity documents of a model whose PES is flagged rough."""

    key: str = Field(description="key of the amplitude document (collection amplitude_curves)")
    roughness: float
    note: str = (
        "this model's softening scale depends on the displacement amplitude; see "
        "`softbench query amplitude-curves`"
    )
