"""Builder bases: model/reference pairs to analysis documents, and group summaries.

:class:`PairBuilder` owns what every task's pair builder shares (maggma's
``MapBuilder`` is the model): which pairs are new, batched loading of job outputs,
per-item failure capture and upsert by ``key``. A task writes two functions:
``pairs()`` (candidate items) and ``document()`` (one analysis document from a
loaded prediction and reference). ``process_item`` touches no store and does not
change the builder, so maggma's multiprocessing runner gives the same documents.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Iterator
from itertools import islice
from typing import Any

from jobflow import JobStore
from maggma.core import Builder, Store
from pydantic import BaseModel

from softbench.builders.pairing import load_outputs

logger = logging.getLogger(__name__)

BATCH = 64  # job outputs loaded per data-store scan


def naive(value: Any) -> Any:
    """Drop the timezone so datetimes from stores that keep it or not compare."""
    return value.replace(tzinfo=None) if hasattr(value, "tzinfo") and value.tzinfo else value


class PairBuilder(Builder):
    """One analysis document per (prediction, reference) pair that is new or changed.

    Subclasses set ``document_class`` and ``reference_class`` and implement
    :meth:`pairs` (items with ``key``, ``prediction_uuid``, ``reference_uuid`` and any
    extra fields) and :meth:`document`. Items sharing a reference are processed
    together: the reference is loaded and validated once, and :meth:`documents` may
    reuse work across its models. A job output missing from the store becomes that
    pair's failure document. ``processed`` lists the keys written, filled by
    ``update_targets`` in the main process. ``version`` is the analysis version: a
    document built by an older one is rebuilt (raise it when a change of the
    analysis should reach stored documents).
    """

    version = 1

    def __init__(
        self,
        jobs: JobStore,
        target: Store,
        extra_sources: Iterable[Store] = (),
        extra_targets: Iterable[Store] = (),
        **kwargs: Any,
    ):
        self.jobs = jobs
        self.target = target
        self.processed: list[str] = []
        super().__init__(sources=[jobs, *extra_sources], targets=[target, *extra_targets], **kwargs)

    # -- what a task writes -----------------------------------------------------

    def pairs(self) -> Iterable[dict[str, Any]]:
        """Candidate items: newest prediction per key with its reference uuid."""
        raise NotImplementedError

    def document(self, reference: Any, item: dict[str, Any]) -> BaseModel:
        """The analysis document of one pair (validated reference or None, ``item``)."""
        raise NotImplementedError

    document_class: type[BaseModel]  # the analysis document, keyed task|material|model|label
    reference_class: type[BaseModel]  # the reference task document

    def failure(self, item: dict[str, Any], reason: str) -> BaseModel:
        """The document recorded when :meth:`document` raised (it still names its pair)."""
        task, material_id, model, label = item["key"].split("|", 3)
        return self.document_class(
            key=item["key"],
            task=task,
            material_id=material_id,
            model=model,
            reference=label,
            reference_uuid=item["reference_uuid"],
            prediction_uuid=item["prediction_uuid"],
            state="failed",
            reason=reason,
        )

    def documents(self, reference: Any, items: list[dict[str, Any]]) -> list[BaseModel]:
        """Documents of all pairs that share one reference (override to share work)."""
        return [self.safely(self.document, reference, item) for item in items]

    # -- shared machinery -------------------------------------------------------

    def safely(self, func: Any, reference: Any, item: dict[str, Any]) -> Any:
        """``func(reference, item)``; an unexpected error becomes a failure document."""
        if "missing" in item:
            return self.failure(item, item["missing"])
        try:
            return func(reference, item)
        except Exception as exc:
            logger.exception("%s failed on %s", type(self).__name__, item["key"])
            return self.failure(item, f"{type(exc).__name__}: {exc}")

    def built(self) -> dict[str, tuple[Any, Any, Any]]:
        """Map key -> (prediction_uuid, reference_uuid, analysis version) of built documents."""
        props = ["key", "prediction_uuid", "reference_uuid", "analysis_version"]
        return {
            d["key"]: (d.get("prediction_uuid"), d.get("reference_uuid"), d.get("analysis_version"))
            for d in self.target.query({}, properties=props)
        }

    def pending(self) -> list[dict[str, Any]]:
        """Pairs that are new, changed, or built by an older analysis version."""
        built = self.built()
        return [
            item
            for item in self.pairs()
            if built.get(item["key"])
            != (item["prediction_uuid"], item["reference_uuid"], self.version)
        ]

    def get_items(self) -> Iterator[dict[str, Any]]:
        """Pending pairs grouped by reference, outputs loaded in batches."""
        groups: dict[Any, list[dict[str, Any]]] = defaultdict(list)
        for item in self.pending():
            groups[item["reference_uuid"]].append(item)
        self.total = len(groups)
        chunks = iter(groups.items())
        while chunk := list(islice(chunks, max(1, BATCH // 4))):
            uuids = {ref for ref, _ in chunk if ref}
            uuids.update(i["prediction_uuid"] for _, items in chunk for i in items)
            outputs = load_outputs(self.jobs, uuids)
            for ref_uuid, items in chunk:
                for item in items:
                    item["prediction"] = outputs.get(item["prediction_uuid"])
                    if item["prediction"] is None:
                        item["missing"] = f"no job output {item['prediction_uuid']} (prediction)"
                    elif ref_uuid and ref_uuid not in outputs:
                        item["missing"] = f"no job output {ref_uuid} (reference)"
                yield {
                    "reference_uuid": ref_uuid,
                    "reference": outputs.get(ref_uuid) if ref_uuid else None,
                    "items": items,
                }

    def process_item(self, group: dict[str, Any]) -> list[dict[str, Any]]:
        """Documents of one reference's pending pairs (no store access, no state)."""
        items, reference = group["items"], group["reference"]
        try:
            if reference is not None:
                reference = self.reference_class.model_validate(reference)
        except Exception as exc:  # an unreadable reference fails its pairs, not the build
            reason = f"reference unreadable: {type(exc).__name__}: {exc}"
            docs = [self.failure(item, reason) for item in items]
        else:
            docs = self.documents(reference, items)
        return [self.stamp(d).model_dump(mode="python") for d in docs]

    def stamp(self, doc: Any) -> Any:
        """Record the analysis version on a document (override for wrapped documents)."""
        doc.analysis_version = self.version
        return doc

    def update_targets(self, items: list[list[dict[str, Any]]]) -> None:
        """Upsert by key."""
        docs = [d for group in items for d in group]
        if docs:
            self.target.update(docs, key="key")
            self.processed.extend(d["key"] for d in docs)


class GroupSummaryBuilder(Builder):
    """Summarise source documents per group (default: task, model, reference).

    A group is rebuilt only when one of its documents is newer than its summary,
    and summaries are upserted by ``key`` (``"|".join`` of the group fields), so
    reruns neither duplicate nor redo work. Subclasses implement :meth:`summarize`.
    """

    group_fields: tuple[str, ...] = ("task", "model", "reference")

    def __init__(self, source: Store, summary: Store, **kwargs: Any):
        self.source = source
        self.summary = summary
        self.processed: list[str] = []
        super().__init__(sources=[source], targets=[summary], **kwargs)

    def summarize(self, docs: list[dict[str, Any]]) -> BaseModel:
        """The summary document of one group (must carry ``key``)."""
        raise NotImplementedError

    def group_key(self, doc: dict[str, Any]) -> str:
        """Key of the group a source document belongs to."""
        return "|".join(str(doc.get(f)) for f in self.group_fields)

    def get_items(self) -> Iterator[list[dict[str, Any]]]:
        """Groups with a document newer than their summary."""
        groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for doc in self.source.query({}):
            groups[self.group_key(doc)].append(doc)
        built = {
            d["key"]: naive(d["last_updated"])
            for d in self.summary.query({}, properties=["key", "last_updated"])
        }
        for key, docs in groups.items():
            newest = max(naive(d["last_updated"]) for d in docs)
            if key not in built or built[key] < newest:
                yield docs

    def process_item(self, docs: list[dict[str, Any]]) -> dict[str, Any]:
        """Summarise one group."""
        return self.summarize(docs).model_dump(mode="python")

    def update_targets(self, items: list[dict[str, Any]]) -> None:
        """Upsert by key."""
        if items:
            self.summary.update(items, key="key")
            self.processed.extend(d["key"] for d in items)
