"""ASE calculators from the registry, for atomate2's force-field makers.

Pass ``force_field_name=ATOMATE2_CALCULATOR`` and
``calculator_kwargs={"model": "chgnet-0.3.0"}`` to any atomate2 force-field Maker
(MD, relax, phonons, elastic) to run it with a softbench registry model.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ase.calculators.calculator import Calculator

ATOMATE2_CALCULATOR = {
    "@module": "softbench.models.calculator",
    "@callable": "registry_calculator",
}


def registry_calculator(model: str, device: str | None = None) -> Calculator:
    """The ASE calculator of a registry model (loaded once per process)."""
    from softbench.models.evaluate import load_predictor
    from softbench.models.registry import get_model

    return load_predictor(get_model(model), device).calculator()
