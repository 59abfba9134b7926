"""M3GNet through matgl: weights from the matgl cache or $SOFTBENCH_SHARED.

matgl 3.0 moved the node-update sum of M3GNet's graph convolution from the
destination atom (matgl <= 2.x, DGL) to the source atom without changing the
model version, so nothing in a checkpoint's files says which convention trained
it (see ``m3gnet_legacy`` and docs/notes/m3gnet-matgl4.md). softbench therefore
recognises the weights themselves: the SHA-256 of ``state.pt`` or, for re-saved
copies, a fingerprint of the tensors in it. Known DGL-era checkpoints get the
destination-sum fix however they are named or loaded (registry name, folder
path, a copy elsewhere); weights of unknown provenance must be declared with
``options={"aggregation": "destination" | "source"}`` and are refused otherwise.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from softbench.models.backends import keep_torch_dtype, require_package
from softbench.models.errors import ModelUnavailableError
from softbench.models.predictor import AsePredictor, Predictor, resolve_device
from softbench.models.spec import ModelSpec
from softbench.settings import shared_dir

WEIGHT_FILES = ("model.json", "model.pt", "state.pt")

DESTINATION = "destination"  # matgl <= 2.x (DGL): messages summed at the destination atom
SOURCE = "source"  # matgl >= 3: messages summed at the source atom
AGGREGATIONS = (DESTINATION, SOURCE)


@dataclass(frozen=True)
class KnownCheckpoint:
    """A published M3GNet checkpoint whose training convention is known."""

    name: str
    aggregation: str
    origin: str


_M3GNET_MP_2021 = KnownCheckpoint(
    "M3GNet-MP-2021.2.8-PES",
    DESTINATION,
    "matgl pretrained_models, trained with matgl's DGL code (matgl <= 2.x)",
)

# SHA-256 of state.pt (the state dict; model.pt holds only the constructor args).
KNOWN_STATE_SHA256: dict[str, KnownCheckpoint] = {
    "a9aa723705bd1a242ec8749332f137811c4a94e17995a564f8f94a9aca68061b": _M3GNET_MP_2021,
}
# state_fingerprint() of the same weights: survives re-saving (torch.save bytes differ).
KNOWN_STATE_FINGERPRINTS: dict[str, KnownCheckpoint] = {
    "8daaaa0d5612c781bf51b334ac21c6dd4ea909f745a28cdb7acacab9591d2b43": _M3GNET_MP_2021,
}


@dataclass(frozen=True)
class Convention:
    """How an M3GNet checkpoint's node messages must be summed, and how we know."""

    aggregation: str
    basis: str
    state_sha256: str
    checkpoint: str | None = None

    @property
    def needs_fix(self) -> bool:
        """Whether matgl >= 3 must be switched back to the destination sum."""
        return self.aggregation == DESTINATION and _matgl_major() >= 3

    def describe(self) -> str:
        """One phrase for provenance and logs."""
        fix = (
            "destination-sum fix applied"
            if self.needs_fix
            else f"matgl's own aggregation ({self.aggregation} sum)"
        )
        return f"{self.basis}; {fix}"


def candidate_dirs(spec: ModelSpec) -> list[Path]:
    """Folders searched for the matgl model, in order."""
    if spec.options.get("path"):
        return [Path(spec.options["path"]).expanduser()]
    folder = spec.options.get("matgl_name", spec.name)
    cache = Path(os.environ.get("MATGL_CACHE", "~/.cache/matgl")).expanduser()
    return [cache / folder, shared_dir() / "models" / "matgl" / folder]


def weights_files(spec: ModelSpec) -> list[Path]:
    """model.json, model.pt and state.pt of the first folder that has them."""
    tried = candidate_dirs(spec)
    for folder in tried:
        files = [folder / name for name in WEIGHT_FILES]
        if all(f.exists() for f in files):
            return files
    raise ModelUnavailableError(
        f"model {spec.name}: matgl weights not found in "
        + ", ".join(str(t) for t in tried)
        + ". matgl downloads them by name on a machine with internet; offline, "
        "copy the folder there or set SOFTBENCH_SHARED."
    )


def _matgl_major() -> int:
    from importlib.metadata import version

    return int(version("matgl").split(".")[0])


def model_class(folder: Path) -> str | None:
    """The network class named in a matgl folder's model.json (e.g. ``M3GNet``)."""
    try:
        data = json.loads((folder / "model.json").read_text())
    except (OSError, ValueError):
        return None
    inner = data.get("kwargs", {}).get("model") if isinstance(data, dict) else None
    if isinstance(inner, dict) and "@class" in inner:
        return str(inner["@class"])
    return str(data.get("@class")) if isinstance(data, dict) else None


def _stat_key(path: Path) -> tuple[str, float, int]:
    stat = path.stat()
    return str(path.resolve()), stat.st_mtime, stat.st_size


def file_sha256(path: Path) -> str:
    """SHA-256 of one file (cached while the file is unchanged)."""
    return _file_sha256(*_stat_key(path))


@lru_cache(maxsize=32)
def _file_sha256(path: str, mtime: float, size: int) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def state_fingerprint(path: Path) -> str:
    """SHA-256 over names, dtypes, shapes and values of a saved state dict."""
    return _state_fingerprint(*_stat_key(path))


@lru_cache(maxsize=32)
def _state_fingerprint(path: str, mtime: float, size: int) -> str:
    import torch

    state = torch.load(path, map_location="cpu", weights_only=True)
    digest = hashlib.sha256()
    for key in sorted(state):
        value = state[key]
        digest.update(key.encode())
        digest.update(str(value.dtype).encode())
        digest.update(str(tuple(value.shape)).encode())
        digest.update(value.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def _declared(spec: ModelSpec) -> str | None:
    value = spec.options.get("aggregation")
    if value is None and "dgl_trained" in spec.options:  # older registrations
        value = DESTINATION if spec.options["dgl_trained"] else SOURCE
    if value is not None and value not in AGGREGATIONS:
        raise ModelUnavailableError(
            f"model {spec.name}: aggregation={value!r}; expected one of {', '.join(AGGREGATIONS)}"
        )
    return value


def convention(spec: ModelSpec) -> Convention:
    """The message-sum convention of the spec's M3GNet weights; refuse if unknown.

    The weights decide, not the name: a known checkpoint is recognised by the
    SHA-256 of its ``state.pt`` (or the fingerprint of its tensors), wherever it
    lies. Unknown weights need ``options["aggregation"]`` ("destination" for
    weights trained with matgl <= 2.x / DGL, "source" for matgl >= 3).
    """
    state = weights_files(spec)[2]
    sha = file_sha256(state)
    known = KNOWN_STATE_SHA256.get(sha)
    if known is None:
        try:
            known = KNOWN_STATE_FINGERPRINTS.get(state_fingerprint(state))
        except Exception:  # unreadable state dict: matgl's own load will say why
            known = None
    declared = _declared(spec)
    if known is not None:
        return Convention(
            known.aggregation,
            f"weights are {known.name} (state.pt sha256 {sha}; {known.origin})",
            sha,
            known.name,
        )
    if declared is not None:
        return Convention(declared, f"{declared} sum declared for state.pt sha256 {sha}", sha)
    raise ModelUnavailableError(
        f"model {spec.name}: cannot tell whether the M3GNet weights in {state.parent} "
        f"(state.pt sha256 {sha}) were trained with matgl <= 2.x (DGL, messages summed at "
        "the destination atom) or matgl >= 3 (source atom), and the wrong choice is "
        "silently wrong for compounds; register them with softbench.models.register("
        "ModelSpec(..., options={'path': ..., 'aggregation': 'destination' or 'source'}))"
    )


def check(spec: ModelSpec) -> Convention | None:
    """Convention of an M3GNet folder (None for other matgl networks); raises if unknown."""
    if model_class(weights_files(spec)[0].parent) not in (None, "M3GNet"):
        return None
    return convention(spec)


def provenance_note(spec: ModelSpec) -> str | None:
    """What provenance records about the weights' convention and the fix."""
    conv = check(spec)
    return None if conv is None else f"M3GNet {conv.describe()}"


def load(spec: ModelSpec, device: str | None = None) -> Predictor:
    """Load the matgl potential (fixed if its weights need it) and wrap its ASE calculator."""
    require_package(spec)
    conv = check(spec)  # refuses weights of unknown convention before the heavy imports
    import matgl
    from matgl.ext.ase import PESCalculator

    device = resolve_device(device)
    folder = weights_files(spec)[0].parent
    with keep_torch_dtype():
        potential = matgl.load_model(folder)
    if conv is not None and conv.needs_fix:
        from softbench.models.backends.m3gnet_legacy import use_destination_sum

        use_destination_sum(potential)
    if device != "cpu":
        potential = potential.to(device)
    calc = PESCalculator(potential, stress_unit="eV/A3")
    elements = frozenset(potential.model.element_types)
    return AsePredictor(spec, calc, device=device, elements=elements)
