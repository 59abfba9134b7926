"""``softbench run defects``: point-defect formation energies, models against DFT.

Bulk structures: built-in elements (``--structure Cu`` or ``Cu,Al``), a structure
file or folder, a registered data set (``mp-elasticity``, with ``--materials``), or
Materials Project ids the shared ``mp-elasticity`` set holds (``--structure
mp-30``). ``--dft vasp`` (default) runs atomate2's VASP relax makers where VASP is
configured; where it is not, the DFT side is skipped with a warning and the
builders report every model value as missing its DFT partner. ``--dft cp2k`` runs
CP2K (vetted elements only); ``--no-dft`` runs models only.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from softbench.cli.argtypes import positive_float, positive_int
from softbench.cli.common import (
    TaskFlow,
    add_materials,
    add_run_options,
    open_cli_stores,
    run_and_build,
)

ELASTICITY_SET = "mp-elasticity"


def add_dft_options(parser: argparse.ArgumentParser, codes: tuple[str, ...]) -> None:
    """``--dft``, ``--no-dft``, ``--label``, ``--work-dir``, ``--fmax``, ``--steps``."""
    parser.add_argument(
        "--dft",
        choices=codes,
        default="vasp",
        help="DFT code of the reference (default vasp: atomate2 MPRelaxSet relaxations)",
    )
    parser.add_argument("--no-dft", action="store_true", help="models only (no DFT jobs)")
    parser.add_argument("--label", default=None, help="DFT reference label (default per code)")
    parser.add_argument(
        "--work-dir", default="softbench-work", help="folder for DFT job directories"
    )
    parser.add_argument(
        "--fmax", type=positive_float, default=0.01, help="model relax threshold, eV/Å"
    )
    parser.add_argument(
        "--steps", type=positive_int, default=300, help="model relax step limit (default 300)"
    )


def register(sub: argparse._SubParsersAction) -> None:
    """Add the subcommand."""
    parser = sub.add_parser(
        "defects", help="point defects: vacancy/interstitial/antisite formation energies"
    )
    parser.add_argument(
        "--structure",
        required=True,
        help="built-in element(s) (Cu or Cu,Al), a structure file or folder, a data set "
        "name (mp-elasticity), or Materials Project id(s) of the mp-elasticity set",
    )
    add_materials(parser)
    parser.add_argument(
        "--kinds",
        default="vacancy,interstitial,antisite",
        help="comma-separated defect kinds (default: all three)",
    )
    parser.add_argument(
        "--min-length",
        type=positive_float,
        default=8.0,
        help="minimum supercell edge, Å (default 8)",
    )
    parser.add_argument(
        "--max-atoms", type=positive_int, default=256, help="largest supercell (default 256)"
    )
    add_dft_options(parser, ("vasp", "cp2k"))
    add_run_options(parser, run, "recompute stored DFT references and model documents")


def bulk_structures(value: str, materials: list[str] | None) -> dict[str, Any]:
    """material_id -> Structure from ``--structure`` (see the module docstring)."""
    from softbench.ingest.elements import ELEMENTS, element_structure
    from softbench.ingest.structures import read_structures
    from softbench.shared_data import registry

    names = [v.strip() for v in value.split(",") if v.strip()]
    if names and all(n in ELEMENTS for n in names):
        return {n: element_structure(n) for n in names}
    if Path(value).expanduser().exists() or value in registry():
        return read_structures(value, materials)
    if names and all(n.startswith("mp-") for n in names):
        return read_structures(ELASTICITY_SET, names)
    from softbench.ingest.base import ReferenceFormatError

    raise ReferenceFormatError(
        f"--structure {value}: not a built-in element ({', '.join(sorted(ELEMENTS))}), "
        "file, folder, data set or mp-elasticity id"
    )


def dft_plan(args: argparse.Namespace, default_label: str) -> tuple[str | None, str, Any]:
    """(DFT code to run or None, reference label, CP2K settings or None); warns on skips."""
    if args.dft == "cp2k":
        from softbench.makers.cp2k.runner import cp2k_problem
        from softbench.makers.cp2k.settings import Cp2kSettings

        settings = Cp2kSettings()
        label = settings.label()
        if args.label and args.label != label:
            from softbench.ingest.base import ReferenceFormatError

            raise ReferenceFormatError(
                f"--label {args.label} with --dft cp2k: the CP2K reference label comes from "
                f"its settings ({label})"
            )
        problem = None if args.no_dft else cp2k_problem()
    else:
        from softbench.cli.high_energy import vasp_problem

        settings, label = None, args.label or default_label
        problem = None if args.no_dft else vasp_problem()
    if args.no_dft:
        return None, label, settings
    if problem:
        print(
            f"softbench: warning: {problem.split('. ')[0]}. DFT side skipped: model values "
            "are stored and reported as missing their DFT partner",
            file=sys.stderr,
        )
        return None, label, settings
    return args.dft, label, settings


def run_with_dft(plan: Callable[[argparse.Namespace], TaskFlow]) -> Callable[..., int]:
    """A ``run`` handler like ``run_task_flow``; DFT jobs run in folders under --work-dir."""

    def run(args: argparse.Namespace) -> int:
        task_flow = plan(args)
        print(task_flow.plan, file=sys.stderr)
        flow = task_flow.flow
        if task_flow.details is not None:
            from softbench.run import run_flow

            work = Path(args.work_dir).expanduser().resolve()
            work.mkdir(parents=True, exist_ok=True)
            run_flow(flow, task_flow.stores, root_dir=work, create_folders=True)
            flow = type(flow)([], name=flow.name)
        if run_and_build(flow, task_flow.stores, args.no_build, task_flow.tasks):
            task_flow.report()
        return 0

    run.__doc__ = plan.__doc__
    return run


def plan(args: argparse.Namespace) -> TaskFlow:
    """Build the defect sets, run DFT (where possible) and models, build and print."""
    from softbench.makers.defects import defect_set
    from softbench.makers.vasp.defects import VASP_LABEL
    from softbench.models import get_models
    from softbench.workflows.defects import (
        defects_flow,
        existing_defect_predictions,
        paired_references,
        reusable_defect_references,
    )

    models = get_models(args.models)
    kinds = tuple(k.strip() for k in args.kinds.split(",") if k.strip())
    structures = bulk_structures(args.structure, args.materials)
    sets = [
        defect_set(s, mid, kinds, args.min_length, args.max_atoms) for mid, s in structures.items()
    ]
    dft, label, cp2k = dft_plan(args, VASP_LABEL)
    stores = open_cli_stores(args)
    names = [m.name for m in models]
    reuse = {} if args.rerun else reusable_defect_references(stores.jobs, label, sets)
    pairs = paired_references([s.material_id for s in sets], reuse, dft)
    skip = (
        set() if args.rerun else existing_defect_predictions(stores.jobs, label, sets, names, pairs)
    )
    flow = defects_flow(
        sets,
        models,
        label,
        dft=dft,
        skip=skip,
        device=args.device,
        options={"fmax": args.fmax, "steps": args.steps},
        cp2k=cp2k,
        references=reuse,
    )
    lines = [
        f"softbench: {s.material_id} ({s.formula}): {len(s.defects)} defect(s) "
        f"[{', '.join(d.label for d in s.defects)}] in a {s.n_supercell_atoms}-atom "
        f"supercell; reference {label}"
        for s in sets
    ]
    lines.append(
        f"softbench: {len(models)} model(s); {len(reuse)} reference(s) and {len(skip)} "
        f"prediction(s) reused; running {len(flow.jobs)} job(s) on store {stores.spec}"
    )
    ids = [s.material_id for s in sets]
    return TaskFlow(
        flow,
        stores,
        ["defects"],
        "\n".join(lines),
        lambda: print_parity(stores, "defects", ids, names, label),
        details=dft,
    )


run = run_with_dft(plan)


def print_parity(
    stores: Any, what: str, material_ids: list[str], models: list[str], label: str
) -> None:
    """Per-label table of this run, then per-model summaries of exactly these documents."""
    from softbench.builders.labelled import summarize_parity
    from softbench.query import fetch, render
    from softbench.schemas.parity import LabelledParityDocument

    docs = fetch(
        stores, what, model=",".join(models), material=",".join(material_ids), reference=label
    )
    print(render(docs, what))
    groups: dict[str, list[LabelledParityDocument]] = {}
    for d in docs:
        groups.setdefault(d["model"], []).append(LabelledParityDocument.model_validate(d))
    summaries = [summarize_parity(v).model_dump() for _, v in sorted(groups.items())]
    print(f"\nsummary over these {len(material_ids)} material(s):")
    print(render(summaries, f"{what}-summary"))
    unpaired = sum(s["n_unpaired"] for s in summaries)
    if unpaired:
        print(
            f"softbench: {unpaired} model value(s) have no DFT partner (state 'unpaired'; "
            "no MAE without DFT)",
            file=sys.stderr,
        )
