"""The Python face: ``Catalog.open(path)`` → prices, costs and the cheapest endpoint from the history.

    with Catalog.open() as cat:
        cat.prices(as_of="2026-08-01")                      # every sheet in force then
        cat.cost(usage_frame)                                # per-row breakdown at historical prices
        cat.cheapest("deepseek/deepseek-v3.2", WorkloadProfile(20_000, 1_000, cache_hit=Decimal("0.8")))

It reads the DuckDB history once into a ``PriceTable`` (the cost engine's in-memory layout) and the good
snapshots' times into a ``SnapshotLog``, and answers from those; ``refresh()`` reloads them after new
snapshots. Without ``as_of``, answers are as of the newest snapshot at or before now — the rule of the API and
the CLI too (``catalog.store.snapshots.default_as_of``), read from memory. ``cheapest`` ranks over a
``RankIndex`` per snapshot in force (a few kept, least recently used out), so a new profile costs no query;
its ``Ranking.data`` says which snapshot answered and how old the history is (``catalog.freshness``).
"""

from __future__ import annotations

import json
import threading
import weakref
from collections import OrderedDict
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from catalog.cost.engine import cost_usage
from catalog.cost.profile import Ranking
from catalog.cost.ranker import RankIndex
from catalog.cost.sheets import PriceTable, SheetVersion
from catalog.cost.unit_usage import UnitSkus, price_units
from catalog.cost.units import UnitRanking, WorkloadError, rank_endpoints, unit_workload
from catalog.cost.usage import usage_frame
from catalog.cost.workload import EndpointFilters, WorkloadProfile
from catalog.errors import InputError, NotFoundError
from catalog.freshness import DataAge, SnapshotLog
from catalog.money import base_price, canonical
from catalog.prices import PRICE_KEYS
from catalog.settings import db_path
from catalog.settings import stale_after as stale_after_setting
from catalog.store import queries, snapshots
from catalog.store.db import connect_for_reading
from catalog.times import now, parse_instant

INDEX_CACHE = 8  # rank indexes kept per Catalog (one per snapshot in force asked of it), least recent out
# Frozen, so one instance serves every call that gives none (building one validates every field).
_ANY_PROFILE = WorkloadProfile()
_NO_FILTERS = EndpointFilters()


def _instant(value: datetime | str | None, what: str) -> datetime:
    if value is None:
        return now()
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return parse_instant(value, bound="end", what=what)


class Catalog:
    """Read-only access to one history file, with the cost engine's tables built once."""

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        path: Path,
        table: PriceTable | None = None,
        *,
        log: SnapshotLog | None = None,
        stale_after: float | None = None,
    ) -> None:
        """``table`` / ``log``: a price table and snapshot log already read from this history (the API shares
        them across threads). ``stale_after``: seconds after which the newest snapshot makes answers stale
        (default ``catalog.settings.stale_after()``: ``CATALOG_STALE_AFTER``, else 2 h)."""
        self.con = con
        self.path = path
        self._table: PriceTable | None = table
        self._log: SnapshotLog | None = log
        self.stale_after = stale_after_setting(stale_after)
        self._indexes: OrderedDict[datetime, RankIndex] = OrderedDict()
        self._units: UnitSkus | None = None
        self._index_lock = threading.Lock()

    @classmethod
    def open(cls, path: str | Path | None = None, *, stale_after: float | None = None) -> Catalog:
        """Open the history read-only (default: ``$CATALOG_DB``, else ``data/catalog.duckdb``).

        While ``catalog up`` owns the file, this reads the copy it publishes after each job (``.path`` names
        the file actually read).
        """
        resolved = db_path(str(path) if path is not None else None)
        con, copy = connect_for_reading(resolved)
        return cls(con, copy or resolved, stale_after=stale_after)

    def close(self) -> None:
        self.con.close()

    def __enter__(self) -> Catalog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def table(self) -> PriceTable:
        if self._table is None:
            versions = queries.price_versions(self.con)
            if versions.is_empty():
                raise InputError(f"{self.path} holds no price history yet; load it with `catalog up` or `catalog sync`")
            self._table = PriceTable.from_history(versions)
        return self._table

    @property
    def unit_skus(self) -> UnitSkus:
        """Every endpoint version's SKU prices and every model's kind, read once: what usage of the other
        kinds of model is priced at (``catalog.cost.unit_usage``)."""
        if self._units is None:
            self._units = UnitSkus.from_rows(
                queries.unit_sku_versions(self.con), queries.model_outputs(self.con), queries.model_slugs(self.con)
            )
        return self._units

    @property
    def snapshots(self) -> SnapshotLog:
        """The good snapshots (id, time), read once."""
        if self._log is None:
            self._log = snapshots.snapshot_log(self.con)
        return self._log

    def refresh(self) -> None:
        """Forget the in-memory tables; the next call rebuilds them from the file."""
        self._table = None
        self._log = None
        self._units = None
        with self._index_lock:
            self._indexes.clear()

    def as_of(self, value: datetime | str | None = None, what: str = "as-of") -> datetime:
        """The instant an ``as_of`` argument names; omitted, the newest good snapshot at or before now (the
        rule of ``catalog.store.snapshots.as_of``, from memory), or now while the history holds none."""
        if value is not None:
            return _instant(value, what)
        return self.snapshots.default_as_of() or now()

    def data_age(self, as_of: datetime | str | None = None) -> DataAge | None:
        """Which snapshot answers as of ``as_of`` and how old the history is (``None`` for an empty one)."""
        return self.snapshots.age(self.as_of(as_of), self.stale_after)

    # -- prices --------------------------------------------------------------------------------------

    def prices(self, as_of: datetime | str | None = None, *, model: str | None = None) -> pl.DataFrame:
        """Every price sheet (endpoints and models) in force at ``as_of`` (default: the newest snapshot):
        listed strings, base, flags."""
        at = self.as_of(as_of)
        if model is not None:
            self.require_model(model)
        if model is None:  # the table's vectorised scan, not a pass in Python over a year of versions
            found = [self.table.versions[i] for i in self.table.in_force(at)]
        else:
            source = versions_by_model(self.table).get(model, [])
            found = [v for v in source if v.valid_from <= at and (v.valid_to is None or v.valid_to > at)]
        found.sort(key=_listing_order)
        return pl.DataFrame([_sheet_row(v) for v in found], infer_schema_length=None)

    def price_sheets(
        self, model: str, *, provider: str | None = None, as_of: datetime | str | None = None
    ) -> list[SheetVersion]:
        """The model-level sheet and each endpoint's (or one provider's) in force at ``as_of`` (default: the
        newest snapshot)."""
        at = self.as_of(as_of)
        model_id = self.require_model(model)
        found = [
            v
            for v in versions_by_model(self.table).get(model_id, [])
            if v.valid_from <= at and (v.valid_to is None or v.valid_to > at)
        ]
        if provider is not None:
            wanted = provider.lower()
            found = [
                v
                for v in found
                if v.kind == "endpoint"
                and wanted in {(v.tag or "").lower(), (v.provider_slug or "").lower(), (v.provider_name or "").lower()}
            ]
            if not found:
                raise NotFoundError(f"no endpoint of {model_id} from {provider!r} at {at:%Y-%m-%d %H:%M}Z")
        return sorted(found, key=lambda v: (v.kind != "model", v.tag or ""))

    def require_model(self, model: str) -> str:
        model_id = self.table.resolve_model(model)
        if model_id is None:
            queries.require_model(self.con, model)  # raises with close matches
            return model
        return model_id

    # -- costs ---------------------------------------------------------------------------------------

    def cost(
        self, usage: pl.DataFrame | list[dict[str, Any]], *, at: datetime | str | None = None, breakdown: bool = True
    ) -> pl.DataFrame:
        """Price usage rows at the prices in force at each row's time (``at`` for rows without one; default:
        now, the time of the call — a usage time, not an ``as_of``)."""
        frame = usage if isinstance(usage, pl.DataFrame) else usage_frame(usage)
        priced = cost_usage(frame, self.table, at=_instant(at, "at"), breakdown=breakdown)
        return price_units(priced, self.table, self.unit_skus)

    def cheapest(
        self,
        model: str | None = None,
        profile: WorkloadProfile | None = None,
        *,
        as_of: datetime | str | None = None,
        filters: EndpointFilters | None = None,
        provider: dict[str, Any] | None = None,
        fallbacks: int = 2,
        **filter_fields: Any,
    ) -> Ranking:
        """Rank endpoints of ``model`` (or of every model) by what ``profile`` costs at ``as_of``.

        Filters come as an ``EndpointFilters``, as its fields (``min_context=128_000, no_training=True``), or
        as an OpenRouter ``provider`` object (``{"only": [...], "zdr": True, "max_price": {...}, "sort":
        "throughput"}``, read by ``EndpointFilters.from_provider_preferences``); fields given beside a
        ``filters`` or ``provider`` replace theirs. Without ``as_of``: the newest snapshot at or before now.
        ``Ranking.data`` names the snapshot that answered and the history's age (``stale`` past
        ``stale_after``).
        """
        at = self.as_of(as_of)
        if provider is not None:
            if filters is not None:
                raise InputError("give filters or provider, not both: provider is an OpenRouter provider object")
            filters = EndpointFilters.from_provider_preferences(provider)
        if filter_fields:
            try:
                filters = replace(filters or EndpointFilters(), **filter_fields)
            except TypeError as exc:
                raise InputError(f"{exc}; filters are the fields of EndpointFilters") from None
        model_id = self.require_model(model) if model is not None else None  # "" names no model
        ranking = self._rank(at, model_id, profile or _ANY_PROFILE, filters or _NO_FILTERS, fallbacks)
        ranking.data = self.snapshots.age(at, self.stale_after)
        return ranking

    def cheapest_units(
        self,
        kind: str,
        model: str | None = None,
        *,
        as_of: datetime | str | None = None,
        resolution: str | None = None,
        variant: str | None = None,
        input_tokens: int | None = None,
        images: int | None = None,
        **counts: Decimal | int | str | None,
    ) -> UnitRanking:
        """Rank the endpoints of models of ``kind`` (video, speech, embeddings, …) — of ``model`` only, when
        given — by the exact cost of a workload in their own units, at the SKU prices in force at ``as_of``.

        Counts by name (``catalog.cost.units.UNIT_COUNTS``): ``seconds``, ``characters``, ``minutes``,
        ``searches``, ``songs``, ``megapixels``, as ``Decimal``, ``int`` or decimal text (never a float);
        ``input_tokens`` for embeddings, ``images`` (made) for image models; ``resolution`` / ``variant`` a SKU
        variant every price used must carry. The same answer as ``catalog cheapest --kind`` and ``/v1/cheapest
        ?kind=``; ``UnitRanking.data`` names the snapshot and the history's age. Ties share a rank.
        """
        asked = {name: _count(value, name) for name, value in counts.items()}
        wanted, workload = unit_workload(kind, asked, resolution, variant, {"input": input_tokens, "images": images})
        at = self.as_of(as_of)
        model_id = self._unit_model(model) if model is not None else None
        ranked, excluded = rank_endpoints(queries.unit_candidates(self.con, at, model_id), workload, wanted)
        return UnitRanking(at, wanted, model_id, workload, ranked, excluded, self.snapshots.age(at, self.stale_after))

    def _unit_model(self, model: str) -> str:
        # An alias is resolved through the price table when it is loaded; building it just for this (seconds
        # on a long history) is not worth it: a model id as listed is checked against the history instead.
        found = self._table.resolve_model(model) if self._table is not None else None
        if found is None:
            queries.require_model(self.con, model)  # raises with close matches
            return model
        return found

    def _rank(
        self, at: datetime, model_id: str | None, profile: WorkloadProfile, filters: EndpointFilters, fallbacks: int
    ) -> Ranking:
        return self.rank_index(at).rank(profile, filters, model=model_id, fallbacks=fallbacks, at=at)

    def rank_index(self, at: datetime) -> RankIndex:
        """The ``RankIndex`` of the snapshot in force at ``at`` (every model's candidates, built once and kept,
        ``INDEX_CACHE`` of them, least recently used out); before the first snapshot, one for ``at`` itself."""
        found = self.snapshots.in_force(at)
        key = found[1] if found else at
        with self._index_lock:
            index = self._indexes.get(key)
            if index is not None:
                self._indexes.move_to_end(key)
                return index
        index = RankIndex.build(queries.endpoint_candidates(self.con, key, None), self.table, key)
        with self._index_lock:
            self._indexes[key] = index
            while len(self._indexes) > INDEX_CACHE:
                self._indexes.popitem(last=False)
        return index


def _count(value: Decimal | int | str | None, name: str) -> Decimal | None:
    """A count as an exact ``Decimal``: a float (binary, inexact) or text that is no number is refused."""
    if value is None or isinstance(value, Decimal):
        return value
    if isinstance(value, bool | float):
        raise WorkloadError(name, f"{name}={value!r}: give an int, a Decimal or decimal text (exact), not a float")
    if isinstance(value, int):
        return Decimal(value)
    try:
        return Decimal(str(value).strip())
    except ArithmeticError:
        raise WorkloadError(name, f"{name}={value!r} is not a count; give a number of at least 0, e.g. 8") from None


def _listing_order(v: SheetVersion) -> tuple[Any, ...]:
    """The order ``queries.price_versions`` lists versions in (kind, model, tag with the model's own first,
    time), the endpoint key breaking a tie between endpoints sharing a tag: a table extended after sweeps
    holds them in another order, and its answers must not differ from a full load's."""
    return (v.kind, v.model_id, v.tag is not None, v.tag or "", v.valid_from, v.key or "")


_BY_MODEL: weakref.WeakKeyDictionary[PriceTable, dict[str, list[SheetVersion]]] = weakref.WeakKeyDictionary()
_BY_MODEL_LOCK = threading.Lock()


def versions_by_model(table: PriceTable) -> dict[str, list[SheetVersion]]:
    """Each model's price versions (its own and its endpoints'), grouped once per table: one model's sheets
    are then a look-up, not a pass over a year of versions. Kept while the table lives."""
    found = _BY_MODEL.get(table)
    if found is None:
        parent = table.parent() if table.parent is not None else None
        prior = _BY_MODEL.get(parent) if parent is not None else None
        if parent is not None and prior is not None:
            # Extended by a sweep (``PriceTable.extend``): only the models it touched are grouped again, their
            # closed versions swapped for the new table's objects (a closed version is a new one at its old id).
            grouped = dict(prior)
            start = len(parent.versions)
            closed = {id(parent.versions[i]): table.versions[i] for i in table.closed_rows}
            touched = {table.versions[i].model_id for i in table.closed_rows}
            fresh: dict[str, list[SheetVersion]] = {}
            for version in table.versions[start:]:
                fresh.setdefault(version.model_id, []).append(version)
            for model_id in touched | fresh.keys():
                kept = [closed.get(id(v), v) for v in prior.get(model_id, [])]
                grouped[model_id] = kept + fresh.get(model_id, [])
        else:
            grouped = {}
            for version in table.versions:
                grouped.setdefault(version.model_id, []).append(version)
        with _BY_MODEL_LOCK:
            found = _BY_MODEL.setdefault(table, grouped)
    return found


def _sheet_row(v: SheetVersion) -> dict[str, Any]:
    sheet = v.sheet
    row: dict[str, Any] = {
        "kind": v.kind,
        "model_id": v.model_id,
        "tag": v.tag,
        "provider_slug": v.provider_slug,
        "provider_name": v.provider_name,
        "valid_from": v.valid_from,
        "valid_to": v.valid_to,
        "dynamic": sheet.dynamic,
        "free": sheet.free,
        "discount": canonical(sheet.discount),
    }
    for key in PRICE_KEYS:
        row[key] = canonical(sheet.prices[key])
    for key in ("prompt", "completion"):
        base = base_price(sheet.prices[key], sheet.discount)
        row[f"base_{key}"] = canonical(base) if base is not None else None
    row["overrides"] = json.dumps([o.canonical() for o in sheet.overrides]) if sheet.overrides else None
    return row
