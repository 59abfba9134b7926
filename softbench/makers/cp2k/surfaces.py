"""CP2K side of the surface benchmark: the project's CP2K method, same geometry rules.

:class:`Cp2kSurfaceMaker` validates the element set (:func:`validate_elements`),
relaxes the bulk (cell and ions: BFGS on a FrechetCellFilter with FixSymmetry, CP2K
stress; the k-mesh of the settings' ``kspacing`` on the input cell), cuts the slabs
with :func:`softbench.analysis.surfaces.make_slabs` from the relaxed bulk and
relaxes their ions at fixed cell (BFGS, no symmetry constraint) with a Monkhorst-Pack
mesh of the same ``kspacing`` in plane and one k-point along the normal. Energies are
CP2K's (Mermin free energy at the settings' electronic temperature), for bulk and
slabs alike. An SCF that does not converge during a relaxation marks that
relaxation not converged (the reason names it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from jobflow import Maker, job
from pymatgen.core import Structure

from softbench.analysis.surfaces import SlabSpec, SurfaceInputError, check_bulk
from softbench.makers.cp2k.high_energy import validate_elements
from softbench.makers.cp2k.relax import relax_with_cp2k
from softbench.makers.cp2k.runner import Cp2kRunner, cp2k_refusal
from softbench.makers.cp2k.settings import Cp2kSettings
from softbench.makers.surfaces import compute_surfaces, input_key
from softbench.schemas.elastic import RelaxationRecord
from softbench.schemas.surfaces import SurfaceReferenceDocument

#: geometry and relaxation defaults of the CP2K side (those of the model side)
CP2K_SURFACE_OPTIONS: dict[str, Any] = {
    "max_index": 2,
    "min_slab_a": 10.0,
    "min_vacuum_a": 10.0,
    "fmax": 0.05,
    "bulk_fmax": 0.01,
    "slab_steps": 100,
    "bulk_steps": 50,
}


def slab_kpoints(settings: Cp2kSettings, cell: np.ndarray) -> tuple[int, int, int]:
    """The settings' Monkhorst-Pack mesh in plane and one k-point along the normal (b3)."""
    n1, n2, _ = settings.kpoints(cell)
    return n1, n2, 1


@dataclass
class Cp2kSurfaceMaker(Maker):
    """CP2K surface energies of one bulk (see the module docstring), in one job."""

    name: str = "cp2k surfaces"
    settings: Cp2kSettings = field(default_factory=Cp2kSettings)
    ranks: int | None = None
    options: dict[str, Any] = field(default_factory=dict)

    @job
    def make(self, structure: Structure, material_id: str) -> SurfaceReferenceDocument:
        """One reference document with every slab of the material."""
        return cp2k_surfaces(structure, material_id, self.settings, self.options, self.ranks)


def cp2k_surfaces(
    structure: Structure,
    material_id: str,
    settings: Cp2kSettings | None = None,
    options: dict[str, Any] | None = None,
    ranks: int | None = None,
    directory: str | Path = ".",
) -> SurfaceReferenceDocument:
    """The work of :class:`Cp2kSurfaceMaker`, callable without jobflow."""
    settings = settings or Cp2kSettings()
    opts = {**CP2K_SURFACE_OPTIONS, **(options or {})}
    directory = Path(directory).resolve()
    doc = SurfaceReferenceDocument(
        material_id=material_id,
        formula=structure.composition.reduced_formula,
        reference=settings.label(),
        source="CP2K (ASE calculator) relaxations of bulk and slabs",
        settings=opts,
        dft_settings=settings.describe(),
        input_key=input_key(structure, opts),
    )
    try:
        check_bulk(structure, material_id)
    except SurfaceInputError as exc:
        return doc.with_failure(str(exc), "unusable")
    elements = sorted({s.symbol for s in structure.species})
    problem = cp2k_refusal(elements, settings, ranks)
    if problem:
        return doc.with_failure(problem, "unusable")
    with Cp2kRunner(settings, directory / "validation", ranks) as runner:
        reason, checks = validate_elements(elements, settings, runner)
    doc.dft_settings = {
        **settings.describe(),
        "kinds": {e: settings.kinds[e].model_dump() for e in elements},
        "validation": checks,
        "workflow": "softbench Cp2kSurfaceMaker (ASE CP2K calculator, ASE BFGS)",
    }
    if reason:
        return doc.with_failure(reason, "unusable")
    kpoints: dict[str, list[int]] = {}

    def relax_bulk(bulk: Structure) -> tuple[Structure, float, RelaxationRecord]:
        mesh = settings.kpoints(bulk.lattice.matrix)
        kpoints["bulk"] = list(mesh)
        with Cp2kRunner(settings, directory / "bulk", ranks) as runner:
            relaxed, energy, record, _ = relax_with_cp2k(
                bulk, runner, mesh, opts["bulk_fmax"], opts["bulk_steps"], True
            )
        return relaxed, energy / len(relaxed), record

    def relax_slab(spec: SlabSpec) -> tuple[Structure, float, RelaxationRecord, dict[str, Any]]:
        mesh = slab_kpoints(settings, spec.slab.lattice.matrix)
        kpoints[spec.facet] = list(mesh)
        folder = directory / ("slab" + spec.facet.replace(",", "").replace("#", "-"))
        doc.dft_dirs[spec.facet] = str(folder)
        with Cp2kRunner(settings, folder, ranks) as runner:
            relaxed, energy, record, scf_failures = relax_with_cp2k(
                spec.slab, runner, mesh, opts["fmax"], opts["slab_steps"], False
            )
        extra: dict[str, Any] = {"kpoints": list(mesh)}
        if scf_failures:
            extra["reason"] = f"{scf_failures} SCF run(s) did not converge during the relaxation"
        return relaxed, energy, record, extra

    compute_surfaces(doc, structure, opts, relax_bulk, relax_slab)
    doc.dft_settings["kpoints"] = kpoints
    return doc
