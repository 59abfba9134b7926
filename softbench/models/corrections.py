"""Registered linear corrections: ``<base>+lc:<label>`` models that persist across processes.

Each correction is a small JSON file (the full :class:`ModelSpec`) under
``$SOFTBENCH_HOME/corrections/`` (default ``~/.softbench/corrections``), so
``softbench models`` lists it and ``--models chgnet-0.3.0+lc:<label>`` resolves in any
later process without a store.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from softbench.models.spec import ModelSpec
from softbench.settings import home_dir

MARKER = "+lc:"
LABEL_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def corrections_dir() -> Path:
    """Where registered corrections are kept."""
    return home_dir() / "corrections"


def correction_name(base: str, label: str) -> str:
    """``<base>+lc:<label>``; the label must be a short plain name."""
    if not LABEL_PATTERN.match(label):
        raise ValueError(
            f"correction label {label!r}: use letters, digits, '.', '_' or '-' (max 64)"
        )
    return f"{base}{MARKER}{label}"


def correction_spec(base: ModelSpec, label: str, c: float, info: dict[str, Any]) -> ModelSpec:
    """The corrected model: same package and environment as the base, family ``corrected``."""
    return ModelSpec(
        name=correction_name(base.name, label),
        family="corrected",
        version=base.version,
        source=base.source,  # the provenance adds the correction (backend note)
        package=base.package,
        environment=base.environment,
        description=f"{base.name} with E, F, stress scaled by c={c:.6g} ({label})",
        options={"base": base.to_dict(), "c": float(c), "correction": dict(info)},
    )


def _path(name: str) -> Path:
    return corrections_dir() / (re.sub(r"[^A-Za-z0-9._+-]", "_", name) + ".json")


def save_correction(spec: ModelSpec) -> Path:
    """Write the spec (replacing an earlier correction of the same name)."""
    path = _path(spec.name)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(spec.to_dict(), indent=1, default=str))
    tmp.replace(path)
    return path


def stored_corrections() -> list[ModelSpec]:
    """Every correction saved under :func:`corrections_dir` (unreadable files skipped)."""
    folder = corrections_dir()
    if not folder.is_dir():
        return []
    specs = []
    for path in sorted(folder.glob("*.json")):
        try:
            specs.append(ModelSpec(**json.loads(path.read_text())))
        except (OSError, ValueError, TypeError):
            continue
    return specs


def find_correction(name: str) -> ModelSpec | None:
    """The saved correction of that name, or None."""
    if MARKER not in name:
        return None
    path = _path(name)
    if not path.exists():
        return None
    try:
        spec = ModelSpec(**json.loads(path.read_text()))
    except (OSError, ValueError, TypeError):
        return None
    return spec if spec.name == name else None
