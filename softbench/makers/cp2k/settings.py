"""CP2K settings for softbench's DFT statics: vetted per-element kinds and numerics.

Every element CP2K may be used for has an entry in :data:`VETTED_KINDS`: a GTH
pseudopotential, a MOLOPT basis set made for that pseudopotential (same valence) and
the data file holding the basis (all in CP2K's own data directory, ``cp2k-data``).
An entry is added only after the element passed the maker's validation (zero-sum of
forces and a finite-difference check of one force component on a small distorted
cell, :func:`softbench.makers.cp2k.high_energy.validate_elements`) at the default
settings. Checked with CP2K 2023.1 (largest |sum of forces| component; analytic vs
finite-difference force, eV/Å):

=========  ====================================  ==========  ====================
element    kind                                  sum         F analytic / FD
=========  ====================================  ==========  ====================
Si         GTH-PBE-q4, DZVP-MOLOPT-SR-GTH        4e-5        -4.50241 / -4.50355
Li         GTH-PBE-q3, DZVP-MOLOPT-SR-GTH        5e-4        -0.59290 / -0.59272
Mg         GTH-PBE-q2, DZVP-MOLOPT-SR-GTH-q2     1e-6        -1.37795 / -1.37796
Al         GTH-PBE-q3, DZVP-MOLOPT-SR-GTH        2e-6        -3.22959 / -3.22989
C          GTH-PBE-q4, DZVP-MOLOPT-SR-GTH        1.7e-3      -1.56921 / -1.57225
Ge         GTH-PBE-q4, DZVP-MOLOPT-SR-GTH        5e-5        -3.16825 / -3.16893
P          GTH-PBE-q5, DZVP-MOLOPT-SR-GTH        3e-4        -2.10835 / -2.10998
Sn         GTH-PBE-q4, DZVP-MOLOPT-PBE-GTH-q4    1.6e-4      -2.35848 / -2.35881
Sb         GTH-PBE-q5, DZVP-MOLOPT-PBE-GTH-q5    8.4e-4      -1.47431 / -1.47476
Te         GTH-PBE-q6, DZVP-MOLOPT-PBE-GTH-q6    3.1e-4      -2.08312 / -2.08382
Pb         GTH-PBE-q4, DZVP-MOLOPT-PBE-GTH-q4    7.0e-4      -1.93867 / -1.93892
Ca         GTH-PBE-q10, DZVP-MOLOPT-PBE-GTH-q10  3.4e-4      -0.19562 / -0.19554
Li+Mg+Si   (3-atom cell)                         8e-4        -0.56200 / -0.56209
Al+Ge+P+Si (4-atom cell)                         8e-7        -2.73742 / -2.73794
Li+Mg+Sn   (3-atom cell)                         3.4e-3      -0.40725 / -0.40733
Al+Mg+Sn   (3-atom cell)                         5e-5        -0.99436 / -0.99448
=========  ====================================  ==========  ====================

Refused by the same check at 500 Ry, hence not vetted: Mg GTH-PBE-q10 (sum 7.7 eV/Å),
Na GTH-PBE-q9 (0.73), O GTH-PBE-q6 (0.038; 0.027 at 800 Ry; 0.071 with Mg q2), Ga
GTH-PBE-q13 with As GTH-PBE-q5 (0.14; 0.06 at 800 Ry), all with DZVP-MOLOPT-SR-GTH.

Sn, Sb, Te, Pb and Ca have no DZVP SR MOLOPT basis for their GTH-PBE potentials in
BASIS_MOLOPT; their bases are UZH's DZVP-MOLOPT-PBE-GTH-qN (BASIS_MOLOPT_UZH), made for
POTENTIAL_UZH's refits of the same GTH-PBE-qN (parameters equal to 3-4 digits, e.g.
Sn). CP2K reads one potential file, so GTH_POTENTIALS' potentials are used with them;
the validation above ran exactly that pairing.

The label hash covers the numerics and the kinds of :data:`HASHED_ELEMENTS` (the
table labels were first made from) plus any kind that differs from this table;
elements vetted later (Sn, Sb, Te, Pb, Ca) stay out of it, so adding an element keeps every existing
label, and stored references stay reusable.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Mapping

import numpy as np
from pydantic import BaseModel, Field

from softbench.schemas.base import MakerSettings

DEFAULT_RANKS = 2  # SOFTBENCH_CP2K_RANKS


class Cp2kKind(BaseModel):
    """Pseudopotential and basis set of one element."""

    potential: str = Field(description="GTH pseudopotential name, e.g. GTH-PBE-q4")
    basis: str = Field(description="basis set name, e.g. DZVP-MOLOPT-SR-GTH")
    basis_file: str = Field("BASIS_MOLOPT", description="CP2K data file with the basis")
    potential_file: str = "GTH_POTENTIALS"

    @property
    def valence(self) -> int:
        """Valence electrons of the pseudopotential (the ``qN`` suffix)."""
        return int(self.potential.rsplit("-q", 1)[1])


def _kind(q: int, basis: str = "DZVP-MOLOPT-SR-GTH", basis_file: str = "BASIS_MOLOPT") -> Cp2kKind:
    return Cp2kKind(potential=f"GTH-PBE-q{q}", basis=basis, basis_file=basis_file)


#: Elements checked with the validation of :mod:`softbench.makers.cp2k.high_energy`
#: (zero-sum and finite-difference force checks pass at the default settings).
VETTED_KINDS: dict[str, Cp2kKind] = {
    "Si": _kind(4),
    "Li": _kind(3),
    "Mg": _kind(2, "DZVP-MOLOPT-SR-GTH-q2", "BASIS_MOLOPT_UCL"),
    "Al": _kind(3),
    "C": _kind(4),
    "Ge": _kind(4),
    "P": _kind(5),
    "Sn": _kind(4, "DZVP-MOLOPT-PBE-GTH-q4", "BASIS_MOLOPT_UZH"),
    "Sb": _kind(5, "DZVP-MOLOPT-PBE-GTH-q5", "BASIS_MOLOPT_UZH"),
    "Te": _kind(6, "DZVP-MOLOPT-PBE-GTH-q6", "BASIS_MOLOPT_UZH"),
    "Pb": _kind(4, "DZVP-MOLOPT-PBE-GTH-q4", "BASIS_MOLOPT_UZH"),
    "Ca": _kind(10, "DZVP-MOLOPT-PBE-GTH-q10", "BASIS_MOLOPT_UZH"),
}

#: Elements whose kinds are always part of the settings hash (the first vetted table).
HASHED_ELEMENTS = frozenset({"Si", "Li", "Mg", "Al", "C", "Ge", "P"})


class Cp2kSettings(MakerSettings):
    """Numerics of a CP2K energy+forces+stress calculation (Quickstep GPW).

    ``kspacing`` is the largest reciprocal-lattice spacing of the Monkhorst-Pack grid,
    2π included (0.3 Å⁻¹ gives 4x4x4 for the 8-atom Si cell). Fermi-Dirac smearing at
    ``electronic_temperature`` (the MD temperature of the benchmark) keeps the SCF of
    hot, strained frames stable; forces are derivatives of the Mermin free energy,
    which is the energy CP2K reports.
    """

    xc: str = "PBE"
    cutoff_ry: float = 500.0
    rel_cutoff_ry: float = 60.0
    kspacing: float = Field(0.3, description="1/Å, 2π included")
    electronic_temperature: float = Field(1000.0, description="K, Fermi-Dirac")
    eps_scf: float = 1e-7
    max_scf: int = 100
    kinds: dict[str, Cp2kKind] = Field(default_factory=lambda: dict(VETTED_KINDS))

    def settings_hash(self) -> str:
        """SHA-256 of everything that changes the numbers (first 8 characters in labels)."""
        data = self.model_dump(mode="json")
        data["kinds"] = {
            element: kind
            for element, kind in data["kinds"].items()
            if element in HASHED_ELEMENTS or self.kinds[element] != VETTED_KINDS.get(element)
        }
        payload = json.dumps(data, sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()

    def label(self) -> str:
        """Reference label, e.g. ``cp2k:pbe-dzvp-500ry-1a2b3c4d``."""
        bases = {k.basis.split("-")[0].lower() for k in self.kinds.values()}
        basis = "-".join(sorted(bases)) or "nobasis"
        return f"cp2k:{self.xc.lower()}-{basis}-{self.cutoff_ry:g}ry-{self.settings_hash()[:8]}"

    def missing(self, elements: Iterable[str]) -> list[str]:
        """Elements without a kind entry."""
        return sorted(set(elements) - set(self.kinds))

    def unvetted(self, elements: Iterable[str]) -> str | None:
        """Why these elements cannot be computed (no vetted kind), or None."""
        missing = self.missing(elements)
        if not missing:
            return None
        return (
            f"no vetted CP2K pseudopotential/basis for {', '.join(missing)} "
            f"(vetted: {', '.join(sorted(self.kinds))})"
        )

    def kpoints(self, cell: np.ndarray) -> tuple[int, int, int]:
        """Monkhorst-Pack grid for a cell (rows are lattice vectors, Å)."""
        reciprocal = 2 * math.pi * np.linalg.inv(np.asarray(cell, float)).T
        n = [max(1, math.ceil(float(np.linalg.norm(b)) / self.kspacing - 1e-9)) for b in reciprocal]
        return n[0], n[1], n[2]

    def input(
        self,
        elements: Iterable[str],
        kpoints: tuple[int, int, int] | None,
        n_electrons: int,
        eps_scf: float | None = None,
    ) -> str:
        """CP2K input (without cell and coordinates, which ASE writes).

        ``kpoints=None`` computes at the Γ point only.
        """
        elements = sorted(set(elements))
        kinds = {e: self.kinds[e] for e in elements}
        files = sorted({k.basis_file for k in kinds.values()})
        potentials = sorted({k.potential_file for k in kinds.values()})
        added_mos = max(8, math.ceil(0.3 * n_electrons / 2))
        lines = ["&FORCE_EVAL", "  &DFT"]
        lines += [f"    BASIS_SET_FILE_NAME {f}" for f in files]
        lines += [f"    POTENTIAL_FILE_NAME {f}" for f in potentials]
        lines += [
            "    &MGRID",
            f"      CUTOFF {self.cutoff_ry:g}",
            f"      REL_CUTOFF {self.rel_cutoff_ry:g}",
            "    &END MGRID",
        ]
        if kpoints is not None:
            grid = " ".join(str(k) for k in kpoints)
            lines += ["    &KPOINTS", f"      SCHEME MONKHORST-PACK {grid}", "    &END KPOINTS"]
        lines += [
            "    &SCF",
            f"      EPS_SCF {eps_scf or self.eps_scf:.3e}",
            f"      MAX_SCF {self.max_scf}",
            f"      ADDED_MOS {added_mos}",
            "      &SMEAR ON",
            "        METHOD FERMI_DIRAC",
            f"        ELECTRONIC_TEMPERATURE [K] {self.electronic_temperature:g}",
            "      &END SMEAR",
            "      &DIAGONALIZATION ON",
            "        ALGORITHM STANDARD",
            "      &END DIAGONALIZATION",
            "      &MIXING",
            "        METHOD BROYDEN_MIXING",
            "        ALPHA 0.2",
            "        NBROYDEN 8",
            "      &END MIXING",
            "    &END SCF",
            "    &XC",
            f"      &XC_FUNCTIONAL {self.xc}",
            "      &END XC_FUNCTIONAL",
            "    &END XC",
            "  &END DFT",
            "  &SUBSYS",
        ]
        for element, kind in kinds.items():
            lines += [
                f"    &KIND {element}",
                f"      BASIS_SET {kind.basis}",
                f"      POTENTIAL {kind.potential}",
                "    &END KIND",
            ]
        lines += ["  &END SUBSYS", "&END FORCE_EVAL"]
        return "\n".join(lines) + "\n"

    def n_electrons(self, symbols: Iterable[str]) -> int:
        """Valence electrons of a configuration."""
        return sum(self.kinds[s].valence for s in symbols)

    def describe(self) -> dict[str, object]:
        """``dft_settings`` of the reference document."""
        return {
            "code": "cp2k",
            "functional": self.xc,
            "cutoff_ry": self.cutoff_ry,
            "rel_cutoff_ry": self.rel_cutoff_ry,
            "kspacing": self.kspacing,
            "smearing": f"Fermi-Dirac {self.electronic_temperature:g} K",
            "eps_scf": self.eps_scf,
            "max_scf": self.max_scf,
            "settings_hash": self.settings_hash(),
        }


def used_kinds(settings: Cp2kSettings, elements: Iterable[str]) -> Mapping[str, Cp2kKind]:
    """The kinds of ``elements`` (KeyError for a missing one)."""
    return {e: settings.kinds[e] for e in sorted(set(elements))}
