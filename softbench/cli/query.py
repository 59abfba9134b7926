"""``softbench query <what>``: analysis documents as a table, JSON or CSV."""

from __future__ import annotations

import argparse

from softbench.cli.common import add_store_option, open_cli_stores


def register(sub: argparse._SubParsersAction) -> None:
    """Add the subcommand."""
    from softbench.query import QUERIES

    parser = sub.add_parser("query", help="print analysis documents")
    parser.add_argument("what", choices=sorted(QUERIES))
    parser.add_argument("--task", default=None)
    parser.add_argument("--model", default=None)
    parser.add_argument("--material", default=None)
    parser.add_argument("--reference", default=None)
    parser.add_argument("--format", choices=("table", "json", "csv"), default="table")
    add_store_option(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Fetch, filter and print."""
    from softbench.query import QUERIES, fetch, render

    filters = {
        k: getattr(args, k)
        for k in ("task", "model", "material", "reference")
        if k in QUERIES[args.what].filters
    }
    docs = fetch(open_cli_stores(args, create=False), args.what, **filters)
    print(render(docs, args.what, args.format))
    return 0
