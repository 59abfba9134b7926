"""Surface flows: per material an optional DFT side (VASP or CP2K) and one job per model.

The DFT and model jobs are independent (each relaxes its own bulk and cuts the same
slabs from it); a model job carries the DFT job's uuid as ``reference_uuid`` so the
builder pairs them. Without a DFT side the model documents carry the label
:data:`~softbench.schemas.surfaces.NO_DFT` and the builder reports them unpaired.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from jobflow import Flow, Job, JobStore

from softbench.builders.pairing import index, newest
from softbench.makers.surfaces import ModelSurfaceMaker, input_key
from softbench.models import ModelSpec, model_ref
from softbench.schemas.surfaces import NO_DFT, SURFACE_PREDICTION, SURFACE_REFERENCE, TASK
from softbench.workflows.forces import route

if TYPE_CHECKING:
    from pymatgen.core import Structure

#: CP2K numerics a run may change (Cp2kSettings fields; the label's hash records them)
CP2K_NUMERICS = ("cutoff_ry", "rel_cutoff_ry", "kspacing", "eps_scf")
MODEL_OPTIONS = ("max_index", "min_slab_a", "min_vacuum_a", "fmax", "slab_steps", "bulk_steps")


def dft_maker(dft: str | None, options: dict[str, Any]) -> Any:
    """The DFT reference maker of ``--dft`` (None: no DFT side)."""
    if dft in (None, "none"):
        return None
    if dft == "vasp":
        from softbench.makers.vasp.surfaces import VaspSurfaceReferenceMaker

        return VaspSurfaceReferenceMaker(options=options)
    if dft == "cp2k":
        from softbench.makers.cp2k.settings import Cp2kSettings
        from softbench.makers.cp2k.surfaces import Cp2kSurfaceMaker

        numerics = {k: options[k] for k in CP2K_NUMERICS if options.get(k) is not None}
        return Cp2kSurfaceMaker(settings=Cp2kSettings(**numerics), options=options)
    raise ValueError(f"unknown DFT method {dft!r}: vasp, cp2k or none")


def dft_label(maker: Any) -> str:
    """Reference label of a DFT maker (the label model documents carry)."""
    if maker is None:
        return NO_DFT
    label = getattr(maker, "label", None)
    return str(label) if label else str(maker.settings.label())


def surfaces_flow(
    structures: dict[str, Structure],
    models: Sequence[ModelSpec],
    dft: str | None = None,
    options: dict[str, Any] | None = None,
    device: str | None = None,
    existing_references: dict[str, str] | None = None,
    skip: set[tuple[str, str]] | None = None,
) -> Flow:
    """DFT job (unless reused or ``dft`` is None) and model jobs for every material.

    ``existing_references``: material -> uuid of a stored reference to pair with
    (no DFT rerun); ``skip``: (material, model) already computed for that label.
    """
    options = dict(options or {})
    maker = dft_maker(dft, options)
    label = dft_label(maker)
    existing_references = existing_references or {}
    skip = skip or set()
    jobs: list[Job | Flow] = []
    for mid, structure in structures.items():
        ref_uuid: str | None = existing_references.get(mid)
        if maker is not None and ref_uuid is None:
            dft_job = maker.make(structure, mid)
            if isinstance(dft_job, Job):
                dft_job.name = f"{dft} surfaces {mid}"
            dft_job.metadata.update({"softbench": {"task": TASK, "material_id": mid}})
            jobs.append(dft_job)
            ref_uuid = dft_job.jobs[-1].uuid if isinstance(dft_job, Flow) else dft_job.uuid
        for spec in models:
            if (mid, spec.name) in skip:
                continue
            model_maker = ModelSurfaceMaker(
                name=f"{spec.name} surfaces {mid}",
                model=model_ref(spec),
                device=device,
                **{k: v for k, v in options.items() if k in MODEL_OPTIONS},
            )
            job = model_maker.make(structure, mid, label, reference_uuid=ref_uuid)
            jobs.append(route(job, spec, TASK, mid))
    return Flow(jobs, name=f"softbench surfaces ({dft or 'models only'})")


def reusable_surface_references(
    jobs: JobStore, label: str, structures: dict[str, Structure], options: dict[str, Any]
) -> dict[str, str]:
    """Material -> uuid of the newest successful reference with the same input key."""
    if label == NO_DFT:
        return {}
    wanted = {mid: input_key(s, options) for mid, s in structures.items()}
    found: dict[str, str] = {}
    docs = jobs.query(
        {
            "output.doc_type": SURFACE_REFERENCE,
            "output.reference": label,
            "output.state": "successful",
            "output.material_id": {"$in": list(wanted)},
        },
        properties=["uuid", "output.material_id", "output.input_key", "output.created_at"],
    )
    best = newest(
        (d for d in docs if d["output"].get("input_key") == wanted[d["output"]["material_id"]]),
        lambda d: d["output"]["material_id"],
    )
    for mid, d in best.items():
        found[mid] = d["uuid"]
    return found


def existing_surface_predictions(
    jobs: JobStore,
    label: str,
    structures: dict[str, Structure],
    options: dict[str, Any],
    models: Sequence[str],
    reference_uuids: dict[str, str],
) -> set[tuple[str, str]]:
    """(material, model) already predicted: same label and input key, same reference.

    With a DFT side the prediction must carry the uuid of the reference it will pair with.
    """
    wanted = {mid: input_key(s, options) for mid, s in structures.items()}
    found = set()
    for ref in index(jobs, SURFACE_PREDICTION, reference=label, state="successful"):
        if ref.material_id not in wanted or ref.model not in models:
            continue
        if label != NO_DFT and reference_uuids.get(ref.material_id) != ref.reference_uuid:
            continue
        found.add((ref.uuid, ref.material_id, str(ref.model)))
    if not found:
        return set()
    keys = {
        d["uuid"]: d["output"].get("input_key")
        for d in jobs.query(
            {"uuid": {"$in": [u for u, _, _ in found]}}, properties=["uuid", "output.input_key"]
        )
    }
    return {(mid, model) for uuid, mid, model in found if keys.get(uuid) == wanted[mid]}


def skipped_facets(jobs: JobStore, material_ids: Sequence[str]) -> dict[str, dict[str, str]]:
    """Material -> {facet: why no slab} from its task documents (any method, newest first)."""
    docs = jobs.query(
        {
            "output.doc_type": {"$in": [SURFACE_PREDICTION, SURFACE_REFERENCE]},
            "output.material_id": {"$in": list(material_ids)},
        },
        properties=["output.material_id", "output.skipped_facets", "output.created_at"],
    )
    found: dict[str, dict[str, str]] = {}
    for d in sorted(docs, key=lambda d: str(d["output"].get("created_at")), reverse=True):
        mid = d["output"]["material_id"]
        found.setdefault(mid, dict(d["output"].get("skipped_facets") or {}))
    return found
