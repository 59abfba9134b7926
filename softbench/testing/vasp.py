"""A VASP double for atomate2 VASP jobs, in the style of atomate2's ``monkeypatch_vasp``.

VASP cannot run in CI. The double lets the real atomate2 job write its inputs
(INCAR, KPOINTS, POSCAR, POTCAR.spec), records them for inspection, then copies
the outputs of a *real* VASP run (vasprun.xml, OUTCAR, CONTCAR) into the job folder
so atomate2 parses them into a TaskDoc. Which real run a job gets is decided by a
function of the job name. The numbers that come out are those of the real run,
not of the job's structure: never present them as results.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

OUTPUT_FILES = ("vasprun.xml", "OUTCAR", "CONTCAR", "OSZICAR")


@dataclass
class VaspInputsSeen:
    """Inputs a job wrote before the double 'ran' VASP."""

    job_name: str
    incar: dict[str, Any]
    kpoints: Any  # pymatgen Kpoints or None (KSPACING)
    poscar_structure: Any
    potcar_symbols: list[str]
    output_dir: Path


@dataclass
class VaspDouble:
    """Records of every faked run, keyed by job name."""

    runs: dict[str, VaspInputsSeen] = field(default_factory=dict)


@contextmanager
def fake_vasp(monkeypatch: Any, outputs_for: Callable[[str], str | Path]) -> Iterator[VaspDouble]:
    """Patch atomate2 so VASP jobs copy real outputs chosen by ``outputs_for(job_name)``."""
    import atomate2.vasp.jobs.base
    import atomate2.vasp.run
    from jobflow import CURRENT_JOB
    from pymatgen.io.vasp import Incar, Kpoints, Poscar
    from pymatgen.io.vasp.sets import VaspInputSet

    double = VaspDouble()

    def run_vasp(*_args: Any, **_kwargs: Any) -> None:
        name = CURRENT_JOB.job.name
        cwd = Path.cwd()
        kpoints = Kpoints.from_file(cwd / "KPOINTS") if (cwd / "KPOINTS").exists() else None
        spec = cwd / "POTCAR.spec"
        src = Path(outputs_for(name))
        double.runs[name] = VaspInputsSeen(
            job_name=name,
            incar=dict(Incar.from_file(cwd / "INCAR")),
            kpoints=kpoints,
            poscar_structure=Poscar.from_file(cwd / "POSCAR").structure,
            potcar_symbols=spec.read_text().split() if spec.exists() else [],
            output_dir=src,
        )
        for stem in OUTPUT_FILES:
            for candidate in sorted(src.glob(stem + "*")):
                if candidate.name.endswith(".orig") or ".orig." in candidate.name:
                    continue
                shutil.copy(candidate, cwd / candidate.name)
                break

    original = VaspInputSet.get_input_set

    def get_input_set(self: Any, *args: Any, **kwargs: Any) -> Any:
        kwargs["potcar_spec"] = True  # no POTCAR files in CI
        return original(self, *args, **kwargs)

    monkeypatch.setattr(atomate2.vasp.run, "run_vasp", run_vasp)
    monkeypatch.setattr(atomate2.vasp.jobs.base, "run_vasp", run_vasp)
    monkeypatch.setattr(VaspInputSet, "get_input_set", get_input_set)
    monkeypatch.setattr(VaspInputSet, "nelect", property(lambda self: 0))
    yield double
