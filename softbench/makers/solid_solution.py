"""Solid solutions: random cation orderings on a sublattice, and their model side.

Default system: Ca_xMg_(2-x)O_2 rocksalt (the softening paper's CaO-MgO), built on
the conventional rocksalt cell (4 cations) times ``supercell``. For each number of
guest cations k = 0..n (x = formula_cations·k/n) the orderings are enumerated when
C(n, k) <= ``MAX_ENUMERATE``, else sampled at random, reduced to distinct ones (equal
up to the space group of the parent supercell: spglib's operations as permutations
of the cation sites), and up to ``n_orderings`` of them are drawn with ``seed``.
Each ordering starts at Vegard's-law lattice constant and is relaxed (cell + ions,
its symmetry kept) by every method.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from itertools import combinations
from math import comb
from typing import TYPE_CHECKING, Any

import numpy as np
from jobflow import Maker, job
from pymatgen.core import Lattice, Structure

from softbench.ingest.base import ReferenceFormatError
from softbench.models import ModelRef, resolve_model
from softbench.schemas.parity import RelaxedEnergy
from softbench.schemas.solid_solution import (
    OrderingEnergy,
    OrderingSpec,
    SolidSolutionEnergies,
    SolidSolutionPredictionDocument,
    SolidSolutionSet,
)

if TYPE_CHECKING:
    from ase.calculators.calculator import Calculator

# room-temperature experimental rocksalt lattice constants (Å), starting points only
ROCKSALT_A = {"MgO": 4.21, "CaO": 4.81}
SUPERCELL = (2, 1, 1)  # default: 8 cations, x in steps of 0.25
MAX_ENUMERATE = 2000  # C(n, k) up to this: enumerate all orderings, else sample
SAMPLE_TRIES = 50  # random draws per wanted ordering when sampling


class SolidSolutionInputError(ReferenceFormatError):
    """Bad solid-solution settings (one line, exit status 2)."""


def rocksalt_parent(host: str = "Mg", guest: str = "Ca", anion: str = "O") -> Structure:
    """Conventional rocksalt cell of the host oxide (4 cations, 4 anions)."""
    a = ROCKSALT_A.get(f"{host}{anion}", 4.21)
    return Structure.from_spacegroup(
        "Fm-3m", Lattice.cubic(a), [host, anion], [[0, 0, 0], [0.5, 0.5, 0.5]]
    )


def vegard_scaled(
    structure: Structure, host: str, guest: str, anion: str, frac: float
) -> Structure:
    """``structure`` scaled to the Vegard's-law lattice constant at guest fraction ``frac``."""
    a_host = ROCKSALT_A.get(f"{host}{anion}")
    a_guest = ROCKSALT_A.get(f"{guest}{anion}")
    if a_host is None or a_guest is None:
        return structure
    out = structure.copy()
    out.scale_lattice(structure.volume * ((a_host + frac * (a_guest - a_host)) / a_host) ** 3)
    return out


def site_permutations(
    parent: Structure, sites: list[int], symprec: float = 0.01
) -> list[list[int]]:
    """How each symmetry operation of ``parent`` permutes the sublattice ``sites`` (0..n-1)."""
    from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

    frac = parent.frac_coords[sites]
    perms = []
    for op in SpacegroupAnalyzer(parent, symprec=symprec).get_symmetry_operations():
        moved = op.operate_multi(frac)
        diff = moved[:, None, :] - frac[None, :, :]
        diff -= np.round(diff)
        match = np.linalg.norm(diff @ parent.lattice.matrix, axis=2) < 1e-3
        if (match.sum(axis=1) == 1).all():
            perms.append([int(j) for j in match.argmax(axis=1)])
    return perms


def canonical(occupied: tuple[int, ...], perms: list[list[int]]) -> tuple[int, ...]:
    """The smallest image of an ordering (occupied sublattice indices) under ``perms``."""
    return min(tuple(sorted(p[i] for i in occupied)) for p in perms) if perms else occupied


def orderings(
    supercell: tuple[int, int, int] = SUPERCELL,
    n_orderings: int = 3,
    seed: int = 0,
    host: str = "Mg",
    guest: str = "Ca",
    anion: str = "O",
    formula_cations: int = 2,
    material_id: str | None = None,
) -> SolidSolutionSet:
    """Up to ``n_orderings`` distinct orderings per composition (see the module docstring)."""
    if n_orderings < 1:
        raise SolidSolutionInputError(f"orderings per composition must be >= 1, not {n_orderings}")
    if len(supercell) != 3 or min(supercell) < 1:
        raise SolidSolutionInputError(f"supercell must be three positive integers, not {supercell}")
    parent = rocksalt_parent(host, guest, anion) * list(supercell)
    sites = [i for i, s in enumerate(parent) if s.specie.symbol == host]
    perms = site_permutations(parent, sites)
    n = len(sites)
    rng = random.Random(seed)
    chosen: list[OrderingSpec] = []
    n_distinct: dict[str, int] = {}
    for k in range(n + 1):
        x = formula_cations * k / n
        candidates = _candidate_sets(n, k, n_orderings, rng)
        reps = sorted({canonical(c, perms) for c in candidates})
        n_distinct[f"{x:g}"] = len(reps)
        picked = reps if len(reps) <= n_orderings else rng.sample(reps, n_orderings)
        for index, occupied in enumerate(sorted(picked)):
            cell = vegard_scaled(_occupy(parent, sites, occupied, guest), host, guest, anion, k / n)
            chosen.append(
                OrderingSpec(
                    label=f"x={x:g}/{index}",
                    x=x,
                    n_guest=k,
                    n_host=n - k,
                    guest_sites=[sites[i] for i in occupied],
                    structure=cell,
                )
            )
    return SolidSolutionSet(
        material_id=material_id or f"{guest}{anion}-{host}{anion}",
        host=host,
        guest=guest,
        formula_cations=formula_cations,
        supercell=list(supercell),
        n_sublattice_sites=n,
        n_orderings=n_orderings,
        seed=seed,
        orderings=chosen,
        n_distinct=n_distinct,
    )


def _candidate_sets(n: int, k: int, wanted: int, rng: random.Random) -> list[tuple[int, ...]]:
    """All k-subsets of n sites when few, else distinct random ones (sorted tuples)."""
    if comb(n, k) <= MAX_ENUMERATE:
        return list(combinations(range(n), k))
    drawn: set[tuple[int, ...]] = set()
    for _ in range(wanted * SAMPLE_TRIES):
        drawn.add(tuple(sorted(rng.sample(range(n), k))))
        if len(drawn) >= wanted * 4:  # a margin for symmetry-equivalent draws
            break
    return sorted(drawn)


def _occupy(
    parent: Structure, sites: list[int], occupied: tuple[int, ...], guest: str
) -> Structure:
    cell = parent.copy()
    for i in occupied:
        cell.replace(sites[i], guest)
    return cell


def mixing_energy_per_cation(
    energy: float, n_host: int, n_guest: int, e_host: float, e_guest: float
) -> float:
    """DE = E/n - (n_host/n) e_host - (n_guest/n) e_guest (eV/cation); 0 at end members.

    ``e_host``, ``e_guest``: end-member energies per cation. At an end member
    (say n_guest = 0, E = n·e_host) the expression is e_host - 1.0·e_host - 0.0 = 0
    exactly in floating point, provided e_host was computed as E/n of that same cell.
    """
    n = n_host + n_guest
    return energy / n - (n_host / n) * e_host - (n_guest / n) * e_guest


def fill_mixing_energies(result: SolidSolutionEnergies) -> str | None:
    """Set the mixing energy of every ordering; the reason if an end member is missing."""
    ends: dict[str, float] = {}
    for o in result.orderings:
        if o.energy_ev is None:
            continue
        if o.n_guest == 0:
            ends["host"] = o.energy_ev / o.n_host
        elif o.n_host == 0:
            ends["guest"] = o.energy_ev / o.n_guest
    if len(ends) < 2:
        missing = [k for k in ("host", "guest") if k not in ends]
        return f"no energy for the {' and '.join(missing)} end member"
    for o in result.orderings:
        if o.energy_ev is not None:
            o.mixing_energy_ev_per_cation = mixing_energy_per_cation(
                o.energy_ev, o.n_host, o.n_guest, ends["host"], ends["guest"]
            )
    return None


@dataclass
class SolidSolutionMaker(Maker):
    """A model's relaxed ordering energies and mixing energies of one system."""

    name: str = "model solid solution"
    model: ModelRef = "chgnet-0.3.0"
    device: str | None = None
    fmax: float = 0.01
    steps: int = 300
    fix_symmetry: bool = True
    label: str = "vasp:mp-pbe-solid-solution"
    input_checksum: str | None = None  # of the input set (reruns skip identical work)

    @job
    def make(
        self, system: SolidSolutionSet | dict[str, Any], reference_uuid: str | None = None
    ) -> SolidSolutionPredictionDocument:
        """Relax every ordering, then compute mixing energies (paired with ``reference_uuid``)."""
        return predict_solid_solution(
            system, self.model, self.label, self.device, self.options(), reference_uuid
        )

    def options(self) -> dict[str, Any]:
        """The settings recorded with every document."""
        return {
            "fmax": self.fmax,
            "steps": self.steps,
            "input_checksum": self.input_checksum,
            "optimizer": "BFGS",
            "relax": "cell + ions, FrechetCellFilter",
            "fix_symmetry": self.fix_symmetry,
        }


def predict_solid_solution(
    system: SolidSolutionSet | dict[str, Any],
    model: ModelRef,
    label: str,
    device: str | None = None,
    options: dict[str, Any] | None = None,
    reference_uuid: str | None = None,
) -> SolidSolutionPredictionDocument:
    """The work of :class:`SolidSolutionMaker`, callable without jobflow."""
    from softbench.makers.relax import CalculatorUnavailable, load_calculator

    opts = {**SolidSolutionMaker().options(), **(options or {})}
    sset = SolidSolutionSet.coerce(system)
    spec = resolve_model(model)
    doc = SolidSolutionPredictionDocument(
        material_id=sset.material_id,
        formula=sset.material_id,
        reference=label,
        reference_uuid=reference_uuid,
        model=spec.safe_provenance(),
        settings=opts,
        host=sset.host,
        guest=sset.guest,
    )
    start = time.perf_counter()
    try:
        predictor, calc = load_calculator(
            spec, device, [o.structure for o in sset.orderings], sset.material_id, "solid-solution"
        )
    except CalculatorUnavailable as exc:
        return doc.with_failure(str(exc))
    doc.model, doc.device = spec.safe_provenance(), predictor.device
    reason = compute_orderings(sset, doc, calc, opts["fmax"], opts["steps"], opts["fix_symmetry"])
    if reason:
        doc.with_failure(reason)
    doc.timing = {"total_seconds": time.perf_counter() - start}
    return doc


def compute_orderings(
    sset: SolidSolutionSet,
    result: SolidSolutionEnergies,
    calc: Calculator,
    fmax: float,
    steps: int,
    fix_symmetry: bool = True,
) -> str | None:
    """Relax every ordering with ``calc``; fill ``result``; the reason if no mixing energies."""
    from softbench.makers.defects import relaxed_energy

    for o in sset.orderings:
        try:
            _, rec = relaxed_energy(o.structure, calc, fmax, steps, True, fix_symmetry)
        except Exception as exc:  # one ordering failing does not lose the others
            rec = RelaxedEnergy(reason=f"{type(exc).__name__}: {exc}")
        result.orderings.append(
            OrderingEnergy(
                label=o.label, x=o.x, n_guest=o.n_guest, n_host=o.n_host, **rec.model_dump()
            )
        )
    return fill_mixing_energies(result)
