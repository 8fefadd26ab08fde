"""Running one job with its run-log entry: ``running`` first, then how it ended, whatever happens.

The run log lives in the database the job writes, so a full disk can make the log itself fail: a run that
cannot be logged is said so in one log line (never a traceback), and one that cannot even be logged as
started is not run. A database DuckDB has invalidated (a failed checkpoint) stops the service
(``JobContext.fail``): every later statement would fail too.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable
from typing import TypeVar

import duckdb

from catalog.errors import CatalogError, StoreWriteError, SweepInterrupted
from catalog.redact import redact
from catalog.store import runlog
from catalog.store.failures import store_failure
from jobs.context import JobContext, JobResult
from jobs.registry import job_named

log = logging.getLogger("catalog.jobs")
T = TypeVar("T")


def run_job(ctx: JobContext, name: str, *, trigger: str = "schedule") -> tuple[int, JobResult]:
    """Run ``name`` now and log it. Never raises for a job failure: the run log (and the result) say it.

    Expected failures (a dead network, a locked file, a bad payload, a full disk) are logged as one line;
    anything else is a bug, logged with its traceback and summarised as ``Type: message`` in the run log.
    Returns run id 0 when the run could not be written to the run log.
    """
    spec = job_named(name)
    if ctx.stop.is_set():
        # Queued before a shutdown began: the service starts nothing new while it stops.
        reason = "skipped: the service is stopping"
        run_id = _logged(
            ctx, name, "log a skipped run", lambda con: runlog.record_skipped(con, name, reason, pid=ctx.pid)
        )
        return run_id or 0, JobResult("skipped", reason, rows_changed=0)
    run_id = _logged(ctx, name, "start its run", lambda con: runlog.start_run(con, name, trigger, pid=ctx.pid))
    if run_id is None:
        # Fail closed: a run the log cannot record is not run (its own writes would fail the same way).
        result = JobResult("failed", "not run: the run log cannot be written", error="the run log cannot be written")
        ctx.log(f"{name} [{trigger}] failed: {result.summary}")
        return 0, result
    status = "failed"
    try:
        result = spec.run(ctx)
        status = result.status
    except KeyboardInterrupt:
        # Ctrl-C on a run by hand: the snapshot's own transaction has rolled back; say so in the log, stop.
        _finish(
            ctx,
            name,
            run_id,
            "interrupted",
            JobResult("interrupted", "", rows_changed=0, error="interrupted by Ctrl-C"),
        )
        raise
    except SweepInterrupted as exc:
        status = "interrupted"
        result = JobResult("interrupted", f"interrupted: {exc}", rows_changed=0, error=str(exc))
    except Exception as exc:
        failure = store_failure(exc, ctx.db)
        if isinstance(exc, CatalogError) or failure is not None:
            message = str(failure or exc)
            result = JobResult("failed", f"failed: {message}", error=message)
            if isinstance(failure, StoreWriteError) and failure.fatal:
                ctx.fail(message)
        else:
            log.error("job %s crashed:\n%s", name, redact(traceback.format_exc()))
            result = JobResult("failed", f"crashed: {type(exc).__name__}: {exc}", error=f"{type(exc).__name__}: {exc}")
    # A failure may quote the base URL or an upstream's answer: what is logged, stored and printed is redacted.
    result.summary = redact(result.summary)
    result.error = redact(result.error) if result.error else result.error
    _finish(ctx, name, run_id, status, result)
    if spec.writes and not ctx.stop.is_set():
        try:
            ctx.publish_copy()
        except StoreWriteError as exc:  # the run itself is stored; a failed publish must not mark it failed
            log.error("after %s: %s", name, exc)
            if exc.fatal:
                ctx.fail(str(exc))
        except Exception as exc:
            log.error("after %s: could not publish the read-only copy: %s", name, runlog.one_line(str(exc)))
        try:
            if ctx.after_run is not None and not ctx.stop.is_set():
                ctx.after_run()
        except Exception as exc:
            log.error("after %s: could not refresh the API's in-memory data: %s", name, runlog.one_line(str(exc)))
    ctx.log(f"{name} [{trigger}] {result.status}: {result.summary}")
    return run_id, result


def _finish(ctx: JobContext, name: str, run_id: int, status: str, result: JobResult) -> None:
    _logged(
        ctx,
        name,
        f"record how run {run_id} ended ({status}: {runlog.one_line(result.error or result.summary or status)})",
        lambda con: runlog.finish_run(
            con,
            run_id,
            status,
            rows_changed=result.rows_changed,
            snapshot_id=result.snapshot_id,
            error=result.error,
            detail=result.detail or None,
        ),
    )


def _logged(ctx: JobContext, name: str, what: str, write: Callable[[duckdb.DuckDBPyConnection], T]) -> T | None:
    """A run-log write; one that fails is one log line (and stops the service if the database is gone)."""
    try:
        with ctx.writing() as con:
            return write(con)
    except Exception as exc:
        failure = store_failure(exc, ctx.db)
        if failure is None:
            raise
        log.error("job %s: could not %s in job_runs: %s", name, what, failure)
        if isinstance(failure, StoreWriteError) and failure.fatal:
            ctx.fail(str(failure))
        return None
