"""Running one job with its run-log entry: ``running`` first, then how it ended, whatever happens."""

from __future__ import annotations

import logging
import traceback

from catalog.errors import CatalogError, SweepInterrupted
from catalog.redact import redact
from catalog.store import runlog
from jobs.context import JobContext, JobResult
from jobs.registry import job_named

log = logging.getLogger("catalog.jobs")


def run_job(ctx: JobContext, name: str, *, trigger: str = "schedule") -> tuple[int, JobResult]:
    """Run ``name`` now and log it. Never raises for a job failure: the run log (and the result) say it.

    Expected failures (a dead network, a locked file, a bad payload) are logged as one line; anything else is
    a bug, logged with its traceback and summarised as ``Type: message`` in the run log.
    """
    spec = job_named(name)
    if ctx.stop.is_set():
        # Queued before a shutdown began: the service starts nothing new while it stops.
        with ctx.writing() as con:
            run_id = runlog.record_skipped(con, name, "skipped: the service is stopping", pid=ctx.pid)
        return run_id, JobResult("skipped", "skipped: the service is stopping", rows_changed=0)
    with ctx.writing() as con:
        run_id = runlog.start_run(con, name, trigger, pid=ctx.pid)
    status = "failed"
    try:
        result = spec.run(ctx)
        status = result.status
    except KeyboardInterrupt:
        # Ctrl-C on a run by hand: the snapshot's own transaction has rolled back; say so in the log, stop.
        with ctx.writing() as con:
            runlog.finish_run(con, run_id, "interrupted", rows_changed=0, error="interrupted by Ctrl-C")
        raise
    except SweepInterrupted as exc:
        status = "interrupted"
        result = JobResult("interrupted", f"interrupted: {exc}", rows_changed=0, error=str(exc))
    except CatalogError as exc:
        result = JobResult("failed", f"failed: {exc}", error=str(exc))
    except Exception as exc:
        log.error("job %s crashed:\n%s", name, redact(traceback.format_exc()))
        result = JobResult("failed", f"crashed: {type(exc).__name__}: {exc}", error=f"{type(exc).__name__}: {exc}")
    # A failure may quote the base URL or an upstream's answer: what is logged, stored and printed is redacted.
    result.summary = redact(result.summary)
    result.error = redact(result.error) if result.error else result.error
    with ctx.writing() as con:
        runlog.finish_run(
            con,
            run_id,
            status,
            rows_changed=result.rows_changed,
            snapshot_id=result.snapshot_id,
            error=result.error,
            detail=result.detail or None,
        )
    if spec.writes and not ctx.stop.is_set():
        try:
            ctx.publish_copy()
        except Exception as exc:  # the run itself is stored; a failed publish must not mark it failed
            log.error("after %s: could not publish the read-only copy: %s", name, exc)
        try:
            if ctx.after_run is not None:
                ctx.after_run()
        except Exception as exc:
            log.error("after %s: could not refresh the API's in-memory data: %s", name, exc)
    ctx.log(f"{name} [{trigger}] {result.status}: {result.summary}")
    return run_id, result
