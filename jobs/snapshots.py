"""The snapshot jobs: fetch → parse → store, as one snapshot each (the one-shot form is ``catalog sync``).

``snapshot_catalog`` takes ``/models`` and every model's ``/endpoints`` in one sweep. They belong in one
snapshot: the endpoint list is read from the ``/models`` of the same instant, and a model missing from it
closes its endpoints — split across two snapshots, an endpoints-only sweep would close or keep endpoints
against a model list from another hour. ``snapshot_providers`` takes ``/providers`` (with ``/models``, one
request, because every snapshot starts from the model list) on its own, slower schedule: the provider
directory changes rarely and one request a day keeps it current.
"""

from __future__ import annotations

import time

from catalog.openrouter.payload import Sweep
from catalog.pipeline import fetch_once
from catalog.store.db import transaction
from catalog.store.ingest import SnapshotSummary, apply_snapshot, record_snapshot
from jobs.context import JobContext, JobResult

CATALOG_KINDS = frozenset({"models", "endpoints"})
PROVIDER_KINDS = frozenset({"models", "providers"})


def snapshot_catalog(ctx: JobContext, *, dry_run: bool = False) -> JobResult:
    """One snapshot of ``/models`` and every model's ``/endpoints``."""
    return _snapshot(ctx, CATALOG_KINDS, dry_run=dry_run)


def snapshot_providers(ctx: JobContext, *, dry_run: bool = False) -> JobResult:
    """One snapshot of ``/providers`` (and ``/models``, which every snapshot starts from)."""
    return _snapshot(ctx, PROVIDER_KINDS, dry_run=dry_run)


def _snapshot(ctx: JobContext, kinds: frozenset[str], *, dry_run: bool) -> JobResult:
    with ctx.writing() as con:
        plan = ctx.source.plan(con, kinds)
    if plan is None:
        return JobResult("ok", "replay finished: every recorded day is already stored", rows_changed=0)
    began = time.monotonic()
    if ctx.sweeps is not None:  # the service: fetched and parsed in its sweep process, stored here
        sweep = ctx.sweeps.fetch(
            plan.settings, kinds=plan.kinds, taken_at=plan.taken_at, source=plan.source, stop=ctx.stop
        )
    else:
        sweep = fetch_once(
            plan.settings,
            kinds=plan.kinds,
            taken_at=plan.taken_at,
            source=plan.source,
            progress=ctx.progress,
            stop=ctx.stop,
        )
    if dry_run:
        return _dry_run(ctx, sweep, plan.label)
    fetched = time.monotonic()
    with ctx.writing() as con:
        summary = record_snapshot(con, sweep)
    result = _result(summary, plan.label)
    # Where a sweep's time went (the run log's detail): fetching and parsing, then storing (with any wait for
    # the write lock). bench/load.py reads them to tell a starved fetch from a slow store.
    result.detail["fetch_ms"] = round((fetched - began) * 1000)
    result.detail["store_ms"] = round((time.monotonic() - fetched) * 1000)
    return result


def _dry_run(ctx: JobContext, sweep: Sweep, label: str | None) -> JobResult:
    """Apply the sweep inside a transaction and roll it back: the exact counts, nothing stored."""
    with ctx.writing() as con, transaction(con, commit=False):
        summary = apply_snapshot(con, sweep, archive=True)
    result = _result(summary, label)
    result.summary = "dry run, nothing stored — would record " + result.summary
    return result


def _result(summary: SnapshotSummary, label: str | None) -> JobResult:
    changed = summary.opened + summary.closed
    what = f" ({label})" if label else ""
    line = (
        f"snapshot {summary.snapshot_id}{what}: {summary.status}, {summary.models} models, "
        f"{summary.endpoints if summary.endpoints is not None else '–'} endpoints, "
        f"{summary.providers if summary.providers is not None else '–'} providers, "
        f"+{summary.opened}/-{summary.closed} versions in {summary.duration_ms} ms"
    )
    detail = {
        "snapshot_status": summary.status,
        "taken_at": summary.taken_at.isoformat(),
        "models": summary.models,
        "endpoints": summary.endpoints,
        "providers": summary.providers,
        "versions_opened": summary.opened,
        "versions_closed": summary.closed,
        "endpoint_failures": summary.endpoint_failures,
        "duration_ms": summary.duration_ms,
    }
    if summary.status == "failed":
        return JobResult(
            "failed",
            f"snapshot {summary.snapshot_id}{what} failed, history unchanged: {summary.error_summary}",
            rows_changed=0,
            snapshot_id=summary.snapshot_id,
            error=summary.error_summary or "the sweep failed",
            detail=detail,
        )
    if summary.error_summary:
        detail["problems"] = summary.error_summary
    return JobResult("ok", line, rows_changed=changed, snapshot_id=summary.snapshot_id, detail=detail)
