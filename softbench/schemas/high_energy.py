"""Documents of the high-energy-state task: MD sampling settings, frames, reference.

The paper's protocol: NVT MD at 1000 K with a uMLIP, ten frames evenly spaced over
the production part of the run, four of them strained by +3 % / -3 % along all
three lattice vectors, then a DFT static per frame.
"""

from __future__ import annotations

import hashlib
import json
import math
from typing import Any, Literal

from pydantic import BaseModel, Field, model_validator
from pymatgen.core import Structure

from softbench.schemas.base import HIGH_ENERGY_FRAMES, MakerSettings, TaskDocument
from softbench.schemas.configuration import structure_hash
from softbench.schemas.reference import ReferenceTaskDocument

TASK = "high-energy"
VASP_RELAX = "vasp:MPRelaxSet"  # HighEnergySampling.relaxed_with of the VASP relaxation


class HighEnergySampling(MakerSettings):
    """How frames are sampled: MD settings, frame count, strain, seed."""

    md_model: str = Field("chgnet-0.3.0", description="registry model that drives the MD")
    temperature: float = Field(1000.0, description="K")
    n_steps: int = Field(10000, description="MD steps (default 20 ps at 2 fs)")
    time_step: float = Field(2.0, description="fs")
    n_frames: int = 10
    equilibration: float = Field(
        0.2, description="fraction of the run discarded before frames are taken"
    )
    n_strained: int = Field(4, description="frames strained (half +strain, half -strain)")
    strain: float = Field(0.03, description="fractional strain of all three lattice vectors")
    seed: int = Field(0, description="seeds the initial velocities and the strained frames")
    relax: bool = Field(
        True, description="start from a DFT relaxation (cell and ions) by ``relaxed_with``"
    )
    relaxed_with: str = Field(
        VASP_RELAX,
        description="what relaxes the start when ``relax``: VASP MPRelaxSet (vasp:MPRelaxSet) "
        "or CP2K with the settings of a CP2K label (cp2k:...); ignored without ``relax``",
    )

    @model_validator(mode="after")
    def _check(self) -> HighEnergySampling:
        if self.n_frames < 1 or not 0 <= self.n_strained <= self.n_frames:
            raise ValueError(f"need 1 <= n_frames and 0 <= n_strained <= n_frames, got {self}")
        if not 0 <= self.equilibration < 1:
            raise ValueError(f"equilibration must be in [0, 1), got {self.equilibration}")
        if not 0 <= self.strain < 1:
            raise ValueError(f"strain must be in [0, 1), got {self.strain}")
        if self.relaxed_with != VASP_RELAX and not self.relaxed_with.startswith("cp2k:"):
            raise ValueError(
                f"relaxed_with must be {VASP_RELAX!r} or a CP2K label (cp2k:...), "
                f"got {self.relaxed_with!r}"
            )
        if self.n_steps * (1 - self.equilibration) < self.n_frames:
            raise ValueError(
                f"{self.n_steps} MD steps leave fewer production steps than the "
                f"{self.n_frames} frames to sample"
            )
        return self

    @property
    def frame_interval(self) -> int:
        """MD steps between sampled frames (also the trajectory storage interval)."""
        return int(self.n_steps * (1 - self.equilibration)) // self.n_frames

    def frame_steps(self) -> list[int]:
        """MD steps of the frames: the last ``n_frames`` multiples of the interval.

        The production part (after ``equilibration``) is cut into ``n_frames`` equal
        intervals and a frame is taken at the end of each; the first frame always
        lies after the equilibration part.
        """
        interval = self.frame_interval
        last = self.n_steps // interval
        return [(last - self.n_frames + 1 + k) * interval for k in range(self.n_frames)]

    def describe(self) -> str:
        """One line for logs and the reference's ``source``."""
        ps = self.n_steps * self.time_step / 1000
        start = "input"
        if self.relax and self.relaxed_with == VASP_RELAX:
            start = "VASP MPRelaxSet-relaxed"
        elif self.relax:
            start = f"CP2K-relaxed ({self.relaxed_with})"
        return (
            f"{self.md_model} NVT MD at {self.temperature:g} K from the {start} structure, "
            f"{self.n_steps} x {self.time_step:g} fs ({ps:g} ps), {self.n_frames} frames, "
            f"{self.n_strained} strained by +/-{100 * self.strain:g}%, seed {self.seed}"
        )

    def key(self, structure: Structure) -> str:
        """Digest of these settings and the starting structure (reuse key).

        ``relaxed_with`` enters only where it is not the VASP relaxation and ``relax``
        is on: keys of VASP-relaxed and unrelaxed samplings are those written before the
        field existed, and a CP2K-relaxed start has a key of its own per CP2K label.
        """
        data = self.model_dump(mode="json")
        if not self.relax or self.relaxed_with == VASP_RELAX:
            del data["relaxed_with"]
        payload = json.dumps(data, sort_keys=True)
        digest = hashlib.sha256(payload.encode())
        digest.update(structure_hash(structure).encode())
        return digest.hexdigest()


class SampledFrame(BaseModel):
    """One sampled MD frame (strained where ``strain`` is not 0)."""

    configuration_id: str
    md_step: int
    time_fs: float
    strain: float = 0.0
    md_energy: float | None = Field(
        None, description="MD model's energy of the unstrained frame, eV"
    )
    structure: Structure

    def label_metadata(self, md_model: str) -> dict[str, Any]:
        """Where a DFT-labelled configuration of this frame came from."""
        return {
            "md_step": self.md_step,
            "time_fs": self.time_fs,
            "strain": self.strain,
            "md_model": md_model,
            "md_energy": self.md_energy,
        }


class HighEnergyFramesDocument(TaskDocument):
    """The frames sampled for one material (output of the frame-sampling job)."""

    doc_type: Literal["high_energy_frames"] = HIGH_ENERGY_FRAMES
    task: str = TASK
    reference: str | None = Field(  # type: ignore[assignment]
        None, description="none: frames are sampled before any reference exists"
    )
    sampling: HighEnergySampling
    sampling_key: str
    frames: list[SampledFrame] = Field(default_factory=list)

    def strained_ids(self) -> dict[str, float]:
        """Configuration id -> strain of the strained frames."""
        return {f.configuration_id: f.strain for f in self.frames if not math.isclose(f.strain, 0)}


class HighEnergyReferenceDocument(ReferenceTaskDocument):
    """DFT reference of the sampled frames; pairs like any reference document.

    ``source_checksum`` holds the sampling key, which reruns match on.
    """

    task: str = TASK
    sampling: HighEnergySampling | None = None
    sampling_key: str | None = None
    dft_dirs: dict[str, str] = Field(
        default_factory=dict, description="configuration id -> VASP run directory"
    )
