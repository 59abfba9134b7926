"""``softbench export``: DFT-labelled frames as extended XYZ; query tables as CSV or Parquet."""

from __future__ import annotations

import argparse

from softbench.cli.argtypes import one_line_errors
from softbench.cli.common import add_store_option, open_cli_stores, split


def register(sub: argparse._SubParsersAction) -> None:
    """Add the subcommand."""
    from softbench.export import FORMATS

    parser = sub.add_parser("export", help="write stored data for other codes")
    what = parser.add_subparsers(dest="what", required=True)
    frames = what.add_parser(
        "frames",
        help="DFT-labelled configurations (newest successful reference per material "
        "and label; excluded configurations left out) as extended XYZ",
    )
    frames.add_argument("--task", required=True, help="benchmark task, e.g. high-energy")
    frames.add_argument("--material", type=split, default=None, help="comma-separated ids")
    frames.add_argument(
        "--reference", type=split, default=None, help="comma-separated reference labels"
    )
    frames.add_argument("--format", choices=FORMATS, default=FORMATS[0])
    frames.add_argument(
        "--out", default=None, help="output file (default: softbench-output/frames-<task>.extxyz)"
    )
    add_store_option(frames)
    one_line_errors(frames)
    frames.set_defaults(handler=run_frames)
    register_table(what)


def register_table(what: argparse._SubParsersAction) -> None:
    """``softbench export table <query>``: a query collection as a CSV or Parquet file."""
    from softbench.export import TABLE_FORMATS
    from softbench.query import QUERIES

    table = what.add_parser(
        "table",
        help="a query collection (as `softbench query <name>`) as CSV or Parquet, full precision",
    )
    table.add_argument("name", choices=sorted(QUERIES), help="query collection")
    for option in ("task", "model", "material", "reference"):
        table.add_argument(f"--{option}", default=None, help="filter; comma list allowed")
    table.add_argument("--format", choices=TABLE_FORMATS, default=TABLE_FORMATS[0])
    table.add_argument(
        "--out", default=None, help="output file (default: softbench-output/<name>.<format>)"
    )
    add_store_option(table)
    one_line_errors(table)
    table.set_defaults(handler=run_table)


def run_frames(args: argparse.Namespace) -> int:
    """Write the frames; print the path and the counts."""
    from softbench.export import export_frames

    result = export_frames(
        open_cli_stores(args, create=False),
        args.task,
        out=args.out,
        materials=args.material,
        references=args.reference,
        fmt=args.format,
    )
    print(result.describe())
    return 0


def run_table(args: argparse.Namespace) -> int:
    """Write the table; print the path and the counts."""
    from softbench.export import export_table

    filters = {k: getattr(args, k) for k in ("task", "model", "material", "reference")}
    result = export_table(
        open_cli_stores(args, create=False), args.name, out=args.out, fmt=args.format, **filters
    )
    print(result.describe())
    return 0
