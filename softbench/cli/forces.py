"""``softbench run forces``: force parity of models against ingested DFT forces."""

from __future__ import annotations

import argparse

from softbench.cli.common import (
    TaskFlow,
    add_materials,
    add_run_options,
    open_cli_stores,
    print_softening,
    run_task_flow,
)


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
    add_materials(parser)
    parser.add_argument(
        "--label", default=None, help="reference label (default: <format>:<source name>)"
    )
    parser.add_argument("--task", default="forces", help="task name stored in documents")
    parser.add_argument(
        "--with-stress",
        action="store_true",
        help="also store model stresses (costs a second backward pass for CHGNet)",
    )
    add_run_options(parser, run, "re-evaluate even where predictions already exist")
    parser.set_defaults(plan=plan)


def plan(args: argparse.Namespace) -> TaskFlow:
    """Ingest (or reuse) references, evaluate models, build and print the results."""
    from softbench.ingest import check_readable, default_label, discover, known_dataset_settings
    from softbench.models import get_models
    from softbench.workflows.forces import force_parity_flow
    from softbench.workflows.reuse import existing_predictions, reusable_references

    models = get_models(args.models)
    items = discover(args.reference, args.format, args.materials)
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
    message = (
        f"softbench: {len(items)} material(s) from {label}, {len(models)} model(s); "
        f"{len(reuse)} reference(s) reused from the store, {len(skip)} prediction(s) "
        f"already there; running {len(flow.jobs)} job(s) ({n_model_jobs} model jobs) "
        f"on store {stores.spec}"
    )
    ids = [i.material_id for i in items]

    def report() -> None:
        print_softening(stores, args.task, ids, [m.name for m in models], label)

    return TaskFlow(flow, stores, [args.task], message, report)


run = run_task_flow(plan)
