"""``softbench report energetics``: DFT-vs-model parity of relaxed energies, one panel per task.

The softening paper's Fig. 2a-c. Each panel is one :class:`Panel`: a query name from
:data:`softbench.query.QUERIES` (the collection of the task's analysis documents),
the field holding the DFT value and the field holding the model value. Every model
gets one colour across panels; a document is plotted when both values exist
(``successful`` and ``flagged``; flagged ones hollow). The title counts the model
values without a DFT partner, which are never silently dropped.

Adding a task: append ``Panel(query, dft_field, model_field, title, unit)`` to
:data:`PANELS` (its query registered in ``QUERIES``). A task whose collection is
empty is left out of the figure.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

FIGURE = "energetics_parity.png"
PLOTTED_STATES = ("successful", "flagged")


@dataclass(frozen=True)
class Panel:
    """One parity panel: which documents, which fields hold the DFT and model values."""

    query: str  # name in softbench.query.QUERIES
    dft_field: str
    model_field: str
    title: str
    unit: str


PANELS: list[Panel] = [
    Panel(
        "surfaces",
        "dft_surface_energy_j_m2",
        "surface_energy_j_m2",
        "Surface energies",
        "J/m²",
    ),
    Panel("defects", "dft_value", "model_value", "Point-defect formation energies", "eV"),
    Panel("solid-solution", "dft_value", "model_value", "Mixing energies", "eV/cation"),
]
UNPAIRED_STATES = ("missing_reference", "unpaired")  # a model value without a DFT partner


@dataclass
class PanelData:
    """The points of one panel per model, and the counts the title reports."""

    panel: Panel
    points: dict[str, list[tuple[float, float, bool]]]  # model -> (dft, model, flagged)
    n_unpaired: int
    n_failed: int


def report_from_args(stores: Any, args: argparse.Namespace) -> list[Path]:
    """``softbench report energetics`` entry point."""
    from softbench.cli.common import split

    paths = report_energetics(
        stores, Path(args.out), models=split(args.model), reference=args.reference
    )
    if not paths:
        print(
            "softbench: no DFT-paired energetics results in the store; run a task with a "
            "DFT side first (e.g. `softbench run surfaces --dft cp2k`)",
            file=sys.stderr,
        )
    return paths


def collect(
    stores: Any,
    panels: Sequence[Panel] = tuple(PANELS),
    models: Sequence[str] | None = None,
    reference: str | None = None,
) -> list[PanelData]:
    """Points per panel and model from the analysis documents (panels with any data)."""
    from softbench.query import QUERIES, fetch

    found = []
    for panel in panels:
        if panel.query not in QUERIES:
            continue
        filters = {"model": ",".join(models) if models else None, "reference": reference}
        docs = fetch(stores, panel.query, **filters)
        points: dict[str, list[tuple[float, float, bool]]] = {}
        for d in docs:
            dft, model = d.get(panel.dft_field), d.get(panel.model_field)
            if d.get("state") in PLOTTED_STATES and dft is not None and model is not None:
                points.setdefault(d["model"], []).append(
                    (float(dft), float(model), d.get("state") == "flagged")
                )
        unpaired = sum(1 for d in docs if d.get("state") in UNPAIRED_STATES)
        failed = sum(1 for d in docs if d.get("state") == "failed")
        if points:
            found.append(PanelData(panel, points, unpaired, failed))
    return found


def report_energetics(
    stores: Any,
    out_dir: Path,
    models: Sequence[str] | None = None,
    reference: str | None = None,
    panels: Sequence[Panel] = tuple(PANELS),
) -> list[Path]:
    """Write the parity figure (one panel per task with data); return its path."""
    data = collect(stores, panels, models, reference)
    if not data:
        return []
    out_dir.mkdir(parents=True, exist_ok=True)
    return [parity_figure(data, out_dir / FIGURE)]


def parity_figure(data: list[PanelData], path: Path) -> Path:
    """Panels side by side; one colour per model (the same in every panel)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    models = sorted({m for d in data for m in d.points})
    colours = {m: f"C{i % 10}" for i, m in enumerate(models)}
    fig, axes = plt.subplots(1, len(data), figsize=(4.6 * len(data), 4.6), squeeze=False)
    for ax, panel_data in zip(axes[0], data, strict=True):
        panel = panel_data.panel
        values = [v for pts in panel_data.points.values() for p in pts for v in p[:2]]
        lo, hi = min(0.0, *values), max(values) * 1.1
        ax.plot([lo, hi], [lo, hi], color="0.5", lw=1)
        for model, pts in sorted(panel_data.points.items()):
            dft = np.array([p[0] for p in pts])
            pred = np.array([p[1] for p in pts])
            flagged = np.array([p[2] for p in pts])
            mae = float(np.abs(pred[~flagged] - dft[~flagged]).mean()) if (~flagged).any() else None
            label = f"{model} (n={len(pts)}" + (f", MAE {mae:.3g})" if mae is not None else ")")
            ax.scatter(dft[~flagged], pred[~flagged], color=colours[model], s=28, label=label)
            if flagged.any():
                ax.scatter(
                    dft[flagged],
                    pred[flagged],
                    facecolors="none",
                    edgecolors=colours[model],
                    s=28,
                )
        ax.set(xlim=(lo, hi), ylim=(lo, hi), aspect="equal")
        ax.set(xlabel=f"DFT ({panel.unit})", ylabel=f"model ({panel.unit})")
        extra = f"{panel_data.n_unpaired} without DFT partner, {panel_data.n_failed} failed"
        ax.set_title(f"{panel.title}\n{extra}", fontsize=9)
        ax.legend(fontsize=7, loc="upper left")
    fig.suptitle("DFT vs model (below the diagonal: model underpredicts)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=130)
    plt.close(fig)
    return path
