"""One ASE calculator over a :class:`~softbench.makers.cp2k.runner.Cp2kRunner`.

Every CP2K relaxation (surfaces, defects, migration, elastic) drives ASE optimisers
with :class:`Cp2kCalculator`: each geometry is one CP2K energy+forces(+stress) run.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from ase.calculators.calculator import Calculator, all_changes
from ase.stress import full_3x3_to_voigt_6_stress

from softbench.makers.cp2k.runner import Cp2kError, Cp2kRunner


class Cp2kCalculator(Calculator):
    """Energy (eV), forces (eV/Å) and stress (eV/Å³) of each geometry from CP2K.

    ``kpoints``: one Monkhorst-Pack mesh for every geometry (finite differences and
    strained cells need one mesh); None takes the runner settings' mesh of each cell.
    ``stress``: compute it (cell relaxations and elastic runs need it; one input for
    every step keeps one CP2K shell alive); without it the stress is NaN, which only
    atomate2's trajectory observer reads. ``strict``: an unconverged SCF raises
    :class:`Cp2kError` (the relaxation fails with it); else it is counted in
    ``scf_failures`` for the caller to record.
    """

    implemented_properties = ["energy", "free_energy", "forces", "stress"]

    def __init__(
        self,
        runner: Cp2kRunner,
        kpoints: tuple[int, int, int] | None = None,
        stress: bool = True,
        strict: bool = True,
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        self.runner, self.kpoints = runner, kpoints
        self.with_stress, self.strict = stress, strict
        self.n_calls = 0
        self.scf_failures = 0

    def calculate(
        self, atoms: Any = None, properties: Any = None, system_changes: Any = all_changes
    ) -> None:
        """One CP2K run of ``atoms``."""
        super().calculate(atoms, properties, system_changes)
        assert self.atoms is not None  # set by Calculator.calculate
        kpoints = self.kpoints or self.runner.settings.kpoints(np.asarray(self.atoms.cell.array))
        result = self.runner.compute(self.atoms, kpoints, stress=self.with_stress)
        self.n_calls += 1
        if not result.converged:
            if self.strict:
                raise Cp2kError("CP2K SCF did not converge")
            self.scf_failures += 1
        self.results = {
            "energy": result.energy,
            "free_energy": result.energy,
            "forces": result.forces,
            "stress": (
                full_3x3_to_voigt_6_stress(result.stress)
                if result.stress is not None
                else np.full(6, np.nan)
            ),
        }
