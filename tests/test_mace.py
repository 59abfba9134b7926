"""The MACE path: a random-weight MACE model saved to disk, loaded like users do.

MACE lives in its own environment (.venv-mace; mace-torch pins e3nn 0.4.4, sevenn
needs >= 0.5). `make test` runs this file in both environments: in the MACE
environment it evaluates directly; in the default one it goes through the worker
named by SOFTBENCH_ENV_MACE, as a workflow would.
"""

import os
import subprocess
from importlib.util import find_spec
from pathlib import Path

import pytest
from pymatgen.core import Lattice, Structure

from softbench.models import ModelUnavailableError, UnsupportedElementsError, get_model
from softbench.models.evaluate import evaluate

HERE_HAS_MACE = find_spec("mace") is not None
MACE_PYTHON = os.environ.get("SOFTBENCH_ENV_MACE")

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


def test_uncovered_element_is_named(mace_file):
    nacl = Structure.from_spacegroup(
        "Fm-3m", Lattice.cubic(5.6), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]]
    )
    with pytest.raises(UnsupportedElementsError, match="does not cover element.s. Cl, Na"):
        evaluate(get_model(str(mace_file)), [nacl])


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
    assert doc["state"] == "successful", doc.get("reason")
    assert doc["model_provenance"]["environment"] == "mace"


@pytest.mark.skipif(not HERE_HAS_MACE, reason="needs mace-torch in this environment")
def test_mace_mp_0_without_network_gives_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    with pytest.raises(ModelUnavailableError, match="could not download the MACE-MP-0"):
        evaluate(get_model("mace-mp-0-medium"), [gaas()])
