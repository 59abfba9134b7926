"""M3GNet through matgl: weights from the matgl cache or $SOFTBENCH_SHARED."""

from __future__ import annotations

import os
from pathlib import Path

from softbench.models.backends import keep_torch_dtype, require_package
from softbench.models.errors import ModelUnavailableError
from softbench.models.predictor import AsePredictor, Predictor, resolve_device
from softbench.models.spec import ModelSpec
from softbench.settings import shared_dir

WEIGHT_FILES = ("model.json", "model.pt", "state.pt")


def candidate_dirs(spec: ModelSpec) -> list[Path]:
    """Folders searched for the matgl model, in order."""
    if spec.options.get("path"):
        return [Path(spec.options["path"]).expanduser()]
    folder = spec.options.get("matgl_name", spec.name)
    cache = Path(os.environ.get("MATGL_CACHE", "~/.cache/matgl")).expanduser()
    return [cache / folder, shared_dir() / "models" / "matgl" / folder]


def weights_files(spec: ModelSpec) -> list[Path]:
    """model.json, model.pt and state.pt of the first folder that has them."""
    tried = candidate_dirs(spec)
    for folder in tried:
        files = [folder / name for name in WEIGHT_FILES]
        if all(f.exists() for f in files):
            return files
    raise ModelUnavailableError(
        f"model {spec.name}: matgl weights not found in "
        + ", ".join(str(t) for t in tried)
        + ". matgl downloads them by name on a machine with internet; offline, "
        "copy the folder there or set SOFTBENCH_SHARED."
    )


def _matgl_major() -> int:
    from importlib.metadata import version

    return int(version("matgl").split(".")[0])


def load(spec: ModelSpec, device: str | None = None) -> Predictor:
    """Load the matgl potential and wrap its ASE calculator."""
    require_package(spec)
    import matgl
    from matgl.ext.ase import PESCalculator

    device = resolve_device(device)
    folder = weights_files(spec)[0].parent
    with keep_torch_dtype():
        potential = matgl.load_model(folder)
    if spec.options.get("dgl_trained") and _matgl_major() >= 3:
        from softbench.models.backends.m3gnet_legacy import use_destination_sum

        use_destination_sum(potential)
    if device != "cpu":
        potential = potential.to(device)
    calc = PESCalculator(potential, stress_unit="eV/A3")
    elements = frozenset(potential.model.element_types)
    return AsePredictor(spec, calc, device=device, elements=elements)
