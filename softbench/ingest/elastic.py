"""DFT elastic references from JSON: structure + K_VRH + G_VRH (+ optional tensor).

Layout of matcalc's ``mp-binary-pbe-elasticity-2025.1.json.gz`` (the shared data
set ``mp-elasticity``): a list of records ``{mp_id, formula, structure,
bulk_modulus_vrh, shear_modulus_vrh}`` with moduli in GPa. Also accepted:
``material_id`` instead of ``mp_id``, ``k_vrh``/``g_vrh``, a dict keyed by material
id, structures as dicts, JSON strings or Python-repr strings, numbers as strings,
and an optional ``elastic_tensor`` (6x6 Voigt in GPa, or an MP-style dict with
``ieee_format``).
"""

from __future__ import annotations

import random
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from softbench.analysis.elastic import moduli
from softbench.ingest.base import (
    ReferenceFormatError,
    SourceItem,
    file_checksum,
    pick_materials,
    read_json,
)
from softbench.ingest.wbm import parse_structure
from softbench.schemas.elastic import ElasticReferenceDocument

FORMAT = "elastic-json"
ID_KEYS = ("material_id", "mp_id", "task_id")
K_KEYS = ("bulk_modulus_vrh", "k_vrh", "K_VRH")
G_KEYS = ("shear_modulus_vrh", "g_vrh", "G_VRH")


@lru_cache(maxsize=2)
def _load(path: str, mtime: float) -> dict[str, dict[str, Any]]:
    data = read_json(path)
    if isinstance(data, dict):
        records = {str(k): v for k, v in data.items() if isinstance(v, dict)}
    elif isinstance(data, list):
        records = {}
        for i, rec in enumerate(data):
            if not isinstance(rec, dict):
                raise ReferenceFormatError(f"{path}: entry {i} is not an object")
            mid = next((rec[k] for k in ID_KEYS if rec.get(k)), None)
            if mid is None:
                raise ReferenceFormatError(
                    f"{path}: entry {i} has no material id ({', '.join(ID_KEYS)})"
                )
            records[str(mid)] = rec
    else:
        raise ReferenceFormatError(f"{path}: expected a list or dict of records")
    if not records:
        raise ReferenceFormatError(f"{path}: no elastic records")
    return records


def load(path: str | Path) -> dict[str, dict[str, Any]]:
    """Records by material id (cached while the file is unchanged)."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise ReferenceFormatError(f"elastic reference file {path} does not exist")
    return _load(str(path), path.stat().st_mtime)


def discover(path: str | Path, materials: list[str] | None = None) -> list[SourceItem]:
    """One item per material (optionally only the given ids, in that order)."""
    records = load(path)
    items = {mid: SourceItem(mid, str(path), FORMAT, key=mid) for mid in records}
    return pick_materials(items, materials, path) if materials else list(items.values())


def sample(items: list[SourceItem], n: int, seed: int = 0) -> list[SourceItem]:
    """A reproducible random subset of ``n`` items (sorted by id before sampling)."""
    ordered = sorted(items, key=lambda i: i.material_id)
    if n >= len(ordered):
        return ordered
    return random.Random(seed).sample(ordered, n)


def read(
    item: SourceItem, label: str, settings: dict[str, Any] | None = None
) -> ElasticReferenceDocument:
    """One material's reference; unusable data gives an 'unusable' document."""
    doc = ElasticReferenceDocument(
        material_id=item.material_id,
        reference=label,
        source=f"{item.path}#{item.key or item.material_id}",
        dft_settings=dict(settings or {}),
    )
    try:
        doc.source_checksum = file_checksum(item.path)
        rec = load(item.path)[item.key or item.material_id]
        _fill(doc, rec, f"{item.path} [{item.material_id}]")
    except (ReferenceFormatError, KeyError) as exc:
        doc.state, doc.reason = "unusable", str(exc)
    return doc


def _fill(doc: ElasticReferenceDocument, rec: dict[str, Any], where: str) -> None:
    if "structure" not in rec:
        raise ReferenceFormatError(f"no 'structure' in {where}")
    structure = parse_structure(rec["structure"], where)
    doc.structure = structure
    doc.formula = rec.get("formula") or structure.composition.reduced_formula
    tensor = _tensor(rec.get("elastic_tensor"), where)
    k = _number(rec, K_KEYS, where)
    g = _number(rec, G_KEYS, where)
    problems = []
    if tensor is not None:
        m = moduli(tensor)
        doc.elastic_tensor = tensor.tolist()
        doc.mechanically_stable = m.stable
        k = m.k_vrh if k is None else k
        g = m.g_vrh if g is None else g
        if not m.stable:
            low = min(m.eigenvalues)
            problems.append(f"tensor not positive definite (min eigenvalue {low:.3g})")
    doc.k_vrh_gpa, doc.g_vrh_gpa = k, g
    problems += [
        f"{name} is {value} (positive GPa value needed)"
        for name, value in (("K_VRH", k), ("G_VRH", g))
        if value is None or not np.isfinite(value) or value <= 0
    ]
    if problems:
        doc.state = "unusable"
        doc.reason = f"{where}: " + ", ".join(problems)


def _number(rec: dict[str, Any], keys: tuple[str, ...], where: str) -> float | None:
    for key in keys:
        if rec.get(key) is not None:
            try:
                return float(rec[key])
            except (TypeError, ValueError) as exc:
                raise ReferenceFormatError(f"{where}: {key}={rec[key]!r} is not a number") from exc
    return None


def _tensor(value: Any, where: str) -> np.ndarray | None:
    if value is None:
        return None
    if isinstance(value, dict):
        value = value.get("ieee_format", value.get("raw"))
    arr = np.asarray(value, dtype=float)
    if arr.shape != (6, 6) or not np.isfinite(arr).all():
        raise ReferenceFormatError(f"{where}: elastic_tensor is not a finite 6x6 matrix")
    return arr
