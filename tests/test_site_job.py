"""The service's ``build_site`` job builds on the API's in-memory state, as ``catalog up`` wires it
(``jobs.service.attach_api_state``): after a sweep and the API's refresh, the job's build takes the refreshed
price table (extended by the sweep, not read again), the carries of the last build reach it (rankings and list
costs kept for the table it extends), and its output is byte for byte a build from nothing of the same history.
"""

from __future__ import annotations

import json
import re
import shutil
from datetime import timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest
from test_refresh import Market

import jobs.site
from catalog.api import ApiState
from catalog.bundle import Bundle
from catalog.cost.ranker import RankIndex
from catalog.cost.workload import EndpointFilters
from catalog.library import Catalog
from catalog.replay import load_bundle
from catalog.store.db import connect
from catalog.store.exports import HISTORY_TABLES
from catalog.website import facts as site_facts
from catalog.website.build import build_site
from catalog.website.output import MANIFEST
from catalog.website.presets import DEFAULT
from jobs.config import ServiceConfig, default_schedules
from jobs.context import JobContext
from jobs.service import attach_api_state

pytestmark = pytest.mark.slow

MODEL = "deepseek/deepseek-v3.2"  # listed by several providers on the newest day
FILTERS = EndpointFilters()
NOT_BYTE_STABLE = "downloads/catalog.duckdb"  # DuckDB lays out a new file its own way; compared by content


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _sized(page: bytes) -> bytes:
    """The downloads page without the DuckDB file's size."""
    return re.sub(rb'(href="downloads/catalog.duckdb" download>duckdb</a> <small>)\([^)]*\)', rb"\1", page)


def _rows(db: Path) -> dict[str, list[tuple[object, ...]]]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return {t: sorted(con.execute(f"SELECT * FROM {t}").fetchall(), key=repr) for t in HISTORY_TABLES}
    finally:
        con.close()


def test_the_site_job_builds_on_the_refreshed_api_state_and_gives_a_fresh_builds_bytes(
    bundle: Bundle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    days = bundle.snapshots("full")
    swept = days[-1].taken_at + timedelta(hours=1)  # the sweep below
    # Every build states this build time (bytes comparable), when neither build's data is stale yet: a stale
    # page's banner names the newest snapshot, so every page changes with every sweep while data is stale.
    built_at = swept + timedelta(minutes=1)
    db = tmp_path / "service" / "history.duckdb"
    db.parent.mkdir()
    con = connect(db)
    try:
        load_bundle(con, bundle, days)
        ctx = JobContext(
            con=con,
            db=db,
            # Hourly sweeps: data goes stale after two hours.
            config=ServiceConfig(jobs=default_schedules("openrouter")),
            source=None,  # type: ignore[arg-type]  # the job fetches nothing
            site_dir=tmp_path / "service" / "site",
        )
        with ctx.writing() as writer:
            state = ApiState(writer.cursor(), db)
        attach_api_state(ctx, state)

        catalogs: list[Catalog] = []

        def render(cat: Catalog, out: Path, **options: Any) -> Any:
            catalogs.append(cat)
            return build_site(cat, out, **{**options, "built_at": built_at})

        monkeypatch.setattr(jobs.site, "render_site", render)
        ranked: list[str | None] = []
        rank = RankIndex.rank

        def counted(self: RankIndex, *args: Any, **kwargs: Any) -> Any:
            ranked.append(kwargs.get("model"))
            return rank(self, *args, **kwargs)

        monkeypatch.setattr(RankIndex, "rank", counted)
        priced: list[int] = []
        engine = site_facts._engine_list_costs

        def list_costs(table: Any, model_ids: list[str], *args: Any) -> Any:
            priced.append(len(model_ids))
            return engine(table, model_ids, *args)

        monkeypatch.setattr(site_facts, "_engine_list_costs", list_costs)

        assert jobs.site.build_site(ctx).status == "ok"
        before = state.current.table
        assert catalogs[-1].table is before  # the API's table, not one read for the build
        first_rankings, first_priced = sum(m is not None for m in ranked), sum(priced)
        ranked.clear()
        priced.clear()

        # An hourly sweep as the service stores it (the newest day an hour on, two prices changed): the snapshot,
        # the API's refresh in the same run, then the build the scheduler queues after it.
        market = Market(bundle)
        market.scale_prompt(MODEL, 2, endpoint=0)
        market.scale_prompt(MODEL, 3)
        market.record(con, swept)
        assert ctx.after_run is not None
        ctx.after_run()
        assert state.last_refresh["kind"] == "incremental"
        after = state.current.table
        assert after is not before and after is not None and after.parent is not None and after.parent() is before
        result = jobs.site.build_site(ctx)
        assert result.status == "ok" and result.detail["as_of"] == swept.strftime("%Y-%m-%dT%H:%M:%SZ")
        assert catalogs[-1].table is after  # the table the refresh extended by the sweep
        # The carries reached it: the models the sweep left as they were keep their rankings (a new catalog per
        # build, as before, ranked every one again), and their list costs are not priced again.
        assert 0 < sum(m is not None for m in ranked) < first_rankings / 20
        assert sum(priced) < first_priced / 4
        assert 0 < result.detail["rendered"] < result.detail["pages"] / 10
        # The change columns' and movers' costs then, kept per model from the last build, are what ranking every
        # model on this build's index gives.
        cat = catalogs[-1]
        for days, index in site_facts.indexes(cat).items():
            if days == 0:
                continue
            models = sorted({r.model_id for r in index.rank(DEFAULT.profile, FILTERS).ranked} | {MODEL})
            every = {
                m: group[0].cost_per_request
                for m, group in site_facts._by_model(index.rank(DEFAULT.profile, FILTERS)).items()
                if group
            }
            assert site_facts.cheapest_costs(cat, days, index, models, DEFAULT, FILTERS) == {
                m: every[m] for m in models if m in every
            }
        con.execute("CHECKPOINT")
        fresh_db = tmp_path / "fresh" / "history.duckdb"
        fresh_db.parent.mkdir()
        shutil.copyfile(db, fresh_db)
    finally:
        con.close()

    # A build from nothing: another file (so no carry of this history's), its own table and folder.
    with Catalog.open(fresh_db) as cat:
        assert site_facts.carried(cat) is None
        build_site(cat, tmp_path / "fresh" / "site", built_at=built_at, stale_after=7200)
    served, fresh = _files(tmp_path / "service" / "site"), _files(tmp_path / "fresh" / "site")
    assert sorted(served) == sorted(fresh)
    differ = [name for name in fresh if served[name] != fresh[name]]
    # The service exports the DuckDB download through its own writing connection, which lays the file out
    # otherwise (its size, which the downloads page states, differs; its rows are compared below).
    assert _sized(served["downloads.html"]) == _sized(fresh["downloads.html"])
    differ = [name for name in differ if not name.startswith("downloads.html")]
    assert set(differ) <= {NOT_BYTE_STABLE, MANIFEST}, differ
    assert _rows(tmp_path / "service" / "site" / NOT_BYTE_STABLE) == _rows(
        tmp_path / "fresh" / "site" / NOT_BYTE_STABLE
    )
    # The manifests list the same files with the same hashes. (Their page fingerprints, the next build's
    # inputs, are not compared: five of them differ after this sweep with a new catalog per build too.)
    mine, theirs = json.loads(served[MANIFEST])["files"], json.loads(fresh[MANIFEST])["files"]
    for files in (mine, theirs):
        for name in (NOT_BYTE_STABLE, "downloads.html"):
            files.pop(name)
    assert mine == theirs


def test_the_site_job_reads_the_history_itself_when_the_api_state_is_behind_it(
    bundle: Bundle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A refresh that failed leaves the API's state behind the history: the job must not build on it."""
    days = bundle.snapshots("full")[:3]
    db = tmp_path / "history.duckdb"
    con = connect(db)
    try:
        load_bundle(con, bundle, days[:-1])
        ctx = JobContext(
            con=con,
            db=db,
            config=ServiceConfig(jobs=default_schedules("replay")),
            source=None,  # type: ignore[arg-type]
            site_dir=tmp_path / "site",
        )
        with ctx.writing() as writer:
            state = ApiState(writer.cursor(), db)
        attach_api_state(ctx, state)
        catalogs: list[Catalog] = []

        def render(cat: Catalog, out: Path, **options: Any) -> Any:
            catalogs.append(cat)
            return build_site(cat, out, **options)

        monkeypatch.setattr(jobs.site, "render_site", render)
        stale = state.current.table
        load_bundle(con, bundle, days[-1:])  # stored, but the API was not refreshed
        result = jobs.site.build_site(ctx)
        assert result.status == "ok" and result.detail["as_of"] == days[-1].taken_at.strftime("%Y-%m-%dT%H:%M:%SZ")
        assert catalogs[-1].table is not stale
        assert len(catalogs[-1].table.versions) > len(stale.versions if stale is not None else [])
    finally:
        con.close()
