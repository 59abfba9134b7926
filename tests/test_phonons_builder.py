"""Phonon builder on real DFT phonons, with 'models' whose forces are known exactly.

A model whose forces are the DFT forces times s has force constants s times
DFT's, hence frequencies sqrt(s) times DFT's: the builder must report
max_freq_ratio = sqrt(s), softening_scale = s and zero MAE for s = 1. These run in
seconds (no uMLIP); tests/test_phonons_models.py runs the real models.
"""

from __future__ import annotations

import lzma
import shutil
from dataclasses import asdict
from pathlib import Path

import numpy as np
import phonopy
import pytest
from jobflow import Flow, job

from softbench.analysis.phonons import (
    band_path,
    build_phonopy,
    phonopy_metadata,
    unitcell_from_relaxed_primitive,
)
from softbench.builders.phonons import build_phonons
from softbench.ingest import discover
from softbench.makers.phonons import PHONOPY_KEY, PhononReferenceMaker
from softbench.query import fetch
from softbench.run import build_all, run_flow
from softbench.schemas.configuration import ARRAYS_KEY, Configuration, ConfigurationArrays
from softbench.schemas.phonons import RelaxationInfo, RelaxedPhononTaskDocument
from softbench.schemas.prediction import PredictionTaskDocument
from softbench.schemas.provenance import ModelProvenance
from softbench.schemas.reference import ReferenceTaskDocument

LABEL = "phonopy:phonons-pbe"


def _provenance(name: str) -> ModelProvenance:
    return ModelProvenance(name=name, family="test", version="0", source="DFT forces x scale")


@job(data=ARRAYS_KEY)
def scaled_prediction(reference: dict, scale: float, name: str, reference_uuid: str):
    """A 'model' predicting scale x DFT forces, configurations in reverse order."""
    ref = ReferenceTaskDocument.model_validate(reference)
    confs = [
        Configuration(
            configuration_id=c.configuration_id,
            n_atoms=c.n_atoms,
            formula=c.formula,
            structure_hash=c.structure_hash,
            arrays=ConfigurationArrays(
                species=c.arrays.species, forces=(scale * np.asarray(c.arrays.forces)).tolist()
            ),
        )
        for c in reversed(ref.configurations)
    ]
    return PredictionTaskDocument(
        task=ref.task,
        material_id=ref.material_id,
        formula=ref.formula,
        reference=ref.reference,
        reference_uuid=reference_uuid,
        model=_provenance(name),
        configurations=confs,
    )


@job(data=ARRAYS_KEY)
def identity_relaxed(reference: dict, name: str, reference_uuid: str):
    """A relaxed-mode result whose 'relaxed' cell and forces are DFT's own."""
    ref = ReferenceTaskDocument.model_validate(reference)
    return RelaxedPhononTaskDocument(
        material_id=ref.material_id,
        formula=ref.formula,
        reference=ref.reference,
        reference_uuid=reference_uuid,
        model=_provenance(name),
        relaxation=RelaxationInfo(converged=True, fmax_target=1e-5),
        phonopy=ref.dft_settings[PHONOPY_KEY],
        configurations=ref.configurations,
    )


def _ingest(items):
    jobs = [PhononReferenceMaker(label=LABEL).make(asdict(item)) for item in items]
    return {item.material_id: j for item, j in zip(items, jobs, strict=True)}


def _phonopy_direct_max(yaml_xz: Path, tmp_path: Path) -> float:
    """ω_max straight from phonopy on the yaml (20x20x20 mesh, phonopy defaults)."""
    plain = tmp_path / f"{yaml_xz.parent.name}.yaml"
    plain.write_bytes(lzma.decompress(yaml_xz.read_bytes()))
    ph = phonopy.load(str(plain), log_level=0)
    ph.run_mesh([20, 20, 20])
    return float(ph.mesh.frequencies.max())


@pytest.fixture
def phonon_store(shared, stores, tmp_path):
    """mp-1519 and mp-2231 ingested from a private copy, plus scaled 'models'."""
    src = tmp_path / "phonons"
    for mid in ("mp-1519", "mp-2231"):
        (src / mid).mkdir(parents=True)
        shutil.copy(shared / f"data/phonons-pbe/{mid}/phonopy.yaml.xz", src / mid)
    items = discover(src, "phonopy")
    refs = _ingest(items)
    jobs = list(refs.values())
    for ref in refs.values():
        jobs.append(scaled_prediction(ref.output, 1.0, "dft-copy", ref.uuid))
        jobs.append(identity_relaxed(ref.output, "dft-copy", ref.uuid))
    run_flow(Flow(jobs), stores, log=False)
    return stores, refs, src


def test_dft_max_frequency_matches_phonopy(phonon_store, shared, tmp_path):
    stores, _, _ = phonon_store
    build_all(stores)
    docs = {(d["material_id"], d["mode"]): d for d in fetch(stores, "phonons")}
    for mid in ("mp-1519", "mp-2231"):
        direct = _phonopy_direct_max(shared / f"data/phonons-pbe/{mid}/phonopy.yaml.xz", tmp_path)
        for mode in ("fixed", "relaxed"):
            doc = docs[(mid, mode)]
            assert doc["state"] == "successful", doc["reason"]
            assert doc["dft_max_freq_thz"] == pytest.approx(direct, rel=5e-3)
            assert doc["mesh"] == [20, 20, 20]
            # the model is DFT itself: ratio 1, no error anywhere
            assert doc["max_freq_ratio"] == pytest.approx(1.0, abs=1e-9)
            assert doc["mean_freq_ratio"] == pytest.approx(1.0, abs=1e-9)
            assert doc["freq_mae_thz"] == pytest.approx(0.0, abs=1e-9)
            assert doc["band_mae_thz"] == pytest.approx(0.0, abs=1e-9)
            assert doc["model_heat_capacity"] == pytest.approx(doc["dft_heat_capacity"])
    fixed = docs[("mp-1519", "fixed")]
    assert fixed["softening_scale"] == pytest.approx(1.0)
    # SnS (mp-2231) has a small imaginary mode in this DFT set: reported, not hidden
    assert docs[("mp-2231", "fixed")]["dft_imaginary"] is True
    assert docs[("mp-2231", "fixed")]["dft_min_freq_thz"] < -0.05
    assert docs[("mp-1519", "fixed")]["dft_imaginary"] is False


def test_new_model_is_incremental_and_needs_no_dft_file(phonon_store):
    stores, refs, src = phonon_store
    first = build_phonons(stores)
    assert first["phonons"] == 4
    assert build_phonons(stores)["phonons"] == 0  # nothing new, nothing redone
    shutil.rmtree(src)  # the builder works from stored documents only
    ref = refs["mp-2231"]
    run_flow(Flow([scaled_prediction(ref.output, 0.81, "soft-0.81", ref.uuid)]), stores, log=False)
    counts = build_all(stores)
    assert counts["phonons"] == 1
    doc = fetch(stores, "phonons", model="soft-0.81")[0]
    assert doc["state"] == "successful", doc["reason"]
    assert doc["max_freq_ratio"] == pytest.approx(0.9, rel=1e-6)  # sqrt(0.81)
    assert doc["mean_freq_ratio"] == pytest.approx(0.9, rel=1e-3)
    assert doc["softening_scale"] == pytest.approx(0.81, rel=1e-9)
    assert doc["model_heat_capacity"] > doc["dft_heat_capacity"]  # softer: closer to 3R
    summary = {d["model"]: d for d in fetch(stores, "phonon-summary", task="phonons-fixed")}
    assert summary["soft-0.81"]["fraction_softened"] == 1.0
    assert summary["soft-0.81"]["median_max_freq_ratio"] == pytest.approx(0.9, rel=1e-6)
    assert summary["dft-copy"]["fraction_softened"] == 0.0


def test_unusable_reference_is_reported(shared, stores):
    items = discover(shared / "data/phonons-pbe", "phonopy", ["mp-2809"])
    ref = _ingest(items)["mp-2809"]
    run_flow(
        Flow([ref, scaled_prediction(ref.output, 1.0, "dft-copy", ref.uuid)]), stores, log=False
    )
    out = stores.jobs.get_output(ref.uuid)
    assert out["state"] == "unusable"
    assert "no displacement dataset" in out["reason"]


def test_relaxed_unit_cell_mapping(shared):
    from softbench.ingest.phonopy import load_phonopy

    ph = load_phonopy(shared / "data/phonons-pbe/mp-2231/phonopy.yaml.xz")
    meta = phonopy_metadata(ph)
    dft = build_phonopy(meta)
    prim = dft.primitive
    same = unitcell_from_relaxed_primitive(meta, prim.cell, prim.scaled_positions)
    assert np.allclose(same.cell, dft.unitcell.cell)
    assert np.allclose(same.scaled_positions, dft.unitcell.scaled_positions)
    strained = unitcell_from_relaxed_primitive(meta, 1.01 * prim.cell, prim.scaled_positions)
    assert np.allclose(strained.cell, 1.01 * dft.unitcell.cell)
    ph_strained = build_phonopy(meta, unitcell=strained)
    # same atom order and displacement pattern, only the lattice is scaled
    a = dft.supercells_with_displacements[3].positions
    b = ph_strained.supercells_with_displacements[3].positions
    assert np.allclose(b - a, 0.01 * dft.supercell.positions, atol=1e-8)


def test_band_path_fcc_points(shared):
    from pymatgen.io.phonopy import get_pmg_structure

    from softbench.ingest.phonopy import load_phonopy

    ph = load_phonopy(shared / "data/phonons-pbe/mp-1519/phonopy.yaml.xz")
    prim = get_pmg_structure(ph.primitive)
    path = band_path(prim)
    assert path.labels[0] == ("Γ", "X")
    a_conv = ph.unitcell.cell[0, 0]
    rec = prim.lattice.reciprocal_lattice_crystallographic.matrix
    x_point = path.segments[0][-1] @ rec
    assert np.linalg.norm(x_point) == pytest.approx(1 / a_conv)  # X = (2π/a)(1,0,0)
    gamma_l = dict(zip(path.labels, path.segments, strict=True))[("Γ", "L")]
    assert np.linalg.norm(gamma_l[-1] @ rec) == pytest.approx(np.sqrt(3) / (2 * a_conv))
    # consecutive segments join: the path is continuous inside each branch
    assert np.allclose(path.segments[0][-1], path.segments[1][0])


def test_report_figures_without_models(phonon_store, tmp_path):
    from softbench.reports.phonons import HISTOGRAM, report_phonons

    stores, refs, _ = phonon_store
    ref = refs["mp-1519"]
    run_flow(Flow([scaled_prediction(ref.output, 0.64, "soft-0.64", ref.uuid)]), stores, log=False)
    build_all(stores)
    paths = report_phonons(stores, tmp_path / "out", material="mp-2231")
    assert [p.name for p in paths] == [HISTOGRAM, "phonons_bands_mp-2231.png"]
    for path in paths:
        data = path.read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n"
        assert len(data) > 20_000
    assert report_phonons(stores, tmp_path / "none", models=["no-such-model"]) == []


@job
def failed_prediction(reference: dict, name: str, reference_uuid: str):
    """A model that failed on this material."""
    ref = ReferenceTaskDocument.model_validate(reference)
    return PredictionTaskDocument(
        task=ref.task,
        material_id=ref.material_id,
        reference=ref.reference,
        reference_uuid=reference_uuid,
        model=_provenance(name),
        state="failed",
        reason="model blew up on this material",
    )


def test_model_failing_on_one_material(phonon_store):
    stores, refs, _ = phonon_store
    jobs = [
        failed_prediction(refs["mp-1519"].output, "flaky", refs["mp-1519"].uuid),
        scaled_prediction(refs["mp-2231"].output, 1.21, "flaky", refs["mp-2231"].uuid),
    ]
    run_flow(Flow(jobs), stores, log=False)
    build_all(stores)
    docs = {d["material_id"]: d for d in fetch(stores, "phonons", model="flaky")}
    assert docs["mp-1519"]["state"] == "failed"
    assert docs["mp-1519"]["reason"] == "model blew up on this material"
    assert docs["mp-2231"]["max_freq_ratio"] == pytest.approx(1.1, rel=1e-6)
    summary = fetch(stores, "phonon-summary", model="flaky")[0]
    assert (summary["n_successful"], summary["n_failed"]) == (1, 1)
    assert summary["fraction_softened"] == 0.0
    assert summary["failed_materials"] == {"mp-1519": "model blew up on this material"}


# A model's relaxed cell: DFT's conventional cell stretched by 3 % and turned by 25°
# about (1, 2, 3), its displacements and forces written in that turned frame, and
# force constants 0.81 x DFT's. Frequencies are invariant under the rotation, so the
# model's frequencies are exactly 0.9 x DFT's, but only on the model's own cell and
# displacement set: DFT's cell with these forces gives other (wrong) numbers.
STRETCH, FC_SCALE = 1.03, 0.81


def _turn() -> np.ndarray:
    axis = np.array([1.0, 2.0, 3.0]) / np.sqrt(14.0)
    angle = np.deg2rad(25.0)
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    return np.eye(3) + np.sin(angle) * k + (1 - np.cos(angle)) * (k @ k)  # Rodrigues


@job(data=ARRAYS_KEY)
def turned_relaxed(reference: dict, name: str, reference_uuid: str):
    """A relaxed-mode result on a stretched, turned cell (plain dict/array arithmetic)."""
    ref = ReferenceTaskDocument.model_validate(reference)
    q = _turn()
    meta = dict(ref.dft_settings[PHONOPY_KEY])
    meta["unitcell"] = dict(meta["unitcell"])
    meta["unitcell"]["lattice"] = (STRETCH * np.asarray(meta["unitcell"]["lattice"]) @ q.T).tolist()
    meta["dataset"] = {
        "natom": meta["dataset"]["natom"],
        "first_atoms": [
            {"number": d["number"], "displacement": (np.asarray(d["displacement"]) @ q.T).tolist()}
            for d in meta["dataset"]["first_atoms"]
        ],
    }
    confs = [
        Configuration(
            configuration_id=c.configuration_id,
            n_atoms=c.n_atoms,
            formula=c.formula,
            metadata=c.metadata,
            arrays=ConfigurationArrays(
                species=c.arrays.species,
                forces=(FC_SCALE * np.asarray(c.arrays.forces) @ q.T).tolist(),
            ),
        )
        for c in ref.configurations
    ]
    return RelaxedPhononTaskDocument(
        material_id=ref.material_id,
        formula=ref.formula,
        reference=ref.reference,
        reference_uuid=reference_uuid,
        model=_provenance(name),
        relaxation=RelaxationInfo(converged=True, fmax_target=1e-5),
        phonopy=meta,
        configurations=confs,
    )


def _phonopy_direct_turned(yaml_xz: Path, tmp_path: Path) -> dict[str, float]:
    """The turned model's mesh frequencies and C_V(300 K), from phonopy alone."""
    from phonopy import Phonopy
    from phonopy.structure.atoms import PhonopyAtoms

    plain = tmp_path / "direct.yaml"
    plain.write_bytes(lzma.decompress(yaml_xz.read_bytes()))
    dft = phonopy.load(str(plain), log_level=0, produce_fc=False)
    q, unit = _turn(), dft.unitcell
    turned = PhonopyAtoms(
        symbols=list(unit.symbols),
        cell=STRETCH * np.asarray(unit.cell) @ q.T,
        scaled_positions=unit.scaled_positions,
        masses=unit.masses,
    )
    ph = Phonopy(
        turned,
        supercell_matrix=dft.supercell_matrix,
        primitive_matrix=dft.primitive_matrix,
        symprec=dft.symmetry.tolerance,
        log_level=0,
    )
    ph.dataset = {
        "natom": dft.dataset["natom"],
        "first_atoms": [
            {"number": d["number"], "displacement": np.asarray(d["displacement"]) @ q.T}
            for d in dft.dataset["first_atoms"]
        ],
    }
    ph.forces = FC_SCALE * np.asarray(dft.forces) @ q.T
    ph.produce_force_constants(calculate_full_force_constants=False)
    ph.symmetrize_force_constants(show_drift=False)
    ph.run_mesh([20, 20, 20], is_gamma_center=True)
    freqs, weights = ph.mesh.frequencies, ph.mesh.weights
    ph.run_thermal_properties(temperatures=[300.0])
    return {
        "model_max_freq_thz": float(freqs.max()),
        "model_mean_freq_thz": float(
            (weights[:, None] * freqs).sum() / weights.sum() / freqs.shape[1]
        ),
        "model_heat_capacity": float(ph.thermal_properties.heat_capacity[0]),
    }


def test_relaxed_mode_uses_the_model_cell_not_dft_cell(shared, stores, tmp_path):
    yaml_xz = shared / "data/phonons-pbe/mp-1519/phonopy.yaml.xz"
    (src := tmp_path / "phonons" / "mp-1519").mkdir(parents=True)
    shutil.copy(yaml_xz, src)
    ref = _ingest(discover(src.parent, "phonopy"))["mp-1519"]
    run_flow(Flow([ref, turned_relaxed(ref.output, "turned", ref.uuid)]), stores, log=False)
    assert build_phonons(stores)["phonons"] == 1
    (doc,) = fetch(stores, "phonons", model="turned")
    assert (doc["mode"], doc["state"]) == ("relaxed", "successful"), doc["reason"]
    for name, value in _phonopy_direct_turned(yaml_xz, tmp_path).items():
        assert doc[name] == pytest.approx(value, rel=1e-6), name
    assert doc["max_freq_ratio"] == pytest.approx(0.9, rel=1e-6)  # sqrt(0.81)
    assert doc["mean_freq_ratio"] == pytest.approx(0.9, rel=1e-6)
    assert doc["model_imaginary"] is False
