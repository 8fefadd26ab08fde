"""Price sheets in force over time, laid out for vectorised costing.

A ``PriceTable`` holds every price version of every endpoint and model (``SheetVersion``) and answers,
for a batch of usage rows, which sheet was in force for each row's model, endpoint and time. It is built
from frames the store returns (``from_history``) or from sheets in memory (``from_sheets``); it does no I/O.

Layout, chosen so a row's price is a few integer gathers and never a per-row Python call:

* **entities** — one per endpoint (``model@tag``) and one per model (its ``/models`` price).
* **periods** — the instants where any version starts or ends cut time into periods; in one period every
  entity has at most one sheet, so ``slot[entity * n_periods + period]`` is the sheet in force.
* **variants** — a sheet with ``k`` overrides has ``2**k`` variants, one per set of applying overrides
  (later entries win per key, absent keys inherit the base); a row picks its variant with a bit mask.
* **rates** — each variant's effective rate per cost term, as integer units at the table's ``scale``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Literal

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

    @property
    def entity_key(self) -> tuple[str, str | None]:
        """What identifies the priced thing: the model, and for an endpoint its key (else its tag)."""
        return (self.model_id, (self.key or self.tag) if self.kind == "endpoint" else None)


_MINUTE = 60_000_000
_NEVER_TS = 2**62
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _micros(value: datetime) -> int:
    # Integer arithmetic: ``timestamp()`` is a float, and truncation toward zero is off by one before 1970.
    return (value - _EPOCH) // timedelta(microseconds=1)


class PriceTable:
    """Every sheet version, indexed for costing; see the module docstring for the layout."""

    def __init__(self, versions: list[SheetVersion]) -> None:
        self.versions = versions
        entity_of: dict[tuple[str, str | None], int] = {}
        self.entities: list[tuple[str, str | None, str | None, str | None]] = []  # model, tag, slug, name
        for version in versions:
            key = version.entity_key
            if key not in entity_of:
                entity_of[key] = len(self.entities)
                tag = version.tag if version.kind == "endpoint" else None
                self.entities.append((version.model_id, tag, version.provider_slug, version.provider_name))
        self.entity_of = entity_of
        self.tag_entities: dict[tuple[str, str], list[int]] = {}
        keys = {entity: key for key, entity in entity_of.items()}
        for entity, (model_id, endpoint_tag, _, _) in enumerate(self.entities):
            if endpoint_tag is not None:
                self.tag_entities.setdefault((model_id, endpoint_tag), []).append(entity)
        for twins in self.tag_entities.values():
            # Endpoints sharing a tag: the first listed (``model@tag``) before ``#2``, ``#3``… whatever the load order.
            twins.sort(key=lambda e: (len(str(keys[e][1])), str(keys[e][1])))
        self._index_names(versions)

        starts = {_micros(v.valid_from) for v in versions}
        bounds = sorted(starts | {_micros(v.valid_to) for v in versions if v.valid_to})
        self.bounds = pl.Series("bounds", bounds, dtype=pl.Int64)
        self.n_periods = len(bounds) + 1
        position = {b: i for i, b in enumerate(bounds)}
        slots = [-1] * (len(self.entities) * self.n_periods)
        for sheet_id, version in enumerate(versions):
            entity = entity_of[version.entity_key]
            start = position[_micros(version.valid_from)] + 1
            end = position[_micros(version.valid_to)] + 1 if version.valid_to else self.n_periods
            base = entity * self.n_periods
            for period in range(start, end):
                slots[base + period] = sheet_id
        self.slots = pl.Series("slots", slots, dtype=pl.Int32)
        self._minute_table(bounds)
        self._slots = slots
        self._by_period: dict[tuple[tuple[int, ...], int], tuple[list[int], list[int]]] = {}
        self._build_variants(versions)

    # -- names ---------------------------------------------------------------------------------------

    def _index_names(self, versions: list[SheetVersion]) -> None:
        self.model_ids = {v.model_id for v in versions}
        self.slug_to_model: dict[str, str] = {}
        self.providers_of: dict[str, dict[str, list[str]]] = {}  # model -> lower(slug or name) -> tags
        for v in versions:
            if v.canonical_slug and v.canonical_slug not in self.model_ids:
                self.slug_to_model.setdefault(v.canonical_slug, v.model_id)
            if v.kind == "endpoint" and v.tag:
                names = self.providers_of.setdefault(v.model_id, {})
                for name in {v.provider_slug, v.provider_name, v.tag}:
                    if name and v.tag not in names.setdefault(name.lower(), []):
                        names[name.lower()].append(v.tag)

    def resolve_model(self, model: str) -> str | None:
        """The catalog id for a model name as usage reports it: an id, a dated canonical slug, a routing suffix."""
        if model in self.model_ids:
            return model
        if model in self.slug_to_model:
            return self.slug_to_model[model]
        base, _, suffix = model.partition(":")
        if suffix in ("nitro", "floor", "online") and base in self.model_ids:
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
            found = found or self.tag_entities.get((model_id, endpoint), [])
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
        # Which of a provider's endpoints served a call is not in its usage: prefer the plain tag, then the
        # global one, then the others by name; the engine takes the first that was listed at the row's time.
        ordered = sorted(tags, key=lambda t: ("/" in t and t.lower() != provider.lower(), not t.endswith("/global"), t))
        return Resolution(tuple(e for t in ordered for e in self.tag_entities[(model_id, t)]), model_entity, None)

    def _minute_table(self, bounds: list[int]) -> None:
        """Per minute of the history's span: the period at the minute's start and the bound inside it.

        A period is the count of bounds ≤ t. ``search_sorted`` does that by binary search per row; with at
        most one bound per minute, two gathers by minute do it exactly and several times faster.
        """
        self._first_minute = bounds[0] // _MINUTE if bounds else 0
        minutes = (bounds[-1] // _MINUTE - self._first_minute + 1) if bounds else 0
        per_minute = [b // _MINUTE - self._first_minute for b in bounds]
        if not bounds or minutes > 4_000_000 or len(set(per_minute)) < len(bounds):
            self._minute_period = None  # too long a span, or two bounds in one minute: binary search
            return
        start_period: list[int] = []
        inside: list[int] = []
        index = 0
        for minute in range(minutes):
            while index < len(bounds) and per_minute[index] < minute:
                index += 1
            start_period.append(index)
            inside.append(bounds[index] if index < len(bounds) and per_minute[index] == minute else _NEVER_TS)
        self._minute_period = pl.Series(start_period, dtype=pl.Int64)
        self._minute_bound = pl.Series(inside, dtype=pl.Int64)
        self._minutes = minutes

    def period_of(self, micros: pl.Series) -> pl.Series:
        """The period index (count of bounds ≤ t) of each UTC instant given in epoch microseconds."""
        if self._minute_period is None:
            return self.bounds.search_sorted(micros, side="right").cast(pl.Int64)
        minute = (micros // _MINUTE - self._first_minute).clip(-1, self._minutes)
        inside = minute.clip(0, self._minutes - 1)
        period = self._minute_period.gather(inside) + (micros >= self._minute_bound.gather(inside)).cast(pl.Int64)
        before, after = minute < 0, minute >= self._minutes
        return pl.select(
            pl.when(pl.lit(before)).then(0).when(pl.lit(after)).then(len(self.bounds)).otherwise(pl.lit(period))
        ).to_series()

    def sheets_by_period(self, resolution: Resolution) -> tuple[list[int], list[int]]:
        """For each period: the sheet pricing rows so resolved (-1: none), and its source (0 endpoint,
        1 model, 2 none). Cached per resolution, so a batch of many slices decides each cell once."""
        key = (resolution.entities, resolution.model_entity)
        cached = self._by_period.get(key)
        if cached is None:
            n = self.n_periods
            sheets, sources = [], []
            for period in range(n):
                sheet, source = -1, 2
                for entity in resolution.entities:
                    if (found := self._slots[entity * n + period]) >= 0:
                        sheet, source = found, 0
                        break
                model_slot = self._slots[resolution.model_entity * n + period] if resolution.model_entity >= 0 else -1
                if sheet < 0 and model_slot >= 0:
                    sheet, source = model_slot, 1
                sheets.append(sheet)
                sources.append(source)
            cached = self._by_period[key] = (sheets, sources)
        return cached

    # -- variants and rates --------------------------------------------------------------------------

    def _build_variants(self, versions: list[SheetVersion]) -> None:
        self.max_overrides = max((len(v.sheet.overrides) for v in versions), default=0)
        if self.max_overrides > 8:  # a row's applying set is an 8-bit mask; real sheets carry at most 2
            raise ValueError(f"a price sheet has {self.max_overrides} overrides; at most 8 are supported")
        self.has_windows = any(
            o.utc_start is not None or o.utc_end is not None for v in versions for o in v.sheet.overrides
        )
        variant_rates: list[dict[str, Decimal | None]] = []
        variant_base: list[int] = []
        discounts: list[Decimal] = []
        for version in versions:
            variant_base.append(len(variant_rates))
            for mask in range(2 ** len(version.sheet.overrides)):
                variant_rates.append(effective_rates(variant_prices(version.sheet, mask)))
                discounts.append(version.sheet.discount)
        scale = 0
        for rates in variant_rates:
            for value in rates.values():
                if value is not None:
                    scale = max(scale, scale_of(value))
        if scale > MAX_SCALE:
            raise ValueError(f"a price needs {scale} fractional digits; at most {MAX_SCALE} are supported")
        self.scale = scale
        # One extra variant with null rates: rows that cannot be priced point at it, so their money is
        # null without a per-term condition.
        self.null_variant = len(variant_rates)
        dynamic = [any(v is None for v in rates.values()) for rates in variant_rates] + [False]
        self.variant_base = pl.Series("variant_base", variant_base, dtype=pl.Int64)
        self.variant_rate_max: dict[str, int] = {}
        columns: dict[str, Any] = {"dynamic": dynamic}
        for name in RATES:
            units = [0 if (rate := r[name]) is None else to_units(rate, scale) for r in variant_rates]
            self.variant_rate_max[name] = max(units, default=0)
            columns[name] = pl.Series(name, [*units, None], dtype=pl.Int128)
        # The undiscounted base is listed / (1 - discount): kept as the fraction den / num.
        nums, dens = [], []
        for discount in discounts:
            digits = scale_of(discount)
            num, den = to_units(1 - discount, digits), 10**digits
            common = math.gcd(num, den) or 1
            dens.append(den // common)
            nums.append(num // common)
        columns["discount_num"] = pl.Series([*nums, None], dtype=pl.Int128)
        columns["discount_den"] = pl.Series([*dens, None], dtype=pl.Int128)
        self.variants = pl.DataFrame(columns)
        self.has_discounts = any(d != 0 for d in discounts)
        # Override conditions per sheet, one column per override slot.
        cond: dict[str, list[int | None]] = {}
        for j in range(self.max_overrides):
            mins: list[int | None] = []
            starts: list[int | None] = []
            ends: list[int | None] = []
            for version in versions:
                overrides = version.sheet.overrides
                if j >= len(overrides):
                    mins.append(None)
                    starts.append(None)
                    ends.append(None)
                    continue
                o = overrides[j]
                mins.append(o.min_prompt_tokens or 0)
                starts.append(hhmm_minutes(o.utc_start) if o.utc_start is not None else None)
                ends.append(hhmm_minutes(o.utc_end) if o.utc_end is not None else None)
            cond[f"min_{j}"], cond[f"start_{j}"], cond[f"end_{j}"] = mins, starts, ends
        self.conditions = pl.DataFrame(cond, schema={k: pl.Int64 for k in cond}) if cond else None

    # -- constructors --------------------------------------------------------------------------------

    @classmethod
    def from_sheets(cls, versions: list[SheetVersion]) -> PriceTable:
        return cls(list(versions))

    @classmethod
    def from_history(cls, frame: pl.DataFrame) -> PriceTable:
        """Build from ``catalog.store.queries.price_versions``: one row per stored price version."""
        versions = [
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
            )
            for row in frame.iter_rows(named=True)
        ]
        return cls(versions)


@dataclass(frozen=True)
class Resolution:
    """What prices rows naming one (model, provider, endpoint).

    ``entities``: endpoint candidates in order of preference (empty: the model-level price only);
    ``model_entity``: the model-level fallback (-1: none); ``reason``: why nothing can price them.
    """

    entities: tuple[int, ...]
    model_entity: int
    reason: str | None


__all__ = ["PRICE_KEYS", "RATES", "PriceTable", "Resolution", "SheetVersion", "effective_rates", "variant_prices"]
