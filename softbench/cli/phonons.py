"""``softbench run phonons``: phonon softening against DFT finite-displacement phonons."""

from __future__ import annotations

import argparse
import sys

from softbench.cli.argtypes import positive_float, positive_int
from softbench.cli.common import (
    TaskFlow,
    UsageError,
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
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--reference",
        help="directory of <material_id>/phonopy.yaml[.xz] with displacement forces, "
        "or one such yaml",
    )
    source.add_argument(
        "--structures",
        help="with --dft cp2k: structure file, folder or data set whose DFT phonons CP2K "
        "computes (finite displacements of the input cell, no relaxation)",
    )
    parser.add_argument(
        "--dft",
        choices=("cp2k",),
        default=None,
        help="DFT code for --structures (cp2k; VASP phonons: softbench.makers.vasp.phonons)",
    )
    parser.add_argument(
        "--min-length",
        type=positive_float,
        default=10.0,
        help="--dft cp2k: supercell edges of at least this many Å (default 10)",
    )
    parser.add_argument(
        "--work-dir", default="softbench-runs", help="--dft cp2k: folder for the CP2K job folders"
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
    if args.structures is not None or args.dft is not None:
        return _cp2k_plan(args)
    from softbench.ingest import (
        check_readable,
        default_label,
        discover,
        known_dataset_settings,
    )
    from softbench.makers.phonons import RELAX_FMAX, RELAX_STEPS
    from softbench.models import get_models
    from softbench.query import fetch, render
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

    return TaskFlow(flow, stores, build_tasks(modes), message, report)


def _cp2k_plan(args: argparse.Namespace) -> TaskFlow:
    """CP2K phonons of input structures, then the model jobs on them."""
    from softbench.ingest.structures import read_structures
    from softbench.makers.cp2k.phonons import phonon_input_key
    from softbench.makers.cp2k.runner import cp2k_problem
    from softbench.makers.cp2k.settings import Cp2kSettings
    from softbench.makers.phonons import RELAX_FMAX, RELAX_STEPS
    from softbench.models import get_models
    from softbench.query import fetch, render
    from softbench.workflows.phonons import (
        MODES,
        cp2k_phonon_flow,
        existing_phonon_work,
        reusable_cp2k_phonon_references,
    )

    if args.structures is None or args.dft != "cp2k":
        raise UsageError("--structures and --dft cp2k go together (DFT phonons computed here)")
    models = get_models(args.models)
    structures = read_structures(args.structures, args.materials)
    settings = Cp2kSettings()
    label = settings.label()
    modes = list(MODES) if args.mode == "both" else [args.mode]
    stores = open_cli_stores(args)
    reuse: dict[str, str] = {}
    skip: set[tuple[str, str, str]] = set()
    if not args.rerun:  # --rerun computes the CP2K references and the model jobs again
        keys = {m: phonon_input_key(s, settings, args.min_length) for m, s in structures.items()}
        reuse = reusable_cp2k_phonon_references(stores.jobs, label, keys)
        done = existing_phonon_work(stores.jobs, reuse, [m.name for m in models])
        skip = {s for s in done if s[0] in modes}
    problem = cp2k_problem() if len(reuse) < len(structures) else None  # reuse needs no CP2K
    if problem:
        raise UsageError(problem)
    flow = cp2k_phonon_flow(
        structures,
        models,
        settings,
        modes,
        args.min_length,
        args.device,
        existing_references=reuse,
        skip=skip,
        fmax=args.fmax if args.fmax is not None else RELAX_FMAX,
        max_steps=args.relax_steps if args.relax_steps is not None else RELAX_STEPS,
    )
    message = (
        f"softbench: CP2K phonons ({label}, supercells >= {args.min_length:g} Å) of "
        f"{len(structures)} material(s), then {len(models)} model(s), mode(s) "
        f"{', '.join(modes)}; {len(reuse)} reference(s) and {len(skip)} prediction(s) "
        f"reused; running {len(flow.jobs)} job(s) in {args.work_dir} on store {stores.spec}"
    )
    names = ",".join(m.name for m in models)

    def report() -> None:
        docs = fetch(stores, "phonons", model=names, material=",".join(structures), reference=label)
        print(render([d for d in docs if d["mode"] in modes], "phonons"))
        _report_problems(docs)

    return TaskFlow(flow, stores, build_tasks(modes), message, report, details=args.work_dir)


def run(args: argparse.Namespace) -> int:
    """Run the plan here; CP2K jobs get their own folders under --work-dir."""
    task_flow = plan(args)
    if task_flow.details is None:
        return run_task_flow(lambda _: task_flow)(args)
    from pathlib import Path

    from softbench.cli.common import run_and_build
    from softbench.run import run_flow

    print(task_flow.plan, file=sys.stderr)
    if task_flow.flow.jobs:  # empty where everything was reused
        work = Path(task_flow.details).expanduser().resolve()
        work.mkdir(parents=True, exist_ok=True)
        run_flow(task_flow.flow, task_flow.stores, root_dir=work, create_folders=True)
    if run_and_build(type(task_flow.flow)([]), task_flow.stores, args.no_build, task_flow.tasks):
        task_flow.report()
    return 0


def build_tasks(modes: list[str]) -> list[str]:
    """Build tasks of the modes: both in one phonon builder pass (DFT phonons once)."""
    from softbench.schemas.phonons import BOTH_MODES, PHONON_TASKS

    # the softening builder (fixed-mode force parity) runs before the phonon builder
    return [BOTH_MODES] if len(modes) > 1 else [PHONON_TASKS[m] for m in modes]


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
