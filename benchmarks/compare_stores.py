"""Are the analysis numbers of two stores identical? Print both, and the largest difference.

    python benchmarks/compare_stores.py OLD_STORE NEW_STORE
    python benchmarks/compare_stores.py --rebuild OLD_STORE

The first form compares the builder outputs of two stores (e.g. the same `softbench run`
commands run by two code versions). ``--rebuild`` copies OLD_STORE, empties its analysis
collections, rebuilds them with the code in this checkout from the stored job outputs
(no model runs) and compares: the check that a builder refactor moved no number.
"""

from __future__ import annotations

import argparse
import math
import shutil
import tempfile
from pathlib import Path
from typing import Any

FIELDS = {
    "softening": [
        "softening_scale",
        "softening_scale_ci95",
        "force_mae",
        "force_cmae",
        "force_rmse",
        "r2",
        "n_components",
        "state",
    ],
    "softening_summary": ["median_softening_scale", "fraction_softened", "mean_force_cmae"],
    "phonons": [
        "max_freq_ratio",
        "dft_max_freq_thz",
        "model_max_freq_thz",
        "mean_freq_ratio",
        "freq_mae_thz",
        "band_mae_thz",
        "model_heat_capacity",
        "softening_scale",
        "state",
    ],
    "phonon_summary": ["median_max_freq_ratio", "fraction_softened"],
    "elastic": [
        "k_vrh_gpa",
        "g_vrh_gpa",
        "dft_k_vrh_gpa",
        "k_ratio",
        "g_ratio",
        "elastic_softening",
        "mechanically_stable",
        "state",
    ],
    "elastic_summary": ["median_k_ratio", "median_g_ratio", "median_elastic_softening"],
}


def load(spec: str) -> dict[str, dict[str, dict[str, Any]]]:
    """Analysis documents per collection, by key."""
    from softbench.stores import open_stores

    stores = open_stores(spec)
    out = {name: {d["key"]: d for d in stores.collection(name).query({})} for name in FIELDS}
    stores.close()
    return out


def rebuild(spec: str) -> str:
    """A copy of the store with its analysis collections rebuilt by this checkout."""
    from softbench.run import build_all
    from softbench.stores import open_stores

    copy = Path(tempfile.mkdtemp(prefix="softbench-rebuild-")) / "store"
    shutil.copytree(spec, copy)
    stores = open_stores(str(copy))
    for name in FIELDS:
        stores.collection(name).remove_docs({})
    print("rebuilt:", build_all(stores))
    stores.close()
    return str(copy)


def difference(a: Any, b: Any) -> float:
    """Relative difference of two values (0 when equal, inf when incomparable)."""
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return max((difference(x, y) for x, y in zip(a, b, strict=True)), default=0.0)
    if isinstance(a, int | float) and isinstance(b, int | float):
        if math.isnan(a) and math.isnan(b):
            return 0.0
        return abs(a - b) / max(abs(a), abs(b), 1e-300) if a != b else 0.0
    return 0.0 if a == b else math.inf


def main() -> None:
    """Print both values of every compared field and the largest relative difference."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("old")
    parser.add_argument("new", nargs="?")
    parser.add_argument("--rebuild", action="store_true")
    args = parser.parse_args()
    new_spec = rebuild(args.old) if args.rebuild else args.new
    old, new = load(args.old), load(new_spec)
    worst = 0.0
    for name, fields in FIELDS.items():
        keys = sorted(old[name].keys() | new[name].keys())
        if not keys:
            continue
        print(f"\n== {name}: {len(old[name])} old, {len(new[name])} new documents")
        for key in keys:
            a, b = old[name].get(key), new[name].get(key)
            if a is None or b is None:
                print(f"  {key}: only in {'new' if a is None else 'old'}")
                worst = math.inf
                continue
            cells = []
            for f in fields:
                if f not in a and f not in b:
                    continue
                d = difference(a.get(f), b.get(f))
                worst = max(worst, d)
                mark = "" if d == 0 else f" (rel diff {d:.1e})"
                cells.append(f"{f}={_fmt(a.get(f))}|{_fmt(b.get(f))}{mark}")
            print(f"  {key}: " + ", ".join(cells))
    print(f"\nlargest relative difference (old|new): {worst:.3g}")


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, list):
        return "[" + ",".join(_fmt(v) for v in value) + "]"
    return str(value)


if __name__ == "__main__":
    main()
