"""Provenance of the models and code behind a result."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from pydantic import BaseModel, Field

from softbench import __version__


class ModelProvenance(BaseModel):
    """Which model produced a prediction, down to the weights file checksum."""

    name: str = Field(description="softbench registry name, e.g. chgnet-0.3.0")
    family: str
    version: str
    package: str | None = None
    package_version: str | None = None
    source: str
    weights_sha256: str | None = None
    environment: str = "default"
    correction: dict[str, Any] | None = Field(
        None,
        description="linear correction (c, base model, label configurations and source)",
    )


def utcnow() -> datetime:
    """Timezone-aware now, for ``created_at``/``last_updated`` fields."""
    return datetime.now(timezone.utc)


def code_version() -> str:
    """The softbench version that wrote a document."""
    return __version__
