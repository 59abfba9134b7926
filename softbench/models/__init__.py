"""Model registry and predictors. Importing this package does not import torch."""

from softbench.models.errors import (
    ModelError,
    ModelUnavailableError,
    NonFiniteForcesError,
    UnknownModelError,
    UnsupportedElementsError,
)
from softbench.models.registry import (
    get_model,
    get_models,
    known_models,
    register,
    spec_from_dict,
)
from softbench.models.spec import ModelSpec

__all__ = [
    "ModelError",
    "ModelSpec",
    "ModelUnavailableError",
    "NonFiniteForcesError",
    "UnknownModelError",
    "UnsupportedElementsError",
    "get_model",
    "get_models",
    "known_models",
    "register",
    "spec_from_dict",
]
