"""Point-defect builders: model against DFT formation energy per (material, defect, model)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from softbench.builders.labelled import (
    LabelledPairBuilder,
    ParitySummaryBuilder,
    Value,
)
from softbench.builders.labelled import parity_points as collection_points
from softbench.schemas.defects import (
    DEFECT_PREDICTION,
    DEFECT_REFERENCE,
    DEFECTS,
    DEFECTS_SUMMARY,
    TASK,
    DefectEnergies,
    DefectParityDocument,
    DefectPredictionDocument,
    DefectReferenceDocument,
)

if TYPE_CHECKING:
    from softbench.stores import SoftbenchStores


class DefectBuilder(LabelledPairBuilder):
    """One :class:`DefectParityDocument` per (material, defect, model, reference)."""

    task = TASK
    unit = "eV"
    prediction_type = DEFECT_PREDICTION
    reference_type = DEFECT_REFERENCE
    prediction_class = DefectPredictionDocument
    reference_class = DefectReferenceDocument
    document_class = DefectParityDocument

    def values(self, doc: Any) -> dict[str, Value]:
        """Formation energy per defect label."""
        return defect_values(doc)


def defect_values(doc: DefectEnergies) -> dict[str, Value]:
    """Label -> formation energy; converged only if defect, bulk and elements all are."""
    others = [doc.bulk, doc.bulk_supercell, *doc.elemental_references]
    rest_converged = all(r is not None and r.converged is not False for r in others)
    return {
        d.label: Value(
            d.formation_energy_ev,
            None if d.converged is None else bool(d.converged and rest_converged),
            d.reason,
            {"kind": d.kind, "element_changes": d.element_changes},
        )
        for d in doc.defects
    }


def build_defects(stores: SoftbenchStores, task: str | None = None) -> dict[str, int]:
    """Build step for ``softbench build`` (runs unless another task is asked for)."""
    from softbench.run import run_builder

    if task not in (None, TASK):
        return {}
    pair = DefectBuilder(stores.jobs, stores.collection(DEFECTS))
    run_builder(pair)
    summary = ParitySummaryBuilder(stores.collection(DEFECTS), stores.collection(DEFECTS_SUMMARY))
    run_builder(summary)
    return {"defects": len(pair.processed), "defects_summary": len(summary.processed)}


def parity_points(stores: SoftbenchStores) -> list[dict[str, Any]]:
    """DFT vs model points of both tasks of this module pair (defects, solid solutions).

    Keys: ``task``, ``material``, ``label``, ``model``, ``dft_value``,
    ``model_value``, ``unit`` (plus ``state``: successful or flagged, and
    ``reference``), for the energetics parity figure.
    """
    from softbench.schemas.solid_solution import SOLID_SOLUTION

    return collection_points(stores.collection(DEFECTS)) + collection_points(
        stores.collection(SOLID_SOLUTION)
    )
