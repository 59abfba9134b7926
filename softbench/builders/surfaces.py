"""Surface builders: pair model and DFT gamma per (material, facet), summarise per model.

A model document is paired with the DFT document it was run beside (its
``reference_uuid``), else with the newest DFT document of its material and label.
Every facet of either side gets a document: a model value without a DFT partner
is kept with state ``missing_reference`` (never dropped), one whose relaxation (model
or DFT) hit its step limit is ``flagged`` and left out of the summary errors.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np
from jobflow import JobStore
from maggma.core import Store
from pydantic import BaseModel

from softbench.builders.base import GroupSummaryBuilder, PairBuilder
from softbench.builders.pairing import predictions_with_references
from softbench.schemas.surfaces import (
    NO_DFT,
    SURFACE_PREDICTION,
    SURFACE_REFERENCE,
    SURFACES,
    SURFACES_SUMMARY,
    TASK,
    SurfaceEnergyDocument,
    SurfacePredictionDocument,
    SurfaceReferenceDocument,
    SurfaceSummaryDocument,
    surface_key,
)

if TYPE_CHECKING:
    from softbench.stores import SoftbenchStores

WHOLE = "*"  # facet of an item standing for a material with no surface at all


class SurfaceBuilder(PairBuilder):
    """One document per (material, facet, model, reference)."""

    document_class = SurfaceEnergyDocument
    reference_class = SurfaceReferenceDocument

    def __init__(self, jobs: JobStore, surfaces: Store, **kwargs: Any):
        self.surfaces = surfaces
        super().__init__(jobs, surfaces, **kwargs)

    def pairs(self) -> Iterator[dict[str, Any]]:
        """Per newest prediction: one item per facet of the prediction or its reference."""
        pairs = predictions_with_references(
            self.jobs,
            SURFACE_PREDICTION,
            lambda p: (p.material_id, str(p.model), p.reference),
            SURFACE_REFERENCE,
        )
        preds = {k: pred for k, (pred, _) in pairs.items()}
        chosen = {pred.uuid: ref_uuid for pred, ref_uuid in pairs.values()}
        facets = self.facets([*chosen, *(r for r in chosen.values() if r)])
        for (mid, model, label), pred in preds.items():
            ref_uuid = chosen[pred.uuid]
            names = list(dict.fromkeys(facets.get(pred.uuid, []) + facets.get(ref_uuid, [])))
            for facet in names or [WHOLE]:
                yield {
                    "key": surface_key(mid, facet, model, label),
                    "prediction_uuid": pred.uuid,
                    "reference_uuid": ref_uuid,
                    "material_id": mid,
                    "facet": facet,
                    "model": model,
                    "reference": label,
                }

    def facets(self, uuids: list[Any]) -> dict[Any, list[str]]:
        """Job uuid -> facets of the newest output of each job (a light query)."""
        found: dict[Any, tuple[int, list[str]]] = {}
        for d in self.jobs.query(
            {"uuid": {"$in": uuids}}, properties=["uuid", "index", "output.facets"]
        ):
            output = d.get("output") or {}
            if d["uuid"] not in found or d.get("index", 0) > found[d["uuid"]][0]:
                found[d["uuid"]] = (d.get("index", 0), list(output.get("facets") or []))
        return {uuid: names for uuid, (_, names) in found.items()}

    def documents(self, reference: Any, items: list[dict[str, Any]]) -> list[BaseModel]:
        """Documents of one reference's items; each prediction is validated once."""
        predictions: dict[str, SurfacePredictionDocument] = {}
        docs = []
        for item in items:
            if "missing" not in item and item["prediction_uuid"] not in predictions:
                try:
                    pred = SurfacePredictionDocument.model_validate(item["prediction"])
                except Exception as exc:  # an unreadable prediction fails its items
                    item["missing"] = f"prediction unreadable: {type(exc).__name__}: {exc}"
                else:
                    predictions[item["prediction_uuid"]] = pred
            if "missing" not in item:
                item["validated"] = predictions[item["prediction_uuid"]]
            docs.append(self.safely(self.document, reference, item))
        return docs

    def document(self, reference: Any, item: dict[str, Any]) -> BaseModel:
        """Compare one facet of one prediction with its reference."""
        pred = item.get("validated") or SurfacePredictionDocument.model_validate(item["prediction"])
        return compare(pred, reference, item)

    def failure(self, item: dict[str, Any], reason: str) -> BaseModel:
        """A failed document that still names its material, facet, model and label."""
        return SurfaceEnergyDocument(
            key=item["key"],
            material_id=item["material_id"],
            material=item["material_id"],
            facet=item["facet"],
            model=item["model"],
            reference=item["reference"],
            reference_uuid=item["reference_uuid"],
            prediction_uuid=item["prediction_uuid"],
            state="failed",
            reason=reason,
        )


def compare(
    pred: SurfacePredictionDocument,
    ref: SurfaceReferenceDocument | None,
    item: dict[str, Any],
) -> SurfaceEnergyDocument:
    """Model against DFT gamma of one facet (see the module docstring for the states)."""
    facet = item["facet"]
    model = pred.surface(facet)
    dft = ref.surface(facet) if ref is not None else None
    shown = model or dft
    doc = SurfaceEnergyDocument.for_pair(
        pred,
        ref,
        item,
        task=TASK,
        material=pred.material_id,
        facet=facet,
        miller_index=shown.miller_index if shown else None,
        termination=shown.termination if shown else None,
    )
    if dft is not None:
        doc.dft_surface_energy_j_m2 = dft.surface_energy_j_m2
        doc.dft_surface_energy_ev_a2 = dft.surface_energy_ev_a2
        doc.dft_converged, doc.dft_area_a2 = dft.converged, dft.area_a2
    if model is None:
        why = pred.reason if pred.state != "successful" else "the model made no slab"
        return doc.with_failure(f"no model surface energy for {facet}: {why}")
    doc.n_atoms, doc.area_a2, doc.model_converged = model.n_atoms, model.area_a2, model.converged
    if model.state != "successful":
        return doc.with_failure(f"model slab failed: {model.reason}")
    doc.surface_energy_j_m2 = model.surface_energy_j_m2
    doc.surface_energy_ev_a2 = model.surface_energy_ev_a2
    doc.converged = model.converged
    missing = missing_partner(pred, ref, dft, facet)
    if missing:
        return doc.with_failure(missing, "missing_reference")
    assert dft is not None and dft.surface_energy_j_m2 is not None
    doc.error_j_m2 = float(model.surface_energy_j_m2) - dft.surface_energy_j_m2  # type: ignore[arg-type]
    doc.converged = bool(model.converged) and bool(dft.converged)
    if not doc.converged:
        which = [n for n, r in (("model", model), ("DFT", dft)) if not r.converged]
        return doc.with_failure(
            f"{' and '.join(which)} relaxation not converged: last energy kept", "flagged"
        )
    return doc


def missing_partner(
    pred: SurfacePredictionDocument,
    ref: SurfaceReferenceDocument | None,
    dft: Any,
    facet: str,
) -> str | None:
    """Why a model value has no DFT partner, or None."""
    if pred.reference == NO_DFT:
        return "no DFT side was run (--dft none)"
    if ref is None:
        return f"no DFT surface document for {pred.material_id} under {pred.reference}"
    if ref.state != "successful":
        return f"DFT reference unusable: {ref.reason}"
    if dft is None:
        return f"DFT made no slab for {facet}"
    if dft.state != "successful" or dft.surface_energy_j_m2 is None:
        return f"DFT slab failed: {dft.reason}"
    return None


class SurfaceSummaryBuilder(GroupSummaryBuilder):
    """Per (model, reference): MAE, mean signed error, fraction underpredicted."""

    def summarize(self, docs: list[dict[str, Any]]) -> SurfaceSummaryDocument:
        """Aggregate one group."""
        return summarize_surfaces([SurfaceEnergyDocument.model_validate(d) for d in docs])


def summarize_surfaces(docs: list[SurfaceEnergyDocument]) -> SurfaceSummaryDocument:
    """Errors over successful pairs; flagged, unpaired and failed ones are counted."""
    first = docs[0]
    paired = [d for d in docs if d.state == "successful" and d.error_j_m2 is not None]
    err = np.array([d.error_j_m2 for d in paired], dtype=float)
    dft = np.array([d.dft_surface_energy_j_m2 for d in paired], dtype=float)
    values = [d.surface_energy_j_m2 for d in docs if d.surface_energy_j_m2 is not None]
    missing = [d for d in docs if d.state == "missing_reference"]
    failed = [d for d in docs if d.state == "failed"]
    return SurfaceSummaryDocument(
        key=f"{TASK}|{first.model}|{first.reference}",
        model=first.model,
        reference=first.reference,
        n_materials=len({d.material_id for d in docs}),
        n_successful=len(paired),
        n_failed=len(failed),
        failed_materials={f"{d.material_id} {d.facet}": d.reason or "" for d in failed},
        n_surfaces=len(docs),
        n_paired=len(paired),
        n_flagged=sum(1 for d in docs if d.state == "flagged"),
        n_missing_reference=len(missing),
        missing_reference=sorted(f"{d.material_id} {d.facet}" for d in missing),
        mae_j_m2=float(np.abs(err).mean()) if paired else None,
        mean_signed_error_j_m2=float(err.mean()) if paired else None,
        fraction_underpredicted=float((err < 0).mean()) if paired else None,
        median_ratio=float(np.median((err + dft) / dft)) if paired else None,
        mean_model_j_m2=float(np.mean(values)) if values else None,
    )


def build_surfaces(stores: SoftbenchStores, task: str | None = None) -> dict[str, int]:
    """Build step for ``softbench build`` (runs unless another task is asked for)."""
    from softbench.run import run_builder

    if task not in (None, TASK):
        return {}
    pair = SurfaceBuilder(stores.jobs, stores.collection(SURFACES))
    run_builder(pair)
    summary = SurfaceSummaryBuilder(
        stores.collection(SURFACES), stores.collection(SURFACES_SUMMARY)
    )
    run_builder(summary)
    return {"surfaces": len(pair.processed), "surfaces_summary": len(summary.processed)}
