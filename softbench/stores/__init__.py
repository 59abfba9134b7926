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

Many processes may use one embedded store at once (see :mod:`softbench.stores.monty`).
Problems with a store (a spec that cannot be a store, a store that does not exist
when only reading, an unreachable server, a read-only directory) raise
:class:`StoreConfigError` with a one-line message; the command line exits with 2.
"""

from __future__ import annotations

import contextlib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jobflow import JobStore
from maggma.core import Store

from softbench.settings import (
    SOFTBENCH_STORE_TIMEOUT_ENV,
    default_store,
    store_lock_timeout,
    store_timeout,
)
from softbench.stores.errors import StoreConfigError, StoreUnavailableError

DATABASE = "softbench"
JOBS = "jobs"
DATA = "jobs_data"


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
            self._jobs._softbench_stores = self  # type: ignore[attr-defined]  # see stores_of
        return self._jobs

    def connect(self) -> SoftbenchStores:
        """Connect the job store (and with it the docs and data collections).

        A MongoDB server is asked once (``ping``) so that an unreachable server or
        refused credentials fail here, within the server selection timeout.
        """
        if self.backend == "mongodb":
            _connect_mongodb(self)
        else:
            self.jobs.connect()
        return self

    def close(self) -> None:
        """Close every connection opened."""
        for store in self._collections.values():
            with contextlib.suppress(Exception):
                store.close()


_MEMORY: dict[str, Store] = {}


def open_stores(spec: str | None = None, create: bool = True) -> SoftbenchStores:
    """Open the stores named by a spec (default: ``$SOFTBENCH_STORE`` or ~/.softbench/store).

    ``create=False`` (querying, reporting) refuses an embedded store directory that
    does not exist or holds no store, instead of creating an empty one.
    """
    spec = spec or default_store()
    try:
        timeout = store_timeout()
        store_lock_timeout()
    except ValueError as exc:
        raise StoreConfigError(str(exc)) from None
    if spec in ("memory", "mongomock"):
        return SoftbenchStores(spec, "memory", _memory_store).connect()
    if spec.startswith(("mongodb://", "mongodb+srv://")):
        return SoftbenchStores(_redact(spec), "mongodb", _uri_factory(spec, timeout)).connect()
    path = Path(spec).expanduser()
    if path.suffix in (".yaml", ".yml"):
        return SoftbenchStores(spec, "mongodb", _config_factory(path, timeout)).connect()
    _prepare_directory(path, spec, create)
    return SoftbenchStores(str(path), "monty", _monty_factory(path)).connect()


def stores_of(job_store: JobStore) -> SoftbenchStores:
    """The softbench stores a job store belongs to (a job's way to the builder collections).

    A job store made by :func:`open_stores` knows them; for one jobflow made from its
    settings (``JOBFLOW_CONFIG_FILE``) on an embedded store folder they are opened there.
    """
    owner = getattr(job_store, "_softbench_stores", None)
    if owner is not None:
        return owner
    path = getattr(job_store.docs_store, "database_path", None)
    if path:
        return open_stores(str(path))
    raise StoreConfigError(
        "this job needs the softbench store its job store belongs to: run it with "
        "`softbench worker --store ...`"
    )


def _prepare_directory(path: Path, spec: str, create: bool) -> None:
    """Check (and with ``create``, make) an embedded store directory."""
    from softbench.stores.monty import LOCK_FILE, is_configured

    try:
        exists = path.exists()
        if exists and not path.is_dir():
            raise StoreConfigError(f"store spec {spec} is a file but not a .yaml config")
    except OSError as exc:
        raise StoreConfigError(f"store {spec}: {_os_reason(exc)}") from None
    if not create:
        if not exists:
            raise StoreConfigError(
                f"store {spec} does not exist (run a benchmark into it first, "
                "or pass --store / set SOFTBENCH_STORE)"
            )
        if not is_configured(path) and not _configured_under_lock(path):
            raise StoreConfigError(f"store {spec} is not a softbench store (no MontyDB files)")
        return
    try:
        path.mkdir(parents=True, exist_ok=True)
        # a store must be writable: create the lock file (it also probes the directory)
        (path / LOCK_FILE).touch(exist_ok=True)
        if not os.access(path, os.W_OK):
            raise PermissionError(13, "Permission denied", str(path))
    except OSError as exc:
        raise StoreConfigError(
            f"cannot use {spec} as a store: cannot write there ({_os_reason(exc)})"
        ) from None


def _configured_under_lock(path: Path) -> bool:
    """Check again while no other process can be writing MontyDB's configuration."""
    from softbench.stores.monty import STORAGE_FILE, is_configured, store_lock

    if not (path / STORAGE_FILE).exists():  # nothing being written (and no lock file made)
        return False
    with store_lock(path).shared():
        return is_configured(path)


def _os_reason(exc: OSError) -> str:
    if exc.strerror and exc.filename:
        return f"{exc.strerror}: {exc.filename}"
    return exc.strerror or str(exc)


def _memory_store(name: str) -> Store:
    from maggma.stores import MemoryStore

    if name not in _MEMORY:
        _MEMORY[name] = MemoryStore(collection_name=name)
    return _MEMORY[name]


def reset_memory_stores() -> None:
    """Forget all in-process memory stores (tests)."""
    _MEMORY.clear()


def _monty_factory(path: Path) -> Any:
    from softbench.stores.monty import LockedMontyStore

    def make(name: str) -> Store:
        return LockedMontyStore(
            name,
            database_path=str(path),
            database_name=DATABASE,
            storage="sqlite",
            key="uuid" if name == JOBS else "task_id",
        )

    return make


def _uri_factory(uri: str, timeout: float) -> Any:
    import inspect

    from maggma.stores import MongoStore, MongoURIStore

    kwargs: dict[str, Any] = {
        "mongoclient_kwargs": {}
        if "serverselectiontimeoutms" in uri.lower()
        else _timeouts(timeout)
    }

    def make(name: str) -> Store:
        if "uri" in inspect.signature(MongoStore).parameters:  # maggma >= 0.72
            return MongoStore(database=DATABASE, collection_name=name, uri=uri, **kwargs)
        return MongoURIStore(uri, collection_name=name, database=DATABASE, **kwargs)

    return make


def _timeouts(timeout: float) -> dict[str, Any]:
    ms = int(timeout * 1000)
    return {"serverSelectionTimeoutMS": ms, "connectTimeoutMS": ms}


def _connect_mongodb(stores: SoftbenchStores) -> None:
    """Connect and ask the server once; a failure becomes one line naming host and cause."""
    from pymongo.errors import PyMongoError, ServerSelectionTimeoutError

    client = None
    try:
        stores.jobs.connect()
        client = stores.collection(JOBS)._collection.database.client
        client.admin.command("ping")
    except ServerSelectionTimeoutError as exc:
        assert client is not None
        hosts = _hosts(client)
        waited = client.options.server_selection_timeout
        raise StoreUnavailableError(
            f"cannot reach MongoDB at {hosts} within {waited:g} s: {_mongo_reason(exc, hosts)} "
            f"(store {stores.spec}; {SOFTBENCH_STORE_TIMEOUT_ENV} sets the wait)"
        ) from None
    except PyMongoError as exc:
        where = f" at {_hosts(client)}" if client is not None else ""
        raise StoreUnavailableError(
            f"cannot use MongoDB store {stores.spec}{where}: {_mongo_reason(exc)}"
        ) from None


def _hosts(client: Any) -> str:
    with contextlib.suppress(Exception):
        seeds = client.topology_description.server_descriptions()
        return ", ".join(f"{host}:{port}" for host, port in seeds)
    return "?"


def _mongo_reason(exc: Exception, hosts: str = "") -> str:
    """The first line of a pymongo error without its timeouts and topology dump."""
    from pymongo.errors import OperationFailure

    if isinstance(exc, OperationFailure):
        return str(exc.details.get("errmsg") if exc.details else exc).splitlines()[0]
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    text = re.sub(r"\s*\(configured timeouts:[^)]*\)", "", text)
    text = text.split(", Timeout:")[0]
    for host in hosts.split(", "):
        if host and text.startswith(f"{host}: "):
            text = text[len(host) + 2 :]
    return text


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


def _config_factory(path: Path, timeout: float) -> Any:
    from maggma.stores import MongoStore

    cfg = load_store_config(path)
    if cfg.get("backend", "mongodb") != "mongodb":
        raise StoreConfigError(f"store config {path}: only backend 'mongodb' is supported")
    kwargs = {k: cfg[k] for k in ("host", "port", "username", "password") if cfg.get(k)}
    client_kwargs: dict[str, Any] = _timeouts(timeout)
    if cfg.get("auth_source"):
        client_kwargs["authSource"] = cfg["auth_source"]
    kwargs["mongoclient_kwargs"] = client_kwargs

    def make(name: str) -> Store:
        return MongoStore(database=cfg.get("database", DATABASE), collection_name=name, **kwargs)

    return make


def _redact(uri: str) -> str:
    if "@" in uri:
        scheme, rest = uri.split("://", 1)
        return f"{scheme}://***@{rest.split('@', 1)[1]}"
    return uri


__all__ = [
    "DATA",
    "DATABASE",
    "JOBS",
    "SoftbenchStores",
    "StoreConfigError",
    "StoreUnavailableError",
    "load_store_config",
    "open_stores",
    "reset_memory_stores",
    "stores_of",
]
