"""CP2K side of the point-defect task: the model side's relaxations with CP2K forces.

:class:`Cp2kDefectMaker` validates the element set (as every CP2K job does, see
:func:`~softbench.makers.cp2k.high_energy.validate_elements`), then runs
:func:`~softbench.makers.defects.compute_defects` (the same relaxations, the same
geometry rules and formation-energy arithmetic as the models) with
:class:`~softbench.makers.cp2k.calculator.Cp2kCalculator` (one CP2K run per geometry,
k-points from the settings' spacing per cell). CP2K's energy zero (GTH valence)
cancels in E_f, which conserves atoms. An unconverged SCF stops that relaxation
(recorded as its reason).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jobflow import Maker, job

from softbench.makers.cp2k.calculator import Cp2kCalculator
from softbench.makers.cp2k.high_energy import validate_elements
from softbench.makers.cp2k.runner import Cp2kRunner, cp2k_problem
from softbench.makers.cp2k.settings import Cp2kSettings
from softbench.makers.defects import compute_defects
from softbench.schemas.base import input_checksum
from softbench.schemas.defects import DefectReferenceDocument, DefectSet

CP2K_FMAX = 0.02  # eV/Å: relaxation threshold of the CP2K side (each step is an SCF)
CP2K_STEPS = 60


@dataclass
class Cp2kDefectMaker(Maker):
    """CP2K defect formation energies of one material (see the module docstring)."""

    name: str = "cp2k defects"
    settings: Cp2kSettings = field(default_factory=Cp2kSettings)
    ranks: int | None = None
    fmax: float = CP2K_FMAX
    steps: int = CP2K_STEPS

    @job
    def make(self, defects: DefectSet | dict[str, Any]) -> DefectReferenceDocument:
        """Validate, relax and compute E_f with CP2K."""
        return cp2k_defect_reference(defects, self.settings, self.ranks, self.fmax, self.steps)


def cp2k_defect_reference(
    defects: DefectSet | dict[str, Any],
    settings: Cp2kSettings | None = None,
    ranks: int | None = None,
    fmax: float = CP2K_FMAX,
    steps: int = CP2K_STEPS,
    directory: str | Path = ".",
) -> DefectReferenceDocument:
    """The work of :class:`Cp2kDefectMaker`, callable without jobflow."""
    settings = settings or Cp2kSettings()
    dset = DefectSet.coerce(defects)
    doc = DefectReferenceDocument(
        material_id=dset.material_id,
        formula=dset.formula,
        reference=settings.label(),
        supercell_matrix=dset.supercell_matrix,
        dft_settings={**settings.describe(), "fmax": fmax, "steps": steps},
        settings={"fmax": fmax, "steps": steps, "optimizer": "BFGS"},
        input_checksum=input_checksum(dset),
    )
    problem = cp2k_problem(ranks)
    if problem:
        return doc.with_failure(problem, state="unusable")
    elements = sorted({el.symbol for el in dset.bulk.composition.elements})
    directory = Path(directory)
    with Cp2kRunner(settings, directory / "validation", ranks) as runner:
        reason, checks = validate_elements(elements, settings, runner)
    doc.dft_settings["validation"] = checks
    if reason:
        return doc.with_failure(reason, state="unusable")
    with Cp2kRunner(settings, directory / "relax", ranks) as runner:
        calc = Cp2kCalculator(runner)
        try:
            compute_defects(dset, doc, calc, fmax, steps)
        except Exception as exc:  # bulk or element relaxation failed: nothing to compare
            return doc.with_failure(f"{type(exc).__name__}: {exc}", state="unusable")
        doc.dft_settings["cp2k_runs"] = calc.n_calls
    return doc
