"""Elastic makers: DFT side from a file, model side (VASP side: :mod:`.vasp.elastic`).

Model side (:class:`ModelElasticMaker`): one job per (material, model), the model
loaded once per process. It relaxes cell and ions with atomate2's ``AseRelaxer``
(BFGS on a FrechetCellFilter, ASE FixSymmetry, ``fmax`` 1e-3 eV/Å by default),
builds atomate2's strain set on the relaxed cell (see
:mod:`softbench.analysis.elastic`), evaluates every strained cell in one batched
call, relaxes the ions of those cells that carry forces above ``fmax`` at fixed
cell (ISIF=2, as MP's DFT workflow does; cells whose ions sit on symmetry-fixed
sites need no relaxation) and fits the tensor with atomate2's
``ElasticDocument.from_stresses``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from jobflow import Maker, job

from softbench.analysis.elastic import (
    FITTING_METHOD,
    MP_STRAIN_MAGNITUDES,
    SYMPREC,
    ase_stress_to_gpa,
    elastic_deformations,
    fit_elastic_tensor,
    moduli,
)
from softbench.ingest import SourceItem
from softbench.models import ModelRef, resolve_model
from softbench.schemas.elastic import (
    ElasticPredictionDocument,
    ElasticReferenceDocument,
    RelaxationRecord,
    StrainScanPoint,
)

if TYPE_CHECKING:
    from ase.calculators.calculator import Calculator
    from pymatgen.core import Structure

STANDARDIZE_SYMPREC = 0.01  # Å, symmetry tolerance when standardising the input cell
FIX_SYMMETRY_SYMPREC = 0.01  # Å, FixSymmetry's tolerance (ASE's and AseRelaxer's default)
MAX_VOLUME_CHANGE = 0.5  # |V_relaxed / V_initial - 1| above this counts as a failed relaxation


@dataclass
class IngestElasticReferenceMaker(Maker):
    """Read one material's DFT structure and moduli (and tensor, if any) from a file."""

    name: str = "ingest elastic reference"
    label: str = "reference"
    settings: dict[str, Any] = field(default_factory=dict)

    @job
    def make(self, item: SourceItem | dict[str, Any]) -> ElasticReferenceDocument:
        """Ingest ``item``; unreadable data gives an 'unusable' document."""
        from softbench.ingest.elastic import read

        if isinstance(item, dict):
            item = SourceItem(**item)
        return read(item, self.label, self.settings)


@dataclass
class ModelElasticMaker(Maker):
    """A model's elastic tensor for one material (see the module docstring).

    ``fmax`` (eV/Å) is the convergence threshold of both relaxations; a relaxation
    that hits its step limit is recorded as not converged, one that raises, gives
    non-finite numbers or changes the volume by more than 50 % fails the document.
    ``relax_deformed=False`` skips the fixed-cell ionic relaxations (clamped-ion
    tensor; wrong for materials with internal degrees of freedom).
    """

    name: str = "model elastic"
    model: ModelRef = "chgnet-0.3.0"  # registry name or ModelSpec.to_dict()
    device: str | None = None
    fmax: float = 1e-3
    relax_steps: int = 500
    relax_deformed: bool = True
    deformed_steps: int = 200
    fix_symmetry: bool = True
    standardize: bool = True
    strain_magnitudes: tuple[float, ...] = MP_STRAIN_MAGNITUDES
    sym_reduce: bool = True
    symprec: float = SYMPREC
    fitting_method: str = FITTING_METHOD
    strain_scan: tuple[float, ...] = ()  # extra fits at ±m each (e.g. 0.001 ... 0.03)

    @job
    def make(
        self,
        reference: ElasticReferenceDocument | dict[str, Any],
        reference_uuid: str | None = None,
    ) -> ElasticPredictionDocument:
        """Relax, strain, evaluate and fit."""
        return predict_elastic(reference, self.model, reference_uuid, self.device, self.options())

    def options(self) -> dict[str, Any]:
        """The settings recorded with every document (``strain_scan`` only when set)."""
        scan = {"strain_scan": list(self.strain_scan)} if self.strain_scan else {}
        return {
            "fmax": self.fmax,
            "relax_steps": self.relax_steps,
            "relax_deformed": self.relax_deformed,
            "deformed_steps": self.deformed_steps,
            "fix_symmetry": self.fix_symmetry,
            "standardize": self.standardize,
            "optimizer": "BFGS",
            "cell_filter": "FrechetCellFilter",
            "strain_magnitudes": list(self.strain_magnitudes),
            "sym_reduce": self.sym_reduce,
            "symprec": self.symprec,
            "fitting_method": self.fitting_method,
            **scan,
        }


def predict_elastic(
    reference: ElasticReferenceDocument | dict[str, Any],
    model: ModelRef,
    reference_uuid: str | None = None,
    device: str | None = None,
    options: dict[str, Any] | None = None,
) -> ElasticPredictionDocument:
    """The work of :class:`ModelElasticMaker`, callable without jobflow."""
    from softbench.makers.relax import CalculatorUnavailable, load_calculator

    opts = {**ModelElasticMaker().options(), **(options or {})}
    scan = [float(m) for m in opts.pop("strain_scan", None) or ()]
    if scan:  # recorded only when asked for: default documents stay as they were
        opts["strain_scan"] = scan
    ref = ElasticReferenceDocument.coerce(reference)
    spec = resolve_model(model)
    doc = ElasticPredictionDocument.from_reference(
        ref, spec.safe_provenance(), reference_uuid, settings=opts
    )
    if ref.state != "successful" or ref.structure is None:
        return doc.with_failure(f"reference unusable: {ref.reason or 'no structure'}")
    structure = standard_cell(ref.structure) if opts["standardize"] else ref.structure
    doc.n_atoms = len(structure)
    start = time.perf_counter()
    try:
        predictor, calc = load_calculator(spec, device, [structure], ref.material_id, "elastic")
    except CalculatorUnavailable as exc:
        return doc.with_failure(str(exc))
    doc.model = spec.safe_provenance()
    doc.device = predictor.device
    loaded = time.perf_counter()
    try:
        relaxed, record, eq_stress = relax(
            structure, calc, opts["fmax"], opts["relax_steps"], True, opts["fix_symmetry"]
        )
    except Exception as exc:  # any calculator or optimiser failure is per-material data
        return doc.with_failure(f"relaxation failed: {type(exc).__name__}: {exc}")
    doc.relaxation = record
    doc.relaxed_structure = relaxed
    doc.volume_change = (relaxed.volume / len(relaxed)) / (structure.volume / len(structure)) - 1
    doc.equilibrium_stress_gpa = eq_stress.tolist()
    if abs(doc.volume_change) > MAX_VOLUME_CHANGE:
        return doc.with_failure(f"relaxation failed: volume changed by {doc.volume_change:+.0%}")
    relaxed_at = time.perf_counter()
    try:
        evaluate = model_evaluate(predictor, doc.material_id)
        deformations, stresses, records = strained_stresses(
            relaxed, evaluate, calc, opts, opts["strain_magnitudes"]
        )
        doc.deformations = [np.asarray(d).tolist() for d in deformations]
        tensor, m = fit_moduli(relaxed, doc.deformations, stresses, eq_stress, opts)
    except Exception as exc:  # a strained cell the model or the fit cannot handle
        return doc.with_failure(f"elastic tensor failed: {type(exc).__name__}: {exc}")
    doc.stresses_gpa = [s.tolist() for s in stresses]
    doc.deformation_relaxations = records
    doc.elastic_tensor = np.asarray(tensor.voigt).tolist()
    doc.k_voigt_gpa, doc.k_reuss_gpa, doc.k_vrh_gpa = m.k_voigt, m.k_reuss, m.k_vrh
    doc.g_voigt_gpa, doc.g_reuss_gpa, doc.g_vrh_gpa = m.g_voigt, m.g_reuss, m.g_vrh
    doc.eigenvalues_gpa = list(m.eigenvalues)
    doc.mechanically_stable = m.stable
    if scan:
        doc.strain_scan = [
            scan_point(relaxed, evaluate, calc, opts, eq_stress, magnitude) for magnitude in scan
        ]
    end = time.perf_counter()
    doc.timing = {
        "load_seconds": loaded - start,
        "relax_seconds": relaxed_at - loaded,
        "strain_seconds": end - relaxed_at,
        "total_seconds": end - start,
        "n_deformations": float(len(doc.deformations)),
        "n_ionic_steps": float(record.steps + sum(r.steps for r in records if r is not None)),
    }
    return doc


def scan_point(
    relaxed: Structure,
    evaluate: Evaluate | None,
    calc: Calculator,
    opts: dict[str, Any],
    eq_stress: np.ndarray,
    magnitude: float,
) -> StrainScanPoint:
    """The tensor fitted from strains of ±``magnitude`` only (one point of the scan).

    FixSymmetry's tolerance is lowered to a tenth of the smallest displacement the
    strain causes (:func:`scan_symprec`): at 0.01 Å a 0.1 % shear of a small cell is
    within tolerance of the unstrained symmetry, and FixSymmetry symmetrizes the
    shear stress away (G drops to ~0).
    """
    point = StrainScanPoint(strain_magnitude=magnitude)
    try:
        deformations, stresses, _ = strained_stresses(
            relaxed,
            evaluate,
            calc,
            opts,
            (-magnitude, magnitude),
            fix_symprec=scan_symprec(relaxed, magnitude),
        )
        tensor, m = fit_moduli(relaxed, deformations, stresses, eq_stress, opts)
    except Exception as exc:  # one magnitude the model or the fit cannot handle
        point.reason = f"{type(exc).__name__}: {exc}"
        return point
    point.elastic_tensor = np.asarray(tensor.voigt).tolist()
    point.k_vrh_gpa, point.g_vrh_gpa = m.k_vrh, m.g_vrh
    point.mechanically_stable = m.stable
    return point


def fit_moduli(
    relaxed: Structure,
    deformations: list[Any],
    stresses: list[np.ndarray],
    eq_stress: np.ndarray,
    opts: dict[str, Any],
) -> tuple[Any, Any]:
    """atomate2's fit of the tensor (symmetry and method from ``opts``), and its moduli."""
    tensor = fit_elastic_tensor(
        relaxed,
        [np.asarray(d) for d in deformations],
        stresses,
        eq_stress_gpa=eq_stress,
        symprec=opts["symprec"] if opts["sym_reduce"] else None,
        method=opts["fitting_method"],
    )
    return tensor, moduli(tensor.voigt)


def scan_symprec(structure: Structure, magnitude: float) -> float:
    """FixSymmetry tolerance (Å) for strains of ``magnitude`` m: min(0.01, m/10 * min(a, b, c))."""
    return min(FIX_SYMMETRY_SYMPREC, 0.1 * magnitude * min(structure.lattice.abc))


#: forces (eV/Å) and ASE stress (eV/Å³, or None) of each of a list of cells
Evaluate = Callable[[list["Structure"]], list[tuple[np.ndarray, np.ndarray | None]]]


def model_evaluate(predictor: Any, material_id: str) -> Evaluate:
    """A model's batched evaluation of strained cells (non-finite output raises)."""

    def evaluate(cells: list[Structure]) -> list[tuple[np.ndarray, np.ndarray | None]]:
        out = []
        for pred in predictor.predict(cells):
            pred.check_finite(predictor.spec.name, f"strained cell of {material_id}")
            out.append((pred.forces, pred.stress))
        return out

    return evaluate


def strained_stresses(
    relaxed: Structure,
    evaluate: Evaluate | None,
    calc: Calculator,
    opts: dict[str, Any],
    magnitudes: tuple[float, ...],
    fix_symprec: float = FIX_SYMMETRY_SYMPREC,
) -> tuple[list[Any], list[np.ndarray], list[RelaxationRecord | None]]:
    """Deformations and stresses (GPa) of strained cells: one evaluation, then ionic relaxations.

    ``evaluate``: forces and stress of all strained cells at once (a model's batch,
    :func:`model_evaluate`); cells with forces above ``fmax`` are then relaxed at
    fixed cell with ``calc``. Without it (DFT: no batch to gain) every cell goes
    straight to ``calc``, whose first relaxation step is the evaluation (a single
    point when ``relax_deformed`` is off). ``fix_symprec``: FixSymmetry's tolerance (Å).
    """
    deformations = elastic_deformations(relaxed, magnitudes, opts["sym_reduce"], opts["symprec"])
    cells = [d.apply_to_structure(relaxed) for d in deformations]
    evaluated = evaluate(cells) if evaluate is not None else [None] * len(cells)
    stresses: list[np.ndarray] = []
    records: list[RelaxationRecord | None] = []
    for cell, result in zip(cells, evaluated, strict=True):
        if result is not None:
            forces, stress = result
            max_force = float(np.linalg.norm(forces, axis=1).max())
            if not (opts["relax_deformed"] and max_force > opts["fmax"]):
                if stress is None:
                    raise ValueError("no stress returned for a strained cell")
                stresses.append(ase_stress_to_gpa(stress))
                records.append(None)
                continue
        steps = opts["deformed_steps"] if opts["relax_deformed"] else 0
        _, record, relaxed_stress = relax(
            cell, calc, opts["fmax"], steps, False, opts["fix_symmetry"], symprec=fix_symprec
        )
        stresses.append(relaxed_stress)
        records.append(record if opts["relax_deformed"] else None)
    return deformations, stresses, records


def relax(
    structure: Structure,
    calc: Calculator,
    fmax: float,
    steps: int,
    relax_cell: bool,
    fix_symmetry: bool = True,
    symprec: float = FIX_SYMMETRY_SYMPREC,
) -> tuple[Structure, RelaxationRecord, np.ndarray]:
    """Relax ions (and the cell) with atomate2's AseRelaxer; structure, record, stress (GPa).

    The protocol: BFGS, on a FrechetCellFilter when ``relax_cell``, with ASE's
    FixSymmetry (symprec 0.01) when ``fix_symmetry``. ``steps`` <= 1 is a single
    point (AseRelaxer's rule).
    """
    from pymatgen.io.ase import AseAtomsAdaptor

    from softbench.makers.relax import relax_atoms

    atoms = AseAtomsAdaptor.get_atoms(structure)
    relaxed = relax_atoms(atoms, calc, fmax, steps, relax_cell, fix_symmetry, symprec=symprec)
    forces = np.asarray(atoms.get_forces(), dtype=float)
    stress = ase_stress_to_gpa(atoms.get_stress(voigt=False))
    if not (np.isfinite(forces).all() and np.isfinite(stress).all()):
        raise FloatingPointError("non-finite forces or stress during relaxation")
    atoms.set_constraint()
    record = RelaxationRecord(
        converged=relaxed.converged,
        steps=relaxed.steps,
        fmax=fmax,
        max_force=float(np.linalg.norm(forces, axis=1).max()) if len(forces) else 0.0,
        max_stress_gpa=float(np.abs(stress).max()) if relax_cell else None,
    )
    return AseAtomsAdaptor.get_structure(atoms), record, stress


def standard_cell(structure: Structure, symprec: float = STANDARDIZE_SYMPREC) -> Structure:
    """The primitive standard cell, in spglib's standard orientation.

    Symmetry-equivalent strains then map onto each other, so fewer strained cells are
    needed (fcc: 6, not 20). Tensors are compared in the IEEE frame, so the
    orientation does not change any result.
    """
    from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

    try:
        return SpacegroupAnalyzer(structure, symprec=symprec).get_primitive_standard_structure()
    except Exception:  # spglib failed: keep the cell as given
        return structure
