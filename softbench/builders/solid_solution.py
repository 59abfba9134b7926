"""Solid-solution builders: model against DFT mixing energy per (system, ordering, model)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from softbench.builders.labelled import LabelledPairBuilder, ParitySummaryBuilder, Value
from softbench.schemas.solid_solution import (
    SOLID_SOLUTION,
    SOLID_SOLUTION_PREDICTION,
    SOLID_SOLUTION_REFERENCE,
    SOLID_SOLUTION_SUMMARY,
    TASK,
    OrderingParityDocument,
    SolidSolutionEnergies,
    SolidSolutionPredictionDocument,
    SolidSolutionReferenceDocument,
)

if TYPE_CHECKING:
    from softbench.stores import SoftbenchStores


class SolidSolutionBuilder(LabelledPairBuilder):
    """One :class:`OrderingParityDocument` per (system, ordering, model, reference)."""

    task = TASK
    unit = "eV/cation"
    prediction_type = SOLID_SOLUTION_PREDICTION
    reference_type = SOLID_SOLUTION_REFERENCE
    prediction_class = SolidSolutionPredictionDocument
    reference_class = SolidSolutionReferenceDocument
    document_class = OrderingParityDocument

    def values(self, doc: Any) -> dict[str, Value]:
        """Mixing energy per ordering label."""
        return ordering_values(doc)


def ordering_values(doc: SolidSolutionEnergies) -> dict[str, Value]:
    """Label -> mixing energy per cation; converged if the ordering and both end members are."""
    ends = [o for o in doc.orderings if o.n_guest == 0 or o.n_host == 0]
    ends_converged = all(o.converged is not False for o in ends)
    return {
        o.label: Value(
            o.mixing_energy_ev_per_cation,
            None if o.converged is None else bool(o.converged and ends_converged),
            o.reason,
            {"x": o.x},
        )
        for o in doc.orderings
    }


def build_solid_solution(stores: SoftbenchStores, task: str | None = None) -> dict[str, int]:
    """Build step for ``softbench build`` (runs unless another task is asked for)."""
    from softbench.run import run_builder

    if task not in (None, TASK):
        return {}
    pair = SolidSolutionBuilder(stores.jobs, stores.collection(SOLID_SOLUTION))
    run_builder(pair)
    summary = ParitySummaryBuilder(
        stores.collection(SOLID_SOLUTION), stores.collection(SOLID_SOLUTION_SUMMARY)
    )
    run_builder(summary)
    return {
        "solid_solution": len(pair.processed),
        "solid_solution_summary": len(summary.processed),
    }
