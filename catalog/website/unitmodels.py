"""The site's pages of the models priced in their own units (video, speech, transcription, embeddings, image,
rerank, music): what each page and the index show, ranked by ``catalog.cost.units.rank_endpoints`` over
``queries.unit_candidates``, the same code as ``catalog cheapest --kind``.

A model of another kind than text (no text output: a model with a text output keeps its token page) gets a
default workload in its kind's unit (``DEFAULTS``): 8 seconds of video, 1,000,000 tokens to embed, 50,000
characters of speech, 60 minutes of audio to transcribe, 1 image, 1,000 rerank searches, 1 song. Minutes of
audio price every endpoint billing time, per second, minute or hour alike (``catalog.cost.units.TIME``); a kind
billed in units that do not convert (speech by the character or the UTF-8 byte; images per image or per
megapixel) uses, per model, the unit most of its endpoints list a price in, with the same amount. A video model
is priced at the resolution most of its endpoints list (the lowest among equals); the page offers every variant
its SKUs name.

The page's script (``site/static/units.js``) re-ranks for any count: the SKU an endpoint is priced by depends on
the unit and the variant alone (``catalog.cost.units``: its rules never read the count), so the build names it
per endpoint and variant (``unit_data``) with its exact price in its own unit and the ratio of the units
(1/60: minutes on a price per hour), and the browser computes the cost with BigInt as ``units.term`` does with
``Decimal`` — count × price × numerator ÷ denominator, the division last, rounded half to even to 10⁻²⁴ USD when
it divides — and orders equal costs as ``units.tie_order`` does (uptime, throughput, endpoint key).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from catalog.cost.units import MONEY_SCALE, UnitWorkload, price, rank_endpoints, ratio, same_quantity, sku_prices
from catalog.endpoint_status import status_text
from catalog.money import canonical, significant
from catalog.openrouter.skus import model_kind
from catalog.website.pricedata import exact_text


@dataclass(frozen=True)
class Unit:
    one: str  # "second"
    many: str  # "seconds"
    short: str  # what a price is per, in the pages: "s", "M characters"
    per: int  # a price is shown per this many units (1,000,000 for tokens, characters and bytes)


UNITS = {
    "second": Unit("second", "seconds", "s", 1),
    "minute": Unit("minute", "minutes", "min", 1),
    "hour": Unit("hour", "hours", "h", 1),
    "character": Unit("character", "characters", "M characters", 1_000_000),
    "byte": Unit("byte", "bytes", "M bytes", 1_000_000),
    "token": Unit("token", "tokens", "M tokens", 1_000_000),
    "search": Unit("search", "searches", "search", 1),
    "song": Unit("song", "songs", "song", 1),
    "image": Unit("image", "images", "image", 1),
    "megapixel": Unit("megapixel", "megapixels", "megapixel", 1),
}


@dataclass(frozen=True)
class KindDefault:
    """A kind's default workload: the units its models bill by with the same amount in each, in preference order,
    and what the amount is of."""

    units: tuple[tuple[str, int], ...]
    of: str  # "of video": "8 seconds of video"


DEFAULTS = {
    "video": KindDefault((("second", 8),), "of video"),
    "embeddings": KindDefault((("token", 1_000_000),), "to embed"),
    "speech": KindDefault((("character", 50_000), ("byte", 50_000)), "of text to speak"),
    "transcription": KindDefault((("minute", 60),), "of audio to transcribe"),  # prices seconds and hours too
    "image": KindDefault((("image", 1), ("megapixel", 1)), "generated"),
    "rerank": KindDefault((("search", 1_000),), "(search units)"),
    "audio": KindDefault((("song", 1),), "generated"),
}
KIND_LABELS = {
    "text": "text",
    "image": "image",
    "embeddings": "embeddings",
    "video": "video",
    "speech": "speech",
    "transcription": "transcription",
    "rerank": "rerank",
    "audio": "music / audio",
}
_RESOLUTION = re.compile(r"^(\d+)(p|k)$")


def unit_model(output_modalities: Iterable[str] | None) -> bool:
    """Whether a model is priced in its own units on the site: a kind other than text, and no text output
    (an image+text or text+audio model bills tokens: it keeps its token page)."""
    outputs = set(output_modalities or ())
    return model_kind(outputs) != "text" and "text" not in outputs and bool(outputs)


def _variant_key(token: str) -> tuple[int, int, str]:
    """Resolutions first, lowest first (``480p`` < ``1080p`` < ``2k`` < ``4k``), then the other tokens."""
    found = _RESOLUTION.match(token)
    if found:
        number = int(found.group(1))
        return 0, number * 1000 if found.group(2) == "k" else number, token
    return 1, 0, token


def _priced(row: dict[str, Any], unit: str) -> list[Any]:
    """The endpoint's SKUs a count of ``unit`` may be priced at: listed above 0 in a unit of its quantity."""
    units = same_quantity(unit)
    return [s for s in sku_prices(row["skus"] or []) if s.unit in units and s.usd > 0]


def choose_unit(kind: str, rows: list[dict[str, Any]]) -> tuple[str, int]:
    """The unit (and the default amount in it) most of the model's endpoints list a price in; the kind's first
    unit among equals, and when none does."""
    options = DEFAULTS[kind].units
    listed = {
        u: sum(1 for r in rows if _priced(r, u) or (u == "token" and (r["price_prompt"] or 0) > 0)) for u, _ in options
    }
    best = max(listed.values())
    return next((u, n) for u, n in options if listed[u] == best)


def variants(rows: list[dict[str, Any]], unit: str) -> tuple[list[str], str]:
    """The variants the page offers (``""``: none asked, then every token the priced SKUs of ``unit`` name) and
    the default: the resolution most endpoints list a price at (the lowest among equals), else none."""
    seen: Counter[str] = Counter()
    for row in rows:
        seen.update({t for s in _priced(row, unit) for t in s.tokens})
    tokens = sorted(seen, key=_variant_key)
    resolutions = [t for t in tokens if _RESOLUTION.match(t)]
    default = max(resolutions, key=lambda t: (seen[t], -resolutions.index(t))) if resolutions else ""
    return ["", *tokens], default


def price_text(value: Decimal) -> str:
    """An exact USD amount as ``"<integer>e<exponent>"`` ("988e-4"), as the text pages' price data spells rates."""
    return exact_text(value)


def _dollars(value: Decimal) -> str:
    """As the site's ``usd`` filter spells an amount: 4 significant digits."""
    return "$" + canonical(significant(value, 4))


def per_unit(value: Decimal, unit: str) -> str:
    """A SKU's price for reading: "$0.0988/s", "$7/M characters"."""
    u = UNITS.get(unit)
    if u is None:
        return f"{_dollars(value)}/{unit}"
    return f"{_dollars(value * u.per)}/{u.short}"


def amount_text(count: int | Decimal, unit: str) -> str:
    u = UNITS.get(unit)
    words = (u.one, u.many) if u else (unit, unit)
    number = f"{count:,}" if isinstance(count, int) else canonical(count)
    return f"{number} {words[0] if count == 1 else words[1]}"


def _picks(rows: list[dict[str, Any]], unit: str, variant: str, kind: str) -> list[list[Any]]:
    """Per endpoint: ``[key, tag, provider, sku, price, price for reading, [numerator, denominator], uptime,
    throughput]`` — the SKU a count of ``unit`` at ``variant`` is priced by, its exact price per its own unit,
    how many of that unit one ``unit`` is (``units.ratio``: ``[1, 60]`` for minutes on a price per hour) and
    the tie order's figures (``units.tie_order``) — or ``[key, tag, provider, None, reason]``; endpoints whose
    status is not ok are left out (``unit_data``'s ``excluded``)."""
    out: list[list[Any]] = []
    for r in rows:
        if r["status"] not in (0, None):
            continue
        cost = price(
            sku_prices(r["skus"] or []),
            UnitWorkload({unit: Decimal(1)}, (variant,) if variant else ()),
            r["price_prompt"],
        )
        head = [r["endpoint_key"], r["tag"], r["provider_name"] or r["tag"]]
        if cost.total is None:
            out.append([*head, None, _instead(r, kind, unit, cost.reason or "")])
        else:
            rate = cost.rates[unit]
            out.append(
                [
                    *head,
                    rate["sku"],
                    price_text(rate["usd"]),
                    per_unit(rate["usd"], rate["per"]),
                    list(ratio(unit, rate["per"])),
                    r.get("uptime_last_1d"),
                    r.get("throughput_p50"),
                ]
            )
    return out


def _instead(row: dict[str, Any], kind: str, unit: str, reason: str) -> str:
    """Why an endpoint is not ranked, with what it lists instead in the kind's other units ("no price per minute;
    it lists $0.111/h"): the ranking prices a count in its own unit only (``catalog.cost.units``)."""
    others = [
        s
        for u, _n in DEFAULTS[kind].units
        if u not in same_quantity(unit)
        for s in sku_prices(row["skus"] or [])
        if s.unit == u and s.usd > 0
    ]
    if not others:
        return reason
    listed = ", ".join(sorted({per_unit(s.usd, s.unit or "") for s in others}))
    return f"{reason}; it lists {listed}"


def gather_unit_models(
    models: list[dict[str, Any]], candidates: list[dict[str, Any]], endpoints: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """The unit models' page values: ``models`` (``queries.models_as_of`` rows), ``candidates``
    (``queries.unit_candidates`` at the same instant), ``endpoints`` (``queries.endpoints_in_force``: slugs)."""
    by_model: dict[str, list[dict[str, Any]]] = {}
    for row in candidates:
        by_model.setdefault(row["model_id"], []).append(row)
    slugs = {r["endpoint_key"]: r for r in endpoints}
    out = []
    for model in models:
        if not unit_model(model["output_modalities"]):
            continue
        kind = model_kind(model["output_modalities"])
        rows = by_model.get(model["model_id"], [])
        unit, count = choose_unit(kind, rows) if rows else (DEFAULTS[kind].units[0])
        offered, variant = variants(rows, unit)
        workload = UnitWorkload({unit: Decimal(count)}, (variant,) if variant else ())
        ranked, excluded = rank_endpoints(rows, workload, kind)
        for entry in excluded:  # the status in words (issue 18: never a bare code)
            if entry["reason"].startswith("status "):
                entry["reason"] = f"status {status_text(entry['status'])}"
        picks = {v: _picks(rows, unit, v, kind) for v in offered}
        by_key = {p[0]: p for p in picks[variant]}
        for entry in excluded:  # the page's reason: the prices it lists instead (the same text as units.js shows)
            if entry["endpoint_key"] in by_key and by_key[entry["endpoint_key"]][3] is None:
                entry["reason"] = by_key[entry["endpoint_key"]][4]
        for entry in ranked:  # equal costs share a rank, as on every page of the site (1, 1, 3)
            entry["shown_rank"] = 1 + sum(1 for other in ranked if other["cost"] < entry["cost"])
            pick = by_key[entry["endpoint_key"]]
            entry["sku"], entry["per_unit"], entry["provider_name"] = pick[3], pick[5], pick[2]
            entry["sku_price"], entry["sku_unit"] = Decimal(pick[4]), entry["rates"][unit]["per"]
        endpoint_rows = []
        for r in rows:
            found = slugs.get(r["endpoint_key"], {})
            endpoint_rows.append(
                {
                    "endpoint_key": r["endpoint_key"],
                    "tag": r["tag"],
                    "provider_name": r["provider_name"],
                    "provider_slug": found.get("provider_slug"),
                    "quantization": found.get("quantization"),
                    "status": r["status"],
                    "skus": [{**s, "shown": _shown(s)} for s in sorted(r["skus"] or [], key=lambda s: s["sku"])],
                }
            )
        out.append(
            {
                **model,
                "kind": kind,
                "unit": unit,
                "count": count,
                "variant": variant,
                "variants": offered,
                "workload": _describe(kind, unit, count, variant),
                "ranked": ranked,
                "excluded": excluded,
                "endpoints_now": endpoint_rows,
                "providers_count": len({r["provider_name"] for r in rows}),
                "provider_slugs": sorted({e["provider_slug"] for e in endpoint_rows if e["provider_slug"]}),
                "free": _free(rows),
                "unit_data": {
                    "kind": kind,
                    "unit": unit,
                    "one": UNITS[unit].one if unit in UNITS else unit,
                    "many": UNITS[unit].many if unit in UNITS else unit,
                    "count": count,
                    "variant": variant,
                    "of": DEFAULTS[kind].of,
                    "scale": MONEY_SCALE,  # a cost that divides (minutes on a price per hour) is rounded here
                    "options": picks,
                    "excluded": [
                        [e["endpoint_key"], e["tag"], e["reason"]] for e in excluded if e["status"] not in (0, None)
                    ],
                },
            }
        )
    return out


def _shown(sku: dict[str, Any]) -> str:
    """A listed SKU price for reading, in its unit ("$0.17/s"); a unit the name does not tell: "$0.5 each"."""
    value = sku["price_usd"]
    if value is None:
        return ""
    if value == 0:  # the ranking reads it as "not billed by this unit" (catalog.cost.units), never as free use
        return "listed as 0"
    return per_unit(value, sku["unit"]) if sku["unit"] else f"{_dollars(value)} each"


def _free(rows: list[dict[str, Any]]) -> bool:
    """Every endpoint lists prices and every one is 0 (a ``:free`` variant): what "exclude free" leaves out."""
    prices = [s["price_usd"] for r in rows for s in r["skus"] or [] if s["is_price"] and s["price_usd"] is not None]
    return bool(prices) and not any(prices) and not any((r["price_prompt"] or 0) > 0 for r in rows)


def _describe(kind: str, unit: str, count: int, variant: str) -> str:
    """The workload in words: "8 seconds of video at 720p"."""
    text = f"{amount_text(count, unit)} {DEFAULTS[kind].of}"
    return f"{text} at {variant}" if variant else text


def kind_label(kind: str) -> str:
    return KIND_LABELS.get(kind, kind)


def unit_page(model: dict[str, Any], provider_slugs: set[str]) -> dict[str, Any]:
    """The values ``unit_model.html`` is rendered from (nothing of the build's instant: an entity page)."""
    return {
        "model": model,
        "unit": UNITS.get(model["unit"], Unit(model["unit"], model["unit"], model["unit"], 1)),
        "of": DEFAULTS[model["kind"]].of,
        "kind_label": kind_label(model["kind"]),
        "provider_slugs": sorted({e["provider_slug"] for e in model["endpoints_now"]} & provider_slugs),
    }


def mark_unit_rows(rows: list[dict[str, Any]], unit_ids: frozenset[str]) -> list[dict[str, Any]]:
    """``rows`` (change rows, or a provider page's endpoint rows) with each row of a unit model replaced by a copy
    marked ``in_units``: they carry the endpoint's v1 prompt and completion prices, "0" for most, which the pages
    must not show as a price of $0 (an embeddings model's per-token prompt price is its real price, and is
    shown). Copies, never the rows given: the site carries change rows from build to build and knows what it made
    of one by the row itself (``catalog.website.build._PerChange``), so a row marked in place would keep the text
    it had before its model became (or stopped being) a unit model. The list itself when no row is marked."""
    if not unit_ids or not any(row["model_id"] in unit_ids for row in rows):
        return rows
    return [{**row, "in_units": True} if row["model_id"] in unit_ids else row for row in rows]
