"""Solid-solution flows: the orderings built once, DFT (VASP, optional) and model jobs."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from jobflow import Flow, Job, JobStore

from softbench.makers.solid_solution import SolidSolutionMaker
from softbench.models import ModelSpec, model_ref
from softbench.schemas.solid_solution import SOLID_SOLUTION_PREDICTION, TASK, SolidSolutionSet
from softbench.workflows.defects import existing_model_documents, input_checksum
from softbench.workflows.forces import route


def solid_solution_flow(
    system: SolidSolutionSet,
    models: Sequence[ModelSpec],
    label: str,
    dft: str | None = "vasp",
    skip: set[tuple[str, str]] | None = None,
    device: str | None = None,
    options: dict[str, Any] | None = None,
) -> Flow:
    """DFT (``dft="vasp"`` or None) and one model job per model on ``system``."""
    skip = skip or set()
    jobs: list[Job | Flow] = []
    if dft == "vasp":
        from softbench.makers.vasp.solid_solution import VaspSolidSolutionReferenceMaker

        jobs.append(VaspSolidSolutionReferenceMaker(label=label).make(system))
    opts = {**(options or {}), "input_checksum": input_checksum(system)}
    for spec in models:
        if (system.material_id, spec.name) in skip:
            continue
        maker = SolidSolutionMaker(
            name=f"{spec.name} solid-solution {system.material_id}",
            model=model_ref(spec),
            device=device,
            label=label,
            **opts,
        )
        jobs.append(route(maker.make(system.model_dump()), spec, TASK, system.material_id))
    return Flow(jobs, name="softbench solid-solution")


def existing_solid_solution_predictions(
    jobs: JobStore, label: str, system: SolidSolutionSet, models: Sequence[str]
) -> set[tuple[str, str]]:
    """(system, model) pairs already computed on the same orderings."""
    checksums = {system.material_id: input_checksum(system)}
    return existing_model_documents(jobs, SOLID_SOLUTION_PREDICTION, label, checksums, models)
