"""The live pipeline: fetch a sweep over HTTP and record it as one snapshot; rebuild versions from the archive.

Replaying the bundled days (``catalog.replay``) drives ``sync_once`` against the fake server; nothing here
loads the fake or the bundle, so the hourly live sweep never does.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from datetime import datetime
from typing import Any

import duckdb

from catalog.errors import SweepInterrupted
from catalog.openrouter.fetch import fetch_sweep
from catalog.openrouter.payload import ALL_KINDS, Progress, Sweep
from catalog.openrouter.skus import ALL_SCOPE
from catalog.settings import FetchSettings
from catalog.store.ingest import SnapshotSummary, record_snapshot
from catalog.store.rebuild import rederive

_STOP_POLL_SECONDS = 0.1


def fetch_once(
    settings: FetchSettings,
    *,
    kinds: frozenset[str] = ALL_KINDS,
    taken_at: datetime | None = None,
    source: str | None = None,
    progress: Progress | None = None,
    stop: threading.Event | None = None,
    scope: str = ALL_SCOPE,
) -> Sweep:
    """Fetch one sweep over HTTP. With ``stop``, setting the event abandons the fetch (``SweepInterrupted``).

    Nothing is stored here, so an abandoned fetch leaves no trace in the history.
    """
    coro = fetch_sweep(settings, kinds=kinds, taken_at=taken_at, source=source, progress=progress, scope=scope)
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
    scope: str = ALL_SCOPE,
) -> SnapshotSummary:
    """One sweep now (or stamped ``taken_at``) into the history. Fetch failures end up in the summary.

    ``stop`` abandons the fetch (nothing stored); once storing has begun it runs to its commit, which is
    one transaction: the history holds the whole snapshot or none of it.
    """
    sweep = fetch_once(
        settings, kinds=kinds, taken_at=taken_at, source=source, progress=progress, stop=stop, scope=scope
    )
    return record_snapshot(con, sweep)


__all__ = ["fetch_once", "rederive", "sync_once"]
