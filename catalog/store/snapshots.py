"""Which snapshots count, and the questions asked of the snapshot log.

A snapshot is **good** unless its sweep failed (``ok``, ``partial`` and ``suspicious`` all applied their
facts to the history; a failed one changed nothing). ``GOOD_SNAPSHOT`` is that rule as an SQL predicate on
the ``snapshots`` table; every store query that means "a snapshot the history is built from" uses it.

**"No as_of"** means the same everywhere (the API, the CLI and the Python face): the state at the newest
good snapshot taken at or before now (``default_as_of``). It is what "now" shows — nothing changes between
snapshots — stamped with the time the history last looked, rather than a clock time the history never saw.

The faces keep the good snapshots in memory (``snapshot_log``: a ``catalog.freshness.SnapshotLog``) and answer
"which snapshot is in force" and "how old is the data" (``DataAge``) from it without a query per call.
"""

from __future__ import annotations

from datetime import UTC, datetime

import duckdb

from catalog.freshness import DataAge, SnapshotLog
from catalog.settings import stale_after as default_stale_after
from catalog.times import now

GOOD_SNAPSHOT = "status <> 'failed'"


def newest_good_snapshot(con: duckdb.DuckDBPyConnection, at: datetime | None = None) -> datetime | None:
    """When the newest good snapshot was taken (at or before ``at``, when given)."""
    rows = con.execute(
        f"SELECT max(taken_at) FROM snapshots WHERE {GOOD_SNAPSHOT} AND ($at IS NULL OR taken_at <= $at)",
        {"at": at},
    ).fetchall()
    return rows[0][0].astimezone(UTC) if rows and rows[0][0] else None


def default_as_of(con: duckdb.DuckDBPyConnection) -> datetime | None:
    """The instant an omitted ``as_of`` stands for: the newest good snapshot at or before now (``None``
    while the history holds none)."""
    return newest_good_snapshot(con, now())


def as_of(con: duckdb.DuckDBPyConnection, at: datetime | None) -> datetime:
    """``at``, or for an omitted ``as_of`` the ``default_as_of`` (now itself while the history holds none:
    nothing is in force then either)."""
    if at is not None:
        return at
    return default_as_of(con) or now()


def good_snapshot_times(con: duckdb.DuckDBPyConnection) -> list[datetime]:
    """When each good snapshot was taken, oldest first."""
    rows = con.execute(f"SELECT taken_at FROM snapshots WHERE {GOOD_SNAPSHOT} ORDER BY taken_at").fetchall()
    return [r[0] for r in rows]


def good_snapshots(con: duckdb.DuckDBPyConnection) -> list[tuple[int, datetime]]:
    """Each good snapshot as ``(snapshot_id, taken_at)``, oldest first."""
    rows = con.execute(
        f"SELECT snapshot_id, taken_at FROM snapshots WHERE {GOOD_SNAPSHOT} ORDER BY taken_at, snapshot_id"
    ).fetchall()
    return [(int(r[0]), r[1].astimezone(UTC)) for r in rows]


def snapshot_log(con: duckdb.DuckDBPyConnection) -> SnapshotLog:
    """The good snapshots in memory: the snapshot in force and the data's age, answered without a query."""
    return SnapshotLog(good_snapshots(con))


def data_age(con: duckdb.DuckDBPyConnection, at: datetime, stale_after: float | None = None) -> DataAge | None:
    """The ``DataAge`` of an answer as of ``at`` (one query; the faces keep a ``snapshot_log`` instead).
    ``stale_after``: seconds (default ``catalog.settings.stale_after()``)."""
    return snapshot_log(con).age(at, default_stale_after(stale_after))


def data_version(con: duckdb.DuckDBPyConnection) -> tuple[int, datetime, int] | None:
    """The newest snapshot (any status: a failed sweep is news too) as ``(snapshot_id, taken_at, pruned)``,
    ``pruned`` counting snapshots whose raw payloads were dropped; ``None`` for an empty history."""
    rows = con.execute(
        "SELECT snapshot_id, taken_at, (SELECT count(*) FROM snapshots WHERE raw_pruned_at IS NOT NULL) "
        "FROM snapshots ORDER BY snapshot_id DESC LIMIT 1"
    ).fetchall()
    if not rows:
        return None
    snapshot_id, taken_at, pruned = rows[0]
    return int(snapshot_id), taken_at, int(pruned)


def live_snapshots(con: duckdb.DuckDBPyConnection) -> tuple[int, datetime | None]:
    """How many good snapshots came from a live source (not a replayed recording), and when the newest
    good snapshot of any source was taken."""
    count, newest = con.execute(
        f"SELECT count(*) FILTER (WHERE source NOT LIKE 'replay:%'), max(taken_at) FROM snapshots WHERE {GOOD_SNAPSHOT}"
    ).fetchall()[0]
    return int(count), newest
