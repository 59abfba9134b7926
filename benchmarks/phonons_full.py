"""Phonon softening on all shared DFT-PBE phonons, three uMLIPs, fixed mode.

    python benchmarks/phonons_full.py                      # all 48 materials (hours on CPU)
    python benchmarks/phonons_full.py --limit 2            # the 2 cheapest usable ones
    python benchmarks/phonons_full.py --materials mp-1519,mp-2534 --mode both

Prints, per model and mode, the fraction of materials with ω_max(model)/ω_max(DFT)
< 1 and the median ratio, the wall time, and (for a subset) the runtime the full
set would take at the measured speed. Materials without forces are reported as
unusable. DFT data: github.com/JaGeo/mace-mp-03b-phonon-benchmark
(doi:10.5281/zenodo.15462975).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections import defaultdict

from softbench.ingest import default_label, discover, known_dataset_settings
from softbench.models import get_models
from softbench.query import fetch
from softbench.run import build_all, run_flow
from softbench.schemas.phonons import PHONON_TASKS
from softbench.settings import shared_dir
from softbench.stores import open_stores
from softbench.workflows.phonons import (
    existing_phonon_work,
    phonon_flow,
    reusable_phonon_references,
)

MODELS = "chgnet-0.3.0,m3gnet-mp-2021.2.8,sevennet-0"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference", default=str(shared_dir() / "data/phonons-pbe"))
    parser.add_argument("--materials", default=None, help="comma-separated material ids")
    parser.add_argument("--limit", type=int, default=None, help="the N cheapest usable materials")
    parser.add_argument("--models", default=MODELS)
    parser.add_argument("--mode", choices=("fixed", "relaxed", "both"), default="fixed")
    parser.add_argument("--store", default=None, help="store (default: a fresh temporary one)")
    parser.add_argument("--device", default=None)
    args = parser.parse_args()

    manifest = _manifest(args.reference)
    materials = args.materials.split(",") if args.materials else None
    if materials is None and args.limit:
        usable = [m for m in manifest.values() if m.get("has_forces", True)]
        usable.sort(key=_cost)
        materials = [m["material_id"] for m in usable[: args.limit]]
    items = discover(args.reference, "phonopy", materials)
    models = get_models(args.models)
    modes = list(PHONON_TASKS) if args.mode == "both" else [args.mode]
    label = default_label(args.reference, "phonopy")
    stores = open_stores(args.store or tempfile.mkdtemp(prefix="softbench-phonons-"))
    print(f"{len(items)} materials x {len(models)} models, mode(s) {modes}, store {stores.spec}")

    start = time.perf_counter()
    reuse = reusable_phonon_references(stores.jobs, label, items)
    skip = existing_phonon_work(stores.jobs, reuse, [m.name for m in models])
    flow = phonon_flow(
        items,
        models,
        label,
        modes=modes,
        settings=known_dataset_settings(args.reference),
        existing_references=reuse,
        skip=skip,
        device=args.device,
    )
    if flow.jobs:
        run_flow(flow, stores, log=False)
    run_seconds = time.perf_counter() - start
    for mode in modes:
        build_all(stores, task=PHONON_TASKS[mode])
    wall = time.perf_counter() - start

    names = [m.name for m in models]
    ids = {i.material_id for i in items}
    docs = [
        d
        for d in fetch(stores, "phonons", model=",".join(names), reference=label)
        if d["material_id"] in ids and d["mode"] in modes
    ]
    _print_summary(docs, names, modes)
    unusable = sorted({(d["material_id"], d["reason"]) for d in docs if d["state"] == "unusable"})
    for mid, reason in unusable:
        print(f"unusable {mid}: {reason}")
    for d in docs:
        if d["state"] == "failed":
            print(f"failed {d['material_id']} {d['model']} ({d['mode']}): {d['reason']}")
    print(
        f"\nwall time {wall:.0f} s (jobs {run_seconds:.0f} s, builders {wall - run_seconds:.0f} s)"
    )
    _estimate(stores, names, items, manifest, modes)


def _print_summary(docs: list[dict], names: list[str], modes: list[str]) -> None:
    import numpy as np

    header = ("model", "mode", "n", "softened", "median", "min", "max")
    print("\n{:22s} {:8s} {:>3s} {:>9s} {:>7s} {:>6s} {:>6s}".format(*header))
    for mode in modes:
        for name in names:
            ratios = [
                d["max_freq_ratio"]
                for d in docs
                if d["model"] == name and d["mode"] == mode and d["state"] == "successful"
            ]
            if not ratios:
                print(f"{name:22s} {mode:8s} {0:3d} {'-':>9s}")
                continue
            r = np.asarray(ratios)
            print(
                f"{name:22s} {mode:8s} {len(r):3d} {np.mean(r < 1):9.2f} {np.median(r):7.3f} "
                f"{r.min():6.3f} {r.max():6.3f}"
            )


def _estimate(stores, names, items, manifest, modes) -> None:
    """Full-set runtime at the measured atoms/second of each model (fixed mode)."""
    if "fixed" not in modes or not manifest:
        return
    seconds: dict[str, float] = defaultdict(float)
    atoms: dict[str, int] = defaultdict(int)
    ids = {i.material_id for i in items}
    for d in stores.jobs.query(
        {"output.doc_type": "prediction", "output.task": PHONON_TASKS["fixed"]},
        properties=["output.material_id", "output.model.name", "output.timing"],
    ):
        o = d["output"]
        mid, name = o["material_id"], o["model"]["name"]
        if mid not in ids or name not in names or not o.get("timing") or mid not in manifest:
            continue
        seconds[name] += o["timing"]["eval_seconds"]
        atoms[name] += _cost(manifest[mid])
    total = sum(_cost(m) for m in manifest.values() if m.get("has_forces", True))
    estimate = 0.0
    for name in names:
        if atoms[name] and seconds[name]:
            rate = atoms[name] / seconds[name]
            estimate += total / rate
            print(f"{name}: {rate:.0f} atom-evaluations/s -> full set {total / rate / 3600:.1f} h")
    if estimate:
        print(
            f"estimated full fixed-mode run ({total} atom-evaluations per model): "
            f"{estimate / 3600:.1f} h of model time"
        )


def _manifest(reference: str) -> dict[str, dict]:
    from pathlib import Path

    path = Path(reference) / "MANIFEST.json"
    if not path.exists():
        return {}
    return {m["material_id"]: m for m in json.loads(path.read_text())}


def _cost(entry: dict) -> int:
    return int(entry["n_atoms_supercell"]) * int(entry["n_displacements"])


if __name__ == "__main__":
    main()
