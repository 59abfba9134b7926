"""Locations softbench reads and writes, from the environment with sane defaults."""

from __future__ import annotations

import os
from pathlib import Path

SOFTBENCH_HOME_ENV = "SOFTBENCH_HOME"
SOFTBENCH_STORE_ENV = "SOFTBENCH_STORE"
SOFTBENCH_SHARED_ENV = "SOFTBENCH_SHARED"
SOFTBENCH_CACHE_ENV = "SOFTBENCH_CACHE"
SOFTBENCH_STORE_TIMEOUT_ENV = "SOFTBENCH_STORE_TIMEOUT"
SOFTBENCH_STORE_LOCK_TIMEOUT_ENV = "SOFTBENCH_STORE_LOCK_TIMEOUT"

DEFAULT_STORE_TIMEOUT_S = 5.0
DEFAULT_STORE_LOCK_TIMEOUT_S = 600.0


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


def store_timeout() -> float:
    """Seconds to wait for a MongoDB server (``$SOFTBENCH_STORE_TIMEOUT``, default 5).

    A ``serverSelectionTimeoutMS`` option in a ``mongodb://`` URI takes precedence.
    """
    return _seconds(SOFTBENCH_STORE_TIMEOUT_ENV, DEFAULT_STORE_TIMEOUT_S)


def store_lock_timeout() -> float:
    """Seconds to wait for another process's lock on an embedded store (default 600)."""
    return _seconds(SOFTBENCH_STORE_LOCK_TIMEOUT_ENV, DEFAULT_STORE_LOCK_TIMEOUT_S)


def _seconds(env: str, default: float) -> float:
    raw = os.environ.get(env)
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{env}={raw!r} is not a number of seconds") from None
    if value <= 0:
        raise ValueError(f"{env}={raw!r} must be positive")
    return value
