"""``softbench export frames`` (issue 9, item 4): stored references as extended XYZ."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.singlepoint import SinglePointCalculator
from ase.io import read, write
from ase.stress import full_3x3_to_voigt_6_stress
from jobflow import Flow, job

from softbench.builders.pairing import load_outputs, newest_references
from softbench.cli import main
from softbench.export import ExportError, export_frames
from softbench.ingest import discover
from softbench.run import run_flow
from softbench.schemas import Configuration, ReferenceTaskDocument
from softbench.schemas.configuration import ARRAYS_KEY
from softbench.workflows.forces import force_parity_flow

pytestmark = pytest.mark.filterwarnings("ignore:Some jobs are not connected")

TASK = "high-energy"
CP2K = "cp2k:test"


def cu_frames(path, materials=("cu-a", "cu-b"), n=3):
    """Rattled Cu cells with spring forces; the last frame of cu-a has NaN forces."""
    frames = []
    for m_i, mid in enumerate(materials):
        for i in range(n + (mid == "cu-a")):
            atoms = bulk("Cu", "fcc", a=3.6, cubic=True).repeat((2, 1, 1))
            ideal = atoms.get_positions()
            atoms.rattle(0.05, seed=10 * m_i + i)
            forces = -(atoms.get_positions() - ideal) * np.pi  # all digits used
            if i == n:
                forces[0, 0] = np.nan
            energy = -3.123456789012345 * len(atoms) + 0.5 * float(np.nansum(forces**2))
            atoms.calc = SinglePointCalculator(atoms, energy=energy, forces=forces)
            atoms.info.update(material_id=mid, configuration_id=f"frame-{i:02d}")
            frames.append(atoms)
    write(path, frames)
    return path


def _configuration(cid: str, seed: int) -> Configuration:
    atoms = bulk("Si", "diamond", a=5.43)
    atoms.rattle(0.1, seed=seed)
    rng = np.random.default_rng(seed)
    stress = rng.normal(scale=1e-3, size=(3, 3))
    return Configuration.from_structure(
        _structure(atoms),
        cid,
        energy=float(rng.normal(-10.8, 0.1)),
        forces=rng.normal(size=(2, 3)),
        stress=(stress + stress.T) / 2,
        metadata={"md_step": 100 * seed, "strain": 0.03, "md_energy": None},
    )


def _structure(atoms):
    from pymatgen.io.ase import AseAtomsAdaptor

    return AseAtomsAdaptor.get_structure(atoms)


@job(data=ARRAYS_KEY)
def stored_reference(doc: dict):
    """Store a hand-made reference document as a job output."""
    return ReferenceTaskDocument.model_validate(doc)


def _cp2k_reference(material: str, day: int, state: str = "successful", **kw):
    doc = ReferenceTaskDocument(
        task=TASK,
        material_id=material,
        formula="Si",
        reference=CP2K,
        source=f"test {material} day {day}",
        source_checksum=f"sampling-key-{day}",
        state=state,  # type: ignore[arg-type]
        created_at=datetime(2026, 1, day, tzinfo=UTC),
        configurations=[_configuration(f"frame-{i:02d}", 10 * day + i) for i in range(3)],
        **kw,
    )
    return stored_reference(doc.model_dump())


@pytest.fixture
def store(stores, tmp_path):
    """cu-a, cu-b ingested from extxyz as high-energy references; si-a, si-b by 'CP2K'.

    si-a: an old reference, then a newer one that keeps frame-01 but excludes it;
    si-b: a successful reference, then a newer unusable one.
    """
    path = cu_frames(tmp_path / "cu.extxyz")
    run_flow(force_parity_flow(discover(path), [], "extxyz:cu", task=TASK), stores, log=False)
    excluded = {"excluded_configurations": {"frame-01": "SCF run NOT converged"}}
    jobs = [
        _cp2k_reference("si-a", 1),
        _cp2k_reference("si-a", 2, **excluded),
        _cp2k_reference("si-b", 1),
        _cp2k_reference("si-b", 3, state="unusable", reason="Na not vetted"),
    ]
    run_flow(Flow(jobs), stores, log=False)
    return stores


def _stored(stores):
    """(material, label, configuration id) -> stored configuration of the newest successful refs."""
    refs = newest_references(stores.jobs, task=TASK, state="successful")
    outputs = load_outputs(stores.jobs, [r.uuid for r in refs.values()])
    confs = {}
    for ref in refs.values():
        doc = ReferenceTaskDocument.model_validate(outputs[ref.uuid])
        for c in doc.configurations:
            if c.configuration_id not in doc.excluded_configurations:
                confs[(ref.material_id, ref.reference, c.configuration_id)] = (c, doc, ref.uuid)
    return confs


def test_frames_round_trip_energies_forces_stress_and_info(store, tmp_path):
    out = tmp_path / "frames.extxyz"
    result = export_frames(store, TASK, out)
    frames = read(out, index=":", format="extxyz")
    stored = _stored(store)
    # cu-a 3 (NaN frame excluded at ingestion), cu-b 3, si-a 2 (frame-01 excluded), si-b 3
    assert (result.n_frames, result.n_materials, result.n_references) == (11, 4, 4)
    assert result.n_excluded == 2
    assert len(frames) == len(stored) == 11
    seen = set()
    for atoms in frames:
        info = atoms.info
        key = (str(info["material_id"]), info["reference"], info["configuration_id"])
        conf, doc, uuid = stored[key]
        seen.add(key)
        assert info["task"] == TASK
        assert info["source_checksum"] == doc.source_checksum
        assert info["reference_uuid"] == uuid
        assert info["formula"] == conf.formula
        assert atoms.get_chemical_symbols() == conf.arrays.species
        assert np.allclose(atoms.cell[:], conf.arrays.lattice, atol=1e-8, rtol=0)
        assert np.allclose(atoms.positions, conf.arrays.positions, atol=1e-8, rtol=0)
        assert atoms.pbc.all()
        assert abs(atoms.get_potential_energy() - conf.energy) <= 1e-8
        assert np.abs(atoms.get_forces() - conf.forces).max() <= 1e-8
        if conf.arrays.stress is None:
            assert "stress" not in atoms.calc.results
        else:
            assert (
                np.abs(
                    atoms.get_stress() - full_3x3_to_voigt_6_stress(np.asarray(conf.arrays.stress))
                ).max()
                <= 1e-12
            )
            assert info["md_step"] == conf.metadata["md_step"]
            assert "md_energy" not in info
    assert seen == set(stored)
    assert ("si-a", CP2K, "frame-01") not in seen
    assert ("cu-a", "extxyz:cu", "frame-03") not in seen
    # si-b: the newest reference is unusable; the newest successful one is exported
    assert {str(a.info["source_checksum"]) for a in frames if a.info["material_id"] == "si-b"} == {
        "sampling-key-1"
    }
    assert {a.info["source_checksum"] for a in frames if a.info["material_id"] == "si-a"} == {
        "sampling-key-2"
    }


def test_filters_by_material_and_reference(store, tmp_path):
    out = tmp_path / "some.extxyz"
    result = export_frames(store, TASK, out, materials=["cu-b", "si-a"])
    assert {a.info["material_id"] for a in read(out, index=":")} == {"cu-b", "si-a"}
    assert result.n_frames == 5
    result = export_frames(store, TASK, out, references=[CP2K])
    assert {a.info["reference"] for a in read(out, index=":")} == {CP2K}
    assert result.n_frames == 5
    with pytest.raises(ExportError, match="no successful reference"):
        export_frames(store, "forces", out)
    with pytest.raises(ExportError, match="unknown export format"):
        export_frames(store, TASK, out, fmt="cif")


def test_cli_writes_the_default_path_and_prints_counts(store, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["export", "frames", "--task", TASK, "--store", "memory"]) == 0
    path = tmp_path / "softbench-output" / "frames-high-energy.extxyz"
    printed = capsys.readouterr().out
    assert str(path.relative_to(tmp_path)) in printed
    assert "11 frames of 4 materials" in printed and "2 excluded" in printed
    assert len(read(path, index=":")) == 11
    assert not [p for p in path.parent.iterdir() if p.name.endswith(".tmp")]
    args = ["export", "frames", "--task", TASK, "--store", "memory", "--material", "si-a,si-b"]
    assert main([*args, "--reference", CP2K, "--out", "si.xyz"]) == 0
    assert len(read(tmp_path / "si.xyz", index=":")) == 5


def _one_line_error(capsys, *words):
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert "error:" in err[0]
    for word in words:
        assert word in err[0], err[0]


def test_cli_errors_are_one_line_with_status_2(store, tmp_path, capsys):
    out = tmp_path / "x.extxyz"
    base = ["export", "frames", "--task", TASK, "--out", str(out)]
    missing = tmp_path / "no-store"
    assert main([*base, "--store", str(missing)]) == 2
    _one_line_error(capsys, str(missing), "does not exist")
    assert not missing.exists()
    assert main([*base, "--store", "memory", "--material", "nope"]) == 2
    _one_line_error(capsys, "no successful reference", "nope")
    assert main([*base, "--store", "memory", "--reference", "vasp:none"]) == 2
    _one_line_error(capsys, "no successful reference", "vasp:none")
    with pytest.raises(SystemExit) as exc:
        main([*base, "--store", "memory", "--format", "cif"])
    assert exc.value.code == 2
    _one_line_error(capsys, "--format", "cif")
    assert not out.exists()


def test_cli_on_the_embedded_store(disk_store, tmp_path, capsys):
    from softbench.stores import open_stores

    path = cu_frames(tmp_path / "cu.extxyz")
    stores = open_stores(disk_store)
    run_flow(force_parity_flow(discover(path), [], "extxyz:cu", task=TASK), stores, log=False)
    stores.close()
    out = tmp_path / "cu-out.extxyz"
    args = ["export", "frames", "--task", TASK, "--material", "cu-a,cu-b", "--out", str(out)]
    assert main([*args, "--store", disk_store]) == 0
    assert "6 frames of 2 materials" in capsys.readouterr().out
    frames = read(out, index=":")
    assert [a.info["configuration_id"] for a in frames] == [f"frame-0{i}" for i in (0, 1, 2)] * 2
