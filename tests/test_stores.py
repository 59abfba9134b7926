"""Store specs: embedded on-disk, memory, MongoDB configs with env credentials."""

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
