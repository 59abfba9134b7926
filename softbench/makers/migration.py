"""Ion migration: hops of a host, and the model side of ApproxNEB.

Hops (:func:`hops_from_host`): the symmetry-distinct shortest hops of the working
ion between its sites in the host file (pymatgen-analysis-diffusion's
``MigrationGraph``), in a supercell whose lattice vectors are at least
``min_length`` long. ``limit="vacancy"`` keeps every other working ion (the ion
hops into a neighbouring vacancy); ``limit="empty"`` removes them all (dilute ion
in the empty host). The host of a hop holds no moving ion; each end point and image
has it inserted at site 0, as atomate2's ApproxNEB does.

Model side (:class:`ModelMigrationMaker`, :func:`approx_neb`), atomate2's ApproxNEB
protocol with the model's ASE calculator:

1. relax the host, cell and ions (atomate2: ``ApproxNebHostRelaxMaker``, ISIF=3);
2. insert the ion at both end points and relax all ions at fixed cell (atomate2
   relaxes end points with its image maker: ISIF=2, ISYM=0); end points whose ion
   ends closer than atomate2's minimum hop distance (2 x the ion's average ionic
   radius) have collapsed and fail the hop;
3. images by linear interpolation of all atoms between the relaxed end points, or,
   given the host's CHGCAR (``chgcar``), atomate2's charge-density pathfinder;
4. relax each image at fixed cell with atomate2's ``fix_two_atoms`` selective
   dynamics (``add_selective_dynamics_two_fixed_sites``): the moving ion and the
   atom farthest from it fixed, every other atom free;
5. energies ``E_0 .. E_N`` and the barriers of :mod:`softbench.analysis.migration`.

Relaxations use the project's protocol (atomate2's ``AseRelaxer``, BFGS) with
``fmax`` 0.05 eV/Å, atomate2's ApproxNEB EDIFFG. An image that fails makes the hop
``failed`` ("hop incomplete") with the reason; other hops are separate jobs.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from jobflow import Maker, job

from softbench.analysis.migration import barrier
from softbench.ingest.base import ReferenceFormatError
from softbench.models import ModelRef, resolve_model
from softbench.schemas.migration import (
    HopRelaxation,
    MigrationPredictionDocument,
    MigrationReferenceDocument,
)

if TYPE_CHECKING:
    from ase.calculators.calculator import Calculator
    from pymatgen.core import Structure

LIMITS = ("vacancy", "empty")
HOP_TOLERANCE = 0.05  # Å: hops this much longer than the shortest one are kept too
SITE_TOLERANCE = 0.3  # Å: how close a supercell site must be to a hop end to be removed


class MigrationInputError(ReferenceFormatError):
    """Bad migration input (exit 2 with one line)."""


@dataclass(frozen=True)
class Hop:
    """One hop: host without the moving ion, ion, end points (fractional, host cell)."""

    host_id: str
    hop_id: str
    working_ion: str
    host: Structure
    end_points: tuple[list[float], list[float]]
    distance: float  # Å
    limit: str


def hops_from_host(
    structure: Structure,
    ion: str,
    host_id: str,
    limit: str = "vacancy",
    max_hop_distance: float | None = None,
    min_length: float = 7.0,
) -> list[Hop]:
    """The symmetry-distinct hops of ``ion`` in ``structure`` (see the module docstring).

    ``max_hop_distance`` (Å; default the shortest ion-ion distance + 0.05 Å) bounds
    the hops kept. Raises :class:`MigrationInputError` for an ion not in the host.
    """
    from pymatgen.analysis.diffusion.neb.full_path_mapper import MigrationGraph
    from pymatgen.core import Element

    if limit not in LIMITS:
        raise MigrationInputError(f"unknown limit {limit!r}: vacancy or empty")
    try:
        Element(ion)
    except ValueError:
        raise MigrationInputError(f"working ion {ion!r} is not an element") from None
    ion_sites = [i for i, s in enumerate(structure) if s.species_string == ion]
    if not ion_sites:
        raise MigrationInputError(
            f"working ion {ion} is not in the host {host_id} "
            f"({structure.composition.reduced_formula}): no sites to hop between"
        )
    if max_hop_distance is None:
        shortest = min(
            (
                nb.nn_distance
                for i in ion_sites
                for nb in structure.get_neighbors(structure[i], 8.0)
                if nb.species_string == ion
            ),
            default=None,
        )
        if shortest is None:
            raise MigrationInputError(f"no two {ion} sites within 8 Å in {host_id}")
        max_hop_distance = shortest + HOP_TOLERANCE
    graph = MigrationGraph.with_distance(structure, ion, max_hop_distance)
    if not graph.unique_hops:
        raise MigrationInputError(
            f"no {ion} hop shorter than {max_hop_distance:.3g} Å in {host_id}"
        )
    scale = [max(1, math.ceil(min_length / a - 1e-9)) for a in structure.lattice.abc]
    supercell = structure * scale
    hops = []
    for label, info in sorted(graph.unique_hops.items()):
        start = np.asarray(info["ipos"], float) / scale
        end = np.asarray(info["epos"], float) / scale
        host = _host(supercell, ion, [start, end], limit)
        hops.append(
            Hop(
                host_id,
                str(label),
                ion,
                host,
                (start.tolist(), end.tolist()),
                float(info["hop_distance"]),
                limit,
            )
        )
    return hops


def _host(supercell: Structure, ion: str, ends: list[np.ndarray], limit: str) -> Structure:
    """The supercell without the hopping ion's two sites (vacancy) or without any ``ion``."""
    if limit == "empty":
        host = supercell.copy()
        host.remove_species([ion])
        return host
    remove = []
    for frac in ends:
        dists = supercell.lattice.get_all_distances([frac], supercell.frac_coords)[0]
        i = int(np.argmin(dists))
        if dists[i] > SITE_TOLERANCE or supercell[i].species_string != ion:
            raise MigrationInputError(f"hop end point {frac} is not a {ion} site of the host")
        remove.append(i)
    host = supercell.copy()
    host.remove_sites(sorted(set(remove)))
    return host


def read_charge_density(path: str) -> Any:
    """A host charge density (VASP CHGCAR, optionally compressed) for the pathfinder."""
    from pymatgen.io.vasp.outputs import Chgcar

    try:
        return Chgcar.from_file(path)
    except Exception as exc:
        raise MigrationInputError(
            f"cannot read CHGCAR {path}: {type(exc).__name__}: {exc}"
        ) from exc


def collapse_distance(ion: str) -> float:
    """atomate2's minimum hop distance: 2 x average ionic radius (else the atomic radius)."""
    from pymatgen.core import Element

    element = Element(ion)
    radius = getattr(element, "average_ionic_radius", None)
    if radius:
        return 2 * float(radius)
    return float(element.atomic_radius or 0.0)


@dataclass
class ModelMigrationMaker(Maker):
    """A model's ApproxNEB of one hop (see the module docstring)."""

    name: str = "model migration"
    model: ModelRef = "chgnet-0.3.0"
    device: str | None = None
    fmax: float = 0.05  # eV/Å (atomate2 ApproxNEB EDIFFG = -0.05)
    relax_steps: int = 400  # atomate2 ApproxNEB NSW
    relax_host: bool = True
    n_images: int | None = None  # default: the reference's
    chgcar: str | None = None  # host CHGCAR: charge-density-guided images

    @job
    def make(
        self,
        reference: MigrationReferenceDocument | dict[str, Any],
        reference_uuid: str | None = None,
    ) -> MigrationPredictionDocument:
        """Relax host, end points and images with the model; energies and barrier."""
        return predict_migration(reference, self.model, reference_uuid, self.device, self.options())

    def options(self) -> dict[str, Any]:
        """The settings recorded with every document."""
        return {
            "fmax": self.fmax,
            "relax_steps": self.relax_steps,
            "relax_host": self.relax_host,
            "n_images": self.n_images,
            "optimizer": "BFGS",
            "path": "chgcar" if self.chgcar else "linear",
            "chgcar": self.chgcar,
            "selective_dynamics": "fix_two_atoms",
        }


def predict_migration(
    reference: MigrationReferenceDocument | dict[str, Any],
    model: ModelRef,
    reference_uuid: str | None = None,
    device: str | None = None,
    options: dict[str, Any] | None = None,
) -> MigrationPredictionDocument:
    """The work of :class:`ModelMigrationMaker`, callable without jobflow."""
    from softbench.makers.relax import CalculatorUnavailable, load_calculator

    opts = {**ModelMigrationMaker().options(), **(options or {})}
    ref = MigrationReferenceDocument.coerce(reference)
    spec = resolve_model(model)
    n_images = opts["n_images"] or ref.n_images
    doc = MigrationPredictionDocument.from_reference(
        ref,
        spec.safe_provenance(),
        reference_uuid,
        hop_id=ref.hop_id,
        working_ion=ref.working_ion,
        host_structure=ref.host_structure,
        end_points=ref.end_points,
        n_images=n_images,
        limit=ref.limit,
        settings={**opts, "n_images": n_images},
    )
    if ref.state != "successful" or ref.host_structure is None or len(ref.end_points) != 2:
        return doc.with_failure(f"reference unusable: {ref.reason or 'no host or end points'}")
    start = time.perf_counter()
    first = ref.host_structure.copy()
    first.insert(0, ref.working_ion, ref.end_points[0])
    try:
        predictor, calc = load_calculator(spec, device, [first], ref.material_id, "migration")
    except CalculatorUnavailable as exc:
        return doc.with_failure(str(exc))
    doc.model = spec.safe_provenance()
    doc.device = predictor.device
    loaded = time.perf_counter()
    approx_neb(doc, ref.host_structure, calc, opts)
    doc.timing = {"load_seconds": loaded - start, "total_seconds": time.perf_counter() - start}
    return doc


def approx_neb(
    doc: MigrationPredictionDocument,
    host: Structure,
    calc: Calculator,
    opts: dict[str, Any],
) -> MigrationPredictionDocument:
    """Fill ``doc`` (hop fields set) with the ApproxNEB of ``calc``; failures set its state."""
    ion, n_images = doc.working_ion, doc.n_images
    fmax, steps = opts["fmax"], opts["relax_steps"]
    if opts.get("relax_host", True):
        try:
            host, doc.host_relaxation = relax(host, calc, fmax, steps, relax_cell=True)
        except Exception as exc:  # a calculator or optimiser failure is per-hop data
            return doc.with_failure(f"host relaxation failed: {type(exc).__name__}: {exc}")
    ends, energies = [], []
    for k, frac in enumerate(doc.end_points):
        structure = host.copy()
        structure.insert(0, ion, frac)
        try:
            relaxed, record = relax(structure, calc, fmax, steps, relax_cell=False)
        except Exception as exc:
            return doc.with_failure(f"end point {k} relaxation failed: {type(exc).__name__}: {exc}")
        ends.append(relaxed)
        energies.append(record.energy_ev)
        doc.end_point_relaxations.append(record)
    doc.hop_distance_ang = float(ends[0][0].distance(ends[1][0]))
    threshold = collapse_distance(ion)
    if doc.hop_distance_ang < threshold:
        return doc.with_failure(
            f"end points collapsed: after relaxation the {ion} ions are "
            f"{doc.hop_distance_ang:.3f} Å apart (< {threshold:.3f} Å, atomate2's minimum "
            "hop distance)"
        )
    try:
        chgcar = read_charge_density(opts["chgcar"]) if opts.get("chgcar") else None
        path = linear_images(ends[0], ends[1], n_images, ion, chgcar)
    except Exception as exc:  # an unreadable CHGCAR or a pathfinder failure
        return doc.with_failure(f"image generation failed: {type(exc).__name__}: {exc}")
    image_energies: list[float | None] = []
    relaxed_images: list[Structure] = []
    for k, image in enumerate(path, start=1):
        try:
            relaxed, record = relax(image, calc, fmax, steps, relax_cell=False)
        except Exception as exc:
            doc.failed_images[str(k)] = f"{type(exc).__name__}: {exc}"
            doc.image_relaxations.append(None)
            image_energies.append(None)
            continue
        doc.image_relaxations.append(record)
        image_energies.append(record.energy_ev)
        relaxed_images.append(relaxed)
    if doc.failed_images:
        first = min(doc.failed_images, key=int)
        return doc.with_failure(
            f"hop incomplete: {len(doc.failed_images)} of {n_images} image relaxation(s) "
            f"failed (image {first}: {doc.failed_images[first]})"
        )
    doc.images = [ends[0], *relaxed_images, ends[1]]
    doc.image_energies_ev = [
        energies[0],
        *[float(e) for e in image_energies if e is not None],
        energies[1],
    ]
    result = barrier(doc.image_energies_ev)
    doc.relative_energies_ev = result.relative_energies
    doc.barrier_ev = result.kra_barrier
    doc.asymmetry_ev = result.asymmetry
    doc.forward_barrier_ev = result.forward_barrier
    doc.reverse_barrier_ev = result.reverse_barrier
    return doc


def linear_images(
    start: Structure, end: Structure, n_images: int, ion: str, charge_density: Any = None
) -> list[Structure]:
    """``n_images`` images between two end points, with atomate2's ``fix_two_atoms`` flags.

    Linear interpolation of all atoms (shortest periodic path); with
    ``charge_density`` (a pymatgen ``Chgcar`` of the host) the moving ion follows
    atomate2's charge-density pathfinder (``get_pathfinder_results``: pymatgen-
    analysis-diffusion's ``NEBPathfinder`` on the density as a potential) instead. The
    moving ion (site 0) and the atom farthest from it are fixed
    (``selective_dynamics`` False).
    """
    from atomate2.common.jobs.approx_neb import (
        add_selective_dynamics_two_fixed_sites,
        get_pathfinder_results,
    )

    if n_images < 1:
        raise MigrationInputError(f"--images must be at least 1, got {n_images}")
    a, b = start.copy(), end.copy()
    for s in (a, b):
        for prop in list(s.site_properties):
            s.remove_site_property(prop)
    if charge_density is not None:
        path = get_pathfinder_results(a, b, ion, n_images, charge_density)["images"]
    else:
        path = a.interpolate(b, nimages=n_images + 1, pbc=True)[1:-1]
    return [add_selective_dynamics_two_fixed_sites(image, 0, ion) for image in path]


def relax(
    structure: Structure, calc: Calculator, fmax: float, steps: int, relax_cell: bool
) -> tuple[Structure, HopRelaxation]:
    """Relax with the project's protocol; selective dynamics become ASE ``FixAtoms``.

    The host keeps its symmetry (FixSymmetry, as VASP's ISYM=1 host relaxation);
    end points and images relax without symmetry constraints (ISYM=0).
    """
    from pymatgen.io.ase import AseAtomsAdaptor

    from softbench.makers.relax import relax_atoms

    atoms = AseAtomsAdaptor.get_atoms(structure)
    result = relax_atoms(atoms, calc, fmax, steps, relax_cell=relax_cell, fix_symmetry=relax_cell)
    energy = float(atoms.get_potential_energy())
    forces = np.asarray(atoms.get_forces(), float)
    if not (math.isfinite(energy) and np.isfinite(forces).all()):
        raise FloatingPointError("non-finite energy or forces during relaxation")
    fixed = structure.site_properties.get("selective_dynamics")
    atoms.set_constraint()
    relaxed = AseAtomsAdaptor.get_structure(atoms)
    if fixed is not None:
        relaxed.add_site_property("selective_dynamics", fixed)
    record = HopRelaxation(
        converged=result.converged,
        steps=result.steps,
        fmax=fmax,
        max_force=result.fmax_final,
        energy_ev=energy,
    )
    return relaxed, record


@dataclass
class HopReferenceMaker(Maker):
    """The reference document of one hop record: ingested DFT energies, or none."""

    name: str = "migration reference"
    label: str = "model-only"

    @job
    def make(self, record: dict[str, Any]) -> MigrationReferenceDocument:
        """Read the record (see :mod:`softbench.ingest.migration`)."""
        from softbench.ingest.migration import reference_document

        return reference_document(record, self.label)
