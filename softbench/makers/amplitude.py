"""Model side of the amplitude task: forces on seeded displacement patterns of a supercell.

One job per (material, model): the phonon reference's supercell (from its phonopy
metadata) and all displacement patterns of all amplitudes go through the loaded
model in one batched call, together with the undisplaced supercell (the model's
residual force, which the builder subtracts). The harmonic DFT side is the
builder's (:mod:`softbench.builders.amplitude`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from jobflow import Maker, job

from softbench.analysis.amplitude import (
    DEFAULT_AMPLITUDES,
    DEFAULT_PATTERNS,
    DEFAULT_SEED,
    check_amplitudes,
    displacement_patterns,
)
from softbench.makers.phonons import PHONOPY_KEY
from softbench.models import ModelError, ModelRef, resolve_model
from softbench.models.evaluate import evaluate
from softbench.schemas.amplitude import UNDISPLACED, AmplitudePredictionDocument
from softbench.schemas.configuration import ARRAYS_KEY, Configuration
from softbench.schemas.reference import ReferenceTaskDocument


@dataclass
class ModelAmplitudeMaker(Maker):
    """Model forces on ``n_patterns`` random patterns per amplitude (see module docstring)."""

    name: str = "model amplitude"
    model: ModelRef = "chgnet-0.3.0"  # registry name or ModelSpec.to_dict()
    amplitudes: tuple[float, ...] = DEFAULT_AMPLITUDES
    n_patterns: int = DEFAULT_PATTERNS
    seed: int = DEFAULT_SEED
    device: str | None = None
    show_progress: bool = True

    @job(data=ARRAYS_KEY)
    def make(
        self,
        reference: ReferenceTaskDocument | dict[str, Any],
        reference_uuid: str | None = None,
    ) -> AmplitudePredictionDocument:
        """Displace, evaluate, store the forces."""
        return predict_amplitudes(
            reference,
            self.model,
            reference_uuid,
            self.amplitudes,
            self.n_patterns,
            self.seed,
            self.device,
            self.show_progress,
        )


def predict_amplitudes(
    reference: ReferenceTaskDocument | dict[str, Any],
    model: ModelRef,
    reference_uuid: str | None = None,
    amplitudes: tuple[float, ...] = DEFAULT_AMPLITUDES,
    n_patterns: int = DEFAULT_PATTERNS,
    seed: int = DEFAULT_SEED,
    device: str | None = None,
    show_progress: bool = False,
) -> AmplitudePredictionDocument:
    """The work of :class:`ModelAmplitudeMaker`, callable without jobflow."""
    amplitudes = check_amplitudes(amplitudes)
    ref = ReferenceTaskDocument.coerce(reference)
    spec = resolve_model(model)
    settings = {"amplitudes_angstrom": list(amplitudes), "n_patterns": n_patterns, "seed": seed}
    doc = AmplitudePredictionDocument.from_reference(
        ref, spec.safe_provenance(), reference_uuid, settings=settings
    )
    if ref.state != "successful":
        return doc.with_failure(f"reference unusable: {ref.reason}")
    meta = ref.dft_settings.get(PHONOPY_KEY)
    if not meta:
        return doc.with_failure(
            "reference has no phonopy metadata (ingest it with `softbench run phonons` "
            "or PhononReferenceMaker)"
        )
    supercell = reference_supercell(meta)
    structures, labels, metadata = displaced_structures(supercell, amplitudes, n_patterns, seed)
    try:
        ev = evaluate(
            spec,
            structures,
            device=device,
            labels=labels,
            show_progress=show_progress,
            description=f"{spec.name} amplitudes {ref.material_id}",
            stress=False,
        )
    except ModelError as exc:
        return doc.with_failure(str(exc))
    except Exception as exc:  # one material's failure must not stop the others
        return doc.with_failure(f"model evaluation failed: {type(exc).__name__}: {exc}")
    if ev.errors:
        return doc.with_failure(
            "; ".join(f"{labels[i]}: {e}" for i, e in sorted(ev.errors.items()))
        )
    if ev.provenance is not None:
        doc.model = ev.provenance
    doc.configurations = [
        Configuration.from_structure(s, label, energy=p.energy, forces=p.forces, metadata=m)
        for s, label, m, p in zip(structures, labels, metadata, ev.predictions, strict=True)
        if p is not None
    ]
    doc.configuration_ids = [c.configuration_id for c in doc.configurations]
    doc.device = ev.device
    doc.timing = {
        "load_seconds": ev.load_seconds,
        "eval_seconds": ev.eval_seconds,
        "n_structures": float(len(structures)),
    }
    return doc


def reference_supercell(meta: dict[str, Any]) -> Any:
    """The undisplaced supercell of a phonon reference, as a pymatgen Structure."""
    from pymatgen.io.phonopy import get_pmg_structure

    from softbench.analysis.phonons import build_phonopy

    return get_pmg_structure(build_phonopy(meta).supercell)


def displaced_structures(
    supercell: Any, amplitudes: tuple[float, ...], n_patterns: int, seed: int
) -> tuple[list[Any], list[str], list[dict[str, Any]]]:
    """The undisplaced supercell, then every pattern of every amplitude (labels, metadata)."""
    patterns = displacement_patterns(len(supercell), amplitudes, n_patterns, seed)
    structures, labels = [supercell], [UNDISPLACED]
    metadata: list[dict[str, Any]] = [{"amplitude_angstrom": 0.0}]
    lattice, species = supercell.lattice, supercell.species
    for amplitude, disps in patterns.items():
        for p, u in enumerate(disps):
            coords = supercell.cart_coords + np.asarray(u)
            structures.append(type(supercell)(lattice, species, coords, coords_are_cartesian=True))
            labels.append(f"A{amplitude:g}-p{p}")
            metadata.append({"amplitude_angstrom": amplitude, "pattern": p})
    return structures, labels, metadata
