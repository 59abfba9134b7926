"""``softbench run elastic``: model bulk and shear moduli against DFT (elastic softening)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

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
        "elastic", help="elastic softening: model K_VRH, G_VRH and tensors against DFT"
    )
    parser.add_argument(
        "--reference",
        required=True,
        help="JSON with structure + bulk/shear moduli per material (e.g. the mp-elasticity "
        "data set file), or the registered data set name 'mp-elasticity'",
    )
    add_materials(parser, sample=True, exclusive=True)
    parser.add_argument(
        "--max-atoms",
        type=positive_int,
        default=None,
        help="only materials with at most this many atoms per cell (applied before --sample)",
    )
    parser.add_argument("--label", default=None, help="reference label (default from the file)")
    parser.add_argument(
        "--fmax",
        type=positive_float,
        default=1e-3,
        help="relaxation threshold, eV/Å (default 1e-3)",
    )
    parser.add_argument(
        "--no-relax-deformed",
        action="store_true",
        help="skip ionic relaxation of strained cells (clamped-ion tensor; faster, "
        "wrong for materials with internal degrees of freedom)",
    )
    parser.add_argument(
        "--strain-magnitudes",
        type=strain_list,
        default=(),
        help="also fit the tensor from strains of ±m only, for each m of this comma-separated "
        f"list of fractions in (0, {MAX_STRAIN_SCAN:g}] (e.g. 0.001,0.0025,0.005,0.01,0.02,0.03); "
        "the main result stays MP's protocol",
    )
    parser.add_argument(
        "--dft",
        choices=("file", "vasp", "cp2k"),
        default="file",
        help="DFT reference: file (the --reference file's moduli, default), vasp (atomate2 "
        "ElasticMaker, MP settings) or cp2k (the project's CP2K method, computed here on "
        "the --reference file's structures; the file's moduli are printed beside it)",
    )
    parser.add_argument(
        "--cp2k-kspacing",
        type=positive_float,
        default=None,
        help="--dft cp2k: k-point spacing, 1/Å with 2π (default 0.2, denser than the "
        "statics' 0.3: shear constants need it; another value is another reference label)",
    )
    add_run_options(parser, run, "recompute existing predictions (and computed references)")
    parser.set_defaults(plan=plan)


MAX_STRAIN_SCAN = 0.1  # a 10 % strain is far outside any linear-elastic regime


def strain_list(text: str) -> tuple[float, ...]:
    """Comma-separated strain magnitudes (fractions), each in (0, MAX_STRAIN_SCAN]."""
    values = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        try:
            value = float(part)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected numbers, got {part!r}") from None
        if not 0 < value <= MAX_STRAIN_SCAN:
            raise argparse.ArgumentTypeError(
                f"strain magnitude {part} is not in (0, {MAX_STRAIN_SCAN:g}] (a fraction, "
                "not a percentage)"
            )
        values.append(value)
    if not values:
        raise argparse.ArgumentTypeError("no strain magnitudes given")
    return tuple(sorted(set(values)))


def reference_file(value: str) -> Path:
    """A file path, or the JSON file of a registered data set (e.g. ``mp-elasticity``)."""
    from softbench.ingest.base import ReferenceFormatError
    from softbench.shared_data import dataset_path, registry

    path = Path(value).expanduser()
    if path.exists():
        return path
    if value in registry():
        files = sorted(dataset_path(value).glob("*.json*"))
        if files:
            return files[0]
    raise ReferenceFormatError(f"elastic reference {value} is neither a file nor a data set")


def select_items(
    path: Path,
    materials: list[str] | None,
    n_sample: int | None,
    seed: int,
    max_atoms: int | None,
    elements: set[str] | None = None,
) -> list[Any]:
    """The materials to run: given ids, or a seeded sample.

    ``max_atoms`` and ``elements`` (only materials made of these, e.g. CP2K's vetted
    ones) narrow what ``--sample`` draws from; ``max_atoms`` also filters given ids.
    """
    from softbench.ingest import elastic as ingest

    items = ingest.discover(path, materials)
    if max_atoms is not None or (elements is not None and n_sample is not None):
        records = ingest.load(path)
        structures = {i.material_id: record_structure(records[i.material_id]) for i in items}
        if max_atoms is not None:
            items = [i for i in items if len(structures[i.material_id]) <= max_atoms]
        if elements is not None and n_sample is not None:
            items = [
                i
                for i in items
                if {e.symbol for e in structures[i.material_id].composition} <= elements
            ]
            if not items:
                raise UsageError(f"no material in {path} has only the elements {sorted(elements)}")
    if n_sample is not None:
        items = ingest.sample(items, n_sample, seed)
    return items


def record_structure(record: dict[str, Any]) -> Any:
    """The pymatgen Structure of one elastic record."""
    from softbench.ingest.wbm import parse_structure

    return parse_structure(record["structure"], "structure")


def plan(args: argparse.Namespace) -> TaskFlow:
    """Ingest, reuse or compute references, run the models, build and print the results."""
    from softbench.models import get_models

    models = get_models(args.models)
    path = reference_file(args.reference)
    names = [m.name for m in models]
    scan = list(args.strain_magnitudes)
    options = {
        "fmax": args.fmax,
        "relax_deformed": not args.no_relax_deformed,
        "strain_scan": tuple(scan),
    }
    stores = open_cli_stores(args)
    if args.dft == "file":
        flow, label, ids, message = _file_flow(args, path, models, stores, options)
    else:
        from softbench.cli.elastic_dft import dft_flow

        flow, label, ids, message = dft_flow(args, path, models, stores, options)

    def report() -> None:
        print_results(stores, ids, names, label)
        if args.dft != "file":
            from softbench.cli.elastic_dft import print_dft_check

            print_dft_check(stores, ids, label, path)
        if scan:
            print_strain_scan(stores, ids, names, label)

    return TaskFlow(flow, stores, ["elastic"], message, report)


def _file_flow(
    args: argparse.Namespace, path: Path, models: list[Any], stores: Any, options: dict[str, Any]
) -> tuple[Any, str, list[str], str]:
    """Flow, label, material ids and plan text with the file's moduli as the reference."""
    from softbench.ingest import default_label, known_dataset_settings
    from softbench.workflows.elastic import (
        elastic_flow,
        existing_elastic_predictions,
        reusable_elastic_references,
    )

    if args.cp2k_kspacing is not None:
        raise UsageError("--cp2k-kspacing needs --dft cp2k")
    items = select_items(path, args.materials, args.sample, args.seed, args.max_atoms)
    label = args.label or default_label(path, "elastic-json")
    reuse = reusable_elastic_references(stores.jobs, label, items)
    names = [m.name for m in models]
    scan = list(options["strain_scan"])
    skip = set() if args.rerun else existing_elastic_predictions(stores.jobs, reuse, names, scan)
    flow = elastic_flow(
        items,
        models,
        label,
        settings=known_dataset_settings(path),
        existing_references=reuse,
        skip=skip,
        device=args.device,
        options=options,
    )
    message = (
        f"softbench: {len(items)} material(s) from {label}, {len(models)} model(s); "
        f"{len(reuse)} reference(s) and {len(skip)} prediction(s) reused; running "
        f"{len(flow.jobs)} job(s) on store {stores.spec}"
    )
    return flow, label, [i.material_id for i in items], message


run = run_task_flow(plan)


def print_results(stores: Any, ids: list[str], models: list[str], label: str) -> None:
    """Per-material table, then the summary of exactly these materials."""
    from softbench.builders.elastic import summarize_elastic
    from softbench.query import fetch, render
    from softbench.schemas.elastic import ElasticSofteningDocument

    docs = fetch(stores, "elastic", model=",".join(models), material=",".join(ids), reference=label)
    print(render(docs, "elastic"))
    by_model: dict[str, list[ElasticSofteningDocument]] = {}
    for d in docs:
        by_model.setdefault(d["model"], []).append(ElasticSofteningDocument.model_validate(d))
    summaries = [summarize_elastic(v).model_dump() for _, v in sorted(by_model.items())]
    print(f"\nsummary over these {len(ids)} material(s):")
    print(render(summaries, "elastic-summary"))
    for s in summaries:
        if s["n_failed"] or s["n_unstable"]:
            print(
                f"softbench: {s['model']}: {s['n_failed']} failed, {s['n_unstable']} "
                "non-positive-definite tensor(s) (excluded from medians; reasons in "
                "`softbench query elastic`)",
                file=sys.stderr,
            )


STRAIN_COLUMNS = (
    "material_id",
    "model",
    "strain_magnitude",
    "k_vrh_gpa",
    "dft_k_vrh_gpa",
    "k_ratio",
    "g_vrh_gpa",
    "dft_g_vrh_gpa",
    "g_ratio",
    "mechanically_stable",
    "reason",
)


def print_strain_scan(stores: Any, ids: list[str], models: list[str], label: str) -> None:
    """K and G per strain magnitude per (material, model), beside the DFT values."""
    from softbench.query import fetch, table

    docs = fetch(stores, "elastic", model=",".join(models), material=",".join(ids), reference=label)
    rows = [
        {
            **point,
            **{k: d.get(k) for k in ("material_id", "model", "dft_k_vrh_gpa", "dft_g_vrh_gpa")},
        }
        for d in docs
        for point in d.get("strain_scan") or []
    ]
    print("\nelastic moduli per strain magnitude (fit from ±m only):")
    print(table(rows, STRAIN_COLUMNS))
