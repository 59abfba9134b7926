"""Extended XYZ files with energies and forces (one or many materials per file)."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from softbench.ingest.base import ReferenceFormatError, SourceItem
from softbench.schemas.configuration import Configuration

SUFFIXES = (".xyz", ".extxyz", ".xyz.gz", ".extxyz.gz")
FORCE_KEYS = ("forces", "REF_forces", "dft_forces")
ENERGY_KEYS = ("energy", "REF_energy", "dft_energy")
ID_KEYS = ("configuration_id", "config_id", "frame_id")


def _read_all(path: Path) -> list[Any]:
    from ase.io import read

    try:
        frames = read(str(path), index=":", format="extxyz")
    except Exception as exc:
        raise ReferenceFormatError(
            f"cannot parse extxyz file {path}: {type(exc).__name__}: {exc}"
        ) from exc
    frames = frames if isinstance(frames, list) else [frames]
    if not frames:
        raise ReferenceFormatError(f"extxyz file {path} holds no frames")
    return frames


def discover(path: Path) -> list[SourceItem]:
    """Group the frames of each file by ``info['material_id']`` (default: file stem)."""
    files = (
        [path]
        if path.is_file()
        else sorted(p for p in path.rglob("*") if p.name.endswith(SUFFIXES))
    )
    items = []
    for file in files:
        stem = file.name.split(".")[0]
        ids = sorted({str(a.info.get("material_id", stem)) for a in _read_all(file)})
        for mid in ids:
            items.append(SourceItem(mid, str(file), "extxyz", key=mid))
    return items


def read(item: SourceItem) -> tuple[list[Configuration], dict[str, Any], str | None]:
    """Configurations of one material from the file."""
    from pymatgen.io.ase import AseAtomsAdaptor

    stem = Path(item.path).name.split(".")[0]
    counter: dict[str, int] = defaultdict(int)
    confs = []
    for index, atoms in enumerate(_read_all(Path(item.path))):
        if str(atoms.info.get("material_id", stem)) != item.key:
            continue
        counter[item.material_id] += 1
        conf_id = next((str(atoms.info[k]) for k in ID_KEYS if k in atoms.info), None)
        forces, energy = _labels(atoms)
        stress = _stress(atoms)
        structure = AseAtomsAdaptor.get_structure(atoms)
        confs.append(
            Configuration.from_structure(
                structure,
                conf_id or f"frame-{index:04d}",
                energy=energy,
                forces=forces,
                stress=stress,
                metadata={"frame_index": index},
            )
        )
    return confs, {"format": "extxyz"}, None


def _stress(atoms: Any) -> np.ndarray | None:
    """The frame's stress (ASE: eV/Å³, tensile > 0) as 3x3, if it has one."""
    stress = getattr(atoms.calc, "results", {}).get("stress") if atoms.calc else None
    if stress is None:
        return None
    arr = np.asarray(stress, float)
    if arr.shape == (6,):
        from ase.stress import voigt_6_to_full_3x3_stress

        arr = voigt_6_to_full_3x3_stress(arr)
    return arr if arr.shape == (3, 3) and np.isfinite(arr).all() else None


def _labels(atoms: Any) -> tuple[np.ndarray | None, float | None]:
    forces = energy = None
    if atoms.calc is not None:
        results = getattr(atoms.calc, "results", {})
        forces = results.get("forces")
        energy = results.get("energy", results.get("free_energy"))
    for key in FORCE_KEYS:
        if forces is None and key in atoms.arrays:
            forces = atoms.arrays[key]
    for key in ENERGY_KEYS:
        if energy is None and key in atoms.info:
            energy = float(atoms.info[key])
    return (None if forces is None else np.asarray(forces, float)), energy
