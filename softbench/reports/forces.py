"""Force-parity figure: model vs DFT force components per model, with the fitted slope."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

MAX_POINTS = 20000


def report_from_args(stores: Any, args: argparse.Namespace) -> list[Path]:
    """``softbench report forces`` entry point."""
    from softbench.cli.common import split

    path = parity_figure(
        stores,
        Path(args.out) / f"force_parity_{args.task or 'forces'}.png",
        task=args.task or "forces",
        models=split(args.model),
        materials=split(args.material),
    )
    if path is None:
        print("softbench: no force-parity results to plot", file=sys.stderr)
        return []
    return [path]


def collect_forces(
    stores: Any,
    task: str,
    models: Sequence[str] | None = None,
    materials: Sequence[str] | None = None,
) -> tuple[dict[str, tuple[np.ndarray, np.ndarray]], dict[str, int]]:
    """Paired (reference, model) force components per model, and material counts."""
    from softbench.builders.pairing import iter_pairs, pair_configurations, with_outputs
    from softbench.schemas import PredictionTaskDocument, ReferenceTaskDocument

    out: dict[str, tuple[list[np.ndarray], list[np.ndarray]]] = {}
    counts: dict[str, int] = {}
    wanted = [
        {"model": model, "prediction_uuid": pred_ref.uuid, "reference_uuid": ref_ref.uuid}
        for (_, mid, _, model), pred_ref, ref_ref in iter_pairs(stores.jobs, task=task)
        if ref_ref is not None
        and pred_ref.state == "successful"
        and not (models and model not in models)
        and not (materials and mid not in materials)
    ]
    for item in with_outputs(stores.jobs, wanted):
        ref = ReferenceTaskDocument.model_validate(item["reference"])
        if ref.state != "successful":
            continue
        pred = PredictionTaskDocument.model_validate(item["prediction"])
        model = item["model"]
        paired = pair_configurations(ref, pred)
        xs, ys = out.setdefault(model, ([], []))
        counts[model] = counts.get(model, 0) + 1
        xs.extend(f.ravel() for f in paired.reference_forces)
        ys.extend(f.ravel() for f in paired.model_forces)
    data = {m: (np.concatenate(x), np.concatenate(y)) for m, (x, y) in out.items() if x}
    return data, counts


def parity_figure(
    stores: Any,
    path: Path,
    task: str = "forces",
    models: Sequence[str] | None = None,
    materials: Sequence[str] | None = None,
) -> Path | None:
    """One parity panel per model; the slope through the origin is the softening scale."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from softbench.analysis.softening import softening_scale

    data, n_materials = collect_forces(stores, task, models, materials)
    if not data:
        return None
    fig, axes = plt.subplots(1, len(data), figsize=(4.2 * len(data), 4.2), squeeze=False)
    rng = np.random.default_rng(0)
    for ax, (model, (x, y)) in zip(axes[0], sorted(data.items()), strict=True):
        scale = softening_scale(x, y)
        keep = rng.choice(x.size, MAX_POINTS, replace=False) if x.size > MAX_POINTS else ...
        ax.scatter(x[keep], y[keep], s=3, alpha=0.3, color="tab:blue", rasterized=True)
        lim = float(np.abs(np.concatenate([x, y])).max()) * 1.05
        line = np.array([-lim, lim])
        ax.plot(line, line, color="0.5", lw=1, label="y = x")
        ax.plot(
            line,
            scale * line,
            color="tab:red",
            lw=1.5,
            label=f"pooled slope {scale:.3f} ({n_materials[model]} materials)",
        )
        ax.set(
            xlim=(-lim, lim),
            ylim=(-lim, lim),
            title=model,
            xlabel="DFT force component (eV/Å)",
            ylabel="model force component (eV/Å)",
        )
        ax.set_aspect("equal")
        ax.legend(loc="upper left", fontsize=8)
    fig.suptitle(
        f"Force parity ({task}): slope < 1 means a softened PES; "
        "per-material scales: softbench query softening",
        fontsize=11,
        wrap=True,  # one panel is narrower than the title
    )
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=130)
    plt.close(fig)
    return path
