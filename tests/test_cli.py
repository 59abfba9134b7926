"""The command line in separate processes: persistence, reruns, clear errors."""

import json
import os
import subprocess
import sys

import pytest
from pinned import CHGNET, FORCE_SCALE, PBTE, REL

SB = [sys.executable, "-m", "softbench.cli"]


def sb(*args, store=None, env=None, check=True):
    cmd = [*SB, *args]
    if store:
        cmd += ["--store", store]
    out = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, **(env or {})})
    if check and out.returncode != 0:
        raise AssertionError(f"{cmd} failed ({out.returncode}):\n{out.stderr[-3000:]}")
    return out


@pytest.mark.slow
def test_run_query_persist_and_rerun(shared, disk_store):
    ref = str(shared / "data/phonons-pbe")
    first = sb(
        "run",
        "forces",
        "--reference",
        ref,
        "--materials",
        "mp-19717,mp-2809",
        "--models",
        "chgnet-0.3.0",
        store=disk_store,
    )
    assert "mp-19717" in first.stdout and "reference unusable" in first.stdout

    out = sb("query", "softening", "--task", "forces", "--format", "json", store=disk_store)
    docs = json.loads(out.stdout)
    assert len(docs) == 2
    ok = next(d for d in docs if d["material_id"] == "mp-19717")
    for key in (
        "material_id",
        "model",
        "reference",
        "softening_scale",
        "force_mae",
        "force_cmae",
        "n_components",
    ):
        assert key in ok
    assert ok["reference"] == "phonopy:phonons-pbe" and ok["n_components"] == 3072
    assert ok["softening_scale"] == pytest.approx(FORCE_SCALE[(PBTE, CHGNET)], rel=REL)
    assert ok["model_provenance"]["weights_sha256"]

    again = sb(
        "run",
        "forces",
        "--reference",
        ref,
        "--materials",
        "mp-19717,mp-2809",
        "--models",
        "chgnet-0.3.0",
        store=disk_store,
    )
    assert "2 reference(s) reused" in again.stderr and "(1 model jobs)" in again.stderr
    build = sb("build", store=disk_store)
    assert "softening=0" in build.stdout

    csv_out = sb("query", "summary", "--format", "csv", store=disk_store).stdout
    assert csv_out.splitlines()[0].startswith("task,model,reference")


def test_unknown_model_and_bad_reference_exit_2(shared, disk_store, tmp_path):
    out = sb(
        "run",
        "forces",
        "--reference",
        str(shared / "data/phonons-pbe"),
        "--models",
        "chgnet-9",
        store=disk_store,
        check=False,
    )
    assert out.returncode == 2
    assert "unknown model 'chgnet-9'" in out.stderr and "sevennet-0" in out.stderr

    bad = tmp_path / "frames.extxyz"
    bad.write_text("2\ngarbage\nCu 0 0 0\n")
    out = sb(
        "run",
        "forces",
        "--reference",
        str(bad),
        "--models",
        "chgnet-0.3.0",
        store=disk_store,
        check=False,
    )
    assert out.returncode == 2 and "frames.extxyz" in out.stderr
    assert "Traceback" not in out.stderr


def test_query_empty_store_and_filters(disk_store):
    sb("build", store=disk_store)  # creates the (empty) store; querying never creates one
    out = sb("query", "softening", "--model", "chgnet-0.3.0", "--format", "json", store=disk_store)
    assert json.loads(out.stdout) == []
