"""Elastic softening against two references: CP2K (computed here) and MP's VASP-PBE.

For mp-elasticity materials whose elements CP2K has vetted kinds for, runs
``softbench run elastic --dft cp2k`` (CP2K moduli from MP's structures, models on the
CP2K reference) and ``softbench run elastic`` (models on MP's moduli) into one store,
then prints per material the CP2K/MP moduli ratio and each model's K and G ratio
against both references: how far the choice of reference moves the elastic
softening. Work already in the store (CP2K references, predictions) is reused, so a
second call only prints.

    python benchmarks/cp2k_vs_vasp_elastic.py --materials mp-1550,mp-8062 \
        [--models chgnet-0.3.0,sevennet-0] [--store DIR] [--kspacing 0.2]
"""

from __future__ import annotations

import argparse
import json
import time
from contextlib import redirect_stdout
from io import StringIO

from softbench.cli import main as cli
from softbench.makers.cp2k.elastic import elastic_settings

MP = "elastic-json:mp-binary-pbe-elasticity-2025"


def elastic_docs(store: str, label: str) -> dict[tuple[str, str], dict]:
    """(material, model) -> elastic analysis document of one reference label."""
    out = StringIO()
    with redirect_stdout(out):
        cli(["query", "elastic", "--format", "json", "--store", store, "--reference", label])
    return {(d["material_id"], d["model"]): d for d in json.loads(out.getvalue())}


def ratio(a: float | None, b: float | None) -> str:
    """a/b to 3 decimals, '-' when either is missing."""
    return f"{a / b:.3f}" if a and b else "-"


def main() -> None:
    """Run (or reuse) both references and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--materials", default="mp-1550,mp-8062,mp-1519,mp-2624")
    parser.add_argument("--models", default="chgnet-0.3.0,sevennet-0,m3gnet-mp-2021.2.8")
    parser.add_argument("--store", default="cp2k-vs-vasp-elastic/store")
    parser.add_argument("--kspacing", type=float, default=None, help="CP2K k-spacing (0.2)")
    args = parser.parse_args()
    settings = elastic_settings(**({"kspacing": args.kspacing} if args.kspacing else {}))
    common = ["--reference", "mp-elasticity", "--materials", args.materials]
    common += ["--models", args.models, "--store", args.store]
    start = time.perf_counter()
    cp2k = ["--dft", "cp2k", "--cp2k-kspacing", str(settings.kspacing)]
    for extra in (cp2k, []):
        with redirect_stdout(StringIO()):  # the tables of each run; ours follows
            if cli(["run", "elastic", *common, *extra]) != 0:
                raise SystemExit(f"softbench run elastic {' '.join(extra)} failed")
    seconds = time.perf_counter() - start
    cp2k_label = settings.label()
    on_cp2k, on_mp = elastic_docs(args.store, cp2k_label), elastic_docs(args.store, MP)
    print(f"reference A: {cp2k_label} (computed); reference B: {MP}")
    print(
        "| material | model | K_A | K_B | K_A/K_B | G_A | G_B | G_A/G_B "
        "| K ratio vs A | K ratio vs B | G ratio vs A | G ratio vs B |"
    )
    print("|" + " --- |" * 12)
    wanted = set(args.materials.split(","))
    for (mid, model), a in sorted(on_cp2k.items()):
        if mid not in wanted:
            continue
        b = on_mp.get((mid, model), {})
        print(
            f"| {mid} {a.get('formula') or ''} | {model} "
            f"| {a.get('dft_k_vrh_gpa') or float('nan'):.1f} "
            f"| {b.get('dft_k_vrh_gpa') or float('nan'):.1f} "
            f"| {ratio(a.get('dft_k_vrh_gpa'), b.get('dft_k_vrh_gpa'))} "
            f"| {a.get('dft_g_vrh_gpa') or float('nan'):.1f} "
            f"| {b.get('dft_g_vrh_gpa') or float('nan'):.1f} "
            f"| {ratio(a.get('dft_g_vrh_gpa'), b.get('dft_g_vrh_gpa'))} "
            f"| {ratio(a.get('k_vrh_gpa'), a.get('dft_k_vrh_gpa'))} "
            f"| {ratio(b.get('k_vrh_gpa'), b.get('dft_k_vrh_gpa'))} "
            f"| {ratio(a.get('g_vrh_gpa'), a.get('dft_g_vrh_gpa'))} "
            f"| {ratio(b.get('g_vrh_gpa'), b.get('dft_g_vrh_gpa'))} |"
        )
    print(f"wall time (both runs, reused work included): {seconds:.0f} s")


if __name__ == "__main__":
    main()
