"""The M3GNet destination-sum fix follows the weights (their checksum), not the name.

DGL-era M3GNet weights (M3GNet-MP-2021.2.8-PES) are wrong for compounds under
matgl >= 3 unless the destination-sum fix is applied. It used to be applied only
to the registry name ``m3gnet-mp-2021.2.8``; the same folder passed by path ran
unfixed. These tests load the weights every way a user can and check that the
fix (and its record in provenance) comes with them, and that M3GNet weights of
unknown convention are refused rather than guessed.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from pymatgen.core import Lattice, Structure

from softbench.models import ModelSpec, get_model
from softbench.models.backends import m3gnet
from softbench.models.errors import ModelUnavailableError

DGL_STATE_SHA256 = "a9aa723705bd1a242ec8749332f137811c4a94e17995a564f8f94a9aca68061b"
EV_A3_TO_GPA = 160.21766


@pytest.fixture
def shared_weights(shared: Path) -> Path:
    folder = shared / "models" / "matgl" / "M3GNet-MP-2021.2.8-PES"
    if not (folder / "state.pt").exists():
        pytest.fail(f"M3GNet weights missing in {folder}")
    return folder


@pytest.fixture
def copied_weights(shared_weights: Path, tmp_path: Path) -> Path:
    """The same checkpoint under another name, somewhere else."""
    target = tmp_path / "elsewhere" / "my-m3gnet"
    shutil.copytree(shared_weights, target)
    for f in target.iterdir():
        f.chmod(0o644)
    return target


def nacl_rattled() -> Structure:
    """NaCl at its M3GNet lattice constant (a=5.69132 Å), one atom displaced."""
    s = Structure.from_spacegroup(
        "Fm-3m", Lattice.cubic(5.69132), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]]
    )
    s.translate_sites([0], [0.01, 0.005, 0.0], frac_coords=True)
    return s


def test_dgl_checkpoint_recognised_by_path_copy_and_name(shared_weights, copied_weights):
    by_name = get_model("m3gnet-mp-2021.2.8")
    by_path = get_model(str(shared_weights))
    by_copy = get_model(str(copied_weights))
    assert by_copy.options["path"] == str(copied_weights.resolve())
    for spec in (by_name, by_path, by_copy):
        conv = m3gnet.convention(spec)
        assert conv.checkpoint == "M3GNet-MP-2021.2.8-PES"
        assert conv.aggregation == m3gnet.DESTINATION and conv.needs_fix
        assert conv.state_sha256 == DGL_STATE_SHA256
        prov = spec.provenance()
        assert "destination-sum fix applied" in prov.source
        assert DGL_STATE_SHA256 in prov.source
    # same weights, same recorded checksum, wherever they lie
    assert len({s.provenance().weights_sha256 for s in (by_name, by_path, by_copy)}) == 1


def test_resaved_checkpoint_recognised_by_tensor_fingerprint(copied_weights):
    """torch.save writes other bytes for the same tensors; the fingerprint still matches."""
    import torch

    state = copied_weights / "state.pt"
    tensors = torch.load(state, map_location="cpu", weights_only=True)
    torch.save(tensors, state, _use_new_zipfile_serialization=False)
    assert m3gnet.file_sha256(state) != DGL_STATE_SHA256
    conv = m3gnet.convention(get_model(str(copied_weights)))
    assert conv.checkpoint == "M3GNet-MP-2021.2.8-PES" and conv.needs_fix


def _retrained(copied_weights: Path) -> Path:
    """The same architecture with other weights (stands in for unknown provenance)."""
    import torch

    state = copied_weights / "state.pt"
    tensors = torch.load(state, map_location="cpu", weights_only=True)
    key = next(k for k in tensors if k.endswith("weight"))
    tensors[key] = tensors[key] * 1.01
    torch.save(tensors, state)
    return copied_weights


def test_m3gnet_weights_of_unknown_convention_are_refused(copied_weights):
    folder = _retrained(copied_weights)
    with pytest.raises(ModelUnavailableError, match="cannot tell whether the M3GNet weights"):
        get_model(str(folder))
    spec = ModelSpec(
        name="retrained-m3gnet",
        family="m3gnet",
        version="test",
        source="test",
        package="matgl",
        options={"path": str(folder)},
    )
    with pytest.raises(ModelUnavailableError, match="aggregation"):
        spec.load("cpu")
    for declared, fixed in ((m3gnet.SOURCE, False), (m3gnet.DESTINATION, True)):
        ok = ModelSpec(
            **{**spec.to_dict(), "options": {"path": str(folder), "aggregation": declared}}
        )
        conv = m3gnet.convention(ok)
        assert conv.aggregation == declared and conv.needs_fix is fixed
        assert "declared" in ok.provenance().source


def test_known_weights_win_over_the_name_or_a_declaration(copied_weights):
    spec = ModelSpec(
        name="m3gnet-by-another-name",
        family="m3gnet",
        version="test",
        source="test",
        package="matgl",
        options={"path": str(copied_weights), "aggregation": m3gnet.SOURCE},
    )
    assert m3gnet.convention(spec).needs_fix


@pytest.mark.slow
def test_path_loaded_dgl_weights_predict_what_the_registry_name_predicts(copied_weights):
    """Energy, forces, stress of a displaced NaCl: copy by path == registry name == fixed."""
    import matgl
    from matgl.ext.ase import PESCalculator
    from pymatgen.io.ase import AseAtomsAdaptor

    s = nacl_rattled()
    by_name = get_model("m3gnet-mp-2021.2.8").load("cpu").predict([s])[0]
    by_copy = get_model(str(copied_weights)).load("cpu").predict([s])[0]
    np.testing.assert_allclose(by_copy.forces, by_name.forces, atol=1e-5)
    assert by_copy.energy == pytest.approx(by_name.energy, abs=1e-4)
    # the fixed numbers: -3.37 eV/atom and ~0 GPa at the M3GNet lattice constant
    assert by_copy.energy / len(s) == pytest.approx(-3.37, abs=0.05)
    assert abs(np.trace(by_copy.stress) / 3 * EV_A3_TO_GPA) < 1.0
    # and plain matgl on the same folder is what the fix changes
    atoms = AseAtomsAdaptor.get_atoms(s)
    atoms.calc = PESCalculator(matgl.load_model(copied_weights), stress_unit="eV/A3")
    assert np.abs(atoms.get_forces() - by_copy.forces).max() > 1e-3
    assert atoms.get_potential_energy() / len(s) > -2.0
