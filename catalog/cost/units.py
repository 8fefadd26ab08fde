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
4. of those, the lowest USD price (a provider billing text-to-video and image-to-video alike at 1080p is
   ranked at what the cheaper of the two costs; the SKU used is named in the answer).

A unit the endpoint
has no SKU for — but a ``prompt`` price for tokens (embeddings bill tokens there) — leaves it unpriced, with the
reason. Money is ``Decimal`` throughout: count × the SKU's USD price (cents / 100), never a float.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from catalog.errors import InputError
from catalog.openrouter.skus import KINDS, model_kind, normalise_kind

# units a model of this kind produces: an output SKU is preferred for them
PRODUCED = {"second", "song", "image", "megapixel"}


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
    """One endpoint priced: ``total`` (None when a unit has no SKU), the terms and the SKUs used."""

    total: Decimal | None
    terms: dict[str, Decimal] = field(default_factory=dict)
    skus: dict[str, str] = field(default_factory=dict)
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


def _pick(
    candidates: list[SkuPrice], unit: str, wanted: tuple[str, ...], preferred: str | None = None
) -> SkuPrice | None:
    matching = [s for s in candidates if set(wanted) <= s.tokens and s.usd > 0]
    if not matching:
        return None
    preferred = preferred or ("output" if unit in PRODUCED else "input")
    if any(s.billable in (preferred, None) for s in matching):
        matching = [s for s in matching if s.billable in (preferred, None)]
    fewest = min(len(s.tokens - set(wanted)) for s in matching)
    best = [s for s in matching if len(s.tokens - set(wanted)) == fewest]
    return min(best, key=lambda s: (s.usd, s.sku))


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
        chosen = _pick(by_unit.get(unit, []), unit, workload.variant)
        if chosen is not None:
            term = count * chosen.usd
            cost.terms[unit] = term
            cost.skus[unit] = chosen.sku
        elif unit == "token" and prompt_price is not None and prompt_price > 0 and not workload.variant:
            term = count * prompt_price
            cost.terms[unit] = term
            cost.skus[unit] = "pricing.prompt"
        else:
            asked = f" {'/'.join(workload.variant)}" if workload.variant else ""
            return UnitCost(None, reason=f"no{asked} price per {unit}")
        assert cost.total is not None
        cost.total += term
    return cost


def pick(
    skus: Iterable[SkuPrice], unit: str, wanted: tuple[str, ...] = (), preferred: str | None = None
) -> SkuPrice | None:
    """The SKU a count of ``unit`` is priced at (rules 0–4 of the module doc; ``preferred``: the direction,
    ``input`` or ``output``, when the count says which), or None when the endpoint has none."""
    return _pick([s for s in skus if s.unit == unit], unit, wanted, preferred)


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

    Returns (ranked, excluded): ranked entries carry ``rank``, ``cost``, ``terms`` and the ``skus`` used, in
    cost order. Endpoints of exactly equal cost share a rank (1, 1, 1, 4); among them the order is stable and
    documented (``tie_order``). Excluded ones carry the ``reason`` (status not ok, or no SKU for a unit asked
    for). The CLI, the API, ``Catalog.cheapest_units`` and the site all rank through here.
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
            ranked.append(
                (cost.total, tie_order(r), {**entry, "cost": cost.total, "terms": cost.terms, "skus": cost.skus})
            )
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
