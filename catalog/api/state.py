"""What the API answers from: a read-only view of the history, and in-memory structures rebuilt after each
snapshot.

* The **price table** (every price version, parsed) is built once per data version and shared by all threads;
  costing and ranking run on it in memory.
* **Rank indexes** (``catalog.cost.ranker.RankIndex``: every model's candidate endpoints with integer rates,
  limits and telemetry) are kept per snapshot in force, up to ``INDEX_CACHE``; the newest one is built at
  refresh, *before* the new version is swapped in, so no request waits for it. A ranking then queries nothing.
* The **snapshot log** (good snapshots' ids and times) answers "which snapshot is in force" and the data's
  age (``catalog.freshness.DataAge``: every answer's ``X-Data-Age`` header, ``/v1/cheapest``'s ``data``).
* **Responses** of the read routes are kept as JSON bytes per route and query (its known parameters only),
  up to ``RESPONSE_CACHE`` entries and ``RESPONSE_CACHE_BYTES``, oldest out first, and dropped when the data
  changes.
* The **data version** is the newest snapshot (id and time). It is the ``ETag`` and ``Last-Modified`` of every
  answer, and ``refresh()`` rebuilds everything when it changes (``catalog up`` calls it after each job). The
  new structures are built outside the state's lock and swapped in under it, so requests keep being answered
  from the old version meanwhile.

Each handler thread reads through its own DuckDB cursor.
"""

from __future__ import annotations

import contextlib
import threading
from collections import OrderedDict
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import duckdb

from catalog.cost.ranker import RankIndex
from catalog.cost.sheets import PriceTable
from catalog.freshness import DataAge, SnapshotLog
from catalog.library import Catalog
from catalog.settings import stale_after as stale_after_setting
from catalog.store import queries, snapshots
from catalog.times import now

RESPONSE_CACHE = 4096
RESPONSE_CACHE_BYTES = 256 * 1024 * 1024
INDEX_CACHE = 8  # rank indexes: one per snapshot in force asked (the newest one built at refresh)


class ApiState:
    def __init__(
        self,
        reader: duckdb.DuckDBPyConnection,
        db: Path,
        *,
        on_close: Callable[[], None] | None = None,
        stale_after: float | None = None,
    ):
        """``reader``: a connection the state may spawn per-thread cursors from (read-only use).
        ``stale_after``: seconds after which the newest snapshot makes answers stale (``catalog up`` passes
        twice its catalog sweep interval; default ``catalog.settings.stale_after()``)."""
        self._base = reader
        self.db = db
        self._on_close = on_close
        self.stale_after = stale_after_setting(stale_after)
        self._local = threading.local()
        self._lock = threading.RLock()
        self._refreshing = threading.Lock()
        self._generation = 0
        self._responses: OrderedDict[tuple[Any, ...], bytes] = OrderedDict()
        self._response_bytes = 0
        self._building: dict[tuple[Any, ...], threading.Lock] = {}
        self._indexes: OrderedDict[datetime, RankIndex] = OrderedDict()
        self._index_builds: dict[datetime, threading.Lock] = {}
        self._table: PriceTable | None = None
        self.etag = '"empty"'
        self.last_modified: str | None = None
        self.newest: datetime | None = None
        self.log = SnapshotLog([])
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
        """Rebuild the in-memory structures if a snapshot arrived since the last build; True if it did.

        Everything new (price table, snapshot log, the newest snapshot's rank index) is built first, outside
        the state's lock — requests go on being answered from the current version meanwhile — then swapped in
        under it at once. Refreshes run one at a time."""
        with self._refreshing:
            with self._lock:
                cur = self._base.cursor()
            try:
                newest = snapshots.data_version(cur)
                # Pruning the raw archive changes what /v1/snapshots says (raw_pruned_at): it is a new version.
                etag = f'"h{newest[0]}-{int(newest[1].timestamp())}-p{newest[2]}"' if newest else '"empty"'
                if etag == self.etag and not force:
                    return False
                versions = queries.price_versions(cur)
                table = PriceTable.from_history(versions) if not versions.is_empty() else None
                model_ids = queries.known_model_ids(cur)
                log = snapshots.snapshot_log(cur)
                indexes: OrderedDict[datetime, RankIndex] = OrderedDict()
                at = log.default_as_of()
                if table is not None and at is not None:
                    indexes[at] = RankIndex.build(queries.endpoint_candidates(cur, at, None), table, at)
            finally:
                cur.close()
            with self._lock:
                # Caches go first, then the new version is published: a reader never pairs the new ETag with
                # an answer built from the old data.
                self._generation += 1
                self._responses.clear()
                self._response_bytes = 0
                self._indexes = indexes
                self._table = table
                self.model_ids = model_ids
                self.log = log
                self.newest = newest[1].astimezone(UTC) if newest else None
                self.last_modified = format_datetime(self.newest, usegmt=True) if self.newest else None
                self.etag = etag
            return True

    @property
    def table(self) -> PriceTable | None:
        return self._table

    @property
    def snapshot_times(self) -> list[datetime]:
        """When each good snapshot was taken, oldest first."""
        return self.log.times

    def catalog(self) -> Catalog:
        """A ``Catalog`` over this thread's cursor, sharing the one price table and snapshot log."""
        return Catalog(self.cursor(), self.db, self._table, log=self.log, stale_after=self.stale_after)

    def state_at(self, at: datetime) -> datetime | None:
        """The snapshot in force at ``at`` (the newest at or before it): every instant until the next one
        answers the same, so caches key on it."""
        found = self.log.in_force(at)
        return found[1] if found else None

    def data_age(self, at: datetime | None = None) -> DataAge | None:
        """The age of the data for an answer as of ``at`` (default: the newest snapshot at or before now)."""
        if at is None:
            at = self.state_at(now()) or now()
        return self.log.age(at, self.stale_after)

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
                self.keep(key, body, generation)
            finally:
                with self._lock:
                    self._building.pop(key, None)
        return body

    @property
    def generation(self) -> int:
        """Bumped by every refresh that changed the data: an answer built under an older one is not kept."""
        return self._generation

    def keep(self, key: tuple[Any, ...], body: bytes, generation: int) -> None:
        """Cache ``body`` for ``key`` if the data is still that of ``generation`` (oldest entries out)."""
        with self._lock:
            if generation == self._generation and key not in self._responses:
                self._responses[key] = body
                self._response_bytes += len(body)
                while len(self._responses) > RESPONSE_CACHE or self._response_bytes > RESPONSE_CACHE_BYTES:
                    _old, dropped = self._responses.popitem(last=False)
                    self._response_bytes -= len(dropped)

    def index_key(self, at: datetime) -> datetime:
        """What a rank index is kept under: the snapshot in force at ``at`` (``at`` itself before the first)."""
        found = self.log.in_force(at)
        return found[1] if found else at

    def ready_index(self, at: datetime) -> RankIndex | None:
        """The rank index for ``at`` if it is already built (no query, no wait: safe on the event loop)."""
        key = self.index_key(at)
        indexes = self._indexes
        hit = indexes.get(key)
        if hit is not None:
            with contextlib.suppress(KeyError):  # evicted meanwhile by another thread: still a good answer
                indexes.move_to_end(key)
        return hit

    def rank_index(self, at: datetime) -> RankIndex | None:
        """The rank index of the snapshot in force at ``at`` (``None`` while the history holds no prices):
        kept per snapshot, least recently used out; built once however many requests ask for it at once."""
        hit = self.ready_index(at)
        if hit is not None:
            return hit
        generation, table, key = self._generation, self._table, self.index_key(at)
        if table is None:
            return None
        with self._lock:
            flight = self._index_builds.setdefault(key, threading.Lock())
        with flight:
            hit = self._indexes.get(key)
            if hit is not None:
                return hit
            try:
                index = RankIndex.build(queries.endpoint_candidates(self.cursor(), key, None), table, key)
                with self._lock:
                    if generation == self._generation:  # else the data changed meanwhile: answer, keep nothing
                        self._indexes[key] = index
                        while len(self._indexes) > INDEX_CACHE:
                            self._indexes.popitem(last=False)
            finally:
                with self._lock:
                    self._index_builds.pop(key, None)
        return index
