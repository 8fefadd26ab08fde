"""The API's refresh after sweeps (issue 15, item 2 and acceptance 3): the next state is the current one
extended by what the sweeps opened and closed — the same state a full reload gives — built beside the current
one and swapped in; a request finishes on the state it started with, never on a mix of two.

The sweeps are the newest bundled day, changed the way the market changes it: a price moves, a model leaves
(its endpoints with it), a new one arrives, and two sweeps share one instant.
"""

from __future__ import annotations

import bisect
import copy
import json
import threading
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
import pyarrow as pa
import pytest
from fastapi.testclient import TestClient
from polars.testing import assert_frame_equal

from catalog.api import ApiState, create_app
from catalog.api.state import DataState
from catalog.bundle import Bundle
from catalog.cost import ranker
from catalog.cost.engine import cost_usage
from catalog.cost.sheets import PriceTable, SheetVersion
from catalog.cost.usage import usage_frame
from catalog.library import versions_by_model
from catalog.openrouter.payload import ALL_KINDS, RawPayload, assemble, endpoints_path
from catalog.store import mirror as mirror_module
from catalog.store import queries
from catalog.store.db import connect
from catalog.store.ingest import record_snapshot
from catalog.store.mirror import HistoryMirror

MODEL = "deepseek/deepseek-v3.2"
NEW_MODEL = "test/newcomer"


# --- sweeps made from the newest bundled day --------------------------------------------------------------------


class Market:
    """The newest bundled day as payloads one can change, recorded as sweeps at chosen instants."""

    def __init__(self, bundle: Bundle) -> None:
        day = bundle.load(bundle.snapshots("full")[-1].id)
        self.taken_at = day.info.taken_at
        self.models: list[dict[str, Any]] = copy.deepcopy(day.models)
        self.providers = copy.deepcopy(day.providers)
        self.endpoints: dict[str, dict[str, Any]] = copy.deepcopy(day.endpoints)

    def scale_prompt(self, model_id: str, factor: int, *, endpoint: int | None = None) -> None:
        """Multiply the prompt price of the model (``endpoint`` None) or of one of its endpoints."""
        if endpoint is None:
            entry = next(m for m in self.models if m["id"] == model_id)
        else:
            entry = self.endpoints[model_id]["endpoints"][endpoint]
        entry["pricing"]["prompt"] = format(float(entry["pricing"]["prompt"]) * factor, ".12f").rstrip("0")

    def drop(self, model_id: str) -> None:
        self.models = [m for m in self.models if m["id"] != model_id]
        self.endpoints.pop(model_id)

    def copy_model(self, model_id: str, new_id: str) -> None:
        model = copy.deepcopy(next(m for m in self.models if m["id"] == model_id))
        model["id"] = model["canonical_slug"] = new_id
        self.models.append(model)
        listing = copy.deepcopy(self.endpoints[model_id])
        listing["id"] = new_id
        for endpoint in listing["endpoints"]:
            endpoint["model_id"] = new_id
        self.endpoints[new_id] = listing

    def record(self, con: duckdb.DuckDBPyConnection, at: datetime) -> None:
        raw = [RawPayload("models", 200, json.dumps({"data": self.models}).encode())]
        raw.append(RawPayload("providers", 200, json.dumps({"data": self.providers}).encode()))
        raw += [RawPayload(endpoints_path(m), 200, json.dumps({"data": b}).encode()) for m, b in self.endpoints.items()]
        summary = record_snapshot(con, assemble(raw, taken_at=at, source="test", kinds=ALL_KINDS), archive=False)
        assert summary.status == "ok", summary


@pytest.fixture
def history(replayed_db: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    con = connect(replayed_db)
    try:
        yield con
    finally:
        con.close()


# --- what "the same state" means ---------------------------------------------------------------------------------


def _version_key(v: SheetVersion) -> tuple[Any, ...]:
    return (v.kind, v.model_id, v.key or "", v.tag or "", v.valid_from)


def _versions(table: PriceTable | None) -> list[SheetVersion]:
    return sorted(table.versions, key=_version_key) if table is not None else []


def _cost_probe(table: PriceTable, data: DataState) -> pl.DataFrame:
    """Every (model, provider) pair priced at every snapshot time and half an hour after it: the table's
    answer wherever a version starts or ends."""
    pairs = sorted({(v.model_id, v.provider_slug or "") for v in table.versions})
    instants = [t + d for t in data.log.times[-6:] for d in (timedelta(0), timedelta(minutes=30))]
    rows = [
        {"model": m, "provider": p or None, "timestamp": t, "prompt_tokens": 1000, "completion_tokens": 100}
        for m, p in pairs
        for t in instants
    ]
    priced = cost_usage(usage_frame(rows), table)
    # ``sheet_id`` is a position in the table's own list of versions: compare the version it names instead.
    names = [repr(_version_key(v)) for v in table.versions]
    return priced.with_columns(
        pl.col("sheet_id").map_elements(lambda i: names[i] if i >= 0 else None, return_dtype=pl.String)
    )


def assert_same_state(incremental: DataState, full: DataState) -> None:
    assert incremental.etag == full.etag and incremental.version == full.version
    assert (incremental.log.ids, incremental.log.times) == (full.log.ids, full.log.times)
    assert incremental.model_ids == full.model_ids
    assert dict(incremental.open_prices) == dict(full.open_prices)
    assert _versions(incremental.table) == _versions(full.table)
    assert incremental.table is not None and full.table is not None
    assert _cost_probe(incremental.table, incremental).equals(_cost_probe(full.table, full))
    assert incremental.mirror is not None and full.mirror is not None
    for at in incremental.log.times[-4:]:
        assert_frame_equal(incremental.mirror.models_as_of(at), full.mirror.models_as_of(at))
    for model in [*sorted(incremental.mirror.endpoints)[::7], MODEL]:
        for at in incremental.log.times[-3:]:
            assert_frame_equal(incremental.mirror.endpoints_as_of(model, at), full.mirror.endpoints_as_of(model, at))
        assert_frame_equal(incremental.mirror.endpoint_history(model), full.mirror.endpoint_history(model))
        assert_frame_equal(incremental.mirror.model_history(model), full.mirror.model_history(model))
    # Every model's rows, not only the answers above: merging the versions the sweeps opened and closed puts each
    # row where a read of the whole history does (``last_seen`` is laid over both at answer time).
    inc, whole = incremental.mirror, full.mirror
    assert inc.endpoints.keys() == whole.endpoints.keys() and inc.statuses.keys() == whole.statuses.keys()
    for model in whole.endpoints:
        assert_frame_equal(inc._seen(inc.endpoints[model]), whole._seen(whole.endpoints[model]))
    for model in whole.statuses:
        assert_frame_equal(inc.statuses[model], whole.statuses[model])
    assert_frame_equal(inc._seen(inc.models), whole._seen(whole.models))
    assert_frame_equal(inc.intervals.sort(pl.all()), whole.intervals.sort(pl.all()))


ANSWERS = [
    ("/v1/cheapest", {"model": MODEL, "input": 20000, "output": 1000}),
    ("/v1/cheapest", {"model": NEW_MODEL, "input": 20000}),
    ("/v1/cheapest", {"input": 1000, "output": 100}),
    (f"/v1/models/{MODEL}", {}),
    ("/v1/models", {"q": "deepseek"}),
]


def _answers(state: ApiState) -> list[tuple[int, str | None, Any]]:
    with TestClient(create_app(state)) as client:
        out = []
        for path, params in ANSWERS:
            response = client.get(path, params=params)
            body = response.json()
            if isinstance(body, dict):
                body.pop("data", None)  # the age depends on the clock, not on the state
            out.append((response.status_code, response.headers.get("etag"), body))
        return out


# --- incremental == full ------------------------------------------------------------------------------------------


def test_an_incremental_refresh_gives_the_state_a_full_reload_gives(history: duckdb.DuckDBPyConnection) -> None:
    market = Market(Bundle())
    state = ApiState(history, Path("unused.duckdb"))
    first = state.current
    t1 = market.taken_at + timedelta(hours=1)
    market.scale_prompt(MODEL, 2)
    market.scale_prompt(MODEL, 3, endpoint=0)
    market.record(history, t1)

    assert state.refresh()
    assert state.last_refresh["kind"] == "incremental"
    assert state.current is not first and state.current.generation == first.generation + 1
    assert_same_state(state.current, ApiState(history, Path("unused.duckdb")).current)

    # Two sweeps before the next refresh, the second at the same instant as the first: a model leaves with its
    # endpoints, another arrives, a price moves and moves back.
    t2 = t1 + timedelta(hours=1)
    gone = next(m for m in market.endpoints if m != MODEL and market.endpoints[m]["endpoints"])
    market.drop(gone)
    market.copy_model(MODEL, NEW_MODEL)
    market.scale_prompt(MODEL, 5, endpoint=0)
    market.record(history, t2)
    market.scale_prompt(MODEL, 7, endpoint=1 if len(market.endpoints[MODEL]["endpoints"]) > 1 else 0)
    market.record(history, t2)

    before = state.current.table
    assert before is not None
    ranker._history(before), ranker._variants(before)  # made on the old table: the refresh carries them forward
    assert state.refresh()
    assert state.last_refresh["kind"] == "incremental"
    assert_carried_forward(history, state.current, before)
    full = ApiState(history, Path("unused.duckdb"))
    assert_same_state(state.current, full.current)
    assert NEW_MODEL in state.model_ids and not any(
        v.model_id == gone and v.valid_to is None
        for v in state.current.table.versions  # type: ignore[union-attr]
    )
    answers = _answers(state)
    assert answers == _answers(full)
    assert [status for status, _etag, _body in answers] == [200] * len(ANSWERS)
    assert not state.refresh()  # nothing new: the state stays


def assert_carried_forward(history: duckdb.DuckDBPyConnection, data: DataState, before: PriceTable) -> None:
    """What the refresh derived from the old table's (the ranker's rates and history, each model's versions, the
    newest rank index's candidates) equals what a table built from all its versions gives (the same ids)."""
    table = data.table
    assert table is not None and table.parent is not None and table.parent() is before
    rebuilt = PriceTable.from_sheets(list(table.versions))
    assert ranker._variants(table) == ranker._variants(rebuilt)
    assert ranker._history(table) == ranker._history(rebuilt)
    assert versions_by_model(table) == versions_by_model(rebuilt)
    at = data.log.default_as_of()
    assert at is not None
    index = data.caches.indexes[at]
    fresh = ranker.RankIndex.build(queries.endpoint_candidates(history, at, None), rebuilt, at)
    assert index._candidates == fresh._candidates


def test_the_rank_index_is_carried_with_the_policies_and_telemetry_of_the_unchanged_models(
    history: duckdb.DuckDBPyConnection, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The newest rank index after a sweep re-reads only the endpoints the sweep changed: the others keep their
    candidates, with what changes without a version (a provider's data policy, an endpoint's uptime and latency,
    every endpoint's telemetry time) laid over them. The index equals one built from every candidate row, also
    when the newest instant does not move (a second sweep at the same instant)."""
    market = Market(Bundle())
    state = ApiState(history, Path("unused.duckdb"))
    carried: list[int] = []
    real = ranker.RankIndex.carried.__func__  # type: ignore[attr-defined]

    def counted(
        cls: type[ranker.RankIndex], previous: ranker.RankIndex, fresh: pl.DataFrame, *rest: Any, **named: Any
    ) -> Any:
        carried.append(fresh.height)
        return real(cls, previous, fresh, *rest, **named)

    monkeypatch.setattr(ranker.RankIndex, "carried", classmethod(counted))
    t1 = market.taken_at + timedelta(hours=1)
    market.scale_prompt(MODEL, 2, endpoint=0)  # one model changes: its rows are read again
    first = state.current.caches.indexes[state.current.log.times[-1]]
    # Another model's endpoint (its uptime and latency move) and a third model's provider (its data policy flips).
    other, tag = next(
        (c.row["model_id"], c.row["tag"])
        for c in first._candidates
        if c.row["model_id"] != MODEL and c.row["endpoint_key"] == f"{c.row['model_id']}@{c.row['tag']}"
    )
    slug = next(c.row["provider_slug"] for c in first._candidates if c.row["model_id"] not in (MODEL, other))
    provider = next(p for p in market.providers if p["slug"] == slug)
    provider["data_policy"] = {
        **provider["data_policy"],
        "retains_prompts": not provider["data_policy"].get("retains_prompts"),
    }
    endpoint = next(e for e in market.endpoints[other]["endpoints"] if e["tag"] == tag)
    endpoint["uptime_last_1d"] = 91.5
    endpoint["latency_last_30m"] = {"p50": 1234, "p75": 1300, "p90": 1400, "p99": 1500}
    market.record(history, t1)
    for _ in range(2):
        assert state.refresh()
        assert state.last_refresh["kind"] == "incremental"
        assert carried, "the index was built whole, not carried"
        at = state.current.log.default_as_of()
        assert at is not None
        index = state.current.caches.indexes[at]
        table = state.current.table
        assert table is not None
        whole = ranker.RankIndex.build(queries.endpoint_candidates(history, at, None), table, at)
        assert index._candidates == whole._candidates
        # It knows what its rows hold of the policies and telemetry: the next sweep compares with that, vectorised,
        # and looks only at the candidates whose values moved (``_volatile_moved``), not at every candidate.
        assert index.volatile is not None
        policy = next(c.row for c in index._candidates if c.row["provider_slug"] == slug)
        assert policy["policy_retains_prompts"] is provider["data_policy"]["retains_prompts"]
        moved = next(c for c in index._candidates if c.row["endpoint_key"] == f"{other}@{tag}")
        assert moved.fixed is not None and moved.fixed["uptime_last_1d"] == endpoint["uptime_last_1d"]
        # Only the changed endpoint's row is read again, not its model's others (the second time, at the same
        # instant, too).
        assert len(index._by_model[MODEL]) > 1
        assert carried[-1] == 1
        market.scale_prompt(MODEL, 3, endpoint=0)
        endpoint["uptime_last_1d"] = 92.5
        market.record(history, t1)


def test_a_history_that_does_not_follow_from_the_state_is_reloaded(history: duckdb.DuckDBPyConnection) -> None:
    """A version gone that no sweep closed (a repair, a rebuild) cannot be extended: the refresh reloads."""
    market = Market(Bundle())
    state = ApiState(history, Path("unused.duckdb"))
    market.scale_prompt(MODEL, 2, endpoint=0)
    market.record(history, market.taken_at + timedelta(hours=1))
    history.execute(
        "DELETE FROM model_versions WHERE version_id = (SELECT min(version_id) FROM model_versions "
        "WHERE valid_to IS NULL AND model_id <> ?)",
        [MODEL],
    )
    assert state.refresh()
    assert state.last_refresh["kind"] == "full"
    assert_same_state(state.current, ApiState(history, Path("unused.duckdb")).current)


def _buffers(frame: pl.DataFrame) -> list[tuple[int, int]]:
    """The memory ranges of every buffer ``frame``'s columns point into (text views' data buffers too)."""
    out = []
    for column in frame.get_columns():
        arrow = column.to_arrow(compat_level=pl.CompatLevel.newest())  # the buffers themselves, not copies
        for chunk in arrow.chunks if isinstance(arrow, pa.ChunkedArray) else [arrow]:
            out += [(b.address, b.address + b.size) for b in chunk.buffers() if b is not None and b.size]
    return out


def test_a_state_carried_sweep_after_sweep_lets_go_of_the_frames_earlier_sweeps_made(
    history: duckdb.DuckDBPyConnection, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A model's endpoint rows are a slice of a frame a sweep gathered, their text views into buffers of every frame
    before: a process that stays up kept every sweep's frames alive through the models no sweep touched since. Each
    model's endpoint rows are copied on their own once in ``OWN_ROWS_SWEEPS`` sweeps, so after that many (3 here, for
    ~500 models) none of the loaded mirror's endpoint buffers is held — though that mirror is still alive
    here — and the rows are the ones a full reload gives."""
    monkeypatch.setattr(mirror_module, "OWN_ROWS_SWEEPS", 3)
    market = Market(Bundle())
    state = ApiState(history, Path("unused.duckdb"))
    loaded = state.current.mirror
    assert loaded is not None
    held: list[list[int]] = []  # the loaded frames' buffers, overlapping ranges merged: disjoint, in order
    for lo, hi in sorted(r for f in loaded.endpoints.values() for r in _buffers(f)):
        if held and lo <= held[-1][1]:
            held[-1][1] = max(held[-1][1], hi)
        else:
            held.append([lo, hi])
    starts = [lo for lo, _hi in held]
    for hour in range(1, 4):
        market.scale_prompt(MODEL, 2, endpoint=0)  # one model touched a sweep: the others only by the rotation
        market.record(history, market.taken_at + timedelta(hours=hour))
        assert state.refresh()
        assert state.last_refresh["kind"] == "incremental"
    carried = state.current.mirror
    assert carried is not None and carried.rotation == 3
    shared = []
    for model, frame in carried.endpoints.items():
        for lo, hi in _buffers(frame):
            at = bisect.bisect_right(starts, hi - 1) - 1  # the held range starting last before ``hi``
            if at >= 0 and held[at][1] > lo:
                shared.append(model)
                break
    assert not shared, f"{len(shared)} models' rows still point into the loaded mirror's buffers, e.g. {shared[:3]}"
    assert_same_state(state.current, ApiState(history, Path("unused.duckdb")).current)


# --- acceptance 3: an answer comes from one state ----------------------------------------------------------------


def _held(monkeypatch: pytest.MonkeyPatch, target: Any, name: str) -> tuple[threading.Event, threading.Event]:
    """Make ``target.name`` signal when called and wait for a release before it answers."""
    entered, release = threading.Event(), threading.Event()
    real: Callable[..., Any] = getattr(target, name)

    def held(*args: Any, **kwargs: Any) -> Any:
        if not entered.is_set():
            entered.set()
            assert release.wait(30)
        return real(*args, **kwargs)

    monkeypatch.setattr(target, name, held)
    return entered, release


def test_an_answer_built_across_a_refresh_is_all_of_the_state_it_started_on(
    history: duckdb.DuckDBPyConnection, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A model page whose build is held part-way while a sweep is stored and a refresh swaps the state in:
    its validators, instant, endpoints (with their ``valid_to``) and price sheets are all the old state's —
    byte for byte the page the old state gives for that instant — and the next request's are all the new's."""
    market = Market(Bundle())
    state = ApiState(history, Path("unused.duckdb"))
    old = state.current
    path = f"/v1/models/{MODEL}"
    with TestClient(create_app(state)) as client:
        old_instant = old.log.times[-1].isoformat().replace("+00:00", "Z")
        reference = client.get(path, params={"as_of": old_instant})  # another cache key, the same answer
        entered, release = _held(monkeypatch, HistoryMirror, "endpoints_as_of")
        answered: dict[str, Any] = {}
        request = threading.Thread(target=lambda: answered.update(r=client.get(path)))
        request.start()
        try:
            assert entered.wait(30)  # the request has pinned the old state and is part-way through its answer
            market.scale_prompt(MODEL, 2)
            market.scale_prompt(MODEL, 2, endpoint=0)
            market.record(history, market.taken_at + timedelta(hours=1))
            assert state.refresh()  # the swap happens while the request is in flight; it does not wait for it
            new = state.current
            assert new.etag != old.etag
        finally:
            release.set()
            request.join(30)
        during = answered["r"]
        after = client.get(path)
        new_reference = client.get(path, params={"as_of": old_instant})

    def sheet_prompt(response: Any) -> str:
        return str(next(s for s in response.json()["price_sheets"] if s["kind"] == "model")["prompt"])

    assert reference.status_code == during.status_code == after.status_code == 200
    # Validators, the instant answered, the endpoints and the prices: all of the old state …
    assert (during.headers["etag"], during.headers["last-modified"]) == (old.etag, old.last_modified)
    assert during.json()["as_of"] == old_instant
    assert during.content == reference.content
    # … though read now, the same instant shows the endpoint and model versions the sweep closed (``valid_to``):
    changed, held = new_reference.json(), during.json()
    assert changed["endpoints"] != held["endpoints"] and changed["price_sheets"] != held["price_sheets"]
    # … and the next request's all of the new one: the old answer was not kept under the new version.
    assert (after.headers["etag"], after.headers["last-modified"]) == (new.etag, new.last_modified)
    assert after.json()["as_of"] == new.log.times[-1].isoformat().replace("+00:00", "Z")
    assert sheet_prompt(after) != sheet_prompt(during)
    assert during.content in old.caches.responses.values()
    assert during.content not in new.caches.responses.values()


# --- the refresh's reads ------------------------------------------------------------------------------------------


class _CountingConnection:
    """A connection whose cursors count the statements run through them (``execute`` and ``sql``)."""

    def __init__(self, con: duckdb.DuckDBPyConnection, statements: list[str]) -> None:
        self._con, self._statements = con, statements

    def cursor(self) -> Any:
        return _CountingConnection(self._con.cursor(), self._statements)

    def execute(self, query: str, *args: Any, **kwargs: Any) -> Any:
        self._statements.append(query)
        return self._con.execute(query, *args, **kwargs)

    def sql(self, query: str, *args: Any, **kwargs: Any) -> Any:
        self._statements.append(query)
        return self._con.sql(query, *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._con, name)


def test_a_refresh_after_a_sweep_reads_only_narrow_statements_of_what_changed(
    history: duckdb.DuckDBPyConnection,
) -> None:
    """What the sweep opened and closed, the open versions' last sighting, the counts that check the state still
    follows, the new snapshots and what changes without a version (``queries.sweep_delta``): a fixed handful of
    statements, none of them one wide frame of every part (``UNION ALL BY NAME``: its conversion cost three
    times the reads), and none reading the whole history's rows (no ``price_versions``, no mirror load); plus
    one for the models whose versions start or end between the two newest instants when the newest moves. The
    state is the one a full reload gives."""
    market = Market(Bundle())
    statements: list[str] = []
    state = ApiState(_CountingConnection(history, statements), Path("unused.duckdb"))  # type: ignore[arg-type]
    market.scale_prompt(MODEL, 2, endpoint=0)
    market.record(history, market.taken_at + timedelta(hours=1))
    statements.clear()
    assert state.refresh()
    assert state.last_refresh["kind"] == "incremental"
    moved = state.current.log.default_as_of() != state.current.log.times[-2]
    assert 2 <= len(statements) <= 11 + moved, statements
    assert not any("UNION ALL BY NAME" in s for s in statements)
    # Every read of a version table's rows is narrowed by a snapshot or an interval (or reads open ones only).
    for statement in statements:
        for table in ("endpoint_versions", "model_versions", "endpoint_status"):
            for read in statement.split("UNION ALL"):
                if f"FROM {table}" in read and "count(*)" not in read:
                    assert "WHERE" in read, read
    assert_same_state(state.current, ApiState(history, Path("unused.duckdb")).current)


def test_the_mirror_gives_the_candidate_rows_the_store_gives(history: duckdb.DuckDBPyConnection) -> None:
    """The rank index re-reads the changed models' candidates from the mirror: the same rows, columns and order
    as ``queries.endpoint_candidates`` without its policy and telemetry columns, at every snapshot of the day
    and between two, for every model (an embeddings model too: its endpoints are no candidates)."""
    state = ApiState(history, Path("unused.duckdb"))
    mirror = state.current.mirror
    assert mirror is not None
    models = sorted(mirror.endpoints)
    for at in [*state.current.log.times[-3:], state.current.log.times[-1] - timedelta(minutes=30)]:
        stored = queries.endpoint_candidates(history, at, None, models=models, volatile=False)
        mine = mirror.candidates(at, models)
        assert stored.height > 0
        assert_frame_equal(mine, stored)
        one = [MODEL]
        assert_frame_equal(
            mirror.candidates(at, one),
            queries.endpoint_candidates(history, at, None, models=one, volatile=False),
        )
        # One model whole and a few endpoints of others (one whose model is also whole, one no candidate now).
        rows = stored.filter(pl.col("model_id") != MODEL).gather_every(40)
        keys = dict(zip(rows["endpoint_key"], rows["model_id"], strict=True))
        keys |= {f"{MODEL}@nowhere": MODEL, "nowhere/model@nowhere": "nowhere/model"}
        expected = stored.filter((pl.col("model_id") == MODEL) | pl.col("endpoint_key").is_in(list(keys)))
        assert 1 < rows.height < expected.height
        assert_frame_equal(mirror.candidates(at, one, keys), expected)
        # Models with no status rows (one unknown, those whose endpoints never had a status): none to join.
        bare = [*[m for m in models if m not in mirror.statuses][:3], "nowhere/model"]
        assert_frame_equal(
            mirror.candidates(at, bare), queries.endpoint_candidates(history, at, None, models=bare, volatile=False)
        )


def test_the_mirror_finds_the_endpoint_versions_starting_or_ending_between_two_instants_as_the_store(
    history: duckdb.DuckDBPyConnection,
) -> None:
    """The rank index's carry asks which endpoints' versions start or end between the two newest instants: the
    mirror answers the endpoint versions' part (``endpoints_changed``) with the keys the store's query gives."""
    state = ApiState(history, Path("unused.duckdb"))
    mirror = state.current.mirror
    assert mirror is not None
    times = state.current.log.times
    windows = [(times[-2], times[-1]), (times[-4] - timedelta(minutes=30), times[-1]), (times[0], times[-1])]
    windows += [(times[-1], times[-2]), (times[-1], times[-1])]
    found = 0
    for lo, hi in windows:
        models, keys = queries.candidate_keys(history, lo, hi)
        others, rest = queries.candidate_keys(history, lo, hi, endpoint_versions=False)
        mine = mirror.endpoints_changed(lo, hi)
        assert models == others
        assert {**mine, **rest} == keys
        found += len(mine)
    assert found > 0


def test_the_telemetry_that_moved_is_the_same_side_by_side_as_joined_by_key() -> None:
    """``_volatile_moved`` compares the rows side by side when both reads list the same keys in the same order
    (a sweep updates the telemetry rows in place), else joins them by key: either way the keys whose telemetry
    differs, a key on one side only counted as moved, nulls equal to nulls."""
    from catalog.api.state import _volatile_moved

    keys = [f"m/{i}@p" for i in range(6)]
    held = pl.DataFrame({"endpoint_key": keys, **{c: [1.0, None, 3.0, 4.0, None, 6.0] for c in ranker.TELEMETRY_READ}})
    column = ranker.TELEMETRY_READ[0]
    now = held.with_columns(
        pl.when(pl.col("endpoint_key").is_in([keys[1], keys[3]])).then(7.0).otherwise(pl.col(column)).alias(column)
    )
    policies = {"p": (True,)}
    same_order = _volatile_moved(({"p": (True,)}, held), policies, now)
    shuffled = _volatile_moved(({"p": (True,)}, held), policies, now.reverse())
    fewer = _volatile_moved(({"p": (True,)}, held), policies, now.filter(pl.col("endpoint_key") != keys[5]))
    assert same_order == shuffled == (set(), {keys[1], keys[3]})
    assert fewer == (set(), {keys[1], keys[3], keys[5]})
    assert _volatile_moved(({"p": (True,)}, held), policies, held) == (set(), set())


def test_a_provider_no_candidate_names_is_not_a_moved_policy() -> None:
    """``_volatile_moved`` compares the policies of the slugs the index holds (every slug of its candidates, null
    where no provider row named it): a provider only the sweep's read names has no candidate to lay it over (an
    index built whole holds its candidates' slugs only), one held null that a provider row now names has moved."""
    from catalog.api.state import _volatile_moved

    held = pl.DataFrame({"endpoint_key": ["m/a@p"], **{c: [1.0] for c in ranker.TELEMETRY_READ}})
    nulls = (None,) * len(queries.POLICY_COLUMNS)
    now = {"p": (True,) * len(queries.POLICY_COLUMNS), "q": (False,) * len(queries.POLICY_COLUMNS)}
    assert _volatile_moved(({"p": now["p"]}, held), now, held) == (set(), set())
    assert _volatile_moved(({"p": now["p"], "q": nulls}, held), now, held) == ({"q"}, set())
    assert _volatile_moved(({"p": now["p"], "r": nulls}, held), now, held) == (set(), set())
    assert _volatile_moved(({"p": nulls}, held), {}, held) == (set(), set())
    assert _volatile_moved(({"p": now["q"]}, held), {}, held) == ({"p"}, set())
