"""``softbench report html``: one self-contained static page over every task in the store.

The page needs no server and loads nothing from elsewhere: figures are embedded as
base64 PNG, the style sheet is inline, there is no script. It holds

- the per-model summary tables of every summary query in :data:`softbench.query.QUERIES`
  (a query with no ``material_id`` column), each row linking to its per-material table;
- the figures of every report in :data:`softbench.cli.report.REPORTS` (the force-parity
  report once per task with force-parity results);
- the per-material tables of every other query, one table per (task, model, reference);
- model provenance (name, version, package, weights SHA-256) and the reference labels.

New tasks appear without changes here: a ``query_spec`` in ``QUERIES`` gives their
tables (``<name>-summary`` links to ``<name>``), a function in ``REPORTS`` their figures.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import html
import io
import re
import sys
import tempfile
from collections.abc import Iterator
from datetime import datetime, timezone
from importlib import import_module
from pathlib import Path
from typing import Any

PAGE = "index.html"
# fields that name one (task, model, reference) group of documents
GROUP_FIELDS = ("task", "model", "reference")
# summary query -> per-material query, where the names do not say it (``x-summary`` -> ``x``)
DETAIL_OF = {"summary": "softening", "phonon-summary": "phonons"}
PROVENANCE_FIELDS = (
    "name",
    "family",
    "version",
    "package",
    "package_version",
    "environment",
    "weights_sha256",
    "source",
)

STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5em auto; max-width: 1400px;
       padding: 0 1em; color: #222; }
h1 { margin-bottom: 0.2em; } h2 { border-bottom: 2px solid #ccd; padding-bottom: 0.2em;
     margin-top: 1.6em; } h3 { margin-bottom: 0.3em; }
.meta, .note { color: #555; font-size: 0.9em; }
nav a { margin-right: 1em; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; font-size: 0.82em; margin: 0.4em 0 1em; }
th, td { border: 1px solid #ccd; padding: 0.2em 0.5em; text-align: left; white-space: nowrap; }
th { background: #eef; } tr:nth-child(even) td { background: #f8f8fc; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
td.failed, td.unusable { color: #a00; } td.flagged { color: #a60; }
td.reason { white-space: normal; min-width: 20em; }
code { font-size: 0.95em; }
figure { display: inline-block; margin: 0.5em 1em 1em 0; vertical-align: top; }
figure img { max-width: 100%; border: 1px solid #dde; }
figcaption { font-size: 0.85em; color: #555; }
:target { outline: 3px solid #f90; }
"""


def report_from_args(stores: Any, args: argparse.Namespace) -> list[Path]:
    """``softbench report html`` entry point: writes ``<out>/index.html``."""
    return [write_page(stores, Path(args.out), store_label=stores.spec)]


def write_page(stores: Any, out_dir: Path, store_label: str = "") -> Path:
    """Write the page into ``out_dir`` and return its path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / PAGE
    path.write_text(render_page(stores, store_label), encoding="utf-8")
    return path


def render_page(stores: Any, store_label: str = "") -> str:
    """The whole page as one HTML string."""
    from softbench import __version__
    from softbench.query import QUERIES, fetch

    docs = {what: fetch(stores, what) for what in QUERIES}
    present = {what: d for what, d in docs.items() if d}
    summaries = [w for w in present if "material_id" not in QUERIES[w].columns]
    details = [w for w in present if w not in summaries]
    now = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        "<title>softbench results</title>",
        f"<style>{STYLE}</style></head><body>",
        "<h1>softbench results</h1>",
        f'<p class="meta">store <code>{_e(store_label)}</code> &middot; written {now} by '
        f"softbench {_e(__version__)} &middot; "
        f"{_count(present)} analysis documents in {len(present)} collections</p>",
        '<nav><a href="#summaries">Summaries</a><a href="#figures">Figures</a>'
        '<a href="#materials">Per material</a><a href="#models">Models</a>'
        '<a href="#references">References</a></nav>',
    ]
    if not present:
        parts.append(
            '<p class="note">No analysis documents in this store yet: run a benchmark '
            "(<code>softbench run ...</code>) and <code>softbench build</code>.</p>"
        )
    parts.append('<h2 id="summaries">Summaries</h2>')
    anchors = {group_anchor(w, d) for w in details for d in present[w]}
    for what in summaries:
        detail = _detail_of(what, details)
        parts.append(_summary_section(what, present[what], detail, anchors))
    parts.append('<h2 id="figures">Figures</h2>')
    parts.extend(_figure_sections(stores))
    parts.append('<h2 id="materials">Per material</h2>')
    for what in details:
        parts.append(_detail_section(what, present[what]))
    parts.append(_models_section(present))
    parts.append(_references_section(present))
    parts.append("</body></html>")
    return "\n".join(parts)


def group_anchor(what: str, doc: dict[str, Any]) -> str:
    """HTML id of the per-material table of ``doc``'s (task, model, reference) group."""
    values = [str(doc.get(f, "")) for f in GROUP_FIELDS if doc.get(f) is not None]
    return _slug("--".join([what, *values]))


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text)


def _detail_of(summary: str, details: list[str]) -> str | None:
    name = DETAIL_OF.get(summary, summary.removesuffix("-summary"))
    return name if name in details else None


def _summary_section(
    what: str, docs: list[dict[str, Any]], detail: str | None, anchors: set[str]
) -> str:
    """A summary table; each row links to its group's per-material table where there is one."""
    from softbench.query import table_cells

    header, body = table_cells(docs, what)
    rows = []
    for doc, cells in zip(docs, body, strict=True):
        anchor = group_anchor(detail, doc) if detail else ""
        link = f'<a href="#{anchor}">materials</a>' if anchor in anchors else "-"
        rows.append(f"<tr><td>{link}</td>{_cells(header, cells)}</tr>")
    return (
        f'<h3 id="{what}">{_e(what)}</h3>'
        f'<p class="note"><code>softbench query {_e(what)}</code></p>'
        f'<div class="scroll"><table><tr><th></th>{_heads(header)}</tr>'
        + "".join(rows)
        + "</table></div>"
    )


def _detail_section(what: str, docs: list[dict[str, Any]]) -> str:
    from softbench.query import table_cells

    groups: dict[str, list[dict[str, Any]]] = {}
    for doc in docs:
        groups.setdefault(group_anchor(what, doc), []).append(doc)
    parts = [f'<h3 id="{what}">{_e(what)}</h3>']
    for anchor, members in groups.items():
        first = members[0]
        title = ", ".join(f"{f} {first[f]}" for f in GROUP_FIELDS if first.get(f) is not None)
        header, body = table_cells(members, what)
        parts.append(
            f'<div class="scroll" id="{anchor}"><p class="note">{_e(title)} '
            f"({len(members)} materials)</p><table><tr>{_heads(header)}</tr>"
            + "".join(f"<tr>{_cells(header, cells)}</tr>" for cells in body)
            + "</table></div>"
        )
    return "".join(parts)


def _figure_sections(stores: Any) -> Iterator[str]:
    """One section per report call that wrote figures, each PNG embedded as base64."""
    from softbench.cli.report import REPORTS

    any_figure = False
    for name, title, tasks, args in _report_calls(stores):
        module, func = REPORTS[name].split(":")
        with tempfile.TemporaryDirectory(prefix="softbench-html-") as tmp:
            args.out = Path(tmp)
            with contextlib.redirect_stderr(io.StringIO()) as said:
                paths = getattr(import_module(module), func)(stores, args)
            pngs = [Path(p) for p in paths if str(p).endswith(".png")]
            if not pngs:
                if said.getvalue().strip():
                    print(said.getvalue().strip(), file=sys.stderr)
                continue
            any_figure = True
            yield (
                f'<section class="figures" data-report="{_e(name)}" '
                f'data-tasks="{_e(" ".join(tasks))}">'
                f'<h3 id="figures-{_slug(title)}">{_e(title)}</h3>'
                + "".join(_figure(p, name) for p in pngs)
                + "</section>"
            )
    if not any_figure:
        yield '<p class="note">No figures: no finished task in this store.</p>'


def _report_calls(stores: Any) -> Iterator[tuple[str, str, list[str], argparse.Namespace]]:
    """(report name, section title, tasks shown, arguments) of every report to draw.

    The force-parity report is drawn once per task that has force-parity results
    (``forces``, ``high-energy``, ``phonons-fixed``, ...); every other report once,
    with the defaults of ``softbench report <name>``. The tasks shown are those with
    successful documents in the report's query collection (same name), else the name.
    """
    from softbench.cli.report import REPORTS
    from softbench.query import QUERIES, fetch

    def args(**kw: Any) -> argparse.Namespace:
        base = {"task": None, "material": None, "model": None, "reference": None}
        return argparse.Namespace(**{**base, "mode": "both", **kw})

    for name in REPORTS:
        if name == "forces":
            tasks = sorted({d["task"] for d in fetch(stores, "softening") if _finished(d)})
            for task in tasks:
                yield name, f"force parity: {task}", [task], args(task=task)
        else:
            docs = fetch(stores, name) if name in QUERIES else []
            shown = sorted({d["task"] for d in docs if _finished(d)}) or [name]
            yield name, name, shown, args()


def _finished(doc: dict[str, Any]) -> bool:
    return doc.get("state") == "successful"


def _figure(path: Path, report: str) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    caption = f"{path.name} (softbench report {report})"
    return (
        f'<figure><img alt="{_e(path.stem)}" src="data:image/png;base64,{data}">'
        f"<figcaption>{_e(caption)}</figcaption></figure>"
    )


def _models_section(present: dict[str, list[dict[str, Any]]]) -> str:
    """Provenance of every model named in the analysis documents."""
    models: dict[tuple[str, ...], dict[str, Any]] = {}
    for docs in present.values():
        for doc in docs:
            prov = doc.get("model_provenance")
            if isinstance(prov, dict):
                key = tuple(str(prov.get(f)) for f in (*PROVENANCE_FIELDS, "correction"))
                models.setdefault(key, prov)
    rows = "".join(
        "<tr>"
        + "".join(_td(prov.get(f), f) for f in PROVENANCE_FIELDS)
        + _td(_correction(prov.get("correction")), "correction")
        + "</tr>"
        for _, prov in sorted(models.items())
    )
    return (
        '<h2 id="models">Models</h2>'
        '<p class="note">As recorded with each prediction; <code>weights_sha256</code> is '
        "the SHA-256 of the weight files.</p>"
        f'<div class="scroll"><table><tr>{_heads([*PROVENANCE_FIELDS, "correction"])}</tr>'
        f"{rows}</table></div>"
    )


def _correction(info: Any) -> str:
    """``c = 1.23 x <base>`` for a linearly corrected model, else empty."""
    if not isinstance(info, dict) or info.get("c") is None:
        return ""
    return f"c = {float(info['c']):.4g} x {info.get('base', '?')}"


def _references_section(present: dict[str, list[dict[str, Any]]]) -> str:
    """Each reference label with its tasks, material count and DFT code and functional."""
    labels: dict[str, dict[str, Any]] = {}
    for docs in present.values():
        for doc in docs:
            label = doc.get("reference")
            if not label:
                continue
            entry = labels.setdefault(label, {"tasks": set(), "materials": set(), "dft": set()})
            entry["tasks"].add(doc.get("task", ""))
            if doc.get("material_id"):
                entry["materials"].add(doc["material_id"])
            settings = (doc.get("reference_provenance") or {}).get("dft_settings") or {}
            dft = " ".join(str(settings[k]) for k in ("code", "functional") if settings.get(k))
            if dft:
                entry["dft"].add(dft)
    rows = "".join(
        f"<tr><td><code>{_e(label)}</code></td><td>{_e(', '.join(sorted(e['tasks'])))}</td>"
        f'<td class="num">{len(e["materials"])}</td><td>{_e(", ".join(sorted(e["dft"])))}</td></tr>'
        for label, e in sorted(labels.items())
    )
    return (
        '<h2 id="references">References</h2>'
        "<table><tr><th>label</th><th>tasks</th><th>materials</th><th>DFT</th></tr>"
        f"{rows}</table>"
    )


def _count(present: dict[str, list[dict[str, Any]]]) -> int:
    return sum(len(d) for d in present.values())


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _heads(names: Any) -> str:
    return "".join(f"<th>{_e(n)}</th>" for n in names)


def _cells(header: list[str], cells: list[str]) -> str:
    return "".join(_td(c, h) for h, c in zip(header, cells, strict=True))


def _td(value: Any, column: str) -> str:
    text = "" if value is None else str(value)
    css = []
    if column == "state" and text != "successful":
        css.append(text)
    if column == "reason":
        css.append("reason")
    if re.fullmatch(r"-?\d+(\.\d+)?(e[-+]?\d+)?|nan", text):
        css.append("num")
    cls = f' class="{" ".join(css)}"' if css else ""
    return f"<td{cls}>{_e(text)}</td>"
