"""Model-side surface energies over MP binaries: per-model summaries and wall time.

Runs the same flow as ``softbench run surfaces`` (one job per (material, model), the
model loaded once for all slabs of a material; builders) on a seeded sample of the
``mp-elasticity`` binaries of $SOFTBENCH_SHARED (small primitive cells first), then
prints per model: surfaces computed, MAE against DFT where a DFT partner exists
(none without ``--dft``: the count of missing partners says so), and, between models,
the spread of gamma on the surfaces every model computed.

    python benchmarks/surfaces_binaries.py --sample 20 [--models a,b] [--max-index 1]

Torch runs single-threaded (``--threads``): faster on a shared 2-core machine.
"""

from __future__ import annotations

import argparse
import itertools
import random
import sys
import tempfile
import time
import warnings
from collections import defaultdict

import numpy as np

warnings.filterwarnings("ignore")

DEFAULT_MODELS = "chgnet-0.3.0,sevennet-0"


def pick_binaries(n: int, max_atoms: int, seed: int) -> dict[str, object]:
    """A seeded sample of ordered binaries with at most ``max_atoms`` in the primitive cell."""
    from softbench.analysis.surfaces import standard_cells
    from softbench.ingest.structures import read_structures

    every = read_structures("mp-elasticity")
    small = sorted(
        mid
        for mid, s in every.items()
        if len(s) <= 4 * max_atoms and s.is_ordered and len(s.composition.elements) == 2
    )
    rng = random.Random(seed)
    rng.shuffle(small)
    picked: dict[str, object] = {}
    for mid in small:
        try:
            if len(standard_cells(every[mid])[1]) <= max_atoms:
                picked[mid] = every[mid]
        except Exception:  # spglib cannot standardise it: not a candidate
            continue
        if len(picked) == n:
            break
    return dict(sorted(picked.items()))


def spread(docs: list[dict]) -> list[tuple[str, str, int, float, float]]:
    """(model a, model b, surfaces both have, mean |a - b|, mean a - b) in J/m²."""
    values: dict[str, dict[tuple[str, str], float]] = defaultdict(dict)
    for d in docs:
        if d.get("surface_energy_j_m2") is not None and d["state"] != "failed":
            values[d["model"]][(d["material_id"], d["facet"])] = d["surface_energy_j_m2"]
    rows = []
    for a, b in itertools.combinations(sorted(values), 2):
        common = sorted(values[a].keys() & values[b].keys())
        if common:
            diff = np.array([values[a][k] - values[b][k] for k in common])
            rows.append((a, b, len(common), float(np.abs(diff).mean()), float(diff.mean())))
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sample", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--models", default=DEFAULT_MODELS)
    parser.add_argument("--max-atoms", type=int, default=4, help="primitive cell size limit")
    parser.add_argument("--max-index", type=int, default=1)
    parser.add_argument("--min-slab", type=float, default=10.0)
    parser.add_argument("--min-vacuum", type=float, default=10.0)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (0: leave)")
    parser.add_argument("--store", default=None, help="store spec (default: a fresh temp dir)")
    args = parser.parse_args()

    if args.threads:
        import torch

        torch.set_num_threads(args.threads)

    from softbench.builders.surfaces import build_surfaces, summarize_surfaces
    from softbench.models import get_models
    from softbench.query import fetch, render
    from softbench.run import run_flow
    from softbench.schemas.surfaces import SurfaceEnergyDocument
    from softbench.stores import open_stores
    from softbench.workflows.surfaces import skipped_facets, surfaces_flow

    start = time.perf_counter()
    models = get_models(args.models)
    structures = pick_binaries(args.sample, args.max_atoms, args.seed)
    options = {
        "max_index": args.max_index,
        "min_slab_a": args.min_slab,
        "min_vacuum_a": args.min_vacuum,
        "slab_steps": args.steps,
    }
    store = args.store or tempfile.mkdtemp(prefix="softbench-surfaces-")
    stores = open_stores(store)
    listed = ", ".join(f"{m} {s.composition.reduced_formula}" for m, s in structures.items())  # type: ignore[attr-defined]
    print(
        f"{len(structures)} binaries (seed {args.seed}, <= {args.max_atoms} atoms/primitive "
        f"cell): {listed}",
        file=sys.stderr,
    )
    flow = surfaces_flow(structures, models, None, options)  # type: ignore[arg-type]
    run_flow(flow, stores, log=False)
    build_surfaces(stores)
    wall = time.perf_counter() - start

    names = [m.name for m in models]
    ids = ",".join(structures)
    docs = fetch(stores, "surfaces", model=",".join(names), material=ids)
    by_model: dict[str, list[SurfaceEnergyDocument]] = defaultdict(list)
    for d in docs:
        by_model[d["model"]].append(SurfaceEnergyDocument.model_validate(d))
    summaries = [summarize_surfaces(v).model_dump() for _, v in sorted(by_model.items())]
    print(render(summaries, "surfaces-summary"))
    print("\nMAE against DFT: only surfaces with a DFT partner (n_paired); missing partners:")
    for s in summaries:
        print(f"  {s['model']}: {s['n_paired']} paired, {s['n_missing_reference']} without DFT")
    print("\nmodel-vs-model on surfaces both computed (J/m²):")
    for a, b, n, mad, msd in spread(docs):
        print(f"  {a} vs {b}: {n} surfaces, mean |diff| {mad:.3f}, mean diff {msd:+.3f}")
    failed = [d for d in docs if d["state"] == "failed"]
    for d in failed:
        print(f"  failed: {d['model']} {d['material_id']} {d['facet']}: {d['reason']}")
    skipped = skipped_facets(stores.jobs, list(structures))
    n_skipped = sum(len(v) for v in skipped.values())
    print(f"\nfacets without a symmetric stoichiometric slab (skipped): {n_skipped}")
    for mid, facets in sorted(skipped.items()):
        if facets:
            print(f"  {mid}: {', '.join(sorted(facets))}")
    print(
        f"\n{len(structures)} materials x {len(models)} models, {len(docs)} surface documents "
        f"({len(failed)} failed); wall {wall:.0f} s; store {store}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
