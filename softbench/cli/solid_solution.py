"""``softbench run solid-solution``: mixing energies of cation orderings, models against DFT.

Default system: Ca_xMg_(2-x)O_2 rocksalt on the 2x1x1 conventional cell (8 cations,
x = 0, 0.25, ..., 2), up to ``--orderings`` distinct orderings per composition drawn
with ``--seed``. ``--dft vasp`` (default) relaxes every ordering with atomate2's
MPRelaxSet where VASP is configured, else the DFT side is skipped with a warning.
"""

from __future__ import annotations

import argparse

from softbench.cli.argtypes import positive_int
from softbench.cli.common import TaskFlow, add_run_options, open_cli_stores
from softbench.cli.defects import add_dft_options, dft_plan, print_parity, run_with_dft


def supercell(value: str) -> tuple[int, int, int]:
    """``2,1,1`` -> (2, 1, 1); three positive integers."""
    try:
        parts = tuple(int(v) for v in value.split(","))
    except ValueError:
        parts = ()
    if len(parts) != 3 or min(parts) < 1:
        raise argparse.ArgumentTypeError(f"supercell must be three positive integers, not {value}")
    return parts


def register(sub: argparse._SubParsersAction) -> None:
    """Add the subcommand."""
    parser = sub.add_parser(
        "solid-solution", help="solid solutions: mixing energies of CaO-MgO cation orderings"
    )
    parser.add_argument(
        "--orderings", type=positive_int, default=3, help="orderings per composition (default 3)"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the ordering draw")
    parser.add_argument(
        "--supercell",
        type=supercell,
        default=(2, 1, 1),
        help="multiples of the conventional rocksalt cell (default 2,1,1: 8 cations)",
    )
    add_dft_options(parser, ("vasp",))
    add_run_options(parser, run, "recompute stored DFT references and model documents")


def plan(args: argparse.Namespace) -> TaskFlow:
    """Draw the orderings, run DFT (where possible) and models, build and print."""
    from softbench.makers.solid_solution import orderings
    from softbench.makers.vasp.solid_solution import VASP_LABEL
    from softbench.models import get_models
    from softbench.workflows.defects import paired_references
    from softbench.workflows.solid_solution import (
        existing_solid_solution_predictions,
        reusable_solid_solution_references,
        solid_solution_flow,
    )

    models = get_models(args.models)
    system = orderings(args.supercell, args.orderings, args.seed)
    dft, label, _ = dft_plan(args, VASP_LABEL)
    stores = open_cli_stores(args)
    names = [m.name for m in models]
    reuse = {} if args.rerun else reusable_solid_solution_references(stores.jobs, label, system)
    pairs = paired_references([system.material_id], reuse, dft)
    skip = (
        set()
        if args.rerun
        else existing_solid_solution_predictions(stores.jobs, label, system, names, pairs)
    )
    flow = solid_solution_flow(
        system,
        models,
        label,
        dft=dft,
        skip=skip,
        device=args.device,
        options={"fmax": args.fmax, "steps": args.steps},
        reference=reuse.get(system.material_id),
    )
    message = (
        f"softbench: {system.material_id}: {len(system.orderings)} ordering(s) on "
        f"{system.n_sublattice_sites} cation sites (distinct per x: {system.n_distinct}); "
        f"reference {label}; {len(reuse)} reference(s) and {len(skip)} prediction(s) reused; "
        f"running {len(flow.jobs)} job(s) on store {stores.spec}"
    )
    return TaskFlow(
        flow,
        stores,
        ["solid-solution"],
        message,
        lambda: print_parity(stores, "solid-solution", [system.material_id], names, label),
        details=dft,
    )


run = run_with_dft(plan)
