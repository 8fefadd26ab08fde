"""A hostile upstream cannot hang a sweep or fill memory or the history (issue 16, items 1 and 2).

Against a real loopback server (``hostile.upstream``): a body trickling a byte at a time fails the request at
its deadline, and a sweep at the sweep's deadline (failed without ``/models``, partial without some
``/endpoints``), also as a run of ``catalog up``'s scheduler; a body past the size cap is abandoned as it
streams in and is a fetch error naming the cap; an absurd field refuses its record, so nothing huge is stored.
Deadlines are a fraction of a second here; each wait is bounded by ``finished_within`` so the old code, which
hangs, fails the test instead of hanging the suite.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest
from helpers import run_cli
from hostile import Counter, finished_within, huge, json_body, trickle, upstream
from test_faults import MODELS, listing

from catalog.errors import ConfigError
from catalog.openrouter.payload import RawPayload, read_models
from catalog.openrouter.records import MAX_ID, MAX_TEXT, RecordError, parse_model
from catalog.pipeline import sync_once
from catalog.settings import FetchSettings
from catalog.store.db import connect
from jobs.config import load_config
from jobs.context import JobContext
from jobs.runner import run_job
from jobs.sources import LiveSource

ALPHA, BETA = MODELS[0], MODELS[1]
MB = 1024 * 1024
HANG = 30.0  # what "did not hang" means here: far beyond every deadline a test sets


def settings(url: str, **overrides: Any) -> FetchSettings:
    values: dict[str, Any] = {"max_attempts": 1, "backoff_base": 0.01, "backoff_cap": 0.02}
    return FetchSettings(base_url=url, **{**values, **overrides})


def endpoints_of(*models: dict[str, Any]) -> dict[str, Any]:
    return {f"models/{m['id']}/endpoints": json_body({"data": listing(m, "DeepInfra")}) for m in models}


@pytest.fixture
def con(isolated_data: Path) -> Any:
    con = connect(isolated_data)
    yield con
    con.close()


def strings_stored(con: duckdb.DuckDBPyConnection, table: str) -> list[str]:
    cols = [r[0] for r in con.execute(f"DESCRIBE {table}").fetchall() if r[1] == "VARCHAR"]
    return [v for row in con.execute(f"SELECT {', '.join(cols)} FROM {table}").fetchall() for v in row if v]


# --- 1. deadlines -------------------------------------------------------------------------------------------


def test_a_trickling_models_body_fails_the_sweep_at_the_request_deadline(con: duckdb.DuckDBPyConnection) -> None:
    with upstream({"models": trickle(0.1)}) as (url, requests):
        fetch = settings(url, max_attempts=2, request_deadline=0.4)
        ended, summary, _took = finished_within(HANG, lambda: sync_once(con, fetch))
        assert ended, "a sweep against a trickling upstream ran past every deadline"
    assert summary.status == "failed"
    reason = summary.error_summary or ""
    assert "/models" in reason and "0.4 s deadline" in reason and "CATALOG_REQUEST_DEADLINE" in reason
    assert "gave up after 2 attempts" in reason and "\n" not in reason
    # this upstream refuses ?output_modalities=all (a 404): the sweep falls back to the default list, and that
    # request past its deadline is retried, as a timeout is
    assert "models?output_modalities=all" in requests
    assert [r for r in requests if r == "models"] == ["models", "models"]
    assert con.execute("SELECT count(*) FROM model_versions").fetchall() == [(0,)]


def test_the_sweep_deadline_makes_a_sweep_with_trickling_endpoints_partial(con: duckdb.DuckDBPyConnection) -> None:
    routes = {
        "models": json_body({"data": [ALPHA, BETA]}),
        **endpoints_of(ALPHA),
        f"models/{BETA['id']}/endpoints": trickle(0.1),
    }
    with upstream(routes) as (url, _requests):
        # The request deadline alone would wait a minute: the sweep's bound ends it.
        fetch = settings(url, request_deadline=60, sweep_deadline=0.8)
        ended, summary, _took = finished_within(HANG, lambda: sync_once(con, fetch))
        assert ended, "the sweep ran past its deadline"
    # /models arrived: the snapshot stands, partial, and nothing of the model it could not finish is closed.
    assert summary.status == "partial" and summary.endpoint_failures == 1
    reason = summary.error_summary or ""
    assert BETA["id"] in reason and "0.8 s deadline" in reason and "CATALOG_SWEEP_DEADLINE" in reason
    assert "\n" not in reason
    stored = con.execute("SELECT DISTINCT model_id FROM endpoint_versions").fetchall()
    assert stored == [(ALPHA["id"],)]


def test_in_catalog_up_a_trickling_upstream_ends_the_run_failed_not_running(isolated_data: Path) -> None:
    con = connect(isolated_data)
    try:
        with upstream({"models": trickle(0.1)}) as (url, _requests):
            source = LiveSource(settings(url, request_deadline=60, sweep_deadline=0.5))
            ctx = JobContext(con=con, db=isolated_data, config=load_config(None, env={}), source=source)
            ended, outcome, _took = finished_within(HANG, lambda: run_job(ctx, "snapshot_catalog"))
            assert ended, "the scheduled sweep stayed running against a trickling upstream"
        run_id, result = outcome
        assert result.status == "failed"
        (row,) = con.execute(
            "SELECT status, error_summary, finished_at FROM job_runs WHERE run_id = ?", [run_id]
        ).fetchall()
    finally:
        con.close()
    status, error, finished = row
    assert status == "failed" and finished is not None
    assert "CATALOG_SWEEP_DEADLINE" in error and "\n" not in error


def test_deadlines_and_the_body_cap_are_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CATALOG_REQUEST_DEADLINE", "45")
    monkeypatch.setenv("CATALOG_SWEEP_DEADLINE", "2m")
    monkeypatch.setenv("CATALOG_MAX_BODY_MB", "5")
    fetch = FetchSettings.from_env()
    assert (fetch.request_deadline, fetch.sweep_deadline, fetch.max_body_bytes) == (45, 120, 5 * MB)
    assert FetchSettings.from_env(sweep_deadline=7).sweep_deadline == 7  # `catalog sync --deadline` wins
    monkeypatch.setenv("CATALOG_SWEEP_DEADLINE", "soon")
    with pytest.raises(ConfigError, match="CATALOG_SWEEP_DEADLINE"):
        FetchSettings.from_env()


def test_cli_sync_deadline_flag_bounds_the_sweep() -> None:
    assert run_cli("init").returncode == 0  # `sync` needs an existing catalog
    with upstream({"models": trickle(0.1)}) as (url, _requests):
        env = {"CATALOG_MAX_ATTEMPTS": "1"}
        ended, out, _took = finished_within(
            HANG, lambda: run_cli("sync", "--base-url", url, "--deadline", "0.5s", env=env)
        )
        assert ended, "catalog sync --deadline 0.5s ran on"
    assert out.returncode == 1, out.stderr
    (line,) = [line for line in out.stderr.splitlines() if line.strip()]
    assert "failed" in line and "0.5 s deadline" in line and "CATALOG_SWEEP_DEADLINE" in line
    bad = run_cli("sync", "--base-url", "http://127.0.0.1:9/api/v1", "--deadline", "never")
    assert bad.returncode == 2 and "--deadline" in bad.stderr and "Traceback" not in bad.stderr


# --- 2. size caps -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("declare", [True, False], ids=["content-length", "chunked"])
def test_an_oversized_body_is_a_fetch_error_and_is_read_no_further_than_the_cap(
    con: duckdb.DuckDBPyConnection, declare: bool
) -> None:
    total, sent = 64 * MB, Counter()
    with upstream({"models": huge(total, sent, declare=declare)}) as (url, requests):
        summary = sync_once(con, settings(url, max_body_bytes=1 * MB, max_attempts=3))
    assert summary.status == "failed"
    reason = summary.error_summary or ""
    assert "/models" in reason and "1 MB cap" in reason and "CATALOG_MAX_BODY_MB" in reason and "\n" not in reason
    # never retried: it would only come back as large (the full-scope request before it got a 404 here)
    assert [r for r in requests if r == "models"] == ["models"]
    # The client hung up near the cap: the server could not push the rest (socket buffers hold a few MB).
    assert sent.sent < total / 4, f"the client read {sent.sent:,} bytes of a body capped at 1 MB"
    assert con.execute("SELECT count(*) FROM model_versions").fetchall() == [(0,)]
    assert con.execute("SELECT coalesce(max(size_bytes), 0) FROM raw_blobs").fetchall()[0][0] <= 1 * MB


def test_cli_sync_of_an_oversized_body_says_which_cap_in_one_line() -> None:
    assert run_cli("init").returncode == 0  # `sync` needs an existing catalog
    with upstream({"models": huge(4 * MB, Counter(), declare=False)}) as (url, _requests):
        out = run_cli("sync", "--base-url", url, env={"CATALOG_MAX_BODY_MB": "1"})
    assert out.returncode == 1, out.stderr
    (line,) = [line for line in out.stderr.splitlines() if line.strip()]
    assert "past the 1 MB cap" in line and "raise CATALOG_MAX_BODY_MB" in line and "Traceback" not in out.stderr


def test_absurd_fields_refuse_their_record_and_nothing_huge_is_stored(con: duckdb.DuckDBPyConnection) -> None:
    gamma, delta, epsilon = (dict(m) for m in MODELS[2:5])
    gamma["name"] = "N" * 300_000  # the 300 MB name, scaled to fit under the body cap
    delta["id"] = "acme/" + "d" * 20_000  # an id too long to name in a message
    epsilon["supported_parameters"] = [f"p{i}" for i in range(5_000)]
    served = [ALPHA, BETA, gamma, delta, epsilon]
    with upstream({"models": json_body({"data": served}), **endpoints_of(ALPHA, BETA, gamma, epsilon)}) as (url, _r):
        summary = sync_once(con, settings(url))
    # Refused records are reported, as any malformed record is: the snapshot is partial, the rest is stored.
    assert summary.status == "partial" and summary.models == 2
    stored = {r[0] for r in con.execute("SELECT model_id FROM model_versions").fetchall()}
    assert stored == {ALPHA["id"], BETA["id"]}
    reason = summary.error_summary or ""
    assert "3 item(s) unparsable" in reason and f"at most {MAX_TEXT:,}" in reason and "\n" not in reason
    assert len(reason) <= 2000 and "d" * 300 not in reason
    # Nothing stored anywhere (versions, snapshot summary, payload errors, run log) is anywhere near those sizes.
    for table in ("model_versions", "endpoint_versions", "snapshots", "raw_payloads"):
        longest = max(map(len, strings_stored(con, table)), default=0)
        assert longest <= MAX_TEXT, f"{table} holds a string of {longest:,} characters"


def test_field_caps_name_the_field_and_bound_numbers_too() -> None:
    item = {**ALPHA, "name": "x" * (MAX_TEXT + 1)}
    with pytest.raises(RecordError, match=r"'name' is 2,001 characters long \(at most 2,000\)"):
        parse_model(item)
    with pytest.raises(RecordError, match=f"at most {MAX_ID}"):
        parse_model({**ALPHA, "id": "a" * (MAX_ID + 1)})
    with pytest.raises(RecordError, match="field name"):
        parse_model({**ALPHA, "k" * 500: 1})
    with pytest.raises(RecordError, match="'context_length'"):
        parse_model({**ALPHA, "context_length": Decimal("1e30")})  # would overflow the BIGINT column
    assert parse_model({**ALPHA, "context_length": Decimal("2E+5")}).facts["context_length"] == 200_000


def test_a_models_body_nested_past_the_stack_is_unusable_not_a_crash() -> None:
    read = read_models(RawPayload("models", 200, b"[" * 200_000))
    assert read.records is None and read.fatal is not None and "nested too deeply" in read.fatal
