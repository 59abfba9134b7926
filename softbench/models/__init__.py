"""Model registry and predictors. Importing this package does not import torch."""

from softbench.models.errors import (
    ModelError,
    ModelUnavailableError,
    NonFiniteForcesError,
    UnknownModelError,
    UnsupportedElementsError,
)
from softbench.models.registry import (
    ModelRef,
    get_model,
    get_models,
    known_models,
    model_ref,
    register,
    resolve_model,
    spec_from_dict,
)
from softbench.models.spec import ModelSpec

__all__ = [
    "ModelError",
    "ModelRef",
    "ModelSpec",
    "ModelUnavailableError",
    "NonFiniteForcesError",
    "UnknownModelError",
    "UnsupportedElementsError",
    "get_model",
    "get_models",
    "known_models",
    "model_ref",
    "register",
    "resolve_model",
    "spec_from_dict",
]
