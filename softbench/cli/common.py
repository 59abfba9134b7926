"""Options shared by several subcommands."""

from __future__ import annotations

import argparse
from typing import Any


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


def split(value: str | None) -> list[str] | None:
    """Comma-separated CLI list, or None."""
    if not value:
        return None
    return [v.strip() for v in value.split(",") if v.strip()]


# subcommands that only read: they never create a store
READ_ONLY_COMMANDS = ("query", "report")


def open_cli_stores(args: argparse.Namespace, create: bool | None = None) -> Any:
    """Open the stores named by ``--store``.

    ``create`` (default: not for :data:`READ_ONLY_COMMANDS`) allows making a new
    embedded store; without it a missing store is an error (exit 2).
    """
    from softbench.stores import open_stores

    if create is None:
        create = getattr(args, "command", None) not in READ_ONLY_COMMANDS
    return open_stores(args.store, create=create)
