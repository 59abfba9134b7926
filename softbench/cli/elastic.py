"""``softbench run elastic``: model bulk and shear moduli against DFT (elastic softening)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

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
    add_run_options(parser, run, "recompute existing predictions")
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
) -> list[Any]:
    """The materials to run: given ids, or a seeded sample (optionally size-filtered)."""
    from softbench.ingest import elastic as ingest

    items = ingest.discover(path, materials)
    if max_atoms is not None:
        records = ingest.load(path)
        items = [i for i in items if _n_sites(records[i.material_id]) <= max_atoms]
    if n_sample is not None:
        items = ingest.sample(items, n_sample, seed)
    return items


def _n_sites(record: dict[str, Any]) -> int:
    from softbench.ingest.wbm import parse_structure

    return len(parse_structure(record["structure"], "n_sites"))


def plan(args: argparse.Namespace) -> TaskFlow:
    """Ingest (or reuse) references, run the models, build and print the results."""
    from softbench.ingest import default_label, known_dataset_settings
    from softbench.models import get_models
    from softbench.workflows.elastic import (
        elastic_flow,
        existing_elastic_predictions,
        reusable_elastic_references,
    )

    models = get_models(args.models)
    path = reference_file(args.reference)
    items = select_items(path, args.materials, args.sample, args.seed, args.max_atoms)
    label = args.label or default_label(path, "elastic-json")
    stores = open_cli_stores(args)
    reuse = reusable_elastic_references(stores.jobs, label, items)
    names = [m.name for m in models]
    scan = list(args.strain_magnitudes)
    skip = set() if args.rerun else existing_elastic_predictions(stores.jobs, reuse, names, scan)
    flow = elastic_flow(
        items,
        models,
        label,
        settings=known_dataset_settings(path),
        existing_references=reuse,
        skip=skip,
        device=args.device,
        options={
            "fmax": args.fmax,
            "relax_deformed": not args.no_relax_deformed,
            "strain_scan": tuple(scan),
        },
    )
    message = (
        f"softbench: {len(items)} material(s) from {label}, {len(models)} model(s); "
        f"{len(reuse)} reference(s) and {len(skip)} prediction(s) reused; running "
        f"{len(flow.jobs)} job(s) on store {stores.spec}"
    )
    ids = [i.material_id for i in items]

    def report() -> None:
        print_results(stores, ids, names, label)
        if scan:
            print_strain_scan(stores, ids, names, label)

    return TaskFlow(flow, stores, ["elastic"], message, report)


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
