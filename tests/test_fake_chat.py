"""POST /api/v1/chat/completions on the fake OpenRouter, over real loopback HTTP: echo answers with exact usage
and cost, byte-for-byte replays of the bundled recordings, the streaming fault knobs, and the 400s."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import httpx
import pytest
from helpers import shared_data_dir

from catalog.bundle import Bundle
from catalog.errors import ConfigError
from catalog.fake import (
    ECHO_MODELS,
    ECHO_PRICING,
    FakeOpenRouter,
    Faults,
    MemorySource,
    memory_day,
    serve_in_thread,
)
from catalog.openrouter.records import parse_endpoints, parse_models
from catalog.settings import PROJECT_ROOT

CHAT = "/api/v1/chat/completions"
SHARED_CHAT = (shared_data_dir() or PROJECT_ROOT.parent / "shared" / "data" / "openrouter") / "chat"  # marked shared
RECORDINGS = Bundle().chat_recordings()
PRICE = {key: Decimal(value) for key, value in ECHO_PRICING.items()}


def _source() -> MemorySource:
    return MemorySource([memory_day("2026-07-17", [], {}, [])])


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[FakeOpenRouter, httpx.Client]]:
    fake = FakeOpenRouter(_source(), recordings=Bundle())
    with serve_in_thread(fake) as base_url, httpx.Client(base_url=base_url.removesuffix("/api/v1")) as client:
        yield fake, client


@pytest.fixture
def fake(server: tuple[FakeOpenRouter, httpx.Client]) -> Iterator[FakeOpenRouter]:
    yield server[0]
    server[0].set_faults(None)


@pytest.fixture
def client(server: tuple[FakeOpenRouter, httpx.Client], fake: FakeOpenRouter) -> httpx.Client:
    return server[1]


def ask(text: str, *, system: str | None = None, **body: Any) -> dict[str, Any]:
    messages = [{"role": "system", "content": system}] if system else []
    return {"model": "echo/test", "messages": [*messages, {"role": "user", "content": text}], **body}


def exact(response: httpx.Response) -> Any:
    """The JSON body with every number kept exact (money compared with ==, never a tolerance)."""
    return json.loads(response.content, parse_float=Decimal)


def reference_cost(prompt: int, cached: int, completion: int, reasoning: int) -> Decimal:
    """The project's billing rule, spelled out again: each exclusive part once, at its own price."""
    return (
        (prompt - cached) * PRICE["prompt"]
        + cached * PRICE["input_cache_read"]
        + (completion - reasoning) * PRICE["completion"]
        + reasoning * PRICE["internal_reasoning"]
    )


def sse(body: bytes) -> list[str]:
    """The events of an SSE body: comment lines as they are, ``data:`` payloads without the prefix."""
    assert body.endswith(b"\n\n"), body[-80:]
    return [e.removeprefix("data: ") for e in body.decode().split("\n\n")[:-1]]


def chunks(events: list[str]) -> list[dict[str, Any]]:
    return [json.loads(e, parse_float=Decimal) for e in events if not e.startswith(":") and e != "[DONE]"]


# --- echo: text, usage, cost ---------------------------------------------------------------------------------


def test_echo_answers_the_last_user_message_with_exact_usage_and_cost(client: httpx.Client) -> None:
    response = client.post(CHAT, json=ask("Hello there,   world!\n", system="Be brief."))
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    body = exact(response)
    assert body["id"].startswith("gen-echo-") and response.headers["x-generation-id"] == body["id"]
    assert (body["provider"], body["model"], body["object"]) == ("Echo", "echo/test", "chat.completion")
    assert isinstance(body["created"], int) and abs(body["created"] - time.time()) < 60
    choice = body["choices"][0]
    assert choice["message"] == {
        "role": "assistant",
        "content": "Hello there,   world!\n",
        "refusal": None,
        "reasoning": None,
    }
    assert (choice["finish_reason"], choice["native_finish_reason"]) == ("stop", "stop")
    usage = body["usage"]
    # "Be " "brief." + "Hello " "there,   " "world!\n": 2 + 3 prompt tokens, the 3 echoed back
    assert (usage["prompt_tokens"], usage["completion_tokens"], usage["total_tokens"]) == (5, 3, 8)
    assert usage["prompt_tokens_details"]["cached_tokens"] == 0
    assert usage["completion_tokens_details"]["reasoning_tokens"] == 0
    assert usage["is_byok"] is False
    assert usage["cost"] == reference_cost(5, 0, 3, 0) == Decimal("0.000011")
    details = usage["cost_details"]
    assert details["upstream_inference_prompt_cost"] + details["upstream_inference_completions_cost"] == usage["cost"]


def test_text_parts_of_a_content_list_are_echoed_and_other_parts_count_nothing(client: httpx.Client) -> None:
    content = [
        {"type": "text", "text": "first part"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
        {"type": "text", "text": "second"},
    ]
    body = {"model": "echo/x", "messages": [{"role": "user", "content": content}]}
    answer = exact(client.post(CHAT, json=body))
    assert answer["choices"][0]["message"]["content"] == "first part\nsecond"
    assert (answer["usage"]["prompt_tokens"], answer["usage"]["completion_tokens"]) == (3, 3)


def test_the_stream_carries_one_chunk_per_token_then_finish_usage_and_done(client: httpx.Client) -> None:
    request = ask("one two  three", system="sys")
    response = client.post(CHAT, json={**request, "stream": True})
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/event-stream"
    events = sse(response.content)
    assert events[0] == ": OPENROUTER PROCESSING" and events[-1] == "[DONE]"
    parsed = chunks(events)
    ids = {c["id"] for c in parsed}
    assert len(ids) == 1 and response.headers["x-generation-id"] in ids
    assert all(c["object"] == "chat.completion.chunk" and c["provider"] == "Echo" for c in parsed)
    content = [c["choices"][0]["delta"]["content"] for c in parsed[:-2]]
    assert content == ["one ", "two  ", "three"]
    finish = parsed[-2]["choices"][0]
    assert finish["delta"]["content"] == "" and finish["finish_reason"] == finish["native_finish_reason"] == "stop"
    assert all(c["choices"][0]["finish_reason"] is None for c in parsed[:-2])
    last = parsed[-1]
    assert last["choices"] == [] and "usage" in last
    streamed = last["usage"]
    whole = exact(client.post(CHAT, json=request))["usage"]  # the same request, not streamed
    assert streamed == whole
    assert streamed["cost"] == reference_cost(4, 0, 3, 0)


def test_a_repeated_prefix_is_reported_as_cached_and_billed_at_the_cache_price(client: httpx.Client) -> None:
    system = {"role": "system", "content": "You are a careful assistant."}  # 5 tokens
    first = {"role": "user", "content": "Remember the number seven."}  # 4 tokens
    opening = exact(client.post(CHAT, json={"model": "echo/cache", "messages": [system, first]}))
    assert opening["usage"]["prompt_tokens_details"]["cached_tokens"] == 0
    reply = opening["choices"][0]["message"]  # the echo, sent back as the conversation goes on: 4 tokens
    follow_up = [
        system,
        first,
        {"role": reply["role"], "content": reply["content"]},
        {"role": "user", "content": "And now?"},
    ]
    usage = exact(client.post(CHAT, json={"model": "echo/cache", "messages": follow_up}))["usage"]
    assert usage["prompt_tokens"] == 5 + 4 + 4 + 2
    assert usage["prompt_tokens_details"]["cached_tokens"] == 5 + 4 + 4
    assert usage["cost"] == reference_cost(15, 13, 2, 0)
    # the same prefix with another last message: the answered list [system, first] is read from cache
    again = [system, first, {"role": "user", "content": "Say it again"}]
    usage = exact(client.post(CHAT, json={"model": "echo/cache", "messages": again, "stream": False}))["usage"]
    assert (usage["prompt_tokens"], usage["prompt_tokens_details"]["cached_tokens"]) == (12, 9)
    # a prefix never answered is not cached
    other = [{"role": "system", "content": "Another system."}, {"role": "user", "content": "Hi"}]
    assert (
        exact(client.post(CHAT, json={"model": "echo/cache", "messages": other}))["usage"]["prompt_tokens_details"][
            "cached_tokens"
        ]
        == 0
    )


@pytest.mark.parametrize(
    ("extra", "reasons"),
    [
        ({"reasoning": {"effort": "high"}}, True),
        ({"reasoning": {}}, True),
        ({"reasoning_effort": "low"}, True),
        ({"reasoning": {"enabled": False}}, False),
        ({"reasoning": {"effort": "none"}}, False),
        ({"reasoning_effort": "none"}, False),
        ({}, False),
    ],
)
def test_reasoning_adds_tokens_inside_completion_billed_at_the_reasoning_price(
    client: httpx.Client, extra: dict[str, Any], reasons: bool
) -> None:
    body = exact(client.post(CHAT, json=ask("think about this", **extra)))
    usage = body["usage"]
    reasoning = 3 if reasons else 0  # min(64, prompt_tokens) with a 3-token prompt
    assert usage["completion_tokens_details"]["reasoning_tokens"] == reasoning
    assert usage["completion_tokens"] == 3 + reasoning
    assert body["choices"][0]["message"]["content"] == "think about this"  # reasoning shows no text
    assert usage["cost"] == reference_cost(3, 0, 3 + reasoning, reasoning)


def test_reasoning_tokens_are_capped_at_64(client: httpx.Client) -> None:
    long_prompt = " ".join(f"w{i}" for i in range(100))
    usage = exact(client.post(CHAT, json=ask(long_prompt, reasoning={"max_tokens": 500})))["usage"]
    assert usage["completion_tokens_details"]["reasoning_tokens"] == 64
    assert usage["completion_tokens"] == 164
    assert usage["cost"] == reference_cost(100, 0, 164, 64)


def test_max_tokens_cuts_the_echo_with_finish_reason_length(client: httpx.Client) -> None:
    body = exact(client.post(CHAT, json=ask("a b c d e f", max_tokens=4)))
    choice = body["choices"][0]
    assert choice["message"]["content"] == "a b c d "
    assert (choice["finish_reason"], choice["native_finish_reason"]) == ("length", "length")
    assert body["usage"]["completion_tokens"] == 4
    parsed = chunks(sse(client.post(CHAT, json=ask("a b c d e f", max_completion_tokens=2, stream=True)).content))
    assert [c["choices"][0]["delta"]["content"] for c in parsed[:-2]] == ["a ", "b "]
    assert parsed[-2]["choices"][0]["finish_reason"] == "length"
    assert parsed[-1]["usage"]["completion_tokens"] == 2
    # exactly max_tokens tokens is no cut
    assert exact(client.post(CHAT, json=ask("a b", max_tokens=2)))["choices"][0]["finish_reason"] == "stop"


# --- replay ----------------------------------------------------------------------------------------------------


def _replay(client: httpx.Client, name: str) -> httpx.Response:
    return client.post(CHAT, json={"model": f"replay/{name}", "messages": [{"role": "user", "content": "x"}]})


def test_the_bundle_holds_the_recordings() -> None:
    assert len(RECORDINGS) == 31
    assert "stream-2025-08-06.sse" in RECORDINGS and "error-429-provider-rate-limited-1.json" in RECORDINGS


@pytest.mark.parametrize("name", RECORDINGS)
def test_every_recording_is_replayed_byte_for_byte(client: httpx.Client, name: str) -> None:
    response = _replay(client, name)
    assert response.content == Bundle().chat_recording(name)
    if name.startswith("error-429-"):
        assert response.status_code == 429
        # the recorded 429 carried no Retry-After, so the replay sends none
        assert "retry-after" not in response.headers
    else:
        assert response.status_code == 200
    expected_type = "text/event-stream" if name.endswith(".sse") else "application/json"
    assert response.headers["content-type"] == expected_type
    stem = name.rsplit(".", 1)[0]
    assert _replay(client, stem).content == response.content  # the extension is optional


@pytest.mark.shared
def test_replays_equal_the_recordings_in_shared(client: httpx.Client) -> None:
    for path in sorted(SHARED_CHAT.iterdir()):
        assert _replay(client, path.name).content == path.read_bytes(), path.name
    assert sorted(p.name for p in SHARED_CHAT.iterdir()) == RECORDINGS


@pytest.mark.slow  # seconds, not milliseconds: left out of make test-fast
def test_every_recording_split_into_one_byte_writes_arrives_identical(
    client: httpx.Client, fake: FakeOpenRouter
) -> None:
    fake.set_faults(Faults(chunk_bytes=1))
    bundle = Bundle()
    for name in RECORDINGS:
        assert _replay(client, name).content == bundle.chat_recording(name), name
    whole = client.post(CHAT, json=ask("split me into bytes", max_tokens=3, stream=True)).content
    fake.set_faults(None)
    again = client.post(CHAT, json=ask("split me into bytes", max_tokens=3, stream=True)).content
    assert _without_times_and_ids(whole) == _without_times_and_ids(again)


def _without_times_and_ids(body: bytes) -> bytes:
    events = [json.loads(e) if e.startswith("{") else e for e in sse(body)]
    for event in events:
        if isinstance(event, dict):
            event["id"], event["created"] = "gen", 0
    return json.dumps(events).encode()


def test_small_writes_end_inside_lines(client: httpx.Client, fake: FakeOpenRouter) -> None:
    fake.set_faults(Faults(chunk_bytes=40, chunk_delay=0.005))
    with client.stream("POST", CHAT, json=ask("one two three", stream=True)) as response:
        reads = list(response.iter_raw())
    body = b"".join(reads)
    assert sse(body)[-1] == "[DONE]"
    assert len(reads) > 1
    assert any(not read.endswith(b"\n\n") for read in reads[:-1])


def test_an_unknown_recording_is_a_404_that_lists_some(client: httpx.Client) -> None:
    response = _replay(client, "stream-2099")
    assert response.status_code == 404
    error = response.json()["error"]
    assert error["code"] == 404 and "stream-2099" in error["message"] and "replay/stream-" in error["message"]
    assert error["metadata"]["recordings"] == RECORDINGS


# --- streaming faults --------------------------------------------------------------------------------------------


def test_stream_error_after_sends_the_error_chunk_and_ends_there(client: httpx.Client, fake: FakeOpenRouter) -> None:
    fake.set_faults(Faults(stream_error_after=2))
    response = client.post(CHAT, json=ask("a b c d", stream=True))
    assert response.status_code == 200  # the status went out before the error
    events = sse(response.content)
    assert "[DONE]" not in events
    parsed = chunks(events)
    assert [c["choices"][0]["delta"]["content"] for c in parsed[:-1]] == ["a ", "b "]
    error = parsed[-1]
    assert error["id"] == parsed[0]["id"] and error["object"] == "chat.completion.chunk"
    assert error["error"]["code"] == 502 and error["error"]["message"]
    assert error["choices"] == [{"index": 0, "delta": {"content": ""}, "finish_reason": "error"}]
    assert all("usage" not in c for c in parsed)
    # a shorter answer never reaches the error
    assert sse(client.post(CHAT, json=ask("a", stream=True)).content)[-1] == "[DONE]"


def test_stream_drop_after_cuts_the_connection_mid_body(
    client: httpx.Client, fake: FakeOpenRouter, caplog: pytest.LogCaptureFixture
) -> None:
    fake.set_faults(Faults(stream_drop_after=2, chunk_bytes=7))
    received = b""
    request = ask("a b c d", stream=True)
    with (
        caplog.at_level(logging.WARNING),
        pytest.raises(httpx.RemoteProtocolError),
        client.stream("POST", CHAT, json=request) as response,
    ):
        assert response.status_code == 200
        for data in response.iter_bytes():
            received += data
    assert received.count(b"data: ") == 2 and b'"content":"b "' in received and b"[DONE]" not in received
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]  # a deliberate cut, not a server error
    fake.set_faults(None)
    assert client.post(CHAT, json=ask("still serving")).status_code == 200


def test_echo_tokens_are_paced_at_the_configured_rate(client: httpx.Client, fake: FakeOpenRouter) -> None:
    fake.set_faults(Faults(echo_tokens_per_second=50))
    started = time.monotonic()
    first_token = None
    with client.stream("POST", CHAT, json=ask("a b c d e f", stream=True)) as response:
        for line in response.iter_lines():
            if first_token is None and '"content":"a "' in line:
                first_token = time.monotonic() - started
    elapsed = time.monotonic() - started
    assert first_token is not None and first_token < 0.1  # the first token is not held back
    assert elapsed >= 5 / 50  # token i goes out i/50 s after the first


def test_chunk_delay_spaces_the_writes(client: httpx.Client, fake: FakeOpenRouter) -> None:
    fake.set_faults(Faults(chunk_bytes=200, chunk_delay=0.05))
    started = time.monotonic()
    response = client.post(CHAT, json=ask("a b"))
    elapsed = time.monotonic() - started
    writes = -(-len(response.content) // 200)
    assert response.json()["choices"][0]["message"]["content"] == "a b"
    assert elapsed >= (writes - 1) * 0.05


# --- faults before the stream, and bad requests --------------------------------------------------------------------


def test_fail_first_answers_429_with_retry_after_before_any_stream(client: httpx.Client, fake: FakeOpenRouter) -> None:
    fake.set_faults(Faults(fail_first=1, retry_after=2))
    fake.log.reset()
    refused = client.post(CHAT, json=ask("hello", stream=True))
    assert refused.status_code == 429 and refused.headers["retry-after"] == "2"
    assert refused.headers["content-type"] == "application/json"
    assert refused.json()["error"]["code"] == 429
    accepted = client.post(CHAT, json=ask("hello", stream=True))
    assert accepted.status_code == 200 and sse(accepted.content)[-1] == "[DONE]"
    assert fake.log.statuses(CHAT) == [429, 200]


def test_latency_and_failures_apply_to_chat_posts(client: httpx.Client, fake: FakeOpenRouter) -> None:
    fake.set_faults(Faults(latency=0.2))
    started = time.monotonic()
    assert client.post(CHAT, json=ask("slow")).status_code == 200
    assert time.monotonic() - started >= 0.2
    fake.set_faults(Faults(failure_rate=1.0, failure_statuses=(502,)))
    response = _replay(client, "stream-2025-08-06")
    assert response.status_code == 502 and response.json()["error"]["metadata"] == {"fault": "failure_rate"}


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (b"{not json", "JSON object"),
        (b"[1, 2]", "JSON object"),
        (json.dumps({"messages": [{"role": "user", "content": "x"}]}).encode(), "model is required"),
        (json.dumps(ask("x") | {"model": "openai/gpt-4o"}).encode(), "openai/gpt-4o is not a valid model ID"),
        (json.dumps(ask("x") | {"model": "echo/"}).encode(), "not a valid model ID"),
        (json.dumps({"model": "echo/x"}).encode(), "messages is required"),
        (json.dumps({"model": "replay/stream-cache", "messages": []}).encode(), "messages is required"),
        (json.dumps({"model": "echo/x", "messages": ["hi"]}).encode(), "messages[0]"),
        (json.dumps({"model": "echo/x", "messages": [{"role": "user", "content": 3}]}).encode(), "messages[0].content"),
        (json.dumps(ask("x", stream="yes")).encode(), "stream must be"),
        (json.dumps(ask("x", max_tokens=0)).encode(), "max_tokens"),
        (json.dumps(ask("x", reasoning="high")).encode(), "reasoning must be an object"),
    ],
)
def test_bad_requests_are_400_in_openrouters_error_shape(client: httpx.Client, body: bytes, fragment: str) -> None:
    response = client.post(CHAT, content=body, headers={"content-type": "application/json"})
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/json"
    error = response.json()["error"]
    assert error["code"] == 400 and fragment in error["message"]


def test_get_is_405_in_the_error_shape(client: httpx.Client) -> None:
    response = client.get(CHAT)
    assert response.status_code == 405 and response.json()["error"]["code"] == 405


# --- echo models in the catalog routes, and the knobs ---------------------------------------------------------


def test_echo_models_are_listed_only_when_asked() -> None:
    plain = FakeOpenRouter(_source())
    assert [m["id"] for m in plain.served.models] == []
    fake = FakeOpenRouter(_source(), echo_models=True)
    with serve_in_thread(fake) as base_url:
        models = httpx.get(f"{base_url}/models").json()
        listing = httpx.get(f"{base_url}/models/echo/echo/endpoints").json()
        providers = httpx.get(f"{base_url}/providers").json()["data"]
    assert [m["id"] for m in models["data"]] == list(ECHO_MODELS) == ["echo/echo"]
    records, report = parse_models(models)
    assert [r.model_id for r in records] == ["echo/echo"] and not report.problems and not records[0].unknown_fields
    endpoint = listing["data"]["endpoints"][0]
    assert (endpoint["provider_name"], endpoint["tag"]) == ("Echo", "echo")
    assert endpoint["pricing"] == {**ECHO_PRICING, "discount": 0}
    endpoints, report = parse_endpoints("echo/echo", listing)
    assert len(endpoints) == 1 and not report.problems and not endpoints[0].unknown_fields
    assert [p["slug"] for p in providers] == ["echo"]


def test_a_models_only_day_lists_the_echo_model_without_endpoint_data() -> None:
    fake = FakeOpenRouter(MemorySource([memory_day("2025-01-01", [])]), echo_models=True)
    assert [m["id"] for m in fake.served.models] == ["echo/echo"]
    assert fake.served.endpoints == {} and fake.served.providers is None


def test_streaming_knobs_round_trip_and_are_validated() -> None:
    faults = Faults(
        chunk_bytes=1, chunk_delay=0.01, echo_tokens_per_second=20, stream_error_after=3, stream_drop_after=5
    )
    assert Faults.from_json(faults.to_json()) == faults and faults.active
    for knob, value in [
        ("chunk_bytes", -1),
        ("chunk_bytes", 1.5),
        ("chunk_delay", -0.1),
        ("echo_tokens_per_second", -1),
        ("stream_error_after", True),
        ("stream_drop_after", "2"),
    ]:
        with pytest.raises(ConfigError, match=f"faults.{knob}"):
            Faults.from_dict({knob: value})


def test_replays_default_to_the_bundled_recordings() -> None:
    fake = FakeOpenRouter(_source())  # a MemorySource holds no chat recordings
    with serve_in_thread(fake) as base_url:
        response = httpx.post(
            f"{base_url}/chat/completions",
            json={"model": "replay/stream-cache", "messages": [{"role": "user", "content": "x"}]},
        )
    assert response.content == Bundle().chat_recording("stream-cache.sse")
