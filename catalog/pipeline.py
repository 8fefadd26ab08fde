"""The pipeline: fetch a sweep over HTTP and record it as one snapshot; replay the bundled days the same way.

Replay starts the fake OpenRouter server in-process and walks the recorded days **over real HTTP**, so the
bundled history goes through exactly the code path that talks to OpenRouter in production.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import duckdb

from catalog.bundle import Bundle, SnapshotInfo
from catalog.errors import InputError, SweepInterrupted
from catalog.fake import FakeOpenRouter, serve_in_thread
from catalog.openrouter.sweep import ALL_KINDS, Progress, Sweep, assemble, fetch_sweep
from catalog.settings import FetchSettings
from catalog.store.archive import load_payloads
from catalog.store.ingest import SnapshotSummary, apply_snapshot, record_snapshot

# Snapshot kinds of the bundle, mapped to what a sweep fetches for them.
KINDS_FOR = {"full": ALL_KINDS, "models": frozenset({"models"})}
_STOP_POLL_SECONDS = 0.1


def fetch_once(
    settings: FetchSettings,
    *,
    kinds: frozenset[str] = ALL_KINDS,
    taken_at: datetime | None = None,
    source: str | None = None,
    progress: Progress | None = None,
    stop: threading.Event | None = None,
) -> Sweep:
    """Fetch one sweep over HTTP. With ``stop``, setting the event abandons the fetch (``SweepInterrupted``).

    Nothing is stored here, so an abandoned fetch leaves no trace in the history.
    """
    coro = fetch_sweep(settings, kinds=kinds, taken_at=taken_at, source=source, progress=progress)
    if stop is None:
        return asyncio.run(coro)
    return asyncio.run(_unless_stopped(coro, stop))


async def _unless_stopped(coro: Coroutine[Any, Any, Sweep], stop: threading.Event) -> Sweep:
    task = asyncio.create_task(coro)
    while not task.done():
        if stop.is_set():
            task.cancel()
            # Let the HTTP client close its connections before the loop ends.
            await asyncio.gather(task, return_exceptions=True)
            raise SweepInterrupted("the sweep was stopped before it was stored; the history is unchanged")
        await asyncio.wait({task}, timeout=_STOP_POLL_SECONDS)
    return task.result()


def sync_once(
    con: duckdb.DuckDBPyConnection,
    settings: FetchSettings,
    *,
    kinds: frozenset[str] = ALL_KINDS,
    taken_at: datetime | None = None,
    source: str | None = None,
    progress: Progress | None = None,
    stop: threading.Event | None = None,
) -> SnapshotSummary:
    """One sweep now (or stamped ``taken_at``) into the history. Fetch failures end up in the summary.

    ``stop`` abandons the fetch (nothing stored); once storing has begun it runs to its commit, which is
    one transaction: the history holds the whole snapshot or none of it.
    """
    sweep = fetch_once(settings, kinds=kinds, taken_at=taken_at, source=source, progress=progress, stop=stop)
    return record_snapshot(con, sweep)


def select_snapshots(
    bundle: Bundle, *, start: datetime | None, end: datetime | None, include_models_only: bool
) -> list[SnapshotInfo]:
    chosen = [
        s
        for s in bundle.snapshots()
        if (include_models_only or s.kind == "full")
        and (start is None or s.taken_at >= start)
        and (end is None or s.taken_at <= end)
    ]
    if not chosen:
        raise InputError("no bundled snapshot falls in that range; list them with `catalog replay --list`")
    return chosen


def stored_times(con: duckdb.DuckDBPyConnection) -> set[datetime]:
    return {r[0] for r in con.execute("SELECT taken_at FROM snapshots WHERE status <> 'failed'").fetchall()}


@contextmanager
def replay_server(bundle: Bundle, first_day: str | None = None) -> Iterator[tuple[FakeOpenRouter, str]]:
    """The fake OpenRouter on a free loopback port, for as long as the block runs."""
    fake = FakeOpenRouter(bundle, day=first_day)
    with serve_in_thread(fake) as base_url:
        yield fake, base_url


@dataclass(frozen=True)
class ReplayStep:
    info: SnapshotInfo
    summary: SnapshotSummary | None  # None: already stored, skipped


def replay(
    con: duckdb.DuckDBPyConnection,
    bundle: Bundle,
    snapshots: list[SnapshotInfo],
    *,
    concurrency: int = 8,
    force: bool = False,
    on_step: Callable[[ReplayStep], None] | None = None,
    progress: Progress | None = None,
    stop: threading.Event | None = None,
) -> list[ReplayStep]:
    """Walk bundled snapshots over HTTP, each stamped with its recorded time.

    Snapshots already stored (same time) are skipped unless ``force``, which ingests them again — an
    identical state then opens no version. Setting ``stop`` ends the walk: a snapshot being fetched is
    abandoned (``SweepInterrupted``), one being stored commits first.
    """
    done = stored_times(con)
    steps: list[ReplayStep] = []
    with replay_server(bundle, snapshots[0].id) as (fake, base_url):
        settings = FetchSettings(base_url=base_url, concurrency=concurrency)
        for info in snapshots:
            if stop is not None and stop.is_set():
                raise SweepInterrupted("stopped between two snapshots; every snapshot stored so far is complete")
            if info.taken_at in done and not force:
                step = ReplayStep(info, None)
            else:
                fake.set_day(info.id)
                summary = sync_once(
                    con,
                    settings,
                    kinds=KINDS_FOR[info.kind],
                    taken_at=info.taken_at,
                    source=f"replay:{info.id}",
                    progress=progress,
                    stop=stop,
                )
                step = ReplayStep(info, summary)
            steps.append(step)
            if on_step is not None:
                on_step(step)
    return steps


def rederive(con: duckdb.DuckDBPyConnection, on_snapshot: Callable[[int, int], None] | None = None) -> int:
    """Rebuild every version table from the raw-payload archive, in one transaction. Returns snapshots re-applied.

    Snapshots whose payloads were pruned (``raw_pruned_at``) are skipped: pruning only ever drops snapshots that
    opened and closed nothing, so the versions come out the same; only ``last_seen`` / ``last_snapshot`` then
    stop at the last kept snapshot that saw them.
    """
    rows = con.execute(
        "SELECT snapshot_id, taken_at, source, kinds FROM snapshots "
        "WHERE status <> 'failed' AND raw_pruned_at IS NULL ORDER BY taken_at, snapshot_id"
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
    con.execute("BEGIN TRANSACTION")
    try:
        for table in (
            "price_overrides",
            "model_versions",
            "endpoint_versions",
            "endpoint_status",
            "endpoint_telemetry",
            "provider_versions",
        ):
            con.execute(f"DELETE FROM {table}")
        for index, (snapshot_id, taken_at, source, kinds) in enumerate(rows, start=1):
            sweep = assemble(
                load_payloads(con, snapshot_id), taken_at=taken_at, source=source, kinds=frozenset(kinds.split(","))
            )
            apply_snapshot(con, sweep, snapshot_id=snapshot_id, archive=False)
            if on_snapshot is not None:
                on_snapshot(index, len(rows))
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return len(rows)
