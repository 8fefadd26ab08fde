"""The ranking core: feasibility, OpenRouter's preference knobs, ties, default routing, the pre-history fallback,
and the per-snapshot index (``catalog.cost.ranker.RankIndex``) equal to the batch engine (``rank_with_engine``).

The first half builds small price tables in memory (fast); the second half works on the 20 replayed real days
(slow, through ``replayed_template``) and derives its expectations from the recorded listing with plain Python.
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_EVEN, ROUND_HALF_UP, Context, Decimal
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from helpers import run_cli, shared_data_dir
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from catalog.bundle import Bundle
from catalog.cost.profile import (
    CostUnits,
    _by_cost,
    per_million_tokens,
    provider_routing,
    rank_endpoints,
    ranked_row,
    tie_order,
)
from catalog.cost.ranker import RankIndex, per_million_units, rank_with_engine
from catalog.cost.sheets import PriceTable, SheetVersion
from catalog.cost.workload import EndpointFilters, WorkloadProfile
from catalog.errors import InputError
from catalog.library import Catalog
from catalog.money import reduced
from catalog.prices import parse_price_sheet
from catalog.store import queries, snapshots

T0 = datetime(2026, 7, 17, tzinfo=UTC)
AT = datetime(2026, 8, 1, 12, tzinfo=UTC)
MODEL = "acme/model"


def sheet(prompt: str, completion: str, **extra: Any) -> Any:
    return parse_price_sheet({"prompt": prompt, "completion": completion, **extra})


def endpoint(tag: str, prompt: str, completion: str, **extra: Any) -> SheetVersion:
    prices = sheet(prompt, completion, **extra)
    return SheetVersion("endpoint", MODEL, tag, tag.split("/")[0], tag.title(), T0, None, prices, key=f"{MODEL}@{tag}")


def candidate(tag: str, **fields: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "model_id": MODEL, "endpoint_key": f"{MODEL}@{tag}", "tag": tag, "provider_slug": tag.split("/")[0],
        "provider_name": tag.title(), "quantization": "fp8", "context_length": 128_000, "max_completion_tokens": None,
        "max_prompt_tokens": None, "supported_parameters": ["tools", "response_format", "reasoning"],
        "input_modalities": ["text", "image"], "status": 0, "policy_training": False, "policy_retains_prompts": False,
        "policy_retention_days": None, "zdr": True, "uptime_last_5m": None, "uptime_last_30m": None,
        "uptime_last_1d": None, "latency_p50": None, "throughput_p50": None, "telemetry_at": None,
    }  # fmt: skip
    row.update(fields)
    return row


def frame(rows: list[dict[str, Any]]) -> pl.DataFrame:
    lists = {"supported_parameters": pl.List(pl.String), "input_modalities": pl.List(pl.String)}
    return pl.DataFrame(rows, schema_overrides=lists, infer_schema_length=None)


def both(cands: pl.DataFrame, table: PriceTable, profile: WorkloadProfile, filters: EndpointFilters,
         model: str | None = MODEL, at: datetime = AT) -> Any:  # fmt: skip
    """The index's ranking, checked equal to the engine reference's."""
    fast = RankIndex.build(cands, table, at).rank(profile, filters, model=model)
    assert fast.to_dict() == rank_with_engine(cands, table, profile, filters, at=at, model=model).to_dict()
    return fast


# -- feasibility ----------------------------------------------------------------------------------------------


def test_infeasible_endpoints_are_excluded_naming_their_limit() -> None:
    table = PriceTable.from_sheets([endpoint(t, "0.000001", "0.000002") for t in ("a", "b", "c", "d", "e", "f", "g")])
    cands = frame([
        candidate("a", context_length=200_000),
        candidate("b", context_length=300_000, max_prompt_tokens=100_000),
        candidate("c", context_length=300_000, max_completion_tokens=1_000),
        candidate("d", context_length=300_000, input_modalities=["text"]),
        candidate("e", context_length=300_000, supported_parameters=["response_format"]),
        candidate("f", context_length=300_000, supported_parameters=["tools", "structured_outputs"]),
        candidate("g", context_length=None),
    ])  # fmt: skip
    profile = WorkloadProfile(250_000, 2_000, images=1, tools=True, structured_output=True)
    ranking = both(cands, table, profile, EndpointFilters())
    assert [r.tag for r in ranking.ranked] == ["f", "g"]  # structured_outputs alone is enough; no context listed
    reasons = {e["tag"]: (e["requirement"], e["reason"]) for e in ranking.excluded}
    assert reasons == {
        "a": ("context", "context 200,000 < 252,000 (250,000 prompt + 2,000 output)"),
        "b": ("max_prompt", "max prompt 100,000 < 250,000 prompt tokens"),
        "c": ("max_completion", "max completion 1,000 < 2,000 output tokens"),
        "d": ("image_input", "model takes no image input (input modalities: text)"),
        "e": ("tools", "does not support tools"),
    }
    reasoning = both(cands, table, WorkloadProfile(1_000, 100, reasoning_effort="high"),
                     EndpointFilters(providers=("a", "f")))  # fmt: skip
    assert [r.tag for r in reasoning.ranked] == ["a"]
    assert {e["tag"]: e["requirement"] for e in reasoning.excluded}["f"] == "reasoning"
    none = both(cands, table, WorkloadProfile(1_000, 100, reasoning_effort="none"), EndpointFilters(providers=("f",)))
    assert [r.tag for r in none.ranked] == ["f"]  # effort "none" asks for no reasoning
    assert none.routing is not None and "require_parameters" not in none.routing
    assert reasoning.routing is not None and reasoning.routing["require_parameters"] is True


def test_zdr_and_max_price_exclude_and_are_emitted() -> None:
    table = PriceTable.from_sheets([
        endpoint("a", "0.000001", "0.000002"),
        endpoint("b", "0.0000005", "0.000004"),
        endpoint("c", "0.0000002", "0.000001", request="0.01"),
    ])  # fmt: skip
    cands = frame([candidate("a"), candidate("b", zdr=None, policy_retains_prompts=None), candidate("c")])
    filters = EndpointFilters(zdr=True, max_price_completion=Decimal("3"), max_price_request=Decimal("0.001"))
    ranking = both(cands, table, WorkloadProfile(), filters)
    assert [r.tag for r in ranking.ranked] == ["a"]
    excluded = {e["tag"]: (e["requirement"], e["reason"]) for e in ranking.excluded}
    assert excluded["b"] == ("zdr", "not known to be zero data retention: retention policy unknown")
    assert excluded["c"] == ("max_price", "request $0.01 per request > max price $0.001")
    assert ranking.routing == {"order": ["a"], "allow_fallbacks": False, "zdr": True,
                               "max_price": {"completion": "3", "request": "0.001"}}  # fmt: skip
    capped = both(cands, table, WorkloadProfile(), EndpointFilters(max_price_prompt=Decimal("0.9")))
    assert [r.tag for r in capped.ranked] == ["b", "c"]
    assert {e["tag"]: e["reason"] for e in capped.excluded} == {"a": "prompt $1 per M tokens > max price $0.9"}


def test_amounts_spelt_on_first_read_equal_the_decimal_arithmetic() -> None:
    """A ranked row keeps its cost in integers and spells the other amounts when first read: they must equal
    plain Decimal arithmetic on the listed prices, survive a copy, and leave unknown names an AttributeError."""
    import copy
    import pickle

    table = PriceTable.from_sheets([endpoint("a/x", "0.0000003", "0.0000012", input_cache_read="0.00000003",
                                             discount="0.25")])  # fmt: skip
    profile = WorkloadProfile(10_000, 2_000, cache_hit=Decimal("0.4"), reasoning=Decimal("0.5"), requests=7)
    row = RankIndex.build(frame([candidate("a/x")]), table, AT).rank(profile, EndpointFilters(), model=MODEL).ranked[0]
    assert "terms" not in row.__dict__  # not spelt until read
    assert row == both(frame([candidate("a/x")]), table, profile, EndpointFilters()).ranked[0]
    prompt, read, out = Decimal("0.0000003"), Decimal("0.00000003"), Decimal("0.0000012")
    terms = {"input": 6_000 * prompt, "output": 1_000 * out, "reasoning": 1_000 * out, "cache_read": 4_000 * read}
    cost = sum(terms.values(), Decimal(0))
    assert row.cost_per_request == cost
    assert row.terms == {k: reduced(v) for k, v in sorted(terms.items(), key=lambda kv: -kv[1])}
    assert list(row.terms) == ["input", "output", "reasoning", "cache_read"]  # equal terms keep the term order
    assert row.workload_cost == 7 * cost
    assert row.cost_per_million_tokens == per_million_tokens(cost, 12_000)
    base = (cost / Decimal("0.75")).quantize(Decimal("1e-16"), ROUND_HALF_UP)
    assert row.base_per_request == reduced(base) and row.saving_per_request == reduced(base - cost)
    assert row.term_shares == {k: round(float(v / cost), 4) for k, v in row.terms.items()}
    for twin in (copy.deepcopy(row), pickle.loads(pickle.dumps(row))):
        assert twin == row and twin.to_dict() == row.to_dict()
    with pytest.raises(AttributeError, match="no attribute 'spelling'"):
        row.spelling  # noqa: B018


def test_explanation_and_default_routing_are_worked_out_on_first_read() -> None:
    """A ranking leaves its explanation and default-routing figure for first read: they must be those the
    engine reference gives, and survive a copy and ``dataclasses.replace``."""
    import copy
    import dataclasses

    table = PriceTable.from_sheets(
        [endpoint("a/x", "0.0000003", "0.0000012"), endpoint("b/y", "0.0000004", "0.0000011")]
    )
    cands = frame([candidate("a/x"), candidate("b/y")])
    fast = RankIndex.build(cands, table, AT).rank(WorkloadProfile(), EndpointFilters(), model=MODEL)
    assert "explanation" not in fast.__dict__ and "default_routing" not in fast.__dict__
    reference = rank_with_engine(cands, table, WorkloadProfile(), EndpointFilters(), at=AT, model=MODEL)
    twin = copy.deepcopy(fast)
    assert fast.explanation == reference.explanation and "less than" in fast.explanation
    assert fast.default_routing == reference.default_routing and fast.default_routing is not None
    assert twin.to_dict() == fast.to_dict() == dataclasses.replace(fast).to_dict()
    with pytest.raises(AttributeError, match="no attribute 'routes'"):
        fast.routes  # noqa: B018


def test_a_price_tier_applies_to_the_cap_from_the_whole_prompt() -> None:
    tiered = endpoint("a", "0.000001", "0.000002", overrides=[{"min_prompt_tokens": 200_000, "prompt": "0.000002"}])
    table = PriceTable.from_sheets([tiered])
    cands = frame([candidate("a", context_length=1_000_000)])
    cap = EndpointFilters(max_price_prompt=Decimal("1.5"))
    assert [r.tag for r in both(cands, table, WorkloadProfile(100_000), cap).ranked] == ["a"]
    long = both(cands, table, WorkloadProfile(250_000), cap)
    assert long.ranked == [] and long.excluded[0]["reason"] == "prompt $2 per M tokens > max price $1.5"


# -- order, preferences and ties ------------------------------------------------------------------------------


def tie_table() -> tuple[PriceTable, pl.DataFrame]:
    tags = ("a", "b", "c", "d", "e")
    prices = {"a": "0.000001", "b": "0.000001", "c": "0.000001", "d": "0.000002", "e": "0.0000005"}
    table = PriceTable.from_sheets([endpoint(t, prices[t], "0.000001") for t in tags])
    cands = frame([
        candidate("a", uptime_last_1d=99.0, throughput_p50=50.0, latency_p50=900.0),
        candidate("b", uptime_last_1d=99.5, throughput_p50=20.0, latency_p50=400.0),
        candidate("c", uptime_last_1d=99.5, throughput_p50=80.0, latency_p50=2500.0),
        candidate("d", throughput_p50=200.0, latency_p50=300.0),
        candidate("e", status=-2),
    ])  # fmt: skip
    return table, cands


def test_equal_costs_share_a_rank_in_the_documented_order() -> None:
    table, cands = tie_table()
    ranking = both(cands, table, WorkloadProfile(1000, 500), EndpointFilters())
    # Equal cost: uptime desc, then throughput desc (c before b at equal uptime), then a; d costs more.
    assert [(r.rank, r.tag) for r in ranking.ranked] == [(1, "c"), (1, "b"), (1, "a"), (4, "d")]
    assert ranking.ties == 3
    assert ranking.explanation.startswith("3 endpoints tie at $0.0015 per request (c, b, a;")
    assert "; 40.0% less than d ($0.0025), mostly on input" in ranking.explanation
    assert " 0.0%" not in ranking.explanation
    assert ranking.routing is not None and ranking.routing["order"] == ["c", "b", "a"]
    assert {e["tag"]: e["requirement"] for e in ranking.excluded} == {"e": "status"}


@given(
    st.lists(
        st.tuples(
            st.integers(0, 4),
            st.none() | st.sampled_from([99.0, 99.5, 100.0]),
            st.none() | st.sampled_from([10.0, 20.0]),
        ),
        max_size=12,
    )
)
def test_ordering_by_cost_equals_sorting_by_cost_then_the_tie_order(
    specs: list[tuple[int, float | None, float | None]],
) -> None:
    """``profile._by_cost`` (one pass over the sorted costs) orders, ranks and counts the ties exactly as the
    plain definition: sorted by (cost, ``tie_order``), each rank one more than the number of cheaper rows."""
    rows, costs = [], []
    for i, (cost, uptime, throughput) in enumerate(specs):
        fixed = {"endpoint_key": f"{MODEL}@e{i:02d}", "uptime_last_1d": uptime, "throughput_p50": throughput}
        rows.append(ranked_row(fixed, cost, CostUnits(cost, cost, [cost], ("input",), 0, 1, 1), 0))
        costs.append(cost)
    expected = sorted(zip(costs, rows, strict=True), key=lambda pair: (pair[0], tie_order(pair[1])))
    ranked, ordered, ties = _by_cost(list(rows), list(costs))
    assert [row.endpoint_key for row in ranked] == [row.endpoint_key for _, row in expected]
    assert ordered == sorted(costs)
    assert [row.rank for row in ranked] == [1 + sum(c < cost for c in costs) for cost, _ in expected]
    assert ties == (costs.count(min(costs)) if costs else 0)


def test_sort_order_and_preferences_reorder_without_excluding() -> None:
    table, cands = tie_table()
    profile = WorkloadProfile(1000, 500)
    fastest = both(cands, table, profile, EndpointFilters(sort="throughput"))
    assert [(r.rank, r.tag) for r in fastest.ranked] == [(1, "d"), (2, "c"), (3, "a"), (4, "b")]
    assert fastest.routing is not None and fastest.routing["sort"] == "throughput"
    quickest = both(cands, table, profile, EndpointFilters(sort="latency"))
    assert [r.tag for r in quickest.ranked] == ["d", "b", "a", "c"]
    preferred = both(cands, table, profile, EndpointFilters(preferred_max_latency=1.0))  # seconds; telemetry in ms
    assert [(r.rank, r.tag) for r in preferred.ranked] == [(1, "b"), (1, "a"), (3, "d"), (4, "c")]
    assert preferred.routing is not None and preferred.routing["preferred_max_latency"] == 1.0
    ordered = both(cands, table, profile, EndpointFilters(order=("D", "a"), allow_fallbacks=True))
    assert [r.tag for r in ordered.ranked] == ["d", "a", "c", "b"]
    assert ordered.routing == {"order": ["d", "a", "c"], "allow_fallbacks": True}


# -- default routing ------------------------------------------------------------------------------------------


def test_default_routing_weights_by_inverse_square_of_the_request_cost() -> None:
    table, cands = tie_table()
    ranking = both(cands, table, WorkloadProfile(1000, 500), EndpointFilters())
    routing = ranking.default_routing
    assert routing is not None and routing.endpoints == 4
    costs = [Decimal("0.0015")] * 3 + [Decimal("0.0025")]
    weights = [1 / (c * c) for c in costs]
    expected = (sum(c * w for c, w in zip(costs, weights, strict=True)) / sum(weights)).quantize(
        Decimal(1).scaleb(-table.scale), ROUND_HALF_EVEN
    )
    assert routing.expected_cost_per_request == expected
    assert routing.saving_per_request == expected - Decimal("0.0015")
    assert routing.saving_percent == (100 * routing.saving_per_request / expected).quantize(Decimal("0.01"))
    shares = [(w / sum(weights)).quantize(Decimal("0.0001"), ROUND_HALF_EVEN) for w in weights]
    assert routing.shares == dict(zip(["c", "b", "a", "d"], shares, strict=True))
    assert shares[0] > shares[3]  # the cheaper endpoints take more of the traffic
    everywhere = both(cands, table, WorkloadProfile(1000, 500), EndpointFilters(), model=None)
    assert everywhere.default_routing is None  # only for one model


def test_a_free_endpoint_takes_all_the_default_weight() -> None:
    table = PriceTable.from_sheets([endpoint("a", "0", "0"), endpoint("b", "0.000001", "0.000001")])
    routing = both(frame([candidate("a"), candidate("b")]), table, WorkloadProfile(), EndpointFilters()).default_routing
    assert routing is not None
    assert (routing.expected_cost_per_request, routing.saving_per_request, routing.saving_percent) == (0, 0, 0)
    assert routing.shares == {"a": 1, "b": 0}


# -- before the endpoint history ------------------------------------------------------------------------------


def test_before_the_endpoint_history_the_list_price_ranks_with_a_note() -> None:
    model_sheet = SheetVersion("model", MODEL, None, None, None, datetime(2025, 1, 1, tzinfo=UTC), None,
                               sheet("0.000003", "0.000015"))  # fmt: skip
    table = PriceTable.from_sheets([model_sheet, endpoint("a", "0.000001", "0.000002")])
    early = datetime(2025, 6, 1, tzinfo=UTC)
    empty = frame([candidate("a")]).clear()
    ranking = both(empty, table, WorkloadProfile(1000, 500), EndpointFilters(), at=early)
    (row,) = ranking.ranked
    assert (row.tag, row.price_source, row.cost_per_request) == ("list price", "model", Decimal("0.0105"))
    assert ranking.routing is None and ranking.default_routing is None
    assert ranking.note is not None and "the endpoint history starts 2026-07-17" in ranking.note
    assert "list price from /models" in ranking.note
    everyone = both(empty, table, WorkloadProfile(1000, 500), EndpointFilters(), model=None, at=early)
    assert [r.tag for r in everyone.ranked] == ["list price"] and everyone.note is not None
    earlier = both(empty, table, WorkloadProfile(), EndpointFilters(), at=datetime(2024, 6, 1, tzinfo=UTC))
    assert earlier.ranked == [] and earlier.note == (
        "no price for acme/model at 2024-06-01 00:00Z: its price history starts 2025-01-01"
    )


# -- inputs ---------------------------------------------------------------------------------------------------


def test_provider_preferences_read_openrouters_object() -> None:
    filters = EndpointFilters.from_provider_preferences({
        "order": ["anthropic", "amazon-bedrock"], "only": ["anthropic", "amazon-bedrock", "azure"],
        "ignore": ["azure"], "allow_fallbacks": True, "require_parameters": True, "data_collection": "deny",
        "zdr": True, "quantizations": ["fp8"], "sort": {"by": "latency", "partition": "model"},
        "max_price": {"prompt": "3", "completion": 15, "request": "0.01"},
        "preferred_min_throughput": {"p50": 30}, "preferred_max_latency": 2.5,
    })  # fmt: skip
    assert filters == EndpointFilters(
        order=("anthropic", "amazon-bedrock"), providers=("anthropic", "amazon-bedrock", "azure"),
        exclude_providers=("azure",), allow_fallbacks=True, no_training=True, zdr=True, quantizations=("fp8",),
        sort="latency", max_price_prompt=Decimal(3), max_price_completion=Decimal(15),
        max_price_request=Decimal("0.01"), preferred_min_throughput=30.0, preferred_max_latency=2.5,
    )  # fmt: skip
    assert EndpointFilters.from_provider_preferences({"sort": "price", "data_collection": "allow"}) == EndpointFilters()
    with pytest.raises(InputError, match=r"unknown key.*orderr.*known: order"):
        EndpointFilters.from_provider_preferences({"orderr": ["a"]})
    with pytest.raises(InputError, match=r"only p50 is modelled.*p90"):
        EndpointFilters.from_provider_preferences({"preferred_max_latency": {"p50": 1, "p90": 3}})
    with pytest.raises(InputError, match="exacto is not modelled"):
        EndpointFilters.from_provider_preferences({"sort": "exacto"})
    with pytest.raises(InputError, match=r"max_price\.prompt"):
        EndpointFilters.from_provider_preferences({"max_price": {"prompt": 0.5}})
    with pytest.raises(InputError, match="reasoning effort"):
        WorkloadProfile(reasoning_effort="extreme")
    with pytest.raises(InputError, match=r"quantization 'q8' is not one of int4, .*fp8"):
        EndpointFilters(quantizations=("FP8", "q8"))
    assert EndpointFilters(quantizations=("FP8",)).quantizations == ("fp8",)


@given(st.integers(0, 10**30), st.integers(0, 10**7), st.integers(0, 24))
def test_per_million_in_integers_equals_the_decimal_figure(units: int, tokens: int, scale: int) -> None:
    total = reduced(Decimal(units).scaleb(-scale, Context(prec=80)))
    assert per_million_units(units, tokens, scale) == per_million_tokens(total, tokens)


def test_rank_endpoints_keeps_its_signature() -> None:
    table, cands = tie_table()
    old_way = rank_endpoints(cands, table, WorkloadProfile(), EndpointFilters(), at=AT, model=MODEL)
    assert old_way.to_dict() == RankIndex.build(cands, table, AT).rank(WorkloadProfile(), EndpointFilters(),
                                                                      model=MODEL).to_dict()  # fmt: skip
    assert provider_routing([], EndpointFilters(), 2) is None


# -- the routing object against OpenRouter's schema -----------------------------------------------------------


@functools.cache
def provider_schema() -> Any:
    import jsonschema
    import yaml

    root = shared_data_dir()
    assert root is not None
    with (root / "spec" / "openapi.yaml").open() as handle:
        spec = yaml.load(handle, Loader=yaml.CSafeLoader)
    schema = {"$ref": "#/components/schemas/ProviderPreferences", "components": spec["components"]}
    return jsonschema.Draft202012Validator(schema)


@pytest.mark.shared
def test_every_emitted_routing_object_validates_against_provider_preferences() -> None:
    table, cands = tie_table()
    everything = EndpointFilters(
        parameters=("tools",), quantizations=("fp8",), providers=("a", "b", "c", "d"), exclude_providers=("e",),
        no_training=True, zdr=True, max_price_prompt=Decimal("5"), max_price_completion=Decimal("5"),
        max_price_request=Decimal("1"), max_price_image=Decimal("1"), sort="throughput", order=("d",),
        allow_fallbacks=True, preferred_min_throughput=10.0, preferred_max_latency=3.0,
    )  # fmt: skip
    validator = provider_schema()
    emitted = [both(cands, table, WorkloadProfile(tools=True), f).routing for f in (EndpointFilters(), everything)]
    for routing in emitted:
        assert routing is not None
        validator.validate(routing)
    assert set(emitted[1]) == {
        "order", "allow_fallbacks", "require_parameters", "quantizations", "data_collection", "zdr", "only",
        "ignore", "max_price", "sort", "preferred_min_throughput", "preferred_max_latency",
    }  # fmt: skip
    assert not validator.is_valid({**emitted[1], "max_price": {"prompt": 5}})  # the check can fail


# -- the replayed real days -----------------------------------------------------------------------------------

DAY = "2026-08-05"


@pytest.fixture(scope="module")
def cat(replayed_template: Path) -> Catalog:
    return Catalog.open(replayed_template)


def keys(model: str, listing: list[dict[str, Any]]) -> list[str]:
    """Stored endpoint keys in listing order: ``model@tag``, then ``model@tag#2`` for a repeated tag."""
    seen: dict[str, int] = {}
    out = []
    for e in listing:
        seen[e["tag"]] = seen.get(e["tag"], 0) + 1
        out.append(f"{model}@{e['tag']}" + (f"#{seen[e['tag']]}" if seen[e["tag"]] > 1 else ""))
    return out


def plain_rates(pricing: dict[str, Any], prompt: int) -> dict[str, Decimal]:
    """The listed rates that apply to a request of ``prompt`` tokens: overrides by the whole prompt, later win."""
    rates = {k: Decimal(v) for k, v in pricing.items() if k not in ("discount", "overrides")}
    for override in pricing.get("overrides") or []:
        assert "utc_start" not in override  # no time-of-day prices on the recorded days
        if prompt >= override.get("min_prompt_tokens", 0):
            rates.update({k: Decimal(v) for k, v in override.items() if k != "min_prompt_tokens"})
    return rates


def plain_cost(rates: dict[str, Decimal], p: WorkloadProfile) -> Decimal:
    cached = int((p.input_tokens * p.cache_hit).quantize(Decimal(1), ROUND_HALF_EVEN))
    cache_rate = rates.get("input_cache_read") or rates["prompt"]
    return ((p.input_tokens - cached) * rates["prompt"] + cached * cache_rate + p.output_tokens * rates["completion"]
            + rates.get("request", Decimal(0)) + p.images * rates.get("image", Decimal(0))
            + p.web_searches * rates.get("web_search", Decimal(0)))  # fmt: skip


def plain_requirement(e: dict[str, Any], p: WorkloadProfile, modalities: list[str]) -> str | None:
    """The first requirement a recorded endpoint fails, in the documented order (limits, inputs, then status)."""
    if e["context_length"] is not None and p.input_tokens + p.output_tokens > e["context_length"]:
        return "context"
    if e["max_prompt_tokens"] is not None and p.input_tokens > e["max_prompt_tokens"]:
        return "max_prompt"
    if e["max_completion_tokens"] is not None and p.output_tokens > e["max_completion_tokens"]:
        return "max_completion"
    if p.images and "image" not in modalities:
        return "image_input"
    params = e["supported_parameters"]
    if p.tools and "tools" not in params:
        return "tools"
    if p.structured_output and not {"structured_outputs", "response_format"} & set(params):
        return "structured_output"
    if p.reasoning_effort not in (None, "none") and "reasoning" not in params:
        return "reasoning"
    if e["status"] not in (0, None):
        return "status"
    return None


def plain_ranking(bundle: Bundle, model: str, p: WorkloadProfile) -> tuple[list[tuple[int, str, Decimal]], dict]:
    """From the recorded listing alone: the ranked (rank, tag, cost) in the documented order, and exclusions."""
    day = bundle.load(DAY)
    listing = day.endpoints[model]["endpoints"]
    (entry,) = [m for m in day.models if m["id"] == model]
    modalities = entry["architecture"]["input_modalities"]
    rows, excluded = [], {}
    for key, e in zip(keys(model, listing), listing, strict=True):
        failed = plain_requirement(e, p, modalities)
        if failed:
            excluded[key] = failed
            continue
        uptime, throughput = e["uptime_last_1d"], (e.get("throughput_last_30m") or {}).get("p50")
        order = (uptime is None, -(uptime or 0), throughput is None, -(throughput or 0), key)
        rows.append((plain_cost(plain_rates(e["pricing"], p.input_tokens), p), order, e["tag"]))
    rows.sort()
    ranked = []
    for position, (cost, _, tag) in enumerate(rows, 1):
        rank = ranked[-1][0] if ranked and ranked[-1][2] == cost else position
        ranked.append((rank, tag, cost))
    return ranked, excluded


CASES = [
    ("anthropic/claude-sonnet-4.5", WorkloadProfile(250_000, 2_000)),  # context, and the ≥ 200k prompt tier
    ("anthropic/claude-sonnet-4.5", WorkloadProfile(3_000, 500, images=2, tools=True)),
    ("deepseek/deepseek-v3.2", WorkloadProfile(1_000_000, 1_000)),  # no endpoint takes a million tokens
    ("deepseek/deepseek-v3.2", WorkloadProfile(20_000, 1_000, cache_hit=Decimal("0.8"), tools=True)),
    ("deepseek/deepseek-v3.2", WorkloadProfile(1_000, 100, images=1)),  # a text-only model
    ("openai/gpt-5.1", WorkloadProfile(300_000, 1_000)),  # max prompt 272,000 below a 400,000 context
    ("google/gemini-2.5-flash", WorkloadProfile(2_000, 500, images=3)),  # per-image prices
    ("moonshotai/kimi-k2.6", WorkloadProfile(10_000, 100_000, tools=True)),  # max completion
    ("z-ai/glm-5.2", WorkloadProfile(5_000, 2_000, structured_output=True, reasoning_effort="high")),
    ("openai/gpt-oss-120b", WorkloadProfile(3_000, 800, cache_hit=Decimal("0.5"), tools=True, structured_output=True)),
]


def test_feasible_set_and_order_equal_a_plain_derivation_from_the_recorded_day(cat: Catalog, bundle: Bundle) -> None:
    at = snapshots.as_of(cat.con, datetime(2026, 8, 5, 23, 59, tzinfo=UTC))
    candidates = queries.endpoint_candidates(cat.con, at, None)
    excluded_somewhere = set()
    for model, profile in CASES:
        ranked, excluded = plain_ranking(bundle, model, profile)
        ranking = cat.cheapest(model, profile, as_of=at)
        # The reference ranks without the catalog's data age; everything else must be the same.
        reference = rank_with_engine(candidates, cat.table, profile, EndpointFilters(), at=at, model=model)
        assert ranking.data is not None and ranking.data.snapshot_at is not None and ranking.data.snapshot_at <= at
        assert {**ranking.to_dict(), "data": None} == reference.to_dict(), model
        assert [(r.rank, r.tag, r.cost_per_request) for r in ranking.ranked] == ranked, (model, profile)
        assert {e["endpoint_key"]: e["requirement"] for e in ranking.excluded} == excluded, (model, profile)
        excluded_somewhere |= set(excluded.values())
        for row in ranking.excluded:
            if row["requirement"] == "context":
                assert f"{profile.input_tokens + profile.output_tokens:,}" in row["reason"]
    # The cases exercise every limit and input requirement on real listings.
    assert {"context", "max_prompt", "max_completion", "image_input", "tools"} <= excluded_somewhere


def test_default_routing_equals_a_plain_decimal_computation_for_five_models(cat: Catalog, bundle: Bundle) -> None:
    profile = WorkloadProfile(10_000, 1_000)
    exact = Context(prec=200)
    unit = Decimal(1).scaleb(-cat.table.scale)
    for model in ("anthropic/claude-sonnet-4.5", "deepseek/deepseek-v3.2", "openai/gpt-oss-120b",
                  "moonshotai/kimi-k2.6", "z-ai/glm-5.2"):  # fmt: skip
        listing = bundle.load(DAY).endpoints[model]["endpoints"]
        costs = [plain_cost(plain_rates(e["pricing"], profile.input_tokens), profile) for e in listing
                 if e["status"] in (0, None) and (e["context_length"] or 0) >= 11_000]  # fmt: skip
        routing = cat.cheapest(model, profile, as_of=DAY).default_routing
        assert routing is not None and routing.endpoints == len(costs), model
        if min(costs) == 0:
            expected = Decimal(0)
        else:
            weights = [exact.divide(1, c * c) for c in costs]
            expected = exact.divide(sum(c * w for c, w in zip(costs, weights, strict=True)), sum(weights))
        expected = expected.quantize(unit, ROUND_HALF_EVEN)
        assert routing.expected_cost_per_request == expected, model
        assert routing.saving_per_request == expected - min(costs)
        assert routing.saving_percent == (100 * (expected - min(costs)) / expected).quantize(Decimal("0.01"))
        assert routing.saving_per_request > 0 or len(set(costs)) == 1


def test_cli_json_ranks_no_endpoint_below_the_requests_size(replayed_template: Path) -> None:
    import json

    out = run_cli("cheapest", "anthropic/claude-sonnet-4.5", "--as-of", DAY, "--input", "250000", "--output", "2000",
                  "--json", "--db", str(replayed_template))  # fmt: skip
    assert out.returncode == 0, out.stderr
    answer = json.loads(out.stdout)
    assert answer["ranked"] and all(r["context_length"] >= 252_000 for r in answer["ranked"])
    (azure,) = [e for e in answer["excluded"] if e["tag"] == "azure/global"]
    assert azure["requirement"] == "context" and "200,000 < 252,000" in azure["reason"]
    assert "azure/global" not in answer["provider"]["order"]
    assert answer["ties"] >= 1 and answer["default_routing"]["endpoints"] == len(answer["ranked"])


# -- the index equals the engine on random profiles over every model -------------------------------------------

PROVIDERS = ("anthropic", "deepinfra", "novita", "amazon-bedrock", "google-vertex", "together", "baidu", "openai")


@st.composite
def profiles(draw: st.DrawFn) -> WorkloadProfile:
    hit = draw(st.decimals(0, 1, places=2))
    return WorkloadProfile(
        input_tokens=draw(st.one_of(st.integers(0, 5_000), st.integers(0, 1_500_000))),
        output_tokens=draw(st.one_of(st.integers(0, 2_000), st.integers(0, 300_000))),
        cache_hit=hit,
        cache_write=draw(st.decimals(0, 1 - hit, places=2)),
        cache_ttl=draw(st.sampled_from(["5m", "1h"])),
        reasoning=draw(st.decimals(0, 1, places=2)),
        requests=draw(st.integers(1, 10**6)),
        images=draw(st.integers(0, 3)),
        web_searches=draw(st.integers(0, 2)),
        tools=draw(st.booleans()),
        structured_output=draw(st.booleans()),
        reasoning_effort=draw(st.sampled_from([None, "none", "low", "high"])),
    )


@st.composite
def filter_sets(draw: st.DrawFn) -> EndpointFilters:
    caps = st.one_of(st.none(), st.decimals(0, 20, places=2))
    return EndpointFilters(
        sort=draw(st.sampled_from(["price", "price", "throughput", "latency"])),
        zdr=draw(st.booleans()),
        exclude_free=draw(st.booleans()),
        status_ok=draw(st.booleans()),
        max_price_prompt=draw(caps),
        max_price_completion=draw(caps),
        order=tuple(draw(st.lists(st.sampled_from(PROVIDERS), max_size=2))),
        exclude_providers=tuple(draw(st.lists(st.sampled_from(PROVIDERS), max_size=1))),
        preferred_min_throughput=draw(st.one_of(st.none(), st.floats(0, 200))),
        preferred_max_latency=draw(st.one_of(st.none(), st.floats(0, 5))),
    )


@functools.cache
def day_index(path: Path, day: int) -> tuple[Catalog, datetime, datetime, pl.DataFrame, RankIndex]:
    cat = Catalog.open(path)
    times = snapshots.good_snapshot_times(cat.con)
    start = times[day]
    end = times[day + 1] if day + 1 < len(times) else start + timedelta(days=1)
    candidates = queries.endpoint_candidates(cat.con, start, None)
    return cat, start, end, candidates, RankIndex.build(candidates, cat.table, start)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(profile=profiles(), filters=filter_sets(), day=st.integers(0, 19), minute=st.floats(0, 1), data=st.data())
def test_the_index_equals_the_engine_on_every_model(
    replayed_template: Path, profile: WorkloadProfile, filters: EndpointFilters, day: int, minute: float, data: Any
) -> None:
    cat, start, end, candidates, index = day_index(replayed_template, day)
    at = start + (end - start) * minute * 0.999
    fast = index.rank(profile, filters, at=at)
    slow = rank_with_engine(candidates, cat.table, profile, filters, at=at)
    assert fast.to_dict() == slow.to_dict()
    assert {r.endpoint_key for r in fast.ranked} | {e["endpoint_key"] for e in fast.excluded} == set(
        candidates["endpoint_key"]
    )  # every model's every endpoint is either ranked or excluded
    for model in data.draw(st.lists(st.sampled_from(sorted(set(candidates["model_id"]))), min_size=3, max_size=3)):
        one = index.rank(profile, filters, model=model, at=at)
        assert one.to_dict() == rank_with_engine(candidates, cat.table, profile, filters, at=at, model=model).to_dict()


@given(st.integers(0, 10**7), st.integers(0, 10**6), st.sampled_from(["0.3", "0.26", "0.123456", "0.999", "-0.2"]))
def test_the_undiscounted_base_rounds_half_up_as_the_engine_does(prompt: int, output: int, discount: str) -> None:
    """A listed price that is not an exact fraction of its base leaves a remainder: the index rounds it as the
    engine does (half up, to the table's unit)."""
    table = PriceTable.from_sheets([endpoint("a", "0.0000011", "0.0000031", discount=Decimal(discount))])
    cands = frame([candidate("a", context_length=None)])
    (row,) = both(cands, table, WorkloadProfile(prompt, output), EndpointFilters()).ranked
    exact = Context(prec=100).divide(row.cost_per_request, 1 - Decimal(discount))
    assert row.base_per_request == exact.quantize(Decimal(1).scaleb(-table.scale), ROUND_HALF_UP)
    assert row.saving_per_request == row.base_per_request - row.cost_per_request
