"""The bulk ingest stores exactly what the per-row ingest stored, table by table, on random sweeps.

``catalog.store.ingest`` compares a sweep with the open versions in SQL and writes in bulk; ``ingest_reference``
is the per-row code it replaced. Each seed stores one random run of sweeps — built from a recorded day and
moved by price changes, removals and reopenings, overrides, duplicate tags, telemetry- and status-only changes,
failed endpoint lists, facts upstream leaves out, skipped models and a suspicious drop — into two databases,
one per code path, and requires the same summaries and the same rows in every table after every sweep.
"""

from __future__ import annotations

import copy
import json
import random
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from unittest import mock

import duckdb
import ingest_reference
import polars as pl
import pyarrow as pa
import pytest

from catalog.bundle import Bundle
from catalog.openrouter.payload import ALL_KINDS, RawPayload, Sweep, assemble, endpoints_path
from catalog.store import ingest, open_versions
from catalog.store.db import connect, transaction
from catalog.store.ingest import SnapshotSummary, assign_endpoint_keys, record_snapshot
from catalog.store.migrations import MIGRATIONS, migrate

DAY = "2026-08-05"
COMPARED = (
    "model_versions",
    "endpoint_versions",
    "price_overrides",
    "endpoint_status",
    "endpoint_telemetry",
    "provider_versions",
    "endpoint_skus",
    "raw_payloads",
    "raw_blobs",
)


@contextmanager
def per_row() -> Iterator[None]:
    with mock.patch.multiple(
        ingest, _Versioner=ingest_reference._Versioner, _apply_history=ingest_reference._apply_history
    ):
        yield


def table(con: duckdb.DuckDBPyConnection, name: str) -> list[tuple[Any, ...]]:
    return con.execute(f"SELECT * FROM {name} ORDER BY ALL").fetchall()


def snapshots(con: duckdb.DuckDBPyConnection) -> list[tuple[Any, ...]]:
    # duration_ms is the wall time each run took: the one column that may differ
    return con.execute("SELECT * EXCLUDE (duration_ms) FROM snapshots ORDER BY ALL").fetchall()


class Market:
    """A small catalog from the recorded day that moves at random between sweeps."""

    def __init__(self, rng: random.Random) -> None:
        state = Bundle().load(DAY)
        self.rng = rng
        self.taken_at = state.info.taken_at
        listed = {m["id"]: m for m in state.models}
        with_overrides = [m for m in listed if (listed[m].get("pricing") or {}).get("overrides")]
        endpoint_overrides = [
            m for m, body in state.endpoints.items()
            if m in listed and any((e.get("pricing") or {}).get("overrides") for e in body.get("endpoints") or [])
        ]  # fmt: skip
        repeated = [
            m for m, body in state.endpoints.items()
            if m in listed and len({e["tag"] for e in body["endpoints"]}) < len(body["endpoints"])
        ]  # fmt: skip
        skus = [
            m for m, body in state.endpoints.items()
            if m in listed and any(e.get("pricing_skus") for e in body.get("endpoints") or [])
        ]  # fmt: skip
        chosen = set(rng.sample(sorted(listed), 14))
        chosen |= set(with_overrides[:3]) | set(endpoint_overrides[:3]) | set(repeated) | set(skus[:2])
        self.models = {m: copy.deepcopy(listed[m]) for m in sorted(chosen)}
        self.endpoints = {m: copy.deepcopy(state.endpoints[m]) for m in self.models if m in state.endpoints}
        self.providers = copy.deepcopy(state.providers)
        self.hidden_models: dict[str, dict[str, Any]] = {}
        self.hidden_endpoints: list[tuple[str, dict[str, Any]]] = []
        # Some endpoints first stored without the provider's model id, which a later sweep sends (filled in
        # place), and some that stop sending it (carried forward).
        for body in list(self.endpoints.values())[:4]:
            for e in body["endpoints"]:
                e.pop("provider_model_id", None)
        self.withheld = [m for m in list(self.endpoints)[:4]]

    def _any_endpoint(self) -> tuple[str, dict[str, Any]] | None:
        choices = [(m, e) for m, body in self.endpoints.items() if m in self.models for e in body["endpoints"]]
        return self.rng.choice(choices) if choices else None

    def move(self) -> None:
        for _ in range(self.rng.randint(1, 6)):
            self.move_once(self.rng.randrange(len(self.MOVES)))

    def move_once(self, what: int) -> None:
        getattr(self, self.MOVES[what])()

    MOVES = (
        "price_change", "endpoint_goes", "endpoint_returns", "model_goes", "model_returns", "telemetry_only",
        "status_change", "same_tag_twice", "model_prices", "provider_model_id_sent", "fact_left_out",
        "provider_changes",
    )  # fmt: skip

    def price_change(self) -> None:
        if picked := self._any_endpoint():
            price = Decimal(str(picked[1]["pricing"].get("prompt") or "0.000001"))
            picked[1]["pricing"]["prompt"] = format(price * Decimal(self.rng.choice(["1.1", "0.9"])), "f")

    def endpoint_goes(self) -> None:  # for now
        if picked := self._any_endpoint():
            model_id, e = picked
            self.endpoints[model_id]["endpoints"].remove(e)
            self.hidden_endpoints.append((model_id, e))

    def endpoint_returns(self) -> None:  # a new version under its old key
        if self.hidden_endpoints:
            model_id, e = self.hidden_endpoints.pop(self.rng.randrange(len(self.hidden_endpoints)))
            self.endpoints[model_id]["endpoints"].append(e)

    def model_goes(self) -> None:  # with its endpoints
        if len(self.models) > 8:
            model_id = self.rng.choice(sorted(self.models))
            self.hidden_models[model_id] = self.models.pop(model_id)

    def model_returns(self) -> None:
        if self.hidden_models:
            model_id = self.rng.choice(sorted(self.hidden_models))
            self.models[model_id] = self.hidden_models.pop(model_id)

    def telemetry_only(self) -> None:
        if picked := self._any_endpoint():
            e = picked[1]
            e["uptime_last_5m"] = self.rng.choice([None, 99.5, 87.25])
            e["latency_last_30m"] = {"p50": self.rng.randint(100, 900), "p90": self.rng.randint(900, 3000)}

    def status_change(self) -> None:  # endpoint_status opens a version, the prices do not
        if picked := self._any_endpoint():
            picked[1]["status"] = self.rng.choice([0, -1, -2])

    def same_tag_twice(self) -> None:  # a second endpoint under one tag, or the listed order flips
        if picked := self._any_endpoint():
            model_id, e = picked
            listing = self.endpoints[model_id]["endpoints"]
            if self.rng.random() < 0.5:
                twin = copy.deepcopy(e)
                twin["pricing"]["completion"] = format(Decimal(str(e["pricing"].get("completion") or 1)) * 2, "f")
                listing.insert(self.rng.choice([0, len(listing)]), twin)  # listed before the stored one, or after
            else:
                listing.reverse()

    def model_prices(self) -> None:  # an override's price, or a model's price
        model = self.models[self.rng.choice(sorted(self.models))]
        overrides = (model.get("pricing") or {}).get("overrides")
        if overrides:
            entry = overrides[self.rng.randrange(len(overrides))]
            for key in [k for k in entry if k in ("prompt", "completion")]:
                entry[key] = format(Decimal(str(entry[key])) * Decimal("1.5"), "f")
        elif model.get("pricing"):
            model["pricing"]["completion"] = format(Decimal(str(model["pricing"]["completion"])) + 1, "f")

    def provider_model_id_sent(self) -> None:  # stored without it: filled in, no new version
        if self.withheld:
            model_id = self.withheld.pop(0)
            for e in self.endpoints.get(model_id, {}).get("endpoints", []):
                e["provider_model_id"] = f"{model_id}-upstream"

    def fact_left_out(self) -> None:  # a field upstream stops sending: carried forward, no new version
        if picked := self._any_endpoint():
            picked[1].pop("supports_implicit_caching", None)

    def provider_changes(self) -> None:  # renamed or gone
        if self.providers:
            if self.rng.random() < 0.5:
                self.providers[self.rng.randrange(len(self.providers))]["name"] += " Inc"
            else:
                self.providers.pop(self.rng.randrange(len(self.providers)))

    def sweep(self, hour: int) -> Sweep:
        rng = self.rng
        models = list(self.models.values())
        if hour and rng.random() < 0.08:  # a suspicious drop: more than half the models missing
            models = models[: len(models) // 3]
        if rng.random() < 0.15:  # one entry unreadable: a skipped id, protected from removal
            broken = copy.deepcopy(rng.choice(models))
            broken["pricing"] = "garbage"
            models = [m for m in models if m["id"] != broken["id"]] + [broken]
        raw = [RawPayload("models", 200, json.dumps({"data": models}).encode())]
        raw.append(RawPayload("providers", 200, json.dumps({"data": self.providers}).encode()))
        failed = rng.choice(sorted(self.endpoints)) if rng.random() < 0.2 else None
        for model_id, body in self.endpoints.items():
            if model_id == failed:
                raw.append(RawPayload(endpoints_path(model_id), 503, None, "HTTP 503"))
            else:
                raw.append(RawPayload(endpoints_path(model_id), 200, json.dumps({"data": body}).encode()))
        return assemble(raw, taken_at=self.taken_at + timedelta(hours=hour), source="test", kinds=ALL_KINDS)


@pytest.mark.parametrize("seed", range(4))
def test_bulk_ingest_stores_what_the_per_row_ingest_stored(tmp_path: Path, seed: int) -> None:
    market = Market(random.Random(seed))
    bulk, rows = connect(tmp_path / "bulk.duckdb"), connect(tmp_path / "rows.duckdb")
    kinds_seen: set[str] = set()
    opened = closed = 0
    try:
        for hour in range(14):
            if hour:
                market.move()
            sweep = market.sweep(hour)
            ours = record_snapshot(bulk, sweep)
            with per_row():
                theirs = record_snapshot(rows, sweep)
            kinds_seen.add(ours.status)
            opened, closed = opened + ours.opened, closed + ours.closed

            def same(s: SnapshotSummary) -> tuple[Any, ...]:
                return (s.snapshot_id, s.status, s.models, s.endpoints, s.opened, s.closed, s.error_summary)

            assert same(ours) == same(theirs), hour
            assert snapshots(bulk) == snapshots(rows), hour
            for name in COMPARED:
                assert table(bulk, name) == table(rows, name), (hour, name)
        # the run exercised what it is meant to: versions opened after the first sweep, and closed
        assert opened > ours.opened and closed > 0
        assert table(bulk, "price_overrides") and table(bulk, "endpoint_skus")
        assert bulk.execute("SELECT count(*) FROM endpoint_versions WHERE endpoint_key LIKE '%#%'").fetchone() != (0,)
    finally:
        bulk.close()
        rows.close()


@pytest.mark.parametrize("seed", range(3))
def test_key_assignment_sees_the_open_versions_it_needs(tmp_path: Path, seed: int) -> None:
    """Reading back only the open versions under a numbered key (or a tag listed twice now) assigns every key
    as reading all of them does, including after a second endpoint under one tag came and went."""
    market = Market(random.Random(100 + seed))
    con = connect(tmp_path / "keys.duckdb")
    try:
        for hour in range(10):
            if hour:
                market.move()
                market.move_once(Market.MOVES.index("same_tag_twice"))
            sweep = market.sweep(hour)
            every = con.execute(
                "SELECT endpoint_key, model_id, tag, content_hash, pricing_text FROM endpoint_versions "
                "WHERE valid_to IS NULL"
            ).fetchall()
            keys, records, needed = ingest.sweep_endpoint_keys(con, ingest.open_endpoint_versions(con), sweep.endpoints)
            assert needed <= len(every)
            assert list(zip(keys, records, strict=True)) == ingest_reference.assign_endpoint_keys(
                sweep.endpoints, every
            )
            assert assign_endpoint_keys(sweep.endpoints, every) == ingest_reference.assign_endpoint_keys(
                sweep.endpoints, every
            )
            record_snapshot(con, sweep)
        assert con.execute("SELECT count(*) FROM endpoint_versions WHERE endpoint_key LIKE '%#%'").fetchone() != (0,)
    finally:
        con.close()


@pytest.mark.parametrize("seed", range(3))
def test_the_sweeps_columns_read_in_one_pass_follow_the_keyed_records(tmp_path: Path, seed: int) -> None:
    """The hashes, models and telemetry read in one pass in the sweep's order, then moved as key assignment
    moved the records (endpoints of one tag matched in another order), are each keyed record's own."""
    market = Market(random.Random(200 + seed))
    con = connect(tmp_path / "columns.duckdb")
    moved = 0
    try:
        for hour in range(10):
            if hour:
                market.move()
                market.move_once(Market.MOVES.index("same_tag_twice"))
                market.move_once(Market.MOVES.index("telemetry_only"))
            sweep = market.sweep(hour)
            read = ingest._SweepColumns.read(sweep.endpoints)
            assert read.bases == ingest.sweep_bases(sweep.endpoints)
            open_rows = open_versions.OpenRows.read(con, "endpoint_versions")
            keys, records, _, moves = ingest._sweep_endpoint_keys(con, open_rows, sweep.endpoints, read.bases)
            assert (keys, records) == ingest.sweep_endpoint_keys(con, open_rows, sweep.endpoints)[:2]
            moved += bool(moves)
            columns = read.moved(moves)
            assert columns.digests == [rec.content_hash for rec in records]
            assert columns.model_ids == [rec.model_id for rec in records]
            assert columns.absent == any(rec.absent for rec in records)
            for name, column in zip(ingest.TELEMETRY_VALUES, columns.telemetry, strict=True):
                metric, _, percentile = name.partition("_p")
                expected = [
                    (rec.live.get(f"{metric}_last_30m") or {}).get(f"p{percentile}")
                    if metric in ("latency", "throughput")
                    else rec.live.get(name)
                    for rec in records
                ]
                assert column == expected, (hour, name)
            record_snapshot(con, sweep)
        assert moved  # the run moved records: the case this is about
    finally:
        con.close()


def test_telemetry_updated_in_place_or_replaced_holds_the_sweeps_rows(tmp_path: Path) -> None:
    """Telemetry rows are updated in place when the sweep lists the endpoints the table holds for its models,
    each once; otherwise replaced. Either way the table is what deleting the sweep's models' rows and
    inserting the sweep's gives (the per-row code), including when the table holds rows of a model the sweep
    does not list, or of one it lists under a key it does not. A row twice the table refuses (its unique
    index), which the in-place check relies on."""
    market = Market(random.Random(5))
    bulk, rows = connect(tmp_path / "bulk.duckdb"), connect(tmp_path / "rows.duckdb")
    in_place: list[bool] = []
    checked = ingest._telemetry_rows_updated

    def spy(con: duckdb.DuckDBPyConnection, updated: int) -> bool:
        in_place.append(checked(con, updated))
        return in_place[-1]

    def store(hour: int) -> None:
        sweep = market.sweep(hour)
        with mock.patch.object(ingest, "_telemetry_rows_updated", spy):
            record_snapshot(bulk, sweep)
        with per_row():
            record_snapshot(rows, sweep)
        assert table(bulk, "endpoint_telemetry") == table(rows, "endpoint_telemetry"), hour

    try:
        market.rng = mock.Mock(random=lambda: 0.5)  # no suspicious drop, no broken entry, no failed list
        store(0)
        for hour in (1, 2):  # every endpoint's telemetry moves, the endpoints stay
            for body in market.endpoints.values():
                for n, e in enumerate(body["endpoints"]):
                    e["latency_last_30m"] = {"p50": 100 * hour + n, "p99": 1000 * hour + n}
                    e["uptime_last_1d"] = 90.0 + hour
            store(hour)
        assert in_place == [True, True]
        doubled = "INSERT INTO endpoint_telemetry SELECT * FROM endpoint_telemetry ORDER BY ALL LIMIT 1"
        for con in (bulk, rows):
            with pytest.raises(duckdb.ConstraintException):
                con.execute(doubled)
        stale = (
            "INSERT INTO endpoint_telemetry SELECT * REPLACE ('gone/model' AS model_id, 'gone/model@x' AS "
            "endpoint_key) FROM endpoint_telemetry ORDER BY ALL LIMIT 1"
        )
        missing = (
            "DELETE FROM endpoint_telemetry WHERE endpoint_key = (SELECT max(endpoint_key) FROM endpoint_telemetry)"
        )
        unlisted = (
            "INSERT INTO endpoint_telemetry SELECT * REPLACE (endpoint_key || '#9' AS endpoint_key) "
            "FROM endpoint_telemetry WHERE model_id <> 'gone/model' ORDER BY ALL LIMIT 1"
        )
        # a row of a model no more listed: updated in place all the same; a row missing: fewer rows updated than
        # the sweep has, replaced; a row of a listed model under a key the sweep does not list: as many rows
        # updated as the sweep has, but not all its models' rows, replaced; then in place again
        cases = [([stale], [True]), ([missing], []), ([unlisted], [False]), ([], [True])]
        for statements, moved in cases:
            in_place.clear()
            for statement in statements:
                bulk.execute(statement)
                rows.execute(statement)
            for body in market.endpoints.values():
                for e in body["endpoints"]:
                    e["uptime_last_1d"] = (e.get("uptime_last_1d") or 0) + 1
            store(3)
            assert in_place == moved, statements
        assert table(bulk, "endpoint_telemetry") == table(rows, "endpoint_telemetry")
        assert bulk.execute("SELECT count(*) FROM endpoint_telemetry WHERE model_id = 'gone/model'").fetchone() == (1,)
    finally:
        bulk.close()
        rows.close()


def test_steps_0007_0008_key_an_older_historys_telemetry_and_keep_its_rows(tmp_path: Path) -> None:
    """A history made before the telemetry's unique index gets it with every row as it was; a row held twice
    (none should be) keeps the copy stored last. Then the table refuses a row twice."""
    con = duckdb.connect(str(tmp_path / "old.duckdb"))
    try:
        con.execute(
            "CREATE TABLE schema_migrations "
            "(step INTEGER PRIMARY KEY, name VARCHAR NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
        )
        steps = [name for name, _ in MIGRATIONS].index("0007_endpoint_telemetry_once")
        for step, (name, apply) in enumerate(MIGRATIONS[:steps], start=1):
            apply(con)
            con.execute("INSERT INTO schema_migrations (step, name) VALUES (?, ?)", [step, name])
        insert = (
            "INSERT INTO endpoint_telemetry VALUES "
            "(?, ?, ?, TIMESTAMPTZ '2026-08-05 10:00:00+00', 0, 99.5, NULL, 98, 120, NULL, 300, 900, 50, NULL, 40, 30)"
        )
        for key, model, snapshot in [("a/m@x", "a/m", 1), ("a/m@y", "a/m", 1), ("b/m@x", "b/m", 2)]:
            con.execute(insert, [key, model, snapshot])
        con.execute(insert, ["a/m@x", "b/m", 3])  # the same key under another model: another row
        kept = table(con, "endpoint_telemetry")
        con.execute(insert, ["a/m@y", "a/m", 7])  # twice: the copy stored last stays
        assert migrate(con) == [name for name, _ in MIGRATIONS[steps:]]
        assert table(con, "endpoint_telemetry") == sorted(
            [r for r in kept if r[:2] != ("a/m@y", "a/m")]
            + [(*r[:2], 7, *r[3:]) for r in kept if r[:2] == ("a/m@y", "a/m")]
        )
        with pytest.raises(duckdb.ConstraintException):
            con.execute(insert, ["b/m@x", "b/m", 4])
    finally:
        con.close()


def carried_uses(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Whether each sweep from now on started from the open versions the last one left (else it read them)."""
    uses: list[bool] = []
    check = open_versions.Carry.check

    def spy(self: open_versions.Carry, found: Any) -> None:
        check(self, found)
        uses.append(self.previous is not None)

    monkeypatch.setattr(open_versions.Carry, "check", spy)
    return uses


def open_rows(rows: open_versions.OpenRows) -> list[tuple[Any, ...]]:
    n = len(rows.ids)
    no_id, numbered = rows.no_id or [None] * n, rows.numbered or [None] * n
    return sorted(zip(rows.ids, rows.keys, rows.digests, no_id, numbered, strict=True))


@pytest.mark.parametrize("seed", range(3))
def test_the_open_versions_carried_to_the_next_sweep_are_the_stored_ones(
    tmp_path: Path, seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After each sweep the open versions it carries to the next (and their fingerprint) are those a fresh read
    finds, on random sweeps (a fact filled in rewrites hashes in place: nothing is carried after it)."""
    market = Market(random.Random(200 + seed))
    uses = carried_uses(monkeypatch)
    con = connect(tmp_path / "carried.duckdb")
    carried = 0
    try:
        for hour in range(14):
            if hour:
                market.move()
            record_snapshot(con, market.sweep(hour))
            kept = open_versions.CARRIED.get(con)
            if kept is None:
                continue
            carried += 1
            found = con.execute(f"SELECT {open_versions.FINGERPRINT}").fetchall()[0]
            assert kept.fingerprint == tuple(tuple(map(int, part)) for part in found), hour
            for name, rows in kept.tables.items():
                assert open_rows(rows) == open_rows(open_versions.OpenRows.read(con, name)), (hour, name)
        assert carried >= 10 and sum(uses) >= 9  # the run carried, and started from what it carried
    finally:
        con.close()


Write = Callable[[duckdb.DuckDBPyConnection, Path, Sweep], duckdb.DuckDBPyConnection]


def _rederive(con: duckdb.DuckDBPyConnection, path: Path, _sweep: Sweep) -> duckdb.DuckDBPyConnection:
    from catalog.store.rebuild import rederive

    rederive(con)
    return con


def _sweep_on_a_cursor(con: duckdb.DuckDBPyConnection, path: Path, sweep: Sweep) -> duckdb.DuckDBPyConnection:
    cursor = con.cursor()
    record_snapshot(cursor, sweep)
    cursor.close()
    return con


_CLOSE_ONE = (
    "UPDATE endpoint_versions SET valid_to = last_seen "
    "WHERE version_id = (SELECT max(version_id) FROM endpoint_versions WHERE valid_to IS NULL)"
)


def _another_process(con: duckdb.DuckDBPyConnection, path: Path, _sweep: Sweep) -> duckdb.DuckDBPyConnection:
    # It can write only once this connection is closed (DuckDB locks the file): the next sweep opens another.
    con.close()
    script = f"import duckdb; duckdb.connect({str(path)!r}).execute({_CLOSE_ONE!r})"
    subprocess.run([sys.executable, "-c", script], check=True)
    return connect(path)


def _hash_rewritten_in_place(con: duckdb.DuckDBPyConnection, path: Path, _sweep: Sweep) -> duckdb.DuckDBPyConnection:
    # as a migration that changes how content is hashed would: every id stays, one version's hash moves
    con.execute(
        "UPDATE endpoint_versions SET content_hash = 'migrated' "
        "WHERE version_id = (SELECT min(version_id) FROM endpoint_versions WHERE valid_to IS NULL)"
    )
    return con


def _failed_sweep(con: duckdb.DuckDBPyConnection, path: Path, sweep: Sweep) -> duckdb.DuckDBPyConnection:
    # a sweep that wrote versions, then failed and rolled back
    with mock.patch.object(ingest, "_insert_skus", side_effect=RuntimeError("disk")), pytest.raises(RuntimeError):
        record_snapshot(con, sweep)
    return con


FOREIGN_WRITES: dict[str, Write] = {
    "rederive": _rederive,
    "sweep on another cursor": _sweep_on_a_cursor,
    "another process": _another_process,
    "hash rewritten in place": _hash_rewritten_in_place,
    "failed sweep": _failed_sweep,
}


def store(con: duckdb.DuckDBPyConnection, sweep: Sweep, uses: list[bool]) -> bool:
    """Record ``sweep``; whether it started from the open versions the last sweep on ``con`` carried."""
    del uses[:]
    record_snapshot(con, sweep)
    return uses == [True]


@pytest.mark.parametrize("case", sorted(FOREIGN_WRITES))
def test_a_write_between_sweeps_makes_the_next_read_the_open_versions_again(
    tmp_path: Path, case: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Any write between two sweeps that the carried open versions do not know of sends the next sweep back to
    reading them, and it stores what a sweep that always reads them stores; the sweep after it carries again."""
    write = FOREIGN_WRITES[case]
    market = Market(random.Random(300))
    market.rng = mock.Mock(random=lambda: 0.5, choice=random.Random(1).choice)
    uses = carried_uses(monkeypatch)
    paths = tmp_path / "carried.duckdb", tmp_path / "read.duckdb"
    carried, read = connect(paths[0]), connect(paths[1])
    started: list[bool] = []
    try:
        for hour in range(6):
            if hour:
                market.move_once(Market.MOVES.index("price_change"))
            sweep = market.sweep(hour)
            if hour == 3:
                carried, read = (write(con, path, sweep) for con, path in zip((carried, read), paths, strict=True))
            started.append(store(carried, sweep, uses))
            open_versions.CARRIED.pop(read, None)  # this one reads them every time
            record_snapshot(read, sweep)
            assert snapshots(carried) == snapshots(read), (case, hour)
            for name in COMPARED:
                assert table(carried, name) == table(read, name), (case, hour, name)
        assert started == [False, True, True, False, True, True], case
    finally:
        carried.close()
        read.close()


def test_a_dry_run_between_sweeps_leaves_the_carried_open_versions_in_use(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A sweep applied and rolled back (a dry run) changes nothing: the next sweep still starts from what the last
    one carried, and stores what a sweep that reads the open versions stores."""
    market = Market(random.Random(301))
    market.rng = mock.Mock(random=lambda: 0.5, choice=random.Random(1).choice)
    uses = carried_uses(monkeypatch)
    carried, read = connect(tmp_path / "carried.duckdb"), connect(tmp_path / "read.duckdb")
    started: list[bool] = []
    try:
        for hour in range(4):
            if hour:
                market.move_once(Market.MOVES.index("price_change"))
            sweep = market.sweep(hour)
            if hour == 2:  # on both: a rolled-back nextval is not given back
                for con in (carried, read):
                    with transaction(con, commit=False):
                        ingest.apply_snapshot(con, sweep)
            started.append(store(carried, sweep, uses))
            open_versions.CARRIED.pop(read, None)
            record_snapshot(read, sweep)
            for name in COMPARED:
                assert table(carried, name) == table(read, name), (hour, name)
        assert started == [False, True, True, True]
    finally:
        carried.close()
        read.close()


def test_rows_are_inserted_with_the_exact_values_and_types_the_cast_frame_stored(tmp_path: Path) -> None:
    """``insert_rows`` builds its Arrow columns in the table's types directly; the rows it stores are those the
    frame inferred from the dicts and cast to the table's types (its earlier path) stores, and a price that does
    not fit ``DECIMAL(38,30)`` exactly fails rather than being rounded."""
    rows: list[dict[str, Any]] = [
        {
            "entity": "endpoint",
            "version_id": 7,
            "ordinal": n,
            "min_prompt_tokens": 200_000 if n else None,
            "dynamic": bool(n),
            "price_prompt": price,
            "price_completion": Decimal("99999999.999999999999999999999999999999") if n else None,
        }
        for n, price in enumerate(
            (Decimal("0.00000008333333333333334"), Decimal("1E-30"), Decimal("2.500000000000000000000000000000000"))
        )
    ]
    arrow, cast = connect(tmp_path / "arrow.duckdb"), connect(tmp_path / "cast.duckdb")
    try:
        ingest.insert_rows(arrow, "price_overrides", rows)
        columns = [name for name, *_ in cast.execute("DESCRIBE price_overrides").fetchall()]
        frame = pl.DataFrame([{c: row.get(c) for c in columns} for row in rows], infer_schema_length=None)
        target = cast.sql("SELECT * FROM price_overrides LIMIT 0").pl().schema
        cast.register("_incoming", frame.cast(target, strict=True))
        cast.execute("INSERT INTO price_overrides SELECT * FROM _incoming")
        assert table(arrow, "price_overrides") == table(cast, "price_overrides")
        stored = arrow.execute("SELECT price_prompt FROM price_overrides ORDER BY ordinal").fetchall()
        assert [price for (price,) in stored] == [row["price_prompt"] for row in rows]
        too_fine = {**rows[0], "ordinal": 9, "price_prompt": Decimal("1E-31")}
        with pytest.raises(pa.ArrowInvalid):
            ingest.insert_rows(arrow, "price_overrides", [too_fine])
    finally:
        arrow.close()
        cast.close()


def test_the_sweeps_one_scan_of_the_snapshot_log_answers_what_its_three_subqueries_did(tmp_path: Path) -> None:
    """A new sweep reads the newest good snapshot's time, the next id and the previous model count in one scan;
    on logs with failed snapshots, ties in time, counts left out and none at all, it answers what a subquery
    each answered."""
    old = (
        "SELECT (SELECT max(taken_at) FROM snapshots WHERE status <> 'failed'), "
        "(SELECT coalesce(max(snapshot_id), 0) + 1 FROM snapshots), "
        "(SELECT models_count FROM snapshots WHERE status <> 'failed' AND models_count IS NOT NULL "
        "ORDER BY taken_at DESC, snapshot_id DESC LIMIT 1)"
    )
    rng = random.Random(11)
    con = connect(tmp_path / "log.duckdb")
    try:
        start = Bundle().get(DAY).taken_at
        answers = []
        for snapshot_id in range(1, 41):
            answers.append(con.execute(old).fetchall()[0])
            assert con.execute(ingest._SWEEP_START).fetchall()[0] == answers[-1], snapshot_id
            con.execute(
                "INSERT INTO snapshots (snapshot_id, taken_at, started_at, source, kinds, status, models_count) "
                "VALUES (?, ?, ?, 'test', 'models', ?, ?)",
                [
                    snapshot_id,
                    start + timedelta(hours=rng.choice((snapshot_id // 2, snapshot_id // 3))),  # ties, and older
                    start,
                    rng.choice(("ok", "partial", "failed", "suspicious")),
                    rng.choice((None, rng.randrange(100, 400))),
                ],
            )
        assert len({a[2] for a in answers}) > 3 and any(a[0] is None for a in answers)  # the cases happened
    finally:
        con.close()
