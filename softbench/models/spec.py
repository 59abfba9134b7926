"""Model specification: what a registry entry knows without loading the model."""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from importlib import import_module
from importlib.metadata import PackageNotFoundError, version
from importlib.util import find_spec
from pathlib import Path
from typing import TYPE_CHECKING, Any

from softbench.schemas.provenance import ModelProvenance

if TYPE_CHECKING:
    from softbench.models.predictor import Predictor

BACKENDS = {
    "chgnet": "softbench.models.backends.chgnet",
    "m3gnet": "softbench.models.backends.m3gnet",
    "sevennet": "softbench.models.backends.sevennet",
    "mace": "softbench.models.backends.mace",
    "ase": "softbench.models.backends.ase",
    "corrected": "softbench.models.backends.corrected",
}


@dataclass(frozen=True)
class ModelSpec:
    """A uMLIP as softbench knows it: name, version, source and how to load it."""

    name: str
    family: str
    version: str
    source: str
    package: str | None = None
    environment: str = "default"
    description: str = ""
    options: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)

    @property
    def backend(self) -> Any:
        """The backend module (imported lazily; backends import torch lazily too)."""
        if self.family not in BACKENDS:
            raise ValueError(f"model {self.name}: unknown family {self.family!r}")
        return import_module(BACKENDS[self.family])

    def package_installed(self) -> bool:
        """Whether the model's Python package is importable here (no import)."""
        return self.package is None or find_spec(self.package) is not None

    def package_version(self) -> str | None:
        """Installed version of the model's package, if any."""
        if self.package is None:
            return None
        try:
            return version(self.package.replace("_", "-"))
        except PackageNotFoundError:
            dist = {"mace": "mace-torch"}.get(self.package)
            try:
                return version(dist) if dist else None
            except PackageNotFoundError:
                return None

    def weights_files(self) -> list[Path]:
        """Files holding the weights; raises ModelUnavailableError if absent."""
        return list(self.backend.weights_files(self))

    def weights_status(self) -> tuple[bool, str]:
        """(present, where or why not) for ``softbench models``."""
        from softbench.models.errors import ModelError

        try:
            files = self.weights_files()
        except ModelError as exc:
            return False, str(exc)
        if not files:
            return True, "no weight files (analytic or built-in calculator)"
        return True, str(files[0].parent if len(files) > 1 else files[0])

    def weights_sha256(self) -> str | None:
        """SHA-256 over the weight files (None for weightless calculators)."""
        files = self.weights_files()
        return _sha256_files(tuple(str(f) for f in files)) if files else None

    def provenance(self) -> ModelProvenance:
        """Provenance recorded with every result of this model."""
        return ModelProvenance(
            name=self.name,
            family=self.family,
            version=self.version,
            package=self.package,
            package_version=self.package_version(),
            source=self.provenance_source(),
            weights_sha256=self.weights_sha256(),
            environment=self.environment,
            correction=self.correction(),
        )

    def safe_provenance(self) -> ModelProvenance:
        """:meth:`provenance` even when the weights are unavailable (checksum then None)."""
        from softbench.models.errors import ModelError

        try:
            return self.provenance()
        except ModelError:
            return ModelProvenance(
                name=self.name,
                family=self.family,
                version=self.version,
                package=self.package,
                source=self.source,
                environment=self.environment,
                correction=self.correction(),
            )

    def correction(self) -> dict[str, Any] | None:
        """A linear correction's c, label configurations and source (None otherwise)."""
        info = self.options.get("correction")
        if info is None:
            return None
        return {**info, "c": self.options.get("c"), "base": self.options["base"]["name"]}

    def provenance_source(self) -> str:
        """``source`` plus what the backend did to the weights (e.g. a convention fix)."""
        note = getattr(self.backend, "provenance_note", None)
        text = note(self) if note is not None else None
        return f"{self.source}; {text}" if text else self.source

    def load(self, device: str | None = None) -> Predictor:
        """Load the model into a predictor (heavy: imports torch)."""
        return self.backend.load(self, device)

    def to_dict(self) -> dict[str, Any]:
        """Plain dict, used to hand the spec to a worker in another environment."""
        return asdict(self)


@lru_cache(maxsize=64)
def _sha256_files(paths: tuple[str, ...]) -> str:
    digest = hashlib.sha256()
    for path in sorted(paths):
        digest.update(Path(path).name.encode())
        with Path(path).open("rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()


def package_dir(package: str) -> Path | None:
    """Directory of an installed package without importing it."""
    spec = find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))
