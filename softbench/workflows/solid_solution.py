"""Solid-solution flows: the orderings built once, DFT (VASP, optional) and model jobs.

A rerun reuses the newest successful DFT document of the same label computed from
identical orderings (same checksum) instead of a new DFT job, unless ``rerun``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from jobflow import Flow, Job, JobStore

from softbench.makers.solid_solution import SolidSolutionMaker
from softbench.models import ModelSpec, model_ref
from softbench.schemas.base import input_checksum
from softbench.schemas.solid_solution import (
    SOLID_SOLUTION_PREDICTION,
    SOLID_SOLUTION_REFERENCE,
    TASK,
    SolidSolutionSet,
)
from softbench.workflows.defects import existing_model_documents
from softbench.workflows.forces import route
from softbench.workflows.reuse import reusable_computed


def solid_solution_flow(
    system: SolidSolutionSet,
    models: Sequence[ModelSpec],
    label: str,
    dft: str | None = "vasp",
    skip: set[tuple[str, str]] | None = None,
    device: str | None = None,
    options: dict[str, Any] | None = None,
    reference: str | None = None,
) -> Flow:
    """DFT (``dft="vasp"`` or None) and one model job per model on ``system``.

    ``reference``: uuid of a stored reference to reuse (no DFT job).
    """
    skip = skip or set()
    jobs: list[Job | Flow] = []
    if dft == "vasp" and reference is None:
        from softbench.makers.vasp.solid_solution import VaspSolidSolutionReferenceMaker

        dft_flow = VaspSolidSolutionReferenceMaker(label=label).make(system)
        jobs.append(dft_flow)
        reference = dft_flow.output.uuid
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
        job = maker.make(system.model_dump(), reference)
        jobs.append(route(job, spec, TASK, system.material_id))
    return Flow(jobs, name="softbench solid-solution")


def existing_solid_solution_predictions(
    jobs: JobStore,
    label: str,
    system: SolidSolutionSet,
    models: Sequence[str],
    references: Mapping[str, str | None] | None = None,
) -> set[tuple[str, str]]:
    """(system, model) pairs already computed on the same orderings."""
    checksums = {system.material_id: input_checksum(system)}
    return existing_model_documents(
        jobs, SOLID_SOLUTION_PREDICTION, label, checksums, models, references
    )


def reusable_solid_solution_references(
    jobs: JobStore, label: str, system: SolidSolutionSet
) -> dict[str, str]:
    """{system id: uuid} of the newest successful DFT document of the same orderings."""
    checksums = {system.material_id: input_checksum(system)}
    return reusable_computed(jobs, SOLID_SOLUTION_REFERENCE, label, checksums)
