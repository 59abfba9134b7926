"""Where softbench keeps job outputs and analysis documents.

A *store spec* picks the backend:

- a directory path (default ``~/.softbench/store``): embedded on-disk MontyDB
  (sqlite), no server needed;
- ``memory`` (alias ``mongomock``): in-process mongomock stores, for tests;
- ``mongodb://...``: a MongoDB server (credentials in the URI or the environment);
- a ``.yaml`` file: MongoDB settings with ``${ENV_VAR}`` expansion, so passwords
  stay in the environment (see ``launchpad.yaml`` and README).

Job outputs go to a jobflow :class:`~jobflow.JobStore` whose ``data`` additional
store receives the per-configuration arrays; builders write to named collections
of the same backend.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jobflow import JobStore
from maggma.core import Store

from softbench.settings import default_store

DATABASE = "softbench"
JOBS = "jobs"
DATA = "jobs_data"


class StoreConfigError(ValueError):
    """A store spec or config file that cannot be used."""


@dataclass
class SoftbenchStores:
    """The job store plus builder collections on one backend."""

    spec: str
    backend: str
    _factory: Any
    _collections: dict[str, Store] = field(default_factory=dict)
    _jobs: JobStore | None = None

    def collection(self, name: str) -> Store:
        """A (cached) maggma store for one collection, e.g. ``softening``."""
        if name not in self._collections:
            store = self._factory(name)
            store.connect()
            self._collections[name] = store
        return self._collections[name]

    @property
    def jobs(self) -> JobStore:
        """Jobflow store of job outputs with the ``data`` additional store."""
        if self._jobs is None:
            self._jobs = JobStore(
                self.collection(JOBS), additional_stores={"data": self.collection(DATA)}
            )
        return self._jobs

    def connect(self) -> SoftbenchStores:
        """Connect the job store (and with it the docs and data collections)."""
        self.jobs.connect()
        return self

    def close(self) -> None:
        """Close every connection opened."""
        for store in self._collections.values():
            with contextlib.suppress(Exception):
                store.close()


_MEMORY: dict[str, Store] = {}


def open_stores(spec: str | None = None) -> SoftbenchStores:
    """Open the stores named by a spec (default: ``$SOFTBENCH_STORE`` or ~/.softbench/store)."""
    spec = spec or default_store()
    if spec in ("memory", "mongomock"):
        return SoftbenchStores(spec, "memory", _memory_store).connect()
    if spec.startswith(("mongodb://", "mongodb+srv://")):
        return SoftbenchStores(_redact(spec), "mongodb", _uri_factory(spec)).connect()
    path = Path(spec).expanduser()
    if path.suffix in (".yaml", ".yml"):
        return SoftbenchStores(spec, "mongodb", _config_factory(path)).connect()
    if path.exists() and not path.is_dir():
        raise StoreConfigError(f"store spec {spec} is a file but not a .yaml config")
    path.mkdir(parents=True, exist_ok=True)
    return SoftbenchStores(str(path), "monty", _monty_factory(path)).connect()


def _memory_store(name: str) -> Store:
    from maggma.stores import MemoryStore

    if name not in _MEMORY:
        _MEMORY[name] = MemoryStore(collection_name=name)
    return _MEMORY[name]


def reset_memory_stores() -> None:
    """Forget all in-process memory stores (tests)."""
    _MEMORY.clear()


def _monty_factory(path: Path) -> Any:
    from maggma.stores import MontyStore

    def make(name: str) -> Store:
        return MontyStore(
            name,
            database_path=str(path),
            database_name=DATABASE,
            storage="sqlite",
            key="uuid" if name == JOBS else "task_id",
        )

    return make


def _uri_factory(uri: str) -> Any:
    from maggma.stores import MongoURIStore

    def make(name: str) -> Store:
        return MongoURIStore(uri, collection_name=name, database=DATABASE)

    return make


def load_store_config(path: Path) -> dict[str, Any]:
    """Read a MongoDB store config, expanding ``${VAR}`` from the environment."""
    import yaml

    if not path.exists():
        raise StoreConfigError(f"store config {path} does not exist")
    raw = os.path.expandvars(path.read_text())
    data = yaml.safe_load(raw) or {}
    if "store" in data:  # allow a section inside a larger file
        data = data["store"]
    unresolved = [k for k, v in data.items() if isinstance(v, str) and "${" in v]
    if unresolved:
        raise StoreConfigError(
            f"store config {path}: environment variable(s) for {', '.join(unresolved)} are not set"
        )
    return data


def _config_factory(path: Path) -> Any:
    from maggma.stores import MongoStore

    cfg = load_store_config(path)
    if cfg.get("backend", "mongodb") != "mongodb":
        raise StoreConfigError(f"store config {path}: only backend 'mongodb' is supported")
    kwargs = {k: cfg[k] for k in ("host", "port", "username", "password") if cfg.get(k)}
    if cfg.get("auth_source"):
        kwargs["mongoclient_kwargs"] = {"authSource": cfg["auth_source"]}

    def make(name: str) -> Store:
        return MongoStore(database=cfg.get("database", DATABASE), collection_name=name, **kwargs)

    return make


def _redact(uri: str) -> str:
    if "@" in uri:
        scheme, rest = uri.split("://", 1)
        return f"{scheme}://***@{rest.split('@', 1)[1]}"
    return uri
