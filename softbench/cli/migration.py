"""``softbench run migration``: ion migration barriers (ApproxNEB), model against DFT.

Hops come from a host file (``--host FILE --ion Mg``: the shortest symmetry-distinct
hops between the ion's sites) or from published DFT barriers (``--reference FILE``,
JSON/CSV, see :mod:`softbench.ingest.migration`). ``--dft vasp|cp2k`` computes the
DFT path of each host hop (atomate2 ApproxNEB VASP makers, MP-compatible; or CP2K
through ASE); without it, host hops get model barriers only.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from softbench.cli.argtypes import positive_float, positive_int
from softbench.cli.common import TaskFlow, add_run_options, open_cli_stores, run_task_flow, split


def register(sub: argparse._SubParsersAction) -> None:
    """Add the subcommand."""
    parser = sub.add_parser("migration", help="ion migration barriers (ApproxNEB) against DFT")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--host", help="host structure file(s) (CIF/POSCAR/JSON of structures)")
    source.add_argument(
        "--reference", help="JSON/CSV of DFT hops: host, working ion, path and DFT energies"
    )
    parser.add_argument("--ion", help="working ion (element) for --host")
    parser.add_argument(
        "--images", type=positive_int, default=5, help="images between end points (default 5)"
    )
    parser.add_argument(
        "--dft",
        choices=("vasp", "cp2k"),
        default=None,
        help="compute the DFT path of --host hops: vasp (atomate2 ApproxNEB makers, "
        "MP-compatible) or cp2k (ASE CP2K); default none: model barriers only",
    )
    parser.add_argument(
        "--limit",
        choices=("vacancy", "empty"),
        default="vacancy",
        help="vacancy: the ion hops into a vacancy, other ions stay (default); "
        "empty: all working ions removed, one ion hops in the empty host",
    )
    parser.add_argument(
        "--max-hop-distance",
        type=positive_float,
        default=None,
        help="longest hop kept, Å (default: the shortest ion-ion distance + 0.05)",
    )
    parser.add_argument(
        "--min-length",
        type=float,
        default=7.0,
        help="supercell: each lattice vector at least this long, Å (default 7)",
    )
    parser.add_argument("--hops", type=split, default=None, help="only these hop ids")
    parser.add_argument(
        "--chgcar",
        default=None,
        help="host CHGCAR: charge-density-guided images (atomate2's pathfinder) for the "
        "models and CP2K; with --dft vasp the VASP path uses its own host CHGCAR",
    )
    parser.add_argument(
        "--fmax", type=positive_float, default=0.05, help="relaxation threshold, eV/Å (0.05)"
    )
    parser.add_argument("--label", default=None, help="reference label (default from the source)")
    add_run_options(parser, run, "recompute existing predictions")


def host_records(args: argparse.Namespace) -> list[dict[str, Any]]:
    """Hop records of the ``--host`` file(s), without DFT energies."""
    from softbench.ingest.migration import hop_record, options_checksum
    from softbench.ingest.structures import read_structures
    from softbench.makers.migration import MigrationInputError, hops_from_host

    if not args.ion:
        raise MigrationInputError("--host needs --ion (the working ion, e.g. --ion Mg)")
    options = {
        "ion": args.ion,
        "limit": args.limit,
        "max_hop_distance": args.max_hop_distance,
        "min_length": args.min_length,
    }
    checksum = options_checksum(args.host, options)
    records = []
    for host_id, structure in read_structures(args.host).items():
        hops = hops_from_host(
            structure, args.ion, host_id, args.limit, args.max_hop_distance, args.min_length
        )
        records += [hop_record(h, args.images, args.host, checksum) for h in hops]
    return records


def plan(args: argparse.Namespace) -> TaskFlow:
    """Make hops, (reuse) references, run the models, build and print the barriers."""
    from softbench.ingest.migration import read_hops
    from softbench.makers.migration import MigrationInputError
    from softbench.models import get_models
    from softbench.schemas.migration import MODEL_ONLY
    from softbench.workflows.migration import (
        existing_hop_predictions,
        hop_name,
        migration_flow,
        reusable_hop_references,
    )

    models = get_models(args.models)
    if args.reference:
        if args.dft:
            raise MigrationInputError("--dft computes host hops; --reference brings its own DFT")
        label, records = read_hops(args.reference)
        label = args.label or label
    else:
        records = host_records(args)
        label = args.label or MODEL_ONLY
    if args.hops:
        unknown = sorted(set(args.hops) - {str(r["hop_id"]) for r in records})
        if unknown:
            raise MigrationInputError(f"hop id(s) {', '.join(unknown)} not among the hops found")
        records = [r for r in records if str(r["hop_id"]) in args.hops]
    if args.chgcar:
        from softbench.makers.migration import read_charge_density

        read_charge_density(args.chgcar)  # unreadable: exit 2 before any job
    dft = None
    if args.dft:
        dft, label = dft_reference(args)
    stores = open_cli_stores(args)
    reuse = reusable_hop_references(stores.jobs, label, records)
    names = [m.name for m in models]
    skip = set() if args.rerun else existing_hop_predictions(stores.jobs, reuse, names)
    flow = migration_flow(
        records,
        models,
        label,
        existing_references=reuse,
        skip=skip,
        device=args.device,
        options={
            "fmax": args.fmax,
            "n_images": None if args.reference else args.images,
            "chgcar": args.chgcar,
        },
        dft=dft,
    )
    message = (
        f"softbench: {len(records)} hop(s) ({', '.join(hop_name(r) for r in records)}), "
        f"reference {label}, {len(models)} model(s); {len(reuse)} reference(s) and "
        f"{len(skip)} prediction(s) reused; running {len(flow.jobs)} job(s) on store "
        f"{stores.spec}"
    )
    return TaskFlow(
        flow,
        stores,
        ["migration"],
        message,
        lambda: print_results(stores, sorted({str(r["host"]) for r in records}), names, label),
    )


run = run_task_flow(plan)


def dft_reference(args: argparse.Namespace) -> tuple[Any, str]:
    """(reference maker for the flow, label) of ``--dft``; exit 2 when the code is missing."""
    from softbench.makers.migration import MigrationInputError

    if args.dft == "vasp":
        from softbench.cli.high_energy import vasp_problem
        from softbench.makers.vasp.migration import VASP_LABEL, VaspMigrationReferenceMaker

        problem = vasp_problem()
        if problem:
            raise MigrationInputError(problem.replace("--no-dft to sample frames only", "no --dft"))
        path = "chgcar" if args.chgcar else "linear"
        maker = VaspMigrationReferenceMaker(n_images=args.images, path=path)
        return maker.reference, args.label or VASP_LABEL
    from softbench.makers.cp2k.migration import Cp2kMigrationMaker
    from softbench.makers.cp2k.runner import cp2k_problem

    problem = cp2k_problem()
    if problem:
        raise MigrationInputError(problem)
    cp2k = Cp2kMigrationMaker(n_images=args.images, fmax=args.fmax, chgcar=args.chgcar)
    return cp2k.reference, cp2k.label()


def print_results(stores: Any, hosts: list[str], models: list[str], label: str) -> None:
    """Per-hop barrier table, then the summary of exactly these hops."""
    from softbench.builders.migration import summarize_migration
    from softbench.query import fetch, render
    from softbench.schemas.migration import MigrationBarrierDocument

    docs = fetch(
        stores, "migration", model=",".join(models), material=",".join(hosts), reference=label
    )
    print(render(docs, "migration"))
    by_model: dict[str, list[MigrationBarrierDocument]] = {}
    for d in docs:
        by_model.setdefault(d["model"], []).append(MigrationBarrierDocument.model_validate(d))
    summaries = [summarize_migration(v).model_dump() for _, v in sorted(by_model.items())]
    print(f"\nsummary over these hops ({label}):")
    print(render(summaries, "migration-summary"))
    failed = [d for d in docs if d["state"] != "successful"]
    if failed:
        print(
            f"softbench: {len(failed)} of {len(docs)} (hop, model) pairs failed; reasons in "
            "the 'reason' column",
            file=sys.stderr,
        )
