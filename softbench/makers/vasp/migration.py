"""DFT side of the migration benchmark with VASP: atomate2's ApproxNEB makers.

The flow is atomate2's ``CommonApproxNebMaker`` for one hop with linear images:
atomate2's ``ApproxNebHostRelaxMaker`` (double relaxation, ISIF=3) on the host,
atomate2's ``get_endpoints_and_relax`` job with ``ApproxNebImageRelaxMaker`` (ISIF=2,
ISYM=0, EDIFFG -0.05, on pymatgen's ``MPRelaxSet``: PBE, MP POTCARs, ENCUT 520, +U
off as atomate2 sets LDAU False), linearly interpolated images relaxed by the same
image maker with atomate2's ``fix_two_atoms`` selective dynamics, and atomate2's
``collate_results`` (an emmet ``NebPathwayResult``). The last job turns that into a
:class:`MigrationReferenceDocument`. atomate2's own image job always runs the
charge-density pathfinder on the host relaxation's CHGCAR; it is used with
``path="chgcar"``. Linear images are the default here and on the model side, so both
paths are built alike.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from jobflow import Flow, Job, Maker, OnMissing, Response, job
from pymatgen.core import Structure

from softbench.analysis.migration import barrier
from softbench.makers.migration import collapse_distance, linear_images
from softbench.schemas.migration import MigrationReferenceDocument

VASP_LABEL = "vasp:mp-pbe-approxneb"
HOP = "0+1"  # atomate2's name of the hop between end points 0 and 1


def _host_relax_maker() -> Maker:
    from atomate2.vasp.jobs.approx_neb import ApproxNebHostRelaxMaker

    return ApproxNebHostRelaxMaker()


def _image_relax_maker() -> Maker:
    from atomate2.vasp.jobs.approx_neb import ApproxNebImageRelaxMaker

    return ApproxNebImageRelaxMaker()


@dataclass
class VaspMigrationReferenceMaker(Maker):
    """One hop's DFT path with atomate2's ApproxNEB VASP makers (module docstring)."""

    name: str = "vasp migration reference"
    label: str = VASP_LABEL
    n_images: int = 5
    relax_host: bool = True
    path: str = "linear"  # or "chgcar": atomate2's pathfinder on the host relaxation's CHGCAR
    host_relax_maker: Maker = field(default_factory=_host_relax_maker)
    image_relax_maker: Maker = field(default_factory=_image_relax_maker)

    def make(self, record: dict[str, Any]) -> Flow:
        """The ApproxNEB flow of one hop record; its output is the reference document."""
        from atomate2.common.jobs.approx_neb import (
            collate_results,
            get_endpoints_and_relax,
            get_images_and_relax,
        )
        from atomate2.vasp.jobs.approx_neb import get_charge_density

        if self.path not in ("linear", "chgcar"):
            raise ValueError(f"unknown path {self.path!r}: linear or chgcar")
        if self.path == "chgcar" and not self.relax_host:
            raise ValueError("path='chgcar' reads the CHGCAR of the host relaxation")
        host: Any = Structure.from_dict(record["host_structure"])
        ion = str(record["working_ion"])
        jobs: list[Job | Flow] = []
        host_dir = None
        if self.relax_host:
            relax = self.host_relax_maker.make(host)
            relax.append_name("host structure ", prepend=True)
            jobs.append(relax)
            host, host_dir = relax.output.structure, relax.output.dir_name
        ends = get_endpoints_and_relax(
            host_structure=host,
            working_ion=ion,
            endpoint_coords={str(k): list(p) for k, p in enumerate(record["end_points"])},
            inserted_coords_combo=[HOP],
            relax_maker=self.image_relax_maker,
        )
        if self.path == "chgcar":  # atomate2's own image job
            images = get_images_and_relax(
                working_ion=ion,
                ep_output=ends.output,
                inserted_combo_list=[HOP],
                n_images=self.n_images,
                charge_density_path=host_dir,
                get_charge_density=get_charge_density,
                relax_maker=self.image_relax_maker,
            )
        else:
            images = linear_images_and_relax(
                ion, ends.output, self.n_images, self.image_relax_maker
            )
        collate = collate_results(host, ion, ends.output, images.output)
        convert = migration_reference_from_vasp(collate.output, record, self.label, self.settings())
        for j in (collate, convert):
            j.config.on_missing_references = OnMissing.NONE
        jobs += [ends, images, collate, convert]
        hop = f"{record['host']}#{record['hop_id']}"
        return Flow(jobs, output=convert.output, name=f"{self.name} {hop}")

    def reference(self, record: dict[str, Any]) -> tuple[Flow, Job]:
        """(flow, the job whose output is the reference) for :func:`migration_flow`."""
        flow = self.make(record)
        return flow, flow.jobs[-1]  # type: ignore[return-value]

    def settings(self) -> dict[str, Any]:
        """What the reference was computed with (recorded in the document)."""
        gen = getattr(self.image_relax_maker, "input_set_generator", None)
        return {
            "code": "VASP",
            "workflow": "atomate2 ApproxNEB makers (host, end point and image relax), "
            f"{self.path} images, fix_two_atoms",
            "input_set": type(gen).__name__,
            "image_incar_updates": dict(getattr(gen, "incar_updates", {}) or {}),
            "n_images": self.n_images,
        }


@job
def linear_images_and_relax(
    working_ion: str, ep_output: dict[str, dict], n_images: int, relax_maker: Maker
) -> Response:
    """atomate2's ``get_images_and_relax`` for one hop with linear images.

    Output as atomate2's: ``{"0+1": [{"energy", "structure", "initial_structure"}]}``,
    or ``{"0+1": [failure reason values]}`` when an end point failed or the end
    points collapsed (atomate2's ``HopFailureReason``).
    """
    from emmet.core.neb import HopFailureReason

    found = [ep_output.get(k, {}).get("structure") for k in ("0", "1")]
    ends: list[Structure] = [s for s in found if s is not None]
    if len(ends) != 2:
        return Response(output={HOP: [HopFailureReason.ENDPOINT.value]})
    if ends[0][0].distance(ends[1][0]) < collapse_distance(working_ion):
        return Response(output={HOP: [HopFailureReason.MIN_DIST.value]})
    relax_jobs, output = [], []
    for k, image in enumerate(linear_images(ends[0], ends[1], n_images, working_ion), start=1):
        relax = relax_maker.make(image)
        relax.append_name(f" hop {HOP} image {k}")
        relax_jobs.append(relax)
        output.append(
            {
                "energy": relax.output.output.energy,
                "structure": relax.output.structure,
                "initial_structure": relax.output.input.structure,
            }
        )
    return Response(replace=Flow(relax_jobs, output={HOP: output}))


@job
def migration_reference_from_vasp(
    pathway: Any, record: dict[str, Any], label: str, settings: dict[str, Any] | None = None
) -> MigrationReferenceDocument:
    """Turn atomate2's ``NebPathwayResult`` of one hop into the reference document."""
    from emmet.core.neb import NebPathwayResult

    doc = MigrationReferenceDocument(
        material_id=str(record["host"]),
        hop_id=str(record["hop_id"]),
        working_ion=str(record["working_ion"]),
        host_structure=Structure.from_dict(record["host_structure"]),
        end_points=record["end_points"],
        n_images=int(record.get("n_images") or 5),
        limit=record.get("limit"),
        reference=label,
        source="atomate2 ApproxNEB VASP makers",
        source_checksum=record.get("source_checksum"),
        dft_settings=dict(settings or {}),
    )
    doc.formula = doc.host_structure.composition.reduced_formula  # type: ignore[union-attr]
    if pathway is None:
        return doc.with_failure("VASP ApproxNEB flow produced no result", "unusable")
    result = pathway if isinstance(pathway, NebPathwayResult) else NebPathwayResult(**pathway)
    hop = result.hops.get(HOP)
    if hop is None or hop.energies is None or str(hop.state) != "successful":
        reasons = [str(r.value) for r in (hop.failure_reasons or [])] if hop else []
        return doc.with_failure(
            f"VASP ApproxNEB hop incomplete: {'; '.join(reasons) or 'no energies'}", "unusable"
        )
    if len(hop.energies) != doc.n_images + 2:
        return doc.with_failure(
            f"VASP ApproxNEB hop incomplete: {len(hop.energies)} of {doc.n_images + 2} energies",
            "unusable",
        )
    values = [float(e) for e in hop.energies]
    b = barrier(values)
    doc.image_energies_ev = values
    doc.relative_energies_ev = b.relative_energies
    doc.barrier_ev, doc.asymmetry_ev, doc.forward_barrier_ev = (
        b.kra_barrier,
        b.asymmetry,
        b.forward_barrier,
    )
    doc.images = [Structure.from_sites(s) for s in hop.images or []]
    if len(doc.images) == len(values):
        doc.hop_distance_ang = float(doc.images[0][0].distance(doc.images[-1][0]))
    return doc
