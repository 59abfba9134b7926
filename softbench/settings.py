"""Locations softbench reads and writes, from the environment with sane defaults."""

from __future__ import annotations

import os
from pathlib import Path

SOFTBENCH_HOME_ENV = "SOFTBENCH_HOME"
SOFTBENCH_STORE_ENV = "SOFTBENCH_STORE"
SOFTBENCH_SHARED_ENV = "SOFTBENCH_SHARED"
SOFTBENCH_CACHE_ENV = "SOFTBENCH_CACHE"


def home_dir() -> Path:
    """Softbench's own directory (default ``~/.softbench``)."""
    return Path(os.environ.get(SOFTBENCH_HOME_ENV, "~/.softbench")).expanduser()


def default_store() -> str:
    """Store spec used when ``--store`` is not given: ``$SOFTBENCH_STORE`` or ~/.softbench/store."""
    return os.environ.get(SOFTBENCH_STORE_ENV) or str(home_dir() / "store")


def shared_dir() -> Path:
    """The offline data folder (``$SOFTBENCH_SHARED``, default ``../shared``)."""
    return Path(os.environ.get(SOFTBENCH_SHARED_ENV, "../shared")).expanduser()


def cache_dir() -> Path:
    """Where downloaded reference data and weights are kept (``$SOFTBENCH_CACHE``)."""
    return Path(os.environ.get(SOFTBENCH_CACHE_ENV) or home_dir() / "cache").expanduser()
