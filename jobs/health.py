"""The health report of ``GET /health`` and ``catalog status``: per job its last success, age, staleness and
last error, plus what the history holds.

``status`` is ``ok`` when no enabled job's last run failed and none is stale, else ``degraded``. A job
is ``stale`` when its last success is older than two of its intervals (or, never having succeeded, when the
service has been up that long).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb

from catalog.store import runlog
from catalog.times import iso, now
from jobs.config import ServiceConfig


def health_report(
    con: duckdb.DuckDBPyConnection,
    config: ServiceConfig,
    *,
    db: Path,
    service: Mapping[str, Any] | None = None,
    next_runs: Mapping[str, datetime | None] | None = None,
    started_at: datetime | None = None,
) -> dict[str, Any]:
    at = now()
    intervals = config.intervals()
    health = {h.job: h for h in runlog.job_health(con, intervals, at=at, watching_since=started_at)}
    running = runlog.running_jobs(con)
    jobs = []
    for name, schedule in config.jobs.items():
        h = health[name]
        jobs.append(
            {
                "job": name,
                "enabled": schedule.enabled,
                "schedule": schedule.describe(),
                "interval_s": intervals[name],
                "next_run": iso(next_runs.get(name)) if next_runs else None,
                "running": name in running,
                "last_run_status": h.last_run_status,
                "last_run_started": iso(h.last_run_started),
                "last_success": iso(h.last_success),
                "last_success_age_s": h.last_success_age_s,
                "stale": h.stale if schedule.enabled else False,
                "last_error": h.last_error,
                "last_error_at": iso(h.last_error_at),
                "runs": h.runs,
                "failures": h.failures,
            }
        )
    # An interrupted run (the service was stopped mid-sweep) is not a failure of the job.
    degraded = any(j["enabled"] and (j["stale"] or j["last_run_status"] == "failed") for j in jobs)
    snapshots = runlog.snapshot_counts(con)
    if snapshots["newest"] is not None:
        snapshots["newest"]["taken_at"] = iso(snapshots["newest"]["taken_at"])
    return {
        "status": "degraded" if degraded else "ok",
        "checked_at": iso(at),
        "service": dict(service) if service is not None else None,
        "db": str(db),
        "config": config.origin,
        "jobs": jobs,
        "snapshots": snapshots,
    }


def service_facts(*, url: str, source: str, started_at: datetime) -> dict[str, Any]:
    return {
        "pid": os.getpid(),
        "url": url,
        "source": source,
        "started_at": iso(started_at),
        "uptime_s": round((now() - started_at).total_seconds(), 3),
    }
