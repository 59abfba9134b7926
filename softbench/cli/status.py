"""``softbench status`` and ``softbench rerun-failed``: submitted work by state; reruns.

A firework RUNNING without a ping for ``--lost-after`` seconds is a lost run (its
worker was killed or its node died): FireWorks' ``detect_lostruns``. A healthy
rocket pings every hour (FireWorks' PING_TIME_SECS), so ``--lost-after`` must be
longer than that for runs that are still alive (default 4 h, FireWorks' own).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from softbench.cli.argtypes import one_line_errors, positive_float
from softbench.cli.common import add_store_option, open_cli_stores
from softbench.cli.submit import add_launchpad_option


def register(sub: argparse._SubParsersAction) -> None:
    """Add both subcommands."""
    from softbench.operations.status import DEFAULT_LOST_AFTER_S

    for name, handler, text in (
        ("status", run_status, "submitted fireworks by state, failures, lost runs; the store"),
        ("rerun-failed", run_rerun, "mark lost runs failed, then rerun every failed firework"),
    ):
        parser = sub.add_parser(
            name, help=text, description=__doc__, formatter_class=argparse.RawTextHelpFormatter
        )
        parser.add_argument(
            "--lost-after",
            type=positive_float,
            default=DEFAULT_LOST_AFTER_S,
            help=f"seconds without a ping after which a RUNNING firework is lost "
            f"(default {DEFAULT_LOST_AFTER_S})",
        )
        add_launchpad_option(parser)
        add_store_option(parser)
        one_line_errors(parser)
        parser.set_defaults(handler=handler)


def run_status(args: argparse.Namespace) -> int:
    """Print the launchpad's fireworks (if there is a launchpad) and the store's documents."""
    from softbench.launchpad import describe, embedded_file, open_launchpad
    from softbench.operations.status import launchpad_status, store_status

    stores = open_cli_stores(args, create=False)
    lp = None
    if args.launchpad or not _embedded_missing(stores.spec, embedded_file):
        lp = open_launchpad(args.launchpad, stores.spec)
    if lp is not None:
        print(f"launchpad: {describe(lp)}")
        _print_launchpad(launchpad_status(lp, args.lost_after), args.lost_after)
        print()
    print(f"store: {stores.spec}")
    _print_store(store_status(stores))
    return 0


def _embedded_missing(spec: str, embedded_file: Any) -> bool:
    """No launchpad configured and no embedded launchpad file: a store of local runs."""
    import os

    from softbench.launchpad import LAUNCHPAD_ENV, MOCK_ENV

    if os.environ.get(LAUNCHPAD_ENV) or os.environ.get(MOCK_ENV):
        return False
    if spec in ("memory", "mongomock") or spec.startswith("mongodb") or spec.endswith(".yaml"):
        return True
    return not embedded_file(spec).exists()


def _print_launchpad(status: Any, lost_after: float) -> None:
    from softbench.operations.status import STATES

    wfs = ", ".join(f"{s} {n}" for s, n in sorted(status.workflows.items()))
    print(f"workflows: {sum(status.workflows.values())} ({wfs or 'none'})")
    table = status.by_state()
    cats = sorted({c for counts in table.values() for c in counts})
    rows = [
        [state, *[str(table[state][c]) for c in cats], str(sum(table[state].values()))]
        for state in STATES
        if state in table
    ]
    print("fireworks by state and environment:")
    print(_table(["state", *cats, "total"], rows))
    for cat, n in sorted(status.ready().items()):
        print(
            f"waiting for a worker: {n} firework(s) of environment {cat} are READY "
            f"(start `softbench worker --environment {cat}`)"
        )
    for state, text in (("RUNNING", "running"), ("WAITING", "waiting for their parents")):
        fws = [fw for fw in status.fireworks if fw.state == state]
        if fws:
            names = ", ".join(fw.name for fw in fws[:5]) + (" ..." if len(fws) > 5 else "")
            print(f"{text}: {len(fws)} firework(s): {names}")
    failed = status.failed()
    if failed:
        print(f"failed fireworks ({len(failed)}; `softbench rerun-failed` reruns them):")
        print(_table(["fw_id", "name", "env", "reason"], [_row(fw) for fw in failed]))
    if status.lost:
        print(
            f"lost runs ({len(status.lost)}; RUNNING without a ping for more than "
            f"{lost_after:g} s; `softbench rerun-failed --lost-after {lost_after:g}` reruns them):"
        )
        print(_table(["fw_id", "name", "env"], [_row(fw)[:3] for fw in status.lost]))


def _row(fw: Any) -> list[str]:
    return [str(fw.fw_id), fw.name, fw.category, fw.reason]


def _print_store(status: dict[str, Any]) -> None:
    counts = status["counts"]
    if not counts:
        print("no job outputs")
        return
    rows = [[t, d, s, str(n)] for (t, d, s), n in sorted(counts.items())]
    print("job outputs by task, document type and state:")
    print(_table(["task", "doc_type", "state", "n"], rows))
    versions = ", ".join(f"{v} ({n})" for v, n in sorted(status["versions"].items()))
    print(f"written by softbench {versions}")
    newer = newer_versions(status["versions"])
    if newer:
        print(
            f"softbench: this store has documents of softbench {', '.join(newer)}, newer than "
            f"this softbench ({_own_version()}): upgrade before building or rerunning",
        )
    problems = status["problems"]
    if problems:
        print(f"documents without a result (first {len(problems)}):")
        rows = [
            [
                p.get("task", ""),
                p.get("material_id", ""),
                p.get("model", "") or "-",
                p.get("state", ""),
                str(p.get("reason", ""))[:120],
            ]
            for p in problems
        ]
        print(_table(["task", "material", "model", "state", "reason"], rows))


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(str(x)) for x in col) for col in zip(headers, *rows, strict=False)]
    lines = [
        "  ".join(str(x).ljust(w) for x, w in zip(r, widths, strict=False))
        for r in [headers, *rows]
    ]
    return "\n".join(line.rstrip() for line in lines)


def run_rerun(args: argparse.Namespace) -> int:
    """Lost runs -> failed; failed -> ready again."""
    from softbench.launchpad import describe, open_launchpad
    from softbench.operations.status import rerun_failed

    stores = open_cli_stores(args, create=False)
    lp = open_launchpad(args.launchpad, stores.spec)
    done = rerun_failed(lp, args.lost_after)
    print(
        f"softbench: {describe(lp)}: {_ids(done['lost'])} lost run(s) marked failed; "
        f"{_ids(done['rerun'])} failed firework(s) reset to run again",
        file=sys.stderr,
    )
    return 0


def _ids(fw_ids: list[int]) -> str:
    return f"{len(fw_ids)} {fw_ids}" if fw_ids else "0"


def _own_version() -> str:
    from softbench import __version__

    return __version__


def newer_versions(versions: Any) -> list[str]:
    """Versions that wrote documents and are newer than the running softbench."""
    from packaging.version import InvalidVersion, Version

    own = Version(_own_version())
    newer = []
    for v in versions:
        try:
            if Version(str(v)) > own:
                newer.append(str(v))
        except InvalidVersion:
            continue
    return sorted(newer)
