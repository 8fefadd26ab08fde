"""The schedule in the service process: APScheduler 3, one job at a time, nothing overlapping.

* One worker thread runs every job, so no two jobs ever write at once and a snapshot's ``taken_at`` always
  follows the one before. ``max_instances=1``: a run that comes due while the same job is still running is
  skipped (and logged as ``skipped``), never started beside it. Another job that comes due waits its turn.
* ``coalesce``: runs missed while the process was busy or asleep collapse into one.
* ``misfire_grace_time``: a run that could not start within the grace time of its slot is skipped and logged.
* The first run of each job follows its last successful run (``last + interval``), so a restart neither
  repeats a fresh sweep nor waits a whole interval after a stale one; a job that never ran starts soon.
* Follow-ups: a sweep that stored a snapshot queues ``build_site`` (when enabled), so the site shows it.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import duckdb
from apscheduler.events import (
    EVENT_JOB_ERROR,
    EVENT_JOB_EXECUTED,
    EVENT_JOB_MAX_INSTANCES,
    EVENT_JOB_MISSED,
    JobEvent,
    JobExecutionEvent,
)
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler

from catalog.store import runlog
from jobs.config import JobSchedule, describe_duration
from jobs.context import JobContext
from jobs.runner import run_job

log = logging.getLogger("catalog.jobs")
FIRST_RUN_DELAY = timedelta(seconds=2)
MANUAL_SEPARATOR = ":manual:"
FOLLOW_SEPARATOR = ":after:"
SWEEPS = ("snapshot_catalog", "snapshot_providers")  # a snapshot they store is followed by a site build


def job_name(job_id: str) -> str:
    """The job an APScheduler id runs: ``build_site:after:snapshot_catalog:…`` and ``…:manual:…`` are one-offs."""
    return job_id.split(":", 1)[0]


def first_run(
    con: duckdb.DuckDBPyConnection, schedule: JobSchedule, at: datetime, delay: timedelta = FIRST_RUN_DELAY
) -> datetime | None:
    """When the job should first run in a service started at ``at`` (``None``: its cron line decides)."""
    if schedule.cron is not None:
        return None
    last = runlog.last_success(con, schedule.name)
    soon = at + delay
    if last is None:
        return soon
    assert schedule.every is not None
    return max(soon, last + timedelta(seconds=schedule.every))


def build_scheduler(ctx: JobContext, *, first_delay: timedelta = FIRST_RUN_DELAY) -> BackgroundScheduler:
    """A scheduler (not started) with every enabled job of ``ctx.config``."""
    scheduler = BackgroundScheduler(
        executors={"default": ThreadPoolExecutor(max_workers=1)},
        job_defaults={"coalesce": True, "max_instances": 1},
        timezone=UTC,
    )
    at = datetime.now(UTC)
    for schedule in ctx.config.enabled():
        options: dict[str, Any] = {}
        with ctx.writing() as con:
            start = first_run(con, schedule, at, first_delay)
        if start is not None:
            options["next_run_time"] = start
        scheduler.add_job(
            run_job,
            trigger=schedule.trigger(),
            args=[ctx, schedule.name],
            kwargs={"trigger": "schedule"},
            id=schedule.name,
            name=schedule.name,
            misfire_grace_time=max(1, int(schedule.misfire_grace)),
            **options,
        )

    def skipped(event: JobEvent) -> None:
        job = job_name(event.job_id)
        schedule = ctx.config.jobs.get(job)
        if event.code == EVENT_JOB_MAX_INSTANCES:
            reason = "skipped: the previous run was still going"
            due = getattr(event, "scheduled_run_times", [None])[0]
        elif event.code == EVENT_JOB_MISSED:
            grace = describe_duration(schedule.misfire_grace) if schedule else "?"
            reason = f"skipped: could not start within the misfire grace time ({grace}) of its slot"
            due = getattr(event, "scheduled_run_time", None)
        else:
            log.error("job %s raised outside its run: %s", job, getattr(event, "exception", None))
            return
        trigger = "manual" if MANUAL_SEPARATOR in event.job_id else "schedule"
        try:
            with ctx.writing() as con:
                runlog.record_skipped(con, job, reason, pid=ctx.pid, scheduled_for=due, trigger=trigger)
        except Exception as exc:  # a listener must never take the scheduler down
            log.error("could not log a skipped run of %s: %s", job, exc)
        ctx.log(f"{job} {reason}")

    def follow_up(event: JobEvent) -> None:
        assert isinstance(event, JobExecutionEvent)
        job = job_name(event.job_id)
        retval = event.retval
        stored = isinstance(retval, tuple) and retval[1].status == "ok" and retval[1].snapshot_id is not None
        site = ctx.config.jobs.get("build_site")
        if job in SWEEPS and stored and site is not None and site.enabled and not ctx.stop.is_set():
            try:
                run_soon(scheduler, ctx, "build_site", trigger="schedule", after=job)
            except Exception as exc:  # a listener must never take the scheduler down
                log.error("could not queue build_site after %s: %s", job, exc)

    scheduler.add_listener(skipped, EVENT_JOB_MAX_INSTANCES | EVENT_JOB_MISSED | EVENT_JOB_ERROR)
    scheduler.add_listener(follow_up, EVENT_JOB_EXECUTED)
    return scheduler


def next_runs(scheduler: BaseScheduler) -> dict[str, datetime | None]:
    return {
        job.id: job.next_run_time
        for job in scheduler.get_jobs()
        if MANUAL_SEPARATOR not in job.id and FOLLOW_SEPARATOR not in job.id
    }


def run_soon(
    scheduler: BaseScheduler, ctx: JobContext, name: str, *, trigger: str = "manual", after: str | None = None
) -> datetime:
    """Queue one run of ``name`` now, logged as ``trigger``, beside the schedule (which it does not move).

    It waits its turn behind a job that is running; the caller refuses a request for the job that is running.
    ``after``: the job whose success queued this one (a follow-up, logged as scheduled).
    """
    at = datetime.now(UTC)
    separator = FOLLOW_SEPARATOR + (after or "") + ":" if after else MANUAL_SEPARATOR
    scheduler.add_job(
        run_job,
        trigger="date",
        run_date=at,
        args=[ctx, name],
        kwargs={"trigger": trigger},
        id=f"{name}{separator}{at.timestamp()}",
        name=name,
        misfire_grace_time=None,  # a run asked for by hand runs however long the queue was
    )
    return at
