"""Pydantic documents that softbench jobs and builders write."""

from softbench.schemas.base import (
    DOC_TYPES,
    AnalysisDocument,
    SummaryDocument,
    TaskDocument,
    doc_type_query,
)
from softbench.schemas.configuration import Configuration, ConfigurationArrays
from softbench.schemas.prediction import PredictionTaskDocument
from softbench.schemas.provenance import ModelProvenance
from softbench.schemas.reference import ReferenceTaskDocument
from softbench.schemas.softening import SofteningDocument, SofteningSummaryDocument

__all__ = [
    "DOC_TYPES",
    "AnalysisDocument",
    "Configuration",
    "ConfigurationArrays",
    "ModelProvenance",
    "PredictionTaskDocument",
    "ReferenceTaskDocument",
    "SofteningDocument",
    "SofteningSummaryDocument",
    "SummaryDocument",
    "TaskDocument",
    "doc_type_query",
]
