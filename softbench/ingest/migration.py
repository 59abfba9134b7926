"""External DFT migration barriers (e.g. published ApproxNEB sets) as hop records.

JSON: ``{"label": ..., "hops": [record, ...]}`` or a list of records. A record:

- ``host`` (id), ``hop_id`` (default its position), ``working_ion``;
- ``energies_ev``: DFT energies ``E_0 .. E_N`` (end points first and last);
- the path, either ``images``: the N+1 structures (end points included; the moving
  ion is the first site of the working ion, atomate2's convention), or
  ``host_structure`` (without the moving ion) and ``end_points``: two fractional
  coordinates of the ion in that cell;
- optional ``settings`` (DFT settings, recorded).

Structures are pymatgen dicts, CIF/POSCAR text, or a file path relative to the data
file. CSV: one row per hop with columns ``host, hop_id, working_ion,
host_structure, end_point_0, end_point_1, energies_ev`` (coordinates as
"x y z", energies separated by ";").

A file that cannot be read is a :class:`ReferenceFormatError`; a record with
unusable data (too few or non-finite energies, no moving ion) becomes an
``unusable`` reference with the reason.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from pymatgen.core import Structure

from softbench.analysis.migration import barrier
from softbench.ingest.base import ReferenceFormatError, file_checksum, read_json
from softbench.schemas.migration import MigrationReferenceDocument


def read_hops(path: str | Path) -> tuple[str, list[dict[str, Any]]]:
    """(default label, hop records) of a JSON or CSV file."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise ReferenceFormatError(f"migration reference {path} is not a file")
    if path.suffix.lower() == ".csv":
        label, records = f"file:{path.stem}", _read_csv(path)
    else:
        data = read_json(path)
        label = f"file:{path.name.split('.')[0]}"
        if isinstance(data, dict):
            label = str(data.get("label") or label)
            data = data.get("hops")
        if not isinstance(data, list):
            raise ReferenceFormatError(f"{path}: expected a list of hops or {{'hops': [...]}}")
        records = data
    if not records:
        raise ReferenceFormatError(f"no hops in {path}")
    checksum = file_checksum(path)
    out = []
    for i, record in enumerate(records):
        if not isinstance(record, dict):
            raise ReferenceFormatError(f"{path}: hop {i} is not an object")
        for key in ("host", "working_ion"):
            if not record.get(key):
                raise ReferenceFormatError(f"{path}: hop {i} has no {key!r}")
        out.append(
            {
                **record,
                "hop_id": str(record.get("hop_id", i)),
                "source": f"{path}#{record['host']}/{record.get('hop_id', i)}",
                "source_checksum": checksum,
                "root": str(path.parent),
            }
        )
    return label, out


def _read_csv(path: Path) -> list[dict[str, Any]]:
    try:
        with path.open(newline="") as handle:
            rows = list(csv.DictReader(handle))
    except Exception as exc:
        raise ReferenceFormatError(f"cannot parse CSV {path}: {exc}") from exc
    records = []
    for i, row in enumerate(rows):
        try:
            records.append(
                {
                    "host": row["host"],
                    "hop_id": row.get("hop_id") or str(i),
                    "working_ion": row["working_ion"],
                    "host_structure": row["host_structure"],
                    "end_points": [
                        [float(v) for v in row["end_point_0"].split()],
                        [float(v) for v in row["end_point_1"].split()],
                    ],
                    "energies_ev": [float(v) for v in row["energies_ev"].split(";") if v.strip()],
                }
            )
        except (KeyError, ValueError) as exc:
            raise ReferenceFormatError(f"{path}: row {i + 2}: {type(exc).__name__}: {exc}") from exc
    return records


def parse_structure(value: Any, root: str | Path, where: str) -> Structure:
    """A Structure from a pymatgen dict, CIF/POSCAR text or a file path."""
    if isinstance(value, Structure):
        return value
    try:
        if isinstance(value, dict):
            return Structure.from_dict(value)
        text = str(value)
        candidate = Path(root) / text
        if "\n" not in text and candidate.is_file():
            return Structure.from_file(candidate)
        if "_cell_length_a" in text:
            return Structure.from_str(text, fmt="cif")
        return Structure.from_str(text, fmt="poscar")
    except Exception as exc:
        raise ReferenceFormatError(
            f"malformed structure in {where}: {type(exc).__name__}: {exc}"
        ) from exc


def reference_document(record: dict[str, Any], label: str) -> MigrationReferenceDocument:
    """The reference document of one hop record (``unusable`` with the reason if bad)."""
    where = record.get("source", record["host"])
    ion = str(record["working_ion"])
    doc = MigrationReferenceDocument(
        material_id=str(record["host"]),
        hop_id=str(record.get("hop_id", "0")),
        working_ion=ion,
        reference=label,
        source=str(where),
        source_checksum=record.get("source_checksum"),
        dft_settings=dict(record.get("settings") or {}),
        limit=record.get("limit", "given"),
    )
    root = record.get("root", ".")
    images = record.get("images")
    if images:
        path = [parse_structure(s, root, f"{where} image {k}") for k, s in enumerate(images)]
        found = [
            next((i for i, s in enumerate(im) if s.species_string == ion), None) for im in path
        ]
        if None in found:
            return doc.with_failure(f"image {found.index(None)} has no {ion}", "unusable")
        moving = [int(i) for i in found if i is not None]
        host = path[0].copy()
        host.remove_sites([moving[0]])
        doc.host_structure = host
        doc.end_points = [
            path[0][moving[0]].frac_coords.tolist(),
            path[-1][moving[-1]].frac_coords.tolist(),
        ]
        doc.images = path
        doc.n_images = len(path) - 2
    else:
        if record.get("host_structure") is None or len(record.get("end_points") or []) != 2:
            return doc.with_failure(
                "needs images, or host_structure and two end_points", "unusable"
            )
        doc.host_structure = parse_structure(record["host_structure"], root, f"{where} host")
        doc.end_points = [[float(v) for v in p] for p in record["end_points"]]
        doc.n_images = int(record.get("n_images") or 5)
    doc.formula = doc.host_structure.composition.reduced_formula
    doc.hop_distance_ang = float(
        doc.host_structure.lattice.get_all_distances([doc.end_points[0]], [doc.end_points[1]])[0][0]
    )
    energies = record.get("energies_ev")
    if energies is None:
        return doc  # a hop without DFT energies (model-only)
    try:
        values = [float(e) for e in energies]
        result = barrier(values)
    except (TypeError, ValueError) as exc:
        return doc.with_failure(f"DFT energies unusable: {exc}", "unusable")
    if images and len(values) != len(images):
        return doc.with_failure(
            f"{len(values)} energies for {len(images)} images (end points included)", "unusable"
        )
    doc.n_images = len(values) - 2
    doc.image_energies_ev = values
    doc.relative_energies_ev = result.relative_energies
    doc.barrier_ev = result.kra_barrier
    doc.asymmetry_ev = result.asymmetry
    doc.forward_barrier_ev = result.forward_barrier
    return doc


def hop_record(hop: Any, n_images: int, source: str, checksum: str) -> dict[str, Any]:
    """The record of a :class:`softbench.makers.migration.Hop` (no DFT energies)."""
    return {
        "host": hop.host_id,
        "hop_id": hop.hop_id,
        "working_ion": hop.working_ion,
        "host_structure": hop.host.as_dict(),
        "end_points": [list(p) for p in hop.end_points],
        "n_images": n_images,
        "limit": hop.limit,
        "source": f"{source}#{hop.hop_id}",
        "source_checksum": checksum,
    }


def options_checksum(path: str | Path, options: dict[str, Any]) -> str:
    """Checksum of a host file and the options that made its hops."""
    import hashlib

    digest = hashlib.sha256(file_checksum(path).encode())
    digest.update(json.dumps(options, sort_keys=True, default=str).encode())
    return digest.hexdigest()
