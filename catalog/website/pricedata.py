"""The price data embedded in the pages, from which the browser re-ranks endpoints for any workload.

Each endpoint is a list ``[tag, provider name, variants, conds, key, provider slug, context, parameters,
max prompt, max completion, free]`` (``key`` null when it is ``model@tag``; ``parameters`` a hex bit mask over
the data's ``parameters`` list; a limit null when not listed; ``free`` 1 when every price is 0), which
``PriceCost.decode`` turns into objects; slug, context and parameters let the index's filters rank only the
endpoints that pass, as ``EndpointFilters`` does,
and the three limits exclude the endpoints that cannot take the request, as the ranking does. A model's
endpoints are listed in the ranking's order among equal costs (``tie_order``), and the model carries
``inputs``, its input modalities as the ranking reads them (a workload with images needs ``image``). A model
without a ranked endpoint has its list price instead, keyed by the model id. The browser
(``site/static/cost.js``) applies
the engine's formula to it with exact integer arithmetic (BigInt), so a slider gives the same cost, to the
unit, as ``catalog cheapest``. What it needs per endpoint:

* ``variants``: for each set of applying overrides (bit ``j`` = entry ``j``; ``2**k`` of them), the effective
  rate of each term in ``RATE_ORDER`` in USD as ``"<integer>e<exponent>"`` (``"77e-8"`` is 0.00000077: exact,
  and short; the browser turns it into BigInt units of ``10**-scale``), or null when some rate is dynamic
  (the engine gives no price then);
* ``conds``: per override entry, ``[min_prompt_tokens, utc_start, utc_end]`` (minutes of the UTC day; null
  when the entry has no window). An entry applies when the whole prompt reaches its minimum and the page's
  as-of instant (``at_minute``) falls in its window, as in the engine.

The effective rates come from ``catalog.cost.sheets.effective_rates``, so the fallbacks (cache reads at the
prompt rate when none is listed, reasoning at the completion rate) are the engine's own, not a copy.
"""

from __future__ import annotations

import json
import threading
from datetime import datetime
from decimal import Decimal
from typing import Any

from catalog.cost.money import to_units
from catalog.cost.sheets import RATES, PriceTable, SheetVersion, effective_rates, hhmm_minutes, variant_prices
from catalog.cost.workload import REASONING_PARAMETERS, STRUCTURED_PARAMETERS, TOOLS_PARAMETERS
from catalog.money import EXACT
from catalog.website.presets import DEFAULT, INPUT_STEPS, OUTPUT_STEPS, PRESETS

LIST_TAG = "list price"  # the tag of a model's list-price entry (its key is the model id, with no "@")

# The terms a workload profile can reach (audio and image output counts are always 0 in a profile).
RATE_ORDER = tuple(name for name in RATES if name not in ("image_output", "audio_input", "audio_output"))


def rate_text(rate: Decimal, scale: int) -> str:
    """``rate`` as ``"<integer>e<exponent>"``, exactly; the exponent is never below ``-scale``."""
    to_units(rate, scale)  # refuses a rate the page's scale cannot hold exactly
    return exact_text(rate)


def exact_text(value: Decimal) -> str:
    """An exact decimal as ``"<integer>e<exponent>"`` ("988e-4"), the spelling the pages' scripts read."""
    if value == 0:
        return "0"
    sign, digits, exponent = value.normalize(EXACT).as_tuple()
    assert isinstance(exponent, int)
    mantissa = ("-" if sign else "") + "".join(map(str, digits))
    return f"{mantissa}e{exponent}" if exponent else mantissa


def endpoint_entry(
    row: dict[str, Any], version: SheetVersion, scale: int, parameters: dict[str, int] | None = None
) -> list[Any]:
    sheet = version.sheet
    variants, conds, free = _SHEET_PARTS.of(sheet, scale)
    implied = row["endpoint_key"] == f"{row['model_id']}@{row['tag']}"  # else a repeated tag: ``model@tag#2``
    mask = sum(1 << parameters[p] for p in row.get("supported_parameters") or () if parameters and p in parameters)
    return [
        row["tag"],
        row["provider_name"],
        variants,
        conds,
        None if implied else row["endpoint_key"],
        row.get("provider_slug"),
        row.get("context_length"),
        format(mask, "x"),
        row.get("max_prompt_tokens"),
        row.get("max_completion_tokens"),
        free,  # every price 0 (a ``:free`` variant): what --exclude-free leaves out
    ]


def _sheet_parts(sheet: Any, scale: int) -> tuple[list[list[str] | None], list[list[Any]], int]:
    """An entry's ``variants``, ``conds`` and ``free`` (1 when every price is 0): what its sheet alone decides."""
    variants: list[list[str] | None] = []
    for mask in range(2 ** len(sheet.overrides)):
        rates = effective_rates(variant_prices(sheet, mask))
        if any(rates[name] is None for name in RATES):  # the engine's test for a dynamic variant
            variants.append(None)
            continue
        variants.append([rate_text(rates[name] or Decimal(0), scale) for name in RATE_ORDER])
    conds = [
        [
            o.min_prompt_tokens or 0,
            hhmm_minutes(o.utc_start) if o.utc_start is not None and o.utc_end is not None else None,
            hhmm_minutes(o.utc_end) if o.utc_start is not None and o.utc_end is not None else None,
        ]
        for o in sheet.overrides
    ]
    return variants, conds, 1 if sheet.free else 0


class SheetParts:
    """Each sheet's ``variants``, ``conds`` and ``free``, by the sheet's identity (the price table's sheets live as
    long as the table: a build after every sweep meets the same ones, in the index's entries and the movers'
    "then" data). The sheet is held, so its id is never another's; the lists are shared, never changed."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.known: dict[tuple[int, int], tuple[Any, tuple[list[list[str] | None], list[list[Any]], int]]] = {}

    def of(self, sheet: Any, scale: int) -> tuple[list[list[str] | None], list[list[Any]], int]:
        key = (id(sheet), scale)
        found = self.known.get(key)
        if found is None or found[0] is not sheet:
            found = (sheet, _sheet_parts(sheet, scale))
            with self.lock:
                if len(self.known) > 200_000:  # a table replaced many times over: start again
                    self.known.clear()
                self.known[key] = found
        return found[1]


_SHEET_PARTS = SheetParts()


def price_data(models: list[dict[str, Any]], table: PriceTable, at: datetime) -> dict[str, Any]:
    """The embedded data for ``models`` (facts' model dicts): every endpoint a ranking would consider."""
    names = sorted({p for m in models for row in m["endpoints_now"] for p in row["supported_parameters"] or ()})
    index = {name: i for i, name in enumerate(names)}
    return PriceJson(
        {
            "scale": table.scale,
            "at_minute": at.hour * 60 + at.minute,
            "rates": list(RATE_ORDER),
            "input_steps": list(INPUT_STEPS),
            "output_steps": list(OUTPUT_STEPS),
            "default_preset": DEFAULT.name,
            "presets": {
                p.name: {
                    "input": p.profile.input_tokens,
                    "output": p.profile.output_tokens,
                    "cache_hit": int(p.profile.cache_hit * 100),
                    "reasoning": int(p.profile.reasoning * 100),
                }
                for p in PRESETS
            },
            "parameters": names,
            # What a request flag needs among an endpoint's supported parameters (any one of them), in the order the
            # ranking checks them (a list: the page's JSON sorts object keys).
            "needs": [
                ["tools", list(TOOLS_PARAMETERS)],
                ["structured_output", list(STRUCTURED_PARAMETERS)],
                ["reasoning", list(REASONING_PARAMETERS)],
            ],
            "models": [
                {
                    "id": model["model_id"],
                    "inputs": list(model["ranking_inputs"]),
                    "endpoints": _entries(model, table.scale, index),
                }
                for model in models
            ],
        }
    )


def _entries(model: dict[str, Any], scale: int, parameters: dict[str, int]) -> list[list[Any]]:
    """Every endpoint a ranking considers; a model with none ranked gets its list price (``/models``) as one
    entry keyed by the model id, as the index shows it."""
    entries = [
        endpoint_entry(row, version, scale, parameters)
        for row in tie_order(model["endpoints_now"])
        if row["ranked"] and (version := model["sheets"].get(row["endpoint_key"])) is not None
    ]
    if model["list_sheet"] is not None:  # set exactly when the page falls back to the list price
        mid = model["model_id"]
        row = {"endpoint_key": mid, "model_id": mid, "tag": LIST_TAG, "provider_name": LIST_TAG}
        entries.append(endpoint_entry(row, model["list_sheet"], scale))
    return entries


def tie_order(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Endpoints in the ranking's order among equal costs: uptime over the last day (highest first, unknown
    last), then throughput p50 (the same), then the endpoint key; the browser's stable sort by cost keeps it."""

    def key(row: dict[str, Any]) -> tuple[bool, float, bool, float, str]:
        uptime, throughput = row.get("tie_uptime"), row.get("tie_throughput")
        return (uptime is None, -(uptime or 0.0), throughput is None, -(throughput or 0.0), row["endpoint_key"])

    return sorted(rows, key=key)


class PriceJson(dict[str, Any]):
    """The price data as pages embed it: read like the dict it is, and spelt for ``tojson`` from each model
    entry's text, made once per build (``ENTRY_TEXTS``), though the index, the compare page and the model's own
    page each embed it."""

    def json_text(self, options: dict[str, Any]) -> str | None:
        """``json.dumps(self, **options)`` for the site's options (``sort_keys``); None for any others."""
        if options != {"sort_keys": True}:
            return None
        parts = []
        for key in sorted(self):
            value = self[key]
            text = "[" + ", ".join(ENTRY_TEXTS.text(m) for m in value) + "]" if key == "models" else None
            parts.append(f"{json.dumps(key)}: {text if text is not None else json.dumps(value, sort_keys=True)}")
        return "{" + ", ".join(parts) + "}"


class EntryTexts:
    """Each model entry's JSON text (keys sorted), by the entry's identity within a build; the entries are
    held, so an id is never another's. ``next_build`` drops the last build's."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.known: dict[int, tuple[dict[str, Any], str]] = {}

    def text(self, entry: dict[str, Any]) -> str:
        found = self.known.get(id(entry))
        if found is None or found[0] is not entry:
            found = (entry, _model_text(entry))
            with self.lock:
                self.known[id(entry)] = found
        return found[1]

    def next_build(self) -> None:
        with self.lock:
            self.known = {}


ENTRY_TEXTS = EntryTexts()


_ENDPOINT_FIELDS = 11  # an endpoint entry's length (``endpoint_entry``)
_MODEL_KEYS = frozenset({"id", "inputs", "endpoints"})


def _model_text(entry: dict[str, Any]) -> str:
    """``json.dumps(entry, sort_keys=True)`` of a model entry, its endpoints spelled by ``entry_text``."""
    if entry.keys() != _MODEL_KEYS or not isinstance(entry["endpoints"], list):
        return json.dumps(entry, sort_keys=True)
    endpoints = ", ".join(map(entry_text, entry["endpoints"]))
    return f'{{"endpoints": [{endpoints}], "id": {json.dumps(entry["id"])}, "inputs": {json.dumps(entry["inputs"])}}}'


def entry_text(entry: list[Any]) -> str:
    """``json.dumps(entry)`` of an endpoint entry (``endpoint_entry``), kept by what it holds: its sheet's
    ``variants`` and ``conds`` (shared per sheet, ``SheetParts``) by identity, the rest by value and type. Each
    build spells every endpoint's entry for the pages and twice more for the movers' "then" data; few change."""
    if len(entry) != _ENDPOINT_FIELDS or type(entry[2]) is not list or type(entry[3]) is not list:
        return json.dumps(entry, sort_keys=True)
    rest = entry[4:]
    try:
        key = (entry[0], entry[1], id(entry[2]), id(entry[3]), *rest, *map(type, entry[:2]), *map(type, rest))
        found = _ENTRY_JSON.get(key)
    except TypeError:  # a value that is no key (a list or dict where a scalar was expected)
        return json.dumps(entry, sort_keys=True)
    if found is None or found[0] is not entry[2] or found[1] is not entry[3]:
        found = (entry[2], entry[3], json.dumps(entry, sort_keys=True))
        with _ENTRY_JSON_LOCK:
            if len(_ENTRY_JSON) > 100_000:  # a service that ran for years: start again rather than grow
                _ENTRY_JSON.clear()
            _ENTRY_JSON[key] = found
    return found[2]


# By an entry's values and its lists' identities (the lists held, so their ids are never another's): its text.
_ENTRY_JSON: dict[tuple[Any, ...], tuple[list[Any], list[Any], str]] = {}
_ENTRY_JSON_LOCK = threading.Lock()
