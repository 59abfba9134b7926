"""A linearly corrected model: a base model whose energy, forces and stress are scaled by c.

Spec options: ``base`` (the base model's :meth:`ModelSpec.to_dict`), ``c`` and
``correction`` (how c was fitted: label configurations, label source, ...; recorded in
every prediction's provenance). The base model is loaded through the same per-process
cache as when it is used on its own, and batched exactly as it would be: the scaling
is applied to each batch's predictions (:class:`ScaledPredictor`) and, for atomate2's
force-field makers, inside an ASE calculator wrapper (:class:`ScaledCalculator`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from softbench.models.predictor import Prediction, Predictor, Progress
from softbench.models.spec import ModelSpec

if TYPE_CHECKING:
    from ase.calculators.calculator import Calculator
    from pymatgen.core import Structure

FAMILY = "corrected"


def base_spec(spec: ModelSpec) -> ModelSpec:
    """The wrapped model."""
    from softbench.models.registry import spec_from_dict

    return spec_from_dict(dict(spec.options["base"]))


def scale_of(spec: ModelSpec) -> float:
    """The correction factor c."""
    return float(spec.options["c"])


def weights_files(spec: ModelSpec) -> list[Path]:
    """The base model's weight files (c itself is recorded in the provenance)."""
    return base_spec(spec).weights_files()


def provenance_note(spec: ModelSpec) -> str:
    """What the wrapper does, plus the base backend's own note."""
    base = base_spec(spec)
    info = spec.options.get("correction", {})
    note = (
        f"linear correction of {base.name}: E, F, stress x c={scale_of(spec):.6g} fitted on "
        f"{len(info.get('label_configurations', []))} configuration(s) of "
        f"{info.get('label_source', '?')}"
    )
    inner = getattr(base.backend, "provenance_note", None)
    text = inner(base) if inner is not None else None
    return f"{note}; base: {text}" if text else note


def load(spec: ModelSpec, device: str | None = None) -> Predictor:
    """Load (or reuse) the base predictor and wrap it."""
    from softbench.models.evaluate import load_predictor

    return ScaledPredictor(spec, load_predictor(base_spec(spec), device), scale_of(spec))


def scale_prediction(pred: Prediction, c: float) -> Prediction:
    """c·E, c·F, c·sigma."""
    return Prediction(
        energy=c * pred.energy,
        forces=c * np.asarray(pred.forces, float),
        stress=None if pred.stress is None else c * np.asarray(pred.stress, float),
    )


class ScaledPredictor(Predictor):
    """Delegates to the base predictor (its batching and tuning) and scales every result."""

    def __init__(self, spec: ModelSpec, base: Predictor, c: float):
        super().__init__(spec, base.device)
        self.base = base
        self.c = c

    @property
    def batch_size(self) -> int:
        """The base predictor's batch size."""
        return self.base.batch_size

    @property
    def supported_elements(self) -> frozenset[str] | None:
        """The base model's elements."""
        return self.base.supported_elements

    def predict(
        self,
        structures: Sequence[Structure],
        progress: Progress | None = None,
        stress: bool = True,
    ) -> list[Prediction]:
        """The base model's batched predictions, each scaled by c."""
        return [
            scale_prediction(p, self.c)
            for p in self.base.predict(structures, progress=progress, stress=stress)
        ]

    def _predict_chunk(
        self, structures: Sequence[Structure], stress: bool = True
    ) -> list[Prediction]:
        return self.predict(structures, stress=stress)

    def calculator(self) -> Calculator:
        """The base model's ASE calculator, scaled."""
        return make_scaled_calculator(self.base.calculator(), self.c)


SCALED_PROPERTIES = ("energy", "free_energy", "energies", "forces", "stress", "stresses")


def make_scaled_calculator(base: Calculator, c: float) -> Calculator:
    """An ASE calculator returning c times every property of ``base``."""
    from ase.calculators.calculator import Calculator, all_changes

    class ScaledCalculator(Calculator):
        """c x (energy, free energy, forces, stress) of the wrapped calculator."""

        implemented_properties = list(getattr(base, "implemented_properties", ["energy", "forces"]))

        def __init__(self, **kwargs: Any):
            super().__init__(**kwargs)
            self.base = base
            self.c = c

        def calculate(
            self,
            atoms: Any = None,
            properties: Any = ("energy",),
            system_changes: Any = all_changes,
        ) -> None:
            super().calculate(atoms, properties, system_changes)
            assert self.atoms is not None
            work = self.atoms.copy()
            wanted = set(properties) | {"energy", "forces"}
            self.results = {}
            for name in wanted:
                if name not in self.implemented_properties:
                    continue
                value = self.base.get_property(name, work)
                self.results[name] = (
                    self.c * np.asarray(value, float) if name in SCALED_PROPERTIES else value
                )
            for name in ("energy", "free_energy"):
                if name in self.results:
                    self.results[name] = float(self.results[name])

    return ScaledCalculator()
