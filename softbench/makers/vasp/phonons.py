"""DFT side of the phonon benchmark computed with VASP (atomate2's PhononMaker).

atomate2's VASP PhononMaker with MP-compatible settings, plus a job that turns
its displacement forces into the same ``phonons-fixed`` reference document that
ingestion writes.

MP compatibility (what MPtrj-trained uMLIPs were fitted to): PBE with MP's PAW
choices and +U rules (atomate2's base input set), ENCUT 520 eV, and the tight
EDIFF 1e-7 that finite displacements need (as in the shared phonons-pbe data).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from jobflow import Flow, Job, Maker, job

from softbench.analysis.phonons import phonopy_metadata
from softbench.ingest.base import finalize
from softbench.makers.phonons import PHONOPY_KEY
from softbench.schemas.configuration import ARRAYS_KEY, Configuration
from softbench.schemas.phonons import PHONON_TASKS
from softbench.schemas.reference import ReferenceTaskDocument

if TYPE_CHECKING:
    from pymatgen.core import Structure

MP_ENCUT = 520
MP_PHONON_INCAR: dict[str, Any] = {
    "ENCUT": MP_ENCUT,
    "EDIFF": 1e-7,
    "LREAL": False,
    "PREC": "Accurate",
    "ALGO": "Normal",
    "LCHARG": False,
    "LWAVE": False,
}


def mp_phonon_maker(
    displacement: float = 0.01,
    min_length: float = 20.0,
    relax: bool = True,
    static: bool = True,
    born: bool = False,
    symprec: float = 1e-4,
) -> Any:
    """atomate2's VASP ``PhononMaker`` with MP-compatible (PBE, 520 eV) settings.

    The structure is first made the standard primitive cell (its Setyawan-Curtarolo
    path needs no seekpath). ``born=False`` skips the dielectric run, as in the
    shared phonons-pbe data (no NAC).
    """
    from atomate2.vasp.flows.core import DoubleRelaxMaker
    from atomate2.vasp.flows.phonons import PhononMaker
    from atomate2.vasp.jobs.core import DielectricMaker, StaticMaker, TightRelaxMaker
    from atomate2.vasp.jobs.phonons import PhononDisplacementMaker
    from atomate2.vasp.sets.core import StaticSetGenerator, TightRelaxSetGenerator

    relax_maker: Any = DoubleRelaxMaker.from_relax_maker(
        TightRelaxMaker(
            input_set_generator=TightRelaxSetGenerator(
                user_incar_settings={"ENCUT": MP_ENCUT, "EDIFF": 1e-7, "EDIFFG": -1e-3}
            )
        )
    )
    static_maker = StaticMaker(
        input_set_generator=StaticSetGenerator(
            user_incar_settings={"ENCUT": MP_ENCUT}, auto_ispin=True
        )
    )
    displacement_maker = PhononDisplacementMaker(
        input_set_generator=StaticSetGenerator(
            user_kpoints_settings={"reciprocal_density": 100},
            user_incar_settings={**MP_PHONON_INCAR, "NSW": 0, "IBRION": -1},
            auto_ispin=True,
        )
    )
    return PhononMaker(
        displacement=displacement,
        min_length=min_length,
        symprec=symprec,
        use_symmetrized_structure="primitive",
        kpath_scheme="setyawan_curtarolo",
        create_thermal_displacements=False,
        bulk_relax_maker=relax_maker if relax else None,
        static_energy_maker=static_maker if static else None,
        born_maker=DielectricMaker() if born else None,
        phonon_displacement_maker=displacement_maker,
    )


@dataclass
class VaspPhononReferenceMaker(Maker):
    """atomate2 VASP phonon flow + a job writing its forces as a reference document.

    The reference job rebuilds the displacement set exactly as atomate2 generated
    it (same phonopy call and arguments), pairs it with the forces of the
    displacement jobs and stores the phonopy metadata, so fixed- and relaxed-mode
    model jobs and the phonon builder treat it like an ingested phonopy yaml.
    """

    name: str = "vasp phonons reference"
    label: str = "vasp:phonons-pbe"
    phonon_maker: Any = field(default_factory=mp_phonon_maker)

    def make(
        self,
        structure: Structure,
        material_id: str,
        supercell_matrix: list[list[int]] | None = None,
    ) -> Flow:
        """The atomate2 phonon flow followed by the reference job."""
        phonons = self.phonon_maker.make(structure, supercell_matrix=supercell_matrix)
        collect = _find_job(phonons, "generate_frequencies_eigenvectors")
        kwargs = collect.function_kwargs
        reference = vasp_phonon_reference(
            material_id=material_id,
            label=self.label,
            structure=kwargs["structure"],
            supercell_matrix=kwargs["supercell_matrix"],
            displacement=kwargs["displacement"],
            sym_reduce=kwargs["sym_reduce"],
            symprec=kwargs["symprec"],
            use_symmetrized_structure=kwargs["use_symmetrized_structure"],
            kpath_scheme=kwargs["kpath_scheme"],
            displacement_data=kwargs["displacement_data"],
        )
        reference.name = f"{self.name} {material_id}"
        reference.metadata.update(
            {"softbench": {"task": PHONON_TASKS["fixed"], "material_id": material_id}}
        )
        return Flow([phonons, reference], output=reference.output, name=self.name)


def _find_job(flow: Flow, name: str) -> Job:
    for item in flow.jobs:
        if isinstance(item, Flow):
            try:
                return _find_job(item, name)
            except LookupError:
                continue
        elif item.name == name:
            return item
    raise LookupError(f"no job {name!r} in flow {flow.name}")


@job(data=ARRAYS_KEY)
def vasp_phonon_reference(
    material_id: str,
    label: str,
    structure: Structure,
    supercell_matrix: Any,
    displacement: float,
    sym_reduce: bool,
    symprec: float,
    use_symmetrized_structure: str | None,
    kpath_scheme: str,
    displacement_data: dict[str, list],
) -> ReferenceTaskDocument:
    """Displaced supercells (regenerated as atomate2 did) with their VASP forces."""
    from phonopy import Phonopy
    from pymatgen.io.phonopy import get_phonopy_structure, get_pmg_structure

    primitive: Any = (
        np.eye(3)
        if use_symmetrized_structure == "primitive" and kpath_scheme != "seekpath"
        else "auto"
    )
    ph = Phonopy(
        get_phonopy_structure(structure),
        np.asarray(supercell_matrix),
        primitive_matrix=primitive,
        symprec=symprec,
        is_symmetry=sym_reduce,
    )
    ph.generate_displacements(distance=displacement)
    doc = ReferenceTaskDocument(
        task=PHONON_TASKS["fixed"],
        material_id=material_id,
        formula=structure.composition.reduced_formula,
        reference=label,
        source="atomate2 VASP PhononMaker: " + ", ".join(map(str, displacement_data["dirs"])),
        dft_settings={
            "code": "VASP",
            "workflow": "atomate2 PhononMaker (softbench.makers.vasp.phonons)",
            "displacement_angstrom": displacement,
            "supercell_matrix": np.asarray(supercell_matrix).tolist(),
            "incar": MP_PHONON_INCAR,
            PHONOPY_KEY: phonopy_metadata(ph),
        },
    )
    order = np.argsort(displacement_data["displacement_number"])
    supercells = ph.supercells_with_displacements or []
    if len(order) != len(supercells):
        doc.state, doc.reason = (
            "unusable",
            f"{len(order)} displacement results for {len(supercells)} displacements",
        )
        return doc
    confs = []
    for i, k in enumerate(order):
        forces = displacement_data["forces"][k]
        confs.append(
            Configuration.from_structure(
                get_pmg_structure(supercells[i]),
                f"disp-{i + 1:03d}",
                forces=None if forces is None else np.asarray(forces, float),
                metadata={
                    "displacement_index": i,
                    "vasp_uuid": displacement_data["uuids"][k],
                    "dir_name": str(displacement_data["dirs"][k]),
                },
            )
        )
    return finalize(doc, confs)
