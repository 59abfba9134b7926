"""Model prediction task document: one (material, model) evaluation job."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from softbench.schemas.configuration import Configuration
from softbench.schemas.provenance import ModelProvenance, code_version, utcnow


class PredictionTaskDocument(BaseModel):
    """uMLIP energies/forces on every configuration of one reference document."""

    doc_type: Literal["prediction"] = "prediction"
    task: str
    material_id: str
    formula: str | None = None
    reference: str = Field(description="label of the reference these mirror")
    reference_uuid: str | None = Field(None, description="job uuid of the reference")
    model: ModelProvenance
    state: Literal["successful", "failed"] = "successful"
    error: str | None = None
    configurations: list[Configuration] = Field(default_factory=list)
    configuration_ids: list[str] = Field(default_factory=list)
    failed_configurations: dict[str, str] = Field(default_factory=dict)
    device: str | None = None
    batch_size: int | None = None
    timing: dict[str, float] = Field(default_factory=dict)
    code_version: str = Field(default_factory=code_version)
    created_at: datetime = Field(default_factory=utcnow)

    def model_post_init(self, __context: Any) -> None:
        """Keep the id list (queried without loading arrays) in sync."""
        if not self.configuration_ids:
            self.configuration_ids = [c.configuration_id for c in self.configurations]
