"""MACE (mace-torch, own environment): MACE-MP-0 or a local model file."""

from __future__ import annotations

import os
from pathlib import Path

from softbench.models.backends import keep_torch_dtype, require_package, user_file
from softbench.models.errors import ModelUnavailableError
from softbench.models.predictor import AsePredictor, Predictor, resolve_device
from softbench.models.spec import ModelSpec

# As in mace.calculators.foundations_models.mace_mp_urls (mace-torch 0.3.x).
MACE_MP_URLS = {
    "medium": "https://github.com/ACEsuit/mace-mp/releases/download/mace_mp_0/"
    "2023-12-03-mace-128-L1_epoch-199.model",
}


def _cached_path(spec: ModelSpec) -> Path:
    """Where mace's downloader keeps the file (it strips non-alphanumerics)."""
    url = MACE_MP_URLS[spec.options["mace_mp"]]
    cache = Path(os.environ.get("XDG_CACHE_HOME", "~/.cache")).expanduser() / "mace"
    name = "".join(c for c in Path(url).name if c.isalnum() or c == "_")
    return cache / name


def weights_files(spec: ModelSpec) -> list[Path]:
    """A local model file, or MACE-MP-0 in mace's download cache."""
    local = user_file(spec)
    if local is not None:
        return [local]
    path = _cached_path(spec)
    if not path.exists():
        raise ModelUnavailableError(
            f"model {spec.name}: weights not downloaded yet ({path} missing); "
            f"they come from {MACE_MP_URLS[spec.options['mace_mp']]} on first use."
        )
    return [path]


def load(spec: ModelSpec, device: str | None = None) -> Predictor:
    """Load MACE; MACE-MP-0 is downloaded by mace on first use."""
    require_package(spec)
    import torch

    torch.serialization.add_safe_globals([slice])  # e3nn 0.4.4 constants under torch>=2.6
    from mace.calculators import MACECalculator

    device = resolve_device(device)
    with keep_torch_dtype():
        if spec.options.get("path"):
            path = weights_files(spec)[0]
        else:
            path = _cached_path(spec)
            if not path.exists():
                path = _download(spec)
        calc = MACECalculator(model_paths=str(path), device=device, default_dtype="float64")
    from pymatgen.core import Element

    numbers = getattr(calc.models[0], "atomic_numbers", None)
    elements = (
        frozenset(Element.from_Z(int(z)).symbol for z in numbers) if numbers is not None else None
    )
    return AsePredictor(spec, calc, device=device, elements=elements)


def _download(spec: ModelSpec) -> Path:
    from mace.calculators.foundations_models import download_mace_mp_checkpoint

    url = MACE_MP_URLS[spec.options["mace_mp"]]
    try:
        return Path(download_mace_mp_checkpoint(spec.options["mace_mp"]))
    except Exception as exc:
        raise ModelUnavailableError(
            f"model {spec.name}: could not download the MACE-MP-0 weights from "
            f"{url} ({type(exc).__name__}: {exc}). On a machine without internet, "
            f"download that file elsewhere and place it at {_cached_path(spec)}, "
            "or register the file with 'softbench run ... --models <path>.model'."
        ) from exc
