"""The embedded on-disk store (MontyDB on sqlite), safe for many processes at once.

MontyDB keeps a store's configuration in two small files in the store directory
(``.monty.storage``, the storage engine's name, and ``monty.storage.cfg``) and each
collection in one sqlite file. maggma's ``MontyStore.connect`` rewrites both
configuration files on *every* connect (``open(..., "w")`` truncates, then writes),
and ``MontyClient`` reads them back. A second process connecting at that moment
reads an empty engine name and imports ``montydb.storage.`` (``ModuleNotFoundError``)
or falls back to another engine. MontyDB also creates a collection's sqlite file
before its table (another process then sees ``no such table: documents``) and
upserts by a find followed by an insert, so two processes upserting the same key
both insert (duplicates).

:class:`LockedMontyStore` fixes this with one readers/writer lock per store
directory (``fcntl.flock`` on ``<store>/.softbench.lock``): the configuration is
written only when missing, under the exclusive lock; every write (``update``,
``remove_docs``, ``ensure_index``) holds the exclusive lock, every read holds the
shared lock while MontyDB reads the collection (it reads a collection completely on
the first document). Locks are held per operation, not per command, so a long
``softbench run`` does not block queries. Files on disk are unchanged, so stores
written before remain readable.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from maggma.stores import MontyStore

from softbench.settings import store_lock_timeout
from softbench.stores.errors import StoreUnavailableError

LOCK_FILE = ".softbench.lock"
STORAGE_FILE = ".monty.storage"  # montydb.configure._storage_ident_fname
CONFIG_FILE = "monty.storage.cfg"  # montydb.storage.AbstractStorage.config_fname
STORAGE = "sqlite"


class StoreLockError(StoreUnavailableError):
    """A store lock that could not be taken (another process holds it too long)."""


class StoreLock:
    """Readers/writer lock shared by every process using one store directory.

    Re-entrant within a process (nested ``shared``/``exclusive`` blocks reuse the
    outer lock; a ``shared`` block upgrades to exclusive when needed). The lock file
    is opened afresh for each outermost block, so a forked child never shares its
    parent's lock. In a directory where the lock file can be neither opened nor
    created (a read-only store nobody can write to) locking is skipped.
    """

    def __init__(self, directory: Path) -> None:
        self.path = directory / LOCK_FILE
        self._thread_lock = threading.RLock()
        self._fd: int | None = None
        self._mode = 0
        self._depth = 0

    @contextlib.contextmanager
    def shared(self) -> Iterator[None]:
        """Hold the lock shared (readers)."""
        with self._hold(fcntl.LOCK_SH):
            yield

    @contextlib.contextmanager
    def exclusive(self) -> Iterator[None]:
        """Hold the lock exclusively (writers)."""
        with self._hold(fcntl.LOCK_EX):
            yield

    @contextlib.contextmanager
    def _hold(self, mode: int) -> Iterator[None]:
        with self._thread_lock:
            outer_mode = self._mode
            if self._depth == 0:
                self._fd = self._open()
                if self._fd is not None:
                    self._flock(mode)
                self._mode = mode
            elif mode == fcntl.LOCK_EX and self._mode == fcntl.LOCK_SH:
                if self._fd is not None:
                    self._flock(mode)
                self._mode = mode
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
                if self._depth == 0:
                    self._release()
                elif outer_mode != self._mode:
                    if self._fd is not None:
                        fcntl.flock(self._fd, outer_mode)  # back to shared
                    self._mode = outer_mode

    def _open(self) -> int | None:
        try:
            return os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
        except OSError:
            try:
                return os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
            except OSError:
                return None

    def _flock(self, mode: int) -> None:
        assert self._fd is not None
        timeout = store_lock_timeout()
        deadline = time.monotonic() + timeout
        delay = 0.002
        while True:
            try:
                fcntl.flock(self._fd, mode | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                pass
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
            if time.monotonic() > deadline:
                if self._depth == 0:
                    self._release()
                else:  # a failed upgrade may have dropped the shared lock: take it back
                    fcntl.flock(self._fd, self._mode)
                raise StoreLockError(
                    f"store {self.path.parent} is busy: another process held its lock "
                    f"for more than {timeout:g} s"
                )
            time.sleep(delay)
            delay = min(delay * 2, 0.05)

    def _release(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
        self._fd = None
        self._mode = 0
        self._depth = 0


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return f"{exc.strerror}: {exc.filename}" if exc.filename else exc.strerror
    return str(exc)


_LOCKS: dict[str, StoreLock] = {}
_LOCKS_GUARD = threading.Lock()


def store_lock(directory: str | Path) -> StoreLock:
    """The process-wide lock object of one store directory."""
    key = os.path.realpath(directory)
    with _LOCKS_GUARD:
        if key not in _LOCKS:
            _LOCKS[key] = StoreLock(Path(key))
        return _LOCKS[key]


def is_configured(directory: Path) -> bool:
    """Whether MontyDB's configuration files of a sqlite store are complete."""
    try:
        engine = (directory / STORAGE_FILE).read_text().strip()
    except OSError:
        return False
    return engine == STORAGE and (directory / CONFIG_FILE).is_file()


class LockedMontyStore(MontyStore):
    """A maggma ``MontyStore`` (sqlite) that many processes can use at once.

    Same constructor and on-disk format as ``MontyStore``; see the module docstring.
    """

    @property
    def _lock(self) -> StoreLock:
        return store_lock(self.database_path)

    @contextlib.contextmanager
    def _reading(self) -> Iterator[None]:
        with self._lock.shared(), self._errors():
            yield

    @contextlib.contextmanager
    def _writing(self) -> Iterator[None]:
        with self._lock.exclusive(), self._errors():
            yield

    @contextlib.contextmanager
    def _errors(self) -> Iterator[None]:
        """Turn sqlite and file system failures into one-line store errors."""
        try:
            yield
        except (sqlite3.Error, OSError) as exc:
            raise StoreUnavailableError(
                f"store {self.database_path} ({self.collection_name}): {_reason(exc)}"
            ) from exc

    def connect(self, force_reset: bool = False) -> None:
        """Connect; write MontyDB's configuration only if the store has none yet."""
        if self._coll is not None and not force_reset:
            return
        from montydb import MontyClient, set_storage

        path = Path(self.database_path)
        configured = is_configured(path)
        with self._reading() if configured else self._writing():
            if not is_configured(path):
                set_storage(self.database_path, storage=self.storage, **self.storage_kwargs)
            client = MontyClient(self.database_path, **self.client_kwargs)
            self._coll = client[self.database_name][self.collection_name]

    def query(  # type: ignore[override]
        self,
        criteria: dict | None = None,
        properties: dict | list | None = None,
        sort: dict | None = None,
        skip: int = 0,
        limit: int = 0,
    ) -> Iterator[dict]:
        """Query; the matching documents are read under the shared lock."""
        with self._reading():
            docs = list(
                super().query(
                    criteria=criteria, properties=properties, sort=sort, skip=skip, limit=limit
                )
            )
        yield from docs

    def count(self, criteria: dict | None = None, hint: dict | None = None) -> int:
        """Count under the shared lock."""
        with self._reading():
            return super().count(criteria=criteria, hint=hint)

    def distinct(self, field: str, criteria: dict | None = None, all_exist: bool = False) -> list:
        """Distinct values under the shared lock."""
        with self._reading():
            return super().distinct(field, criteria=criteria, all_exist=all_exist)

    def groupby(self, *args: Any, **kwargs: Any) -> Iterator[tuple[dict, list[dict]]]:
        """Group (documents read under the shared lock)."""
        with self._reading():
            groups = list(super().groupby(*args, **kwargs))
        yield from groups

    def update(self, docs: list[dict] | dict, key: list | str | None = None) -> None:
        """Upsert under the exclusive lock (find-then-insert is atomic across processes)."""
        with self._writing():
            super().update(docs, key=key)

    def remove_docs(self, criteria: dict) -> None:
        """Delete under the exclusive lock."""
        with self._writing():
            super().remove_docs(criteria)

    def ensure_index(self, key: str, unique: bool | None = False) -> bool:
        """Index under the exclusive lock."""
        with self._writing():
            return bool(super().ensure_index(key, unique=unique))


__all__ = ["LockedMontyStore", "StoreLock", "StoreLockError", "is_configured", "store_lock"]
