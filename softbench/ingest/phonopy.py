"""phonopy yaml (``.yaml`` or ``.yaml.xz``) with displacement forces."""

from __future__ import annotations

import lzma
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from softbench.ingest.base import ReferenceFormatError, SourceItem
from softbench.schemas.configuration import Configuration

PATTERNS = ("phonopy.yaml", "phonopy.yaml.xz", "phonopy_disp.yaml", "phonopy_disp.yaml.xz")


def is_phonopy_file(path: Path) -> bool:
    """Whether a path looks like a phonopy yaml."""
    return path.is_file() and path.name.endswith((".yaml", ".yml", ".yaml.xz", ".yml.xz"))


def discover(path: Path) -> list[SourceItem]:
    """A yaml file, or a directory of ``<material_id>/phonopy.yaml[.xz]``."""
    if path.is_file():
        mid = path.parent.name if path.name.startswith("phonopy") else path.name.split(".")[0]
        return [SourceItem(mid, str(path), "phonopy")]
    items = []
    for sub in sorted(p for p in path.iterdir() if p.is_dir()):
        for name in PATTERNS:
            if (sub / name).exists():
                items.append(SourceItem(sub.name, str(sub / name), "phonopy"))
                break
    for name in PATTERNS:
        if (path / name).exists():
            items.append(SourceItem(path.name, str(path / name), "phonopy"))
            break
    return items


def load_phonopy(path: str | Path) -> Any:
    """``phonopy.load`` that also reads xz-compressed yaml; clear error on failure."""
    import phonopy

    path = Path(path)
    compressed = path.suffix == ".xz"
    try:
        raw = path.read_bytes()
        text = lzma.decompress(raw) if compressed else raw
    except (OSError, lzma.LZMAError) as exc:
        raise ReferenceFormatError(
            f"cannot read phonopy yaml {path}: {type(exc).__name__}: {exc}"
        ) from exc
    if not text.strip():
        empty = "decompresses to nothing" if compressed and raw else "is empty"
        raise ReferenceFormatError(f"cannot read phonopy yaml {path}: the file {empty}")
    try:
        if compressed:
            with tempfile.TemporaryDirectory() as tmp:
                plain = Path(tmp) / path.name.removesuffix(".xz")
                plain.write_bytes(text)
                return phonopy.load(str(plain), produce_fc=False, log_level=0)
        return phonopy.load(str(path), produce_fc=False, log_level=0)
    except Exception as exc:
        raise ReferenceFormatError(
            f"cannot read phonopy yaml {path}: {type(exc).__name__}: {exc}"
        ) from exc


def read(item: SourceItem) -> tuple[list[Configuration], dict[str, Any], str | None]:
    """Displaced supercells with forces; (configurations, settings, unusable reason)."""
    from pymatgen.io.phonopy import get_pmg_structure

    ph = load_phonopy(item.path)
    settings = {
        "supercell_matrix": np.asarray(ph.supercell_matrix).tolist(),
        "primitive_matrix": None
        if ph.primitive_matrix is None
        else np.asarray(ph.primitive_matrix).tolist(),
        "calculator": ph.calculator,
        "phonopy_version": ph.version,
    }
    dataset = ph.dataset
    if not dataset or not (dataset.get("first_atoms") or "displacements" in dataset):
        return [], settings, f"phonopy yaml {item.path} has no displacement dataset"
    supercells = ph.supercells_with_displacements
    forces = ph.forces
    if forces is None:
        return [], settings, f"phonopy yaml {item.path} stores no displacement forces"
    amplitudes = _amplitudes(dataset)
    if amplitudes:
        settings["displacement_amplitude_angstrom"] = float(max(amplitudes))
    confs = []
    for i, (cell, frc) in enumerate(zip(supercells, forces, strict=True)):
        structure = get_pmg_structure(cell)
        confs.append(
            Configuration.from_structure(
                structure,
                f"disp-{i + 1:03d}",
                forces=frc,
                metadata={"displacement_index": i},
            )
        )
    return confs, settings, None


def _amplitudes(dataset: dict[str, Any]) -> list[float]:
    if "first_atoms" in dataset:
        return [float(np.linalg.norm(d["displacement"])) for d in dataset["first_atoms"]]
    disps = np.asarray(dataset.get("displacements", []))
    return [float(x) for x in np.linalg.norm(disps, axis=-1).max(axis=-1)] if disps.size else []
