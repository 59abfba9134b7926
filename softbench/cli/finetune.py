"""``softbench finetune``: fine-tune CHGNet (all weights) on DFT labels and register it."""

from __future__ import annotations

import argparse

from softbench.cli.argtypes import one_line_errors, positive_int


def register(sub: argparse._SubParsersAction) -> None:
    """Add the subcommand."""
    parser = sub.add_parser(
        "finetune",
        help="fine-tune CHGNet on DFT labels; registers <model>+ft:<name>",
        description="Fine-tune all CHGNet weights on DFT energies, forces (and stresses) "
        "with CHGNet's trainer: loss energy:force:stress 1:1:0.1 (MSE), Adam lr 1e-3 "
        "with cosine decay to 1e-5, a seeded 9:1 train/validation split. The "
        "best-validation checkpoint and a registration file go to "
        "$SOFTBENCH_HOME/models/<name>/; the model is then usable as "
        "<model>+ft:<name> (e.g. in softbench run forces --models).",
    )
    parser.add_argument("--model", default="chgnet-0.3.0", help="base CHGNet model")
    parser.add_argument(
        "--labels",
        required=True,
        help="DFT labels: extxyz, VASP output dirs, phonopy yaml or WBM-style JSON "
        "(whatever softbench run forces --reference reads; energies and forces needed)",
    )
    parser.add_argument("--format", default=None, help="labels format (default: detected)")
    parser.add_argument("--epochs", type=positive_int, required=True)
    parser.add_argument("--batch-size", type=positive_int, default=8)
    parser.add_argument("--device", default="cpu", help="cpu or cuda (default: cpu)")
    parser.add_argument(
        "--name", default=None, help="name of the result (default: labels file stem)"
    )
    parser.add_argument(
        "--fit-element-energies",
        action="store_true",
        help="first shift CHGNet's per-element reference energies to the labels' zero "
        "(labels from another code or pseudopotentials, e.g. CP2K)",
    )
    parser.add_argument(
        "--overwrite", action="store_true", help="replace an earlier fine-tune of this name"
    )
    parser.add_argument("--seed", type=int, default=0, help="split and torch seed (default 0)")
    one_line_errors(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Read the labels, fine-tune, print the registered name; 1 if nothing was kept."""
    from pathlib import Path

    from softbench.finetune import check_name, finetune, read_labels, split

    name = args.name or Path(args.labels).name.split(".")[0]
    check_name(name, args.overwrite)
    labels = read_labels(args.labels, args.format)
    split(len(labels), args.seed)  # too few labels: exit 2 before loading the model
    result = finetune(
        labels,
        name,
        base=args.model,
        epochs=args.epochs,
        batch_size=args.batch_size,
        device=args.device,
        seed=args.seed,
        element_energies=args.fit_element_energies,
        overwrite=args.overwrite,
    )
    print(result.describe())
    return 0 if result.best_val_loss is not None else 1
