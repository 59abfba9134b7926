"""Phonon builders: model vs DFT phonons per (material, model, mode), and summaries.

Both modes rebuild force constants with phonopy from stored documents only (the
reference's phonopy metadata + forces), never from the source files. Incremental:
an item is processed only when its (prediction, reference) pair is new, so adding a
model processes just that model; documents are upserted by key. DFT phonons are
computed once per reference and builder run.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from functools import cache
from typing import TYPE_CHECKING, Any

import numpy as np
from jobflow import JobStore
from maggma.core import Store
from pydantic import BaseModel

from softbench.analysis.phonons import (
    IMAGINARY_TOL_THZ,
    DftPhonons,
    build_phonopy,
    compare,
    n_displacements,
    phonon_properties,
    produce_force_constants,
    reference_phonons,
)
from softbench.builders.base import GroupSummaryBuilder, PairBuilder
from softbench.builders.pairing import (
    index,
    newest,
    newest_predictions,
    pair_configurations,
)
from softbench.makers.phonons import PHONOPY_KEY
from softbench.schemas.base import PHONON_RELAXED, REFERENCE
from softbench.schemas.phonons import (
    BOTH_MODES,
    PHONON_BANDS,
    PHONON_SUMMARY,
    PHONON_TASKS,
    PHONONS,
    PhononBandsDocument,
    PhononDocument,
    PhononSummaryDocument,
    RelaxedPhononTaskDocument,
    phonon_key,
)
from softbench.schemas.prediction import PredictionTaskDocument
from softbench.schemas.reference import ReferenceTaskDocument
from softbench.schemas.softening import SOFTENING, softening_key

if TYPE_CHECKING:
    pass

logger = logging.getLogger(__name__)

REFERENCE_TASK = PHONON_TASKS["fixed"]  # relaxed mode compares to the same DFT documents


def modes_for(task: str | None) -> list[str]:
    """Modes a ``--task`` filter selects (None or 'phonons': both)."""
    if task in (None, BOTH_MODES):
        return list(PHONON_TASKS)
    return [mode for mode, name in PHONON_TASKS.items() if name == task]


class PhononBuilder(PairBuilder):
    """Force constants, frequencies and heat capacity of DFT and model; their ratios."""

    reference_class = ReferenceTaskDocument

    def __init__(
        self,
        jobs: JobStore,
        phonons: Store,
        bands: Store,
        softening: Store | None = None,
        task: str | None = None,
        **kwargs: Any,
    ):
        self.phonons = phonons
        self.bands = bands
        self.softening = softening
        self.task = task
        sources = [softening] if softening is not None else []
        super().__init__(jobs, phonons, extra_sources=sources, extra_targets=[bands], **kwargs)

    def pairs(self) -> Iterator[dict[str, Any]]:
        """(mode, prediction, reference) candidates, with fixed mode's force parity."""
        modes = modes_for(self.task)
        if not modes:
            return
        all_refs = list(index(self.jobs, REFERENCE, task=REFERENCE_TASK))
        known = {r.uuid for r in all_refs}
        refs = newest(all_refs, lambda r: (r.task, r.material_id, r.reference))
        parity = self._force_parity() if "fixed" in modes else {}
        if "fixed" in modes:
            for (task, mid, label, model), pred in newest_predictions(
                self.jobs, task=REFERENCE_TASK
            ).items():
                # the reference it was computed on; where that one is gone, the newest
                ref = refs.get((task, mid, label))
                ref_uuid = (
                    pred.reference_uuid
                    if pred.reference_uuid in known
                    else (ref.uuid if ref else None)
                )
                item = self._item("fixed", mid, label, model, pred.uuid, ref_uuid)
                item["force_parity"] = parity.get(softening_key(task, mid, model, label), {})
                yield item
        if "relaxed" in modes:
            for (mid, label, model), (uuid, ref_uuid) in newest_relaxed(self.jobs).items():
                ref = refs.get((REFERENCE_TASK, mid, label))
                yield self._item(
                    "relaxed", mid, label, model, uuid, ref_uuid or (ref.uuid if ref else None)
                )

    @staticmethod
    def _item(
        mode: str, mid: str, label: str, model: str, pred_uuid: str, ref_uuid: str | None
    ) -> dict[str, Any]:
        return {
            "key": phonon_key(PHONON_TASKS[mode], mid, model, label),
            "mode": mode,
            "prediction_uuid": pred_uuid,
            "reference_uuid": ref_uuid,
        }

    def _force_parity(self) -> dict[str, dict[str, Any]]:
        """Softening scale and force MAE of the fixed-mode pairs (one query)."""
        if self.softening is None:
            return {}
        props = ["key", "softening_scale", "force_mae"]
        return {
            d["key"]: {"softening_scale": d.get("softening_scale"), "force_mae": d.get("force_mae")}
            for d in self.softening.query(
                {"task": REFERENCE_TASK, "state": "successful"}, properties=props
            )
        }

    def documents(self, reference: Any, items: list[dict[str, Any]]) -> list[Any]:
        """Phonon and band documents of every model of one reference (DFT phonons once)."""
        ref = reference

        @cache
        def dft() -> DftPhonons | str:  # computed once, only if a model needs it
            try:
                return dft_phonons(ref)
            except Exception as exc:
                return f"phonon calculation failed: DFT phonons: {type(exc).__name__}: {exc}"

        context = {"ref": ref, "dft": dft}
        return [self.safely(self.document, context, item) for item in items]

    def document(self, context: dict[str, Any] | None, item: dict[str, Any]) -> BaseModel:
        """The phonon document of one item, its bands attached (``PhononResult``)."""
        assert context is not None
        ref, dft = context["ref"], context["dft"]
        if item["mode"] == "fixed":
            pred = PredictionTaskDocument.model_validate(item["prediction"])
            doc, bands = _fixed(pred, ref, dft, item)
        else:
            relaxed = RelaxedPhononTaskDocument.model_validate(item["prediction"])
            doc, bands = _relaxed(relaxed, ref, dft, item)
        return PhononResult(phonon=doc, bands=bands)

    def failure(self, item: dict[str, Any], reason: str) -> BaseModel:
        """A failed document that still names its pair."""
        _, mid, model, label = item["key"].split("|", 3)
        doc = _new_doc(item, mid, None, model, label)
        return PhononResult(phonon=doc.with_failure(reason), bands=None)

    def stamp(self, doc: Any) -> Any:
        """The version goes on the phonon document inside the result."""
        super().stamp(doc.phonon)
        return doc

    def update_targets(self, items: list[list[dict[str, Any]]]) -> None:
        """Upsert phonon and band documents by key."""
        results = [r for group in items for r in group]
        docs = [r["phonon"] for r in results]
        bands = [r["bands"] for r in results if r["bands"] is not None]
        if docs:
            self.phonons.update(docs, key="key")
            self.processed.extend(d["key"] for d in docs)
        if bands:
            self.bands.update(bands, key="key")


class PhononResult(BaseModel):
    """What the phonon builder writes for one item: the document and its bands."""

    phonon: PhononDocument
    bands: PhononBandsDocument | None = None


# -- per mode -------------------------------------------------------------------


def _fixed(
    pred: PredictionTaskDocument,
    ref: ReferenceTaskDocument | None,
    dft: Callable[[], DftPhonons | str],
    item: dict[str, Any],
) -> tuple[PhononDocument, PhononBandsDocument | None]:
    doc = _new_doc(item, pred.material_id, pred.formula, pred.model.name, pred.reference)
    doc.model_provenance = pred.model
    parity = item.get("force_parity") or {}
    doc.softening_scale, doc.force_mae = parity.get("softening_scale"), parity.get("force_mae")
    problem = _reference_problem(ref, pred.task, pred.material_id, pred.reference)
    if problem:
        return doc.with_failure(*problem), None
    assert ref is not None
    if pred.state != "successful":
        return doc.with_failure(pred.reason or "model evaluation failed"), None
    paired = pair_configurations(ref, pred)
    meta = ref.dft_settings[PHONOPY_KEY]
    if paired.excluded or len(paired.model_forces) != n_displacements(meta):
        reasons = sorted(set(paired.excluded.values())) or ["displacement count differs"]
        return doc.with_failure("incomplete displacement forces: " + "; ".join(reasons)), None
    order = _displacement_order(ref, paired.configuration_ids)
    forces = [paired.model_forces[i] for i in order]
    return _compare(doc, dft, meta, forces, same_cells=True)


def _relaxed(
    relaxed: RelaxedPhononTaskDocument,
    ref: ReferenceTaskDocument | None,
    dft: Callable[[], DftPhonons | str],
    item: dict[str, Any],
) -> tuple[PhononDocument, PhononBandsDocument | None]:
    doc = _new_doc(
        item, relaxed.material_id, relaxed.formula, relaxed.model.name, relaxed.reference
    )
    doc.model_provenance = relaxed.model
    doc.relaxation = relaxed.relaxation
    doc.warnings = list(relaxed.warnings)
    problem = _reference_problem(ref, REFERENCE_TASK, relaxed.material_id, relaxed.reference)
    if problem:
        return doc.with_failure(*problem), None
    if relaxed.state != "successful":
        return doc.with_failure(relaxed.reason or "relaxed-mode job failed"), None
    meta = relaxed.phonopy
    confs = sorted(relaxed.configurations, key=lambda c: c.metadata["displacement_index"])
    if len(confs) != n_displacements(meta):
        return doc.with_failure("incomplete displacement forces"), None
    return _compare(doc, dft, meta, [c.forces for c in confs])


def _compare(
    doc: PhononDocument,
    dft_of: Callable[[], DftPhonons | str],
    model_meta: dict[str, Any],
    model_forces: list[Any],
    same_cells: bool = False,
) -> tuple[PhononDocument, PhononBandsDocument | None]:
    """Model phonons from its forces, compared with DFT's.

    ``same_cells``: the model forces are on DFT's own displaced supercells, so
    DFT's Phonopy object (symmetry included) is reused; its DFT properties are
    already computed, and only its force constants are overwritten.
    """
    dft = dft_of()
    if isinstance(dft, str):
        return doc.with_failure(dft), None
    try:
        base = dft.phonopy if same_cells else build_phonopy(model_meta)
        ph = produce_force_constants(base, model_forces)
        model = phonon_properties(ph, dft.path, dft.properties.mesh)
        metrics = compare(dft.properties, model, ph)
    except Exception as exc:  # phonopy problems are per-material results
        return doc.with_failure(f"phonon calculation failed: {type(exc).__name__}: {exc}"), None
    d, m = dft.properties, model
    doc.n_displacements = n_displacements(model_meta)
    doc.max_freq_ratio = metrics.max_freq_ratio
    doc.mean_freq_ratio = metrics.mean_freq_ratio
    doc.freq_mae_thz = metrics.freq_mae
    doc.band_mae_thz = metrics.band_mae
    doc.dft_max_freq_thz, doc.model_max_freq_thz = d.max_frequency, m.max_frequency
    doc.dft_mean_freq_thz, doc.model_mean_freq_thz = d.mean_frequency, m.mean_frequency
    doc.dft_min_freq_thz, doc.model_min_freq_thz = d.min_frequency, m.min_frequency
    doc.dft_imaginary, doc.model_imaginary = d.has_imaginary_modes, m.has_imaginary_modes
    doc.dft_heat_capacity, doc.model_heat_capacity = d.heat_capacity, m.heat_capacity
    doc.mesh = list(d.mesh)
    doc.temperature_k = d.temperature
    doc.imaginary_tol_thz = IMAGINARY_TOL_THZ
    doc.band_path_scheme = dft.path.scheme
    if m.has_imaginary_modes:
        doc.warnings.append(f"model has imaginary modes (min {m.min_frequency:.3f} THz)")
    if d.has_imaginary_modes:
        doc.warnings.append(f"DFT has imaginary modes (min {d.min_frequency:.3f} THz)")
    bands = PhononBandsDocument(
        key=doc.key,
        task=doc.task,
        mode=doc.mode,
        material_id=doc.material_id,
        formula=doc.formula,
        model=doc.model,
        reference=doc.reference,
        labels=[list(p) for p in dft.path.labels],
        distances=[x.tolist() for x in dft.distances],
        dft_frequencies=[f.tolist() for f in d.band_frequencies],
        model_frequencies=[f.tolist() for f in m.band_frequencies],
    )
    return doc, bands


def dft_phonons(ref: ReferenceTaskDocument) -> DftPhonons:
    """DFT phonons of one reference document (shared by all its models)."""
    confs = sorted(ref.configurations, key=lambda c: c.metadata["displacement_index"])
    return reference_phonons(ref.dft_settings[PHONOPY_KEY], [c.forces for c in confs])


def newest_relaxed(jobs: JobStore) -> dict[tuple[str, str, str], tuple[str, str | None]]:
    """(material, reference, model) -> (uuid, reference_uuid) of the newest relaxed doc."""
    docs = newest(index(jobs, PHONON_RELAXED), lambda d: (d.material_id, d.reference, d.model))
    return {k: (d.uuid, d.reference_uuid) for k, d in docs.items()}


def _new_doc(
    item: dict[str, Any], mid: str, formula: str | None, model: str, reference: str
) -> PhononDocument:
    return PhononDocument(
        key=item["key"],
        task=PHONON_TASKS[item["mode"]],
        mode=item["mode"],
        material_id=mid,
        formula=formula,
        model=model,
        reference=reference,
        reference_uuid=item.get("reference_uuid"),
        prediction_uuid=item.get("prediction_uuid"),
    )


def _reference_problem(
    ref: ReferenceTaskDocument | None, task: str, mid: str, label: str
) -> tuple[str, str] | None:
    """(reason, state) when the reference cannot be used, else None."""
    if ref is None:
        return f"no reference document for ({task}, {mid}, {label})", "failed"
    if ref.state != "successful":
        return f"reference unusable: {ref.reason}", "unusable"
    if PHONOPY_KEY not in ref.dft_settings:
        return (
            "reference has no phonopy metadata (re-ingest with `softbench run phonons`)",
            "failed",
        )
    return None


def _displacement_order(ref: ReferenceTaskDocument, ids: list[str]) -> list[int]:
    index = {
        c.configuration_id: c.metadata.get("displacement_index", i)
        for i, c in enumerate(ref.configurations)
    }
    return sorted(range(len(ids)), key=lambda i: index[ids[i]])


class PhononSummaryBuilder(GroupSummaryBuilder):
    """Per (mode, model, reference): fraction with ω_max ratio < 1, median ratio."""

    def summarize(self, docs: list[dict[str, Any]]) -> PhononSummaryDocument:
        """Aggregate one group."""
        return summarize_phonons([PhononDocument.model_validate(d) for d in docs])


def summarize_phonons(docs: list[PhononDocument]) -> PhononSummaryDocument:
    """Summary statistics over the phonon documents of one (mode, model, reference)."""
    first = docs[0]
    ok = [d for d in docs if d.state == "successful" and d.max_freq_ratio is not None]
    ratios = np.array([d.max_freq_ratio for d in ok], dtype=float)
    mean_ratios = np.array([d.mean_freq_ratio for d in ok], dtype=float)
    maes = [d.freq_mae_thz for d in ok if d.freq_mae_thz is not None]
    return PhononSummaryDocument(
        key=f"{first.task}|{first.model}|{first.reference}",
        task=first.task,
        mode=first.mode,
        model=first.model,
        reference=first.reference,
        n_materials=len(docs),
        n_successful=len(ok),
        n_failed=sum(d.state == "failed" for d in docs),
        n_unusable=sum(d.state == "unusable" for d in docs),
        failed_materials={d.material_id: d.reason or "" for d in docs if d.state == "failed"},
        unusable_materials={d.material_id: d.reason or "" for d in docs if d.state == "unusable"},
        fraction_softened=float((ratios < 1).mean()) if ok else None,
        median_max_freq_ratio=float(np.median(ratios)) if ok else None,
        mean_max_freq_ratio=float(ratios.mean()) if ok else None,
        median_mean_freq_ratio=float(np.median(mean_ratios)) if ok else None,
        mean_freq_mae_thz=float(np.mean(maes)) if maes else None,
        n_model_imaginary=sum(bool(d.model_imaginary) for d in ok),
        n_dft_imaginary=sum(bool(d.dft_imaginary) for d in ok),
    )


def build_phonons(stores: Any, task: str | None = None) -> dict[str, int]:
    """Build step (``run.BUILD_STEPS``): phonon documents, then their summaries."""
    from softbench.run import run_builder

    builder = PhononBuilder(
        stores.jobs,
        stores.collection(PHONONS),
        stores.collection(PHONON_BANDS),
        softening=stores.collection(SOFTENING),
        task=task,
    )
    run_builder(builder)
    summary = PhononSummaryBuilder(stores.collection(PHONONS), stores.collection(PHONON_SUMMARY))
    run_builder(summary)
    return {"phonons": len(builder.processed), "phonon_summary": len(summary.processed)}
