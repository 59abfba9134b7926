"""How good is the harmonic reference F = -Φu of the amplitude task? Check against real DFT.

On a small cell (default: 8-atom diamond Si, CP2K PBE with softbench's vetted
settings), the force constants Φ come from phonopy finite displacements (±0.01 Å,
CP2K forces), exactly as the amplitude task gets them from a phonon reference. Then
for each amplitude A, seeded random patterns (every atom moved by A Å, the
amplitude task's own :func:`displacement_patterns`) are computed with CP2K, and the
real forces (minus the residual at the undisplaced cell) are compared with -Φu:
slope (least squares through the origin, the softening scale of DFT against its own
harmonic model) and relative RMS deviation. A slope of 1 and a small deviation mean
the harmonic reference is exact at that amplitude.

    OMP_NUM_THREADS=1 python benchmarks/amplitude_harmonic_check.py \\
        [--amplitudes 0.005,0.01,0.02,0.05,0.1,0.2] [--patterns 2] [--out result.json]

Cost: 2 + 1 + n_amplitudes x n_patterns CP2K statics (about 16 s each on 2 ranks).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

warnings.filterwarnings("ignore")


def main() -> None:
    from ase.build import bulk
    from phonopy import Phonopy
    from phonopy.structure.atoms import PhonopyAtoms

    from softbench.analysis.amplitude import (
        displacement_patterns,
        full_force_constants,
        harmonic_forces,
    )
    from softbench.analysis.softening import softening_scale
    from softbench.makers.cp2k.runner import Cp2kRunner, cp2k_problem
    from softbench.makers.cp2k.settings import Cp2kSettings

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--amplitudes", default="0.005,0.01,0.02,0.05,0.1,0.2")
    parser.add_argument("--patterns", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--fd-step", type=float, default=0.01, help="phonopy displacement, Å")
    parser.add_argument("--out", default=None, help="write the numbers as JSON here")
    args = parser.parse_args()
    problem = cp2k_problem()
    if problem:
        raise SystemExit(f"amplitude_harmonic_check: {problem}")
    amplitudes = [float(a) for a in args.amplitudes.split(",")]
    si = bulk("Si", "diamond", a=5.43, cubic=True)
    settings = Cp2kSettings()
    kpoints = settings.kpoints(si.cell[:])
    unit = PhonopyAtoms(
        symbols=si.get_chemical_symbols(),
        cell=si.cell[:],
        scaled_positions=si.get_scaled_positions(),
    )
    ph = Phonopy(unit, supercell_matrix=np.eye(3, dtype=int), primitive_matrix="P")
    ph.generate_displacements(distance=args.fd_step, is_plusminus=True)
    cells = ph.supercells_with_displacements
    start = time.perf_counter()
    n_statics = 0
    with tempfile.TemporaryDirectory() as tmp, Cp2kRunner(settings, Path(tmp)) as runner:

        def forces(positions: np.ndarray) -> np.ndarray:
            nonlocal n_statics
            atoms = si.copy()
            atoms.set_positions(positions)
            result = runner.compute(atoms, kpoints, stress=False)
            if not result.converged:
                print("  warning: SCF not converged")
            n_statics += 1
            return result.forces

        ph.forces = [forces(np.asarray(c.positions)) for c in cells]
        ph.produce_force_constants(calculate_full_force_constants=True)
        ph.symmetrize_force_constants(show_drift=False)
        phi = full_force_constants(ph)
        r0 = si.get_positions()
        residual = forces(r0)
        print(
            f"Si8, CP2K {settings.label()}, k-points {kpoints}; Φ from {len(cells)} "
            f"displacements of ±{args.fd_step:g} Å; residual RMS "
            f"{np.sqrt((residual**2).mean()):.2e} eV/Å"
        )
        print(
            f"{'A (Å)':>7} {'slope':>8} {'rel RMS dev':>12} {'max |dev| eV/Å':>15} "
            f"{'RMS |F| eV/Å':>13}"
        )
        rows = []
        patterns = displacement_patterns(len(si), amplitudes, args.patterns, args.seed)
        for amplitude, disps in patterns.items():
            harm, real = [], []
            for u in disps:
                harm.append(harmonic_forces(phi, u))
                real.append(forces(r0 + u) - residual)
            x, y = np.concatenate(harm).ravel(), np.concatenate(real).ravel()
            slope = softening_scale(x, y)
            rel = float(np.sqrt(((y - x) ** 2).mean() / (x**2).mean()))
            row = {
                "amplitude_angstrom": amplitude,
                "slope_real_vs_harmonic": slope,
                "relative_rms_deviation": rel,
                "max_abs_deviation": float(np.abs(y - x).max()),
                "rms_harmonic_force": float(np.sqrt((x**2).mean())),
            }
            rows.append(row)
            print(
                f"{amplitude:7.3f} {slope:8.4f} {rel:12.4f} {row['max_abs_deviation']:15.4f} "
                f"{row['rms_harmonic_force']:13.4f}",
                flush=True,
            )
    wall = time.perf_counter() - start
    print(f"{n_statics} CP2K statics, {wall:.0f} s")
    if args.out:
        Path(args.out).write_text(
            json.dumps(
                {"settings": settings.describe(), "rows": rows, "wall_seconds": wall}, indent=1
            )
        )


if __name__ == "__main__":
    main()
