"""Retention of the raw-payload archive: which payloads may go, and dropping them.

Every sweep archives its bodies so ``catalog rederive`` can rebuild history when parsing improves. Bodies are
stored once per content hash, but endpoint bodies carry live uptime and latency figures, so nearly every
hourly sweep stores new ones. The rule: the payloads of snapshots taken before ``cutoff`` **that opened and
closed no version** may be dropped. Rederive skips those snapshots (``raw_pruned_at``) and rebuilds the same
versions from the ones kept — with the same parser: "changed nothing" is what the parser of the day saw, so a
later parser fix that would find a change inside a pruned snapshot dates it to the next kept one. Snapshots
that changed the history, the newest snapshot and the newest good one keep their payloads for good. Blobs no
kept payload points to are deleted.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import duckdb

from catalog.store.db import transaction
from catalog.store.snapshots import GOOD_SNAPSHOT


@dataclass(frozen=True)
class Pruned:
    """What a prune dropped (or, in a dry run, would drop)."""

    snapshots: int
    payload_rows: int
    blobs: int
    blob_bytes: int  # compressed


def prunable_snapshots(con: duckdb.DuckDBPyConnection, cutoff: datetime) -> list[int]:
    """Snapshots taken before ``cutoff`` whose payloads the rule lets go, oldest first."""
    rows = con.execute(
        f"""
        SELECT s.snapshot_id FROM snapshots s
        WHERE s.raw_pruned_at IS NULL
          AND s.taken_at < ?
          AND s.versions_opened = 0 AND s.versions_closed = 0
          -- The newest snapshot, and the newest good one (a failed sweep may be newer), keep their payloads.
          AND s.snapshot_id NOT IN (SELECT max(snapshot_id) FROM snapshots
                                    UNION ALL SELECT max(snapshot_id) FROM snapshots WHERE {GOOD_SNAPSHOT})
          AND EXISTS (SELECT 1 FROM raw_payloads p WHERE p.snapshot_id = s.snapshot_id)
        ORDER BY s.snapshot_id
        """,
        [cutoff],
    ).fetchall()
    return [int(r[0]) for r in rows]


def orphan_blobs(con: duckdb.DuckDBPyConnection) -> tuple[int, int]:
    """How many archived blobs no payload points to, and their compressed bytes."""
    row = con.execute(
        "SELECT count(*), coalesce(sum(octet_length(gzip_body)), 0) FROM raw_blobs b "
        "WHERE NOT EXISTS (SELECT 1 FROM raw_payloads p WHERE p.sha256 = b.sha256)"
    ).fetchall()[0]
    return int(row[0]), int(row[1])


def prune_raw_payloads(
    con: duckdb.DuckDBPyConnection, cutoff: datetime, *, at: datetime, dry_run: bool = False
) -> Pruned:
    """Apply the rule in one transaction: drop the payloads of the prunable snapshots, mark them pruned at
    ``at``, then delete the blobs left orphaned. ``dry_run`` counts the same and rolls it all back."""
    with transaction(con, commit=not dry_run):
        ids = prunable_snapshots(con, cutoff)
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
                [at, ids],
            )
        blobs, blob_bytes = orphan_blobs(con)
        if blobs:
            con.execute(
                "DELETE FROM raw_blobs b WHERE NOT EXISTS (SELECT 1 FROM raw_payloads p WHERE p.sha256 = b.sha256)"
            )
    return Pruned(len(ids), payloads, blobs, blob_bytes)
