"""Shared fixtures: fresh in-memory stores, the shared data folder, quiet logs."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import pytest

SHARED = Path(os.environ.get("SOFTBENCH_SHARED", Path(__file__).parents[1] / ".." / "shared"))
os.environ["SOFTBENCH_SHARED"] = str(SHARED.resolve())

warnings.filterwarnings("ignore", category=UserWarning)


@pytest.fixture
def shared() -> Path:
    """The shared data folder; tests that need it fail loudly if it is missing."""
    if not SHARED.exists():
        pytest.fail(f"SOFTBENCH_SHARED={SHARED} does not exist")
    return SHARED.resolve()


@pytest.fixture
def stores():
    """Fresh in-process (mongomock) stores for one test."""
    from softbench.stores import open_stores, reset_memory_stores

    reset_memory_stores()
    st = open_stores("memory")
    yield st
    st.close()
    reset_memory_stores()


@pytest.fixture
def disk_store(tmp_path: Path) -> str:
    """A path for an embedded on-disk store."""
    return str(tmp_path / "store")


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Never touch the user's ~/.softbench from tests."""
    monkeypatch.setenv("SOFTBENCH_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("SOFTBENCH_STORE", raising=False)
