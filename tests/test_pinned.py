"""Pinned values on real data: CHGNet, M3GNet and SevenNet-0 through the public flows.

One module-scoped run (each model loaded once per process, one in-memory store):
the force flow on PbTe, the fixed-mode phonon flow on CaTe (force parity and phonon
frequencies of the same DFT supercells) and the elastic flow on TiFe, then every
builder. Each number must stay within ±2 % of the value in ``tests/pinned.py``:
wide physical bounds elsewhere would let a broken dependency through unnoticed.
"""

from __future__ import annotations

from typing import Any

import pytest
from pinned import (
    CATE,
    FORCE_SCALE,
    K_VRH,
    MODELS,
    PBTE,
    PHONON_RATIO_FIXED,
    REL,
    TIFE,
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def measured(tmp_path_factory) -> dict[str, dict[tuple[str, str], Any]]:
    """Run the three flows and the builders; the numbers by (material, model).

    A document that is not successful gives its state and reason instead of a number.
    """
    from softbench.ingest import default_label, discover, known_dataset_settings
    from softbench.ingest import elastic as elastic_ingest
    from softbench.models import get_models
    from softbench.query import fetch
    from softbench.run import build_all, run_flow
    from softbench.settings import shared_dir
    from softbench.stores import open_stores, reset_memory_stores
    from softbench.workflows.elastic import elastic_flow
    from softbench.workflows.forces import force_parity_flow
    from softbench.workflows.phonons import phonon_flow

    models = get_models(",".join(MODELS))
    phonons = shared_dir() / "data/phonons-pbe"
    elastic = shared_dir() / "data/mp-elasticity/mp-binary-pbe-elasticity-2025.1.json.gz"
    ph_label = default_label(phonons, "phonopy")
    ph_settings = known_dataset_settings(phonons)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SOFTBENCH_HOME", str(tmp_path_factory.mktemp("home")))
        reset_memory_stores()
        stores = open_stores("memory")
        try:
            forces = force_parity_flow(
                discover(phonons, None, [PBTE]), models, ph_label, settings=ph_settings
            )
            fixed = phonon_flow(
                discover(phonons, None, [CATE]),
                models,
                ph_label,
                modes=["fixed"],
                settings=ph_settings,
            )
            moduli = elastic_flow(
                elastic_ingest.discover(elastic, [TIFE]),
                models,
                default_label(elastic, "elastic-json"),
                settings=known_dataset_settings(elastic),
                options={"fmax": 1e-3, "relax_deformed": True},  # the CLI's defaults
            )
            for flow in (forces, fixed, moduli):
                run_flow(flow, stores, log=False)
            build_all(stores)
            found: dict[str, dict[tuple[str, str], Any]] = {}
            for what, quantity in (
                ("softening", "softening_scale"),
                ("phonons", "max_freq_ratio"),
                ("elastic", "k_vrh_gpa"),
            ):
                found[what] = {
                    (d["material_id"], d["model"]): d[quantity]
                    if d["state"] == "successful"
                    else f"{d['state']}: {d['reason']}"
                    for d in fetch(stores, what)
                }
        finally:
            stores.close()
            reset_memory_stores()
    return found


def _check(found: dict[tuple[str, str], Any], key: tuple[str, str], pinned: float) -> None:
    assert key in found, f"{key} not computed"
    value = found[key]
    assert not isinstance(value, str), f"{key[1]} on {key[0]}: {value}"
    assert value == pytest.approx(pinned, rel=REL), (
        f"{key[1]} on {key[0]}: {value:.6g}, pinned {pinned:.6g} "
        f"({(value / pinned - 1) * 100:+.2f} %, allowed ±{REL:.0%})"
    )


@pytest.mark.parametrize("key", sorted(FORCE_SCALE), ids="-".join)
def test_force_parity_softening_scale(measured, key):
    _check(measured["softening"], key, FORCE_SCALE[key])


@pytest.mark.parametrize("key", sorted(PHONON_RATIO_FIXED), ids="-".join)
def test_fixed_mode_phonon_max_frequency_ratio(measured, key):
    _check(measured["phonons"], key, PHONON_RATIO_FIXED[key])


@pytest.mark.parametrize("key", sorted(K_VRH), ids="-".join)
def test_bulk_modulus_k_vrh(measured, key):
    _check(measured["elastic"], key, K_VRH[key])


def test_every_material_and_model_was_measured(measured):
    """No pinned quantity silently missing, none computed but left unpinned."""
    assert set(measured["softening"]) == set(FORCE_SCALE)
    assert set(measured["phonons"]) == set(PHONON_RATIO_FIXED)
    assert set(measured["elastic"]) == set(K_VRH)
    assert {m for _, m in FORCE_SCALE} == set(MODELS)
    assert {m for m, _ in FORCE_SCALE} == {CATE, PBTE}
    assert {m for m, _ in K_VRH} == {TIFE}
