"""Amplitude figures: softening scale vs displacement amplitude, and K vs strain magnitude.

``amplitude_softening.png``: one panel per material and a pooled panel (median over
materials), the scale with its 95 % interval against the amplitude (log x), one line
per model; a smooth PES gives a flat line. ``elastic_k_vs_strain.png``: the bulk
modulus fitted from strains of ±m only against m (log x), one line per model, the
DFT value as a horizontal line (from ``softbench run elastic --strain-magnitudes``).
PNG, matplotlib Agg backend.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

SOFTENING_FIGURE = "amplitude_softening.png"
ELASTIC_FIGURE = "elastic_k_vs_strain.png"


def report_from_args(stores: Any, args: argparse.Namespace) -> list[Path]:
    """``softbench report amplitude`` entry point."""
    from softbench.cli.common import split

    paths = report_amplitude(
        stores, Path(args.out), models=split(args.model), reference=args.reference
    )
    if not paths:
        print(
            "softbench: no amplitude or strain-scan results in the store; run `softbench run "
            "amplitude` or `softbench run elastic --strain-magnitudes ...` first",
            file=sys.stderr,
        )
    return paths


def report_amplitude(
    stores: Any,
    out_dir: Path,
    models: Sequence[str] | None = None,
    reference: str | None = None,
) -> list[Path]:
    """Write the figures there is data for; return their paths."""
    import matplotlib

    matplotlib.use("Agg")
    from softbench.query import fetch

    filters = {"model": ",".join(models) if models else None, "reference": reference}
    paths = []
    curves = [d for d in fetch(stores, "amplitude-curves", **filters) if d["state"] == "successful"]
    if curves:
        out_dir.mkdir(parents=True, exist_ok=True)
        paths.append(softening_figure(curves, out_dir / SOFTENING_FIGURE))
    else:
        print("softbench: no successful amplitude curves: no softening figure", file=sys.stderr)
    elastic = [d for d in fetch(stores, "elastic", **filters) if d.get("strain_scan")]
    if elastic:
        out_dir.mkdir(parents=True, exist_ok=True)
        paths.append(elastic_figure(elastic, out_dir / ELASTIC_FIGURE))
    else:
        print("softbench: no elastic strain scans: no K(strain) figure", file=sys.stderr)
    return paths


def _grid(n: int) -> tuple[Any, np.ndarray]:
    import matplotlib.pyplot as plt

    cols = min(n, 3)
    rows = (n + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(4.6 * cols, 3.8 * rows), squeeze=False)
    for ax in axes.ravel()[n:]:
        ax.set_visible(False)
    return fig, axes.ravel()


def _colors(models: Iterable[str]) -> dict[str, Any]:
    import matplotlib.pyplot as plt

    cycle = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    return {m: cycle[i % len(cycle)] for i, m in enumerate(sorted(models))}


def softening_figure(curves: list[dict[str, Any]], path: Path) -> Path:
    """Scale vs amplitude per material (with 95 % intervals) and pooled (median)."""
    import matplotlib.pyplot as plt

    materials = sorted({d["material_id"] for d in curves})
    colors = _colors({d["model"] for d in curves})
    fig, axes = _grid(len(materials) + 1)
    for ax, mid in zip(axes, materials, strict=False):
        for d in sorted((d for d in curves if d["material_id"] == mid), key=lambda d: d["model"]):
            pts = [p for p in d["points"] if p.get("softening_scale") is not None]
            a = np.array([p["amplitude_angstrom"] for p in pts])
            s = np.array([p["softening_scale"] for p in pts])
            ci = np.array(
                [p.get("softening_scale_ci95") or [v, v] for p, v in zip(pts, s, strict=True)]
            )
            err = np.abs(np.vstack([s - ci[:, 0], ci[:, 1] - s]))
            rough = d.get("roughness")
            label = d["model"] + (f" (roughness {rough:.2f})" if rough is not None else "")
            ax.errorbar(a, s, yerr=err, marker="o", ms=4, capsize=2, color=colors[d["model"]],
                        label=label)  # fmt: skip
        formula = next((d.get("formula") for d in curves if d["material_id"] == mid), None)
        _decorate(ax, f"{mid} {formula or ''}".strip())
    pooled = axes[len(materials)]
    for model in sorted(colors):
        docs = [d for d in curves if d["model"] == model]
        by_a: dict[float, list[float]] = {}
        for d in docs:
            for p in d["points"]:
                if p.get("softening_scale") is not None:
                    by_a.setdefault(p["amplitude_angstrom"], []).append(p["softening_scale"])
        a = np.array(sorted(by_a))
        med = np.array([np.median(by_a[x]) for x in a])
        lo = np.array([np.min(by_a[x]) for x in a])
        hi = np.array([np.max(by_a[x]) for x in a])
        pooled.plot(a, med, marker="o", ms=4, color=colors[model], label=model)
        pooled.fill_between(a, lo, hi, color=colors[model], alpha=0.15)
    _decorate(pooled, f"pooled: median (band: range) over {len(materials)} material(s)")
    fig.suptitle(
        "Force-parity softening scale vs displacement amplitude (harmonic DFT reference); "
        "flat = smooth PES",
        fontsize=10,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=130)
    plt.close(fig)
    return path


def _decorate(ax: Any, title: str) -> None:
    ax.axhline(1.0, color="0.5", lw=1, ls="--")
    ax.set_xscale("log")
    ax.set(xlabel="displacement amplitude A (Å)", ylabel="softening scale", title=title)
    ax.title.set_fontsize(9)
    ax.legend(fontsize=7)


def elastic_figure(docs: list[dict[str, Any]], path: Path) -> Path:
    """K_VRH vs strain magnitude per material, one line per model, DFT K horizontal."""
    import matplotlib.pyplot as plt

    materials = sorted({d["material_id"] for d in docs})
    colors = _colors({d["model"] for d in docs})
    fig, axes = _grid(len(materials))
    for ax, mid in zip(axes, materials, strict=False):
        mine = sorted((d for d in docs if d["material_id"] == mid), key=lambda d: d["model"])
        for d in mine:
            pts = [p for p in d["strain_scan"] if p.get("k_vrh_gpa") is not None]
            m = np.array([p["strain_magnitude"] for p in pts]) * 100
            k = np.array([p["k_vrh_gpa"] for p in pts])
            ax.plot(m, k, marker="o", ms=4, color=colors[d["model"]], label=d["model"])
        dft = next((d.get("dft_k_vrh_gpa") for d in mine if d.get("dft_k_vrh_gpa")), None)
        top = max([p.get("k_vrh_gpa") or 0.0 for d in mine for p in d["strain_scan"]] + [0.0])
        if dft is not None:
            ax.axhline(dft, color="k", lw=1.2, ls="--", label=f"DFT {dft:.1f} GPa")
            top = max(top, dft)
        ax.set_ylim(0.0, 1.1 * top if top > 0 else 1.0)
        ax.set_xscale("log")
        formula = mine[0].get("formula") or ""
        ax.set(xlabel="strain magnitude m (%), fit from ±m", ylabel="K_VRH (GPa)",
               title=f"{mid} {formula}".strip())  # fmt: skip
        ax.title.set_fontsize(9)
        ax.legend(fontsize=7)
    fig.suptitle("Bulk modulus vs strain magnitude of the fit", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=130)
    plt.close(fig)
    return path
