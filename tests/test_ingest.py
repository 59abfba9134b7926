"""Reference ingestion from real files in $SOFTBENCH_SHARED and small synthetic ones."""

import json
import lzma

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.singlepoint import SinglePointCalculator
from ase.io import write
from pymatgen.io.ase import AseAtomsAdaptor

from softbench.ingest import ReferenceFormatError, detect_format, discover, read_reference


def test_phonopy_yaml_with_forces(shared):
    import phonopy

    path = shared / "data/phonons-pbe/mp-1519/phonopy.yaml.xz"
    (item,) = discover(path.parent.parent, materials=["mp-1519"])
    doc = read_reference(item, "forces", "phonopy:test")
    assert doc.state == "successful"
    assert doc.formula == "CaTe"
    assert [c.configuration_id for c in doc.configurations] == ["disp-001", "disp-002"]
    assert all(c.n_atoms == 512 for c in doc.configurations)
    plain = path.with_suffix("")
    # compare with phonopy's own reading of the same yaml
    tmp = plain.name
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as d:
        (Path(d) / tmp).write_bytes(lzma.decompress(path.read_bytes()))
        ph = phonopy.load(str(Path(d) / tmp), produce_fc=False, log_level=0)
    np.testing.assert_allclose(doc.configurations[1].forces, ph.forces[1])
    disp = ph.supercells_with_displacements[0].positions
    np.testing.assert_allclose(doc.configurations[0].arrays.positions, disp, atol=1e-8)
    assert doc.dft_settings["supercell_matrix"] == [[4, 0, 0], [0, 4, 0], [0, 0, 4]]
    assert doc.dft_settings["displacement_amplitude_angstrom"] == pytest.approx(0.01)


def test_phonopy_yaml_without_forces_is_unusable(shared):
    (item,) = discover(shared / "data/phonons-pbe", materials=["mp-2809"])
    doc = read_reference(item, "forces", "phonopy:test")
    assert doc.state == "unusable"
    assert "mp-2809" in doc.reason and "no displacement" in doc.reason
    assert doc.configurations == []


def test_every_manifest_entry_without_forces_is_reported(shared):
    manifest = json.loads((shared / "data/phonons-pbe/MANIFEST.json").read_text())
    without = sorted(m["material_id"] for m in manifest if not m["has_forces"])
    items = discover(shared / "data/phonons-pbe", materials=without)
    assert all(read_reference(i, "t", "l").state == "unusable" for i in items)


def test_vasp_every_ionic_step(shared):
    from pymatgen.io.vasp import Vasprun

    root = shared / "data/vasp-outputs/GaN"
    items = {i.material_id: i for i in discover(root)}
    assert set(items) == {"Mg_Ga/bulk_sc", "Mg_Ga/q=0", "v_N_GaN/bulk", "v_N_GaN/q=0"}
    doc = read_reference(items["v_N_GaN/q=0"], "forces", "vasp:GaN")
    run = Vasprun(items["v_N_GaN/q=0"].path, parse_potcar_file=False)
    assert len(doc.configurations) == len(run.ionic_steps) == 8
    assert doc.configurations[0].n_atoms == 31
    np.testing.assert_allclose(doc.configurations[-1].forces, run.ionic_steps[-1]["forces"])
    assert doc.configurations[3].energy == pytest.approx(run.ionic_steps[3]["e_fr_energy"])
    # VASP stress (kbar, compressive > 0) -> eV/A^3 with ASE sign (tensile > 0)
    kbar = np.asarray(run.ionic_steps[0]["stress"])
    np.testing.assert_allclose(doc.configurations[0].arrays.stress, -kbar * 0.1 / 160.21766208)
    assert doc.dft_settings["functional"] == "PBEsol"
    assert doc.dft_settings["code"] == "VASP"


def _frames(energies=(-3.0, -3.1), forces_scale=0.1, material=None):
    frames = []
    for i, e in enumerate(energies):
        atoms = bulk("Cu", "fcc", a=3.6, cubic=True)
        atoms.rattle(0.05, seed=i)
        f = np.random.default_rng(i).normal(scale=forces_scale, size=(len(atoms), 3))
        atoms.calc = SinglePointCalculator(atoms, energy=e, forces=f)
        if material:
            atoms.info["material_id"] = material
        frames.append(atoms)
    return frames


def test_extxyz_groups_materials(tmp_path):
    path = tmp_path / "frames.extxyz"
    write(path, _frames(material="cu-a") + _frames(material="cu-b", energies=(-1.0,)))
    assert detect_format(path) == "extxyz"
    items = {i.material_id: i for i in discover(path)}
    assert set(items) == {"cu-a", "cu-b"}
    doc = read_reference(items["cu-a"], "forces", "extxyz:frames")
    assert len(doc.configurations) == 2
    assert doc.configurations[1].energy == pytest.approx(-3.1)


def test_extxyz_nan_forces_excluded_and_missing_forces_unusable(tmp_path):
    frames = _frames()
    frames[1].calc.results["forces"][0, 0] = np.nan
    write(tmp_path / "nan.extxyz", frames)
    (item,) = discover(tmp_path / "nan.extxyz")
    doc = read_reference(item, "forces", "x")
    assert [c.configuration_id for c in doc.configurations] == ["frame-0000"]
    assert "non-finite" in doc.excluded_configurations["frame-0001"]

    bare = bulk("Cu", "fcc", a=3.6, cubic=True)
    write(tmp_path / "bare.extxyz", [bare])
    (item,) = discover(tmp_path / "bare.extxyz")
    doc = read_reference(item, "forces", "x")
    assert doc.state == "unusable"
    assert "no forces stored" in doc.reason


def test_malformed_files_name_the_problem(tmp_path):
    bad = tmp_path / "broken.extxyz"
    bad.write_text("3\nnot an extxyz comment line\nCu 0 0\n")
    with pytest.raises(ReferenceFormatError, match="broken.extxyz"):
        discover(bad)
    with pytest.raises(ReferenceFormatError, match="does not exist"):
        discover(tmp_path / "nowhere")
    with pytest.raises(ReferenceFormatError, match="cannot tell the reference format"):
        (tmp_path / "notes.txt").write_text("hello")
        discover(tmp_path / "notes.txt")


def test_wbm_json_layout(tmp_path):
    atoms = bulk("Cu", "fcc", a=3.6, cubic=True)
    structure = AseAtomsAdaptor.get_structure(atoms)
    forces = np.full((4, 3), 0.1).tolist()
    data = {
        "wbm-1": {
            "0": {"structure": structure.as_dict(), "vasp_f": forces, "vasp_e": -3.0},
            "1": {"structure": repr(structure.as_dict()), "vasp_f": forces},
        },
        "wbm-2": {"0": {"structure": {"lattice": "nonsense"}, "vasp_f": forces}},
    }
    path = tmp_path / "he.json"
    path.write_text(json.dumps(data))
    items = {i.material_id: i for i in discover(path)}
    doc = read_reference(items["wbm-1"], "high-energy", "wbm-json:he")
    assert doc.state == "successful"
    assert len(doc.configurations) == 2
    assert doc.configurations[0].metadata["vasp_e"] == -3.0
    bad = read_reference(items["wbm-2"], "high-energy", "wbm-json:he")
    assert bad.state == "unusable"
    assert "malformed structure" in bad.reason and "[wbm-2][0]" in bad.reason


def test_unknown_material_lists_available(shared):
    with pytest.raises(ReferenceFormatError, match="mp-0 not in"):
        discover(shared / "data/phonons-pbe", materials=["mp-1519", "mp-0"])
