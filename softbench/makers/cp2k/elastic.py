"""CP2K side of the elastic benchmark: the model side's protocol with CP2K stresses.

:class:`Cp2kElasticMaker` validates the element set (forces:
:func:`~softbench.makers.cp2k.high_energy.validate_elements`; stress:
:func:`check_stress`, the analytic stress of a 1 %-expanded cell against the
finite difference of CP2K's energy), then runs exactly what
:func:`softbench.makers.elastic.predict_elastic` runs for a model: the primitive
standard cell, a cell+ion relaxation (BFGS, FrechetCellFilter, FixSymmetry), atomate2's
strain set, a fixed-cell ionic relaxation of every strained cell and atomate2's
finite-difference fit with the residual stress as the zero-strain point. One
Monkhorst-Pack mesh (the settings' spacing on the standardised input cell; by default
:data:`ELASTIC_KSPACING`, denser than the statics') serves every cell, so strained cells
differ only by the strain. An SCF that does not converge fails the reference with the
reason. The output is an
:class:`~softbench.schemas.elastic.ElasticReferenceDocument` labelled with the CP2K
settings label, with the strains and stresses it was fitted from.

Measured (AlP, mp-1550, 2 atoms, 7x7x7 k-points): analytic sigma_xx -0.0770 GPa vs finite
difference -0.0757 GPa at MP's structure; shear sigma_xy 0 in both.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from jobflow import Maker, job
from pymatgen.core import Structure

from softbench.analysis.elastic import (
    FITTING_METHOD,
    MP_STRAIN_MAGNITUDES,
    SYMPREC,
    ase_stress_to_gpa,
)
from softbench.makers.cp2k.calculator import Cp2kCalculator
from softbench.makers.cp2k.high_energy import validate_elements
from softbench.makers.cp2k.runner import Cp2kError, Cp2kRunner, cp2k_problem
from softbench.makers.cp2k.settings import Cp2kSettings
from softbench.makers.elastic import (
    MAX_VOLUME_CHANGE,
    fit_moduli,
    relax,
    standard_cell,
    strained_stresses,
)
from softbench.schemas.elastic import ElasticReferenceDocument

#: protocol of the CP2K side: the model side's (fmax 1e-3 eV/Å, MP's strains), fewer
#: steps allowed (each is an SCF; symmetric cells need a handful)
CP2K_ELASTIC_OPTIONS: dict[str, Any] = {
    "fmax": 1e-3,
    "relax_steps": 60,
    "relax_deformed": True,
    "deformed_steps": 30,
    "fix_symmetry": True,
    "standardize": True,
    "optimizer": "BFGS",
    "cell_filter": "FrechetCellFilter",
    "strain_magnitudes": list(MP_STRAIN_MAGNITUDES),
    "sym_reduce": True,
    "symprec": SYMPREC,
    "fitting_method": FITTING_METHOD,
}
#: k-spacing (1/Å, 2π included) of the elastic reference: shear constants need a denser
#: mesh than forces. AlSb (mp-2624) G_VRH: 0.45 -> C44 < 0 (refused), 0.3 -> 25.9 GPa,
#: 0.2 -> 30.1 GPa, 0.15 -> 30.1 GPa (K 49.1-49.2 GPa throughout); docs/elastic.md.
ELASTIC_KSPACING = 0.2
STRESS_CHECK_STRAIN = 0.01  # isotropic expansion of the checked cell
STRESS_CHECK_STEP = 0.002  # ± strain step of the energy finite difference
STRESS_ABS_TOLERANCE = 0.1  # GPa
STRESS_REL_TOLERANCE = 0.03


def elastic_settings(**updates: Any) -> Cp2kSettings:
    """The project's CP2K settings with the elastic k-spacing (:data:`ELASTIC_KSPACING`)."""
    return Cp2kSettings(**{"kspacing": ELASTIC_KSPACING, **updates})


@dataclass
class Cp2kElasticMaker(Maker):
    """CP2K elastic reference of one material (see the module docstring), in one job."""

    name: str = "cp2k elastic"
    settings: Cp2kSettings = field(default_factory=elastic_settings)
    ranks: int | None = None
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        """Reference label: the CP2K settings label."""
        return self.settings.label()

    @job
    def make(self, structure: Structure, material_id: str) -> ElasticReferenceDocument:
        """Validate, relax, strain and fit with CP2K (inputs and outputs in ./cp2k-<id>)."""
        folder = Path.cwd() / f"cp2k-{re.sub(r'[^A-Za-z0-9_.-]', '_', material_id)}"
        return cp2k_elastic_reference(
            structure, material_id, self.settings, self.options, self.ranks, folder
        )


def elastic_input_key(structure: Structure, settings: Cp2kSettings, options: dict[str, Any]) -> str:
    """Hash of input structure, CP2K label and protocol (what makes a rerun the same)."""
    payload = {
        "lattice": np.round(structure.lattice.matrix, 6).tolist(),
        "species": [str(s.species) for s in structure],
        "frac": np.round(structure.frac_coords, 6).tolist(),
        "label": settings.label(),
        "options": {**CP2K_ELASTIC_OPTIONS, **options},
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


def cp2k_elastic_reference(
    structure: Structure,
    material_id: str,
    settings: Cp2kSettings | None = None,
    options: dict[str, Any] | None = None,
    ranks: int | None = None,
    directory: str | Path = ".",
) -> ElasticReferenceDocument:
    """The work of :class:`Cp2kElasticMaker`, callable without jobflow."""
    settings = settings or elastic_settings()
    opts = {**CP2K_ELASTIC_OPTIONS, **(options or {})}
    directory = Path(directory).resolve()
    elements = sorted({el.symbol for el in structure.composition.elements})
    doc = ElasticReferenceDocument(
        material_id=material_id,
        formula=structure.composition.reduced_formula,
        reference=settings.label(),
        source="CP2K (ASE calculator): softbench elastic protocol (atomate2 strains and fit)",
        dft_settings={**settings.describe(), "protocol": opts},
        input_key=elastic_input_key(structure, settings, options or {}),
    )
    problem = cp2k_problem(ranks)
    if problem:
        return doc.with_failure(problem, "unusable")
    with Cp2kRunner(settings, directory / "validation", ranks) as runner:
        reason, checks = validate_elements(elements, settings, runner)
    doc.dft_settings["validation"] = checks
    if reason:
        return doc.with_failure(reason, "unusable")
    cell = standard_cell(structure) if opts["standardize"] else structure
    kpoints = settings.kpoints(cell.lattice.matrix)
    doc.dft_settings["kpoints"] = list(kpoints)
    start = time.perf_counter()
    with Cp2kRunner(settings, directory / "elastic", ranks) as runner:
        calc = Cp2kCalculator(runner, kpoints, stress=True, strict=True)
        try:
            reason = fit_with_cp2k(doc, cell, calc, opts)
        except Cp2kError as exc:
            reason = f"CP2K: {exc}"
        except Exception as exc:  # optimiser or fit failure: this material's data
            reason = f"{type(exc).__name__}: {exc}"
        doc.dft_settings["cp2k_runs"] = calc.n_calls
    doc.dft_settings["seconds"] = round(time.perf_counter() - start, 1)
    if reason:
        return doc.with_failure(reason, "unusable")
    return doc


def fit_with_cp2k(
    doc: ElasticReferenceDocument, cell: Structure, calc: Cp2kCalculator, opts: dict[str, Any]
) -> str | None:
    """Relax, check the stress, strain, fit: fill ``doc``; why it is unusable, or None."""
    relaxed, record, eq_stress = relax(
        cell, calc, opts["fmax"], opts["relax_steps"], True, opts["fix_symmetry"]
    )
    doc.relaxation, doc.structure = record, relaxed
    doc.equilibrium_stress_gpa = eq_stress.tolist()
    volume_change = relaxed.volume / cell.volume - 1
    doc.dft_settings["volume_change"] = volume_change
    if abs(volume_change) > MAX_VOLUME_CHANGE:
        return f"relaxation failed: volume changed by {volume_change:+.0%}"
    if not record.converged:
        doc.warnings.append(f"relaxation not converged in {record.steps} steps")
    problem, doc.dft_settings["stress_check"] = check_stress(relaxed, calc)
    if problem:
        return problem
    deformations, stresses, records = strained_stresses(
        relaxed, None, calc, opts, tuple(opts["strain_magnitudes"])
    )
    doc.deformations = [np.asarray(d).tolist() for d in deformations]
    doc.stresses_gpa = [s.tolist() for s in stresses]
    doc.deformation_relaxations = records
    unconverged = sum(1 for r in records if r is not None and not r.converged)
    if unconverged:
        doc.warnings.append(f"{unconverged} strained cell relaxation(s) not converged")
    tensor, m = fit_moduli(relaxed, deformations, stresses, eq_stress, opts)
    doc.elastic_tensor = np.asarray(tensor.voigt).tolist()
    doc.k_vrh_gpa, doc.g_vrh_gpa = m.k_vrh, m.g_vrh
    doc.mechanically_stable = m.stable
    if not m.stable:
        return f"CP2K tensor not positive definite (min eigenvalue {min(m.eigenvalues):.3g} GPa)"
    return None


def check_stress(structure: Structure, calc: Any) -> tuple[str | None, dict[str, float]]:
    """Analytic mean stress of a 1 %-expanded cell against -dE/dε / 3V (GPa).

    An isotropic strain ε scales the volume by (1+ε)³, so dE/dε = V·tr(sigma) at ε; the
    finite difference uses ±:data:`STRESS_CHECK_STEP` around the checked strain,
    ions scaled with the cell. Fails beyond ``STRESS_ABS_TOLERANCE +
    STRESS_REL_TOLERANCE·|sigma|``.
    """
    from pymatgen.io.ase import AseAtomsAdaptor

    base = AseAtomsAdaptor.get_atoms(structure)

    def strained(eps: float) -> Any:
        atoms = base.copy()
        atoms.set_cell(base.cell.array * (1 + eps), scale_atoms=True)
        atoms.calc = calc
        return atoms

    checked = strained(STRESS_CHECK_STRAIN)
    analytic = float(np.trace(ase_stress_to_gpa(checked.get_stress(voigt=False))) / 3)
    energies = [
        strained(STRESS_CHECK_STRAIN + sign * STRESS_CHECK_STEP).get_potential_energy()
        for sign in (1, -1)
    ]
    # d/dε at ε0 of E((1+ε)·cell): V(ε0)·tr sigma(ε0)·(1/(1+ε0)) per unit ε
    de = (energies[0] - energies[1]) / (2 * STRESS_CHECK_STEP) * (1 + STRESS_CHECK_STRAIN)
    from ase.units import GPa

    finite = float(de / (3 * checked.get_volume()) / GPa)
    check = {"strain": STRESS_CHECK_STRAIN, "analytic_gpa": analytic, "finite_gpa": finite}
    if abs(analytic - finite) > STRESS_ABS_TOLERANCE + STRESS_REL_TOLERANCE * abs(analytic):
        return (
            f"CP2K stress check failed: analytic mean stress {analytic:.3f} GPa vs finite "
            f"difference {finite:.3f} GPa on a 1 %-expanded cell",
            check,
        )
    return None, check
