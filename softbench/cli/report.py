"""``softbench report <task>``: figures from the analysis documents (PNG).

Each task registers one function in :data:`REPORTS` as ``"module:function"``; the
function takes ``(stores, args)`` and returns the paths it wrote. Options shared by
all reports are added here; a task needing more adds them in :func:`register`.
:data:`OVERVIEWS` are reports over all tasks (``html``: one page with every task's
tables and the figures of every function in :data:`REPORTS`).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from softbench.cli.common import add_store_option, open_cli_stores

REPORTS: dict[str, str] = {
    "forces": "softbench.reports.forces:report_from_args",
    "phonons": "softbench.reports.phonons:report_from_args",
    "migration": "softbench.reports.migration:report_from_args",
    "elastic": "softbench.reports.elastic:report_from_args",
    "correction": "softbench.reports.correction:report_from_args",
    "amplitude": "softbench.reports.amplitude:report_from_args",
    "energetics": "softbench.reports.energetics:report_from_args",
}
OVERVIEWS: dict[str, str] = {"html": "softbench.reports.html:report_from_args"}


def register(sub: argparse._SubParsersAction) -> None:
    """Add the subcommand."""
    parser = sub.add_parser("report", help="write figures for a benchmark task")
    parser.add_argument(
        "what", choices=sorted(REPORTS | OVERVIEWS), help="task to report on, or html (all)"
    )
    parser.add_argument(
        "--out", default="softbench-report", help="output directory (default: softbench-report)"
    )
    parser.add_argument(
        "--task",
        default=None,
        help="forces: task name (default: forces); correction: task of the MAE/cMAE figure "
        "(default: high-energy)",
    )
    parser.add_argument("--material", default=None, help="material for per-material figures")
    parser.add_argument("--model", default=None, help="comma-separated models (default: all)")
    parser.add_argument("--reference", default=None, help="reference label (default: all)")
    parser.add_argument(
        "--mode",
        choices=("fixed", "relaxed", "both"),
        default="both",
        help="phonons: which mode(s) to plot (default: both)",
    )
    add_store_option(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Dispatch to the task's report function and list the files written."""
    from importlib import import_module

    module, func = {**REPORTS, **OVERVIEWS}[args.what].split(":")
    stores = open_cli_stores(args)  # first: a missing store leaves no empty output folder
    out = Path(args.out).expanduser()
    out.mkdir(parents=True, exist_ok=True)
    args.out = out
    paths = getattr(import_module(module), func)(stores, args)
    for path in paths:
        print(path)
    return 0
