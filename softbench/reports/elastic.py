"""Elastic figures: K and G parity per model (log axes) and histograms of model/DFT ratios.

Only mechanically stable model tensors are plotted (the ones the medians use); the
panel titles count the unstable and failed ones. PNG, matplotlib Agg backend.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

PARITY = {"k": "elastic_parity_k.png", "g": "elastic_parity_g.png"}
HISTOGRAM = "elastic_ratio_hist.png"
NAMES = {"k": ("bulk modulus K_VRH", "K"), "g": ("shear modulus G_VRH", "G")}


def report_from_args(stores: Any, args: argparse.Namespace) -> list[Path]:
    """``softbench report elastic`` entry point."""
    from softbench.cli.common import split

    paths = report_elastic(
        stores, Path(args.out), models=split(args.model), reference=args.reference
    )
    if not paths:
        print(
            "softbench: no elastic results in the store; run `softbench run elastic` first",
            file=sys.stderr,
        )
    return paths


def report_elastic(
    stores: Any,
    out_dir: Path,
    models: Sequence[str] | None = None,
    reference: str | None = None,
) -> list[Path]:
    """Write the two parity figures and the ratio histogram; return their paths."""
    import matplotlib

    matplotlib.use("Agg")
    from softbench.builders.elastic import used
    from softbench.query import fetch
    from softbench.schemas.elastic import ElasticSofteningDocument

    filters = {"model": ",".join(models) if models else None, "reference": reference}
    docs = [ElasticSofteningDocument.model_validate(d) for d in fetch(stores, "elastic", **filters)]
    groups: dict[str, list[ElasticSofteningDocument]] = {}
    for d in docs:
        groups.setdefault(d.model, []).append(d)
    if not any(used(d) for d in docs):
        return []
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [parity_figure(groups, which, out_dir / PARITY[which]) for which in ("k", "g")]
    paths.append(ratio_histogram(groups, out_dir / HISTOGRAM))
    return paths


def _pairs(docs: list[Any], which: str) -> tuple[np.ndarray, np.ndarray]:
    from softbench.builders.elastic import used

    good = [d for d in docs if used(d)]
    dft = np.array([getattr(d, f"dft_{which}_vrh_gpa") for d in good], dtype=float)
    model = np.array([getattr(d, f"{which}_vrh_gpa") for d in good], dtype=float)
    return dft, model


def parity_figure(groups: dict[str, list[Any]], which: str, path: Path) -> Path:
    """One log-log parity panel per model for K or G."""
    import matplotlib.pyplot as plt

    title, short = NAMES[which]
    models = sorted(groups)
    fig, axes = plt.subplots(1, len(models), figsize=(4.2 * len(models), 4.3), squeeze=False)
    for ax, model in zip(axes[0], models, strict=True):
        docs = groups[model]
        dft, pred = _pairs(docs, which)
        n_unstable = sum(1 for d in docs if d.state == "successful" and not d.mechanically_stable)
        n_failed = sum(1 for d in docs if d.state != "successful")
        if dft.size:
            lo = float(min(dft.min(), pred.min())) / 1.5
            hi = float(max(dft.max(), pred.max())) * 1.5
            ax.scatter(dft, pred, s=10, alpha=0.6, color="tab:blue")
            ax.plot([lo, hi], [lo, hi], color="0.5", lw=1, label="y = x")
            med = float(np.median(pred / dft))
            ax.plot(
                [lo, hi],
                [lo * med, hi * med],
                color="tab:red",
                lw=1.2,
                label=f"median ratio {med:.3f}",
            )
            ax.set(xlim=(lo, hi), ylim=(lo, hi))
            ax.legend(loc="upper left", fontsize=8)
        ax.set_xscale("log")
        ax.set_yscale("log")
        plain_log_ticks(ax.xaxis, ax.yaxis)
        ax.set_aspect("equal")
        ax.set(
            xlabel=f"DFT {short}_VRH (GPa)",
            ylabel=f"model {short}_VRH (GPa)",
            title=f"{model}\n{dft.size} stable, {n_unstable} unstable, {n_failed} failed",
        )
        ax.title.set_fontsize(9)
    fig.suptitle(
        f"Elastic parity, {title}: below the diagonal means softened", fontsize=11, wrap=True
    )
    fig.tight_layout()
    fig.savefig(path, dpi=130)
    plt.close(fig)
    return path


def ratio_histogram(groups: dict[str, list[Any]], path: Path) -> Path:
    """Histograms of model/DFT K and G ratios (log scale), one colour per model."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4), squeeze=False)
    for ax, which in zip(axes[0], ("k", "g"), strict=True):
        ratios = {}
        for model in sorted(groups):
            dft, pred = _pairs(groups[model], which)
            if dft.size:
                ratios[model] = pred / dft
        if not ratios:
            continue
        allr = np.concatenate(list(ratios.values()))
        lo = min(float(allr.min()), 0.5)
        hi = max(float(allr.max()), 2.0)
        bins = np.logspace(np.log10(lo), np.log10(hi), 30)
        for model, r in ratios.items():
            ax.hist(
                r, bins=bins, histtype="step", lw=1.5, label=f"{model} (median {np.median(r):.3f})"
            )
        ax.axvline(1.0, color="0.4", lw=1, ls="--")
        ax.set_xscale("log")
        plain_log_ticks(ax.xaxis)
        ax.set(
            xlabel=f"model / DFT {NAMES[which][1]}_VRH", ylabel="materials", title=NAMES[which][0]
        )
        ax.legend(fontsize=8)
    fig.suptitle("Elastic softening: ratios < 1 mean a softer model PES", fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=130)
    plt.close(fig)
    return path


def plain_log_ticks(*axes: Any) -> None:
    """Log axes labelled 1, 2, 3, 5 x 10^n as plain numbers; unlabelled minor ticks.

    Matplotlib's default labels every minor tick of an axis spanning less than a
    decade, and the labels overlap.
    """
    from matplotlib.ticker import FormatStrFormatter, LogLocator, NullFormatter

    for axis in axes:
        axis.set_major_locator(LogLocator(subs=(1.0, 2.0, 3.0, 5.0)))
        axis.set_major_formatter(FormatStrFormatter("%g"))
        axis.set_minor_formatter(NullFormatter())
