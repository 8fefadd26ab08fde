"""Upkeep of the DuckDB file: retention of the raw-payload archive, and checkpoints.

**Retention** (``prune_raw``) drops the archived payloads of snapshots older than ``keep_days`` that opened
and closed no version; ``keep_days`` is the window in which every payload is kept. The rule itself, and why it
is safe for ``catalog rederive``, is ``catalog.store.retention``'s.

**Checkpoint** (``checkpoint``). Writes the WAL into the file and reports its size and free blocks. DuckDB
reuses freed blocks for new data rather than shrinking the file, so after a prune the file stays the same size
and grows more slowly.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from catalog.store import db, retention
from catalog.times import now
from jobs.context import JobContext, JobResult


def prune_raw(ctx: JobContext, *, dry_run: bool = False) -> JobResult:
    """Drop archived payloads of old snapshots that changed nothing; keep every one that changed history."""
    keep_days = int(ctx.config.jobs["prune_raw"].option("keep_days"))
    at = now()  # one instant: the cutoff and the time stamped on pruned snapshots agree
    with ctx.writing() as con:
        pruned = retention.prune_raw_payloads(con, at - timedelta(days=keep_days), at=at, dry_run=dry_run)
    detail: dict[str, Any] = {
        "keep_days": keep_days,
        "snapshots_pruned": pruned.snapshots,
        "payload_rows_deleted": pruned.payload_rows,
        "blobs_deleted": pruned.blobs,
        "compressed_bytes_freed": pruned.blob_bytes,
    }
    line = (
        f"{'would prune' if dry_run else 'pruned'} the raw payloads of {pruned.snapshots} snapshot(s) older than "
        f"{keep_days} days that changed nothing: {pruned.payload_rows} payload rows, {pruned.blobs} blobs, "
        f"{pruned.blob_bytes:,} compressed bytes"
    )
    return JobResult("ok", line, rows_changed=0 if dry_run else pruned.payload_rows + pruned.blobs, detail=detail)


def checkpoint(ctx: JobContext, *, dry_run: bool = False) -> JobResult:
    """Write the WAL into the database file and report the file's size and free blocks."""
    with ctx.writing() as con:
        before = db.database_size(con)
        if not dry_run:
            db.checkpoint(con)
        after = db.database_size(con)
    file_bytes = ctx.db.stat().st_size if ctx.db.exists() else None
    detail = {"before": before, "after": after, "file_bytes": file_bytes}
    free = after.get("free_blocks", 0)
    total = after.get("total_blocks", 0) or 1
    line = (
        f"{'would checkpoint' if dry_run else 'checkpointed'}: WAL {before.get('wal_size')} → "
        f"{after.get('wal_size')}, file {file_bytes:,} bytes, {free} of {total} blocks free "
        f"({100 * free / total:.0f} %, reused before the file grows)"
        if file_bytes is not None
        else "checkpointed an in-memory database"
    )
    return JobResult("ok", line, rows_changed=0, detail=detail)
