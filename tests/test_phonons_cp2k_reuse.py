"""`run phonons --dft cp2k` reruns: stored CP2K references and model work are reused.

CP2K is replaced by EMT (a stand-in for ``Cp2kRunner.compute``), so the flow, the
reuse lookup and the phonon builder run for real in seconds on fcc Al.
"""

from __future__ import annotations

import numpy as np
import pytest
from pymatgen.core import Lattice, Structure

from softbench.cli import main

EMT = "ase:ase.calculators.emt.EMT"


class _EmtCp2k:
    """Stands in for CP2K: EMT energies and forces; counts the runs."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch):
        from softbench.makers.cp2k import phonons, runner

        self.calls = 0

        def compute(_runner, atoms, kpoints, eps_scf=None, stress=True):
            from ase.calculators.emt import EMT as Emt

            self.calls += 1
            atoms = atoms.copy()
            atoms.calc = Emt()
            stress_ = atoms.get_stress(voigt=False) if stress else None
            forces = atoms.get_forces()
            return runner.Cp2kResult(atoms.get_potential_energy(), forces, stress_, True)

        monkeypatch.setattr(runner, "cp2k_problem", lambda ranks=None: None)
        monkeypatch.setattr(phonons.Cp2kRunner, "compute", compute)


def _second_emt() -> str:
    from softbench.models import ModelSpec, register

    spec = ModelSpec(
        name="emt-b",
        family="ase",
        version="1",
        source="test: EMT again under another name",
        options={"import_path": "ase.calculators.emt.EMT"},
    )
    return register(spec, overwrite=True).name


def _count_dft_phonons(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Material ids of the phonon builder's DFT phonon calculations, in order."""
    from softbench.builders import phonons

    seen: list[str] = []
    real = phonons.dft_phonons

    def counted(ref):
        seen.append(ref.material_id)
        return real(ref)

    monkeypatch.setattr(phonons, "dft_phonons", counted)
    return seen


def _references(stores) -> list[dict]:
    return list(stores.jobs.query({"output.doc_type": "reference"}, properties=["uuid", "output"]))


def _predictions(stores) -> list[tuple[str, str, str]]:
    docs = stores.jobs.query(
        {"output.model.name": {"$exists": True}},
        properties=["output.task", "output.model.name", "output.reference_uuid"],
    )
    return [
        (d["output"]["task"], d["output"]["model"]["name"], d["output"]["reference_uuid"])
        for d in docs
    ]


def test_rerun_reuses_reference_and_model_work(monkeypatch, stores, tmp_path, capsys):
    al = tmp_path / "Al.cif"
    Structure.from_spacegroup("Fm-3m", Lattice.cubic(4.05), ["Al"], [[0, 0, 0]]).to(
        filename=str(al)
    )
    cp2k = _EmtCp2k(monkeypatch)
    b = _second_emt()
    dft = _count_dft_phonons(monkeypatch)
    argv = ["run", "phonons", "--structures", str(al), "--dft", "cp2k", "--min-length", "3",
            "--mode", "both", "--store", "memory", "--work-dir", str(tmp_path / "w")]  # fmt: skip

    assert main([*argv, "--models", EMT]) == 0
    assert "0 reference(s) and 0 prediction(s) reused; running 3 job(s)" in capsys.readouterr().err
    first_calls = cp2k.calls
    assert dft == ["Al"]  # --mode both: one phonon builder pass, the DFT phonons once
    assert first_calls > 1  # element validation and the displaced supercell
    (ref,) = _references(stores)
    assert ref["output"]["input_key"] and ref["output"]["state"] == "successful"

    assert main([*argv, "--models", f"{EMT},{b}"]) == 0
    err = capsys.readouterr().err
    assert "1 reference(s) and 2 prediction(s) reused; running 2 job(s)" in err
    assert cp2k.calls == first_calls  # no CP2K the second time
    assert dft == ["Al", "Al"]
    assert len(_references(stores)) == 1
    preds = _predictions(stores)
    assert sorted(p[:2] for p in preds) == sorted(
        (task, m) for task in ("phonons-fixed", "phonons-relaxed") for m in (EMT, b)
    )
    assert {p[2] for p in preds} == {ref["uuid"]}  # B's jobs on the stored reference
    docs = {(d["model"], d["mode"]): d for d in stores.collection("phonons").query({})}
    for mode in ("fixed", "relaxed"):
        assert docs[(b, mode)]["reference_uuid"] == ref["uuid"]
        assert docs[(b, mode)]["state"] == "successful", docs[(b, mode)].get("reason")
    assert docs[(b, "fixed")]["softening_scale"] == pytest.approx(1.0)  # force parity built
    ratio = docs[(b, "fixed")]["max_freq_ratio"]  # EMT against EMT's own "DFT"
    assert ratio == pytest.approx(docs[(EMT, "fixed")]["max_freq_ratio"])
    assert ratio == pytest.approx(1.0, abs=1e-6)

    # --min-length 5 keeps the 2x2x2 supercell: reused; 8 makes it 3x3x3: computed
    assert main([*argv[:7], "5", *argv[8:], "--models", EMT, "--mode", "fixed"]) == 0
    assert "1 reference(s) and 1 prediction(s) reused" in capsys.readouterr().err
    assert cp2k.calls == first_calls
    assert main([*argv[:7], "8", *argv[8:], "--models", EMT, "--mode", "fixed"]) == 0
    assert "0 reference(s) and 0 prediction(s) reused" in capsys.readouterr().err
    assert cp2k.calls > first_calls
    refs = _references(stores)
    assert len(refs) == 2
    matrices = sorted(np.diag(r["output"]["dft_settings"]["supercell_matrix"])[0] for r in refs)
    assert matrices == [2, 3]
    # each fixed-mode document keeps the reference its prediction was computed on: B (not
    # rerun) stays on the 2x2x2 one, EMT moves to the new 3x3x3 one
    (new_ref,) = [r for r in refs if r["uuid"] != ref["uuid"]]
    docs = {(d["model"], d["mode"]): d for d in stores.collection("phonons").query({})}
    assert docs[(b, "fixed")]["reference_uuid"] == ref["uuid"]
    assert docs[(EMT, "fixed")]["reference_uuid"] == new_ref["uuid"]

    calls = cp2k.calls
    assert main([*argv, "--models", EMT, "--rerun"]) == 0
    assert "0 reference(s) and 0 prediction(s) reused; running 3 job(s)" in capsys.readouterr().err
    assert cp2k.calls > calls and len(_references(stores)) == 3
