"""jobflow Makers: one maker per benchmark step, atomate2 style."""

from softbench.makers.forces import ModelForcesMaker
from softbench.makers.reference import IngestReferenceMaker

__all__ = ["IngestReferenceMaker", "ModelForcesMaker"]
