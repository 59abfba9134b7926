"""Model side of force parity: one job per (material, model), batched evaluation."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from jobflow import Maker, job

from softbench.models import ModelError, ModelRef, resolve_model
from softbench.models.evaluate import evaluate
from softbench.schemas.configuration import ARRAYS_KEY, Configuration, ConfigurationArrays
from softbench.schemas.prediction import PredictionTaskDocument
from softbench.schemas.reference import ReferenceTaskDocument


@dataclass
class ModelForcesMaker(Maker):
    """Evaluate every configuration of a reference document with one model.

    All configurations go through one loaded model in one job (batched where the
    backend batches). A model failure (uncovered element, missing weights) gives a
    'failed' document with the reason instead of an exception, so other materials
    and models carry on.
    """

    name: str = "model forces"
    model: ModelRef = "chgnet-0.3.0"  # registry name or ModelSpec.to_dict()
    device: str | None = None
    show_progress: bool = True
    stress: bool = False  # force parity needs energies and forces only

    @job(data=ARRAYS_KEY)
    def make(
        self,
        reference: ReferenceTaskDocument | dict[str, Any],
        reference_uuid: str | None = None,
    ) -> PredictionTaskDocument:
        """Predict energies, forces and stresses for all reference configurations."""
        return predict_reference(
            reference, self.model, reference_uuid, self.device, self.show_progress, self.stress
        )


def predict_reference(
    reference: ReferenceTaskDocument | dict[str, Any],
    model: ModelRef,
    reference_uuid: str | None = None,
    device: str | None = None,
    show_progress: bool = False,
    stress: bool = False,
) -> PredictionTaskDocument:
    """The work of :class:`ModelForcesMaker`, callable without jobflow."""
    ref = ReferenceTaskDocument.coerce(reference)
    spec = resolve_model(model)
    doc = PredictionTaskDocument.from_reference(
        ref, spec.safe_provenance(), reference_uuid, task=ref.task
    )
    if ref.state != "successful":
        return doc.with_failure(f"reference unusable: {ref.reason}")
    labels = [c.configuration_id for c in ref.configurations]
    try:
        ev = evaluate(
            spec,
            [c.structure for c in ref.configurations],
            device=device,
            labels=labels,
            show_progress=show_progress,
            description=f"{spec.name} {ref.material_id}",
            stress=stress,
        )
    except ModelError as exc:
        return doc.with_failure(str(exc))
    if ev.provenance is not None:
        doc.model = ev.provenance
    confs = []
    for i, (conf, pred) in enumerate(zip(ref.configurations, ev.predictions, strict=True)):
        if pred is None:
            doc.failed_configurations[conf.configuration_id] = ev.errors.get(i, "failed")
            continue
        confs.append(
            Configuration(
                configuration_id=conf.configuration_id,
                n_atoms=conf.n_atoms,
                formula=conf.formula,
                structure_hash=conf.structure_hash,
                energy=pred.energy,
                arrays=ConfigurationArrays(
                    species=conf.arrays.species,
                    forces=pred.forces.tolist(),
                    stress=None if pred.stress is None else pred.stress.tolist(),
                ),
            )
        )
    doc.configurations = confs
    doc.configuration_ids = [c.configuration_id for c in confs]
    doc.device, doc.batch_size = ev.device, ev.batch_size
    n = len(ref.configurations)
    doc.timing = {
        "load_seconds": ev.load_seconds,
        "eval_seconds": ev.eval_seconds,
        "frames_per_second": n / ev.eval_seconds if ev.eval_seconds > 0 else 0.0,
    }
    if not confs:
        doc.with_failure(
            "every configuration failed: "
            + "; ".join(sorted(set(doc.failed_configurations.values())))
        )
    return doc
