"""The two bases of softbench's documents and their shared vocabulary.

Every job output derives from :class:`TaskDocument` (``doc_type``, ``task``,
``material_id``, ``reference``, ``state``, ``reason``), every per-material
analysis document from :class:`AnalysisDocument` (``key``, ``model``,
``reference_uuid``, ``prediction_uuid``, ``state``, ``reason``). A failure is
always ``state`` + ``reason``; documents written before that name (``error``)
still validate, and so do the legacy ``doc_type`` spellings.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any, Final, Self

from pydantic import AliasChoices, BaseModel, Field, field_validator

from softbench.schemas.provenance import ModelProvenance, code_version, utcnow

# doc_type of every task document (snake_case), and the spellings earlier
# versions wrote, which queries and validation still accept
REFERENCE: Final = "reference"
PREDICTION: Final = "prediction"
PHONON_RELAXED: Final = "phonon_relaxed"
ELASTIC_REFERENCE: Final = "elastic_reference"
ELASTIC_PREDICTION: Final = "elastic_prediction"
HIGH_ENERGY_FRAMES: Final = "high_energy_frames"
MIGRATION_REFERENCE: Final = "migration_reference"
MIGRATION_PREDICTION: Final = "migration_prediction"
AMPLITUDE_PREDICTION: Final = "amplitude_prediction"
DOC_TYPES = (
    REFERENCE,
    PREDICTION,
    PHONON_RELAXED,
    ELASTIC_REFERENCE,
    ELASTIC_PREDICTION,
    HIGH_ENERGY_FRAMES,
    MIGRATION_REFERENCE,
    MIGRATION_PREDICTION,
    AMPLITUDE_PREDICTION,
)
LEGACY_DOC_TYPES = {"phonon-relaxed": PHONON_RELAXED, "high-energy-frames": HIGH_ENERGY_FRAMES}

# ``reason`` was ``error`` on failed model-side task documents before 0.x
REASON = AliasChoices("reason", "error")


def doc_type_query(doc_type: str) -> str | dict[str, list[str]]:
    """Store criterion on ``output.doc_type`` matching ``doc_type`` and its legacy spellings."""
    legacy = [old for old, new in LEGACY_DOC_TYPES.items() if new == doc_type]
    return {"$in": [doc_type, *legacy]} if legacy else doc_type


def input_checksum(obj: BaseModel) -> str:
    """SHA-256 (first 16) of a pydantic input set's JSON: the same input gives the same."""
    from monty.json import jsanitize

    text = json.dumps(jsanitize(obj.model_dump(), strict=True), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def analysis_key(task: str, material_id: str, model: str, reference: str) -> str:
    """Unique key of a per-material analysis document: ``task|material_id|model|reference``."""
    return f"{task}|{material_id}|{model}|{reference}"


def alias(*names: str) -> AliasChoices:
    """Validation alias: the field's name first, then the names earlier versions stored."""
    return AliasChoices(*names)


class MakerSettings(BaseModel):
    """Settings a maker holds as a field: serialisable by monty, so jobs survive FireWorks.

    jobflow's FireWorks integration writes each job with monty's ``jsanitize``, which
    turns an object without ``as_dict`` into its ``str()``: a worker's maker would get
    a string instead of its settings. These two methods make the round trip exact.
    """

    def as_dict(self) -> dict[str, Any]:
        """Monty's dict form: the fields plus ``@module`` and ``@class``."""
        cls = type(self)
        return {"@module": cls.__module__, "@class": cls.__name__, **self.model_dump(mode="json")}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Self:
        """Back from :meth:`as_dict` (validated)."""
        return cls.model_validate({k: v for k, v in data.items() if not k.startswith("@")})


class Outcome(BaseModel):
    """How a job or an analysis went: ``state`` and, unless successful, the ``reason``."""

    state: str = "successful"
    reason: str | None = Field(
        None, validation_alias=REASON, description="why it failed or is unusable"
    )
    code_version: str = Field(default_factory=code_version)

    def with_failure(self, reason: str, state: str = "failed") -> Self:
        """Mark the document failed (or ``state``) with ``reason``; return it."""
        self.state, self.reason = state, reason
        return self


class TaskDocument(Outcome):
    """What one job writes about one material: reference, prediction or sampled frames."""

    doc_type: str
    task: str
    material_id: str
    formula: str | None = None
    reference: str = Field(description="label of the reference method")
    created_at: datetime = Field(default_factory=utcnow)

    @field_validator("doc_type", mode="before")
    @classmethod
    def _current_doc_type(cls, value: Any) -> Any:
        return LEGACY_DOC_TYPES.get(value, value) if isinstance(value, str) else value

    @classmethod
    def coerce(cls, obj: Self | dict[str, Any]) -> Self:
        """``obj`` itself when it is a ``cls``, else ``cls`` validated from its dict."""
        return obj if isinstance(obj, cls) else cls.model_validate(obj)


class AnalysisDocument(Outcome):
    """A builder's comparison of one model with the reference for one material."""

    key: str = Field(description="task|material_id|model|reference")
    task: str
    material_id: str
    formula: str | None = None
    model: str
    model_provenance: ModelProvenance | None = None
    reference: str
    reference_uuid: str | None = None
    prediction_uuid: str | None = None
    analysis_version: int | None = Field(
        None, description="version of the builder's analysis (older ones are rebuilt)"
    )
    last_updated: datetime = Field(default_factory=utcnow)

    @classmethod
    def for_pair(cls, prediction: Any, reference: Any, item: dict[str, Any], **fields: Any) -> Self:
        """The document of one builder item: names, provenance and uuids of its pair."""
        return cls(
            key=item["key"],
            task=fields.pop("task", prediction.task),
            material_id=prediction.material_id,
            formula=prediction.formula or getattr(reference, "formula", None),
            model=prediction.model.name,
            model_provenance=prediction.model,
            reference=prediction.reference,
            reference_uuid=item.get("reference_uuid"),
            prediction_uuid=item.get("prediction_uuid"),
            **fields,
        )


class SummaryDocument(BaseModel):
    """A summary builder's aggregate of one (task, model, reference) group."""

    key: str = Field(description="task|model|reference")
    task: str
    model: str
    reference: str
    n_materials: int
    n_successful: int
    n_failed: int
    failed_materials: dict[str, str] = Field(default_factory=dict)
    code_version: str = Field(default_factory=code_version)
    last_updated: datetime = Field(default_factory=utcnow)
