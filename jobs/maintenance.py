"""Upkeep of the DuckDB file: retention of the raw-payload archive, and checkpoints.

**Retention** (``prune_raw``). Every sweep archives its bodies so ``catalog rederive`` can rebuild history when
parsing improves. Bodies are stored once per content hash, but endpoint bodies carry live uptime and latency
figures, so nearly every hourly sweep stores new ones. The job drops the payloads of snapshots older than
``keep_days`` **that opened and closed no version**: rederive skips those snapshots (``raw_pruned_at``) and
rebuilds the same versions from the ones kept — with the same parser: "changed nothing" is what the parser of
the day saw, so a later parser fix that would find a change inside a pruned snapshot dates it to the next kept
one. ``keep_days`` is the window in which every payload is kept. Snapshots that changed the history, the
newest snapshot and the newest good one keep their payloads for good. Blobs no kept payload points to are deleted.

**Checkpoint** (``checkpoint``). Writes the WAL into the file and reports its size and free blocks. DuckDB
reuses freed blocks for new data rather than shrinking the file, so after a prune the file stays the same size
and grows more slowly.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import duckdb

from catalog.times import now
from jobs.context import JobContext, JobResult


def _prunable(con: duckdb.DuckDBPyConnection, keep_days: int) -> list[int]:
    cutoff = now() - timedelta(days=keep_days)
    rows = con.execute(
        """
        SELECT s.snapshot_id FROM snapshots s
        WHERE s.raw_pruned_at IS NULL
          AND s.taken_at < ?
          AND s.versions_opened = 0 AND s.versions_closed = 0
          -- The newest snapshot, and the newest good one (a failed sweep may be newer), keep their payloads.
          AND s.snapshot_id NOT IN (SELECT max(snapshot_id) FROM snapshots
                                    UNION ALL SELECT max(snapshot_id) FROM snapshots WHERE status <> 'failed')
          AND EXISTS (SELECT 1 FROM raw_payloads p WHERE p.snapshot_id = s.snapshot_id)
        ORDER BY s.snapshot_id
        """,
        [cutoff],
    ).fetchall()
    return [int(r[0]) for r in rows]


def _orphan_blobs(con: duckdb.DuckDBPyConnection) -> tuple[int, int]:
    row = con.execute(
        "SELECT count(*), coalesce(sum(octet_length(gzip_body)), 0) FROM raw_blobs b "
        "WHERE NOT EXISTS (SELECT 1 FROM raw_payloads p WHERE p.sha256 = b.sha256)"
    ).fetchall()[0]
    return int(row[0]), int(row[1])


def prune_raw(ctx: JobContext, *, dry_run: bool = False) -> JobResult:
    """Drop archived payloads of old snapshots that changed nothing; keep every one that changed history."""
    keep_days = int(ctx.config.jobs["prune_raw"].option("keep_days"))
    with ctx.writing() as con:
        con.execute("BEGIN TRANSACTION")
        try:
            ids = _prunable(con, keep_days)
            payloads = 0
            if ids:
                payloads = len(
                    con.execute(
                        "DELETE FROM raw_payloads WHERE snapshot_id IN (SELECT unnest(?::INTEGER[])) RETURNING 1",
                        [ids],
                    ).fetchall()
                )
                con.execute(
                    "UPDATE snapshots SET raw_pruned_at = ? WHERE snapshot_id IN (SELECT unnest(?::INTEGER[]))",
                    [now(), ids],
                )
            blobs, blob_bytes = _orphan_blobs(con)
            if blobs:
                con.execute(
                    "DELETE FROM raw_blobs b WHERE NOT EXISTS (SELECT 1 FROM raw_payloads p WHERE p.sha256 = b.sha256)"
                )
            con.execute("ROLLBACK" if dry_run else "COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
    detail: dict[str, Any] = {
        "keep_days": keep_days,
        "snapshots_pruned": len(ids),
        "payload_rows_deleted": payloads,
        "blobs_deleted": blobs,
        "compressed_bytes_freed": blob_bytes,
    }
    line = (
        f"{'would prune' if dry_run else 'pruned'} the raw payloads of {len(ids)} snapshot(s) older than "
        f"{keep_days} days that changed nothing: {payloads} payload rows, {blobs} blobs, "
        f"{blob_bytes:,} compressed bytes"
    )
    return JobResult("ok", line, rows_changed=0 if dry_run else payloads + blobs, detail=detail)


def database_size(con: duckdb.DuckDBPyConnection) -> dict[str, Any]:
    row = con.execute(
        "SELECT block_size, total_blocks, used_blocks, free_blocks, wal_size FROM pragma_database_size() "
        "WHERE database_name = current_database()"
    ).fetchall()
    if not row:
        return {}
    block_size, total, used, free, wal = row[0]
    return {
        "block_size": int(block_size),
        "total_blocks": int(total),
        "used_blocks": int(used),
        "free_blocks": int(free),
        "wal_size": str(wal),
    }


def checkpoint(ctx: JobContext, *, dry_run: bool = False) -> JobResult:
    """Write the WAL into the database file and report the file's size and free blocks."""
    with ctx.writing() as con:
        before = database_size(con)
        if not dry_run:
            con.execute("CHECKPOINT")
        after = database_size(con)
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
