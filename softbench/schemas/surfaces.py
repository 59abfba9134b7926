"""Surface-energy documents: per-method slab relaxations, model-vs-DFT parity, summary.

A method (a model, VASP or CP2K) relaxes its own bulk, cuts the same symmetric
stoichiometric slabs from it (:mod:`softbench.analysis.surfaces`), relaxes their ions
at fixed cell and reports gamma = (E_slab - N_slab·ε_bulk) / (2A) per surface. One
surface is one (Miller index, termination); ``facet`` names it, e.g. ``(1,1,1)#1``.
Energies in eV, areas in Å², gamma in eV/Å² and J/m².
"""

from __future__ import annotations

from typing import Any, Final, Literal

from pydantic import BaseModel, Field
from pymatgen.core import Structure

from softbench.schemas.base import AnalysisDocument, SummaryDocument, TaskDocument
from softbench.schemas.elastic import RelaxationRecord
from softbench.schemas.prediction import ModelTaskDocument

TASK = "surfaces"
SURFACE_REFERENCE: Final = "surface_reference"  # doc_type of DFT task documents
SURFACE_PREDICTION: Final = "surface_prediction"  # doc_type of model task documents
SURFACES = "surfaces"  # collection of SurfaceEnergyDocument
SURFACES_SUMMARY = "surfaces_summary"  # collection of SurfaceSummaryDocument
NO_DFT = "no-dft"  # reference label of model runs without a DFT side


def surface_key(material_id: str, facet: str, model: str, reference: str) -> str:
    """Unique key of a surface-energy parity document: ``surfaces|material|facet|model|ref``."""
    return f"{TASK}|{material_id}|{facet}|{model}|{reference}"


class SurfaceRecord(BaseModel):
    """One relaxed slab of one method and its surface energy."""

    facet: str = Field(description="(h,k,l) of the conventional cell, #termination beyond 0")
    miller_index: tuple[int, int, int] = Field(description="conventional standard cell")
    termination: int = Field(0, description="index among the facet's terminations, by shift")
    shift: float | None = Field(None, description="SlabGenerator shift (fractional c)")
    state: Literal["successful", "failed"] = "successful"
    reason: str | None = None
    n_atoms: int
    formula: str | None = None
    area_a2: float = Field(description="one face, Å²")
    thickness_a: float | None = Field(None, description="outermost atomic planes, Å")
    vacuum_a: float | None = Field(None, description="vacuum gap along the normal, Å")
    slab_energy_ev: float | None = None
    surface_energy_ev_a2: float | None = None
    surface_energy_j_m2: float | None = None
    converged: bool | None = Field(None, description="ionic relaxation reached fmax")
    relaxation: RelaxationRecord | None = None
    kpoints: list[int] | None = Field(None, description="DFT k-mesh (1 along the normal)")
    structure: Structure | None = Field(None, description="relaxed slab (last step if not)")


class SurfaceTaskDocument(TaskDocument):
    """What a method computed for one bulk: its relaxed bulk and every slab."""

    task: str = TASK
    input_key: str | None = Field(
        None, description="hash of input structure + geometry options (reuse key)"
    )
    settings: dict[str, Any] = Field(default_factory=dict)
    bulk_structure: Structure | None = Field(None, description="relaxed bulk")
    bulk_energy_per_atom_ev: float | None = None
    bulk_relaxation: RelaxationRecord | None = None
    facets: list[str] = Field(default_factory=list, description="surfaces computed or failed")
    surfaces: list[SurfaceRecord] = Field(default_factory=list)
    skipped_facets: dict[str, str] = Field(
        default_factory=dict, description="facet -> why no slab was made"
    )

    def surface(self, facet: str) -> SurfaceRecord | None:
        """The record of one facet, or None."""
        return next((s for s in self.surfaces if s.facet == facet), None)


class SurfaceReferenceDocument(SurfaceTaskDocument):
    """DFT (VASP or CP2K) surface energies of one material."""

    doc_type: Literal["surface_reference"] = SURFACE_REFERENCE
    state: Literal["successful", "unusable"] = "successful"
    source: str = ""
    dft_settings: dict[str, Any] = Field(default_factory=dict)
    dft_dirs: dict[str, str] = Field(default_factory=dict)


class SurfacePredictionDocument(ModelTaskDocument, SurfaceTaskDocument):
    """A model's surface energies of one material (its own bulk, same slab rules)."""

    doc_type: Literal["surface_prediction"] = SURFACE_PREDICTION
    task: str = TASK


class SurfaceEnergyDocument(AnalysisDocument):
    """Model against DFT gamma for one (material, facet, model, reference).

    ``state``: successful (both relaxed, paired), flagged (a relaxation did not
    converge: last energy kept, left out of the summary errors), missing_reference (no
    DFT partner: the model value is kept) or failed (reason).
    """

    task: str = TASK
    state: Literal["successful", "flagged", "missing_reference", "failed"] = "successful"
    material: str = Field(description="material id as given (Si, mp-149, file stem)")
    facet: str
    miller_index: tuple[int, int, int] | None = None
    termination: int | None = None
    surface_energy_j_m2: float | None = Field(None, description="model gamma, J/m²")
    surface_energy_ev_a2: float | None = Field(None, description="model gamma, eV/Å²")
    dft_surface_energy_j_m2: float | None = None
    dft_surface_energy_ev_a2: float | None = None
    error_j_m2: float | None = Field(None, description="model - DFT, J/m²")
    converged: bool | None = Field(None, description="model (and DFT, if any) relaxations")
    model_converged: bool | None = None
    dft_converged: bool | None = None
    n_atoms: int | None = None
    area_a2: float | None = None
    dft_area_a2: float | None = None


class SurfaceSummaryDocument(SummaryDocument):
    """Per (model, reference): errors over paired, converged surfaces."""

    task: str = TASK
    n_surfaces: int = Field(description="surface documents (all states)")
    n_paired: int = Field(description="successful pairs entering the statistics")
    n_flagged: int = Field(0, description="unconverged relaxations (kept, not used)")
    n_missing_reference: int = Field(0, description="model values without a DFT partner")
    missing_reference: list[str] = Field(default_factory=list, description="material facet")
    mae_j_m2: float | None = None
    mean_signed_error_j_m2: float | None = Field(None, description="mean of model - DFT")
    fraction_underpredicted: float | None = Field(None, description="fraction with model < DFT")
    median_ratio: float | None = Field(None, description="median model/DFT gamma")
    mean_model_j_m2: float | None = Field(None, description="mean model gamma over all values")
