"""Ion-migration documents: a hop's DFT path, a model's path, barriers and summary.

A *hop* is one move of the working ion between two end points in a host cell
(atomate2's ApproxNEB convention: the host holds no moving ion; the ion is inserted
at site index 0 of each end point and image). Energies are eV; ``image_energies_ev``
always lists ``E_0 .. E_N``: the end points first and last, the images between.
Barrier definitions: :mod:`softbench.analysis.migration`.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field
from pymatgen.core import Structure

from softbench.schemas.base import (
    MIGRATION_PREDICTION,
    MIGRATION_REFERENCE,
    AnalysisDocument,
    SummaryDocument,
    TaskDocument,
    analysis_key,
)
from softbench.schemas.prediction import ModelTaskDocument

TASK = "migration"
MIGRATION = "migration"  # collection of MigrationBarrierDocument
MIGRATION_SUMMARY = "migration_summary"  # collection of MigrationSummaryDocument
MODEL_ONLY = "model-only"  # label of hops defined without DFT energies


def migration_key(host: str, hop_id: str, model: str, reference: str) -> str:
    """Unique key of a barrier document: ``migration|<host>#<hop_id>|model|reference``."""
    return analysis_key(TASK, f"{host}#{hop_id}", model, reference)


class HopRelaxation(BaseModel):
    """How one relaxation of a hop went, and its final energy."""

    converged: bool
    steps: int
    fmax: float = Field(description="requested max force, eV/Å")
    max_force: float = Field(description="final max force on the free atoms, eV/Å")
    energy_ev: float


class HopFields(TaskDocument):
    """What defines a hop: host (``material_id``), hop id, working ion, end points."""

    task: str = TASK
    hop_id: str
    working_ion: str
    host_structure: Structure | None = Field(
        None, description="host cell without the moving ion (atomate2's ApproxNEB host)"
    )
    end_points: list[list[float]] = Field(
        default_factory=list, description="fractional coordinates of the ion at both ends"
    )
    n_images: int = Field(5, description="images between the end points")
    limit: str | None = Field(None, description="vacancy, empty (dilute) or given")


class MigrationReferenceDocument(HopFields):
    """One hop with its DFT path energies (ingested, VASP or CP2K), or without (model-only)."""

    doc_type: Literal["migration_reference"] = MIGRATION_REFERENCE
    state: Literal["successful", "unusable"] = "successful"
    source: str = Field(description="file (#record) or job the data came from")
    source_checksum: str | None = None
    dft_settings: dict[str, Any] = Field(default_factory=dict)
    image_energies_ev: list[float] | None = Field(None, description="E_0 .. E_N, eV")
    relative_energies_ev: list[float] | None = Field(None, description="E_i - (E_0 + E_N)/2")
    barrier_ev: float | None = Field(None, description="KRA barrier, eV")
    asymmetry_ev: float | None = Field(None, description="E_N - E_0, eV")
    forward_barrier_ev: float | None = None
    hop_distance_ang: float | None = None
    images: list[Structure] | None = Field(None, description="DFT path, end points included")


class MigrationPredictionDocument(ModelTaskDocument, HopFields):
    """A model's ApproxNEB of one hop: relaxed host, end points and images, energies."""

    doc_type: Literal["migration_prediction"] = MIGRATION_PREDICTION
    task: str = TASK
    settings: dict[str, Any] = Field(default_factory=dict)
    host_relaxation: HopRelaxation | None = None
    end_point_relaxations: list[HopRelaxation] = Field(default_factory=list)
    image_relaxations: list[HopRelaxation | None] = Field(default_factory=list)
    failed_images: dict[str, str] = Field(default_factory=dict)
    image_energies_ev: list[float] | None = None
    relative_energies_ev: list[float] | None = None
    barrier_ev: float | None = None
    asymmetry_ev: float | None = None
    forward_barrier_ev: float | None = None
    reverse_barrier_ev: float | None = None
    hop_distance_ang: float | None = Field(None, description="between relaxed end points")
    images: list[Structure] | None = Field(None, description="relaxed path, end points included")


class MigrationBarrierDocument(AnalysisDocument):
    """Model against DFT barrier of one (host, hop, model, reference)."""

    task: str = TASK
    state: Literal["successful", "failed"] = "successful"
    host: str
    hop_id: str
    working_ion: str | None = None
    barrier_ev: float | None = Field(None, description="model KRA barrier, eV")
    dft_barrier_ev: float | None = None
    barrier_difference_ev: float | None = Field(None, description="DFT - model, eV")
    image_energies_ev: list[float] | None = Field(
        None, description="model E_i - (E_0 + E_N)/2, end points included, eV"
    )
    dft_image_energies_ev: list[float] | None = None
    asymmetry_ev: float | None = None
    dft_asymmetry_ev: float | None = None
    forward_barrier_ev: float | None = None
    hop_distance_ang: float | None = None
    n_images: int | None = None
    relaxations_converged: bool | None = Field(
        None, description="every model relaxation (host, end points, images) met fmax"
    )
    paired: bool = Field(False, description="a DFT barrier exists for this hop")


class MigrationSummaryDocument(SummaryDocument):
    """Per (model, reference): DFT - model barrier statistics over paired hops."""

    task: str = TASK
    n_paired: int = 0
    mae_ev: float | None = None
    mean_signed_difference_ev: float | None = Field(None, description="mean of DFT - model")
    fraction_underpredicted: float | None = Field(None, description="model barrier < DFT")
    mean_barrier_ev: float | None = None
    mean_dft_barrier_ev: float | None = None
