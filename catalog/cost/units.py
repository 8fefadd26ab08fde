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
from decimal import Decimal
from typing import Any

from catalog.openrouter.skus import model_kind

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


def _pick(candidates: list[SkuPrice], unit: str, wanted: tuple[str, ...]) -> SkuPrice | None:
    matching = [s for s in candidates if set(wanted) <= s.tokens and s.usd > 0]
    if not matching:
        return None
    preferred = "output" if unit in PRODUCED else "input"
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


def sku_prices(rows: Iterable[Mapping[str, Any]]) -> list[SkuPrice]:
    """``endpoint_skus`` rows (``sku``, ``price_usd``, ``unit``, ``billable``, ``variant``, ``is_price``)."""
    return [
        SkuPrice(r["sku"], r["price_usd"], r["unit"], r["billable"], r["variant"])
        for r in rows
        if r["is_price"] and r["price_usd"] is not None
    ]


def rank_endpoints(
    rows: Iterable[Mapping[str, Any]], workload: UnitWorkload, kind: str
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Rank ``queries.unit_candidates`` rows of models of ``kind`` by the exact cost of ``workload``.

    Returns (ranked, excluded): ranked entries carry ``rank``, ``cost``, ``terms`` and the ``skus`` used, in
    cost order (ties by model and endpoint key, so the order is stable); excluded ones carry the ``reason``
    (status not ok, or no SKU for a unit asked for). The CLI, the API and the site all rank through here.
    """
    ranked: list[dict[str, Any]] = []
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
            ranked.append({**entry, "cost": cost.total, "terms": cost.terms, "skus": cost.skus})
    ranked.sort(key=lambda e: (e["cost"], e["model_id"], e["endpoint_key"]))
    for rank, entry in enumerate(ranked, start=1):
        entry["rank"] = rank
    return ranked, excluded
