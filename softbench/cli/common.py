"""Options shared by several subcommands."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from softbench.cli.argtypes import one_line_errors, positive_int


def add_store_option(parser: argparse.ArgumentParser) -> None:
    """``--store``: directory (embedded), memory, mongodb:// URI or a .yaml config."""
    parser.add_argument(
        "--store",
        default=None,
        help="store: a directory (embedded on-disk DB, default $SOFTBENCH_STORE or "
        "~/.softbench/store), 'memory', a mongodb:// URI or a MongoDB .yaml config",
    )


def add_model_options(parser: argparse.ArgumentParser, default: str | None = None) -> None:
    """``--models`` and ``--device``."""
    parser.add_argument(
        "--models",
        required=default is None,
        default=default,
        help="comma-separated registry names (see `softbench models`), "
        "'ase:<module>.<Calculator>' or paths to model files",
    )
    parser.add_argument("--device", default=None, help="cpu or cuda (default: cuda if available)")


def add_materials(
    parser: argparse.ArgumentParser, sample: bool = False, exclusive: bool = False
) -> None:
    """``--materials`` (a list, or None); with ``sample`` also ``--sample N`` and ``--seed``.

    ``exclusive``: ``--materials`` and ``--sample`` cannot be given together.
    """
    pick: Any = parser.add_mutually_exclusive_group() if exclusive else parser
    pick.add_argument("--materials", type=split, default=None, help="comma-separated material ids")
    if sample:
        pick.add_argument(
            "--sample", type=positive_int, default=None, help="random sample of N materials"
        )
        parser.add_argument("--seed", type=int, default=0, help="seed of --sample (default 0)")


def add_run_options(
    parser: argparse.ArgumentParser,
    handler: Callable[[argparse.Namespace], int],
    rerun_help: str,
    models: str | None = None,
) -> None:
    """The options every ``run`` task ends with, one-line usage errors, the handler.

    ``--rerun``, ``--no-build``, ``--models`` (default ``models``; required when
    None), ``--device`` and ``--store``.
    """
    parser.add_argument("--rerun", action="store_true", help=rerun_help)
    parser.add_argument("--no-build", action="store_true", help="skip the builders")
    add_model_options(parser, default=models)
    add_store_option(parser)
    one_line_errors(parser)
    parser.set_defaults(handler=handler)


@dataclass
class TaskFlow:
    """What ``softbench run <task>`` runs and ``softbench submit <task>`` submits.

    ``tasks``: the build tasks, in order; ``plan``: the plan printed first;
    ``report``: prints the results once built; ``details``: the task's own plan.
    """

    flow: Any
    stores: Any
    tasks: list[str]
    plan: str
    report: Callable[[], None]
    details: Any = None


class UsageError(ValueError):
    """Options that do not go together (exit 2 with one line)."""


def run_task_flow(plan: Callable[[argparse.Namespace], TaskFlow]) -> Callable[..., int]:
    """A ``run`` handler: make the task's flow, run it here, build, report."""

    def run(args: argparse.Namespace) -> int:
        task_flow = plan(args)
        print(task_flow.plan, file=sys.stderr)
        if run_and_build(task_flow.flow, task_flow.stores, args.no_build, task_flow.tasks):
            task_flow.report()
        return 0

    run.__doc__ = plan.__doc__
    return run


def run_and_build(flow: Any, stores: Any, no_build: bool, tasks: Sequence[str]) -> bool:
    """Run the flow's jobs (if any), then, unless ``no_build``, build ``tasks`` in order.

    Prints what the builders did; returns whether they ran.
    """
    from softbench.run import run_flow

    if flow.jobs:
        run_flow(flow, stores)
    if no_build:
        return False
    build(stores, tasks)
    return True


def build(stores: Any, tasks: Sequence[str]) -> None:
    """Run the builders for ``tasks`` in order; print what they did."""
    from softbench.run import build_all

    counts: dict[str, int] = {}
    for task in tasks:
        for name, n in build_all(stores, task=task).items():
            counts[name] = counts.get(name, 0) + n
    print(f"softbench: built {counts}", file=sys.stderr)


def print_softening(
    stores: Any, task: str, material_ids: Sequence[str], models: Sequence[str], label: str
) -> None:
    """Per-material softening table and per-model summary of one run; note failed pairs."""
    from softbench.query import fetch, render

    ids, names = ",".join(material_ids), ",".join(models)
    docs = fetch(stores, "softening", task=task, model=names, material=ids, reference=label)
    print(render(docs, "softening"))
    print()
    print(render(fetch(stores, "summary", task=task, model=names, reference=label), "summary"))
    failed = [d for d in docs if d["state"] == "failed"]
    flagged = [d for d in docs if d["state"] == "flagged"]
    if failed:
        print(
            f"\nsoftbench: {len(failed)} of {len(docs)} (material, model) pairs have no "
            "result; reasons are in the 'reason' column",
            file=sys.stderr,
        )
    if flagged:
        print(
            f"softbench: {len(flagged)} of {len(docs)} pairs are flagged (no signal in the "
            "forces): left out of the summary medians; see the 'reason' column",
            file=sys.stderr,
        )


def split(value: str | None) -> list[str] | None:
    """Comma-separated CLI list, or None."""
    if not value:
        return None
    return [v.strip() for v in value.split(",") if v.strip()]


# subcommands that only read: they never create a store
READ_ONLY_COMMANDS = ("query", "report", "export")


def open_cli_stores(args: argparse.Namespace, create: bool | None = None) -> Any:
    """Open the stores named by ``--store``.

    ``create`` (default: not for :data:`READ_ONLY_COMMANDS`) allows making a new
    embedded store; without it a missing store is an error (exit 2).
    """
    from softbench.stores import open_stores

    if create is None:
        create = getattr(args, "command", None) not in READ_ONLY_COMMANDS
    return open_stores(args.store, create=create)
