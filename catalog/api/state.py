"""What the API answers from: a read-only view of the history, and in-memory structures rebuilt after each
snapshot.

Everything an answer depends on lives in one immutable ``DataState`` per data version:

* the **data version** (the newest snapshot: id, time, pruned count): the ``ETag`` and ``Last-Modified`` of
  every answer;
* the **price table** (every price version, parsed), shared by all threads; costing and ranking run on it;
* the **snapshot log** (good snapshots' ids and times): "which snapshot is in force" and the data's age
  (``catalog.freshness.DataAge``: every answer's ``X-Data-Age`` header, ``/v1/cheapest``'s ``data``);
* the **mirror** (``catalog.store.mirror.HistoryMirror``): the hot as-of shapes — the models in force, one
  model's endpoints then, one model's history — answered from memory, per model;
* the known **model ids** (suggestions for a misspelt id) and the open price versions' ids (what the next
  refresh compares against);
* its **caches**: rank indexes (``catalog.cost.ranker.RankIndex``) per snapshot in force, up to
  ``INDEX_CACHE``, the newest built with the state, before it answers anything; and **responses** as JSON
  bytes per route and query (its known parameters only), up to ``RESPONSE_CACHE`` entries and
  ``RESPONSE_CACHE_BYTES``, oldest out first. They die with their state, so a new version starts empty.

A request takes the current state once, at its start (``ApiState.pin``: a ``View``), and finishes on it:
old or new, never a mix of the two. ``refresh()`` (``catalog up`` calls it after each job) builds the next
state beside the current one — from what the sweeps since opened and closed, not by reloading the history —
and publishes it with one reference assignment. No lock a request takes is held across a build: a refresh
holds only its own lock (refreshes run one at a time), and requests never take it.

Each handler thread reads through its own DuckDB cursor.
"""

from __future__ import annotations

import contextlib
import gc
import importlib
import json
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from catalog.cost.ranker import TELEMETRY_READ, RankIndex
from catalog.cost.sheets import PriceTable, SheetVersion
from catalog.cost.unit_usage import UnitSkus
from catalog.freshness import DataAge, SnapshotLog
from catalog.library import Catalog, versions_by_model
from catalog.prices import parse_price_sheet
from catalog.settings import stale_after as stale_after_setting
from catalog.store import queries, snapshots
from catalog.store.mirror import COLUMNS, TABLES, HistoryMirror, MirrorMismatch
from catalog.times import now

RESPONSE_CACHE = 4096
RESPONSE_CACHE_BYTES = 256 * 1024 * 1024
INDEX_CACHE = 8  # rank indexes: one per snapshot in force asked (the newest one built at refresh)

EntityKey = tuple[str, str | None]
# What a refresh reads of each version table (``queries.sweep_delta``): the mirror's columns (the price table's
# are added by the query); and which of them hold price versions, as ``SheetVersion.kind`` names them.
MIRROR_COLUMNS = {TABLES[kind]: COLUMNS[kind] for kind in TABLES}
PRICE_TABLES = {"endpoint_versions": "endpoint", "model_versions": "model"}
ENDPOINT_OPENED = (*COLUMNS["endpoint"], "provider_model_id")
MODEL_OPENED = (*COLUMNS["model"], "canonical_slug")
ENDPOINT_ONLY = ("tag", "provider_slug", "provider_name")
OPENED_COLUMNS = ("model_id", "tag", "provider_slug", "provider_name", "valid_from", "valid_to", "pricing_text")


class _Caches:
    """A data state's caches: answers and rank indexes built on it. The lock guards only the dictionaries
    (a few dictionary operations at a time), never a build."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.responses: OrderedDict[tuple[Any, ...], bytes] = OrderedDict()
        self.response_bytes = 0
        self.building: dict[tuple[Any, ...], threading.Lock] = {}
        self.indexes: OrderedDict[datetime, RankIndex] = OrderedDict()
        self.index_builds: dict[datetime, threading.Lock] = {}
        # Models priced in their own units: every SKU price version (``/v1/cost``) and the candidates in force
        # at an instant (``/v1/cheapest?kind=``), read once per state instead of once per request.
        self.unit_skus: UnitSkus | None = None
        self.unit_rows: OrderedDict[tuple[datetime, str | None], list[dict[str, Any]]] = OrderedDict()


UNIT_ROWS_KEPT = 64  # (instant, model) candidate lists a state keeps: a few kB each


@dataclass(frozen=True)
class DataState:
    """One data version of the history and everything answered from it (see the module docstring).

    ``version``: ``snapshots.data_version`` (``None`` for an empty history); ``open_prices``: every open
    price version's id and entity key (``SheetVersion.entity_key``), which the next refresh compares with
    the history to find the versions its sweeps closed; ``generation`` counts the states an ``ApiState``
    has published."""

    version: tuple[int, datetime, int] | None
    etag: str
    table: PriceTable | None
    mirror: HistoryMirror | None
    log: SnapshotLog
    model_ids: list[str]
    open_prices: Mapping[int, EntityKey]
    generation: int
    caches: _Caches = field(default_factory=_Caches, repr=False, compare=False)

    @property
    def newest(self) -> datetime | None:
        return self.version[1].astimezone(UTC) if self.version else None

    @property
    def last_modified(self) -> str | None:
        newest = self.newest
        return format_datetime(newest, usegmt=True) if newest else None


def _etag(version: tuple[int, datetime, int] | None) -> str:
    # Pruning the raw archive changes what /v1/snapshots says (raw_pruned_at): it is a new version too.
    return f'"h{version[0]}-{int(version[1].timestamp())}-p{version[2]}"' if version else '"empty"'


def _sheet_versions(frame: pl.DataFrame) -> list[SheetVersion]:
    """Stored price versions (``queries.price_versions`` rows) as the price table holds them: the
    conversion ``PriceTable.from_history`` makes."""
    return [
        SheetVersion(
            kind=row["kind"],
            model_id=row["model_id"],
            tag=row["tag"],
            provider_slug=row["provider_slug"],
            provider_name=row["provider_name"],
            valid_from=row["valid_from"],
            valid_to=row["valid_to"],
            sheet=parse_price_sheet(json.loads(row["pricing_text"])),
            canonical_slug=row["canonical_slug"],
            key=row["key"],
            provider_model_id=row.get("provider_model_id"),
        )
        for row in frame.iter_rows(named=True)
    ]


def _extended_table(
    old: PriceTable | None, opened: list[SheetVersion], closed: dict[EntityKey, datetime]
) -> PriceTable | None:
    """``old`` with the versions ``closed`` (entity key -> its open version's ``valid_to``) closed and
    ``opened`` added: the table a full rebuild from the history would give, with work in proportion to the
    change (``PriceTable.extend``: ids stay, nothing is parsed again, ``old`` is left as it was)."""
    if old is None:
        return PriceTable.from_sheets(opened) if opened else None
    if not opened and not closed:
        return old
    try:
        return old.extend(opened, closed)
    except ValueError:
        raise IncrementalMismatch from None  # a close of a version the table never opened: reload it all


def _price_changes(
    delta: queries.SweepDelta, held: Mapping[int, EntityKey]
) -> tuple[pl.DataFrame, dict[EntityKey, datetime], dict[int, EntityKey]]:
    """From ``queries.sweep_delta``: the price versions opened since (``queries.price_versions``' columns and
    ``version_id``), the open versions of ``held`` (id -> entity key) closed since (entity key -> ``valid_to``),
    and the open versions now. Raises ``IncrementalMismatch`` when the history's open versions are not these."""
    # One planned query for both tables (each planned step hands the GIL to the requests in flight).
    endpoints = (
        delta.part("endpoint_versions", ENDPOINT_OPENED)
        .lazy()
        .select(
            pl.lit("endpoint").alias("kind"),
            *OPENED_COLUMNS,
            pl.col("permaslug").alias("canonical_slug"),
            pl.col("endpoint_key").alias("key"),
            "provider_model_id",
            "version_id",
        )
    )
    none = pl.lit(None, pl.String)
    models = (
        delta.part("model_versions", MODEL_OPENED)
        .lazy()
        .select(
            pl.lit("model").alias("kind"),
            *(none.alias(c) if c in ENDPOINT_ONLY else c for c in OPENED_COLUMNS),
            "canonical_slug",
            none.alias("key"),
            none.alias("provider_model_id"),
            "version_id",
        )
    )
    opened = (
        pl.concat([endpoints, models], how="vertical_relaxed")
        .sort("kind", "model_id", "tag", "valid_from", "version_id", nulls_last=False, multithreaded=False)
        .collect()
    )
    open_now = dict(held)
    closed: dict[EntityKey, datetime] = {}
    # The held versions among those closed since (ids are one sequence across the version tables, as ``held`` keys
    # them): a few rows, not a pass over every open version.
    for table, kind in PRICE_TABLES.items():
        ends = delta.closed(table, held)
        for version_id, valid_to in zip(ends["version_id"].to_list(), ends["valid_to"].to_list(), strict=True):
            entity = open_now.pop(version_id, None)
            if entity is None or (entity[1] is None) != (kind == "model"):
                raise IncrementalMismatch  # an id of the other table: renumbered
            closed[entity] = valid_to
    for version_id, model_id, key, valid_to in opened[["version_id", "model_id", "key", "valid_to"]].iter_rows():
        if valid_to is None:
            open_now[version_id] = (model_id, key)
    # What the history holds open, counted and summed in the read: a held version deleted or closed otherwise than
    # by the sweeps since stays in ``open_now`` and tells.
    expected = [delta.open_check(table) for table in PRICE_TABLES]
    if len(open_now) != sum(n for n, _ in expected) or sum(open_now) != sum(total for _, total in expected):
        raise IncrementalMismatch
    return opened, closed, open_now


def _volatile_held(
    candidates: pl.DataFrame, telemetry: pl.DataFrame
) -> tuple[dict[str, tuple[Any, ...]], pl.DataFrame] | None:
    """What a rank index built from ``candidates`` (``queries.endpoint_candidates``) holds of the columns that change
    without a version (``RankIndex.volatile``): per provider slug its policy, per endpoint key its telemetry — every
    endpoint's as ``telemetry`` (``queries.telemetry_rows``, read in the same transaction) gives it, which holds the
    candidates' values and lists the keys as the next sweep's read does (compared row by row, not joined; a key with
    no candidate names no model to look at). None when a slug shows two policies (not what the query gives)."""
    policy = candidates.select("provider_slug", *queries.POLICY_COLUMNS).unique().drop_nulls("provider_slug")
    held = {slug: tuple(rest) for slug, *rest in policy.iter_rows()}
    if len(held) != policy.height:
        return None
    return held, telemetry.select("endpoint_key", *TELEMETRY_READ)


def _volatile_moved(
    held: tuple[dict[str, tuple[Any, ...]], pl.DataFrame] | None,
    policies: dict[str, tuple[Any, ...]],
    telemetry: pl.DataFrame,
) -> tuple[set[str], set[str]] | None:
    """The provider slugs whose policy and the endpoint keys whose telemetry (``TELEMETRY_READ``) differ between
    what an index's rows hold (``held``: ``RankIndex.volatile``, whose policies name every provider slug of its
    candidates) and a sweep's read (``policies`` per slug, ``telemetry`` per key; a key or slug absent on one side
    is all null there, as the query's outer joins give).
    A vectorised comparison: a sweep that moves no telemetry costs no pass over the candidates. None when the
    index does not know what it holds."""
    if held is None:
        return None
    held_policies, held_telemetry = held
    nulls = (None,) * len(queries.POLICY_COLUMNS)
    # ``held`` names every slug of the index's candidates: a slug only the read names has none there (an index built
    # whole holds its candidates' slugs only), and comparing it would send the caller through every candidate.
    slugs = {s for s, policy in held_policies.items() if policy != policies.get(s, nulls)}
    names = TELEMETRY_READ
    if held_telemetry.schema != telemetry.schema:
        held_telemetry = held_telemetry.cast(telemetry.schema)
    differ = pl.any_horizontal(*(pl.col(c).ne_missing(pl.col(f"{c}_held")) for c in names))
    if held_telemetry["endpoint_key"].equals(telemetry["endpoint_key"]):
        # The same keys in the same order (a sweep updates the telemetry rows in place, the read keeps their
        # order): the rows side by side, not a join hashing ten thousand keys on each side.
        beside = pl.concat([telemetry, held_telemetry.select(pl.all().name.suffix("_held"))], how="horizontal")
        return slugs, set(beside.filter(differ)["endpoint_key"].to_list())
    joined = telemetry.join(held_telemetry, on="endpoint_key", how="full", coalesce=True, suffix="_held")
    return slugs, set(joined.filter(differ)["endpoint_key"].to_list())


class _Timer:
    """Milliseconds per part of a refresh (``ApiState.last_refresh``: logs and the benchmark read it)."""

    def __init__(self) -> None:
        self.kind = ""
        self.parts: dict[str, float] = {}
        self._began = self._last = time.perf_counter()

    def lap(self, part: str) -> None:
        at = time.perf_counter()
        self.parts[part] = self.parts.get(part, 0.0) + (at - self._last) * 1000
        self._last = at

    def report(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "ms": (self._last - self._began) * 1000,
            **{f"{k}_ms": v for k, v in self.parts.items()},
        }


def _settle_garbage(*, full: bool) -> None:
    """Move every object alive into the collector's permanent generation (``gc.freeze``): a state holds hundreds
    of thousands of objects (price versions, sheets, rate lists) that live for hours, and a full collection
    walking them all (~50-300 ms at a year, holding the GIL) would stall every request that arrives meanwhile.

    Frozen objects are still freed when no longer referenced (the old state is, once its last request finishes);
    only garbage in a reference cycle would stay. So the youngest generation is collected first (a state's own
    structures hold no cycles; even collecting the few thousand objects a sweep adds costs tens of milliseconds,
    their lists are a year long), and a full reload (rare: startup, a rebuilt history) unfreezes and collects
    everything once."""
    if full:
        gc.unfreeze()
        gc.collect()
    else:
        gc.collect(0)
    gc.freeze()


class IncrementalMismatch(Exception):
    """The history does not follow from the current state by the sweeps since (a rebuild, a repair): the
    refresh reloads everything instead."""


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
        self._cursor_lock = threading.Lock()  # spawning a cursor only
        self._refreshing = threading.Lock()  # one refresh at a time; requests never take it
        # Query strings the framework-free ``/v1/cheapest`` read, by shape (``routes.cheapest._Template``): what
        # a query reads as does not depend on the data, so they outlive a refresh.
        self.query_templates: dict[bytes, Any] = {}
        self._data = DataState(None, '"empty"', None, None, SnapshotLog([]), [], {}, 0)
        # What the last refresh that published a state did: "full" / "incremental", and its parts' milliseconds.
        self.last_refresh: dict[str, Any] = {}
        self.refresh(force=True)

    # -- connections ---------------------------------------------------------------------------------

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """This thread's cursor (DuckDB connections are not shared between threads)."""
        cur: duckdb.DuckDBPyConnection | None = getattr(self._local, "cursor", None)
        if cur is None:
            with self._cursor_lock:
                cur = self._base.cursor()
            self._local.cursor = cur
        return cur

    def close(self) -> None:
        if self._on_close is not None:
            self._on_close()

    # -- data version --------------------------------------------------------------------------------

    @property
    def current(self) -> DataState:
        """The state answering now (a request keeps the one it started with: ``pin``)."""
        return self._data

    def pin(self) -> View:
        """The current state, for one request: everything it answers comes from this one data version."""
        return View(self, self._data)

    def refresh(self, *, force: bool = False) -> bool:
        """Publish a new state if the history changed since the current one was built; True if it did.

        The new state is built beside the current one, which keeps answering meanwhile, and replaces it in
        one assignment. After sweeps it extends the current state with the versions they opened and closed;
        ``force`` (and a history that does not follow from the current state) reloads everything."""
        with self._refreshing:
            old = self._data
            with self._cursor_lock:
                cur = self._base.cursor()
            timer = _Timer()
            try:
                cur.begin()  # one transaction: every read below sees the same history
                version = snapshots.data_version(cur)
                etag = _etag(version)
                if etag == old.etag and not force:
                    return False
                data, delta = None, None
                if not force and old.version is not None and version is not None and old.table is not None:
                    with contextlib.suppress(IncrementalMismatch, MirrorMismatch):
                        data, delta = self._extended(cur, old, version, etag, timer)
                        timer.kind = "incremental"
                if data is None:
                    data = self._loaded(cur, version, etag, old.generation + 1, timer)
                    timer.kind = "full"
                self._index_newest(cur, data, old, delta)
                timer.lap("rank_index")
                if timer.kind == "full":
                    self._warm(cur, data)
                    timer.lap("warm")
                cur.rollback()  # read only: nothing to commit
            finally:
                cur.close()
            self._data = data  # the swap: requests that pinned the old state finish on it
            _settle_garbage(full=timer.kind == "full")
            timer.lap("gc")
            self.last_refresh = timer.report()
            return True

    def _warm(self, cur: duckdb.DuckDBPyConnection, data: DataState) -> None:
        """Answer one model page's shapes once on a state loaded whole (startup, a rebuilt history): the first
        use of each in a process costs several milliseconds more than the next (code paths and buffers made on
        first use), paid here instead of by the first request of each kind."""
        # Polars makes a Series of a NumPy array through ``numpy.ma``, which NumPy imports on first use (15-25 ms of
        # CPU, 45-70 ms under load): the first refresh's price index would pay it.
        importlib.import_module("numpy.ma")
        at = data.log.default_as_of()
        if data.mirror is None or data.table is None or at is None or not data.mirror.endpoints:
            return
        model = next(iter(data.mirror.endpoints))
        data.mirror.models_as_of(at, model=model)
        data.mirror.endpoints_as_of(model, at)
        data.mirror.history_between(model, None, None)
        Catalog(cur, self.db, data.table, log=data.log, stale_after=self.stale_after).prices(at, model=model)

    def _loaded(
        self,
        cur: duckdb.DuckDBPyConnection,
        version: tuple[int, datetime, int] | None,
        etag: str,
        generation: int,
        timer: _Timer,
    ) -> DataState:
        """The state read from the whole history."""
        frame = queries.price_versions(cur)
        timer.lap("read")
        table = PriceTable.from_history(frame) if not frame.is_empty() else None
        timer.lap("table")
        mirror = HistoryMirror.load(cur, version[0] if version else 0)
        timer.lap("mirror")
        return DataState(
            version=version,
            etag=etag,
            table=table,
            mirror=mirror,
            log=snapshots.snapshot_log(cur),
            model_ids=queries.known_model_ids(cur),
            open_prices=queries.open_price_versions(cur),
            generation=generation,
        )

    def _extended(
        self,
        cur: duckdb.DuckDBPyConnection,
        old: DataState,
        version: tuple[int, datetime, int],
        etag: str,
        timer: _Timer,
    ) -> tuple[DataState, queries.SweepDelta]:
        """``old`` carried forward by the sweeps stored since — the versions they opened, those they closed,
        their snapshots — read by a few narrow statements (``queries.sweep_delta``, also returned: the rank index reads
        its provider policies and telemetry). Raises ``IncrementalMismatch`` when the history is not ``old``'s
        plus that."""
        assert old.version is not None and old.mirror is not None
        since = old.version[0]
        if version[0] < since:
            raise IncrementalMismatch
        delta = queries.sweep_delta(cur, since, old.version[1], MIRROR_COLUMNS)
        timer.lap("read")
        opened_frame, closed, open_prices = _price_changes(delta, old.open_prices)
        opened = _sheet_versions(opened_frame)
        table = _extended_table(old.table, opened, closed)
        held_versions = delta.count("endpoint_versions") + delta.count("model_versions")
        if table is not None and len(table.versions) != held_versions:
            raise IncrementalMismatch
        timer.lap("table")
        mirror = old.mirror.advanced(delta, version[0])
        held = mirror.open_ids
        # Both checked their open versions against the history's count and sum of ids (``SweepDelta.open_check``).
        if len(open_prices) != len(held["endpoint"]) + len(held["model"]) or sum(open_prices) != sum(
            held["endpoint"]
        ) + sum(held["model"]):
            raise IncrementalMismatch
        timer.lap("mirror")
        added = delta.snapshots()
        log = old.log.extended(added) if added else old.log
        new_models = {v.model_id for v in opened if v.kind == "model"} - set(old.model_ids)
        model_ids = sorted({*old.model_ids, *new_models}) if new_models else old.model_ids
        return DataState(version, etag, table, mirror, log, model_ids, open_prices, old.generation + 1), delta

    def _index_newest(
        self, cur: duckdb.DuckDBPyConnection, data: DataState, old: DataState, delta: queries.SweepDelta | None
    ) -> None:
        """Build the rank index of the state's newest snapshot, and group its versions per model (a model's
        price sheets), before it answers anything. Each carries the old state's forward where the new table
        extends its table: the candidates a sweep left as they were are taken from the old index."""
        if data.table is not None:
            versions_by_model(data.table)
        at = data.log.default_as_of()
        if data.table is not None and at is not None:
            before = old.log.default_as_of()
            previous = old.caches.indexes.get(before) if before is not None else None
            index = self._carried_index(cur, data, previous, at, delta) if previous is not None else None
            if index is None:
                candidates = queries.endpoint_candidates(cur, at, None)
                index = RankIndex.build(candidates, data.table, at, previous=previous)
                index.volatile = _volatile_held(candidates, queries.telemetry_rows(cur))
            data.caches.indexes[at] = index

    @staticmethod
    def _carried_index(
        cur: duckdb.DuckDBPyConnection,
        data: DataState,
        previous: RankIndex,
        at: datetime,
        delta: queries.SweepDelta | None,
    ) -> RankIndex | None:
        """The rank index at ``at`` from the old state's (``previous``, at its newest snapshot then): the
        candidates of only the endpoints the sweeps since changed, or whose versions start or end between the two
        instants (and every endpoint of a model whose own versions did), made again (from the mirror, which holds
        their versions); the provider policies and telemetry (which change without a version) laid over the
        candidates whose values moved (``_volatile_moved``), from ``delta`` (``sweep_delta``'s read of them).
        ``None`` when the state was reloaded whole (no record of what changed): build it whole."""
        mirror = data.mirror
        if mirror is None or mirror.changed_models is None or mirror.changed_keys is None:
            return None
        if delta is None or data.table is None or not previous.carries_to(data.table):
            return None
        providers = delta.part("provider", ("slug", "valid_from", *queries.POLICY_COLUMNS))
        telemetry = delta.part("telemetry", ("endpoint_key", *TELEMETRY_READ))
        if telemetry["endpoint_key"].n_unique() != telemetry.height:
            return None  # an endpoint with two telemetry rows: the query lists it twice, only a full read gives it
        found = queries.volatile_of(providers, telemetry.clear(), at)
        assert found is not None  # no telemetry rows, so no key twice
        policies = found[0]
        lo, hi = sorted((previous.at, at))
        between, ends = queries.candidate_keys(cur, lo, hi, endpoint_versions=False)
        ends |= mirror.endpoints_changed(lo, hi)
        models = mirror.changed_models | between
        keys = {k: m for k, m in {**mirror.changed_keys, **ends}.items() if m not in models}
        fresh = mirror.candidates(at, models, keys)
        held = {slug: tuple(policy.values()) for slug, policy in policies.items()}
        moved = _volatile_moved(previous.volatile, held, telemetry)
        names = TELEMETRY_READ
        rows = telemetry
        if moved is not None:  # only the telemetry of the rows read again and of the keys whose telemetry moved
            wanted = pl.concat([fresh["endpoint_key"], pl.Series("endpoint_key", sorted(moved[1]), dtype=pl.String)])
            rows = telemetry.filter(pl.col("endpoint_key").is_in(wanted.implode()))
        by_key = {key: dict(zip(names, values, strict=True)) for key, *values in rows.iter_rows()}
        columns = (queries.POLICY_COLUMNS, TELEMETRY_READ)
        index = RankIndex.carried(
            previous, fresh, set(models), (policies, by_key), columns, data.table, at, moved, endpoints=keys
        )
        # Every slug of the new index's candidates (the old ones' and those read again), null where no provider row
        # names it: what the next sweep compares (``_volatile_moved``). An index that does not know its own (built on
        # a request) gives them by a pass over its candidates, once.
        named = (
            previous.volatile[0].keys()
            if previous.volatile is not None
            else {c.row["provider_slug"] for c in index._candidates}
        )
        unnamed = {*named, *fresh["provider_slug"].to_list()} - held.keys() - {None}
        nulls = (None,) * len(queries.POLICY_COLUMNS)
        index.volatile = ({**dict.fromkeys(unnamed, nulls), **held}, telemetry)
        return index

    # -- the current state, for callers outside a request ---------------------------------------------

    @property
    def etag(self) -> str:
        return self._data.etag

    @property
    def last_modified(self) -> str | None:
        return self._data.last_modified

    @property
    def newest(self) -> datetime | None:
        return self._data.newest

    @property
    def log(self) -> SnapshotLog:
        return self._data.log

    @property
    def table(self) -> PriceTable | None:
        return self._data.table

    @property
    def model_ids(self) -> list[str]:
        return self._data.model_ids

    @property
    def mirror(self) -> HistoryMirror | None:
        return self._data.mirror

    @property
    def generation(self) -> int:
        return self._data.generation

    @property
    def snapshot_times(self) -> list[datetime]:
        return self._data.log.times

    def catalog(self) -> Catalog:
        return self.pin().catalog()

    def state_at(self, at: datetime) -> datetime | None:
        return self.pin().state_at(at)

    def data_age(self, at: datetime | None = None) -> DataAge | None:
        return self.pin().data_age(at)

    def suggestions(self, model: str) -> list[str]:
        return self.pin().suggestions(model)

    def lookup(self, key: tuple[Any, ...]) -> bytes | None:
        return self.pin().lookup(key)

    def cached(self, key: tuple[Any, ...], build: Callable[[], bytes]) -> bytes:
        return self.pin().cached(key, build)

    def ready_index(self, at: datetime) -> RankIndex | None:
        return self.pin().ready_index(at)

    def rank_index(self, at: datetime) -> RankIndex | None:
        return self.pin().rank_index(at)


class View:
    """One request's state: the ``DataState`` current when it started, and the ``ApiState``'s cursors.

    Everything here reads ``data`` and nothing else in memory, so an answer, its ``ETag``, its data age and
    the cache it lands in are all of one data version, whatever a refresh publishes meanwhile."""

    __slots__ = ("api", "data")

    def __init__(self, api: ApiState, data: DataState) -> None:
        self.api = api
        self.data = data

    @property
    def db(self) -> Path:
        return self.api.db

    @property
    def stale_after(self) -> float:
        return self.api.stale_after

    @property
    def etag(self) -> str:
        return self.data.etag

    @property
    def last_modified(self) -> str | None:
        return self.data.last_modified

    @property
    def newest(self) -> datetime | None:
        return self.data.newest

    @property
    def log(self) -> SnapshotLog:
        return self.data.log

    @property
    def table(self) -> PriceTable | None:
        return self.data.table

    @property
    def model_ids(self) -> list[str]:
        return self.data.model_ids

    @property
    def mirror(self) -> HistoryMirror:
        """The state's as-of shapes in memory (an empty history has an empty one)."""
        if self.data.mirror is None:
            raise RuntimeError("the API state has not been loaded yet")
        return self.data.mirror

    @property
    def generation(self) -> int:
        return self.data.generation

    @property
    def snapshot_times(self) -> list[datetime]:
        """When each good snapshot was taken, oldest first."""
        return self.data.log.times

    def cursor(self) -> duckdb.DuckDBPyConnection:
        return self.api.cursor()

    def catalog(self) -> Catalog:
        """A ``Catalog`` over this thread's cursor, sharing the state's price table and snapshot log."""
        return Catalog(self.cursor(), self.db, self.data.table, log=self.data.log, stale_after=self.stale_after)

    def state_at(self, at: datetime) -> datetime | None:
        """The snapshot in force at ``at`` (the newest at or before it): every instant until the next one
        answers the same, so caches key on it."""
        found = self.data.log.in_force(at)
        return found[1] if found else None

    def data_age(self, at: datetime | None = None) -> DataAge | None:
        """The age of the data for an answer as of ``at`` (default: the newest snapshot at or before now)."""
        if at is None:
            at = self.state_at(now()) or now()
        return self.data.log.age(at, self.stale_after)

    def unit_skus(self) -> UnitSkus:
        """The SKU prices of every endpoint version and every model's kind, read once per data state."""
        caches = self.data.caches
        found = caches.unit_skus
        if found is None:
            cur = self.cursor()
            found = UnitSkus.from_rows(
                queries.unit_sku_versions(cur), queries.model_outputs(cur), queries.model_slugs(cur)
            )
            with caches.lock:
                caches.unit_skus = caches.unit_skus or found
        return found

    def unit_candidates(self, at: datetime, model_id: str | None) -> list[dict[str, Any]]:
        """``queries.unit_candidates`` at ``at``, kept per state (read-only rows: the ranking copies them)."""
        caches, key = self.data.caches, (at, model_id)
        rows = caches.unit_rows.get(key)
        if rows is None:
            rows = queries.unit_candidates(self.cursor(), at, model_id)
            with caches.lock:
                caches.unit_rows[key] = rows
                while len(caches.unit_rows) > UNIT_ROWS_KEPT:
                    caches.unit_rows.popitem(last=False)
        return rows

    def suggestions(self, model: str) -> list[str]:
        return queries.close_model_ids(model, self.data.model_ids)

    # -- caches --------------------------------------------------------------------------------------

    def lookup(self, key: tuple[Any, ...]) -> bytes | None:
        return self.data.caches.responses.get(key)

    def cached(self, key: tuple[Any, ...], build: Callable[[], bytes]) -> bytes:
        """The cached answer for ``key``, else ``build()`` it — once: identical requests that arrive while it
        is being built wait for that build instead of each doing the same work."""
        caches = self.data.caches
        hit = caches.responses.get(key)
        if hit is not None:
            return hit
        with caches.lock:
            flight = caches.building.setdefault(key, threading.Lock())
        with flight:
            hit = caches.responses.get(key)
            if hit is not None:
                return hit
            try:
                body = build()
                self.keep(key, body, self.data.generation)
            finally:
                with caches.lock:
                    caches.building.pop(key, None)
        return body

    def keep(self, key: tuple[Any, ...], body: bytes, generation: int) -> None:
        """Cache ``body`` for ``key`` in this state (if ``generation`` is its: built from its data)."""
        caches = self.data.caches
        with caches.lock:
            if generation == self.data.generation and key not in caches.responses:
                caches.responses[key] = body
                caches.response_bytes += len(body)
                while len(caches.responses) > RESPONSE_CACHE or caches.response_bytes > RESPONSE_CACHE_BYTES:
                    _old, dropped = caches.responses.popitem(last=False)
                    caches.response_bytes -= len(dropped)

    def index_key(self, at: datetime) -> datetime:
        """What a rank index is kept under: the snapshot in force at ``at`` (``at`` itself before the first)."""
        found = self.data.log.in_force(at)
        return found[1] if found else at

    def ready_index(self, at: datetime) -> RankIndex | None:
        """The rank index for ``at`` if it is already built (no query, no wait: safe on the event loop)."""
        key = self.index_key(at)
        indexes = self.data.caches.indexes
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
        table, key, caches = self.data.table, self.index_key(at), self.data.caches
        if table is None:
            return None
        with caches.lock:
            flight = caches.index_builds.setdefault(key, threading.Lock())
        with flight:
            hit = caches.indexes.get(key)
            if hit is not None:
                return hit
            try:
                index = RankIndex.build(queries.endpoint_candidates(self.cursor(), key, None), table, key)
                with caches.lock:
                    caches.indexes[key] = index
                    while len(caches.indexes) > INDEX_CACHE:
                        caches.indexes.popitem(last=False)
            finally:
                with caches.lock:
                    caches.index_builds.pop(key, None)
        return index
