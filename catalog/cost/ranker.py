"""Rank endpoints for a workload in microseconds: one index per snapshot in force, plain integer arithmetic.

``RankIndex.build`` takes the candidate endpoints in force at an instant (``catalog.store.queries
.endpoint_candidates``) and the ``PriceTable`` and keeps, per endpoint, what a ranking needs: the price sheet in
force and, per override variant, its rates as integers of the table's unit (``10**-scale`` USD), the override
conditions, the discount as a fraction, and the endpoint's limits, parameters, modalities, status, policy and
telemetry. ``RankIndex.rank`` then prices one request of a profile on each candidate with Python integers (no
frame is built) and orders the result (``catalog.cost.profile.assemble``).

The index equals the batch engine exactly: ``rank_with_engine`` is the reference (the engine's batch path,
``catalog.cost.engine.cost_usage``, over the same rows), and tests compare the two on random profiles over
every model of the replayed history. Both price a request as the engine does: the sheet in force for the
endpoint key (else the model's list price), the override variant from the whole prompt and the UTC minute of
``at``, each exclusive part billed once, the undiscounted base ``total·den/num`` rounded half up.

Before the endpoint history (a model with no endpoint listed at ``at``) the model's list price from ``/models``
is ranked as one row tagged ``"list price"`` and ``Ranking.note`` says so; with no price at all the note says
when that model's price history starts.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from operator import mul
from typing import Any

import polars as pl

from catalog.cost.engine import COST_COLUMNS, cost_usage
from catalog.cost.money import to_units
from catalog.cost.profile import (
    LIST_PRICE_TAG,
    CostUnits,
    RankedEndpoint,
    Ranking,
    assemble,
    exclusion_row,
    per_million_units,
    ranked_row,
)
from catalog.cost.sheets import PriceTable, Resolution, SheetVersion, variant_prices
from catalog.cost.workload import DEFAULT_FALLBACKS, EndpointFilters, WorkloadProfile
from catalog.money import reduced

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NO_PRICE = "no price in force at this time (before the history starts, or not listed then)"
_DYNAMIC = "dynamic price (-1): the router decides it per request; it is not listed"
# Rates per term, in the order of ``catalog.cost.engine.TERMS``.
_RATE_NAMES = (
    "input",
    "cache_read",
    "cache_write_5m",
    "cache_write_1h",
    "output",
    "reasoning",
    "request",
    "image",
    "web_search",
)
_TERMS = tuple(c.removeprefix("cost_") for c in COST_COLUMNS)
_new_tuple = tuple.__new__


def _day(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d")


def _stamp(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%MZ")


@dataclass(frozen=True)
class _History:
    """When each model's price history starts and ends, and when the endpoint history starts.

    ``model_open`` / ``model_closed``: per model, how many of its list-price versions are open and the latest
    end of its closed ones (``model_to`` follows from them): what a table extended by a sweep updates."""

    endpoints_from: datetime | None
    model_endpoints_from: dict[str, datetime]
    model_from: dict[str, datetime]
    model_to: dict[str, datetime | None]
    model_open: dict[str, int]
    model_closed: dict[str, datetime]


@dataclass(frozen=True)
class _Variants:
    """The table's variants as plain lists: rates per term (None: dynamic), discount num / den.

    The lists may be longer than the table's own rows (``variants``, ``versions``): a table extended from this
    one appends its rows to the same lists (``_variants``) instead of copying a year of them, and a reader
    indexes only ids of its own table."""

    rates: list[tuple[int, ...] | None]
    num: list[int]
    den: list[int]
    base: list[int]  # per sheet: its first variant
    variants: int  # how many of ``rates`` / ``num`` / ``den`` are this table's
    versions: int  # how many of ``base`` are this table's


_histories: weakref.WeakKeyDictionary[PriceTable, _History] = weakref.WeakKeyDictionary()
_variant_lists: weakref.WeakKeyDictionary[PriceTable, _Variants] = weakref.WeakKeyDictionary()
_variant_lock = threading.Lock()  # appending a table's rows to its parent's lists (``_variants``)


def _history(table: PriceTable) -> _History:
    """The table's ``_History``; for a table extended from another whose history was made, that one carried
    forward by the versions the sweep opened and closed (the ranking of every model asks for it)."""
    found = _histories.get(table)
    if found is None:
        parent = table.parent() if table.parent is not None else None
        prior = _histories.get(parent) if parent is not None else None
        if parent is not None and prior is not None:
            found = _history_of(
                table.versions[len(parent.versions) :], prior, [table.versions[i] for i in table.closed_rows]
            )
        else:
            found = _history_of(table.versions, _History(None, {}, {}, {}, {}, {}), [])
        found = _histories.setdefault(table, found)
    return found


def _history_of(added: Sequence[SheetVersion], prior: _History, closed: list[SheetVersion]) -> _History:
    """``prior`` with the versions ``added`` and the versions ``closed`` (open in ``prior``, closed now)."""
    endpoints_from = prior.endpoints_from
    model_endpoints_from, model_from = dict(prior.model_endpoints_from), dict(prior.model_from)
    model_open, model_closed = dict(prior.model_open), dict(prior.model_closed)
    touched: set[str] = set()

    def ended(model_id: str, until: datetime) -> None:
        last = model_closed.get(model_id)
        model_closed[model_id] = until if last is None else max(last, until)

    for v in closed:
        if v.kind == "model" and v.valid_to is not None:
            model_open[v.model_id] -= 1
            ended(v.model_id, v.valid_to)
            touched.add(v.model_id)
    for v in added:
        if v.kind == "endpoint":
            if endpoints_from is None or v.valid_from < endpoints_from:
                endpoints_from = v.valid_from
            if v.model_id not in model_endpoints_from or v.valid_from < model_endpoints_from[v.model_id]:
                model_endpoints_from[v.model_id] = v.valid_from
        else:
            if v.model_id not in model_from or v.valid_from < model_from[v.model_id]:
                model_from[v.model_id] = v.valid_from
            if v.valid_to is None:
                model_open[v.model_id] = model_open.get(v.model_id, 0) + 1
            else:
                model_open.setdefault(v.model_id, 0)
                ended(v.model_id, v.valid_to)
            touched.add(v.model_id)
    model_to = dict(prior.model_to)
    for model_id in touched:  # ends when every list-price version has: the latest end; else still open
        model_to[model_id] = None if model_open[model_id] else model_closed[model_id]
    return _History(endpoints_from, model_endpoints_from, model_from, model_to, model_open, model_closed)


def _variant_rows(table: PriceTable, start: int) -> _Variants:
    """The table's variants from ``start`` on (and its versions' first variants from the ``start``-th sheet's)."""
    window = table.variants.slice(start, table.null_variant - start)
    columns = [window[name].to_list() for name in _RATE_NAMES]
    rates: list[tuple[int, ...] | None] = [
        None if dynamic else rates
        for dynamic, rates in zip(window["dynamic"].to_list(), zip(*columns, strict=True), strict=True)
    ]
    return _Variants(rates, window["discount_num"].to_list(), window["discount_den"].to_list(), [], len(rates), 0)


def _variants(table: PriceTable) -> _Variants:
    """The table's variants as lists. A table extended from another (``PriceTable.extend``) whose lists were made
    takes those and adds its new rows: ids stay across ``extend`` and old rows change only on a rescale, so a
    refresh after a sweep does work in proportion to the sweep, not to a year of variants."""
    found = _variant_lists.get(table)
    if found is None:
        parent = table.parent() if table.parent is not None else None
        prior = _variant_lists.get(parent) if parent is not None else None
        if parent is not None and prior is not None and parent.scale == table.scale:
            rows = _variant_rows(table, parent.null_variant)
            with _variant_lock:
                variants, versions = prior.variants, prior.versions
                base = table.variant_base.slice(versions).to_list()
                lists = (prior.rates, prior.num, prior.den, prior.base)
                if len(prior.rates) != variants or len(prior.base) != versions:
                    # Another table extended ``parent`` already (a refresh that did not publish): its rows follow
                    # ``parent``'s in the shared lists, so this one starts from a copy of ``parent``'s own.
                    lists = (prior.rates[:variants], prior.num[:variants], prior.den[:variants], prior.base[:versions])
                # Appended in place: ``parent``'s readers index only its own ids, and a year of variants is not
                # copied (nor left young for the garbage collector to walk) on every refresh.
                lists[0].extend(rows.rates)
                lists[1].extend(rows.num)
                lists[2].extend(rows.den)
                lists[3].extend(base)
                found = _Variants(*lists, variants=len(lists[0]), versions=len(lists[3]))
        else:
            rows = _variant_rows(table, 0)
            base = table.variant_base.to_list()
            found = replace(rows, base=base, versions=len(base))
        found = _variant_lists.setdefault(table, found)
    return found


def _extends(table: PriceTable, earlier: PriceTable) -> bool:
    """Whether ``table`` is ``earlier`` extended (``PriceTable.extend``, any number of times): its ids are
    ``earlier``'s, the same sheets."""
    while table is not earlier:
        parent = table.parent() if table.parent is not None else None
        if parent is None:
            return False
        table = parent
    return True


def _micros(value: datetime) -> int:
    return (value - _EPOCH) // timedelta(microseconds=1)


def fallback_note(table: PriceTable, model: str, at: datetime, priced: bool) -> str:
    """What ``Ranking.note`` says when ``model`` has no endpoint listed at ``at``."""
    history = _history(table)
    starts = history.model_endpoints_from.get(model) or history.endpoints_from
    if priced:
        listing = f"no endpoint listing at {_stamp(at)}"
        if starts is not None and starts > at:
            listing += f" (the endpoint history starts {_day(starts)})"
        elif model in history.model_endpoints_from:
            listing += " (none of its endpoints was listed then)"
        return listing + "; ranked on the model's list price from /models (endpoint limits and filters not checked)"
    first = history.model_from.get(model)
    if first is None:
        return f"no price for {model} at {_stamp(at)}: the history holds no list price for it"
    if first > at:
        return f"no price for {model} at {_stamp(at)}: its price history starts {_day(first)}"
    end = history.model_to.get(model)
    ended = f" (its listing ended {_day(end)})" if end is not None and end <= at else ""
    return f"no price for {model} in force at {_stamp(at)}{ended}"


def _fallback_models(table: PriceTable, model: str | None, models_listed: set[str], at: datetime) -> list[str]:
    """Models to rank on their list price: the one asked for when none of its endpoints is listed at ``at``;
    every model when no endpoint at all is (a time before the endpoint history)."""
    if model is not None:
        return [] if model in models_listed else [model]
    starts = _history(table).endpoints_from
    if models_listed or (starts is not None and starts <= at):
        return []
    return sorted({v.model_id for v in table.versions if v.kind == "model"})


def _list_price_row(model: str) -> dict[str, Any]:
    return {
        "model_id": model,
        "tag": LIST_PRICE_TAG,
        "endpoint_key": model,
        "provider_slug": None,
        "provider_name": None,
    }


_FIXED = ("model_id", "tag", "endpoint_key", "provider", "provider_name", "quantization", "context_length",
          "discount", "price_valid_from", "status", "uptime_last_1d", "max_prompt_tokens", "max_completion_tokens",
          "latency_p50", "throughput_p50", "price_source")  # fmt: skip
_PRICED = ("rank", "cost_per_request", "cost_per_million_tokens", "workload_cost", "base_per_request",
           "saving_per_request", "terms", "term_shares", "overrides_applied")  # fmt: skip
assert sorted(_FIXED + _PRICED) == sorted(f.name for f in fields(RankedEndpoint)), "every field is set once"


def fixed_fields(row: dict[str, Any], version: tuple[Decimal, datetime], source: str) -> dict[str, Any]:
    """A ranked row's fields that do not depend on the workload: the candidate's, and its sheet's discount and
    ``valid_from`` (``version``)."""
    return {
        "model_id": row["model_id"],
        "tag": row["tag"],
        "endpoint_key": row["endpoint_key"],
        "provider": row.get("provider_slug"),
        "provider_name": row.get("provider_name"),
        "quantization": row.get("quantization"),
        "context_length": row.get("context_length"),
        "discount": version[0],
        "price_valid_from": version[1],
        "status": row.get("status"),
        "uptime_last_1d": row.get("uptime_last_1d"),
        "max_prompt_tokens": row.get("max_prompt_tokens"),
        "max_completion_tokens": row.get("max_completion_tokens"),
        "latency_p50": row.get("latency_p50"),
        "throughput_p50": row.get("throughput_p50"),
        "price_source": source,
    }


def _ranked(
    fixed: dict[str, Any], profile: WorkloadProfile, priced: tuple[int, int | None, list[int], int], scale: int
) -> RankedEndpoint:
    """One ranked row (rank 0 until ``assemble`` orders them): ``fixed`` (``fixed_fields``) and what one request
    costs, from ``priced``: the total, the undiscounted base (None: none) and each term's cost
    (``catalog.cost.engine.TERMS`` order) in units, and the override mask. The amounts an ordering does not
    need are spelt on first read (``catalog.cost.profile.ranked_row``)."""
    total, base, parts, mask = priced
    tokens = profile.input_tokens + profile.output_tokens
    return ranked_row(fixed, total, CostUnits(total, base, parts, _TERMS, scale, tokens, profile.requests), mask)


# -- the reference: the engine's batch path -------------------------------------------------------------------


def rank_with_engine(
    candidates: pl.DataFrame,
    table: PriceTable,
    profile: WorkloadProfile,
    filters: EndpointFilters,
    *,
    at: datetime,
    model: str | None = None,
    fallbacks: int = DEFAULT_FALLBACKS,
) -> Ranking:
    """Rank with ``catalog.cost.engine.cost_usage`` pricing every candidate in one batch: the reference that
    ``RankIndex.rank`` equals (and the way the ranking was computed before the index)."""
    rows = [r for r in candidates.to_dicts() if model is None or r["model_id"] == model]
    kept: list[dict[str, Any]] = []
    excluded: list[dict[str, Any]] = []
    for row in rows:
        found = filters.requirement(row, profile)
        if found:
            excluded.append(exclusion_row(row, *found))
        else:
            kept.append(row)
    fallback = _fallback_models(table, model, {r["model_id"] for r in rows}, at)
    usage_rows = [{"model": r["model_id"], "endpoint": r["endpoint_key"], **profile.usage_row()} for r in kept]
    usage_rows += [{"model": m, "endpoint": None, **profile.usage_row()} for m in fallback]
    kept += [_list_price_row(m) for m in fallback]
    usage = pl.DataFrame(usage_rows, schema_overrides={"model": pl.String, "endpoint": pl.String})
    priced = cost_usage(usage, table, at=at) if usage_rows else None
    ranked: list[RankedEndpoint] = []
    unpriced: set[str] = set()
    for index, row in enumerate(kept):
        assert priced is not None
        cost = priced.row(index, named=True)
        if cost["status"] != "ok":
            if row["tag"] == LIST_PRICE_TAG:
                unpriced.add(row["model_id"])
            else:
                excluded.append(exclusion_row(row, "price", cost["reason"]))
            continue
        sheet = table.versions[cost["sheet_id"]].sheet
        if filters.exclude_free and sheet.free:
            excluded.append(exclusion_row(row, "free", "free endpoint"))
            continue
        capped = filters.price_cap(variant_prices(sheet, cost["overrides_applied"])) if filters.has_caps else None
        if capped:
            excluded.append(exclusion_row(row, "max_price", capped))
            continue
        scale = table.scale
        base = cost["cost_base"]
        priced_row = (
            to_units(cost["cost_total"], scale),
            None if base is None else to_units(base, scale),
            [to_units(cost[c], scale) for c in COST_COLUMNS],
            cost["overrides_applied"],
        )
        version = table.versions[cost["sheet_id"]]
        fixed = fixed_fields(row, (reduced(version.sheet.discount), version.valid_from), str(cost["price_source"]))
        ranked.append(_ranked(fixed, profile, priced_row, scale))
    note = fallback_note(table, model, at, priced=model not in unpriced) if model in fallback else None
    if model is None and fallback:
        note = fallback_note(table, fallback[0], at, priced=True).split(";")[0] + "; ranked on list prices from /models"
    return assemble(
        ranked,
        excluded,
        at=at,
        model=model,
        profile=profile,
        filters=filters,
        fallbacks=fallbacks,
        scale=table.scale,
        note=note,
    )


# -- the index ------------------------------------------------------------------------------------------------


# The candidate columns (``endpoint_candidates``) no ranking reads: left out of the index's rows, so that what every
# sweep moves there (the telemetry's time, the short uptimes) does not make every candidate new at each refresh.
UNREAD = ("telemetry_at", "uptime_last_5m", "uptime_last_30m")
# The telemetry columns a ranking reads: those ``carried`` lays over the candidates it keeps.
TELEMETRY_READ = ("uptime_last_1d", "latency_p50", "throughput_p50")


@dataclass(frozen=True)
class _Candidate:
    """One endpoint (or a model's list price) with its sheet in force and the sheet's override conditions."""

    row: dict[str, Any]
    sheet_id: int  # -1: no price in force
    source: str  # endpoint / model
    reason: str | None  # why nothing can price it (a resolution failure)
    variant_base: int
    conditions: tuple[tuple[int, int | None, int | None], ...]  # per override: min prompt, UTC start, end minute
    free: bool
    fixed: dict[str, Any] | None  # the ranked row's fields that do not depend on the workload (``fixed_fields``)
    names: frozenset[str]  # provider slug, name and tag, lower case (the provider filters match them)


def _endpoint_key(candidate: _Candidate) -> str:
    return str(candidate.row["endpoint_key"])


def _names(row: dict[str, Any]) -> frozenset[str]:
    """What the provider filters match a candidate by: its provider slug, name and tag, lower case."""
    return frozenset(str(row.get(k) or "").lower() for k in ("provider_slug", "provider_name", "tag")) - {""}


def _mask(conditions: tuple[tuple[int, int | None, int | None], ...], prompt: int, minute: int) -> int:
    """Bit ``j`` set when override ``j`` applies: the whole prompt reaches its minimum and, when it has a UTC
    window, ``minute`` (of the day) is inside it (a window may wrap past midnight)."""
    mask = 0
    for j, (least, start, end) in enumerate(conditions):
        if prompt < least:
            continue
        if start is not None and end is not None:
            inside = start <= minute < end if start <= end else (minute >= start or minute < end)
            if not inside:
                continue
        mask |= 1 << j
    return mask


class RankIndex:
    """Per snapshot in force: every model's candidate endpoints with integer rates (per override variant, at
    the price table's scale), limits, parameters, modalities, status, policy and telemetry; built once.

    ``rank`` prices one request of a profile on the candidates with Python integers and returns the same
    ``Ranking`` as ``rank_with_engine`` (tested equal). ``at`` is the instant the candidates are in force; a
    ranking may ask for another instant in the same snapshot (``rank(at=...)``): only the UTC minute of day
    (time-windowed overrides) and the answer's ``at`` change, since sheets change only at snapshots.
    """

    def __init__(
        self,
        table: PriceTable,
        at: datetime,
        candidates: list[_Candidate] | None,
        *,
        by_model: dict[str, list[_Candidate]] | None = None,
    ) -> None:
        """``candidates`` in model order, or ``by_model`` (each model's candidates, the flat list made when first
        read): a carried index takes every unchanged model's list from the one before, not a pass over all."""
        self.table = table
        self.at = at
        self.scale = table.scale
        self._minute: tuple[datetime, int] | None = None  # the last instant ranked at, and its minute of the day
        self._variants = _variants(table)
        self._flat = candidates
        self._keys: dict[str, str] | None = None  # endpoint key -> its model (``carried`` looks keys up)
        if by_model is None:
            by_model, keys = {}, {}
            for candidate in candidates or ():
                model = candidate.row["model_id"]
                by_model.setdefault(model, []).append(candidate)
                keys[candidate.row["endpoint_key"]] = model
            self._keys = keys
        self._by_model: dict[str, list[_Candidate]] = by_model
        self._fallbacks: dict[str, _Candidate] = {}
        self._caps: dict[tuple[int, int], dict[str, Decimal | None]] = {}
        # Per endpoint key: its candidate row and its exclusion for a status that is not ok (``rank``).
        self._status_rows: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {}
        # What the rows' policy and telemetry columns were laid from: per provider slug its policy, and a frame of
        # endpoint keys with their telemetry (``carried`` compares the next sweep's with them). Set by the caller
        # that read them (``catalog.api.state``); None: unknown, so ``carried`` compares every row.
        self.volatile: tuple[dict[str, tuple[Any, ...]], pl.DataFrame] | None = None

    @property
    def _candidates(self) -> list[_Candidate]:
        """Every candidate, by model (in id order) then as the candidates came (endpoint key order)."""
        flat = self._flat
        if flat is None:
            by_model = self._by_model
            flat = self._flat = [c for model in sorted(by_model) for c in by_model[model]]
        return flat

    def _key_models(self) -> dict[str, str]:
        keys = self._keys
        if keys is None:
            keys = self._keys = {c.row["endpoint_key"]: m for m, pool in self._by_model.items() for c in pool}
        return keys

    @classmethod
    def build(
        cls, candidates: pl.DataFrame, table: PriceTable, at: datetime, *, previous: RankIndex | None = None
    ) -> RankIndex:
        """The index of ``candidates`` (``endpoint_candidates(con, at, None)``, or one model's) at ``at``.

        ``previous``: an index built on a table ``table`` extends (``PriceTable.extend``: sheet ids stay); a
        candidate whose row, sheet and source are the same there is taken from it, not made again (after a
        sweep, all but the endpoints whose prices or facts changed)."""
        return cls._built(candidates.drop(UNREAD, strict=False).to_dicts(), table, at, previous)

    @classmethod
    def _built(
        cls, rows: list[dict[str, Any]], table: PriceTable, at: datetime, previous: RankIndex | None
    ) -> RankIndex:
        resolutions = [table.resolve(row["model_id"], None, row["endpoint_key"]) for row in rows]
        sheets, sources = table.sheets_at(resolutions, at)
        kept: dict[str, _Candidate] = {}
        if previous is not None and _extends(table, previous.table):
            # Only the models of these rows: an endpoint key names its model.
            pools = previous._by_model
            models = {row["model_id"] for row in rows}
            kept = {c.row["endpoint_key"]: c for m in models if (pool := pools.get(m)) for c in pool}
        built = []
        for row, resolution, sheet_id, source in zip(rows, resolutions, sheets, sources, strict=True):
            old = kept.get(row["endpoint_key"])
            if old is None or old.sheet_id != sheet_id or old.sheet_id < 0:
                built.append(cls._candidate(table, row, resolution, sheet_id, source))
            elif old.row == row:
                built.append(old)
            else:
                # The same sheet, other facts (telemetry changes every sweep): what the sheet decides is kept.
                assert old.fixed is not None  # a candidate with a sheet has its fixed fields
                fixed = fixed_fields(row, (old.fixed["discount"], old.fixed["price_valid_from"]), old.source)
                built.append(
                    _Candidate(
                        row,
                        sheet_id,
                        old.source,
                        None,
                        old.variant_base,
                        old.conditions,
                        old.free,
                        fixed,
                        _names(row),
                    )
                )
        return cls(table, at, built)

    def carries_to(self, table: PriceTable) -> bool:
        """Whether ``table`` extends this index's table (``PriceTable.extend``): ``carried`` can build on it."""
        return _extends(table, self.table)

    @classmethod
    def carried(
        cls,
        previous: RankIndex,
        fresh: pl.DataFrame,
        changed: set[str],
        volatile: tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]],
        columns: tuple[tuple[str, ...], tuple[str, ...]],
        table: PriceTable,
        at: datetime,
        moved: tuple[set[str], set[str]] | None = None,
        *,
        endpoints: Mapping[str, str] | None = None,
    ) -> RankIndex:
        """``build`` of every candidate at ``at``, from ``previous`` (an index on a table ``table`` extends) and
        what changed since: ``fresh`` holds the candidate rows at ``at`` (their policy and telemetry columns
        are laid over from ``volatile`` as for the others) of the models in ``changed`` (those whose
        endpoint, list-price or status versions differ between the two, or start or end in between); every other
        model's candidates are ``previous``'s, with the columns that change without a version laid over from
        ``volatile`` (per provider slug its policy columns, per endpoint key its telemetry columns, named in
        ``columns``; a key absent is all null, as the query's outer joins give). A candidate whose row did not
        change is kept as it was. Raises ``ValueError`` when ``table`` does not extend ``previous``'s (its sheet
        ids would not be ``previous``'s).

        ``moved``: the provider slugs whose policy and the endpoint keys whose telemetry differ from what
        ``previous``'s rows hold (``previous.volatile`` against this sweep's); then ``volatile``'s telemetry needs
        only those keys and ``fresh``'s, and only the candidates they name are looked at. None: every candidate
        is compared with ``volatile`` (which then holds every key).

        ``endpoints``: endpoint keys (-> their model) whose rows ``fresh`` also holds, of models not in ``changed``
        (those whose endpoint or status versions alone differ): those keys' candidates are made again from ``fresh``
        (a key absent there is no candidate now), the rest of their models' candidates are ``previous``'s. A sweep
        that moves one endpoint's price re-reads that endpoint, not every endpoint of its model.

        After a sweep that is a few models' rows read and built, and the unchanged models' lists taken as they
        are (equal to ``build``, tested)."""
        if not previous.carries_to(table):
            raise ValueError("the price table does not extend the previous index's: build the index whole")
        policies, telemetry = volatile
        no_policy, no_telemetry = dict.fromkeys(columns[0]), dict.fromkeys(columns[1])
        rows = fresh[[c for c in fresh.columns if c not in UNREAD]].to_dicts()
        for row in rows:  # read without them (``endpoint_candidates(volatile=False)``): the same values laid over
            slug = row["provider_slug"]
            row.update(policies.get(slug, no_policy) if slug is not None else no_policy)
            row.update(telemetry.get(row["endpoint_key"], no_telemetry))
        made = cls._built(rows, table, at, previous)
        by_model = dict(previous._by_model)
        for model in changed:
            by_model.pop(model, None)
        partial = {m for m in endpoints.values() if m not in changed} if endpoints else set()
        for model in partial:  # the keys re-read in place of theirs, in the query's order (by endpoint key)
            assert endpoints is not None
            pool = [c for c in by_model.get(model, ()) if c.row["endpoint_key"] not in endpoints]
            pool += made._by_model.get(model, ())
            pool.sort(key=_endpoint_key)
            if pool:
                by_model[model] = pool
            else:
                by_model.pop(model, None)
        by_model.update((m, pool) for m, pool in made._by_model.items() if m not in partial)
        if moved is None:
            touched: set[str] = set(by_model.keys() - changed)
            slugs: set[str] | None = None
            keys: set[str] | None = None
        else:
            slugs, keys = moved
            of_key = previous._key_models()
            touched = {m for k in keys if (m := of_key.get(k)) is not None} - changed
            if slugs:
                touched |= {
                    m
                    for m, pool in by_model.items()
                    if m not in changed and any(c.row["provider_slug"] in slugs for c in pool)
                }
        for model in touched:
            pool = by_model[model]
            relaid = [cls._relaid(c, policies, telemetry, columns, slugs, keys) for c in pool]
            if any(new is not old for new, old in zip(relaid, pool, strict=True)):
                by_model[model] = relaid
        index = cls(table, at, None, by_model=by_model)
        if previous._keys is not None:  # the endpoint keys' models carried too: the next sweep's look-ups
            keys_of = dict(previous._keys)
            for model in changed:
                for old in previous._by_model.get(model, ()):
                    keys_of.pop(old.row["endpoint_key"], None)
            for key in endpoints or ():
                keys_of.pop(key, None)
            keys_of.update((c.row["endpoint_key"], m) for m, pool in made._by_model.items() for c in pool)
            index._keys = keys_of
        return index

    @staticmethod
    def _relaid(
        old: _Candidate,
        policies: dict[str, dict[str, Any]],
        telemetry: dict[str, dict[str, Any]],
        columns: tuple[tuple[str, ...], tuple[str, ...]],
        slugs: set[str] | None,
        keys: set[str] | None,
    ) -> _Candidate:
        """``old`` with its provider's policy (when ``slugs`` is None or names it) and its telemetry (when ``keys``
        is None or names it) as ``policies`` / ``telemetry`` give them now; ``old`` itself when they are the same."""
        row = old.row
        slug, key = row["provider_slug"], row["endpoint_key"]
        laid: dict[str, Any] = {}
        if slugs is None or slug in slugs:
            policy = policies.get(slug) if slug is not None else None
            laid.update(policy if policy is not None else dict.fromkeys(columns[0]))
        if keys is None or key in keys:
            seen = telemetry.get(key)
            laid.update(seen if seen is not None else dict.fromkeys(columns[1]))
        if all(row.get(name) == value for name, value in laid.items()):
            return old
        row = {**row, **laid}
        fixed = old.fixed
        if fixed is not None:
            fixed = {
                **fixed,
                "uptime_last_1d": row.get("uptime_last_1d"),
                "latency_p50": row.get("latency_p50"),
                "throughput_p50": row.get("throughput_p50"),
            }
        return _Candidate(
            row, old.sheet_id, old.source, old.reason, old.variant_base, old.conditions, old.free, fixed, old.names
        )

    @staticmethod
    def _candidate(
        table: PriceTable, row: dict[str, Any], resolution: Resolution, sheet_id: int, source: int
    ) -> _Candidate:
        """One candidate whose sheet in force (``PriceTable.sheets_at``) is ``sheet_id`` from ``source``."""
        names = _names(row)
        if sheet_id < 0:
            return _Candidate(row, -1, "endpoint", resolution.reason, 0, (), False, None, names)
        version = table.versions[sheet_id]
        conditions = tuple(
            (
                o.min_prompt_tokens or 0,
                (o.utc_start // 100) * 60 + o.utc_start % 100 if o.utc_start is not None else None,
                (o.utc_end // 100) * 60 + o.utc_end % 100 if o.utc_end is not None else None,
            )
            for o in version.sheet.overrides
        )
        base = _variants(table).base[sheet_id]
        return _Candidate(
            row,
            sheet_id,
            "endpoint" if source == 0 else "model",
            None,
            base,
            conditions,
            version.sheet.free,
            fixed_fields(
                row, (reduced(version.sheet.discount), version.valid_from), "endpoint" if source == 0 else "model"
            ),
            names,
        )

    def _fallback(self, model: str) -> _Candidate:
        found = self._fallbacks.get(model)
        if found is None:
            resolution = self.table.resolve(model, None, None)
            (sheet_id,), (source,) = self.table.sheets_at([resolution], self.at)
            found = self._candidate(self.table, _list_price_row(model), resolution, sheet_id, source)
            self._fallbacks[model] = found
        return found

    def _cap_prices(self, candidate: _Candidate, mask: int) -> dict[str, Decimal | None]:
        key = (candidate.sheet_id, mask)
        found = self._caps.get(key)
        if found is None:
            found = self._caps[key] = variant_prices(self.table.versions[candidate.sheet_id].sheet, mask)
        return found

    def _status_exclusion(
        self, candidate: _Candidate, filters: EndpointFilters, profile: WorkloadProfile
    ) -> dict[str, Any]:
        """The exclusion of a candidate whose status is not ok, for a plain query (``rank``) whose request fits its
        limits: ``requirement`` names the status, the same for every such request, so its row is made once per
        candidate and copied (an answer owns its rows)."""
        row = candidate.row
        same = self._status_rows.get(row["endpoint_key"])
        if same is None or same[0] is not row:
            found = filters.requirement(row, profile, candidate.names)
            assert found is not None and found[0] == "status"  # the request fits: only the status is left
            same = self._status_rows[row["endpoint_key"]] = (row, exclusion_row(row, *found))
        return same[1].copy()

    def model_inputs(self, model: str) -> tuple[Any, ...] | None:
        """What ``rank(profile, filters, model=model)`` at this index's instant reads besides its arguments: the
        price table, the scale, the model's candidates (``build`` keeps a candidate of ``previous`` as the same
        object when neither its row nor its sheet changed) and, when one has override conditions, the minute of
        the day. A caller that finds the same objects (``is``) from one index to the next may keep the ranking it
        made (the site after a sweep). None for a model with no candidate: its list price is ranked, at the
        instant."""
        pool = self._by_model.get(model)
        if not pool:
            return None
        minute = (_micros(self.at) // 60_000_000) % 1440 if any(c.conditions for c in pool) else None
        return (self.table, self.scale, minute, *pool)

    def rank(
        self,
        profile: WorkloadProfile,
        filters: EndpointFilters,
        *,
        model: str | None = None,
        fallbacks: int = DEFAULT_FALLBACKS,
        at: datetime | None = None,
    ) -> Ranking:
        """Rank ``model``'s candidates (every model's when None) by what one request of ``profile`` costs."""
        when = at or self.at
        last = self._minute
        if last is not None and last[0] == when:  # most rankings of an index are of one instant
            minute = last[1]
        else:
            minute = (_micros(when) // 60_000_000) % 1440
            self._minute = (when, minute)
        usage = profile.usage_row()
        prompt, completion = usage["prompt_tokens"], usage["completion_tokens"]
        cache_read, cw5, cw1h = usage["cache_read_tokens"], usage["cache_write_tokens"], usage["cache_write_1h_tokens"]
        reasoning = usage["reasoning_tokens"]
        counts = (
            prompt - cache_read - cw5 - cw1h,
            cache_read,
            cw5,
            cw1h,
            completion - reasoning,
            reasoning,
            1,
            usage["images"],
            usage["web_searches"],
        )
        pool = self._candidates if model is None else self._by_model.get(model, [])
        listed_models = set(self._by_model) if model is None else ({model} if pool else set())
        fallback = _fallback_models(self.table, model, listed_models, self.at)
        rates_of, nums, dens = self._variants.rates, self._variants.num, self._variants.den
        scale = self.scale
        tokens, requests = profile.input_tokens + profile.output_tokens, profile.requests
        exclude_free, has_caps = filters.exclude_free, filters.has_caps
        # The common query sets no filter beyond status and needs no parameter or image input: its feasibility is
        # three limits and a status, checked inline; ``requirement`` runs only to word an exclusion.
        plain = not filters._narrow and not profile.images  # type: ignore[attr-defined]  # set in __post_init__
        plain = plain and not (profile.tools or profile.structured_output)
        plain = plain and profile.reasoning_effort in (None, "none")
        asked_in, asked_out, status_ok = profile.input_tokens, profile.output_tokens, filters.status_ok
        ranked: list[RankedEndpoint] = []
        totals: list[int] = []
        excluded: list[dict[str, Any]] = []
        unpriced: set[str] = set()
        for candidate in [*pool, *(self._fallback(m) for m in fallback)] if fallback else pool:
            row = candidate.row
            listed = row["tag"] != LIST_PRICE_TAG
            if listed:
                if plain:
                    context, most_in = row.get("context_length"), row.get("max_prompt_tokens")
                    most_out = row.get("max_completion_tokens")
                    if (
                        (context is not None and asked_in + asked_out > context)
                        or (most_in is not None and asked_in > most_in)
                        or (most_out is not None and asked_out > most_out)
                    ):
                        found = filters.requirement(row, profile, candidate.names)
                    elif status_ok and row.get("status") not in (0, None):
                        excluded.append(self._status_exclusion(candidate, filters, profile))
                        continue
                    else:
                        found = None
                else:
                    found = filters.requirement(row, profile, candidate.names)
                if found:
                    excluded.append(exclusion_row(row, *found))
                    continue
            if candidate.sheet_id < 0:
                if listed:
                    excluded.append(exclusion_row(row, "price", candidate.reason or _NO_PRICE))
                else:
                    unpriced.add(row["model_id"])
                continue
            mask = _mask(candidate.conditions, prompt, minute) if candidate.conditions else 0
            variant = candidate.variant_base + mask
            rates = rates_of[variant]
            if rates is None:
                if listed:
                    excluded.append(exclusion_row(row, "price", _DYNAMIC))
                else:
                    unpriced.add(row["model_id"])
                continue
            if exclude_free and candidate.free:
                excluded.append(exclusion_row(row, "free", "free endpoint"))
                continue
            if has_caps:
                capped = filters.price_cap(self._cap_prices(candidate, mask))
                if capped:
                    excluded.append(exclusion_row(row, "max_price", capped))
                    continue
            parts = list(map(mul, counts, rates))  # in C; both have a count per rate (``_RATE_NAMES``)
            total = sum(parts)
            num, den = nums[variant], dens[variant]
            base: int | None = total
            if num != den:
                base = (2 * total * den + num) // (2 * num) if num > 0 else None
                if base is not None and base >= 2**126:
                    base = None
            assert candidate.fixed is not None  # a candidate with a sheet has its fixed fields
            # ``CostUnits(...)`` without its generated ``__new__`` (a Python call per ranked row): the same tuple.
            units = _new_tuple(CostUnits, (total, base, parts, _TERMS, scale, tokens, requests))
            ranked.append(ranked_row(candidate.fixed, total, units, mask))
            totals.append(total)
        note = fallback_note(self.table, model, when, priced=model not in unpriced) if model in fallback else None
        if model is None and fallback:
            note = (
                fallback_note(self.table, fallback[0], when, priced=True).split(";")[0]
                + "; ranked on list prices from /models"
            )
        return assemble(
            ranked,
            excluded,
            at=when,
            model=model,
            profile=profile,
            filters=filters,
            fallbacks=fallbacks,
            scale=scale,
            note=note,
            costs=totals,  # ``comparable_costs(ranked)``: every row's units at the one scale
        )


__all__ = ["RankIndex", "fallback_note", "per_million_units", "rank_with_engine"]
