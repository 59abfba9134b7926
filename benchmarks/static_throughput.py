"""Static-evaluation throughput: softbench's batched job vs the usual alternatives.

(a) one ASE calculator call per frame (what existing benchmark scripts do),
(b) softbench's model job: all frames of a reference document in one jobflow job,
    results written to a store (ModelForcesMaker),
(c) one jobflow job per frame (atomate2's ForceFieldStaticMaker).
Frames: perturbed structures from $SOFTBENCH_SHARED/data/wbm-equilibrium.
Each path starts cold (model loaded inside the timed region) and prints frames/s;
then the ratios b/a and b/c.

    python benchmarks/static_throughput.py [--frames 200] [--model chgnet-0.3.0] [--device cpu]
"""

from __future__ import annotations

import argparse
import gzip
import json
import time
import warnings

import numpy as np

warnings.filterwarnings("ignore")


def wbm_frames(n: int, seed: int = 0) -> list:
    from softbench.ingest.wbm import parse_structure
    from softbench.shared_data import dataset_path

    path = dataset_path("wbm-equilibrium") / "wbm-random-pbe52-equilibrium-2025.1.json.gz"
    with gzip.open(path, "rt") as handle:
        entries = json.load(handle)
    rng = np.random.default_rng(seed)
    picks = rng.choice(len(entries), size=n, replace=n > len(entries))
    frames = []
    for i in picks:
        s = parse_structure(entries[int(i)]["structure"], entries[int(i)]["material_id"])
        s.perturb(0.05, min_distance=0.0)
        frames.append(s)
    return frames


def path_a(frames, model: str, device: str | None) -> float:
    """Fresh calculator, one call per frame."""
    from pymatgen.io.ase import AseAtomsAdaptor

    from softbench.models import get_model
    from softbench.models.evaluate import clear_cache, load_predictor

    clear_cache()
    start = time.perf_counter()
    calc = load_predictor(get_model(model), device).calculator()
    for s in frames:
        atoms = AseAtomsAdaptor.get_atoms(s)
        atoms.calc = calc
        atoms.get_forces()
    return time.perf_counter() - start


def path_b(frames, model: str, device: str | None, stress: bool = False) -> float:
    """softbench: one job for all frames, outputs stored (energies+forces by default)."""
    from jobflow import run_locally

    from softbench.makers.forces import ModelForcesMaker
    from softbench.models.evaluate import clear_cache
    from softbench.schemas import Configuration, ReferenceTaskDocument
    from softbench.stores import open_stores, reset_memory_stores

    reset_memory_stores()
    stores = open_stores("memory")
    ref = ReferenceTaskDocument(
        task="throughput",
        material_id="wbm-frames",
        reference="none",
        source="benchmark",
        configurations=[Configuration.from_structure(s, f"f{i}") for i, s in enumerate(frames)],
    )
    clear_cache()
    start = time.perf_counter()
    job = ModelForcesMaker(model=model, device=device, show_progress=False, stress=stress)
    job = job.make(ref)
    run_locally(job, store=stores.jobs, log=False, ensure_success=True)
    return time.perf_counter() - start


def path_c(frames, model: str, device: str | None) -> float:
    """atomate2: one ForceFieldStaticMaker job per frame."""
    from atomate2.forcefields.jobs import ForceFieldStaticMaker
    from jobflow import Flow, run_locally

    from softbench.models.calculator import ATOMATE2_CALCULATOR
    from softbench.models.evaluate import clear_cache
    from softbench.stores import open_stores, reset_memory_stores

    reset_memory_stores()
    stores = open_stores("memory")
    clear_cache()
    maker = ForceFieldStaticMaker(
        force_field_name=ATOMATE2_CALCULATOR,
        calculator_kwargs={"model": model, "device": device},
    )
    start = time.perf_counter()
    flow = Flow([maker.make(s) for s in frames])
    run_locally(flow, store=stores.jobs, log=False, ensure_success=True)
    return time.perf_counter() - start


def path_c_uncached(frames, model: str, device: str | None) -> float:
    """atomate2 as shipped: its CHGNet calculator, reloaded by every job."""
    from atomate2.forcefields.jobs import ForceFieldStaticMaker
    from jobflow import Flow, run_locally

    from softbench.stores import open_stores, reset_memory_stores

    reset_memory_stores()
    stores = open_stores("memory")
    maker = ForceFieldStaticMaker(force_field_name="CHGNet")
    start = time.perf_counter()
    run_locally(
        Flow([maker.make(s) for s in frames]), store=stores.jobs, log=False, ensure_success=True
    )
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=200)
    parser.add_argument("--model", default="chgnet-0.3.0")
    parser.add_argument("--device", default=None)
    parser.add_argument("--repeats", type=int, default=1, help="best of N for (a) and (b)")
    args = parser.parse_args()

    import torch

    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    frames = wbm_frames(args.frames)
    n_atoms = np.mean([len(s) for s in frames])
    print(
        f"{args.frames} perturbed WBM frames, {n_atoms:.1f} atoms on average; "
        f"model {args.model}; device {device}; torch threads {torch.get_num_threads()}"
    )
    path_a(frames[:5], args.model, device)  # warm imports, not timed
    a = min(path_a(frames, args.model, device) for _ in range(args.repeats))
    b = min(path_b(frames, args.model, device) for _ in range(args.repeats))
    b_stress = min(path_b(frames, args.model, device, True) for _ in range(args.repeats))
    c = path_c(frames, args.model, device)
    rows = [
        ("(a) ASE calculator, one call per frame (e, f, s, m)", a),
        ("(b) softbench model job, all frames, stored (e, f)", b),
        ("(b+s) same, with stresses", b_stress),
        ("(c) atomate2 static job per frame (softbench calculator)", c),
    ]
    if args.model == "chgnet-0.3.0":
        rows.append(
            (
                "(c') atomate2 static job per frame (its CHGNet)",
                path_c_uncached(frames, args.model, device),
            )
        )
    for label, seconds in rows:
        print(f"{label:60s} {args.frames / seconds:8.1f} frames/s  ({seconds:.1f} s)")
    print(f"b/a = {a / b:.2f}   (aim >= 0.9 on CPU, >= 3 on GPU)")
    print(f"b/c = {c / b:.2f}   (aim >= 5)")
    if len(rows) == 5:
        print(f"b/c' = {rows[4][1] / b:.2f}   (c' = atomate2 as shipped)")
    print(f"(b+s)/a = {a / b_stress:.2f}")


if __name__ == "__main__":
    main()
