"""Migration figures: DFT - model barrier histogram (Fig. 3b) and one hop's path (Fig. 3a).

Energies along the path are ``E_i - (E_0 + E_N)/2`` (the KRA referencing of
:mod:`softbench.analysis.migration`) against the reaction coordinate i/N. The
histogram needs hops with a DFT barrier; without any it is not written and the
command says so. PNG, matplotlib Agg backend.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

HISTOGRAM = "migration_barrier_difference_hist.png"
PATH = "migration_path_{hop}.png"


def report_from_args(stores: Any, args: argparse.Namespace) -> list[Path]:
    """``softbench report migration`` entry point."""
    from softbench.cli.common import split

    return report_migration(
        stores,
        Path(args.out),
        models=split(args.model),
        reference=args.reference,
        hop=args.material,
    )


def report_migration(
    stores: Any,
    out_dir: Path,
    models: Sequence[str] | None = None,
    reference: str | None = None,
    hop: str | None = None,
) -> list[Path]:
    """Write the histogram (if any hop has a DFT barrier) and one hop's path figure."""
    import matplotlib

    matplotlib.use("Agg")
    from softbench.query import fetch
    from softbench.schemas.migration import MigrationBarrierDocument

    filters = {"model": ",".join(models) if models else None, "reference": reference}
    docs = [
        MigrationBarrierDocument.model_validate(d) for d in fetch(stores, "migration", **filters)
    ]
    ok = [d for d in docs if d.state == "successful" and d.image_energies_ev]
    if not ok:
        print(
            "softbench: no successful migration results in the store; run "
            "`softbench run migration` first",
            file=sys.stderr,
        )
        return []
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    paired = [d for d in ok if d.paired and d.barrier_difference_ev is not None]
    if paired:
        paths.append(difference_histogram(paired, out_dir / HISTOGRAM))
    else:
        print(
            "softbench: no hop has a DFT barrier (model-only hops): no DFT - model histogram; "
            "add DFT with --dft vasp|cp2k or --reference FILE",
            file=sys.stderr,
        )
    name = hop or pick_hop(ok)
    chosen = [d for d in ok if name in (f"{d.host}#{d.hop_id}", d.host)]
    if not chosen:
        print(f"softbench: no successful migration result for hop {name}", file=sys.stderr)
        return paths
    first = chosen[0]
    key = f"{first.host}#{first.hop_id}"
    on_hop = [d for d in chosen if f"{d.host}#{d.hop_id}" == key]
    safe = key.replace("#", "_hop").replace("/", "_")
    paths.append(path_figure(on_hop, out_dir / PATH.format(hop=safe)))
    return paths


def pick_hop(docs: list[Any]) -> str:
    """The hop with a DFT barrier and the most models (ties: first by name)."""
    counts: dict[str, tuple[int, int]] = {}
    for d in docs:
        paired, n = counts.get(f"{d.host}#{d.hop_id}", (0, 0))
        counts[f"{d.host}#{d.hop_id}"] = (max(paired, int(d.paired)), n + 1)
    return sorted(counts, key=lambda k: (-counts[k][0], -counts[k][1], k))[0]


def difference_histogram(docs: list[Any], path: Path) -> Path:
    """Histogram of DFT - model KRA barriers per model, with MAE and mean signed difference."""
    import matplotlib.pyplot as plt

    from softbench.analysis.migration import barrier_statistics

    groups: dict[str, list[Any]] = {}
    for d in docs:
        groups.setdefault(f"{d.model} vs {d.reference}", []).append(d)
    diffs = np.array([d.barrier_difference_ev for d in docs], float)
    lo, hi = min(float(diffs.min()), -0.1) - 0.05, max(float(diffs.max()), 0.1) + 0.05
    bins = np.linspace(lo, hi, 25).tolist()
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    for name, group in sorted(groups.items()):
        stats = barrier_statistics([d.dft_barrier_ev for d in group], [d.barrier_ev for d in group])
        values = [d.barrier_difference_ev for d in group]
        ax.hist(
            values,
            bins=bins,
            histtype="step",
            lw=1.6,
            label=f"{name}\n{len(values)} hops, MAE {stats['mae_ev']:.3f} eV, "
            f"mean {stats['mean_signed_difference_ev']:+.3f} eV, "
            f"{stats['fraction_underpredicted']:.0%} under",
        )
    ax.axvline(0.0, color="0.4", lw=1, ls="--")
    ax.set(xlabel="DFT - model KRA barrier (eV)", ylabel="hops")
    ax.set_title("Migration barriers: > 0 means the model underpredicts", fontsize=10)
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.15), frameon=False)
    fig.tight_layout()
    fig.savefig(path, dpi=130, bbox_inches="tight")
    plt.close(fig)
    return path


def path_figure(docs: list[Any], path: Path) -> Path:
    """Energy along one hop (relative to the end-point mean) per model, DFT if present."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4.2))
    dft_drawn = False
    for d in sorted(docs, key=lambda d: d.model):
        energies = np.asarray(d.image_energies_ev, float)
        x = np.linspace(0, 1, energies.size)
        ax.plot(x, energies, "o-", label=f"{d.model} (KRA {d.barrier_ev:.3f} eV)")
        if d.dft_image_energies_ev and not dft_drawn:
            dft = np.asarray(d.dft_image_energies_ev, float)
            ax.plot(
                np.linspace(0, 1, dft.size),
                dft,
                "s-",
                color="black",
                label=f"DFT {d.reference} (KRA {d.dft_barrier_ev:.3f} eV)",
            )
            dft_drawn = True
    first = docs[0]
    ax.axhline(0.0, color="0.6", lw=0.8, ls=":")
    ax.set(
        xlabel="reaction coordinate (image / N)",
        ylabel="E - (E_start + E_end)/2 (eV)",
        title=f"{first.working_ion} hop {first.hop_id} in {first.host} ({first.n_images} images)",
    )
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=130)
    plt.close(fig)
    return path
