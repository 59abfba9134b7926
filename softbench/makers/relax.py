"""One relaxation protocol for every model-side relaxation: atomate2's AseRelaxer.

BFGS, on a FrechetCellFilter when the cell relaxes, with ASE's FixSymmetry when the
space group must be kept. AseRelaxer returns neither the optimizer's step count nor
the filter's final forces (cell degrees of freedom included), so the optimizer is
built here and kept.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Relaxation:
    """How a relaxation ended; the relaxed ``atoms`` were moved in place."""

    converged: bool
    steps: int
    fmax_final: float  # eV/Å, on atoms and (with a cell filter) cell degrees of freedom


class CalculatorUnavailable(RuntimeError):
    """The model cannot give an ASE calculator here (missing package, element, ...)."""


def load_calculator(
    spec: Any, device: str | None, structures: Sequence[Any], where: str, task: str
) -> tuple[Any, Any]:
    """(predictor, ASE calculator) of a model for relaxations in this interpreter.

    Relaxations need the model's package here (no worker round trip per step): a
    missing package, an element the model lacks or a model without an ASE calculator
    raises :class:`CalculatorUnavailable` with the reason, which makers record as the
    failure of that material.
    """
    from softbench.models.errors import ModelError
    from softbench.models.evaluate import load_predictor

    if not spec.package_installed():
        raise CalculatorUnavailable(
            f"{task} runs {spec.name}'s ASE calculator in this interpreter, but its package "
            f"{spec.package!r} is missing: run this job in the {spec.environment!r} environment"
        )
    try:
        predictor = load_predictor(spec, device)
        for structure in structures:
            predictor.check_elements(structure, where=where)
        return predictor, predictor.calculator()
    except (ModelError, NotImplementedError) as exc:
        raise CalculatorUnavailable(str(exc)) from exc


def relax_atoms(
    atoms: Any,
    calculator: Any,
    fmax: float,
    steps: int,
    relax_cell: bool = True,
    fix_symmetry: bool = True,
    symprec: float = 0.01,
) -> Relaxation:
    """Relax ``atoms`` in place; ``steps`` <= 1 is a single point (AseRelaxer's rule)."""
    from ase.optimize import BFGS
    from atomate2.ase.utils import AseRelaxer

    optimizers: list[BFGS] = []

    def bfgs(target: Any, **kwargs: Any) -> BFGS:
        optimizers.append(BFGS(target, logfile=None, **kwargs))
        return optimizers[-1]

    relaxer = AseRelaxer(
        calculator,
        optimizer=bfgs,  # type: ignore[arg-type]  # any Optimizer factory is accepted
        relax_cell=relax_cell,
        fix_symmetry=fix_symmetry,
        symprec=symprec,
    )
    # pymatgen's Structure copies in the trajectory cannot hold FixSymmetry
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Only FixAtoms and FixCartesian", UserWarning)
        result = relaxer.relax(
            atoms,
            fmax=fmax,
            steps=steps,
            final_atoms_object_file=None,  # type: ignore[arg-type]  # None: write no file
        )
    optimizer = optimizers[-1] if optimizers else None
    target = optimizer.atoms if optimizer is not None else atoms  # the cell filter, if any
    return Relaxation(
        converged=bool(result.converged),
        steps=0 if optimizer is None else int(optimizer.nsteps),
        fmax_final=float(np.sqrt((np.asarray(target.get_forces()) ** 2).sum(axis=1).max())),
    )
