"""The worker path (a model whose package lives in another environment).

``evaluate()`` hands such a model to ``python -m softbench.models.worker`` in the
interpreter named by ``SOFTBENCH_ENV_<ENVIRONMENT>``. These tests route cheap ASE
calculator doubles through the real worker (this interpreter stands in for the
other environment) and through small crashing "interpreters":

- the worker's numbers equal an evaluation here;
- its errors name the real configuration ids, not their positions;
- a worker that cannot start, exits non-zero, is killed, writes garbage or hangs
  raises ``ModelUnavailableError`` naming the model and the cause.

The MACE model itself through the worker: ``tests/test_mace.py``.
"""

from __future__ import annotations

import stat
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from pymatgen.core import Lattice, Structure

from softbench.models import ModelUnavailableError, UnsupportedElementsError
from softbench.models import evaluate as evaluate_module
from softbench.models.evaluate import evaluate, evaluate_here
from softbench.models.spec import ModelSpec

ENVIRONMENT = "elsewhere"
VARIABLE = "SOFTBENCH_ENV_ELSEWHERE"
LABELS = ["disp-003", "frame-07"]


def elsewhere_spec(name: str, import_path: str, **options) -> ModelSpec:
    """An ASE calculator whose 'package' is missing here, so evaluate() uses the worker."""
    return ModelSpec(
        name=name,
        family="ase",
        version="test",
        source="test double",
        package="softbench_test_package_not_installed",
        environment=ENVIRONMENT,
        options={"import_path": import_path, **options},
    )


def copper(seed: int, gold: bool = False) -> Structure:
    s = Structure.from_spacegroup("Fm-3m", Lattice.cubic(3.61), ["Cu"], [[0, 0, 0]])
    if gold:
        s.replace(1, "Au")
    rng = np.random.default_rng(seed)
    return Structure(s.lattice, s.species, s.cart_coords + rng.normal(0, 0.05, (4, 3)), True)


@pytest.fixture
def worker_runs(monkeypatch):
    """This interpreter as the other environment; records every worker command line."""
    monkeypatch.setenv(VARIABLE, sys.executable)
    monkeypatch.delenv("SOFTBENCH_WORKER_TIMEOUT", raising=False)
    calls: list[list[str]] = []
    real_run = subprocess.run

    def spy(cmd, *args, **kwargs):
        if "softbench.models.worker" in cmd:
            calls.append(list(cmd))
        return real_run(cmd, *args, **kwargs)

    monkeypatch.setattr(evaluate_module.subprocess, "run", spy)
    return calls


def test_worker_forces_equal_direct_evaluation(worker_runs):
    spec = elsewhere_spec(
        "springs-elsewhere", "softbench.testing.calculators.Springs", kwargs={"k": 2.5}
    )
    structures = [copper(1), copper(2)]
    via_worker = evaluate(spec, structures, labels=LABELS, stress=False)
    assert [c[1:3] for c in worker_runs] == [["-m", "softbench.models.worker"]]
    here = evaluate_here(spec, structures, labels=LABELS, stress=False)
    assert len(via_worker.predictions) == 2 and not via_worker.errors
    for a, b in zip(via_worker.predictions, here.predictions, strict=True):
        assert a is not None and b is not None
        assert np.abs(a.forces).max() > 0.01  # the springs are stretched
        np.testing.assert_allclose(a.forces, b.forces, rtol=0, atol=1e-12)
        assert a.energy == pytest.approx(b.energy, abs=1e-12)
    assert via_worker.provenance == here.provenance
    assert via_worker.provenance.environment == ENVIRONMENT


def test_worker_errors_name_the_configurations(worker_runs):
    """Non-finite forces and uncovered elements name the frame ids, as they do here."""
    nan = elsewhere_spec("nan-elsewhere", "softbench.testing.calculators.NaNForces")
    ev = evaluate(nan, [copper(1), copper(2)], labels=LABELS)
    assert len(worker_runs) == 1
    assert ev.predictions == [None, None]
    assert set(ev.errors) == {0, 1}
    assert ev.errors[0].endswith("for configuration disp-003"), ev.errors
    assert ev.errors[1].endswith("for configuration frame-07"), ev.errors
    assert ev.errors == evaluate_here(nan, [copper(1), copper(2)], labels=LABELS).errors

    only_cu = elsewhere_spec(
        "springs-cu-only", "softbench.testing.calculators.Springs", elements=["Cu"]
    )
    with pytest.raises(UnsupportedElementsError, match=r"element.s. Au \(in frame-07\)") as info:
        evaluate(only_cu, [copper(1), copper(2, gold=True)], labels=LABELS)
    assert info.value.where == "frame-07"
    assert len(worker_runs) == 2


def test_failed_configurations_keep_their_ids_through_the_worker(worker_runs):
    """The force-parity job records the failure under, and with, the real frame id."""
    from softbench.makers.forces import predict_reference
    from softbench.schemas.configuration import Configuration
    from softbench.schemas.reference import ReferenceTaskDocument

    confs = [
        Configuration.from_structure(copper(i), label, energy=-1.0, forces=np.zeros((4, 3)))
        for i, label in enumerate(LABELS)
    ]
    ref = ReferenceTaskDocument(
        task="forces", material_id="Cu", reference="test", source="test", configurations=confs
    )
    nan = elsewhere_spec("nan-elsewhere-job", "softbench.testing.calculators.NaNForces")
    doc = predict_reference(ref, nan.to_dict(), show_progress=False)
    assert len(worker_runs) == 1
    assert doc.state == "failed"
    assert set(doc.failed_configurations) == set(LABELS)
    for cid, reason in doc.failed_configurations.items():
        assert reason.endswith(f"for configuration {cid}"), doc.failed_configurations
    assert "configuration 0" not in (doc.reason or "")


# --- crashing workers -------------------------------------------------------------

CRASHES = {
    "exits non-zero": (
        "import sys\nprint('RuntimeError: CUDA out of memory', file=sys.stderr)\nsys.exit(3)\n",
        r"exited with status 3: RuntimeError: CUDA out of memory",
    ),
    "is killed": (
        "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)\n",
        r"was killed by SIGKILL",
    ),
    "writes no result": (
        "print('loading model ... done, garbage \\x00\\x01 on stdout')\n",
        r"exited without writing a result: loading model \.\.\. done",
    ),
    "writes garbage": (
        "import sys\nopen(sys.argv[-1], 'wb').write(b'\\x00\\xff{not json')\n",
        r"wrote an unreadable result \(not JSON",
    ),
    "writes a JSON list": (
        "import sys\nopen(sys.argv[-1], 'w').write('[1, 2]')\n",
        r"wrote an unreadable result \(a JSON list",
    ),
    "writes a wrong document": (
        "import sys\nopen(sys.argv[-1], 'w').write('{\"predictions\": 5}')\n",
        r"wrote an unreadable result \(TypeError",
    ),
}


def fake_interpreter(folder: Path, body: str) -> Path:
    """An executable that ignores ``-m softbench.models.worker IN OUT`` and runs ``body``."""
    path = folder / "python"
    path.write_text(f"#!{sys.executable}\n{body}")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


@pytest.mark.parametrize("crash", list(CRASHES))
def test_crashing_worker_is_a_model_unavailable_error(crash, tmp_path, monkeypatch):
    body, cause = CRASHES[crash]
    python = fake_interpreter(tmp_path, body)
    monkeypatch.setenv(VARIABLE, str(python))
    spec = elsewhere_spec("crashing-model", "softbench.testing.calculators.Springs")
    with pytest.raises(ModelUnavailableError, match=cause) as info:
        evaluate(spec, [copper(1)], labels=LABELS[:1])
    message = str(info.value)
    assert message.startswith("model crashing-model: worker in environment 'elsewhere'")
    assert str(python) in message
    assert "Traceback" not in message


def test_missing_interpreter_says_which_variable(tmp_path, monkeypatch):
    monkeypatch.setenv(VARIABLE, str(tmp_path / "no-such-python"))
    spec = elsewhere_spec("crashing-model", "softbench.testing.calculators.Springs")
    with pytest.raises(ModelUnavailableError, match=r"could not start: FileNotFoundError") as info:
        evaluate(spec, [copper(1)])
    assert "crashing-model" in str(info.value)
    assert VARIABLE in str(info.value)


def test_hanging_worker_stops_at_the_timeout(tmp_path, monkeypatch):
    python = fake_interpreter(tmp_path, "import time\ntime.sleep(60)\n")
    monkeypatch.setenv(VARIABLE, str(python))
    monkeypatch.setenv("SOFTBENCH_WORKER_TIMEOUT", "1")
    spec = elsewhere_spec("hanging-model", "softbench.testing.calculators.Springs")
    start = time.monotonic()
    with pytest.raises(ModelUnavailableError, match=r"hanging-model.*did not finish within 1 s"):
        evaluate(spec, [copper(1)])
    assert time.monotonic() - start < 30
