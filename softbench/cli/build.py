"""``softbench build``: run the analysis builders (incremental, idempotent)."""

from __future__ import annotations

import argparse

from softbench.cli.common import add_store_option, open_cli_stores


def register(sub: argparse._SubParsersAction) -> None:
    """Add the subcommand."""
    parser = sub.add_parser("build", help="pair results and write analysis documents")
    parser.add_argument("--task", default=None, help="only this task's predictions")
    add_store_option(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Build and report how many items each builder processed."""
    from softbench.run import build_all

    stores = open_cli_stores(args)
    counts = build_all(stores, task=args.task)
    print("processed: " + ", ".join(f"{k}={v}" for k, v in counts.items()))
    return 0
