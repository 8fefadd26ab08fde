"""Price sheets in force over time, laid out for vectorised costing.

A ``PriceTable`` holds every price version of every endpoint and model (``SheetVersion``) and answers,
for a batch of usage rows, which sheet was in force for each row's model, endpoint and time. It is built
from frames the store returns (``from_history``) or from sheets in memory (``from_sheets``), and grown by
what a sweep changed (``extend``); it does no I/O.

Layout, chosen so a row's price is a few vectorised searches and gathers, never a per-row Python call, and
so that its size grows with the number of versions (not with entities × time):

* **entities** — one per endpoint (``model@tag``) and one per model (its ``/models`` price).
* **bounds / periods** — the sorted instants where any version starts or ends; a period is the count of
  bounds ≤ t (``period_of``), so an instant's period is one binary search (or two gathers by minute).
* **spans** — per entity, its versions sorted by start as flat arrays, keyed ``entity * 2**32 +
  first period``: the sheet of an entity at an instant is one ``search_sorted`` within the entity. A
  batch of rows resolves each distinct name's candidates in order (``lookup``); a large one first decides
  each name at the few periods where its candidates change, then each row searches or gathers from those.
* **variants** — a sheet with ``k`` overrides has ``2**k`` variants, one per set of applying overrides
  (later entries win per key, absent keys inherit the base); a row picks its variant with a bit mask.
  Versions that share a sheet (the same listing) share its variants.
* **rates** — each variant's effective rate per cost term, as integer units at the table's ``scale``.
"""

from __future__ import annotations

import heapq
import json
import math
import threading
import weakref
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from itertools import chain, islice, pairwise
from operator import attrgetter
from typing import Any, Literal, NamedTuple, overload

import numpy as np
import polars as pl

from catalog.cost.money import MAX_SCALE, scale_of, to_units
from catalog.prices import PRICE_KEYS, PriceSheet, parse_price_sheet

# Effective per-unit rates the cost terms use. A sub-rate that is absent (missing key = 0) or 0 falls
# back to its parent: OpenRouter bills cached tokens at the prompt rate when no cache price is listed,
# and reasoning as completion tokens when ``internal_reasoning`` is not priced. The 20 recorded endpoint
# days never list such a sub-rate as an explicit 0 under a non-zero parent; a few 2025-12 / 2026-01
# ``/models`` entries list ``input_cache_read: "0"``, from the months when zero keys meant "not priced".
RATES = (
    "input",
    "cache_read",
    "cache_write_5m",
    "cache_write_1h",
    "output",
    "reasoning",
    "request",
    "image",
    "image_output",
    "web_search",
    "audio_input",
    "audio_output",
)


def effective_rates(prices: dict[str, Decimal | None]) -> dict[str, Decimal | None]:
    """The rate each cost term bills at, from one (already override-merged) price sheet."""

    def sub(key: str, parent: Decimal | None) -> Decimal | None:
        value = prices.get(key, Decimal(0))
        return parent if value is not None and value == 0 else value

    cache_write_5m = sub("input_cache_write", prices["prompt"])
    return {
        "input": prices["prompt"],
        "cache_read": sub("input_cache_read", prices["prompt"]),
        "cache_write_5m": cache_write_5m,
        # A 1-hour write is never billed at the 5-minute rate when a 1-hour rate is listed.
        "cache_write_1h": sub("input_cache_write_1h", cache_write_5m),
        "output": prices["completion"],
        "reasoning": sub("internal_reasoning", prices["completion"]),
        "request": prices.get("request", Decimal(0)),
        "image": prices.get("image", Decimal(0)),
        "image_output": sub("image_output", prices["completion"]),
        "web_search": prices.get("web_search", Decimal(0)),
        "audio_input": sub("audio", prices["prompt"]),
        "audio_output": sub("audio_output", prices["completion"]),
    }


def variant_prices(sheet: PriceSheet, mask: int) -> dict[str, Decimal | None]:
    """The sheet's prices when exactly the overrides whose bits are set in ``mask`` apply."""
    prices = dict(sheet.prices)
    for index, override in enumerate(sheet.overrides):
        if mask >> index & 1:
            prices.update(override.prices)  # later entries win per key; absent keys keep the base
    return prices


def hhmm_minutes(value: int) -> int:
    """An ``HHMM`` clock number (``1030``) as minutes after midnight (``630``)."""
    return (value // 100) * 60 + value % 100


@dataclass(frozen=True)
class SheetVersion:
    """One price version of an endpoint (``tag`` set) or of a model (``tag`` None), ``[valid_from, valid_to)``."""

    kind: Literal["endpoint", "model"]
    model_id: str
    tag: str | None
    provider_slug: str | None
    provider_name: str | None
    valid_from: datetime
    valid_to: datetime | None
    sheet: PriceSheet
    canonical_slug: str | None = None
    key: str | None = None  # the stored endpoint key (``model@tag``, ``model@tag#2`` for a repeated tag)
    provider_model_id: str | None = None  # an endpoint's model id at the provider's own API (None: not recorded)

    @property
    def entity_key(self) -> tuple[str, str | None]:
        """What identifies the priced thing: the model, and for an endpoint its key (else its tag)."""
        return (self.model_id, (self.key or self.tag) if self.kind == "endpoint" else None)


_CHUNK_BITS = 10  # a ``VersionList`` chunk holds 1,024 versions
_CHUNK = 1 << _CHUNK_BITS


class VersionColumns(NamedTuple):
    """Versions as parallel lists, one per ``SheetVersion`` field (a history as the store returns it)."""

    kind: list[Literal["endpoint", "model"]]
    model_id: list[str]
    tag: list[str | None]
    provider_slug: list[str | None]
    provider_name: list[str | None]
    valid_from: list[datetime]
    valid_to: list[datetime | None]
    sheet: list[PriceSheet]
    canonical_slug: list[str | None]
    key: list[str | None]
    provider_model_id: list[str | None]

    def name_rows(self) -> Iterator[tuple[Any, ...]]:
        """Per version: kind, model, tag, provider slug and name, canonical slug, stored key (``_add_names``)."""
        return zip(
            self.kind,
            self.model_id,
            self.tag,
            self.provider_slug,
            self.provider_name,
            self.canonical_slug,
            self.key,
            strict=True,
        )


# What a build reads of each version object, fetched in C (a year of versions: ~10 ms less than a comprehension).
_NAMES = attrgetter("kind", "model_id", "tag", "provider_slug", "provider_name", "canonical_slug", "key")
_FROM, _TO, _SHEET = attrgetter("valid_from"), attrgetter("valid_to"), attrgetter("sheet")


def _name_rows(versions: Iterable[SheetVersion]) -> Iterator[tuple[Any, ...]]:
    """``VersionColumns.name_rows`` of version objects."""
    return map(_NAMES, versions)


_MAKING = threading.Lock()  # one thread makes a lazy chunk's versions, so every reader gets the same objects


class _LazyChunk:
    """Up to ``_CHUNK`` versions kept as columns, made into ``SheetVersion`` objects on first read (then kept).

    A table read from the store holds a year of versions; a cost call reads none of them (only the arrays built
    from the columns), and ~200,000 objects made up front were walked by the collector's next full pass — which
    landed in the first cost call. Tables sharing a chunk (``VersionList.changed``) share the objects it makes."""

    __slots__ = ("_columns", "_made", "_start", "_stop")

    def __init__(self, columns: VersionColumns, start: int, stop: int) -> None:
        self._columns: VersionColumns | None = columns
        self._start, self._stop = start, stop
        self._made: tuple[SheetVersion, ...] | None = None

    def __len__(self) -> int:
        return self._stop - self._start

    def made(self) -> tuple[SheetVersion, ...]:
        done = self._made
        if done is None:
            with _MAKING:
                done = self._made
                if done is None:
                    columns, cut = self._columns, slice(self._start, self._stop)
                    assert columns is not None
                    done = tuple(
                        SheetVersion(k, m, t, s, n, f, u, sheet, canonical_slug=c, key=key, provider_model_id=p)
                        for k, m, t, s, n, f, u, sheet, c, key, p in zip(
                            *(column[cut] for column in columns), strict=True
                        )
                    )
                    self._made, self._columns = done, None  # the columns are freed once every chunk is made
        return done


def _made(chunk: tuple[SheetVersion, ...] | _LazyChunk) -> tuple[SheetVersion, ...]:
    return chunk if isinstance(chunk, tuple) else chunk.made()


class VersionList(Sequence[SheetVersion]):
    """A table's versions by id (a read-only sequence), held in chunks of ``_CHUNK`` that tables share.

    A table extended by a sweep (``PriceTable.extend``) closes a few versions (new objects at their ids) and adds
    a few: ``changed`` copies only the chunks those fall in and the list of chunks, not a year of versions; and
    nothing a year long is left young for the garbage collector to walk after each refresh. A list read from
    columns (``from_columns``) makes each chunk's objects when one of its versions is first read."""

    __slots__ = ("_chunks", "_len")

    def __init__(self, versions: Iterable[SheetVersion] = ()) -> None:
        items = list(versions)
        self._chunks: list[tuple[SheetVersion, ...] | _LazyChunk] = [
            tuple(items[i : i + _CHUNK]) for i in range(0, len(items), _CHUNK)
        ]
        self._len = len(items)

    @classmethod
    def from_columns(cls, columns: VersionColumns) -> VersionList:
        new = object.__new__(cls)
        total = len(columns.kind)
        new._chunks = [_LazyChunk(columns, i, min(i + _CHUNK, total)) for i in range(0, total, _CHUNK)]
        new._len = total
        return new

    def __len__(self) -> int:
        return self._len

    def __iter__(self) -> Iterator[SheetVersion]:
        return chain.from_iterable(map(_made, self._chunks))

    @overload
    def __getitem__(self, index: int) -> SheetVersion: ...

    @overload
    def __getitem__(self, index: slice) -> list[SheetVersion]: ...

    def __getitem__(self, index: int | slice) -> SheetVersion | list[SheetVersion]:
        if isinstance(index, slice):
            start, stop, step = index.indices(self._len)
            if step != 1 or stop <= start:
                return list(self)[index]
            first = start >> _CHUNK_BITS
            flat = list(chain.from_iterable(map(_made, self._chunks[first : ((stop - 1) >> _CHUNK_BITS) + 1])))
            offset = first << _CHUNK_BITS
            return flat[start - offset : stop - offset]
        if index < 0:
            index += self._len
        if not 0 <= index < self._len:
            raise IndexError(f"version id {index} is not in this table (it holds {self._len})")
        return _made(self._chunks[index >> _CHUNK_BITS])[index & (_CHUNK - 1)]

    def __repr__(self) -> str:
        return f"VersionList({self._len} versions)"

    def changed(self, replaced: dict[int, SheetVersion], added: Sequence[SheetVersion]) -> VersionList:
        """A new list: the versions at the ids of ``replaced`` swapped for its, then ``added`` appended; this one
        is left as it was (a request in flight may be reading it)."""
        chunks = list(self._chunks)
        by_chunk: dict[int, list[tuple[int, SheetVersion]]] = {}
        for row, version in replaced.items():
            if not 0 <= row < self._len:
                raise IndexError(f"version id {row} is not in this table (it holds {self._len})")
            by_chunk.setdefault(row >> _CHUNK_BITS, []).append((row & (_CHUNK - 1), version))
        for at, swaps in by_chunk.items():
            chunk = list(_made(chunks[at]))
            for offset, version in swaps:
                chunk[offset] = version
            chunks[at] = tuple(chunk)
        if added:
            tail = list(_made(chunks.pop())) if chunks and len(chunks[-1]) < _CHUNK else []
            items = tail + list(added)
            chunks += [tuple(items[i : i + _CHUNK]) for i in range(0, len(items), _CHUNK)]
        new = object.__new__(VersionList)
        new._chunks, new._len = chunks, self._len + len(added)
        return new


_MINUTE = 60_000_000
_STRIDE = 1 << 32  # a span's key: entity * _STRIDE + its first period (a fixed stride: keys outlive new periods)
_OPEN_SPAN = 2**31 - 1  # the end period of an open version's span: after every period there is
_MAX_CHUNKS = 32  # a column ``extend`` appends to is made contiguous again past this many chunks


def _appended(head: pl.Series, tail: pl.Series) -> pl.Series:
    """``head`` then ``tail``. Each sweep's ``extend`` appends a chunk to the version and variant columns; a year of
    hourly sweeps in one process would leave ~8,760 of them, and a gather over that many is ~18x slower than over
    one. Copied whole once every ``_MAX_CHUNKS`` sweeps instead: linear in the columns, amortised over the sweeps."""
    out = pl.concat([head, tail])
    return out.rechunk() if out.n_chunks() > _MAX_CHUNKS else out


_NEVER_TS = 2**62  # the end of an open version, in epoch microseconds: after every instant there is
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# A batch of this many instants finds its periods through the per-minute table (built once per table, on first
# use); a smaller one binary-searches the bounds, which costs less than building the table.
_MINUTE_TABLE_ROWS = 1 << 16
_MAX_MINUTES = 4_000_000  # ~7.6 years of minutes (16 MB of Int32); a longer span binary-searches

EntityKey = tuple[str, str | None]
_SHARING = threading.Lock()  # a table extending another appends to the distinct sheets they share (``extend``)


def _micros(value: datetime) -> int:
    # Integer arithmetic: ``timestamp()`` is a float, and truncation toward zero is off by one before 1970.
    return (value - _EPOCH) // timedelta(microseconds=1)


# Suffixes of a model id that choose how to route (``model:nitro``), not what the tokens cost.
ROUTING_SUFFIXES = ("nitro", "floor", "online")


class PriceTable:
    """Every sheet version, indexed for costing; see the module docstring for the layout.

    A table never changes once built: ``extend`` returns a new one, so a request holding the old table
    finishes on it while later requests use the new one.
    """

    def __init__(self, versions: list[SheetVersion] | VersionColumns) -> None:
        starts: Iterable[datetime]
        ends: Iterable[datetime | None]
        sheets: Iterable[PriceSheet]
        if isinstance(versions, VersionColumns):  # a history read from the store: objects made when first read
            self.versions = VersionList.from_columns(versions)
            names, starts, ends, sheets = versions.name_rows(), versions.valid_from, versions.valid_to, versions.sheet
        else:
            self.versions = VersionList(versions)
            names = _name_rows(versions)
            starts, ends = map(_FROM, versions), map(_TO, versions)
            sheets = map(_SHEET, versions)
        self.entities: list[tuple[str, str | None, str | None, str | None]] = []  # model, tag, slug, name
        self.entity_of: dict[EntityKey, int] = {}
        self._entity_keys: list[EntityKey] = []
        # The name maps hold tuples, not lists: a table read from the store names ~30,000 of them at ten times
        # today's endpoints, and tuples of strings and ints leave the collector's care at its next pass, where lists
        # would be walked by every full collection (one landed in the first cost call).
        self.tag_entities: dict[tuple[str, str], tuple[int, ...]] = {}
        self.model_ids: set[str] = set()
        self.slug_to_model: dict[str, str] = {}
        self.providers_of: dict[str, dict[str, tuple[str, ...]]] = {}  # model -> lower(slug or name) -> tags
        codes = self._add_names(names)
        self._ver_entity, self._ver_from, self._ver_to = _version_columns(starts, ends, codes)
        self._build_index()
        self._sheet_row: dict[int, int] = {}  # id(PriceSheet) -> its row among the distinct sheets
        self._distinct: list[PriceSheet] = []  # holds those sheets, so their ids stay theirs
        self._dist_base = pl.Series("variant_base", [], dtype=pl.Int64)  # per distinct sheet: its first variant
        self.scale = 0
        self.max_overrides = 0
        self.has_windows = self.has_discounts = False
        self._rates: dict[str, pl.Series] = {name: pl.Series(name, [], dtype=pl.Int128) for name in RATES}
        self._dynamic = pl.Series("dynamic", [], dtype=pl.Boolean)
        self._num = pl.Series("discount_num", [], dtype=pl.Int128)
        self._den = pl.Series("discount_den", [], dtype=pl.Int128)
        self.variant_rate_max: dict[str, int] = dict.fromkeys(RATES, 0)
        self.conditions: pl.DataFrame | None = None
        self._ver_dist = pl.Series("sheet", [], dtype=pl.Int32)
        # The table this one was extended from (``extend``), while it lives: whoever derives something per table
        # (the ranker's rate lists, a model's versions) may carry the parent's forward instead of starting again.
        # Weak, so a long-running service does not keep every table since its start.
        self.parent: weakref.ref[PriceTable] | None = None
        self.closed_rows: list[int] = []  # ``extend``: the parent's versions it closed (replaced at these ids)
        self._add_variants(sheets)

    # -- names ---------------------------------------------------------------------------------------

    def _add_names(self, versions: Iterable[tuple[Any, ...]], *, shared: bool = False) -> list[int]:
        """Number the entities ``versions`` (``VersionColumns.name_rows``) bring and index their names, after the
        ones already known; returns each version's entity. One pass of dictionary look-ups a version: an
        entity's versions mostly repeat its names, so only a version naming its entity differently is indexed
        again.

        ``shared``: the name maps' inner dictionaries are the parent table's (``extend`` copies only the outer
        maps): each one is copied before its first change, so the parent's stay as they were."""
        entity_of, entities, keys = self.entity_of, self.entities, self._entity_keys
        touched: set[tuple[str, str]] = set()
        owned: set[str] = set()  # models whose ``providers_of`` entry is this table's own (``shared``)
        codes: list[int] = []
        known = len(entities)
        named: dict[tuple[Any, ...], None] = {}  # (entity, slug, name, canonical slug), in listing order
        for kind, model_id, tag, provider_slug, provider_name, canonical_slug, stored_key in versions:
            endpoint = kind == "endpoint"
            key = (model_id, (stored_key or tag) if endpoint else None)
            entity = entity_of.get(key)
            if entity is None:
                entity = entity_of[key] = len(entities)
                keys.append(key)
                entities.append((model_id, tag if endpoint else None, provider_slug, provider_name))
                if endpoint and tag is not None:
                    shared_tag = self.tag_entities.get((model_id, tag), ())
                    self.tag_entities[(model_id, tag)] = (*shared_tag, entity)
                    if shared_tag:
                        touched.add((model_id, tag))
            codes.append(entity)
            names_of = (entity, provider_slug, provider_name, canonical_slug)
            if names_of not in named:
                named[names_of] = None
        for twins in touched:
            # Endpoints sharing a tag: the first listed (``model@tag``) before ``#2``, ``#3``… whatever the load order.
            self.tag_entities[twins] = tuple(
                sorted(self.tag_entities[twins], key=lambda e: (len(str(keys[e][1])), str(keys[e][1])))
            )
        self.model_ids.update(key[0] for key in keys[known:])  # a version's model is its entity's
        for slug in [s for s in self.slug_to_model if s in self.model_ids]:
            del self.slug_to_model[slug]  # a version added later names a model by what was a slug
        for entity, provider_slug, provider_name, canonical_slug in named:
            model_id, tag = entities[entity][0], entities[entity][1]
            if canonical_slug and canonical_slug not in self.model_ids:
                self.slug_to_model.setdefault(canonical_slug, model_id)
            if tag:
                names = self.providers_of.get(model_id, {})
                wanted = [n.lower() for n in {provider_slug, provider_name, tag} if n]
                if all(tag in names.get(n, ()) for n in wanted):
                    continue  # a version naming its endpoint as before (most of a sweep's): nothing to copy or add
                if shared and model_id not in owned:
                    self.providers_of[model_id] = dict(names)  # its tuples are immutable: a shallow copy
                    owned.add(model_id)
                names = self.providers_of.setdefault(model_id, {})
                for name in wanted:
                    held = names.get(name, ())
                    if tag not in held:
                        names[name] = (*held, tag)
        return codes

    def resolve_model(self, model: str) -> str | None:
        """The catalog id for a model name as usage reports it: an id, a dated canonical slug, a routing suffix."""
        if model in self.model_ids:
            return model
        if model in self.slug_to_model:
            return self.slug_to_model[model]
        base, _, suffix = model.partition(":")
        if suffix in ROUTING_SUFFIXES and base in self.model_ids:
            return base  # routing suffixes choose how to route, not what the tokens cost
        return None

    def resolve(self, model: str | None, provider: str | None, endpoint: str | None) -> Resolution:
        """Which entity prices rows naming ``model``/``provider``/``endpoint``, or why none does."""
        if not model:
            return Resolution((), -1, "usage row names no model")
        model_id = self.resolve_model(model)
        if model_id is None:
            return Resolution((), -1, f"unknown model {model!r}: not in the price history")
        model_entity = self.entity_of.get((model_id, None), -1)
        if endpoint is not None:
            # An endpoint key (``model@tag#2``) names one endpoint; a tag can name two that share it.
            found = [self.entity_of[(model_id, endpoint)]] if (model_id, endpoint) in self.entity_of else []
            found = found or list(self.tag_entities.get((model_id, endpoint), ()))
            if not found:
                return Resolution((), -1, f"model {model_id!r} has no endpoint tagged {endpoint!r}")
            return Resolution(tuple(found), model_entity, None)
        if not provider:
            return Resolution((), model_entity, None)
        tags = self.providers_of.get(model_id, {}).get(provider.lower())
        if not tags:
            # A provider the endpoint history never saw for this model (a call from before endpoints were
            # recorded, or a provider that has since left): the model-level price is the best listed price
            # there is, and ``price_source`` says so.
            return Resolution((), model_entity, None)
        if len(tags) == 1:  # most providers serve a model from one endpoint tag: nothing to order
            return Resolution(tuple(self.tag_entities[(model_id, tags[0])]), model_entity, None)
        # Which of a provider's endpoints served a call is not in its usage: prefer the plain tag, then the
        # global one, then the others by name; the engine takes the first that was listed at the row's time.
        ordered = sorted(tags, key=lambda t: ("/" in t and t.lower() != provider.lower(), not t.endswith("/global"), t))
        return Resolution(tuple(e for t in ordered for e in self.tag_entities[(model_id, t)]), model_entity, None)

    # -- the index: per entity, its versions in time order ---------------------------------------------

    def _build_index(self) -> None:
        """Bounds, and per entity its spans in force as sorted flat arrays; all vectorised but for overlaps.

        A span is ``[first, last)`` in periods with the sheet in force (``last`` is ``_OPEN_SPAN`` while the
        version is open). An entity's versions normally follow one another (gaps allowed), and each version in
        force for some instant is one span. Where an entity's versions overlap (not in a stored history, but a
        table built from sheets may have it), the version listed last wins, as it always has: those entities
        are cut at their own bounds in Python.
        """
        starts, ends = self._ver_from, self._ver_to
        self.bounds = pl.concat([starts, ends.filter(ends != _NEVER_TS)]).unique().sort().alias("bounds")
        self.n_periods = self.bounds.len() + 1
        entity = self._ver_entity.cast(pl.Int64)
        first = self.bounds.search_sorted(starts, side="right").cast(pl.Int64)
        last = pl.select(
            pl.when(pl.lit(ends) == _NEVER_TS)
            .then(_OPEN_SPAN)
            .otherwise(pl.lit(self.bounds.search_sorted(ends, side="right").cast(pl.Int64)))
        ).to_series()
        spans = (
            pl.DataFrame({"key": entity * _STRIDE + first, "last": last, "entity": entity, "first": first})
            .with_row_index("sheet")
            .filter(pl.col("last") > pl.col("first"))  # in force at no instant: never found
            # One integer key orders by entity, then start; a stable sort keeps the listing order of ties.
            .sort("key", maintain_order=True)
        )
        # Sorted by start, an entity's versions overlap exactly where one starts before the previous one ends.
        overlapping = spans.filter(
            (pl.col("entity") == pl.col("entity").shift(1)) & (pl.col("first") < pl.col("last").shift(1))
        )["entity"].unique()
        self._overlaps = bool(overlapping.len())
        if self._overlaps:
            mixed = pl.col("entity").is_in(overlapping.implode())
            cut = _winners(spans.filter(mixed))
            spans = pl.concat([spans.filter(~mixed), cut]).sort("key")
        self._set_spans(spans["key"], spans["last"].cast(pl.Int32), spans["sheet"].cast(pl.Int32))

    def _set_spans(self, key: pl.Series, end: pl.Series, sheet: pl.Series) -> None:
        self._span_key = key.alias("key")
        self._span_end = end.alias("last")
        self._span_sheet = sheet.alias("sheet")
        # Where each entity's spans are: its first span and how many. In NumPy, on this thread: a Polars search
        # hands the GIL to the requests in flight and waits for the pool, which under load costs more than the search.
        entities = len(self.entities)
        edges = np.searchsorted(
            self._span_key.to_numpy(), np.arange(entities + 1, dtype=np.int64) * _STRIDE, side="left"
        ).astype(np.int64)
        self._span_lo = pl.Series("lo", edges[:entities], dtype=pl.Int64)
        self._span_count = pl.Series("count", edges[1:] - edges[:entities], dtype=pl.Int64)
        # Built on first use: (None,) when the bounds do not allow it.
        self._minute_cache: tuple[tuple[int, pl.Series, pl.Series] | None] | None = None

    def _extend_index(
        self, parent: PriceTable, closed: list[int], closed_to: np.ndarray, closed_entities: np.ndarray
    ) -> bool:
        """The index ``_build_index`` would make, from ``parent``'s and what a sweep changed (``extend``): the
        versions after ``parent``'s are new, and ``closed`` (rows ``parent`` held open) now end. False (and
        nothing set) when the change is not one this can follow: a new bound before ``parent``'s last (a
        version dated in the past), an entity whose versions overlap, a version closed at its own start.

        A sweep adds bounds after every one known, so the periods known keep their numbers and a span key
        (``entity * _STRIDE + first``) its value: the work is a search per changed version and one copy of
        the arrays with the new spans inserted (no sort of the whole index, no search per version). ``closed_to``
        and ``closed_entities``: each closed row's new end (epoch µs) and its entity. In NumPy: each Polars call on
        a few hundred values would hand the GIL to the requests in flight and wait for the pool under load."""
        if parent._overlaps or not parent.bounds.len():
            return False
        start = len(parent.versions)
        old_bounds = parent.bounds.to_numpy()
        new_from = self._ver_from.slice(start).to_numpy()
        new_to = self._ver_to.slice(start).to_numpy()
        instants = np.unique(np.concatenate([new_from, new_to[new_to != _NEVER_TS], closed_to]))
        at = np.searchsorted(old_bounds, instants, side="left")
        known = (at < old_bounds.size) & (old_bounds[np.minimum(at, old_bounds.size - 1)] == instants)
        added = instants[~known]
        if added.size and old_bounds.size and added[0] <= old_bounds[-1]:
            return False
        bounds = np.concatenate([old_bounds, added]) if added.size else old_bounds
        keys = parent._span_key.to_numpy()
        ends = parent._span_end.to_numpy()
        sheets = parent._span_sheet.to_numpy()
        if closed:
            entities = closed_entities.astype(np.int64)
            where = parent._span_lo.to_numpy()[entities] + parent._span_count.to_numpy()[entities] - 1
            # An open version is its entity's last span (else it would overlap the ones after it).
            if (where < 0).any() or not (sheets[where] == np.asarray(closed)).all():
                return False
            until = np.searchsorted(bounds, closed_to, side="right")
            if (ends[where] != _OPEN_SPAN).any() or (until <= keys[where] % _STRIDE).any():
                return False
            ends = ends.copy()  # ``parent``'s arrays stay as they are: a request may be reading them
            ends[where] = until
        if new_from.size:
            entity = self._ver_entity.slice(start).to_numpy().astype(np.int64)
            first = np.searchsorted(bounds, new_from, side="right")
            last = np.where(new_to == _NEVER_TS, _OPEN_SPAN, np.searchsorted(bounds, new_to, side="right"))
            live = last > first  # in force at no instant: never found
            key = (entity * _STRIDE + first)[live]
            order = np.argsort(key, kind="stable")
            key = key[order]
            rows = (np.arange(start, start + new_from.size, dtype=np.int64)[live])[order]
            place = np.searchsorted(keys, key, side="right")
            keys = np.insert(keys, place, key)
            ends = np.insert(ends, place, last[live][order].astype(np.int32))
            sheets = np.insert(sheets, place, rows.astype(np.int32))
        if keys.size > 1:
            entity_of, first_of = keys // _STRIDE, keys % _STRIDE
            if ((entity_of[1:] == entity_of[:-1]) & (first_of[1:] < ends[:-1])).any():
                return False
        self.bounds = pl.Series("bounds", bounds, dtype=pl.Int64)
        self.n_periods = self.bounds.len() + 1
        self._overlaps = False
        self._set_spans(
            pl.Series("key", keys, dtype=pl.Int64),
            pl.Series("last", ends, dtype=pl.Int32),
            pl.Series("sheet", sheets, dtype=pl.Int32),
        )
        return True

    def versions_between(self, lo: datetime | None, hi: datetime, *, ends: bool = True) -> list[int]:
        """Ids of the versions starting in ``(lo, hi]`` (``lo`` None: up to ``hi``), and with ``ends``, those ending
        there too, in id order: a vectorised scan, for callers that follow the history from one instant to a later
        one (the site) or want what is in force (``in_force``)."""
        start, end = self._ver_from, self._ver_to
        upper = _micros(hi)
        mask = start <= upper
        if lo is not None:
            lower = _micros(lo)
            mask = mask & (start > lower)
            if ends:
                mask = mask | ((end > lower) & (end <= upper))
        return mask.arg_true().to_list()

    def in_force(self, at: datetime) -> list[int]:
        """Ids of the versions in force at ``at`` (``valid_from <= at < valid_to``), in id order."""
        moment = _micros(at)
        return ((self._ver_from <= moment) & (self._ver_to > moment)).arg_true().to_list()

    def index_size(self) -> dict[str, int]:
        """The index's length and bytes (bounds, spans, per-version columns): what grows with the history."""
        arrays = [
            self.bounds,
            self._span_key,
            self._span_end,
            self._span_sheet,
            self._span_lo,
            self._span_count,
            self._ver_entity,
            self._ver_from,
            self._ver_to,
            self._ver_dist,
            self.variant_base,
        ]
        size = sum(a.estimated_size() for a in arrays) + self.variants.estimated_size()
        if self.conditions is not None:
            size += self.conditions.estimated_size()
        return {"spans": self._span_key.len(), "bounds": self.bounds.len(), "bytes": int(size)}

    def period_of(self, micros: pl.Series, *, by_minute: bool | None = None) -> pl.Series:
        """The period index (count of bounds ≤ t) of each UTC instant given in epoch microseconds.

        ``by_minute`` (default: for large batches) reads it from a per-minute table, two gathers a row instead
        of a binary search; with two bounds in one minute, or a span too long, it binary-searches.
        """
        if by_minute is None:
            by_minute = micros.len() >= _MINUTE_TABLE_ROWS
        table = self._minute_table() if by_minute else None
        if table is None:
            return self.bounds.search_sorted(micros, side="right").cast(pl.Int64)
        first, start_period, padded = table
        minute = (micros // _MINUTE - first).clip(0, start_period.len() - 1)
        start = start_period.gather(minute)
        # The first bound at or after the minute's start: when it falls inside this minute, t may be past it.
        return start.cast(pl.Int64) + (micros >= padded.gather(start)).cast(pl.Int64)

    def _minute_table(self) -> tuple[int, pl.Series, pl.Series] | None:
        """Per minute of the history's span: how many bounds come before the minute (built on first use)."""
        cached = self._minute_cache
        if cached is None:
            found: tuple[int, pl.Series, pl.Series] | None = None
            minutes = self.bounds // _MINUTE
            if self.bounds.len() and minutes.n_unique() == self.bounds.len():
                first, last = int(minutes[0]), int(minutes[-1])
                if last - first < _MAX_MINUTES:
                    starts = pl.int_range(first, last + 1, eager=True, dtype=pl.Int64) * _MINUTE
                    start_period = self.bounds.search_sorted(starts, side="left").cast(pl.Int32)
                    padded = pl.concat([self.bounds, pl.Series([_NEVER_TS], dtype=pl.Int64)])
                    found = (first, start_period, padded)
            cached = self._minute_cache = (found,)  # one assignment: another thread sees none or all of it
        return cached[0]

    def _sheet_in(self, entity: pl.Series, period: pl.Series) -> pl.Series:
        """The sheet of each ``entity`` (-1: none) in force in each ``period``: a search within the entity."""
        if not self._span_key.len():
            return pl.Series("sheet", [-1] * entity.len(), dtype=pl.Int32)
        key = entity * _STRIDE + period
        at = self._span_key.search_sorted(key, side="right").cast(pl.Int64) - 1
        safe = at.clip(0)
        hit = (
            (at >= 0)
            & (entity >= 0)
            & (self._span_key.gather(safe) >= entity * _STRIDE)
            & (period < self._span_end.gather(safe))
        )
        return pl.select(pl.when(hit).then(self._span_sheet.gather(safe)).otherwise(-1).cast(pl.Int32)).to_series()

    @staticmethod
    def _ranks(resolutions: list[Resolution]) -> list[list[int]]:
        """Per rank of preference, each resolution's entity there (-1: none); the model-level entity last."""
        depth = max((len(r.entities) for r in resolutions), default=0)
        ranks: list[list[int]] = [[-1] * len(resolutions) for _ in range(depth)]
        for index, r in enumerate(resolutions):
            for rank, entity_id in enumerate(r.entities):
                ranks[rank][index] = entity_id
        ranks.append([r.model_entity for r in resolutions])
        return ranks

    def _resolve(self, ranks: list[list[int]], combo: pl.Series, period: pl.Series) -> tuple[pl.Series, pl.Series]:
        """Per row: the first endpoint candidate with a sheet in force, else the model-level sheet."""
        rows = combo.len()
        sheet = pl.Series("sheet_id", [-1] * rows, dtype=pl.Int32)
        source = pl.Series("source", [2] * rows, dtype=pl.Int8)
        for rank, of_combo in enumerate(ranks):
            entity = pl.Series(of_combo, dtype=pl.Int64).gather(combo)
            todo = ((sheet < 0) & (entity >= 0)).arg_true()
            if not todo.len():
                continue
            found = self._sheet_in(entity.gather(todo), period.gather(todo))
            hits = found >= 0
            rows_hit = todo.filter(hits)
            sheet = sheet.scatter(rows_hit, found.filter(hits))
            source = source.scatter(rows_hit, 0 if rank < len(ranks) - 1 else 1)
        return sheet, source

    def _candidates(self, ranks: list[list[int]]) -> pl.DataFrame:
        """(combo, entity) for every candidate of every resolution, with where its spans are."""
        frame = pl.DataFrame(
            {
                "combo": pl.concat([pl.int_range(0, len(of_combo), eager=True, dtype=pl.Int64) for of_combo in ranks]),
                "entity": pl.concat([pl.Series(of_combo, dtype=pl.Int64) for of_combo in ranks]),
            }
        ).filter(pl.col("entity") >= 0)
        return frame.with_columns(
            self._span_lo.gather(frame["entity"]).alias("lo"), self._span_count.gather(frame["entity"]).alias("count")
        )

    def _timeline(self, ranks: list[list[int]], candidates: pl.DataFrame) -> tuple[pl.Series, pl.Series, pl.Series]:
        """Per resolution, where its answer can change: period 0 and each start and end of its candidates'
        spans. Each such point is resolved once; between two points the answer holds. Returns the points as
        ``combo * n_periods + period`` (sorted), and the sheet and source from each."""
        n = self.n_periods
        spans = (
            candidates.select("combo", "entity", pl.int_ranges("lo", pl.col("lo") + pl.col("count")).alias("at"))
            .explode("at")
            .drop_nulls("at")
        )
        at = spans["at"]
        first = self._span_key.gather(at) - spans["entity"] * _STRIDE
        last = self._span_end.gather(at).cast(pl.Int64)
        combos = len(ranks[0])
        points = (
            pl.concat(
                [
                    pl.DataFrame({"combo": spans["combo"], "period": first}),
                    pl.DataFrame({"combo": spans["combo"], "period": last}).filter(pl.col("period") < n),
                    pl.DataFrame(
                        {
                            "combo": pl.int_range(0, combos, eager=True, dtype=pl.Int64),
                            "period": pl.repeat(0, combos, eager=True, dtype=pl.Int64),
                        }
                    ),
                ]
            )
            .unique()
            .sort("combo", "period")
        )
        sheet, source = self._resolve(ranks, points["combo"], points["period"])
        return points["combo"] * n + points["period"], sheet, source

    def lookup(
        self,
        resolutions: list[Resolution],
        combo: pl.Series,
        micros: pl.Series,
        *,
        how: Literal["rows", "timeline", "cells"] | None = None,
    ) -> tuple[pl.Series, pl.Series]:
        """For rows resolved to ``resolutions[combo]`` at instants ``micros`` (epoch µs): the sheet in force
        (Int32, -1: none) and its source (Int8: 0 endpoint, 1 model, 2 none).

        The endpoint candidates in order, the first with a sheet in force at the row's time, else the model's.
        ``how`` (default: by the batch's size) — ``rows``: each row searches its candidates in turn (a binary
        search within the entity, vectorised; for small batches); ``timeline``: each resolution is first
        decided at the points where its answer can change (its candidates' starts and ends), then each row
        finds its point with one search; ``cells``: that timeline laid out per (resolution, period) and
        gathered, when there are no more such cells than rows (a large batch: a gather is cheaper than a
        search, and the cells take less memory than the rows).
        """
        period = self.period_of(micros)
        combo = combo.cast(pl.Int64)
        ranks = self._ranks(resolutions)
        if not resolutions or not combo.len():
            return self._resolve(ranks, combo, period)
        candidates = self._candidates(ranks)
        n, rows = self.n_periods, combo.len()
        if how is None:
            how = "rows" if int(candidates["count"].sum()) + len(resolutions) > rows else "timeline"
            how = "cells" if how == "timeline" and len(resolutions) * n <= rows else how
        if how == "rows":
            return self._resolve(ranks, combo, period)
        keys, sheet, source = self._timeline(ranks, candidates)
        if how == "cells":
            # Each point holds until the resolution's next point; a resolution's first point is its period 0.
            lengths = keys.shift(-1).fill_null(len(resolutions) * n) - keys
            owner = pl.select(
                pl.int_range(0, keys.len(), dtype=pl.Int64).repeat_by(pl.lit(lengths)).explode()
            ).to_series()
            cell = combo * n + period
            return sheet.gather(owner).gather(cell), source.gather(owner).gather(cell)
        at = keys.search_sorted(combo * n + period, side="right").cast(pl.Int64) - 1
        return sheet.gather(at), source.gather(at)

    def sheets_in_periods(
        self, resolutions: list[Resolution], combo: pl.Series, period: pl.Series
    ) -> tuple[pl.Series, pl.Series]:
        """``lookup`` for (resolution, period) pairs instead of instants: within a period no version starts
        or ends, so the sheet of every row of a cell (combo, period) is the cell's."""
        return self._resolve(self._ranks(resolutions), combo.cast(pl.Int64), period.cast(pl.Int64))

    def sheets_at(self, resolutions: list[Resolution], at: datetime) -> tuple[list[int], list[int]]:
        """For each resolution: the sheet in force at ``at`` (-1: none) and its source (0 endpoint, 1 model, 2 none)."""
        if not resolutions:
            return [], []
        # ``lookup``'s row-by-row resolution (``_resolve``) at one instant, in NumPy on this thread: a refresh asks
        # this for the hundred candidates a sweep changed, where each of the dozen planned Polars steps would hand
        # the GIL to the requests in flight and, under load, wait for the pool.
        period = int(np.searchsorted(self.bounds.to_numpy(), _micros(at), side="right"))
        rows = len(resolutions)
        sheet = np.full(rows, -1, dtype=np.int64)
        source = np.full(rows, 2, dtype=np.int64)
        keys, ends, found = self._span_key.to_numpy(), self._span_end.to_numpy(), self._span_sheet.to_numpy()
        ranks = self._ranks(resolutions)
        for rank, of_row in enumerate(ranks):
            entity = np.asarray(of_row, dtype=np.int64)
            todo = np.flatnonzero((sheet < 0) & (entity >= 0))
            if not todo.size or not keys.size:
                continue
            owner = entity[todo]
            at_span = np.searchsorted(keys, owner * _STRIDE + period, side="right") - 1
            safe = np.maximum(at_span, 0)
            hit = (at_span >= 0) & (keys[safe] >= owner * _STRIDE) & (period < ends[safe])
            sheet[todo[hit]] = found[safe[hit]]
            source[todo[hit]] = 0 if rank < len(ranks) - 1 else 1
        return sheet.tolist(), source.tolist()

    # -- variants and rates --------------------------------------------------------------------------

    def _add_variants(self, sheets: Iterable[PriceSheet]) -> None:
        """Rates of each distinct sheet's variants, for the ``sheets`` (one a version) not seen yet.

        Versions sharing a ``PriceSheet`` object (``from_history`` parses each distinct listing once) share its
        variants, so this grows with distinct listings, not versions; the rows already built are kept, and
        only rescaled if a new price needs more fractional digits.
        """
        sheet_row, distinct = self._sheet_row, self._distinct
        fresh: list[PriceSheet] = []
        rows: list[int] = []
        for sheet in sheets:
            row = sheet_row.get(id(sheet))
            if row is None:
                row = sheet_row[id(sheet)] = len(distinct)
                distinct.append(sheet)
                fresh.append(sheet)
            rows.append(row)
        self._ver_dist = _appended(self._ver_dist, pl.Series("sheet", rows, dtype=pl.Int32))
        most = max((len(s.overrides) for s in fresh), default=0)
        if most > 8:  # a row's applying set is an 8-bit mask; real sheets carry at most 2
            raise ValueError(f"a price sheet has {most} overrides; at most 8 are supported")
        self.max_overrides = max(self.max_overrides, most)
        self.has_windows = self.has_windows or any(
            o.utc_start is not None or o.utc_end is not None for s in fresh for o in s.overrides
        )
        self.has_discounts = self.has_discounts or any(s.discount != 0 for s in fresh)
        variant_rates: list[dict[str, Decimal | None]] = []
        discounts: list[Decimal] = []
        first = self._dynamic.len()
        bases: list[int] = []
        for sheet in fresh:
            bases.append(first + len(variant_rates))
            for mask in range(2 ** len(sheet.overrides)):
                variant_rates.append(effective_rates(variant_prices(sheet, mask)))
                discounts.append(sheet.discount)
        self._dist_base = _appended(self._dist_base, pl.Series("variant_base", bases, dtype=pl.Int64))
        # Rates repeat (0, the parent's rate, common prices): each distinct value is measured and converted once.
        values = {v for rates in variant_rates for v in rates.values() if v is not None}
        scale = max([self.scale, *(scale_of(v) for v in values)])
        if scale > MAX_SCALE:
            raise ValueError(f"a price needs {scale} fractional digits; at most {MAX_SCALE} are supported")
        if scale > self.scale:  # the rows built so far, at the finer unit
            factor = pl.Series([10 ** (scale - self.scale)], dtype=pl.Int128)
            self._rates = {name: (column * factor).alias(name) for name, column in self._rates.items()}
            self.variant_rate_max = {k: v * 10 ** (scale - self.scale) for k, v in self.variant_rate_max.items()}
        self.scale = scale
        units_of: dict[Decimal | None, int] = {v: to_units(v, scale) for v in values}
        units_of[None] = 0  # a dynamic rate: the variant is flagged and never billed
        rate_max = dict(self.variant_rate_max)  # kept as the rows come: never a pass over every variant
        for name in RATES:
            units = [units_of[r[name]] for r in variant_rates]
            rate_max[name] = max(rate_max[name], *units) if units else rate_max[name]
            self._rates[name] = _appended(self._rates[name], pl.Series(name, units, dtype=pl.Int128))
        self.variant_rate_max = rate_max
        self._dynamic = _appended(
            self._dynamic, pl.Series("dynamic", [any(v is None for v in r.values()) for r in variant_rates])
        )
        # The undiscounted base is listed / (1 - discount): kept as the fraction den / num.
        nums, dens = [], []
        for discount in discounts:
            digits = scale_of(discount)
            num, den = to_units(1 - discount, digits), 10**digits
            common = math.gcd(num, den) or 1
            dens.append(den // common)
            nums.append(num // common)
        self._num = _appended(self._num, pl.Series("discount_num", nums, dtype=pl.Int128))
        self._den = _appended(self._den, pl.Series("discount_den", dens, dtype=pl.Int128))
        # Override conditions per distinct sheet, one column per override slot (null: no such entry): the fresh
        # sheets' rows appended to the frame built so far (a slot new to it is null for the rows before).
        known = len(distinct) - len(fresh)
        if self.max_overrides and fresh:
            added: dict[str, list[int | None]] = {}
            for j in range(self.max_overrides):
                mins, starts, ends = added[f"min_{j}"], added[f"start_{j}"], added[f"end_{j}"] = [], [], []
                for sheet in fresh:
                    o = sheet.overrides[j] if j < len(sheet.overrides) else None
                    mins.append(None if o is None else o.min_prompt_tokens or 0)
                    starts.append(None if o is None or o.utc_start is None else hhmm_minutes(o.utc_start))
                    ends.append(None if o is None or o.utc_end is None else hhmm_minutes(o.utc_end))
            rows_added = pl.DataFrame(added, schema=dict.fromkeys(added, pl.Int64))
            before = self.conditions
            if before is None:
                before = pl.DataFrame({k: pl.repeat(None, known, dtype=pl.Int64, eager=True) for k in added})
            self.conditions = pl.concat([before, rows_added], how="diagonal")
            if max(self.conditions.n_chunks("all")) > _MAX_CHUNKS:  # as ``_appended``'s columns
                self.conditions = self.conditions.rechunk()
        self._publish_variants()

    def _publish_variants(self) -> None:
        """The frames the engine and the ranker read, from the distinct sheets' columns."""
        # One extra variant with null rates: rows that cannot be priced point at it, so their money is
        # null without a per-term condition.
        self.null_variant = self._dynamic.len()
        columns: dict[str, Any] = {"dynamic": pl.concat([self._dynamic, pl.Series("dynamic", [False])])}
        for name in RATES:
            columns[name] = pl.concat([self._rates[name], pl.Series(name, [None], dtype=pl.Int128)])
        columns["discount_num"] = pl.concat([self._num, pl.Series("discount_num", [None], dtype=pl.Int128)])
        columns["discount_den"] = pl.concat([self._den, pl.Series("discount_den", [None], dtype=pl.Int128)])
        self.variants = pl.DataFrame(columns)
        # Per version its first variant: a table extended from another (``extend``) gathers only its new versions',
        # in NumPy (the rest are the parent's), not a pass over a year of versions.
        known: pl.Series | None = getattr(self, "variant_base", None)
        done = known.len() if known is not None else 0
        base = self._dist_base.to_numpy()[self._ver_dist.slice(done).to_numpy()]
        self.variant_base = pl.Series(
            "variant_base", np.concatenate([known.to_numpy(), base]) if known is not None else base, dtype=pl.Int64
        )
        # Override conditions by distinct sheet (``conditions``; ``sheet_rows`` maps a sheet id to its row there).
        self.sheet_rows = self._ver_dist

    # -- a sweep's changes ---------------------------------------------------------------------------

    def extend(self, opened: list[SheetVersion], closed: dict[EntityKey, datetime]) -> PriceTable:
        """A new table with what one sweep changed: ``closed`` ends the open version of each entity key
        (``SheetVersion.entity_key``) at the time given, then the ``opened`` versions are appended.

        Equals ``PriceTable(all versions)`` built from scratch (tested), but keeps this table's work: sheet
        ids stay (appended after this table's), no sheet is parsed again and the variants of the sheets
        already known are kept; the index takes the new spans in place (``_extend_index``), else is rebuilt
        vectorised. This table is not changed, so a request
        in flight finishes on it. An opened version that a later sweep closes is closed by that sweep's call;
        one opened and closed within the same sweep comes with its ``valid_to`` set.

        Raises ``ValueError`` naming the key when ``closed`` names an entity with no open version here:
        the table does not match the store, so rebuild it (``PriceTable.from_history``).
        """
        new = object.__new__(PriceTable)
        replaced: dict[int, SheetVersion] = {}
        ends = self._ver_to
        rows: list[int] = []
        times: list[int] = []
        closed_entities = np.empty(0, dtype=np.int64)
        if closed:
            codes = {self.entity_of.get(key, -1): key for key in closed}
            found_rows, closed_entities = self._open_rows(list(codes))
            missing = set(closed) - {codes[e] for e in closed_entities.tolist()}
            if missing:
                key = sorted(missing, key=str)[0]
                raise ValueError(
                    f"cannot close {key[0]}{'@' + key[1] if key[1] else ''}: this price table has no open version "
                    f"of it; rebuild the table from the store (PriceTable.from_history)"
                )
            rows = found_rows.tolist()
            for row, code in zip(rows, closed_entities.tolist(), strict=True):
                until = closed[codes[code]]
                replaced[row] = replace(self.versions[row], valid_to=until)
                times.append(_micros(until))
            # A copy: ``scatter`` writes in place, and this table's own column must not change.
            ends = ends.clone().scatter(rows, pl.Series(times, dtype=pl.Int64))
        new.versions = self.versions.changed(replaced, opened)
        new.entities, new.entity_of, new._entity_keys = (
            list(self.entities),
            dict(self.entity_of),
            list(self._entity_keys),
        )
        # The name maps' inner tuples are immutable and a model's providers map is shared until ``_add_names``
        # changes it (copied then): copying every one cost ~60 ms at ten times today's endpoints.
        new.tag_entities = dict(self.tag_entities)
        new.model_ids, new.slug_to_model = set(self.model_ids), dict(self.slug_to_model)
        new.providers_of = dict(self.providers_of)
        numbered = new._add_names(_name_rows(opened), shared=True)
        entity, starts, stops = _version_columns(map(_FROM, opened), map(_TO, opened), numbered)
        new._ver_entity = _appended(self._ver_entity, entity)
        new._ver_from = _appended(self._ver_from, starts)
        new._ver_to = _appended(ends, stops)
        if not new._extend_index(self, rows, np.asarray(times, dtype=np.int64), closed_entities):
            new._build_index()
        new._dist_base = self._dist_base
        new.scale, new.max_overrides = self.scale, self.max_overrides
        new.has_windows, new.has_discounts = self.has_windows, self.has_discounts
        new._rates, new._dynamic, new._num, new._den = dict(self._rates), self._dynamic, self._num, self._den
        new.variant_rate_max, new.conditions = dict(self.variant_rate_max), self.conditions
        new._ver_dist = self._ver_dist
        new.variant_base = self.variant_base  # ``_publish_variants`` appends the new versions'
        new.parent, new.closed_rows = weakref.ref(self), rows
        with _SHARING:
            # The distinct sheets (a year of them) are appended to this table's list and map, not copied: this
            # table reads only the rows it owns (``_dist_base``'s length). If another table extended this one
            # already, its rows follow ours there: the new table starts from a copy of ours instead.
            owned = self._dist_base.len()
            if len(self._distinct) == owned:
                new._sheet_row, new._distinct = self._sheet_row, self._distinct
            else:
                # Rows are numbered in the order they are added: ours are the map's first ``owned`` entries.
                new._distinct = self._distinct[:owned]
                new._sheet_row = dict(islice(self._sheet_row.items(), owned))
            new._add_variants(map(_SHEET, opened))
        return new

    def _open_rows(self, entities: list[int]) -> tuple[np.ndarray, np.ndarray]:
        """The rows (version ids) of the open versions of ``entities`` (-1: none) and their entities, in id order.
        Without overlaps an entity's open version is its last span (it runs to the end of time), so that is a
        gather a key, in NumPy (a few hundred values: each Polars call would hand the GIL to the requests in flight
        and wait for the pool); else a scan of every version."""
        if not self._overlaps and self._span_key.len():
            codes = np.asarray([e for e in entities if 0 <= e < len(self.entities)], dtype=np.int64)
            count = self._span_count.to_numpy()[codes]
            codes, last = codes[count > 0], (self._span_lo.to_numpy()[codes] + count - 1)[count > 0]
            rows = self._span_sheet.to_numpy()[last].astype(np.int64)
            live = self._ver_to.to_numpy()[rows] == _NEVER_TS
            order = np.argsort(rows[live], kind="stable")
            return rows[live][order], codes[live][order]
        found = (
            pl.DataFrame({"entity": self._ver_entity, "end": self._ver_to})
            .with_row_index("row")
            .filter((pl.col("end") == _NEVER_TS) & pl.col("entity").is_in(entities))
        )
        return found["row"].to_numpy().astype(np.int64), found["entity"].to_numpy().astype(np.int64)

    # -- constructors --------------------------------------------------------------------------------

    @classmethod
    def from_sheets(cls, versions: list[SheetVersion]) -> PriceTable:
        return cls(list(versions))

    @classmethod
    def from_history(cls, frame: pl.DataFrame) -> PriceTable:
        """Build from ``catalog.store.queries.price_versions``: one row per stored price version.

        Each distinct listing is parsed once: versions listing the same prices share one ``PriceSheet``
        (and so its variants)."""
        parsed: dict[str, PriceSheet] = {}
        sheets = []
        for text in frame["pricing_text"].to_list():
            sheet = parsed.get(text)
            if sheet is None:
                sheet = parsed[text] = parse_price_sheet(json.loads(text))
            sheets.append(sheet)
        # A frame from before the column existed (a peer's schema in a benchmark) has no upstream ids.
        upstream = (
            frame["provider_model_id"].to_list() if "provider_model_id" in frame.columns else [None] * len(sheets)
        )
        columns = VersionColumns(
            kind=frame["kind"].to_list(),
            model_id=frame["model_id"].to_list(),
            tag=frame["tag"].to_list(),
            provider_slug=frame["provider_slug"].to_list(),
            provider_name=frame["provider_name"].to_list(),
            valid_from=frame["valid_from"].to_list(),
            valid_to=frame["valid_to"].to_list(),
            sheet=sheets,
            canonical_slug=frame["canonical_slug"].to_list(),
            key=frame["key"].to_list(),
            provider_model_id=upstream,
        )
        # No ``SheetVersion`` is made here: the table reads the columns, and its ``versions`` make each chunk's
        # objects when one is first read (``VersionList.from_columns``).
        return cls(columns)


def _version_columns(
    starts: Iterable[datetime], ends: Iterable[datetime | None], codes: list[int]
) -> tuple[pl.Series, pl.Series, pl.Series]:
    """Each version's entity, start and end (epoch µs; an open version ends at ``_NEVER_TS``)."""
    epoch, step = _EPOCH, timedelta(microseconds=1)  # ``_micros`` inlined: two of these a version
    return (
        pl.Series("entity", codes, dtype=pl.Int32),
        pl.Series("start", [(t - epoch) // step for t in starts], dtype=pl.Int64),
        pl.Series("end", [_NEVER_TS if t is None else (t - epoch) // step for t in ends], dtype=pl.Int64),
    )


def _winners(spans: pl.DataFrame) -> pl.DataFrame:
    """Spans of entities whose versions overlap, cut at their own bounds: the version listed last wins."""
    out: dict[str, list[int]] = {name: [] for name in spans.columns}
    by_entity: dict[int, list[tuple[int, int, int]]] = {}
    for sheet, entity, first, last in spans.select("sheet", "entity", "first", "last").iter_rows():
        by_entity.setdefault(entity, []).append((first, last, sheet))
    for entity, versions in by_entity.items():
        cuts = sorted({p for first, last, _ in versions for p in (first, last)})
        pending = sorted(versions)
        live: list[tuple[int, int]] = []  # (-sheet, last): the latest-listed version on top
        index = 0
        for left, right in pairwise(cuts):
            while index < len(pending) and pending[index][0] <= left:
                heapq.heappush(live, (-pending[index][2], pending[index][1]))
                index += 1
            while live and live[0][1] <= left:
                heapq.heappop(live)
            if not live:
                continue
            sheet = -live[0][0]
            if out["sheet"] and out["entity"][-1] == entity and out["sheet"][-1] == sheet and out["last"][-1] == left:
                out["last"][-1] = right
                continue
            for name, value in (("sheet", sheet), ("key", entity * _STRIDE + left), ("last", right)):
                out[name].append(value)
            out["entity"].append(entity)
            out["first"].append(left)
    return pl.DataFrame(out, schema=spans.schema)


class Resolution(NamedTuple):
    """What prices rows naming one (model, provider, endpoint).

    ``entities``: endpoint candidates in order of preference (empty: the model-level price only);
    ``model_entity``: the model-level fallback (-1: none); ``reason``: why nothing can price them. (A named
    tuple: a cost call resolves every distinct name in its usage, ten thousand of them at ten times today's
    endpoints, and a tuple is made in a fraction of a frozen dataclass's time.)
    """

    entities: tuple[int, ...]
    model_entity: int
    reason: str | None


__all__ = [
    "PRICE_KEYS",
    "RATES",
    "PriceTable",
    "Resolution",
    "SheetVersion",
    "VersionList",
    "effective_rates",
    "variant_prices",
]
