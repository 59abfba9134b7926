"""A reference file rewritten in place: re-ingested (new checksum), never reused.

The softening document of each (material, model) is replaced by key, and a model
prediction made on the old file is paired with the new reference only where its
configurations are still the same structures; the others are excluded with the
reason, recorded in the softening document.
"""

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.singlepoint import SinglePointCalculator
from ase.io import write

from softbench.builders.softening import build_step
from softbench.ingest import discover
from softbench.ingest.base import file_checksum
from softbench.models import get_models
from softbench.run import run_flow
from softbench.testing.calculators import register_springs as springs
from softbench.workflows.forces import force_parity_flow
from softbench.workflows.reuse import existing_predictions, reusable_references

MID = "cu-x"
LABEL = "extxyz:ref"
GEOMETRY = "geometry differs from the reference (predicted on another version)"
SPECIES = "species order differs between reference and model configuration"


def frame(seed: int, stiffness: float = 1.0, order=None):
    """A rattled Cu7Au cell labelled with springs to the ideal sites (a synthetic 'DFT')."""
    atoms = bulk("Cu", "fcc", a=3.6, cubic=True).repeat((2, 1, 1))
    atoms[0].symbol = "Au"
    ideal = atoms.get_positions()
    atoms.rattle(0.05, seed=seed)
    forces = -stiffness * (atoms.get_positions() - ideal)
    if order is not None:  # the same structure with its atoms listed in another order
        atoms, forces = atoms[order], forces[order]
    atoms.calc = SinglePointCalculator(atoms, energy=0.5 * float((forces**2).sum()), forces=forces)
    atoms.info["material_id"] = MID
    return atoms


def run_forces(stores, path, models):
    """The CLI's rerun logic: reuse same-checksum references, skip done predictions."""
    items = discover(path)
    reuse = reusable_references(stores.jobs, "forces", LABEL, items)
    skip = existing_predictions(stores.jobs, reuse, models)
    flow = force_parity_flow(items, get_models(models), LABEL, existing_references=reuse, skip=skip)
    if flow.jobs:  # as the CLI does: an empty flow is not run
        run_flow(flow, stores, log=False)
    return flow


def build(stores) -> tuple[int, int]:
    """The softening and summary builders only: (documents written, summaries written)."""
    counts = build_step(stores)
    return counts["softening"], counts["summary"]


def references(stores):
    docs = stores.jobs.query(
        {"output.doc_type": "reference"}, properties=["uuid", "output.source_checksum"]
    )
    return {d["uuid"]: d["output"]["source_checksum"] for d in docs}


def softening(stores):
    docs = list(stores.collection("softening").query({}))
    keys = [d["key"] for d in docs]
    assert len(keys) == len(set(keys)), "softening documents duplicated"
    return {d["model"]: d for d in docs}


@pytest.fixture
def first_run(stores, tmp_path):
    """Two spring models on a three-frame reference, built once."""
    path = tmp_path / "ref.extxyz"
    write(path, [frame(seed) for seed in range(3)])
    models = [springs(0.8), springs(1.1)]
    run_forces(stores, path, models)
    assert build(stores) == (2, 2)
    (old_uuid,) = references(stores)
    return path, models, old_uuid


def test_changed_forces_are_reingested_and_replace_the_softening_documents(stores, first_run):
    path, models, old_uuid = first_run
    old_checksum = references(stores)[old_uuid]
    assert {m: d["softening_scale"] for m, d in softening(stores).items()} == pytest.approx(
        {"springs-0.8": 0.8, "springs-1.1": 1.1}
    )
    # same file, same geometry, forces twice as stiff
    write(path, [frame(seed, stiffness=2.0) for seed in range(3)])
    assert file_checksum(path) != old_checksum

    flow = run_forces(stores, path, models)
    assert len(flow.jobs) == 3  # a new ingestion and both models again: nothing reused
    refs = references(stores)
    assert len(refs) == 2
    (new_uuid,) = set(refs) - {old_uuid}
    assert refs[new_uuid] == file_checksum(path)

    assert build(stores) == (2, 2)
    docs = softening(stores)
    assert stores.collection("softening").count() == 2
    for model, k in (("springs-0.8", 0.8), ("springs-1.1", 1.1)):
        doc = docs[model]
        assert doc["state"] == "successful", doc["reason"]
        assert doc["reference_uuid"] == new_uuid
        assert doc["reference_provenance"]["source_checksum"] == file_checksum(path)
        assert doc["softening_scale"] == pytest.approx(k / 2, rel=1e-6)
        assert doc["excluded_configurations"] == {}
    summaries = {d["model"]: d for d in stores.collection("softening_summary").query({})}
    assert len(summaries) == 2
    assert summaries["springs-0.8"]["median_softening_scale"] == pytest.approx(0.4, rel=1e-6)

    # a second rerun with the rewritten file reuses it: nothing new
    assert not run_forces(stores, path, models).jobs
    assert build(stores) == (0, 0)


def test_changed_geometry_excludes_the_stale_pairs_with_the_reason(stores, first_run):
    path, models, old_uuid = first_run
    # frame 1 moves; frames 0 and 2 are unchanged. Only springs-0.8 is rerun, so
    # springs-1.1's newest prediction is still the one made on the old file.
    write(path, [frame(0), frame(99), frame(2)])
    flow = run_forces(stores, path, models[:1])
    assert len(flow.jobs) == 2  # re-ingestion + springs-0.8
    (new_uuid,) = set(references(stores)) - {old_uuid}

    assert build(stores) == (2, 2)
    docs = softening(stores)
    assert len(docs) == 2
    fresh, stale = docs["springs-0.8"], docs["springs-1.1"]
    assert fresh["reference_uuid"] == stale["reference_uuid"] == new_uuid
    assert fresh["n_configurations"] == 3 and fresh["excluded_configurations"] == {}
    assert stale["state"] == "successful", stale["reason"]
    assert stale["excluded_configurations"] == {"frame-0001": GEOMETRY}
    assert stale["n_configurations"] == 2
    assert stale["n_components"] == 2 * 8 * 3
    assert stale["softening_scale"] == pytest.approx(1.1, rel=1e-6)

    # every frame moved: nothing left to compare, the document says why
    write(path, [frame(seed) for seed in (10, 11, 12)])
    run_forces(stores, path, models[:1])
    build(stores)
    stale = softening(stores)["springs-1.1"]
    assert stale["state"] == "failed"
    assert stale["reason"] == f"no comparable configurations: {GEOMETRY}"
    assert stale["excluded_configurations"] == {f"frame-{i:04d}": GEOMETRY for i in range(3)}
    summary = stores.collection("softening_summary").query_one({"model": "springs-1.1"})
    assert summary["n_failed"] == 1 and summary["median_softening_scale"] is None


def test_changed_species_order_excludes_the_stale_pairs_with_the_reason(stores, first_run):
    path, models, _ = first_run
    # frame 2 lists the same atoms in reverse order (Au last): same structure,
    # but the old prediction's forces no longer line up atom by atom
    order = np.arange(8)[::-1]
    write(path, [frame(0), frame(1), frame(2, order=order)])
    run_forces(stores, path, models[:1])
    build(stores)
    docs = softening(stores)
    assert docs["springs-0.8"]["excluded_configurations"] == {}
    assert docs["springs-0.8"]["softening_scale"] == pytest.approx(0.8, rel=1e-6)
    stale = docs["springs-1.1"]
    assert stale["excluded_configurations"] == {"frame-0002": SPECIES}
    assert stale["n_configurations"] == 2
    assert stale["softening_scale"] == pytest.approx(1.1, rel=1e-6)


def test_frames_added_or_removed_are_excluded_with_the_reason(stores, first_run):
    path, models, _ = first_run
    write(path, [frame(seed) for seed in range(4)])  # one frame more
    run_forces(stores, path, models[:1])
    build(stores)
    stale = softening(stores)["springs-1.1"]
    assert stale["excluded_configurations"] == {
        "frame-0003": "no model prediction for this configuration"
    }
    assert stale["n_configurations"] == 3

    write(path, [frame(seed) for seed in range(2)])  # two frames fewer
    run_forces(stores, path, models[:1])
    build(stores)
    stale = softening(stores)["springs-1.1"]
    assert stale["excluded_configurations"] == {"frame-0002": "not in the reference"}
    assert stale["n_configurations"] == 2
    assert softening(stores)["springs-0.8"]["n_configurations"] == 2
