"""How much CP2K numerics move a stored CP2K surface energy (single points, no relaxation).

Takes the newest successful CP2K surface reference of a material from a store, and
recomputes gamma of one facet from single points of its relaxed bulk and relaxed slab
at the stored settings and at changed ones (k-point spacing, cutoff), each with the
same rule as the maker (slab: one k-point along the normal). Prints gamma per
setting and the shift from the stored settings.

    python benchmarks/surfaces_cp2k_numerics.py --store DIR [--material Si] \
        [--facet "(1,0,0)"] [--kspacing 0.7,0.35] [--cutoff 250,400]
"""

from __future__ import annotations

import argparse
import tempfile
import time


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", required=True)
    parser.add_argument("--material", default="Si")
    parser.add_argument("--facet", default="(1,0,0)")
    parser.add_argument("--kspacing", default="0.7,0.35", help="first: as stored")
    parser.add_argument("--cutoff", default="250,400", help="first: as stored")
    args = parser.parse_args()

    from pymatgen.io.ase import AseAtomsAdaptor

    from softbench.analysis.surfaces import surface_energy, to_j_per_m2
    from softbench.builders.pairing import load_output
    from softbench.makers.cp2k.runner import Cp2kRunner
    from softbench.makers.cp2k.settings import Cp2kSettings
    from softbench.makers.cp2k.surfaces import slab_kpoints
    from softbench.schemas.surfaces import SURFACE_REFERENCE, SurfaceReferenceDocument
    from softbench.stores import open_stores

    stores = open_stores(args.store, create=False)
    found = stores.jobs.query(
        {
            "output.doc_type": SURFACE_REFERENCE,
            "output.material_id": args.material,
            "output.state": "successful",
        },
        properties=["uuid", "output.created_at", "output.reference"],
    )
    cp2k = [d for d in found if str(d["output"]["reference"]).startswith("cp2k:")]
    newest = max(cp2k, key=lambda d: str(d["output"]["created_at"]))
    ref = SurfaceReferenceDocument.model_validate(load_output(stores.jobs, newest["uuid"]))
    record = ref.surface(args.facet)
    assert record is not None and record.structure is not None and ref.bulk_structure is not None
    print(f"stored {ref.reference}: gamma{args.facet} = {record.surface_energy_j_m2:.4f} J/m²")
    bulk = AseAtomsAdaptor.get_atoms(ref.bulk_structure)
    slab = AseAtomsAdaptor.get_atoms(record.structure)
    kspacings = [float(x) for x in args.kspacing.split(",")]
    cutoffs = [float(x) for x in args.cutoff.split(",")]
    settings = [(kspacings[0], cutoffs[0])]
    settings += [(k, cutoffs[0]) for k in kspacings[1:]] + [(kspacings[0], c) for c in cutoffs[1:]]
    base = None
    for kspacing, cutoff in settings:
        start = time.perf_counter()
        s = Cp2kSettings(kspacing=kspacing, cutoff_ry=cutoff)
        with tempfile.TemporaryDirectory() as tmp, Cp2kRunner(s, tmp) as runner:
            k_bulk = s.kpoints(bulk.cell[:])
            e_bulk = runner.compute(bulk, k_bulk, stress=False).energy / len(bulk)
            k_slab = slab_kpoints(s, slab.cell[:])
            e_slab = runner.compute(slab, k_slab, stress=False).energy
        gamma = to_j_per_m2(surface_energy(e_slab, len(slab), e_bulk, record.area_a2))
        base = gamma if base is None else base
        print(
            f"kspacing {kspacing:g} (bulk {k_bulk}, slab {k_slab}), cutoff {cutoff:g} Ry: "
            f"gamma = {gamma:.4f} J/m² (shift {gamma - base:+.4f}); "
            f"{time.perf_counter() - start:.0f} s"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
