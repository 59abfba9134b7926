"""Reference data ingestion: files and folders in, reference task documents out.

Formats: ``phonopy`` (yaml with displacement forces), ``extxyz``, ``wbm-json`` (the
"WBM high energy states" layout) and ``vasp`` (every ionic step of vasprun.xml).
"""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path
from types import ModuleType
from typing import Any

from softbench.ingest import extxyz, phonopy, vasp, wbm
from softbench.ingest.base import (
    ReferenceFormatError,
    SourceItem,
    file_checksum,
    finalize,
    pick_materials,
    unusable,
)
from softbench.schemas.reference import ReferenceTaskDocument

FORMATS: dict[str, ModuleType] = {
    "phonopy": phonopy,
    "extxyz": extxyz,
    "wbm-json": wbm,
    "vasp": vasp,
}

__all__ = [
    "FORMATS",
    "ReferenceFormatError",
    "SourceItem",
    "check_readable",
    "default_label",
    "detect_format",
    "discover",
    "read_reference",
]


def detect_format(path: Path) -> str:
    """Guess the format of a reference file or folder."""
    name = path.name
    if path.is_file():
        if name.startswith("vasprun.xml"):
            return "vasp"
        if name.endswith(extxyz.SUFFIXES):
            return "extxyz"
        if name.endswith((".json", ".json.gz", ".json.bz2", ".json.xz")):
            return "wbm-json"
        if phonopy.is_phonopy_file(path):
            return "phonopy"
    elif path.is_dir():
        if phonopy.discover(path):
            return "phonopy"
        if vasp.find_vaspruns(path):
            return "vasp"
        if any(p.name.endswith(extxyz.SUFFIXES) for p in path.rglob("*")):
            return "extxyz"
    raise ReferenceFormatError(
        f"cannot tell the reference format of {path}; pass --format ({', '.join(FORMATS)})"
    )


def discover(
    path: str | Path, fmt: str | None = None, materials: list[str] | None = None
) -> list[SourceItem]:
    """List the materials a reference source holds (optionally a subset)."""
    path = Path(path).expanduser()
    if not path.exists():
        raise ReferenceFormatError(f"reference path {path} does not exist")
    fmt = fmt or detect_format(path)
    if fmt not in FORMATS:
        raise ReferenceFormatError(f"unknown format {fmt!r}; known: {', '.join(FORMATS)}")
    items = FORMATS[fmt].discover(path)
    if not items:
        raise ReferenceFormatError(f"no {fmt} reference data found in {path}")
    if materials:
        items = pick_materials({item.material_id: item for item in items}, materials, path)
    return items


def check_readable(source: str | Path, items: list[SourceItem], skip: Collection[str] = ()) -> None:
    """A reference given as one file must be readable; raise ReferenceFormatError if not.

    The error names the file and the cause (empty or truncated file, not the
    format, ...), so the command line exits with status 2 instead of storing a
    failed document. Inside a folder of many materials an unreadable file stays
    that material's problem (an 'unusable' document; the others go on), so
    folders are not checked here. ``skip``: material ids whose reference is reused
    from the store (read successfully before from identical bytes).
    """
    path = Path(source).expanduser()
    if not path.is_file():
        return
    for item in items:
        if item.material_id not in skip:
            FORMATS[item.fmt].read(item)


def default_label(path: str | Path, fmt: str) -> str:
    """A label naming the reference method, e.g. ``phonopy:phonons-pbe``."""
    path = Path(path).expanduser().resolve()
    name = path.name.split(".")[0] if path.is_file() else path.name
    return f"{fmt}:{name}"


def known_dataset_settings(path: str | Path) -> dict[str, Any]:
    """DFT settings of a registered data set the path belongs to (else empty)."""
    from softbench.shared_data import registry

    parts = Path(path).expanduser().resolve().parts
    for name, info in registry().items():
        if name in parts:
            return {
                **info.get("dft_settings", {}),
                "dataset": name,
                "citation": info.get("citation"),
            }
    return {}


def read_reference(
    item: SourceItem,
    task: str,
    label: str,
    settings: dict[str, Any] | None = None,
) -> ReferenceTaskDocument:
    """Read one material; unreadable or force-less data gives an 'unusable' doc."""
    module = FORMATS[item.fmt]
    source = item.path + (f"#{item.key}" if item.key else "")
    try:
        confs, file_settings, reason = module.read(item)
    except ReferenceFormatError as exc:
        return unusable(item, task, label, str(exc))
    doc = ReferenceTaskDocument(
        task=task,
        material_id=item.material_id,
        reference=label,
        source=source,
        source_checksum=file_checksum(item.path),
        dft_settings={**file_settings, **(settings or {})},
    )
    if reason:
        doc.state = "unusable"
        doc.reason = reason
    return finalize(doc, confs)
