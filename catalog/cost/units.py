"""Pricing the models of other kinds in their own units: seconds of video, characters of speech, minutes of
audio, search units, songs, images, megapixels, embedding tokens — exactly, from an endpoint's SKU prices.

A workload is counts by unit (``UnitWorkload``) plus an optional variant (``1080p``, ``multilingual``,
``with_audio`` …). For each unit counted, an endpoint's price SKUs of that unit are the candidates:

0. a SKU listed at 0 is read as "not billed by this unit" (OpenAI lists ``audio_minutes`` 0 beside its token
   prices; Atlas Cloud lists 0 for resolutions it bills under its plain ``duration_seconds``) and is no candidate;
1. an output SKU for units a model produces (seconds, songs, images, megapixels), an input one for the rest,
   when the endpoint has one (else the other direction);
2. those whose variant holds every token asked for (``--resolution 1080p`` keeps ``duration_seconds_1080p`` and
   ``text_to_video_duration_seconds_1080p``); none asked: every candidate;
3. of those, the ones with the fewest other variant tokens (the plain SKU before ``…_with_audio_4k``);
4. of those, the lowest USD price per unit counted (a provider billing text-to-video and image-to-video alike at
   1080p is ranked at what the cheaper of the two costs; the SKU used is named in the answer).

Time is one quantity (``TIME``): a count of seconds, minutes or hours prices a SKU billed in any of them (audio
minutes on Groq's ``groq_stt:audio_hours``, on Alibaba's ``alibaba_stt:audio_seconds``), so a workload never
misses an endpoint only because its provider bills another time unit. A count of the smaller unit on a SKU of
the larger multiplies (1.5 minutes at $0.0001 a second: 1.5 × 60 × 0.0001, exact); on a SKU of the larger unit
it divides: cost = count × price ÷ 60 (or ÷ 3600) computed exactly as a fraction, the division last, then
rounded half to even to ``10**-24`` USD (``MONEY_SCALE``, the finest digit a listed price carries) — the one
rounding of the unit ranking, done alike by ``term`` here and by the site's script (``site/static/units.js``).
Rule 4 compares the SKUs of one endpoint by their exact price per unit counted. Characters and UTF-8 bytes are
not converted (a byte count depends on the text's script) and stay units of their own.

A unit the endpoint
has no SKU for — but a ``prompt`` price for tokens (embeddings bill tokens there) — leaves it unpriced, with the
reason. Money is ``Decimal`` throughout: count × the SKU's USD price (cents / 100), never a float.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from fractions import Fraction
from typing import Any

from catalog.errors import InputError
from catalog.money import EXACT, reduced
from catalog.openrouter.skus import KINDS, model_kind, normalise_kind

# units a model of this kind produces: an output SKU is preferred for them
PRODUCED = {"second", "song", "image", "megapixel"}
# Units of one quantity, in the smallest: a count in one prices a SKU in another (module doc).
TIME = {"second": 1, "minute": 60, "hour": 3600}
# A cost converted to a larger unit (÷ 60, ÷ 3600) is rounded half to even to 10**-MONEY_SCALE USD.
MONEY_SCALE = 24


def same_quantity(unit: str) -> set[str]:
    """The units a count of ``unit`` prices: every time unit for a time unit, else ``unit`` alone."""
    return set(TIME) if unit in TIME else {unit}


def ratio(counted: str, billed: str) -> tuple[int, int]:
    """How many ``billed`` units one ``counted`` unit is, as (numerator, denominator) in lowest terms:
    ``ratio("minute", "hour") == (1, 60)``, ``ratio("minute", "second") == (60, 1)``, ``(1, 1)`` for one unit."""
    if counted == billed or counted not in TIME or billed not in TIME:
        return 1, 1
    share = Fraction(TIME[counted], TIME[billed])
    return share.numerator, share.denominator


def term(count: Decimal, sku: SkuPrice, unit: str) -> Decimal:
    """The cost of ``count`` of ``unit`` at ``sku``'s price per its own unit (module doc: exact, except a
    division by a larger unit, rounded half to even to ``10**-MONEY_SCALE`` USD)."""
    numerator, denominator = ratio(unit, sku.unit or unit)
    if denominator == 1:  # the same unit, or a smaller one (minutes at a price per second): a product, exact
        return EXACT.multiply(EXACT.multiply(count, sku.usd), Decimal(numerator))
    exact = Fraction(count) * Fraction(sku.usd) * numerator * 10**MONEY_SCALE / denominator
    # round(): half to even; from text: exact at any size; reduced: 0.111, not 0.111000000000000000000000
    return reduced(Decimal(f"{round(exact)}e-{MONEY_SCALE}"))


@dataclass(frozen=True)
class UnitWorkload:
    """Counts by unit (``second``, ``character``, ``minute``, ``search``, ``song``, ``image``, ``megapixel``,
    ``token``) and the variant tokens every SKU used must carry."""

    counts: Mapping[str, Decimal]
    variant: tuple[str, ...] = ()


@dataclass(frozen=True)
class SkuPrice:
    """What ``endpoint_skus`` stores of one price SKU."""

    sku: str
    usd: Decimal
    unit: str | None
    billable: str | None
    variant: str | None

    @property
    def tokens(self) -> set[str]:
        return {t for t in (self.variant or "").split(",") if t}


@dataclass
class UnitCost:
    """One endpoint priced: ``total`` (None when a unit has no SKU), the terms and the SKUs used; ``rates``: per
    unit counted, the SKU, its USD price and the unit it is per (``hour`` for minutes priced per hour)."""

    total: Decimal | None
    terms: dict[str, Decimal] = field(default_factory=dict)
    skus: dict[str, str] = field(default_factory=dict)
    rates: dict[str, dict[str, Any]] = field(default_factory=dict)
    reason: str | None = None


# The counts a non-text workload is asked in (CLI ``--seconds``, API ``seconds=``) and the unit each counts.
UNIT_COUNTS: dict[str, str] = {
    "seconds": "second",
    "characters": "character",
    "minutes": "minute",
    "searches": "search",
    "songs": "song",
    "megapixels": "megapixel",
}
# Counts of the token workload read in the kinds they mean something to: embeddings bill input tokens, image
# models bill the images they make.
TOKEN_COUNTS: dict[str, tuple[str, str]] = {"embeddings": ("input", "token"), "image": ("images", "image")}
WORKLOAD_NAMES = (*UNIT_COUNTS, "resolution", "variant")


class WorkloadError(InputError):
    """A non-text workload that cannot be priced as asked; ``parameter`` names the one to fix (no dashes)."""

    def __init__(self, parameter: str, message: str) -> None:
        super().__init__(message)
        self.parameter = parameter


def unit_workload(
    kind: str | None,
    counts: Mapping[str, Decimal | None],
    resolution: str | None = None,
    variant: str | None = None,
    token_counts: Mapping[str, Any] | None = None,
) -> tuple[str, UnitWorkload]:
    """The kind (normalised) and workload a request names: ``counts`` by ``UNIT_COUNTS`` name, ``token_counts``
    the token workload's ``input`` / ``images`` (read for embeddings / image models). The CLI, the API and
    ``Catalog.cheapest_units`` read a request through here, so they refuse the same things the same way."""
    wanted = normalise_kind(kind) if kind is not None else None
    if wanted is None or wanted == "text":
        known = ", ".join(k for k in KINDS if k != "text")
        raise WorkloadError(
            "kind", f"{kind!r} is not a kind priced in its own units; use one of {known} (text models: leave kind out)"
        )
    units: dict[str, Decimal] = {}
    for name, count in counts.items():
        if name not in UNIT_COUNTS:
            raise WorkloadError(name, f"{name!r} is not a count of a unit; use one of {', '.join(UNIT_COUNTS)}")
        if count is None:
            continue
        if not isinstance(count, Decimal) or not count.is_finite() or count < 0:
            raise WorkloadError(name, f"{name} {count!r} is not a count; give a number of at least 0, e.g. 8 or 2.5")
        units[UNIT_COUNTS[name]] = count
    if wanted in TOKEN_COUNTS and token_counts:
        name, unit = TOKEN_COUNTS[wanted]
        if token_counts.get(name):
            units.setdefault(unit, Decimal(int(token_counts[name])))
    if not units:
        raise WorkloadError(
            "kind",
            "say what to price: seconds, characters, minutes, searches, songs, images, megapixels "
            "(embeddings: input tokens)",
        )
    tokens = tuple(t.strip().lower() for t in (resolution, variant) if t and t.strip())
    return wanted, UnitWorkload(units, tokens)


def _per_counted(sku: SkuPrice, unit: str) -> Fraction:
    """The SKU's exact price per one ``unit`` counted (rule 4 compares these)."""
    numerator, denominator = ratio(unit, sku.unit or unit)
    return Fraction(sku.usd) * numerator / denominator


def _pick(
    candidates: list[SkuPrice], unit: str, wanted: tuple[str, ...], preferred: str | None = None
) -> SkuPrice | None:
    """``candidates``: the endpoint's SKUs of ``unit``'s quantity (``same_quantity``)."""
    matching = [s for s in candidates if set(wanted) <= s.tokens and s.usd > 0]
    if not matching:
        return None
    preferred = preferred or ("output" if unit in PRODUCED else "input")
    if any(s.billable in (preferred, None) for s in matching):
        matching = [s for s in matching if s.billable in (preferred, None)]
    fewest = min(len(s.tokens - set(wanted)) for s in matching)
    best = [s for s in matching if len(s.tokens - set(wanted)) == fewest]
    return min(best, key=lambda s: (_per_counted(s, unit), s.sku))


def price(skus: Iterable[SkuPrice], workload: UnitWorkload, prompt_price: Decimal | None = None) -> UnitCost:
    """The exact cost of ``workload`` on an endpoint with these price SKUs (and v1 ``prompt`` price)."""
    by_unit: dict[str, list[SkuPrice]] = {}
    for sku in skus:
        if sku.unit is not None:
            by_unit.setdefault(sku.unit, []).append(sku)
    cost = UnitCost(Decimal(0))
    for unit, count in workload.counts.items():
        if count == 0:
            continue
        offered = [s for u in sorted(same_quantity(unit)) for s in by_unit.get(u, [])]
        chosen = _pick(offered, unit, workload.variant)
        if chosen is not None:
            amount = term(count, chosen, unit)
            cost.terms[unit] = amount
            cost.skus[unit] = chosen.sku
            cost.rates[unit] = {"sku": chosen.sku, "usd": chosen.usd, "per": chosen.unit or unit}
        elif unit == "token" and prompt_price is not None and prompt_price > 0 and not workload.variant:
            amount = count * prompt_price
            cost.terms[unit] = amount
            cost.skus[unit] = "pricing.prompt"
            cost.rates[unit] = {"sku": "pricing.prompt", "usd": prompt_price, "per": "token"}
        else:
            asked = f" {'/'.join(workload.variant)}" if workload.variant else ""
            return UnitCost(None, reason=f"no{asked} price per {unit}")
        assert cost.total is not None
        cost.total += amount
    return cost


def pick(
    skus: Iterable[SkuPrice], unit: str, wanted: tuple[str, ...] = (), preferred: str | None = None
) -> SkuPrice | None:
    """The SKU a count of ``unit`` is priced at (rules 0–4 of the module doc, any unit of its quantity;
    ``preferred``: the direction, ``input`` or ``output``, when the count says which), or None when the endpoint
    has none. Its cost: ``term``."""
    units = same_quantity(unit)
    return _pick([s for s in skus if s.unit in units], unit, wanted, preferred)


def sku_prices(rows: Iterable[Mapping[str, Any]]) -> list[SkuPrice]:
    """``endpoint_skus`` rows (``sku``, ``price_usd``, ``unit``, ``billable``, ``variant``, ``is_price``)."""
    return [
        SkuPrice(r["sku"], r["price_usd"], r["unit"], r["billable"], r["variant"])
        for r in rows
        if r["is_price"] and r["price_usd"] is not None
    ]


def tie_order(row: Mapping[str, Any]) -> tuple[Any, ...]:
    """The documented order among equal costs, as the token ranking's (``catalog.cost.profile.tie_order``):
    uptime over the last day descending, throughput p50 descending (missing last), then model and endpoint key."""
    uptime, throughput = row.get("uptime_last_1d"), row.get("throughput_p50")
    return (
        (True, 0.0) if uptime is None else (False, -uptime),
        (True, 0.0) if throughput is None else (False, -throughput),
        row["model_id"],
        row["endpoint_key"],
    )


def rank_endpoints(
    rows: Iterable[Mapping[str, Any]], workload: UnitWorkload, kind: str
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Rank ``queries.unit_candidates`` rows of models of ``kind`` by the exact cost of ``workload``.

    Returns (ranked, excluded): ranked entries carry ``rank``, ``cost``, ``terms``, the ``skus`` used and their
    ``rates`` (price and the unit it is per), in cost order. Endpoints of exactly equal cost share a rank
    (1, 1, 1, 4); among them the order is stable and documented (``tie_order``). Excluded ones carry the
    ``reason`` (status not ok, or no SKU for a unit asked for). The CLI, the API, ``Catalog.cheapest_units``
    and the site all rank through here.
    """
    ranked: list[tuple[Decimal, tuple[Any, ...], dict[str, Any]]] = []
    excluded: list[dict[str, Any]] = []
    for r in rows:
        if model_kind(r["output_modalities"]) != kind:
            continue
        entry = {"model_id": r["model_id"], "endpoint_key": r["endpoint_key"], "tag": r["tag"], "status": r["status"]}
        if r["status"] not in (0, None):
            excluded.append({**entry, "reason": f"status {r['status']} (not ok)"})
            continue
        cost = price(sku_prices(r["skus"] or []), workload, r["price_prompt"])
        if cost.total is None:
            excluded.append({**entry, "reason": cost.reason})
        else:
            priced = {**entry, "cost": cost.total, "terms": cost.terms, "skus": cost.skus, "rates": cost.rates}
            ranked.append((cost.total, tie_order(r), priced))
    ranked.sort(key=lambda item: (item[0], item[1]))
    out: list[dict[str, Any]] = []
    rank = 0
    previous: Decimal | None = None
    for position, (total, _, entry) in enumerate(ranked, start=1):
        if total != previous:  # Decimal equality is exact: 0.30 == 0.3, a tie
            rank, previous = position, total
        out.append({"rank": rank, **entry})
    return out, excluded


@dataclass
class UnitRanking:
    """The answer to "which endpoint is cheapest for this workload of another kind": the ranking, the
    exclusions, the workload asked, and (``data``) the snapshot it comes from and the history's age."""

    at: datetime
    kind: str
    model: str | None
    workload: UnitWorkload
    ranked: list[dict[str, Any]]
    excluded: list[dict[str, Any]]
    data: Any | None = None  # ``catalog.freshness.DataAge``, filled in by the faces

    @property
    def ties(self) -> int:
        """How many endpoints share the first rank."""
        return sum(1 for e in self.ranked if e["rank"] == 1)

    def to_dict(self) -> dict[str, Any]:
        """Plain data; money stays ``Decimal`` until ``catalog.exact_json.jsonable`` spells it exactly."""
        data = to_dict() if (to_dict := getattr(self.data, "to_dict", None)) else self.data
        return {
            "as_of": self.at.isoformat().replace("+00:00", "Z"),
            "kind": self.kind,
            "model": self.model,
            "workload": {"counts": dict(self.workload.counts), "variant": list(self.workload.variant)},
            "ranked": self.ranked,
            "ties": self.ties,
            "excluded": self.excluded,
            "data": data,
        }
