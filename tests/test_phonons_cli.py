"""Bad input through `softbench run phonons`, fast (no uMLIP weights loaded).

ASE's EMT has no Ca potential, so it fails on CaTe in both modes; mp-2809's yaml has
no displacement forces. Both must come back as documents with reasons.
"""

from __future__ import annotations

import json

from softbench.cli import main

EMT = "ase:ase.calculators.emt.EMT"


def test_failures_and_unusable_are_reported(shared, stores, capsys):
    # `stores` resets the in-process memory store the CLI's --store memory uses
    argv = ["run", "phonons", "--reference", str(shared / "data/phonons-pbe"),
            "--materials", "mp-1519,mp-2809", "--models", EMT, "--mode", "both",
            "--store", "memory"]  # fmt: skip
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert "mp-2809 unusable: reference unusable" in err
    assert "failed: " in err and "No EMT-potential for Ca" in err
    assert main(["query", "phonons", "--format", "json", "--store", "memory"]) == 0
    docs = {(d["material_id"], d["mode"]): d for d in json.loads(capsys.readouterr().out)}
    assert set(docs) == {(m, mode) for m in ("mp-1519", "mp-2809") for mode in ("fixed", "relaxed")}
    for mode in ("fixed", "relaxed"):
        assert docs[("mp-1519", mode)]["state"] == "failed"
        assert "No EMT-potential for Ca" in docs[("mp-1519", mode)]["reason"]
        assert docs[("mp-2809", mode)]["state"] == "unusable"
        assert "has no displacement dataset" in docs[("mp-2809", mode)]["reason"]
    assert main(["query", "phonon-summary", "--format", "json", "--store", "memory"]) == 0
    for summary in json.loads(capsys.readouterr().out):
        assert summary["n_failed"] == 1 and summary["n_unusable"] == 1
        assert summary["fraction_softened"] is None
