"""Shared fixtures: every test gets its own data directory; the replayed history is built once per run.

Also the markers' rules: a test that needs a history replayed from the bundle (a build of half a minute, once
per run) is ``slow``; ``make test-fast`` runs everything else."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from helpers import built_once, run_cli, shared_data_dir
from hypothesis import settings
from site_helpers import Built, Hostile, hostile_day, read_pages, sync_from_fake

from catalog.bundle import Bundle
from catalog.client.native import NATIVE_APIS
from catalog.library import Catalog
from catalog.replay import replay
from catalog.store.db import connect
from catalog.website.build import build_site

# No property test is a timing test: Hypothesis' per-example deadline fails examples that merely ran on a busy
# machine (two cores shared by every xdist worker), so it is off for the whole suite.
settings.register_profile("catalog", deadline=None)
settings.load_profile("catalog")


def change_value(field: str, text: str | None) -> Any:
    """An old/new cell of `catalog changes` back to a comparable value (exact Decimal for prices)."""
    if text is None:
        return None
    if field == "dynamic":
        return {"True": True, "False": False}[text]
    return Decimal(text)


# Building one of these takes half a minute (every bundled snapshot over HTTP), so every test that needs one,
# directly or through another fixture, is slow; so is a browser or a service of its own.
SLOW_FIXTURES = {"replayed_template", "replayed_all_template"}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if SLOW_FIXTURES & set(getattr(item, "fixturenames", ())) or {"browser", "service"} & set(item.keywords):
            item.add_marker(pytest.mark.slow)
    if shared_data_dir() is not None:
        return
    skip = pytest.mark.skip(reason="recorded data (../shared/data/openrouter) is not present")
    for item in items:
        if "shared" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def isolated_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point the database at a temp dir and forget any real OpenRouter settings of the machine."""
    db = tmp_path / "catalog.duckdb"
    monkeypatch.setenv("CATALOG_DB", str(db))
    for name in ("OPENROUTER_BASE_URL", "OPENROUTER_API_KEY", "CATALOG_CONCURRENCY", "CATALOG_MAX_ATTEMPTS"):
        monkeypatch.delenv(name, raising=False)
    for api in NATIVE_APIS.values():  # a provider's key would send provider:author/model calls to it directly
        monkeypatch.delenv(api.key_env, raising=False)
        monkeypatch.delenv(api.url_env, raising=False)
    return db


@pytest.fixture(scope="session")
def bundle() -> Bundle:
    return Bundle()


def _replayed_once(tmp_path_factory: pytest.TempPathFactory, bundle: Bundle, name: str, kind: str | None) -> Path:
    """Replay bundled snapshots over HTTP into one DuckDB file, built once for all xdist workers."""

    def make(folder: Path) -> None:
        con = connect(folder / "history.duckdb")
        try:
            replay(con, bundle, bundle.snapshots(kind) if kind else bundle.snapshots())
        finally:
            con.close()

    return built_once(tmp_path_factory, name, make) / "history.duckdb"


@pytest.fixture(scope="session")
def replayed_template(tmp_path_factory: pytest.TempPathFactory, bundle: Bundle) -> Path:
    """All 20 recorded full days (models, endpoints, providers)."""
    return _replayed_once(tmp_path_factory, bundle, "replayed-20-days", "full")


@pytest.fixture(scope="session")
def replayed_all_template(tmp_path_factory: pytest.TempPathFactory, bundle: Bundle) -> Path:
    """Every bundled snapshot: the 20 full days and the model-only lists back to 2024-11 (read-only use)."""
    return _replayed_once(tmp_path_factory, bundle, "replayed-all", None)


@pytest.fixture
def replayed_db(replayed_template: Path, tmp_path: Path) -> Iterator[Path]:
    """A private copy of the 20-day history that a test may read or write."""
    path = tmp_path / "replayed.duckdb"
    shutil.copyfile(replayed_template, path)
    yield path


# --- the static site's builds, shared by test_site.py, test_site_security.py and test_site_js.py -----------
# Each is built once per run (helpers.built_once: a file lock under the run's temp root), whichever module
# or xdist worker asks first; every module then reads the finished folder.


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
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Hostile:
    """A small history with hostile names, URLs and ids, synced over loopback HTTP and built through the CLI."""

    def make(folder: Path) -> None:
        summary = sync_from_fake(hostile_day(), folder / "history.duckdb")
        assert summary["status"] == "ok" and summary["models"] == 2 and summary["endpoints"] == 4
        done = run_cli("site", "build", "--db", str(folder / "history.duckdb"), "--out", str(folder / "site"), "--json")
        assert done.returncode == 0, done.stderr
        (folder / "report.json").write_text(done.stdout)

    folder = built_once(tmp_path_factory, "test_site-hostile", make)
    stdout = (folder / "report.json").read_text()
    return Hostile(folder / "site", folder / "history.duckdb", stdout, read_pages(folder / "site"))
