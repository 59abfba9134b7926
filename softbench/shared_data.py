"""Reference data sets: found in ``$SOFTBENCH_SHARED`` or downloaded once, checksummed.

Each data set lists its files with the public URL they come from and the SHA-256 of
their content (for ``.xz`` copies in the shared folder: of the decompressed file,
which is what the public source serves). ``dataset_path`` returns a local folder,
downloading missing files into the softbench cache when the shared copy is absent.
"""

from __future__ import annotations

import hashlib
import json
import lzma
import shutil
import sys
import urllib.request
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from softbench.settings import cache_dir, shared_dir

PHONON_COMMIT = "afbae73bdca2b7d255d082ccccdd30d3e982cf27"
PHONON_URL = (
    "https://raw.githubusercontent.com/JaGeo/mace-mp-03b-phonon-benchmark/"
    f"{PHONON_COMMIT}/dft_pbe_phonons/{{material_id}}/phonopy.yaml"
)
MATCALC_URL = (
    "https://raw.githubusercontent.com/materialsvirtuallab/matcalc/{commit}/benchmark_data/{name}"
)


class DataUnavailableError(RuntimeError):
    """A data set is neither in the shared folder nor downloadable."""


@dataclass(frozen=True)
class DatasetFile:
    """A file of a data set: where it lives locally and where it comes from."""

    relpath: str  # path below the data set folder, as served (uncompressed name)
    url: str
    sha256: str


def registry() -> dict[str, Any]:
    """The packaged list of data sets, files, URLs and checksums."""
    text = resources.files("softbench").joinpath("data/datasets.json").read_text()
    return json.loads(text)


def dataset_info(name: str) -> dict[str, Any]:
    """One data set's registry entry (citation, license, DFT settings, files)."""
    reg = registry()
    if name not in reg:
        raise DataUnavailableError(f"unknown data set {name!r}; known: {sorted(reg)}")
    return reg[name]


def shared_path(name: str) -> Path:
    """Folder of the data set inside ``$SOFTBENCH_SHARED``."""
    return shared_dir() / "data" / name


def dataset_path(
    name: str, only: list[str] | None = None, download: bool = True, quiet: bool = False
) -> Path:
    """Local folder of a data set: the shared copy, else the (downloaded) cache copy.

    ``only`` restricts a download to files whose path starts with one of the
    prefixes (e.g. a few material ids).
    """
    shared = shared_path(name)
    if shared.exists():
        return shared
    target = cache_dir() / "data" / name
    files = [
        DatasetFile(**f)
        for f in dataset_info(name)["files"]
        if not only or any(f["relpath"].startswith(p) for p in only)
    ]
    missing = [f for f in files if not (target / f.relpath).exists()]
    if missing and not download:
        raise DataUnavailableError(
            f"data set {name} is not in {shared} and not downloaded to {target}"
        )
    if missing and not quiet:
        print(
            f"softbench: {shared} not found; downloading {len(missing)} file(s) of "
            f"{name} into {target} (once, SHA-256 checked)",
            file=sys.stderr,
        )
    for f in missing:
        fetch(f, target / f.relpath)
    return target


def fetch(f: DatasetFile, dest: Path) -> None:
    """Download one file, verify its checksum, then move it into place."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(dest.name + ".part")
    try:
        with urllib.request.urlopen(f.url, timeout=60) as response, tmp.open("wb") as out:
            shutil.copyfileobj(response, out)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise DataUnavailableError(f"could not download {f.url}: {exc}") from exc
    digest = sha256_of(tmp)
    if digest != f.sha256:
        tmp.unlink(missing_ok=True)
        raise DataUnavailableError(
            f"checksum mismatch for {f.url}: got {digest}, expected {f.sha256}"
        )
    tmp.replace(dest)


def sha256_of(path: Path) -> str:
    """SHA-256 of a file's content, decompressing ``.xz`` copies."""
    digest = hashlib.sha256()
    if path.suffix == ".xz":
        digest.update(lzma.decompress(path.read_bytes()))
        return digest.hexdigest()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def build_registry(shared: Path) -> dict[str, Any]:
    """Regenerate ``data/datasets.json`` from a complete shared folder."""
    phonon_dir = shared / "data" / "phonons-pbe"
    phonon_files = [
        {
            "relpath": f"{p.parent.name}/phonopy.yaml",
            "url": PHONON_URL.format(material_id=p.parent.name),
            "sha256": sha256_of(p),
        }
        for p in sorted(phonon_dir.glob("*/phonopy.yaml.xz"))
    ]
    matcalc = {
        "wbm-equilibrium": (
            "wbm-random-pbe52-equilibrium-2025.1.json.gz",
            "0c5442079cac80c6429afbaa635b7251f01c2ed9",
        ),
        "mp-elasticity": (
            "mp-binary-pbe-elasticity-2025.1.json.gz",
            "27f2d5f44b2bc045ff47446c599a3b6aba298b7f",
        ),
    }
    reg: dict[str, Any] = {
        "phonons-pbe": {
            "description": "DFT (VASP PBE) finite-displacement phonons, 48 materials",
            "citation": "github.com/JaGeo/mace-mp-03b-phonon-benchmark, "
            "Zenodo DOI 10.5281/zenodo.15462975",
            "dft_settings": {
                "code": "VASP",
                "functional": "PBE",
                "ENCUT": 520,
                "EDIFF": 1e-7,
                "displacement_angstrom": 0.01,
                "workflow": "atomate2 PhononMaker",
            },
            "files": phonon_files,
        },
    }
    for name, (fname, commit) in matcalc.items():
        reg[name] = {
            "description": f"matcalc benchmark_data/{fname}",
            "citation": "github.com/materialsvirtuallab/matcalc (BSD-3)",
            "dft_settings": {"code": "VASP", "functional": "PBE"},
            "files": [
                {
                    "relpath": fname,
                    "url": MATCALC_URL.format(commit=commit, name=fname),
                    "sha256": sha256_of(shared / "data" / name / fname),
                }
            ],
        }
    return reg


if __name__ == "__main__":  # python -m softbench.shared_data  (maintainers only)
    out = Path(__file__).parent / "data" / "datasets.json"
    out.write_text(json.dumps(build_registry(shared_dir()), indent=1) + "\n")
    print(f"wrote {out}")
