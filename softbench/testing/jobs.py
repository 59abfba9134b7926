"""Jobs for testing the FireWorks path: one that waits for a file to go, one that fails.

They are importable by a worker process (a job's function must be), unlike test
modules.
"""

from __future__ import annotations

import time
from pathlib import Path

from jobflow import job


@job
def hold(path: str, value: str, limit_s: float = 600.0) -> str:
    """Return ``value`` once the file ``path`` is gone (a job that runs as long as needed)."""
    deadline = time.monotonic() + limit_s
    while Path(path).exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{path} still there after {limit_s:g} s")
        time.sleep(0.1)
    return value


@job
def fail(reason: str) -> None:
    """Raise ``RuntimeError(reason)`` (a job that fails on the worker)."""
    raise RuntimeError(reason)
