"""Incremental site builds: a build takes from the last one every page whose inputs did not change, and gives
byte for byte what a build from nothing gives; each build precompresses its files and lists them in a manifest.

The 20 recorded days: a build as of the second newest snapshot, then one as of the newest into the same
folder, against a build of the newest into a new folder (its own page cache, so from nothing), both with the
same build time.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import pickle
import shutil
from dataclasses import fields, replace
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest
from helpers import built_once
from site_helpers import Hostile

from catalog.cost.profile import DEFERRED_FIELDS, CostUnits, RankedEndpoint, ranked_row
from catalog.library import Catalog
from catalog.store.exports import HISTORY_TABLES, known_mark
from catalog.website import facts as site_facts
from catalog.website.build import TELEMETRY_FIELDS, BuildReport, PageCache, build_site, telemetry_texts
from catalog.website.output import MANIFEST, compressible, read_manifest

BUILT_AT = datetime(2026, 8, 6, 9, 30, tzinfo=UTC)  # after the newest snapshot: the data is 17 h old
NOT_BYTE_STABLE = "downloads/catalog.duckdb"  # DuckDB lays out a new file its own way; compared by content


def files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def two_newest(cat: Catalog) -> tuple[datetime, datetime]:
    rows = newest_snapshots(cat, 2)
    return rows[1], rows[0]


def newest_snapshots(cat: Catalog, n: int) -> list[datetime]:
    rows = cat.con.execute(
        "SELECT taken_at FROM snapshots WHERE status <> 'failed' ORDER BY taken_at DESC LIMIT ?", [n]
    ).fetchall()
    return [row[0].astimezone(UTC) for row in rows]


def build(cat: Catalog, out: Path, at: datetime, **options: object) -> BuildReport:
    return build_site(cat, out, at=at, built_at=BUILT_AT, **options)  # type: ignore[arg-type]


def table_hashes(db: Path) -> dict[str, list[tuple[object, ...]]]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return {t: sorted(con.execute(f"SELECT * FROM {t}").fetchall(), key=repr) for t in HISTORY_TABLES}
    finally:
        con.close()


@pytest.fixture(scope="module")
def builds(replayed_template: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """Builds of the 20 days over several sweeps (minutes), made once per run for every xdist worker; the tests
    only read them."""

    def make(folder: Path) -> None:
        db = folder / "history.duckdb"
        shutil.copyfile(replayed_template, db)
        with Catalog.open(db) as cat:
            newest, before, earlier, oldest = newest_snapshots(cat, 4)
            # Several sweeps: each build starts from the one before (its folder, page cache and carried facts).
            for at in (oldest, earlier):
                build(cat, folder / "incremental", at)
            first = build(cat, folder / "incremental", before)
            after = files(folder / "incremental")
            inodes = inode_numbers(folder / "incremental")
            second = build(cat, folder / "incremental", newest)
            after_second = inode_numbers(folder / "incremental")
            again = build(cat, folder / "incremental", newest)  # nothing new since
            full = build(cat, folder / "full", newest)
            expected = site_facts.gather(cat, newest)
        found = {
            "first": first,
            "second": second,
            "again": again,
            "full": full,
            "after_first": after,
            "inodes": inodes,
            "after_second": after_second,
            "facts": expected,
        }
        (folder / "builds.pickle").write_bytes(pickle.dumps(found))

    folder = built_once(tmp_path_factory, "test_site_incremental-builds", make)
    found: dict[str, object] = pickle.loads((folder / "builds.pickle").read_bytes())
    return {"folder": folder, **found}


def inode_numbers(root: Path) -> dict[str, int]:
    return {p.relative_to(root).as_posix(): p.stat().st_ino for p in root.rglob("*") if p.is_file()}


def test_an_incremental_build_gives_the_bytes_of_a_build_from_nothing(builds: dict[str, object]) -> None:
    folder = builds["folder"]
    assert isinstance(folder, Path)
    incremental, full = files(folder / "incremental"), files(folder / "full")
    assert sorted(incremental) == sorted(full)
    differ = [name for name in full if incremental[name] != full[name]]
    # The DuckDB download is the one file whose bytes DuckDB decides; its tables must hold the same rows, and
    # the manifest differs only in its hash and size.
    assert set(differ) <= {NOT_BYTE_STABLE, MANIFEST}, differ
    assert table_hashes(folder / "incremental" / NOT_BYTE_STABLE) == table_hashes(folder / "full" / NOT_BYTE_STABLE)
    mine, theirs = json.loads(incremental[MANIFEST]), json.loads(full[MANIFEST])
    for manifest in (mine, theirs):
        manifest["files"].pop(NOT_BYTE_STABLE)
    assert mine == theirs


def test_a_build_with_nothing_new_renders_nothing_and_links_the_history_downloads(builds: dict[str, object]) -> None:
    again, folder, inodes = builds["again"], builds["folder"], builds["after_second"]
    assert isinstance(again, BuildReport) and isinstance(folder, Path) and isinstance(inodes, dict)
    assert again.rendered == 0 and again.reused == again.linked > 400
    # The history downloads are as of the day's first instant: the same files, linked, not exported again.
    history = [name for name in inodes if name.startswith("downloads/") and "prices-now" not in name]
    assert len(history) > 20 and "downloads/catalog.duckdb" in history
    for name in history:
        assert (folder / "incremental" / name).stat().st_ino == inodes[name], name
    noted = read_manifest(folder / "incremental")
    assert noted is not None and noted["extra"]["history"]["at"] < again.at.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_an_incremental_builds_report_counts_every_file_of_its_folder(builds: dict[str, object]) -> None:
    """The report's bytes and largest model page, made from the files the build described (most of them linked
    from the last build), are those of a walk of the folder it left."""
    again, folder = builds["again"], builds["folder"]
    assert isinstance(again, BuildReport) and isinstance(folder, Path)
    sizes = {
        p.relative_to(folder / "incremental").as_posix(): p.stat().st_size
        for p in (folder / "incremental").rglob("*")
        if p.is_file()
    }
    assert again.bytes == sum(sizes.values())
    pages = {k: v for k, v in sizes.items() if k.startswith("models/") and k.endswith(".html")}
    assert again.largest_model_page == max(pages.items(), key=lambda kv: kv[1])


def test_the_second_build_renders_only_the_pages_whose_inputs_changed(builds: dict[str, object]) -> None:
    first, second, full = builds["first"], builds["second"], builds["full"]
    assert isinstance(first, BuildReport) and isinstance(second, BuildReport) and isinstance(full, BuildReport)
    assert full.reused == 0 and full.rendered > 400  # its own cache: from nothing
    # A day between the two snapshots: some models changed, most did not (telemetry alone is not a change).
    assert 0 < second.rendered < full.rendered / 2
    assert second.rendered + second.reused == full.rendered
    before = json.loads(builds["after_first"][MANIFEST])["pages"]  # type: ignore[index]
    now = read_manifest(builds["folder"] / "incremental")  # type: ignore[operator]
    assert now is not None
    changed = {page for page, key in now["pages"].items() if before.get(page) != key}
    assert len(changed) == second.rendered


def test_an_unchanged_page_is_the_last_builds_file_and_says_nothing_of_this_build(
    builds: dict[str, object],
) -> None:
    folder = builds["folder"]
    assert isinstance(folder, Path)
    incremental, after_first, inodes = files(folder / "incremental"), builds["after_first"], builds["inodes"]
    assert isinstance(after_first, dict) and isinstance(inodes, dict)
    now = read_manifest(folder / "incremental")
    before = json.loads(after_first[MANIFEST])["pages"]
    assert now is not None
    reused = [page for page, key in now["pages"].items() if before.get(page) == key]
    second = builds["second"]
    assert isinstance(second, BuildReport)
    assert reused and second.linked == len(reused)  # every unchanged page was in the last build's folder
    assert any(page.startswith("models/") for page in reused)
    first = builds["first"]
    assert isinstance(first, BuildReport)
    stamp, earlier = second.at.strftime("%Y-%m-%dT%H:%M:%SZ"), first.at.strftime("%Y-%m-%dT%H:%M:%SZ")
    for page in reused:
        # The same file (a link: neither rendered, written nor compressed again), with its .gz.
        assert incremental[page] == after_first[page], page
        assert (folder / "incremental" / page).stat().st_ino == inodes[page], page
        if f"{page}.gz" in inodes:
            assert (folder / "incremental" / f"{page}.gz").stat().st_ino == inodes[f"{page}.gz"], page
        text = incremental[page].decode()
        assert "Built 2026" not in text and "catalog-stamp" not in text, page
        if page.endswith(".html"):  # (a change's own instant may equal a snapshot's: only the footer's is checked)
            assert f'<time datetime="{stamp}">' not in text and f'<time datetime="{earlier}">' not in text, page
            assert 'src="' + "../" * page.count("/") + 'build.js"' in text, page
            # 17 h after the newest snapshot, past the default 2 h: the banner is on every page, reused or not.
            assert 'id="stale-banner"' in text, page


def test_build_js_says_this_builds_instant_and_telemetry_js_the_newest_telemetry(builds: dict[str, object]) -> None:
    folder, second, facts = builds["folder"], builds["second"], builds["facts"]
    assert isinstance(folder, Path) and isinstance(second, BuildReport)
    assert isinstance(facts, site_facts.SiteFacts)

    def assigned(name: str, variable: str) -> dict[str, Any]:
        text = (folder / "incremental" / name).read_text(encoding="ascii")
        assert text.startswith(f"self.{variable} = ") and text.endswith(";\n")
        found: dict[str, Any] = json.loads(text[len(f"self.{variable} = ") : -2])
        return found

    stamp = assigned("build.js", "catalogBuild")
    assert stamp["at"] == int(second.at.timestamp())
    assert stamp["text"]["asof"].startswith(f"Prices as of {second.at:%Y-%m-%d %H:%M} UTC")
    assert "Built 2026-08-06 09:30 UTC" in stamp["text"]["asof"] and "16 h old" in stamp["text"]["asof"]
    assert stamp["text"]["on-day"] == f"on {second.at:%Y-%m-%d}"
    telemetry = assigned("telemetry.js", "catalogTelemetry")
    assert set(telemetry) == {m["model_id"] for m in facts.models}
    seen = 0
    for model in facts.models:  # in the order of the model page's endpoint rows
        assert telemetry[model["model_id"]] == [telemetry_texts(row) for row in model["endpoints_now"]]
        seen += sum(row["latency_p50"] is not None for row in model["endpoints_now"])
    assert seen > 100  # the recorded days carry telemetry


def test_a_template_change_renders_every_page_again(hostile: Hostile, tmp_path: Path) -> None:
    # Any history shows it, so the small one (a few dozen pages, built in seconds) rather than the 20 days
    # (three builds of 400+ pages each).
    db = tmp_path / "history.duckdb"
    shutil.copyfile(hostile.db, db)
    templates = tmp_path / "site"
    shutil.copytree(Path(__file__).parent.parent / "site", templates)
    with Catalog.open(db) as cat:
        newest = cat.con.execute("SELECT max(taken_at) FROM snapshots WHERE status <> 'failed'").fetchall()[0][0]
        newest = newest.astimezone(UTC)
        first = build(cat, tmp_path / "out", newest, site_templates=templates)
        same = build(cat, tmp_path / "out", newest, site_templates=templates)
        provider = templates / "templates" / "provider.html"
        provider.write_text(provider.read_text().replace("<h2>Data policy</h2>", "<h2>Data policy (edited)</h2>"))
        edited = build(cat, tmp_path / "out", newest, site_templates=templates)
    assert first.rendered > 0 and same.rendered == 0 and same.reused == first.rendered
    assert edited.reused == 0 and edited.rendered == first.rendered
    assert "Data policy (edited)" in next((tmp_path / "out" / "providers").glob("*.html")).read_text()


def test_a_page_of_the_last_build_touched_or_gone_since_is_made_again(hostile: Hostile, tmp_path: Path) -> None:
    """A page whose file is not the one the last build wrote (edited, or removed) is not linked from it but made
    (from the page cache's body), the rest linked: the same bytes."""
    db = tmp_path / "history.duckdb"
    shutil.copyfile(hostile.db, db)
    with Catalog.open(db) as cat:
        newest = newest_snapshots(cat, 1)[0]
        first = build(cat, tmp_path / "out", newest)
        expected = files(tmp_path / "out")
        pages = sorted((tmp_path / "out" / "models").rglob("*.html"))
        assert len(pages) >= 2
        pages[0].write_text(pages[0].read_text() + "<!-- touched -->")  # another size than the manifest's
        pages[1].unlink()
        again = build(cat, tmp_path / "out", newest)
    assert first.linked == 0 and first.rendered > 2
    # every page of one entity linked but the two, made from the page cache's bodies
    assert again.rendered == 0 and again.linked == first.rendered - 2 and again.reused == first.rendered
    found = files(tmp_path / "out")
    assert {k: v for k, v in found.items() if k != MANIFEST} == {k: v for k, v in expected.items() if k != MANIFEST}
    mine, theirs = json.loads(found[MANIFEST]), json.loads(expected[MANIFEST])
    assert (mine["files"], mine["pages"]) == (theirs["files"], theirs["pages"])


def test_each_compressible_file_has_its_gzip_and_the_manifest_its_hash(builds: dict[str, object]) -> None:
    folder = builds["folder"]
    assert isinstance(folder, Path)
    site = folder / "full"
    manifest = read_manifest(site)
    assert manifest is not None
    listed = manifest["files"]
    on_disk = {p.relative_to(site).as_posix() for p in site.rglob("*") if p.is_file() and not p.name.startswith(".")}
    assert set(listed) == {name for name in on_disk if not name.endswith(".gz")}
    packed = 0
    for name, facts in listed.items():
        data = (site / name).read_bytes()
        assert facts["sha256"] == hashlib.sha256(data).hexdigest() and facts["size"] == len(data), name
        if facts["gzip"] is not None:
            packed += 1
            assert compressible(name)
            assert gzip.decompress((site / f"{name}.gz").read_bytes()) == data, name
        else:
            assert not (site / f"{name}.gz").exists(), name
    assert listed["index.html"]["gzip"] < listed["index.html"]["size"] / 3
    assert listed["downloads/catalog.duckdb"]["gzip"] is None  # binary: as it is
    assert all(v["gzip"] is None for k, v in listed.items() if k.endswith(".parquet"))
    assert packed > 400


def test_a_fingerprint_leaves_out_telemetry_and_nothing_else() -> None:
    base = RankedEndpoint(**{f.name: None for f in fields(RankedEndpoint)})
    cache = PageCache(Path("unused"), code="test")

    def key(row: RankedEndpoint) -> str:
        return cache.fingerprint("model.html", {"model": {"presets": {"chat": [row]}}})

    for name in TELEMETRY_FIELDS:
        assert key(replace(base, **{name: 99.5})) == key(base), name
    assert key(replace(base, cost_per_request=Decimal("0.001"))) != key(base)
    assert key(replace(base, tag="other")) != key(base)
    assert cache.fingerprint("provider.html", {"x": 1}) != cache.fingerprint("model.html", {"x": 1})


def test_a_rankings_row_is_fingerprinted_by_its_cost_units_spelt_or_not() -> None:
    cache = PageCache(Path("unused"), code="test")
    plain = {f.name: None for f in fields(RankedEndpoint) if f.name not in DEFERRED_FIELDS}
    del plain["rank"], plain["overrides_applied"]

    def row(total: int = 1234, **fixed: object) -> RankedEndpoint:
        units = CostUnits(total, None, [total, 0], ("prompt", "completion"), 12, 1000, 1)
        return ranked_row({**plain, **fixed}, total, units, 0)

    def key(ranked: RankedEndpoint) -> str:
        return cache.fingerprint("model.html", {"model": {"presets": {"chat": [ranked]}}})

    unread = key(row())
    spelt = row()
    assert spelt.cost_per_request == Decimal("1.234e-9") and spelt.terms  # the amounts made, as a page reads them
    assert key(spelt) == unread  # read or not, the same inputs
    for name in TELEMETRY_FIELDS:
        assert key(row(**{name: 99.5})) == unread, name
    assert key(row(1235)) != unread
    assert key(row(tag="other")) != unread


def test_facts_carried_from_the_last_build_equal_facts_gathered_from_nothing(
    replayed_template: Path, tmp_path: Path
) -> None:
    db = tmp_path / "history.duckdb"
    shutil.copyfile(replayed_template, db)
    with Catalog.open(db) as cat:
        oldest = cat.con.execute("SELECT min(taken_at) FROM snapshots WHERE status <> 'failed'").fetchall()[0][0]
        before, newest = two_newest(cat)
        site_facts.forget(cat)
        site_facts.gather(cat, oldest.astimezone(UTC))  # a first build, far back: most of the history comes after
        site_facts.gather(cat, before)
        assert site_facts.carried(cat) is not None  # the next gather starts from this one
        carried = site_facts.gather(cat, newest)
        site_facts.forget(cat)
        fresh = site_facts.gather(cat, newest)
        # An instant before the last build's is gathered from nothing too: the same as a first build of it.
        back = site_facts.gather(cat, before)
        site_facts.forget(cat)
        back_fresh = site_facts.gather(cat, before)
    assert carried.changes and len(carried.changes) > len(back.changes)  # the day between added some
    assert carried.changes == fresh.changes
    assert carried.models == fresh.models and carried.providers == fresh.providers
    assert [m["history"] for m in carried.models] == [m["history"] for m in fresh.models]
    assert back.changes == back_fresh.changes and back.models == back_fresh.models


def test_the_history_mark_moves_with_the_history_known_then_and_not_with_later_rows(
    replayed_template: Path, tmp_path: Path
) -> None:
    """What lets a build link the last build's history downloads (``exports.known_mark``): sweeps after the
    instant leave it as it was; a row known then, removed or rewritten (a repair, a redaction), moves it."""
    db = tmp_path / "history.duckdb"
    shutil.copyfile(replayed_template, db)
    con = duckdb.connect(str(db))
    try:
        days = [row[0] for row in con.execute("SELECT taken_at FROM snapshots ORDER BY taken_at").fetchall()]
        then = days[len(days) // 2]
        mark = known_mark(con, then)
        assert mark != known_mark(con, days[-1])  # the days after added rows
        # As if the later sweeps had not run yet: their rows gone, the mark then is the same.
        later = "SELECT version_id FROM endpoint_versions WHERE valid_from > $t"
        con.execute(f"DELETE FROM price_overrides WHERE entity = 'endpoint' AND version_id IN ({later})", {"t": then})
        con.execute(f"DELETE FROM endpoint_skus WHERE version_id IN ({later})", {"t": then})
        con.execute("DELETE FROM endpoint_telemetry WHERE observed_at > $t", {"t": then})
        con.execute("DELETE FROM endpoint_versions WHERE valid_from > $t", {"t": then})
        assert known_mark(con, then) == mark
        con.execute("UPDATE snapshots SET source = 'edited' WHERE taken_at = $t", {"t": days[0]})
        assert known_mark(con, then) != mark
    finally:
        con.close()
