"""Reference (DFT) task document: what an ingestion or a DFT job produces."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from softbench.schemas.base import REFERENCE, TaskDocument
from softbench.schemas.configuration import ConfigurationSet


class ReferenceTaskDocument(TaskDocument, ConfigurationSet):
    """DFT energies/forces of all configurations of one material for one task."""

    doc_type: Literal["reference"] = REFERENCE
    task: str = Field(description="benchmark task, e.g. forces, high-energy, phonons")
    source: str = Field(description="file, directory or job the data came from")
    source_checksum: str | None = None
    input_key: str | None = Field(
        None, description="computed references: hash of input structure + DFT protocol (reuse key)"
    )
    dft_settings: dict[str, Any] = Field(default_factory=dict)
    state: Literal["successful", "unusable"] = "successful"
    excluded_configurations: dict[str, str] = Field(default_factory=dict)
    warnings: list[str] = Field(default_factory=list)
