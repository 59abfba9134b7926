"""CP2K side of the migration benchmark: the model-side ApproxNEB with CP2K forces.

:class:`Cp2kMigrationMaker` runs exactly the protocol of
:func:`softbench.makers.migration.approx_neb` (host relax, end points, linear images
with atomate2's ``fix_two_atoms``) with an ASE calculator that computes each step
with the project's CP2K method (:class:`~softbench.makers.cp2k.runner.Cp2kRunner`:
vetted kinds, k-points from the settings, one CP2K shell per input). The element set
is validated first, as for the high-energy statics. The output is a
:class:`MigrationReferenceDocument` labelled ``<CP2K label>-approxneb``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jobflow import Job, Maker, job
from pymatgen.core import Structure

from softbench.ingest.migration import reference_document
from softbench.makers.cp2k.calculator import Cp2kCalculator
from softbench.makers.cp2k.high_energy import validate_elements
from softbench.makers.cp2k.runner import Cp2kRunner
from softbench.makers.cp2k.settings import Cp2kSettings
from softbench.schemas.migration import MigrationPredictionDocument, MigrationReferenceDocument
from softbench.schemas.provenance import ModelProvenance


@dataclass
class Cp2kMigrationMaker(Maker):
    """One hop's DFT path with CP2K (see the module docstring)."""

    name: str = "cp2k migration reference"
    settings: Cp2kSettings = field(default_factory=Cp2kSettings)
    n_images: int = 5
    fmax: float = 0.05
    relax_steps: int = 200
    relax_host: bool = True
    chgcar: str | None = None  # host CHGCAR: charge-density-guided images
    ranks: int | None = None

    def label(self) -> str:
        """Reference label: the CP2K settings label plus the protocol."""
        return f"{self.settings.label()}-approxneb"

    @job
    def make(self, record: dict[str, Any]) -> MigrationReferenceDocument:
        """Validate the elements, run the ApproxNEB with CP2K, return the reference."""
        return cp2k_migration_reference(record, self, Path.cwd())

    def reference(self, record: dict[str, Any]) -> tuple[Job, Job]:
        """(job, job) for :func:`softbench.workflows.migration.migration_flow`."""
        work = self.make(record)
        work.name = f"{self.name} {record['host']}#{record['hop_id']}"
        return work, work


def cp2k_migration_reference(
    record: dict[str, Any], maker: Cp2kMigrationMaker, directory: Path
) -> MigrationReferenceDocument:
    """The work of :class:`Cp2kMigrationMaker`, callable without jobflow."""
    from softbench.makers.migration import approx_neb

    doc = reference_document({k: v for k, v in record.items() if k != "energies_ev"}, maker.label())
    doc.source = "CP2K (ASE calculator) ApproxNEB, softbench protocol"
    doc.n_images = maker.n_images
    if doc.state != "successful" or doc.host_structure is None:
        return doc
    elements = sorted(
        {e.symbol for e in doc.host_structure.composition.elements} | {doc.working_ion}
    )
    settings = maker.settings
    doc.dft_settings = {**settings.describe(), "fmax": maker.fmax, "relax_steps": maker.relax_steps}
    with Cp2kRunner(settings, directory / "validation", maker.ranks) as runner:
        reason, checks = validate_elements(elements, settings, runner)
    doc.dft_settings["validation"] = checks
    if reason:
        return doc.with_failure(reason, "unusable")
    path = MigrationPredictionDocument.from_reference(
        doc,
        ModelProvenance(name="cp2k", family="dft", version=settings.label(), source="CP2K"),
        hop_id=doc.hop_id,
        working_ion=doc.working_ion,
        end_points=doc.end_points,
        n_images=maker.n_images,
    )
    opts = {
        "fmax": maker.fmax,
        "relax_steps": maker.relax_steps,
        "relax_host": maker.relax_host,
        "chgcar": maker.chgcar,
    }
    with Cp2kRunner(settings, directory / "path", maker.ranks) as runner:
        approx_neb(path, doc.host_structure, Cp2kCalculator(runner), opts)
    if path.state != "successful":
        return doc.with_failure(f"CP2K ApproxNEB: {path.reason}", "unusable")
    doc.image_energies_ev = path.image_energies_ev
    doc.relative_energies_ev = path.relative_energies_ev
    doc.barrier_ev, doc.asymmetry_ev = path.barrier_ev, path.asymmetry_ev
    doc.forward_barrier_ev, doc.hop_distance_ang = path.forward_barrier_ev, path.hop_distance_ang
    doc.images = [Structure.from_sites(s) for s in path.images or []]
    return doc
