"""Elastic softening: numerics, signs, an independent EMT check, failures, builders."""

from __future__ import annotations

import gzip
import json

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.emt import EMT
from ase.units import GPa
from pymatgen.core import Lattice, Structure
from pymatgen.io.ase import AseAtomsAdaptor

from softbench.analysis.elastic import (
    ase_stress_to_gpa,
    elastic_deformations,
    elastic_softening,
    fit_elastic_tensor,
    moduli,
)
from softbench.makers.elastic import predict_elastic
from softbench.schemas.elastic import ElasticReferenceDocument, ElasticSofteningDocument

EMT_MODEL = "ase:ase.calculators.emt.EMT"


def reference(atoms, mid="x", k=100.0, g=50.0, tensor=None):
    return ElasticReferenceDocument(
        material_id=mid,
        reference="test",
        source="test",
        structure=AseAtomsAdaptor.get_structure(atoms),
        k_vrh_gpa=k,
        g_vrh_gpa=g,
        elastic_tensor=tensor,
    )


# ------------------------------------------------------------------ units and signs


def test_ase_stress_conversion_units_order_and_sign():
    voigt = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0]) * 1e-3  # xx yy zz yz xz xy, eV/Å³
    m = ase_stress_to_gpa(voigt)
    assert m[0, 0] == pytest.approx(1e-3 / GPa)
    assert m[1, 2] == m[2, 1] == pytest.approx(4e-3 / GPa)
    assert m[0, 2] == pytest.approx(5e-3 / GPa) and m[0, 1] == pytest.approx(6e-3 / GPa)
    # atomate2 stores ASE stresses as kbar with VASP's sign (compressive > 0) and
    # multiplies by -0.1 before fitting: our GPa must equal that.
    from atomate2.ase.schemas import convert_stress_from_voigt_to_symm

    kbar = np.array(convert_stress_from_voigt_to_symm(voigt))
    np.testing.assert_allclose(m, -0.1 * kbar, rtol=1e-12)

    # a compressed crystal pushes outward: compressive (negative) stress, positive pressure
    atoms = bulk("Cu", "fcc", a=3.55)
    atoms.calc = EMT()
    atoms.set_cell(atoms.cell * 0.99, scale_atoms=True)
    sigma = ase_stress_to_gpa(atoms.get_stress())
    assert np.all(np.diag(sigma) < 0) and -np.trace(sigma) / 3 > 1.0


def test_fit_recovers_a_known_tensor_with_atomate2_strains():
    """Synthetic linear material: PK2 = C:E, Cauchy = F S F^T / det F."""
    from pymatgen.analysis.elasticity import Deformation, ElasticTensor

    c = np.array(
        [
            [200, 80, 60, 0, 0, 0],
            [80, 180, 70, 0, 0, 0],
            [60, 70, 160, 0, 0, 0],
            [0, 0, 0, 50, 0, 0],
            [0, 0, 0, 0, 40, 0],
            [0, 0, 0, 0, 0, 30],
        ],
        dtype=float,
    )
    full = ElasticTensor.from_voigt(c)
    # orthorhombic cell with c < a < b along z, x, y: already IEEE-oriented, and its
    # symmetry (mmm) allows this tensor, so convert_to_ieee's symmetrisation keeps it
    structure = Structure(Lattice.orthorhombic(3.3, 3.6, 3.0), ["Cu"], [[0, 0, 0]])
    defs = elastic_deformations(structure, sym_reduce=False)
    assert len(defs) == 24
    stresses = []
    for d in defs:
        f = np.asarray(Deformation(d))
        e = Deformation(d).green_lagrange_strain
        s = np.einsum("ijkl,kl->ij", np.asarray(full), np.asarray(e))
        stresses.append(f @ s @ f.T / np.linalg.det(f))
    fitted = fit_elastic_tensor(structure, defs, stresses, symprec=None)
    np.testing.assert_allclose(fitted.voigt, c, atol=0.05)
    # stresses of the wrong sign give a negative-definite tensor, flagged unstable
    flipped = fit_elastic_tensor(structure, defs, [-s for s in stresses], symprec=None)
    assert not moduli(flipped.voigt).stable


def _voigt_reuss_by_hand(c: np.ndarray) -> dict[str, float]:
    """Textbook Voigt and Reuss sums (Hill 1952), written out independently of pymatgen."""
    s = np.linalg.inv(c)
    k_v = (c[0, 0] + c[1, 1] + c[2, 2] + 2 * (c[0, 1] + c[1, 2] + c[0, 2])) / 9
    g_v = (
        c[0, 0] + c[1, 1] + c[2, 2] - (c[0, 1] + c[1, 2] + c[0, 2]) + 3 * np.trace(c[3:, 3:])
    ) / 15
    k_r = 1 / (s[0, 0] + s[1, 1] + s[2, 2] + 2 * (s[0, 1] + s[1, 2] + s[0, 2]))
    g_r = 15 / (
        4 * (s[0, 0] + s[1, 1] + s[2, 2])
        - 4 * (s[0, 1] + s[1, 2] + s[0, 2])
        + 3 * np.trace(s[3:, 3:])
    )
    return {"k_voigt": k_v, "g_voigt": g_v, "k_reuss": k_r, "g_reuss": g_r}


def _cubic(c11: float, c12: float, c44: float) -> np.ndarray:
    c = np.zeros((6, 6))
    c[:3, :3] = c12
    c[np.diag_indices(3)] = c11
    c[3:, 3:] = np.eye(3) * c44
    return c


def test_moduli_agree_with_closed_forms_on_analytic_tensors():
    """The library moduli against analytic values: isotropic, cubic, general anisotropic."""
    # isotropic: Voigt = Reuss = Hill = the K and G the tensor was built from
    k, g = 120.0, 45.0
    m = moduli(_cubic(k + 4 * g / 3, k - 2 * g / 3, g))
    for name in ("k_voigt", "k_reuss", "k_vrh"):
        assert getattr(m, name) == pytest.approx(k, rel=1e-12)
    for name in ("g_voigt", "g_reuss", "g_vrh"):
        assert getattr(m, name) == pytest.approx(g, rel=1e-12)
    # eigenvalues of the isotropic Voigt matrix: C44 = G (3x), C11 - C12 = 2G (2x), 3K
    np.testing.assert_allclose(sorted(m.eigenvalues), [g] * 3 + [2 * g] * 2 + [3 * k], rtol=1e-12)
    assert m.stable

    # cubic (fcc Cu-like): K_V = K_R = (C11 + 2 C12)/3 and the closed-form shear bounds
    c11, c12, c44 = 170.0, 122.0, 75.0
    m = moduli(_cubic(c11, c12, c44))
    g_v = (c11 - c12 + 3 * c44) / 5
    g_r = 5 * (c11 - c12) * c44 / (4 * c44 + 3 * (c11 - c12))
    assert m.k_voigt == pytest.approx((c11 + 2 * c12) / 3, rel=1e-12)
    assert m.k_reuss == pytest.approx((c11 + 2 * c12) / 3, rel=1e-12)
    assert m.g_voigt == pytest.approx(g_v, rel=1e-12)
    assert m.g_reuss == pytest.approx(g_r, rel=1e-12)
    assert m.g_vrh == pytest.approx((g_v + g_r) / 2, rel=1e-12)
    # cubic Born criteria: C11 - C12 > 0, C11 + 2 C12 > 0, C44 > 0
    assert m.stable
    assert not moduli(_cubic(120.0, 130.0, 50.0)).stable  # C' < 0 (like EMT bcc Cu)

    # general (triclinic) positive-definite tensor: the textbook sums
    rng = np.random.default_rng(3)
    a = rng.normal(size=(6, 6))
    c = a @ a.T * 20 + 30 * np.eye(6)
    m, hand = moduli(c), _voigt_reuss_by_hand(c)
    for name, value in hand.items():
        assert getattr(m, name) == pytest.approx(value, rel=1e-12)
    assert m.k_vrh == pytest.approx((hand["k_voigt"] + hand["k_reuss"]) / 2, rel=1e-12)
    assert m.g_vrh == pytest.approx((hand["g_voigt"] + hand["g_reuss"]) / 2, rel=1e-12)
    assert m.k_reuss <= m.k_voigt and m.g_reuss <= m.g_voigt  # Hill's bounds
    np.testing.assert_allclose(m.eigenvalues, np.linalg.eigvalsh(c), rtol=1e-12)
    assert m.stable
    bad = c.copy()
    bad[3, 3] = -5.0
    assert not moduli(bad).stable and min(moduli(bad).eigenvalues) < 0


def test_relax_is_plain_ase_bfgs_frechet_fixsymmetry():
    """atomate2's AseRelaxer runs the same protocol as a hand-written ASE loop."""
    from ase.constraints import FixSymmetry
    from ase.filters import FrechetCellFilter
    from ase.optimize import BFGS

    from softbench.makers.elastic import relax

    start = bulk("Cu", "hcp", a=2.60, c=4.10)  # away from the EMT minimum, c/a free
    for relax_cell, atoms in ((True, start), (False, _sheared(start))):
        structure = AseAtomsAdaptor.get_structure(atoms)
        relaxed, record, stress = relax(structure, EMT(), 1e-3, 500, relax_cell)

        hand = atoms.copy()
        hand.calc = EMT()
        hand.set_constraint(FixSymmetry(hand))
        opt = BFGS(FrechetCellFilter(hand) if relax_cell else hand, logfile=None)
        assert record.converged == opt.run(fmax=1e-3, steps=500)
        assert record.steps == opt.nsteps > 0
        np.testing.assert_allclose(stress, hand.get_stress(voigt=False) / GPa, atol=1e-12)
        np.testing.assert_allclose(relaxed.lattice.matrix, hand.cell[:], atol=1e-12)
        np.testing.assert_allclose(relaxed.cart_coords, hand.positions, atol=1e-12)
        assert (record.max_stress_gpa is not None) == relax_cell


def _sheared(atoms):
    """A strained hcp cell whose ions carry forces (internal degree of freedom)."""
    out = atoms.copy()
    out.set_cell(atoms.cell[:] @ np.array([[1.01, 0.005, 0], [0.005, 1, 0], [0, 0, 1]]), True)
    return out


def test_elastic_softening_rule():
    assert elastic_softening(0.8, 0.6) == (pytest.approx(0.7), "moduli")
    diag = [0.9, 0.8, 0.7, 0.6, 0.5, 0.4]
    assert elastic_softening(0.8, 0.6, diag) == (pytest.approx(0.65), "diagonal")
    assert elastic_softening(None, 0.6) == (None, None)


# ------------------------------------------------------------------ independent EMT check


def _emt_cu_by_hand() -> dict[str, float]:
    """K from E(V) and C11, C12, C44 by central differences of stress, fcc Cu (EMT)."""
    from scipy.optimize import minimize_scalar

    def energy(a: float) -> float:
        atoms = bulk("Cu", "fcc", a=a, cubic=True)
        atoms.calc = EMT()
        return atoms.get_potential_energy()

    a0 = minimize_scalar(energy, bounds=(3.4, 3.8), method="bounded", options={"xatol": 1e-7}).x
    cell0 = bulk("Cu", "fcc", a=a0, cubic=True)
    v0 = cell0.get_volume()
    vols, ens = [], []
    for x in np.linspace(-0.006, 0.006, 13):
        atoms = cell0.copy()
        atoms.set_cell(cell0.cell * (1 + x) ** (1 / 3), scale_atoms=True)
        atoms.calc = EMT()
        vols.append(atoms.get_volume())
        ens.append(atoms.get_potential_energy())
    poly = np.polyfit(np.array(vols) - v0, ens, 4)
    k_eos = v0 * 2 * poly[-3] / GPa

    def stress(strain: np.ndarray) -> np.ndarray:
        atoms = cell0.copy()
        atoms.set_cell(cell0.cell @ (np.eye(3) + strain), scale_atoms=True)
        atoms.calc = EMT()
        return atoms.get_stress(voigt=False) / GPa

    d = 1e-4
    exx = np.zeros((3, 3))
    exx[0, 0] = d
    eyz = np.zeros((3, 3))
    eyz[1, 2] = eyz[2, 1] = d / 2  # engineering shear strain d
    plus, minus = stress(exx), stress(-exx)
    c11 = (plus[0, 0] - minus[0, 0]) / (2 * d)
    c12 = (plus[1, 1] - minus[1, 1]) / (2 * d)
    c44 = (stress(eyz)[1, 2] - stress(-eyz)[1, 2]) / (2 * d)
    g_v = (c11 - c12 + 3 * c44) / 5
    g_r = 5 * (c11 - c12) * c44 / (4 * c44 + 3 * (c11 - c12))
    return {
        "k_eos": k_eos,
        "k": (c11 + 2 * c12) / 3,
        "g": (g_v + g_r) / 2,
        "c11": c11,
        "c12": c12,
        "c44": c44,
    }


def test_emt_copper_moduli_agree_with_independent_derivatives():
    hand = _emt_cu_by_hand()
    assert hand["k_eos"] == pytest.approx(hand["k"], rel=0.01)  # the two hand routes agree
    # start away from the EMT minimum: the model relaxation must find it
    doc = predict_elastic(reference(bulk("Cu", "fcc", a=3.70)), EMT_MODEL)
    assert doc.state == "successful", doc.reason
    assert doc.relaxation is not None and doc.relaxation.converged
    assert doc.k_vrh_gpa == pytest.approx(hand["k"], rel=1e-3)
    assert doc.k_vrh_gpa == pytest.approx(hand["k_eos"], rel=1e-3)
    assert doc.g_vrh_gpa == pytest.approx(hand["g"], rel=1e-3)
    c = np.array(doc.elastic_tensor)
    assert c[0, 0] == pytest.approx(hand["c11"], rel=1e-3)
    assert c[0, 1] == pytest.approx(hand["c12"], rel=1e-3)
    assert c[3, 3] == pytest.approx(hand["c44"], rel=1e-3)
    assert doc.mechanically_stable
    assert len(doc.deformations) == 6  # standard cell: symmetry-reduced MP strain set


def test_ionic_relaxation_of_strained_cells_softens_hcp():
    """hcp has an internal degree of freedom: relaxed-ion C <= clamped-ion C."""
    atoms = bulk("Cu", "hcp", a=2.55, c=4.16)
    relaxed = predict_elastic(reference(atoms), EMT_MODEL)
    clamped = predict_elastic(reference(atoms), EMT_MODEL, options={"relax_deformed": False})
    assert relaxed.state == clamped.state == "successful"
    assert any(r is not None and r.steps > 0 for r in relaxed.deformation_relaxations)
    assert all(r is None for r in clamped.deformation_relaxations)
    diff = np.array(clamped.elastic_tensor) - np.array(relaxed.elastic_tensor)
    eig = np.linalg.eigvalsh(0.5 * (diff + diff.T))
    assert eig.min() > -0.5  # positive semi-definite up to convergence noise (GPa)
    assert eig.max() > 10  # and the relaxation matters (C66 drops by ~17 GPa)
    assert relaxed.g_vrh_gpa < clamped.g_vrh_gpa - 3
    assert relaxed.k_vrh_gpa == pytest.approx(clamped.k_vrh_gpa, rel=1e-3)


# ------------------------------------------------------------------ bad input


def test_unsupported_element_and_unusable_reference_fail_softly():
    gacu = bulk("Cu", "fcc", a=3.7, cubic=True)
    gacu[0].symbol = "Ga"  # EMT has no Ga parameters
    doc = predict_elastic(reference(gacu, "gacu"), EMT_MODEL)
    assert doc.state == "failed" and "relaxation failed" in doc.reason and "Ga" in doc.reason

    ref = reference(bulk("Cu", "fcc", a=3.6), "neg", k=-1.0)
    ref.state, ref.reason = "unusable", "K_VRH is -1.0"
    doc = predict_elastic(ref, EMT_MODEL)
    assert doc.state == "failed" and "reference unusable: K_VRH is -1.0" in doc.reason


@pytest.fixture
def elastic_json(tmp_path):
    """A small reference file: repr-string structures, string moduli, one bad record."""
    records = [
        {
            "mp_id": "cu",
            "structure": repr(_sdict(bulk("Cu", "fcc", a=3.6))),
            "bulk_modulus_vrh": "140.0",
            "shear_modulus_vrh": "50.0",
        },
        {
            "mp_id": "cu-bcc",
            "structure": repr(_sdict(bulk("Cu", "bcc", a=2.87))),
            "bulk_modulus_vrh": 140.0,
            "shear_modulus_vrh": 30.0,
        },
        {
            "mp_id": "al",
            "structure": json.dumps(_sdict(bulk("Al", "fcc", a=4.05))),
            "bulk_modulus_vrh": 76.0,
            "shear_modulus_vrh": 26.0,
        },
        {
            "mp_id": "gacu",
            "structure": _sdict(_gacu()),
            "bulk_modulus_vrh": 90.0,
            "shear_modulus_vrh": 30.0,
        },
        {
            "mp_id": "bad",
            "structure": _sdict(bulk("Cu", "fcc", a=3.6)),
            "bulk_modulus_vrh": -3.0,
            "shear_modulus_vrh": 30.0,
        },
    ]
    path = tmp_path / "elastic.json.gz"
    with gzip.open(path, "wt") as handle:
        json.dump(records, handle)
    return path


def _sdict(atoms):
    return AseAtomsAdaptor.get_structure(atoms).as_dict()


def _gacu():
    atoms = bulk("Cu", "fcc", a=3.7, cubic=True)
    atoms[0].symbol = "Ga"
    return atoms


def test_flow_builders_and_summary_with_failures(elastic_json, stores):
    from softbench.builders.elastic import build_elastic
    from softbench.ingest import elastic as ingest
    from softbench.models import get_models
    from softbench.run import run_flow
    from softbench.workflows.elastic import (
        elastic_flow,
        existing_elastic_predictions,
        reusable_elastic_references,
    )

    items = ingest.discover(elastic_json)
    assert [i.material_id for i in items] == ["cu", "cu-bcc", "al", "gacu", "bad"]
    models = get_models(EMT_MODEL)
    run_flow(elastic_flow(items, models, "elastic-json:test"), stores, log=False)
    counts = build_elastic(stores)
    assert counts == {"elastic": 5, "elastic_summary": 1}

    docs = {d["material_id"]: d for d in stores.collection("elastic").query({})}
    assert docs["cu"]["state"] == "successful" and docs["cu"]["mechanically_stable"]
    assert docs["cu"]["k_ratio"] == pytest.approx(docs["cu"]["k_vrh_gpa"] / 140.0)
    assert docs["cu"]["softening_basis"] == "moduli"
    assert docs["cu-bcc"]["state"] == "successful"
    assert docs["cu-bcc"]["mechanically_stable"] is False  # EMT bcc Cu: C' < 0
    assert docs["cu-bcc"]["min_eigenvalue_gpa"] < 0
    assert docs["gacu"]["state"] == "failed" and "Ga" in docs["gacu"]["reason"]
    assert docs["bad"]["state"] == "failed" and "K_VRH is -3.0" in docs["bad"]["reason"]

    (summary,) = list(stores.collection("elastic_summary").query({}))
    assert summary["n_materials"] == 5 and summary["n_failed"] == 2
    assert summary["n_unstable"] == 1 and summary["unstable_materials"] == ["cu-bcc"]
    assert summary["n_used"] == 2  # cu and al; the unstable bcc is excluded
    k = [docs[m]["k_ratio"] for m in ("cu", "al")]
    g = [docs[m]["g_ratio"] for m in ("cu", "al")]
    assert summary["median_k_ratio"] == pytest.approx(np.median(k))
    assert summary["median_g_ratio"] == pytest.approx(np.median(g))
    assert summary["fraction_k_softened"] == pytest.approx(np.mean(np.array(k) < 1))
    mae = np.mean([abs(docs[m]["k_vrh_gpa"] - docs[m]["dft_k_vrh_gpa"]) for m in ("cu", "al")])
    assert summary["k_mae_gpa"] == pytest.approx(mae)
    assert summary["log10_k_ratio"]["p50"] == pytest.approx(np.median(np.log10(k)))

    # incremental: nothing new, nothing rebuilt; rerun reuses references and predictions
    assert build_elastic(stores) == {"elastic": 0, "elastic_summary": 0}
    reuse = reusable_elastic_references(stores.jobs, "elastic-json:test", items)
    assert set(reuse) == {"cu", "cu-bcc", "al", "gacu", "bad"}
    done = existing_elastic_predictions(stores.jobs, reuse, [EMT_MODEL])
    assert done == {("cu", EMT_MODEL), ("cu-bcc", EMT_MODEL), ("al", EMT_MODEL)}
    again = elastic_flow(items, models, "elastic-json:test", existing_references=reuse, skip=done)
    assert len(again.jobs) == 2  # only the two failed pairs are retried


def test_diagonal_ratios_used_when_the_reference_has_a_tensor():
    from softbench.builders.elastic import compare

    tensor = np.diag([200.0, 200.0, 200.0, 80.0, 80.0, 80.0])
    tensor[:3, :3] += 100.0 - np.diag([100.0] * 3)
    ref = reference(bulk("Cu", "fcc", a=3.6), "cu", k=140.0, g=60.0, tensor=tensor.tolist())
    pred = predict_elastic(ref, EMT_MODEL)
    doc = compare(pred, ref, {"key": "k"})
    c = np.array(pred.elastic_tensor)
    assert doc.softening_basis == "diagonal"
    np.testing.assert_allclose(doc.diagonal_ratios, np.diag(c) / np.diag(tensor))
    assert doc.elastic_softening == pytest.approx(np.median(np.diag(c) / np.diag(tensor)))


def test_summary_of_only_failed_documents_has_no_statistics():
    from softbench.builders.elastic import summarize_elastic

    docs = [
        ElasticSofteningDocument(
            key=f"k{i}", material_id=f"m{i}", model="x", reference="r", state="failed", reason="no"
        )
        for i in range(2)
    ]
    s = summarize_elastic(docs)
    assert s.n_failed == 2 and s.n_used == 0 and s.median_k_ratio is None


# ------------------------------------------------------------------ shared reference file


def test_shared_reference_ingestion_and_seeded_sample(shared):
    from softbench.ingest import elastic as ingest

    path = shared / "data/mp-elasticity/mp-binary-pbe-elasticity-2025.1.json.gz"
    items = ingest.discover(path)
    assert len(items) == 3953
    a = [i.material_id for i in ingest.sample(items, 20, seed=1)]
    assert a == [i.material_id for i in ingest.sample(items, 20, seed=1)]
    assert a != [i.material_id for i in ingest.sample(items, 20, seed=2)]
    assert len(set(a)) == 20
    doc = ingest.read(items[0], "elastic-json:mp")
    assert doc.state == "successful" and doc.structure is not None
    assert doc.k_vrh_gpa == pytest.approx(53.357) and doc.g_vrh_gpa == pytest.approx(12.164)
    assert doc.source_checksum and doc.formula == "InSb3"
