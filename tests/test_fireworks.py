"""FireWorks: model jobs go to workers of their environment; embedded launchpad persists."""

import json
import os
import subprocess
import sys
import textwrap

import pytest

from softbench.ingest import SourceItem
from softbench.models import get_models
from softbench.workflows.forces import force_parity_flow


def test_model_jobs_carry_their_environment_category(tmp_path):
    from jobflow.managers.fireworks import flow_to_workflow

    model_file = tmp_path / "random.model"
    model_file.write_bytes(b"not loaded here")
    item = SourceItem("mp-1", str(tmp_path / "x.extxyz"), "extxyz", key="mp-1")
    flow = force_parity_flow([item], get_models(["chgnet-0.3.0", str(model_file)]), "lbl")
    wf = flow_to_workflow(flow, allow_external_references=True)
    categories = {fw.name: fw.spec.get("_category") for fw in wf.fws}
    assert categories["chgnet-0.3.0 forces mp-1"] == "default"
    assert categories["mace:random.model forces mp-1"] == "mace"
    assert categories["ingest forces mp-1"] is None


def test_embedded_launchpad_persists_between_processes(tmp_path):
    env = {**os.environ, "MONGOMOCK_SERVERSTORE_FILE": str(tmp_path / "lp.json")}
    add = textwrap.dedent("""
        from fireworks import Firework, ScriptTask, Workflow
        from softbench.launchpad import load_launchpad
        lp = load_launchpad()
        lp.add_wf(Workflow([Firework(ScriptTask.from_str("echo hi"), name="hello")]))
    """)
    count = textwrap.dedent("""
        from softbench.launchpad import load_launchpad
        import json
        print(json.dumps(load_launchpad().get_fw_ids()))
    """)
    for _ in range(2):  # two separate processes each add one workflow
        subprocess.run([sys.executable, "-c", add], env=env, check=True, capture_output=True)
    out = subprocess.run(
        [sys.executable, "-c", count], env=env, check=True, capture_output=True, text=True
    )
    assert len(json.loads(out.stdout.strip())) == 2


def test_launchpad_yaml_needs_credentials_from_environment(tmp_path, monkeypatch):
    from softbench.launchpad import load_launchpad
    from softbench.stores import StoreConfigError

    monkeypatch.delenv("MONGOMOCK_SERVERSTORE_FILE", raising=False)
    monkeypatch.delenv("SOFTBENCH_DB_PASSWORD", raising=False)
    from pathlib import Path

    repo_lp = Path(__file__).parents[1] / "launchpad.yaml"
    with pytest.raises(StoreConfigError, match="password"):
        load_launchpad(repo_lp)
