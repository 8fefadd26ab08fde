"""Faults over real HTTP: the retrying fetcher and the store against the fake OpenRouter on loopback.

Issue acceptance: 429 with Retry-After is honoured; 5xx retried; a model whose endpoints keep failing gives a
``partial`` snapshot and closes nothing; a truncated body is recorded as an error and leaves the history
unchanged; a process killed during ingest leaves the previous consistent state; schema drift adds no versions
(a real price change aside); dropped models close their rows unless too many vanish at once; the API key
reaches the server and nowhere else.

Most tests serve a small hand-made day (six models, two endpoints each), where every row is known and a sweep
takes milliseconds: record one good snapshot, then sweep the same day again with one fault switched on. The
schema-drift and killed-process tests use the recorded 2026-07-17 (342 models, 959 endpoints) instead, whose
good snapshot is built once per module and copied into each test's own temp dir.
"""

from __future__ import annotations

import asyncio
import json
import pickle
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest
from helpers import run_cli
from starlette.types import Receive, Scope, Send

from catalog.bundle import Bundle
from catalog.errors import HTTPStatusError
from catalog.fake import FakeOpenRouter, Faults, MemoryDay, MemorySource, memory_day, serve_in_thread
from catalog.openrouter.client import OpenRouterClient
from catalog.openrouter.fetch import fetch_sweep
from catalog.openrouter.payload import Sweep, endpoints_path
from catalog.pipeline import sync_once
from catalog.settings import FetchSettings
from catalog.store.db import connect
from catalog.store.ingest import SnapshotSummary, record_snapshot
from catalog.store.queries import changes

V1 = "/api/v1"
DAY = "2026-07-17"
NEXT_DAY = "2026-07-18"
# Tables with valid_from / valid_to, and everything a snapshot may change in the history.
VERSIONED = ("model_versions", "endpoint_versions", "endpoint_status", "provider_versions")
HISTORY_TABLES = (*VERSIONED, "price_overrides", "endpoint_telemetry")
API_KEY = "sk-or-v1-test-0f3c9a-never-print-me"


# --- the hand-made day -------------------------------------------------------------------------------------


def model(model_id: str, prompt: str, completion: str) -> dict[str, Any]:
    """A v1 Model in the July 2026 shape, zero-valued optional price keys included. No ``top_provider`` and
    no ``supports_implicit_caching``, so the ``missing_optional`` drift takes away only the zero prices."""
    return {
        "id": model_id,
        "canonical_slug": model_id,
        "name": model_id.upper(),
        "created": 1784000000,
        "context_length": 131072,
        "architecture": {"modality": "text->text", "input_modalities": ["text"], "output_modalities": ["text"],
                         "tokenizer": "Other", "instruct_type": None},
        "pricing": {"prompt": prompt, "completion": completion, "request": "0", "image": "0"},
        "per_request_limits": None,
        "supported_parameters": ["max_tokens", "temperature"],
        "links": {"details": f"/api/v1/models/{model_id}/endpoints"},
    }  # fmt: skip


def listing(m: dict[str, Any], *providers: str) -> dict[str, Any]:
    """The /endpoints data object of ``m``: one endpoint per provider at the model's prices."""
    endpoints = [
        {
            "name": f"{p} | {m['id']}", "model_id": m["id"], "model_name": m["name"], "context_length": 131072,
            "pricing": {**m["pricing"], "discount": 0}, "provider_name": p, "tag": p.lower(),
            "quantization": "fp8", "max_completion_tokens": 8192, "max_prompt_tokens": None,
            "supported_parameters": list(m["supported_parameters"]), "status": 0, "uptime_last_30m": 99.5,
            "uptime_last_5m": 100.0, "uptime_last_1d": 99.9,
            "latency_last_30m": {"p50": 300, "p75": 400, "p90": 500, "p99": 900},
            "throughput_last_30m": {"p50": 80, "p75": 70, "p90": 60, "p99": 20},
        }
        for p in providers
    ]  # fmt: skip
    return {"id": m["id"], "name": m["name"], "created": m["created"], "description": "",
            "architecture": m["architecture"], "endpoints": endpoints}  # fmt: skip


PROVIDERS = [
    {"name": "DeepInfra", "slug": "deepinfra", "privacy_policy_url": None, "terms_of_service_url": None,
     "status_page_url": None},
    {"name": "Together", "slug": "together", "privacy_policy_url": None, "terms_of_service_url": None,
     "status_page_url": None},
]  # fmt: skip
MODELS = [
    model("acme/alpha", "0.000001", "0.000002"),
    model("acme/beta", "0.0000005", "0.0000015"),
    model("acme/gamma", "0", "0"),
    model("acme/delta", "0.00000025", "0.000001"),
    model("acme/epsilon", "0.000003", "0.000015"),
    model("acme/zeta", "0.0000001", "0.0000004"),
]
MODEL_IDS = [m["id"] for m in MODELS]
ALPHA = "acme/alpha"  # the model faults are aimed at
ENDPOINTS = 2 * len(MODELS)
PATHS = 2 + len(MODELS)  # /models, /providers and one /endpoints per model
SMALL_DAY = memory_day(DAY, MODELS, {m["id"]: listing(m, "DeepInfra", "Together") for m in MODELS}, PROVIDERS)
T0 = SMALL_DAY.info.taken_at
T1 = T0 + timedelta(hours=1)


def small_fake(faults: Faults | None = None, day: MemoryDay = SMALL_DAY) -> FakeOpenRouter:
    return FakeOpenRouter(MemorySource([day]), faults=faults)


# --- helpers -----------------------------------------------------------------------------------------------


def fetch_settings(url: str, **overrides: Any) -> FetchSettings:
    """Fast settings: wide concurrency, tiny backoff (a Retry-After, when sent, still rules)."""
    values: dict[str, Any] = {"concurrency": 16, "max_attempts": 2, "backoff_base": 0.01, "backoff_cap": 0.05}
    values.update(overrides)
    return FetchSettings(base_url=url, **values)


def sweep(url: str, taken_at: datetime | None = None, **overrides: Any) -> Sweep:
    # The default /models only (text scope): these tests count requests and models of that list; the full
    # scope's routes and their faults are tested in test_kinds.py.
    return asyncio.run(fetch_sweep(fetch_settings(url, **overrides), taken_at=taken_at, scope="text"))


def resweep(
    con: duckdb.DuckDBPyConnection, server: tuple[FakeOpenRouter, str], faults: Faults, at: datetime
) -> SnapshotSummary:
    """Sweep the served day again at ``at`` with ``faults`` on, and record it."""
    fake, url = server
    fake.set_faults(faults)
    return record_snapshot(con, sweep(url, at))


def rows(con: duckdb.DuckDBPyConnection, table: str, where: str = "TRUE", params: list[Any] | None = None) -> list:
    return con.execute(f"SELECT * FROM {table} WHERE {where} ORDER BY ALL", params or []).fetchall()


def history(con: duckdb.DuckDBPyConnection) -> dict[str, list]:
    """Every row of every history table, in a stable order: equal means the very same history."""
    return {table: rows(con, table) for table in HISTORY_TABLES}


def sightless(con: duckdb.DuckDBPyConnection) -> dict[str, list]:
    """The history without what merely seeing an entity again moves (last_seen, last_snapshot, telemetry)."""
    out = {t: rows(con, f"(SELECT * EXCLUDE (last_seen, last_snapshot) FROM {t})") for t in VERSIONED}
    out["price_overrides"] = rows(con, "price_overrides")
    return out


def snapshot_row(con: duckdb.DuckDBPyConnection, snapshot_id: int) -> dict[str, Any]:
    cur = con.execute("SELECT * FROM snapshots WHERE snapshot_id = ?", [snapshot_id])
    names = [d[0] for d in cur.description]
    return dict(zip(names, cur.fetchone() or (), strict=True))


# --- fixtures: the hand-made day, served once per module; one good snapshot of it per test ----------------


@pytest.fixture(scope="module")
def small_served() -> Iterator[tuple[FakeOpenRouter, str]]:
    fake = small_fake()
    with serve_in_thread(fake) as url:
        yield fake, url


@pytest.fixture
def small(small_served: tuple[FakeOpenRouter, str]) -> tuple[FakeOpenRouter, str]:
    """The module's small server, without faults and with an empty log. (Hangs get their own server: a hung
    request would otherwise finish, and be logged, during a later test.)"""
    fake, url = small_served
    fake.set_faults(None)
    fake.log.reset()
    return fake, url


@pytest.fixture
def small_db(small: tuple[FakeOpenRouter, str], isolated_data: Path) -> Path:
    """A history holding one clean snapshot of the small day, taken at T0."""
    fake, url = small
    con = connect(isolated_data)
    try:
        summary = record_snapshot(con, sweep(url, T0))
    finally:
        con.close()
    assert summary.status == "ok" and summary.opened == len(MODELS) + 2 * ENDPOINTS + len(PROVIDERS)
    fake.log.reset()
    return isolated_data


@pytest.fixture
def small_con(small_db: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    con = connect(small_db)
    yield con
    con.close()


# --- 1. 429 + Retry-After ----------------------------------------------------------------------------------


@pytest.mark.slow  # seconds, not milliseconds: left out of make test-fast
def test_429_with_retry_after_is_waited_out_then_the_sweep_succeeds(small: tuple[FakeOpenRouter, str]) -> None:
    # fail_first counts per path: every path answers 429 once. The backoff is 0.01 s, so only honouring
    # Retry-After explains a gap of a second between the 429 and the 200.
    fake, url = small
    fake.set_faults(Faults(fail_first=1, fail_status=429, retry_after=1))
    started = time.monotonic()
    result = sweep(url, max_attempts=3)
    elapsed = time.monotonic() - started

    assert result.fatal is None and result.endpoint_failures == {} and result.provider_error is None
    assert [m.model_id for m in result.models or []] == MODEL_IDS
    assert result.endpoint_count == ENDPOINTS
    calls = [e for e in fake.log.entries if e.path == f"{V1}/models"]
    assert [e.status for e in calls] == [429, 200]
    gap = calls[1].at - calls[0].at
    assert 1.0 <= gap < 2.5, f"waited {gap:.3f} s after a 429 with Retry-After: 1"
    for model_id in MODEL_IDS:
        assert fake.log.statuses(f"{V1}/{endpoints_path(model_id)}") == [429, 200]
    assert result.retries == PATHS
    # /models waits once, then the other paths wait their second side by side: about 2 s, never 8.
    assert elapsed < 5.0


# --- 2. 5xx retried ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [500, 502, 503])
def test_5xx_is_retried_and_the_third_attempt_succeeds(small: tuple[FakeOpenRouter, str], status: int) -> None:
    fake, url = small
    fake.set_faults(Faults(fail_first=2, fail_status=status))
    result = sweep(url, max_attempts=3)
    assert result.fatal is None and result.endpoint_failures == {} and result.provider_error is None
    assert result.endpoint_count == ENDPOINTS
    assert fake.log.statuses(f"{V1}/models") == [status, status, 200]
    assert fake.log.count(status=200) == PATHS and fake.log.count(status=status) == 2 * PATHS
    assert result.retries == 2 * PATHS


def test_5xx_beyond_max_attempts_is_recorded_as_a_failed_snapshot(
    small: tuple[FakeOpenRouter, str], isolated_data: Path
) -> None:
    fake, url = small
    fake.set_faults(Faults(fail_first=2, fail_status=502))
    result = sweep(url, T0, max_attempts=2)
    assert result.models is None and result.fatal is not None
    assert "answered 502" in result.fatal and "gave up after 2 attempts" in result.fatal
    assert fake.log.statuses(f"{V1}/models") == [502, 502]
    assert fake.log.count() == 2, "nothing else may be fetched without a /models list"
    con = connect(isolated_data)
    try:
        summary = record_snapshot(con, result)
        assert summary.status == "failed"
        assert snapshot_row(con, summary.snapshot_id)["error_summary"] == result.fatal
        assert all(rows(con, t) == [] for t in HISTORY_TABLES)
    finally:
        con.close()


# --- 3. a model whose endpoints keep failing (and 4b. a truncated endpoints body) ---------------------------


@pytest.mark.parametrize(
    ("faults", "served"),
    [
        pytest.param(Faults(fail_models={ALPHA}), [502, 502], id="502"),
        pytest.param(Faults(truncate_paths={f"{V1}/{endpoints_path(ALPHA)}"}), [200, 200], id="truncated-body"),
    ],
)
def test_unreadable_endpoints_give_partial_and_close_nothing_of_that_model(
    small_con: duckdb.DuckDBPyConnection, small: tuple[FakeOpenRouter, str], faults: Faults, served: list[int]
) -> None:
    theirs = "model_id = ?"
    before = {t: rows(small_con, t, theirs, [ALPHA]) for t in ("endpoint_versions", "endpoint_status")}
    assert len(before["endpoint_versions"]) == 2

    summary = resweep(small_con, small, faults, T1)

    assert summary.status == "partial"
    assert (summary.opened, summary.closed) == (0, 0)
    assert summary.endpoint_failures == 1 and summary.endpoints == ENDPOINTS - 2
    stored = snapshot_row(small_con, summary.snapshot_id)
    assert stored["status"] == "partial" and stored["endpoint_failures"] == 1
    assert ALPHA in stored["error_summary"] and "gave up after 2 attempts" in stored["error_summary"]
    # Its rows are exactly as the good snapshot left them: open, and not even touched (last_seen is T0).
    assert {t: rows(small_con, t, theirs, [ALPHA]) for t in before} == before
    assert small_con.execute(
        "SELECT count(*) FROM endpoint_versions WHERE model_id = ? AND valid_to IS NULL AND last_seen = ?",
        [ALPHA, T0],
    ).fetchone() == (2,)
    # Every other endpoint was read and confirmed at the new time.
    assert small_con.execute(
        "SELECT count(*), count(*) FILTER (last_seen = ? AND valid_to IS NULL) FROM endpoint_versions "
        "WHERE model_id <> ?",
        [T1, ALPHA],
    ).fetchone() == (ENDPOINTS - 2, ENDPOINTS - 2)
    fake, _ = small
    assert fake.log.statuses(f"{V1}/{endpoints_path(ALPHA)}") == served  # retried once, then given up


# --- 4. a truncated /models body ---------------------------------------------------------------------------


def test_truncated_models_body_is_a_failed_snapshot_and_changes_no_history(
    small_con: duckdb.DuckDBPyConnection, small: tuple[FakeOpenRouter, str]
) -> None:
    before = history(small_con)
    assert all(before[t] for t in VERSIONED)
    snapshots_before = rows(small_con, "snapshots")

    summary = resweep(small_con, small, Faults(truncate_paths={f"{V1}/models"}), T1)

    assert summary.status == "failed"
    assert summary.models is None and (summary.opened, summary.closed) == (0, 0)
    assert summary.error_summary is not None
    assert "/models" in summary.error_summary and "gave up after 2 attempts" in summary.error_summary
    assert history(small_con) == before
    assert rows(small_con, "snapshots", "snapshot_id <> ?", [summary.snapshot_id]) == snapshots_before
    # The error is on record beside the path that caused it; no body was archived for it.
    assert small_con.execute(
        "SELECT path, sha256, error IS NOT NULL FROM raw_payloads WHERE snapshot_id = ?", [summary.snapshot_id]
    ).fetchall() == [("models", None, True)]
    fake, _ = small
    assert fake.log.statuses(f"{V1}/models") == [200, 200]  # both cut off halfway through the body
    assert fake.log.count() == 2


def test_cli_sync_of_a_truncated_models_body_exits_1_with_one_line(
    small_db: Path, small: tuple[FakeOpenRouter, str]
) -> None:
    con = connect(small_db)
    before = history(con)
    con.close()
    fake, url = small
    fake.set_faults(Faults(truncate_paths={f"{V1}/models"}))

    out = run_cli("sync", "--base-url", url, "--db", str(small_db), env={"CATALOG_MAX_ATTEMPTS": "2"})

    assert out.returncode == 1, out.stderr
    lines = (out.stdout + out.stderr).strip().splitlines()
    assert len(lines) == 1, lines
    assert "failed" in lines[0] and "/models" in lines[0] and "gave up after 2 attempts" in lines[0]
    assert "Traceback" not in out.stderr
    con = connect(small_db)
    try:
        assert history(con) == before
        statuses = con.execute("SELECT status FROM snapshots ORDER BY snapshot_id").fetchall()
        assert statuses == [("ok",), ("failed",)]
    finally:
        con.close()


# --- 5. timeouts -------------------------------------------------------------------------------------------


def test_read_timeouts_are_retried_then_reported_not_raised(isolated_data: Path) -> None:
    # Every request hangs 5 s against a 0.5 s read timeout. /models is the one path asked for: without it,
    # nothing else is fetched.
    fake = small_fake(Faults(timeout_rate=1, hang=5))
    with serve_in_thread(fake) as url:
        started = time.monotonic()
        result = sweep(url, T0, read_timeout=0.5, max_attempts=3)
        elapsed = time.monotonic() - started
    assert result.fatal is not None
    assert "timed out (ReadTimeout)" in result.fatal and "gave up after 3 attempts" in result.fatal
    assert result.retries == 2
    assert 1.5 <= elapsed < 4.0, "three 0.5 s timeouts and two short backoffs, not the server's 5 s hang"
    con = connect(isolated_data)
    try:
        summary = record_snapshot(con, result)
        assert summary.status == "failed" and "timed out" in (summary.error_summary or "")
        assert snapshot_row(con, summary.snapshot_id)["retries"] == 2
        assert all(rows(con, t) == [] for t in HISTORY_TABLES)
    finally:
        con.close()


def test_a_request_that_times_out_twice_succeeds_on_the_third_attempt() -> None:
    # The timeout knob draws from its own stream, seeded "2/timeout": 0.21, 0.375, 0.987 … against a rate of
    # 0.5, so one GET hangs twice and is then answered.
    fake = small_fake(Faults(timeout_rate=0.5, hang=5, seed=2))
    with serve_in_thread(fake) as url:

        async def get_models() -> tuple[int, int, int]:
            async with OpenRouterClient(fetch_settings(url, read_timeout=0.5, max_attempts=3)) as client:
                fetched = await client.get("models")
                return fetched.attempts, client.retries, len(fetched.data["data"])

        started = time.monotonic()
        attempts, retries, listed = asyncio.run(get_models())
        elapsed = time.monotonic() - started
    assert (attempts, retries, listed) == (3, 2, len(MODELS))
    assert 1.0 <= elapsed < 4.0, "two 0.5 s timeouts and a quick answer, not the server's 5 s hang"


# --- 7. schema drift, on the hand-made day -----------------------------------------------------------------


def test_missing_zero_price_keys_add_no_versions(
    small_con: duckdb.DuckDBPyConnection, small: tuple[FakeOpenRouter, str]
) -> None:
    # The hand-made day has no top_provider and no supports_implicit_caching, so this drift takes away exactly
    # what OpenRouter stopped sending in January 2026: zero-valued price keys (and some live stats).
    fake, _ = small
    fake.set_faults(Faults(drift={"missing_optional"}))
    assert set(fake.served.models[0]["pricing"]) == {"prompt", "completion"}
    summary = resweep(small_con, small, Faults(drift={"missing_optional"}), T1)
    assert summary.status == "ok" and summary.error_summary is None
    assert (summary.opened, summary.closed) == (0, 0)


def test_missing_top_provider_and_implicit_caching_add_no_versions(isolated_data: Path) -> None:
    """Descriptive facts upstream stops sending carry forward; they do not open a version of 'unknown'."""
    alpha = {**MODELS[0], "top_provider": {"context_length": 131072, "max_completion_tokens": 8192,
                                           "is_moderated": False}}  # fmt: skip
    endpoints = listing(alpha, "DeepInfra", "Together")
    for endpoint in endpoints["endpoints"]:
        endpoint["supports_implicit_caching"] = False
    fake = small_fake(day=memory_day(DAY, [alpha], {ALPHA: endpoints}, PROVIDERS))
    con = connect(isolated_data)
    try:
        with serve_in_thread(fake) as url:
            assert record_snapshot(con, sweep(url, T0)).opened == 1 + 2 + 2 + 2
            summary = resweep(con, (fake, url), Faults(drift={"missing_optional"}), T1)
    finally:
        con.close()
    assert "top_provider" not in fake.served.models[0]
    assert summary.status == "ok"
    assert (summary.opened, summary.closed) == (0, 0)


def test_dynamic_price_drift_is_stored_as_dynamic_and_reported_as_a_price_change(
    small_db: Path, small: tuple[FakeOpenRouter, str]
) -> None:
    con = connect(small_db)
    try:
        summary = resweep(con, small, Faults(drift={"dynamic_price"}, drift_models={ALPHA}), T1)
        assert summary.status == "ok" and summary.error_summary is None
        assert summary.opened == summary.closed == 1 + 2  # its model version and its two endpoint versions
        model_rows = con.execute(
            "SELECT price_dynamic, price_prompt, price_completion, pricing_text FROM model_versions "
            "WHERE model_id = ? AND valid_to IS NULL",
            [ALPHA],
        ).fetchall()
        assert len(model_rows) == 1
        dynamic, prompt, completion, text = model_rows[0]
        assert dynamic is True and prompt is None and completion is None
        assert json.loads(text)["prompt"] == "-1"
        assert con.execute(
            "SELECT count(*) FROM endpoint_versions "
            "WHERE model_id = ? AND valid_to IS NULL AND price_dynamic AND price_prompt IS NULL",
            [ALPHA],
        ).fetchone() == (2,)
    finally:
        con.close()

    out = run_cli("changes", "--since", DAY, "--model", ALPHA, "--json", "--db", str(small_db))
    assert out.returncode == 0, out.stderr
    found = json.loads(out.stdout)["changes"]
    assert {c["kind"] for c in found} == {"price"}
    assert sorted((c["entity"], c["tag"], c["field"]) for c in found) == sorted(
        (entity, tag, field)
        for entity, tag in [("model", None), ("endpoint", "deepinfra"), ("endpoint", "together")]
        for field in ("prompt", "completion", "dynamic")
    )
    model_changes = {c["field"]: c for c in found if c["entity"] == "model"}
    assert (model_changes["prompt"]["old"], model_changes["prompt"]["new"]) == ("0.000001", None)
    assert (model_changes["dynamic"]["old"], model_changes["dynamic"]["new"]) == ("False", "True")
    assert {c["at"] for c in found} == {T1.isoformat().replace("+00:00", "Z")}


# --- 8. dropped models -------------------------------------------------------------------------------------


def test_a_dropped_model_closes_its_model_and_endpoint_rows_at_the_snapshot_time(
    small_con: duckdb.DuckDBPyConnection, small: tuple[FakeOpenRouter, str]
) -> None:
    summary = resweep(small_con, small, Faults(drop_models={ALPHA}), T1)
    assert summary.status == "ok" and summary.models == len(MODELS) - 1
    assert (summary.opened, summary.closed) == (0, 1 + 2 + 2)  # model, 2 endpoints, their 2 status rows
    for table in ("model_versions", "endpoint_versions", "endpoint_status"):
        closed = small_con.execute(f"SELECT model_id, valid_to FROM {table} WHERE valid_to IS NOT NULL").fetchall()
        assert closed and set(closed) == {(ALPHA, T1)}, table
        assert small_con.execute(f"SELECT count(*) FROM {table} WHERE model_id = ?", [ALPHA]).fetchone() == (
            len(closed),
        )


@pytest.mark.parametrize(
    ("dropped", "status", "closed"),
    [
        pytest.param(3, "ok", 3 * (1 + 2 + 2), id="exactly-half-is-believed"),
        pytest.param(4, "suspicious", 0, id="more-than-half-is-suspicious"),
    ],
)
def test_dropping_more_than_half_the_models_is_suspicious_and_closes_nothing(
    small_con: duckdb.DuckDBPyConnection, small: tuple[FakeOpenRouter, str], dropped: int, status: str, closed: int
) -> None:
    gone = MODEL_IDS[:dropped]
    summary = resweep(small_con, small, Faults(drop_models=gone), T1)
    assert summary.status == status and summary.models == len(MODELS) - dropped
    assert (summary.opened, summary.closed) == (0, closed)
    still_open = small_con.execute(
        "SELECT count(*) FROM model_versions WHERE valid_to IS NULL AND model_id IN (SELECT unnest(?::VARCHAR[]))",
        [gone],
    ).fetchone()
    if status == "suspicious":
        assert summary.error_summary is not None and f"fell from 6 to {6 - dropped}" in summary.error_summary
        assert still_open == (dropped,)
        for table in VERSIONED:
            assert small_con.execute(f"SELECT count(*) FROM {table} WHERE valid_to IS NOT NULL").fetchone() == (0,)
    else:
        assert summary.error_summary is None and still_open == (0,)


# --- 9. the API key ----------------------------------------------------------------------------------------


class KeyWitness(FakeOpenRouter):
    """The fake OpenRouter, also noting the Authorization header of every API request it receives."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.authorization: list[str | None] = []
        inner = super().app

        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] == "http" and scope["path"].startswith(V1):
                raw = dict(scope["headers"]).get(b"authorization")
                self.authorization.append(raw.decode() if raw is not None else None)
            await inner(scope, receive, send)

        self._witnessed = app

    @property
    def app(self) -> Any:
        return self._witnessed


def test_api_key_reaches_the_server_as_a_bearer_header_and_is_never_printed(
    isolated_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = KeyWitness(MemorySource([SMALL_DAY]))
    env = {"OPENROUTER_API_KEY": API_KEY, "CATALOG_MAX_ATTEMPTS": "2"}
    assert run_cli("init", "--db", str(isolated_data)).returncode == 0  # `sync` needs an existing file
    with serve_in_thread(fake) as url:
        ok = run_cli("sync", "--base-url", url, "--json", "--db", str(isolated_data), env=env)
        assert ok.returncode == 0, ok.stderr
        # `catalog sync` sweeps the full scope: the three kinds' lists are asked too
        assert fake.authorization == [f"Bearer {API_KEY}"] * (PATHS + 3)
        assert API_KEY not in ok.stdout + ok.stderr

        # A failed sync, in-process with the same settings the CLI builds: the error it stores and prints
        # (the CLI's one line is this error summary) names the URL and the status, never the key.
        monkeypatch.setenv("OPENROUTER_API_KEY", API_KEY)
        monkeypatch.setenv("CATALOG_MAX_ATTEMPTS", "2")
        fake.set_faults(Faults(fail_first=9, fail_status=502))
        con = connect(isolated_data)
        try:
            failed = sync_once(con, FetchSettings.from_env(base_url=url))
        finally:
            con.close()
        assert failed.status == "failed" and "answered 502" in (failed.error_summary or "")
        assert API_KEY not in (failed.error_summary or "")

        # In-process: a 401 is not retried; neither the error nor the settings show the key.
        fake.set_faults(Faults(fail_first=9, fail_status=401))
        settings = FetchSettings.from_env(base_url=url)
        assert settings.api_key == API_KEY
        assert API_KEY not in repr(settings) and API_KEY not in str(settings)

        async def get_models() -> HTTPStatusError:
            async with OpenRouterClient(settings) as client:
                with pytest.raises(HTTPStatusError) as caught:
                    await client.get("models")
                return caught.value

        error = asyncio.run(get_models())
    assert error.status == 401 and "answered 401" in str(error)
    assert API_KEY not in str(error) and API_KEY not in repr(error)
    assert fake.log.count(f"{V1}/models", 401) == 1  # asked once: a 401 is not worth retrying
    assert fake.authorization[-1] == f"Bearer {API_KEY}"

    con = connect(isolated_data)
    try:
        stored = con.execute("SELECT status, coalesce(error_summary, '') FROM snapshots ORDER BY 1").fetchall()
        assert [s for s, _ in stored] == ["failed", "ok"]
        errors = [e for _, e in stored] + [e for (e,) in con.execute("SELECT error FROM raw_payloads").fetchall() if e]
        assert any("answered 502" in e for e in errors)
        assert not any(API_KEY in e for e in errors)
    finally:
        con.close()


# --- the recorded day: schema drift at scale, and a process killed mid-ingest ------------------------------


@pytest.fixture(scope="module")
def recorded() -> Iterator[tuple[FakeOpenRouter, str]]:
    fake = FakeOpenRouter(Bundle(), day=DAY)
    with serve_in_thread(fake) as url:
        yield fake, url


@pytest.fixture
def recorded_server(recorded: tuple[FakeOpenRouter, str]) -> tuple[FakeOpenRouter, str]:
    fake, url = recorded
    fake.set_day(DAY)
    fake.set_faults(None)
    fake.log.reset()
    return fake, url


@pytest.fixture(scope="module")
def recorded_taken_at() -> datetime:
    return next(s.taken_at for s in Bundle().snapshots() if s.id == DAY)


@pytest.fixture(scope="module")
def recorded_snapshot_file(
    tmp_path_factory: pytest.TempPathFactory, recorded: tuple[FakeOpenRouter, str], recorded_taken_at: datetime
) -> Path:
    fake, url = recorded
    fake.set_faults(None)
    path = tmp_path_factory.mktemp("recorded") / "one-snapshot.duckdb"
    con = connect(path)
    try:
        summary = record_snapshot(con, sweep(url, recorded_taken_at))
    finally:
        con.close()
    assert summary.status == "ok" and (summary.models, summary.endpoints) == (342, 959)
    return path


@pytest.fixture
def recorded_db(recorded_snapshot_file: Path, isolated_data: Path) -> Path:
    """This test's own copy of a history holding one clean snapshot of the recorded 2026-07-17."""
    shutil.copyfile(recorded_snapshot_file, isolated_data)
    return isolated_data


@pytest.fixture
def recorded_con(recorded_db: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    con = connect(recorded_db)
    yield con
    con.close()


@pytest.mark.slow  # seconds, not milliseconds: left out of make test-fast
def test_unknown_field_drift_on_the_recorded_day_adds_no_versions_and_names_the_field(
    recorded_con: duckdb.DuckDBPyConnection, recorded_server: tuple[FakeOpenRouter, str], recorded_taken_at: datetime
) -> None:
    before = sightless(recorded_con)
    at = recorded_taken_at + timedelta(hours=1)
    summary = resweep(recorded_con, recorded_server, Faults(drift={"unknown_field"}), at)
    assert summary.status == "ok" and (summary.models, summary.endpoints) == (342, 959)
    assert (summary.opened, summary.closed) == (0, 0)
    assert summary.error_summary is not None and "x_new_field (1301)" in summary.error_summary
    assert snapshot_row(recorded_con, summary.snapshot_id)["error_summary"] == summary.error_summary
    assert sightless(recorded_con) == before


@pytest.mark.slow  # seconds, not milliseconds: left out of make test-fast
def test_missing_optional_fields_on_the_recorded_day_change_no_price(
    recorded_con: duckdb.DuckDBPyConnection, recorded_server: tuple[FakeOpenRouter, str], recorded_taken_at: datetime
) -> None:
    # Whatever else this drift does to the history, dropped zero-valued price keys never read as a price change.
    at = recorded_taken_at + timedelta(hours=1)
    summary = resweep(recorded_con, recorded_server, Faults(drift={"missing_optional"}), at)
    assert summary.status == "ok"
    found = changes(recorded_con, recorded_taken_at, at)
    assert found.filter(found["kind"].is_in(["price", "discount", "overrides", "added", "removed"])).height == 0


# --- 6. a process killed during ingest ---------------------------------------------------------------------

# Runs in a child process: load the swept NEXT_DAY, start recording it into the database (which holds the good DAY
# snapshot), and SIGKILL itself inside the transaction once the given step has written.
KILL_SCRIPT = r"""
import os, pickle, signal, sys
from pathlib import Path
from catalog.store import ingest
from catalog.store.db import connect

db, sweep_file, step = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
sweep = pickle.loads(sweep_file.read_bytes())
con = connect(db)

def die(where):
    seen = con.execute(
        "SELECT (SELECT count(*) FROM snapshots), (SELECT count(*) FROM endpoint_versions), "
        "(SELECT count(*) FROM endpoint_versions WHERE valid_to IS NOT NULL)"
    ).fetchone()
    print(f"KILL {where} snapshots={seen[0]} endpoint_versions={seen[1]} closed={seen[2]}", flush=True)
    os.kill(os.getpid(), signal.SIGKILL)

apply = ingest._Versioner.apply
def apply_then_die(self, table, *args, **kwargs):
    opened = apply(self, table, *args, **kwargs)
    if step == table:
        die(table)
    return opened

archive = ingest.archive_payloads
def archive_then_die(*args, **kwargs):
    stored = archive(*args, **kwargs)
    if step == "archive":
        die("archive")
    return stored

ingest._Versioner.apply = apply_then_die
ingest.archive_payloads = archive_then_die
ingest.record_snapshot(con, sweep)
print("COMMITTED", flush=True)
"""


@pytest.fixture(scope="module")
def next_day_sweep_file(tmp_path_factory: pytest.TempPathFactory, recorded: tuple[FakeOpenRouter, str]) -> Path:
    """NEXT_DAY swept over HTTP once, pickled for the child processes that ingest it."""
    fake, url = recorded
    taken_at = next(s.taken_at for s in Bundle().snapshots() if s.id == NEXT_DAY)
    fake.set_faults(None)
    fake.set_day(NEXT_DAY)
    try:
        swept = sweep(url, taken_at)
    finally:
        fake.set_day(DAY)
    assert swept.fatal is None and not swept.endpoint_failures and swept.endpoint_count == 963
    path = tmp_path_factory.mktemp("next-day") / "sweep.pickle"
    path.write_bytes(pickle.dumps(swept))
    return path


@pytest.mark.parametrize("step", ["endpoint_versions", "archive"])
@pytest.mark.slow  # seconds, not milliseconds: left out of make test-fast
def test_process_killed_during_ingest_leaves_the_previous_consistent_state(
    recorded_db: Path, next_day_sweep_file: Path, step: str
) -> None:
    con = connect(recorded_db)
    before = history(con)
    snapshots_before = rows(con, "snapshots")
    raw_before = {t: rows(con, t) for t in ("raw_payloads", "raw_blobs")}
    con.close()

    child = subprocess.run(
        [sys.executable, "-c", KILL_SCRIPT, str(recorded_db), str(next_day_sweep_file), step],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip

    assert child.returncode == -signal.SIGKILL, child.stderr
    assert "COMMITTED" not in child.stdout
    # The child did write inside its transaction: changed endpoint versions, and (archive) its snapshot row.
    marker = next(line for line in child.stdout.splitlines() if line.startswith("KILL"))
    seen = dict(part.split("=") for part in marker.split()[2:])
    assert int(seen["endpoint_versions"]) > len(before["endpoint_versions"])
    assert int(seen["closed"]) > 0
    assert seen["snapshots"] == ("2" if step == "archive" else "1")

    con = connect(recorded_db)  # opens cleanly, as a writer: the schema check and migrations run too
    try:
        assert rows(con, "snapshots") == snapshots_before
        assert history(con) == before
        assert {t: rows(con, t) for t in raw_before} == raw_before
    finally:
        con.close()
