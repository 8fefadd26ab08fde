"""Workload profiles and the cheapest endpoint for one: rank what a real workload pays, not list prices.

A ``WorkloadProfile`` describes one request (input and output tokens, the share of input read from or
written to the prompt cache, the share of output that is reasoning, images, web searches, whether it sends
tools, a response format or a reasoning effort) and how many such requests the workload has.
``rank_endpoints`` prices one such request on every candidate endpoint (``catalog.cost.ranker``), drops
those that cannot serve it or that the ``EndpointFilters`` exclude (saying which requirement and why), ranks
the rest, explains which cost terms dominate, prices OpenRouter's default (unpinned) routing, and returns an
OpenRouter ``provider`` routing object that pins the winner with the next ones as ordered fallbacks.

Order. The sort key is, in turn: the caller's ``order`` (listed providers first, in that order), whether the
endpoint meets the ``preferred_*`` latency / throughput (those that do first), then the ``sort``: the cost
per request (``price``), throughput p50 descending or latency p50 ascending (missing telemetry last; cost
breaks their ties). Endpoints whose sort keys are exactly equal share a rank (1, 1, 1, 4); among them the
order is stable: uptime over the last day descending, then throughput p50 descending (missing last), then
the endpoint key ascending.
"""

from __future__ import annotations

import decimal
import functools
import math
import operator
from dataclasses import dataclass, field, fields
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal
from itertools import repeat
from typing import TYPE_CHECKING, Any, Literal, NamedTuple, overload

import polars as pl

from catalog.cost.sheets import PriceTable
from catalog.cost.workload import DEFAULT_FALLBACKS, EndpointFilters, WorkloadProfile
from catalog.money import EXACT, UNROUNDED, canonical, per_million, reduced, units_text

# A per-token average is a ratio, not an amount billed: rounded to 12 decimals (the per-request cost is exact).
PER_M_UNIT = Decimal("1e-12")
SHARE_DIGITS = 4  # default-routing probabilities, for reading: rounded half-even to 0.0001
LIST_PRICE_TAG = "list price"


@dataclass(frozen=True)
class RankedEndpoint:
    """One ranked endpoint: what one request of the profile costs there, exact, and why.

    Amounts are ``Decimal`` in their shortest form (``catalog.money.reduced``); the faces spell them (JSON:
    ``catalog.money.canonical``). ``terms`` are the non-zero cost terms, largest first; ``term_shares`` their
    shares of the total, rounded for reading. ``rank`` is shared by endpoints whose sort keys are equal.
    ``price_source`` is ``endpoint`` (the endpoint's own listing) or ``model`` (the model's list price, for a
    time before the endpoint history: ``tag`` is then ``"list price"``).
    """

    rank: int
    model_id: str
    tag: str
    endpoint_key: str
    provider: str | None
    provider_name: str | None
    quantization: str | None
    context_length: int | None
    cost_per_request: Decimal
    cost_per_million_tokens: Decimal | None
    workload_cost: Decimal
    base_per_request: Decimal | None
    saving_per_request: Decimal | None
    discount: Decimal
    terms: dict[str, Decimal]
    term_shares: dict[str, float]
    overrides_applied: int
    price_valid_from: datetime
    status: int | None
    uptime_last_1d: float | None
    max_prompt_tokens: int | None = None
    max_completion_tokens: int | None = None
    latency_p50: float | None = None  # ms to first token, median of the last 30 minutes (latest telemetry)
    throughput_p50: float | None = None  # tokens/s, median of the last 30 minutes (latest telemetry)
    price_source: str = "endpoint"

    def to_dict(self) -> dict[str, Any]:
        """The fields in order, values as they are (Decimal, datetime): ``catalog.exact_json.jsonable`` spells them."""
        return {name: getattr(self, name) for name in _RANKED_FIELDS}

    def spelt_dict(self) -> dict[str, Any]:
        """``to_dict`` with the amounts kept as integers written as their exact JSON text (``canonical``) straight
        from those integers: the same JSON once encoded, without a Decimal per amount (the API's path)."""
        values = self.__dict__
        deferred = values.get("_deferred")
        if not isinstance(deferred, CostUnits):
            return self.to_dict()
        texts = deferred.texts()
        return {name: texts[name] if name in texts else values[name] for name in _RANKED_FIELDS}

    def cost_units(self, scale: int) -> int:
        """``cost_per_request`` in integer units of ``10**-scale`` USD (exact)."""
        deferred: CostUnits | None = self.__dict__.get("_deferred")
        if deferred is not None and deferred.scale == scale:
            return deferred.total
        return int(self.cost_per_request.scaleb(scale, EXACT))

    if not TYPE_CHECKING:  # hidden from the type checker, so a misspelt field is still an error there

        def __getattr__(self, name: str) -> Any:
            # Called only for an attribute missing from the instance: the amounts a ranking does not need
            # to order its rows are spelt as Decimals on first read, from the exact integers kept beside them.
            deferred = self.__dict__.get("_deferred")
            if deferred is None or name not in DEFERRED_FIELDS:
                raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
            if name == "cost_per_request":  # what most readers want (the site's index): that one alone
                value = self.__dict__[name] = amount(deferred.total, deferred.scale)
                return value
            self.__dict__.update(deferred.spell())
            return self.__dict__[name]


_RANKED_FIELDS = tuple(f.name for f in fields(RankedEndpoint))
# The fields of a ``RankedEndpoint`` made by a ranking that are spelt on first read (``CostUnits``).
DEFERRED_FIELDS = frozenset(
    (
        "cost_per_request",
        "cost_per_million_tokens",
        "workload_cost",
        "base_per_request",
        "saving_per_request",
        "terms",
        "term_shares",
    )
)


class CostUnits(NamedTuple):
    """What one request costs at an endpoint in integer units of ``10**-scale`` USD: the total, the
    undiscounted base (None: none), each term's cost (``catalog.cost.engine.TERMS`` order, named by
    ``names``), the request's tokens and the workload's request count. ``spell`` gives the
    ``DEFERRED_FIELDS`` exactly as Decimals. (A named tuple: a ranking makes one per endpoint, and a tuple
    is made in a third of a frozen dataclass's time.)"""

    total: int
    base: int | None
    parts: list[int]
    names: tuple[str, ...]
    scale: int
    tokens: int
    requests: int

    def dominant(self) -> list[tuple[str, int]]:
        """The non-zero terms, largest first; equal ones keep the engine's term order (a stable sort)."""
        # Picked and ordered in C; ``reverse`` keeps equal ones in their order, as a stable sort does.
        return sorted(filter(_second, zip(self.names, self.parts, strict=False)), key=_second, reverse=True)

    def shares(self, dominant: list[tuple[str, int]] | None = None) -> dict[str, float]:
        """Each non-zero term's share of the total, for reading: the float of the exact ratio, rounded."""
        total = self.total
        return {k: share_of(v, total) if total else 0.0 for k, v in dominant or self.dominant()}

    def texts(self) -> dict[str, Any]:
        """``spell``'s fields, the amounts as ``canonical`` text (``catalog.money.units_text``)."""
        total, base, scale = self.total, self.base, self.scale
        cost = units_text(total, scale)
        per_m = per_million_units(total, self.tokens, scale, spelt=True)
        dominant = self.dominant()
        return {
            "cost_per_request": cost,
            "cost_per_million_tokens": per_m,
            "workload_cost": cost if self.requests == 1 else units_text(total * self.requests, scale),
            "base_per_request": None if base is None else cost if base == total else units_text(base, scale),
            "saving_per_request": None if base is None else units_text(base - total, scale),
            "terms": {k: cost if v == total else units_text(v, scale) for k, v in dominant},
            "term_shares": self.shares(dominant),
        }

    def spell(self) -> dict[str, Any]:
        total, base, scale = self.total, self.base, self.scale
        cost = amount(total, scale)
        dominant = self.dominant()
        return {
            "cost_per_request": cost,
            "cost_per_million_tokens": per_million_units(total, self.tokens, scale),
            "workload_cost": cost if self.requests == 1 else amount(total * self.requests, scale),
            "base_per_request": None if base is None else cost if base == total else amount(base, scale),
            "saving_per_request": None if base is None else amount(base - total, scale),
            "terms": {k: cost if v == total else amount(v, scale) for k, v in dominant},
            "term_shares": self.shares(dominant),
        }


_second = operator.itemgetter(1)


def ranked_row(fixed: dict[str, Any], cost: int, deferred: CostUnits, overrides_applied: int) -> RankedEndpoint:
    """A ranked row (rank 0 until ``assemble`` orders it): the workload-independent ``fixed`` fields, and the
    amounts spelt from ``deferred`` when first read (``cost``, its total, is what a ranking orders by:
    ``assemble`` and the explanation compare the integers, so an answer spells no amount it does not send).

    Filled in place rather than through the 25-argument ``__init__`` of a frozen dataclass, which alone took
    most of a ranking's time."""
    row = object.__new__(RankedEndpoint)
    values = row.__dict__
    values.update(fixed)
    values["rank"] = 0
    values["overrides_applied"] = overrides_applied
    values["_deferred"] = deferred
    values["_fixed"] = fixed
    return row


def row_sources(row: RankedEndpoint) -> tuple[dict[str, Any], CostUnits, int] | None:
    """What ``ranked_row`` made ``row`` from: its ``fixed`` fields (the dictionary itself, shared by every
    ranking of the same index), its ``CostUnits`` and its override mask; None for a row made otherwise.
    ``catalog.cost.ranking_json`` writes a row's JSON from these."""
    values = row.__dict__
    fixed, units = values.get("_fixed"), values.get("_deferred")
    if fixed is None or not isinstance(units, CostUnits):
        return None
    return fixed, units, values["overrides_applied"]


@overload
def per_million_units(total: int, tokens: int, scale: int, *, spelt: Literal[False] = False) -> Decimal | None: ...
@overload
def per_million_units(total: int, tokens: int, scale: int, *, spelt: Literal[True]) -> str | None: ...
def per_million_units(total: int, tokens: int, scale: int, *, spelt: bool = False) -> Decimal | str | None:
    """A request's cost (``total`` units) per million of its ``tokens``, rounded half-even to 12 decimals
    (``per_million_tokens`` of the same amount, in integers); None for no tokens. ``spelt``: as its text."""
    if not tokens:
        return None
    quotient, rest = divmod(total * 10**18, tokens * 10**scale)
    if 2 * rest > tokens * 10**scale or (2 * rest == tokens * 10**scale and quotient % 2):
        quotient += 1
    return units_text(quotient, 12) if spelt else amount(quotient, 12)


@dataclass(frozen=True)
class DefaultRouting:
    """What one request costs, on average, when OpenRouter routes it unpinned.

    Default routing spreads requests over the providers without a recent outage, with weights proportional to
    the inverse square of the price. The price here is this workload's own cost per request at each endpoint
    (``c_i``), so ``expected = Σ c_i·w_i / Σ w_i`` with ``w_i = 1/c_i²``, i.e. ``(Σ 1/c_i) / (Σ 1/c_i²)``:
    exact as a fraction, then rounded half-even to the price table's unit. An endpoint costing 0 takes all
    the weight (with any other free ones). ``saving_per_request`` is what pinning the cheapest saves.
    """

    expected_cost_per_request: Decimal
    saving_per_request: Decimal
    saving_percent: Decimal
    endpoints: int
    shares: dict[str, Decimal]
    weighting: str

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass
class Ranking:
    """The answer to "which endpoint is cheapest for this workload": ranked rows, exclusions, why, routing."""

    at: datetime
    model: str | None
    profile: WorkloadProfile
    filters: EndpointFilters
    ranked: list[RankedEndpoint]
    excluded: list[dict[str, Any]]
    explanation: str
    routing: dict[str, Any] | None
    ties: int = 0
    # A factory, not a plain default: it leaves no class attribute, so a ranking may work it out on first read.
    default_routing: DefaultRouting | None = field(default_factory=lambda: None)
    note: str | None = None
    data: Any | None = None  # the data's age (``DataAge``), filled in by the faces
    scale: int = field(default=0, repr=False)  # the price table's unit is 10**-scale USD

    if not TYPE_CHECKING:  # hidden from the type checker, so a misspelt field is still an error there

        def __getattr__(self, name: str) -> Any:
            # Called only for an attribute missing from the instance: a ranking made by ``assemble`` words its
            # explanation and prices default routing when first read (a program picking an endpoint reads
            # neither), from its rows and exclusions.
            if not self.__dict__.get("_later") or name not in ("explanation", "default_routing"):
                raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
            if name == "explanation":
                ranked, costs = self.__dict__.get("_costs") or (None, None)
                if ranked is not self.ranked:  # the rows were replaced since: their costs are worked out again
                    costs = None
                value = _explain(self.ranked, self.excluded, self.profile, self.filters, self.ties, costs)
            else:
                value = default_routing(self.ranked, self.scale) if self.model is not None else None
            self.__dict__[name] = value
            return value

    def to_dict(self, *, spelt: bool = False) -> dict[str, Any]:
        """The answer as plain data; money stays ``Decimal`` until ``catalog.exact_json.jsonable`` spells it.
        ``spelt``: the ranked rows' amounts already as their exact text (``RankedEndpoint.spelt_dict``)."""
        data = to_dict() if (to_dict := getattr(self.data, "to_dict", None)) else self.data
        return {
            "as_of": self.at.isoformat().replace("+00:00", "Z"),
            "model": self.model,
            "profile": self.profile.to_dict(),
            "filters": self.filters.to_dict(),
            "ranked": [row.spelt_dict() if spelt else row.to_dict() for row in self.ranked],
            "ties": self.ties,
            "excluded": self.excluded,
            "explanation": self.explanation,
            "note": self.note,
            "default_routing": self.default_routing.to_dict() if self.default_routing else None,
            "provider": self.routing,
            "data": data,
        }


def rank_endpoints(
    candidates: pl.DataFrame,
    table: PriceTable,
    profile: WorkloadProfile,
    filters: EndpointFilters,
    *,
    at: datetime,
    model: str | None = None,
    fallbacks: int = DEFAULT_FALLBACKS,
) -> Ranking:
    """Rank ``candidates`` (``catalog.store.queries.endpoint_candidates``) by what ``profile`` costs at ``at``.

    Builds a ``catalog.cost.ranker.RankIndex`` for this one call; callers ranking many profiles against one
    snapshot keep the index instead.
    """
    from catalog.cost.ranker import RankIndex  # the index builds on this module's records

    return RankIndex.build(candidates, table, at).rank(profile, filters, model=model, fallbacks=fallbacks)


def exclusion_row(row: dict[str, Any], requirement: str, reason: str) -> dict[str, Any]:
    """One excluded endpoint as the answer lists it."""
    return {
        "model_id": row["model_id"],
        "tag": row["tag"],
        "endpoint_key": row["endpoint_key"],
        "reason": reason,
        "requirement": requirement,
    }


def _missing_last(value: float | None, descending: bool) -> tuple[bool, float]:
    if value is None:
        return (True, 0.0)
    return (False, -value if descending else value)


def comparable_costs(rows: list[RankedEndpoint]) -> list[int] | list[Decimal]:
    """Each row's cost per request, to compare and order: the exact integer units when every row keeps them
    at one scale (rows of one ranking: nothing is spelt), else the ``Decimal`` amounts. Either orders and ties
    the rows exactly as ``cost_per_request`` does."""
    units = [row.__dict__.get("_deferred") for row in rows]
    if units and isinstance(units[0], CostUnits):
        scale = units[0].scale
        if all(isinstance(u, CostUnits) and u.scale == scale for u in units):
            return [u.total for u in units]  # type: ignore[union-attr]  # all CostUnits: checked above
    return [row.cost_per_request for row in rows]


def _cost_text(row: RankedEndpoint) -> str:
    """``canonical(row.cost_per_request)``, from the row's integers when it keeps them."""
    units = row.__dict__.get("_deferred")
    if isinstance(units, CostUnits) and "cost_per_request" not in row.__dict__:
        return units_text(units.total, units.scale)
    return canonical(row.cost_per_request)


def _cost_amount(row: RankedEndpoint) -> Decimal:
    """``row.cost_per_request`` without spelling the row's other amounts."""
    units = row.__dict__.get("_deferred")
    if isinstance(units, CostUnits) and "cost_per_request" not in row.__dict__:
        return amount(units.total, units.scale)
    return row.cost_per_request


def sort_key(row: RankedEndpoint, filters: EndpointFilters, cost: Any = None) -> tuple[Any, ...]:
    """The key whose exact equality makes a tie (see the module docstring). ``cost``: the row's cost as
    ``comparable_costs`` gives it (default: ``cost_per_request``)."""
    plain = not filters.order and filters.sort == "price" and filters.preferred_min_throughput is None
    if plain and filters.preferred_max_latency is None:
        return (row.cost_per_request if cost is None else cost,)  # the common query: by cost alone
    key: list[Any] = []
    if filters.order:
        wanted = [name.lower() for name in filters.order]
        names = {str(n).lower() for n in (row.provider, row.provider_name, row.tag) if n}
        key.append(min((i for i, name in enumerate(wanted) if name in names), default=len(wanted)))
    if filters.preferred_min_throughput is not None or filters.preferred_max_latency is not None:
        meets = (
            filters.preferred_min_throughput is None
            or (row.throughput_p50 is not None and row.throughput_p50 >= filters.preferred_min_throughput)
        ) and (
            filters.preferred_max_latency is None
            # The telemetry's latency is in milliseconds (time to first token); the preference in seconds.
            or (row.latency_p50 is not None and row.latency_p50 <= filters.preferred_max_latency * 1000)
        )
        key.append(not meets)
    if filters.sort == "throughput":
        key.append(_missing_last(row.throughput_p50, descending=True))
    elif filters.sort == "latency":
        key.append(_missing_last(row.latency_p50, descending=False))
    key.append(row.cost_per_request if cost is None else cost)
    return tuple(key)


def tie_order(row: RankedEndpoint) -> tuple[Any, ...]:
    """The documented order among equal sort keys: uptime desc, throughput desc (missing last), key asc."""
    uptime, throughput = row.uptime_last_1d, row.throughput_p50  # as _missing_last(…, descending=True), inline
    return (
        _MISSING if uptime is None else (False, -uptime),
        _MISSING if throughput is None else (False, -throughput),
        row.endpoint_key,
    )


_MISSING = (True, 0.0)
_keys = operator.itemgetter(0, 1)


def assemble(
    rows: list[RankedEndpoint],
    excluded: list[dict[str, Any]],
    *,
    at: datetime,
    model: str | None,
    profile: WorkloadProfile,
    filters: EndpointFilters,
    fallbacks: int,
    scale: int,
    note: str | None = None,
    costs: list[int] | None = None,
) -> Ranking:
    """Order priced rows, share ranks among ties, explain, price default routing and build the routing object.

    Both the index (``RankIndex.rank``) and the engine reference (``rank_with_engine``) end here, so they can
    differ only in how they price a row. ``costs``: ``comparable_costs(rows)``, when the caller has them.
    """
    ordered: list[Any] = comparable_costs(rows) if costs is None else costs
    plain = not filters.order and filters.sort == "price" and filters.preferred_min_throughput is None
    ranked: list[RankedEndpoint]
    if plain and filters.preferred_max_latency is None:  # ``sort_key`` of the common query: the cost alone
        ranked, ordered, ties = _by_cost(rows, ordered)
    else:
        pairs = zip(rows, ordered, strict=True)
        keyed = sorted([(sort_key(r, filters, c), tie_order(r), r) for r, c in pairs], key=_keys)
        ranked = []
        previous: tuple[Any, ...] | None = None
        rank = 0
        for position, (key, _, row) in enumerate(keyed, 1):
            if key != previous:
                rank, previous = position, key
            # The rows were made for this ranking and are not shared yet: set the rank in place (``replace``
            # would copy every field of every row, a third of a ranking's time).
            object.__setattr__(row, "rank", rank)
            ranked.append(row)
        ties = sum(1 for r in ranked if r.rank == 1)
    kept = ordered if plain and filters.preferred_max_latency is None else None  # else not in the ranked order
    # Made without ``__init__``: ``explanation`` and ``default_routing`` are left for first read (``__getattr__``).
    ranking = object.__new__(Ranking)
    ranking.__dict__.update(
        at=at,
        model=model,
        profile=profile,
        filters=filters,
        ranked=ranked,
        excluded=sorted(excluded, key=_exclusion_order),
        routing=provider_routing(ranked, filters, fallbacks, profile),
        ties=ties,
        note=note,
        data=None,
        scale=scale,
        _later=True,
        _costs=(ranked, kept),  # for the explanation, while ``ranked`` is still this list
    )
    return ranking


_exclusion_order = operator.itemgetter("model_id", "tag", "endpoint_key")
_first = operator.itemgetter(0)


def _by_cost(
    rows: list[RankedEndpoint], costs: list[int] | list[Decimal]
) -> tuple[list[RankedEndpoint], list[Any], int]:
    """The rows ordered by cost, equal costs by ``tie_order``, with their ranks set; their costs in that order;
    the number ranked first. The same order as sorting by ``(cost, tie_order)``: a stable sort by cost, then
    each run of equal costs sorted by the tie order (a call a row only where there is a tie)."""
    keyed = sorted(zip(costs, rows, strict=True), key=_first)
    ranked = [row for _, row in keyed]
    ordered = [cost for cost, _ in keyed]
    # One pass over the costs in order: a run of equal ones shares the rank of its first (each row is visited
    # once, before its run is put in the tie order, so setting the rank in place is safe); a run of two or
    # more is sorted by the tie order when the next cost (or the end) closes it. No object per run.
    start, previous = 0, _NOTHING
    for position, cost in enumerate(ordered):
        if cost != previous:
            if position - start > 1:
                ranked[start:position] = sorted(ranked[start:position], key=tie_order)
            start, previous = position, cost
        # The rows were made for this ranking and are not shared yet: the rank set in place (``replace`` would
        # copy every field of every row).
        ranked[position].__dict__["rank"] = start + 1
    if len(ordered) - start > 1:
        ranked[start:] = sorted(ranked[start:], key=tie_order)
    return ranked, ordered, ordered.count(ordered[0]) if ordered else 0


_NOTHING = object()  # equal to no cost


def per_million_tokens(total: Decimal, tokens: int) -> Decimal | None:
    """A request's cost per million of its tokens, rounded to 12 decimals (``PER_M_UNIT``); None for a
    request of no tokens."""
    if not tokens:
        return None
    return reduced(per_million(total, tokens).quantize(PER_M_UNIT, context=EXACT))


def _label(row: RankedEndpoint, many_models: bool) -> str:
    if row.price_source == "model" and row.tag == LIST_PRICE_TAG:
        return f"{row.model_id} at its list price"
    return f"{row.model_id} via {row.tag}" if many_models else row.tag


def _less(cheaper: Decimal, dearer: Decimal) -> str:
    """ "N % less than": rounded to 0.1 %; a gap that rounds to nothing says so rather than "0.0 %"."""
    share = (100 * (dearer - cheaper) / dearer).quantize(Decimal("0.1"), ROUND_HALF_EVEN)
    return f"{share}% less than" if share > 0 else "under 0.1% less than"


def _less_units(cheaper: int, dearer: int) -> str | None:
    """``_less`` of two amounts in units of one scale (``0 <= cheaper < dearer``), in integers: None where
    that could differ from the Decimal arithmetic (amounts too long for the context's precision).

    ``_less`` divides in the context (rounded to ``prec`` digits), then rounds to 0.1 half-even. The exact
    ratio ``100·(d - c) / d``, in lowest terms ``n / q``, is either on a rounding boundary (a multiple of 0.05,
    exact in ``prec`` digits) or at least ``1 / (20·q)`` away from every one; below 100, the division moves it
    by under ``10**(2 - prec)``. So where ``20·q < 10**(prec - 2)`` (and ``100·(d - c)`` is exact: ``d`` has
    at most ``prec - 3`` digits) both round the same way as the exact ratio does here."""
    precision = decimal.getcontext().prec
    common = math.gcd(cheaper, dearer)
    den = dearer // common
    if cheaper < 0 or 20 * den >= 10 ** (precision - 2) or len(str(dearer)) + 3 > precision:
        return None
    tenths = half_even(1000 * (dearer - cheaper) // common, den)
    return f"{tenths // 10}.{tenths % 10}% less than" if tenths > 0 else "under 0.1% less than"


def _term_gaps(dearer: RankedEndpoint, win: RankedEndpoint) -> dict[str, int | Decimal]:
    """Per cost term either row pays, what ``dearer`` pays more than ``win``: in integer units when both keep
    them at one scale (no amount is spelt), else from the Decimal ``terms``."""
    mine, theirs = dearer.__dict__.get("_deferred"), win.__dict__.get("_deferred")
    if isinstance(mine, CostUnits) and isinstance(theirs, CostUnits) and mine.scale == theirs.scale:
        pairs = zip(mine.names, mine.parts, theirs.parts, strict=False)
        return {name: a - b for name, a, b in pairs if a or b}
    zero = Decimal(0)
    return {k: dearer.terms.get(k, zero) - win.terms.get(k, zero) for k in set(win.terms) | set(dearer.terms)}


def _top_shares(row: RankedEndpoint) -> list[tuple[str, float]]:
    """The first three of the row's ``term_shares`` (the largest), worked out from its integers if it keeps them."""
    deferred = row.__dict__.get("_deferred")
    if isinstance(deferred, CostUnits):
        total = deferred.total
        return [(k, share_of(v, total) if total else 0.0) for k, v in deferred.dominant()[:3]]
    return list(row.term_shares.items())[:3]


# ``k / 10**4`` for every k up to 10**4: what ``round(x, 4)`` returns for a ratio ``x`` that rounds to k / 10**4 (it
# rounds in decimal, then takes the float nearest that decimal, as the correctly rounded ``k / 10**4`` is).
SHARE_FLOATS = [k / 10**4 for k in range(10**4 + 1)]


def share_of(part: int, total: int) -> float:
    """``round(part / total, 4)`` (a term's share of a cost: ``CostUnits.shares``), from the integers.

    ``round`` of a float spells it in decimal to round it: a microsecond, three times an explanation and ten
    times an answer. For ``0 <= part <= total``, ``total > 0``: ``part / total`` to four places, up from a half,
    is the rounded float's whenever the exact ratio is further from the half than the float ``part / total`` can
    be from the ratio (2**-53 of it, at most 1), so both are on the same side of it; nearer than that (a few in
    10**9, as at an exact half), and for any other part, the float itself is rounded, as ``round`` does."""
    if 0 <= part <= total:
        whole, rest = divmod(part * 10**4, total)
        gap = 2 * rest - total
        if (gap if gap > 0 else -gap) * 2**30 > total:
            return SHARE_FLOATS[whole + 1 if gap > 0 else whole]
    return round(part / total, 4)


_model_of = operator.attrgetter("model_id")
_fields_of = operator.attrgetter("__dict__")
_percents: dict[float, str] = {}  # a share (rounded to 0.0001: at most 10,001 of them) as whole percent text


def _percent(share: float) -> str:
    """``f"{share:.0%}"``, kept once written (three a ranking's explanation); not a share of 0 or less (-0.0 and
    0.0 are one key, spelt apart)."""
    text = f"{share:.0%}"
    if share > 0:
        if len(_percents) > 20_000:  # rounded shares are fewer: something else was asked, start over
            _percents.clear()
        _percents[share] = text
    return text


def _explain(
    ranked: list[RankedEndpoint],
    excluded: list[dict[str, Any]],
    profile: WorkloadProfile,
    filters: EndpointFilters,
    ties: int,
    costs: list[Any] | None = None,
) -> str:
    """The ranking in a sentence or two. ``costs``: ``comparable_costs(ranked)`` when the caller has them."""
    if not ranked:
        if not excluded:
            return "no endpoint was listed with a price at that time"  # the ranking's note says why, if known
        counts: dict[str, int] = {}
        for row in excluded:
            counts[row["requirement"]] = counts.get(row["requirement"], 0) + 1
        why = ", ".join(f"{k} {v}" for k, v in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))
        return f"no endpoint can serve this workload under these filters: {len(excluded)} excluded ({why})"
    win = ranked[0]
    many = len(set(map(_model_of, ranked))) > 1
    shares = ", ".join([f"{k} {_percents.get(v) or _percent(v)}" for k, v in _top_shares(win)]) or "nothing (free)"
    if costs is None:
        costs = list(comparable_costs(ranked))  # exact: integers when the rows keep them (nothing spelt)
    least = costs[0]
    if ties > 1 and len({c for r, c in zip(ranked, costs, strict=True) if r.rank == 1}) == 1:
        tied = [r for r in ranked if r.rank == 1]
        names = ", ".join(_label(r, many) for r in tied[:3]) + (" …" if ties > 3 else "")
        text = f"{ties} endpoints tie at ${_cost_text(win)} per request ({names}; {shares})"
    else:
        text = f"{_label(win, True)} costs ${_cost_text(win)} per request ({shares})"
    if filters.sort != "price":
        text += f"; ranked by {filters.sort} p50 from the latest telemetry, cost breaking ties"
    found = next((i for i, c in enumerate(costs) if c > least), None)
    if found is not None and costs[found]:
        dearer = ranked[found]
        less = _less_units(least, costs[found]) if isinstance(least, int) else None
        if less is None:
            less = _less(_cost_amount(win), _cost_amount(dearer))
        # The term where the next dearer endpoint loses the most explains the ordering best.
        diffs = _term_gaps(dearer, win)
        text += f"; {less} {_label(dearer, many)} (${_cost_text(dearer)})"
        if diffs and max(diffs.values()) > 0:
            text += f", mostly on {max(sorted(diffs), key=diffs.__getitem__)}"
    if min(costs) < least:  # ranked by something else than cost: say which is cheapest
        cheapest = ranked[costs.index(min(costs))]  # the first of the lowest
        text += f"; the cheapest is {_label(cheapest, many)} at ${_cost_text(cheapest)}"
    if profile.cache_hit:
        text += f"; {profile.cache_hit:%} of input is a cache hit, so cache-read prices weigh in"
    return text


def provider_routing(
    ranked: list[RankedEndpoint],
    filters: EndpointFilters,
    fallbacks: int,
    profile: WorkloadProfile | None = None,
) -> dict[str, Any] | None:
    """OpenRouter's ``provider`` object (its ``ProviderPreferences``): the winner first, the next ones of the
    same model as fallbacks in the ranked order, and the constraints that were asked for."""
    # The rows' fields read from their dictionaries: an attribute of a row would go through its ``__getattr__``
    # hook (three a row, every answer). Every row keeps these fields there, made by a ranking or not.
    listed = [values for values in map(_fields_of, ranked) if values["price_source"] == "endpoint"]
    if not listed:
        return None
    model = listed[0]["model_id"]
    # Two endpoints can share a tag (``model@tag#2``); OpenRouter routes by tag, so each appears once.
    order = list(dict.fromkeys([values["tag"] for values in listed if values["model_id"] == model]))[: 1 + fallbacks]
    routing: dict[str, Any] = {"order": order, "allow_fallbacks": filters.allow_fallbacks}
    if filters.parameters or (profile is not None and profile.requirements()):
        routing["require_parameters"] = True
    if filters.quantizations:
        routing["quantizations"] = list(filters.quantizations)
    if filters.no_training:
        routing["data_collection"] = "deny"
    if filters.zdr:
        routing["zdr"] = True
    if filters.providers:
        routing["only"] = list(filters.providers)
    if filters.exclude_providers:
        routing["ignore"] = list(filters.exclude_providers)
    if filters.has_caps:
        routing["max_price"] = {key: canonical(cap) for key, cap in filters.max_price.items()}
    if filters.sort != "price":
        routing["sort"] = filters.sort
    if filters.preferred_min_throughput is not None:
        routing["preferred_min_throughput"] = filters.preferred_min_throughput
    if filters.preferred_max_latency is not None:
        routing["preferred_max_latency"] = filters.preferred_max_latency
    return routing


def amount(units: int, scale: int) -> Decimal:
    """``units`` of ``10**-scale`` USD as the shortest exact ``Decimal`` (``catalog.money.reduced`` of it)."""
    whole, rest = divmod(units, 10**scale)
    if not rest:
        return Decimal(whole)  # exponent 0, as ``reduced`` writes whole numbers
    return Decimal(units).scaleb(-scale, EXACT).normalize(UNROUNDED)


def half_even(numerator: int, denominator: int) -> int:
    """``numerator / denominator`` (denominator > 0) rounded to an integer, halves to even."""
    quotient, rest = divmod(numerator, denominator)
    if 2 * rest > denominator or (2 * rest == denominator and quotient % 2):
        quotient += 1
    return quotient


@functools.cache
def _share(units: int) -> Decimal:
    """A default-routing probability of ``units`` ten-thousandths (at most 10,001 of them: kept once spelt)."""
    return amount(units, SHARE_DIGITS)


DEFAULT_ROUTING_WEIGHTING = (
    "weights 1/c² of each endpoint's cost c for one request of this workload (exact, discounts and "
    "overrides applied): OpenRouter weights by the inverse square of price, and this request's own cost "
    "is the price it pays there"
)


def routing_units(ranked: list[RankedEndpoint], scale: int) -> tuple[int, int, int, int, dict[str, int]] | None:
    """``default_routing`` in integers: the expected cost and the saving (units of ``10**-scale`` USD), the
    saving in hundredths of a percent, the endpoints weighed, and each tag's share in ten-thousandths."""
    tags: list[str] = []
    costs: list[int] = []  # exact: amounts at the table's unit
    for row in ranked:
        values = row.__dict__
        if values["price_source"] == "endpoint" and values["status"] in (0, None):
            tags.append(values["tag"])
            units = values.get("_deferred")  # ``cost_units``, inline (every answer weighs ten rows or so)
            exact = units.__class__ is CostUnits and units.scale == scale
            costs.append(units.total if exact else row.cost_units(scale))  # type: ignore[union-attr]
    if not costs:
        return None
    least = min(costs)
    # Exact in integers: with M a common multiple of every c and m_i = M / c_i, the weights 1/c_i² are in the
    # ratio m_i², and Σ c_i·w_i / Σ w_i = M·Σ m_i / Σ m_i² (the least common multiple keeps M smallest).
    if least == 0:
        weights = [1 if c == 0 else 0 for c in costs]
        expected_units = 0
    else:
        common = math.lcm(*costs)
        ratios = [common // c for c in costs]
        weights = list(map(operator.mul, ratios, ratios))
        expected_units = half_even(common * sum(ratios), sum(weights))
    total = sum(weights)
    shares = dict(zip(tags, weights, strict=True))
    if len(shares) < len(tags):  # two endpoints of one tag (``model@tag#2``): OpenRouter routes by tag
        shares = {}
        for tag, weight in zip(tags, weights, strict=True):
            shares[tag] = shares.get(tag, 0) + weight
    saving_units = expected_units - least
    percent = half_even(100 * 100 * saving_units, expected_units) if expected_units else 0
    # ``half_even(10**SHARE_DIGITS * weight, total)`` for every tag, the quotients and remainders made in C: the
    # quotient, plus one above a half, or at a half when it is odd.
    parts = map(divmod, map(_SHARE_UNITS.__mul__, shares.values()), repeat(total))
    spread = {
        tag: quotient + (rest + rest > total or (rest + rest == total and quotient & 1))
        for tag, (quotient, rest) in zip(shares, parts, strict=True)
    }
    return expected_units, saving_units, percent, len(costs), spread


_SHARE_UNITS = 10**SHARE_DIGITS


def default_routing(ranked: list[RankedEndpoint], scale: int) -> DefaultRouting | None:
    """The expected cost of one request under OpenRouter's price-weighted load balancing (``DefaultRouting``).

    Over the ranked endpoints priced on their own listing whose status was ok (0) or unrecorded at ``as_of``:
    the filters the caller set apply to default routing too, and status 0 stands for "no recent outage".
    """
    found = routing_units(ranked, scale)
    if found is None:
        return None
    expected_units, saving_units, percent, endpoints, shares = found
    return DefaultRouting(
        expected_cost_per_request=amount(expected_units, scale),
        saving_per_request=amount(saving_units, scale),
        saving_percent=amount(percent, 2) if expected_units else Decimal(0),
        endpoints=endpoints,
        shares={tag: _share(units) for tag, units in shares.items()},
        weighting=DEFAULT_ROUTING_WEIGHTING,
    )
