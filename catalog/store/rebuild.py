"""Rebuilding the history's version tables from the raw-payload archive (``catalog rederive``).

The archive keeps every snapshot's payloads as served, so when parsing improves the versions can be derived
again: every version table is emptied and each kept snapshot is assembled and applied again, oldest first, in
one transaction — a failure leaves the history as it was.
"""

from __future__ import annotations

from collections.abc import Callable

import duckdb

from catalog.errors import InputError
from catalog.openrouter.payload import assemble
from catalog.store.archive import load_payloads
from catalog.store.db import transaction
from catalog.store.ingest import apply_snapshot
from catalog.store.snapshots import GOOD_SNAPSHOT

# Every table ``apply_snapshot`` derives from a snapshot's payloads.
DERIVED_TABLES = (
    "price_overrides",
    "endpoint_skus",
    "model_versions",
    "endpoint_versions",
    "endpoint_status",
    "endpoint_telemetry",
    "provider_versions",
)


def rederive(con: duckdb.DuckDBPyConnection, on_snapshot: Callable[[int, int], None] | None = None) -> int:
    """Rebuild every version table from the raw-payload archive, in one transaction. Returns snapshots re-applied.

    Snapshots whose payloads were pruned (``raw_pruned_at``) are skipped: pruning only ever drops snapshots that
    opened and closed nothing, so the versions come out the same; only ``last_seen`` / ``last_snapshot`` then
    stop at the last kept snapshot that saw them.
    """
    rows = con.execute(
        "SELECT snapshot_id, taken_at, source, kinds FROM snapshots "
        f"WHERE {GOOD_SNAPSHOT} AND raw_pruned_at IS NULL ORDER BY taken_at, snapshot_id"
    ).fetchall()
    lost = con.execute(
        "SELECT count(*) FROM snapshots WHERE raw_pruned_at IS NOT NULL AND versions_opened + versions_closed > 0"
    ).fetchall()[0][0]
    if lost:
        # prune_raw never drops a snapshot that changed the history; these payloads were never here (an
        # exported history file), and rebuilding without them would lose the versions they made.
        raise InputError(
            f"{lost} snapshots that changed the history have no archived payloads (an exported file?); "
            "rederive would lose their versions, so it stops here: run it on the database the service owns"
        )
    with transaction(con):
        for table in DERIVED_TABLES:
            con.execute(f"DELETE FROM {table}")
        for index, (snapshot_id, taken_at, source, kinds) in enumerate(rows, start=1):
            sweep = assemble(
                load_payloads(con, snapshot_id), taken_at=taken_at, source=source, kinds=frozenset(kinds.split(","))
            )
            apply_snapshot(con, sweep, snapshot_id=snapshot_id, archive=False)
            if on_snapshot is not None:
                on_snapshot(index, len(rows))
    return len(rows)
