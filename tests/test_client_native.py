"""Issue 20, item 4 (acceptance 4): ``provider:author/model`` calls the provider's own API when its key is set,
with the model id the catalog recorded (``provider_model_id``), costed at that provider's endpoint price.

Everything runs over loopback against the fake's native routes (``catalog.fake.native``), costed from a history
of one recorded day (2026-08-01, four models, as bundled). The expected cost is computed here from the stored
price strings as ``Decimal``; the mapped id is read from the stored endpoint version and checked against what
the fake received.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from helpers import run_cli

from catalog.bundle import Bundle
from catalog.client import AsyncClient, Client, Generation
from catalog.client.native import NATIVE_APIS, UPSTREAM_IDS, upstream_model
from catalog.cost.sheets import PriceTable, SheetVersion
from catalog.errors import GenerationError, InputError, StreamError
from catalog.fake import FakeOpenRouter, Faults, MemorySource, memory_day, native_base_urls, serve_in_thread, tokens
from catalog.fake.view import ServedDay
from catalog.library import Catalog
from catalog.prices import parse_price_sheet
from catalog.replay import KINDS_FOR, recorded_sweep
from catalog.store.db import connect
from catalog.store.ingest import record_snapshot

DAY = "2026-08-01"
MODELS = (
    "anthropic/claude-haiku-4.5",
    "openai/gpt-4o-mini",
    "google/gemini-2.5-flash",
    "moonshotai/kimi-k2-0905",
    "openai/gpt-oss-120b",
    "x-ai/grok-4.3",
)
# (model as called, the stored endpoint's tag, native_api): one per native API, and the OpenAI-compatible ones
CALLS = [
    ("anthropic:anthropic/claude-haiku-4.5", "anthropic", None),
    ("openai:openai/gpt-4o-mini", "openai", None),
    ("openai:openai/gpt-4o-mini", "openai", "responses"),
    ("google-ai-studio:google/gemini-2.5-flash", "google-ai-studio", None),
    ("groq:moonshotai/kimi-k2-0905", "groq", None),
    ("cerebras:openai/gpt-oss-120b", "cerebras/fp16", None),
    ("xai:x-ai/grok-4.3", "xai", None),
]
PROMPT = "Name two colours of the sea"


def _day(bundle: Bundle) -> Any:
    state = bundle.load(DAY)
    models = [m for m in state.models if m["id"] in MODELS]
    return memory_day(DAY, models, {m: state.endpoints[m] for m in MODELS}, state.providers)


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One recorded day of the four models, stored as a sweep stores it."""
    day = _day(Bundle())
    path = tmp_path_factory.mktemp("native") / "history.duckdb"
    con = connect(path)
    try:
        sweep = recorded_sweep(
            ServedDay.build(day, Faults()), kinds=KINDS_FOR["full"], taken_at=day.info.taken_at, source="test"
        )
        record_snapshot(con, sweep)
    finally:
        con.close()
    return path


@pytest.fixture
def served() -> Iterator[tuple[FakeOpenRouter, str]]:
    fake = FakeOpenRouter(MemorySource([memory_day(DAY, [], {}, [])]))
    with serve_in_thread(fake) as url:
        yield fake, url


@pytest.fixture
def client(history: Path, served: tuple[FakeOpenRouter, str]) -> Iterator[Client]:
    with Catalog.open(history) as cat, Client(prices=cat, native=native_base_urls(served[1]), max_attempts=1) as c:
        yield c


def _stored(history: Path, model: str, tag: str) -> tuple[str, dict[str, Decimal]]:
    """The endpoint's recorded provider_model_id and its price strings as Decimal, read straight from the store."""
    con = connect(history, read_only=True)
    try:
        row = con.execute(
            "SELECT provider_model_id, pricing_text FROM endpoint_versions "
            "WHERE model_id = ? AND tag = ? AND valid_to IS NULL",
            [model, tag],
        ).fetchone()
    finally:
        con.close()
    assert row is not None, (model, tag)
    return row[0], {k: Decimal(v) for k, v in json.loads(row[1]).items() if isinstance(v, str)}


def _expected(history: Path, model: str, tag: str, prompt: int, completion: int) -> Decimal:
    _, price = _stored(history, model, tag)
    return prompt * price["prompt"] + completion * price["completion"]


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
@pytest.mark.parametrize(("model", "tag", "api"), CALLS, ids=[f"{c[1]}-{c[2] or 'chat'}" for c in CALLS])
def test_a_direct_call_returns_text_usage_and_the_exact_cost_at_the_providers_endpoint(
    client: Client,
    served: tuple[FakeOpenRouter, str],
    history: Path,
    model: str,
    tag: str,
    api: str | None,
    stream: bool,
) -> None:
    fake = served[0]
    pieces: list[str] = []
    options: dict[str, Any] = {"native_api": api} if api else {}
    g = client.generate(PROMPT, model, stream=stream, sys_msg="Be brief.", on_text=pieces.append, **options)
    or_id = model.split(":", 1)[1]
    upstream, _ = _stored(history, or_id, tag)
    prompt, completion = len(tokens("Be brief.")) + len(tokens(PROMPT)), len(tokens(PROMPT))
    assert g.text == "".join(pieces) == PROMPT
    assert (g.via, g.streamed, g.model, g.finish_reason) == ("native", stream, or_id, "stop")
    assert g.usage["prompt_tokens"] == prompt and g.usage["completion_tokens"] == completion
    assert g.cost_status == "ok" and g.price_source == "endpoint"
    assert g.cost == _expected(history, or_id, tag, prompt, completion)
    assert g.billed_cost is None  # the provider's answer carries no bill
    # the id the provider was called with is the recorded provider_model_id, never the OpenRouter id
    received = fake.native.received[-1]
    assert received.model == upstream == g.upstream_model != or_id
    assert received.keyed and received.provider == tag.split("/", 1)[0]
    assert g.to_dict()["via"] == "native" and g.to_dict()["upstream_model"] == upstream


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
@pytest.mark.parametrize(("model", "tag", "api"), CALLS, ids=[f"{c[1]}-{c[2] or 'chat'}" for c in CALLS])
def test_a_conversations_cached_turns_are_normalised_and_priced_at_the_cache_read_price(
    client: Client, history: Path, model: str, tag: str, api: str | None, stream: bool
) -> None:
    # The fake reports the earlier turns as cached where each API does: inside the prompt (OpenAI, Gemini) or
    # beside input_tokens (Anthropic); normalised, both read as prompt_tokens with cache_read_tokens inside.
    options: dict[str, Any] = {"native_api": api} if api else {}
    first = client.generate(PROMPT, model, stream=stream, **options)
    turn = [
        {"role": "user", "content": PROMPT},
        {"role": "assistant", "content": first.text},
        {"role": "user", "content": "And two more"},
    ]
    g = client.generate(turn, model, stream=stream, **options)
    cached = len(tokens(PROMPT)) + len(tokens(first.text))
    prompt, completion = cached + len(tokens("And two more")), len(tokens("And two more"))
    assert (g.usage["prompt_tokens"], g.usage["cache_read_tokens"], g.usage["completion_tokens"]) == (
        prompt,
        cached,
        completion,
    )
    _, price = _stored(history, model.split(":", 1)[1], tag)
    assert "input_cache_read" in price  # each of these endpoints lists a cache read price
    expected = (prompt - cached) * price["prompt"] + cached * price["input_cache_read"]
    assert g.cost == expected + completion * price["completion"]


def test_the_keys_are_the_providers_own_variables() -> None:
    assert {a.key_env for a in NATIVE_APIS.values()} == {
        "OPENAI_API_KEY",
        "ANTHROPIC_API_KEY",
        "GEMINI_API_KEY",
        "GROQ_API_KEY",
        "CEREBRAS_API_KEY",
        "XAI_API_KEY",
    }


def test_the_async_client_calls_directly_too(history: Path, served: tuple[FakeOpenRouter, str]) -> None:
    async def run(cat: Catalog) -> Generation:
        async with AsyncClient(prices=cat, native=native_base_urls(served[1]), max_attempts=1) as client:
            return await client.generate(PROMPT, "anthropic:anthropic/claude-haiku-4.5", stream=True)

    with Catalog.open(history) as cat:
        g = asyncio.run(run(cat))
    n = len(tokens(PROMPT))
    assert g.via == "native" and g.text == PROMPT
    assert g.cost == _expected(history, "anthropic/claude-haiku-4.5", "anthropic", n, n)


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
@pytest.mark.parametrize(
    ("model", "api", "native_reason"),
    [
        ("anthropic:anthropic/claude-haiku-4.5", None, "max_tokens"),
        ("openai:openai/gpt-4o-mini", None, None),
        ("openai:openai/gpt-4o-mini", "responses", "max_output_tokens"),
        ("google-ai-studio:google/gemini-2.5-flash", None, "MAX_TOKENS"),
    ],
)
def test_a_token_limit_is_sent_in_each_shape_and_its_cut_reads_as_length(
    client: Client, model: str, api: str | None, native_reason: str | None, stream: bool
) -> None:
    options: dict[str, Any] = {"native_api": api} if api else {}
    g = client.generate(PROMPT, model, stream=stream, max_tokens=2, **options)
    assert g.text == "".join(tokens(PROMPT)[:2])
    assert g.finish_reason == "length" and g.usage["completion_tokens"] == 2
    if native_reason:
        assert g.native_finish_reason == native_reason


# --- which path, and the request in each shape ---------------------------------------------------------------


def test_without_the_key_the_call_goes_through_openrouter_pinned_to_the_provider(
    history: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for api in NATIVE_APIS.values():
        monkeypatch.delenv(api.key_env, raising=False)
    with Catalog.open(history) as cat, Client(prices=cat, api_key="sk-or-v1-test") as client:
        request = client.request(PROMPT, "anthropic:anthropic/claude-haiku-4.5")
    assert request.native is None and request.url.endswith("/chat/completions")
    assert request.body["model"] == "anthropic/claude-haiku-4.5"
    assert request.body["provider"] == {"only": ["anthropic"], "allow_fallbacks": False}
    assert request.headers["Authorization"] == "Bearer sk-or-v1-test"


def test_with_the_key_in_the_environment_the_call_goes_direct_and_native_false_turns_it_off(
    history: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-key")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", "http://127.0.0.1:9/anthropic")
    with Catalog.open(history) as cat:
        with Client(prices=cat, api_key="sk-or-v1-test") as client:
            direct = client.request(PROMPT, "anthropic:anthropic/claude-haiku-4.5", stream=True)
            assert "sk-ant-test-key" not in repr(client) + client.redacted("x sk-ant-test-key")
        with Client(prices=cat, api_key="sk-or-v1-test", native=False) as client:
            through = client.request(PROMPT, "anthropic:anthropic/claude-haiku-4.5")
    assert direct.url == "http://127.0.0.1:9/anthropic/v1/messages"
    assert direct.headers["x-api-key"] == "sk-ant-test-key" and "Authorization" not in direct.headers
    assert direct.headers["anthropic-version"] == "2023-06-01"
    assert direct.body["model"] == "claude-haiku-4-5-20251001" and direct.body["stream"] is True
    assert through.native is None and through.body["provider"]["only"] == ["anthropic"]
    refused = r"because ANTHROPIC_API_KEY is set\); drop it, or .*--no-native"
    with Catalog.open(history) as cat, Client(prices=cat) as client, pytest.raises(InputError, match=refused):
        client.request(PROMPT, "anthropic:anthropic/claude-haiku-4.5", seed=3)


def test_a_provider_without_a_direct_api_always_goes_through_openrouter(
    history: Path, served: tuple[FakeOpenRouter, str]
) -> None:
    with Catalog.open(history) as cat, Client(prices=cat, native=native_base_urls(served[1])) as client:
        request = client.request(PROMPT, "google-vertex:anthropic/claude-haiku-4.5")
    assert request.native is None and request.body["provider"]["only"] == ["google-vertex"]


def test_each_shape_translates_the_options_it_takes(client: Client) -> None:
    cached = [{"type": "text", "text": "A long shared preamble.", "cache_control": {"type": "ephemeral"}}]
    prompt = [{"role": "system", "content": cached}, {"role": "user", "content": PROMPT}]
    options: dict[str, Any] = {"temperature": 0.5, "top_p": 0.9, "stop": "END", "user": "u-1"}
    anthropic = client.request(prompt, "anthropic:anthropic/claude-haiku-4.5", **options).body
    assert anthropic["system"] == [
        {"type": "text", "text": "A long shared preamble.", "cache_control": {"type": "ephemeral"}}
    ]
    assert anthropic["messages"] == [{"role": "user", "content": [{"type": "text", "text": PROMPT}]}]
    assert anthropic["max_tokens"] == 4096  # required by the Messages API; the caller gave none
    assert (anthropic["stop_sequences"], anthropic["metadata"]) == (["END"], {"user_id": "u-1"})
    gemini = client.request(prompt, "google-ai-studio:google/gemini-2.5-flash", max_tokens=50).body
    assert gemini["systemInstruction"] == {"parts": [{"text": "A long shared preamble."}]}
    assert gemini["contents"] == [{"role": "user", "parts": [{"text": PROMPT}]}]
    assert gemini["generationConfig"] == {"maxOutputTokens": 50}
    with pytest.raises(InputError, match=r"user: not taken by google-ai-studio's own API"):
        client.request(prompt, "google-ai-studio:google/gemini-2.5-flash", **options)
    openai = client.request(prompt, "openai:openai/gpt-4o-mini", stream=True, reasoning={"effort": "low"}).body
    assert openai["stream_options"] == {"include_usage": True} and openai["reasoning_effort"] == "low"
    assert "cache_control" not in openai["messages"][0]["content"][0]  # not an OpenAI field
    responses = client.request(prompt, "openai:openai/gpt-4o-mini", native_api="responses", max_tokens=9).body
    assert responses["instructions"] == "A long shared preamble." and responses["max_output_tokens"] == 9
    assert responses["input"] == [{"role": "user", "content": PROMPT}]


def test_gemini_takes_sampling_in_generation_config_and_a_schema_as_json(client: Client) -> None:
    schema = {"type": "object", "properties": {"a": {"type": "string"}}}
    fmt = {"type": "json_schema", "json_schema": {"name": "r", "schema": schema, "strict": True}}
    body = client.request(
        PROMPT, "google-ai-studio:google/gemini-2.5-flash", sys_msg="S", temperature=0.2, top_k=5, max_tokens=50,
        stop=["END"], response_format=fmt,
    ).body  # fmt: skip
    assert body["systemInstruction"] == {"parts": [{"text": "S"}]}
    assert body["generationConfig"] == {
        "temperature": 0.2,
        "topK": 5,
        "maxOutputTokens": 50,
        "stopSequences": ["END"],
        "responseMimeType": "application/json",
        "responseJsonSchema": schema,
    }


def test_an_option_the_providers_api_has_no_equivalent_for_is_refused_naming_it(client: Client) -> None:
    with pytest.raises(InputError, match=r"plugins \(OpenRouter's routing\): not taken by anthropic's own API"):
        client.request(PROMPT, "anthropic:anthropic/claude-haiku-4.5", plugins=[{"id": "web"}])
    with pytest.raises(
        InputError,
        match=r"top_k: not taken by openai's own API \(called directly because native=\{'openai': \.\.\.\} gives",
    ):
        client.request(PROMPT, "openai:openai/gpt-4o-mini", top_k=3)
    with pytest.raises(InputError, match=r"seed: not taken by anthropic's own API"):
        client.request(PROMPT, "anthropic:anthropic/claude-haiku-4.5", seed=1)
    with pytest.raises(InputError, match=r"native_api='responses' is OpenAI's Responses API"):
        client.request(PROMPT, "anthropic:anthropic/claude-haiku-4.5", native_api="responses")


def test_extra_body_reaches_the_native_body_unchecked(client: Client) -> None:
    body = client.request(PROMPT, "anthropic:anthropic/claude-haiku-4.5", extra_body={"service_tier": "auto"}).body
    assert body["service_tier"] == "auto"


def test_a_native_error_names_the_provider_and_its_message(client: Client) -> None:
    with pytest.raises(GenerationError, match=r"^anthropic answered 400: the request holds no user message"):
        client.generate([{"role": "assistant", "content": "hi"}], "anthropic:anthropic/claude-haiku-4.5")


def test_a_direct_generation_has_no_openrouter_bill_to_look_up(client: Client) -> None:
    g = client.generate(PROMPT, "anthropic:anthropic/claude-haiku-4.5")
    with pytest.raises(InputError, match=r"went to Anthropic directly, not through OpenRouter"):
        g.billed()
    assert isinstance(g, Generation)


# --- the id mapping --------------------------------------------------------------------------------------------


def _endpoint(model: str, tag: str, upstream: str | None, since: str = "2026-08-01") -> SheetVersion:
    sheet = parse_price_sheet({"prompt": "0.000001", "completion": "0.000002"})
    start = datetime.fromisoformat(since).replace(tzinfo=UTC)
    return SheetVersion("endpoint", model, tag, tag, tag, start, None, sheet, provider_model_id=upstream)


def test_the_recorded_id_wins_over_the_override_table() -> None:
    now = datetime(2026, 8, 2, tzinfo=UTC)
    model = "anthropic/claude-3.5-haiku"
    assert upstream_model(None, model, "anthropic", now) == (UPSTREAM_IDS[("anthropic", model)], None)
    table = PriceTable.from_sheets([_endpoint(model, "anthropic", "from-the-data")])
    assert upstream_model(table, model, "anthropic", now) == ("from-the-data", "anthropic")
    # a version without a recorded id leaves the table to answer
    table = PriceTable.from_sheets([_endpoint(model, "anthropic", None)])
    assert upstream_model(table, model, "anthropic", now)[0] == UPSTREAM_IDS[("anthropic", model)]


def test_the_plain_tags_open_version_is_preferred() -> None:
    model = "openai/gpt-5"
    table = PriceTable.from_sheets(
        [_endpoint(model, "openai/default", "variant-id"), _endpoint(model, "openai", "plain-id", "2026-07-01")]
    )
    assert upstream_model(table, model, "openai", datetime(2026, 8, 2, tzinfo=UTC))[0] == "plain-id"


def test_no_id_anywhere_is_refused_with_the_fix() -> None:
    table = PriceTable.from_sheets([_endpoint("a/b", "groq", None)])
    with pytest.raises(InputError, match=r"groq:a/b: the catalog records no groq model id .*Client\(native=False\)"):
        upstream_model(table, "a/b", "groq", datetime(2026, 8, 2, tzinfo=UTC))


def test_the_override_table_covers_only_models_the_bundled_endpoints_lack(bundle: Bundle) -> None:
    recorded = set()
    for info in bundle.snapshots("full"):
        for model_id, data in bundle.load(info.id).endpoints.items():
            for endpoint in data["endpoints"]:
                assert endpoint["provider_model_id"], (info.id, model_id, endpoint["tag"])  # the data has it
                recorded.add((endpoint["tag"].split("/", 1)[0], model_id))
    assert not set(UPSTREAM_IDS) & recorded
    listed = {m["id"] for info in bundle.snapshots() for m in bundle.load(info.id).models}
    assert {model for _, model in UPSTREAM_IDS} <= listed  # each is a model the catalog did list


# --- the offline demo ------------------------------------------------------------------------------------------


def test_catalog_gen_fake_calls_the_fakes_echo_of_the_providers_own_api(bundle: Bundle) -> None:
    # A real key in the environment must not matter: --fake points every provider at the in-process fake.
    ran = run_cli(
        "gen", "Name two colours", "-m", "anthropic:anthropic/claude-haiku-4.5", "--fake", "--stream", "--json",
        env={"ANTHROPIC_API_KEY": "sk-ant-real-looking-key", "ANTHROPIC_BASE_URL": "http://127.0.0.1:9"},
    )  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    out = json.loads(ran.stdout)
    newest = bundle.load(bundle.snapshots("full")[-1].id)
    endpoint = next(e for e in newest.endpoints["anthropic/claude-haiku-4.5"]["endpoints"] if e["tag"] == "anthropic")
    n = len(tokens("Name two colours"))
    expected = n * Decimal(endpoint["pricing"]["prompt"]) + n * Decimal(endpoint["pricing"]["completion"])
    assert (out["via"], out["upstream_model"], out["text"]) == (
        "native",
        endpoint["provider_model_id"],
        "Name two colours",
    )
    assert Decimal(out["cost"]) == expected and out["billed_cost"] is None


def test_catalog_gen_no_native_sends_the_call_through_openrouter() -> None:
    # The in-process fake OpenRouter answers only echo models, so its refusal shows where the call went.
    ran = run_cli(
        "gen", "hi", "-m", "anthropic:anthropic/claude-haiku-4.5", "--fake", "--no-native",
        env={"ANTHROPIC_API_KEY": "sk-ant-real-looking-key"},
    )  # fmt: skip
    assert ran.returncode != 0
    assert "OpenRouter answered 400: anthropic/claude-haiku-4.5 is not a valid model ID" in ran.stderr


@pytest.mark.parametrize(("model", "tag", "api"), CALLS[:4], ids=[f"{c[1]}-{c[2] or 'chat'}" for c in CALLS[:4]])
def test_a_native_stream_cut_into_7_byte_writes_reads_the_same(
    client: Client, served: tuple[FakeOpenRouter, str], history: Path, model: str, tag: str, api: str | None
) -> None:
    # Lines, event names and Gemini's \r\n event ends split anywhere across reads.
    served[0].set_faults(Faults(chunk_bytes=7))
    options: dict[str, Any] = {"native_api": api} if api else {}
    g = client.generate(PROMPT, model, stream=True, **options)
    n = len(tokens(PROMPT))
    assert (g.text, g.usage["prompt_tokens"], g.usage["completion_tokens"]) == (PROMPT, n, n)
    assert g.cost == _expected(history, model.split(":", 1)[1], tag, n, n)


@pytest.mark.parametrize(("model", "tag", "api"), CALLS[:4], ids=[f"{c[1]}-{c[2] or 'chat'}" for c in CALLS[:4]])
def test_a_native_stream_cut_before_its_end_raises_with_what_arrived(
    client: Client, served: tuple[FakeOpenRouter, str], model: str, tag: str, api: str | None
) -> None:
    # Cut after the events that carry the first words: no message_stop, [DONE], response.completed or
    # finishReason arrives, so the answer may be short and must not pass for a whole one.
    served[0].set_faults(Faults(stream_drop_after=4))
    options: dict[str, Any] = {"native_api": api} if api else {}
    with pytest.raises(StreamError) as caught:
        client.generate(PROMPT, model, stream=True, **options)
    partial = caught.value.partial
    assert isinstance(partial, Generation) and partial.via == "native"
    assert PROMPT.startswith(partial.text) and len(partial.text) < len(PROMPT)
