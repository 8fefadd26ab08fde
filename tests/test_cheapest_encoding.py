"""The fast ways of answering ``/v1/cheapest`` give what the general ways give, exactly.

* ``catalog.cost.ranking_json.encode_ranking`` writes a ranking's JSON from its integers and per-endpoint pieces:
  the same bytes as ``jsonable(ranking.to_dict())`` encoded (without ``data``), on random profiles and filters.
* A ranking orders, ties, explains and prices default routing from its rows' exact integers: the same as from
  the rows' ``Decimal`` amounts (rows rebuilt without their integers, ranked again).
* ``catalog.money.units_text`` spells an integer amount as ``canonical`` spells its ``Decimal``.
* ``build_query`` shares one ``EndpointFilters`` among equal queries, never between queries that spell differently.

The framework-free path of a plain ``GET /v1/cheapest`` is compared with the route in ``test_api_cheapest_fast``.
"""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from fractions import Fraction
from typing import Any

import orjson
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from catalog.cost.profile import (
    CostUnits,
    RankedEndpoint,
    Ranking,
    _less,
    _less_units,
    amount,
    assemble,
    default_routing,
    half_even,
    ranked_row,
    routing_units,
    share_of,
)
from catalog.cost.query import CHEAPEST, build_query
from catalog.cost.ranker import RankIndex
from catalog.cost.ranking_json import _share_json, _spell, encode_ranking
from catalog.cost.sheets import PriceTable, SheetVersion
from catalog.cost.workload import EndpointFilters, WorkloadProfile
from catalog.errors import InputError
from catalog.exact_json import jsonable
from catalog.money import EXACT, canonical, units_text
from catalog.prices import parse_price_sheet

T0 = datetime(2026, 7, 17, tzinfo=UTC)
AT = datetime(2026, 8, 1, 12, tzinfo=UTC)
MODEL = "acme/model"
# Prices chosen for the cases an answer spells differently: a discount (base and saving), two equal sheets (a tie),
# a free endpoint (cost 0), a dynamic price (excluded), a prompt-size override, cache and reasoning rates.
SHEETS: dict[str, dict[str, Any]] = {
    "alpha/fp8": {"prompt": "3e-7", "completion": "0.0000012", "input_cache_read": "3e-8", "discount": "0.26"},
    "beta/fp8": {"prompt": "3e-7", "completion": "0.0000012", "input_cache_read": "3e-8", "discount": "0.26"},
    "gamma/bf16": {"prompt": "0.00000055", "completion": "0.0000022", "internal_reasoning": "0.000003"},
    "delta/fp4": {"prompt": "0.000001", "completion": "0.000002",
                  "overrides": [{"min_prompt_tokens": 100_000, "prompt": "0.000002"}]},
    "eps/free": {"prompt": "0", "completion": "0"},
    "zeta/int8": {"prompt": "-1", "completion": "-1"},
    "eta/ünïcode": {"prompt": "0.00000071", "completion": "0.0000017", "request": "0.0001", "discount": "0.1"},
}  # fmt: skip
TELEMETRY = {  # uptime, latency ms, throughput tok/s, context, status
    "alpha/fp8": (99.5, 843.0, 20.0, 131_072, 0),
    "beta/fp8": (99.5, 1450.0, 21.5, 128_000, 0),
    "gamma/bf16": (None, 769.25, None, 163_840, 0),
    "delta/fp4": (97.0, None, 16.0, 400_000, None),
    "eps/free": (90.0, 2000.0, 5.0, 32_768, 0),
    "zeta/int8": (99.0, 500.0, 40.0, 131_072, 0),
    "eta/ünïcode": (None, None, None, 131_072, -2),
}


def _table() -> PriceTable:
    versions = [
        SheetVersion(
            "endpoint",
            MODEL,
            tag,
            tag.split("/")[0],
            f'{tag.split("/")[0].title()} "Cloud"',
            T0,
            None,
            parse_price_sheet(prices),
            key=f"{MODEL}@{tag}",
        )
        for tag, prices in SHEETS.items()
    ]
    return PriceTable.from_sheets(versions)


def _candidates() -> pl.DataFrame:
    rows = []
    for tag, (uptime, latency, throughput, context, status) in TELEMETRY.items():
        rows.append({
            "model_id": MODEL, "endpoint_key": f"{MODEL}@{tag}", "tag": tag, "provider_slug": tag.split("/")[0],
            "provider_name": f'{tag.split("/")[0].title()} "Cloud"', "quantization": tag.split("/")[1],
            "context_length": context, "max_completion_tokens": 32_000 if tag == "eps/free" else None,
            "max_prompt_tokens": None, "supported_parameters": ["tools", "response_format", "reasoning"],
            "input_modalities": ["text", "image"], "status": status, "policy_training": False,
            "policy_retains_prompts": tag == "gamma/bf16", "policy_retention_days": None, "zdr": True,
            "uptime_last_5m": None, "uptime_last_30m": None, "uptime_last_1d": uptime, "latency_p50": latency,
            "throughput_p50": throughput, "telemetry_at": None,
        })  # fmt: skip
    lists = {"supported_parameters": pl.List(pl.String), "input_modalities": pl.List(pl.String)}
    return pl.DataFrame(rows, schema_overrides=lists, infer_schema_length=None)


INDEX = RankIndex.build(_candidates(), _table(), AT)
TAGS = list(SHEETS)

profiles = st.builds(
    WorkloadProfile,
    input_tokens=st.integers(0, 300_000),
    output_tokens=st.integers(0, 40_000),
    cache_hit=st.sampled_from([Decimal(0), Decimal("0.5"), Decimal("0.8"), Decimal("0.80"), Decimal("0.333")]),
    reasoning=st.sampled_from([Decimal(0), Decimal("0.25")]),
    requests=st.integers(1, 5),
    images=st.integers(0, 1),
)
filters = st.builds(
    EndpointFilters,
    status_ok=st.booleans(),
    exclude_free=st.booleans(),
    sort=st.sampled_from(["price", "price", "throughput", "latency"]),
    order=st.lists(st.sampled_from(TAGS), max_size=2).map(tuple),
    preferred_max_latency=st.sampled_from([None, 1.0]),
    preferred_min_throughput=st.sampled_from([None, 18.0]),
    max_price_prompt=st.sampled_from([None, Decimal("0.6"), Decimal("0.60")]),
    no_prompt_retention=st.booleans(),
)


def general(ranking: Ranking) -> bytes:
    """The answer's bytes the general way: ``to_dict`` spelt by ``jsonable``, ``data`` left out."""
    body = ranking.to_dict()
    body.pop("data")
    return orjson.dumps(jsonable(body))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(profile=profiles, wanted=filters, minute=st.integers(0, 1439))
def test_the_integer_encoding_is_the_general_one(
    profile: WorkloadProfile, wanted: EndpointFilters, minute: int
) -> None:
    at = AT.replace(hour=0, minute=0) + timedelta(minutes=minute)
    fast = encode_ranking(INDEX.rank(profile, wanted, model=MODEL, at=at))
    assert fast is not None  # rows made by the index are always written this way
    assert fast == general(INDEX.rank(profile, wanted, model=MODEL, at=at))
    # A ranking whose amounts were read first (spelt as Decimals) is written the same.
    ranking = INDEX.rank(profile, wanted, model=MODEL, at=at)
    assert all(row.cost_per_request >= 0 for row in ranking.ranked) and ranking.explanation
    assert encode_ranking(ranking) == fast


def test_answers_kept_apart_by_what_they_spell_differently() -> None:
    """The texts kept across answers (their instant, the model) are kept per spelling: one instant in two zones
    (equal datetimes) is written as each says, and an answer for every model writes ``null``."""
    profile = WorkloadProfile(20_000, 1_000, cache_hit=Decimal("0.8"))
    east = AT.astimezone(timezone(timedelta(hours=2)))
    assert east == AT
    for at in (AT, east, AT, east):
        ranking = INDEX.rank(profile, EndpointFilters(), model=MODEL, at=at)
        assert encode_ranking(ranking) == general(INDEX.rank(profile, EndpointFilters(), model=MODEL, at=at))
    spelt = [orjson.loads(encode_ranking(INDEX.rank(profile, EndpointFilters(), model=MODEL, at=at)) or b"")
             for at in (AT, east)]  # fmt: skip
    assert [answer["as_of"] for answer in spelt] == ["2026-08-01T12:00:00Z", "2026-08-01T14:00:00+02:00"]
    every = INDEX.rank(profile, EndpointFilters(), model=None)
    assert encode_ranking(every) == general(INDEX.rank(profile, EndpointFilters(), model=None))
    assert orjson.loads(encode_ranking(every) or b"")["model"] is None


def test_a_ranking_of_rows_not_made_by_the_index_is_left_to_the_general_encoding() -> None:
    ranking = INDEX.rank(WorkloadProfile(20_000, 1_000), EndpointFilters(), model=MODEL)
    ranking.ranked[0] = RankedEndpoint(**ranking.ranked[0].to_dict())
    assert encode_ranking(ranking) is None


def _decimal_rows(ranking: Ranking) -> list[RankedEndpoint]:
    """The ranking's rows rebuilt with every amount a ``Decimal`` and no integers kept, rank reset."""
    return [RankedEndpoint(**{**row.to_dict(), "rank": 0}) for row in ranking.ranked]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(profile=profiles, wanted=filters)
def test_integer_costs_order_tie_and_explain_as_decimal_costs(
    profile: WorkloadProfile, wanted: EndpointFilters
) -> None:
    ranking = INDEX.rank(profile, wanted, model=MODEL)
    rows = _decimal_rows(ranking)
    random.Random(len(rows)).shuffle(rows)  # the order is the sort's, not the input's
    again = assemble(
        rows, list(ranking.excluded), at=ranking.at, model=MODEL, profile=profile, filters=wanted,
        fallbacks=2, scale=ranking.scale, note=ranking.note,
    )  # fmt: skip
    assert [(r.endpoint_key, r.rank) for r in again.ranked] == [(r.endpoint_key, r.rank) for r in ranking.ranked]
    assert (again.ties, again.routing, again.explanation) == (ranking.ties, ranking.routing, ranking.explanation)
    assert default_routing(again.ranked, ranking.scale) == ranking.default_routing


def test_ties_and_the_explanation_are_worded_from_integers() -> None:
    profile = WorkloadProfile(20_000, 1_000, cache_hit=Decimal("0.8"))
    ranking = INDEX.rank(profile, EndpointFilters(exclude_free=True), model=MODEL)
    first, second = ranking.ranked[0], ranking.ranked[1]
    assert {first.tag, second.tag} == {"alpha/fp8", "beta/fp8"} and first.rank == second.rank == 1
    # The tie is worded at the shared cost; the dearer one is named with how much more it costs.
    assert ranking.explanation.startswith(f"2 endpoints tie at ${canonical(first.cost_per_request)} per request")
    assert "less than" in ranking.explanation and ranking.ties == 2


def test_units_text_spells_what_canonical_spells() -> None:
    rng = random.Random(14)
    for _ in range(20_000):
        scale = rng.choice([-3, 0, 1, 2, 4, 12, 18, 24, 30])
        units = rng.choice([
            0, 1, -1, 10 ** rng.randint(0, 40), -(10 ** rng.randint(0, 40)), rng.randint(-(10**32), 10**32),
            rng.randint(1, 10**6) * 10 ** rng.randint(0, 30), rng.randint(1, 999),
        ])  # fmt: skip
        assert units_text(units, scale) == canonical(Decimal(units).scaleb(-scale, EXACT)), (units, scale)
        assert _spell(units, scale) == units_text(units, scale), (units, scale)  # the rows' own speller


def _values(**changes: Any) -> dict[str, Any]:
    return {p.name: p.default for p in CHEAPEST} | changes


def test_equal_queries_share_their_filters_and_different_spellings_do_not() -> None:
    number = lambda text, param: Decimal(text)  # noqa: E731
    one = build_query(_values(input=10, sort="latency", max_price_prompt="0.5"), number)
    two = build_query(_values(input=99, sort="latency", max_price_prompt="0.5"), number)
    assert one.filters is two.filters and one.profile != two.profile
    other = build_query(_values(sort="latency", max_price_prompt="0.50"), number)
    assert other.filters is not one.filters and other.filters.max_price_prompt == Decimal("0.50")
    zero, negative_zero = (build_query(_values(preferred_max_latency=v), number).filters for v in (0.0, -0.0))
    assert zero is not negative_zero
    # The routing object sends the preference as given: -0.0 and 0.0 are written differently.
    assert (str(zero.preferred_max_latency), str(negative_zero.preferred_max_latency)) == ("0.0", "-0.0")
    for _ in range(2):  # a refused value is refused every time, never kept
        with pytest.raises(InputError):
            build_query(_values(sort="cost"), number)


def test_a_term_share_is_written_as_the_rounded_float() -> None:
    """``_share_json`` picks the text from the float times 10**4 away from a half and rounds the float near one:
    either way ``round(part / total, 4)``'s JSON, exact halves (1 / 20,000), amounts a unit off a half and huge
    amounts included."""
    rng = random.Random(5)
    cases = [(part, 20_000) for part in range(20_001)]  # every half of a ten-thousandth, and the steps between
    cases += [(1, 3), (2, 3), (0, 7), (7, 7), (5 * 10**20, 10**25), (10**24 - 1, 10**24)]
    for total in (20_000 * 10**20, 20_000 * 10**20 + 1, 2 * 10**30 + 7):  # a unit either side of a half
        for step in (1, 2_357, 19_999):
            middle = total * (2 * step + 1) // 40_000
            cases += [(middle - 1, total), (middle, total), (middle + 1, total)]
    for _ in range(50_000):
        total = rng.randint(1, 10 ** rng.randint(1, 30))
        cases.append((rng.randint(0, total), total))
    for part, total in cases:
        assert _share_json(part, total) == orjson.dumps(round(part / total, 4)).decode(), (part, total)
        assert share_of(part, total) == round(part / total, 4), (part, total)  # the explanation's, the same way


def test_reading_a_rows_cost_spells_that_amount_and_the_rest_when_read() -> None:
    ranking = INDEX.rank(WorkloadProfile(20_000, 1_000, cache_hit=Decimal("0.8")), EndpointFilters(), model=MODEL)
    row = ranking.ranked[-1]
    assert "cost_per_request" not in row.__dict__ and "terms" not in row.__dict__  # nothing spelt by ranking
    cost = row.cost_per_request
    assert "terms" not in row.__dict__  # the cost alone
    assert row.to_dict() == RankedEndpoint(**row.to_dict()).to_dict() and row.cost_per_request == cost
    assert sum(row.terms.values()) == cost and row.workload_cost == cost  # one request: the workload is the cost


@settings(max_examples=2000, deadline=None)
@given(
    dearer=st.one_of(st.integers(1, 10**22), st.integers(1, 10**27).map(lambda n: n * 2000)),
    # Any share, and the exact halves of 0.1 % (cheaper / dearer = odd / 2000) where the rounding is decided.
    fraction=st.one_of(st.fractions(0, 1), st.integers(0, 999).map(lambda k: Fraction(2 * k + 1, 2000))),
    scale=st.sampled_from([6, 12, 24]),
)
def test_the_less_than_sentence_in_integers_is_the_decimal_one(dearer: int, fraction: Fraction, scale: int) -> None:
    """``_less_units`` gives ``_less``'s words for the same two amounts, exact halves of 0.1 % included, or None
    (the Decimal way then) where amounts are too long for the context's precision; ordinary amounts never are."""
    cheaper = min(dearer - 1, int(dearer * fraction))
    found = _less_units(cheaper, dearer)
    if dearer < 10**22:
        assert found is not None
    if found is not None:
        assert found == _less(amount(cheaper, scale), amount(dearer, scale))


def test_a_plain_query_with_other_counts_is_the_query_build_query_makes() -> None:
    """The API reads a plain query seen before with other token counts from that one (``plain_query``): the
    same profile, filters and fallbacks as ``build_query`` makes, a refused value refused every time."""
    from catalog.api.deps import decimal
    from catalog.api.errors import ApiError
    from catalog.api.routes.cheapest import plain_query

    def built(values: dict[str, Any]) -> Any:
        return build_query(values, lambda text, param: decimal(text, param.name))

    queries = [
        _values(cache_hit="0.8"),
        _values(cache_hit="0.8", sort="latency", order=["baidu"], preferred_max_latency=-0.0),
        _values(cache_write="0.5", cache_ttl="1h", reasoning="0.25", requests=3, images=1, tools=True),
    ]
    for values in queries:
        for counts in ((20_000, 1_000), (20_001, 1_000), (7, 0), (20_000, 1_000)):
            wanted = values | {"input": counts[0], "output": counts[1]}
            found = plain_query(wanted)
            assert found == built(wanted) and found.profile.to_dict() == built(wanted).profile.to_dict()
    for _ in range(2):  # checked by the profile, then by ``decimal``: never kept
        with pytest.raises(InputError):
            plain_query(_values(cache_hit="0.8", cache_write="0.5"))
        with pytest.raises(ApiError):
            plain_query(_values(cache_hit="x"))


def _routed(costs: list[int], scale: int = 2) -> list[RankedEndpoint]:
    return [
        ranked_row(
            {"tag": f"p{i}", "price_source": "endpoint", "status": 0},
            cost,
            CostUnits(cost, None, [cost], ("input",), scale, 1, 1),
            0,
        )
        for i, cost in enumerate(costs)
    ]


def test_default_routing_shares_are_the_weights_rounded_half_even() -> None:
    """The shares, rounded in C from (2n + d) // 2d, are ``half_even(10**4 · w, Σw)`` of the inverse-square
    weights; an exact half (32 equal endpoints: 312.5 ten-thousandths each) goes to the even 312, not 313."""
    expected, saving, _, endpoints, shares = routing_units(_routed([7] * 32), 2)  # type: ignore[misc]
    assert (expected, saving, endpoints, set(shares.values())) == (7, 0, 32, {312})
    rng = random.Random(3)
    for _ in range(500):
        costs = [rng.choice([rng.randint(1, 9), rng.randint(1, 10**22)]) for _ in range(rng.randint(1, 12))]
        weights = [(math.lcm(*costs) // c) ** 2 for c in costs]
        found = routing_units(_routed(costs), 2)
        assert found is not None
        assert found[4] == {f"p{i}": half_even(10**4 * w, sum(weights)) for i, w in enumerate(weights)}, costs
