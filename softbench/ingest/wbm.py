"""JSON in the layout of the public "WBM high energy states" data set.

``{material_id: {frame_id: {"structure": <pymatgen dict>, "vasp_f": [[fx, fy, fz], ...]}}}``
(``.json`` or ``.json.gz``). Other per-frame keys (e.g. ``vasp_e``, whose unit
the layout does not fix) are kept in the configuration metadata.
"""

from __future__ import annotations

import ast
import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from pymatgen.core import Structure

from softbench.ingest.base import ReferenceFormatError, SourceItem, read_json
from softbench.schemas.configuration import Configuration


@lru_cache(maxsize=2)
def _load(path: str, mtime: float) -> dict[str, Any]:
    data = read_json(path)
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise ReferenceFormatError(
            f"{path} is not in the WBM high-energy-states layout "
            "{material_id: {frame_id: {structure, vasp_f}}}"
        )
    return data


def load(path: str | Path) -> dict[str, Any]:
    """Parsed file (cached while the file is unchanged)."""
    return _load(str(path), Path(path).stat().st_mtime)


def discover(path: Path) -> list[SourceItem]:
    """One item per material key."""
    return [SourceItem(mid, str(path), "wbm-json", key=mid) for mid in load(path)]


def parse_structure(value: Any, where: str) -> Structure:
    """A pymatgen Structure from a dict, JSON string or Python-repr string."""
    try:
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except json.JSONDecodeError:
                value = ast.literal_eval(value)
        return Structure.from_dict(value)
    except Exception as exc:
        raise ReferenceFormatError(
            f"malformed structure in {where}: {type(exc).__name__}: {exc}"
        ) from exc


def read(item: SourceItem) -> tuple[list[Configuration], dict[str, Any], str | None]:
    """All frames of one material."""
    frames = load(item.path)[item.key or item.material_id]
    confs = []
    for frame_id, frame in frames.items():
        where = f"{item.path} [{item.material_id}][{frame_id}]"
        if "structure" not in frame:
            raise ReferenceFormatError(f"no 'structure' in {where}")
        structure = parse_structure(frame["structure"], where)
        extra = {k: v for k, v in frame.items() if k not in ("structure", "vasp_f")}
        confs.append(
            Configuration.from_structure(
                structure, str(frame_id), forces=frame.get("vasp_f"), metadata=extra
            )
        )
    return confs, {"format": "wbm-json"}, None
