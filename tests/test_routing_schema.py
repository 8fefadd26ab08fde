"""Acceptance 3 of issue 14: every routing object the project emits validates against ``ProviderPreferences``
of OpenRouter's spec, as bundled in ``data/bundle/spec/schemas.json`` (``tests/helpers.py: spec_problems``).

Emitted anywhere means: ``Catalog.cheapest`` (and the per-snapshot index under it) over every model of a recorded
day with workloads and preference objects that exercise each key of the schema; ``catalog cheapest --json``;
``GET /v1/cheapest``; the routing snippet of every model page of the built site; and the bodies the client
builds for ``route="cheapest"`` (the ``provider`` part against ``ProviderPreferences``, the whole body against the
chat request schema). Each test also checks that the keys it meant to exercise were emitted, so a ranking that
stopped emitting them cannot pass by validating less.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from helpers import run_cli, spec_problems
from site_helpers import Built

from catalog.api import ApiState, create_app
from catalog.client import Client
from catalog.cost.ranker import RankIndex
from catalog.cost.workload import EndpointFilters, WorkloadProfile
from catalog.errors import InputError
from catalog.library import Catalog
from catalog.store import queries
from catalog.store.db import connect

AS_OF = "2026-08-05"
EVERY_KEY = {
    "order",
    "allow_fallbacks",
    "require_parameters",
    "quantizations",
    "data_collection",
    "zdr",
    "only",
    "ignore",
    "max_price",
    "sort",
    "preferred_min_throughput",
    "preferred_max_latency",
}
PROFILES = [
    WorkloadProfile(),
    WorkloadProfile(250_000, 2_000),
    WorkloadProfile(
        20_000, 1_000, cache_hit=Decimal("0.8"), tools=True, structured_output=True, reasoning_effort="high"
    ),
    WorkloadProfile(2_000, 300, images=2),
]
# OpenRouter provider objects, read as the client and Catalog.cheapest(provider=...) read them
PREFERENCES: list[dict[str, Any]] = [
    {},
    {"sort": "throughput"},
    {"sort": {"by": "latency"}},
    {"zdr": True},
    {"data_collection": "deny"},
    {"max_price": {"prompt": "1", "completion": "4", "request": "0.01", "image": "0.01"}},
    {"quantizations": ["fp8", "bf16"]},
    {"order": ["deepinfra", "novita", "DeepInfra"], "allow_fallbacks": True},
    {"only": ["deepinfra", "together", "google-vertex", "Parasail"]},
    {"ignore": ["deepinfra", "Google"]},
    {"preferred_min_throughput": 50, "preferred_max_latency": {"p50": 1.5}},
    {"zdr": True, "sort": "latency", "max_price": {"prompt": "5"}, "quantizations": ["fp8"], "order": ["baidu"]},
]
FILTERS = [EndpointFilters.from_provider_preferences(p) for p in PREFERENCES] + [
    EndpointFilters(parameters=("temperature", "seed")),  # require_parameters
    EndpointFilters(no_prompt_retention=True, min_uptime=90.0, exclude_free=True, min_context=100_000),
]


def _check(routing: Any, what: str, seen: set[str]) -> None:
    if routing is None:
        return
    problems = spec_problems(routing)
    assert problems == [], f"{what}: {routing} → {problems}"
    seen.update(routing)


@pytest.fixture(scope="module")
def catalog(replayed_template: Path) -> Iterator[Catalog]:
    with Catalog.open(replayed_template) as cat:
        yield cat


@pytest.fixture(scope="module")
def models(catalog: Catalog) -> list[str]:
    ranked = catalog.cheapest(None, WorkloadProfile(), as_of=AS_OF)
    found = sorted({row.model_id for row in ranked.ranked})
    assert len(found) > 200
    return found


def test_every_models_routing_validates_for_every_profile_and_preference(catalog: Catalog, models: list[str]) -> None:
    # The index Catalog.cheapest ranks with, built once: 300+ models x 4 profiles x 14 filter sets in seconds.
    at = catalog.cheapest(None, WorkloadProfile(), as_of=AS_OF).at
    index = RankIndex.build(queries.endpoint_candidates(catalog.con, at, None), catalog.table, at)
    seen: set[str] = set()
    emitted = 0
    for model in models:
        for profile in PROFILES:
            for filters in FILTERS:
                routing = index.rank(profile, filters, model=model).routing
                _check(routing, f"{model} {profile} {filters}", seen)
                emitted += routing is not None
        for fallbacks in (0, 5):
            _check(
                index.rank(WorkloadProfile(), EndpointFilters(), model=model, fallbacks=fallbacks).routing, model, seen
            )
    assert emitted > 5_000 and seen == EVERY_KEY, (emitted, EVERY_KEY - seen)


def test_catalog_cheapest_routing_validates(catalog: Catalog, models: list[str]) -> None:
    seen: set[str] = set()
    for model in [*models[::15], "anthropic/claude-sonnet-4.5", "deepseek/deepseek-v3.2"]:
        for profile in PROFILES:
            for filters in FILTERS[::2]:
                _check(catalog.cheapest(model, profile, as_of=AS_OF, filters=filters).routing, model, seen)
    for day in ("2026-07-17", AS_OF):
        for filters in FILTERS:
            _check(catalog.cheapest(None, WorkloadProfile(), as_of=day, filters=filters).routing, "all models", seen)
    assert seen >= {"order", "allow_fallbacks", "zdr", "max_price", "sort", "quantizations", "only", "ignore"}


def test_a_quantization_outside_the_spec_is_refused_naming_the_allowed_values() -> None:
    with pytest.raises(InputError, match=r"quantization 'fp9' is not one of .*fp8"):
        EndpointFilters.from_provider_preferences({"quantizations": ["fp8", "fp9"]})


CLI_OPTIONS = [
    [],
    ["--zdr", "--sort", "latency", "--order", "deepinfra", "--allow-fallbacks", "--max-price-prompt", "2"],
    ["--max-price-completion", "10", "--max-price-request", "0.5", "--max-price-image", "0.01", "--no-training"],
    ["--quantization", "fp8", "--quantization", "bf16", "--provider", "deepinfra", "--provider", "baidu"],
    ["--exclude-provider", "deepinfra", "--parameter", "temperature", "--sort", "throughput", "--fallbacks", "4"],
    ["--tools", "--structured-output", "--reasoning-effort", "high", "--preferred-min-throughput", "40"],
    ["--input", "250000", "--output", "2000", "--preferred-max-latency", "2.5"],
]


def test_catalog_cheapest_json_routing_validates(replayed_template: Path) -> None:
    seen: set[str] = set()
    for model in ("deepseek/deepseek-v3.2", "anthropic/claude-sonnet-4.5", "openai/gpt-4o-mini", "qwen/qwen3-32b"):
        for options in CLI_OPTIONS:
            done = run_cli("cheapest", model, "--as-of", AS_OF, "--json", "--db", str(replayed_template), *options)
            assert done.returncode == 0, done.stderr
            _check(json.loads(done.stdout)["provider"], f"cli {model} {options}", seen)
    assert seen == EVERY_KEY, EVERY_KEY - seen


def _query(options: list[str]) -> list[tuple[str, str]]:
    """CLI options → the API's query parameters (the same names with underscores; a flag is true)."""
    pairs: list[tuple[str, str]] = []
    for i, token in enumerate(options):
        if not token.startswith("--"):
            continue
        value = options[i + 1] if i + 1 < len(options) and not options[i + 1].startswith("--") else "true"
        pairs.append((token[2:].replace("-", "_"), value))
    return pairs


def test_api_cheapest_routing_validates(replayed_template: Path) -> None:
    con = connect(replayed_template, read_only=True)
    seen: set[str] = set()
    try:
        with TestClient(create_app(ApiState(con, replayed_template))) as api:
            for model in ("deepseek/deepseek-v3.2", "anthropic/claude-sonnet-4.5", "openai/gpt-4o-mini"):
                for options in CLI_OPTIONS:
                    params = [("model", model), ("as_of", AS_OF), *_query(options)]
                    answer = api.get("/v1/cheapest", params=params)
                    assert answer.status_code == 200, (params, answer.text)
                    _check(answer.json()["provider"], f"api {params}", seen)
    finally:
        con.close()
    assert {"order", "allow_fallbacks", "zdr", "max_price", "sort", "quantizations", "require_parameters"} <= seen


def test_every_model_pages_routing_snippet_validates(site: Built) -> None:
    seen: set[str] = set()
    snippets = 0
    for page in sorted(site.out.rglob("*.html")):
        found = re.search(r'<code id="routing-snippet">(.*?)</code>', page.read_text(encoding="utf-8"), re.S)
        if found and found.group(1).strip():
            snippet = json.loads(html.unescape(found.group(1)))
            assert set(snippet) == {"provider"}, page
            _check(snippet["provider"], str(page.relative_to(site.out)), seen)
            snippets += 1
    assert snippets > 200 and {"order", "allow_fallbacks"} <= seen


MESSAGES: list[dict[str, Any]] = [
    {"role": "system", "content": "Answer in JSON."},
    {
        "role": "user",
        "content": [
            {"type": "text", "text": "What is in this picture? " * 40},
            {"type": "image_url", "image_url": {"url": "https://example.org/cat.png"}},
        ],
    },
]
TOOLS = [{"type": "function", "function": {"name": "look", "description": "d", "parameters": {"type": "object"}}}]
CALLS: list[tuple[str, Any, dict[str, Any]]] = [
    ("deepseek/deepseek-v3.2", "hello", {"max_tokens": 1000}),
    ("anthropic/claude-sonnet-4.5", "x" * 1_000_000, {"max_tokens": 2000, "provider": {"sort": "throughput"}}),
    ("google/gemini-2.5-flash-lite", MESSAGES, {"response_format": {"type": "json_object"}, "tools": TOOLS}),
    ("openai/gpt-4o-mini", MESSAGES, {"max_completion_tokens": 300, "provider": {"zdr": True, "order": ["azure"]}}),
    ("deepseek/deepseek-v3.2", "hi", {"temperature": 0.3, "seed": 7, "provider": {"require_parameters": True}}),
    ("deepseek/deepseek-v3.2", "hi", {"reasoning": {"effort": "high"}, "provider": {"max_price": {"prompt": "2"}}}),
    ("deepinfra:deepseek/deepseek-v3.2", "hi", {"provider": {"quantizations": ["fp8", "fp4"]}}),
    (
        "qwen/qwen3-32b",
        "hi",
        {"provider": {"ignore": ["deepinfra"], "data_collection": "deny", "allow_fallbacks": True}},
    ),
    ("qwen/qwen3-32b", "hi", {"provider": {"preferred_max_latency": {"p50": 2}, "preferred_min_throughput": 20}}),
    ("qwen/qwen3-32b:nitro", "hi", {"provider": {"enforce_distillable_text": True, "require_parameters": True}}),
]


def test_client_request_bodies_validate(replayed_template: Path) -> None:
    # the client also carries enforce_distillable_text, which the ranking cannot check
    seen: set[str] = set()
    with Catalog.open(replayed_template) as cat, Client(prices=cat, as_of=AS_OF) as client:
        for model, prompt, options in CALLS:
            request = client.request(prompt, model, route="cheapest", **options)
            _check(request.body["provider"], f"client {model} {options}", seen)
            assert spec_problems(request.body, "ChatRequest") == [], (model, options)
            streamed = client.request(prompt, model, route="cheapest", stream=True, **options)
            assert spec_problems(streamed.body, "ChatRequest") == [], (model, options)
    assert seen == EVERY_KEY | {"enforce_distillable_text"}, EVERY_KEY - seen


def test_the_clients_other_bodies_validate_too() -> None:
    # No catalog needed: a pinned provider, the caller's own object, model fallbacks, OpenRouter's fallback route.
    seen: set[str] = set()
    with Client(base_url="http://127.0.0.1:9/api/v1") as client:
        for model, options in [
            ("groq:moonshotai/kimi-k2-0905", {"provider": {"sort": "price"}}),
            ("deepseek/deepseek-v3.2", {"provider": {"order": ["deepinfra"], "zdr": True}, "route": "fallback"}),
            ("openai/gpt-4o", {"models": ["anthropic/claude-sonnet-4.5"], "tools": TOOLS, "stream": True}),
            ("openai/gpt-4o", {"response_format": {"type": "json_object"}, "sys_msg": "Be brief.", "max_tokens": 9}),
        ]:
            request = client.request(MESSAGES, model, **options)
            assert spec_problems(request.body, "ChatRequest") == [], (model, options)
            _check(request.body.get("provider"), model, seen)
    assert {"only", "allow_fallbacks", "sort", "order", "zdr"} <= seen
