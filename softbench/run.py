"""Run flows locally against softbench stores, and run the builders."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jobflow import Flow
from jobflow.managers.local import run_locally
from maggma.core import Builder

from softbench.schemas.softening import SOFTENING, SOFTENING_SUMMARY
from softbench.stores import SoftbenchStores

__all__ = ["BUILD_STEPS", "SOFTENING", "SOFTENING_SUMMARY", "build_all", "run_builder", "run_flow"]


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
    if log:
        _log_jobs_to_stderr()
    return run_locally(
        flow,
        store=stores.jobs,
        create_folders=create_folders,
        root_dir=root_dir,
        ensure_success=False,
        allow_external_references=True,
        log=False,
    )


def _log_jobs_to_stderr() -> None:
    """Send the job start/finish lines of jobflow to stderr (stdout is for results)."""
    import logging
    import sys

    logger = logging.getLogger("jobflow")
    if not any(getattr(h, "_softbench", False) for h in logger.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S"))
        handler._softbench = True  # type: ignore[attr-defined]
        logger.addHandler(handler)
    logger.setLevel(logging.INFO)


def run_builder(builder: Builder, chunk_size: int = 100) -> None:
    """Run a maggma Builder serially without closing the shared stores.

    (``Builder.run`` calls ``finalize``, which closes every store, and adds a
    logging handler per call.) The builders also run under maggma's ``mrun``.
    """
    builder.connect()
    chunk: list[Any] = []
    for item in builder.get_items():
        processed = builder.process_item(item)
        if processed is not None:
            chunk.append(processed)
        if len(chunk) >= chunk_size:
            builder.update_targets(chunk)
            chunk = []
    builder.update_targets(chunk)


# Build steps, run in order by ``softbench build``: "module:function" taking
# (stores, task=None) and returning {builder name: items processed}. A task adds
# its builder here (softening first: later steps may read softening documents).
BUILD_STEPS: list[str] = [
    "softbench.builders.softening:build_step",
    "softbench.builders.phonons:build_phonons",
    "softbench.builders.elastic:build_elastic",
    "softbench.builders.migration:build_migration",
    "softbench.builders.defects:build_defects",
    "softbench.builders.solid_solution:build_solid_solution",
    "softbench.builders.amplitude:build_amplitude",
    "softbench.builders.surfaces:build_surfaces",
]


def build_all(stores: SoftbenchStores, task: str | None = None) -> dict[str, int]:
    """Run every registered build step; return items processed per builder."""
    from importlib import import_module

    counts: dict[str, int] = {}
    for step in BUILD_STEPS:
        module, func = step.split(":")
        counts.update(getattr(import_module(module), func)(stores, task=task))
    return counts
