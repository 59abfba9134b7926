"""Elastic softening end to end: CLI run/query/report with a real model, and the
batched model job against atomate2's force-field ElasticMaker (one job per strain)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from ase.build import bulk
from pinned import CHGNET, K_VRH, REL, TIFE
from pymatgen.io.ase import AseAtomsAdaptor

from softbench.cli import main
from softbench.makers.elastic import predict_elastic, standard_cell
from softbench.schemas.elastic import ElasticReferenceDocument

SMALL = "mp-305,mp-1055"  # TiFe (B2) and CdSe (rock salt): 2 atoms, 6 strained cells each


def _atomate2_tensor(structure, model: str):
    from atomate2.forcefields.flows.elastic import ElasticMaker
    from atomate2.forcefields.jobs import ForceFieldRelaxMaker
    from jobflow import run_locally

    from softbench.models.calculator import ATOMATE2_CALCULATOR

    kw = {
        "force_field_name": ATOMATE2_CALCULATOR,
        "calculator_kwargs": {"model": model},
        "relax_kwargs": {"fmax": 1e-4},
        "fix_symmetry": True,
    }
    maker = ElasticMaker(
        bulk_relax_maker=ForceFieldRelaxMaker(relax_cell=True, **kw),
        elastic_relax_maker=ForceFieldRelaxMaker(relax_cell=False, **kw),
    )
    flow = maker.make(structure)
    responses = run_locally(flow, ensure_success=True, log=False)
    return responses[flow.output.uuid][1].output


def _ours(structure, model: str):
    ref = ElasticReferenceDocument(
        material_id="x",
        reference="t",
        source="t",
        structure=structure,
        k_vrh_gpa=1.0,
        g_vrh_gpa=1.0,
    )
    doc = predict_elastic(ref, model)
    assert doc.state == "successful", doc.reason
    return doc


@pytest.mark.parametrize(
    ("model", "tol_gpa"),
    [
        ("ase:ase.calculators.emt.EMT", 0.5),
        pytest.param("chgnet-0.3.0", 1.0, marks=pytest.mark.slow),
    ],
)
def test_batched_job_matches_atomate2_forcefield_elastic_maker(
    model, tol_gpa, shared, tmp_path, monkeypatch
):
    """Same tensor as atomate2's reference implementation (FIRE, one job per strain)."""
    from softbench.ingest import elastic as ingest

    monkeypatch.chdir(tmp_path)  # atomate2 writes final_atoms_object.xyz into the cwd
    if model.startswith("ase:"):
        structure = AseAtomsAdaptor.get_structure(bulk("Cu", "hcp", a=2.55, c=4.16))
    else:
        path = shared / "data/mp-elasticity/mp-binary-pbe-elasticity-2025.1.json.gz"
        structure = ingest.read(ingest.discover(path, ["mp-305"])[0], "t").structure
    structure = standard_cell(structure)
    theirs = _atomate2_tensor(structure, model)
    ours = _ours(structure, model)
    np.testing.assert_allclose(ours.elastic_tensor, theirs.elastic_tensor.ieee_format, atol=tol_gpa)
    assert ours.k_vrh_gpa == pytest.approx(theirs.derived_properties.k_vrh, rel=0.01)
    assert ours.g_vrh_gpa == pytest.approx(theirs.derived_properties.g_vrh, rel=0.01)
    # same strain set, symmetry-reduced the same way (one atomate2 job per strained cell)
    assert len(ours.deformations) == len(set(theirs.fitting_data.uuids))


@pytest.mark.slow
def test_cli_run_query_report_and_rerun(shared, disk_store, tmp_path, capsys):
    ref = str(shared / "data/mp-elasticity/mp-binary-pbe-elasticity-2025.1.json.gz")
    args = [
        "run",
        "elastic",
        "--reference",
        ref,
        "--materials",
        SMALL,
        "--models",
        "chgnet-0.3.0",
        "--store",
        disk_store,
    ]
    assert main(args) == 0
    out = capsys.readouterr()
    assert "mp-305" in out.out and "mp-1055" in out.out
    assert "summary over these 2 material(s)" in out.out and "median_k_ratio" in out.out

    assert main(["query", "elastic", "--format", "json", "--store", disk_store]) == 0
    docs = json.loads(capsys.readouterr().out)
    assert {d["material_id"] for d in docs} == {"mp-305", "mp-1055"}
    for d in docs:
        for key in (
            "material_id",
            "model",
            "k_vrh_gpa",
            "g_vrh_gpa",
            "dft_k_vrh_gpa",
            "dft_g_vrh_gpa",
        ):
            assert d[key] is not None, key
        assert d["model"] == "chgnet-0.3.0" and d["state"] == "successful"
        assert d["k_ratio"] == pytest.approx(d["k_vrh_gpa"] / d["dft_k_vrh_gpa"])
    tife = next(d for d in docs if d["material_id"] == "mp-305")
    assert tife["dft_k_vrh_gpa"] == pytest.approx(198.706, abs=0.01)
    assert tife["k_vrh_gpa"] == pytest.approx(K_VRH[(TIFE, CHGNET)], rel=REL)

    assert main(["query", "elastic-summary", "--format", "json", "--store", disk_store]) == 0
    (summary,) = json.loads(capsys.readouterr().out)
    assert summary["n_materials"] == 2 and summary["model"] == "chgnet-0.3.0"

    out_dir = tmp_path / "report"
    assert main(["report", "elastic", "--out", str(out_dir), "--store", disk_store]) == 0
    written = capsys.readouterr().out.split()
    assert sorted(p.rsplit("/", 1)[-1] for p in written) == [
        "elastic_parity_g.png",
        "elastic_parity_k.png",
        "elastic_ratio_hist.png",
    ]
    assert all((out_dir / p.rsplit("/", 1)[-1]).stat().st_size > 10_000 for p in written)

    # a rerun reuses the stored references and predictions: no new model job
    assert main(args) == 0
    err = capsys.readouterr().err
    assert "2 reference(s) and 2 prediction(s) reused; running 0 job(s)" in err


def test_cli_rejects_unknown_reference(capsys):
    assert (
        main(
            [
                "run",
                "elastic",
                "--reference",
                "no-such-file.json",
                "--models",
                "chgnet-0.3.0",
                "--store",
                "memory",
            ]
        )
        == 2
    )
    assert "neither a file nor a data set" in capsys.readouterr().err
