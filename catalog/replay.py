"""Replaying the bundled recorded days into a history, **over real HTTP**.

Replay starts the fake OpenRouter server in-process on a free loopback port and walks the recorded snapshots
through ``catalog.pipeline.sync_once`` — exactly the code path that talks to OpenRouter in production — each
stamped with its recorded time.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

import duckdb

from catalog.bundle import Bundle, SnapshotInfo
from catalog.errors import InputError, SweepInterrupted
from catalog.fake import FakeOpenRouter, serve_in_thread
from catalog.openrouter.payload import ALL_KINDS, Progress
from catalog.pipeline import sync_once
from catalog.settings import FetchSettings
from catalog.store.ingest import SnapshotSummary
from catalog.store.snapshots import good_snapshot_times

# Snapshot kinds of the bundle, mapped to what a sweep fetches for them.
KINDS_FOR = {"full": ALL_KINDS, "models": frozenset({"models"})}


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
    done = set(good_snapshot_times(con))
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
