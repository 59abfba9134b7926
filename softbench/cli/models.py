"""``softbench models``: the registry with versions, sources and weight status."""

from __future__ import annotations

import argparse
import json


def register(sub: argparse._SubParsersAction) -> None:
    """Add the subcommand."""
    parser = sub.add_parser("models", help="list registered models")
    parser.add_argument("--format", choices=("table", "json"), default="table")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Print the registry without importing any model package."""
    from softbench.models import known_models

    rows = []
    for spec in known_models():
        present, where = spec.weights_status()
        rows.append(
            {
                "name": spec.name,
                "version": spec.version,
                "environment": spec.environment,
                "package": spec.package,
                "installed": spec.package_installed(),
                "weights": "present" if present else "missing",
                "source": spec.source,
                "detail": where,
            }
        )
    if args.format == "json":
        print(json.dumps(rows, indent=1))
        return 0
    cols = ["name", "version", "environment", "installed", "weights", "source"]
    widths = {c: max(len(c), *(len(str(r[c])) for r in rows)) for c in cols}
    print("  ".join(c.ljust(widths[c]) for c in cols))
    for r in rows:
        print("  ".join(str(r[c]).ljust(widths[c]) for c in cols))
    missing = [r for r in rows if r["weights"] == "missing" or not r["installed"]]
    for r in missing:
        print(f"\n{r['name']}: {r['detail']}")
    return 0
