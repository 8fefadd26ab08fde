"""Data age on every answer (issue 14, acceptance 5): the snapshot an answer comes from and how old the history is.

Answers on the bundled days (newest snapshot 2026-08-05) are stale today; the same replayed history read at an
instant shortly after its newest snapshot (``catalog.times.use_clock``) is not — through ``Catalog.cheapest``,
``/v1/cheapest`` (body and headers) and ``catalog cheapest`` (header line, stderr warning, ``--json``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from helpers import run_cli

from catalog.api import ApiState, create_app
from catalog.cost.workload import WorkloadProfile
from catalog.errors import ConfigError, InputError
from catalog.freshness import DEFAULT_STALE_AFTER, DataAge, SnapshotLog, describe_age
from catalog.library import Catalog
from catalog.settings import stale_after
from catalog.store import snapshots
from catalog.store.db import connect
from catalog.times import now, parse_duration, use_clock
from jobs.config import load_config

MODEL = "deepseek/deepseek-v3.2"
T0 = datetime(2026, 8, 1, 12, tzinfo=UTC)


# --- the pure parts ---------------------------------------------------------------------------------------------


def test_the_snapshot_in_force_and_the_age_come_from_the_log() -> None:
    log = SnapshotLog([(7, T0 + timedelta(hours=2)), (3, T0)])  # any order in, oldest first kept
    assert log.times == [T0, T0 + timedelta(hours=2)] and log.ids == [3, 7]
    assert log.in_force(T0 - timedelta(seconds=1)) is None
    assert log.in_force(T0 + timedelta(hours=1)) == (3, T0)
    assert log.in_force(T0 + timedelta(hours=2)) == (7, T0 + timedelta(hours=2))
    age = log.age(T0 + timedelta(minutes=5), 3600, when=T0 + timedelta(hours=2, seconds=3600))
    assert age == DataAge(3, T0, T0 + timedelta(hours=2), 3600, False, 3600)  # exactly the threshold: not stale
    later = log.age(T0, 3600, when=T0 + timedelta(hours=3, seconds=1))
    assert later is not None and later.stale and later.age_seconds == 3601 and later.snapshot_id == 3
    before = log.age(T0 - timedelta(days=1), 3600, when=T0)
    assert before is not None and before.snapshot_id is None and before.snapshot_at is None
    assert SnapshotLog([]).age(T0, 3600) is None


def test_the_default_as_of_follows_the_clock() -> None:
    log = SnapshotLog([(1, T0), (2, T0 + timedelta(days=1))])
    with use_clock(T0 + timedelta(hours=1)):
        assert now() == T0 + timedelta(hours=1)
        assert log.default_as_of() == T0
    with use_clock(lambda: T0 - timedelta(hours=1)):
        assert log.default_as_of() is None
    assert log.default_as_of() == T0 + timedelta(days=1)  # the system clock is back


def test_ages_read_in_their_largest_unit_and_a_stale_one_warns() -> None:
    assert [describe_age(s) for s in (0, 119, 120, 7199, 7200, 172_799, 172_800, 10**7)] == [
        "0 s",
        "119 s",
        "2 min",
        "119 min",
        "2 h",
        "47 h",
        "2 days",
        "115 days",
    ]
    fresh = DataAge(1, T0, T0, 60, False, 7200)
    assert fresh.warning() is None
    stale = DataAge(1, T0, T0, 10**7, True, 7200)
    warning = stale.warning()
    assert warning is not None and "2026-08-01 12:00Z" in warning and "115 days" in warning and "2 h" in warning
    assert stale.to_dict() == {
        "snapshot_id": 1,
        "snapshot_at": "2026-08-01T12:00:00Z",
        "newest_snapshot_at": "2026-08-01T12:00:00Z",
        "age_seconds": 10**7,
        "stale": True,
        "stale_after_seconds": 7200,
    }


def test_durations_and_the_stale_threshold_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    assert [parse_duration(t) for t in ("90s", "15m", "2h", "1h30m", "1d", "7200", " 2 h ")] == [
        90,
        900,
        7200,
        5400,
        86400,
        7200,
        7200,
    ]
    for bad in ("soon", "0", "-5m", "2x", "inf"):
        with pytest.raises(InputError, match="duration"):
            parse_duration(bad)
    monkeypatch.delenv("CATALOG_STALE_AFTER", raising=False)
    assert stale_after() == DEFAULT_STALE_AFTER == 7200
    assert stale_after(300) == 300
    monkeypatch.setenv("CATALOG_STALE_AFTER", "90m")
    assert stale_after() == 5400
    monkeypatch.setenv("CATALOG_STALE_AFTER", "a while")
    with pytest.raises(ConfigError, match="CATALOG_STALE_AFTER"):
        stale_after()


def test_catalog_up_calls_data_stale_after_two_sweep_intervals(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CATALOG_STALE_AFTER", raising=False)
    assert load_config(env={}).stale_after(env={}) == 2 * 3600
    assert load_config(env={"CATALOG_JOB_SNAPSHOT_CATALOG_EVERY": "15m"}).stale_after(env={}) == 1800
    assert load_config(source="replay", env={}).stale_after(env={}) == 120
    # An explicit setting wins, and a disabled sweep leaves the package's rule.
    assert load_config(env={}).stale_after(env={"CATALOG_STALE_AFTER": "1d"}) is None
    off = load_config(env={"CATALOG_JOB_SNAPSHOT_CATALOG_ENABLED": "false"})
    assert off.stale_after(env={}) is None


# --- acceptance 5 on the replayed bundle ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def newest(replayed_template: Path) -> tuple[int, datetime]:
    con = connect(replayed_template, read_only=True)
    try:
        good = snapshots.good_snapshots(con)
    finally:
        con.close()
    return good[-1]


@pytest.fixture(scope="module")
def api(replayed_template: Path) -> Iterator[TestClient]:
    con = connect(replayed_template, read_only=True)
    try:
        with TestClient(create_app(ApiState(con, replayed_template))) as client:
            yield client
    finally:
        con.close()


def test_python_answers_on_the_bundle_are_stale_and_say_how_old(
    replayed_template: Path, newest: tuple[int, datetime]
) -> None:
    snapshot_id, taken_at = newest
    with Catalog.open(replayed_template) as cat:
        before = now()
        ranking = cat.cheapest(MODEL, WorkloadProfile(20_000, 1_000, cache_hit=Decimal("0.8")))
        after = now()
        data = ranking.data
        assert data is not None and data.stale and data.stale_after_seconds == 7200
        assert data.snapshot_id == snapshot_id and data.snapshot_at == taken_at == data.newest_snapshot_at
        assert int((before - taken_at).total_seconds()) <= data.age_seconds <= int((after - taken_at).total_seconds())
        assert ranking.to_dict()["data"]["stale"] is True
        # A past as_of names the snapshot in force then; the age is still the history's.
        past = cat.cheapest(MODEL, as_of="2026-07-20").data
        assert past is not None and past.snapshot_at is not None and past.snapshot_at < taken_at
        assert past.snapshot_at.date().isoformat() == "2026-07-20"
        assert past.newest_snapshot_at == taken_at and past.stale


def test_python_answers_on_a_recent_history_are_not_stale(
    replayed_template: Path, newest: tuple[int, datetime]
) -> None:
    snapshot_id, taken_at = newest
    with use_clock(taken_at + timedelta(minutes=10)), Catalog.open(replayed_template) as cat:
        data = cat.cheapest(MODEL).data
        assert data == DataAge(snapshot_id, taken_at, taken_at, 600, False, 7200)
    with use_clock(taken_at + timedelta(minutes=10)), Catalog.open(replayed_template, stale_after=300) as cat:
        data = cat.cheapest(MODEL).data
        assert data is not None and data.stale and data.stale_after_seconds == 300


def test_api_answers_carry_data_stale_and_the_age_headers(api: TestClient, newest: tuple[int, datetime]) -> None:
    snapshot_id, taken_at = newest
    response = api.get("/v1/cheapest", params={"model": MODEL, "input": 20000})
    assert response.status_code == 200
    body = response.json()
    assert body["stale"] is True and response.headers["X-Data-Stale"] == "true"
    etag = response.headers["ETag"]
    assert body["data"]["snapshot_id"] == snapshot_id and body["data"]["stale"] is True
    assert body["data"]["newest_snapshot_at"] == taken_at.isoformat().replace("+00:00", "Z")
    age = int(response.headers["X-Data-Age"])
    assert abs(age - body["data"]["age_seconds"]) <= 1
    assert abs(age - (now() - taken_at).total_seconds()) <= 2
    # Every cached route says the age too.
    for path in ("/v1/models", f"/v1/models/{MODEL}", "/v1/snapshots"):
        other = api.get(path)
        assert other.status_code == 200 and other.headers["X-Data-Stale"] == "true", path
        assert abs(int(other.headers["X-Data-Age"]) - age) <= 2, path
    cost = api.post("/v1/cost", json=[{"model": MODEL, "prompt_tokens": 10, "completion_tokens": 5}])
    assert cost.status_code == 200 and cost.headers["X-Data-Stale"] == "true"
    # A 304 still says how old the data is.
    unchanged = api.get("/v1/cheapest", params={"model": MODEL, "input": 20000}, headers={"If-None-Match": etag})
    assert unchanged.status_code == 304 and unchanged.headers["X-Data-Stale"] == "true"


def test_api_answers_on_a_recent_history_are_not_stale(api: TestClient, newest: tuple[int, datetime]) -> None:
    snapshot_id, taken_at = newest
    # The same query answered a moment ago (cached) and a new one: the age is the clock's, not the cache's.
    for query in ({"model": MODEL, "input": 20000}, {"model": MODEL, "input": 20001}):
        with use_clock(taken_at + timedelta(seconds=90)):
            response = api.get("/v1/cheapest", params=query)
        body = response.json()
        assert response.status_code == 200 and body["stale"] is False
        assert "X-Data-Stale" not in response.headers and response.headers["X-Data-Age"] == "90"
        assert body["data"] == {
            "snapshot_id": snapshot_id,
            "snapshot_at": taken_at.isoformat().replace("+00:00", "Z"),
            "newest_snapshot_at": taken_at.isoformat().replace("+00:00", "Z"),
            "age_seconds": 90,
            "stale": False,
            "stale_after_seconds": 7200,
        }


def test_cli_header_and_warning_name_the_data_and_its_age(
    replayed_template: Path, newest: tuple[int, datetime]
) -> None:
    _, taken_at = newest
    stamp = f"{taken_at:%Y-%m-%d %H:%M}Z"
    done = run_cli("cheapest", MODEL, "--db", str(replayed_template))
    assert done.returncode == 0, done.stderr
    assert f"data from {stamp} (" in done.stdout and " days old)" in done.stdout
    warnings = [line for line in done.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and stamp in warnings[0] and "stale after 2 h" in warnings[0]
    as_json = run_cli("cheapest", MODEL, "--json", "--db", str(replayed_template))
    assert json.loads(as_json.stdout)["data"]["stale"] is True
    with use_clock(taken_at + timedelta(minutes=30)):
        recent = run_cli("cheapest", MODEL, "--db", str(replayed_template))
        recent_json = run_cli("cheapest", MODEL, "--json", "--db", str(replayed_template))
    assert recent.returncode == 0 and "warning" not in recent.stderr
    assert f"data from {stamp} (30 min old)" in recent.stdout
    data = json.loads(recent_json.stdout)["data"]
    assert data["stale"] is False and data["age_seconds"] == 1800


# --- the faces' in-memory state ---------------------------------------------------------------------------------


def test_a_refresh_builds_beside_the_answering_state(replayed_template: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """While a refresh builds the new rank index, requests are answered from the current state."""
    import threading

    import catalog.api.state as state_module

    con = connect(replayed_template, read_only=True)
    try:
        state = ApiState(con, replayed_template)
        with TestClient(create_app(state)) as client:
            before = client.get("/v1/cheapest", params={"model": MODEL, "input": 1000})
            assert before.status_code == 200
            building, release = threading.Event(), threading.Event()
            real_build = state_module.RankIndex.build

            def slow_build(*args: object, **kwargs: object) -> object:
                building.set()
                assert release.wait(30)
                return real_build(*args, **kwargs)  # type: ignore[arg-type]

            monkeypatch.setattr(state_module.RankIndex, "build", slow_build)
            refresh = threading.Thread(target=state.refresh, kwargs={"force": True})
            refresh.start()
            try:
                assert building.wait(30)
                # Mid-refresh: a new query (ranked on the current index) and a cached one both answer.
                during = client.get("/v1/cheapest", params={"model": MODEL, "input": 1001})
                again = client.get("/v1/cheapest", params={"model": MODEL, "input": 1000})
                assert during.status_code == 200 and again.status_code == 200
                assert again.json()["ranked"] == before.json()["ranked"]
                assert refresh.is_alive()  # the build was still waiting: nothing above waited for it
            finally:
                release.set()
                refresh.join(30)
            assert state.ready_index(state.log.times[-1]) is not None
    finally:
        con.close()


def test_catalog_takes_an_openrouter_provider_object(replayed_template: Path) -> None:
    from catalog.cost.workload import EndpointFilters

    profile = WorkloadProfile(20_000, 1_000)
    with Catalog.open(replayed_template) as cat:
        given = {"only": ["baidu", "novita"], "quantizations": ["fp8"], "data_collection": "deny"}
        by_object = cat.cheapest(MODEL, profile, as_of="2026-08-01", provider=given)
        by_filters = cat.cheapest(
            MODEL, profile, as_of="2026-08-01", filters=EndpointFilters.from_provider_preferences(given)
        )
        assert by_object.to_dict() == by_filters.to_dict()
        assert by_object.ranked and {r.provider for r in by_object.ranked} <= {"baidu", "novita"}
        everything = cat.cheapest(MODEL, profile, as_of="2026-08-01")
        assert len(everything.ranked) > len(by_object.ranked)
        with pytest.raises(InputError, match="not both"):
            cat.cheapest(MODEL, profile, provider=given, filters=EndpointFilters())
        with pytest.raises(InputError):
            cat.cheapest(MODEL, profile, provider={"cheapest_please": True})


def test_catalog_answers_from_memory_after_the_first_call(replayed_template: Path) -> None:
    """The default as_of and a new profile's ranking run no query once the index is built."""
    with Catalog.open(replayed_template) as cat:
        cat.cheapest(MODEL, WorkloadProfile(1_000, 100))
        real = cat.con

        class NoQueries:
            def __getattr__(self, name: str) -> object:
                raise AssertionError(f"a query ({name}) after the index was built")

        cat.con = NoQueries()  # type: ignore[assignment]
        try:
            for n in range(5):
                ranking = cat.cheapest(MODEL, WorkloadProfile(2_000 + n, 100))
                assert ranking.ranked and ranking.data is not None
        finally:
            cat.con = real
