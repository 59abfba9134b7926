"""Reference side of a benchmark: ingest existing DFT data as a job."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from jobflow import Maker, job

from softbench.ingest import SourceItem, read_reference
from softbench.schemas.configuration import ARRAYS_KEY
from softbench.schemas.reference import ReferenceTaskDocument


@dataclass
class IngestReferenceMaker(Maker):
    """Read one material's DFT energies/forces into a reference task document.

    Its output is the same document a DFT job collection produces, so model jobs
    and builders cannot tell ingested from computed references apart.
    """

    name: str = "ingest reference"
    task: str = "forces"
    label: str = "reference"
    settings: dict[str, Any] = field(default_factory=dict)

    @job(data=ARRAYS_KEY)
    def make(self, item: SourceItem | dict[str, Any]) -> ReferenceTaskDocument:
        """Ingest ``item`` (unreadable data gives an 'unusable' document, not a crash)."""
        if isinstance(item, dict):
            item = SourceItem(**item)
        return read_reference(item, self.task, self.label, self.settings)
