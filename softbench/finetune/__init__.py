"""Fine-tuning CHGNet on DFT labels (issue #10): a scalar layer, or all weights.

Both use CHGNet's own trainer (``chgnet.trainer.Trainer``: its optimizer, cosine
scheduler, ``CombinedLoss`` and training epoch) on ``chgnet.data.dataset.StructureData``.

- :func:`scalar_finetune`: the paper's formulation, one trainable scalar ``c`` in
  front of CHGNet (energy, hence forces and stress, times ``c``), every other weight
  frozen. On labels that are ``k`` times CHGNet's own predictions it converges to
  ``k``, the closed-form least-squares ``c`` (tests/test_finetune.py).
- :func:`finetune`: all weights, energy:force:stress loss 1:1:0.1 (CHGNet's Trainer
  defaults, MSE), Adam lr 1e-3 with cosine decay to 1e-5, a seeded 9:1
  train/validation split. The best-validation checkpoint is written under
  ``$SOFTBENCH_HOME/models/<name>/`` with a spec file ``softbench-model.json`` that
  :mod:`softbench.models.registry` loads, so ``chgnet-0.3.0+ft:<name>`` is a model
  name in any later process.
"""

from __future__ import annotations

import json
import math
import re
import sys
import time
from collections.abc import Callable
from contextlib import redirect_stdout
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from io import StringIO
from pathlib import Path
from typing import Any

import numpy as np

from softbench.finetune.chgnet import (
    LEARNING_RATE,
    _base_model,
    _cosine_to_end,
    _per_atom_energies,
    _trainer,
    _validation_loss,
    fit_element_energies,
    scalar_finetune,
)
from softbench.finetune.labels import FinetuneError, Labels, _dataset, _loader, read_labels, split
from softbench.models.spec import _sha256_files
from softbench.settings import home_dir

SPEC_FILE = "softbench-model.json"
CHECKPOINT_FILE = "best.pth.tar"
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


__all__ = ["FinetuneError", "Labels", "finetune", "read_labels", "scalar_finetune", "split"]


@dataclass
class FinetuneResult:
    """What a full fine-tune produced (also written to the spec file as provenance)."""

    name: str
    model_name: str
    base_model: str
    checkpoint: str
    spec_file: str
    label_source: str
    label_source_checksum: str | None
    n_labels: int
    n_train: int
    n_val: int
    epochs_requested: int
    epochs_run: int
    best_epoch: int | None
    best_val_loss: float | None
    weights_sha256: str | None
    stopped: str | None  # why training stopped early (NaN loss), else None
    element_energies_fitted: bool
    seconds_per_epoch: list[float]
    history: list[dict[str, Any]]
    created_at: str

    def describe(self) -> str:
        """One paragraph for the terminal."""
        lines = [
            f"fine-tuned {self.base_model} on {self.n_labels} labelled configurations "
            f"({self.n_train} train / {self.n_val} validation) from {self.label_source}",
            f"best validation loss {self.best_val_loss:.6g} at epoch {self.best_epoch}"
            if self.best_val_loss is not None
            else "no finite validation loss: no checkpoint written",
        ]
        if self.stopped:
            lines.append(f"stopped early: {self.stopped}")
        if self.best_val_loss is not None:
            lines.append(f"registered as {self.model_name} ({self.checkpoint})")
        return "\n".join(lines)


def models_dir() -> Path:
    """Where fine-tuned models live: ``$SOFTBENCH_HOME/models``."""
    return home_dir() / "models"


def check_name(name: str, overwrite: bool = False) -> None:
    """A usable, new fine-tune name (stored predictions are keyed by model name)."""
    if not NAME_PATTERN.match(name):
        raise FinetuneError(f"fine-tune name {name!r}: use letters, digits, '.', '_' or '-'")
    if not overwrite and (models_dir() / name / SPEC_FILE).exists():
        raise FinetuneError(
            f"a fine-tuned model {name!r} exists ({models_dir() / name}); choose another "
            "--name or pass --overwrite (stored predictions of the old one keep its name)"
        )


def model_name(base: str, name: str) -> str:
    """The registry name of a fine-tuned model."""
    return f"{base}+ft:{name}"


def finetune(
    labels: Labels,
    name: str,
    base: str = "chgnet-0.3.0",
    epochs: int = 10,
    batch_size: int = 8,
    device: str = "cpu",
    seed: int = 0,
    lr: float = LEARNING_RATE,
    log: Callable[[str], None] | None = None,
    element_energies: bool = False,
    overwrite: bool = False,
) -> FinetuneResult:
    """Fine-tune all CHGNet weights; keep and register the best-validation checkpoint.

    ``element_energies``: first shift the per-element reference energies to the
    labels' zero (:func:`fit_element_energies`, training structures only).
    """
    import torch

    log = log or (lambda text: print(text, file=sys.stderr, flush=True))
    check_name(name, overwrite)
    train_idx, val_idx = split(len(labels), seed)
    spec, model = _base_model(base, device)
    if element_energies:
        shift = fit_element_energies(model, labels, train_idx)
        log(f"softbench finetune: element energies shifted by up to {np.abs(shift).max():.4g} eV")
    else:
        offset = np.mean(
            np.array([labels.energies_per_atom[i] for i in train_idx])
            - _per_atom_energies(model, [labels.structures[i] for i in train_idx])
        )
        if abs(offset) > 1.0:
            log(
                f"softbench finetune: warning: labels are {offset:+.3g} eV/atom off the "
                "model's energies (another code or pseudopotentials?); consider "
                "--fit-element-energies"
            )
    targets = "efs" if labels.stresses is not None else "ef"
    trainer = _trainer(model, targets, epochs, lr, device, seed)
    train_loader = _loader(_dataset(labels, train_idx), batch_size, True, seed)
    val_loader = _loader(_dataset(labels, val_idx), batch_size, False, seed)
    _cosine_to_end(trainer, epochs, len(train_loader), lr)
    folder = models_dir() / name
    folder.mkdir(parents=True, exist_ok=True)
    checkpoint = folder / CHECKPOINT_FILE
    best_loss, best_epoch, stopped = math.inf, None, None
    history: list[dict[str, Any]] = []
    seconds: list[float] = []
    for param in model.composition_model.parameters():
        param.requires_grad = False  # as Trainer.train(train_composition_model=False)
    for epoch in range(epochs):
        start = time.perf_counter()
        with redirect_stdout(StringIO()):  # CHGNet prints per batch; we print per epoch
            train_mae = trainer._train(train_loader, epoch)
        val_loss, val_mae = _validation_loss(trainer, val_loader)
        seconds.append(time.perf_counter() - start)
        row = {
            "epoch": epoch,
            "lr": trainer.optimizer.param_groups[0]["lr"],
            "train_mae": train_mae,
            "val_loss": val_loss,
            "val_mae": val_mae,
        }
        history.append(row)
        maes = " ".join(f"{k}={v:.4g}" for k, v in val_mae.items())
        log(
            f"softbench finetune: epoch {epoch + 1}/{epochs} val loss {val_loss:.6g} "
            f"(val MAE {maes}; train MAE "
            + " ".join(f"{k}={v:.4g}" for k, v in train_mae.items())
            + f") {seconds[-1]:.1f} s"
        )
        finite = math.isfinite(val_loss) and all(math.isfinite(v) for v in train_mae.values())
        if not finite:
            stopped = f"non-finite loss at epoch {epoch + 1}; kept the best checkpoint"
            log(f"softbench finetune: {stopped}")
            break
        if val_loss < best_loss:
            best_loss, best_epoch = val_loss, epoch + 1
            torch.save(
                {"model": model.as_dict(), "epoch": epoch + 1, "val_loss": val_loss}, checkpoint
            )
    # as ModelSpec.weights_sha256 of the registered model (file name + bytes)
    weights = _sha256_files((str(checkpoint),)) if best_epoch is not None else None
    result = FinetuneResult(
        name=name,
        model_name=model_name(base, name),
        base_model=spec.name,
        checkpoint=str(checkpoint),
        spec_file=str(folder / SPEC_FILE),
        label_source=labels.source,
        label_source_checksum=labels.source_checksum,
        n_labels=len(labels),
        n_train=len(train_idx),
        n_val=len(val_idx),
        epochs_requested=epochs,
        epochs_run=len(history),
        best_epoch=best_epoch,
        best_val_loss=best_loss if best_epoch is not None else None,
        weights_sha256=weights,
        stopped=stopped,
        element_energies_fitted=element_energies,
        seconds_per_epoch=seconds,
        history=history,
        created_at=datetime.now(timezone.utc).isoformat(),
    )
    if best_epoch is not None:
        write_spec(result, spec.version)
    return result


def write_spec(result: FinetuneResult, base_version: str) -> Path:
    """The registration file the model registry loads (spec + provenance)."""
    provenance = asdict(result)
    spec = {
        "name": result.model_name,
        "family": "chgnet",
        "version": f"{base_version}+ft:{result.name}",
        "source": (
            f"{result.base_model} fine-tuned (all weights) on {result.n_labels} "
            f"configurations of {result.label_source} (sha256 "
            f"{(result.label_source_checksum or '')[:12]}), best validation epoch "
            f"{result.best_epoch}/{result.epochs_requested}"
        ),
        "package": "chgnet",
        "environment": "default",
        "description": f"fine-tuned {result.base_model}",
        "options": {"path": CHECKPOINT_FILE},
    }
    path = Path(result.spec_file)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"spec": spec, "provenance": provenance}, indent=2) + "\n")
    tmp.replace(path)
    return path
