"""Elastic-softening documents: DFT reference, model prediction, analysis and summary.

All moduli and tensors are in GPa; tensors are 6x6 Voigt matrices in the IEEE
orientation (pymatgen ``convert_to_ieee``), so diagonal constants of model and DFT
can be compared entry by entry.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field
from pymatgen.core import Structure

from softbench.schemas.base import (
    ELASTIC_PREDICTION,
    ELASTIC_REFERENCE,
    AnalysisDocument,
    SummaryDocument,
    TaskDocument,
    alias,
    analysis_key,
)
from softbench.schemas.prediction import ModelTaskDocument

TASK = "elastic"
ELASTIC = "elastic"  # collection of ElasticSofteningDocument
ELASTIC_SUMMARY = "elastic_summary"  # collection of ElasticSummaryDocument


def elastic_key(material_id: str, model: str, reference: str) -> str:
    """Unique key of an elastic softening document."""
    return analysis_key(TASK, material_id, model, reference)


class RelaxationRecord(BaseModel):
    """How a model relaxation went (bulk: cell + ions; deformed cells: ions only)."""

    converged: bool
    steps: int
    fmax: float = Field(description="requested max force, eV/Å")
    max_force: float = Field(description="final max atomic force, eV/Å")
    max_stress_gpa: float | None = Field(
        None, description="final max |stress component| (bulk relaxation), GPa"
    )


class StrainStressData(BaseModel):
    """How a tensor was computed: relaxation, strained cells and their stresses."""

    relaxation: RelaxationRecord | None = None
    equilibrium_stress_gpa: list[list[float]] | None = None
    deformations: list[list[list[float]]] = Field(default_factory=list)
    stresses_gpa: list[list[list[float]]] = Field(
        default_factory=list, description="Cauchy stress per deformation, tensile > 0"
    )
    deformation_relaxations: list[RelaxationRecord | None] = Field(default_factory=list)


class ElasticReferenceDocument(StrainStressData, TaskDocument):
    """DFT elastic properties of one material (ingested file, VASP or CP2K run).

    The strain-stress fields are filled where softbench computed the tensor (CP2K).
    """

    doc_type: Literal["elastic_reference"] = ELASTIC_REFERENCE
    task: str = TASK
    source: str = Field(description="file (#key) or job the data came from")
    source_checksum: str | None = None
    dft_settings: dict[str, Any] = Field(default_factory=dict)
    state: Literal["successful", "unusable"] = "successful"
    structure: Structure | None = None
    k_vrh_gpa: float | None = Field(
        None, validation_alias=alias("k_vrh_gpa", "k_vrh"), description="bulk modulus, VRH, GPa"
    )
    g_vrh_gpa: float | None = Field(
        None, validation_alias=alias("g_vrh_gpa", "g_vrh"), description="shear modulus, VRH, GPa"
    )
    elastic_tensor: list[list[float]] | None = Field(
        None, description="6x6 Voigt, IEEE orientation, GPa"
    )
    mechanically_stable: bool | None = Field(
        None, description="Born criteria (positive-definite tensor); None without a tensor"
    )
    input_key: str | None = Field(
        None, description="hash of input structure and protocol (computed references)"
    )
    warnings: list[str] = Field(default_factory=list)


class StrainScanPoint(BaseModel):
    """The tensor fitted from strains of ±``strain_magnitude`` only (``--strain-magnitudes``)."""

    strain_magnitude: float = Field(description="fractional; shear states at twice it")
    elastic_tensor: list[list[float]] | None = None
    k_vrh_gpa: float | None = None
    g_vrh_gpa: float | None = None
    mechanically_stable: bool | None = None
    k_ratio: float | None = Field(None, description="model/DFT K_VRH (analysis documents)")
    g_ratio: float | None = Field(None, description="model/DFT G_VRH (analysis documents)")
    reason: str | None = Field(None, description="why this magnitude has no tensor")


class ElasticPredictionDocument(StrainStressData, ModelTaskDocument):
    """A model's elastic tensor of one material, fitted from its strained cells."""

    doc_type: Literal["elastic_prediction"] = ELASTIC_PREDICTION
    task: str = TASK
    settings: dict[str, Any] = Field(default_factory=dict)
    n_atoms: int | None = None
    relaxed_structure: Structure | None = None
    volume_change: float | None = Field(None, description="relaxed/initial volume - 1")
    elastic_tensor: list[list[float]] | None = None
    k_voigt_gpa: float | None = Field(None, validation_alias=alias("k_voigt_gpa", "k_voigt"))
    k_reuss_gpa: float | None = Field(None, validation_alias=alias("k_reuss_gpa", "k_reuss"))
    k_vrh_gpa: float | None = Field(None, validation_alias=alias("k_vrh_gpa", "k_vrh"))
    g_voigt_gpa: float | None = Field(None, validation_alias=alias("g_voigt_gpa", "g_voigt"))
    g_reuss_gpa: float | None = Field(None, validation_alias=alias("g_reuss_gpa", "g_reuss"))
    g_vrh_gpa: float | None = Field(None, validation_alias=alias("g_vrh_gpa", "g_vrh"))
    eigenvalues_gpa: list[float] | None = Field(
        None,
        validation_alias=alias("eigenvalues_gpa", "eigenvalues"),
        description="of the Voigt matrix",
    )
    mechanically_stable: bool | None = None
    strain_scan: list[StrainScanPoint] | None = Field(
        None, description="tensors per strain magnitude (only with a strain scan)"
    )


class ElasticSofteningDocument(AnalysisDocument):
    """Model against DFT moduli for one (material, model, reference)."""

    task: str = TASK
    state: Literal["successful", "failed"] = "successful"
    k_vrh_gpa: float | None = None
    g_vrh_gpa: float | None = None
    dft_k_vrh_gpa: float | None = None
    dft_g_vrh_gpa: float | None = None
    k_ratio: float | None = Field(None, description="model/DFT K_VRH")
    g_ratio: float | None = Field(None, description="model/DFT G_VRH")
    elastic_tensor: list[list[float]] | None = None
    dft_elastic_tensor: list[list[float]] | None = None
    diagonal_ratios: list[float | None] | None = Field(
        None, description="C_ii model/DFT, i=1..6, where the DFT tensor exists"
    )
    elastic_softening: float | None = Field(
        None, description="median of diagonal ratios (DFT tensor) else of K and G ratios"
    )
    softening_basis: Literal["diagonal", "moduli"] | None = None
    mechanically_stable: bool | None = Field(
        None, description="model tensor positive definite (Born); False: excluded"
    )
    min_eigenvalue_gpa: float | None = None
    dft_mechanically_stable: bool | None = None
    relaxation_converged: bool | None = None
    volume_change: float | None = None
    n_atoms: int | None = None
    strain_scan: list[StrainScanPoint] | None = Field(
        None, description="model K, G per strain magnitude with ratios to DFT (scan only)"
    )


class ElasticSummaryDocument(SummaryDocument):
    """Per (model, reference): medians and distributions over stable materials."""

    task: str = TASK
    n_successful: int = Field(description="tensor fitted (stable or not)")
    n_unstable: int = Field(description="non-positive-definite model tensors (excluded)")
    n_used: int = Field(description="stable tensors entering the statistics")
    n_unconverged: int = Field(0, description="used results whose relaxation hit max steps")
    unstable_materials: list[str] = Field(default_factory=list)
    median_k_ratio: float | None = None
    median_g_ratio: float | None = None
    median_elastic_softening: float | None = None
    fraction_k_softened: float | None = Field(None, description="fraction with K ratio < 1")
    fraction_g_softened: float | None = Field(None, description="fraction with G ratio < 1")
    fraction_softened: float | None = Field(None, description="fraction with elastic_softening < 1")
    k_mae_gpa: float | None = None
    g_mae_gpa: float | None = None
    log10_k_ratio: dict[str, float] = Field(default_factory=dict)
    log10_g_ratio: dict[str, float] = Field(default_factory=dict)
