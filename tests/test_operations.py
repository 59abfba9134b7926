"""FireWorks operations in separate processes: submit, worker, status, reruns, faults."""

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from pinned import CATE, CHGNET, FORCE_SCALE, REL

SB = [sys.executable, "-m", "softbench.cli"]


def sb(*args, store=None, env=None, check=True, cwd=None):
    cmd = [*SB, *args]
    if store:
        cmd += ["--store", store]
    out = subprocess.run(
        cmd, capture_output=True, text=True, env={**os.environ, **(env or {})}, cwd=cwd
    )
    if check and out.returncode != 0:
        raise AssertionError(f"{cmd} failed ({out.returncode}):\n{out.stderr[-3000:]}")
    return out


def row(table, state):
    """The numbers of one state's row of `softbench status` (environments..., total)."""
    match = re.search(rf"^{state}((?:\s+\d+)+)$", table, re.M)
    return [int(n) for n in match.group(1).split()] if match else None


def forces_args(shared, models):
    ref = str(shared / "data/phonons-pbe")
    return ["forces", "--reference", ref, "--materials", CATE, "--models", models]


@pytest.fixture(scope="module")
def submitted_forces(tmp_path_factory):
    """mp-1519 + chgnet-0.3.0 submitted to the embedded launchpad and run by one worker."""
    from conftest import SHARED

    root = tmp_path_factory.mktemp("ops")
    env = {"SOFTBENCH_HOME": str(root / "home"), "SOFTBENCH_STORE": ""}
    store = str(root / "store")
    shared = SHARED.resolve()
    submit = sb("submit", *forces_args(shared, CHGNET), store=store, env=env)
    worker = sb("worker", "--rapidfire", "--work-dir", str(root / "runs"), store=store, env=env)
    return {"root": root, "env": env, "store": store, "submit": submit, "worker": worker}


@pytest.mark.slow
def test_submit_and_worker_give_the_scale_of_run_forces(submitted_forces, shared, tmp_path):
    store, env = submitted_forces["store"], submitted_forces["env"]
    print(submitted_forces["submit"].stdout, submitted_forces["worker"].stderr[-300:])
    assert "submitted 3 firework(s) (3 default)" in submitted_forces["submit"].stdout
    assert "worker ran 3 firework(s)" in submitted_forces["worker"].stderr

    status = sb("status", store=store, env=env).stdout
    print(status)
    assert "workflows: 1 (COMPLETED 1)" in status
    assert row(status, "COMPLETED") == [3, 3] and "failed" not in status

    out = sb("query", "softening", "--format", "json", store=store, env=env)
    (doc,) = json.loads(out.stdout)
    print(sb("query", "softening", store=store, env=env).stdout)

    local = str(tmp_path / "local")
    sb("run", *forces_args(shared, CHGNET), store=local)
    (run_doc,) = json.loads(sb("query", "softening", "--format", "json", store=local).stdout)
    # the same up to float noise: CHGNet's batching (timed per process) moves the 8th digit
    assert doc["softening_scale"] == pytest.approx(run_doc["softening_scale"], rel=1e-6)
    assert doc["softening_scale"] == pytest.approx(FORCE_SCALE[(CATE, CHGNET)], rel=REL)
    assert doc["n_components"] == run_doc["n_components"] == 3072


@pytest.mark.slow
def test_default_worker_leaves_mace_jobs_waiting(submitted_forces, shared):
    store, env = submitted_forces["store"], submitted_forces["env"]
    mace_file = submitted_forces["root"] / "random.model"  # never loaded: no mace worker
    mace_file.write_bytes(b"random-weight MACE model stands in here")
    models = f"{CHGNET},{mace_file}"
    submit = sb("submit", *forces_args(shared, models), store=store, env=env)
    print(submit.stdout, submit.stderr)
    # the reference and the CHGNet prediction are reused: only the MACE job and the build
    assert "1 reference(s) reused from the store, 1 prediction(s) already there" in submit.stderr
    assert "submitted 2 firework(s) (1 default, 1 mace)" in submit.stdout

    worker = sb("worker", "--environment", "default", "--rapidfire", store=store, env=env)
    assert "worker ran 0 firework(s)" in worker.stderr
    status = sb("status", store=store, env=env).stdout
    print(status)
    assert row(status, "READY") == [0, 1, 1]  # default, mace, total
    assert (
        "waiting for a worker: 1 firework(s) of environment mace are READY "
        "(start `softbench worker --environment mace`)" in status
    )
    assert "waiting for their parents: 1 firework(s): build forces" in status


def add_flow(store, jobs, env=None):
    """Submit a flow of test jobs (build=False) through the Python API, as submit does."""
    from jobflow import Flow

    from softbench.launchpad import open_launchpad
    from softbench.operations.submit import submit

    return submit(open_launchpad(None, store), Flow(jobs), ["forces"], build=False)


def test_failing_job_is_recorded_with_its_reason_and_others_go_on(tmp_path):
    from softbench.testing.jobs import fail, hold

    store = str(tmp_path / "store")
    ok = hold(str(tmp_path / "absent"), "done")
    add_flow(store, [fail("no VASP on this node"), ok])
    worker = sb("worker", "--rapidfire", "--work-dir", str(tmp_path), store=store)
    assert "worker ran 2 firework(s)" in worker.stderr
    status = sb("status", store=store).stdout
    print(status)
    assert row(status, "COMPLETED") == [1, 1] and row(status, "FIZZLED") == [1, 1]
    assert "RuntimeError: no VASP on this node" in status

    from softbench.stores import open_stores

    assert open_stores(store, create=False).jobs.get_output(ok.uuid) == "done"


def test_killed_worker_is_a_lost_run_and_rerun_failed_recovers_it(tmp_path):
    from softbench.launchpad import embedded_file
    from softbench.stores import open_stores
    from softbench.testing.jobs import hold

    store = str(tmp_path / "store")
    gate = tmp_path / "hold"
    gate.write_text("the job runs while this file exists")
    job = hold(str(gate), "survived")
    add_flow(store, [job])

    worker = subprocess.Popen(
        [*SB, "worker", "--once", "--work-dir", str(tmp_path), "--store", store],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    lp_file = embedded_file(store)
    deadline = time.monotonic() + 120
    while '"state": "RUNNING"' not in lp_file.read_text():
        assert worker.poll() is None and time.monotonic() < deadline, "worker never ran the job"
        time.sleep(0.2)
    worker.send_signal(signal.SIGKILL)
    worker.wait()

    running = sb("status", store=store).stdout
    assert row(running, "RUNNING") == [1, 1] and "lost runs" not in running  # < 4 h
    time.sleep(1.5)
    lost = sb("status", "--lost-after", "1", store=store).stdout
    print(lost)
    assert "lost runs (1; RUNNING without a ping for more than 1 s" in lost

    gate.unlink()
    rerun = sb("rerun-failed", "--lost-after", "1", store=store)
    print(rerun.stderr)
    assert "1 [1] lost run(s) marked failed; 1 [1] failed firework(s) reset" in rerun.stderr
    sb("worker", "--rapidfire", "--work-dir", str(tmp_path), store=store)
    status = sb("status", store=store).stdout
    print(status)
    assert "workflows: 1 (COMPLETED 1)" in status
    assert open_stores(store, create=False).jobs.get_output(job.uuid) == "survived"


def test_unreachable_launchpad_is_one_line_naming_the_host(tmp_path):
    only_name = tmp_path / "only_name.yaml"
    only_name.write_text("name: softbench_runs\n")  # FireWorks' defaults: localhost:27017
    closed = tmp_path / "closed.yaml"
    closed.write_text("host: 127.0.0.1\nport: 9\nname: fireworks\n")
    env = {"SOFTBENCH_STORE_TIMEOUT": "1"}
    for file, host in ((only_name, "localhost:27017"), (closed, "127.0.0.1:9")):
        out = sb(
            "worker", "--launchpad", str(file), store=str(tmp_path / "s"), env=env, check=False
        )
        print(out.stderr)
        assert out.returncode == 2
        assert out.stderr.startswith(
            f"softbench: error: cannot reach the MongoDB launchpad at {host}"
        )
        assert len(out.stderr.strip().splitlines()) == 1


def test_memory_store_has_no_embedded_launchpad():
    from softbench.launchpad import open_launchpad
    from softbench.stores import StoreConfigError

    with pytest.raises(StoreConfigError, match="pass --launchpad"):
        open_launchpad(None, "memory")


def test_every_firework_has_a_category_and_the_build_waits_for_all(tmp_path):
    from jobflow.managers.fireworks import flow_to_workflow  # noqa: F401

    from softbench.ingest import SourceItem
    from softbench.models import get_models
    from softbench.operations.submit import to_workflow
    from softbench.workflows.forces import force_parity_flow

    model_file = tmp_path / "random.model"
    model_file.write_bytes(b"not loaded here")
    items = [SourceItem(m, str(tmp_path / "x.extxyz"), "extxyz", key=m) for m in ("a", "b")]
    flow = force_parity_flow(items, get_models([CHGNET, str(model_file)]), "lbl")
    wf = to_workflow(flow, ["forces"])
    categories = {fw.name: fw.spec["_category"] for fw in wf.fws}
    assert categories == {
        "ingest forces a": "default",
        "ingest forces b": "default",
        "chgnet-0.3.0 forces a": "default",
        "chgnet-0.3.0 forces b": "default",
        "mace:random.model forces a": "mace",
        "mace:random.model forces b": "mace",
        "build forces": "default",
    }
    build = next(fw for fw in wf.fws if fw.name == "build forces")
    parents = {fw.name for fw in wf.fws if build.fw_id in wf.links[fw.fw_id]}
    assert parents == {n for n in categories if n.startswith(("chgnet", "mace"))}
    assert build.spec["_allow_fizzled_parents"] is True


def test_embedded_launchpad_is_safe_for_concurrent_processes(tmp_path):
    file = tmp_path / "lp.json"
    add = (
        "import sys\n"
        "from fireworks import Firework, ScriptTask, Workflow\n"
        "from softbench.launchpad import EmbeddedLaunchPad\n"
        "lp = EmbeddedLaunchPad(sys.argv[1])\n"
        "for i in range(8):\n"
        "    lp.add_wf(Workflow([Firework(ScriptTask.from_str('true'))]))\n"
    )
    procs = [subprocess.Popen([sys.executable, "-c", add, str(file)]) for _ in range(2)]
    assert all(p.wait() == 0 for p in procs)
    from softbench.launchpad import EmbeddedLaunchPad

    assert sorted(EmbeddedLaunchPad(file).get_fw_ids()) == list(range(1, 17))


def test_launchpad_of_earlier_versions_is_migrated(tmp_path):
    from fireworks import Firework, ScriptTask, Workflow

    from softbench.launchpad import LEGACY_DB, EmbeddedLaunchPad

    old = EmbeddedLaunchPad(tmp_path / "lp.json", name=LEGACY_DB)  # how softbench wrote it
    old.add_wf(Workflow([Firework(ScriptTask.from_str("true"), name="old")]))
    lp = EmbeddedLaunchPad(tmp_path / "lp.json")
    assert lp.name == "fireworks" and lp.get_fw_ids() == [1]
    assert '"softbench"' not in Path(tmp_path / "lp.json").read_text()


def test_build_watch_builds_again_until_stopped(tmp_path):
    store = str(tmp_path / "store")
    proc = subprocess.Popen(
        [*SB, "build", "--watch", "0.5", "--store", store],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        lines = [proc.stdout.readline() for _ in range(2)]
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)
    assert all(line.startswith("processed: softening=0") for line in lines)
    assert proc.returncode == 0


def test_submit_high_energy_cp2k_plans_every_firework_default(tmp_path):
    from pymatgen.core import Lattice, Structure

    si = Structure(Lattice.cubic(5.43), ["Si"] * 2, [[0, 0, 0], [0.25, 0.25, 0.25]])
    si.to(filename=str(tmp_path / "Si.cif"))
    store = str(tmp_path / "store")
    args = ["high-energy", "--structures", str(tmp_path / "Si.cif"), "--dft", "cp2k"]
    args += ["--md-steps", "20", "--frames", "2", "--strained", "0"]
    dry = sb("submit", *args, "--dry-run", store=store)
    assert (
        "jobs to run: 1 cp2k relax, 1 md, 1 frames, 1 cp2k statics, 1 reference, 1 model"
        in dry.stderr
    )
    assert not (tmp_path / "store" / "launchpad.json").exists()
    out = sb("submit", *args, store=store)
    assert "submitted 6 firework(s) (6 default)" in out.stdout
    status = sb("status", store=store).stdout
    assert row(status, "READY") == [1, 1] and row(status, "WAITING") == [5, 5]
    assert "build high-energy" in status

    bad = sb("submit", *args, "--label", "x", store=store, check=False)
    assert bad.returncode == 2 and "the CP2K reference label comes from" in bad.stderr


def test_status_names_documents_of_a_newer_softbench():
    from softbench import __version__
    from softbench.cli.status import newer_versions

    assert newer_versions({__version__: 3, "0.0.1": 1, "unknown": 2}) == []
    assert newer_versions({"999.0": 1, __version__: 1}) == ["999.0"]


def test_maker_settings_survive_the_fireworks_round_trip(tmp_path):
    """Makers with settings documents (CP2K, sampling) reach the worker intact."""
    from fireworks import Workflow
    from jobflow import Flow

    from softbench.makers.cp2k.high_energy import Cp2kHighEnergyMaker
    from softbench.makers.cp2k.relax import Cp2kRelaxMaker
    from softbench.makers.cp2k.settings import Cp2kSettings
    from softbench.makers.high_energy import HighEnergyFramesMaker
    from softbench.operations.submit import to_workflow
    from softbench.schemas.high_energy import HighEnergySampling

    sampling = HighEnergySampling(n_steps=20, n_frames=2, n_strained=0, relax=False)
    settings = Cp2kSettings(cutoff_ry=400.0)
    frames = HighEnergyFramesMaker(sampling=sampling).make([], "Si", "key")
    statics = Cp2kHighEnergyMaker(settings=settings).make(frames.output, "Si", "key")
    relax = Cp2kRelaxMaker(settings=settings, steps=7).make(None, "Si")
    wf = to_workflow(Flow([relax, frames, statics]), ["high-energy"], build=False)
    back = Workflow.from_format(wf.to_format("json"), "json")  # as a launchpad keeps it
    makers = {fw.name: fw.tasks[0]["job"].maker for fw in back.fws}
    assert makers[frames.name].sampling == sampling
    assert makers[statics.name].settings == settings
    assert makers[statics.name].settings.label() == settings.label()
    assert makers[relax.name].settings == settings and makers[relax.name].steps == 7


def test_polling_worker_runs_fireworks_that_become_ready_later(tmp_path):
    from softbench.launchpad import open_launchpad
    from softbench.testing.jobs import hold

    store = str(tmp_path / "store")
    open_launchpad(None, store)  # an empty embedded launchpad
    args = ["--poll", "1", "--timeout", "15", "--work-dir", str(tmp_path), "--store", store]
    worker = subprocess.Popen(
        [*SB, "worker", *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(3)  # the worker found nothing and polls
    job = hold(str(tmp_path / "absent"), "late")
    add_flow(store, [job])
    _, err = worker.communicate(timeout=120)
    assert "worker ran 1 firework(s)" in err
    from softbench.stores import open_stores

    assert open_stores(store, create=False).jobs.get_output(job.uuid) == "late"
