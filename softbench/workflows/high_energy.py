"""High-energy-state flow: DFT relaxation, MD, DFT statics (VASP or CP2K), reference, models.

Work already in the store is reused: a material with a successful reference of
the same sampling (settings and starting structure) and label only gets the model
jobs still missing, and stored frames of the same sampling are not re-sampled, so
adding a model later never redoes MD or DFT.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from jobflow import Flow, Job, JobStore, OnMissing, OutputReference
from pymatgen.core import Structure

from softbench.makers.high_energy import (
    HighEnergyFramesMaker,
    clean_structure,
    frame_id,
    md_maker,
)
from softbench.makers.vasp.high_energy import (
    REFERENCE_LABEL,
    HighEnergyReferenceMaker,
    relax_maker,
    static_maker,
)
from softbench.models import ModelSpec, get_model
from softbench.schemas.base import HIGH_ENERGY_FRAMES, REFERENCE, doc_type_query

if TYPE_CHECKING:
    from softbench.makers.cp2k.settings import Cp2kSettings
from softbench.schemas.high_energy import TASK, VASP_RELAX, HighEnergySampling
from softbench.workflows.forces import model_job
from softbench.workflows.reuse import newest_matching


@dataclass
class HighEnergyPlan:
    """What a flow does per material (for printing before running)."""

    reused_references: dict[str, str] = field(default_factory=dict)
    reused_frames: dict[str, str] = field(default_factory=dict)
    new_md: list[str] = field(default_factory=list)
    frames_uuid: dict[str, str] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)

    def count(self, kind: str, n: int = 1) -> None:
        """Add ``n`` jobs of a kind."""
        self.counts[kind] = self.counts.get(kind, 0) + n


def sampling_keys(
    structures: Mapping[str, Structure], sampling: HighEnergySampling
) -> dict[str, str]:
    """material_id -> reuse key of its starting structure under these settings."""
    return {mid: sampling.key(clean_structure(s)) for mid, s in structures.items()}


def reusable(
    jobs: JobStore, keys: Mapping[str, str], label: str = REFERENCE_LABEL
) -> tuple[dict[str, str], dict[str, str]]:
    """(references, frames): material_id -> uuid of the newest stored match.

    References must be successful, carry ``label`` and the sampling key; frames
    documents must carry the sampling key.
    """
    references = _newest(
        jobs,
        {
            "output.doc_type": REFERENCE,
            "output.task": TASK,
            "output.reference": label,
            "output.state": "successful",
        },
        keys,
        "source_checksum",
    )
    frames = _newest(
        jobs, {"output.doc_type": doc_type_query(HIGH_ENERGY_FRAMES)}, keys, "sampling_key"
    )
    return references, frames


def _newest(
    jobs: JobStore, criteria: dict[str, Any], keys: Mapping[str, str], key_field: str
) -> dict[str, str]:
    return newest_matching(jobs, criteria, keys, key_field, keys.__getitem__)


def high_energy_flow(
    structures: Mapping[str, Structure],
    models: Sequence[ModelSpec],
    sampling: HighEnergySampling | None = None,
    dft: bool = True,
    label: str = REFERENCE_LABEL,
    existing_references: Mapping[str, str] | None = None,
    existing_frames: Mapping[str, str] | None = None,
    skip: set[tuple[str, str]] | None = None,
    device: str | None = None,
    show_progress: bool = True,
    cp2k: Cp2kSettings | None = None,
) -> tuple[Flow, HighEnergyPlan]:
    """Build the flow and its plan.

    ``dft=False`` samples frames only (MD and frame jobs, no VASP, no model jobs;
    ``sampling.relax`` must then be False): the frames documents are stored, and a
    later run with DFT and the same settings starts from them. ``existing_*`` map
    material ids to uuids of stored references/frames (see :func:`reusable`);
    ``skip`` holds (material, model) pairs already predicted.

    ``cp2k`` (settings) computes the DFT with CP2K instead of VASP: with
    ``sampling.relax`` one CP2K job relaxes cell and ions first (``sampling.relaxed_with``
    must then be ``cp2k.label()``), and one job per material computes all its frames;
    ``label`` should then be ``cp2k.label()``.
    """
    sampling = sampling or HighEnergySampling()
    if not dft and sampling.relax:
        raise ValueError("the relaxation is a DFT job: sampling without DFT needs relax=False")
    if sampling.relax:
        expected = cp2k.label() if cp2k is not None else VASP_RELAX
        if sampling.relaxed_with != expected:
            raise ValueError(
                f"sampling.relaxed_with is {sampling.relaxed_with!r} but the relaxation of "
                f"this flow is {expected!r}"
            )
    existing_references = existing_references or {}
    existing_frames = existing_frames or {}
    skip = skip or set()
    plan = HighEnergyPlan()
    jobs: list[Job | Flow] = []
    md_env = get_model(sampling.md_model).environment
    for mid, raw in structures.items():
        structure = clean_structure(raw)
        key = sampling.key(structure)
        if dft and mid in existing_references:
            ref_uuid = existing_references[mid]
            plan.reused_references[mid] = ref_uuid
            for spec in models:
                if (mid, spec.name) not in skip:
                    jobs.append(
                        model_job(spec, OutputReference(ref_uuid), ref_uuid, mid, device, TASK)
                    )
                    plan.count("model")
            continue
        relaxation: Any = None  # the CP2K relaxation's record, for the reference
        if mid in existing_frames:
            frames_uuid = existing_frames[mid]
            frames_output: Any = OutputReference(frames_uuid)
            plan.reused_frames[mid] = frames_uuid
        else:
            start: Any = structure
            if sampling.relax and cp2k is not None:
                relax = _cp2k_relax(cp2k, structure, mid)
                jobs.append(relax)
                plan.count("cp2k relax")
                start = relax.output.structure
                relaxation = relax.output.record
            elif sampling.relax:
                relax = _make(relax_maker(mid), structure)
                _tag(relax, mid, "relax")
                jobs.append(relax)
                plan.count("relax")
                start = relax.output.output.structure
            md = md_maker(sampling, mid, device, show_progress).make(start)
            md.update_config({"manager_config": {"_category": md_env}})
            _tag(md, mid, "md")
            frames_job = HighEnergyFramesMaker(name=f"frames {mid}", sampling=sampling).make(
                md.output.output.ionic_steps, mid, key
            )
            _tag(frames_job, mid, "frames")
            jobs += [md, frames_job]
            plan.count("md")
            plan.count("frames")
            plan.new_md.append(mid)
            frames_uuid, frames_output = frames_job.uuid, frames_job.output
        plan.frames_uuid[mid] = frames_uuid
        if not dft:
            continue
        if cp2k is not None:
            collector = _cp2k_collector(cp2k, mid, frames_output, key, label, relaxation)
            jobs.append(collector)
            plan.count("cp2k statics")
            plan.count("reference")
        else:
            statics = []
            for k in range(sampling.n_frames):
                cid = frame_id(k)
                static = _make(static_maker(mid, cid), frames_output.frames[k].structure)
                _tag(static, mid, "dft static", configuration_id=cid)
                statics.append(static)
            collector = HighEnergyReferenceMaker(name=f"reference {mid}", label=label).make(
                frames_output, [s.output for s in statics], mid, key
            )
            # Failed VASP runs arrive as None and are excluded with the reason.
            collector.config.on_missing_references = OnMissing.NONE
            _tag(collector, mid, "reference")
            jobs += [*statics, collector]
            plan.count("dft static", len(statics))
            plan.count("reference")
        for spec in models:
            jobs.append(model_job(spec, collector.output, collector.uuid, mid, device, TASK))
            plan.count("model")
    return Flow(jobs, name=f"softbench {TASK}"), plan


def _cp2k_relax(settings: Cp2kSettings, structure: Structure, material_id: str) -> Job:
    """One CP2K job: validation, then the cell and ion relaxation of the start structure."""
    from softbench.makers.cp2k.relax import Cp2kRelaxMaker

    relax = Cp2kRelaxMaker(name=f"cp2k relax {material_id}", settings=settings).make(
        structure, material_id
    )
    _tag(relax, material_id, "cp2k relax")
    return relax


def _cp2k_collector(
    settings: Cp2kSettings,
    material_id: str,
    frames_output: Any,
    key: str,
    label: str,
    relaxation: Any = None,
) -> Job:
    """One CP2K job: validation, then every frame of the material, then the reference."""
    from softbench.makers.cp2k.high_energy import Cp2kHighEnergyMaker

    if label != settings.label():
        raise ValueError(
            f"CP2K reference label {label!r} is not the settings' {settings.label()!r}"
        )
    collector = Cp2kHighEnergyMaker(name=f"cp2k statics {material_id}", settings=settings).make(
        frames_output, material_id, key, relaxation
    )
    collector.config.on_missing_references = OnMissing.NONE
    _tag(collector, material_id, "cp2k statics")
    return collector


def _make(maker: Any, *args: Any) -> Job:
    """``maker.make(*args)`` (atomate2's VASP job decorator hides the type from mypy)."""
    job: Job = maker.make(*args)
    return job


def _tag(job: Job, material_id: str, step: str, **extra: Any) -> None:
    job.metadata.update(
        {"softbench": {"task": TASK, "material_id": material_id, "step": step, **extra}}
    )
