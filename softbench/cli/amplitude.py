"""``softbench run amplitude``: softening scale vs displacement amplitude (harmonic DFT)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from softbench.cli.argtypes import positive_int
from softbench.cli.common import (
    TaskFlow,
    add_materials,
    add_run_options,
    open_cli_stores,
    run_task_flow,
)


def amplitude_list(text: str) -> tuple[float, ...]:
    """Comma-separated amplitudes in Å, each in (0, MAX_AMPLITUDE]."""
    from softbench.analysis.amplitude import check_amplitudes

    values = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        try:
            values.append(float(part))
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected numbers in Å, got {part!r}") from None
    try:
        return check_amplitudes(values)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def register(sub: argparse._SubParsersAction) -> None:
    """Add the subcommand."""
    from softbench.analysis.amplitude import DEFAULT_AMPLITUDES, DEFAULT_PATTERNS, MAX_AMPLITUDE

    parser = sub.add_parser(
        "amplitude",
        help="softening scale vs displacement amplitude against harmonic DFT forces",
        description="From the DFT force constants of a phonopy reference, seeded random "
        "displacement patterns per amplitude (each atom moved by A Å) get harmonic forces "
        "F = -Phi u as reference; the model's forces minus its residual force at the "
        "undisplaced geometry are the prediction. The harmonic reference is exact only "
        "at small amplitudes.",
    )
    parser.add_argument(
        "--reference",
        required=True,
        help="directory of <material_id>/phonopy.yaml[.xz] with displacement forces, "
        "or one such yaml",
    )
    add_materials(parser)
    parser.add_argument(
        "--amplitudes",
        type=amplitude_list,
        default=DEFAULT_AMPLITUDES,
        help="comma-separated per-atom displacement norms in Å, each in (0, "
        f"{MAX_AMPLITUDE:g}] (default {','.join(f'{a:g}' for a in DEFAULT_AMPLITUDES)})",
    )
    parser.add_argument(
        "--patterns",
        type=positive_int,
        default=DEFAULT_PATTERNS,
        help=f"random patterns per amplitude (default {DEFAULT_PATTERNS})",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the patterns (default 0)")
    parser.add_argument(
        "--label", default=None, help="reference label (default: phonopy:<source name>)"
    )
    add_run_options(parser, run, "re-evaluate even where results already exist")


def plan(args: argparse.Namespace) -> TaskFlow:
    """Ingest (or reuse) references, run the model jobs, build and print the curves."""
    from softbench.ingest import check_readable, default_label, discover, known_dataset_settings
    from softbench.models import get_models
    from softbench.workflows.amplitude import amplitude_flow, existing_amplitude_predictions
    from softbench.workflows.phonons import reusable_phonon_references

    models = get_models(args.models)
    items = discover(args.reference, "phonopy", args.materials)
    label = args.label or default_label(args.reference, "phonopy")
    stores = open_cli_stores(args)
    reuse = reusable_phonon_references(stores.jobs, label, items)
    check_readable(args.reference, items, skip=reuse)
    names = [m.name for m in models]
    options = {"amplitudes": args.amplitudes, "n_patterns": args.patterns, "seed": args.seed}
    skip = (
        set() if args.rerun else existing_amplitude_predictions(stores.jobs, reuse, names, options)
    )
    flow = amplitude_flow(
        items,
        models,
        label,
        settings=known_dataset_settings(args.reference),
        existing_references=reuse,
        skip=skip,
        device=args.device,
        options=options,
    )
    message = (
        f"softbench: {len(items)} material(s) from {label}, {len(models)} model(s), "
        f"{len(args.amplitudes)} amplitude(s) x {args.patterns} pattern(s); {len(reuse)} "
        f"reference(s) and {len(skip)} result(s) reused; running {len(flow.jobs)} job(s) "
        f"on store {stores.spec}"
    )
    return TaskFlow(
        flow,
        stores,
        ["amplitude"],
        message,
        lambda: print_results(stores, [i.material_id for i in items], names, label),
    )


run = run_task_flow(plan)


def print_results(stores: Any, ids: list[str], models: list[str], label: str) -> None:
    """Per-amplitude rows, the roughness per (material, model), problems on stderr."""
    from softbench.query import fetch, render

    filters = {"model": ",".join(models), "material": ",".join(ids), "reference": label}
    print(render(fetch(stores, "amplitude", **filters), "amplitude"))
    print()
    curves = fetch(stores, "amplitude-curves", **filters)
    print(render(curves, "amplitude-curves"))
    for d in curves:
        if d["state"] != "successful":
            print(
                f"softbench: {d['material_id']} {d['model']} {d['state']}: {d['reason']}",
                file=sys.stderr,
            )
        for w in d.get("warnings") or []:
            print(f"softbench: {d['material_id']} {d['model']}: {w}", file=sys.stderr)
