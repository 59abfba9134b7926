"""Phonon figures (PNG, matplotlib Agg backend).

ω_max-ratio histograms per model (the paper's Fig. 4b) and DFT vs model band
structures of one material (Fig. 4a).
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from softbench.schemas.phonons import PHONON_TASKS

HISTOGRAM = "phonons_max_freq_ratio_hist.png"
MODE_COLORS = {"fixed": "tab:blue", "relaxed": "tab:orange"}
CITATION = "DFT-PBE: JaGeo/mace-mp-03b-phonon-benchmark (doi:10.5281/zenodo.15462975)"


def report_from_args(stores: Any, args: argparse.Namespace) -> list[Path]:
    """``softbench report phonons`` entry point."""
    from softbench.cli.common import split

    modes = list(PHONON_TASKS) if args.mode == "both" else [args.mode]
    paths = report_phonons(
        stores,
        Path(args.out),
        material=args.material,
        models=split(args.model),
        modes=modes,
        reference=args.reference,
    )
    if not paths:
        print(
            "softbench: no phonon results in the store; run `softbench run phonons` first",
            file=sys.stderr,
        )
    return paths


def report_phonons(
    stores: Any,
    out_dir: Path,
    material: str | None = None,
    models: Sequence[str] | None = None,
    modes: Sequence[str] = tuple(PHONON_TASKS),
    reference: str | None = None,
) -> list[Path]:
    """Write the histogram and one material's band figure; return their paths."""
    import matplotlib

    matplotlib.use("Agg")
    from softbench.query import fetch

    filters = {"model": ",".join(models) if models else None, "reference": reference}
    docs = [d for d in fetch(stores, "phonons", **filters) if d["mode"] in modes]
    ok = [d for d in docs if d["state"] == "successful"]
    if not ok:
        return []
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [plot_ratio_histogram(ok, out_dir / HISTOGRAM)]
    material = material or pick_material(ok)
    bands_store = stores.collection("phonon_bands")
    criteria: dict[str, Any] = {"material_id": material}
    bands = [
        b
        for b in bands_store.query(criteria)
        if b["mode"] in modes
        and (not models or b["model"] in models)
        and (not reference or b["reference"] == reference)
    ]
    if bands:
        paths.append(plot_bands(bands, out_dir / f"phonons_bands_{material}.png"))
    else:
        print(f"softbench: no band data for {material}", file=sys.stderr)
    return paths


def pick_material(docs: list[dict[str, Any]]) -> str:
    """The material with results for most (model, mode) pairs (then the smallest id)."""
    count: dict[str, int] = defaultdict(int)
    for d in docs:
        count[d["material_id"]] += 1
    return sorted(count, key=lambda m: (-count[m], m))[0]


def plot_ratio_histogram(docs: list[dict[str, Any]], path: Path) -> Path:
    """One panel per model: histogram of ω_max(model)/ω_max(DFT) for each mode."""
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    models = sorted({d["model"] for d in docs})
    ratios = np.array([d["max_freq_ratio"] for d in docs], float)
    lo, hi = min(ratios.min(), 0.95), max(ratios.max(), 1.05)
    bins = np.arange(np.floor(lo * 50) / 50, hi + 0.02, 0.02)
    fig, axes = plt.subplots(
        len(models), 1, figsize=(6.4, 2.2 + 1.8 * len(models)), sharex=True, squeeze=False
    )
    for ax, model in zip(axes[:, 0], models, strict=True):
        notes = []
        for mode in PHONON_TASKS:
            values = [
                d["max_freq_ratio"] for d in docs if d["model"] == model and d["mode"] == mode
            ]
            if not values:
                continue
            arr = np.asarray(values)
            ax.hist(
                arr, bins=bins, color=MODE_COLORS[mode], alpha=0.6, label=f"{mode} (n={len(arr)})"
            )
            notes.append(f"{mode}: {np.mean(arr < 1):.0%} softened, median {np.median(arr):.3f}")
        ax.axvline(1.0, color="k", ls="--", lw=1)
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_title(model, fontsize=11)
        ax.set_ylabel("materials")
        ax.text(0.02, 0.95, "\n".join(notes), transform=ax.transAxes, va="top", fontsize=8)
        ax.legend(fontsize=8, loc="upper right")
    axes[-1, 0].set_xlabel("max-frequency ratio  ω_max(model) / ω_max(DFT-PBE)")
    fig.suptitle("Phonon softening: ω_max ratio (< 1 = softer than DFT)", fontsize=12)
    fig.text(0.01, 0.005, CITATION, fontsize=6, color="0.4")
    fig.tight_layout(rect=(0, 0.02, 1, 1))
    fig.savefig(path, dpi=150)
    plt.close(fig)
    return path


def plot_bands(bands: list[dict[str, Any]], path: Path) -> Path:
    """DFT (black) vs model band structures along the common path, one panel per mode."""
    import matplotlib.pyplot as plt

    modes = [m for m in PHONON_TASKS if any(b["mode"] == m for b in bands)]
    first = bands[0]
    fig, axes = plt.subplots(1, len(modes), figsize=(6.4 * len(modes), 4.8), squeeze=False)
    for ax, mode in zip(axes[0], modes, strict=True):
        chosen = sorted((b for b in bands if b["mode"] == mode), key=lambda b: b["model"])
        _draw(ax, chosen[0]["distances"], chosen[0]["dft_frequencies"], "k", "-", "DFT-PBE")
        for i, b in enumerate(chosen):
            _draw(ax, b["distances"], b["model_frequencies"], f"C{i}", "--", b["model"])
        _label_path(ax, chosen[0]["distances"], chosen[0]["labels"])
        ax.axhline(0.0, color="0.6", lw=0.6)
        ax.set_ylabel("Frequency (THz)")
        ax.set_title(f"{first.get('formula') or ''} {first['material_id']}, {mode} mode")
        ax.legend(fontsize=8, loc="best", framealpha=0.85)
    fig.text(0.01, 0.005, CITATION, fontsize=6, color="0.4")
    fig.tight_layout(rect=(0, 0.02, 1, 1))
    fig.savefig(path, dpi=150)
    plt.close(fig)
    return path


def _draw(ax: Any, distances: list, frequencies: list, color: str, ls: str, label: str) -> None:
    for i, (x, f) in enumerate(zip(distances, frequencies, strict=True)):
        for j, branch in enumerate(np.asarray(f).T):
            first = i == 0 and j == 0
            ax.plot(x, branch, color=color, ls=ls, lw=1.0, label=label if first else None)


def _label_path(ax: Any, distances: list, labels: list) -> None:
    ticks, names = [distances[0][0]], [labels[0][0]]
    for i, (x, (_, end)) in enumerate(zip(distances, labels, strict=True)):
        nxt = labels[i + 1][0] if i + 1 < len(labels) else end
        ticks.append(x[-1])
        names.append(end if nxt == end else f"{end}|{nxt}")
    for t in ticks:
        ax.axvline(t, color="0.8", lw=0.6)
    ax.set_xticks(ticks)
    ax.set_xticklabels(names)
    ax.set_xlim(ticks[0], ticks[-1])
    ax.set_xlabel("Wave vector")
