"""Concurrent `softbench build` and `softbench query` on one embedded (MontyDB) store.

Each round deletes the built collections (so both builds have work and create
collections), then starts ``--builds`` builds and ``--queries`` queries at once and
waits for them. Afterwards every collection is checked: documents per key
(duplicates) and keys present after a serial build (lost documents). Prints one
line per round with a problem and a final summary line::

    rounds=20 processes=80 crashes=0 duplicates=0 lost=0 bad_output=0

Usage::

    python benchmarks/concurrent_store.py --rounds 20              # seeds a temp store
    python benchmarks/concurrent_store.py --store DIR --rounds 20  # DIR must hold jobs

A store is seeded with ``softbench run forces --reference <shared>/data/phonons-pbe
--materials mp-1519 --models <--seed-model> --no-build``. Exit status 1 when any
crash, duplicate, lost document or unreadable query output was seen.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SB = [sys.executable, "-m", "softbench.cli"]
KEPT = ("jobs", "jobs_data")  # collections written by `run`; the rest are built
BUILT_KEY = "key"


@dataclass
class Totals:
    """What the rounds saw."""

    rounds: int = 0
    processes: int = 0
    crashes: int = 0
    duplicates: int = 0
    lost: int = 0
    bad_output: int = 0
    seconds: float = 0.0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.crashes or self.duplicates or self.lost or self.bad_output)

    def line(self) -> str:
        return (
            f"rounds={self.rounds} processes={self.processes} crashes={self.crashes} "
            f"duplicates={self.duplicates} lost={self.lost} bad_output={self.bad_output} "
            f"seconds={self.seconds:.1f}"
        )


def seed_store(store: Path, model: str, shared: Path) -> None:
    """Put one material's reference and model predictions into ``store`` (no build)."""
    cmd = [
        *SB,
        "run",
        "forces",
        "--reference",
        str(shared / "data" / "phonons-pbe"),
        "--materials",
        "mp-1519",
        "--models",
        model,
        "--device",
        "cpu",
        "--no-build",
        "--store",
        str(store),
    ]
    out = subprocess.run(cmd, check=False, capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"seeding failed ({out.returncode}):\n{out.stderr[-3000:]}")


def drop_built(store: Path) -> None:
    """Delete the built collections' files (only while no process uses the store)."""
    for db in store.iterdir():
        if not db.is_dir():
            continue
        for f in db.iterdir():
            if f.name.split(".")[0] not in KEPT and ".collection" in f.name:
                f.unlink()


def collection_counts(store: Path) -> dict[str, Counter[Any]]:
    """Documents per identity (``key`` for built, ``uuid``/``index`` for jobs) per collection."""
    import sqlite3

    from bson import BSON

    counts: dict[str, Counter[Any]] = {}
    for f in sorted(store.glob("*/*.collection")):
        name = f.name.removesuffix(".collection")
        con = sqlite3.connect(f"file:{f}?mode=ro", uri=True)
        try:
            rows = con.execute("SELECT v FROM documents").fetchall()
        finally:
            con.close()
        ids: Counter[Any] = Counter()
        for (raw,) in rows:
            doc = BSON(raw.encode("latin-1") if isinstance(raw, str) else raw).decode()
            if name == "jobs":
                ids[(doc.get("uuid"), doc.get("index"))] += 1
            elif name == "jobs_data":
                ids[(doc.get("job_uuid"), doc.get("job_index"), str(doc.get("_id")))] += 1
            else:
                ids[json.dumps(doc.get(BUILT_KEY, str(doc.get("_id"))), default=str)] += 1
        counts[name] = ids
    return counts


def run_round(store: Path, builds: int, queries: int) -> list[tuple[str, int, str, str]]:
    """Start the processes at once; return (what, returncode, stdout, stderr) each."""
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    cmds = [("build", [*SB, "build", "--store", str(store)]) for _ in range(builds)]
    cmds += [
        ("query", [*SB, "query", "softening", "--format", "json", "--store", str(store)])
        for _ in range(queries)
    ]
    procs = [
        (
            what,
            subprocess.Popen(
                cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
            ),
        )
        for what, cmd in cmds
    ]
    results = []
    for what, proc in procs:
        stdout, stderr = proc.communicate(timeout=600)
        results.append((what, proc.returncode, stdout, stderr))
    return results


def last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1][:200] if lines else ""


def run_rounds(
    store: Path, rounds: int, builds: int = 2, queries: int = 2, verbose: bool = True
) -> Totals:
    """The benchmark on an already seeded store."""
    # what a serial build writes: the keys that must be present after every round
    drop_built(store)
    serial = subprocess.run(
        [*SB, "build", "--store", str(store)], check=False, capture_output=True, text=True
    )
    if serial.returncode != 0:
        raise SystemExit(f"serial build failed:\n{serial.stderr[-3000:]}")
    expected = {name: set(ids) for name, ids in collection_counts(store).items()}
    if not expected.get("softening"):
        raise SystemExit(f"store {store} has nothing to build (seed it first)")

    totals = Totals()
    start = time.perf_counter()
    for r in range(1, rounds + 1):
        drop_built(store)
        results = run_round(store, builds, queries)
        totals.rounds += 1
        totals.processes += len(results)
        for what, rc, stdout, stderr in results:
            if rc != 0 or "Traceback" in stderr:
                totals.crashes += 1
                totals.problems.append(f"round {r}: {what} exit {rc}: {last_line(stderr)}")
            elif what == "query":
                try:
                    docs = json.loads(stdout) if stdout.strip() else []
                    assert isinstance(docs, list)
                except (ValueError, AssertionError):
                    totals.bad_output += 1
                    totals.problems.append(f"round {r}: query printed {stdout[:80]!r}")
        for name, ids in collection_counts(store).items():
            dup = sum(n - 1 for n in ids.values() if n > 1)
            lost = len(expected.get(name, set()) - set(ids))
            if dup or lost:
                totals.problems.append(f"round {r}: {name}: {dup} duplicate(s), {lost} lost")
            totals.duplicates += dup
            totals.lost += lost
        for name in expected.keys() - collection_counts(store).keys():
            totals.lost += len(expected[name])
            totals.problems.append(f"round {r}: collection {name} missing")
        if verbose:
            bad = [p for p in totals.problems if p.startswith(f"round {r}:")]
            print(f"round {r}: " + ("ok" if not bad else "; ".join(bad)), flush=True)
    totals.seconds = time.perf_counter() - start
    return totals


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--builds", type=int, default=2)
    parser.add_argument("--queries", type=int, default=2)
    parser.add_argument("--store", default=None, help="seeded store (default: seed a temp one)")
    parser.add_argument("--seed-model", default="sevennet-0", help="model used to seed a store")
    args = parser.parse_args()

    shared = Path(os.environ.get("SOFTBENCH_SHARED", Path(__file__).parents[1] / ".." / "shared"))
    if args.store:
        store = Path(args.store)
        if not (store / "softbench" / "jobs.collection").exists():
            print(f"seeding {store} with {args.seed_model}", file=sys.stderr)
            seed_store(store, args.seed_model, shared)
    else:
        store = Path(tempfile.mkdtemp(prefix="softbench-concurrent-")) / "store"
        print(f"seeding {store} with {args.seed_model}", file=sys.stderr)
        seed_store(store, args.seed_model, shared)

    totals = run_rounds(store, args.rounds, args.builds, args.queries)
    for problem in totals.problems:
        print(problem)
    print(totals.line())
    return 0 if totals.ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
