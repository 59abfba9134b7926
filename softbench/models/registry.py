"""The model registry: built-in uMLIPs, user registrations, paths and import paths."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from softbench.models.errors import UnknownModelError
from softbench.models.spec import ModelSpec

# family -> (package, environment) of the model files softbench can load by family
FAMILIES: dict[str, tuple[str, str]] = {
    "chgnet": ("chgnet", "default"),
    "m3gnet": ("matgl", "default"),
    "sevennet": ("sevenn", "default"),
    "mace": ("mace", "mace"),
}


def family_spec(
    family: str, name: str, version: str, source: str, description: str = "", **options: Any
) -> ModelSpec:
    """A spec of a known family: package and environment come from :data:`FAMILIES`."""
    package, environment = FAMILIES[family]
    return ModelSpec(name, family, version, source, package, environment, description, options)


BUILTIN_MODELS: tuple[ModelSpec, ...] = (
    family_spec(
        "chgnet",
        "chgnet-0.3.0",
        "0.3.0",
        source="chgnet package, pretrained/0.3.0 (MPtrj)",
        description="CHGNet 0.3.0 trained on MPtrj (PBE/PBE+U)",
    ),
    family_spec(
        "m3gnet",
        "m3gnet-mp-2021.2.8",
        "2021.2.8",
        source="matgl M3GNet-MP-2021.2.8-PES (matgl cache or $SOFTBENCH_SHARED)",
        description="M3GNet PES trained on MP 2021.2.8 relaxations (the paper's M3GNet)",
        # Trained with matgl's DGL code: needs the destination-sum fix on matgl>=3.
        # The backend applies it to these weights by their checksum, not by this name
        # (backends/m3gnet.py: the same weights loaded by path get it too).
        matgl_name="M3GNet-MP-2021.2.8-PES",
    ),
    family_spec(
        "sevennet",
        "sevennet-0",
        "0 (11Jul2024)",
        source="sevenn package, SevenNet_0__11Jul2024 checkpoint (MPtrj)",
        description="SevenNet-0 trained on MPtrj",
        checkpoint="7net-0",
    ),
    family_spec(
        "mace",
        "mace-mp-0-medium",
        "mp-0 medium (2023-12-03)",
        source="MACE-MP-0 medium, github.com/ACEsuit/mace-mp (downloaded by mace)",
        description="MACE-MP-0 medium trained on MPtrj; needs the mace environment",
        mace_mp="medium",
    ),
)

_REGISTRY: dict[str, ModelSpec] = {spec.name: spec for spec in BUILTIN_MODELS}


def register(spec: ModelSpec, overwrite: bool = False) -> ModelSpec:
    """Add a model (e.g. a fine-tuned or corrected model) to the registry."""
    if spec.name in _REGISTRY and not overwrite:
        raise ValueError(f"model {spec.name} is already registered")
    _REGISTRY[spec.name] = spec
    return spec


def is_builtin(spec: ModelSpec) -> bool:
    """Whether the spec is one of softbench's built-in registry entries."""
    return any(spec == b and spec.options == b.options for b in BUILTIN_MODELS)


def known_models() -> list[ModelSpec]:
    """All registered models: built-ins, this process's, saved fine-tunes and corrections."""
    from softbench.models.corrections import stored_corrections

    load_user_models()
    stored = [s for s in stored_corrections() if s.name not in _REGISTRY]
    return list(_REGISTRY.values()) + stored


USER_SPEC_FILE = "softbench-model.json"


def load_user_models(root: Path | None = None) -> list[ModelSpec]:
    """Register the models saved under ``$SOFTBENCH_HOME/models/*/softbench-model.json``.

    Written by ``softbench finetune``: ``{"spec": ModelSpec dict, "provenance": ...}``;
    a relative ``path`` option is relative to the spec file's folder. Unreadable
    files are skipped (a warning on stderr); registrations made in this process win.
    """
    import json
    import sys

    from softbench.settings import home_dir

    root = root if root is not None else home_dir() / "models"
    found = []
    for file in sorted(root.glob(f"*/{USER_SPEC_FILE}")) if root.is_dir() else []:
        try:
            data = json.loads(file.read_text())["spec"]
            options = dict(data.get("options") or {})
            if options.get("path"):
                options["path"] = str((file.parent / options["path"]).resolve())
            spec = spec_from_dict({**data, "options": options})
        except (OSError, ValueError, KeyError, TypeError) as exc:
            print(f"softbench: skipping model registration {file}: {exc}", file=sys.stderr)
            continue
        if spec.name not in _REGISTRY:
            _REGISTRY[spec.name] = spec
        found.append(spec)
    return found


def get_model(name: str) -> ModelSpec:
    """Resolve a registry name, ``ase:<import path>`` or a local model file."""
    name = name.strip()
    if name in _REGISTRY:
        return _REGISTRY[name]
    load_user_models()
    if name in _REGISTRY:
        return _REGISTRY[name]
    from softbench.models.corrections import find_correction

    corrected = find_correction(name)
    if corrected is not None:
        return corrected
    if name.startswith("ase:"):
        return _ase_spec(name)
    path = Path(name).expanduser()
    if path.exists():
        return spec_from_path(path)
    raise UnknownModelError(name, {s.name: s for s in known_models()})


def get_models(names: str | list[str]) -> list[ModelSpec]:
    """Resolve a comma-separated string or a list of names (order kept)."""
    if isinstance(names, str):
        names = [n for n in names.split(",") if n.strip()]
    return [get_model(n) for n in names]


def spec_from_dict(data: dict) -> ModelSpec:
    """Inverse of :meth:`ModelSpec.to_dict`."""
    return ModelSpec(**data)


ModelRef = str | dict[str, Any]


def model_ref(spec: ModelSpec) -> ModelRef:
    """How a job names its model: built-ins by name, anything else by full spec.

    Files, import paths and registrations made in one process must be rebuilt by
    a worker in another, so they travel as :meth:`ModelSpec.to_dict`.
    """
    return spec.name if is_builtin(spec) else spec.to_dict()


def resolve_model(model: ModelRef) -> ModelSpec:
    """Inverse of :func:`model_ref` (a name is looked up, a dict rebuilt)."""
    return spec_from_dict(model) if isinstance(model, dict) else get_model(model)


def _ase_spec(name: str) -> ModelSpec:
    import_path = name.removeprefix("ase:")
    top = import_path.split(".")[0].split(":")[0]
    return ModelSpec(
        name=name,
        family="ase",
        version="n/a",
        source=f"ASE calculator {import_path}",
        package=top,
        options={"import_path": import_path},
    )


def spec_from_path(path: Path) -> ModelSpec:
    """Guess the family of a local model file or folder from its name."""
    path = path.resolve()
    text = str(path)
    if path.is_dir() and (path / "model.json").exists():
        family = "m3gnet"
    elif text.endswith(".pth.tar"):
        family = "chgnet"
    elif text.endswith(".model"):
        family = "mace"
    elif text.endswith((".pth", ".pt")):
        family = "sevennet"
    else:
        raise ValueError(
            f"cannot tell which model family {path} belongs to: expected a matgl "
            "folder (model.json), CHGNet .pth.tar, MACE .model or SevenNet .pth"
        )
    spec = family_spec(
        family, f"{family}:{path.name}", "local file", f"local file {path}", path=str(path)
    )
    if family == "m3gnet":
        # Refuse M3GNet weights of unknown message-sum convention before any job runs.
        from softbench.models.backends.m3gnet import check

        check(spec)
    return spec
