"""Force-parity pipeline end to end: flows, data store, builders, incremental rebuilds."""

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.singlepoint import SinglePointCalculator
from ase.io import write

from softbench.builders.softening import build_softening as softening_doc
from softbench.ingest import discover
from softbench.makers.forces import predict_reference
from softbench.models import get_models
from softbench.models.evaluate import evaluate
from softbench.run import build_all, run_flow
from softbench.schemas import Configuration, ReferenceTaskDocument
from softbench.testing.calculators import register_springs as springs
from softbench.workflows.forces import force_parity_flow
from softbench.workflows.reuse import existing_predictions, reusable_references


def cu_frames(path, materials=("cu-a", "cu-b"), n=3):
    """Rattled Cu cells labelled with unit springs (an honest synthetic 'DFT')."""
    frames = []
    for m_i, mid in enumerate(materials):
        for i in range(n):
            atoms = bulk("Cu", "fcc", a=3.6, cubic=True).repeat((2, 1, 1))
            atoms.rattle(0.05, seed=10 * m_i + i)
            ref = bulk("Cu", "fcc", a=3.6, cubic=True).repeat((2, 1, 1)).get_positions()
            forces = -(atoms.get_positions() - ref)
            atoms.calc = SinglePointCalculator(
                atoms, energy=0.5 * float((forces**2).sum()), forces=forces
            )
            atoms.info["material_id"] = mid
            frames.append(atoms)
    write(path, frames)
    return path


def run_forces(stores, path, model_names, task="forces"):
    items = discover(path)
    label = f"extxyz:{path.stem}"
    reuse = reusable_references(stores.jobs, task, label, items)
    skip = existing_predictions(stores.jobs, reuse, model_names)
    flow = force_parity_flow(
        items, get_models(model_names), label, task=task, existing_references=reuse, skip=skip
    )
    run_flow(flow, stores, log=False)
    return flow


def softening_docs(stores):
    return {d["key"]: d for d in stores.collection("softening").query({})}


def test_spring_models_give_their_stiffness_as_scale(stores, tmp_path):
    path = cu_frames(tmp_path / "cu.extxyz")
    run_forces(stores, path, [springs(0.8), springs(1.1)])
    build_all(stores)
    docs = softening_docs(stores)
    assert len(docs) == 4
    for d in docs.values():
        k = float(d["model"].split("-")[1])
        assert d["softening_scale"] == pytest.approx(k, abs=1e-9)
        assert d["force_cmae"] == pytest.approx(0, abs=1e-12)
        assert d["n_configurations"] == 3 and d["n_components"] == 3 * 8 * 3
        assert d["energy_mae_per_atom"] is not None


def test_rebuild_is_idempotent_and_a_new_model_is_processed_alone(stores, tmp_path):
    path = cu_frames(tmp_path / "cu.extxyz")
    three = [springs(0.8), springs(0.9), springs(1.1)]
    run_forces(stores, path, three)
    first = build_all(stores)
    assert first["softening"] == 6 and first["summary"] == 3
    keys = set(softening_docs(stores))
    again = build_all(stores)
    assert (again["softening"], again["summary"]) == (0, 0)
    assert stores.collection("softening").count() == 6
    assert stores.collection("softening_summary").count() == 3

    n_jobs_before = stores.jobs.count()
    flow = run_forces(stores, path, [*three, springs(0.7)])
    assert len(flow.jobs) == 2  # only the new model's two jobs: no re-ingestion
    assert stores.jobs.count() == n_jobs_before + 2
    fourth = build_all(stores)
    assert (fourth["softening"], fourth["summary"]) == (2, 1)
    assert set(softening_docs(stores)) - keys == {
        f"forces|{m}|springs-0.7|extxyz:cu" for m in ("cu-a", "cu-b")
    }
    assert stores.collection("softening").count() == 8


def test_stresses_are_stored_only_when_asked(stores, tmp_path):
    from softbench.builders.pairing import load_output

    path = cu_frames(tmp_path / "cu.extxyz", materials=("cu-a",))
    emt = get_models(["ase:ase.calculators.emt.EMT"])
    for stress in (False, True):
        flow = force_parity_flow(discover(path), emt, f"lbl-{stress}", stress=stress)
        run_flow(flow, stores, log=False)
        out = load_output(stores.jobs, flow.jobs[-1].uuid)
        arrays = out["configurations"][0]["arrays"]
        assert (arrays["stress"] is not None) is stress


def test_arrays_live_in_the_data_store(stores, tmp_path):
    path = cu_frames(tmp_path / "cu.extxyz", materials=("cu-a",))
    run_forces(stores, path, [springs(1.0)])
    docs = list(stores.collection("jobs").query({"output.doc_type": "reference"}))
    (ref,) = docs
    arrays = ref["output"]["configurations"][0]["arrays"]
    assert "blob_uuid" in arrays and "forces" not in arrays
    blobs = stores.collection("jobs_data").count()
    assert blobs == 6  # 3 reference + 3 prediction configurations


@pytest.mark.parametrize("embedded", [False, True], ids=["mongomock", "montydb"])
def test_batched_output_loading_equals_jobflow_loading(stores, disk_store, tmp_path, embedded):
    from softbench.builders.pairing import load_outputs, with_outputs
    from softbench.stores import open_stores

    if embedded:
        stores = open_stores(disk_store)
    path = cu_frames(tmp_path / "cu.extxyz")
    flow = run_forces(stores, path, [springs(1.0)])
    uuids = [job.uuid for job in flow.jobs]
    batched = load_outputs(stores.jobs, [*uuids, "no-such-uuid"])
    assert set(batched) == set(uuids)
    for uuid in uuids:
        one = stores.jobs.query_one({"uuid": uuid}, load=True)["output"]
        assert batched[uuid] == one
        assert "blob_uuid" not in str(batched[uuid])
    items = [{"prediction_uuid": u, "reference_uuid": None} for u in uuids]
    loaded = list(with_outputs(stores.jobs, items, batch=2))
    assert [i["prediction"] for i in loaded] == [batched[u] for u in uuids]
    assert all(i["reference"] is None for i in loaded)
    with pytest.raises(KeyError, match="no-such-uuid"):
        list(with_outputs(stores.jobs, [{"prediction_uuid": "no-such-uuid"}]))


def test_forces_report_pools_components_and_draws_the_parity_plot(stores, tmp_path):
    from softbench.analysis.softening import softening_scale
    from softbench.reports.forces import collect_forces, parity_figure

    path = cu_frames(tmp_path / "cu.extxyz")
    run_forces(stores, path, [springs(0.8), springs(1.1)])
    data, counts = collect_forces(stores, "forces", models=["springs-0.8", "springs-1.1"])
    assert counts == {"springs-0.8": 2, "springs-1.1": 2}
    for name, (ref, model) in data.items():
        assert ref.shape == model.shape == (2 * 3 * 8 * 3,)
        assert softening_scale(ref, model) == pytest.approx(float(name.split("-")[1]))
    figure = parity_figure(stores, tmp_path / "parity.png")
    assert figure is not None and figure.stat().st_size > 10_000


def test_one_failing_material_does_not_stop_the_others(stores, tmp_path, shared):
    cu = cu_frames(tmp_path / "cu.extxyz", materials=("cu-a",))
    gan = shared / "data/vasp-outputs/GaN/Mg_Ga/bulk_sc"
    items = discover(cu) + discover(gan)
    emt = "ase:ase.calculators.emt.EMT"
    flow = force_parity_flow(items, get_models([emt]), "mixed")
    run_flow(flow, stores, log=False)
    build_all(stores)
    docs = {d["material_id"]: d for d in softening_docs(stores).values()}
    assert docs["cu-a"]["state"] == "successful"
    assert docs["bulk_sc"]["state"] == "failed"
    assert "ase:ase.calculators.emt.EMT failed" in docs["bulk_sc"]["reason"]


def _ref(n_atoms=(4, 4)):
    from pymatgen.core import Lattice, Structure

    confs = []
    for i, n in enumerate(n_atoms):
        s = Structure(Lattice.cubic(4.0), ["Cu"] * n, np.random.default_rng(i).random((n, 3)))
        confs.append(Configuration.from_structure(s, f"c{i}", forces=np.ones((n, 3))))
    return ReferenceTaskDocument(
        task="forces", material_id="m", reference="r", source="test", configurations=confs
    )


def test_mismatched_pairs_are_excluded_with_the_reason():
    ref = _ref()
    pred = predict_reference(ref, springs(1.0))
    other = _ref(n_atoms=(4, 5))
    doc = softening_doc(pred, other, {"key": "k"})
    assert doc.n_configurations == 1
    assert "atom count differs: reference 5, model 4" in doc.excluded_configurations["c1"]
    doc = softening_doc(pred, _ref(n_atoms=(3, 5)), {"key": "k"})
    assert doc.state == "failed" and "no comparable configurations" in doc.reason


def test_missing_reference_and_unusable_reference_fail_with_reason():
    pred = predict_reference(_ref(), springs(1.0))
    assert "no reference document" in softening_doc(pred, None, {"key": "k"}).reason
    unusable = _ref()
    unusable.state, unusable.reason = "unusable", "no forces stored"
    assert softening_doc(pred, unusable, {"key": "k"}).reason == (
        "reference unusable: no forces stored"
    )
    failed = predict_reference(unusable, springs(1.0))
    assert failed.state == "failed" and "reference unusable" in failed.reason


@pytest.mark.slow
def test_reference_equal_to_1_25_times_chgnet_gives_scale_0_8(stores, tmp_path, shared):
    """Reference forces := 1.25 x CHGNet's own forces on real GaN VASP geometries."""
    from pymatgen.io.ase import AseAtomsAdaptor

    (item,) = discover(shared / "data/vasp-outputs/GaN/Mg_Ga/q=0")
    from softbench.ingest import read_reference

    structures = [c.structure for c in read_reference(item, "x", "x").configurations]
    model_forces = evaluate(get_models("chgnet-0.3.0")[0], structures).predictions
    frames = []
    for s, p in zip(structures, model_forces, strict=True):
        atoms = AseAtomsAdaptor.get_atoms(s)
        atoms.calc = SinglePointCalculator(atoms, energy=p.energy, forces=1.25 * p.forces)
        atoms.info["material_id"] = "gan-mg"
        frames.append(atoms)
    path = tmp_path / "scaled.extxyz"
    write(path, frames)
    run_forces(stores, path, ["chgnet-0.3.0"])
    build_all(stores)
    (doc,) = softening_docs(stores).values()
    assert doc["n_configurations"] == 5
    assert abs(doc["softening_scale"] - 0.8) < 1e-6
    assert doc["force_cmae"] < 1e-6
    assert doc["model_provenance"]["weights_sha256"]
