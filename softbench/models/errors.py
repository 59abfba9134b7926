"""Errors raised by the model registry and predictors; each names the problem."""

from __future__ import annotations

from collections.abc import Iterable


class ModelError(RuntimeError):
    """Base class for model problems."""


class UnknownModelError(ModelError, KeyError):
    """A model name that is neither registered nor a loadable path/import path."""

    def __init__(self, name: str, known: Iterable[str]):
        self.name = name
        known_list = ", ".join(sorted(known))
        super().__init__(
            f"unknown model {name!r}. Known models: {known_list}. Also accepted: "
            "'ase:<module>.<Calculator or factory>' or a path to a local model file."
        )

    def __str__(self) -> str:  # KeyError quotes its message otherwise
        return str(self.args[0])


class ModelUnavailableError(ModelError):
    """The model's package or weights are not available in this environment."""


class UnsupportedElementsError(ModelError):
    """A structure contains elements the model was not trained on."""

    def __init__(self, model: str, elements: Iterable[str], where: str = ""):
        self.model = model
        self.elements = sorted(set(elements))
        self.where = where
        suffix = f" (in {where})" if where else ""
        super().__init__(
            f"model {model} does not cover element(s) {', '.join(self.elements)}{suffix}"
        )


class NonFiniteForcesError(ModelError):
    """A model returned NaN or inf forces or energy."""
