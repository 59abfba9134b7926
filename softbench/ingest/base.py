"""Common pieces of reference ingestion: source items, checksums, validation."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
from monty.io import zopen

from softbench.schemas.configuration import Configuration
from softbench.schemas.reference import ReferenceTaskDocument

T = TypeVar("T")


class ReferenceFormatError(ValueError):
    """A reference file that cannot be read; the message names file and problem.

    The message is one line (the command line prints it as its one error line), so
    multi-line parser messages quoted in it are folded.
    """

    def __str__(self) -> str:
        return " ".join(line.strip() for line in super().__str__().splitlines() if line.strip())


@dataclass(frozen=True)
class SourceItem:
    """One material's reference data inside a file or directory."""

    material_id: str
    path: str
    fmt: str
    key: str | None = None  # e.g. the material key inside a multi-material JSON
    extra: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)


def read_json(path: str | Path) -> Any:
    """A JSON file (optionally compressed); anything unreadable is a ReferenceFormatError."""
    try:
        with zopen(path, "rt") as handle:
            return json.load(handle)
    except Exception as exc:
        raise ReferenceFormatError(
            f"cannot parse JSON {path}: {type(exc).__name__}: {exc}"
        ) from exc


def pick_materials(found: Mapping[str, T], materials: Sequence[str], path: str | Path) -> list[T]:
    """The entries of the given material ids, in that order; unknown ids are an error."""
    missing = [m for m in materials if m not in found]
    if missing:
        raise ReferenceFormatError(
            f"material(s) {', '.join(missing)} not in {path} "
            f"({len(found)} materials there, e.g. {', '.join(list(found)[:5])})"
        )
    return [found[m] for m in materials]


def file_checksum(path: str | Path) -> str:
    """SHA-256 of a file, or of all files (names and bytes) below a directory."""
    path = Path(path)
    digest = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for file in files:
        digest.update(str(file.relative_to(path) if path.is_dir() else file.name).encode())
        with file.open("rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()


def finalize(
    doc: ReferenceTaskDocument, configurations: list[Configuration]
) -> ReferenceTaskDocument:
    """Drop configurations without usable forces; mark the doc unusable if none remain."""
    kept = []
    for conf in configurations:
        problem = force_problem(conf)
        if problem:
            doc.excluded_configurations[conf.configuration_id] = problem
        else:
            kept.append(conf)
    doc.configurations = kept
    doc.configuration_ids = [c.configuration_id for c in kept]
    if configurations and kept:
        doc.formula = doc.formula or kept[0].formula
    if not kept and doc.state == "successful":
        doc.state = "unusable"
        if not configurations:
            doc.reason = doc.reason or "no configurations found"
        else:
            reasons = sorted(set(doc.excluded_configurations.values()))
            doc.reason = "no configuration has usable forces: " + "; ".join(reasons)
    return doc


def force_problem(conf: Configuration) -> str | None:
    """Why a configuration's reference forces cannot be used, or None."""
    forces = conf.arrays.forces
    if forces is None:
        return "no forces stored"
    arr = np.asarray(forces, dtype=float)
    if arr.shape != (conf.n_atoms, 3):
        return f"forces have shape {arr.shape}, expected ({conf.n_atoms}, 3)"
    if not np.isfinite(arr).all():
        return "non-finite (NaN/inf) forces"
    return None


def unusable(item: SourceItem, task: str, reference: str, reason: str) -> ReferenceTaskDocument:
    """A reference document that records why the source could not be used."""
    return ReferenceTaskDocument(
        task=task,
        material_id=item.material_id,
        reference=reference,
        source=item.path + (f"#{item.key}" if item.key else ""),
        state="unusable",
        reason=reason,
    )
