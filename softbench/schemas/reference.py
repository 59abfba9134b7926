"""Reference (DFT) task document: what an ingestion or a DFT job produces."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from softbench.schemas.configuration import Configuration
from softbench.schemas.provenance import code_version, utcnow


class ReferenceTaskDocument(BaseModel):
    """DFT energies/forces of all configurations of one material for one task."""

    doc_type: Literal["reference"] = "reference"
    task: str = Field(description="benchmark task, e.g. forces, high-energy, phonons")
    material_id: str
    formula: str | None = None
    reference: str = Field(description="label of the reference method")
    source: str = Field(description="file, directory or job the data came from")
    source_checksum: str | None = None
    dft_settings: dict[str, Any] = Field(default_factory=dict)
    state: Literal["successful", "unusable"] = "successful"
    reason: str | None = Field(None, description="why the reference is unusable")
    configurations: list[Configuration] = Field(default_factory=list)
    configuration_ids: list[str] = Field(default_factory=list)
    excluded_configurations: dict[str, str] = Field(default_factory=dict)
    warnings: list[str] = Field(default_factory=list)
    code_version: str = Field(default_factory=code_version)
    created_at: datetime = Field(default_factory=utcnow)

    def model_post_init(self, __context: Any) -> None:
        """Keep the id list (queried without loading arrays) in sync."""
        if not self.configuration_ids:
            self.configuration_ids = [c.configuration_id for c in self.configurations]
