"""CP2K (softbench's open-source reference) against VASP-PBE on the same physics.

For phonons-pbe materials whose elements CP2K has vetted kinds for, CP2K phonons
from finite displacements (0.01 Å, phonopy) on a small supercell of the primitive
cell are compared with the VASP phonons of the data set (supercells of ~20 Å):

- at the q-points commensurate with the small supercell a finite-displacement
  calculation is exact for any supercell size, so the frequencies there compare the
  two codes alone; ``slope(w^2)`` is the least-squares slope through the origin of
  CP2K vs VASP squared frequencies there: a force-constant (harmonic force) scale
  between the codes, read like a softening scale (1 = same curvature);
- ``w_max`` on a 20x20x20 mesh mixes the code difference with the small supercell's
  interpolation error, which a model (``--models``) measures: its w_max from the
  small supercell over its w_max from the VASP supercell.

The VASP displaced supercells (360-512 atoms) are too large for CP2K on a laptop,
so forces of the two codes are not compared on identical configurations here.

    python benchmarks/cp2k_vs_vasp.py [--materials mp-2201,mp-19717] [--supercell 2]
        [--models sevennet-0] [--work-dir DIR]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import phonopy
from phonopy import Phonopy
from phonopy.harmonic.dynmat_to_fc import get_commensurate_points
from phonopy.structure.atoms import PhonopyAtoms
from pymatgen.io.ase import AseAtomsAdaptor
from pymatgen.io.phonopy import get_pmg_structure

from softbench.makers.cp2k.high_energy import validate_elements
from softbench.makers.cp2k.runner import Cp2kRunner, cp2k_problem
from softbench.makers.cp2k.settings import Cp2kSettings
from softbench.models import get_models
from softbench.models.evaluate import evaluate
from softbench.shared_data import dataset_path

MESH = [20, 20, 20]
DISPLACEMENT = 0.01  # Å, as in the VASP data set


def vasp_phonons(material: str) -> Phonopy:
    """The data set's phonopy object with VASP force constants."""
    path = dataset_path("phonons-pbe") / material / "phonopy.yaml.xz"
    return phonopy.load(str(path), produce_fc=True, log_level=0)


def small_phonons(vasp: Phonopy, n: int) -> Phonopy:
    """n x n x n supercell of the primitive cell, displaced like the data set."""
    prim = vasp.primitive
    unit = PhonopyAtoms(
        symbols=prim.symbols, cell=prim.cell, scaled_positions=prim.scaled_positions
    )
    ph = Phonopy(unit, supercell_matrix=np.eye(3, dtype=int) * n, primitive_matrix=None)
    ph.generate_displacements(distance=DISPLACEMENT)
    return ph


def supercell_structures(ph: Phonopy) -> list:
    """pymatgen structures of the displaced supercells."""
    return [get_pmg_structure(s) for s in ph.supercells_with_displacements]


def cp2k_forces(ph: Phonopy, settings: Cp2kSettings, folder: Path) -> list[np.ndarray]:
    """CP2K forces (eV/Å) of every displaced supercell; elements validated first."""
    structures = supercell_structures(ph)
    elements = sorted({e.symbol for e in structures[0].composition})
    with Cp2kRunner(settings, folder / "validation") as runner:
        why, _ = validate_elements(elements, settings, runner)
    if why:
        raise RuntimeError(why)
    forces = []
    with Cp2kRunner(settings, folder / "displacements") as runner:
        for structure in structures:
            atoms = AseAtomsAdaptor.get_atoms(structure)
            result = runner.compute(atoms, settings.kpoints(atoms.cell[:]), stress=False)
            if not result.converged:
                raise RuntimeError(f"CP2K SCF did not converge in {folder}")
            forces.append(result.forces)
    return forces


def model_forces(ph: Phonopy, name: str) -> list[np.ndarray]:
    """A model's forces on every displaced supercell."""
    spec = get_models(name)[0]
    result = evaluate(spec, supercell_structures(ph), stress=False)
    if result.errors:
        raise RuntimeError(f"{name}: {result.errors}")
    return [np.asarray(p.forces, float) for p in result.predictions if p is not None]


def with_forces(ph: Phonopy, forces: list[np.ndarray]) -> Phonopy:
    """``ph`` with force constants from ``forces``."""
    ph.forces = np.asarray(forces)
    ph.produce_force_constants()
    ph.symmetrize_force_constants()
    return ph


def max_frequency(ph: Phonopy) -> float:
    """Highest frequency (THz) on the Γ-centred mesh."""
    ph.run_mesh(MESH, is_gamma_center=True)
    return float(ph.get_mesh_dict()["frequencies"].max())


def commensurate_frequencies(ph: Phonopy, supercell: Phonopy) -> np.ndarray:
    """Frequencies (THz) at the q-points commensurate with ``supercell``'s matrix."""
    qpoints = get_commensurate_points(supercell.supercell_matrix)
    # fractional coordinates of the small supercell's primitive reciprocal basis are the
    # same as the data set's when both primitive cells are the same cell
    ph.run_qpoints(qpoints)
    return np.asarray(ph.get_qpoints_dict()["frequencies"], float)


def squared_slope(cp2k: np.ndarray, vasp: np.ndarray) -> float:
    """LSQ slope through the origin of CP2K vs VASP w^2 (signed squares)."""
    x = np.sign(vasp) * vasp**2
    y = np.sign(cp2k) * cp2k**2
    return float(x.ravel() @ y.ravel() / (x.ravel() @ x.ravel()))


def main() -> None:
    """Run the comparison and print its table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--materials", default="mp-2201,mp-19717")
    parser.add_argument("--supercell", type=int, default=2, help="n of n x n x n primitive")
    parser.add_argument("--models", default="sevennet-0", help="models for the size control")
    parser.add_argument("--work-dir", default="cp2k-vs-vasp")
    args = parser.parse_args()
    problem = cp2k_problem()
    if problem:
        raise SystemExit(problem)
    settings = Cp2kSettings()
    print(f"reference method: {settings.label()}; VASP: phonons-pbe (PBE, ENCUT 520)")
    rows = []
    for material in args.materials.split(","):
        vasp = vasp_phonons(material)
        small = small_phonons(vasp, args.supercell)
        n_atoms = len(small.supercell)
        start = time.perf_counter()
        try:
            cp2k = with_forces(small, cp2k_forces(small, settings, Path(args.work_dir) / material))
        except RuntimeError as exc:
            print(f"{material}: CP2K not used: {exc}")
            continue
        seconds = time.perf_counter() - start
        w_cp2k = commensurate_frequencies(cp2k, small)
        w_vasp = commensurate_frequencies(vasp, small)
        row = {
            "material": material,
            "formula": vasp.primitive.symbols,
            "atoms": n_atoms,
            "displacements": len(small.supercells_with_displacements),
            "cp2k_s": seconds,
            "vasp_wmax": max_frequency(vasp),
            "cp2k_wmax": max_frequency(cp2k),
            "vasp_wmax_comm": float(w_vasp.max()),
            "cp2k_wmax_comm": float(w_cp2k.max()),
            "slope_w2": squared_slope(w_cp2k, w_vasp),
            "size": {},
        }
        for name in [m for m in args.models.split(",") if m]:
            small_again = small_phonons(vasp, args.supercell)
            model_small = with_forces(small_again, model_forces(small, name))
            big = phonopy.load(
                str(dataset_path("phonons-pbe") / material / "phonopy.yaml.xz"), log_level=0
            )
            model_big = with_forces(big, model_forces(big, name))
            row["size"][name] = max_frequency(model_small) / max_frequency(model_big)
        rows.append(row)
        print(f"{material}: {n_atoms}-atom supercell, CP2K {seconds:.0f} s", flush=True)
    header = (
        f"{'material':<10} {'formula':<8} {'atoms':>5} {'w_max VASP':>10} {'w_max CP2K':>10} "
        f"{'ratio':>6} {'comm. VASP':>10} {'comm. CP2K':>10} {'slope(w^2)':>10}  size effect"
    )
    print(header)
    print("-" * len(header))
    for r in rows:
        formula = "".join(dict.fromkeys(r["formula"]))
        size = ", ".join(f"{m} {v:.3f}" for m, v in r["size"].items()) or "-"
        print(
            f"{r['material']:<10} {formula:<8} {r['atoms']:>5} {r['vasp_wmax']:>10.3f} "
            f"{r['cp2k_wmax']:>10.3f} {r['cp2k_wmax'] / r['vasp_wmax']:>6.3f} "
            f"{r['vasp_wmax_comm']:>10.3f} {r['cp2k_wmax_comm']:>10.3f} {r['slope_w2']:>10.3f}"
            f"  {size}"
        )
    print(
        "w in THz. comm.: highest frequency at the q-points commensurate with the small "
        "supercell (exact there for both codes). slope(w^2): CP2K vs VASP force-constant "
        "scale at those q-points. size effect: a model's w_max from the small supercell / "
        "from the VASP supercell (its interpolation error, same for any code)."
    )


if __name__ == "__main__":
    main()
