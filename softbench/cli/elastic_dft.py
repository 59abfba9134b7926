"""``run elastic --dft vasp|cp2k``: the DFT reference computed here, and its check.

The structures come from the ``--reference`` file; the computed moduli are printed
beside the file's (:func:`print_dft_check`).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from softbench.cli.common import UsageError
from softbench.cli.elastic import record_structure, select_items


def dft_flow(
    args: argparse.Namespace, path: Path, models: list[Any], stores: Any, options: dict[str, Any]
) -> tuple[Any, str, list[str], str]:
    """Flow, label, material ids and plan text with a DFT reference computed by VASP or CP2K."""
    from softbench.ingest import elastic as ingest
    from softbench.workflows.elastic import (
        dft_elastic_flow,
        existing_elastic_predictions,
        reusable_computed_references,
    )

    if args.label:
        raise UsageError(f"--label with --dft {args.dft}: the label comes from its settings")
    maker, vetted = _dft_maker(args)
    items = select_items(path, args.materials, args.sample, args.seed, args.max_atoms, vetted)
    records = ingest.load(path)
    structures = {i.material_id: record_structure(records[i.material_id]) for i in items}
    label = maker.label
    reuse: dict[str, str] = {}
    if args.dft == "cp2k" and not args.rerun:
        from softbench.makers.cp2k.elastic import elastic_input_key

        keys = {
            m: elastic_input_key(s, maker.settings, maker.options) for m, s in structures.items()
        }
        reuse = reusable_computed_references(stores.jobs, label, keys)
    names = [m.name for m in models]
    scan = list(options["strain_scan"])
    skip = set() if args.rerun else existing_elastic_predictions(stores.jobs, reuse, names, scan)
    flow = dft_elastic_flow(structures, models, maker, args.device, options, reuse, skip)
    if args.dft == "cp2k" and len(reuse) < len(structures):
        _warn_cp2k_cost({m: s for m, s in structures.items() if m not in reuse}, maker.settings)
    message = (
        f"softbench: {len(items)} material(s) from {path.name}, DFT {label} computed here "
        f"({len(structures) - len(reuse)} to compute, {len(reuse)} reused), {len(models)} "
        f"model(s), {len(skip)} prediction(s) reused; running {len(flow.jobs)} job(s) on "
        f"store {stores.spec}"
    )
    return flow, label, list(structures), message


def _dft_maker(args: argparse.Namespace) -> tuple[Any, set[str] | None]:
    """The reference maker of ``--dft`` and the elements it can compute (None: any)."""
    if args.dft == "vasp":
        from softbench.cli.surfaces import check_vasp
        from softbench.makers.vasp.elastic import VaspElasticReferenceMaker

        if args.cp2k_kspacing is not None:
            raise UsageError("--cp2k-kspacing needs --dft cp2k")
        check_vasp()
        return VaspElasticReferenceMaker(), None
    from softbench.makers.cp2k.elastic import Cp2kElasticMaker, elastic_settings
    from softbench.makers.cp2k.runner import cp2k_problem
    from softbench.makers.cp2k.settings import VETTED_KINDS

    problem = cp2k_problem()
    if problem:
        raise UsageError(problem)
    settings = elastic_settings()
    if args.cp2k_kspacing is not None:
        settings = settings.model_copy(update={"kspacing": args.cp2k_kspacing})
    options = {"fmax": max(args.fmax, 1e-3)}  # below 1e-3 eV/Å CP2K's SCF noise dominates
    return Cp2kElasticMaker(settings=settings, options=options), set(VETTED_KINDS)


#: CP2K runs of one elastic reference, for the cost warning: the element validation,
#: the cell relaxation, the stress check and the strained cells with their relaxations
ELASTIC_CP2K_RUNS = 40


def _warn_cp2k_cost(structures: dict[str, Any], settings: Any) -> None:
    """One warning line per material whose CP2K estimate exceeds an hour."""
    from softbench.makers.cp2k.runner import WARN_SECONDS, cp2k_ranks, estimated_seconds
    from softbench.makers.elastic import standard_cell

    ranks = cp2k_ranks()
    for mid, structure in structures.items():
        cell = standard_cell(structure)
        seconds = estimated_seconds(cell, settings, ELASTIC_CP2K_RUNS, ranks)
        if seconds > WARN_SECONDS:
            print(
                f"softbench: warning: {mid} ({len(cell)} atoms, k-points "
                f"{settings.kpoints(cell.lattice.matrix)}): CP2K elastic needs roughly "
                f"{seconds / 3600:.1f} h on {ranks} rank(s) (SOFTBENCH_CP2K_RANKS); consider "
                "--max-atoms or more ranks",
                file=sys.stderr,
            )


def print_dft_check(stores: Any, ids: list[str], label: str, path: Path) -> None:
    """The computed reference's K and G beside the reference file's (same structures)."""
    from softbench.ingest import elastic as ingest
    from softbench.query import table
    from softbench.schemas.base import ELASTIC_REFERENCE

    records = ingest.load(path)
    docs = stores.jobs.query(
        {
            "output.doc_type": ELASTIC_REFERENCE,
            "output.reference": label,
            "output.material_id": {"$in": ids},
        },
        properties=["output"],
        sort={"output.created_at": 1},
    )
    newest = {d["output"]["material_id"]: d["output"] for d in docs}
    rows = []
    for mid in ids:
        out, rec = newest.get(mid, {}), records.get(mid, {})
        k, g = out.get("k_vrh_gpa"), out.get("g_vrh_gpa")
        k_file, g_file = _number(rec, ingest.K_KEYS), _number(rec, ingest.G_KEYS)
        rows.append(
            {
                "material_id": mid,
                "formula": out.get("formula"),
                "state": out.get("state"),
                "k_vrh_gpa": k,
                "file_k_vrh_gpa": k_file,
                "k_ratio": k / k_file if k and k_file else None,
                "g_vrh_gpa": g,
                "file_g_vrh_gpa": g_file,
                "g_ratio": g / g_file if g and g_file else None,
                "reason": out.get("reason"),
            }
        )
    print(f"\nDFT reference {label} against {path.name} (same structures before relaxation):")
    print(table(rows, list(rows[0]) if rows else []))


def _number(record: dict[str, Any], keys: tuple[str, ...]) -> float | None:
    for key in keys:
        if record.get(key) is not None:
            try:
                return float(record[key])
            except (TypeError, ValueError):
                return None
    return None
