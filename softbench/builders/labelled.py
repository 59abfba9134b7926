"""Builders for tasks whose job documents hold many labelled energies (defects, orderings).

A pair is one model job document and the DFT job document of the same material and
reference label (the one it names by uuid, else the newest); it gives one
:class:`~softbench.schemas.parity.LabelledParityDocument` per label. A model value
without a DFT partner (no DFT document, an unusable one, a label DFT lacks) is
written with ``state="unpaired"`` and the reason, never dropped; a pair whose
relaxations did not all converge is ``flagged`` (values kept, left out of the
statistics).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, NamedTuple

import numpy as np
from pydantic import BaseModel

from softbench.builders.base import GroupSummaryBuilder, PairBuilder
from softbench.builders.pairing import predictions_with_references
from softbench.schemas.parity import LabelledParityDocument, ParitySummaryDocument, labelled_key


class Value(NamedTuple):
    """One labelled value of a job document, whether its relaxations converged, extras."""

    value: float | None
    converged: bool | None
    reason: str | None = None
    extra: dict[str, Any] = {}


class LabelledPairBuilder(PairBuilder):
    """Pairs model and DFT job documents; one parity document per label.

    Subclasses set ``task``, ``unit``, ``prediction_type``/``reference_type``
    (doc_types), ``prediction_class``/``reference_class``, ``document_class`` and
    implement :meth:`values`.
    """

    task: str
    unit: str
    prediction_type: str
    reference_type: str
    prediction_class: type[BaseModel]
    document_class: type[LabelledParityDocument]

    def values(self, doc: Any) -> dict[str, Value]:
        """Label -> value of one (successful) job document."""
        raise NotImplementedError

    def pairs(self) -> Iterator[dict[str, Any]]:
        """Newest model document per (material, model, label) with its DFT document or None."""
        pairs = predictions_with_references(
            self.jobs,
            self.prediction_type,
            lambda p: f"{self.task}|{p.material_id}|{p.model}|{p.reference}",
            self.reference_type,
        )
        for key, (pred, ref_uuid) in pairs.items():
            yield {"key": key, "prediction_uuid": pred.uuid, "reference_uuid": ref_uuid}

    def built(self) -> dict[str, tuple[Any, Any, Any]]:
        """Pair key -> (prediction_uuid, reference_uuid, analysis version) of built pairs."""
        props = ["pair_key", "prediction_uuid", "reference_uuid", "analysis_version"]
        return {
            d["pair_key"]: (
                d.get("prediction_uuid"),
                d.get("reference_uuid"),
                d.get("analysis_version"),
            )
            for d in self.target.query({}, properties=props)
            if d.get("pair_key")
        }

    def documents(self, reference: Any, items: list[dict[str, Any]]) -> list[BaseModel]:
        """All labelled documents of the pairs that share one DFT document."""
        docs: list[BaseModel] = []
        for item in items:
            result = self.safely(self.labelled, reference, item)
            docs.extend(result if isinstance(result, list) else [result])
        return docs

    def failure(self, item: dict[str, Any], reason: str) -> BaseModel:
        """A pair without documents to compare: one document with label ``*``."""
        task, material_id, model, label = item["key"].split("|", 3)
        return self.document_class(
            key=labelled_key(task, material_id, "*", model, label),
            pair_key=item["key"],
            task=task,
            material_id=material_id,
            model=model,
            reference=label,
            label="*",
            unit=self.unit,
            reference_uuid=item["reference_uuid"],
            prediction_uuid=item["prediction_uuid"],
            state="failed",
            reason=reason,
        )

    def labelled(self, reference: Any, item: dict[str, Any]) -> list[BaseModel]:
        """The documents of one pair, one per label of either side."""
        pred: Any = self.prediction_class.model_validate(item["prediction"])
        if pred.state != "successful":
            return [self.failure(item, f"model job failed: {pred.reason}")]
        model_values = self.values(pred)
        dft_values: dict[str, Value] = {}
        missing = f"no DFT partner: no {pred.reference} document for {pred.material_id}"
        if reference is not None and reference.state != "successful":
            missing = f"no DFT partner: DFT document unusable: {reference.reason}"
        elif reference is not None:
            dft_values = self.values(reference)
        docs: list[BaseModel] = []
        for label in sorted(set(model_values) | set(dft_values)):
            mine = model_values.get(label, Value(None, None, "label not computed by the model"))
            theirs = dft_values.get(label)
            doc = self.document_class(
                key=labelled_key(
                    self.task, pred.material_id, label, pred.model.name, pred.reference
                ),
                pair_key=item["key"],
                task=self.task,
                material_id=pred.material_id,
                formula=pred.formula,
                model=pred.model.name,
                model_provenance=pred.model,
                reference=pred.reference,
                reference_uuid=item.get("reference_uuid"),
                prediction_uuid=item.get("prediction_uuid"),
                label=label,
                unit=self.unit,
                model_value=mine.value,
                model_converged=mine.converged,
                dft_value=theirs.value if theirs else None,
                dft_converged=theirs.converged if theirs else None,
                **{**(theirs.extra if theirs else {}), **mine.extra},
            )
            docs.append(judge(doc, mine, theirs, missing))
        return docs or [self.failure(item, "no labelled values on either side")]


def judge(
    doc: LabelledParityDocument, mine: Value, theirs: Value | None, missing: str
) -> LabelledParityDocument:
    """Set state and error of one labelled document."""
    if mine.value is None:
        return doc.with_failure(f"no model value: {mine.reason}")
    if theirs is None:
        return doc.with_failure(missing, state="unpaired")
    if theirs.value is None:
        return doc.with_failure(f"no DFT partner: {theirs.reason}", state="unpaired")
    doc.error = mine.value - theirs.value
    unconverged = [side for side, v in (("model", mine), ("DFT", theirs)) if v.converged is False]
    if unconverged:
        doc.with_failure(
            f"{' and '.join(unconverged)} relaxation hit its step limit (last energy kept)",
            state="flagged",
        )
    return doc


class ParitySummaryBuilder(GroupSummaryBuilder):
    """Per (task, model, reference): MAE, mean signed error, fraction underpredicted."""

    def summarize(self, docs: list[dict[str, Any]]) -> ParitySummaryDocument:
        """Aggregate one group."""
        return summarize_parity([LabelledParityDocument.model_validate(d) for d in docs])


def summarize_parity(docs: list[LabelledParityDocument]) -> ParitySummaryDocument:
    """Statistics over paired, converged labels; the rest counted and named."""
    first = docs[0]
    used = [d for d in docs if d.state == "successful" and d.error is not None]
    err = np.array([d.error for d in used], dtype=float)
    values = [d.model_value for d in docs if d.model_value is not None]
    failed = [d for d in docs if d.state == "failed"]
    unpaired = [d for d in docs if d.state == "unpaired"]
    return ParitySummaryDocument(
        key=f"{first.task}|{first.model}|{first.reference}",
        task=first.task,
        model=first.model,
        reference=first.reference,
        unit=first.unit,
        n_materials=len({d.material_id for d in docs}),
        n_successful=len({d.material_id for d in used}),
        n_failed=len({d.material_id for d in failed}),
        failed_materials={f"{d.material_id}|{d.label}": d.reason or "" for d in failed},
        n_labels=len(docs),
        n_used=len(used),
        n_flagged=sum(d.state == "flagged" for d in docs),
        n_unpaired=len(unpaired),
        missing_partners=sorted(f"{d.material_id}|{d.label}" for d in unpaired),
        mae=float(np.abs(err).mean()) if used else None,
        mean_signed_error=float(err.mean()) if used else None,
        fraction_underpredicted=float((err < 0).mean()) if used else None,
        model_mean=float(np.mean(values)) if values else None,
    )


def parity_points(collection: Any) -> list[dict[str, Any]]:
    """DFT/model value pairs of one parity collection (successful and flagged)."""
    points = []
    for d in collection.query({"state": {"$in": ["successful", "flagged"]}}):
        if d.get("dft_value") is None or d.get("model_value") is None:
            continue
        points.append(
            {
                "task": d["task"],
                "material": d["material_id"],
                "label": d["label"],
                "model": d["model"],
                "dft_value": d["dft_value"],
                "model_value": d["model_value"],
                "unit": d.get("unit"),
                "state": d["state"],
                "reference": d["reference"],
            }
        )
    return sorted(points, key=lambda p: (p["task"], p["model"], p["material"], p["label"]))
