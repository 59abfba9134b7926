"""High-energy states: uMLIP NVT MD, frame sampling with strain, VASP statics, reference.

Per material: (optional VASP ``RelaxMaker(MPRelaxSet)``) -> :class:`HighEnergyMDMaker`
(atomate2 ``ForceFieldMDMaker`` driven by a registry model) ->
:class:`HighEnergyFramesMaker` (frames + strain) -> one VASP ``StaticMaker(MPStaticSet)``
per frame -> :class:`HighEnergyReferenceMaker` (one reference document). The model
side is the force-parity job (:func:`softbench.workflows.forces.model_job`).
"""

from __future__ import annotations

import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from ase.calculators.calculator import Calculator, all_changes
from atomate2.forcefields.md import ForceFieldMDMaker
from emmet.core.types.enums import StoreTrajectoryOption
from jobflow import Maker, job
from pymatgen.core import Lattice, Structure

from softbench.ingest.vasp import KBAR_TO_EV_A3, dft_settings
from softbench.models.calculator import ATOMATE2_CALCULATOR
from softbench.schemas.configuration import ARRAYS_KEY, Configuration
from softbench.schemas.high_energy import (
    TASK,
    HighEnergyFramesDocument,
    HighEnergyReferenceDocument,
    HighEnergySampling,
    SampledFrame,
)

if TYPE_CHECKING:
    from atomate2.vasp.jobs.core import RelaxMaker, StaticMaker

REFERENCE_LABEL = "vasp:MPStaticSet"
GEOMETRY_TOLERANCE = 1e-3  # Å: VASP structure vs sampled frame


def frame_id(index: int) -> str:
    """Configuration id of the ``index``-th frame."""
    return f"frame-{index:02d}"


def clean_structure(structure: Structure) -> Structure:
    """Ordered copy without site properties, sorted as VASP input sets sort it.

    Sorting first keeps the site order identical through relax, MD and VASP, so
    each VASP structure can be compared with its frame site by site.
    """
    if not structure.is_ordered:
        raise ValueError("disordered structure (partial occupancies) cannot be simulated")
    plain = Structure(structure.lattice, structure.species, structure.frac_coords)
    return plain.get_sorted_structure()


def strain_structure(structure: Structure, strain: float) -> Structure:
    """Scale all three lattice vectors by ``1 + strain``, keeping fractional coordinates."""
    lattice = Lattice(np.asarray(structure.lattice.matrix) * (1.0 + strain))
    return Structure(lattice, structure.species, structure.frac_coords)


def strain_assignment(n_frames: int, n_strained: int, strain: float, seed: int) -> list[float]:
    """Strain of each frame: ``n_strained`` frames picked by a seeded RNG, half +, half -."""
    picked = np.random.default_rng(seed).choice(n_frames, size=n_strained, replace=False)
    n_plus = math.ceil(n_strained / 2)
    strains = [0.0] * n_frames
    for rank, index in enumerate(picked):
        strains[int(index)] = strain if rank < n_plus else -strain
    return strains


def sample_frames(
    trajectory: Sequence[Structure],
    sampling: HighEnergySampling,
    energies: Sequence[float | None] | None = None,
) -> list[SampledFrame]:
    """Pick and strain the frames from a trajectory stored every ``frame_interval`` steps.

    ``trajectory[i]`` is the structure at MD step ``i * sampling.frame_interval``.
    """
    interval = sampling.frame_interval
    steps = sampling.frame_steps()
    if len(trajectory) <= steps[-1] // interval:
        raise ValueError(
            f"the MD trajectory holds {len(trajectory)} frames (every {interval} steps), "
            f"too few for a frame at step {steps[-1]}: did the MD stop early?"
        )
    strains = strain_assignment(
        sampling.n_frames, sampling.n_strained, sampling.strain, sampling.seed
    )
    frames = []
    for k, (step, strain) in enumerate(zip(steps, strains, strict=True)):
        structure = trajectory[step // interval]
        if not np.isfinite(structure.cart_coords).all():
            raise ValueError(f"non-finite positions at MD step {step}: the MD blew up")
        energy = None if energies is None else energies[step // interval]
        frames.append(
            SampledFrame(
                configuration_id=frame_id(k),
                md_step=step,
                time_fs=step * sampling.time_step,
                strain=strain,
                md_energy=None if energy is None else float(energy),
                structure=strain_structure(structure, strain) if strain else structure.copy(),
            )
        )
    return frames


class ProgressCalculator(Calculator):
    """Delegate to an ASE calculator and advance a progress bar once per new geometry."""

    def __init__(self, inner: Any, total: int, description: str) -> None:
        super().__init__()
        self.inner = inner
        self.implemented_properties = list(inner.implemented_properties)
        self.total, self.description = total, description
        self.bar: Any = None

    def calculate(
        self,
        atoms: Any = None,
        properties: Any = ("energy",),
        system_changes: Any = tuple(all_changes),
    ) -> None:
        """Compute with the wrapped calculator; count a step when the geometry changed."""
        super().calculate(atoms, properties, system_changes)
        for name in properties:
            self.inner.get_property(name, self.atoms)
        self.results = dict(self.inner.results)
        if system_changes:
            self._tick()

    def _tick(self) -> None:
        if self.bar is None:
            from tqdm.auto import tqdm

            self.bar = tqdm(
                total=self.total,
                desc=self.description,
                unit="step",
                mininterval=2.0,
                file=sys.stderr,
            )
        self.bar.update(1)
        if self.bar.n >= self.total:
            self.bar.close()


@dataclass
class HighEnergyMDMaker(ForceFieldMDMaker):
    """atomate2 force-field MD that keeps only the frames sampling needs.

    Only every ``traj_interval``-th step is observed and only structures and
    energies go into ``output.ionic_steps`` (no full trajectory object).
    """

    name: str = "high-energy md"
    force_field_name: str | dict = field(default_factory=lambda: dict(ATOMATE2_CALCULATOR))
    ionic_step_data: tuple[str, ...] | None = ("energy", "mol_or_struct")
    store_trajectory: StoreTrajectoryOption = StoreTrajectoryOption.NO
    show_progress: bool = True

    def _get_calculator(self) -> Calculator:
        calculator = super()._get_calculator()
        if not self.show_progress:
            return calculator
        model = self.calculator_kwargs.get("model", "MD")
        return ProgressCalculator(calculator, self.n_steps + 1, f"{model} MD {self.temperature} K")


def md_maker(
    sampling: HighEnergySampling,
    material_id: str,
    device: str | None = None,
    show_progress: bool = True,
) -> HighEnergyMDMaker:
    """The MD maker of a sampling setting (model, temperature, steps, seed)."""
    kwargs: dict[str, Any] = {"model": sampling.md_model}
    if device:
        kwargs["device"] = device
    return HighEnergyMDMaker(
        name=f"md {sampling.md_model} {material_id}",
        calculator_kwargs=kwargs,
        ensemble="nvt",  # type: ignore[arg-type]  # atomate2 turns it into MDEnsemble
        temperature=sampling.temperature,
        n_steps=sampling.n_steps,
        time_step=sampling.time_step,
        traj_interval=sampling.frame_interval,
        mb_velocity_seed=sampling.seed,
        show_progress=show_progress,
    )


@dataclass
class HighEnergyFramesMaker(Maker):
    """Take the frames from the MD job's ionic steps and strain some of them."""

    name: str = "high-energy frames"
    sampling: HighEnergySampling = field(default_factory=HighEnergySampling)

    @job(data="structure")
    def make(
        self, ionic_steps: list[Any], material_id: str, sampling_key: str
    ) -> HighEnergyFramesDocument:
        """Frames document of one material (``ionic_steps``: the MD ``output.ionic_steps``)."""
        structures, energies = [], []
        for raw in ionic_steps:
            step = raw if isinstance(raw, dict) else raw.model_dump()
            structures.append(_structure(step.get("mol_or_struct") or step.get("structure")))
            energies.append(step.get("energy"))
        frames = sample_frames(structures, self.sampling, energies)
        return HighEnergyFramesDocument(
            material_id=material_id,
            formula=frames[0].structure.composition.reduced_formula,
            sampling=self.sampling,
            sampling_key=sampling_key,
            frames=frames,
        )


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
        doc.state = "unusable"
        doc.reason = (
            "no sampled frames: an upstream job (VASP relaxation, MD or frame "
            "sampling) failed; see the run log"
        )
        return doc
    if isinstance(frames, dict):
        frames = HighEnergyFramesDocument.model_validate(frames)
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
        structure = _structure(task["output"]["structure"])
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
                metadata={
                    "md_step": frame.md_step,
                    "time_fs": frame.time_fs,
                    "strain": frame.strain,
                    "md_model": frames.sampling.md_model,
                    "md_energy": frame.md_energy,
                },
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


def _structure(value: Any) -> Structure:
    return value if isinstance(value, Structure) else Structure.from_dict(value)


def _settings(task: dict[str, Any]) -> dict[str, Any]:
    calc = task["calcs_reversed"][0]
    parameters = (calc.get("input") or {}).get("parameters") or {}
    incar = (task.get("input") or {}).get("incar") or {}
    potcars = (task.get("input") or {}).get("potcar") or None
    return dft_settings(parameters, incar, list(potcars) if potcars else None)


__all__ = [
    "REFERENCE_LABEL",
    "TASK",
    "HighEnergyFramesMaker",
    "HighEnergyMDMaker",
    "HighEnergyReferenceMaker",
    "clean_structure",
    "collect_reference",
    "md_maker",
    "relax_maker",
    "sample_frames",
    "static_maker",
    "strain_assignment",
    "strain_structure",
]
