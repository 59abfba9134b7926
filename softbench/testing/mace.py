"""A small MACE model with random weights, saved to disk, to test the MACE path.

MACE-MP-0 weights cannot be downloaded on offline machines; this model goes
through the same loading code (``MACECalculator(model_paths=...)``) users take.
Its numbers mean nothing physically.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any


def random_mace_model(
    path: str | Path, elements: Sequence[str] = ("Ga", "N", "As", "Ca", "Te"), seed: int = 0
) -> Path:
    """Build, seed and ``torch.save`` a tiny ScaleShiftMACE; return the path."""
    import numpy as np
    import torch

    # e3nn 0.4.4 keeps slices in its constants file, which torch>=2.6 refuses to
    # unpickle by default; allow exactly that before e3nn is imported.
    torch.serialization.add_safe_globals([slice])
    from e3nn import o3
    from mace import modules
    from pymatgen.core import Element

    torch.manual_seed(seed)
    numbers = sorted(Element(e).Z for e in elements)
    model = modules.ScaleShiftMACE(
        r_max=5.0,
        num_bessel=4,
        num_polynomial_cutoff=5,
        max_ell=2,
        interaction_cls=modules.interaction_classes["RealAgnosticResidualInteractionBlock"],
        interaction_cls_first=modules.interaction_classes["RealAgnosticResidualInteractionBlock"],
        num_interactions=2,
        num_elements=len(numbers),
        hidden_irreps=o3.Irreps("8x0e + 8x1o"),
        MLP_irreps=o3.Irreps("8x0e"),
        atomic_energies=np.full(len(numbers), -3.0),
        avg_num_neighbors=20.0,
        atomic_numbers=numbers,
        correlation=2,
        gate=torch.nn.functional.silu,
        atomic_inter_scale=1.0,
        atomic_inter_shift=0.0,
    ).to(torch.float64)
    path = Path(path)
    torch.save(model, path)
    return path


def direct_results(path: str | Path, structures: Sequence[Any]) -> list[tuple[float, Any]]:
    """(energy, forces) of pymatgen structures from mace's own ``MACECalculator``.

    No softbench code is involved (no registry, predictor or worker): the yardstick
    for what softbench's MACE path, direct or through the worker, must return.
    """
    import numpy as np
    import torch

    torch.serialization.add_safe_globals([slice])
    from mace.calculators import MACECalculator
    from pymatgen.io.ase import AseAtomsAdaptor

    dtype = torch.get_default_dtype()
    try:
        calc = MACECalculator(model_paths=str(path), device="cpu", default_dtype="float64")
        out = []
        for structure in structures:
            atoms = AseAtomsAdaptor.get_atoms(structure)
            atoms.calc = calc
            out.append((float(atoms.get_potential_energy()), np.array(atoms.get_forces())))
    finally:
        torch.set_default_dtype(dtype)
    return out


def direct_results_main(argv: Sequence[str] | None = None) -> None:
    """``python -c`` entry: MODEL IN OUT, structures and results as JSON files."""
    import json
    import sys

    from pymatgen.core import Structure

    model, inp, out = (sys.argv[1:] if argv is None else list(argv))[:3]
    structures = [Structure.from_dict(d) for d in json.loads(Path(inp).read_text())]
    results = [[e, f.tolist()] for e, f in direct_results(model, structures)]
    Path(out).write_text(json.dumps(results))
