"""``softbench demo``: force parity of three uMLIPs on real DFT-PBE phonon forces."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from softbench.cli.common import add_store_option, open_cli_stores

DEMO_MATERIALS = "mp-1519,mp-19717,mp-2534"  # CaTe, PbTe, GaAs: 2 displacements each
DEMO_MODELS = "chgnet-0.3.0,m3gnet-mp-2021.2.8,sevennet-0"


def register(sub: argparse._SubParsersAction) -> None:
    """Add the subcommand."""
    parser = sub.add_parser("demo", help="run the force-parity demo on real DFT data")
    parser.add_argument("--materials", default=DEMO_MATERIALS)
    parser.add_argument("--models", default=DEMO_MODELS)
    parser.add_argument("--out", default="softbench-output", help="where the figure goes")
    add_store_option(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Find (or download) the data, run, build, print the tables and plot."""
    from softbench.cli import forces
    from softbench.reports.forces import parity_figure
    from softbench.shared_data import dataset_info, dataset_path

    materials = [m.strip() for m in args.materials.split(",") if m.strip()]
    reference = dataset_path("phonons-pbe", only=[f"{m}/" for m in materials])
    print(f"softbench demo: DFT-PBE phonon displacement forces from {reference}", file=sys.stderr)
    run_args = argparse.Namespace(
        reference=str(reference),
        format="phonopy",
        materials=materials,
        label="phonopy:phonons-pbe",
        task="forces",
        rerun=False,
        no_build=False,
        models=args.models,
        device=None,
        store=args.store,
        with_stress=False,
    )
    code = forces.run(run_args)
    figure = parity_figure(
        open_cli_stores(args),
        Path(args.out) / "force_parity_forces.png",
        task="forces",
        materials=materials,
    )
    if figure:
        print(f"\nparity plot: {figure}")
    print(f"reference data: {dataset_info('phonons-pbe')['citation']}")
    return code
