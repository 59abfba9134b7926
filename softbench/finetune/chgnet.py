"""CHGNet's Trainer set up for softbench: losses, cosine decay to the last epoch, scalar layer."""

from __future__ import annotations

import math
import sys
from collections.abc import Sequence
from contextlib import redirect_stdout
from dataclasses import dataclass
from io import StringIO
from typing import Any

import numpy as np

from softbench.finetune.labels import FinetuneError, Labels, _dataset, _loader

LOSS_RATIOS = {"energy": 1.0, "force": 1.0, "stress": 0.1}  # CHGNet's Trainer defaults
LEARNING_RATE = 1e-3
DECAY_FRACTION = 1e-2  # cosine decay to LEARNING_RATE * DECAY_FRACTION = 1e-5


def _validation_loss(trainer: Any, loader: Any) -> tuple[float, dict[str, float]]:
    """Mean combined loss (the training criterion) and MAEs over a loader."""
    trainer.model.eval()
    total, count = 0.0, 0
    maes: dict[str, float] = dict.fromkeys(trainer.targets, 0.0)
    sizes: dict[str, float] = dict.fromkeys(trainer.targets, 0.0)
    for batch_graphs, batch_targets in loader:
        for graph in batch_graphs:
            graph.atom_frac_coord.requires_grad = True
        graphs = [g.to(trainer.device) for g in batch_graphs]
        targets = {k: trainer.move_to(v, trainer.device) for k, v in batch_targets.items()}
        prediction = trainer.model(graphs, task=trainer.targets)
        result = trainer.criterion(targets, prediction)
        total += float(result["loss"].detach().cpu()) * len(graphs)
        count += len(graphs)
        for key in trainer.targets:
            size = float(result[f"{key}_MAE_size"])
            maes[key] += float(result[f"{key}_MAE"].detach().cpu()) * size
            sizes[key] += size
    return total / max(count, 1), {k: maes[k] / sizes[k] if sizes[k] else math.nan for k in maes}


def _base_model(base: str, device: str) -> Any:
    from softbench.models import get_model
    from softbench.models.backends import keep_torch_dtype

    spec = get_model(base)
    if spec.family != "chgnet":
        raise FinetuneError(f"fine-tuning supports CHGNet models only; {base} is {spec.family}")
    with keep_torch_dtype(), redirect_stdout(sys.stderr):
        predictor = spec.load(device)
    return spec, getattr(predictor, "model")  # noqa: B009  (ChgnetPredictor)


def _per_atom_energies(model: Any, structures: Sequence[Any]) -> np.ndarray:
    with redirect_stdout(sys.stderr):
        results = model.predict_structure(list(structures), task="e", batch_size=16)
    if isinstance(results, dict):
        results = [results]
    return np.array([float(r["e"]) for r in results])


def fit_element_energies(model: Any, labels: Labels, indices: Sequence[int]) -> np.ndarray:
    """Shift CHGNet's per-element reference energies (AtomRef) to the labels' energy zero.

    Least squares of the per-atom energy residual (label - model) on the element
    fractions of the given (training) structures; returns the shifts (eV/atom, by Z).
    Labels from another code or pseudopotential set (CP2K: ~-107 eV/atom for Si
    against CHGNet's ~-5.4) would otherwise dominate the energy loss.
    """
    import torch

    structures = [labels.structures[i] for i in indices]
    residual = np.array([labels.energies_per_atom[i] for i in indices])
    residual -= _per_atom_energies(model, structures)
    fc = model.composition_model.fc
    fractions = np.zeros((len(structures), fc.weight.shape[1]))
    for row, structure in enumerate(structures):
        for element, amount in structure.composition.fractional_composition.items():
            fractions[row, element.Z - 1] = amount
    shift, *_ = np.linalg.lstsq(fractions, residual, rcond=None)
    with torch.no_grad():
        fc.weight += torch.as_tensor(shift, dtype=fc.weight.dtype).view_as(fc.weight)
    return shift


def _trainer(model: Any, targets: Any, epochs: int, lr: float, device: str, seed: int) -> Any:
    from chgnet.trainer import Trainer

    with redirect_stdout(sys.stderr):
        return Trainer(
            model=model,
            targets=targets,
            energy_loss_ratio=LOSS_RATIOS["energy"],
            force_loss_ratio=LOSS_RATIOS["force"],
            stress_loss_ratio=LOSS_RATIOS["stress"],
            optimizer="Adam",
            scheduler="CosLR",
            scheduler_params={"decay_fraction": DECAY_FRACTION},
            criterion="MSE",
            epochs=epochs,
            learning_rate=lr,
            print_freq=10**9,
            torch_seed=seed,
            use_device=device,
        )


def scheduler_steps_per_epoch(n_batches: int) -> int:
    """How often ``Trainer._train`` steps the scheduler in one epoch (every 1/10 epoch)."""
    return len({int(k) for k in np.arange(1, 11) * n_batches // 10} - {0})


def _cosine_to_end(trainer: Any, epochs: int, n_batches: int, lr: float) -> None:
    """Cosine decay from ``lr`` to ``lr * DECAY_FRACTION`` over exactly this run.

    CHGNet's CosLR assumes >= 10 batches per epoch (T_max = 10 x epochs, stepped
    every tenth of an epoch); with fewer batches it would end far above 1e-5.
    """
    import torch

    trainer.scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(
        trainer.optimizer,
        T_max=max(1, epochs * scheduler_steps_per_epoch(n_batches)),
        eta_min=lr * DECAY_FRACTION,
    )


# --------------------------------------------------------------------------- scalar layer


def scalar_model(model: Any) -> Any:
    """CHGNet with every weight frozen behind one trainable scalar ``scale`` (start 1)."""
    import torch

    class ScaledCHGNet(torch.nn.Module):
        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.inner = inner
            for param in inner.parameters():
                param.requires_grad = False
            self.scale = torch.nn.Parameter(torch.ones((), dtype=torch.float32))

        @property
        def composition_model(self) -> Any:  # the Trainer toggles it
            return self.inner.composition_model

        def forward(self, graphs: Any, task: str = "e") -> dict[str, Any]:
            out = dict(self.inner(graphs, task=task))
            out["e"] = out["e"] * self.scale
            for key in ("f", "s"):
                if key in out:
                    out[key] = [value * self.scale for value in out[key]]
            return out

    return ScaledCHGNet(model)


@dataclass
class ScalarResult:
    """The fitted scalar and its trajectory over epochs."""

    scale: float
    history: list[float]
    closed_form: float  # Σ f_dft·f_model / Σ f_model² over all force components


def scalar_finetune(
    labels: Labels,
    base: str = "chgnet-0.3.0",
    epochs: int = 60,
    lr: float = 0.02,
    batch_size: int = 5,
    device: str = "cpu",
    seed: int = 0,
) -> ScalarResult:
    """Train only a scalar in front of the base CHGNet (CHGNet's Trainer, MSE e/f/s loss)."""
    import torch

    spec, model = _base_model(base, device)
    scaled = scalar_model(model)
    targets = "efs" if labels.stresses is not None else "ef"
    trainer = _trainer(scaled, targets, epochs, lr, device, seed)
    trainer.optimizer = torch.optim.Adam([scaled.scale], lr)
    loader = _loader(_dataset(labels, range(len(labels))), batch_size, True, seed)
    _cosine_to_end(trainer, epochs, len(loader), lr)
    history = []
    with redirect_stdout(StringIO()):
        for epoch in range(epochs):
            trainer._train(loader, epoch)
            history.append(float(scaled.scale.detach()))
    predicted = spec.load(device).predict(labels.structures, stress=False)
    f_model = np.concatenate([np.ravel(p.forces) for p in predicted])
    f_dft = np.concatenate([np.ravel(f) for f in labels.forces])
    closed = float(f_dft @ f_model / (f_model @ f_model))
    return ScalarResult(history[-1], history, closed)


# --------------------------------------------------------------------------- all weights
