"""Model-side vacancy formation energies over metallic binaries of the shared mp-elasticity set.

Picks a seeded sample of ``--n`` binaries of $SOFTBENCH_SHARED/data/mp-elasticity
whose two elements are metals with a built-in elemental ground state
(softbench.ingest.elements) and whose cell has at most ``--max-cell-atoms``, builds
every vacancy in a supercell with edges >= ``--min-length``, runs the same flow and
builders as ``softbench run defects`` (models only: no DFT engine here) and prints
per model: materials, vacancies, failures, MAE against DFT only where a DFT partner
exists (otherwise the count of missing partners), and the model-vs-model spread per
vacancy (max - min over the models that computed it).

    python benchmarks/defects_binaries.py --n 20 [--seed 0] [--models a,b] [--min-length 6]
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


NON_METALS = {"C", "Si", "Ge"}  # built in, but not metals


def pick_binaries(n: int, max_atoms: int, seed: int) -> dict:
    """A seeded sample of n metallic binaries (both elements built in) of mp-elasticity."""
    import random

    from softbench.ingest.elements import ELEMENTS
    from softbench.ingest.structures import read_structures

    metals = ELEMENTS - NON_METALS
    found = read_structures("mp-elasticity")
    ok = sorted(
        mid
        for mid, s in found.items()
        if len(s.composition.elements) == 2
        and {e.symbol for e in s.composition.elements} <= metals
        and s.is_ordered
        and len(s) <= max_atoms
    )
    return {mid: found[mid] for mid in sorted(random.Random(seed).sample(ok, min(n, len(ok))))}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--models", default=DEFAULT_MODELS)
    parser.add_argument("--min-length", type=float, default=6.0)
    parser.add_argument("--max-cell-atoms", type=int, default=4, help="of the input cell")
    parser.add_argument("--fmax", type=float, default=0.02)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (0: leave)")
    parser.add_argument("--store", default=None, help="store spec (default: a fresh temp dir)")
    args = parser.parse_args()

    if args.threads:
        import torch

        torch.set_num_threads(args.threads)

    from softbench.builders.defects import build_defects
    from softbench.builders.labelled import summarize_parity
    from softbench.makers.defects import defect_set
    from softbench.makers.vasp.defects import VASP_LABEL
    from softbench.models import get_models
    from softbench.query import fetch
    from softbench.run import run_flow
    from softbench.schemas.parity import LabelledParityDocument
    from softbench.stores import open_stores
    from softbench.workflows.defects import defects_flow

    start = time.perf_counter()
    structures = pick_binaries(args.n, args.max_cell_atoms, args.seed)
    sets = []
    for mid, s in structures.items():
        try:
            sets.append(defect_set(s, mid, ("vacancy",), args.min_length))
        except Exception as exc:  # reported, never dropped silently
            print(f"{mid}: no defect set: {exc}", file=sys.stderr)
    print(
        f"{len(sets)} binaries: "
        + ", ".join(f"{d.material_id} {d.formula} ({d.n_supercell_atoms} at.)" for d in sets),
        file=sys.stderr,
    )
    models = get_models(args.models)
    stores = open_stores(args.store or tempfile.mkdtemp(prefix="softbench-defects-"))
    flow = defects_flow(
        sets, models, VASP_LABEL, dft=None, options={"fmax": args.fmax, "steps": args.steps}
    )
    run_flow(flow, stores, log=False)
    build_defects(stores)
    ids = ",".join(d.material_id for d in sets)
    names = ",".join(m.name for m in models)
    docs = fetch(stores, "defects", material=ids, model=names, reference=VASP_LABEL)
    by_model: dict[str, list[LabelledParityDocument]] = defaultdict(list)
    values: dict[tuple[str, str], dict[str, float]] = defaultdict(dict)
    for d in docs:
        doc = LabelledParityDocument.model_validate(d)
        by_model[doc.model].append(doc)
        if doc.model_value is not None:
            values[doc.material_id, doc.label][doc.model] = doc.model_value
    rows = []
    for model, group in sorted(by_model.items()):
        s = summarize_parity(group)
        computed = [d for d in group if d.model_value is not None]
        rows.append(
            {
                "model": model,
                "materials": s.n_materials,
                "vacancies": len(computed),
                "failed": s.n_failed,
                "unconverged": sum(d.model_converged is False for d in computed),
                "dft_pairs": s.n_used + s.n_flagged,
                "missing_dft": s.n_unpaired,
                "mae_vs_dft_ev": s.mae,
                "mean_ef_ev": s.model_mean,
                "median_ef_ev": float(np.median([d.model_value for d in computed]))
                if computed
                else None,
            }
        )
    print(_table(rows))
    spread = [max(v.values()) - min(v.values()) for v in values.values() if len(v) > 1]
    if spread:
        print(
            f"\nmodel-vs-model spread of E_f over {len(spread)} vacancies computed by >= 2 "
            f"models: mean {np.mean(spread):.3f} eV, median {np.median(spread):.3f} eV, "
            f"max {np.max(spread):.3f} eV"
        )
    if not any(r["dft_pairs"] for r in rows):
        print("\nno DFT partner for any vacancy (no DFT engine here): MAE not computed")
    print(f"wall time {time.perf_counter() - start:.0f} s", file=sys.stderr)
    return 0


def _table(rows: list[dict]) -> str:
    cols = list(rows[0]) if rows else []
    cell = [[f"{r[c]:.3f}" if isinstance(r[c], float) else str(r[c]) for c in cols] for r in rows]
    widths = [max(len(c), *(len(x[i]) for x in cell)) for i, c in enumerate(cols)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(cols, widths, strict=True))]
    lines += ["  ".join(x.ljust(w) for x, w in zip(r, widths, strict=True)) for r in cell]
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
