"""VASP output directories: every ionic step of vasprun.xml becomes a configuration."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np

from softbench.ingest.base import ReferenceFormatError, SourceItem
from softbench.schemas.configuration import Configuration

KBAR_TO_EV_A3 = 0.1 / 160.21766208
FUNCTIONALS = {"PE": "PBE", "PS": "PBEsol", "91": "PW91", "RP": "revPBE", "AM": "AM05"}
SETTING_KEYS = ("ENCUT", "EDIFF", "ISMEAR", "SIGMA", "ISPIN", "LDAU", "PREC", "LASPH")


def find_vaspruns(path: Path) -> list[Path]:
    """vasprun.xml[.gz|.bz2|.xz] files at or below a path."""
    if path.is_file():
        return [path]
    return sorted(p for p in path.rglob("vasprun.xml*") if p.is_file())


def discover(path: Path) -> list[SourceItem]:
    """One material per directory holding a vasprun (id: its path below ``path``)."""
    items = []
    for run in find_vaspruns(path):
        rel = run.parent.relative_to(path) if path.is_dir() else Path(run.parent.name)
        mid = str(rel) if str(rel) != "." else path.name
        items.append(SourceItem(mid, str(run), "vasp"))
    return items


def functional(parameters: Any, incar: Any = None) -> str:
    """Exchange-correlation functional named in the run parameters."""
    incar = incar or {}
    meta = incar.get("METAGGA") or parameters.get("METAGGA")
    if meta and str(meta).strip().upper() not in ("", "NONE", "--"):
        return str(meta).upper()
    gga = str(incar.get("GGA") or parameters.get("GGA") or "PE").strip().upper()
    return FUNCTIONALS.get(gga, gga)


def dft_settings(
    parameters: Any, incar: Any = None, potcars: list[str] | None = None
) -> dict[str, Any]:
    """The settings a reader needs to judge comparability with a uMLIP's training data."""
    merged = {**parameters, **(incar or {})}
    settings: dict[str, Any] = {"code": "VASP", "functional": functional(parameters, incar)}
    settings.update({k: merged[k] for k in SETTING_KEYS if k in merged})
    if potcars:
        settings["potcars"] = potcars
    return settings


def read(item: SourceItem) -> tuple[list[Configuration], dict[str, Any], str | None]:
    """Every ionic step of one vasprun with forces, energy and stress."""
    from pymatgen.io.vasp import Vasprun

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            run = Vasprun(
                item.path,
                parse_dos=False,
                parse_eigen=False,
                parse_projected_eigen=False,
                parse_potcar_file=False,
            )
    except Exception as exc:
        raise ReferenceFormatError(
            f"cannot parse vasprun {item.path}: {type(exc).__name__}: {exc}"
        ) from exc
    settings = dft_settings(run.parameters, dict(run.incar), run.potcar_symbols)
    settings["converged_electronic"] = bool(run.converged_electronic)
    confs = []
    for i, step in enumerate(run.ionic_steps):
        stress = step.get("stress")
        confs.append(
            Configuration.from_structure(
                step["structure"],
                f"step-{i:03d}",
                energy=step.get("e_fr_energy"),
                forces=step.get("forces"),
                stress=None if stress is None else -np.asarray(stress) * KBAR_TO_EV_A3,
                metadata={"ionic_step": i},
            )
        )
    return confs, settings, None
