"""A ranking's JSON bytes for the API, written straight from its integers and from per-endpoint pieces kept
across requests: the same bytes as encoding ``Ranking.to_dict()`` (without ``data``) the general way.

An uncached ``/v1/cheapest`` answer spent most of its time building a dictionary of 25 fields per ranked row
and spelling every amount through a ``Decimal``. Here:

* the fields of a row that do not depend on the workload (ids, names, limits, telemetry, the sheet's discount
  and ``valid_from``) are encoded once per candidate endpoint (``_pieces``, kept while the index that made the
  row keeps its ``fixed`` dictionary alive) and spliced around the amounts;
* the amounts are spelt from the exact integers the index priced the row with (``CostUnits``), as
  ``catalog.money.units_text`` spells them (``canonical`` of the same amount, without a ``Decimal``);
* default routing is priced in integers (``catalog.cost.profile.routing_units``) and spelt the same way.

A ranking whose rows were not made by the index (the batch engine's, or one whose rows were read and changed)
is not spelt here: ``encode_ranking`` returns None and the caller encodes ``to_dict()`` as before. Tests compare
the two encodings byte for byte.
"""

from __future__ import annotations

import functools
import operator
import threading
from dataclasses import fields
from datetime import datetime
from decimal import Decimal
from itertools import compress
from typing import Any

import orjson

from catalog.cost.profile import (
    DEFAULT_ROUTING_WEIGHTING,
    SHARE_DIGITS,
    CostUnits,
    Ranking,
    routing_units,
)
from catalog.cost.workload import EndpointFilters, WorkloadProfile
from catalog.money import canonical, units_text
from catalog.times import iso

_second = operator.itemgetter(1)
_HEAD = ("model_id", "tag", "endpoint_key", "provider", "provider_name", "quantization", "context_length")
_TAIL = ("price_valid_from", "status", "uptime_last_1d", "max_prompt_tokens", "max_completion_tokens",
         "latency_p50", "throughput_p50", "price_source")  # fmt: skip
_PIECES_KEPT = 16384  # candidates' pieces kept (the 8 indexes a state keeps have about a thousand each)
_FILTERS_KEPT = 1024  # filters objects whose JSON is kept (a server sees few distinct ones)

# Per candidate (its ``fixed`` dictionary, by identity): the JSON text before the amounts, the discount, and
# after the terms. The dictionary is kept beside its pieces, so its id cannot be reused while they are.
_pieces_of: dict[int, tuple[dict[str, Any], str, str, str]] = {}
_pieces_lock = threading.Lock()
_tags: dict[str, str] = {}
_filters_of: dict[int, tuple[EndpointFilters, str]] = {}  # by identity, the object kept beside its text


def orjson_default(value: Any) -> Any:
    """``orjson.dumps``'s ``default`` spelling a Decimal as its canonical string and a datetime as ISO-8601 UTC
    (with ``OPT_PASSTHROUGH_DATETIME``): the API's one-pass encoder (``catalog.api.deps.encode``) uses it too."""
    if isinstance(value, Decimal):
        return canonical(value)
    if isinstance(value, datetime):
        return iso(value)
    raise TypeError(f"{type(value).__name__} is not JSON")


def _json(value: Any) -> str:
    """``value``'s JSON as the API's one-pass encoder writes it (``catalog.api.deps.encode``), as text."""
    return orjson.dumps(value, default=orjson_default, option=orjson.OPT_PASSTHROUGH_DATETIME).decode()


def _members(fixed: dict[str, Any], names: tuple[str, ...]) -> str:
    return _json({name: fixed[name] for name in names})[1:-1]


def _pieces(fixed: dict[str, Any]) -> tuple[dict[str, Any], str, str, str]:
    found = _pieces_of.get(id(fixed))
    if found is not None and found[0] is fixed:
        return found
    made = (fixed, _members(fixed, _HEAD), _json(fixed["discount"]), _members(fixed, _TAIL))
    with _pieces_lock:
        if len(_pieces_of) >= _PIECES_KEPT:
            _pieces_of.clear()  # pieces of indexes long replaced: start over rather than track their age
        _pieces_of[id(fixed)] = made
    return made


def _filters(filters: EndpointFilters) -> str:
    """The filters' JSON: one text per filters object (``build_query`` shares one among equal queries)."""
    found = _filters_of.get(id(filters))
    if found is None or found[0] is not filters:
        found = (filters, _json(filters.to_dict()))
        with _pieces_lock:
            if len(_filters_of) >= _FILTERS_KEPT:
                _filters_of.clear()
            _filters_of[id(filters)] = found
    return found[1]


_PROFILE_FIELDS = tuple(f.name for f in fields(WorkloadProfile))
assert _PROFILE_FIELDS[:2] == ("input_tokens", "output_tokens"), "the counts lead the profile's JSON"
_profiles_of: dict[tuple[Any, ...], str] = {}


def _profile(profile: WorkloadProfile) -> str:
    """``profile.to_dict()``'s JSON: its token counts, then the rest's text, kept per distinct rest (a program
    varies its counts, not its shares; a share by its text: ``0.8`` and ``0.80`` are written apart)."""
    values = profile.__dict__
    key = tuple([str(v) if v.__class__ is Decimal else v for v in map(values.__getitem__, _PROFILE_FIELDS[2:])])
    rest = _profiles_of.get(key)
    if rest is None:
        rest = _json(profile.to_dict())[1:-1].split(",", 2)[2]
        with _pieces_lock:
            if len(_profiles_of) >= _FILTERS_KEPT:
                _profiles_of.clear()
            _profiles_of[key] = rest
    return f'{{"input_tokens":{values["input_tokens"]},"output_tokens":{values["output_tokens"]},{rest}}}'


def _tag(tag: str) -> str:
    """A tag's JSON string (the tags of every index are a few thousand: kept once written)."""
    text = _tags.get(tag)
    if text is None:
        if len(_tags) >= _PIECES_KEPT:
            _tags.clear()
        text = _tags[tag] = _json(tag)
    return text


@functools.cache
def _share(units: int) -> str:
    """A default-routing share of ``units`` ten-thousandths (at most 10,001 of them)."""
    return units_text(units, SHARE_DIGITS)


# ``round(k / 10**4, 4)`` for every share a term can have, as its JSON (the float's shortest text).
_SHARES = [orjson.dumps(k / 10**4).decode() for k in range(10**4 + 1)]


# How near a half of a ten-thousandth a share may be and still be rounded from its float times 10**4 (``_share_json``).
_NEAR_HALF = 1e-9


def _share_json(part: int, total: int) -> str:
    """``round(part / total, 4)`` as JSON (``CostUnits.shares``), for ``0 <= part <= total``, ``total > 0``.

    ``round`` rounds the float ``f = part / total`` (correctly rounded from the integers) half-even to four
    places. ``f * 10**4`` in floats is within 2**-39 of the exact ``f·10**4`` (it is below 2**14): where that
    product is further than ``_NEAR_HALF`` from a half, its whole part, plus one above the half, is the rounded
    share, and ``_SHARES`` holds its float's text. Nearer (an exact half among them), ``round`` decides. A few
    float operations instead of six on integers of seventy bits and more."""
    scaled = part / total * 10_000.0
    whole = int(scaled)
    gap = scaled - whole - 0.5
    if gap > _NEAR_HALF or gap < -_NEAR_HALF:
        return _SHARES[whole + 1 if gap > 0 else whole]
    return orjson.dumps(round(part / total, 4)).decode()


# Per scale (1 to 63): the %-format writing units of ``10**-scale`` as whole part, point and every fraction digit,
# and ``10**scale``. ``(format % divmod(units, power)).rstrip("0").rstrip(".")`` is ``units_text(units, scale)``
# for ``units >= 0``: the trailing zeros of the fraction go, then the point if nothing is left after it (a whole
# amount; 0 is "0"). Three calls into C instead of a dozen Python steps: an answer spells about fifty amounts.
_FORMATS = [("", 1)] + [(f"%d.%0{k}d", 10**k) for k in range(1, 64)]
_PER_M = _FORMATS[12][0]  # a cost per million tokens has 12 decimals


def _spell(units: int, scale: int) -> str:
    """``units_text(units, scale)``, by the scale's format where it has one (see ``_FORMATS``)."""
    if units >= 0 and 0 < scale < 64:
        form, power = _FORMATS[scale]
        text: str = (form % divmod(units, power)).rstrip("0").rstrip(".")
        return text
    return units_text(units, scale)


_PLACES = range(64)  # a term's place in ``CostUnits.parts`` (a price table has ten terms)


def _amounts(units: CostUnits) -> tuple[str, str]:
    """A ranked row's JSON members that depend on the workload, spelt as ``CostUnits.texts``: from
    ``cost_per_request`` to ``saving_per_request``, and ``terms`` with ``term_shares``.

    Ten rows an answer, each spelling six to ten amounts: written with as few Python steps as it takes (the
    tuple unpacked once, amounts by the scale's format (``_spell``, inline), the non-zero terms picked and ordered
    in C, each term's share inline)."""
    total, base, parts, names, scale, tokens, requests = units
    if not 0 < scale < 64 or total < 0 or (base is not None and base < total) or min(parts) < 0:
        return _amounts_spelt(units)  # none of these in a price table today: the general spelling
    if len(parts) > min(len(names), 64):  # a term without a name is not written (``dominant`` pairs them)
        return _amounts_spelt(units)  # none of these in a price table today: the general spelling
    form, power = _FORMATS[scale]
    cost = (form % divmod(total, power)).rstrip("0").rstrip(".")
    if tokens:  # ``per_million_units(total, tokens, scale, spelt=True)``, inline
        whole = tokens * power
        per_m, rest = divmod(total * 10**18, whole)
        rest += rest
        if rest > whole or (rest == whole and per_m & 1):
            per_m += 1
        per_m_text = f'"{(_PER_M % divmod(per_m, 10**12)).rstrip("0").rstrip(".")}"'
    else:
        per_m_text = "null"
    workload = cost if requests == 1 else (form % divmod(total * requests, power)).rstrip("0").rstrip(".")
    if base is None:
        money = '"base_per_request":null,"saving_per_request":null'
    elif base == total:
        money = f'"base_per_request":"{cost}","saving_per_request":"0"'
    else:
        base_text = (form % divmod(base, power)).rstrip("0").rstrip(".")
        saving_text = (form % divmod(base - total, power)).rstrip("0").rstrip(".")
        money = f'"base_per_request":"{base_text}","saving_per_request":"{saving_text}"'
    terms: list[str] = []
    shares: list[str] = []
    # ``CostUnits.dominant``: the non-zero terms, largest first, equal ones in the engine's order (a stable sort,
    # which ``reverse`` keeps stable); by their places in ``parts``, picked in C (no pair made for a zero term).
    for place in sorted(compress(_PLACES, parts), key=parts.__getitem__, reverse=True):
        name, part = names[place], parts[place]
        # The engine's plain identifiers: nothing in a name needs escaping.
        if part == total:
            terms.append(f'"{name}":"{cost}"')
        else:
            terms.append(f'"{name}":"{(form % divmod(part, power)).rstrip("0").rstrip(".")}"')
        # ``_share_json(part, total)``, inline (three terms a row; ``total`` > 0: it has a part above 0).
        scaled = part / total * 10_000.0
        share = int(scaled)
        gap = scaled - share - 0.5
        if gap > _NEAR_HALF or gap < -_NEAR_HALF:
            shares.append(f'"{name}":{_SHARES[share + 1 if gap > 0 else share]}')
        else:
            shares.append(f'"{name}":{orjson.dumps(round(part / total, 4)).decode()}')
    return (
        f'"cost_per_request":"{cost}","cost_per_million_tokens":{per_m_text},"workload_cost":"{workload}",{money}',
        f'"terms":{{{",".join(terms)}}},"term_shares":{{{",".join(shares)}}}',
    )


def _amounts_spelt(units: CostUnits) -> tuple[str, str]:
    """``_amounts`` of any ``CostUnits`` (a scale without a format, an amount below 0), by ``CostUnits.texts``."""
    texts = units.texts()
    money = orjson.dumps(
        {k: texts[k] for k in ("cost_per_request", "cost_per_million_tokens", "workload_cost")}
        | {"base_per_request": texts["base_per_request"], "saving_per_request": texts["saving_per_request"]}
    ).decode()[1:-1]
    return money, orjson.dumps({"terms": texts["terms"], "term_shares": texts["term_shares"]}).decode()[1:-1]


def _row(rank: int, fixed: dict[str, Any], amounts: tuple[str, str], mask: int) -> str:
    """One ranked row's JSON (``RankedEndpoint.to_dict`` order): the candidate's pieces around ``amounts``."""
    pieces = _pieces_of.get(id(fixed))
    if pieces is None or pieces[0] is not fixed:
        pieces = _pieces(fixed)
    return (
        f'{{"rank":{rank},{pieces[1]},{amounts[0]},"discount":{pieces[2]},{amounts[1]},'
        f'"overrides_applied":{mask},{pieces[3]}}}'
    )


def _default_routing(ranking: Ranking) -> str:
    """``default_routing``'s JSON, priced in integers (as ``Ranking.default_routing`` prices it)."""
    if "default_routing" in ranking.__dict__ or ranking.model is None:
        value = ranking.default_routing
        return _json(value.to_dict() if value is not None else None)
    found = routing_units(ranking.ranked, ranking.scale)
    if found is None:
        return "null"
    expected, saving, percent, endpoints, shares = found
    scale = ranking.scale
    tags = _tags
    spelt = ",".join([f'{tags.get(tag) or _tag(tag)}:"{_share(units)}"' for tag, units in shares.items()])
    return (
        f'{{"expected_cost_per_request":"{_spell(expected, scale)}","saving_per_request":'
        f'"{_spell(saving, scale)}","saving_percent":"{_spell(percent, 2)}","endpoints":{endpoints},'
        f'"shares":{{{spelt}}},"weighting":{_WEIGHTED}}}'
    )


_WEIGHTING = _json(DEFAULT_ROUTING_WEIGHTING)
# The weighting's text has a non-ASCII letter (c²); text holding one takes a hundred times as long to encode as
# ASCII text (UTF-8 from Latin-1, a character at a time: 30 µs for an answer). The answer's text carries this
# marker in its place, and the weighting goes in as bytes after the rest is encoded.
_WEIGHTED = '"\x00weighting\x00"'
_WEIGHTED_LAST = _WEIGHTED + "}"  # how a default routing priced here ends (``_default_routing``)
_WEIGHTING_BYTES = _WEIGHTING.encode()


def encode_ranking(ranking: Ranking) -> bytes | None:
    """``ranking``'s answer without ``data`` as JSON bytes (the same as ``Ranking.to_dict()`` with ``data``
    popped, encoded exactly), or None when a row was not made by the index (encode ``to_dict`` instead)."""
    rows: list[str] = []
    # Rows priced alike (equal sheets: the ties) share their spelt amounts; by total, the rest compared.
    spelt: dict[int, tuple[CostUnits, tuple[str, str]]] = {}
    for row in ranking.ranked:
        values = row.__dict__  # ``row_sources``, inline: ten rows an answer
        fixed, units = values.get("_fixed"), values.get("_deferred")
        if fixed is None or units is None or units.__class__ is not CostUnits:
            return None
        same = spelt.get(units.total)
        if same is not None and same[0] == units:
            amounts = same[1]
        else:
            amounts = _amounts(units)
            spelt[units.total] = (units, amounts)
        rows.append(_row(values["rank"], fixed, amounts, values["overrides_applied"]))
    at, model = ranking.at, ranking.model
    as_of = _as_of.get((at, at.tzinfo)) or _instant(at)
    routing = _default_routing(ranking)
    head = (
        f'{{"as_of":"{as_of}","model":{"null" if model is None else _tags.get(model) or _tag(model)},'
        f'"profile":{_profile(ranking.profile)},"filters":{_filters(ranking.filters)},'
        f'"ranked":[{",".join(rows)}],"ties":{ranking.ties},"excluded":{_json(ranking.excluded)},'
        f'"explanation":{_json(ranking.explanation)},"note":{_json(ranking.note)},"default_routing":'
    )
    tail = f',"provider":{_json(ranking.routing)}}}'
    if routing.endswith(_WEIGHTED_LAST):  # priced here: the weighting goes in as bytes where its marker was
        routing = routing[: -len(_WEIGHTED_LAST)]
        return b"".join((head.encode(), routing.encode(), _WEIGHTING_BYTES, b"}", tail.encode()))
    return (head + routing + tail).encode()


# An answer's instant, spelt (a server's answers are of a few instants); by its zone too: equal instants in two
# zones are equal keys, spelt apart.
_as_of: dict[tuple[datetime, Any], str] = {}


def _instant(at: datetime) -> str:
    text = at.isoformat().replace("+00:00", "Z")
    with _pieces_lock:
        if len(_as_of) >= _FILTERS_KEPT:
            _as_of.clear()
        _as_of[at, at.tzinfo] = text
    return text


__all__ = ["encode_ranking"]
