"""``softbench run forces``: force parity of models against ingested DFT forces."""

from __future__ import annotations

import argparse
import sys

from softbench.cli.argtypes import one_line_errors
from softbench.cli.common import add_model_options, add_store_option, open_cli_stores, split


def register(sub: argparse._SubParsersAction) -> None:
    """Add the subcommand."""
    parser = sub.add_parser("forces", help="force parity (softening scale) on reference DFT forces")
    parser.add_argument(
        "--reference",
        required=True,
        help="phonopy yaml(s), extxyz, WBM-style JSON or VASP output dirs",
    )
    parser.add_argument(
        "--format", default=None, help="phonopy, extxyz, wbm-json or vasp (default: detected)"
    )
    parser.add_argument("--materials", default=None, help="comma-separated material ids")
    parser.add_argument(
        "--label", default=None, help="reference label (default: <format>:<source name>)"
    )
    parser.add_argument("--task", default="forces", help="task name stored in documents")
    parser.add_argument(
        "--rerun", action="store_true", help="re-evaluate even where predictions already exist"
    )
    parser.add_argument("--no-build", action="store_true", help="skip the builders")
    parser.add_argument(
        "--with-stress",
        action="store_true",
        help="also store model stresses (costs a second backward pass for CHGNet)",
    )
    add_model_options(parser)
    add_store_option(parser)
    one_line_errors(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Ingest (or reuse) references, evaluate models, build and print the results."""
    from softbench.ingest import (
        check_readable,
        default_label,
        discover,
        known_dataset_settings,
    )
    from softbench.models import get_models
    from softbench.query import fetch, render
    from softbench.run import build_all, run_flow
    from softbench.workflows.forces import force_parity_flow
    from softbench.workflows.reuse import existing_predictions, reusable_references

    models = get_models(args.models)
    materials = split(args.materials)
    items = discover(args.reference, args.format, materials)
    label = args.label or default_label(args.reference, items[0].fmt)
    stores = open_cli_stores(args)
    reuse = reusable_references(stores.jobs, args.task, label, items)
    check_readable(args.reference, items, skip=reuse)
    skip = (
        set() if args.rerun else existing_predictions(stores.jobs, reuse, [m.name for m in models])
    )
    flow = force_parity_flow(
        items,
        models,
        label,
        task=args.task,
        settings=known_dataset_settings(args.reference),
        existing_references=reuse,
        skip=skip,
        device=args.device,
        stress=args.with_stress,
    )
    n_model_jobs = len(items) * len(models) - len(skip)
    print(
        f"softbench: {len(items)} material(s) from {label}, {len(models)} model(s); "
        f"{len(reuse)} reference(s) reused from the store, {len(skip)} prediction(s) "
        f"already there; running {len(flow.jobs)} job(s) ({n_model_jobs} model jobs) "
        f"on store {stores.spec}",
        file=sys.stderr,
    )
    if flow.jobs:
        run_flow(flow, stores)
    if args.no_build:
        return 0
    counts = build_all(stores, task=args.task)
    print(f"softbench: built {counts}", file=sys.stderr)
    ids = ",".join(i.material_id for i in items)
    names = ",".join(m.name for m in models)
    docs = fetch(stores, "softening", task=args.task, model=names, material=ids, reference=label)
    print(render(docs, "softening"))
    print()
    print(render(fetch(stores, "summary", task=args.task, model=names, reference=label), "summary"))
    failed = [d for d in docs if d["state"] != "successful"]
    if failed:
        print(
            f"\nsoftbench: {len(failed)} of {len(docs)} (material, model) pairs have no "
            "result; reasons are in the 'reason' column",
            file=sys.stderr,
        )
    return 0
