"""Reading results: the HTML report page (rendered in headless Chromium), the HTTP API
(`softbench serve`, a real server on loopback) and `softbench export table`.

The store comes from real small runs through the command line: CHGNet 0.3.0 force
parity and fixed-cell phonons of CaTe (mp-1519, the shared VASP-PBE phonon data) and
the elastic moduli of TiFe (mp-305, shared MP elasticity data).
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from html.parser import HTMLParser
from pathlib import Path

import pytest
from pinned import CATE, CHGNET, FORCE_SCALE, REL

from softbench.query import QUERIES

SB = [sys.executable, "-m", "softbench.cli"]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
PER_MATERIAL = ("softening", "phonons", "elastic")


def sb(*args: str, env: dict[str, str], check: bool = True) -> subprocess.CompletedProcess:
    out = subprocess.run([*SB, *args], capture_output=True, text=True, env=env)
    if check and out.returncode != 0:
        raise AssertionError(f"{args} failed ({out.returncode}):\n{out.stderr[-3000:]}")
    return out


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    home = tmp_path_factory.mktemp("home")
    return {**os.environ, "SOFTBENCH_HOME": str(home), "OMP_NUM_THREADS": "1"}


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory, env: dict[str, str]) -> str:
    """A store with forces, phonons (fixed) and elastic results of real CHGNet runs."""
    shared = Path(os.environ["SOFTBENCH_SHARED"]) / "data"
    store = str(tmp_path_factory.mktemp("results") / "store")
    phonons = str(shared / "phonons-pbe")
    elastic = str(shared / "mp-elasticity/mp-binary-pbe-elasticity-2025.1.json.gz")
    common = ["--models", CHGNET, "--store", store]
    sb("run", "forces", "--reference", phonons, "--materials", CATE, *common, env=env)
    sb("run", "phonons", "--reference", phonons, "--materials", CATE, "--mode", "fixed",
       *common, env=env)  # fmt: skip
    sb("run", "elastic", "--reference", elastic, "--materials", "mp-305", *common, env=env)
    return store


def query(what: str, store: str, env: dict[str, str]) -> list[dict]:
    return json.loads(sb("query", what, "--format", "json", "--store", store, env=env).stdout)


class PageParser(HTMLParser):
    """Images per figure section, ids, internal links and anything loaded from elsewhere."""

    def __init__(self) -> None:
        super().__init__()
        self.sections: list[tuple[list[str], list[str]]] = []  # (tasks, img srcs)
        self.ids: set[str] = set()
        self.links: list[str] = []
        self.external: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if "id" in a:
            self.ids.add(a["id"])
        if tag == "section" and "data-tasks" in a:
            self.sections.append((a["data-tasks"].split(), []))
        if tag == "img":
            self.sections[-1][1].append(a["src"])
        if tag == "a":
            self.links.append(a["href"])
        if tag in ("script", "link", "iframe") or a.get("src", "data:").split(":")[0] != "data":
            self.external.append(tag)


@pytest.mark.slow
def test_html_report_has_every_task_and_renders_in_chromium(results, env, tmp_path):
    out = tmp_path / "page"
    printed = sb("report", "html", "--out", str(out), "--store", results, env=env).stdout
    page = out / "index.html"
    assert printed.split() == [str(page)]
    text = page.read_text()
    parser = PageParser()
    parser.feed(text)

    # every finished task (a successful per-material document) has a figure, all embedded
    finished = {d["task"] for w in PER_MATERIAL for d in query(w, results, env)
                if d["state"] == "successful"}  # fmt: skip
    assert finished == {"forces", "phonons-fixed", "elastic"}
    for task in finished:
        images = [src for tasks, srcs in parser.sections if task in tasks for src in srcs]
        assert images, f"no figure for {task}"
        for src in images:
            head, data = src.split(",", 1)
            assert head == "data:image/png;base64"
            assert base64.b64decode(data).startswith(PNG_MAGIC)
    assert parser.external == [], "the page must load nothing from elsewhere"

    # summary rows link to per-material tables that exist on the page
    targets = [href[1:] for href in parser.links if href.startswith("#")]
    assert targets and all(t in parser.ids for t in targets)
    summaries = {d["task"] for d in query("summary", results, env)}
    assert all(f"softening--{t}--{CHGNET}--phonopy-phonons-pbe" in targets for t in summaries)

    # summary numbers, provenance and reference labels as stored
    (forces,) = [d for d in query("softening", results, env) if d["task"] == "forces"]
    assert forces["softening_scale"] == pytest.approx(FORCE_SCALE[(CATE, CHGNET)], rel=REL)
    assert f">{forces['softening_scale']:.4g}<" in text
    assert forces["model_provenance"]["weights_sha256"] in text
    for label in ("phonopy:phonons-pbe", "elastic-json:mp-binary-pbe-elasticity-2025"):
        assert f"<code>{label}</code>" in text

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("chromium not installed (make install-chromium: apt-get install chromium)")
    shot = tmp_path / "page.png"
    run = subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
         "--window-size=1400,2400", f"--screenshot={shot}", page.as_uri()],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert shot.exists(), run.stderr[-2000:]
    from PIL import Image

    image = Image.open(shot).convert("RGB")
    assert image.size == (1400, 2400)
    pixels = list(image.getdata())
    not_white = sum(1 for p in pixels if min(p) < 240) / len(pixels)
    assert not_white > 0.02, f"screenshot nearly blank ({not_white:.1%} non-white)"
    assert len(set(pixels)) > 100  # text, tables and figures, not one flat colour


@pytest.mark.slow
def test_serve_answers_queries_over_http(results, env):
    server = subprocess.Popen(
        [*SB, "serve", "--port", "0", "--store", results],
        stderr=subprocess.PIPE,
        text=True,
        env={**env, "SOFTBENCH_STORE_LOCK_TIMEOUT": "1"},
    )
    try:
        line = server.stderr.readline()  # printed once the socket listens
        assert "serving" in line, line + server.stderr.read()
        base = line.split(" on ")[1].split()[0]

        def get(path: str) -> tuple[int, dict]:
            try:
                with urllib.request.urlopen(base + path, timeout=30) as answer:
                    assert answer.headers["content-type"] == "application/json"
                    return answer.status, json.load(answer)
            except urllib.error.HTTPError as error:
                return error.code, json.load(error)

        status, body = get(f"/softening?model={CHGNET}")
        assert status == 200
        assert body["meta"]["total"] == 2 and body["meta"]["returned"] == 2
        expected = query("softening", results, env)
        assert [d["key"] for d in body["data"]] == [d["key"] for d in expected]
        assert body["data"][0]["softening_scale"] == expected[0]["softening_scale"]
        assert body["data"][0]["softening_scale"] == pytest.approx(
            FORCE_SCALE[(CATE, CHGNET)], rel=REL
        )

        status, body = get("/softening?task=phonons-fixed,elastic&limit=1&skip=0")
        assert status == 200 and [d["task"] for d in body["data"]] == ["phonons-fixed"]
        status, body = get(f"/elastic?material=mp-305&reference=nope&model={CHGNET}")
        assert status == 200 and body["data"] == [] and body["meta"]["total"] == 0
        status, body = get("/softening?skip=1&limit=5")
        assert [d["key"] for d in body["data"]] == [expected[1]["key"]]

        status, spec = get("/openapi.json")
        assert status == 200 and spec["openapi"].startswith("3.")
        for path in ("/softening", "/summary", "/phonons", "/elastic", "/correction"):
            params = {p["name"] for p in spec["paths"][path]["get"]["parameters"]}
            assert {"model", "reference", "limit", "skip"} <= params

        for path, reason in (
            ("/softening?limit=abc", "valid integer"),
            ("/softening?limit=0", "greater than or equal to 1"),
            ("/softening?skip=-1", "greater than or equal to 0"),
            ("/softening?limit=100000", "less than or equal to 1000"),
            ("/softening?modle=x", "unknown query parameter(s) modle"),
            ("/summary?material=mp-1519", "unknown query parameter(s) material"),
            ("/softening?model=", "query parameter model is empty"),
        ):
            status, body = get(path)
            assert status == 422, path
            assert reason in json.dumps(body), (path, body)

        # a running server answers with what other processes write later
        from softbench.stores import open_stores

        writer = open_stores(results, create=False)
        summaries = writer.collection("elastic_summary")
        (later,) = summaries.query({"model": CHGNET})
        later = {**later, "key": "elastic|later-model|x", "model": "later-model"}
        later.pop("_id")
        summaries.update([later], key="key")
        try:
            status, body = get("/elastic-summary?model=later-model")
            assert status == 200 and [d["key"] for d in body["data"]] == [later["key"]]
        finally:
            summaries.remove_docs({"key": later["key"]})
            writer.close()

        # a store it cannot read (another process holds the lock too long): 503, the reason
        from softbench.stores.monty import store_lock

        with store_lock(Path(results)).exclusive():
            status, body = get("/summary")
        assert status == 503 and body["detail"].startswith("store unavailable: ")
        assert get("/summary")[0] == 200
    finally:
        server.terminate()
        server.wait(timeout=30)


@pytest.mark.slow
def test_export_table_csv_and_parquet_at_full_precision(results, env, tmp_path):
    import pandas as pd

    expected = query("softening", results, env)
    csv_path, parquet_path = tmp_path / "softening.csv", tmp_path / "softening.parquet"
    out = sb("export", "table", "softening", "--out", str(csv_path), "--store", results, env=env)
    columns = list(QUERIES["softening"].columns)
    assert out.stdout.strip() == f"{csv_path}: 2 softening rows, {len(columns)} columns"
    table = pd.read_csv(csv_path)
    assert list(table.columns) == columns
    assert list(table["softening_scale"]) == [d["softening_scale"] for d in expected]

    sb("export", "table", "softening", "--format", "parquet", "--task", "forces", "--out",
       str(parquet_path), "--store", results, env=env)  # fmt: skip
    table = pd.read_parquet(parquet_path)
    (forces,) = [d for d in expected if d["task"] == "forces"]
    assert list(table["task"]) == ["forces"]
    assert table["softening_scale"][0] == forces["softening_scale"]
    assert list(table["softening_scale_ci95"][0]) == forces["softening_scale_ci95"]

    bad = sb("export", "table", "summary", "--material", CATE, "--store", results, env=env,
             check=False)  # fmt: skip
    assert bad.returncode == 2 and bad.stderr.strip() == (
        "softbench: error: summary cannot be filtered by material"
    )
    none = sb("export", "table", "elastic", "--model", "m3gnet-mp-2021.2.8", "--store", results,
              env=env, check=False)  # fmt: skip
    assert none.returncode == 2
    assert (
        none.stderr.strip() == "softbench: error: no elastic documents for model m3gnet-mp-2021.2.8"
    )


@pytest.mark.parametrize(
    "args",
    [
        ("report", "html", "--out", "page"),
        ("serve", "--port", "0"),
        ("export", "table", "softening"),
    ],
)
def test_readers_never_create_a_store(args, tmp_path, env):
    store = tmp_path / "missing"
    work = tmp_path / "work"
    work.mkdir()
    out = subprocess.run(
        [*SB, *args, "--store", str(store)], capture_output=True, text=True, env=env, cwd=work
    )
    assert out.returncode == 2
    assert out.stderr.startswith(f"softbench: error: store {store} does not exist")
    assert len(out.stderr.strip().splitlines()) == 1
    assert not store.exists()
    assert list(work.iterdir()) == []  # no output folder or file either


def test_parquet_without_pyarrow_is_one_clear_error(stores, monkeypatch):
    from softbench import export

    monkeypatch.setattr(export, "_has_parquet_engine", lambda: False)
    with pytest.raises(export.ExportError, match=r"parquet export needs pyarrow: pip install"):
        export.export_table(stores, "softening", fmt="parquet")


def test_html_page_of_an_empty_store_says_so(stores, tmp_path):
    from softbench.reports.html import write_page

    text = write_page(stores, tmp_path, store_label="memory").read_text()
    assert "No analysis documents in this store yet" in text
    assert "No figures: no finished task in this store." in text
    assert "<img" not in text
