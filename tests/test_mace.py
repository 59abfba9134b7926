"""The MACE path: a random-weight MACE model saved to disk, loaded like users do.

MACE lives in its own environment (.venv-mace; mace-torch pins e3nn 0.4.4, sevenn
needs >= 0.5). `make test` runs this file in both environments: in the MACE
environment it evaluates directly; in the default one it goes through the worker
named by SOFTBENCH_ENV_MACE, as a workflow would.
"""

import json
import math
import os
import subprocess
import sys
import urllib.error
import urllib.request
from importlib.util import find_spec
from pathlib import Path

import numpy as np
import pytest
from pymatgen.core import Lattice, Structure

from softbench.models import (
    ModelSpec,
    ModelUnavailableError,
    UnsupportedElementsError,
    get_model,
)
from softbench.models import evaluate as evaluate_module
from softbench.models.evaluate import evaluate

HERE_HAS_MACE = find_spec("mace") is not None
MACE_PYTHON = os.environ.get("SOFTBENCH_ENV_MACE")
PACKAGE_INSTALLED = ModelSpec.package_installed

pytestmark = pytest.mark.mace


def gaas():
    s = Structure.from_spacegroup(
        "F-43m", Lattice.cubic(5.75), ["Ga", "As"], [[0, 0, 0], [0.25, 0.25, 0.25]]
    )
    s.perturb(0.05, min_distance=0.01)
    return s


@pytest.fixture(scope="module")
def mace_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("mace") / "random.model"
    code = f"from softbench.testing.mace import random_mace_model; random_mace_model({str(path)!r})"
    if HERE_HAS_MACE:
        exec(code)
    else:
        if not MACE_PYTHON:
            pytest.skip("no MACE environment: run `make test` (sets SOFTBENCH_ENV_MACE)")
        subprocess.run([MACE_PYTHON, "-c", code], check=True, capture_output=True)
    return path


def test_random_mace_model_evaluates(mace_file):
    spec = get_model(str(mace_file))
    assert spec.environment == "mace"
    ev = evaluate(spec, [gaas()])
    assert ev.predictions[0].forces.shape == (8, 3)
    assert ev.provenance.weights_sha256 and ev.provenance.package_version


def nacl():
    return Structure.from_spacegroup(
        "Fm-3m", Lattice.cubic(5.6), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]]
    )


def test_uncovered_element_is_named(mace_file):
    with pytest.raises(UnsupportedElementsError, match="does not cover element.s. Cl, Na"):
        evaluate(get_model(str(mace_file)), [nacl()])


def _direct_results(mace_file: Path, structures, tmp_path: Path) -> list:
    """(energy, forces) from mace's MACECalculator itself, here or in the MACE env."""
    if HERE_HAS_MACE:
        from softbench.testing.mace import direct_results

        return direct_results(mace_file, structures)
    inp, out = tmp_path / "structures.json", tmp_path / "direct.json"
    inp.write_text(json.dumps([s.as_dict() for s in structures]))
    code = "from softbench.testing.mace import direct_results_main; direct_results_main()"
    subprocess.run(
        [MACE_PYTHON, "-c", code, str(mace_file), str(inp), str(out)],
        check=True,
        capture_output=True,
    )
    return [(e, np.asarray(f)) for e, f in json.loads(out.read_text())]


@pytest.fixture
def through_worker(monkeypatch):
    """Make evaluate() use the worker in both environments; record its command lines.

    In the MACE environment the package is there, so the spec is told it is not
    (only in this process: the worker itself evaluates directly).
    """
    if HERE_HAS_MACE:
        monkeypatch.setattr(ModelSpec, "package_installed", lambda self: False)
        monkeypatch.setenv("SOFTBENCH_ENV_MACE", MACE_PYTHON or sys.executable)
    elif not MACE_PYTHON:
        pytest.skip("no MACE environment: run `make test` (sets SOFTBENCH_ENV_MACE)")
    calls: list = []
    real_run = subprocess.run

    def spy(cmd, *args, **kwargs):
        if "softbench.models.worker" in cmd:
            calls.append(list(cmd))
        return real_run(cmd, *args, **kwargs)

    monkeypatch.setattr(evaluate_module.subprocess, "run", spy)
    return calls


def test_worker_forces_equal_direct_mace_and_keep_labels(mace_file, through_worker, tmp_path):
    """Through the worker: MACE's own numbers, and errors that name the frame ids."""
    spec = get_model(str(mace_file))
    structures = [gaas(), gaas()]
    labels = ["frame-03", "frame-08"]
    ev = evaluate(spec, structures, labels=labels, stress=False)
    assert [c[1:3] for c in through_worker] == [["-m", "softbench.models.worker"]]
    assert not ev.errors
    assert ev.provenance.environment == "mace" and ev.provenance.weights_sha256
    direct = _direct_results(mace_file, structures, tmp_path)
    for pred, (energy, forces) in zip(ev.predictions, direct, strict=True):
        assert np.abs(forces).max() > 1e-6  # the random model does give forces
        np.testing.assert_allclose(pred.forces, forces, rtol=1e-10, atol=1e-10)
        assert pred.energy == pytest.approx(energy, rel=1e-10, abs=1e-10)
    if HERE_HAS_MACE:  # and the same as softbench's direct evaluation in this interpreter
        from softbench.models.evaluate import evaluate_here

        with pytest.MonkeyPatch.context() as m:  # the package is installed here after all
            m.setattr(ModelSpec, "package_installed", PACKAGE_INSTALLED)
            here = evaluate_here(spec, structures, labels=labels, stress=False)
        for a, b in zip(ev.predictions, here.predictions, strict=True):
            np.testing.assert_allclose(a.forces, b.forces, rtol=0, atol=1e-12)

    with pytest.raises(UnsupportedElementsError, match=r"Cl, Na \(in frame-08\)") as info:
        evaluate(spec, [gaas(), nacl()], labels=labels)
    assert info.value.where == "frame-08"
    assert len(through_worker) == 2


@pytest.mark.skipif(HERE_HAS_MACE, reason="checks routing from the default environment")
def test_flow_routes_mace_jobs_to_their_environment(mace_file, stores, tmp_path):
    from ase.calculators.singlepoint import SinglePointCalculator
    from ase.io import write
    from pymatgen.io.ase import AseAtomsAdaptor

    from softbench.ingest import discover
    from softbench.models import get_models
    from softbench.run import build_all, run_flow
    from softbench.workflows.forces import force_parity_flow

    atoms = AseAtomsAdaptor.get_atoms(gaas())
    atoms.calc = SinglePointCalculator(atoms, energy=-30.0, forces=-atoms.get_positions() * 0)
    atoms.calc.results["forces"][0] = [0.3, -0.2, 0.1]
    atoms.info["material_id"] = "gaas"
    write(tmp_path / "gaas.extxyz", [atoms])
    flow = force_parity_flow(
        discover(tmp_path / "gaas.extxyz"), get_models([str(mace_file)]), "extxyz:gaas"
    )
    model_job = flow.jobs[1]
    assert model_job.config.manager_config == {"_category": "mace"}
    run_flow(flow, stores, log=False)
    build_all(stores)
    (doc,) = stores.collection("softening").query({})
    # The model has random weights: its parity is computed, and whether its slope
    # carries signal depends on those weights, so "flagged" is as right as "successful".
    assert doc["state"] in ("successful", "flagged"), doc.get("reason")
    assert math.isfinite(doc["softening_scale"]) and doc["n_components"] == 3 * len(atoms)
    assert doc["model_provenance"]["environment"] == "mace"


@pytest.mark.skipif(not HERE_HAS_MACE, reason="needs mace-torch in this environment")
def test_mace_mp_0_download_failure_gives_a_clear_error(tmp_path, monkeypatch):
    """The download fails because the test makes it fail: same meaning with internet."""
    import socket

    from softbench.models.backends.mace import MACE_MP_URLS

    asked: list[str] = []

    def no_network(url, *args, **kwargs):
        asked.append(getattr(url, "full_url", url))
        raise urllib.error.URLError("network disabled by the test")

    def no_socket(*args, **kwargs):
        raise OSError("network disabled by the test")

    # mace-torch downloads with urllib.request (urlopen; older releases urlretrieve);
    # any other route to the network fails at the socket.
    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    monkeypatch.setattr(urllib.request, "urlretrieve", no_network)
    monkeypatch.setattr(socket, "create_connection", no_socket)
    monkeypatch.setattr(socket.socket, "connect", no_socket)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    spec = get_model("mace-mp-0-medium")
    url = MACE_MP_URLS["medium"]
    with pytest.raises(ModelUnavailableError, match="could not download the MACE-MP-0") as info:
        evaluate(spec, [gaas()])
    assert asked and url.rsplit("/", 1)[-1] in asked[0]  # the download was tried, and failed
    message = str(info.value)
    assert url in message and "network disabled by the test" in message
    assert str(tmp_path / "mace") in message  # where to put the file by hand
    assert not any((tmp_path / "mace").glob("*.model"))  # no truncated file left behind
