"""The run log of scheduled jobs (``job_runs``): what ran, when, how it ended and what it changed.

A run is written as ``running`` when it starts and completed when it ends, each in its own short
transaction, so a process killed mid-run leaves a row that says so; the next start marks such rows
``interrupted``. Runs the scheduler did not start (the previous one still going, or missed beyond the grace
time) are logged as ``skipped`` with the reason.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import duckdb
import polars as pl

from catalog.redact import redact
from catalog.store.redaction import SECRET_COLUMNS, redact_cell, redact_frame
from catalog.store.snapshots import GOOD_SNAPSHOT
from catalog.times import now

ERROR_SUMMARY_CHARS = 300
RUN_COLUMNS = [
    "run_id",
    "job",
    "trigger",
    "started_at",
    "finished_at",
    "status",
    "rows_changed",
    "snapshot_id",
    "error_summary",
    "detail",
    "pid",
]


def one_line(text: str) -> str:
    """An error as one line: its first line, redacted (it may repeat a URL or an upstream's answer), trimmed to a
    length a table and a log line can hold."""
    first = next((line.strip() for line in redact(str(text)).splitlines() if line.strip()), "") or "unknown error"
    return first if len(first) <= ERROR_SUMMARY_CHARS else first[: ERROR_SUMMARY_CHARS - 1] + "…"


def start_run(con: duckdb.DuckDBPyConnection, job: str, trigger: str, *, pid: int, at: datetime | None = None) -> int:
    row = con.execute(
        "INSERT INTO job_runs (job, trigger, started_at, status, pid) VALUES (?, ?, ?, 'running', ?) RETURNING run_id",
        [job, trigger, at or now(), pid],
    ).fetchall()
    return int(row[0][0])


def finish_run(
    con: duckdb.DuckDBPyConnection,
    run_id: int,
    status: str,
    *,
    rows_changed: int | None = None,
    snapshot_id: int | None = None,
    error: str | None = None,
    detail: Mapping[str, Any] | None = None,
    at: datetime | None = None,
) -> None:
    con.execute(
        "UPDATE job_runs SET status = ?, finished_at = ?, rows_changed = ?, snapshot_id = ?, error_summary = ?, "
        "detail = ? WHERE run_id = ?",
        [
            status,
            at or now(),
            rows_changed,
            snapshot_id,
            one_line(error) if error else None,
            redact_cell("detail", json.dumps(detail, sort_keys=True, default=str)) if detail else None,
            run_id,
        ],
    )


def record_skipped(
    con: duckdb.DuckDBPyConnection,
    job: str,
    reason: str,
    *,
    pid: int,
    scheduled_for: datetime | None = None,
    trigger: str = "schedule",
) -> int:
    at = now()
    row = con.execute(
        "INSERT INTO job_runs (job, trigger, started_at, finished_at, status, error_summary, detail, pid) "
        "VALUES (?, ?, ?, ?, 'skipped', ?, ?, ?) RETURNING run_id",
        [
            job,
            trigger,
            at,
            at,
            one_line(reason),
            json.dumps({"scheduled_for": scheduled_for.isoformat()}) if scheduled_for else None,
            pid,
        ],
    ).fetchall()
    return int(row[0][0])


def interrupt_stale_runs(con: duckdb.DuckDBPyConnection) -> int:
    """Mark runs left ``running`` by a process that is gone (only the owner of the file calls this)."""
    rows = con.execute(
        "UPDATE job_runs SET status = 'interrupted', finished_at = ?, "
        "error_summary = 'the process stopped before the run ended; nothing of it was stored' "
        "WHERE status = 'running' RETURNING run_id",
        [now()],
    ).fetchall()
    return len(rows)


def running_jobs(con: duckdb.DuckDBPyConnection) -> set[str]:
    return {r[0] for r in con.execute("SELECT DISTINCT job FROM job_runs WHERE status = 'running'").fetchall()}


def run_history(con: duckdb.DuckDBPyConnection, *, job: str | None = None, limit: int = 50) -> pl.DataFrame:
    """Runs, newest first."""
    where, params = ("WHERE job = ?", [job]) if job else ("", [])
    frame: pl.DataFrame = con.sql(
        f"SELECT {', '.join(RUN_COLUMNS)} FROM job_runs {where} ORDER BY run_id DESC LIMIT ?",
        params=[*params, limit],
    ).pl()
    return redact_frame(frame, SECRET_COLUMNS["job_runs"])  # rows an older version stored unredacted


@dataclass(frozen=True)
class JobHealth:
    """One job's record, for ``/health`` and ``catalog status``."""

    job: str
    last_run_status: str | None
    last_run_started: datetime | None
    last_success: datetime | None
    last_success_age_s: float | None
    stale: bool
    last_error: str | None
    last_error_at: datetime | None
    runs: int
    failures: int

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def job_health(
    con: duckdb.DuckDBPyConnection,
    intervals: Mapping[str, float | None],
    *,
    at: datetime | None = None,
    watching_since: datetime | None = None,
) -> list[JobHealth]:
    """Per job: its last success and age, and ``stale`` when that is older than two intervals.

    A job that never succeeded is stale once the service has watched it for two intervals
    (``watching_since``: when the service started); without a start time it is stale at once.
    """
    moment = at or now()
    rows = con.execute(
        """
        SELECT job,
               max(finished_at) FILTER (WHERE status = 'ok'),
               arg_max(status, run_id) FILTER (WHERE status <> 'skipped'),
               max(started_at) FILTER (WHERE status <> 'skipped'),
               arg_max(error_summary, run_id) FILTER (WHERE status IN ('failed', 'interrupted')),
               max(finished_at) FILTER (WHERE status IN ('failed', 'interrupted')),
               count(*) FILTER (WHERE status <> 'skipped'),
               count(*) FILTER (WHERE status = 'failed')
        FROM job_runs GROUP BY job
        """
    ).fetchall()
    known = {r[0]: r for r in rows}
    out: list[JobHealth] = []
    for job, interval in intervals.items():
        r = known.get(job)
        last_success = r[1] if r else None
        age = (moment - last_success).total_seconds() if last_success else None
        stale = False
        if interval is not None:
            limit = timedelta(seconds=2 * interval)
            if last_success is not None:
                stale = moment - last_success > limit
            else:
                stale = watching_since is None or moment - watching_since > limit
        out.append(
            JobHealth(
                job=job,
                last_run_status=r[2] if r else None,
                last_run_started=r[3] if r else None,
                last_success=last_success,
                last_success_age_s=round(age, 3) if age is not None else None,
                stale=stale,
                last_error=redact_cell("error_summary", r[4]) if r else None,
                last_error_at=r[5] if r else None,
                runs=int(r[6]) if r else 0,
                failures=int(r[7]) if r else 0,
            )
        )
    return out


def snapshot_counts(con: duckdb.DuckDBPyConnection) -> dict[str, Any]:
    """Snapshots by status and the newest stored one, for health reports."""
    by_status = dict(con.execute("SELECT status, count(*) FROM snapshots GROUP BY status").fetchall())
    newest = con.execute(
        "SELECT snapshot_id, taken_at, status, models_count, endpoints_count FROM snapshots "
        f"WHERE {GOOD_SNAPSHOT} ORDER BY taken_at DESC, snapshot_id DESC LIMIT 1"
    ).fetchall()
    counts: dict[str, Any] = {s: int(by_status.get(s, 0)) for s in ("ok", "partial", "suspicious", "failed")}
    counts["total"] = sum(counts.values())
    counts["newest"] = (
        dict(zip(["snapshot_id", "taken_at", "status", "models", "endpoints"], newest[0], strict=True))
        if newest
        else None
    )
    return counts


def last_success(con: duckdb.DuckDBPyConnection, job: str) -> datetime | None:
    """When the last successful run of ``job`` finished (``None``: it never succeeded)."""
    row = con.execute("SELECT max(finished_at) FROM job_runs WHERE job = ? AND status = 'ok'", [job]).fetchall()
    return row[0][0] if row else None
