"""Correction figures (the softening paper's Fig. 6).

- ``correction_parity_<model>.png`` (6a): DFT vs model force components before and
  after each correction, on its training labels and on the held-out frames (from the
  samples the correction documents keep);
- ``mae_vs_cmae_<task>.png`` (6b): per model, the distribution over materials of the
  force MAE and of the cMAE (MAE after dividing by the softening scale: the error a
  perfect linear correction leaves, the paper's lower-bound estimate of what a
  fine-tune gains), from the softening documents.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any


def report_from_args(stores: Any, args: argparse.Namespace) -> list[Path]:
    """``softbench report correction`` entry point."""
    from softbench.cli.common import split

    models = split(args.model)
    out = Path(args.out)
    paths = parity_figures(stores, out, models)
    task = args.task or "high-energy"
    mae = mae_figure(stores, out / f"mae_vs_cmae_{task}.png", task, models)
    if mae is not None:
        paths.append(mae)
    if not paths:
        print(
            f"softbench: nothing to plot: no correction documents and no {task} softening results",
            file=sys.stderr,
        )
    return paths


def parity_figures(stores: Any, out: Path, models: list[str] | None) -> list[Path]:
    """One 6a figure per base model: a row per correction, labels | held-out."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    docs = [d for d in stores.collection("correction").query({}) if d.get("parity")]
    if models:
        docs = [d for d in docs if d["model"] in models]
    paths = []
    for model in sorted({d["model"] for d in docs}):
        mine = [d for d in docs if d["model"] == model]
        corrections = sorted({d["correction"] for d in mine})
        fig, axes = plt.subplots(
            len(corrections), 2, figsize=(8, 3.8 * len(corrections)), squeeze=False
        )
        for row, name in zip(axes, corrections, strict=True):
            group = [d for d in mine if d["correction"] == name]
            _panel(row[0], [group[0]["parity"]["labels"]], f"{name}\ntraining labels")
            held = [d["parity"]["held_out"] for d in group]
            materials = ", ".join(d["material_id"] for d in group)
            _panel(row[1], held, f"held out: {materials}")
        fig.tight_layout()
        path = out / f"correction_parity_{model}.png"
        fig.savefig(path, dpi=130)
        plt.close(fig)
        paths.append(path)
    return paths


def _panel(ax: Any, sets: list[dict[str, list[float]]], title: str) -> None:
    import numpy as np

    x = np.concatenate([s["dft"] for s in sets])
    limit = float(np.abs(x).max()) * 1.1 or 1.0
    for key, colour in (("before", "tab:red"), ("after", "tab:blue")):
        y = np.concatenate([s[key] for s in sets])
        slope = float(x @ y / (x @ x))  # the softening scale: LSQ through the origin
        mae = float(np.mean(np.abs(y - x)))
        ax.scatter(
            x, y, s=4, alpha=0.5, color=colour, label=f"{key}: slope {slope:.3f}, MAE {mae:.3f}"
        )
    ax.plot([-limit, limit], [-limit, limit], color="grey", lw=0.8)
    ax.set_xlim(-limit, limit)
    ax.set_ylim(-limit, limit)
    ax.set_xlabel("DFT force component (eV/Å)")
    ax.set_ylabel("model force component (eV/Å)")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7, loc="upper left")


def mae_figure(stores: Any, path: Path, task: str, models: list[str] | None) -> Path | None:
    """6b: force MAE and cMAE over materials, per model (successful documents)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from softbench.query import fetch

    docs = [
        d
        for d in fetch(stores, "softening", task=task, model=",".join(models or []) or None)
        if d.get("state") == "successful" and d.get("force_mae") is not None
    ]
    if not docs:
        return None
    names = sorted({d["model"] for d in docs})
    fig, ax = plt.subplots(figsize=(1.8 + 1.6 * len(names), 4))
    for i, name in enumerate(names):
        mine = [d for d in docs if d["model"] == name]
        for offset, key, colour in (
            (-0.17, "force_mae", "tab:red"),
            (0.17, "force_cmae", "tab:blue"),
        ):
            values = np.array([d[key] for d in mine])
            ax.boxplot(
                values,
                positions=[i + offset],
                widths=0.28,
                patch_artist=True,
                boxprops={"facecolor": colour, "alpha": 0.4},
            )
            jitter = np.random.default_rng(i).uniform(-0.08, 0.08, values.size)
            ax.scatter(i + offset + jitter, values, s=8, color=colour, zorder=3)
    ax.set_xticks(range(len(names)))
    ax.set_xticklabels(
        [f"{n}\n({sum(d['model'] == n for d in docs)} mat.)" for n in names], fontsize=8
    )
    ax.set_ylabel("force error (eV/Å)")
    ax.set_title(f"{task}: MAE (red) vs cMAE (blue) over materials", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=130)
    plt.close(fig)
    return path
