"""The generation client over real loopback HTTP, against the fake OpenRouter's chat completions.

Acceptance: every recorded transcript and body parses to the right text, tool calls and usage, whole or in
1-byte reads; the computed cost of the recorded responses equals what ``catalog reconcile`` computes, and so
matches OpenRouter's billed cost wherever the price in force is known; retries happen only before the first
byte (a 429 with ``Retry-After: 1`` waits at least a second), and a stream that breaks is raised.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from helpers import run_cli

from catalog.bundle import Bundle
from catalog.client import AsyncClient, Client, Generation
from catalog.client.sse import SSEDecoder
from catalog.client.workload import request_filters, request_profile
from catalog.cost.bodies import usage_from_body, usage_from_text
from catalog.cost.reconcile import reconcile_rows
from catalog.errors import (
    AuthError,
    BadRequestError,
    CreditsError,
    InputError,
    ModerationError,
    RateLimitError,
    StreamError,
    UpstreamError,
)
from catalog.fake import FakeOpenRouter, serve_in_thread
from catalog.fake.chat import ECHO_PRICING
from catalog.fake.faults import Faults
from catalog.library import Catalog
from catalog.prices import canonical

SECRET = "sk-or-v1-test-secret-never-printed"

# Independent expectations for a few recordings, written by reading the files.
KNOWN = {
    "stream-2025-08-06-tool-calls.sse": {"text": "", "tools": [("llm_version", "{}")], "finish": "tool_calls"},
    "nonstream-tool-call.json": {
        "text": "",
        "tools": [("divide", '{"numerator": 123, "denominator": 456, "on_inf": "infinity"}')],
        "finish": "tool_calls",
    },
    "stream-2025-08-06.sse": {"text": "Pebbles and Skipper.", "tools": [], "finish": "stop"},
    "responses-api-stream.sse": {"text": "4", "tools": [], "finish": "stop"},
    "responses-api-prompt-cache-1.json": {"text": "OK", "tools": [], "finish": "stop"},
    "nonstream-reasoning-effort-high.json": {"text": "ok", "tools": [], "finish": "stop"},
}


@pytest.fixture(scope="module")
def fake(bundle: Bundle) -> Iterator[tuple[FakeOpenRouter, str]]:
    server = FakeOpenRouter(bundle)
    with serve_in_thread(server) as url:
        yield server, url


@pytest.fixture
def client(fake: tuple[FakeOpenRouter, str]) -> Iterator[Client]:
    server, url = fake
    server.set_faults(None)
    with Client(base_url=url, api_key=SECRET, max_attempts=1) as c:
        yield c


# --- 1. every recording parses right, whole or a byte at a time ---------------------------------------------


def expected_from_bytes(raw: bytes, name: str) -> dict[str, Any]:
    """A second, plain reading of a recording: text, tool calls and usage counts (via the cost normaliser)."""
    text, tools = [], {}
    if name.endswith(".sse"):
        usage = usage_from_text(raw.decode(), name)[0]
        for line in raw.decode().splitlines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            chunk = json.loads(line[6:], parse_float=Decimal)
            if chunk.get("type") == "response.output_text.delta":
                text.append(chunk["delta"])
            for choice in chunk.get("choices") or []:
                delta = choice.get("delta") or {}
                text.append(delta.get("content") or "")
                for call in delta.get("tool_calls") or []:
                    entry = tools.setdefault(call.get("index", 0), ["", ""])
                    entry[0] += (call.get("function") or {}).get("name") or ""
                    entry[1] += (call.get("function") or {}).get("arguments") or ""
    else:
        body = json.loads(raw, parse_float=Decimal)
        usage = [usage_from_body(body, source=name)] if body.get("usage") else []
        if body.get("object") == "response":
            for item in body["output"]:
                for part in item.get("content") or []:
                    if part.get("type") == "output_text":
                        text.append(part["text"])
        else:
            message = body["choices"][0]["message"]
            text.append(message.get("content") or "")
            for i, call in enumerate(message.get("tool_calls") or []):
                tools[i] = [call["function"]["name"], call["function"]["arguments"]]
    counts = {}
    if usage:
        counts = {k: v for k, v in usage[-1].items() if k.endswith(("_tokens", "searches")) and v is not None}
    return {"text": "".join(text), "tools": [tuple(tools[i]) for i in sorted(tools)], "usage": counts}


def recordings(bundle: Bundle) -> list[str]:
    return [n for n in bundle.chat_recordings() if not n.startswith("error-")]


RAISES = {"stream-finish-length.sse"}  # the one recording with a mid-stream error chunk


def call(client: Client, name: str) -> Generation:
    try:
        generation = client.generate("replayed", f"replay/{name}", stream=name.endswith(".sse"))
    except StreamError as exc:  # a recorded mid-stream error: what arrived is on .partial
        assert name in RAISES, f"{name} raised {exc}"
        assert isinstance(exc.partial, Generation)
        return exc.partial
    assert name not in RAISES, f"{name} should have raised its recorded error"
    return generation


@pytest.mark.parametrize("chunk_bytes", [0, 1])
@pytest.mark.slow  # seconds, not milliseconds: left out of make test-fast
def test_every_recording_parses_to_its_text_tool_calls_and_usage(
    fake: tuple[FakeOpenRouter, str], client: Client, bundle: Bundle, chunk_bytes: int
) -> None:
    server, _ = fake
    server.set_faults(Faults(chunk_bytes=chunk_bytes))
    names = recordings(bundle)
    assert len(names) >= 30
    for name in names:
        generation = call(client, name)
        want = expected_from_bytes(bundle.chat_recording(name), name)
        assert generation.text == want["text"], name
        assert [(t.name, t.arguments) for t in generation.tool_calls] == want["tools"], name
        assert {k: v for k, v in generation.usage.items() if v} == {k: v for k, v in want["usage"].items() if v}, name
        if name in KNOWN:
            known = KNOWN[name]
            assert (generation.text, [(t.name, t.arguments) for t in generation.tool_calls]) == (
                known["text"],
                known["tools"],
            )
            assert generation.finish_reason == known["finish"], name


def test_a_recorded_mid_stream_error_is_raised_with_what_arrived(client: Client) -> None:
    with pytest.raises(StreamError) as caught:
        client.generate("x", "replay/stream-finish-length.sse", stream=True)
    assert "Token limit reached" in str(caught.value) and caught.value.code == 400
    partial = caught.value.partial
    assert isinstance(partial, Generation) and partial.usage["prompt_tokens"] == 43
    assert partial.usage["completion_tokens"] == 10


def test_the_recorded_429_is_a_rate_limit_error_naming_the_provider(client: Client) -> None:
    name = next(n for n in Bundle().chat_recordings() if n.startswith("error-429"))
    with pytest.raises(RateLimitError) as caught:
        client.generate("x", f"replay/{name}")
    assert caught.value.status == 429 and "rate-limited upstream" in str(caught.value)
    assert SECRET not in str(caught.value) and SECRET not in repr(client)


def test_sse_decoder_splits_anywhere_including_inside_characters_and_crlf() -> None:
    raw = ': OPENROUTER PROCESSING\r\n\r\ndata: {"a": "é€😀"}\r\n\r\ndata: [DONE]\r\n\r\n'.encode()
    for size in range(1, 9):
        decoder = SSEDecoder()
        events = [e for i in range(0, len(raw), size) for e in decoder.feed(raw[i : i + size])] + decoder.close()
        assert [e.data for e in events] == ['{"a": "é€😀"}', "[DONE]"], size


# --- 2. cost: the engine's, as reconcile computes it; equal to the billed cost where the price is known ---------


@pytest.mark.parametrize("chunk_bytes", [0, 7])
def test_computed_cost_of_recorded_responses_matches_reconcile_and_the_billed_cost(
    fake: tuple[FakeOpenRouter, str], bundle: Bundle, replayed_all_template: Path, chunk_bytes: int
) -> None:
    server, url = fake
    server.set_faults(Faults(chunk_bytes=chunk_bytes))
    with Catalog.open(replayed_all_template) as cat, Client(base_url=url, prices=cat, max_attempts=1) as client:
        rows = []
        for name in recordings(bundle):
            found, _ = usage_from_text(bundle.chat_recording(name).decode(), name)
            rows += found
        reference = {r["source"]: r for r in reconcile_rows(cat.cost(rows))}
        matched = 0
        for name in recordings(bundle):
            generation = call(client, name)
            ref = reference[name]
            assert generation.cost == ref["computed"], name
            assert generation.billed_cost == ref["billed"], name
            if ref["verdict"] == "match":
                matched += 1
                assert generation.cost_status == "ok" and generation.cost_difference is not None
                assert abs(generation.cost_difference) <= ref["billed"] * Decimal("1e-9") or ref["billed"] == 0
    assert matched >= 19


def test_echo_stream_and_non_stream_give_the_same_generation_and_cost_equals_billed(client: Client) -> None:
    client.register_model(
        "local/echo", ECHO_PRICING, base_url=client.base_url, api_key="local-key", upstream_model="echo/custom"
    )
    prompt = "the quick brown fox jumps over the lazy dog " * 5
    whole = client.generate(prompt, "local/echo")
    streamed = client.generate(prompt, "local/echo", stream=True)
    for g in (whole, streamed):
        assert g.text == prompt and g.cost_status == "ok" and g.price_source == "custom"
        assert g.cost == g.billed_cost  # the fake bills from the same prices, exactly
    assert whole.usage == streamed.usage and whole.cost == streamed.cost
    assert streamed.ttft is not None and streamed.ttft <= streamed.elapsed
    # A follow-up reads the first turn from the cache and asks for reasoning: cached tokens at the cache-read
    # rate, reasoning tokens (inside the completion) at their own: still exactly what the fake billed.
    turns = [
        {"role": "user", "content": prompt},
        {"role": "assistant", "content": prompt},
        {"role": "user", "content": "and again"},
    ]
    follow = client.generate(turns, "local/echo", stream=True, reasoning={"effort": "high"})
    assert follow.usage["cache_read_tokens"] == 2 * whole.usage["prompt_tokens"]
    assert follow.usage["reasoning_tokens"] > 0 and follow.text == "and again"
    assert follow.cost == follow.billed_cost and follow.cost_status == "ok"


# --- 3. retries: before the first byte only --------------------------------------------------------------------


def test_a_429_with_retry_after_is_retried_after_at_least_that_long(fake: tuple[FakeOpenRouter, str]) -> None:
    server, url = fake
    server.set_faults(Faults(fail_first=1, fail_status=429, retry_after=1.0))
    before = server.log.by_path().get("/api/v1/chat/completions", 0)
    with Client(base_url=url, max_attempts=3) as client:
        started = time.perf_counter()
        generation = client.generate("hello there", "echo/retry", stream=True)
        waited = time.perf_counter() - started
    assert generation.text == "hello there"
    assert waited >= 1.0
    assert server.log.by_path()["/api/v1/chat/completions"] - before == 2


@pytest.mark.parametrize("knob", ["stream_error_after", "stream_drop_after"])
def test_a_stream_that_breaks_after_it_started_is_raised_not_retried(
    fake: tuple[FakeOpenRouter, str], knob: str
) -> None:
    server, url = fake
    server.set_faults(Faults(**{knob: 3}))
    before = server.log.by_path().get("/api/v1/chat/completions", 0)
    with Client(base_url=url, max_attempts=4) as client, pytest.raises(StreamError) as caught:
        client.generate("one two three four five six", "echo/break", stream=True)
    assert server.log.by_path()["/api/v1/chat/completions"] - before == 1  # no retry
    partial = caught.value.partial
    assert isinstance(partial, Generation) and partial.text == "one two three "
    assert "not retried" in str(caught.value)


def test_the_async_client_gives_the_same_answer(fake: tuple[FakeOpenRouter, str]) -> None:
    server, url = fake
    server.set_faults(Faults(fail_first=1, fail_status=503, retry_after=0.1))

    async def run() -> tuple[Generation, Generation]:
        async with AsyncClient(base_url=url) as client:
            return (
                await client.generate("red green blue", "echo/a", stream=True),
                await client.generate("red green blue", "echo/a"),
            )

    streamed, whole = asyncio.run(run())
    assert streamed.text == whole.text == "red green blue" and streamed.usage["prompt_tokens"] == 3


# --- ids, routing, headers -------------------------------------------------------------------------------------


def test_ids_pin_providers_and_keep_suffixes(client: Client) -> None:
    pinned = client.request("hi", "groq:moonshotai/kimi-k2-0905", provider={"sort": "price"})
    assert pinned.body["model"] == "moonshotai/kimi-k2-0905"
    assert pinned.body["provider"] == {"sort": "price", "only": ["groq"], "allow_fallbacks": False}
    free = client.request("hi", "deepseek/deepseek-r1:free", models=["openai/gpt-4o:nitro"])
    assert free.body["model"] == "deepseek/deepseek-r1:free" and "provider" not in free.body
    assert free.body["models"] == ["deepseek/deepseek-r1:free", "openai/gpt-4o:nitro"]
    assert free.body["messages"] == [{"role": "user", "content": "hi"}]  # no hidden system prompt
    with pytest.raises(InputError, match="provider:author/model"):
        client.request("hi", "gpt-4o")


# --- route="cheapest": the request's own workload and the caller's preferences ------------------------------


@dataclass
class _Ranked:
    routing: dict[str, Any] | None
    note: str | None = None
    excluded: list[dict[str, Any]] = field(default_factory=list)


class _RecordingSource:
    """A price source that records what the client asks and answers with a fixed routing."""

    def __init__(self, answer: _Ranked) -> None:
        self.answer = answer
        self.asked: list[dict[str, Any]] = []

    @property
    def table(self) -> Any:
        return None

    def cheapest(self, model: str | None = None, profile: Any = None, *, as_of: Any = None, filters: Any = None) -> Any:
        self.asked.append({"model": model, "profile": profile, "as_of": as_of, "filters": filters})
        return self.answer


def test_the_profile_comes_from_the_request_body() -> None:
    tools = [{"type": "function", "function": {"name": "f", "description": "d", "parameters": {"type": "object"}}}]
    body = {
        "messages": [
            {"role": "system", "content": "s" * 400},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "t" * 1000},
                    {"type": "image_url", "image_url": {"url": "https://example.org/a.png"}},
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
                    {"type": "input_audio", "input_audio": {"data": "A" * 5000, "format": "wav"}},
                ],
            },
            {"role": "assistant", "content": None, "tool_calls": [{"function": {"name": "f", "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": "1", "content": "r" * 99},
        ],
        "tools": tools,
        "response_format": {"type": "json_object"},
        "reasoning": {"effort": "high"},
        "max_tokens": 777,
    }
    chars = 400 + 1000 + len("f{}") + 99 + len(json.dumps(tools, separators=(",", ":")))
    profile = request_profile(body)
    assert profile.input_tokens == -(-chars // 4)  # rounded up
    assert (profile.output_tokens, profile.images) == (777, 2)
    assert profile.tools and profile.structured_output and profile.reasoning_effort == "high"
    assert request_profile({**body, "max_completion_tokens": 50}).output_tokens == 50  # the newer name wins


@pytest.mark.parametrize(
    ("extra", "effort"),
    [
        ({}, None),
        ({"reasoning": {"max_tokens": 2000}}, "medium"),  # enabled without an effort: OpenRouter's default
        ({"reasoning": {"enabled": False}}, None),
        ({"reasoning": {"effort": "none"}}, None),
        ({"reasoning_effort": "low"}, "low"),
        ({"include_reasoning": True}, "medium"),
    ],
)
def test_reasoning_in_the_body_sets_the_effort(extra: dict[str, Any], effort: str | None) -> None:
    profile = request_profile({"messages": [{"role": "user", "content": "hi"}], **extra})
    assert profile.reasoning_effort == effort
    assert (profile.input_tokens, profile.output_tokens, profile.tools, profile.structured_output) == (
        1,
        500,
        False,
        False,
    )
    assert not request_profile({"messages": [], "response_format": {"type": "text"}}).structured_output


def test_bad_counts_in_the_body_are_refused_naming_the_key() -> None:
    with pytest.raises(InputError, match=r"max_tokens='2000' is not a whole number"):
        request_profile({"messages": [], "max_tokens": "2000"})
    with pytest.raises(InputError, match=r"reasoning='high' is not an object"):
        request_profile({"messages": [], "reasoning": "high"})


def test_provider_preferences_become_constraints_and_require_parameters_the_bodys() -> None:
    body = {"messages": [], "temperature": 0.2, "seed": 1, "max_completion_tokens": 9, "top_k": None, "tools": []}
    filters = request_filters(
        {"only": ["deepinfra"], "zdr": True, "max_price": {"prompt": "3"}, "sort": "throughput"}, body
    )
    assert filters.providers == ("deepinfra",) and filters.zdr and filters.sort == "throughput"
    assert filters.max_price_prompt == Decimal(3) and filters.parameters == ()
    required = request_filters({"require_parameters": True}, body)
    assert required.parameters == ("temperature", "seed", "max_tokens")  # as endpoints list them; None is unset
    pinned = request_filters({"only": ["a", "b"], "allow_fallbacks": True}, body, pinned="groq")
    assert pinned.providers == ("groq",) and pinned.allow_fallbacks is False
    with pytest.raises(InputError, match=r"unknown key\(s\) fallbacks; known: order, only"):
        request_filters({"fallbacks": True}, body)
    with pytest.raises(InputError, match=r"provider='groq' is not an object"):
        request_filters("groq", body)  # type: ignore[arg-type]


def test_route_cheapest_asks_the_catalog_with_the_requests_profile_filters_and_as_of() -> None:
    routing = {"order": ["b", "a"], "allow_fallbacks": False, "zdr": True}
    source = _RecordingSource(_Ranked(routing))
    with Client(base_url="http://127.0.0.1:9/api/v1", prices=source, as_of="2026-08-05") as client:
        request = client.request(
            "x" * 8000, "deepseek/deepseek-v3.2", route="cheapest", provider={"zdr": True}, max_tokens=1000, tools=[]
        )
        pinned = client.request("hi", "groq:moonshotai/kimi-k2-0905", route="cheapest")
    asked = source.asked[0]
    assert asked["model"] == "deepseek/deepseek-v3.2" and asked["as_of"] == "2026-08-05"
    assert (asked["profile"].input_tokens, asked["profile"].output_tokens) == (2000, 1000)
    assert asked["filters"].zdr is True and not asked["profile"].tools  # an empty tools list asks for none
    assert request.body["provider"] == routing and request.ranking is source.answer  # the answer, not a merge
    assert request.body["max_tokens"] == 1000 and request.body["tools"] == []
    assert source.asked[1]["filters"].providers == ("groq",)
    assert pinned.body["provider"] == {**routing, "only": ["groq"], "allow_fallbacks": False}


def test_routing_suffixes_and_the_web_plugin_are_read_for_what_they_mean() -> None:
    source = _RecordingSource(_Ranked({"order": ["a"], "allow_fallbacks": False}))
    with Client(prices=source) as client:
        online = client.request("hi", "openai/gpt-4o:online", route="cheapest")
        client.request("hi", "openai/gpt-4o:nitro", route="cheapest")
        client.request("hi", "openai/gpt-4o:nitro", route="cheapest", provider={"sort": "latency"})
        client.request("hi", "openai/gpt-4o", route="cheapest", plugins=[{"id": "web", "max_results": 3}])
        client.request("hi", "deepseek/deepseek-r1:free", route="cheapest")
    models = [asked["model"] for asked in source.asked]
    assert models == ["openai/gpt-4o"] * 4 + ["deepseek/deepseek-r1:free"]  # :free is a model of its own
    assert online.body["model"] == "openai/gpt-4o:online"  # sent as asked
    assert [asked["profile"].web_searches for asked in source.asked] == [1, 0, 0, 1, 0]
    assert [asked["filters"].sort for asked in source.asked] == ["price", "throughput", "latency", "price", "price"]


def test_keys_the_ranking_cannot_check_are_sent_on_as_given() -> None:
    routing = {"order": ["a"], "allow_fallbacks": False}
    source = _RecordingSource(_Ranked(routing))
    with Client(prices=source) as client:
        carried = client.request(
            "hi", "a/b", route="cheapest", provider={"enforce_distillable_text": True, "require_parameters": True}
        )
        plain = client.request("hi", "a/b", route="cheapest", provider={"require_parameters": False})
    assert carried.body["provider"] == {**routing, "enforce_distillable_text": True, "require_parameters": True}
    assert plain.body["provider"] == routing  # false asks for nothing
    assert source.asked[0]["filters"].parameters == ()  # the body sets no sampling parameter to require


def test_route_cheapest_without_a_route_says_why() -> None:
    excluded = [{"tag": f"p{i}", "reason": f"context {i} < 252,000 (250,000 prompt + 2,000 output)"} for i in range(7)]
    with (
        Client(prices=_RecordingSource(_Ranked(None, excluded=excluded))) as client,
        pytest.raises(InputError, match=r"p0: context 0 < 252,000 .*p4: .*\(and 2 more\)"),
    ):
        client.request("hi", "a/b", route="cheapest")
    note = "no endpoint listing at 2025-06-01 (the endpoint history starts 2026-07-17)"
    with (
        Client(prices=_RecordingSource(_Ranked(None, note=note))) as client,
        pytest.raises(InputError, match=r"endpoint history starts 2026-07-17.*later as_of"),
    ):
        client.request("hi", "a/b", route="cheapest")
    with Client() as client, pytest.raises(InputError, match=r"needs the catalog: pass prices=Catalog.open\(\)"):
        client.request("hi", "a/b", route="cheapest")


def _context_of(bundle: Bundle, day: str, model: str) -> dict[str, int | None]:
    """tag → context length, read straight from the bundled day (the smallest when a tag repeats)."""
    contexts: dict[str, int | None] = {}
    for endpoint in bundle.load(day).endpoints[model]["endpoints"]:
        known = contexts.get(endpoint["tag"], endpoint["context_length"])
        contexts[endpoint["tag"]] = min(known or 0, endpoint["context_length"] or 0) or None
    return contexts


def test_route_cheapest_for_a_long_prompt_pins_only_endpoints_that_can_take_it(
    replayed_all_template: Path, bundle: Bundle
) -> None:
    model, need = "anthropic/claude-sonnet-4.5", 250_000 + 2_000
    contexts = _context_of(bundle, "2026-08-05", model)
    small = {tag for tag, context in contexts.items() if context is not None and context < need}
    assert small and set(contexts) - small  # the day has both kinds, or this test proves nothing
    messages = [{"role": "system", "content": "s" * 200_000}, {"role": "user", "content": "u" * 800_000}]
    with Catalog.open(replayed_all_template) as cat, Client(prices=cat, as_of="2026-08-05") as client:
        request = client.request(messages, model, route="cheapest", max_tokens=2_000)
        short = client.request("hello", model, route="cheapest", max_tokens=2_000)
    order = request.body["provider"]["order"]
    assert order and not set(order) & small, order
    assert all(contexts[tag] is None or contexts[tag] >= need for tag in order)
    assert short.body["provider"]["order"][0] in small  # a short prompt still goes to the cheapest, small or not
    excluded = {row["tag"]: row for row in request.ranking.excluded if row["model_id"] == model}
    assert small <= set(excluded)
    for tag in small:
        assert excluded[tag]["requirement"] == "context", excluded[tag]
        assert f"context {contexts[tag]:,} < 252,000" in excluded[tag]["reason"]


def test_route_cheapest_sends_the_catalogs_ranking_for_the_same_profile(replayed_all_template: Path) -> None:
    from catalog.cost.workload import EndpointFilters, WorkloadProfile

    with Catalog.open(replayed_all_template) as cat, Client(prices=cat, title="tests") as client:
        request = client.request(
            "x" * 8000,
            "deepseek/deepseek-v3.2",
            route="cheapest",
            max_tokens=1000,
            provider={"data_collection": "deny"},
        )
        ranking = cat.cheapest(
            "deepseek/deepseek-v3.2", WorkloadProfile(2000, 1000), filters=EndpointFilters(no_training=True)
        )
    assert request.body["provider"] == ranking.routing and ranking.routing["order"]
    assert ranking.routing["data_collection"] == "deny" and request.headers["X-Title"] == "tests"


def test_the_key_is_sent_but_never_shown(fake: tuple[FakeOpenRouter, str]) -> None:
    _, url = fake
    seen: list[httpx.Request] = []
    with Client(base_url=url, api_key=SECRET, referer="https://example.org", title="t") as client:
        client._http.event_hooks["request"].append(seen.append)
        generation = client.generate("k", "echo/key")
    assert seen[0].headers["authorization"] == f"Bearer {SECRET}" and seen[0].headers["http-referer"]
    assert SECRET not in repr(client) and SECRET not in json.dumps(generation.to_dict())


def test_catalog_gen_prints_the_text_then_tokens_and_costs(fake: tuple[FakeOpenRouter, str], tmp_path: Path) -> None:
    _, url = fake
    env = {"OPENROUTER_API_KEY": SECRET, "CATALOG_DB": str(tmp_path / "none.duckdb")}
    done = run_cli("gen", "hello catalog", "-m", "echo/cli", "--stream", "--base-url", url, env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("hello catalog")
    assert "2 in" in done.stderr and "billed $" in done.stderr and SECRET not in done.stdout + done.stderr
    as_json = run_cli("gen", "a b c", "-m", "echo/cli", "--json", "--base-url", url, env=env)
    report = json.loads(as_json.stdout)
    assert report["text"] == "a b c" and report["usage"]["prompt_tokens"] == 3
    assert report["cost_status"] == "no_prices" and Decimal(report["billed_cost"]) > 0
    assert canonical(Decimal(report["billed_cost"])) == report["billed_cost"]


# --- errors: the kind by status, what is retried, the key never shown -------------------------------------------


@pytest.mark.parametrize(
    ("status", "kind", "attempts"),
    [
        (400, BadRequestError, 1),
        (401, AuthError, 1),
        (402, CreditsError, 1),
        (403, ModerationError, 1),
        (500, UpstreamError, 1),
        (502, UpstreamError, 3),
        (503, UpstreamError, 3),
        (429, RateLimitError, 3),
    ],
)
def test_error_statuses_become_their_kind_and_only_429_502_503_are_retried(
    fake: tuple[FakeOpenRouter, str], status: int, kind: type[Exception], attempts: int
) -> None:
    server, url = fake
    server.set_faults(Faults(failure_rate=1.0, failure_statuses=(status,), retry_after=0.05))
    before = server.log.by_path().get("/api/v1/chat/completions", 0)
    with (
        Client(base_url=url, api_key=SECRET, max_attempts=3, backoff_base=0.01) as client,
        pytest.raises(kind) as caught,
    ):
        client.generate("x", "echo/errors", stream=True)
    assert server.log.by_path()["/api/v1/chat/completions"] - before == attempts
    assert caught.value.status == status and SECRET not in str(caught.value)  # type: ignore[attr-defined]


def test_a_wait_longer_than_the_client_allows_is_raised_at_once(fake: tuple[FakeOpenRouter, str]) -> None:
    server, url = fake
    server.set_faults(Faults(failure_rate=1.0, failure_statuses=(429,), retry_after=3600))
    with Client(base_url=url, max_attempts=4, backoff_cap=1) as client, pytest.raises(RateLimitError) as caught:
        started = time.perf_counter()
        client.generate("x", "echo/wait")
    assert time.perf_counter() - started < 2 and caught.value.retry_after == 3600


@pytest.mark.slow  # seconds, not milliseconds: left out of make test-fast
def test_a_read_timeout_before_the_answer_is_raised_not_retried(fake: tuple[FakeOpenRouter, str]) -> None:
    server, url = fake
    server.set_faults(Faults(timeout_rate=1.0, hang=1.0))
    before = server.log.by_path().get("/api/v1/chat/completions", 0)
    with Client(base_url=url, timeout=0.3, max_attempts=4) as client, pytest.raises(UpstreamError, match="in time"):
        client.generate("x", "echo/slow")
    # The fake logs a request when its (hung) handler ends: wait for that, then make sure no second one came.
    deadline = time.monotonic() + 5
    while server.log.by_path().get("/api/v1/chat/completions", 0) == before and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(1.5)
    assert server.log.by_path()["/api/v1/chat/completions"] - before == 1


def test_an_answer_of_the_other_kind_is_read_by_what_it_is(client: Client) -> None:
    """A server may answer a stream request with a whole body, or the other way round: same Generation."""
    whole = client.generate("x", "replay/nonstream-tool-call.json", stream=True)
    assert [t.name for t in whole.tool_calls] == ["divide"] and not whole.streamed
    streamed = client.generate("x", "replay/stream-2025-08-06.sse", stream=False)
    assert streamed.text == "Pebbles and Skipper." and streamed.streamed


def test_streamed_tool_calls_without_an_index_stay_apart() -> None:
    from catalog.client.assemble import Draft

    draft = Draft()
    for delta in (
        {"tool_calls": [{"id": "a", "function": {"name": "f", "arguments": '{"x":'}}]},
        {"tool_calls": [{"function": {"arguments": "1}"}}]},
        {"tool_calls": [{"id": "b", "function": {"name": "g", "arguments": '{"y":2}'}}]},
    ):
        draft.add_event(json.dumps({"object": "chat.completion.chunk", "choices": [{"delta": delta}]}))
    assert [(t.id, t.name, t.arguments) for t in draft.tool_calls] == [("a", "f", '{"x":1}'), ("b", "g", '{"y":2}')]


def test_keys_with_control_characters_and_urls_with_credentials_are_never_shown(
    fake: tuple[FakeOpenRouter, str],
) -> None:
    with pytest.raises(AuthError) as bad_key:
        Client(api_key=SECRET + "\n\x00")
    assert SECRET not in str(bad_key.value)
    with Client(base_url=f"http://user:{SECRET}@127.0.0.1:9/api/v1", max_attempts=1) as client:
        with pytest.raises(UpstreamError) as caught:
            client.generate("x", "echo/x")
        assert SECRET not in str(caught.value) and SECRET not in repr(client)
