"""``softbench submit <task>``: the flow of ``softbench run <task>``, added to a launchpad.

The flow is built exactly as ``run`` builds it (same options, same reuse of stored
references and predictions), converted with jobflow's FireWorks integration and
added to the launchpad: ``--launchpad launchpad.yaml`` (MongoDB), else
``$MONGOMOCK_SERVERSTORE_FILE``, else an embedded launchpad file in the store folder.
Run it with ``softbench worker``; a last firework runs the builders.
"""

from __future__ import annotations

import argparse
import sys


def add_launchpad_option(parser: argparse.ArgumentParser) -> None:
    """``--launchpad``: a FireWorks launchpad yaml (default: embedded, next to the store)."""
    parser.add_argument(
        "--launchpad",
        default=None,
        help="FireWorks launchpad yaml (MongoDB; ${VAR} expanded). Default: "
        "$SOFTBENCH_LAUNCHPAD, else $MONGOMOCK_SERVERSTORE_FILE, else "
        "<store>/launchpad.json (embedded, no server)",
    )


def register(sub: argparse._SubParsersAction) -> None:
    """Add the subcommand: one sub-subcommand per task whose module has a ``plan``."""
    from softbench.cli import TASK_MODULES

    parser = sub.add_parser(
        "submit",
        help="submit a benchmark task's flow to a FireWorks launchpad",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    task_sub = parser.add_subparsers(dest="task", required=True)
    for module in TASK_MODULES:
        if not hasattr(module, "plan"):  # run only (its flow is not a plan yet)
            continue
        before = set(task_sub.choices)
        module.register(task_sub)
        for name in set(task_sub.choices) - before:
            add_launchpad_option(task_sub.choices[name])
            task_sub.choices[name].set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Build the task's flow, convert it and add it to the launchpad."""
    from softbench.launchpad import describe, open_launchpad
    from softbench.operations.submit import submit

    task_flow = args.plan(args)
    print(task_flow.plan.replace("running", "submitting", 1), file=sys.stderr)
    if getattr(args, "dry_run", False):
        return 0
    lp = open_launchpad(args.launchpad, task_flow.stores.spec)
    build = bool(task_flow.tasks) and not args.no_build
    added = submit(lp, task_flow.flow, task_flow.tasks, build=build)
    if not added["fw_ids"]:
        print("softbench: nothing to submit (every result is already in the store)")
        return 0
    cats = ", ".join(f"{n} {c}" for c, n in sorted(added["categories"].items()))
    print(
        f"softbench: submitted {len(added['fw_ids'])} firework(s) ({cats}) to {describe(lp)}; "
        f"run them with `softbench worker --rapidfire --store {task_flow.stores.spec}`"
        " (one per environment)"
    )
    return 0
