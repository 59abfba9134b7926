"""One module per model family: ``weights_files(spec)`` and ``load(spec, device)``."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from softbench.models.errors import ModelUnavailableError
from softbench.models.spec import ModelSpec


def require_package(spec: ModelSpec) -> None:
    """Raise a clear error when the model's package is not importable here."""
    if spec.package_installed():
        return
    extra = "mace" if spec.environment == "mace" else "models"
    raise ModelUnavailableError(
        f"model {spec.name} needs the Python package {spec.package!r}, which is not "
        f"installed in this environment. Install it with "
        f"`pip install 'softbench[{extra}]'` (environment {spec.environment!r}, "
        f"see README 'Environments'), or point SOFTBENCH_ENV_"
        f"{spec.environment.upper()} at the Python of an environment that has it."
    )


def user_file(spec: ModelSpec) -> Path | None:
    """The model file named by the spec's ``path`` option (None without one).

    Raises ModelUnavailableError when no file is there.
    """
    if not spec.options.get("path"):
        return None
    path = Path(spec.options["path"]).expanduser()
    if not path.exists():
        raise ModelUnavailableError(f"model {spec.name}: no file at {path}")
    return path


@contextmanager
def keep_torch_dtype() -> Iterator[None]:
    """Restore torch's default dtype after loading (some loaders change it)."""
    import torch

    dtype = torch.get_default_dtype()
    try:
        yield
    finally:
        torch.set_default_dtype(dtype)
