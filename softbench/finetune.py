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
import random
import re
import sys
import time
from collections.abc import Callable, Sequence
from contextlib import redirect_stdout
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from io import StringIO
from pathlib import Path
from typing import Any

import numpy as np

from softbench.models.spec import _sha256_files
from softbench.settings import home_dir

SPEC_FILE = "softbench-model.json"
CHECKPOINT_FILE = "best.pth.tar"
GPA_TO_EV_A3 = 1 / 160.21766208
LOSS_RATIOS = {"energy": 1.0, "force": 1.0, "stress": 0.1}  # CHGNet's Trainer defaults
LEARNING_RATE = 1e-3
DECAY_FRACTION = 1e-2  # cosine decay to LEARNING_RATE * DECAY_FRACTION = 1e-5
VAL_FRACTION = 0.1
MIN_LABELS = 2  # one to train on, one to validate on
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


class FinetuneError(ValueError):
    """An input problem of a fine-tune (too few labels, bad name, unknown base)."""


@dataclass
class Labels:
    """DFT-labelled structures: per-atom energies (eV/atom), forces, ASE stresses."""

    structures: list[Any]
    energies_per_atom: list[float]
    forces: list[np.ndarray]
    stresses: list[np.ndarray] | None  # eV/Å³, ASE sign (tensile > 0); None if any lacks one
    source: str = ""
    source_checksum: str | None = None
    ids: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.structures)


def read_labels(source: str | Path, fmt: str | None = None) -> Labels:
    """Every configuration with energy and forces from a reference the forces task reads."""
    from softbench.ingest import discover, read_reference
    from softbench.ingest.base import file_checksum

    items = discover(source, fmt)
    structures, energies, forces, stresses, ids = [], [], [], [], []
    for item in items:
        doc = read_reference(item, "finetune", f"finetune:{Path(source).name}")
        for conf in doc.configurations:
            if conf.energy is None or conf.arrays.forces is None:
                continue
            structures.append(conf.structure)
            energies.append(float(conf.energy) / conf.n_atoms)
            forces.append(np.asarray(conf.arrays.forces, float))
            stresses.append(
                None if conf.arrays.stress is None else np.asarray(conf.arrays.stress, float)
            )
            ids.append(f"{item.material_id}/{conf.configuration_id}")
    has_stress = bool(stresses) and all(s is not None for s in stresses)
    return Labels(
        structures,
        energies,
        forces,
        [s for s in stresses if s is not None] if has_stress else None,
        source=str(source),
        source_checksum=file_checksum(Path(source).expanduser()),
        ids=ids,
    )


def split(n: int, seed: int = 0) -> tuple[list[int], list[int]]:
    """Seeded 9:1 train/validation indices (at least one validation structure)."""
    if n < MIN_LABELS:
        raise FinetuneError(
            f"fine-tuning needs at least {MIN_LABELS} configurations with energy and "
            f"forces (one to train on, one to validate on); got {n}"
        )
    order = list(range(n))
    random.Random(seed).shuffle(order)
    n_val = max(1, round(VAL_FRACTION * n))
    return sorted(order[n_val:]), sorted(order[:n_val])


def _dataset(labels: Labels, indices: Sequence[int]) -> Any:
    """A CHGNet StructureData of some labels (stress in CHGNet's VASP convention)."""
    from chgnet.data.dataset import StructureData

    stresses: list[Any] | None = None
    if labels.stresses is not None:
        # StructureData multiplies by -0.1 (VASP kBar -> GPa, sign to CHGNet's = ASE's)
        stresses = [((-10 / GPA_TO_EV_A3) * labels.stresses[i]).tolist() for i in indices]
    with redirect_stdout(StringIO()):
        return StructureData(
            structures=[labels.structures[i] for i in indices],
            energies=[labels.energies_per_atom[i] for i in indices],
            forces=[labels.forces[i].tolist() for i in indices],
            stresses=stresses,
            structure_ids=[labels.ids[i] if labels.ids else i for i in indices],
            shuffle=False,
        )


def _loader(dataset: Any, batch_size: int, shuffle: bool, seed: int) -> Any:
    import torch
    from chgnet.data.dataset import collate_graphs
    from torch.utils.data import DataLoader

    generator = torch.Generator().manual_seed(seed)
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=shuffle,
        collate_fn=collate_graphs,
        generator=generator,
    )


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
