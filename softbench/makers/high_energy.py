"""High-energy states, model side: uMLIP NVT MD and frame sampling with strain.

Per material: (optional VASP ``RelaxMaker(MPRelaxSet)``) -> :class:`HighEnergyMDMaker`
(atomate2 ``ForceFieldMDMaker`` driven by a registry model) ->
:class:`HighEnergyFramesMaker` (frames + strain) -> one VASP ``StaticMaker(MPStaticSet)``
per frame -> ``HighEnergyReferenceMaker`` (one reference document). The VASP steps
live in :mod:`softbench.makers.vasp.high_energy`; the model side of the comparison is
the force-parity job (:func:`softbench.workflows.forces.model_job`).
"""

from __future__ import annotations

import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from ase.calculators.calculator import Calculator, all_changes
from atomate2.forcefields.md import ForceFieldMDMaker
from emmet.core.types.enums import StoreTrajectoryOption
from jobflow import Maker, job
from pymatgen.core import Structure

from softbench.models.calculator import ATOMATE2_CALCULATOR
from softbench.schemas.high_energy import (
    TASK,
    HighEnergyFramesDocument,
    HighEnergySampling,
    SampledFrame,
)


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
    """Scale all three lattice vectors by ``1 + strain``, keeping fractional coordinates.

    pymatgen's ``Structure.apply_strain`` on a copy without site properties (the
    model's MD properties, e.g. magnetic moments, do not belong to the strained cell).
    """
    plain = Structure(structure.lattice, structure.species, structure.frac_coords)
    return plain.apply_strain(strain)


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
            structures.append(structure_from(step.get("mol_or_struct") or step.get("structure")))
            energies.append(step.get("energy"))
        frames = sample_frames(structures, self.sampling, energies)
        return HighEnergyFramesDocument(
            material_id=material_id,
            formula=frames[0].structure.composition.reduced_formula,
            sampling=self.sampling,
            sampling_key=sampling_key,
            frames=frames,
        )


def structure_from(value: Any) -> Structure:
    """A Structure from a Structure or its dict (job outputs come as either)."""
    return value if isinstance(value, Structure) else Structure.from_dict(value)


__all__ = [
    "TASK",
    "HighEnergyFramesMaker",
    "HighEnergyMDMaker",
    "clean_structure",
    "frame_id",
    "md_maker",
    "sample_frames",
    "strain_assignment",
    "strain_structure",
    "structure_from",
]
