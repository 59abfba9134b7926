"""``softbench run surfaces``: model surface energies against DFT (VASP or CP2K)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from softbench.cli.argtypes import positive_float, positive_int
from softbench.cli.common import add_run_options, open_cli_stores, run_and_build


def register(sub: argparse._SubParsersAction) -> None:
    """Add the subcommand."""
    parser = sub.add_parser(
        "surfaces", help="surface energies of symmetric slabs: model against DFT"
    )
    parser.add_argument(
        "--structure",
        required=True,
        help="comma-separated bulk inputs: a built-in element (Si, Cu, ...), a structure "
        "file, a folder of them, or an mp-id of the 'mp-elasticity' data set",
    )
    parser.add_argument(
        "--max-index", type=positive_int, default=2, help="largest Miller index (default 2)"
    )
    parser.add_argument(
        "--min-slab", type=positive_float, default=10.0, help="minimum slab size, Å (default 10)"
    )
    parser.add_argument(
        "--min-vacuum",
        type=positive_float,
        default=10.0,
        help="minimum vacuum, Å (default 10)",
    )
    parser.add_argument(
        "--fmax", type=positive_float, default=0.05, help="slab force threshold, eV/Å (0.05)"
    )
    parser.add_argument(
        "--steps", type=positive_int, default=200, help="slab relaxation step limit (200)"
    )
    parser.add_argument(
        "--dft",
        choices=("none", "vasp", "cp2k"),
        default="none",
        help="DFT side: none (model values only, reported without partner), vasp "
        "(atomate2, MP settings) or cp2k (the project's CP2K method)",
    )
    parser.add_argument(
        "--cp2k-cutoff",
        type=positive_float,
        default=None,
        help="--dft cp2k: plane-wave cutoff, Ry (default: the CP2K settings' 500)",
    )
    parser.add_argument(
        "--cp2k-kspacing",
        type=positive_float,
        default=None,
        help="--dft cp2k: k-point spacing, 1/Å with 2π (default 0.3); slabs get 1 along the normal",
    )
    add_run_options(parser, run, "recompute existing predictions and references")


def bulk_structures(value: str) -> dict[str, Any]:
    """Material id -> bulk Structure for each comma-separated ``--structure`` entry."""
    from pathlib import Path

    from softbench.analysis.surfaces import SurfaceInputError, check_bulk
    from softbench.ingest.base import ReferenceFormatError
    from softbench.ingest.elements import ELEMENTS, elemental_structure
    from softbench.ingest.structures import read_structures

    found: dict[str, Any] = {}
    mp_ids: list[str] = []
    for entry in (v.strip() for v in value.split(",") if v.strip()):
        if entry in ELEMENTS:
            found[entry] = elemental_structure(entry)
        elif Path(entry).expanduser().exists():
            found.update(read_structures(entry))
        elif entry.startswith("mp-"):
            mp_ids.append(entry)
        else:
            raise ReferenceFormatError(
                f"--structure {entry}: not a built-in element ({', '.join(sorted(ELEMENTS))}), "
                "an existing file or folder, or an mp-id"
            )
    if mp_ids:
        found.update(read_structures("mp-elasticity", materials=mp_ids))
    for mid, structure in found.items():
        try:
            check_bulk(structure, mid)
        except SurfaceInputError as exc:
            raise ReferenceFormatError(str(exc)) from exc
    return found


def run(args: argparse.Namespace) -> int:
    """Run DFT (optional) and model jobs, build and print the results."""
    from softbench.models import get_models
    from softbench.workflows.surfaces import (
        dft_label,
        dft_maker,
        existing_surface_predictions,
        reusable_surface_references,
        surfaces_flow,
    )

    models = get_models(args.models)
    structures = bulk_structures(args.structure)
    options = {
        "max_index": args.max_index,
        "min_slab_a": args.min_slab,
        "min_vacuum_a": args.min_vacuum,
        "fmax": args.fmax,
        "slab_steps": args.steps,
        "cutoff_ry": args.cp2k_cutoff,
        "kspacing": args.cp2k_kspacing,
    }
    dft = None if args.dft == "none" else args.dft
    if dft == "vasp":
        check_vasp()
    label = dft_label(dft_maker(dft, options))
    stores = open_cli_stores(args)
    names = [m.name for m in models]
    reuse = (
        {} if args.rerun else reusable_surface_references(stores.jobs, label, structures, options)
    )
    skip = (
        set()
        if args.rerun
        else existing_surface_predictions(stores.jobs, label, structures, options, names, reuse)
    )
    flow = surfaces_flow(structures, models, dft, options, args.device, reuse, skip)
    print(
        f"softbench: {len(structures)} bulk structure(s), {len(models)} model(s), DFT "
        f"{label}; {len(reuse)} reference(s) and {len(skip)} prediction(s) reused; running "
        f"{len(flow.jobs)} job(s) on store {stores.spec}",
        file=sys.stderr,
    )
    if run_and_build(flow, stores, args.no_build, ["surfaces"]):
        print_results(stores, list(structures), names, label)
    return 0


def check_vasp() -> None:
    """One-line error when atomate2's VASP command is not on this machine."""
    import shlex
    import shutil

    from atomate2 import SETTINGS

    from softbench.ingest.base import ReferenceFormatError

    command = shlex.split(str(SETTINGS.VASP_CMD))
    if not any(shutil.which(part) for part in command if not part.startswith("-")):
        raise ReferenceFormatError(
            f"--dft vasp: VASP command {SETTINGS.VASP_CMD!r} (atomate2 VASP_CMD) is not on "
            "this machine; run there, or use --dft cp2k"
        )


def print_results(stores: Any, ids: list[str], models: list[str], label: str) -> None:
    """Per-surface table, then the summary of these materials; note unpaired values."""
    from softbench.builders.surfaces import summarize_surfaces
    from softbench.query import fetch, render
    from softbench.schemas.surfaces import SurfaceEnergyDocument

    filters = {"model": ",".join(models), "material": ",".join(ids), "reference": label}
    docs = fetch(stores, "surfaces", **filters)
    print(render(docs, "surfaces"))
    by_model: dict[str, list[SurfaceEnergyDocument]] = {}
    for d in docs:
        by_model.setdefault(d["model"], []).append(SurfaceEnergyDocument.model_validate(d))
    summaries = [summarize_surfaces(v).model_dump() for _, v in sorted(by_model.items())]
    print(f"\nsummary over these {len(ids)} material(s):")
    print(render(summaries, "surfaces-summary"))
    from softbench.workflows.surfaces import skipped_facets

    for mid, skipped in skipped_facets(stores.jobs, ids).items():
        for facet, reason in skipped.items():
            print(f"softbench: {mid} {facet} skipped: {reason}", file=sys.stderr)
    missing = sum(s["n_missing_reference"] for s in summaries)
    if missing:
        print(
            f"softbench: {missing} model surface energies have no DFT partner (label {label}); "
            "they are stored and listed with state missing_reference",
            file=sys.stderr,
        )
