"""Workload profiles and the cheapest endpoint, over the 20 replayed real days."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from helpers import run_cli

from catalog.bundle import Bundle
from catalog.cost.workload import EndpointFilters, WorkloadProfile
from catalog.errors import InputError, NotFoundError
from catalog.library import Catalog
from catalog.store import queries


@pytest.fixture(scope="module")
def cat(replayed_template: Path) -> Catalog:
    return Catalog.open(replayed_template)


def listed(bundle: Bundle, day: str, model: str) -> dict[str, dict[str, Decimal]]:
    """The recorded prices of one day, straight from the bundle (not from our store)."""
    endpoints = bundle.load(day).endpoints[model]["endpoints"]
    return {
        e["tag"]: {k: Decimal(v) for k, v in e["pricing"].items() if k not in ("discount", "overrides")}
        for e in endpoints
    }


def profile_cost(prices: dict[str, Decimal], inp: int, out: int, cached: int) -> Decimal:
    cache_rate = prices.get("input_cache_read") or prices["prompt"]
    per_request = prices.get("request", Decimal(0))
    return (inp - cached) * prices["prompt"] + cached * cache_rate + out * prices["completion"] + per_request


def test_cli_cheapest_ranks_that_days_endpoints_by_the_profiles_cost(replayed_template: Path, bundle: Bundle) -> None:
    out = run_cli(
        "cheapest", "deepseek/deepseek-v3.2", "--as-of", "2026-08-01", "--input", "20000", "--output", "1000",
        "--cache-hit", "0.8", "--json", "--db", str(replayed_template),
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    answer = json.loads(out.stdout)
    ranked = answer["ranked"]
    costs = [Decimal(r["cost_per_request"]) for r in ranked]
    assert costs == sorted(costs)
    recorded = listed(bundle, "2026-08-01", "deepseek/deepseek-v3.2")
    excluded = {e["tag"] for e in answer["excluded"]}
    assert {r["tag"] for r in ranked} | excluded == set(recorded)
    for row in ranked:  # every figure recomputed from the recorded listing with plain Decimal arithmetic
        assert Decimal(row["cost_per_request"]) == profile_cost(recorded[row["tag"]], 20000, 1000, 16000)
    assert answer["provider"]["order"][0] == ranked[0]["tag"]
    assert answer["provider"]["order"] == [r["tag"] for r in ranked[:3]]
    assert answer["provider"]["allow_fallbacks"] is False
    assert ranked[0]["tag"] in answer["explanation"]


def test_cache_hit_share_changes_the_winner_on_a_real_day(cat: Catalog, bundle: Bundle) -> None:
    model = "deepseek/deepseek-v4-flash"
    cold = cat.cheapest(model, WorkloadProfile(20000, 1000), as_of="2026-08-01")
    warm = cat.cheapest(model, WorkloadProfile(20000, 1000, cache_hit=Decimal("0.8")), as_of="2026-08-01")
    recorded = listed(bundle, "2026-08-01", model)
    winners = []
    for ranking, cached in ((cold, 0), (warm, 16000)):
        costs = {r.tag: profile_cost(recorded[r.tag], 20000, 1000, cached) for r in ranking.ranked}
        best = min(costs.values())
        assert ranking.ranked[0].cost_per_request == best
        winners.append({tag for tag, cost in costs.items() if cost == best})  # ties share the win
    assert winners[0].isdisjoint(winners[1]), winners


def test_filters_exclude_with_reasons(cat: Catalog) -> None:
    model = "deepseek/deepseek-v3.2"
    everything = cat.cheapest(model, as_of="2026-08-01")
    tags = [r.tag for r in everything.ranked]
    only_two = cat.cheapest(model, as_of="2026-08-01", filters=EndpointFilters(providers=(tags[1], tags[2])))
    assert [r.tag for r in only_two.ranked] == [tags[1], tags[2]]
    denied = cat.cheapest(model, as_of="2026-08-01", filters=EndpointFilters(exclude_providers=(tags[0],)))
    assert tags[0] not in [r.tag for r in denied.ranked]
    assert {
        "tag": tags[0],
        "model_id": model,
        "endpoint_key": f"{model}@{tags[0]}",
        "reason": "provider excluded",
        "requirement": "provider",
    } in denied.excluded
    no_training = cat.cheapest(model, as_of="2026-08-01", filters=EndpointFilters(no_training=True))
    assert no_training.routing is not None and no_training.routing["data_collection"] == "deny"
    fp8 = cat.cheapest(model, as_of="2026-08-01", filters=EndpointFilters(quantizations=("fp8",)))
    assert fp8.ranked and all(r.quantization == "fp8" for r in fp8.ranked)
    huge = cat.cheapest(model, as_of="2026-08-01", filters=EndpointFilters(min_context=10_000_000))
    assert huge.ranked == [] and huge.routing is None
    assert all(e["reason"].startswith("context") for e in huge.excluded)


def test_cheapest_across_models_with_required_parameters(cat: Catalog) -> None:
    ranking = cat.cheapest(None, as_of="2026-08-01", filters=EndpointFilters(parameters=("tools", "response_format")))
    assert len({r.model_id for r in ranking.ranked}) > 20
    assert ranking.routing is not None and ranking.routing["require_parameters"] is True
    costs = [r.cost_per_request for r in ranking.ranked]
    assert costs == sorted(costs)


def test_bad_profiles_and_unknown_models_are_clear_errors(cat: Catalog) -> None:
    with pytest.raises(InputError, match="cache-hit"):
        WorkloadProfile(cache_hit=Decimal("1.5"))
    with pytest.raises(InputError, match="exceed 1"):
        WorkloadProfile(cache_hit=Decimal("0.7"), cache_write=Decimal("0.5"))
    with pytest.raises(InputError, match="input-tokens"):
        WorkloadProfile(input_tokens=-1)
    with pytest.raises(NotFoundError, match=r"deepseek/deepseek-v3\.2"):
        cat.cheapest("deepseek/deepseek-v3.3", as_of="2026-08-01")


def test_cli_rejects_bad_numbers_without_a_traceback(replayed_template: Path) -> None:
    out = run_cli("cheapest", "deepseek/deepseek-v3.2", "--cache-hit", "lots", "--db", str(replayed_template))
    assert out.returncode == 2
    assert "--cache-hit" in out.stderr and "Traceback" not in out.stderr


def test_price_sheet_reports_base_price_and_tiers(replayed_template: Path) -> None:
    out = run_cli("price", "qwen/qwen3.7-plus", "--as-of", "2026-08-01", "--json", "--db", str(replayed_template))
    assert out.returncode == 0, out.stderr
    sheets = json.loads(out.stdout)
    model_sheet = next(s for s in sheets if s["kind"] == "model")
    assert model_sheet["tiers"] and model_sheet["tiers"][0]["min_prompt_tokens"] == 256000
    streamlake = run_cli(
        "price",
        "deepseek/deepseek-v3.2",
        "--provider",
        "baidu",
        "--as-of",
        "2026-08-01",
        "--json",
        "--db",
        str(replayed_template),
    )
    assert streamlake.returncode == 0, streamlake.stderr
    (baidu,) = json.loads(streamlake.stdout)
    assert Decimal(baidu["discount"]) == Decimal("0.26")
    listed_prompt = Decimal(baidu["prices"]["prompt"]["listed"])
    assert Decimal(baidu["prices"]["prompt"]["base"]) * (1 - Decimal("0.26")) == listed_prompt


def test_prices_as_of_hold_every_sheet_in_force(cat: Catalog, bundle: Bundle) -> None:
    frame = cat.prices(as_of="2026-07-20")
    endpoints = frame.filter(frame["kind"] == "endpoint")
    recorded = bundle.load("2026-07-20").endpoints
    assert endpoints.height == sum(len(e["endpoints"]) for e in recorded.values())
    row = endpoints.filter(endpoints["model_id"] == "deepseek/deepseek-v3.2").row(0, named=True)
    tags = {e["tag"]: e for e in recorded["deepseek/deepseek-v3.2"]["endpoints"]}
    assert Decimal(row["prompt"]) == Decimal(tags[row["tag"]]["pricing"]["prompt"])


def test_prices_in_force_as_a_pass_over_every_version_finds_them(cat: Catalog) -> None:
    """``Catalog.prices`` finds the sheets in force by the table's vectorised scan: the same rows, in the same
    order, as the pass over every version it replaced, at instants on, just before and just after changes."""
    import polars as pl

    from catalog.library import _listing_order, _sheet_row

    versions = cat.table.versions
    starts = sorted({v.valid_from for v in versions})
    picked = [*starts[:: max(1, len(starts) // 5)], starts[-1]]
    instants = [t + d for t in picked for d in (timedelta(0), timedelta(microseconds=-1), timedelta(seconds=1))]
    for at in instants:
        found = sorted(
            (v for v in versions if v.valid_from <= at and (v.valid_to is None or v.valid_to > at)),
            key=_listing_order,
        )
        expected = pl.DataFrame([_sheet_row(v) for v in found], infer_schema_length=None)
        assert cat.prices(as_of=at).equals(expected), at
    assert any(cat.prices(as_of=at).height for at in instants)


def test_a_provider_with_only_suffixed_tags_prices_at_the_tag_listed_then(cat: Catalog, bundle: Bundle) -> None:
    model = "anthropic/claude-haiku-4.5"
    usage = [
        {"timestamp": "2026-08-03T12:00:00Z", "model": model, "provider": "Amazon Bedrock", "prompt_tokens": 10**6},
        {"timestamp": "2026-07-25T12:00:00Z", "model": model, "provider": "azure", "prompt_tokens": 10**6},
        {"timestamp": "2026-07-31T23:00:00Z", "model": model, "provider": "Azure", "prompt_tokens": 10**6},
    ]
    priced = cat.cost(usage)
    assert priced["status"].to_list() == ["ok", "ok", "ok"]
    assert priced["price_source"].to_list() == ["endpoint", "endpoint", "endpoint"]
    tags = [cat.table.versions[i].tag for i in priced["sheet_id"].to_list()]
    # Bedrock lists /global and /eu-west-1 that day (at different prices): the global one is preferred.
    # Azure's only endpoint changed tag from us-east-2 to global on 07-31: each day's own tag prices it.
    assert tags == ["amazon-bedrock/global", "azure/us-east-2", "azure/global"]
    for (day, tag), cost in zip(
        [("2026-08-03", tags[0]), ("2026-07-25", tags[1]), ("2026-07-31", tags[2])], priced["cost_total"], strict=True
    ):
        listed_prompt = next(
            Decimal(e["pricing"]["prompt"]) for e in bundle.load(day).endpoints[model]["endpoints"] if e["tag"] == tag
        )
        assert cost == listed_prompt * 10**6


def test_filters_hold_for_every_ranked_row(cat: Catalog) -> None:
    wanted = ("tools", "response_format")
    ranking = cat.cheapest(None, as_of="2026-08-01", filters=EndpointFilters(parameters=wanted, no_training=True))
    assert ranking.ranked
    candidates = {r["endpoint_key"]: r for r in queries.endpoint_candidates(cat.con, ranking.at).to_dicts()}
    for row in ranking.ranked:
        source = candidates[row.endpoint_key]
        assert set(wanted) <= set(source["supported_parameters"])
        assert source["policy_training"] is False
    assert any("does not support" in e["reason"] for e in ranking.excluded)


def test_discounted_endpoint_reports_its_undiscounted_base(cat: Catalog, bundle: Bundle) -> None:
    baidu = next(
        e
        for e in bundle.load("2026-08-01").endpoints["deepseek/deepseek-v3.2"]["endpoints"]
        if e["tag"].startswith("baidu")
    )
    assert baidu["pricing"]["prompt"] == "0.0000002072" and baidu["pricing"]["discount"] == 0.26
    priced = cat.cost([{"timestamp": "2026-08-01T12:00:00Z", "model": "deepseek/deepseek-v3.2",
                        "provider": "baidu", "prompt_tokens": 10**6}])  # fmt: skip
    assert priced["cost_total"][0] == Decimal("0.2072")
    assert priced["cost_base"][0] == Decimal("0.28")  # 0.00000028 per token, DeepSeek's list price
    assert priced["saving"][0] == Decimal("0.0728")


def test_python_face_takes_filters_as_keywords(cat: Catalog) -> None:
    by_object = cat.cheapest("deepseek/deepseek-v3.2", as_of="2026-08-01", filters=EndpointFilters(min_context=160_000))
    by_keyword = cat.cheapest("deepseek/deepseek-v3.2", as_of="2026-08-01", min_context=160_000)
    assert by_object.to_dict() == by_keyword.to_dict()
    assert all(r.context_length >= 160_000 for r in by_keyword.ranked)
    with pytest.raises(InputError, match="EndpointFilters"):
        cat.cheapest("deepseek/deepseek-v3.2", as_of="2026-08-01", min_contxt=1)


def test_free_endpoints_can_be_left_out(cat: Catalog) -> None:
    everything = cat.cheapest(None, as_of="2026-08-01", min_context=128_000)
    assert everything.ranked[0].cost_per_request == 0  # free variants win a plain ranking
    paid = cat.cheapest(None, as_of="2026-08-01", min_context=128_000, exclude_free=True)
    assert paid.ranked and all(r.cost_per_request > 0 for r in paid.ranked)
    assert any(e["reason"] == "free endpoint" for e in paid.excluded)


def test_price_table_shows_tiers_and_per_unit_prices_as_listed(replayed_template: Path) -> None:
    tiers = run_cli("price", "qwen/qwen3.7-plus", "--as-of", "2026-08-01", "--db", str(replayed_template))
    assert tiers.returncode == 0, tiers.stderr
    assert "prompt [min_prompt_tokens=256000]" in tiers.stdout  # a data cell, not swallowed as rich markup
    search = run_cli(
        "price", "openai/gpt-4.1-mini", "--provider", "openai", "--as-of", "2026-08-01", "--db", str(replayed_template)
    )
    assert search.returncode == 0, search.stderr
    row = next(line for line in search.stdout.splitlines() if "web_search" in line and "│" in line)
    assert "0.01" in row and "10000" not in row  # $ per search, not scaled to "per million"


def test_before_the_endpoint_history_the_list_price_ranks_and_says_so(replayed_all_template: Path) -> None:
    with Catalog.open(replayed_all_template) as cat:
        ranking = cat.cheapest("openai/gpt-4o-mini", WorkloadProfile(1000, 500), as_of="2025-06-01")
        sheet = next(
            v.sheet
            for v in cat.table.versions
            if v.kind == "model" and v.model_id == "openai/gpt-4o-mini" and v.valid_from <= ranking.at
            and (v.valid_to is None or v.valid_to > ranking.at)
        )  # fmt: skip
    (row,) = ranking.ranked
    assert (row.tag, row.price_source) == ("list price", "model")
    assert row.cost_per_request == 1000 * sheet.prices["prompt"] + 500 * sheet.prices["completion"]
    assert ranking.routing is None
    assert ranking.note is not None and "the endpoint history starts 2026-07-17" in ranking.note
    assert "no endpoint passed the filters" not in ranking.explanation


def test_with_no_price_at_all_the_note_says_when_the_history_starts(cat: Catalog) -> None:
    ranking = cat.cheapest("deepseek/deepseek-v3.2", as_of="2025-06-01")
    assert ranking.ranked == [] and ranking.routing is None
    assert ranking.note is not None and ranking.note.startswith("no price for deepseek/deepseek-v3.2 at 2025-06-01")
    assert "filters" not in ranking.explanation  # no filter was set: the answer must not blame one
    assert "its price history starts 2026-" in ranking.note
