"""Run flows locally against softbench stores, and run the builders."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from jobflow import Flow
from jobflow.managers.local import run_locally

from softbench.stores import SoftbenchStores

SOFTENING = "softening"
SOFTENING_SUMMARY = "softening_summary"


def run_flow(
    flow: Flow,
    stores: SoftbenchStores,
    root_dir: str | Path | None = None,
    create_folders: bool = False,
    log: bool = True,
) -> dict[str, Any]:
    """Run a flow with jobflow's local manager, writing outputs to the job store.

    A failing job does not stop independent jobs (jobflow skips only its children).
    """
    return run_locally(
        flow,
        store=stores.jobs,
        create_folders=create_folders,
        root_dir=root_dir,
        ensure_success=False,
        allow_external_references=True,
        log="%(asctime)s %(message)s" if log else False,
    )


def build_softening(stores: SoftbenchStores, task: str | None = None) -> dict[str, int]:
    """Run the softening and summary builders; return how many items each processed."""
    from softbench.builders import SofteningBuilder, SofteningSummaryBuilder

    pair = SofteningBuilder(stores.jobs, stores.collection(SOFTENING), task=task)
    pair.run(log_level=logging.WARNING)
    summary = SofteningSummaryBuilder(
        stores.collection(SOFTENING), stores.collection(SOFTENING_SUMMARY)
    )
    summary.run(log_level=logging.WARNING)
    return {"softening": len(pair.processed), "summary": len(summary.processed)}


BUILD_STEPS: list = [build_softening]


def build_all(stores: SoftbenchStores, task: str | None = None) -> dict[str, int]:
    """Run every registered build step (softening first, then task-specific ones)."""
    counts: dict[str, int] = {}
    for step in BUILD_STEPS:
        counts.update(step(stores, task=task))
    return counts
