"""The static site (``catalog site build``): structure, links, downloads, hostile upstream text, and cost.js.

Three sites serve the whole module: the 20 recorded days as of the newest snapshot (in-process, shared by every
xdist worker of the run, like the replayed history itself), the same history ``--as-of 2026-07-25`` through the
CLI, and a small history synced over loopback HTTP from the fake OpenRouter with hostile names, URLs and ids in
it. Pages are read with the standard library's ``html.parser``.

The browser's recomputation (``site/static/cost.js``, run by node) is compared with the engine
(``Catalog.cheapest``) on the price data embedded in the built pages: the same endpoints, in the same order, at
the same exact cost strings, for the presets and for profiles chosen to hit half-even rounding, long-context
tiers and zero output.
"""

from __future__ import annotations

import fcntl
import json
import os
import posixpath
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import duckdb
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from catalog.cost.engine import cost_usage
from catalog.cost.money import from_units
from catalog.cost.profile import WorkloadProfile
from catalog.cost.sheets import PriceTable, SheetVersion
from catalog.fake import FakeOpenRouter, MemorySource, memory_day, serve_in_thread
from catalog.library import Catalog
from catalog.pipeline import sync_once
from catalog.prices import canonical, parse_price_sheet
from catalog.settings import PROJECT_ROOT, FetchSettings
from catalog.store import queries
from catalog.store.db import connect
from catalog.store.exports import HISTORY_TABLES
from catalog.website import build as site_build
from catalog.website.build import build_site, page_name
from catalog.website.presets import PRESETS
from catalog.website.pricedata import RATE_ORDER, endpoint_entry

COST_JS = PROJECT_ROOT / "site" / "static" / "cost.js"
AS_OF_DAY = "2026-07-25"
# A date as --as-of is the end of that UTC day; the site shows the last snapshot taken by then, and says when.
AS_OF_END = datetime(2026, 7, 25, 23, 59, 59, 999999, tzinfo=UTC)
AS_OF_SHOWN = datetime(2026, 7, 25, 16, 5, 12, tzinfo=UTC)  # the bundle's 2026-07-25 snapshot
ATOM = "{http://www.w3.org/2005/Atom}"
DOWNLOAD_STEMS = ("prices-now", *HISTORY_TABLES, "price_overrides", "endpoint_telemetry")


# --- reading pages -----------------------------------------------------------------------------------------


class Page(HTMLParser):
    """One HTML page: every start tag with its attributes, the ids, the scripts and the #models body rows."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.text = text
        self.elements: list[tuple[str, dict[str, str | None]]] = []
        self.ids: set[str] = set()
        self.scripts: list[tuple[dict[str, str | None], str]] = []  # (attributes, raw text)
        self.model_rows: list[dict[str, str | None]] = []  # <tr> in <table id="models"><tbody>
        self.h1: list[str] = []
        self.time_datetimes: list[str | None] = []
        self._script: dict[str, str | None] | None = None
        self._script_text: list[str] = []
        self._in_models = self._in_tbody = self._in_h1 = False
        self.feed(text)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        self.elements.append((tag, values))
        if values.get("id"):
            self.ids.add(str(values["id"]))
        if tag == "script":
            self._script, self._script_text = values, []
        elif tag == "table" and values.get("id") == "models":
            self._in_models = True
        elif tag == "tbody" and self._in_models:
            self._in_tbody = True
        elif tag == "tr" and self._in_tbody:
            self.model_rows.append(values)
        elif tag == "h1":
            self._in_h1 = True
            self.h1.append("")
        elif tag == "time":
            self.time_datetimes.append(values.get("datetime"))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag == "script":
            self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag == "script" and self._script is not None:
            self.scripts.append((self._script, "".join(self._script_text)))
            self._script = None
        elif tag == "table":
            self._in_models = self._in_tbody = False
        elif tag == "tbody":
            self._in_tbody = False
        elif tag == "h1":
            self._in_h1 = False

    def handle_data(self, data: str) -> None:
        if self._script is not None:
            self._script_text.append(data)
        if self._in_h1:
            self.h1[-1] += data

    def refs(self) -> Iterator[tuple[str, str, str]]:
        """(tag, attribute, value) of every href and src."""
        for tag, values in self.elements:
            for name in ("href", "src"):
                value = values.get(name)
                if value is not None:
                    yield tag, name, value

    def price_data(self) -> dict[str, Any]:
        (raw,) = [text for attrs, text in self.scripts if attrs.get("id") == "price-data"]
        return json.loads(raw)


def read_pages(out: Path) -> dict[str, Page]:
    """Every .html page of a built site, by its path relative to the site root."""
    return {p.relative_to(out).as_posix(): Page(p.read_text(encoding="utf-8")) for p in sorted(out.rglob("*.html"))}


def resolve(page: str, ref: str) -> tuple[str, str] | None:
    """The file (relative to the site root) and fragment a link on ``page`` points at; None when external."""
    parts = urlsplit(ref)
    if parts.scheme or parts.netloc or ref.startswith("//"):
        return None
    path = unquote(parts.path)
    target = posixpath.normpath(posixpath.join(posixpath.dirname(page), path)) if path else page
    return target, parts.fragment


def broken_links(out: Path, pages: dict[str, Page]) -> list[str]:
    """Every relative href/src of the pages and feed.atom whose file (or #fragment id) does not exist."""
    refs = [(name, ref) for name, page in pages.items() for _, _, ref in page.refs()]
    feed = ET.parse(out / "feed.atom").getroot()
    refs += [("feed.atom", str(link.get("href"))) for link in feed.iter(f"{ATOM}link")]
    broken = []
    for name, ref in refs:
        found = resolve(name, ref)
        if found is None:
            continue
        target, fragment = found
        if target.startswith("../") or target == ".." or not (out / target).is_file():
            broken.append(f"{name}: {ref} (no file {target})")
        elif fragment and (target not in pages or fragment not in pages[target].ids):
            broken.append(f"{name}: {ref} (no id {fragment!r} in {target})")
    return broken


def model_page(model_id: str) -> str:
    return f"models/{page_name(model_id)}.html"


def provider_page(slug: str) -> str:
    return f"providers/{page_name(slug)}.html"


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "catalog", *args], capture_output=True, text=True, timeout=300)


def tree(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` with its content (to show a folder was left untouched)."""
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


# --- builds ------------------------------------------------------------------------------------------------


def run_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The run's own temp folder, shared by its xdist workers (as in conftest's replayed history)."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


def built_once(tmp_path_factory: pytest.TempPathFactory, name: str, make: Callable[[Path], None]) -> Path:
    """``make(folder)`` once per run under a lock; every worker then reads the finished folder."""
    root = run_root(tmp_path_factory)
    folder = root / name
    with open(root / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (folder / "done").exists():
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir()
            make(folder)
            (folder / "done").write_text("ok")
    return folder


@dataclass
class Built:
    out: Path
    db: Path
    at: datetime
    report: dict[str, Any]
    pages: dict[str, Page] = field(default_factory=dict)


@pytest.fixture(scope="module")
def site(replayed_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Built:
    """The 20 recorded days, built as of the newest snapshot (the default)."""

    def make(folder: Path) -> None:
        shutil.copyfile(replayed_template, folder / "history.duckdb")
        with Catalog.open(folder / "history.duckdb") as cat:
            report = build_site(cat, folder / "site")
        (folder / "report.json").write_text(json.dumps(report.to_dict()))

    folder = built_once(tmp_path_factory, "test_site-20-days", make)
    report = json.loads((folder / "report.json").read_text())
    at = datetime.fromisoformat(report["as_of"])
    built = Built(folder / "site", folder / "history.duckdb", at, report)
    built.pages = read_pages(built.out)
    return built


@pytest.fixture(scope="module")
def cat(site: Built) -> Iterator[Catalog]:
    with Catalog.open(site.db) as opened:
        yield opened


@pytest.fixture(scope="module")
def site_at(site: Built, cat: Catalog) -> datetime:
    """The exact as-of instant of the default build: the newest snapshot (the report rounds to seconds)."""
    newest = cat.con.execute("SELECT max(taken_at) FROM snapshots WHERE status <> 'failed'").fetchall()[0][0]
    at = newest.astimezone(UTC)
    assert at.replace(microsecond=0) == site.at
    return at


@pytest.fixture(scope="module")
def site_as_of(replayed_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Built:
    """The same history built through the CLI with ``--as-of 2026-07-25 --json``."""

    def make(folder: Path) -> None:
        shutil.copyfile(replayed_template, folder / "history.duckdb")
        args = ("--db", str(folder / "history.duckdb"), "--out", str(folder / "site"), "--as-of", AS_OF_DAY)
        done = run_cli("site", "build", *args, "--json")
        assert done.returncode == 0, done.stderr
        (folder / "report.json").write_text(done.stdout)

    folder = built_once(tmp_path_factory, "test_site-as-of", make)
    report = json.loads((folder / "report.json").read_text())
    built = Built(folder / "site", folder / "history.duckdb", datetime.fromisoformat(report["as_of"]), report)
    built.pages = read_pages(built.out)
    return built


# --- 1. structure ------------------------------------------------------------------------------------------


def test_every_model_listed_at_the_instant_has_a_page_and_nothing_else_does(
    site: Built, cat: Catalog, site_at: datetime
) -> None:
    models = queries.models_as_of(cat.con, site_at)["model_id"].to_list()
    assert len(models) > 300
    pages = {p for p in site.pages if p.startswith("models/")}
    assert pages == {model_page(m) for m in models}
    assert site.report["models"] == len(models)
    for mid in models[::40]:
        assert f"<code>{mid}</code>" in site.pages[model_page(mid)].text


def test_every_provider_has_a_page(site: Built, cat: Catalog, site_at: datetime) -> None:
    slugs = queries.providers_as_of(cat.con, site_at)["slug"].to_list()
    assert len(slugs) > 50
    pages = {p for p in site.pages if p.startswith("providers/")}
    assert pages == {provider_page(s) for s in slugs}
    assert site.report["providers"] == len(slugs)
    listing = site.pages["providers.html"]
    linked = {found[0] for _, _, ref in listing.refs() if (found := resolve("providers.html", ref))}
    assert {provider_page(s) for s in slugs} <= linked


def test_index_has_one_row_per_model(site: Built, cat: Catalog, site_at: datetime) -> None:
    models = queries.models_as_of(cat.con, site_at)["model_id"].to_list()
    rows = site.pages["index.html"].model_rows
    ids = [r["data-id"] for r in rows]
    assert len(ids) == len(models)
    assert set(ids) == set(models)
    # data-model indexes the embedded price data: row i is model i there.
    data = site.pages["index.html"].price_data()
    assert [data["models"][int(str(r["data-model"]))]["id"] for r in rows] == ids


def test_no_broken_internal_link_in_any_page_or_the_feed(site: Built) -> None:
    assert len(site.pages) == site.report["pages"] - 1  # every rendered page is .html except feed.atom
    assert broken_links(site.out, site.pages) == []


def test_the_link_checker_sees_broken_links(tmp_path: Path) -> None:
    """The checker itself, on a hand-made site: each kind of broken link is reported, the good ones are not."""
    (tmp_path / "a").mkdir()
    (tmp_path / "static").mkdir()
    (tmp_path / "static" / "s.css").write_text("")
    (tmp_path / "index.html").write_text(
        '<link rel="stylesheet" href="static/s.css"><a href="a/b.html#x">ok</a> <a href="missing.html">no</a>'
        '<a href="#nope">no</a> <a href="#top" id="top">ok</a> <img src="../outside.png"> <a href="https://e.example/">'
    )
    (tmp_path / "a" / "b.html").write_text('<p id="x"><a href="../index.html">ok</a> <a href="b.html#y">no</a></p>')
    (tmp_path / "feed.atom").write_text(
        f'<feed xmlns="{ATOM[1:-1]}"><link href="index.html"/><entry><link href="gone.html"/></entry></feed>'
    )
    assert sorted(broken_links(tmp_path, read_pages(tmp_path))) == [
        "a/b.html: b.html#y (no id 'y' in a/b.html)",
        "feed.atom: gone.html (no file gone.html)",
        "index.html: #nope (no id 'nope' in index.html)",
        "index.html: ../outside.png (no file ../outside.png)",
        "index.html: missing.html (no file missing.html)",
    ]


def test_the_site_needs_no_network(site: Built) -> None:
    for name, page in site.pages.items():
        for tag, attr, ref in page.refs():
            parts = urlsplit(ref.strip())
            if attr == "src" or tag in ("link", "script"):
                local = not parts.netloc and not ref.strip().startswith("//") and parts.scheme in ("", "data")
                assert local, f"{name}: <{tag} {attr}={ref!r}> loads from the network"
            else:
                assert parts.scheme in ("", "http", "https"), f"{name}: {ref!r}"
        for tag, values in page.elements:
            if tag == "link" and "stylesheet" in str(values.get("rel") or "").split():
                assert resolve(name, str(values["href"])) is not None
    for asset in ("cost.js", "app.js", "style.css"):
        text = (site.out / "static" / asset).read_text()
        assert "http://" not in text and "https://" not in text and "@import" not in text


def test_feed_is_atom_with_id_title_and_updated_per_entry(site: Built) -> None:
    feed = ET.parse(site.out / "feed.atom").getroot()
    assert feed.tag == f"{ATOM}feed"
    entries = feed.findall(f"{ATOM}entry")
    assert entries
    ids = []
    for entry in entries:
        for child in ("id", "title", "updated"):
            node = entry.find(f"{ATOM}{child}")
            assert node is not None and (node.text or "").strip(), f"entry without {child}"
        ids.append(entry.findtext(f"{ATOM}id"))
        updated = datetime.fromisoformat(str(entry.findtext(f"{ATOM}updated")).replace("Z", "+00:00"))
        assert updated <= site.at
    assert len(ids) == len(set(ids))
    assert feed.findtext(f"{ATOM}updated") == entries[0].findtext(f"{ATOM}updated")


def test_downloads_exist_in_every_format(site: Built) -> None:
    downloads = site.out / "downloads"
    expected = {f"{stem}.{fmt}" for stem in DOWNLOAD_STEMS for fmt in ("csv", "parquet", "json")}
    assert expected | {"catalog.duckdb"} == {p.name for p in downloads.iterdir()}
    assert all((downloads / name).stat().st_size > 0 for name in expected)


def test_parquet_prices_equal_the_catalog_prices_exactly(site: Built, cat: Catalog, site_at: datetime) -> None:
    expected = cat.prices(site_at)
    assert expected.height > 900
    parquet = pl.read_parquet(site.out / "downloads" / "prices-now.parquet")
    assert parquet.schema == expected.schema
    assert parquet.equals(expected)
    exported = json.loads((site.out / "downloads" / "prices-now.json").read_text())
    assert len(exported) == expected.height


def downloads_table(page: Page) -> dict[str, str]:
    """Download name → the Rows cell as shown, from the downloads page's text."""
    out: dict[str, str] = {}
    for chunk in page.text.split("<tr><td><strong>")[1:]:
        name = chunk.split("</strong>", 1)[0]
        rows = chunk.split('<td class="num">', 1)[1].split("</td>", 1)[0]
        out[name] = rows
    return out


def test_downloads_page_counts_the_rows_of_each_file(site: Built) -> None:
    shown = downloads_table(site.pages["downloads.html"])
    assert set(shown) == {*DOWNLOAD_STEMS, "catalog.duckdb"}
    for stem in DOWNLOAD_STEMS:
        folder = site.out / "downloads"
        counts = {
            pl.read_parquet(folder / f"{stem}.parquet").height,
            len(json.loads((folder / f"{stem}.json").read_text())),
            duckdb.sql(f"SELECT count(*) FROM read_csv('{folder / f'{stem}.csv'}')").fetchall()[0][0],
        }
        assert len(counts) == 1, f"{stem}: the three formats disagree: {counts}"
        (rows,) = counts
        assert rows > 0
        assert shown[stem] == f"{rows:,}", stem


def test_history_downloads_keep_prices_exact(site: Built, cat: Catalog) -> None:
    """JSON carries decimal strings (canonical spelling), Parquet the DECIMAL values, both equal to the history."""
    columns = [
        name
        for name, kind, *_ in cat.con.execute("DESCRIBE endpoint_versions").fetchall()
        if kind.startswith("DECIMAL")
    ]
    assert "price_prompt" in columns and "discount" in columns
    stored = {
        row[0]: dict(zip(columns, row[1:], strict=True))
        for row in cat.con.execute(f"SELECT version_id, {', '.join(columns)} FROM endpoint_versions").fetchall()
    }
    folder = site.out / "downloads"
    exported = {row["version_id"]: row for row in json.loads((folder / "endpoint_versions.json").read_text())}
    parquet = {row["version_id"]: row for row in pl.read_parquet(folder / "endpoint_versions.parquet").to_dicts()}
    assert set(exported) == set(parquet) == set(stored)
    for version, values in stored.items():
        assert {c: exported[version][c] for c in columns} == {
            c: None if v is None else canonical(v) for c, v in values.items()
        }
        assert {c: parquet[version][c] for c in columns} == values


def test_downloaded_database_opens_read_only_with_the_whole_history(site: Built, cat: Catalog) -> None:
    source = cat.con.execute("SELECT count(*) FROM endpoint_versions").fetchall()[0][0]
    con = duckdb.connect(str(site.out / "downloads" / "catalog.duckdb"), read_only=True)
    try:
        assert con.execute("SELECT count(*) FROM endpoint_versions").fetchall()[0][0] == source
        assert (
            con.execute("SELECT count(*) FROM snapshots").fetchall()
            == cat.con.execute("SELECT count(*) FROM snapshots").fetchall()
        )
    finally:
        con.close()
    assert source > 1000


def test_footer_says_the_as_of_instant(site: Built) -> None:
    stamp = site.at.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert site.report["as_of"] == stamp
    for name in ("index.html", "downloads.html", model_page("openai/gpt-5.5")):
        assert site.pages[name].time_datetimes == [stamp], name
        assert "the history goes on to" not in site.pages[name].text


def test_as_of_build_shows_the_last_snapshot_of_that_day(site_as_of: Built, cat: Catalog) -> None:
    taken = cat.con.execute(
        "SELECT max(taken_at) FROM snapshots WHERE status <> 'failed' AND taken_at <= ?", [AS_OF_END]
    ).fetchall()[0][0]
    assert taken.astimezone(UTC).replace(microsecond=0) == AS_OF_SHOWN == site_as_of.at
    assert site_as_of.report["as_of"] == "2026-07-25T16:05:12Z"


def test_as_of_build_lists_the_models_of_that_day(site_as_of: Built, cat: Catalog) -> None:
    models = set(queries.models_as_of(cat.con, AS_OF_SHOWN)["model_id"].to_list())
    assert models == set(queries.models_as_of(cat.con, AS_OF_END)["model_id"].to_list())  # no snapshot between
    newest = set(queries.models_as_of(cat.con, datetime(2026, 8, 6, tzinfo=UTC))["model_id"].to_list())
    assert models != newest  # the day differs from the newest one, so the checks below mean something
    index = site_as_of.pages["index.html"]
    assert {r["data-id"] for r in index.model_rows} == models
    assert len(index.model_rows) == len(models) == site_as_of.report["models"]
    pages = {p for p in site_as_of.pages if p.startswith("models/")}
    assert pages == {model_page(m) for m in models}
    assert index.price_data()["at_minute"] == 16 * 60 + 5


def test_as_of_build_says_that_instant(site_as_of: Built) -> None:
    for name in ("index.html", "changes.html", "methodology.html", model_page("openai/gpt-5.5")):
        page = site_as_of.pages[name]
        assert page.time_datetimes == ["2026-07-25T16:05:12Z"], name
        assert '">2026-07-25 16:05 UTC</time> (the history goes on to 2026-08-05 16:43 UTC)' in page.text, name
    feed = ET.parse(site_as_of.out / "feed.atom").getroot()
    updated = [str(e.findtext(f"{ATOM}updated")) for e in feed.iter(f"{ATOM}entry")]
    assert updated and max(updated) <= "2026-07-25T16:05:12Z"
    assert broken_links(site_as_of.out, site_as_of.pages) == []


def test_as_of_downloads_hold_the_history_known_then(site_as_of: Built) -> None:
    folder = site_as_of.out / "downloads"
    snapshots = pl.read_parquet(folder / "snapshots.parquet")
    assert snapshots.height == 9  # 2026-07-17 … 2026-07-25
    versions = pl.read_parquet(folder / "endpoint_versions.parquet")
    assert versions.height > 900
    assert all(v <= AS_OF_SHOWN for v in versions["valid_from"].to_list())
    assert all(v is None or v <= AS_OF_SHOWN for v in versions["valid_to"].to_list())


def test_as_of_before_the_history_is_refused_naming_its_start(site: Built, tmp_path: Path) -> None:
    done = run_cli("site", "build", "--db", str(site.db), "--out", str(tmp_path / "site"), "--as-of", "2026-07-16")
    assert done.returncode == 2
    assert "2026-07-17T18:02:29Z" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "site").exists()


# --- 2. hostile upstream text, synced over loopback ----------------------------------------------------

XSS_NAME = "<script>alert(1)</script>"
XSS_DESCRIPTION = '"><img src=x onerror=alert(1)>'
SCRIPT_CLOSER = "</script><script>alert(2)</script>"
EVIL = "evil/xss:beta"  # ':' must not read as a URL scheme in a relative link
GOOD = "acme/good"


def v1_model(model_id: str, name: str, prompt: str, completion: str, description: str = "") -> dict[str, Any]:
    return {
        "id": model_id, "canonical_slug": model_id, "name": name, "description": description, "created": 1784000000,
        "context_length": 131072,
        "architecture": {"modality": "text->text", "input_modalities": ["text"], "output_modalities": ["text"],
                         "tokenizer": "Other", "instruct_type": None},
        "pricing": {"prompt": prompt, "completion": completion},
        "supported_parameters": ["max_tokens", "temperature"],
    }  # fmt: skip


def v1_listing(m: dict[str, Any], *endpoints: tuple[str, str, str]) -> dict[str, Any]:
    """The /endpoints object of ``m``: one endpoint per (provider name, tag, quantization)."""
    return {
        "id": m["id"], "name": m["name"], "created": m["created"], "description": m["description"],
        "architecture": m["architecture"],
        "endpoints": [
            {"name": f"{p} | {m['id']}", "model_id": m["id"], "model_name": m["name"], "context_length": 131072,
             "pricing": dict(m["pricing"]), "provider_name": p, "tag": tag, "quantization": quant,
             "max_completion_tokens": 8192, "supported_parameters": ["max_tokens", XSS_DESCRIPTION], "status": 0}
            for p, tag, quant in endpoints
        ],
    }  # fmt: skip


def hostile_day() -> Any:
    evil = v1_model(EVIL, XSS_NAME, "0.000001", "0.000002", XSS_DESCRIPTION)
    good = v1_model(GOOD, "Good model", "0.0000005", "0.0000015")
    providers = [
        {"name": "Evil<b>Corp</b>", "slug": "evilcorp", "privacy_policy_url": "javascript:alert(1)",
         "terms_of_service_url": " JavaScript:alert(1)", "status_page_url": "https://status.example/ok",
         "headquarters": XSS_DESCRIPTION, "datacenters": ["<i>x</i>"]},
        {"name": "Fine", "slug": "fine", "privacy_policy_url": 'https://fine.example/" onmouseover="alert(1)',
         "terms_of_service_url": "data:text/html,<script>alert(1)</script>", "status_page_url": None},
    ]  # fmt: skip
    endpoints = {
        EVIL: v1_listing(
            evil,
            ("Evil<b>Corp</b>", "evilcorp", "fp8"),
            (SCRIPT_CLOSER, f"evilcorp/{XSS_DESCRIPTION}", XSS_DESCRIPTION),
            (XSS_NAME, '"><svg onload=alert(3)>/x', "fp8"),
        ),
        GOOD: v1_listing(good, ("Fine", "fine", "fp8")),
    }
    return memory_day("2026-07-17", [evil, good], endpoints, providers)


def sync_from_fake(day: Any, db: Path) -> dict[str, Any]:
    """One ``catalog sync`` over loopback HTTP from a fake serving ``day``; its JSON summary."""
    with serve_in_thread(FakeOpenRouter(MemorySource([day]))) as url:
        done = run_cli("sync", "--base-url", url, "--db", str(db), "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@dataclass
class Hostile:
    out: Path
    db: Path
    stdout: str
    pages: dict[str, Page]


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Hostile:
    folder = tmp_path_factory.mktemp("hostile")
    summary = sync_from_fake(hostile_day(), folder / "history.duckdb")
    assert summary["status"] == "ok" and summary["models"] == 2 and summary["endpoints"] == 4
    done = run_cli("site", "build", "--db", str(folder / "history.duckdb"), "--out", str(folder / "site"), "--json")
    assert done.returncode == 0, done.stderr
    return Hostile(folder / "site", folder / "history.duckdb", done.stdout, read_pages(folder / "site"))


def site_texts(out: Path) -> dict[str, str]:
    return {p.relative_to(out).as_posix(): p.read_text() for p in out.rglob("*") if p.suffix in (".html", ".atom")}


def test_hostile_names_stay_text_scripts_are_only_ours(hostile: Hostile) -> None:
    assert model_page(EVIL) in hostile.pages and provider_page("evilcorp") in hostile.pages
    for name, page in hostile.pages.items():
        for attrs, text in page.scripts:
            if attrs.get("type") == "application/json":
                assert attrs.get("src") is None, name
                json.loads(text)  # the whole body is the data: nothing closed the element early
            else:
                assert set(attrs) == {"src"}, f"{name}: {attrs}"
                assert resolve(name, str(attrs["src"])) in (("static/cost.js", ""), ("static/app.js", "")), name
                assert not text.strip(), f"{name}: inline script {text[:80]!r}"
        for tag, values in page.elements:
            handlers = [a for a in values if a.lower().startswith("on")]
            assert not handlers, f"{name}: <{tag}> has {handlers}"
        assert not [t for t, _ in page.elements if t in ("img", "iframe", "object", "embed", "b", "i")], name
    for name, text in site_texts(hostile.out).items():
        lowered = text.lower()
        assert "<img" not in lowered and "<b>" not in lowered and "<i>" not in lowered, name
        assert "<script>alert" not in lowered and "<svg onload" not in lowered, name


def test_no_javascript_or_data_url_is_ever_a_link(hostile: Hostile) -> None:
    for name, page in hostile.pages.items():
        for tag, attr, ref in page.refs():
            scheme = urlsplit(ref.strip()).scheme.lower()
            allowed = ("", "http", "https") if tag == "a" else ("", "data")
            assert scheme in allowed, f"{name}: <{tag} {attr}={ref!r}>"
            if scheme == "data":
                assert tag == "link" and ref == "data:,", name
    evilcorp = hostile.pages[provider_page("evilcorp")]
    hrefs = [values.get("href") for tag, values in evilcorp.elements if tag == "a"]
    assert "https://status.example/ok" in hrefs  # the one http(s) URL is linked: links work at all
    assert not [h for h in hrefs if h and "javascript" in h.lower()]
    fine = hostile.pages[provider_page("fine")]
    assert not [v for t, v in fine.elements if t == "a" and "example" in str(v.get("href"))]
    assert "privacy policy" not in fine.text and "terms of service" not in fine.text


def test_injected_text_is_escaped_on_the_model_page_and_the_index(hostile: Hostile) -> None:
    model = hostile.pages[model_page(EVIL)]
    index = hostile.pages["index.html"]
    escaped = "&lt;script&gt;alert(1)&lt;/script&gt;"
    assert escaped in model.text and escaped in index.text
    assert model.h1 == [XSS_NAME]  # shown as the text it is
    assert f"<title>{escaped} · LLM price catalog</title>" in model.text
    assert XSS_NAME not in model.text and XSS_NAME not in index.text
    assert "&#34;&gt;&lt;img src=x onerror=alert(1)&gt;" in model.text  # the quantization, as text
    assert all(XSS_DESCRIPTION not in text for text in site_texts(hostile.out).values())
    rows = index.model_rows
    assert {r["data-id"] for r in rows} == {EVIL, GOOD}


def test_embedded_json_cannot_close_its_script_element(hostile: Hostile) -> None:
    for name in ("index.html", model_page(EVIL)):
        page = hostile.pages[name]
        start = page.text.index('<script type="application/json" id="price-data">')
        body = page.text[start:].split(">", 1)[1].split("</script>", 1)[0]
        assert "</" not in body and "<!--" not in body and "<script" not in body.lower()
        data = page.price_data()
        assert json.loads(body) == data
        evil = next(m for m in data["models"] if m["id"] == EVIL)
        assert {e[1] for e in evil["endpoints"]} == {"Evil<b>Corp</b>", SCRIPT_CLOSER, XSS_NAME}  # round trip


def test_hostile_site_links_resolve(hostile: Hostile) -> None:
    assert broken_links(hostile.out, hostile.pages) == []
    # the slug '"><svg onload=alert(3)>' (from an endpoint tag) got a page with a safe file name, linked
    slug = '"><svg onload=alert(3)>'
    assert provider_page(slug) in hostile.pages
    assert provider_page(slug) == "providers/_22__3e__3c_svg_20_onload_3d_alert_28_3_29__3e_.html"


def test_upstream_ids_cannot_write_outside_their_folder(tmp_path: Path) -> None:
    """Model ids and provider slugs are upstream text too: ``..`` in them must not steer where pages go."""
    good = v1_model(GOOD, "Good model", "0.0000005", "0.0000015")
    climber = v1_model("acme/../../../climbed-model", "Climber", "0.000001", "0.000002")
    usurper = v1_model("../index", "Usurper", "0.000001", "0.000002")
    providers = [{"name": "Fine", "slug": "fine"}, {"name": "Climber", "slug": "../../../climbed-provider"}]
    day = memory_day(
        "2026-07-17",
        [good, climber, usurper],
        {GOOD: v1_listing(good, ("Fine", "fine", "fp8"))},
        providers,
    )
    sync_from_fake(day, tmp_path / "history.duckdb")
    nest = tmp_path / "a" / "b"
    nest.mkdir(parents=True)
    done = run_cli("site", "build", "--db", str(tmp_path / "history.duckdb"), "--out", str(nest / "site"))
    assert done.returncode == 0, done.stderr
    outside = sorted(
        p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.html") if nest / "site" not in p.parents
    )
    assert outside == []
    index = Page((nest / "site" / "index.html").read_text())
    assert {r["data-id"] for r in index.model_rows} == {GOOD, "acme/../../../climbed-model", "../index"}


# --- 3. the CLI: --json, rebuilding, refusing, empty history ---------------------------------------------


def test_json_report_counts_pages_models_providers_bytes(hostile: Hostile) -> None:
    report = json.loads(hostile.stdout)
    assert report["models"] == 2
    assert report["providers"] == 3  # evilcorp, fine, and the slug an endpoint tag gave
    htmls = len(hostile.pages)
    assert report["pages"] == htmls + 1  # and feed.atom
    total = sum(p.stat().st_size for p in hostile.out.rglob("*") if p.is_file())
    assert report["bytes"] == total
    assert report["out"] == str(hostile.out.resolve())
    assert report["largest_model_page"]["page"] in {model_page(EVIL), model_page(GOOD)}


def test_json_report_of_the_20_days(site: Built) -> None:
    report = site.report
    assert set(report) >= {"out", "as_of", "pages", "models", "providers", "bytes"}
    assert report["models"] == 338 and report["providers"] > 50
    assert report["bytes"] == sum(p.stat().st_size for p in site.out.rglob("*") if p.is_file())


def test_rebuilding_into_the_same_folder_replaces_it(hostile: Hostile, tmp_path: Path) -> None:
    out = tmp_path / "site"
    with Catalog.open(hostile.db) as cat:
        build_site(cat, out)
        (out / "stale.html").write_text("old")
        (out / "models" / "gone.html").write_text("old")
        first = (out / "index.html").read_text()
        build_site(cat, out)
    assert not (out / "stale.html").exists() and not (out / "models" / "gone.html").exists()
    assert (out / "index.html").exists() and (out / "index.html").read_text() != ""
    assert Page(first).model_rows == Page((out / "index.html").read_text()).model_rows
    # No work or old folder is left beside it (the lock file that orders builds of one folder stays).
    assert sorted(p.name for p in tmp_path.iterdir()) == [".site.lock", "site"]


def test_a_killed_builds_leftovers_go_and_a_path_that_cannot_be_written_is_named(
    hostile: Hostile, tmp_path: Path
) -> None:
    out = tmp_path / "site"
    for leftover in (".site.building-999999", ".site.old-999999"):
        (tmp_path / leftover / "models").mkdir(parents=True)
    with Catalog.open(hostile.db) as cat:
        build_site(cat, out)
    assert sorted(p.name for p in tmp_path.iterdir()) == [".site.lock", "site"]
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    done = run_cli("site", "build", "--db", str(hostile.db), "--out", str(blocker / "site"))
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert str(blocker / "site") in done.stderr and "could not write the site" in done.stderr
    assert blocker.read_text() == "not a folder"


@pytest.mark.parametrize(
    "files",
    [
        {"notes.txt": "precious", "sub/more.txt": "also precious"},
        {"index.html": "<h1>my own home page</h1>", "about.html": "<p>about me</p>"},  # a site, but not ours
    ],
    ids=["plain-files", "someone-elses-site"],
)
def test_out_that_is_not_a_site_is_refused_and_left_alone(
    hostile: Hostile, tmp_path: Path, files: dict[str, str]
) -> None:
    folder = tmp_path / "my documents"
    for name, text in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)
    before = tree(folder)
    done = run_cli("site", "build", "--db", str(hostile.db), "--out", str(folder))
    assert tree(folder) == before
    assert done.returncode == 2
    assert str(folder) in done.stderr and "Traceback" not in done.stderr
    assert done.stderr.count("\n") == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["my documents"]


def test_empty_database_exits_2_saying_how_to_load_it(tmp_path: Path) -> None:
    db = tmp_path / "empty.duckdb"
    connect(db).close()
    done = run_cli("site", "build", "--db", str(db), "--out", str(tmp_path / "site"))
    assert done.returncode == 2
    assert "catalog sync" in done.stderr or "catalog up" in done.stderr
    assert "Traceback" not in done.stderr and done.stdout == ""
    assert not (tmp_path / "site").exists()


def test_the_reported_as_of_builds_the_same_site_again(tmp_path: Path) -> None:
    """A snapshot taken at a fractional second: the instant the report names, given back as --as-of, must show
    that same snapshot (not fall before it)."""
    taken = datetime(2026, 7, 17, 12, 0, 0, 500000, tzinfo=UTC)
    good = v1_model(GOOD, "Good model", "0.0000005", "0.0000015")
    day = memory_day("2026-07-17", [good], {GOOD: v1_listing(good, ("Fine", "fine", "fp8"))}, [])
    db = tmp_path / "history.duckdb"
    with serve_in_thread(FakeOpenRouter(MemorySource([day]))) as url:
        con = connect(db)
        try:
            assert sync_once(con, FetchSettings(base_url=url), taken_at=taken).status == "ok"
        finally:
            con.close()
    first = run_cli("site", "build", "--db", str(db), "--out", str(tmp_path / "first"), "--json")
    assert first.returncode == 0, first.stderr
    as_of = json.loads(first.stdout)["as_of"]
    again = run_cli("site", "build", "--db", str(db), "--out", str(tmp_path / "again"), "--as-of", as_of, "--json")
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["as_of"] == as_of
    assert datetime.fromisoformat(as_of) == taken


# --- 4. cost.js equals the engine -------------------------------------------------------------------------

NODE_WORKER = r"""
const cost = require(process.argv[2]);
const readline = require("readline");
const lines = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
function handle(req) {
  switch (req.op) {
    case "rank": {
      const data = cost.decode(req.data);
      return req.profiles.map((p) => {
        const out = {};
        for (const model of data.models) {
          out[model.id] = cost.rank(model, p, data, req.filters || null).map((r) => [
            r.endpoint.key, cost.decimal(r.units, data.scale), cost.perMillion(r.units, p, data.scale)]);
        }
        return out;
      });
    }
    case "part": return req.cases.map(([total, percent]) => cost.part(BigInt(total), percent).toString());
    case "decimal": return req.cases.map(([units, scale]) => cost.decimal(BigInt(units), scale));
    case "usd": return req.cases.map(([units, scale]) => cost.usd(BigInt(units), scale));
    case "units": return req.cases.map(([text, scale]) => cost.units(text, scale).toString());
    case "usage": return req.cases.map((p) => {
      const u = cost.usage(p);
      return Object.fromEntries(Object.entries(u).map(([k, v]) => [k, v.toString()]));
    });
    default: throw new Error("unknown op " + req.op);
  }
}
lines.on("line", (line) => {
  let answer;
  try { answer = { ok: handle(JSON.parse(line)) }; } catch (e) { answer = { error: String((e && e.stack) || e) }; }
  process.stdout.write(JSON.stringify(answer) + "\n");
});
"""


class Node:
    """One node process running cost.js for the whole module: a JSON request per line, an answer per line."""

    def __init__(self, folder: Path) -> None:
        node = shutil.which("node")
        assert node is not None
        script = folder / "cost_worker.js"
        script.write_text(NODE_WORKER)
        self.proc = subprocess.Popen(
            [node, str(script), str(COST_JS)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )

    def __call__(self, op: str, **payload: Any) -> Any:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps({"op": op, **payload}) + "\n")
        self.proc.stdin.flush()
        answer = json.loads(self.proc.stdout.readline())
        assert "error" not in answer, answer.get("error")
        return answer["ok"]

    def close(self) -> None:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.close()
        try:
            self.proc.wait(timeout=10)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            self.proc.stdout.close()


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    if shutil.which("node") is None:
        pytest.skip("node is not installed: cost.js cannot be run (install Node.js to compare it with the engine)")
    worker = Node(tmp_path_factory.mktemp("node"))
    yield worker
    worker.close()


@dataclass(frozen=True)
class Shares:
    """A profile as the page's sliders give it: token counts and whole-percent shares."""

    name: str
    input: int
    output: int
    cache_hit: int = 0
    reasoning: int = 0
    cache_write: int = 0

    def js(self) -> dict[str, int]:
        return {k: getattr(self, k) for k in ("input", "output", "cache_hit", "reasoning", "cache_write")}

    def engine(self) -> WorkloadProfile:
        return WorkloadProfile(
            self.input,
            self.output,
            cache_hit=Decimal(self.cache_hit) / 100,
            reasoning=Decimal(self.reasoning) / 100,
            cache_write=Decimal(self.cache_write) / 100,
        )


def preset_shares() -> list[Shares]:
    return [
        Shares(p.name, p.profile.input_tokens, p.profile.output_tokens, int(p.profile.cache_hit * 100),
               int(p.profile.reasoning * 100), int(p.profile.cache_write * 100))
        for p in PRESETS
    ]  # fmt: skip


PROFILES = [
    *preset_shares(),
    Shares("odd shares", 1234, 567, cache_hit=33, reasoning=17, cache_write=12),
    Shares("halves round down", 50, 50, cache_hit=33, reasoning=17, cache_write=12),  # 16.5 → 16, 8.5 → 8
    Shares("halves round up", 150, 150, cache_hit=33, reasoning=17, cache_write=12),  # 49.5 → 50, 25.5 → 26
    Shares("write halves", 103, 7, cache_hit=0, reasoning=50, cache_write=50),  # 51.5 → 52, 3.5 → 4
    Shares("read + write clamp", 3, 1, cache_hit=50, cache_write=50),  # 2 read, 2 write > the 1 left: 1
    Shares("1M prompt", 1_000_000, 1_000, cache_hit=10),
    Shares("200k prompt", 200_000, 2_000, cache_hit=33, reasoning=17, cache_write=12),
    Shares("just under 200k", 199_999, 2_000),
    Shares("zero output", 5_000, 0, cache_hit=20),
    Shares("nothing at all", 0, 0),
]


def engine_ranking(cat: Catalog, at: datetime, profile: Shares, model: str | None = None) -> dict[str, list[list[str]]]:
    """Per model: [[endpoint key, cost per request], ...] in the engine's order."""
    out: dict[str, list[list[str]]] = defaultdict(list)
    for row in cat.cheapest(model, profile.engine(), as_of=at).to_dict()["ranked"]:
        out[row["model_id"]].append([row["endpoint_key"], row["cost_per_request"]])
    return dict(out)


def js_ranking(
    node: Node, data: dict[str, Any], profiles: list[Shares], filters: dict[str, Any] | None = None
) -> list[dict[str, list[list[str]]]]:
    """Endpoint rankings only: a model's list-price entry (keyed by the model id, no "@") is checked apart."""
    answers = node("rank", data=data, profiles=[p.js() for p in profiles], filters=filters)
    return [{m: [row[:2] for row in rows if "@" in row[0]] for m, rows in answer.items()} for answer in answers]


def test_models_without_an_endpoint_show_their_list_price_as_the_engine_prices_it(
    node: Node, site: Built, cat: Catalog, site_at: datetime
) -> None:
    """The index's fallback for a model with no ranked endpoint: its /models price, priced by the engine
    (no endpoint named: the model-level sheet), in the page and in cost.js for every profile."""
    index = site.out / "index.html"
    data = Page(index.read_text()).price_data()
    fallbacks = {
        m["id"]: m["endpoints"]
        for m in data["models"]
        if any(e[4] is not None and "@" not in e[4] for e in m["endpoints"])  # keyed by the model id alone
    }
    assert all(len(entries) == 1 for entries in fallbacks.values())
    # A dynamic list price (router models) is in the data but never ranked, as the engine never prices it.
    dynamic = {m for m, entries in fallbacks.items() if entries[0][2] == [None]}
    listed = set(fallbacks) - dynamic
    assert listed and dynamic, "the 20 days hold models listed without a ranked endpoint, priced and dynamic"
    assert {m for m, rows in node("rank", data=data, profiles=[PROFILES[0].js()])[0].items() if not rows} >= dynamic
    answers = node("rank", data=data, profiles=[p.js() for p in PROFILES])
    for shares, answer in zip(PROFILES, answers, strict=True):
        usage = [{"model": m, "timestamp": site_at, **shares.engine().usage_row()} for m in sorted(listed)]
        priced = cat.cost(usage, at=site_at)
        assert priced["price_source"].to_list() == ["model"] * len(listed)
        engine = {m: canonical(c) for m, c in zip(sorted(listed), priced["cost_total"], strict=True)}
        assert {m: answer[m][0][1] for m in listed} == engine, shares.name
    # The server-rendered index shows the same for the default workload, marked as the list price.
    cells = dict(
        re.findall(
            r'data-id="([^"]+)"[^>]*>\s*<td.*?<td class="num cost" data-value="([^"]*)"', index.read_text(), re.S
        )
    )
    chat = next(p for p in PROFILES if p.name == "chat")
    usage = [{"model": m, "timestamp": site_at, **chat.engine().usage_row()} for m in sorted(listed)]
    engine = {m: canonical(c) for m, c in zip(sorted(listed), cat.cost(usage, at=site_at)["cost_total"], strict=True)}
    assert {m: cells[m] for m in listed} == engine


def differences(js: dict[str, list[list[str]]], engine: dict[str, list[list[str]]]) -> dict[str, Any]:
    return {
        m: {"js": js.get(m, []), "engine": engine.get(m, [])}
        for m in sorted(set(js) | set(engine))
        if js.get(m, []) != engine.get(m, [])
    }


def test_profiles_reach_the_roundings_and_tiers_they_claim(node: Node, site: Built) -> None:
    """Guard on the test data: the odd shares do land on .5, and the long prompts do cross listed tiers."""
    usage = node("usage", cases=[p.js() for p in PROFILES])
    for shares, counts in zip(PROFILES, usage, strict=True):
        row = shares.engine().usage_row()
        assert counts == {
            "prompt": str(row["prompt_tokens"]),
            "completion": str(row["completion_tokens"]),
            "cache_read": str(row["cache_read_tokens"]),
            "cache_write_5m": str(row["cache_write_tokens"]),
            "cache_write_1h": str(row["cache_write_1h_tokens"]),
            "reasoning": str(row["reasoning_tokens"]),
            "requests": "1",
            "images": "0",
            "web_searches": "0",
        }, shares.name
    by_name = {p.name: p.engine().usage_row() for p in PROFILES}
    assert (
        by_name["halves round down"]["cache_read_tokens"] == 16
        and by_name["halves round down"]["reasoning_tokens"] == 8
    )
    assert (
        by_name["halves round up"]["cache_read_tokens"] == 50 and by_name["halves round up"]["reasoning_tokens"] == 26
    )
    assert by_name["write halves"]["cache_write_tokens"] == 52
    assert by_name["read + write clamp"]["cache_write_tokens"] == 1
    minimums = {
        cond[0] for m in site.pages["index.html"].price_data()["models"] for e in m["endpoints"] for cond in e[3]
    }
    assert 200_000 in minimums and any(30_000 < m < 1_000_000 for m in minimums - {200_000})


def test_embedded_presets_are_the_engines_presets(site: Built) -> None:
    data = site.pages["index.html"].price_data()
    assert data["presets"] == {p.name: {k: v for k, v in p.js().items() if k != "cache_write"} for p in preset_shares()}
    assert all(p.cache_write == 0 for p in preset_shares())


def test_js_ranks_every_model_of_the_index_as_the_engine_does(
    node: Node, site: Built, cat: Catalog, site_at: datetime
) -> None:
    data = site.pages["index.html"].price_data()
    assert len(data["models"]) == site.report["models"]
    js_all = js_ranking(node, data, PROFILES)
    compared = 0
    for shares, js in zip(PROFILES, js_all, strict=True):
        engine = engine_ranking(cat, site_at, shares)
        assert differences(js, engine) == {}, shares.name
        compared += sum(len(rows) for rows in engine.values())
    assert compared > 5_000


def test_js_ranks_as_the_engine_on_model_pages(node: Node, site: Built, cat: Catalog, site_at: datetime) -> None:
    tiered = [
        r[0]
        for r in cat.con.execute(
            "SELECT DISTINCT model_id FROM endpoint_versions WHERE override_count > 0 "
            "AND valid_from <= ? AND (valid_to IS NULL OR valid_to > ?) ORDER BY model_id",
            [site_at, site_at],
        ).fetchall()
    ]
    assert len(tiered) >= 5
    index = {m["id"]: m for m in site.pages["index.html"].price_data()["models"]}
    many = max(index, key=lambda m: len(index[m]["endpoints"]))
    # A model@tag#2 key (a list-price entry has a key too, without "@").
    repeated = next(m for m, v in index.items() if any(e[4] is not None and "@" in e[4] for e in v["endpoints"]))
    for model in sorted({*tiered[:6], many, repeated, "openai/gpt-5.5"}):
        data = site.pages[model_page(model)].price_data()
        assert [m["id"] for m in data["models"]] == [model]
        assert data["models"][0] == index[model]  # the page carries the index's data for its model
        for shares, js in zip(PROFILES, js_ranking(node, data, PROFILES), strict=True):
            engine = engine_ranking(cat, site_at, shares, model)
            assert js == {model: engine.get(model, [])}, (model, shares.name)
            assert engine.get(model), (model, shares.name)


def test_js_breaks_ties_by_tag_as_the_engine_does(node: Node, hostile: Hostile) -> None:
    """The hostile model's three endpoints cost the same: the order is the tags', whatever order the page lists."""
    data = hostile.pages["index.html"].price_data()
    for model in data["models"]:
        model["endpoints"].reverse()
    with Catalog.open(hostile.db) as cat:
        at = cat.con.execute("SELECT max(taken_at) FROM snapshots").fetchall()[0][0]
        for shares, js in zip(PROFILES, js_ranking(node, data, PROFILES), strict=True):
            engine = engine_ranking(cat, at, shares)
            assert js == engine, shares.name
    costs = {cost for _, cost in engine[EVIL]}
    assert len(engine[EVIL]) == 3 and len(costs) == 1  # a three-way tie
    assert [key for key, _ in engine[EVIL]] == sorted(key for key, _ in engine[EVIL])


def test_page_tables_show_the_rankings_cost_js_gives(node: Node, site: Built) -> None:
    """The rendered (Python) tables and the browser's re-rank of the preset agree before any slider moves."""
    for model in ("openai/gpt-5.5", "deepseek/deepseek-v3.2"):
        page = site.pages[model_page(model)]
        (js,) = js_ranking(node, page.price_data(), preset_shares()[:1])
        keys = [str(values["data-key"]) for tag, values in page.elements if tag == "tr" and "data-key" in values]
        assert keys == [key for key, _ in js[model]]
        for key, cost in js[model]:
            assert f'<span title="${cost}">' in page.text.split(f'data-key="{key}"', 1)[1].split("</tr>", 1)[0]


def test_per_million_display_matches_the_pages(node: Node, site: Built) -> None:
    """The index's "$ / M tokens" cell (engine, rounded for display) equals what cost.js shows for the preset."""
    page = site.pages["index.html"]
    data = page.price_data()
    chat = preset_shares()[0]
    (answer,) = node("rank", data=data, profiles=[chat.js()])
    shown = {}
    for chunk in page.text.split('<tr data-model="')[1:]:
        model_id = chunk.split('data-id="', 1)[1].split('"', 1)[0]
        shown[model_id] = chunk.split('<td class="num per-m" data-value="', 1)[1].split('">', 1)[1].split("</td>", 1)[0]
    mismatched = {m: (rows[0][2], shown[m]) for m, rows in answer.items() if rows and rows[0][2] != shown[m]}
    assert mismatched == {}
    assert sum(1 for rows in answer.values() if rows) > 250


# --- cost.js helpers against Python ------------------------------------------------------------------------


def py_part(total: int, percent: int) -> int:
    """The engine's share of a count (WorkloadProfile.usage_row): half-even to whole tokens."""
    return int((total * (Decimal(percent) / 100)).quantize(Decimal(1), ROUND_HALF_EVEN))


def test_part_on_every_half_and_the_edges(node: Node) -> None:
    cases = [
        [total, percent]
        for total in (*range(0, 301), 10**6 + 1, 2**53 - 1)
        for percent in (0, 1, 12, 17, 33, 50, 99, 100)
    ]
    got = node("part", cases=[[str(t), p] for t, p in cases])
    assert got == [str(py_part(t, p)) for t, p in cases]
    assert node("part", cases=[["50", 33], ["150", 33], ["1", 50], ["3", 50]]) == ["16", "50", "0", "2"]


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 10**12), st.integers(0, 100)), min_size=1, max_size=300))
def test_part_is_the_engines_half_even_share(node: Node, cases: list[tuple[int, int]]) -> None:
    got = node("part", cases=[[str(t), p] for t, p in cases])
    assert got == [str(py_part(t, p)) for t, p in cases]


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(-(10**40), 10**40) | st.integers(-1000, 1000), st.integers(0, 30)), max_size=300))
def test_decimal_is_the_engines_canonical_spelling(node: Node, cases: list[tuple[int, int]]) -> None:
    got = node("decimal", cases=[[str(u), s] for u, s in cases])
    assert got == [canonical(from_units(u, s)) for u, s in cases]


AMOUNTS = st.integers(0, 30).flatmap(
    lambda scale: st.tuples(st.integers(0, 10 ** (scale + 12)) | st.integers(0, 100_000), st.just(scale))
)


@settings(max_examples=40, deadline=None)
@given(st.lists(AMOUNTS, max_size=300))
def test_usd_rounds_for_display_as_the_pages_do(node: Node, cases: list[tuple[int, int]]) -> None:
    got = node("usd", cases=[[str(u), s] for u, s in cases])
    assert got == [site_build.usd(from_units(u, s)) for u, s in cases]


def test_units_reads_the_embedded_rate_texts_exactly(node: Node, site: Built) -> None:
    data = site.pages["index.html"].price_data()
    texts = sorted({rate for m in data["models"] for e in m["endpoints"] for v in e[2] if v for rate in v})
    assert len(texts) > 50
    got = node("units", cases=[[t, data["scale"]] for t in texts])
    assert got == [str(int(Decimal(t).scaleb(data["scale"]))) for t in texts]


def test_js_applies_time_window_tiers_as_the_engine_does(node: Node) -> None:
    """No recorded override has a UTC window, so synthetic sheets cover them: a plain window, one that wraps past
    midnight, one combined with a prompt minimum, and an entry with only a start (which has no window)."""
    since = datetime(2026, 7, 1, tzinfo=UTC)
    sheets = {
        "day": {"prompt": "0.000001", "completion": "0.000002",
                "overrides": [{"utc_start": 900, "utc_end": 1700, "prompt": "0.0000005"}]},
        "night": {"prompt": "0.0000009", "completion": "0.000003", "input_cache_read": "0.0000001",
                  "overrides": [{"utc_start": 2200, "utc_end": 600, "prompt": "0.0000003", "completion": "0.000001"}]},
        "tiered": {"prompt": "0.0000008", "completion": "0.0000025",
                   "overrides": [{"min_prompt_tokens": 1000, "prompt": "0.0000016"},
                                 {"min_prompt_tokens": 1000, "utc_start": 0, "utc_end": 1200,
                                  "completion": "0.000004"}]},
        "half": {"prompt": "0.0000007", "completion": "0.0000021",
                 "overrides": [{"utc_start": 1000, "prompt": "0.0000001"}]},
    }  # fmt: skip
    versions = [
        SheetVersion("endpoint", "acme/m", tag, tag, tag, since, None, parse_price_sheet(s), key=f"acme/m@{tag}")
        for tag, s in sheets.items()
    ]
    table = PriceTable.from_sheets(versions)
    rows = [{"endpoint_key": v.key, "model_id": "acme/m", "tag": v.tag, "provider_name": v.tag} for v in versions]
    profiles = [Shares("small", 800, 300, cache_hit=25), Shares("large", 4_000, 500, cache_hit=40, reasoning=20)]
    entries = [endpoint_entry(r, v, table.scale) for r, v in zip(rows, versions, strict=True)]
    for hhmm in (0, 559, 600, 859, 900, 1159, 1200, 1659, 1700, 2159, 2200, 2359):
        at = since + timedelta(days=3, hours=hhmm // 100, minutes=hhmm % 100)
        data = {
            "scale": table.scale,
            "at_minute": at.hour * 60 + at.minute,
            "rates": list(RATE_ORDER),
            "models": [{"id": "acme/m", "endpoints": entries}],
        }  # fmt: skip
        js = js_ranking(node, data, profiles)
        for shares, answer in zip(profiles, js, strict=True):
            one = shares.engine().usage_row()
            usage = pl.DataFrame([{"model": "acme/m", "endpoint": v.key, "timestamp": at, **one} for v in versions])
            priced = cost_usage(usage, table, at=at)
            engine = sorted(
                ([v.key, canonical(c)] for v, c in zip(versions, priced["cost_total"], strict=True)),
                key=lambda kc: (Decimal(kc[1]), kc[0]),
            )
            assert answer["acme/m"] == engine, (hhmm, shares.name)
    # The windows matter: the cheapest endpoint is not the same at every hour.
    winners = {
        hhmm: js_ranking(node, {**data, "at_minute": hhmm}, profiles[:1])[0]["acme/m"][0][0] for hhmm in (120, 720)
    }
    assert len(set(winners.values())) == 2, winners


def test_index_filters_rank_the_endpoints_that_pass_as_the_engine_does(
    node: Node, site: Built, cat: Catalog, site_at: datetime
) -> None:
    """With a provider, parameter or minimum-context filter the index prices each model at its cheapest endpoint
    that passes: cost.js's filtered ranking equals the engine's with the same EndpointFilters, model by model."""
    data = site.pages["index.html"].price_data()
    busiest = max(
        {e[5] for m in data["models"] for e in m["endpoints"] if e[5]},
        key=lambda slug: sum(any(e[5] == slug for e in m["endpoints"]) for m in data["models"]),
    )
    cases = [
        ({"provider": busiest}, {"providers": (busiest,)}),
        ({"parameter": "tools"}, {"parameters": ("tools",)}),
        ({"min_context": 200_000}, {"min_context": 200_000}),
        ({"provider": busiest, "parameter": "reasoning", "min_context": 128_000},
         {"providers": (busiest,), "parameters": ("reasoning",), "min_context": 128_000}),
    ]  # fmt: skip
    chat, rag = preset_shares()[0], preset_shares()[1]
    for js_filters, engine_filters in cases:
        for shares in (chat, rag):
            (js,) = js_ranking(node, data, [shares], js_filters)
            engine: dict[str, list[list[str]]] = defaultdict(list)
            for row in cat.cheapest(None, shares.engine(), as_of=site_at, **engine_filters).to_dict()["ranked"]:
                engine[row["model_id"]].append([row["endpoint_key"], row["cost_per_request"]])
            assert engine, js_filters
            assert differences(js, engine) == {}, (js_filters, shares.name)


def test_base_url_makes_the_feed_resolve_its_links_absolutely(hostile: Hostile, tmp_path: Path) -> None:
    out = tmp_path / "site"
    done = run_cli(
        "site", "build", "--db", str(hostile.db), "--out", str(out), "--base-url", "https://prices.example.org/llm"
    )
    assert done.returncode == 0, done.stderr
    feed = ET.parse(out / "feed.atom").getroot()
    assert feed.get("{http://www.w3.org/XML/1998/namespace}base") == "https://prices.example.org/llm/"
    refused = run_cli("site", "build", "--db", str(hostile.db), "--out", str(out), "--base-url", "javascript:alert(1)")
    assert refused.returncode == 2 and "--base-url" in refused.stderr and "Traceback" not in refused.stderr
    assert (out / "index.html").is_file()  # the earlier build is untouched
