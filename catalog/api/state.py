"""What the API answers from: a read-only view of the history, and in-memory structures rebuilt after each
snapshot.

* The **price table** (every price version, parsed) is built once per data version and shared by all threads;
  costing and ranking run on it in memory.
* **Candidates** for a ranking (the endpoints in force, with status, policy and uptime) are kept per model and
  per snapshot in force, so the first ranking of a state queries DuckDB and the rest do not.
* **Responses** of the read routes are kept as JSON bytes per route and query (its known parameters only),
  up to ``RESPONSE_CACHE`` entries and ``RESPONSE_CACHE_BYTES``, oldest out first, and dropped when the data
  changes.
* The **data version** is the newest snapshot (id and time). It is the ``ETag`` and ``Last-Modified`` of every
  answer, and ``refresh()`` rebuilds everything when it changes (``catalog up`` calls it after each job).

Each handler thread reads through its own DuckDB cursor.
"""

from __future__ import annotations

import bisect
import threading
from collections import OrderedDict
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from catalog.cost.sheets import PriceTable
from catalog.library import Catalog
from catalog.store import queries, snapshots

RESPONSE_CACHE = 4096
RESPONSE_CACHE_BYTES = 256 * 1024 * 1024
CANDIDATE_CACHE = 1024


class ApiState:
    def __init__(self, reader: duckdb.DuckDBPyConnection, db: Path, *, on_close: Callable[[], None] | None = None):
        """``reader``: a connection the state may spawn per-thread cursors from (read-only use)."""
        self._base = reader
        self.db = db
        self._on_close = on_close
        self._local = threading.local()
        self._lock = threading.RLock()
        self._generation = 0
        self._responses: OrderedDict[tuple[Any, ...], bytes] = OrderedDict()
        self._response_bytes = 0
        self._building: dict[tuple[Any, ...], threading.Lock] = {}
        self._candidates: OrderedDict[tuple[Any, ...], pl.DataFrame] = OrderedDict()
        self._table: PriceTable | None = None
        self.etag = '"empty"'
        self.last_modified: str | None = None
        self.newest: datetime | None = None
        self.snapshot_times: list[datetime] = []
        self.model_ids: list[str] = []
        self.refresh(force=True)

    # -- connections ---------------------------------------------------------------------------------

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """This thread's cursor (DuckDB connections are not shared between threads)."""
        cur: duckdb.DuckDBPyConnection | None = getattr(self._local, "cursor", None)
        if cur is None:
            with self._lock:
                cur = self._base.cursor()
            self._local.cursor = cur
        return cur

    def close(self) -> None:
        if self._on_close is not None:
            self._on_close()

    # -- data version --------------------------------------------------------------------------------

    def refresh(self, *, force: bool = False) -> bool:
        """Rebuild the in-memory structures if a snapshot arrived since the last build; True if it did."""
        with self._lock:
            cur = self._base.cursor()
            try:
                newest = snapshots.data_version(cur)
                # Pruning the raw archive changes what /v1/snapshots says (raw_pruned_at): it is a new version.
                etag = f'"h{newest[0]}-{int(newest[1].timestamp())}-p{newest[2]}"' if newest else '"empty"'
                if etag == self.etag and not force:
                    return False
                versions = queries.price_versions(cur)
                self._table = PriceTable.from_history(versions) if not versions.is_empty() else None
                self.model_ids = queries.known_model_ids(cur)
                self.snapshot_times = snapshots.good_snapshot_times(cur)
            finally:
                cur.close()
            # Caches go first, then the new version is published: a reader never pairs the new ETag with an
            # answer built from the old data.
            self._generation += 1
            self._responses.clear()
            self._response_bytes = 0
            self._candidates.clear()
            self.newest = newest[1].astimezone(UTC) if newest else None
            self.last_modified = format_datetime(self.newest, usegmt=True) if self.newest else None
            self.etag = etag
            return True

    @property
    def table(self) -> PriceTable | None:
        return self._table

    def catalog(self) -> Catalog:
        """A ``Catalog`` over this thread's cursor, sharing the one price table."""
        return Catalog(self.cursor(), self.db, self._table)

    def state_at(self, at: datetime) -> datetime | None:
        """The snapshot in force at ``at`` (the newest at or before it): every instant until the next one
        answers the same, so caches key on it."""
        index = bisect.bisect_right(self.snapshot_times, at)
        return self.snapshot_times[index - 1] if index else None

    def suggestions(self, model: str) -> list[str]:
        return queries.close_model_ids(model, self.model_ids)

    # -- caches --------------------------------------------------------------------------------------

    def lookup(self, key: tuple[Any, ...]) -> bytes | None:
        return self._responses.get(key)

    def cached(self, key: tuple[Any, ...], build: Callable[[], bytes]) -> bytes:
        """The cached answer for ``key``, else ``build()`` it — once: identical requests that arrive while it
        is being built wait for that build instead of each doing the same work."""
        generation = self._generation
        hit = self._responses.get(key)
        if hit is not None:
            return hit
        with self._lock:
            flight = self._building.setdefault(key, threading.Lock())
        with flight:
            hit = self._responses.get(key)
            if hit is not None:
                return hit
            try:
                body = build()
                with self._lock:
                    if generation == self._generation and key not in self._responses:
                        self._responses[key] = body
                        self._response_bytes += len(body)
                        while len(self._responses) > RESPONSE_CACHE or self._response_bytes > RESPONSE_CACHE_BYTES:
                            _old, dropped = self._responses.popitem(last=False)
                            self._response_bytes -= len(dropped)
            finally:
                with self._lock:
                    self._building.pop(key, None)
        return body

    def candidates(self, at: datetime, model_id: str | None) -> pl.DataFrame:
        generation = self._generation
        key = (self.state_at(at), model_id)
        hit = self._candidates.get(key)
        if hit is not None:
            return hit
        frame = queries.endpoint_candidates(self.cursor(), at, model_id)
        with self._lock:
            if generation != self._generation:
                return frame  # the data changed while this ran: answer, but do not keep it under an old key
            self._candidates[key] = frame
            if len(self._candidates) > CANDIDATE_CACHE:
                self._candidates.popitem(last=False)
        return frame
