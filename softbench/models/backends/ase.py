"""Any ASE calculator, given as an import path (``ase:module.Class``)."""

from __future__ import annotations

from importlib import import_module
from pathlib import Path
from typing import Any

from softbench.models.errors import ModelUnavailableError
from softbench.models.predictor import AsePredictor, Predictor, resolve_device
from softbench.models.spec import ModelSpec


def weights_files(spec: ModelSpec) -> list[Path]:
    """Files named by the ``weights`` option (none for analytic calculators)."""
    files = [Path(p).expanduser() for p in spec.options.get("weights", [])]
    missing = [f for f in files if not f.exists()]
    if missing:
        raise ModelUnavailableError(f"model {spec.name}: missing {missing}")
    return files


def import_object(path: str) -> Any:
    """Import ``pkg.module.attr`` or ``pkg.module:attr``."""
    module_name, _, attr = path.replace(":", ".").rpartition(".")
    try:
        return getattr(import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise ModelUnavailableError(f"cannot import {path!r}: {exc}") from exc


def load(spec: ModelSpec, device: str | None = None) -> Predictor:
    """Build the calculator from its factory with the ``kwargs`` option."""
    factory = import_object(spec.options["import_path"])
    calc = factory(**spec.options.get("kwargs", {}))
    elements = spec.options.get("elements")
    return AsePredictor(
        spec,
        calc,
        device=resolve_device(device) if spec.package == "torch" else "cpu",
        elements=frozenset(elements) if elements else None,
    )
