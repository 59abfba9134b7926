"""The shared pair-builder shape: no-signal parities flagged, multiprocess builds identical."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.singlepoint import SinglePointCalculator
from ase.io import write

from softbench.analysis.softening import force_parity
from softbench.builders.base import PairBuilder
from softbench.builders.phonons import PHONON_BANDS, PHONONS, PhononBuilder
from softbench.builders.softening import SOFTENING, SofteningBuilder
from softbench.ingest import discover
from softbench.models import get_models
from softbench.run import build_all, run_builder, run_flow
from softbench.testing.calculators import register_springs as springs
from softbench.workflows.forces import force_parity_flow


def frames(path, forces_of, materials=("cu-a", "cu-b"), n=6):
    """Rattled Cu cells; ``forces_of(displacement)`` gives the reference forces."""
    out = []
    ideal = bulk("Cu", "fcc", a=3.6, cubic=True).repeat((2, 1, 1))
    for m_i, mid in enumerate(materials):
        for i in range(n):
            atoms = ideal.copy()
            atoms.rattle(0.05, seed=10 * m_i + i)
            forces = forces_of(atoms.get_positions() - ideal.get_positions())
            atoms.calc = SinglePointCalculator(atoms, energy=0.0, forces=forces)
            atoms.info["material_id"] = mid
            out.append(atoms)
    write(path, out)
    return path


def run(stores, path, models):
    items = discover(path)
    flow = force_parity_flow(items, get_models(models), f"extxyz:{path.stem}", task="forces")
    run_flow(flow, stores, log=False)


def test_parity_without_signal_is_flagged_and_left_out_of_the_summary(stores, tmp_path):
    # cu-a: DFT forces all equal (no signal); cu-b: ordinary springs (signal).
    def forces(d):
        return -d

    flat = frames(tmp_path / "flat.extxyz", lambda d: np.full_like(d, 0.1), ("cu-a",))
    good = frames(tmp_path / "good.extxyz", forces, ("cu-b",))
    both = tmp_path / "both.extxyz"
    both.write_text(flat.read_text() + good.read_text())
    run(stores, both, [springs(0.9), springs(1e-9)])
    build_all(stores)
    docs = {(d["material_id"], d["model"]): d for d in stores.collection(SOFTENING).query({})}
    assert docs["cu-b", "springs-0.9"]["state"] == "successful"
    assert docs["cu-b", "springs-0.9"]["softening_scale"] == pytest.approx(0.9, abs=1e-9)
    flat_doc = docs["cu-a", "springs-0.9"]
    assert flat_doc["state"] == "flagged"
    assert flat_doc["reason"].startswith("no signal: the 95% interval of the slope")
    assert flat_doc["softening_scale"] is not None  # the number stays, flagged
    zero_doc = docs["cu-b", "springs-1e-09"]
    assert zero_doc["state"] == "flagged" and "model forces are ~0" in zero_doc["reason"]

    summaries = {d["model"]: d for d in stores.collection("softening_summary").query({})}
    s = summaries["springs-0.9"]
    assert s["n_materials"] == 2 and s["n_successful"] == 1
    assert s["n_flagged"] == 1 and s["n_failed"] == 0
    assert set(s["flagged_materials"]) == {"cu-a"}
    assert s["median_softening_scale"] == pytest.approx(0.9, abs=1e-9)
    assert s["fraction_softened"] == 1.0
    z = summaries["springs-1e-09"]
    assert z["n_flagged"] == 2 and z["median_softening_scale"] is None


def test_no_signal_rules_on_synthetic_forces():
    rng = np.random.default_rng(0)
    x = [rng.normal(size=(8, 3)) for _ in range(6)]
    assert force_parity(x, [0.8 * f for f in x], n_bootstrap=200).no_signal is None
    noise = [rng.normal(size=(8, 3)) for _ in range(6)]
    assert "interval" in force_parity(x, noise, n_bootstrap=200).no_signal
    anti = force_parity(x, [-f for f in x], n_bootstrap=200).no_signal
    assert anti is not None and "not positive" in anti
    zero = force_parity(x, [0 * f for f in x], n_bootstrap=200)
    assert "model forces are ~0" in zero.no_signal and np.isnan(zero.force_cmae)


class _Exploding(SofteningBuilder):
    def document(self, reference, item):
        if item["key"].split("|")[1] == "cu-a":
            raise RuntimeError("boom")
        return super().document(reference, item)


def test_an_exception_in_one_pair_becomes_its_failure_document(stores, tmp_path):
    path = frames(tmp_path / "cu.extxyz", lambda d: -d)
    run(stores, path, [springs(0.8)])
    builder = _Exploding(stores.jobs, stores.collection(SOFTENING))
    run_builder(builder)
    docs = {d["material_id"]: d for d in stores.collection(SOFTENING).query({})}
    assert docs["cu-a"]["state"] == "failed" and docs["cu-a"]["reason"] == "RuntimeError: boom"
    assert docs["cu-b"]["state"] == "successful"
    assert sorted(builder.processed) == sorted(d["key"] for d in docs.values())


def _docs(store) -> dict[str, dict]:
    volatile = {"_id", "last_updated", "code_version"}
    return {d["key"]: {k: v for k, v in d.items() if k not in volatile} for d in store.query({})}


def _multi(builder: PairBuilder, monkeypatch: pytest.MonkeyPatch) -> None:
    """maggma's ``mrun -n 2`` runner on one builder.

    Worker processes are spawned: this pytest process has already run phonopy's
    OpenMP code (ingestion), and forking after that deadlocks the children. (Under
    ``mrun`` the parent only loads documents, so the default fork is safe there.)
    """
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor
    from functools import partial

    from maggma.cli import multiprocessing as maggma_mp

    spawn = partial(ProcessPoolExecutor, mp_context=multiprocessing.get_context("spawn"))
    monkeypatch.setattr(maggma_mp, "ProcessPoolExecutor", spawn)
    asyncio.run(maggma_mp.multi(builder, 2, no_bars=True))


@pytest.mark.slow
def test_builders_under_maggma_multiprocessing_give_identical_documents(
    stores, shared, tmp_path, monkeypatch
):
    """Serial build vs maggma's multiprocessing runner (2 processes): same documents."""
    from jobflow import Flow
    from test_phonons_builder import _ingest, identity_relaxed, scaled_prediction

    src = tmp_path / "phonons"
    for mid in ("mp-1519", "mp-19717"):
        (src / mid).mkdir(parents=True)
        (src / mid / "phonopy.yaml.xz").symlink_to(
            shared / f"data/phonons-pbe/{mid}/phonopy.yaml.xz"
        )
    refs = _ingest(discover(src, "phonopy"))
    jobs = list(refs.values())
    for ref in refs.values():
        for scale in (0.7, 1.2):
            jobs.append(scaled_prediction(ref.output, scale, f"s-{scale}", ref.uuid))
        jobs.append(identity_relaxed(ref.output, "dft-copy", ref.uuid))
    run_flow(Flow(jobs), stores, log=False)
    path = frames(tmp_path / "cu.extxyz", lambda d: -d)
    run(stores, path, [springs(0.8), springs(1.1)])

    def builders(suffix: str) -> list[PairBuilder]:
        soft = stores.collection(SOFTENING + suffix)
        return [
            SofteningBuilder(stores.jobs, soft),
            PhononBuilder(
                stores.jobs,
                stores.collection(PHONONS + suffix),
                stores.collection(PHONON_BANDS + suffix),
                softening=soft,
            ),
        ]

    for b in builders("_serial"):
        run_builder(b)
    parallel = builders("_multi")
    for b in parallel:
        _multi(b, monkeypatch)  # closes the stores when it finalizes; the next reconnects
    for name in (SOFTENING, PHONONS, PHONON_BANDS):
        serial = _docs(stores.collection(name + "_serial"))
        multi = _docs(stores.collection(name + "_multi"))
        assert len(serial) >= 4 and serial == multi, name
    assert len(_docs(stores.collection(PHONONS + "_serial"))) == 6  # 4 fixed + 2 relaxed
