"""The static site (``catalog site build``): structure, links, offline, feed, downloads, as-of builds, the CLI.

Two sites built from the 20 recorded days serve most of the module: as of the newest snapshot (in-process,
shared by every xdist worker and module of the run, like the replayed history itself; the ``site`` fixture in
conftest.py) and ``--as-of 2026-07-25`` through the CLI. The CLI tests also use the small hostile history
(``hostile``). Pages are read with the standard library's ``html.parser`` (``site_helpers.Page``).

Hostile upstream text is in test_site_security.py; cost.js against the engine in test_site_js.py.
"""

from __future__ import annotations

import json
import shutil
import time
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import duckdb
import polars as pl
import pytest
from helpers import built_once, run_cli
from site_helpers import (
    ATOM,
    EVIL,
    GOOD,
    Built,
    Hostile,
    Page,
    broken_links,
    model_page,
    provider_page,
    read_pages,
    resolve,
    sync_from_fake,
    tree,
    v1_listing,
    v1_model,
)

from catalog.fake import FakeOpenRouter, MemorySource, memory_day, serve_in_thread
from catalog.library import Catalog
from catalog.openrouter.skus import KINDS
from catalog.pipeline import sync_once
from catalog.prices import canonical
from catalog.settings import FetchSettings
from catalog.store import queries
from catalog.store.db import connect
from catalog.store.exports import HISTORY_TABLES
from catalog.website.build import build_site, history_instant, page_name
from catalog.website.facts import EPOCH

AS_OF_DAY = "2026-07-25"
# A date as --as-of is the end of that UTC day; the site shows the last snapshot taken by then, and says when.
AS_OF_END = datetime(2026, 7, 25, 23, 59, 59, 999999, tzinfo=UTC)
AS_OF_SHOWN = datetime(2026, 7, 25, 16, 5, 12, tzinfo=UTC)  # the bundle's 2026-07-25 snapshot
DOWNLOAD_STEMS = ("prices-now", *HISTORY_TABLES, "price_overrides", "endpoint_skus", "endpoint_telemetry")


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


def site_models(cat: Catalog, at: datetime) -> list[str]:
    """The models the site ranks for token workloads at ``at``: those with a text output."""
    frame = queries.models_as_of(cat.con, at)
    return [r["model_id"] for r in frame.to_dicts() if "text" in (r["output_modalities"] or ["text"])]


def unit_models(cat: Catalog, at: datetime) -> list[str]:
    """The models the site ranks in their own units at ``at`` (issue 19): every other one."""
    frame = queries.models_as_of(cat.con, at)
    return [r["model_id"] for r in frame.to_dicts() if "text" not in (r["output_modalities"] or ["text"])]


def test_every_model_listed_at_the_instant_has_a_page_and_nothing_else_does(
    site: Built, cat: Catalog, site_at: datetime
) -> None:
    models, units = site_models(cat, site_at), unit_models(cat, site_at)
    assert len(models) > 300 and len(units) > 100
    pages = {p for p in site.pages if p.startswith("models/")}
    assert pages == {model_page(m) for m in models + units}
    assert site.report["models"] == len(models)  # the report counts the models ranked per token
    for mid in models[::40] + units[::20]:
        assert f"<code>{mid}</code>" in site.pages[model_page(mid)].text
    for mid in units:  # a page in the model's units (its ranking data), never the token page
        assert "unit-data" in site.pages[model_page(mid)].ids and "price-data" not in site.pages[model_page(mid)].ids


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
    models, units = site_models(cat, site_at), unit_models(cat, site_at)
    rows = site.pages["index.html"].model_rows
    ids = [r["data-id"] for r in rows if "data-unit" not in r]
    assert len(ids) == len(models)
    assert set(ids) == set(models)
    # Every other model once, after them, without a token cost (issue 19).
    assert [r["data-id"] for r in rows[len(ids) :]] == sorted(units, key=lambda m: (kind_of(cat, site_at)[m], m))
    # data-model indexes the embedded price data: row i is model i there.
    data = site.pages["index.html"].price_data()
    assert [data["models"][int(str(r["data-model"]))]["id"] for r in rows[: len(ids)]] == ids


def test_models_billed_in_their_units_are_never_shown_at_a_price_of_zero(
    site: Built, cat: Catalog, site_at: datetime
) -> None:
    """Issue 19: most models billed in their own units list v1 prompt and completion prices of 0. Those must not
    reach a reader as "$0": not in the change tables (an endpoint added or removed carries its prompt price),
    not on a provider's page; their price is per unit, on their own page."""
    units = set(unit_models(cat, site_at))
    rows = [
        (str(c["model_id"]), str(c["tag"]))
        for c in queries.changes(cat.con, EPOCH, site_at).to_dicts()
        if c["model_id"] in units
        and c["kind"] in ("added", "removed")
        and c["new" if c["kind"] == "added" else "old"] == 0
    ]
    assert rows, "no endpoint of a unit model was added or removed at a price of 0: the check would prove nothing"
    shown = 0
    for name, page in site.pages.items():
        if not (name.startswith("changes") or name.startswith("providers/")):
            continue
        for row in (chunk.split("</tr>")[0] for chunk in page.text.split("<tr>")[1:]):
            if any(f"models/{page_name(m)}.html" in row for m, _tag in rows) or (
                name.startswith("changes") and any(f">{m}<" in row for m, _tag in rows)
            ):
                shown += 1
                assert ">$0<" not in row and "$0/M" not in row, (name, row[:300])
    assert shown >= len(rows)  # each such change row, and the provider rows of those models, were looked at


def kind_of(cat: Catalog, at: datetime) -> dict[str, int]:
    """Each model's kind as its position in ``KINDS`` (the index lists the unit models by kind, then id)."""
    return {r["model_id"]: KINDS.index(r["kind"]) for r in queries.models_as_of(cat.con, at).to_dicts()}


def test_no_broken_internal_link_in_any_page_or_the_feed(site: Built) -> None:
    feeds = len(list(site.out.rglob("*.atom")))  # the site's, one per model and one per provider
    assert feeds == 1 + site.report["models"] + site.report["providers"]
    assert len(site.pages) == site.report["pages"] - feeds  # every rendered page is .html except the feeds
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
    # Beside each text file its gzip, written once by the build for the service to send (binary ones: none).
    packed = {f"{name}.gz" for name in expected if not name.endswith(".parquet")}
    assert expected | packed | {"catalog.duckdb"} == {p.name for p in downloads.iterdir()}
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
    # As of the last snapshot before the as-of day began (written once a day): every version known then.
    known = history_instant(cat.con, site.at)
    assert known < site.at
    stored = {
        row[0]: dict(zip(columns, row[1:], strict=True))
        for row in cat.con.execute(
            f"SELECT version_id, {', '.join(columns)} FROM endpoint_versions WHERE valid_from <= $at", {"at": known}
        ).fetchall()
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
    known = {"at": history_instant(cat.con, site.at)}  # the history as of the day's start (written once a day)
    source = cat.con.execute("SELECT count(*) FROM endpoint_versions WHERE valid_from <= $at", known).fetchall()[0][0]
    con = duckdb.connect(str(site.out / "downloads" / "catalog.duckdb"), read_only=True)
    try:
        assert con.execute("SELECT count(*) FROM endpoint_versions").fetchall()[0][0] == source
        assert (
            con.execute("SELECT count(*) FROM snapshots").fetchall()
            == cat.con.execute("SELECT count(*) FROM snapshots WHERE taken_at <= $at", known).fetchall()
        )
    finally:
        con.close()
    assert source > 1000


def test_footer_says_the_as_of_instant(site: Built) -> None:
    stamp = site.at.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert site.report["as_of"] == stamp
    for name in ("index.html", "downloads.html"):
        assert site.pages[name].time_datetimes == [stamp], name
        assert "the history goes on to" not in site.pages[name].text
    # A model's page is the same from build to build until its inputs change: the build's instant is in
    # build.js, which its footer's marked span is filled from (static/stamp.js), and the span links the index.
    page = site.pages[model_page("openai/gpt-5.5")]
    assert page.time_datetimes == [] and 'data-stamp="asof"' in page.text and "index.html" in page.text
    build_js = (site.out / "build.js").read_text()
    assert f'"at": {int(site.at.timestamp())}' in build_js and f"Prices as of {site.at:%Y-%m-%d %H:%M} UTC." in build_js


def test_as_of_build_shows_the_last_snapshot_of_that_day(site_as_of: Built, cat: Catalog) -> None:
    taken = cat.con.execute(
        "SELECT max(taken_at) FROM snapshots WHERE status <> 'failed' AND taken_at <= ?", [AS_OF_END]
    ).fetchall()[0][0]
    assert taken.astimezone(UTC).replace(microsecond=0) == AS_OF_SHOWN == site_as_of.at
    assert site_as_of.report["as_of"] == "2026-07-25T16:05:12Z"


def test_as_of_build_lists_the_models_of_that_day(site_as_of: Built, cat: Catalog) -> None:
    models = set(site_models(cat, AS_OF_SHOWN))
    assert models == set(site_models(cat, AS_OF_END))  # no snapshot between
    newest = set(site_models(cat, datetime(2026, 8, 6, tzinfo=UTC)))
    assert models != newest  # the day differs from the newest one, so the checks below mean something
    units = set(unit_models(cat, AS_OF_SHOWN))
    index = site_as_of.pages["index.html"]
    assert {r["data-id"] for r in index.model_rows} == models | units
    assert len([r for r in index.model_rows if "data-unit" not in r]) == len(models) == site_as_of.report["models"]
    pages = {p for p in site_as_of.pages if p.startswith("models/")}
    assert pages == {model_page(m) for m in models | units}
    assert index.price_data()["at_minute"] == 16 * 60 + 5


def test_as_of_build_says_that_instant(site_as_of: Built) -> None:
    for name in ("index.html", "changes.html", "methodology.html"):
        page = site_as_of.pages[name]
        assert page.time_datetimes == ["2026-07-25T16:05:12Z"], name
        assert '">2026-07-25 16:05 UTC</time> (the history goes on to 2026-08-05 16:43 UTC)' in page.text, name
    # A model page says it through build.js (static/stamp.js writes it into the footer).
    assert (
        "Prices as of 2026-07-25 16:05 UTC (the history goes on to 2026-08-05 16:43 UTC)."
        in (site_as_of.out / "build.js").read_text()
    )
    feed = ET.parse(site_as_of.out / "feed.atom").getroot()
    updated = [str(e.findtext(f"{ATOM}updated")) for e in feed.iter(f"{ATOM}entry")]
    assert updated and max(updated) <= "2026-07-25T16:05:12Z"
    assert broken_links(site_as_of.out, site_as_of.pages) == []


def test_as_of_downloads_hold_the_history_known_then(site_as_of: Built) -> None:
    folder = site_as_of.out / "downloads"
    snapshots = pl.read_parquet(folder / "snapshots.parquet")
    # As of the last snapshot before 2026-07-25 began (the history downloads are written once a day).
    assert snapshots.height == 8  # 2026-07-17 … 2026-07-24
    known = max(snapshots["taken_at"].to_list())
    assert known < datetime(2026, 7, 25, tzinfo=UTC)
    assert f"as of {known:%Y-%m-%d %H:%M} UTC (the last snapshot before the day began" in " ".join(
        site_as_of.pages["downloads.html"].text.split()
    )
    versions = pl.read_parquet(folder / "endpoint_versions.parquet")
    assert versions.height > 900
    assert all(v <= known for v in versions["valid_from"].to_list())
    assert all(v is None or v <= known for v in versions["valid_to"].to_list())


def test_as_of_before_the_history_is_refused_naming_its_start(site: Built, tmp_path: Path) -> None:
    done = run_cli("site", "build", "--db", str(site.db), "--out", str(tmp_path / "site"), "--as-of", "2026-07-16")
    assert done.returncode == 2
    assert "2026-07-17T18:02:29Z" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "site").exists()


# --- 2. the CLI: --json, rebuilding, refusing, empty history, --base-url ---------------------------------


def test_json_report_counts_pages_models_providers_bytes(hostile: Hostile) -> None:
    report = json.loads(hostile.stdout)
    assert report["models"] == 2
    assert report["providers"] == 3  # evilcorp, fine, and the slug an endpoint tag gave
    htmls = len(hostile.pages)
    assert report["pages"] == htmls + 1 + 2 + 3  # and the feeds: the site's, per model, per provider
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
    # No work or old folder is left beside it (the lock file that orders builds of one folder stays, and the
    # cache of page bodies the next build takes unchanged pages from).
    assert sorted(p.name for p in tmp_path.iterdir()) == [".site.lock", ".site.pages", "site"]


def test_a_build_that_leaves_the_old_sites_removal_running_serves_the_new_site_and_the_old_goes(
    hostile: Hostile, tmp_path: Path
) -> None:
    """The service's job returns once the new site is swapped in (``background_removal``); builds one after
    another each rename the old site to a name of their own, and every old one is removed."""
    out = tmp_path / "site"
    with Catalog.open(hostile.db) as cat:
        build_site(cat, out, background_removal=True)
        (out / "stale.html").write_text("old")
        for _ in range(3):
            build_site(cat, out, background_removal=True)
            assert (out / "index.html").read_text() != "" and not (out / "stale.html").exists()
    deadline = time.monotonic() + 30
    while sorted(p.name for p in tmp_path.iterdir()) != [".site.lock", ".site.pages", "site"]:
        assert time.monotonic() < deadline, sorted(p.name for p in tmp_path.iterdir())
        time.sleep(0.05)


def test_a_killed_builds_leftovers_go_and_a_path_that_cannot_be_written_is_named(
    hostile: Hostile, tmp_path: Path
) -> None:
    out = tmp_path / "site"
    for leftover in (".site.building-999999", ".site.old-999999"):
        (tmp_path / leftover / "models").mkdir(parents=True)
    with Catalog.open(hostile.db) as cat:
        build_site(cat, out)
    assert sorted(p.name for p in tmp_path.iterdir()) == [".site.lock", ".site.pages", "site"]
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


@pytest.mark.slow  # seconds, not milliseconds: left out of make test-fast
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


def test_the_downloaded_database_is_safe_to_write_to_and_rederive_refuses_it(site: Built, tmp_path: Path) -> None:
    """Its sequences sit past the ids in use, its snapshots say their payloads are not included, and rederive
    (which rebuilds versions from payloads) stops rather than empty the history."""
    copy = tmp_path / "downloaded.duckdb"
    shutil.copyfile(site.out / "downloads" / "catalog.duckdb", copy)
    con = duckdb.connect(str(copy), read_only=True)
    next_id = con.execute(
        "SELECT start_value FROM duckdb_sequences() WHERE sequence_name = 'version_id_seq'"
    ).fetchall()
    used = con.execute(
        "SELECT max(v) FROM (SELECT max(version_id) v FROM model_versions UNION ALL "
        "SELECT max(version_id) FROM endpoint_versions UNION ALL SELECT max(version_id) FROM provider_versions)"
    ).fetchall()
    unpruned = con.execute("SELECT count(*) FROM snapshots WHERE raw_pruned_at IS NULL").fetchall()[0][0]
    log_rows = con.execute("SELECT count(*) FROM job_runs").fetchall()[0][0]
    versions = con.execute("SELECT count(*) FROM endpoint_versions").fetchall()[0][0]
    con.close()
    assert next_id[0][0] > used[0][0] and unpruned == 0 and log_rows == 0 and versions > 0
    refused = run_cli("rederive", "--db", str(copy))
    assert refused.returncode == 2 and "no archived payloads" in refused.stderr and "Traceback" not in refused.stderr
    con = duckdb.connect(str(copy), read_only=True)
    assert con.execute("SELECT count(*) FROM endpoint_versions").fetchall()[0][0] == versions
    con.close()


def test_a_provider_is_compared_with_the_one_other_provider_of_a_model(tmp_path: Path) -> None:
    duo = v1_model("acme/duo", "Duo", "0.000001", "0.000002")
    listing = v1_listing(duo, ("Alpha", "alpha", "fp8"), ("Beta", "beta", "fp8"))
    listing["endpoints"][0]["pricing"] = {"prompt": "0.0000008", "completion": "0.000002"}  # 20 % under Beta's
    providers = [{"name": "Alpha", "slug": "alpha"}, {"name": "Beta", "slug": "beta"}]
    db = tmp_path / "duo.duckdb"
    sync_from_fake(memory_day("2026-07-17", [duo], {"acme/duo": listing}, providers), db)
    with Catalog.open(db) as cat:
        build_site(cat, tmp_path / "site")
    alpha = (tmp_path / "site" / "providers" / "alpha.html").read_text()
    beta = (tmp_path / "site" / "providers" / "beta.html").read_text()
    assert "below the model's median on 1 of 1 shared models" in alpha and "−20.0 %" in alpha
    assert "above on 1" in beta and "+25.0 %" in beta  # 0.000001 against Alpha's 0.0000008
