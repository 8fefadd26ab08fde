"""Replaying the bundled recorded days into a history: over real HTTP, or directly.

``replay`` starts the fake OpenRouter server in-process on a free loopback port and walks the recorded
snapshots through ``catalog.pipeline.sync_once`` — exactly the code path that talks to OpenRouter in
production — each stamped with its recorded time.

``load_bundle`` stores the same snapshots without HTTP (``catalog up``'s first load, ``catalog replay
--direct``): each day's bodies are the bytes the fake would serve (its own ``ServedDay`` encodes them), read
in the order the fetcher reads them, then parsed by the same ``assemble`` and stored by the same
``record_snapshot``. Only the round trips are gone, and a test holds the two to the same history.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

import duckdb

from catalog.bundle import Bundle, SnapshotInfo
from catalog.errors import InputError, SweepInterrupted
from catalog.fake import FakeOpenRouter, Faults, ServedDay, serve_in_thread
from catalog.openrouter.payload import (
    ALL_KINDS,
    KIND_LIST_PATHS,
    PROVIDERS_PATH,
    Progress,
    RawPayload,
    Sweep,
    assemble,
    endpoints_path,
    listed_models,
    models_path,
    read_models,
    unfetchable_endpoints,
)
from catalog.openrouter.skus import ALL_SCOPE
from catalog.pipeline import sync_once
from catalog.settings import FetchSettings
from catalog.store.ingest import SnapshotSummary, record_snapshot
from catalog.store.snapshots import good_snapshot_times

# Snapshot kinds of the bundle, mapped to what a sweep fetches for them, and the scope it asks for: the
# models-only recordings are answers of the default (text) /models, so they are replayed as text-scope sweeps.
KINDS_FOR = {"full": ALL_KINDS, "models": frozenset({"models"})}
SCOPE_FOR = {"full": ALL_SCOPE, "models": "text"}


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
        raise InputError("no bundled snapshot falls between --from and --to; list them with `catalog replay --list`")
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
                    scope=SCOPE_FOR[info.kind],
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


def _served(body: bytes | None, path: str, day: str) -> RawPayload:
    if body is not None:
        return RawPayload(path, 200, body)
    # What the fetcher records for the fake's 404, but for the URL (the direct load has no server).
    return RawPayload(path, 404, None, f"GET {path} answered 404: not in bundled snapshot {day}")


def recorded_sweep(
    served: ServedDay, *, kinds: frozenset[str], taken_at: datetime, source: str, scope: str = ALL_SCOPE
) -> Sweep:
    """The sweep ``fetch_sweep`` would bring back from the fake serving ``served``, without HTTP.

    The same payloads in the same order, for the full scope: ``/models?output_modalities=all`` and the kinds'
    lists; then, if it is usable, ``/providers`` (when asked for) and every listed model's ``/endpoints`` in
    listed order, an id the fetcher refuses to request getting the fetcher's error. The bodies come from the
    fake's own encoding, so they are the bytes it serves.
    """
    started = time.monotonic()
    day = served.info.id
    lists = KIND_LIST_PATHS.items() if scope == ALL_SCOPE else ()
    models_raw = _served(served.models_body_for(scope), models_path(scope), day)
    models_read = read_models(models_raw)
    raw = [models_raw, *(_served(served.kind_list_body(kind), path, day) for kind, path in lists)]
    listing = listed_models({p.path: p for p in raw}, models_read)
    if "providers" in kinds and models_raw.ok:
        raw.append(_served(served.providers_body, PROVIDERS_PATH, day))
    if "endpoints" in kinds:
        for record in listing.read.records or ():
            path = endpoints_path(record.model_id)
            unfetchable = unfetchable_endpoints(record.model_id)
            if unfetchable is not None:
                raw.append(RawPayload(path, None, None, unfetchable))
            else:
                raw.append(_served(served.endpoints_body(record.model_id), path, day))
    sweep = assemble(raw, taken_at=taken_at, source=source, kinds=kinds, listing=listing)
    sweep.duration_s = time.monotonic() - started
    return sweep


def bundled_sweep(bundle: Bundle, info: SnapshotInfo) -> Sweep:
    """One bundled snapshot as ``replay`` would fetch it, stamped and labelled as ``replay`` stores it."""
    served = ServedDay.build(bundle.load(info.id), Faults())
    return recorded_sweep(
        served,
        kinds=KINDS_FOR[info.kind],
        taken_at=info.taken_at,
        source=f"replay:{info.id}",
        scope=SCOPE_FOR[info.kind],
    )


def load_bundle(
    con: duckdb.DuckDBPyConnection,
    bundle: Bundle,
    snapshots: list[SnapshotInfo],
    *,
    force: bool = False,
    on_step: Callable[[ReplayStep], None] | None = None,
    stop: threading.Event | None = None,
) -> list[ReplayStep]:
    """Store bundled snapshots without HTTP; the same history as ``replay`` of the same snapshots.

    The label is ``replay:<id>`` as well: the snapshot is the same recording, and that label is what tells a
    bundled snapshot from a live one (``live_snapshots``). Skipping, ``force`` and ``stop`` behave as in
    ``replay``; each snapshot is one transaction, stored in time order.

    The next snapshot is parsed in a second thread while this one is stored: DuckDB lets go of the GIL while it
    works, so on two cores the parse of one day and the store of the previous overlap.
    """
    done = set(good_snapshot_times(con))
    todo = [info for info in snapshots if force or info.taken_at not in done]
    steps: list[ReplayStep] = []
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="bundle-parse")
    try:
        ahead = iter(todo)
        parsing: dict[str, Future[Sweep]] = {}

        def parse_next() -> None:
            info = next(ahead, None)
            if info is not None:
                parsing[info.id] = pool.submit(bundled_sweep, bundle, info)

        parse_next()
        for info in snapshots:
            if stop is not None and stop.is_set():
                raise SweepInterrupted("stopped between two snapshots; every snapshot stored so far is complete")
            if info.id not in parsing:
                step = ReplayStep(info, None)
            else:
                sweep = parsing.pop(info.id).result()
                parse_next()
                step = ReplayStep(info, record_snapshot(con, sweep))
            steps.append(step)
            if on_step is not None:
                on_step(step)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    return steps
