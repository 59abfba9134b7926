"""Write an analytic 'DFT' migration data set for ``softbench run migration --reference``.

Two Li hops in a toy host; the energies are those of ``CosinePath`` with a 0.6 eV
barrier (period 2 Å) at the linear images, so with the default ``CosinePath`` model
(0.5 eV) every DFT - model difference is exactly 0.1 eV:

    python benchmarks/migration_analytic_hops.py hops.json
    softbench run migration --reference hops.json \
        --models ase:softbench.testing.calculators.CosinePath --store /tmp/analytic
    softbench report migration --store /tmp/analytic   # both figures
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from pymatgen.core import Lattice, Structure

from softbench.ingest.migration import hop_record
from softbench.makers.migration import hops_from_host
from softbench.testing.calculators import cosine_energy

D = 2.0  # Å: hop length and CosinePath's default period
DFT_BARRIER = 0.6  # eV


def main(out: str) -> None:
    host = Structure(
        Lattice.orthorhombic(2 * D, 6.0, 6.0),
        ["Li", "Li", "Si"],
        [[0, 0, 0], [0.5, 0, 0], [0.25, 0.5, 0.5]],
    )
    records = []
    for hop in hops_from_host(host, "Li", "toy", min_length=0):
        record = hop_record(hop, 5, "analytic", "")
        x0, x1 = (p[0] * 2 * D for p in hop.end_points)
        xs = [x0 + (x1 - x0) * i / 6 for i in range(7)]
        record["energies_ev"] = [cosine_energy(x, [(DFT_BARRIER, D)]) for x in xs]
        del record["source"], record["source_checksum"]
        records.append(record)
    data = {"label": f"analytic-cosine-{DFT_BARRIER}", "hops": records}
    Path(out).write_text(json.dumps(data))
    print(f"{out}: {len(records)} hops, DFT barrier {DFT_BARRIER} eV")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "hops.json")
