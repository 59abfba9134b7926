"""Phonon numerics with phonopy: rebuild, force constants, mesh and band properties.

A phonopy object is rebuilt from stored metadata, force constants come from
displacement forces, properties are computed on a mesh and along a band path.

Units: frequencies in THz (phonopy's default factor for eV/Å and amu), heat
capacity in J/(K·mol) per mole of primitive cells (phonopy's convention).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from phonopy import Phonopy
    from phonopy.structure.atoms import PhonopyAtoms
    from pymatgen.core import Structure

MESH = (20, 20, 20)
TEMPERATURE_K = 300.0
IMAGINARY_TOL_THZ = 0.05  # a frequency below -0.05 THz counts as an imaginary mode
BAND_NPOINTS = 240  # q-points along the whole band path (split by segment length)


def phonopy_metadata(ph: Phonopy) -> dict[str, Any]:
    """What is needed to rebuild ``ph`` without its forces (JSON-able, small)."""
    unit = ph.unitcell
    dataset: dict[str, Any] = dict(ph.dataset or {})
    if "first_atoms" in dataset:
        stored: dict[str, Any] = {
            "natom": int(dataset.get("natom", len(ph.supercell))),
            "first_atoms": [
                {"number": int(d["number"]), "displacement": np.asarray(d["displacement"]).tolist()}
                for d in dataset["first_atoms"]
            ],
        }
    elif "displacements" in dataset:
        stored = {"displacements": np.asarray(dataset["displacements"]).tolist()}
    else:
        stored = {}
    prim = ph.primitive_matrix
    return {
        "unitcell": {
            "lattice": np.asarray(unit.cell).tolist(),
            "symbols": list(unit.symbols),
            "scaled_positions": np.asarray(unit.scaled_positions).tolist(),
            "masses": np.asarray(unit.masses).tolist(),
        },
        "supercell_matrix": np.asarray(ph.supercell_matrix).astype(int).tolist(),
        "primitive_matrix": None if prim is None else np.asarray(prim).tolist(),
        "symprec": float(ph.symmetry.tolerance),
        "space_group": ph.symmetry.get_international_table(),
        "dataset": stored,
        "unit_conversion_factor": float(ph.unit_conversion_factor),
        "has_nac": ph.nac_params is not None,
    }


def unitcell_from_metadata(meta: dict[str, Any]) -> PhonopyAtoms:
    """The (DFT) unit cell stored in the metadata."""
    from phonopy.structure.atoms import PhonopyAtoms

    cell = meta["unitcell"]
    return PhonopyAtoms(
        symbols=cell["symbols"],
        cell=cell["lattice"],
        scaled_positions=cell["scaled_positions"],
        masses=cell["masses"],
    )


def build_phonopy(meta: dict[str, Any], unitcell: PhonopyAtoms | None = None) -> Phonopy:
    """A Phonopy object with the stored supercell matrix, primitive matrix and dataset.

    ``unitcell`` replaces the stored one (relaxed mode); atom order must match.
    """
    from phonopy import Phonopy

    ph = Phonopy(
        unitcell if unitcell is not None else unitcell_from_metadata(meta),
        supercell_matrix=meta["supercell_matrix"],
        primitive_matrix=meta["primitive_matrix"],
        symprec=meta["symprec"],
        log_level=0,
    )
    if "unit_conversion_factor" in meta:
        ph.unit_conversion_factor = meta["unit_conversion_factor"]
    dataset = meta["dataset"]
    if "first_atoms" in dataset:
        ph.dataset = {
            "natom": dataset["natom"],
            "first_atoms": [
                {"number": d["number"], "displacement": np.asarray(d["displacement"], float)}
                for d in dataset["first_atoms"]
            ],
        }
    elif "displacements" in dataset:
        ph.dataset = {"displacements": np.asarray(dataset["displacements"], float)}
    return ph


def n_displacements(meta: dict[str, Any]) -> int:
    """Number of displaced supercells of the stored dataset."""
    dataset = meta.get("dataset", {})
    return len(dataset.get("first_atoms", dataset.get("displacements", [])))


def produce_force_constants(ph: Phonopy, forces: Sequence[Any]) -> Phonopy:
    """Compact force constants from displacement forces, symmetrized as phonopy.load does."""
    ph.forces = np.asarray(forces, dtype=float)
    ph.produce_force_constants(calculate_full_force_constants=False)
    ph.symmetrize_force_constants(show_drift=False)
    return ph


@dataclass
class BandPath:
    """q-points (fractional, in the primitive reciprocal basis) along high-symmetry lines."""

    segments: list[np.ndarray]
    labels: list[tuple[str, str]]
    scheme: str

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "segments": [s.tolist() for s in self.segments],
            "labels": [list(pair) for pair in self.labels],
            "scheme": self.scheme,
        }


def band_path(primitive: Structure, symprec: float = 1e-3, npoints: int = BAND_NPOINTS) -> BandPath:
    """Setyawan-Curtarolo path mapped onto this primitive cell's reciprocal basis.

    The path is defined on pymatgen's standard primitive; its q-points are
    transformed to ``primitive``'s basis through the lattice mapping, so any
    primitive setting (phonopy's primitive matrix) gets the right points. Falls back
    to the Latimer-Munro path (defined on the cell as given) if no mapping is found.
    """
    from pymatgen.symmetry.bandstructure import HighSymmKpath

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        kpath = HighSymmKpath(primitive, path_type="setyawan_curtarolo", symprec=symprec)
        std = kpath.prim
        mapping = primitive.lattice.find_mapping(std.lattice, ltol=1e-3, atol=0.1)
        scheme = "setyawan_curtarolo"
        if mapping is None:
            kpath = HighSymmKpath(primitive, path_type="latimer_munro", symprec=symprec)
            to_ours = np.eye(3)
            scheme = "latimer_munro"
        else:
            # a_std = S a_ours  =>  q_std = S q_ours  =>  q_ours = S^-1 q_std
            to_ours = np.linalg.inv(np.asarray(mapping[2], float))
    points = {k: to_ours @ np.asarray(v, float) for k, v in kpath.kpath["kpoints"].items()}
    rec = primitive.lattice.reciprocal_lattice_crystallographic.matrix
    pairs = [
        (branch[i], branch[i + 1]) for branch in kpath.kpath["path"] for i in range(len(branch) - 1)
    ]
    lengths = [float(np.linalg.norm((points[b] - points[a]) @ rec)) for a, b in pairs]
    total = sum(lengths) or 1.0
    segments = []
    for (a, b), length in zip(pairs, lengths, strict=True):
        n = max(5, round(npoints * length / total))
        segments.append(np.linspace(points[a], points[b], n))
    labels = [(_label(a), _label(b)) for a, b in pairs]
    return BandPath(segments=segments, labels=labels, scheme=scheme)


def _label(name: str) -> str:
    return "Γ" if name in ("\\Gamma", "GAMMA", "G", "Gamma") else name.replace("_", "")


@dataclass
class PhononProperties:
    """Frequencies (THz) on a mesh and a band path, and the heat capacity."""

    mesh: tuple[int, int, int]
    qpoints: np.ndarray  # irreducible mesh q-points (fractional)
    weights: np.ndarray
    frequencies: np.ndarray  # (n_q, n_bands)
    band_frequencies: list[np.ndarray] = field(default_factory=list)  # per path segment
    band_distances: list[np.ndarray] = field(default_factory=list)  # 1/Å (no 2π), cumulative
    heat_capacity: float | None = None  # J/(K mol) at ``temperature``
    temperature: float = TEMPERATURE_K

    @property
    def max_frequency(self) -> float:
        """Highest mesh frequency."""
        return float(self.frequencies.max())

    @property
    def mean_frequency(self) -> float:
        """Mesh-weighted mean over all branches."""
        return float((self.weights[:, None] * self.frequencies).sum() / self._n_modes())

    @property
    def min_frequency(self) -> float:
        """Lowest frequency on mesh and band path (negative = imaginary)."""
        values = [float(self.frequencies.min())]
        values += [float(b.min()) for b in self.band_frequencies]
        return min(values)

    @property
    def has_imaginary_modes(self) -> bool:
        """Whether any frequency is below -IMAGINARY_TOL_THZ."""
        return self.min_frequency < -IMAGINARY_TOL_THZ

    def _n_modes(self) -> float:
        return float(self.weights.sum() * self.frequencies.shape[1])


def phonon_properties(
    ph: Phonopy,
    path: BandPath | None = None,
    mesh: Sequence[int] = MESH,
    temperature: float = TEMPERATURE_K,
) -> PhononProperties:
    """Mesh frequencies (Γ-centred, symmetry-reduced), band structure, C_V(T).

    The band structure is phonopy's (``run_band_structure``) on the path's q-points:
    frequencies and the cumulative path length in the primitive reciprocal basis.
    """
    result: Any = ph.run_mesh(list(mesh), is_gamma_center=True)
    props = PhononProperties(
        mesh=(int(mesh[0]), int(mesh[1]), int(mesh[2])),
        qpoints=np.asarray(result.qpoints, float),
        weights=np.asarray(result.weights, float),
        frequencies=np.asarray(result.frequencies, float),
        temperature=temperature,
    )
    with warnings.catch_warnings():  # phonopy notes the ~0 THz acoustic modes at Γ
        warnings.simplefilter("ignore")
        ph.run_thermal_properties(temperatures=[temperature])
    props.heat_capacity = float(ph.get_thermal_properties_dict()["heat_capacity"][0])
    if path is not None:
        ph.run_band_structure(path.segments)
        bands = ph.get_band_structure_dict()
        props.band_frequencies = [np.asarray(f, float) for f in bands["frequencies"] or []]
        props.band_distances = [np.asarray(d, float) for d in bands["distances"]]
    return props


def frequencies_at(ph: Phonopy, qpoints: np.ndarray) -> np.ndarray:
    """Frequencies (n_q, n_bands) at explicit fractional q-points."""
    ph.run_qpoints(np.asarray(qpoints, float))
    return np.asarray(ph.get_qpoints_dict()["frequencies"], float)


@dataclass(frozen=True)
class PhononComparison:
    """Model vs DFT phonon metrics."""

    max_freq_ratio: float
    mean_freq_ratio: float
    freq_mae: float
    band_mae: float | None


def compare(dft: PhononProperties, model: PhononProperties, model_ph: Phonopy) -> PhononComparison:
    """Ratios of ω_max and mean ω; MAE on DFT's mesh q-points and on the band path.

    The model's frequencies are evaluated at exactly DFT's irreducible mesh q-points
    (fractional coordinates, DFT weights), so the MAE uses a common q-point set even
    when the model's cell is relaxed.
    """
    at_dft = frequencies_at(model_ph, dft.qpoints)
    mae = float((dft.weights[:, None] * np.abs(at_dft - dft.frequencies)).sum() / dft._n_modes())
    band_mae = None
    if dft.band_frequencies and model.band_frequencies:
        diffs = np.concatenate(
            [
                np.abs(m - d).ravel()
                for m, d in zip(model.band_frequencies, dft.band_frequencies, strict=True)
            ]
        )
        band_mae = float(diffs.mean())
    return PhononComparison(
        max_freq_ratio=model.max_frequency / dft.max_frequency,
        mean_freq_ratio=model.mean_frequency / dft.mean_frequency,
        freq_mae=mae,
        band_mae=band_mae,
    )


def unitcell_from_relaxed_primitive(
    meta: dict[str, Any],
    primitive_lattice: np.ndarray,
    primitive_positions: np.ndarray,
    tol: float = 1e-3,
) -> PhonopyAtoms:
    """Map a relaxed primitive cell back onto the stored unit cell's atom order.

    Each unit-cell atom is a primitive atom plus a lattice translation n (found on the
    DFT cells); the relaxed unit cell uses the relaxed primitive lattice Lp' and
    positions: L_unit' = (P^T)^-1 Lp', r_i' = (f_p' + n_i) Lp'. The supercell matrix,
    primitive matrix, atom order and displacement dataset stay those of the reference.
    ``primitive_positions`` are fractional and in the order of phonopy's primitive.
    """
    from phonopy.structure.atoms import PhonopyAtoms

    ph = build_phonopy(meta)
    unit, prim = ph.unitcell, ph.primitive
    to_unit = np.linalg.inv(np.asarray(ph.primitive_matrix, float).T)
    frac_in_prim = (unit.scaled_positions @ unit.cell) @ np.linalg.inv(prim.cell)
    prim_frac = prim.scaled_positions
    new_lattice = to_unit @ np.asarray(primitive_lattice, float)
    new_prim_frac = np.asarray(primitive_positions, float)
    cart = np.empty_like(frac_in_prim)
    for i, (symbol, g) in enumerate(zip(unit.symbols, frac_in_prim, strict=True)):
        for p, (psym, f) in enumerate(zip(prim.symbols, prim_frac, strict=True)):
            d = g - f
            if psym == symbol and np.abs(d - np.round(d)).max() < tol:
                cart[i] = (new_prim_frac[p] + np.round(d)) @ np.asarray(primitive_lattice, float)
                break
        else:
            raise ValueError(f"unit-cell atom {i} ({symbol}) matches no primitive atom")
    return PhonopyAtoms(
        symbols=list(unit.symbols),
        cell=new_lattice,
        scaled_positions=cart @ np.linalg.inv(new_lattice),
        masses=unit.masses,
    )


@dataclass
class DftPhonons:
    """Reference (DFT) phonons of one material, shared by all the models compared to it."""

    properties: PhononProperties
    path: BandPath
    distances: list[np.ndarray]
    meta: dict[str, Any]
    phonopy: Phonopy  # reused for fixed-mode models: its symmetry search is the slow part


def reference_phonons(meta: dict[str, Any], forces: Sequence[Any]) -> DftPhonons:
    """Force constants, band path and properties from the reference's displacement forces."""
    from pymatgen.io.phonopy import get_pmg_structure

    ph = produce_force_constants(build_phonopy(meta), forces)
    primitive = get_pmg_structure(ph.primitive)
    path = band_path(primitive, symprec=max(meta["symprec"], 1e-3))
    props = phonon_properties(ph, path)
    return DftPhonons(props, path, props.band_distances, meta, ph)
