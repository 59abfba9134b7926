"""DFT labels for fine-tuning: reading, the train/validation split, CHGNet datasets."""

from __future__ import annotations

import random
from collections.abc import Sequence
from contextlib import redirect_stdout
from dataclasses import dataclass, field
from io import StringIO
from pathlib import Path
from typing import Any

import numpy as np
from ase import units

GPA_TO_EV_A3 = units.GPa  # eV/Å³ per GPa
VAL_FRACTION = 0.1
MIN_LABELS = 2  # one to train on, one to validate on


class FinetuneError(ValueError):
    """An input problem of a fine-tune (too few labels, bad name, unknown base)."""


@dataclass
class Labels:
    """DFT-labelled structures: per-atom energies (eV/atom), forces, ASE stresses."""

    structures: list[Any]
    energies_per_atom: list[float]
    forces: list[np.ndarray]
    stresses: list[np.ndarray] | None  # eV/Å³, ASE sign (tensile > 0); None if any lacks one
    source: str = ""
    source_checksum: str | None = None
    ids: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.structures)


def read_labels(source: str | Path, fmt: str | None = None) -> Labels:
    """Every configuration with energy and forces from a reference the forces task reads."""
    from softbench.ingest import discover, read_reference
    from softbench.ingest.base import file_checksum

    items = discover(source, fmt)
    structures, energies, forces, stresses, ids = [], [], [], [], []
    for item in items:
        doc = read_reference(item, "finetune", f"finetune:{Path(source).name}")
        for conf in doc.configurations:
            if conf.energy is None or conf.arrays.forces is None:
                continue
            structures.append(conf.structure)
            energies.append(float(conf.energy) / conf.n_atoms)
            forces.append(np.asarray(conf.arrays.forces, float))
            stresses.append(
                None if conf.arrays.stress is None else np.asarray(conf.arrays.stress, float)
            )
            ids.append(f"{item.material_id}/{conf.configuration_id}")
    has_stress = bool(stresses) and all(s is not None for s in stresses)
    return Labels(
        structures,
        energies,
        forces,
        [s for s in stresses if s is not None] if has_stress else None,
        source=str(source),
        source_checksum=file_checksum(Path(source).expanduser()),
        ids=ids,
    )


def split(n: int, seed: int = 0) -> tuple[list[int], list[int]]:
    """Seeded 9:1 train/validation indices (at least one validation structure)."""
    if n < MIN_LABELS:
        raise FinetuneError(
            f"fine-tuning needs at least {MIN_LABELS} configurations with energy and "
            f"forces (one to train on, one to validate on); got {n}"
        )
    order = list(range(n))
    random.Random(seed).shuffle(order)
    n_val = max(1, round(VAL_FRACTION * n))
    return sorted(order[n_val:]), sorted(order[:n_val])


def _dataset(labels: Labels, indices: Sequence[int]) -> Any:
    """A CHGNet StructureData of some labels (stress in CHGNet's VASP convention)."""
    from chgnet.data.dataset import StructureData

    stresses: list[Any] | None = None
    if labels.stresses is not None:
        # StructureData multiplies by -0.1 (VASP kBar -> GPa, sign to CHGNet's = ASE's)
        stresses = [((-10 / GPA_TO_EV_A3) * labels.stresses[i]).tolist() for i in indices]
    with redirect_stdout(StringIO()):
        return StructureData(
            structures=[labels.structures[i] for i in indices],
            energies=[labels.energies_per_atom[i] for i in indices],
            forces=[labels.forces[i].tolist() for i in indices],
            stresses=stresses,
            structure_ids=[labels.ids[i] if labels.ids else i for i in indices],
            shuffle=False,
        )


def _loader(dataset: Any, batch_size: int, shuffle: bool, seed: int) -> Any:
    import torch
    from chgnet.data.dataset import collate_graphs
    from torch.utils.data import DataLoader

    generator = torch.Generator().manual_seed(seed)
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=shuffle,
        collate_fn=collate_graphs,
        generator=generator,
    )
