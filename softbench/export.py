"""Write the stored DFT-labelled configurations as frames for other codes (extended XYZ).

One frame per configuration of the newest *successful* reference per (task,
material, reference label) (:func:`softbench.builders.pairing.newest_references`);
configurations the reference excluded are not written. Each frame carries the
reference's energy (eV), forces (eV/Å) and, where stored, stress as ASE's stress
(eV/Å³, Voigt order, tensile > 0: the convention every reference document stores,
VASP's kBar already converted and sign-flipped), and in ``info``: ``material_id``,
``configuration_id``, ``reference`` (label), ``task``, ``source_checksum``,
``reference_uuid``, ``formula`` and the configuration's scalar metadata
(``md_step``, ``strain``, ...).

Precision: ASE's extxyz writer prints positions and forces with 8 decimals
(``%16.8f``) and energy and stress with all digits (``repr``). ASE's reader turns
``info`` values that look like numbers (a material id ``"001"``) into numbers; read
ids back with ``str()``.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ase import Atoms

    from softbench.stores import SoftbenchStores

FORMATS = ("extxyz",)
DEFAULT_DIR = "softbench-output"
# info keys softbench writes itself, and the keys ASE's extxyz gives a meaning to
RESERVED_INFO = frozenset(
    {
        "material_id",
        "configuration_id",
        "reference",
        "task",
        "source_checksum",
        "reference_uuid",
        "formula",
        "energy",
        "free_energy",
        "forces",
        "stress",
        "pbc",
        "Lattice",
        "Properties",
    }
)


class ExportError(ValueError):
    """Nothing to export for the request, or an unknown format (command line: exit 2)."""


@dataclass
class ExportResult:
    """What :func:`export_frames` wrote."""

    path: Path
    n_frames: int
    n_references: int
    n_materials: int
    n_excluded: int

    def describe(self) -> str:
        """One line for the command line."""
        return (
            f"{self.path}: {self.n_frames} frames of {self.n_materials} materials "
            f"({self.n_references} references; {self.n_excluded} excluded configurations "
            "not written)"
        )


def default_path(task: str, fmt: str = "extxyz") -> Path:
    """``softbench-output/frames-<task>.<fmt>``."""
    return Path(DEFAULT_DIR) / f"frames-{task}.{fmt}"


def export_frames(
    stores: SoftbenchStores,
    task: str,
    out: str | Path | None = None,
    materials: Sequence[str] | None = None,
    references: Sequence[str] | None = None,
    fmt: str = "extxyz",
) -> ExportResult:
    """Write the reference frames of ``task`` (optionally some materials / labels) to ``out``.

    The file is written whole or not at all (temporary file, then renamed).
    Raises :class:`ExportError` when no successful reference matches or no
    configuration is left to write, and for a format other than :data:`FORMATS`.
    """
    from ase.io import write

    if fmt not in FORMATS:
        raise ExportError(f"unknown export format {fmt!r}: {', '.join(FORMATS)}")
    request = _describe(task, materials, references)
    uuids = reference_uuids(stores, task, materials, references)
    if not uuids:
        raise ExportError(f"no successful reference for {request}")
    path = Path(out).expanduser() if out is not None else default_path(task, fmt)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    result = ExportResult(path, 0, 0, 0, 0)
    found: set[str] = set()
    try:
        with os.fdopen(handle, "w") as stream:
            for output, uuid in _outputs(stores, uuids):
                frames, excluded = reference_frames(output, uuid)
                result.n_references += 1
                result.n_excluded += excluded
                result.n_frames += len(frames)
                found.add(output["material_id"])
                if frames:  # streamed: one reference's frames in memory at a time
                    write(stream, frames, format=fmt)
        result.n_materials = len(found)
        if not result.n_frames:
            raise ExportError(
                f"the {result.n_references} references for {request} have no configuration "
                f"to write ({result.n_excluded} excluded)"
            )
        Path(tmp).chmod(0o666 & ~_umask())  # mkstemp makes it private (0600)
        Path(tmp).replace(path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return result


def reference_frames(output: dict[str, Any], uuid: str | None = None) -> tuple[list[Atoms], int]:
    """ASE frames of one loaded reference output; and how many configurations it excluded.

    A configuration listed in ``excluded_configurations`` is left out (ingestion
    already drops those; a DFT job may keep a configuration and exclude it).
    """
    from softbench.schemas.reference import ReferenceTaskDocument

    ref = ReferenceTaskDocument.model_validate(output)
    info = {
        "material_id": ref.material_id,
        "reference": ref.reference,
        "task": ref.task,
        "source_checksum": ref.source_checksum or "",
        "reference_uuid": uuid or "",
    }
    excluded = ref.excluded_configurations
    frames = [
        _atoms(conf, info) for conf in ref.configurations if conf.configuration_id not in excluded
    ]
    return frames, len(excluded)


def _atoms(conf: Any, info: dict[str, Any]) -> Atoms:
    import numpy as np
    from ase import Atoms
    from ase.calculators.singlepoint import SinglePointCalculator
    from ase.stress import full_3x3_to_voigt_6_stress

    arrays = conf.arrays
    if arrays.positions is None:
        raise ExportError(
            f"{info['material_id']} {conf.configuration_id}: the reference stores no geometry"
        )
    periodic = arrays.lattice is not None
    atoms = Atoms(
        symbols=arrays.species,
        positions=np.asarray(arrays.positions, float),
        cell=np.asarray(arrays.lattice, float) if periodic else None,
        pbc=periodic,
    )
    results: dict[str, Any] = {}
    if conf.energy is not None:
        results["energy"] = float(conf.energy)
    if arrays.forces is not None:
        results["forces"] = np.asarray(arrays.forces, float).reshape(-1, 3)
    if arrays.stress is not None:
        stress = np.asarray(arrays.stress, float)
        results["stress"] = full_3x3_to_voigt_6_stress(stress) if stress.size == 9 else stress
    if results:
        atoms.calc = SinglePointCalculator(atoms, **results)
    atoms.info.update(
        {k: v for k, v in conf.metadata.items() if k not in RESERVED_INFO and _scalar(v)}
    )
    atoms.info.update(info, configuration_id=conf.configuration_id, formula=conf.formula)
    return atoms


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _scalar(value: Any) -> bool:
    return isinstance(value, bool | int | float | str) and value != ""


def reference_uuids(
    stores: SoftbenchStores,
    task: str,
    materials: Sequence[str] | None = None,
    references: Sequence[str] | None = None,
) -> list[str]:
    """Uuids of the newest successful reference per (task, material, label), sorted by key."""
    from softbench.builders.pairing import newest_references

    criteria: dict[str, Any] = {"task": task, "state": "successful"}
    for name, values in (("material_id", materials), ("reference", references)):
        if values:
            criteria[name] = values[0] if len(values) == 1 else {"$in": list(values)}
    refs = newest_references(stores.jobs, **criteria)
    return [refs[key].uuid for key in sorted(refs)]


def _outputs(
    stores: SoftbenchStores, uuids: Sequence[str], batch: int = 64
) -> Iterator[tuple[dict[str, Any], str]]:
    """Loaded outputs with their uuids, in order, ``batch`` per data-store query."""
    from softbench.builders.pairing import load_outputs

    todo = iter(uuids)
    while chunk := list(islice(todo, batch)):
        outputs = load_outputs(stores.jobs, chunk)
        for uuid in chunk:
            yield outputs[uuid], uuid


def _describe(task: str, materials: Sequence[str] | None, references: Sequence[str] | None) -> str:
    parts = [f"task {task!r}"]
    if materials:
        parts.append(f"materials {', '.join(materials)}")
    if references:
        parts.append(f"reference {', '.join(references)}")
    return ", ".join(parts)


TABLE_FORMATS = ("csv", "parquet")
PARQUET_HINT = "pip install 'softbench[export]' (pyarrow)"


@dataclass
class TableExportResult:
    """What :func:`export_table` wrote."""

    path: Path
    what: str
    n_rows: int
    n_columns: int

    def describe(self) -> str:
        """One line for the command line."""
        return f"{self.path}: {self.n_rows} {self.what} rows, {self.n_columns} columns"


def export_table(
    stores: SoftbenchStores,
    what: str,
    out: str | Path | None = None,
    fmt: str = "csv",
    **filters: Any,
) -> TableExportResult:
    """Write one query collection (``softbench query <what>``) as a CSV or Parquet table.

    The columns are the query's columns, values at full precision (lists such as
    ``softening_scale_ci95`` as lists in Parquet, as ``[a, b]`` in CSV); rows in the
    query's order. ``filters`` are the query's filters (``task``, ``model``, ...;
    comma lists allowed). Written whole or not at all. Raises :class:`ExportError`
    for an unknown query or format, a filter the query lacks, no matching document,
    or Parquet without pyarrow.
    """
    import pandas as pd

    from softbench.query import QUERIES, fetch

    if what not in QUERIES:
        raise ExportError(f"unknown table {what!r}: {', '.join(sorted(QUERIES))}")
    if fmt not in TABLE_FORMATS:
        raise ExportError(f"unknown table format {fmt!r}: {', '.join(TABLE_FORMATS)}")
    spec = QUERIES[what]
    given = {k: v for k, v in filters.items() if v is not None}
    wrong = sorted(set(given) - set(spec.filters))
    if wrong:
        raise ExportError(f"{what} cannot be filtered by {', '.join(wrong)}")
    if fmt == "parquet" and not _has_parquet_engine():
        raise ExportError(f"parquet export needs pyarrow: {PARQUET_HINT}")
    docs = fetch(stores, what, **given)
    if not docs:
        request = ", ".join(f"{k} {v}" for k, v in given.items()) or "any filter"
        raise ExportError(f"no {what} documents for {request}")
    columns = list(spec.columns)
    frame = pd.DataFrame([{c: d.get(c) for c in columns} for d in docs], columns=columns)
    path = Path(out).expanduser() if out is not None else Path(DEFAULT_DIR) / f"{what}.{fmt}"
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(handle)
    try:
        if fmt == "csv":
            frame.to_csv(tmp, index=False)
        else:
            frame.to_parquet(tmp, index=False)
        Path(tmp).chmod(0o666 & ~_umask())
        Path(tmp).replace(path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return TableExportResult(path, what, len(frame), len(columns))


def _has_parquet_engine() -> bool:
    from importlib.util import find_spec

    return find_spec("pyarrow") is not None
