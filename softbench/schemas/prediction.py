"""Model prediction task documents: one (material, model) job on one reference."""

from __future__ import annotations

from typing import Any, Literal, Self

from pydantic import Field

from softbench.schemas.base import PREDICTION, TaskDocument
from softbench.schemas.configuration import ConfigurationSet
from softbench.schemas.provenance import ModelProvenance


class ModelTaskDocument(TaskDocument):
    """A model's job on one reference document (which ``reference_uuid`` names)."""

    reference: str = Field(description="label of the reference this mirrors")
    reference_uuid: str | None = Field(None, description="job uuid of the reference")
    model: ModelProvenance
    state: Literal["successful", "failed"] = "successful"
    device: str | None = None
    timing: dict[str, float] = Field(default_factory=dict)

    @classmethod
    def from_reference(
        cls,
        reference: TaskDocument,
        model: ModelProvenance,
        reference_uuid: str | None = None,
        **fields: Any,
    ) -> Self:
        """A (so far successful) document of ``model`` on ``reference``'s material."""
        return cls(
            material_id=reference.material_id,
            formula=reference.formula,
            reference=reference.reference,
            reference_uuid=reference_uuid,
            model=model,
            **fields,
        )


class PredictionTaskDocument(ModelTaskDocument, ConfigurationSet):
    """uMLIP energies/forces on every configuration of one reference document."""

    doc_type: Literal["prediction"] = PREDICTION
    failed_configurations: dict[str, str] = Field(default_factory=dict)
    batch_size: int | None = None
