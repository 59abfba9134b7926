"""Store reliability (issue 8): concurrent processes on one embedded store, and one
clear line with exit status 2 for a store that cannot be used."""

from __future__ import annotations

import importlib.util
import multiprocessing
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

SB = [sys.executable, "-m", "softbench.cli"]
ROOT = Path(__file__).parents[1]


def sb(*args: str, env: dict[str, str] | None = None) -> tuple[subprocess.CompletedProcess, float]:
    start = time.perf_counter()
    out = subprocess.run(
        [*SB, *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=120,
    )
    return out, time.perf_counter() - start


def assert_one_line_error(out: subprocess.CompletedProcess, *words: str) -> None:
    lines = out.stderr.strip().splitlines()
    assert out.returncode == 2, out.stderr[-3000:]
    assert "Traceback" not in out.stderr
    assert len(lines) == 1, out.stderr
    assert lines[0].startswith("softbench: error:"), lines[0]
    for word in words:
        assert word in lines[0], lines[0]


# --- row 2: unreachable MongoDB ---------------------------------------------------


def startup_seconds(tmp_path: Path) -> float:
    """Seconds the CLI needs to fail at once (interpreter start and imports) on this machine."""
    out, elapsed = sb("query", "summary", "--store", str(tmp_path / "missing"))
    assert out.returncode == 2
    return elapsed


@pytest.mark.parametrize("command", ["query", "build"])
def test_unreachable_mongodb_is_one_line_within_seconds(command, tmp_path):
    args = ["query", "summary"] if command == "query" else ["build"]
    out, elapsed = sb(*args, "--store", "mongodb://127.0.0.1:1")
    assert_one_line_error(out, "127.0.0.1:1", "cannot reach MongoDB", "within 5 s")
    # 5 s server selection; startup time subtracted so a loaded machine does not fail it
    assert elapsed - startup_seconds(tmp_path) < 8, elapsed


def test_mongodb_wait_is_overridable(tmp_path):
    out, elapsed = sb(
        "build", "--store", "mongodb://127.0.0.1:1", env={"SOFTBENCH_STORE_TIMEOUT": "1"}
    )
    assert_one_line_error(out, "127.0.0.1:1", "within 1 s")
    assert elapsed - startup_seconds(tmp_path) < 4, elapsed
    out, _ = sb("build", "--store", "mongodb://127.0.0.1:1", env={"SOFTBENCH_STORE_TIMEOUT": "x"})
    assert_one_line_error(out, "SOFTBENCH_STORE_TIMEOUT")


# --- row 3: a store directory that cannot be created or written -----------------------


def test_store_under_a_regular_file_is_one_line(tmp_path):
    f = tmp_path / "hostname"
    f.write_text("x\n")
    out, _ = sb("build", "--store", str(f / "store"))
    assert_one_line_error(out, str(f / "store"), "Not a directory")


@pytest.mark.parametrize("spec", ["/proc", "/proc/store"])
def test_store_in_proc_is_one_line(spec):
    out, _ = sb("build", "--store", spec)
    assert_one_line_error(out, spec)


def test_read_only_store_directory_is_one_line(tmp_path):
    if os.geteuid() == 0:
        pytest.skip("root can write into read-only directories (covered by /proc)")
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        out, _ = sb("build", "--store", str(ro))
        assert_one_line_error(out, str(ro), "Permission denied")
    finally:
        ro.chmod(0o755)


# --- row 4: reading never creates a store -------------------------------------------


@pytest.mark.parametrize(
    "args", [["query", "summary"], ["query", "softening", "--format", "json"], ["report", "forces"]]
)
def test_reading_a_missing_store_is_an_error_and_creates_nothing(tmp_path, args):
    missing = tmp_path / "no-such-store"
    extra = ["--out", str(tmp_path / "figs")] if args[0] == "report" else []
    out, _ = sb(*args, *extra, "--store", str(missing))
    assert_one_line_error(out, str(missing), "does not exist")
    assert not missing.exists()


def test_reading_an_empty_folder_is_an_error_and_writes_nothing(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    out, _ = sb("query", "summary", "--store", str(empty))
    assert_one_line_error(out, str(empty), "not a softbench store")
    assert list(empty.iterdir()) == []


# --- row 1: many processes on one embedded store ------------------------------------


def _upsert_worker(store: str, worker: int, rounds: int, queue: multiprocessing.Queue) -> None:
    try:
        from softbench.stores import open_stores

        for r in range(rounds):
            st = open_stores(store)
            coll = st.collection(f"c{r % 3}")
            coll.update([{"key": k, "worker": worker, "round": r} for k in range(5)], key="key")
            assert len(list(coll.query({}))) >= 5
            coll.count()
            st.close()
        queue.put(None)
    except BaseException as exc:  # report every failure to the parent
        queue.put(f"{type(exc).__name__}: {exc}")


def test_parallel_processes_open_and_upsert_without_crash_or_duplicate(tmp_path):
    store = str(tmp_path / "store")
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    procs = [ctx.Process(target=_upsert_worker, args=(store, w, 6, queue)) for w in range(4)]
    for p in procs:
        p.start()
    errors = [queue.get(timeout=300) for _ in procs]
    for p in procs:
        p.join(timeout=60)
    assert [e for e in errors if e] == []

    from softbench.stores import open_stores

    st = open_stores(store, create=False)
    for name in ("c0", "c1", "c2"):
        docs = list(st.collection(name).query({}))
        assert sorted(d["key"] for d in docs) == list(range(5)), name


def _load_benchmark():
    spec = importlib.util.spec_from_file_location(
        "concurrent_store", ROOT / "benchmarks" / "concurrent_store.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_concurrent_builds_and_queries_on_one_embedded_store(shared, tmp_path):
    """3 rounds of 2 `softbench build` + 2 `softbench query` at once (issue 8, row 1)."""
    bench = _load_benchmark()
    store = tmp_path / "store"
    bench.seed_store(store, "ase:ase.calculators.lj.LennardJones", shared)
    totals = bench.run_rounds(store, rounds=3, builds=2, queries=2, verbose=False)
    assert totals.ok, "\n".join(totals.problems)
    assert totals.processes == 12
