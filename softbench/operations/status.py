"""What a launchpad (or, for local runs, a store) holds: by state, failures, lost runs."""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from softbench.operations.submit import CATEGORY

STATES = ("COMPLETED", "RUNNING", "RESERVED", "READY", "WAITING", "FIZZLED", "DEFUSED", "PAUSED")
# FireWorks' default: a RUNNING launch without a ping for this long is lost
DEFAULT_LOST_AFTER_S = 4 * 3600


@contextlib.contextmanager
def snapshot(lp: Any) -> Iterator[None]:
    """Read an embedded launchpad's collections as one consistent state."""
    with getattr(lp, "transaction", contextlib.nullcontext)():
        yield


@dataclass
class FireworkRow:
    """One firework as the status lists it."""

    fw_id: int
    name: str
    state: str
    category: str
    reason: str = ""


@dataclass
class LaunchpadStatus:
    """Workflows and fireworks by state; failed and lost fireworks."""

    workflows: Counter = field(default_factory=Counter)
    fireworks: list[FireworkRow] = field(default_factory=list)
    lost: list[FireworkRow] = field(default_factory=list)

    def by_state(self) -> dict[str, Counter]:
        """{state: Counter(category -> count)}."""
        table: dict[str, Counter] = {}
        for fw in self.fireworks:
            table.setdefault(fw.state, Counter())[fw.category] += 1
        return table

    def failed(self) -> list[FireworkRow]:
        """FIZZLED fireworks with their reason."""
        return [fw for fw in self.fireworks if fw.state == "FIZZLED"]

    def ready(self) -> Counter:
        """READY fireworks per category (waiting for a worker of that environment)."""
        return Counter(fw.category for fw in self.fireworks if fw.state == "READY")


def launchpad_status(lp: Any, lost_after: float = DEFAULT_LOST_AFTER_S) -> LaunchpadStatus:
    """Read the launchpad once; RUNNING fireworks without a ping for ``lost_after`` s are lost."""
    status = LaunchpadStatus()
    with snapshot(lp):
        for wf in lp.workflows.find({}, {"state": 1}):
            status.workflows[wf.get("state", "?")] += 1
        fields = {"fw_id": 1, "name": 1, "state": 1, "spec._category": 1, "launches": 1}
        docs = list(lp.fireworks.find({}, fields))
        reasons = _reasons(lp, [d for d in docs if d["state"] == "FIZZLED"])
        _, lost_ids, _ = lp.detect_lostruns(expiration_secs=lost_after)
    for d in sorted(docs, key=lambda d: d["fw_id"]):
        row = FireworkRow(
            d["fw_id"],
            d.get("name", ""),
            d["state"],
            str(d.get("spec", {}).get(CATEGORY, "-")),
            reasons.get(d["fw_id"], ""),
        )
        status.fireworks.append(row)
        if d["fw_id"] in lost_ids:
            status.lost.append(row)
    return status


def _reasons(lp: Any, fizzled: list[dict[str, Any]]) -> dict[int, str]:
    """The last line of each failed firework's newest launch's exception."""
    reasons = {}
    for d in fizzled:
        launches = d.get("launches") or []
        if not launches:
            reasons[d["fw_id"]] = "failed without a launch (a parent failed?)"
            continue
        launch = lp.launches.find_one({"launch_id": max(launches)}, {"action": 1, "state": 1})
        stored = ((launch or {}).get("action") or {}).get("stored_data") or {}
        trace = (stored.get("_exception") or {}).get("_stacktrace") or ""
        lines = [line.strip() for line in str(trace).splitlines() if line.strip()]
        reasons[d["fw_id"]] = lines[-1] if lines else "no exception recorded (marked lost?)"
    return reasons


def rerun_failed(lp: Any, lost_after: float = DEFAULT_LOST_AFTER_S) -> dict[str, list[int]]:
    """Mark lost runs failed (FireWorks' ``detect_lostruns``), then rerun every failed one.

    Returns ``{"lost": fw ids found lost, "rerun": fw ids reset to run again}``.
    """
    with snapshot(lp):
        _, lost, _ = lp.detect_lostruns(expiration_secs=lost_after, fizzle=True)
        failed = sorted(lp.get_fw_ids({"state": "FIZZLED"}))
        for fw_id in failed:
            lp.rerun_fw(fw_id)
    return {"lost": sorted(lost), "rerun": failed}


def store_status(stores: Any, limit: int = 20) -> dict[str, Any]:
    """Job outputs in a store by (task, doc_type, state), failures with reasons, versions."""
    props = ["output.task", "output.doc_type", "output.state", "output.reason"]
    props += ["output.material_id", "output.model", "output.code_version"]
    counts: Counter = Counter()
    versions: Counter = Counter()
    problems: list[dict[str, Any]] = []
    for doc in stores.jobs.query({"output.doc_type": {"$exists": True}}, properties=props):
        out = doc.get("output") or {}
        state = out.get("state", "?")
        counts[(out.get("task", "?"), out.get("doc_type", "?"), state)] += 1
        versions[out.get("code_version", "unknown")] += 1
        if state not in ("successful", "completed") and len(problems) < limit:
            problems.append(out)
    return {"counts": counts, "versions": versions, "problems": problems}
