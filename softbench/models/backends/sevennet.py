"""SevenNet (sevenn package): SevenNet-0 weights ship inside the package."""

from __future__ import annotations

from pathlib import Path

from softbench.models.backends import keep_torch_dtype, require_package
from softbench.models.errors import ModelUnavailableError
from softbench.models.predictor import AsePredictor, Predictor, resolve_device
from softbench.models.spec import ModelSpec, package_dir

PACKAGED = {"7net-0": "pretrained_potentials/SevenNet_0__11Jul2024/checkpoint_sevennet_0.pth"}


def weights_files(spec: ModelSpec) -> list[Path]:
    """The packaged checkpoint (or a user ``path``)."""
    if spec.options.get("path"):
        path = Path(spec.options["path"]).expanduser()
    else:
        root = package_dir("sevenn")
        if root is None:
            raise ModelUnavailableError(f"model {spec.name}: package sevenn not installed")
        path = root / PACKAGED[spec.options.get("checkpoint", "7net-0")]
    if not path.exists():
        raise ModelUnavailableError(f"model {spec.name}: checkpoint {path} missing")
    return [path]


def load(spec: ModelSpec, device: str | None = None) -> Predictor:
    """Load the checkpoint into SevenNet's ASE calculator."""
    require_package(spec)
    from sevenn.calculator import SevenNetCalculator

    device = resolve_device(device)
    with keep_torch_dtype():
        calc = SevenNetCalculator(str(weights_files(spec)[0]), device=device)
    species = getattr(calc, "type_map", None)
    elements = None
    if species:
        from pymatgen.core import Element

        elements = frozenset(Element.from_Z(int(z)).symbol for z in species)
    return AsePredictor(spec, calc, device=device, elements=elements)
