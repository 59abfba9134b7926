"""Fine-tuning CHGNet (issue #10): scalar layer, all weights, registration, bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("chgnet")

SCALE = 1.25  # DFT := 1.25 x CHGNet: the closed-form least-squares c is 1.25 exactly


def write_labels(path: Path, n: int = 10, seed: int = 0) -> Path:
    """Rattled 2-atom Si and NaCl cells labelled with SCALE x CHGNet's e, f, stress."""
    from ase.build import bulk
    from ase.calculators.singlepoint import SinglePointCalculator
    from ase.io import write

    from softbench.models import get_model

    rng = np.random.default_rng(seed)
    frames = []
    for i in range(n):
        atoms = bulk("Si", "diamond", a=5.43) if i % 2 == 0 else bulk("NaCl", "rocksalt", a=5.64)
        atoms.positions += rng.normal(0, 0.08, atoms.positions.shape)
        atoms.set_cell(atoms.cell * (1 + rng.normal(0, 0.01)), scale_atoms=True)
        atoms.info["material_id"] = f"m{i}"
        frames.append(atoms)
    from pymatgen.io.ase import AseAtomsAdaptor

    predictor = get_model("chgnet-0.3.0").load("cpu")
    predictions = predictor.predict([AseAtomsAdaptor.get_structure(a) for a in frames])
    for atoms, pred in zip(frames, predictions, strict=True):
        stress = np.asarray(pred.stress)
        atoms.calc = SinglePointCalculator(
            atoms,
            energy=SCALE * pred.energy,
            forces=SCALE * np.asarray(pred.forces),
            stress=SCALE * stress[[0, 1, 2, 1, 0, 0], [0, 1, 2, 2, 2, 1]],
        )
    write(path, frames, format="extxyz")
    return path


@pytest.fixture(autouse=True, scope="module")
def one_thread() -> Iterator[None]:
    """One torch thread: on a shared CPU two threads stall each other (README)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def labels_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_labels(tmp_path_factory.mktemp("labels") / "synthetic.extxyz")


def env(home: Path) -> dict[str, str]:
    return {**os.environ, "SOFTBENCH_HOME": str(home), "OMP_NUM_THREADS": "1"}


@pytest.mark.slow
def test_scalar_layer_converges_to_closed_form(labels_file: Path) -> None:
    from softbench.finetune import read_labels, scalar_finetune

    labels = read_labels(labels_file)
    assert len(labels) == 10 and labels.stresses is not None
    result = scalar_finetune(labels, epochs=60, lr=0.02, batch_size=5)
    assert result.closed_form == pytest.approx(SCALE, rel=1e-4)
    assert result.scale == pytest.approx(result.closed_form, rel=0.01)


@pytest.mark.slow
def test_finetune_registers_a_model_usable_in_a_new_process(
    labels_file: Path, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    cmd = [sys.executable, "-m", "softbench"]
    held_out = write_labels(tmp_path / "held_out.extxyz", n=4, seed=1)
    evaluated = ["--test", str(held_out), "--store", str(tmp_path / "eval")]
    done = subprocess.run(
        [
            *cmd,
            "finetune",
            "--labels",
            str(labels_file),
            "--epochs",
            "2",
            "--name",
            "t1",
            *evaluated,
        ],
        env=env(home),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert "epoch 1/2" in done.stderr and "epoch 2/2" in done.stderr
    assert "chgnet-0.3.0+ft:t1" in done.stdout
    spec_file = home / "models" / "t1" / "softbench-model.json"
    saved = json.loads(spec_file.read_text())
    prov = saved["provenance"]
    assert prov["n_labels"] == 10 and prov["n_train"] == 9 and prov["n_val"] == 1
    assert prov["base_model"] == "chgnet-0.3.0" and len(prov["weights_sha256"]) == 64
    assert len(prov["label_source_checksum"]) == 64 and prov["best_val_loss"] > 0
    assert prov["history"][-1]["lr"] == pytest.approx(1e-5)  # cosine 1e-3 -> 1e-5
    docs = _query_correction(tmp_path / "eval", home)
    assert len(docs) == 4  # one per held-out material m0..m3 (other rattles than the labels)
    assert {d["method"] for d in docs} == {"finetune"} and docs[0]["n_labels"] == 10
    assert {d["correction"] for d in docs} == {"chgnet-0.3.0+ft:t1"}
    for d in docs:  # held-out labels are 1.25 x CHGNet: the base model's scale is 0.8
        assert d["softening_scale_before"] == pytest.approx(0.8, rel=1e-4)
        assert d["force_mae_after"] is not None
    fresh = subprocess.run(
        [
            *cmd,
            "run",
            "forces",
            "--reference",
            str(labels_file),
            "--materials",
            "m0,m1",
            "--models",
            "chgnet-0.3.0+ft:t1",
            "--store",
            str(tmp_path / "store"),
        ],
        env=env(home),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert fresh.returncode == 0, fresh.stderr
    rows = [line for line in fresh.stdout.splitlines() if "chgnet-0.3.0+ft:t1" in line]
    assert len([r for r in rows if "successful" in r]) == 2, fresh.stdout


def _query_correction(store: Path, home: Path) -> list[dict]:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "softbench",
            "query",
            "correction",
            "--format",
            "json",
            "--store",
            str(store),
        ],
        env=env(home),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return json.loads(done.stdout)


@pytest.mark.slow
def test_scalar_layer_from_the_command_line(labels_file: Path, tmp_path: Path) -> None:
    """``finetune --scalar`` registers <model>+lc:<name> and evaluates it on held-out frames."""
    home = tmp_path / "home"
    held_out = write_labels(tmp_path / "held_out.extxyz", n=2, seed=2)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "softbench",
            "finetune",
            "--scalar",
            "--labels",
            str(labels_file),
            "--epochs",
            "60",
            "--batch-size",
            "5",
            "--name",
            "sc",
            "--test",
            str(held_out),
            "--store",
            str(tmp_path / "eval"),
        ],
        env=env(home),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    assert "registered chgnet-0.3.0+lc:sc" in done.stdout
    (saved,) = (home / "corrections").glob("*.json")
    c = json.loads(saved.read_text())["options"]["c"]
    assert c == pytest.approx(SCALE, rel=0.01)
    docs = _query_correction(tmp_path / "eval", home)
    assert {d["method"] for d in docs} == {"scalar-layer"} and len(docs) == 2
    for d in docs:
        assert d["c"] == pytest.approx(c)
        assert d["softening_scale_after"] == pytest.approx(0.8 * c, rel=1e-4)


def test_too_few_labels_exit_2(labels_file: Path, tmp_path: Path) -> None:
    from ase.io import read, write

    one = tmp_path / "one.extxyz"
    write(one, read(labels_file, index="0:1"))
    done = subprocess.run(
        [sys.executable, "-m", "softbench", "finetune", "--labels", str(one), "--epochs", "1"],
        env=env(tmp_path / "home"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "at least 2" in lines[0], done.stderr


def test_labels_in_chgnet_units(labels_file: Path) -> None:
    """Per-atom energy and stress (GPa, CHGNet's sign) reach the trainer as CHGNet predicts them."""
    from chgnet.model import CHGNet

    from softbench.finetune import _dataset, read_labels

    labels = read_labels(labels_file)
    _, targets = _dataset(labels, [0])[0]
    pred = CHGNet.load(verbose=False).predict_structure(labels.structures[0])
    assert float(targets["e"]) == pytest.approx(SCALE * float(pred["e"]), rel=1e-5)
    np.testing.assert_allclose(targets["s"].numpy(), SCALE * pred["s"], rtol=1e-4, atol=1e-5)


@pytest.mark.slow
def test_nan_loss_stops_and_keeps_best_checkpoint(
    labels_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chgnet.trainer import Trainer

    from softbench.finetune import FinetuneError, finetune, read_labels
    from softbench.models import get_model

    monkeypatch.setenv("SOFTBENCH_HOME", str(tmp_path / "home"))
    original = Trainer._train

    def diverging(self: Trainer, loader: object, epoch: int, *args: object) -> dict:
        maes = original(self, loader, epoch, *args)
        return {k: float("nan") for k in maes} if epoch >= 1 else maes

    monkeypatch.setattr(Trainer, "_train", diverging)
    labels = read_labels(labels_file)
    labels = replace(
        labels,
        structures=labels.structures[:4],
        energies_per_atom=labels.energies_per_atom[:4],
        forces=labels.forces[:4],
        stresses=(labels.stresses or [])[:4],
        ids=labels.ids[:4],
    )
    lines: list[str] = []
    result = finetune(labels, "nan", epochs=3, log=lines.append)
    assert result.epochs_run == 2 and result.best_epoch == 1
    assert result.stopped and "non-finite" in result.stopped
    assert any("non-finite loss at epoch 2" in line for line in lines)
    spec = get_model("chgnet-0.3.0+ft:nan")
    assert spec.weights_sha256() == result.weights_sha256
    with pytest.raises(FinetuneError, match="exists"):
        finetune(labels, "nan", epochs=1)
