"""Evaluate many structures with one loaded model, here or in the model's own env.

A model whose package is missing from this interpreter (MACE next to SevenNet,
see README 'Environments') is evaluated by ``python -m softbench.models.worker``
in the interpreter named by ``SOFTBENCH_ENV_<ENVIRONMENT>``. A worker that cannot
start, exits non-zero, is killed, writes no or an unreadable result, or runs past
``SOFTBENCH_WORKER_TIMEOUT`` seconds (unset: no limit) raises
:class:`~softbench.models.errors.ModelUnavailableError` naming the model and the cause.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import tempfile
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict

import numpy as np
from pymatgen.core import Lattice, Structure

from softbench.models.backends import require_package
from softbench.models.errors import (
    ModelError,
    ModelUnavailableError,
    UnsupportedElementsError,
)
from softbench.models.predictor import Prediction, Predictor
from softbench.models.spec import ModelSpec
from softbench.schemas.provenance import ModelProvenance

if TYPE_CHECKING:
    from typing import Unpack  # Python >= 3.11; annotations only

_CACHE: OrderedDict[tuple[str, str | None], Predictor] = OrderedDict()
CACHE_SIZE = 4


@dataclass
class Evaluation:
    """Predictions (None where a structure failed) and how they were made."""

    predictions: list[Prediction | None]
    errors: dict[int, str] = field(default_factory=dict)
    provenance: ModelProvenance | None = None
    device: str = "cpu"
    batch_size: int = 1
    load_seconds: float = 0.0
    eval_seconds: float = 0.0


def environment_python(environment: str) -> str | None:
    """Interpreter configured for an environment (``SOFTBENCH_ENV_<NAME>``)."""
    return os.environ.get(f"SOFTBENCH_ENV_{environment.upper()}") or None


def load_predictor(spec: ModelSpec, device: str | None = None) -> Predictor:
    """Load a model once per process (small LRU cache keyed by name and device)."""
    # a re-registered correction keeps its name but not its c: key corrections by c too
    name = spec.name if spec.family != "corrected" else f"{spec.name}@{spec.options['c']!r}"
    key = (name, device)
    if key in _CACHE:
        _CACHE.move_to_end(key)
        return _CACHE[key]
    predictor = spec.load(device)
    _CACHE[key] = predictor
    while len(_CACHE) > CACHE_SIZE:
        _CACHE.popitem(last=False)
    return predictor


def clear_cache() -> None:
    """Forget loaded models (frees memory; used by benchmarks)."""
    _CACHE.clear()


class EvaluateOptions(TypedDict, total=False):
    """Keyword options of :func:`evaluate`: those of :func:`evaluate_here`."""

    labels: Sequence[str] | None
    show_progress: bool
    description: str
    stress: bool


def evaluate(
    spec: ModelSpec,
    structures: Sequence[Structure],
    device: str | None = None,
    **options: Unpack[EvaluateOptions],
) -> Evaluation:
    """Label structures with one model; per-structure failures are collected.

    Evaluated here, or by a worker in the model's environment when its package is
    missing here (that worker shows no progress bar).
    """
    if not spec.package_installed():
        python = environment_python(spec.environment)
        if python is None:
            require_package(spec)  # raises with instructions
        return _evaluate_elsewhere(spec, structures, device, str(python), **options)
    return evaluate_here(spec, structures, device, **options)


def evaluate_here(
    spec: ModelSpec,
    structures: Sequence[Structure],
    device: str | None = None,
    labels: Sequence[str] | None = None,
    show_progress: bool = False,
    description: str = "",
    stress: bool = True,
) -> Evaluation:
    """Evaluate in this interpreter."""
    labels = list(labels) if labels is not None else [str(i) for i in range(len(structures))]
    start = time.perf_counter()
    try:
        predictor = load_predictor(spec, device)
    except ModelError:
        raise
    except Exception as exc:
        raise ModelUnavailableError(
            f"could not load model {spec.name}: {type(exc).__name__}: {exc}"
        ) from exc
    loaded = time.perf_counter()
    for structure, label in zip(structures, labels, strict=True):
        predictor.check_elements(structure, where=label)

    bar = None
    if show_progress:
        from tqdm.auto import tqdm

        bar = tqdm(
            total=len(structures),
            desc=description or spec.name,
            unit="frame",
            leave=False,
            mininterval=1.0,
        )
    try:
        raw = predictor.predict(structures, progress=_updater(bar), stress=stress)
    except ModelError:
        raise
    except Exception as exc:
        where = f" on {description}" if description else ""
        raise ModelError(f"model {spec.name} failed{where}: {type(exc).__name__}: {exc}") from exc
    finally:
        if bar is not None:
            bar.close()
    predictions: list[Prediction | None] = []
    errors: dict[int, str] = {}
    for i, (pred, label) in enumerate(zip(raw, labels, strict=True)):
        try:
            pred.check_finite(spec.name, f"configuration {label}")
        except ModelError as exc:
            errors[i] = str(exc)
            predictions.append(None)
        else:
            predictions.append(pred)
    return Evaluation(
        predictions=predictions,
        errors=errors,
        provenance=spec.provenance(),
        device=predictor.device,
        batch_size=predictor.batch_size,
        load_seconds=loaded - start,
        eval_seconds=time.perf_counter() - loaded,
    )


def _updater(bar: Any) -> Callable[[int], None] | None:
    """Tqdm's update as a progress callback (None without a bar)."""
    if bar is None:
        return None

    def update(n: int) -> None:
        bar.update(n)

    return update


def worker_timeout() -> float | None:
    """Seconds a worker may run (``SOFTBENCH_WORKER_TIMEOUT``; unset: no limit)."""
    raw = os.environ.get("SOFTBENCH_WORKER_TIMEOUT", "").strip()
    if not raw:
        return None
    try:
        value = float(raw)
    except ValueError:
        raise ModelUnavailableError(
            f"SOFTBENCH_WORKER_TIMEOUT={raw!r} is not a number of seconds"
        ) from None
    return value if value > 0 else None


def _evaluate_elsewhere(
    spec: ModelSpec,
    structures: Sequence[Structure],
    device: str | None,
    python: str,
    **options: Unpack[EvaluateOptions],
) -> Evaluation:
    """Run ``python -m softbench.models.worker`` in ``python``; any crash is a model error.

    Labels and description travel with the request, so the worker's errors name the
    same configurations as an evaluation here would.
    """
    labels = options.get("labels")
    payload = {
        "spec": spec.to_dict(),
        "device": device,
        "stress": options.get("stress", True),
        "labels": None if labels is None else [str(label) for label in labels],
        "description": options.get("description", ""),
        "structures": [encode_structure(s) for s in structures],
    }
    where = f"model {spec.name}: worker in environment {spec.environment!r} ({python})"
    variable = f"SOFTBENCH_ENV_{spec.environment.upper()}"
    timeout = worker_timeout()
    with tempfile.TemporaryDirectory(prefix="softbench-worker-") as tmp:
        inp, out = Path(tmp) / "in.json", Path(tmp) / "out.json"
        inp.write_text(json.dumps(payload))
        try:
            proc = subprocess.run(
                [python, "-m", "softbench.models.worker", str(inp), str(out)],
                capture_output=True,
                text=True,
                errors="replace",
                check=False,
                stdin=subprocess.DEVNULL,
                timeout=timeout,
            )
        except subprocess.TimeoutExpired:
            raise ModelUnavailableError(
                f"{where} did not finish within {timeout:g} s (SOFTBENCH_WORKER_TIMEOUT)"
            ) from None
        except OSError as exc:
            raise ModelUnavailableError(
                f"{where} could not start: {type(exc).__name__}: {exc}; "
                f"{variable} must name a Python interpreter with softbench and "
                f"{spec.package or 'the model package'} installed"
            ) from exc
        if proc.returncode != 0:
            raise ModelUnavailableError(f"{where} {_exit_reason(proc.returncode)}{_tail(proc)}")
        if not out.exists():
            raise ModelUnavailableError(f"{where} exited without writing a result{_tail(proc)}")
        try:
            result = json.loads(out.read_text(errors="replace"))
        except ValueError as exc:
            raise ModelUnavailableError(
                f"{where} wrote an unreadable result (not JSON: {exc}){_tail(proc)}"
            ) from exc
    if not isinstance(result, dict):
        raise ModelUnavailableError(
            f"{where} wrote an unreadable result (a JSON {type(result).__name__}, not an object)"
        )
    kind = result.get("error_type")
    if kind == "unsupported_elements":
        raise UnsupportedElementsError(spec.name, result["elements"], result["where"])
    if kind == "unavailable":
        raise ModelUnavailableError(result["error"])
    if kind:
        raise ModelError(result["error"])
    try:
        evaluation = decode_evaluation(result)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ModelUnavailableError(
            f"{where} wrote an unreadable result ({type(exc).__name__}: {exc})"
        ) from exc
    if len(evaluation.predictions) != len(structures):
        raise ModelUnavailableError(
            f"{where} returned {len(evaluation.predictions)} predictions "
            f"for {len(structures)} structures"
        )
    return evaluation


def _exit_reason(returncode: int) -> str:
    """'exited with status N' or 'was killed by SIGNAME'."""
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        return f"was killed by {name}"
    return f"exited with status {returncode}"


def _tail(proc: subprocess.CompletedProcess[str], lines: int = 5) -> str:
    """': ' + the last lines of stderr (else stdout), or '' when both are empty."""
    text = (proc.stderr or "").strip() or (proc.stdout or "").strip()
    if not text:
        return ""
    return ": " + " | ".join(line.strip() for line in text.splitlines()[-lines:])


def encode_structure(structure: Structure) -> dict[str, Any]:
    """Minimal JSON form of a structure for the worker."""
    return {
        "lattice": structure.lattice.matrix.tolist(),
        "species": [site.specie.symbol for site in structure],
        "positions": structure.cart_coords.tolist(),
    }


def decode_structure(data: dict[str, Any]) -> Structure:
    """Inverse of :func:`encode_structure`."""
    return Structure(
        Lattice(data["lattice"]),
        data["species"],
        data["positions"],
        coords_are_cartesian=True,
    )


def encode_evaluation(ev: Evaluation) -> dict[str, Any]:
    """JSON form of an evaluation (worker output)."""
    return {
        "predictions": [
            None
            if p is None
            else {
                "energy": p.energy,
                "forces": np.asarray(p.forces).tolist(),
                "stress": None if p.stress is None else np.asarray(p.stress).tolist(),
            }
            for p in ev.predictions
        ],
        "errors": {str(k): v for k, v in ev.errors.items()},
        "provenance": ev.provenance.model_dump() if ev.provenance else None,
        "device": ev.device,
        "batch_size": ev.batch_size,
        "load_seconds": ev.load_seconds,
        "eval_seconds": ev.eval_seconds,
    }


def decode_evaluation(data: dict[str, Any]) -> Evaluation:
    """Inverse of :func:`encode_evaluation`."""
    preds = [
        None
        if p is None
        else Prediction(
            energy=p["energy"],
            forces=np.asarray(p["forces"], float),
            stress=None if p["stress"] is None else np.asarray(p["stress"], float),
        )
        for p in data["predictions"]
    ]
    return Evaluation(
        predictions=preds,
        errors={int(k): v for k, v in data["errors"].items()},
        provenance=ModelProvenance(**data["provenance"]) if data["provenance"] else None,
        device=data["device"],
        batch_size=data["batch_size"],
        load_seconds=data["load_seconds"],
        eval_seconds=data["eval_seconds"],
    )
