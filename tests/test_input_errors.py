"""Known input problems: status 2, exactly one line on stderr naming the problem.

README: "Known input problems (unknown model, unreadable file, missing material)
exit with status 2 and one line naming the problem". Every case runs
``python -m softbench.cli`` in a subprocess, as a user would, on a fresh store in
a tmp dir; every error comes before any model is evaluated, so the file is fast.
Per-material problems inside a folder stay documents (last test).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

PHONONS = "data/phonons-pbe"
M3GNET = "models/matgl/M3GNet-MP-2021.2.8-PES"


def softbench(*args: str, store: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SOFTBENCH_STORE": str(store)}
    return subprocess.run(
        [sys.executable, "-m", "softbench.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=300,
    )


@pytest.fixture(scope="module")
def bad_inputs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Broken files, made once: empty, truncated, malformed."""
    root = tmp_path_factory.mktemp("bad-inputs")
    shared = Path(os.environ["SOFTBENCH_SHARED"])
    good_xz = (shared / PHONONS / "mp-1519" / "phonopy.yaml.xz").read_bytes()
    (root / "empty.yaml").write_text("")
    (root / "truncated.yaml.xz").write_bytes(good_xz[: len(good_xz) // 2])
    (root / "malformed.yaml").write_text("phonopy:\n  version: [2.21\nunit_cell: {\n")
    (root / "frames.extxyz").write_text("2\ngarbage\nCu 0 0 0\n")
    (root / "broken.cif").write_text("data_broken\n_cell_length_a five\nloop_\n_atom_site_label\n")
    (root / "POSCAR").write_text("not a poscar\n1.0\n1 0 0\n0 1\n")
    (root / "empty.json").write_text("")
    (root / "NaCl.vasp").write_text(
        "NaCl\n1.0\n0 2.8 2.8\n2.8 0 2.8\n2.8 2.8 0\nNa Cl\n1 1\ndirect\n0 0 0 Na\n0.5 0.5 0.5 Cl\n"
    )
    return root


@pytest.fixture(scope="module")
def unknown_m3gnet(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """M3GNet weights whose training convention softbench cannot tell (retrained)."""
    import torch

    shared = Path(os.environ["SOFTBENCH_SHARED"])
    folder = tmp_path_factory.mktemp("weights") / "retrained-m3gnet"
    shutil.copytree(shared / M3GNET, folder)
    for f in folder.iterdir():
        f.chmod(0o644)
    state = torch.load(folder / "state.pt", map_location="cpu", weights_only=True)
    key = next(k for k in state if k.endswith("weight"))
    state[key] = state[key] * 1.01
    torch.save(state, folder / "state.pt")
    return folder


# (id, arguments, words the one error line must contain). {shared}, {bad} and
# {m3gnet} are filled in per test; "chgnet-0.3.0" is only looked up, never loaded.
CASES = [
    (
        "unknown-model",
        "run forces --reference {shared}/data/phonons-pbe/mp-1519 --models chgnet-9",
        ["unknown model 'chgnet-9'", "sevennet-0"],
    ),
    (
        "missing-material-in-folder",
        "run forces --reference {shared}/data/phonons-pbe --materials mp-doesnotexist "
        "--models chgnet-0.3.0",
        ["mp-doesnotexist", "phonons-pbe"],
    ),
    (
        "missing-material-phonons",
        "run phonons --reference {shared}/data/phonons-pbe --materials mp-1519,mp-doesnotexist "
        "--models chgnet-0.3.0",
        ["mp-doesnotexist"],
    ),
    (
        "missing-material-elastic",
        "run elastic --reference mp-elasticity --materials mp-doesnotexist --models chgnet-0.3.0",
        ["mp-doesnotexist"],
    ),
    (
        "missing-material-structures",
        "run high-energy --structures {bad}/NaCl.vasp --materials mp-nope --no-dft",
        ["mp-nope", "NaCl.vasp"],
    ),
    (
        "reference-does-not-exist",
        "run forces --reference {bad}/nowhere/phonopy.yaml --models chgnet-0.3.0",
        ["nowhere/phonopy.yaml", "does not exist"],
    ),
    (
        "phonon-reference-does-not-exist",
        "run phonons --reference {bad}/nowhere --models chgnet-0.3.0",
        ["nowhere", "does not exist"],
    ),
    (
        "elastic-reference-does-not-exist",
        "run elastic --reference {bad}/nowhere.json --models chgnet-0.3.0",
        ["nowhere.json"],
    ),
    (
        "structures-do-not-exist",
        "run high-energy --structures {bad}/nowhere.cif --no-dft",
        ["nowhere.cif", "does not exist"],
    ),
    (
        "unknown-format",
        "run forces --reference {bad}/empty.yaml --format nosuchformat --models chgnet-0.3.0",
        ["nosuchformat"],
    ),
    (
        "empty-yaml",
        "run forces --reference {bad}/empty.yaml --models chgnet-0.3.0",
        ["empty.yaml", "empty"],
    ),
    (
        "truncated-xz",
        "run forces --reference {bad}/truncated.yaml.xz --models chgnet-0.3.0",
        ["truncated.yaml.xz", "LZMAError"],
    ),
    (
        "truncated-xz-phonons",
        "run phonons --reference {bad}/truncated.yaml.xz --models chgnet-0.3.0",
        ["truncated.yaml.xz", "LZMAError"],
    ),
    (
        "malformed-yaml",
        "run forces --reference {bad}/malformed.yaml --models chgnet-0.3.0",
        ["malformed.yaml"],
    ),
    (
        "malformed-extxyz",
        "run forces --reference {bad}/frames.extxyz --models chgnet-0.3.0",
        ["frames.extxyz"],
    ),
    (
        "malformed-structure-file",
        "run high-energy --structures {bad}/broken.cif --no-dft",
        ["broken.cif"],
    ),
    (
        "malformed-poscar",
        "run high-energy --structures {bad}/POSCAR --no-dft",
        ["POSCAR"],
    ),
    (
        "empty-elastic-json",
        "run elastic --reference {bad}/empty.json --models chgnet-0.3.0",
        ["empty.json"],
    ),
    (
        "negative-sample",
        "run elastic --reference mp-elasticity --sample -1 --models chgnet-0.3.0",
        ["--sample", "positive integer", "-1"],
    ),
    (
        "zero-sample",
        "run elastic --reference mp-elasticity --sample 0 --models chgnet-0.3.0",
        ["--sample", "positive integer"],
    ),
    (
        "sample-not-a-number",
        "run elastic --reference mp-elasticity --sample ten --models chgnet-0.3.0",
        ["--sample", "integer", "ten"],
    ),
    (
        "zero-max-atoms",
        "run elastic --reference mp-elasticity --max-atoms 0 --models chgnet-0.3.0",
        ["--max-atoms"],
    ),
    (
        "negative-fmax",
        "run elastic --reference mp-elasticity --fmax -0.01 --models chgnet-0.3.0",
        ["--fmax", "positive"],
    ),
    (
        "high-energy-negative-sample",
        "run high-energy --structures wbm-equilibrium --sample -3 --no-dft",
        ["--sample", "-3"],
    ),
    (
        "negative-md-steps",
        "run high-energy --structures wbm-equilibrium --md-steps -5 --no-dft",
        ["--md-steps", "-5"],
    ),
    (
        "zero-frames",
        "run high-energy --structures wbm-equilibrium --frames 0 --no-dft",
        ["--frames"],
    ),
    (
        "negative-strained",
        "run high-energy --structures wbm-equilibrium --strained -1 --no-dft",
        ["--strained"],
    ),
    (
        "zero-time-step",
        "run high-energy --structures wbm-equilibrium --time-step 0 --no-dft",
        ["--time-step"],
    ),
    (
        "zero-relax-steps",
        "run phonons --reference {shared}/data/phonons-pbe --relax-steps 0 --models chgnet-0.3.0",
        ["--relax-steps"],
    ),
    (
        "nan-phonon-fmax",
        "run phonons --reference {shared}/data/phonons-pbe --fmax nan --models chgnet-0.3.0",
        ["--fmax", "nan"],
    ),
    (
        "m3gnet-weights-of-unknown-convention",
        "run forces --reference {shared}/data/phonons-pbe/mp-1519 --models {m3gnet}",
        ["retrained-m3gnet", "cannot tell", "aggregation"],
    ),
]


@pytest.mark.parametrize(("args", "words"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_input_error_is_one_line_and_status_2(
    args: str, words: list[str], shared: Path, bad_inputs: Path, tmp_path: Path, request
) -> None:
    m3gnet = request.getfixturevalue("unknown_m3gnet") if "{m3gnet}" in args else ""
    argv = args.format(shared=shared, bad=bad_inputs, m3gnet=m3gnet).split()
    out = softbench(*argv, store=tmp_path / "store", cwd=tmp_path)
    lines = out.stderr.splitlines()
    assert out.returncode == 2, out.stderr[-2000:]
    assert len(lines) == 1, out.stderr[-2000:]
    assert "Traceback" not in out.stderr
    assert "error" in lines[0]
    for word in words:
        assert word in lines[0], lines[0]
    assert out.stdout == ""


def test_unreadable_files_inside_a_folder_stay_per_material_documents(
    bad_inputs: Path, tmp_path: Path
) -> None:
    """A folder of many materials: a broken file fails its material, not the command."""
    folder = tmp_path / "phonons"
    (folder / "mp-truncated").mkdir(parents=True)
    (folder / "mp-empty").mkdir()
    shutil.copy(bad_inputs / "truncated.yaml.xz", folder / "mp-truncated" / "phonopy.yaml.xz")
    shutil.copy(bad_inputs / "empty.yaml", folder / "mp-empty" / "phonopy.yaml")
    store = tmp_path / "store"
    out = softbench(
        "run", "forces", "--reference", str(folder), "--models", "chgnet-0.3.0",
        store=store, cwd=tmp_path,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    query = softbench("query", "softening", "--format", "json", store=store, cwd=tmp_path)
    docs = {d["material_id"]: d for d in json.loads(query.stdout)}
    assert set(docs) == {"mp-truncated", "mp-empty"}
    assert all(d["state"] == "failed" for d in docs.values())
    assert "truncated" in docs["mp-truncated"]["reason"]
    assert "LZMAError" in docs["mp-truncated"]["reason"]
    assert "empty" in docs["mp-empty"]["reason"]
