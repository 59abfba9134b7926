"""A softbench flow as a FireWorks workflow on a launchpad."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from jobflow import Flow, Job, JobConfig, job

DEFAULT_ENVIRONMENT = "default"
CATEGORY = "_category"


@job(config=JobConfig(expose_store=True))
def build_results(tasks: list[str]) -> None:
    """Run the builders of ``tasks`` (incremental) on the store the job writes to."""
    from jobflow import CURRENT_JOB

    from softbench.run import build_all
    from softbench.stores import stores_of

    stores = stores_of(CURRENT_JOB.store)
    for task in tasks:
        build_all(stores, task=task)


def to_workflow(
    flow: Flow, tasks: Sequence[str], build: bool = True, name: str | None = None
) -> Any:
    """The FireWorks workflow of a softbench flow.

    Jobs keep the ``_category`` their maker gave them (model jobs: the model's
    environment); every other job (ingestion, DFT, sampling) gets ``default``. With
    ``build``, a last firework runs the builders of ``tasks`` once every other
    firework has finished, whether it completed or failed.
    """
    from fireworks import Workflow
    from jobflow.managers.fireworks import flow_to_workflow, job_to_firework

    for j in flow.jobs if isinstance(flow, Flow) else []:
        _default_category(j)
    wf = flow_to_workflow(flow, allow_external_references=True)
    fws = list(wf.fws)
    if build and fws:
        builder = build_results(list(tasks))
        builder.name = f"build {', '.join(tasks)}"
        fw = job_to_firework(builder)
        fw.spec.update({CATEGORY: DEFAULT_ENVIRONMENT, "_allow_fizzled_parents": True})
        fw.parents = [f for f in fws if not _children(wf, f)]
        fws.append(fw)
        wf = Workflow(fws, name=name or wf.name, metadata=wf.metadata)
    elif name:
        wf.name = name
    return wf


def _default_category(item: Job | Flow) -> None:
    if isinstance(item, Flow):
        for j in item.jobs:
            _default_category(j)
        return
    if CATEGORY not in item.config.manager_config:
        item.update_config({"manager_config": {CATEGORY: DEFAULT_ENVIRONMENT}})


def _children(wf: Any, fw: Any) -> list[int]:
    return list(wf.links.get(fw.fw_id, []))


def submit(lp: Any, flow: Flow, tasks: Sequence[str], build: bool = True) -> dict[str, Any]:
    """Add a flow to a launchpad; return ``{"fw_ids": [...], "categories": {category: n}}``."""
    wf = to_workflow(flow, tasks, build=build)
    if not wf.fws:
        return {"fw_ids": [], "categories": {}}
    mapping = lp.add_wf(wf)
    categories: dict[str, int] = {}
    for fw in wf.fws:
        cat = str(fw.spec.get(CATEGORY))
        categories[cat] = categories.get(cat, 0) + 1
    return {"fw_ids": sorted(mapping.values()), "categories": categories}
