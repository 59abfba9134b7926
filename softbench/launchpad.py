"""FireWorks launchpad: embedded (one mongomock-persistence file, no server) or MongoDB.

Which launchpad a command uses (:func:`open_launchpad`):

1. ``--launchpad FILE`` or ``$SOFTBENCH_LAUNCHPAD``: a launchpad yaml (MongoDB) with
   ``${ENV_VAR}`` expansion, so credentials stay in the environment;
2. ``$MONGOMOCK_SERVERSTORE_FILE``: FireWorks' own switch to an embedded launchpad
   persisted to that JSON file (stock ``lpad``/``rlaunch`` read the same file);
3. otherwise, for an embedded store folder: ``<store>/launchpad.json``.

Both use FireWorks' default database name ``fireworks``, as stock ``lpad`` does.

mongomock-persistence reads its file when a client is made and writes it when the
process ends, so two processes would overwrite each other's work (and a killed
worker would leave no trace). :class:`EmbeddedLaunchPad` instead makes every
launchpad call one transaction: take an exclusive lock on ``<file>.lock``, reload the
file (unless it is unchanged since this process last read or wrote it), run the
call, write the file back atomically if the call changed anything.
"""

from __future__ import annotations

import collections
import contextlib
import functools
import os
import pickle
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from fireworks.core.launchpad import LaunchPad

from softbench.settings import store_timeout
from softbench.stores import StoreConfigError, StoreUnavailableError

MOCK_ENV = "MONGOMOCK_SERVERSTORE_FILE"
LAUNCHPAD_ENV = "SOFTBENCH_LAUNCHPAD"
FIREWORKS_DB = "fireworks"  # FireWorks' default database name (stock lpad, rlaunch)
LEGACY_DB = "softbench"  # the name softbench used before; migrated on open
EMBEDDED_FILE = "launchpad.json"


def embedded_file(store_spec: str) -> Path:
    """The embedded launchpad file of an embedded store folder."""
    return Path(store_spec).expanduser() / EMBEDDED_FILE


def open_launchpad(launchpad: str | None, store_spec: str) -> LaunchPad:
    """The launchpad of a store (see the module docstring for the order).

    ``launchpad`` yaml, else ``$MONGOMOCK_SERVERSTORE_FILE``, else the embedded file
    in the store folder.
    """
    path = launchpad or os.environ.get(LAUNCHPAD_ENV)
    if path:
        return load_launchpad(path)
    if os.environ.get(MOCK_ENV):
        return load_launchpad()
    if store_spec in ("memory", "mongomock") or store_spec.startswith("mongodb"):
        raise StoreConfigError(
            f"store {store_spec} has no embedded launchpad: pass --launchpad launchpad.yaml "
            f"(or set {LAUNCHPAD_ENV} or {MOCK_ENV})"
        )
    if Path(store_spec).suffix in (".yaml", ".yml"):
        raise StoreConfigError(
            f"store {store_spec} is MongoDB: pass --launchpad launchpad.yaml for its launchpad"
        )
    return EmbeddedLaunchPad(embedded_file(store_spec))


def describe(lp: LaunchPad) -> str:
    """Where a launchpad lives, for messages (no credentials)."""
    if isinstance(lp, EmbeddedLaunchPad):
        return f"embedded launchpad {lp.file} (database {lp.name})"
    return f"MongoDB launchpad {lp.host}:{lp.port} (database {lp.name})"


def load_launchpad(path: str | Path | None = None, name: str | None = None) -> LaunchPad:
    """A launchpad from ``$MONGOMOCK_SERVERSTORE_FILE`` or a launchpad yaml.

    The yaml is FireWorks' ``my_launchpad.yaml`` format with ``${ENV_VAR}``
    expansion; a missing ``host`` means ``localhost`` and a missing ``name``
    ``fireworks`` (FireWorks' defaults). The server is pinged once, so an
    unreachable one fails here with one line naming the host.
    """
    mock = os.environ.get(MOCK_ENV)
    if mock and path is None:
        return EmbeddedLaunchPad(Path(mock), name=name or FIREWORKS_DB)
    file = Path(path or "launchpad.yaml").expanduser()
    if not file.exists():
        raise StoreConfigError(
            f"launchpad file {file} not found (or set {MOCK_ENV} for an embedded launchpad)"
        )
    data = _read_yaml(file)
    data.setdefault("host", "localhost")
    if name:
        data["name"] = name
    kwargs = dict(data.get("mongoclient_kwargs") or {})
    ms = int(store_timeout() * 1000)
    kwargs.setdefault("serverSelectionTimeoutMS", ms)
    kwargs.setdefault("connectTimeoutMS", ms)
    data["mongoclient_kwargs"] = kwargs
    try:
        lp = LaunchPad.from_dict(data)
    except Exception as exc:  # pymongo parses the host/URI here
        raise StoreConfigError(f"launchpad {file}: {exc}") from None
    _ping(lp, file)
    return lp


def _read_yaml(file: Path) -> dict[str, Any]:
    import yaml

    try:
        data = yaml.safe_load(os.path.expandvars(file.read_text())) or {}
    except yaml.YAMLError as exc:
        raise StoreConfigError(f"launchpad {file} is not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise StoreConfigError(f"launchpad {file} must be a mapping of settings (host, name, ...)")
    unset = [k for k, v in data.items() if isinstance(v, str) and "${" in v]
    if unset:
        raise StoreConfigError(
            f"launchpad {file}: environment variables for {', '.join(unset)} are not set"
        )
    return data


def _ping(lp: LaunchPad, file: Path) -> None:
    """Ask the server once; failures become one line naming host and cause."""
    from pymongo.errors import PyMongoError, ServerSelectionTimeoutError

    from softbench.stores import _hosts, _mongo_reason

    client = lp.connection
    try:
        client.admin.command("ping")
    except ServerSelectionTimeoutError as exc:
        hosts = _hosts(client)
        raise StoreUnavailableError(
            f"cannot reach the MongoDB launchpad at {hosts} within "
            f"{client.options.server_selection_timeout:g} s: {_mongo_reason(exc, hosts)} "
            f"(launchpad {file}; SOFTBENCH_STORE_TIMEOUT sets the wait)"
        ) from None
    except PyMongoError as exc:
        raise StoreUnavailableError(
            f"cannot use the MongoDB launchpad at {_hosts(client)} ({file}): {_mongo_reason(exc)}"
        ) from None


class EmbeddedLaunchPad(LaunchPad):
    """A FireWorks LaunchPad on one JSON file that many processes can share.

    Every LaunchPad method runs as a transaction under an exclusive ``fcntl`` lock on
    ``<file>.lock``: reload the file, run, write it back (atomically, if changed).
    A fresh file starts as an initialised launchpad; a file written by earlier
    softbench versions (database ``softbench``) is renamed to ``fireworks``.
    """

    def __init__(self, file: str | Path, name: str = FIREWORKS_DB) -> None:
        import mongomock
        import mongomock.gridfs
        import mongomock_persistence  # noqa: F401  (adds to_dict/from_dict to mongomock)
        from fireworks.core import launchpad as fw_launchpad
        from mongomock.store import ServerStore

        from softbench.stores.monty import StoreLock

        self.file = Path(file).expanduser().resolve()
        self._guard = threading.RLock()
        self._depth = 0
        self._loaded: tuple[int, int, int] | None = None
        self._snapshot = b""
        self._file_lock = StoreLock(self.file.parent)
        self._file_lock.path = self.file.with_name(self.file.name + ".lock")
        try:
            self.file.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreConfigError(f"cannot use launchpad file {self.file}: {exc}") from None
        mongomock.gridfs.enable_gridfs_integration()  # as FireWorks does for mongomock
        # not ServerStore(): mongomock-persistence's reads $MONGOMOCK_SERVERSTORE_FILE
        # and writes it back at exit, unlocked; this one is loaded and saved per call
        server = object.__new__(ServerStore)
        server._databases = {}
        self._server = server
        client = functools.partial(mongomock.MongoClient, _store=server)
        with _patched(fw_launchpad, "MongoClient", client):
            super().__init__(name=name, strm_lvl="WARNING")
        with self.transaction():  # decided under the lock: another process may be first
            if not self._server[name].is_created:  # a fresh launchpad starts initialised
                self.reset("", require_password=False, max_reset_wo_password=1)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """Hold the file lock with the file loaded; write it back at the end."""
        with self._guard:
            if self._depth == 0:
                self._lock_cm = self._file_lock.exclusive()
                self._lock_cm.__enter__()
                try:
                    self._load()
                except BaseException:
                    self._lock_cm.__exit__(*sys.exc_info())
                    raise
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
                if self._depth == 0:
                    try:
                        self._save()
                    finally:
                        self._lock_cm.__exit__(None, None, None)

    def _load(self) -> None:
        """Read the file unless it is the one this object last read or wrote."""
        from bson import json_util

        signature = self._signature()
        if signature is not None and signature == self._loaded:
            return
        try:
            text = self.file.read_text() if signature is not None else ""
        except OSError as exc:
            raise StoreUnavailableError(f"cannot read launchpad {self.file}: {exc}") from None
        data = json_util.loads(text) if text.strip() else {}
        migrated = LEGACY_DB in data and self.name not in data and self.name == FIREWORKS_DB
        if migrated:
            data[self.name] = data.pop(LEGACY_DB)
        for db_name, collections_ in data.items():
            db_store = self._server[db_name]
            for coll_name, coll in collections_.items():
                db_store[coll_name]._documents = collections.OrderedDict(coll["documents"])
        for db_name, db_store in self._server._databases.items():
            for coll_name, coll_store in db_store._collections.items():
                if coll_name not in data.get(db_name, {}):
                    coll_store._documents = collections.OrderedDict()
        self._loaded = signature
        self._snapshot = b"" if migrated or signature is None else self._pickled()

    def _save(self) -> None:
        """Write the file (atomically) if a call changed anything."""
        from bson import json_util

        snapshot = self._pickled()
        if snapshot == self._snapshot:
            return
        text = json_util.dumps(self._server.to_dict())  # type: ignore[attr-defined]
        fd, tmp = tempfile.mkstemp(dir=self.file.parent, prefix=self.file.name + ".")
        try:
            umask = os.umask(0)
            os.umask(umask)
            os.fchmod(fd, 0o666 & ~umask)
            with os.fdopen(fd, "w") as fh:
                fh.write(text)
            Path(tmp).replace(self.file)
        except BaseException:
            with contextlib.suppress(OSError):
                Path(tmp).unlink()
            raise
        self._snapshot = snapshot
        self._loaded = self._signature()

    def _pickled(self) -> bytes:
        """The state as bytes, to tell cheaply whether a call changed it."""
        return pickle.dumps(self._server.to_dict(), protocol=pickle.HIGHEST_PROTOCOL)  # type: ignore[attr-defined]

    def _signature(self) -> tuple[int, int, int] | None:
        """(inode, mtime, size) of the file (every write replaces it), None if missing."""
        try:
            st = self.file.stat()
        except FileNotFoundError:
            return None
        return (st.st_ino, st.st_mtime_ns, st.st_size)


@contextlib.contextmanager
def _patched(obj: Any, attr: str, value: Any) -> Iterator[None]:
    old = getattr(obj, attr)
    setattr(obj, attr, value)
    try:
        yield
    finally:
        setattr(obj, attr, old)


def _in_transaction(method: Any) -> Any:
    @functools.wraps(method)
    def call(self: EmbeddedLaunchPad, *args: Any, **kwargs: Any) -> Any:
        with self.transaction():
            return method(self, *args, **kwargs)

    return call


for _name, _attr in list(vars(LaunchPad).items()):
    if _name.startswith("__") or not callable(_attr) or isinstance(_attr, type):
        continue
    if isinstance(_attr, classmethod | staticmethod | property):
        continue
    setattr(EmbeddedLaunchPad, _name, _in_transaction(_attr))
