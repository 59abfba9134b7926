"""Elastic softening on a seeded sample of the shared MP binaries: summary and wall time.

Runs the same flow as ``softbench run elastic`` (ingest, one model job per
(material, model), builders) on ``--sample`` materials of
$SOFTBENCH_SHARED/data/mp-elasticity, then prints the per-model summary over
exactly these materials, the time per material per model and the total wall time.

    python benchmarks/elastic_sample.py --sample 200 [--seed 0] [--models a,b,c]

Torch runs single-threaded by default (``--threads``): on a shared 2-core machine
that is several times faster than letting each process spin two threads.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import warnings
from collections import defaultdict

import numpy as np

warnings.filterwarnings("ignore")

DEFAULT_MODELS = "chgnet-0.3.0,m3gnet-mp-2021.2.8,sevennet-0"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sample", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--models", default=DEFAULT_MODELS)
    parser.add_argument("--max-atoms", type=int, default=None)
    parser.add_argument("--fmax", type=float, default=1e-3)
    parser.add_argument("--no-relax-deformed", action="store_true")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (0: leave)")
    parser.add_argument("--device", default=None)
    parser.add_argument("--store", default=None, help="store spec (default: a fresh temp dir)")
    args = parser.parse_args()

    if args.threads:
        import torch

        torch.set_num_threads(args.threads)

    from softbench.builders.elastic import build_elastic, summarize_elastic
    from softbench.cli.elastic import reference_file, select_items
    from softbench.ingest import default_label, known_dataset_settings
    from softbench.models import get_models
    from softbench.query import fetch, render
    from softbench.run import run_flow
    from softbench.schemas.elastic import ElasticSofteningDocument
    from softbench.stores import open_stores
    from softbench.workflows.elastic import elastic_flow

    start = time.perf_counter()
    models = get_models(args.models)
    path = reference_file("mp-elasticity")
    items = select_items(path, None, args.sample, args.seed, args.max_atoms)
    label = default_label(path, "elastic-json")
    store = args.store or tempfile.mkdtemp(prefix="softbench-elastic-")
    stores = open_stores(store)
    flow = elastic_flow(
        items,
        models,
        label,
        settings=known_dataset_settings(path),
        device=args.device,
        options={"fmax": args.fmax, "relax_deformed": not args.no_relax_deformed},
    )
    print(
        f"{len(items)} materials (seed {args.seed}) x {len(models)} models, store {store}",
        file=sys.stderr,
    )
    run_flow(flow, stores, log=False)
    build_elastic(stores)
    wall = time.perf_counter() - start

    ids = ",".join(i.material_id for i in items)
    names = [m.name for m in models]
    docs = fetch(stores, "elastic", model=",".join(names), material=ids, reference=label)
    groups: dict[str, list[ElasticSofteningDocument]] = defaultdict(list)
    for d in docs:
        groups[d["model"]].append(ElasticSofteningDocument.model_validate(d))
    summaries = [summarize_elastic(groups[m]).model_dump() for m in names if groups[m]]
    print(render(summaries, "elastic-summary"))

    seconds: dict[str, list[float]] = defaultdict(list)
    for d in stores.jobs.query(
        {"output.doc_type": "elastic_prediction", "output.material_id": {"$in": ids.split(",")}},
        properties=["output.model.name", "output.timing"],
    ):
        total = (d["output"].get("timing") or {}).get("total_seconds")
        if total is not None:
            seconds[d["output"]["model"]["name"]].append(total)
    print()
    for name in names:
        t = np.array(seconds.get(name, []))
        if t.size:
            print(
                f"{name}: {t.mean():.1f} s per material (median {np.median(t):.1f}, "
                f"max {t.max():.1f}, {t.size} timed)"
            )
    for s in summaries:
        for mid, reason in sorted(s["failed_materials"].items()):
            print(f"failed {s['model']} {mid}: {reason}", file=sys.stderr)
    print(f"\nwall time: {wall:.0f} s for {len(items)} materials x {len(models)} models")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
