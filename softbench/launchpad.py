"""FireWorks launchpad: embedded (mongomock persisted to a file) or MongoDB.

- ``MONGOMOCK_SERVERSTORE_FILE=/path/lp.json``: no server; FireWorks' mongomock
  support persists the launchpad to that JSON file (needs ``mongomock-persistence``).
- otherwise ``launchpad.yaml`` (or a given path) with ``${ENV_VAR}`` expansion, so
  credentials stay in the environment.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from softbench.stores import StoreConfigError

MOCK_ENV = "MONGOMOCK_SERVERSTORE_FILE"


def load_launchpad(path: str | Path | None = None, name: str = "softbench") -> Any:
    """A FireWorks LaunchPad from the environment or a launchpad yaml."""
    import yaml
    from fireworks.core import launchpad as fw_launchpad

    mock = os.environ.get(MOCK_ENV)
    if mock:
        import mongomock_persistence

        file = Path(mock).expanduser()
        new = not file.exists()
        if new:
            file.parent.mkdir(parents=True, exist_ok=True)
            file.write_text("{}")
        fw_launchpad.MongoClient = mongomock_persistence.MongoClient
        lp = fw_launchpad.LaunchPad(name=name, strm_lvl="WARNING")
        if new:  # a fresh embedded launchpad starts initialised
            lp.reset("", require_password=False, max_reset_wo_password=1)
        return lp
    file = Path(path or "launchpad.yaml").expanduser()
    if not file.exists():
        raise StoreConfigError(
            f"launchpad file {file} not found (or set {MOCK_ENV} for an embedded launchpad)"
        )
    text = os.path.expandvars(file.read_text())
    data = yaml.safe_load(text) or {}
    unset = [k for k, v in data.items() if isinstance(v, str) and "${" in v]
    if unset:
        raise StoreConfigError(
            f"launchpad {file}: environment variables for {', '.join(unset)} are not set"
        )
    return fw_launchpad.LaunchPad.from_dict(data)
