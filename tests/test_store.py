"""Store rules: migrations, idempotent re-ingest, time order, stable endpoint keys, rederive, as-of edges, locks.

Snapshots reach the store the way they do in production: swept over real HTTP from the fake OpenRouter on
loopback (hand-made days where exact rows matter, the recorded bundle where scale does).
"""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest
from helpers import run_process

from catalog.bundle import Bundle
from catalog.errors import SnapshotOrderError, StoreError, StoreLockedError
from catalog.fake import FakeOpenRouter, MemoryDay, MemorySource, memory_day, serve_in_thread
from catalog.openrouter.fetch import fetch_sweep
from catalog.pipeline import rederive, sync_once
from catalog.prices import canonical
from catalog.replay import replay
from catalog.settings import FetchSettings
from catalog.store import queries
from catalog.store.db import connect
from catalog.store.ingest import SnapshotSummary, record_snapshot
from catalog.store.migrations import MIGRATIONS, migrate
from catalog.times import parse_instant

VERSIONED = ("model_versions", "endpoint_versions", "endpoint_status", "provider_versions")
TABLES = {
    "schema_migrations", "snapshots", "model_versions", "endpoint_versions", "price_overrides", "endpoint_status",
    "endpoint_telemetry", "provider_versions", "raw_blobs", "raw_payloads", "job_runs", "catalog_meta", "endpoint_skus",
}  # fmt: skip
PROVIDERS = [{"name": "Together", "slug": "together", "privacy_policy_url": None, "terms_of_service_url": None,
              "status_page_url": None}]  # fmt: skip


# --- hand-made days ----------------------------------------------------------------------------------------


def model(model_id: str, prompt: str, completion: str) -> dict[str, Any]:
    return {
        "id": model_id, "canonical_slug": model_id, "name": model_id.upper(), "created": 1784000000,
        "context_length": 131072,
        "architecture": {"modality": "text->text", "input_modalities": ["text"], "output_modalities": ["text"],
                         "tokenizer": "Other", "instruct_type": None},
        "pricing": {"prompt": prompt, "completion": completion},
        "supported_parameters": ["max_tokens"],
    }  # fmt: skip


def endpoint(model_id: str, tag: str, prompt: str, completion: str, quantization: str = "fp8") -> dict[str, Any]:
    return {
        "name": f"Together | {model_id}", "model_id": model_id, "model_name": model_id.upper(),
        "context_length": 131072, "pricing": {"prompt": prompt, "completion": completion, "discount": 0},
        "provider_name": "Together", "tag": tag, "quantization": quantization, "max_completion_tokens": 8192,
        "max_prompt_tokens": None, "supported_parameters": ["max_tokens"], "status": 0,
    }  # fmt: skip


def listing(model_id: str, *endpoints: dict[str, Any]) -> dict[str, Any]:
    return {"id": model_id, "name": model_id.upper(), "created": 1784000000, "description": "",
            "architecture": {"modality": "text->text"}, "endpoints": list(endpoints)}  # fmt: skip


def day_of(day: str, prices: dict[str, tuple[str, str]]) -> MemoryDay:
    """A full day: each model listed at ``prices`` with two endpoints at the same prices."""
    models = [model(m, p, c) for m, (p, c) in prices.items()]
    endpoints = {
        m: listing(m, endpoint(m, "deepinfra", p, c), endpoint(m, "together", p, c)) for m, (p, c) in prices.items()
    }
    return memory_day(day, models, endpoints, PROVIDERS)


def sweep_into(con: duckdb.DuckDBPyConnection, url: str, taken_at: datetime) -> SnapshotSummary:
    settings = FetchSettings(base_url=url, concurrency=8, max_attempts=2, backoff_base=0.01)
    return record_snapshot(con, asyncio.run(fetch_sweep(settings, taken_at=taken_at)))


def rows(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
    return con.execute(sql, params or []).fetchall()


def everything(con: duckdb.DuckDBPyConnection) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table."""
    return {t: rows(con, f"SELECT * FROM {t} ORDER BY ALL") for t in sorted(TABLES)}


# --- 1. migrations -----------------------------------------------------------------------------------------


def test_migrations_from_an_empty_file_create_every_table_and_record_each_step_once(tmp_path: Path) -> None:
    path = tmp_path / "history.duckdb"
    con = connect(path)
    try:
        tables = {r[0] for r in rows(con, "SELECT table_name FROM information_schema.tables")}
        assert tables == TABLES
        assert rows(con, "SELECT sequence_name FROM duckdb_sequences() ORDER BY 1") == [
            ("job_run_id_seq",),
            ("version_id_seq",),
        ]
        expected = [(step, name) for step, (name, _) in enumerate(MIGRATIONS, start=1)]
        assert rows(con, "SELECT step, name FROM schema_migrations ORDER BY step") == expected
        assert len({name for _, name in expected}) == len(expected)
        assert migrate(con) == []
        assert rows(con, "SELECT step, name FROM schema_migrations ORDER BY step") == expected
    finally:
        con.close()
    con = connect(path)  # a writer migrates on open: nothing left to do
    try:
        assert rows(con, "SELECT step, name FROM schema_migrations ORDER BY step") == expected
    finally:
        con.close()
    connect(path, read_only=True).close()  # a reader accepts the migrated file


def test_read_only_connect_to_a_missing_file_names_the_path_and_the_fix(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.duckdb"
    with pytest.raises(StoreError) as caught:
        connect(missing, read_only=True)
    message = str(caught.value)
    assert str(missing) in message
    assert "catalog replay" in message and "--db" in message
    assert not missing.exists(), "a reader must not create the file it could not find"


# --- 2. identical state again ------------------------------------------------------------------------------


@pytest.mark.slow  # several seconds on its own
def test_reingesting_the_identical_state_adds_no_versions_and_moves_last_seen(
    isolated_data: Path, bundle: Bundle
) -> None:
    day = bundle.snapshots("full")[0]
    con = connect(isolated_data)
    try:

        def versions_but_sightings() -> dict[str, list[tuple[Any, ...]]]:
            return {
                t: rows(con, f"SELECT * EXCLUDE (last_seen, last_snapshot) FROM {t} ORDER BY ALL") for t in VERSIONED
            }

        (first,) = replay(con, bundle, [day])
        assert first.summary is not None and first.summary.status == "ok"
        before = versions_but_sightings()
        assert all(before.values())
        assert [s.summary for s in replay(con, bundle, [day])] == [None]  # already stored: skipped

        (again,) = replay(con, bundle, [day], force=True)
        assert again.summary is not None
        assert (again.summary.status, again.summary.opened, again.summary.closed) == ("ok", 0, 0)
        assert versions_but_sightings() == before
        for table in VERSIONED:  # every open version was seen again by the forced snapshot
            assert rows(con, f"SELECT DISTINCT last_snapshot, last_seen FROM {table} WHERE valid_to IS NULL") == [
                (again.summary.snapshot_id, day.taken_at)
            ], table

        later = day.taken_at + timedelta(hours=6)
        with serve_in_thread(FakeOpenRouter(bundle, day=day.id)) as url:
            summary = sync_once(con, FetchSettings(base_url=url, concurrency=16), taken_at=later)
        assert (summary.status, summary.opened, summary.closed) == ("ok", 0, 0)
        assert versions_but_sightings() == before
        for table in VERSIONED:
            assert rows(con, f"SELECT DISTINCT last_seen FROM {table} WHERE valid_to IS NULL") == [(later,)], table
        assert rows(con, "SELECT count(*), sum(versions_opened) FROM snapshots") == [(3, first.summary.opened)]
    finally:
        con.close()


# --- 3. time order -----------------------------------------------------------------------------------------


def test_an_older_snapshot_is_refused_with_a_clear_message_and_nothing_written(isolated_data: Path) -> None:
    d17 = day_of("2026-07-17", {"acme/alpha": ("0.000001", "0.000002")})
    d18 = day_of("2026-07-18", {"acme/alpha": ("0.000002", "0.000004")})
    fake = FakeOpenRouter(MemorySource([d17, d18]), day="2026-07-18")
    con = connect(isolated_data)
    try:
        with serve_in_thread(fake) as url:
            assert sweep_into(con, url, d18.info.taken_at).status == "ok"
            before = everything(con)
            fake.set_day("2026-07-17")
            with pytest.raises(SnapshotOrderError) as caught:
                sweep_into(con, url, d17.info.taken_at)
        message = str(caught.value)
        assert "2026-07-17T12:00:00+00:00" in message and "2026-07-18T12:00:00+00:00" in message
        assert "time order" in message and "rederive" in message
        assert everything(con) == before
        assert rows(con, "SELECT 1") == [(1,)]  # the failed transaction was rolled back, the connection is fine
    finally:
        con.close()


# --- 4. endpoint keys --------------------------------------------------------------------------------------


def test_endpoints_sharing_a_tag_keep_their_keys_and_only_the_changed_one_gets_a_version(
    isolated_data: Path,
) -> None:
    # Upstream sometimes lists two endpoints of one provider under one tag. The changed one is listed first on
    # the third day: matching by position would hand it the other's key.
    alpha = "acme/alpha"
    cheap = endpoint(alpha, "together", "0.000001", "0.000002", "fp8")
    dear = endpoint(alpha, "together", "0.0000012", "0.0000024", "fp16")
    dearer = endpoint(alpha, "together", "0.0000015", "0.0000024", "fp16")
    days = [
        memory_day(day, [model(alpha, "0.000001", "0.000002")], {alpha: listing(alpha, *eps)}, PROVIDERS)
        for day, eps in [("2026-07-17", [cheap, dear]), ("2026-07-18", [dear, cheap]), ("2026-07-19", [dearer, cheap])]
    ]
    fake = FakeOpenRouter(MemorySource(days), day="2026-07-17")
    con = connect(isolated_data)

    def endpoint_rows() -> list[tuple[Any, ...]]:
        return rows(
            con,
            "SELECT endpoint_key, version_id, quantization, price_prompt, valid_from, valid_to "
            "FROM endpoint_versions ORDER BY endpoint_key, valid_from",
        )

    try:
        with serve_in_thread(fake) as url:
            first = sweep_into(con, url, days[0].info.taken_at)
            t17 = days[0].info.taken_at
            on_17 = endpoint_rows()
            assert [(k, q) for k, _, q, *_ in on_17] == [(f"{alpha}@together", "fp8"), (f"{alpha}@together#2", "fp16")]

            fake.set_day("2026-07-18")
            second = sweep_into(con, url, days[1].info.taken_at)
            assert (second.opened, second.closed) == (0, 0)
            assert endpoint_rows() == on_17

            fake.set_day("2026-07-19")
            third = sweep_into(con, url, days[2].info.taken_at)
    finally:
        con.close()
    assert first.status == second.status == third.status == "ok"
    assert (third.opened, third.closed) == (1, 1)
    t19 = days[2].info.taken_at
    (cheap_v, dear_v) = on_17
    con = connect(isolated_data, read_only=True)
    try:
        after = endpoint_rows()
    finally:
        con.close()
    assert len(after) == 3
    assert after[0] == cheap_v and cheap_v[4:] == (t17, None)  # untouched: same version, open since the 17th
    assert after[1] == (*dear_v[:5], t19)  # the changed one's old version, closed at the 19th
    key, version_id, quantization, prompt, valid_from, valid_to = after[2]
    assert (key, quantization, prompt, valid_from, valid_to) == (
        f"{alpha}@together#2", "fp16", Decimal("0.0000015"), t19, None)  # fmt: skip
    assert version_id not in (cheap_v[1], dear_v[1])


# --- 5. rederive -------------------------------------------------------------------------------------------


def versions_without_ids(con: duckdb.DuckDBPyConnection) -> dict[str, list[tuple[Any, ...]]]:
    """The version tables with version ids left out; overrides named by their owner's key and valid_from."""
    out = {t: rows(con, f"SELECT * EXCLUDE (version_id) FROM {t} ORDER BY ALL") for t in VERSIONED}
    out["endpoint_telemetry"] = rows(con, "SELECT * FROM endpoint_telemetry ORDER BY ALL")
    out["price_overrides"] = rows(
        con,
        """SELECT o.* EXCLUDE (version_id), coalesce(m.model_id, e.endpoint_key), coalesce(m.valid_from, e.valid_from)
           FROM price_overrides o
           LEFT JOIN model_versions m ON o.entity = 'model' AND m.version_id = o.version_id
           LEFT JOIN endpoint_versions e ON o.entity = 'endpoint' AND e.version_id = o.version_id
           ORDER BY ALL""",
    )
    return out


def test_rederive_rebuilds_the_version_tables_the_live_replay_produced(replayed_db: Path) -> None:
    con = connect(replayed_db)
    try:
        live = versions_without_ids(con)
        assert all(live.values()) and not any(r[-2] is None for r in live["price_overrides"])
        snapshots = rows(con, "SELECT * EXCLUDE (duration_ms) FROM snapshots ORDER BY snapshot_id")
        (newest_id,) = con.execute("SELECT max(version_id) FROM model_versions").fetchone() or (None,)

        assert rederive(con) == 20

        assert versions_without_ids(con) == live
        assert rows(con, "SELECT * EXCLUDE (duration_ms) FROM snapshots ORDER BY snapshot_id") == snapshots
        # Really rebuilt, not left alone: every version has a fresh id.
        assert rows(con, "SELECT min(version_id) > ? FROM model_versions", [newest_id]) == [(True,)]
    finally:
        con.close()


# --- 6. as-of edges ----------------------------------------------------------------------------------------


@pytest.fixture
def two_days(isolated_data: Path) -> Iterator[Path]:
    """alpha and beta on the 17th (noon); on the 18th (noon) alpha costs double, beta is gone, gamma is new."""
    d17 = day_of("2026-07-17", {"acme/alpha": ("0.000001", "0.000002"), "acme/beta": ("0.0000005", "0.000001")})
    d18 = day_of("2026-07-18", {"acme/alpha": ("0.000002", "0.000004"), "acme/gamma": ("0.0000003", "0.0000009")})
    fake = FakeOpenRouter(MemorySource([d17, d18]), day="2026-07-17")
    con = connect(isolated_data)
    try:
        with serve_in_thread(fake) as url:
            assert sweep_into(con, url, d17.info.taken_at).status == "ok"
            fake.set_day("2026-07-18")
            assert sweep_into(con, url, d18.info.taken_at).status == "ok"
    finally:
        con.close()
    yield isolated_data


@pytest.mark.slow  # seconds, not milliseconds: left out of make test-fast
def test_as_of_between_snapshots_is_the_earlier_state_and_at_a_snapshot_its_own(two_days: Path) -> None:
    # Through the CLI, four processes side by side: between the two snapshots, and exactly at the second.
    asks = {
        "models-between": ["models", "--as-of", "2026-07-18T00:00:00Z"],
        "models-at-second": ["models", "--as-of", "2026-07-18T12:00:00Z"],
        "alpha-between": ["endpoints", "acme/alpha", "--as-of", "2026-07-18T00:00:00Z"],
        "alpha-at-second": ["endpoints", "acme/alpha", "--as-of", "2026-07-18T12:00:00Z"],
    }
    running = {
        name: subprocess.Popen(
            [sys.executable, "-m", "catalog", *args, "--json", "--db", str(two_days)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name, args in asks.items()
    }
    answers = {}
    for name, proc in running.items():
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, (name, err)
        answers[name] = json.loads(out)
    earlier = [("acme/alpha", "0.000001"), ("acme/beta", "0.0000005")]
    assert [(m["model_id"], m["price_prompt"]) for m in answers["models-between"]] == earlier
    assert [(m["model_id"], m["price_prompt"]) for m in answers["models-at-second"]] == [
        ("acme/alpha", "0.000002"), ("acme/gamma", "0.0000003")]  # fmt: skip
    assert [(e["tag"], e["price_prompt"]) for e in answers["alpha-between"]["endpoints"]] == [
        ("deepinfra", "0.000001"), ("together", "0.000001")]  # fmt: skip
    assert [(e["tag"], e["price_prompt"]) for e in answers["alpha-at-second"]["endpoints"]] == [
        ("deepinfra", "0.000002"), ("together", "0.000002")]  # fmt: skip

    # The edges, in-process (the same queries the CLI runs): valid_from inclusive, valid_to exclusive.
    con = connect(two_days, read_only=True)
    try:

        def listed(at: str) -> list[tuple[str, str]]:
            frame = queries.models_as_of(con, parse_instant(at))
            return [(m["model_id"], canonical(m["price_prompt"])) for m in frame.iter_rows(named=True)]

        assert listed("2026-07-17T11:59:59.999999Z") == []
        assert listed("2026-07-17T12:00:00Z") == earlier
        assert listed("2026-07-18T11:59:59.999999Z") == earlier
        assert listed("2026-07-18T12:00:00Z") == [("acme/alpha", "0.000002"), ("acme/gamma", "0.0000003")]
        assert queries.endpoints_as_of(con, "acme/beta", parse_instant("2026-07-18T11:59:59.999999Z")).height == 2
        assert queries.endpoints_as_of(con, "acme/beta", parse_instant("2026-07-18T12:00:00Z")).height == 0
    finally:
        con.close()


# --- 7. one writer -----------------------------------------------------------------------------------------

HOLD_SCRIPT = """
import sys, time
from pathlib import Path
from catalog.store.db import connect
con = connect(Path(sys.argv[1]))
print("holding", flush=True)
time.sleep(120)
"""


def test_a_second_process_gets_a_one_line_lock_error_not_a_traceback(isolated_data: Path) -> None:
    connect(isolated_data).close()
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_SCRIPT, str(isolated_data)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "holding\n"
        out = run_process("models", "--db", str(isolated_data), timeout=120)  # a second process
        assert out.returncode == 2, out.stderr
        assert out.stdout == "" and "Traceback" not in out.stderr
        lines = out.stderr.strip().splitlines()
        assert len(lines) == 1, lines
        assert lines[0].startswith(f"error: the database {isolated_data} is in use by another process")
        assert "lock" in lines[0].lower() and "Stop that process" in lines[0] and "--db / CATALOG_DB" in lines[0]
        for read_only in (True, False):  # a reader and a writer get the same error
            with pytest.raises(StoreLockedError, match="in use by another process"):
                connect(isolated_data, read_only=read_only)
    finally:
        holder.kill()
        holder.communicate(timeout=30)
    assert holder.returncode == -signal.SIGKILL


def test_duplicate_tags_that_both_change_another_field_and_swap_order_keep_their_prices() -> None:
    """Two `together` endpoints of one model: listed order flips and both change context the same day.

    Matching them by listed order alone would swap their keys and invent two price changes.
    """
    from catalog.openrouter.records import parse_endpoint
    from catalog.store.ingest import _pricing_text, assign_endpoint_keys

    def endpoint(prompt: str, context: int) -> dict[str, object]:
        return {"name": "Together | m", "tag": "together", "provider_name": "Together", "context_length": context,
                "pricing": {"prompt": prompt, "completion": "0.000001"}}  # fmt: skip

    cheap, dear = (
        parse_endpoint("a/m", endpoint("0.00000028", 1000)),
        parse_endpoint("a/m", endpoint("0.00000039", 1000)),
    )
    stored = [
        ("a/m@together", "a/m", "together", cheap.content_hash, _pricing_text(cheap.pricing)),
        ("a/m@together#2", "a/m", "together", dear.content_hash, _pricing_text(dear.pricing)),
    ]
    dear_now = parse_endpoint("a/m", endpoint("0.00000039", 2000))
    cheap_now = parse_endpoint("a/m", endpoint("0.00000028", 2000))
    keyed = dict(assign_endpoint_keys({"a/m": [dear_now, cheap_now]}, stored))
    assert keyed["a/m@together"].pricing.texts["prompt"] == "0.00000028"
    assert keyed["a/m@together#2"].pricing.texts["prompt"] == "0.00000039"
