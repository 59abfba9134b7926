"""One vocabulary: task and analysis bases, legacy names and spellings still readable."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from softbench.builders.pairing import index
from softbench.builders.phonons import newest_relaxed
from softbench.schemas.base import (
    DOC_TYPES,
    PHONON_RELAXED,
    AnalysisDocument,
    TaskDocument,
    doc_type_query,
)
from softbench.schemas.elastic import (
    ElasticPredictionDocument,
    ElasticReferenceDocument,
    ElasticSofteningDocument,
)
from softbench.schemas.high_energy import HighEnergyFramesDocument, HighEnergySampling
from softbench.schemas.phonons import PhononDocument, RelaxedPhononTaskDocument
from softbench.schemas.prediction import PredictionTaskDocument
from softbench.schemas.reference import ReferenceTaskDocument
from softbench.schemas.softening import SofteningDocument
from softbench.workflows.phonons import existing_phonon_work

MODEL = {"name": "m", "family": "test", "version": "0", "source": "test"}
BASE = {"task": "t", "material_id": "mp-1", "reference": "ref"}


def test_every_document_derives_from_one_of_two_bases():
    for cls in (
        ReferenceTaskDocument,
        PredictionTaskDocument,
        RelaxedPhononTaskDocument,
        ElasticReferenceDocument,
        ElasticPredictionDocument,
        HighEnergyFramesDocument,
    ):
        assert issubclass(cls, TaskDocument)
        assert {"state", "reason"} <= set(cls.model_fields)
        assert "error" not in cls.model_fields
        assert cls.model_fields["doc_type"].default in DOC_TYPES
    for cls in (SofteningDocument, PhononDocument, ElasticSofteningDocument):
        assert issubclass(cls, AnalysisDocument)
    assert all(d == d.lower() and "-" not in d for d in DOC_TYPES)


@pytest.mark.parametrize(
    "cls", [PredictionTaskDocument, RelaxedPhononTaskDocument, ElasticPredictionDocument]
)
def test_old_error_field_validates_as_reason(cls):
    old = {**BASE, "model": MODEL, "state": "failed", "error": "model blew up"}
    doc = cls.model_validate(old)
    assert doc.state == "failed" and doc.reason == "model blew up"
    dumped = doc.model_dump()
    assert dumped["reason"] == "model blew up" and "error" not in dumped
    assert cls(**{**BASE, "model": MODEL}).with_failure("x").reason == "x"


def test_old_unit_less_moduli_validate_as_gpa():
    ref = ElasticReferenceDocument.model_validate(
        {**BASE, "source": "s", "k_vrh": 100.0, "g_vrh": 50.0}
    )
    assert (ref.k_vrh_gpa, ref.g_vrh_gpa) == (100.0, 50.0)
    old = {**BASE, "model": MODEL, "k_voigt": 1.0, "k_reuss": 2.0, "k_vrh": 1.5}
    old |= {"g_voigt": 3.0, "g_reuss": 4.0, "g_vrh": 3.5, "eigenvalues": [1.0, 2.0]}
    pred = ElasticPredictionDocument.model_validate(old)
    assert (pred.k_voigt_gpa, pred.k_reuss_gpa, pred.k_vrh_gpa) == (1.0, 2.0, 1.5)
    assert (pred.g_voigt_gpa, pred.g_reuss_gpa, pred.g_vrh_gpa) == (3.0, 4.0, 3.5)
    assert pred.eigenvalues_gpa == [1.0, 2.0]
    assert "k_vrh" not in pred.model_dump() and pred.model_dump()["k_vrh_gpa"] == 1.5


def test_legacy_doc_type_spellings_validate_and_match():
    doc = RelaxedPhononTaskDocument.model_validate(
        {**BASE, "model": MODEL, "doc_type": "phonon-relaxed"}
    )
    assert doc.doc_type == PHONON_RELAXED == "phonon_relaxed"
    frames = HighEnergyFramesDocument.model_validate(
        {
            "doc_type": "high-energy-frames",
            "material_id": "mp-1",
            "sampling": HighEnergySampling().model_dump(),
            "sampling_key": "k",
        }
    )
    assert frames.doc_type == "high_energy_frames"
    assert doc_type_query(PHONON_RELAXED) == {"$in": ["phonon_relaxed", "phonon-relaxed"]}
    assert doc_type_query("prediction") == "prediction"


def test_coerce_keeps_documents_and_validates_dicts():
    ref = ReferenceTaskDocument(**BASE, source="s")
    assert ReferenceTaskDocument.coerce(ref) is ref
    again = ReferenceTaskDocument.coerce(ref.model_dump())
    assert again == ref and again is not ref


def _stored(uuid: str, output: dict) -> dict:
    return {"uuid": uuid, "index": 1, "output": output, "completed_at": "2024"}


def test_legacy_phonon_relaxed_document_is_still_found(stores):
    """A store written before the snake_case spelling: its relaxed results still pair."""
    created = datetime(2024, 1, 1, tzinfo=timezone.utc)
    legacy = {**BASE, "task": "phonons-relaxed", "model": MODEL, "reference_uuid": "r1"}
    legacy |= {"doc_type": "phonon-relaxed", "state": "successful", "created_at": created}
    current = {**legacy, "doc_type": PHONON_RELAXED, "material_id": "mp-2"}
    stores.jobs.update([_stored("u1", legacy), _stored("u2", current)], key="uuid")
    found = {d.uuid: d for d in index(stores.jobs, PHONON_RELAXED)}
    assert set(found) == {"u1", "u2"} and found["u1"].reference_uuid == "r1"
    assert set(newest_relaxed(stores.jobs)) == {("mp-1", "ref", "m"), ("mp-2", "ref", "m")}
    done = existing_phonon_work(stores.jobs, {"mp-1": "r1"}, ["m"])
    assert ("relaxed", "mp-1", "m") in done
