"""Raw-payload retention (``prune_raw``), ``rederive`` after a prune, and the ``checkpoint`` job.

A small hand-made history is swept over HTTP from the fake OpenRouter on loopback, one snapshot an hour on
2026-07-17 (long older than any ``keep_days`` the tests use):

* S1 day A: opens every version;
* S2 day A': the same models and prices, but other uptime / latency figures, so every ``/endpoints`` body is
  new (new blobs) while no version opens or closes;
* S3 day A again: nothing new at all (its blobs are S1's);
* S4 day A: the newest snapshot.

With ``keep_days = 0`` the job prunes S2 and S3 (old, changed nothing, not the newest) and keeps S1 and S4.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest

from catalog.fake import FakeOpenRouter, Faults, MemoryDay, MemorySource, memory_day, serve_in_thread
from catalog.pipeline import rederive, sync_once
from catalog.settings import FetchSettings
from catalog.store.db import connect
from jobs.config import load_config
from jobs.context import JobContext
from jobs.registry import run_dry
from jobs.runner import run_job
from jobs.sources import LiveSource

T0 = datetime(2026, 7, 17, 12, tzinfo=UTC)
PRICE_TABLES = ("model_versions", "endpoint_versions", "endpoint_status", "provider_versions")
COUNTED = ("snapshots", "raw_payloads", "raw_blobs", "job_runs", *PRICE_TABLES, "price_overrides")
PROVIDERS = [
    {"name": n, "slug": n.lower(), "privacy_policy_url": None, "terms_of_service_url": None, "status_page_url": None}
    for n in ("DeepInfra", "Together")
]
TIERED = {
    "prompt": "0.000001",
    "completion": "0.000002",
    "overrides": [{"min_prompt_tokens": 200000, "prompt": "0.000002"}],
}


def model(model_id: str, pricing: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": model_id, "canonical_slug": model_id, "name": model_id.upper(), "created": 1784000000,
        "context_length": 131072, "pricing": pricing, "supported_parameters": ["max_tokens"],
        "architecture": {"modality": "text->text", "input_modalities": ["text"], "output_modalities": ["text"],
                         "tokenizer": "Other", "instruct_type": None},
    }  # fmt: skip


def listing(m: dict[str, Any], uptime: float) -> dict[str, Any]:
    endpoints = [
        {
            "name": f"{p['name']} | {m['id']}", "model_id": m["id"], "model_name": m["name"], "context_length": 131072,
            "pricing": {**m["pricing"], "discount": 0}, "provider_name": p["name"], "tag": p["slug"],
            "quantization": "fp8", "max_completion_tokens": 8192, "max_prompt_tokens": None,
            "supported_parameters": ["max_tokens"], "status": 0, "uptime_last_30m": uptime, "uptime_last_5m": uptime,
            "uptime_last_1d": 99.9, "latency_last_30m": {"p50": 3 * uptime, "p75": 400, "p90": 500, "p99": 900},
            "throughput_last_30m": {"p50": 80, "p75": 70, "p90": 60, "p99": 20},
        }
        for p in PROVIDERS
    ]  # fmt: skip
    return {"id": m["id"], "name": m["name"], "created": m["created"], "architecture": m["architecture"],
            "description": "", "endpoints": endpoints}  # fmt: skip


MODELS = [
    model("acme/alpha", {"prompt": "0.000001", "completion": "0.000002"}),
    model("acme/beta", {"prompt": "0.0000005", "completion": "0.0000015", "request": "0"}),
    model("acme/tiered", TIERED),
]
# Day B (only for the rederive test): alpha's price changes, tiered is gone.
MODELS_B = [model("acme/alpha", {"prompt": "0.0000011", "completion": "0.000002"}), copy.deepcopy(MODELS[1])]


def day(date: str, models: list[dict[str, Any]], uptime: float) -> MemoryDay:
    return memory_day(date, models, {m["id"]: listing(m, uptime) for m in models}, PROVIDERS)


DAY_A = day("2026-07-17", MODELS, 99.5)
DAY_A2 = day("2026-07-18", MODELS, 97.25)
DAY_B = day("2026-07-19", MODELS_B, 99)


@pytest.fixture
def served() -> Iterator[tuple[FakeOpenRouter, FetchSettings]]:
    fake = FakeOpenRouter(MemorySource([DAY_A, DAY_A2, DAY_B]), day=DAY_A.info.id)
    with serve_in_thread(fake) as url:
        yield fake, FetchSettings(base_url=url, concurrency=8, max_attempts=2, backoff_base=0.01, backoff_cap=0.05)


def snap(con: duckdb.DuckDBPyConnection, served: tuple[FakeOpenRouter, FetchSettings], day_id: str, hour: int) -> int:
    fake, settings = served
    fake.set_day(day_id)
    summary = sync_once(con, settings, taken_at=T0 + timedelta(hours=hour))
    assert summary.status == "ok"
    return summary.snapshot_id


@pytest.fixture
def history(served: tuple[FakeOpenRouter, FetchSettings], tmp_path: Path) -> Iterator[tuple[JobContext, list[int]]]:
    path = tmp_path / "prune.duckdb"
    con = connect(path)
    ids = [snap(con, served, d.info.id, h) for h, d in enumerate((DAY_A, DAY_A2, DAY_A, DAY_A))]
    ctx = context(con, path, served[1], keep_days=0)
    try:
        yield ctx, ids
    finally:
        con.close()


def context(con: duckdb.DuckDBPyConnection, path: Path, settings: FetchSettings, keep_days: int) -> JobContext:
    config = load_config(None, env={"CATALOG_JOB_PRUNE_RAW_KEEP_DAYS": str(keep_days)})
    return JobContext(con=con, db=path, config=config, source=LiveSource(settings))


def payloads(con: duckdb.DuckDBPyConnection, snapshot_id: int) -> set[str]:
    rows = con.execute("SELECT sha256 FROM raw_payloads WHERE snapshot_id = ?", [snapshot_id]).fetchall()
    return {r[0] for r in rows}


def blobs(con: duckdb.DuckDBPyConnection) -> set[str]:
    return {r[0] for r in con.execute("SELECT sha256 FROM raw_blobs").fetchall()}


def counts(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    return {t: con.execute(f"SELECT count(*) FROM {t}").fetchall()[0][0] for t in COUNTED}


def pruned_at(con: duckdb.DuckDBPyConnection) -> dict[int, bool]:
    rows = con.execute("SELECT snapshot_id, raw_pruned_at IS NOT NULL FROM snapshots").fetchall()
    return dict(rows)


def test_the_history_is_what_the_tests_assume(history: tuple[JobContext, list[int]]) -> None:
    ctx, (s1, s2, s3, s4) = history
    changes = dict(ctx.con.execute("SELECT snapshot_id, versions_opened + versions_closed FROM snapshots").fetchall())
    assert changes[s1] > 0 and changes[s2] == changes[s3] == changes[s4] == 0
    assert payloads(ctx.con, s1) == payloads(ctx.con, s3) == payloads(ctx.con, s4)
    only_s2 = payloads(ctx.con, s2) - payloads(ctx.con, s1)
    assert len(only_s2) == len(MODELS)  # every /endpoints body is new; /models and /providers are not
    assert ctx.con.execute("SELECT count(*) FROM price_overrides").fetchall()[0][0] == 3  # the tiered model's


def test_prune_drops_the_snapshots_that_changed_nothing(history: tuple[JobContext, list[int]]) -> None:
    ctx, (s1, s2, s3, s4) = history
    con = ctx.con
    kept_before = {s: payloads(con, s) for s in (s1, s4)}
    rows_s2_s3 = con.execute("SELECT count(*) FROM raw_payloads WHERE snapshot_id IN (?, ?)", [s2, s3]).fetchall()
    only_s2 = payloads(con, s2) - payloads(con, s1)
    blobs_before = blobs(con)

    run_id, result = run_job(ctx, "prune_raw", trigger="manual")

    assert result.status == "ok", result.summary
    assert pruned_at(con) == {s1: False, s2: True, s3: True, s4: False}
    assert payloads(con, s2) == payloads(con, s3) == set()
    assert {s: payloads(con, s) for s in (s1, s4)} == kept_before
    assert blobs_before - blobs(con) == only_s2  # exactly the blobs no kept payload points to
    assert set().union(*kept_before.values()) <= blobs(con)
    detail = result.detail
    assert detail["snapshots_pruned"] == 2 and detail["payload_rows_deleted"] == rows_s2_s3[0][0]
    assert detail["blobs_deleted"] == len(only_s2) and detail["compressed_bytes_freed"] > 0
    row = con.execute(
        "SELECT job, trigger, status, rows_changed, detail FROM job_runs WHERE run_id = ?", [run_id]
    ).fetchall()[0]
    assert row[:4] == ("prune_raw", "manual", "ok", rows_s2_s3[0][0] + len(only_s2))
    assert json.loads(row[4])["blobs_deleted"] == len(only_s2)

    before = counts(con)
    _, again = run_job(ctx, "prune_raw", trigger="manual")
    assert again.status == "ok" and again.rows_changed == 0 and again.detail["snapshots_pruned"] == 0
    after = counts(con)
    assert after.pop("job_runs") == before.pop("job_runs") + 1 and after == before


def test_a_dry_run_reports_the_same_and_changes_nothing(history: tuple[JobContext, list[int]]) -> None:
    ctx, _ = history
    before = counts(ctx.con)
    dry = run_dry(ctx, "prune_raw")
    assert counts(ctx.con) == before and not any(pruned_at(ctx.con).values())
    assert dry.status == "ok" and dry.rows_changed == 0 and "would prune" in dry.summary
    _, real = run_job(ctx, "prune_raw", trigger="manual")
    assert dry.detail == real.detail and real.detail["snapshots_pruned"] == 2


def test_keep_days_longer_than_the_age_keeps_everything(
    history: tuple[JobContext, list[int]], served: tuple[FakeOpenRouter, FetchSettings]
) -> None:
    ctx, _ = history
    age_days = (datetime.now(UTC) - T0).days
    patient = context(ctx.con, ctx.db, served[1], keep_days=age_days + 1)
    before = counts(ctx.con)
    _, result = run_job(patient, "prune_raw", trigger="manual")
    assert result.status == "ok" and result.detail["snapshots_pruned"] == 0 and result.rows_changed == 0
    after = counts(ctx.con)
    assert after.pop("job_runs") == before.pop("job_runs") + 1 and after == before
    assert not any(pruned_at(ctx.con).values())


def sightless(con: duckdb.DuckDBPyConnection) -> dict[str, list[Any]]:
    """The versions without what renumbering or merely seeing them again changes; overrides by content."""
    out = {
        t: con.execute(f"SELECT * EXCLUDE (version_id, last_seen, last_snapshot) FROM {t} ORDER BY ALL").fetchall()
        for t in PRICE_TABLES
    }
    out["price_overrides"] = con.execute(
        """
        SELECT coalesce(m.model_id, e.endpoint_key), coalesce(m.valid_from, e.valid_from), o.* EXCLUDE (version_id)
        FROM price_overrides o
        LEFT JOIN model_versions m ON o.entity = 'model' AND m.version_id = o.version_id
        LEFT JOIN endpoint_versions e ON o.entity = 'endpoint' AND e.version_id = o.version_id
        ORDER BY ALL
        """
    ).fetchall()
    return out


@pytest.mark.parametrize("then_day_b", [False, True], ids=["same-day", "then-a-price-change"])
@pytest.mark.slow  # seconds, not milliseconds: left out of make test-fast
def test_rederive_after_a_prune_rebuilds_the_same_versions(
    history: tuple[JobContext, list[int]], served: tuple[FakeOpenRouter, FetchSettings], then_day_b: bool
) -> None:
    ctx, ids = history
    con = ctx.con
    if then_day_b:  # S5 changes prices and drops a model: S4 is no longer the newest, so it is pruned too
        ids.append(snap(con, served, DAY_B.info.id, 5))
        assert con.execute("SELECT count(*) FROM model_versions WHERE valid_to IS NOT NULL").fetchall()[0][0] == 2
    before = sightless(con)
    assert all(None not in (r[0], r[1]) for r in before["price_overrides"])  # every override found its version
    _, result = run_job(ctx, "prune_raw", trigger="manual")
    pruned = {s for s, p in pruned_at(con).items() if p}
    assert pruned == ({ids[1], ids[2], ids[3]} if then_day_b else {ids[1], ids[2]})
    assert result.detail["snapshots_pruned"] == len(pruned)

    seen: list[int] = []
    applied = rederive(con, on_snapshot=lambda index, total: seen.append(index))
    assert applied == len(ids) - len(pruned) == len(seen)
    assert sightless(con) == before
    last_seen_by = {r[0] for r in con.execute("SELECT last_snapshot FROM model_versions").fetchall()}
    assert max(last_seen_by) == ids[-1] and not pruned & last_seen_by


def test_checkpoint_empties_the_wal(history: tuple[JobContext, list[int]]) -> None:
    ctx, _ = history
    run_id, result = run_job(ctx, "checkpoint", trigger="manual")
    assert result.status == "ok", result.summary
    assert result.detail["after"]["wal_size"] == "0 bytes"
    assert result.detail["file_bytes"] == ctx.db.stat().st_size > 0
    status = ctx.con.execute("SELECT status FROM job_runs WHERE run_id = ?", [run_id]).fetchall()[0][0]
    assert status == "ok"


def test_a_failed_newest_snapshot_keeps_the_newest_good_one(
    history: tuple[JobContext, list[int]], served: tuple[FakeOpenRouter, FetchSettings]
) -> None:
    ctx, (_s1, s2, s3, s4) = history
    fake, settings = served
    fake.set_faults(Faults(truncate_paths=frozenset({"/api/v1/models"})))
    assert sync_once(ctx.con, settings, taken_at=T0 + timedelta(hours=5)).status == "failed"
    run_job(ctx, "prune_raw", trigger="manual")
    assert {s for s, done in pruned_at(ctx.con).items() if done} == {s2, s3}
    assert payloads(ctx.con, s4)
