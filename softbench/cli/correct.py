"""``softbench correct``: fit a linear correction on DFT labels, register it, evaluate it."""

from __future__ import annotations

import argparse
import sys

from softbench.cli.argtypes import one_line_errors
from softbench.cli.common import add_store_option, open_cli_stores, split


def _weight(text: str) -> float:
    value = float(text)
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be zero or positive, got {text!r}")
    return value


def register(sub: argparse._SubParsersAction) -> None:
    """Add the subcommand."""
    parser = sub.add_parser(
        "correct",
        help="fit E_corr = c * E_model on DFT-labelled frames, register <model>+lc:<name>, "
        "evaluate base and corrected model on held-out frames",
    )
    parser.add_argument("--model", required=True, help="base model (registry name or path)")
    parser.add_argument(
        "--labels", required=True, help="DFT-labelled frames: any --reference of `run forces`"
    )
    parser.add_argument("--labels-format", default=None, help="format of --labels (detected)")
    parser.add_argument(
        "--label-frames",
        type=split,
        default=None,
        help="comma-separated configuration ids of --labels to fit on (default: all)",
    )
    parser.add_argument(
        "--test",
        required=True,
        help="held-out DFT reference (label configurations found there are left out)",
    )
    parser.add_argument("--test-format", default=None, help="format of --test (detected)")
    parser.add_argument(
        "--name", default=None, help="correction label (default: the --labels file stem)"
    )
    parser.add_argument(
        "--energy-weight",
        type=_weight,
        default=0.0,
        help="weight of per-atom energies in the fit (default 0: forces only)",
    )
    parser.add_argument(
        "--stress-weight",
        type=_weight,
        default=0.0,
        help="weight of stress components in the fit (default 0: forces only)",
    )
    parser.add_argument("--device", default=None, help="cpu or cuda (default: cuda if available)")
    add_store_option(parser)
    one_line_errors(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Fit, register, evaluate, store and print."""
    import re
    from pathlib import Path

    from softbench.correct import COLLECTION, correct, read_frames, select
    from softbench.models import get_model
    from softbench.query import render

    base = get_model(args.model)
    labels = select(read_frames(args.labels, args.labels_format), args.label_frames)
    test = read_frames(args.test, args.test_format)
    stem = Path(args.labels).name.split(".")[0]
    name = args.name or re.sub(r"[^A-Za-z0-9._-]", "-", stem).strip("-.") or "labels"
    stores = open_cli_stores(args)
    result = correct(
        stores,
        base,
        labels,
        test,
        name,
        device=args.device,
        energy_weight=args.energy_weight,
        stress_weight=args.stress_weight,
    )
    fit = result.fit
    print(
        f"softbench: registered {result.spec.name}: c = {fit.c:.6g} from {fit.n_configurations} "
        f"label configuration(s) ({fit.n_components} force components; base softening "
        f"scale on the labels {fit.softening_scale:.4g}); stored in {COLLECTION!r} of "
        f"{stores.spec}",
        file=sys.stderr,
    )
    print(render(result.documents, "correction"))
    return 0
