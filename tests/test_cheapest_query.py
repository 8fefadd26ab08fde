"""The one definition of the cheapest query (``catalog.cost.query.CHEAPEST``) and the two faces built from it."""

from __future__ import annotations

from dataclasses import fields
from decimal import Decimal
from pathlib import Path
from typing import Any

import click
import duckdb
import pytest

from catalog.api import ApiState, create_app
from catalog.cli.cost import cheapest_cmd
from catalog.cost.query import CHEAPEST, build_query
from catalog.cost.units import WORKLOAD_NAMES
from catalog.cost.workload import EndpointFilters, WorkloadProfile
from catalog.errors import InputError
from catalog.store.migrations import migrate


def defaults() -> dict[str, Any]:
    return {p.name: p.default for p in CHEAPEST}


def test_every_profile_and_filter_field_is_one_parameter() -> None:
    covered = [(p.target, p.field) for p in CHEAPEST]
    assert len(covered) == len(set(covered)) == len({p.name for p in CHEAPEST})
    assert {f for t, f in covered if t == "profile"} == {f.name for f in fields(WorkloadProfile)}
    assert {f for t, f in covered if t == "filters"} == {f.name for f in fields(EndpointFilters)}
    assert [f for t, f in covered if t == "routing"] == ["fallbacks"]


def test_the_defaults_build_the_default_query() -> None:
    query = build_query(defaults(), lambda text, _param: Decimal(text))
    assert query.profile == WorkloadProfile()
    assert query.filters == EndpointFilters()
    assert query.fallbacks == 2


def test_values_reach_their_fields() -> None:
    values = {
        **defaults(),
        "input": 20_000,
        "cache_hit": "0.8",
        "any_status": True,
        "provider": ["deepinfra", "baidu"],
        "fallbacks": 0,
    }
    query = build_query(values, lambda text, _param: Decimal(text))
    assert query.profile.input_tokens == 20_000 and query.profile.cache_hit == Decimal("0.8")
    assert query.filters.status_ok is False and query.filters.providers == ("deepinfra", "baidu")
    assert query.fallbacks == 0
    with pytest.raises(InputError, match="cache-hit"):
        build_query({**values, "cache_hit": "1.5"}, lambda text, _param: Decimal(text))
    routed = {
        **defaults(),
        "tools": True,
        "reasoning_effort": "high",
        "max_price_prompt": "2.5",
        "sort": "latency",
        "order": ["anthropic", "azure"],
        "preferred_max_latency": 1.5,
        "zdr": True,
    }
    query = build_query(routed, lambda text, _param: Decimal(text))
    assert query.profile.tools and query.profile.reasoning_effort == "high"
    assert query.filters.max_price_prompt == Decimal("2.5") and query.filters.max_price_completion is None
    assert query.filters.sort == "latency" and query.filters.order == ("anthropic", "azure")
    assert query.filters.preferred_max_latency == 1.5 and query.filters.zdr
    with pytest.raises(InputError, match="max-price-prompt"):
        build_query({**routed, "max_price_prompt": "-1"}, lambda text, _param: Decimal(text))


def test_the_command_takes_the_specs_options_in_order_with_its_defaults() -> None:
    options = [p for p in cheapest_cmd.params if isinstance(p, click.Option) and p.name in defaults()]
    assert [o.opts[0] for o in options] == [p.option for p in CHEAPEST]
    parsed = cheapest_cmd.make_context("cheapest", []).params
    for param in CHEAPEST:
        assert parsed[param.name] == (() if param.kind == "names" else param.default), param.name


def test_the_api_takes_the_specs_parameters_in_order_with_its_defaults() -> None:
    con = duckdb.connect(":memory:")
    migrate(con)
    document = create_app(ApiState(con, Path("unused.duckdb"))).openapi()
    parameters = document["paths"]["/v1/cheapest"]["get"]["parameters"]
    names = [p["name"] for p in parameters]
    # then the workload of another kind of model (``kind=video&seconds=8``), answered by the unit ranking
    assert names == ["model", *(p.name for p in CHEAPEST), "as_of", "kind", *WORKLOAD_NAMES]
    published = {p["name"]: p["schema"].get("default") for p in parameters}
    assert {p.name: published[p.name] for p in CHEAPEST} == defaults()
