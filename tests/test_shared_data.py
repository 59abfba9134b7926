"""Data sets: the shared copy, or a checksummed download into the cache."""

import hashlib
import io

import pytest

from softbench import shared_data
from softbench.shared_data import DataUnavailableError, dataset_info, dataset_path, sha256_of


def test_registry_checksums_match_the_shared_copies(shared):
    for name in ("phonons-pbe", "wbm-equilibrium", "mp-elasticity"):
        for f in dataset_info(name)["files"]:
            local = shared / "data" / name / f["relpath"]
            if not local.exists():
                local = local.with_name(local.name + ".xz")
            assert sha256_of(local) == f["sha256"], local
    assert len(dataset_info("phonons-pbe")["files"]) == 48


def test_shared_copy_is_used_when_present(shared):
    assert dataset_path("phonons-pbe") == shared / "data" / "phonons-pbe"


def test_download_when_shared_is_absent(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("SOFTBENCH_SHARED", str(tmp_path / "absent"))
    monkeypatch.setenv("SOFTBENCH_CACHE", str(tmp_path / "cache"))
    payload = b"phonopy:\n  version: 2.21.0\n"
    fake = {
        "relpath": "mp-1/phonopy.yaml",
        "url": "https://example.org/mp-1",
        "sha256": hashlib.sha256(payload).hexdigest(),
    }
    monkeypatch.setattr(shared_data, "dataset_info", lambda name: {"files": [fake]})
    calls = []

    def urlopen(url, timeout):
        calls.append(url)
        return io.BytesIO(payload)

    monkeypatch.setattr(shared_data.urllib.request, "urlopen", urlopen)
    path = dataset_path("phonons-pbe")
    assert (path / "mp-1/phonopy.yaml").read_bytes() == payload
    assert "downloading 1 file(s)" in capsys.readouterr().err
    dataset_path("phonons-pbe")  # second call: cached, no download
    assert calls == ["https://example.org/mp-1"]


def test_corrupt_download_is_rejected(monkeypatch, tmp_path):
    monkeypatch.setenv("SOFTBENCH_SHARED", str(tmp_path / "absent"))
    monkeypatch.setenv("SOFTBENCH_CACHE", str(tmp_path / "cache"))
    fake = {"relpath": "f.json.gz", "url": "https://example.org/f", "sha256": "0" * 64}
    monkeypatch.setattr(shared_data, "dataset_info", lambda name: {"files": [fake]})
    monkeypatch.setattr(
        shared_data.urllib.request, "urlopen", lambda url, timeout: io.BytesIO(b"tampered")
    )
    with pytest.raises(DataUnavailableError, match="checksum mismatch"):
        dataset_path("wbm-equilibrium")
    assert not (tmp_path / "cache/data/wbm-equilibrium/f.json.gz").exists()
