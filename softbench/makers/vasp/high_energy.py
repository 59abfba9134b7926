"""VASP side of the high-energy benchmark: MP relax/static makers and the reference.

pymatgen ``MPRelaxSet`` relaxation and ``MPStaticSet`` statics (atomate2 VASP
makers), and :class:`HighEnergyReferenceMaker`, which turns the sampled frames
(:mod:`softbench.makers.high_energy`) and their VASP task documents into one
``HighEnergyReferenceDocument`` per material.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from jobflow import Maker, job
from pymatgen.core import Structure

from softbench.ingest.vasp import KBAR_TO_EV_A3, dft_settings
from softbench.makers.high_energy import structure_from
from softbench.schemas.configuration import ARRAYS_KEY, Configuration
from softbench.schemas.high_energy import HighEnergyFramesDocument, HighEnergyReferenceDocument

if TYPE_CHECKING:
    from atomate2.vasp.jobs.core import RelaxMaker, StaticMaker

REFERENCE_LABEL = "vasp:MPStaticSet"
GEOMETRY_TOLERANCE = 1e-3  # Å: VASP structure vs sampled frame


def relax_maker(material_id: str) -> RelaxMaker:
    """VASP relaxation with MP settings (pymatgen ``MPRelaxSet``)."""
    from atomate2.vasp.jobs.core import RelaxMaker
    from pymatgen.io.vasp.sets import MPRelaxSet

    generator: Any = MPRelaxSet()
    return RelaxMaker(name=f"dft relax {material_id}", input_set_generator=generator)


def static_maker(material_id: str, configuration_id: str) -> StaticMaker:
    """VASP static with MP settings (pymatgen ``MPStaticSet``).

    Unconverged runs still return their task document (``handle_unsuccessful=False``)
    so the reference job can exclude the frame and say why.
    """
    from atomate2.vasp.jobs.core import StaticMaker
    from pymatgen.io.vasp.sets import MPStaticSet

    generator: Any = MPStaticSet()
    return StaticMaker(
        name=f"dft static {material_id} {configuration_id}",
        input_set_generator=generator,
        stop_children_kwargs={"handle_unsuccessful": False},
    )


@dataclass
class HighEnergyReferenceMaker(Maker):
    """Turn the frames and their VASP task documents into one reference document.

    Frames whose VASP run is missing, failed or did not converge electronically,
    or whose VASP structure has other atoms than the frame, are excluded with the
    reason. A VASP structure that differs from its frame by more than
    ``geometry_tolerance`` is kept (forces and geometry are the VASP run's) and
    reported in ``warnings``.
    """

    name: str = "high-energy reference"
    label: str = REFERENCE_LABEL
    expected_functional: str = "PBE"
    geometry_tolerance: float = GEOMETRY_TOLERANCE

    @job(data=ARRAYS_KEY)
    def make(
        self,
        frames: HighEnergyFramesDocument | dict[str, Any] | None,
        statics: Sequence[Any],
        material_id: str,
        sampling_key: str | None = None,
    ) -> HighEnergyReferenceDocument:
        """One reference document (``statics[i]`` is frame i's TaskDoc or None)."""
        return collect_reference(
            frames,
            statics,
            material_id,
            self.label,
            sampling_key,
            self.expected_functional,
            self.geometry_tolerance,
        )


def collect_reference(
    frames: HighEnergyFramesDocument | dict[str, Any] | None,
    statics: Sequence[Any],
    material_id: str,
    label: str = REFERENCE_LABEL,
    sampling_key: str | None = None,
    expected_functional: str = "PBE",
    geometry_tolerance: float = GEOMETRY_TOLERANCE,
) -> HighEnergyReferenceDocument:
    """The work of :class:`HighEnergyReferenceMaker`, callable without jobflow."""
    from softbench.ingest.base import finalize

    doc = HighEnergyReferenceDocument(
        material_id=material_id,
        reference=label,
        source="atomate2 VASP StaticMaker(MPStaticSet) on sampled MD frames",
        sampling_key=sampling_key,
    )
    if frames is None:
        return doc.with_failure(
            "no sampled frames: an upstream job (VASP relaxation, MD or frame "
            "sampling) failed; see the run log",
            state="unusable",
        )
    frames = HighEnergyFramesDocument.coerce(frames)
    doc.sampling, doc.sampling_key = frames.sampling, frames.sampling_key
    doc.source_checksum = frames.sampling_key
    doc.source = f"atomate2 VASP StaticMaker(MPStaticSet) on frames of {frames.sampling.describe()}"
    doc.formula = frames.formula
    if len(statics) != len(frames.frames):
        raise ValueError(f"{len(statics)} VASP results for {len(frames.frames)} frames")
    confs = []
    settings: dict[str, Any] | None = None
    for frame, task_doc in zip(frames.frames, statics, strict=True):
        cid = frame.configuration_id
        if task_doc is None:
            doc.excluded_configurations[cid] = (
                "VASP static failed or gave no output (see the run log)"
            )
            continue
        task = _as_dict(task_doc)
        problem = run_problem(task)
        if problem:
            doc.excluded_configurations[cid] = problem
            continue
        structure = structure_from(task["output"]["structure"])
        mismatch = atoms_mismatch(frame.structure, structure)
        if mismatch:
            doc.excluded_configurations[cid] = mismatch
            continue
        lattice_diff, site_diff = geometry_difference(frame.structure, structure)
        if max(lattice_diff, site_diff) > geometry_tolerance:
            doc.warnings.append(
                f"{cid}: the VASP structure differs from the sampled frame by up to "
                f"{site_diff:.3g} Å in positions and {lattice_diff:.3g} Å in lattice vectors "
                "(forces and geometry stored are the VASP run's)"
            )
        run_settings = _settings(task)
        if settings is None:
            settings = run_settings
        elif run_settings != settings:
            changed = sorted(
                k
                for k in settings.keys() | run_settings.keys()
                if settings.get(k) != run_settings.get(k)
            )
            doc.warnings.append(f"{cid}: DFT settings differ from the first frame's: {changed}")
        stress = task["output"].get("stress")
        confs.append(
            Configuration.from_structure(
                structure,
                cid,
                energy=task["output"].get("energy"),
                forces=task["output"].get("forces"),
                stress=None if stress is None else -np.asarray(stress) * KBAR_TO_EV_A3,
                metadata=frame.label_metadata(frames.sampling.md_model),
            )
        )
        if task.get("dir_name"):
            doc.dft_dirs[cid] = str(task["dir_name"])
    if settings is not None:
        doc.dft_settings = {
            **settings,
            "input_set": "MPStaticSet",
            "relax_input_set": "MPRelaxSet" if frames.sampling.relax else None,
            "workflow": "atomate2 StaticMaker",
        }
        if settings.get("functional") != expected_functional:
            doc.warnings.append(
                f"the VASP runs used {settings.get('functional')}, not the "
                f"{expected_functional} of MPStaticSet"
            )
    return finalize(doc, confs)  # type: ignore[return-value]


def run_problem(task: dict[str, Any]) -> str | None:
    """Why a VASP task document cannot be used (failed, unconverged), or None."""
    calcs = task.get("calcs_reversed") or []
    if not calcs:
        return "VASP task document holds no calculation"
    calc = calcs[0]
    nelm = (calc.get("input") or {}).get("parameters", {}).get("NELM")
    ionic = (calc.get("output") or {}).get("ionic_steps") or []
    n_elec = len(ionic[-1].get("electronic_steps") or []) if ionic else 0
    if nelm and n_elec >= int(nelm):
        return f"electronic SCF not converged ({n_elec} steps = NELM)"
    state = task.get("state")
    if getattr(state, "value", state) != "successful":
        errors = (task.get("analysis") or {}).get("errors") or []
        detail = "; ".join(errors) or f"has_vasp_completed={calc.get('has_vasp_completed')}"
        return f"VASP run not successful: {detail}"
    if not task.get("output", {}).get("forces"):
        return "VASP output has no forces"
    return None


def atoms_mismatch(frame: Structure, vasp: Structure) -> str | None:
    """Why the VASP structure is not the frame's atoms (count, species order), or None."""
    if len(frame) != len(vasp):
        return f"VASP structure has {len(vasp)} atoms, the sampled frame {len(frame)}"
    if [s.specie.symbol for s in frame] != [s.specie.symbol for s in vasp]:
        return "VASP structure has other species (or order) than the sampled frame"
    return None


def geometry_difference(frame: Structure, vasp: Structure) -> tuple[float, float]:
    """(largest lattice-vector component difference, largest PBC site distance), Å."""
    lattice = float(np.abs(frame.lattice.matrix - vasp.lattice.matrix).max())
    delta = vasp.frac_coords - frame.frac_coords
    delta -= np.round(delta)
    sites = float(np.linalg.norm(delta @ frame.lattice.matrix, axis=1).max())
    return lattice, sites


def _as_dict(task_doc: Any) -> dict[str, Any]:
    if isinstance(task_doc, dict):
        return task_doc
    return task_doc.model_dump(mode="python")


def _settings(task: dict[str, Any]) -> dict[str, Any]:
    calc = task["calcs_reversed"][0]
    parameters = (calc.get("input") or {}).get("parameters") or {}
    incar = (task.get("input") or {}).get("incar") or {}
    potcars = (task.get("input") or {}).get("potcar") or None
    return dft_settings(parameters, incar, list(potcars) if potcars else None)


__all__ = [
    "GEOMETRY_TOLERANCE",
    "REFERENCE_LABEL",
    "HighEnergyReferenceMaker",
    "atoms_mismatch",
    "collect_reference",
    "geometry_difference",
    "relax_maker",
    "run_problem",
    "static_maker",
]
