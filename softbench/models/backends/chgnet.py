"""CHGNet (chgnet package): weights ship inside the package."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from contextlib import redirect_stdout
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from softbench.models.backends import keep_torch_dtype, require_package, user_file
from softbench.models.errors import ModelUnavailableError
from softbench.models.predictor import Prediction, Predictor, resolve_device
from softbench.models.spec import ModelSpec, package_dir

if TYPE_CHECKING:
    from ase.calculators.calculator import Calculator
    from pymatgen.core import Structure

GPA_TO_EV_A3 = 1 / 160.21766208
MAX_Z = 94  # CHGNet's atom embedding covers H..Pu


def weights_files(spec: ModelSpec) -> list[Path]:
    """The packaged checkpoint, or a user-given ``path`` option."""
    local = user_file(spec)
    if local is not None:
        return [local]
    root = package_dir("chgnet")
    if root is None:
        raise ModelUnavailableError(f"model {spec.name}: package chgnet not installed")
    found = sorted((root / "pretrained" / spec.version).glob("*.pth.tar"))
    if not found:
        raise ModelUnavailableError(
            f"model {spec.name}: chgnet {spec.package_version()} ships no "
            f"{spec.version} weights under {root / 'pretrained'}"
        )
    return found


def load(spec: ModelSpec, device: str | None = None) -> Predictor:
    """Load CHGNet on the device (default: cuda if available)."""
    require_package(spec)
    from chgnet.model import CHGNet

    device = resolve_device(device)
    with keep_torch_dtype(), redirect_stdout(sys.stderr):  # chgnet prints; stdout is results
        if spec.options.get("path"):
            model = CHGNet.from_file(str(weights_files(spec)[0]))
            model = model.to(device)
        else:
            model = CHGNet.load(model_name=spec.version, use_device=device, verbose=False)
    model.eval()
    return ChgnetPredictor(spec, model, device)


class ChgnetPredictor(Predictor):
    """Calls ``predict_structure`` directly, in batches on GPU, one by one on CPU."""

    cpu_batches = {0: (1, 16), 1: (1, 4)}  # larger cells: one at a time
    gpu_batch = 16

    def __init__(self, spec: ModelSpec, model: Any, device: str):
        super().__init__(spec, device, batch_size=spec.options.get("batch_size"))
        self.model = model

    @property
    def supported_elements(self) -> frozenset[str]:
        """Z = 1..94."""
        from pymatgen.core import Element

        return frozenset(Element.from_Z(z).symbol for z in range(1, MAX_Z + 1))

    def _predict_chunk(
        self, structures: Sequence[Structure], stress: bool = True
    ) -> list[Prediction]:
        results = self.model.predict_structure(
            list(structures), task="efs" if stress else "ef", batch_size=len(structures)
        )
        if isinstance(results, dict):
            results = [results]
        out = []
        for structure, res in zip(structures, results, strict=True):
            out.append(
                Prediction(
                    energy=float(res["e"]) * len(structure),
                    forces=np.asarray(res["f"], dtype=float),
                    stress=np.asarray(res["s"], dtype=float) * GPA_TO_EV_A3 if stress else None,
                )
            )
        return out

    def calculator(self) -> Calculator:
        """CHGNet's ASE calculator on the same model object."""
        from chgnet.model.dynamics import CHGNetCalculator

        with redirect_stdout(sys.stderr):  # it prints its device
            return CHGNetCalculator(model=self.model, use_device=self.device)
