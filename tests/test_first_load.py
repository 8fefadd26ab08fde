"""The direct bundle load (``catalog up``'s first load, ``catalog replay --direct``) against the over-HTTP replay.

Both must leave the same history, table by table: every row of every table, in order, hashed — version ids
included, since both ingest the same snapshots in the same order. Ignored, and only these:

* ``snapshots.duration_ms``: the wall time a snapshot took (fetch plus store), a measurement, not data;
* ``schema_migrations.applied_at``: when the empty file was created;
* ``job_runs``: the scheduler's run log, which neither load writes (it must stay empty in both).
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import json
import threading
from pathlib import Path
from typing import Any

import duckdb
import pytest
from helpers import run_cli

from catalog.bundle import Bundle, SnapshotInfo
from catalog.errors import SweepInterrupted
from catalog.fake import FakeOpenRouter, Faults, MemorySource, ServedDay, memory_day, serve_in_thread
from catalog.openrouter.fetch import fetch_sweep
from catalog.openrouter.payload import ALL_KINDS, RawPayload
from catalog.replay import KINDS_FOR, SCOPE_FOR, ReplayStep, bundled_sweep, load_bundle, recorded_sweep, replay
from catalog.settings import FetchSettings
from catalog.store.archive import archive_payloads, load_payloads
from catalog.store.db import connect

# Columns that legitimately differ between two loads of the same snapshots (see the module docstring).
IGNORED = {"snapshots": ["duration_ms"], "schema_migrations": ["applied_at"]}
UNWRITTEN = {"job_runs"}
HISTORY = {
    "snapshots",
    "model_versions",
    "endpoint_versions",
    "endpoint_status",
    "endpoint_telemetry",
    "provider_versions",
    "price_overrides",
    "raw_blobs",
    "raw_payloads",
}


def table_digests(con: duckdb.DuckDBPyConnection) -> dict[str, tuple[int, str]]:
    """Every table of the history: its row count and a sha256 of its rows in order (``ORDER BY ALL``)."""
    tables = [r[0] for r in con.execute("SELECT table_name FROM duckdb_tables() ORDER BY 1").fetchall()]
    out = {}
    for table in tables:
        if table in UNWRITTEN:
            assert con.execute(f"SELECT count(*) FROM {table}").fetchall() == [(0,)], table
            continue
        exclude = f" EXCLUDE ({', '.join(IGNORED[table])})" if table in IGNORED else ""
        rows = con.execute(f"SELECT *{exclude} FROM {table} ORDER BY ALL").fetchall()
        out[table] = (len(rows), hashlib.sha256(repr(rows).encode()).hexdigest())
    return out


def step_facts(steps: list[ReplayStep]) -> list[tuple[Any, ...]]:
    return [
        (s.info.id, s.summary.snapshot_id, s.summary.status, s.summary.opened, s.summary.closed)
        if s.summary
        else (s.info.id, None)
        for s in steps
    ]


def both_ways(tmp_path: Path, bundle: Bundle, snapshots: list[SnapshotInfo]) -> tuple[dict[str, Any], ...]:
    results = []
    for name, load in (("http", replay), ("direct", load_bundle)):
        con = connect(tmp_path / f"{name}.duckdb")
        try:
            steps = load(con, bundle, snapshots)
            results.append({"steps": step_facts(steps), "tables": table_digests(con)})
        finally:
            con.close()
    return tuple(results)


def few_days(bundle: Bundle) -> list[SnapshotInfo]:
    """The last model-only list, then the first two full days: a models-only snapshot, the first endpoints and
    providers, and a day of price changes, openings and closings."""
    models_only = bundle.snapshots("models")[-1:]
    return models_only + bundle.snapshots("full")[:2]


@pytest.mark.slow  # a few seconds: three snapshots over HTTP and again directly
def test_direct_load_and_http_replay_leave_identical_tables_for_a_few_days(tmp_path: Path, bundle: Bundle) -> None:
    over_http, direct = both_ways(tmp_path, bundle, few_days(bundle))
    # The days really changed the history: versions opened on each, some closed on the second full day.
    assert all(step[3] > 0 for step in direct["steps"]) and direct["steps"][-1][4] > 0
    assert direct["steps"] == over_http["steps"]
    assert direct["tables"].keys() == over_http["tables"].keys() >= HISTORY
    differing = [t for t in direct["tables"] if direct["tables"][t] != over_http["tables"][t]]
    assert differing == []
    assert all(count > 0 for count, _ in direct["tables"].values())


def test_direct_load_of_every_bundled_snapshot_equals_the_replayed_history(
    replayed_all_template: Path, tmp_path: Path, bundle: Bundle
) -> None:
    # The replay over HTTP of every snapshot is built once per run (conftest) and only read here.
    replayed = connect(replayed_all_template, read_only=True)
    try:
        over_http = table_digests(replayed)
    finally:
        replayed.close()
    con = connect(tmp_path / "direct.duckdb")
    try:
        steps = load_bundle(con, bundle, bundle.snapshots())
        direct = table_digests(con)
    finally:
        con.close()
    assert len(steps) == len(bundle.snapshots()) and all(s.summary for s in steps)
    assert {t: direct[t] for t in direct if direct[t] != over_http.get(t)} == {}
    assert direct.keys() == over_http.keys()


def fetched(served_by: FakeOpenRouter, kinds: frozenset[str], scope: str) -> list[RawPayload]:
    with serve_in_thread(served_by) as url:
        return asyncio.run(fetch_sweep(FetchSettings(base_url=url), kinds=kinds, scope=scope)).raw


@pytest.mark.parametrize("kind", ["models", pytest.param("full", marks=pytest.mark.slow)])  # full: 340 requests
def test_the_direct_payloads_are_the_bytes_the_fetcher_gets_from_the_fake(bundle: Bundle, kind: str) -> None:
    info = bundle.snapshots(kind)[-1]
    over_http = fetched(FakeOpenRouter(bundle, day=info.id), KINDS_FOR[info.kind], SCOPE_FOR[info.kind])
    direct = bundled_sweep(bundle, info)
    # Same paths in the same order, same statuses, byte-identical bodies.
    assert direct.raw == over_http
    assert direct.source == f"replay:{info.id}" and direct.taken_at == info.taken_at
    # a full day: /models?output_modalities=all, the 3 kinds' lists, /providers, every listed model's endpoints
    more = len(bundle.load(info.id).more_models)
    assert len(direct.raw) == (1 if kind == "models" else 5 + info.models + more)


def test_a_model_id_the_fetcher_refuses_to_request_fails_the_same_way_directly() -> None:
    listed = {"id": "acme/../alpha", "name": "Alpha", "pricing": {"prompt": "0.000001", "completion": "0.000002"}}
    fine = {"id": "acme/beta", "name": "Beta", "pricing": {"prompt": "0.000001", "completion": "0.000002"}}
    day = memory_day("2026-07-17", [listed, fine], {}, [])
    source = MemorySource([day])
    over_http = fetched(FakeOpenRouter(source), ALL_KINDS, "all")
    direct = recorded_sweep(
        ServedDay.build(day, Faults()), kinds=ALL_KINDS, taken_at=day.info.taken_at, source="memory"
    )
    assert direct.raw == over_http
    refused = [p for p in direct.raw if p.error]
    assert len(refused) == 1 and "dot path segment" in (refused[0].error or "")
    assert list(direct.endpoint_failures) == ["acme/../alpha"] and list(direct.endpoints) == ["acme/beta"]


def test_the_bulk_archive_stores_each_body_once_and_every_payload_row(tmp_path: Path) -> None:
    body = json.dumps({"data": []}).encode()
    payloads = [
        RawPayload("models", 200, body),
        RawPayload("providers", 200, body),  # the same bytes: one blob
        RawPayload("models/acme/x/endpoints", 503, None, "GET … answered 503"),
        RawPayload("models/acme/y/endpoints", None, None, "refused"),
    ]
    con = connect(tmp_path / "archive.duckdb")
    try:
        con.execute("BEGIN TRANSACTION")
        stored = archive_payloads(con, 7, payloads)
        again = archive_payloads(con, 8, payloads[:2])  # a later snapshot with a known body adds no blob
        con.execute("COMMIT")
        blobs = con.execute("SELECT sha256, size_bytes, gzip_body FROM raw_blobs").fetchall()
        rows = con.execute("SELECT * FROM raw_payloads ORDER BY snapshot_id, path").fetchall()
        back = load_payloads(con, 7)
    finally:
        con.close()
    digest = hashlib.sha256(body).hexdigest()
    assert blobs == [(digest, len(body), gzip.compress(body, compresslevel=6, mtime=0))]
    assert stored == len(blobs[0][2]) and again == 0
    assert rows == [
        (7, "models", 200, digest, None),
        (7, "models/acme/x/endpoints", 503, None, "GET … answered 503"),
        (7, "models/acme/y/endpoints", None, None, "refused"),
        (7, "providers", 200, digest, None),
        (8, "models", 200, digest, None),
        (8, "providers", 200, digest, None),
    ]
    assert back == sorted(payloads, key=lambda p: p.path)


def test_catalog_replay_direct_loads_the_chosen_days_and_skips_them_the_second_time(
    isolated_data: Path, bundle: Bundle
) -> None:
    first = bundle.snapshots("full")[0]
    args = ("replay", "--direct", "--from", first.id, "--to", first.id, "--json")
    ran = run_cli(*args)
    assert ran.returncode == 0, ran.stderr
    (loaded,) = json.loads(ran.stdout)
    assert (loaded["id"], loaded["skipped"], loaded["status"]) == (first.id, False, "ok")
    assert loaded["versions_opened"] > 1000 and loaded["endpoints"] == first.endpoints
    again = json.loads(run_cli(*args).stdout)
    assert [r["skipped"] for r in again] == [True]
    con = connect(isolated_data, read_only=True)
    try:
        stored = con.execute("SELECT source, count(*) FROM raw_payloads JOIN snapshots USING (snapshot_id) GROUP BY 1")
        sources = stored.fetchall()
    finally:
        con.close()
    # Labelled as a replayed recording (not live), with every payload archived.
    assert sources == [(f"replay:{first.id}", 5 + first.models + len(bundle.load(first.id).more_models))]


def test_a_stop_during_the_direct_load_keeps_every_stored_snapshot_and_the_next_load_goes_on(
    isolated_data: Path, bundle: Bundle
) -> None:
    chosen = bundle.snapshots("models")[:3]
    stop = threading.Event()
    con = connect(isolated_data)
    try:
        with pytest.raises(SweepInterrupted, match="every snapshot stored so far is complete"):
            load_bundle(con, bundle, chosen, on_step=lambda _step: stop.set(), stop=stop)
        assert con.execute("SELECT source FROM snapshots").fetchall() == [(f"replay:{chosen[0].id}",)]
        rest = load_bundle(con, bundle, chosen)
    finally:
        con.close()
    assert [s.summary is None for s in rest] == [True, False, False]
