"""Shared builder pieces: per-group summaries rebuilt only when their inputs change."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from typing import Any

from maggma.core import Builder, Store
from pydantic import BaseModel


def naive(value: Any) -> Any:
    """Drop the timezone so datetimes from stores that keep it or not compare."""
    return value.replace(tzinfo=None) if hasattr(value, "tzinfo") and value.tzinfo else value


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
        summary = self.summarize(docs)
        key = str(getattr(summary, "key"))  # noqa: B009 - every summary schema has one
        self.processed.append(key)
        return summary.model_dump(mode="python")

    def update_targets(self, items: list[dict[str, Any]]) -> None:
        """Upsert by key."""
        if items:
            self.summary.update(items, key="key")
