"""``softbench finetune``: fine-tune CHGNet (all weights) on DFT labels and register it."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from softbench.cli.argtypes import one_line_errors, positive_int
from softbench.cli.common import add_store_option, open_cli_stores


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
    parser.add_argument(
        "--scalar",
        action="store_true",
        help="the paper's scalar layer instead: train one scalar in front of CHGNet's energy "
        "(all other weights frozen; lr 0.02 with cosine decay); registers <model>+lc:<name> "
        "like softbench correct",
    )
    parser.add_argument(
        "--test",
        default=None,
        help="held-out DFT frames: evaluate base and fine-tuned model there and store one "
        "document per material in the correction collection (softbench query correction)",
    )
    parser.add_argument("--test-format", default=None, help="format of --test (detected)")
    add_store_option(parser)
    one_line_errors(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Read the labels, fine-tune, print the registered name; 1 if nothing was kept."""
    from softbench.correct import read_frames
    from softbench.finetune import check_name, read_labels, split

    name = args.name or Path(args.labels).name.split(".")[0]
    labels = read_labels(args.labels, args.format)
    split(len(labels), args.seed)  # too few labels: exit 2 before loading the model
    test = read_frames(args.test, args.test_format) if args.test else None
    if args.scalar:
        spec, about = _scalar(args, labels, name)
    else:
        check_name(name, args.overwrite)
        result, about = _full(args, labels, name)
        print(result.describe())
        if result.best_val_loss is None:
            return 1
        from softbench.models import get_model

        spec = get_model(result.model_name)
    if test is not None:
        _evaluate(args, spec, labels, test, about)
    return 0


def _full(args: argparse.Namespace, labels: Any, name: str) -> tuple[Any, dict[str, Any]]:
    from softbench.finetune import finetune

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
    about = {
        "method": "finetune",
        "c": None,
        "n_labels": result.n_labels,
        "n_train": result.n_train,
        "epochs": result.epochs_run,
        "best_epoch": result.best_epoch,
        "label_configurations": labels.ids,
        "label_reference": f"finetune:{Path(labels.source).name}",
    }
    return result, about


def _scalar(args: argparse.Namespace, labels: Any, name: str) -> tuple[Any, dict[str, Any]]:
    """Train the scalar layer and register it as a linear correction."""
    from softbench.finetune import scalar_finetune
    from softbench.models import get_model
    from softbench.models.corrections import correction_spec, save_correction
    from softbench.models.registry import register

    base = get_model(args.model)
    result = scalar_finetune(
        labels,
        base=args.model,
        epochs=args.epochs,
        batch_size=args.batch_size,
        device=args.device,
        seed=args.seed,
    )
    info = {
        "label_source": str(Path(labels.source).expanduser().resolve()),
        "label_configurations": labels.ids,
        "fit": f"scalar layer, CHGNet Trainer, {args.epochs} epochs (closed form "
        f"{result.closed_form:.6g})",
        "closed_form_c": result.closed_form,
    }
    spec = register(correction_spec(base, name, result.scale, info), overwrite=True)
    save_correction(spec)
    gap = abs(result.scale / result.closed_form - 1)
    print(
        f"scalar layer: c = {result.scale:.6g} after {args.epochs} epochs; closed-form least "
        f"squares {result.closed_form:.6g} ({100 * gap:.2f} % apart); registered {spec.name}"
    )
    about = {
        "method": "scalar-layer",
        "c": result.scale,
        "closed_form_c": result.closed_form,
        "n_labels": len(labels),
        "label_configurations": labels.ids,
        "label_reference": f"finetune:{Path(labels.source).name}",
    }
    return spec, about


def _evaluate(
    args: argparse.Namespace, spec: Any, labels: Any, test: Any, about: dict[str, Any]
) -> None:
    """Held-out evaluation of base and corrected model, stored and printed."""
    from softbench.correct import evaluate_correction, held_out, read_frames
    from softbench.models import get_model
    from softbench.query import render

    label_frames = read_frames(args.labels, args.format)
    warnings: list[str] = []
    test, _ = held_out(label_frames, test, warnings)
    stores = open_cli_stores(args)
    docs = evaluate_correction(
        stores, get_model(args.model), spec, label_frames, test, about, warnings, args.device
    )
    print(render(docs, "correction"))
