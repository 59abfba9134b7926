"""Point defects: the defect set of a bulk structure and its model side (VASP: .vasp.defects).

:func:`defect_set` builds vacancies, interstitials (Voronoi sites) and antisites of an
elemental or binary ordered crystal with pymatgen-analysis-defects, all in one
supercell (pymatgen's ``CubicSupercellTransformation``, every edge >= ``min_length``).
Each method then (1) relaxes the primitive bulk (cell + ions, symmetry kept),
(2) carries every supercell onto its own relaxed lattice (fractional coordinates
kept), (3) relaxes the ions of each defect supercell at that fixed cell (the
constant-volume dilute limit, as MP's defect workflow: ISIF=2), (4) evaluates the
perfect supercell and relaxes the elemental ground states
(:mod:`softbench.ingest.elements`, cell + ions) for mu_i. A relaxation that hits
its step limit keeps its last energy and is marked ``converged=False``.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from jobflow import Maker, job
from pymatgen.core import Lattice, Structure

from softbench.ingest.base import ReferenceFormatError
from softbench.ingest.elements import check_elements, element_structure
from softbench.models import ModelRef, resolve_model
from softbench.schemas.defects import (
    DefectEnergies,
    DefectEnergy,
    DefectPredictionDocument,
    DefectSet,
    DefectSpec,
    ElementalReference,
)
from softbench.schemas.parity import RelaxedEnergy

if TYPE_CHECKING:
    from ase.calculators.calculator import Calculator

KINDS = ("vacancy", "interstitial", "antisite")
MIN_LENGTH = 8.0  # Å, default minimum supercell edge
MAX_ATOMS = 256  # largest supercell the search may return


class DefectInputError(ReferenceFormatError):
    """A structure the defect task cannot use (one line, exit status 2)."""


def check_bulk(structure: Any, where: str) -> Structure:
    """The structure if it is a periodic, ordered, elemental or binary crystal."""
    if not isinstance(structure, Structure):
        raise DefectInputError(f"{where}: not a periodic structure ({type(structure).__name__})")
    if not structure.is_ordered:
        raise DefectInputError(f"{where}: disordered structure (partial occupancies)")
    if structure.lattice.volume <= 1e-6:
        raise DefectInputError(f"{where}: lattice has no volume")
    n = len(structure.composition.elements)
    if n > 2:
        raise DefectInputError(f"{where}: {n} elements; point defects take elemental or binary")
    return structure


def defect_set(
    structure: Structure,
    material_id: str,
    kinds: tuple[str, ...] = KINDS,
    min_length: float = MIN_LENGTH,
    max_atoms: int = MAX_ATOMS,
) -> DefectSet:
    """The symmetry-distinct defects of ``structure`` in one supercell.

    Raises :class:`DefectInputError` for unusable input and
    :class:`~softbench.ingest.elements.MissingElementError` for an element without
    an elemental reference.
    """
    try:
        from pymatgen.analysis.defects.generators import (
            AntiSiteGenerator,
            VacancyGenerator,
            VoronoiInterstitialGenerator,
        )
        from pymatgen.analysis.defects.supercells import get_sc_fromstruct
    except ImportError as exc:
        raise DefectInputError(
            "point defects need pymatgen-analysis-defects: pip install 'softbench[defects]'"
        ) from exc

    from softbench.makers.elastic import standard_cell

    unknown = set(kinds) - set(KINDS)
    if unknown:
        raise DefectInputError(f"unknown defect kind(s) {sorted(unknown)}: use {KINDS}")
    check_bulk(structure, material_id)
    elements = sorted(el.symbol for el in structure.composition.elements)
    check_elements(elements, material_id)
    bulk = standard_cell(structure.copy())
    bulk.remove_oxidation_states()
    found: list[tuple[str, Any]] = []
    if "vacancy" in kinds:
        found += [("vacancy", d) for d in VacancyGenerator().get_defects(bulk)]
    if "antisite" in kinds and len(elements) == 2:
        found += [("antisite", d) for d in AntiSiteGenerator().get_defects(bulk)]
    if "interstitial" in kinds:
        gen = VoronoiInterstitialGenerator()
        found += [("interstitial", d) for d in gen.get_defects(bulk, elements)]
    try:
        sc_mat = get_sc_fromstruct(bulk, min_atoms=1, max_atoms=max_atoms, min_length=min_length)
    except (RuntimeError, ValueError, AttributeError):  # no cell found within the bounds
        sc_mat = None
    if sc_mat is None:
        raise DefectInputError(
            f"{material_id}: no supercell with edges >= {min_length} Å within {max_atoms} atoms"
        )
    sc_mat = np.rint(np.asarray(sc_mat)).astype(int)
    counts = Counter(d.name for _, d in found)
    seen: Counter[str] = Counter()
    specs = []
    for kind, d in found:
        seen[d.name] += 1
        label = d.name if counts[d.name] == 1 else f"{d.name}_{seen[d.name]}"
        cell = d.get_supercell_structure(sc_mat=sc_mat)
        cell.remove_oxidation_states()
        if "selective_dynamics" in cell.site_properties:
            cell.remove_site_property("selective_dynamics")
        specs.append(
            DefectSpec(
                label=label,
                kind=kind,
                element_changes={el.symbol: int(n) for el, n in d.element_changes.items()},
                site_frac_coords=[float(x) for x in d.site.frac_coords],
                structure=cell,
            )
        )
    return DefectSet(
        material_id=material_id,
        formula=bulk.composition.reduced_formula,
        bulk=bulk,
        supercell_matrix=sc_mat.tolist(),
        n_supercell_atoms=len(bulk) * round(abs(np.linalg.det(sc_mat))),
        min_length=min_length,
        defects=specs,
    )


def on_lattice(cell: Structure, bulk: Structure, relaxed_bulk: Structure) -> Structure:
    """``cell`` (a supercell of ``bulk``) strained as ``bulk`` -> ``relaxed_bulk``.

    Fractional coordinates are kept; the lattice becomes L_cell · L_bulk⁻¹ · L_relaxed.
    """
    strain = np.linalg.solve(bulk.lattice.matrix, relaxed_bulk.lattice.matrix)
    lattice = Lattice(cell.lattice.matrix @ strain)
    return Structure(lattice, cell.species, cell.frac_coords)


def perfect_supercell(bulk: Structure, supercell_matrix: list[list[int]]) -> Structure:
    """The defect-free supercell."""
    return bulk.make_supercell(np.asarray(supercell_matrix), in_place=False)


def formation_energy(
    e_defect: float, e_bulk: float, element_changes: dict[str, int], mu: dict[str, float]
) -> float:
    """E_f = E_defect - E_bulk - sum_i mu_i dN_i (eV); a missing mu_i is a KeyError."""
    missing = sorted(set(element_changes) - set(mu))
    if missing:
        raise KeyError(f"no chemical potential for {', '.join(missing)}")
    return e_defect - e_bulk - sum(mu[el] * n for el, n in element_changes.items())


def fill_formation_energies(result: DefectEnergies) -> None:
    """Set mu_i from the elemental references and E_f of every defect with an energy."""
    result.chemical_potentials_ev = {
        r.element: r.energy_per_atom_ev
        for r in result.elemental_references
        if r.energy_per_atom_ev is not None
    }
    e_bulk = result.bulk_supercell.energy_ev if result.bulk_supercell else None
    for d in result.defects:
        if d.energy_ev is None or e_bulk is None:
            continue
        try:
            d.formation_energy_ev = formation_energy(
                d.energy_ev, e_bulk, d.element_changes, result.chemical_potentials_ev
            )
        except KeyError as exc:
            d.reason = str(exc.args[0])


def relaxed_energy(
    structure: Structure,
    calc: Calculator,
    fmax: float,
    steps: int,
    relax_cell: bool,
    fix_symmetry: bool,
) -> tuple[Structure, RelaxedEnergy]:
    """Relax with :func:`softbench.makers.relax.relax_atoms`; the final structure and energy.

    An unconverged relaxation keeps its last energy (``converged=False``).
    """
    from pymatgen.io.ase import AseAtomsAdaptor

    from softbench.makers.relax import relax_atoms

    atoms = AseAtomsAdaptor.get_atoms(structure)
    run = relax_atoms(atoms, calc, fmax, steps, relax_cell=relax_cell, fix_symmetry=fix_symmetry)
    energy = float(atoms.get_potential_energy())
    forces = np.asarray(atoms.get_forces())
    if not (np.isfinite(energy) and np.isfinite(forces).all()):
        raise FloatingPointError("non-finite energy or forces during relaxation")
    atoms.set_constraint()
    record = RelaxedEnergy(
        energy_ev=energy,
        n_atoms=len(atoms),
        converged=run.converged,
        steps=run.steps,
        max_force_ev_a=float(np.linalg.norm(forces, axis=1).max()) if len(forces) else 0.0,
    )
    return AseAtomsAdaptor.get_structure(atoms), record


@dataclass
class PointDefectMaker(Maker):
    """A model's defect formation energies for one material's :class:`DefectSet`.

    ``fmax`` (eV/Å) and ``steps`` bound every relaxation (bulk and elements: cell +
    ions; defect supercells: ions at the relaxed bulk cell). One job per (material,
    model); the model is loaded once per process.
    """

    name: str = "model point defects"
    model: ModelRef = "chgnet-0.3.0"
    device: str | None = None
    fmax: float = 0.01
    steps: int = 300
    label: str = "vasp:mp-pbe-defects"  # the DFT reference label it is compared with
    input_checksum: str | None = None  # of the input set (reruns skip identical work)

    @job
    def make(
        self, defects: DefectSet | dict[str, Any], reference_uuid: str | None = None
    ) -> DefectPredictionDocument:
        """Relax bulk, elements and defects; compute E_f (paired with ``reference_uuid``)."""
        return predict_defects(
            defects, self.model, self.label, self.device, self.options(), reference_uuid
        )

    def options(self) -> dict[str, Any]:
        """The settings recorded with every document."""
        return {
            "fmax": self.fmax,
            "steps": self.steps,
            "input_checksum": self.input_checksum,
            "optimizer": "BFGS",
            "bulk": "cell + ions, FixSymmetry, FrechetCellFilter",
            "defects": "ions at the relaxed bulk cell",
            "elements": "cell + ions, FixSymmetry, FrechetCellFilter",
        }


def predict_defects(
    defects: DefectSet | dict[str, Any],
    model: ModelRef,
    label: str,
    device: str | None = None,
    options: dict[str, Any] | None = None,
    reference_uuid: str | None = None,
) -> DefectPredictionDocument:
    """The work of :class:`PointDefectMaker`, callable without jobflow."""
    from softbench.makers.relax import CalculatorUnavailable, load_calculator

    opts = {**PointDefectMaker().options(), **(options or {})}
    dset = DefectSet.coerce(defects)
    spec = resolve_model(model)
    doc = DefectPredictionDocument(
        material_id=dset.material_id,
        formula=dset.formula,
        reference=label,
        reference_uuid=reference_uuid,
        model=spec.safe_provenance(),
        settings=opts,
        supercell_matrix=dset.supercell_matrix,
    )
    start = time.perf_counter()
    try:
        predictor, calc = load_calculator(spec, device, [dset.bulk], dset.material_id, "defects")
    except CalculatorUnavailable as exc:
        return doc.with_failure(str(exc))
    doc.model, doc.device = spec.safe_provenance(), predictor.device
    try:
        compute_defects(dset, doc, calc, opts["fmax"], opts["steps"])
    except Exception as exc:  # a calculator or optimiser failure is per-material data
        return doc.with_failure(f"{type(exc).__name__}: {exc}")
    doc.timing = {"total_seconds": time.perf_counter() - start}
    return doc


def compute_defects(
    dset: DefectSet, result: DefectEnergies, calc: Calculator, fmax: float, steps: int
) -> None:
    """Fill ``result`` for one calculator (any ASE calculator: model or DFT)."""
    relaxed, result.bulk = relaxed_energy(dset.bulk, calc, fmax, steps, True, True)
    result.bulk_structure = relaxed
    sc = on_lattice(perfect_supercell(dset.bulk, dset.supercell_matrix), dset.bulk, relaxed)
    _, result.bulk_supercell = relaxed_energy(sc, calc, fmax, steps, False, False)
    for el in sorted({el.symbol for el in dset.bulk.composition.elements}):
        _, rec = relaxed_energy(element_structure(el), calc, fmax, steps, True, True)
        result.elemental_references.append(
            ElementalReference(
                element=el,
                energy_per_atom_ev=(
                    rec.energy_ev / rec.n_atoms
                    if rec.energy_ev is not None and rec.n_atoms
                    else None
                ),
                **rec.model_dump(),
            )
        )
    for spec in dset.defects:
        cell = on_lattice(spec.structure, dset.bulk, relaxed)
        try:
            _, rec = relaxed_energy(cell, calc, fmax, steps, False, False)
        except Exception as exc:  # one defect failing does not lose the others
            rec = RelaxedEnergy(reason=f"{type(exc).__name__}: {exc}")
        result.defects.append(
            DefectEnergy(
                label=spec.label,
                kind=spec.kind,
                element_changes=spec.element_changes,
                **rec.model_dump(),
            )
        )
    fill_formation_energies(result)
