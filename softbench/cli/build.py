"""``softbench build``: run the analysis builders (incremental, idempotent).

``--watch SECONDS`` builds again every SECONDS until interrupted, for a machine
that follows workers writing to a shared store. A cron line does the same once
per period: ``*/10 * * * * softbench build --store /path/to/store``.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from typing import Any

from softbench.cli.argtypes import one_line_errors, positive_float
from softbench.cli.common import add_store_option, open_cli_stores


def register(sub: argparse._SubParsersAction) -> None:
    """Add the subcommand."""
    parser = sub.add_parser(
        "build",
        help="pair results and write analysis documents",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--task", default=None, help="only this task's predictions")
    parser.add_argument(
        "--watch",
        type=positive_float,
        default=None,
        metavar="SECONDS",
        help="build again every SECONDS until interrupted (Ctrl-C)",
    )
    add_store_option(parser)
    one_line_errors(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Build and report how many items each builder processed (each round with --watch)."""
    stores = open_cli_stores(args)
    if args.watch is None:
        _build_once(stores, args.task)
        return 0
    # Ctrl-C / SIGTERM finish the round under way and stop: an exception raised inside a
    # builder could be taken for a per-item failure and swallowed (the loop went on)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    while not stop.is_set():
        _build_once(stores, args.task)
        stop.wait(args.watch)
    print("softbench: build --watch stopped", file=sys.stderr)
    return 0


def _build_once(stores: Any, task: str | None) -> None:
    from softbench.run import build_all

    counts = build_all(stores, task=task)
    print("processed: " + ", ".join(f"{k}={v}" for k, v in counts.items()), flush=True)
