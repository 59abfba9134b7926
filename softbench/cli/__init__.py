"""``softbench`` command line. Subcommand modules import heavy packages lazily."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import Any

from softbench.cli import (
    amplitude,
    build,
    correct,
    defects,
    demo,
    elastic,
    export,
    finetune,
    forces,
    high_energy,
    migration,
    models,
    phonons,
    query,
    report,
    serve,
    solid_solution,
    status,
    submit,
    surfaces,
    worker,
)

TASK_MODULES: list[Any] = [
    forces,
    high_energy,
    phonons,
    elastic,
    migration,
    defects,
    solid_solution,
    amplitude,
    surfaces,
]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="softbench",
        description="Measure, explain and correct PES softening of universal "
        "ML interatomic potentials against DFT.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    models.register(sub)
    run = sub.add_parser("run", help="run a benchmark task")
    run_sub = run.add_subparsers(dest="task", required=True)
    for module in TASK_MODULES:
        module.register(run_sub)
    build.register(sub)
    demo.register(sub)
    query.register(sub)
    export.register(sub)
    correct.register(sub)
    finetune.register(sub)
    report.register(sub)
    serve.register(sub)
    submit.register(sub)
    worker.register(sub)
    status.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; known input problems exit with status 2 and one clear line."""
    args = _parser().parse_args(argv)
    handler: Callable[[argparse.Namespace], int] = args.handler
    try:
        return handler(args)
    except KeyboardInterrupt:
        print("softbench: interrupted; completed jobs are stored", file=sys.stderr)
        return 130
    except Exception as exc:
        if _is_input_error(exc):
            print(f"softbench: error: {exc}", file=sys.stderr)
            return 2
        raise


def _is_input_error(exc: Exception) -> bool:
    from softbench.cli.common import UsageError
    from softbench.export import ExportError
    from softbench.finetune import FinetuneError
    from softbench.ingest.base import ReferenceFormatError
    from softbench.models.errors import ModelError
    from softbench.shared_data import DataUnavailableError
    from softbench.stores import StoreConfigError

    return isinstance(
        exc,
        ReferenceFormatError
        | ModelError
        | StoreConfigError
        | DataUnavailableError
        | ExportError
        | FinetuneError
        | UsageError,
    )


if __name__ == "__main__":
    raise SystemExit(main())
