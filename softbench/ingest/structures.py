"""Input crystal structures (no DFT labels) for tasks that compute their own reference.

Accepted: one structure file (CIF, POSCAR/CONTCAR, ``*.vasp``, pymatgen JSON, ...
anything ``Structure.from_file`` reads), a folder of such files (JSON files in a
folder are not read: pass them directly), a JSON list of
records ``{material_id, structure, ...}`` (the WBM / matcalc layout, structure as a
dict or a Python-repr string), or the name of a registered data set such as
``wbm-equilibrium``.
"""

from __future__ import annotations

import random
import warnings
from collections.abc import Callable
from pathlib import Path

from pymatgen.core import Structure

from softbench.ingest.base import ReferenceFormatError, pick_materials, read_json
from softbench.ingest.wbm import parse_structure

ID_KEYS = ("material_id", "mp_id", "id")
STRUCTURE_SUFFIXES = (".cif", ".mcif", ".vasp", ".poscar", ".xsf", ".cssr", ".res")
COMPRESSED = (".gz", ".bz2", ".xz")


def read_structures(
    source: str | Path,
    materials: list[str] | None = None,
    sample: int | None = None,
    seed: int = 0,
    eligible: Callable[[Structure], bool] | None = None,
) -> dict[str, Structure]:
    """material_id -> Structure; optionally a subset by id or a seeded random sample.

    ``eligible`` narrows what ``sample`` draws from (e.g. materials the DFT method can
    compute); without ``sample``, and for materials named by id, it does nothing (what
    cannot be computed is refused per material, with the reason).
    """
    path = _resolve(source)
    if path.is_dir():
        found = _read_folder(path)
    elif _stripped(path.name).lower().endswith(".json"):
        found = _read_json(path)
    else:
        found = {_file_id(path): _read_file(path)}
    if not found:
        raise ReferenceFormatError(f"no structures found in {path}")
    if materials:
        found = dict(zip(materials, pick_materials(found, materials, path), strict=True))
    if eligible is not None and sample is not None and not materials:
        found = {m: s for m, s in found.items() if eligible(s)}
        if not found:
            raise ReferenceFormatError(f"no structure in {path} is eligible for this run")
    if sample is not None and sample < len(found):
        picked = random.Random(seed).sample(sorted(found), sample)
        found = {m: found[m] for m in sorted(picked)}
    return found


def _resolve(source: str | Path) -> Path:
    path = Path(source).expanduser()
    if path.exists():
        return path
    from softbench.shared_data import dataset_path, registry

    if str(source) in registry():
        folder = dataset_path(str(source))
        files = sorted(p for p in folder.iterdir() if ".json" in p.name)
        if len(files) == 1:
            return files[0]
    raise ReferenceFormatError(f"structure source {source} does not exist")


def _stripped(name: str) -> str:
    for suffix in COMPRESSED:
        name = name.removesuffix(suffix)
    return name


def _read_json(path: Path) -> dict[str, Structure]:
    data = read_json(path)
    if isinstance(data, dict) and data.get("@class") == "Structure":
        return {_file_id(path): parse_structure(data, str(path))}
    if isinstance(data, dict):
        records = [
            {
                "material_id": k,
                **(v if isinstance(v, dict) and "structure" in v else {"structure": v}),
            }
            for k, v in data.items()
        ]
    elif isinstance(data, list):
        records = data
    else:
        raise ReferenceFormatError(f"{path}: expected a list of {{material_id, structure}} records")
    found: dict[str, Structure] = {}
    for i, record in enumerate(records):
        if not isinstance(record, dict) or "structure" not in record:
            raise ReferenceFormatError(f"{path}: record {i} has no 'structure'")
        mid = next((str(record[k]) for k in ID_KEYS if k in record), f"{path.stem}-{i}")
        if mid in found:
            raise ReferenceFormatError(f"{path}: material id {mid} appears twice")
        found[mid] = parse_structure(record["structure"], f"{path} [{mid}]")
    return found


def _is_structure_file(path: Path) -> bool:
    name = _stripped(path.name)
    return name.startswith(("POSCAR", "CONTCAR")) or name.lower().endswith(STRUCTURE_SUFFIXES)


def _read_folder(folder: Path) -> dict[str, Structure]:
    """Structure files below ``folder``; a CONTCAR wins over a POSCAR beside it."""
    paths: dict[str, Path] = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        if path.name.startswith(".") or ".orig" in path.name or not _is_structure_file(path):
            continue
        mid = _file_id(path, folder)
        if mid in paths:
            pair = {paths[mid].name.split(".")[0], path.name.split(".")[0]}
            if pair == {"POSCAR", "CONTCAR"}:
                paths[mid] = path if path.name.startswith("CONTCAR") else paths[mid]
                continue
            raise ReferenceFormatError(
                f"{paths[mid]} and {path} both give material id {mid}; pass one of them"
            )
        paths[mid] = path
    return {mid: _read_file(path) for mid, path in paths.items()}


def _file_id(path: Path, root: Path | None = None) -> str:
    """File stem; for POSCAR/CONTCAR files the folder they sit in."""
    if path.name.startswith(("POSCAR", "CONTCAR")):
        parent = path.parent
        if root is not None and parent != root:
            return str(parent.relative_to(root))
        return parent.name
    return _stripped(path.name).rsplit(".", 1)[0]


def _read_file(path: Path) -> Structure:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            structure = Structure.from_file(path)
    except Exception as exc:
        raise ReferenceFormatError(
            f"cannot read a structure from {path}: {type(exc).__name__}: {exc}"
        ) from exc
    if not isinstance(structure, Structure) or len(structure) == 0:
        raise ReferenceFormatError(f"{path} holds no periodic structure")
    return structure
