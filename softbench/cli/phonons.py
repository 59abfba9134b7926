"""``softbench run phonons``: phonon softening against DFT finite-displacement phonons."""

from __future__ import annotations

import argparse
import sys

from softbench.cli.argtypes import positive_float, positive_int
from softbench.cli.common import (
    TaskFlow,
    add_materials,
    add_run_options,
    open_cli_stores,
    run_task_flow,
)


def register(sub: argparse._SubParsersAction) -> None:
    """Add the subcommand."""
    parser = sub.add_parser(
        "phonons",
        help="phonon softening (max-frequency ratio) against DFT phonopy data",
        description="Fixed mode: model forces on the DFT displaced supercells. Relaxed "
        "mode (the paper's protocol): relax the primitive cell with the model to fmax, "
        "then displace with the DFT supercell matrix and displacements.",
    )
    parser.add_argument(
        "--reference",
        required=True,
        help="directory of <material_id>/phonopy.yaml[.xz] with displacement forces, "
        "or one such yaml",
    )
    add_materials(parser)
    parser.add_argument(
        "--mode", choices=("fixed", "relaxed", "both"), default="both", help="default: both"
    )
    parser.add_argument(
        "--label", default=None, help="reference label (default: phonopy:<source name>)"
    )
    parser.add_argument(
        "--fmax", type=positive_float, default=None, help="relaxed mode: eV/Å (default 1e-5)"
    )
    parser.add_argument(
        "--relax-steps",
        type=positive_int,
        default=None,
        help="relaxed mode: max steps (default 1000)",
    )
    add_run_options(parser, run, "re-evaluate even where results already exist")
    parser.set_defaults(plan=plan)


def plan(args: argparse.Namespace) -> TaskFlow:
    """Ingest (or reuse) references, run model jobs, build and print the results."""
    from softbench.ingest import (
        check_readable,
        default_label,
        discover,
        known_dataset_settings,
    )
    from softbench.makers.phonons import RELAX_FMAX, RELAX_STEPS
    from softbench.models import get_models
    from softbench.query import fetch, render
    from softbench.schemas.phonons import PHONON_TASKS
    from softbench.workflows.phonons import (
        MODES,
        existing_phonon_work,
        phonon_flow,
        reusable_phonon_references,
    )

    models = get_models(args.models)
    items = discover(args.reference, "phonopy", args.materials)
    label = args.label or default_label(args.reference, "phonopy")
    modes = list(MODES) if args.mode == "both" else [args.mode]
    stores = open_cli_stores(args)
    reuse = reusable_phonon_references(stores.jobs, label, items)
    check_readable(args.reference, items, skip=reuse)
    names = [m.name for m in models]
    skip = set() if args.rerun else existing_phonon_work(stores.jobs, reuse, names)
    skip = {s for s in skip if s[0] in modes}
    flow = phonon_flow(
        items,
        models,
        label,
        modes=modes,
        settings=known_dataset_settings(args.reference),
        existing_references=reuse,
        skip=skip,
        device=args.device,
        fmax=args.fmax if args.fmax is not None else RELAX_FMAX,
        max_steps=args.relax_steps if args.relax_steps is not None else RELAX_STEPS,
    )
    message = (
        f"softbench: {len(items)} material(s) from {label}, {len(models)} model(s), "
        f"mode(s) {', '.join(modes)}; {len(reuse)} reference(s) reused, {len(skip)} "
        f"result(s) already there; running {len(flow.jobs)} job(s) on store {stores.spec}"
    )
    ids = ",".join(i.material_id for i in items)

    def report() -> None:
        docs = [
            d
            for d in fetch(stores, "phonons", model=",".join(names), material=ids, reference=label)
            if d["mode"] in modes
        ]
        print(render(docs, "phonons"))
        print()
        summary = fetch(stores, "phonon-summary", model=",".join(names), reference=label)
        print(render([d for d in summary if d["mode"] in modes], "phonon-summary"))
        _report_problems(docs)

    # softening (fixed-mode force parity) first, then phonons
    return TaskFlow(flow, stores, [PHONON_TASKS[m] for m in modes], message, report)


run = run_task_flow(plan)


def _report_problems(docs: list[dict]) -> None:
    unusable = {d["material_id"]: d["reason"] for d in docs if d["state"] == "unusable"}
    for mid, reason in sorted(unusable.items()):
        print(f"softbench: {mid} unusable: {reason}", file=sys.stderr)
    failed = [d for d in docs if d["state"] == "failed"]
    for d in failed:
        print(
            f"softbench: {d['material_id']} {d['model']} ({d['mode']}) failed: {d['reason']}",
            file=sys.stderr,
        )
    imaginary = [d for d in docs if d.get("model_imaginary")]
    for d in imaginary:
        print(
            f"softbench: {d['material_id']} {d['model']} ({d['mode']}) has imaginary modes "
            f"(min {d['model_min_freq_thz']:.3f} THz)",
            file=sys.stderr,
        )
