"""`softbench demo` smoke test: one material (CaTe, 2 displacements), one model."""

from __future__ import annotations

import re

import pytest


def test_demo_prints_the_softening_table_and_writes_the_figure(
    shared, disk_store, tmp_path, capsys
):
    from softbench.cli import main

    out = tmp_path / "figures"
    argv = ["demo", "--materials", "mp-1519", "--models", "sevennet-0"]
    assert main([*argv, "--store", disk_store, "--out", str(out)]) == 0
    captured = capsys.readouterr()
    text = captured.out

    # the per-material softening table: a header and one successful row
    header = next(line for line in text.splitlines() if line.startswith("material_id"))
    columns = header.split()
    assert columns[:6] == ["material_id", "formula", "model", "reference", "task", "state"]
    assert "softening_scale" in columns and "force_cmae" in columns
    rows = [line.split() for line in text.splitlines() if line.startswith("mp-1519 ")]
    assert len(rows) == 1, text
    row = rows[0]
    expected = ["mp-1519", "CaTe", "sevennet-0", "phonopy:phonons-pbe", "forces", "successful"]
    assert row[:6] == expected
    scale = float(row[columns.index("softening_scale")])
    assert 0.3 < scale < 1.5  # a slope of real model vs real DFT forces, not a placeholder
    assert row[-2:] == ["3072", "2"]  # 512 atoms x 3 components x 2 displacements

    # the per-model summary follows
    assert re.search(r"^forces\s+sevennet-0\s+phonopy:phonons-pbe\s+1\s+1\s+0\s", text, re.M)

    # and the parity figure
    figure = out / "force_parity_forces.png"
    assert f"parity plot: {figure}" in text
    assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    import matplotlib.image

    image = matplotlib.image.imread(figure)
    assert image.shape[0] > 100 and image.shape[1] > 100
    assert "DFT-PBE phonon displacement forces" in captured.err


@pytest.fixture(autouse=True)
def _figures_without_display(monkeypatch):
    monkeypatch.setenv("MPLBACKEND", "Agg")
