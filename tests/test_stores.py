"""Store specs: embedded on-disk, memory, MongoDB configs with env credentials."""

import os

import pytest

from softbench.stores import StoreConfigError, _redact, load_store_config, open_stores


def test_embedded_store_persists_on_disk(disk_store):
    st = open_stores(disk_store)
    st.collection("softening").update([{"key": "a", "v": 1}], key="key")
    st.close()
    again = open_stores(disk_store)
    assert again.collection("softening").query_one({"key": "a"})["v"] == 1
    assert again.backend == "monty"


def test_default_store_lives_under_softbench_home(monkeypatch, tmp_path):
    monkeypatch.setenv("SOFTBENCH_HOME", str(tmp_path / "sb"))
    st = open_stores()
    assert st.spec == str(tmp_path / "sb" / "store")
    monkeypatch.setenv("SOFTBENCH_STORE", str(tmp_path / "elsewhere"))
    assert open_stores().spec == str(tmp_path / "elsewhere")


def test_mongodb_config_reads_credentials_from_environment(tmp_path, monkeypatch):
    cfg = tmp_path / "db.yaml"
    cfg.write_text(
        "store:\n  host: db.example.org\n  database: sb\n"
        "  username: ${SB_USER}\n  password: ${SB_PASS}\n"
    )
    with pytest.raises(StoreConfigError, match="username, password"):
        load_store_config(cfg)
    monkeypatch.setenv("SB_USER", "alice")
    monkeypatch.setenv("SB_PASS", "s3cret")
    data = load_store_config(cfg)
    assert data["username"] == "alice" and data["password"] == "s3cret"
    assert "s3cret" not in cfg.read_text()


def test_uri_credentials_are_redacted():
    assert _redact("mongodb://u:p@host:27017/db") == "mongodb://***@host:27017/db"


def test_a_file_that_is_not_a_config_is_rejected(tmp_path):
    f = tmp_path / "store.txt"
    f.write_text("x")
    with pytest.raises(StoreConfigError, match="not a .yaml config"):
        open_stores(str(f))


def test_stores_written_by_plain_montystore_stay_readable(disk_store):
    """Stores made before the locked store (maggma's MontyStore) open unchanged."""
    from maggma.stores import MontyStore

    old = MontyStore(
        "softening", database_path=disk_store, database_name="softbench", storage="sqlite"
    )
    old.connect()
    old.update([{"key": "a", "v": 1}], key="key")
    old.close()
    st = open_stores(disk_store, create=False)
    assert st.collection("softening").query_one({"key": "a"})["v"] == 1
    st.collection("softening").update([{"key": "a", "v": 2}], key="key")
    assert [d["v"] for d in st.collection("softening").query({})] == [2]


def test_reading_never_creates_a_store(tmp_path):
    missing = tmp_path / "missing"
    with pytest.raises(StoreConfigError, match="does not exist"):
        open_stores(str(missing), create=False)
    assert not missing.exists()
    missing.mkdir()
    with pytest.raises(StoreConfigError, match="not a softbench store"):
        open_stores(str(missing), create=False)
    assert list(missing.iterdir()) == []


def test_store_directory_that_cannot_be_made_is_a_config_error(tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(StoreConfigError, match="Not a directory"):
        open_stores(str(f / "store"))


def test_store_lock_is_reentrant_and_upgrades(tmp_path):
    import fcntl

    from softbench.stores.monty import StoreLock

    lock = StoreLock(tmp_path)
    with lock.shared():
        with lock.exclusive():  # upgrade inside a read
            assert lock._mode == fcntl.LOCK_EX
            with lock.shared():
                assert lock._mode == fcntl.LOCK_EX
        assert lock._mode == fcntl.LOCK_SH
    assert lock._fd is None and lock._depth == 0
    other = StoreLock(tmp_path)  # another open file: blocked only while held
    with lock.exclusive():
        fd = other._open()
        assert fd is not None
        with pytest.raises(BlockingIOError):
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        os.close(fd)
    with other.exclusive():
        pass


def test_busy_store_lock_times_out_with_a_store_error(tmp_path, monkeypatch):
    import fcntl

    from softbench.stores import StoreUnavailableError
    from softbench.stores.monty import StoreLock

    monkeypatch.setenv("SOFTBENCH_STORE_LOCK_TIMEOUT", "0.2")
    holder = StoreLock(tmp_path)
    with holder.exclusive():
        waiter = StoreLock(tmp_path)
        with pytest.raises(StoreUnavailableError, match="busy"), waiter.shared():
            pass
        assert waiter._fd is None
    with waiter.shared():
        assert waiter._mode == fcntl.LOCK_SH


def test_timed_out_upgrade_keeps_the_outer_shared_lock(tmp_path, monkeypatch):
    import fcntl

    from softbench.stores import StoreUnavailableError
    from softbench.stores.monty import StoreLock

    monkeypatch.setenv("SOFTBENCH_STORE_LOCK_TIMEOUT", "0.2")
    reader, other = StoreLock(tmp_path), StoreLock(tmp_path)
    with other.shared(), reader.shared():
        with pytest.raises(StoreUnavailableError, match="busy"), reader.exclusive():
            pass
        assert reader._depth == 1 and reader._fd is not None  # still inside its read
        fd = os.open(reader.path, os.O_RDWR)
        with pytest.raises(BlockingIOError):  # the read is still protected
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.close(fd)
    assert reader._depth == 0 and reader._fd is None
    with reader.exclusive():  # and the lock works as before afterwards
        fd = os.open(reader.path, os.O_RDWR)
        with pytest.raises(BlockingIOError):
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        os.close(fd)
