"""Every request option the client takes, and structured outputs read back (issue 20, items 1 and 5).

Acceptance 1: every body the client builds (one case per option, and the combinations that shape more than one
field) validates against the bundled spec's chat request schema, and carries no field outside that schema
except the few OpenRouter documents beyond it (``OFF_SPEC``); an unknown option is refused with the known
ones. Acceptance 2: a structured-output echo reply parses into ``Generation.parsed`` over loopback; a reply
that does not match raises naming the failing JSON path.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from helpers import run_cli

import catalog.client.client as client_module
from catalog.bundle import spec_schema, spec_schemas
from catalog.cli.gen import usd
from catalog.client import AsyncClient, Client
from catalog.client.options import (
    CHECKS,
    EFFORTS,
    KNOWN,
    OFF_SPEC,
    PLUGINS,
    ChatOptions,
    cached_text,
    json_schema,
)
from catalog.client.request import build_request
from catalog.client.structured import StructuredOutputError, first_violation
from catalog.errors import InputError
from catalog.fake import ECHO_PRICING, FakeOpenRouter, MemorySource, memory_day, serve_in_thread

SCHEMA = {
    "type": "object",
    "properties": {
        "colours": {"type": "array", "items": {"type": "string", "enum": ["red", "green", "blue"]}, "minItems": 1},
        "count": {"type": "integer", "minimum": 0},
        "note": {"type": ["string", "null"]},
    },
    "required": ["colours", "count"],
    "additionalProperties": False,
}
TOOL = {
    "type": "function",
    "function": {"name": "lookup", "description": "Look a word up", "parameters": {"type": "object"}},
}

# One case per option (or group of options), as a caller writes it.
CASES: dict[str, tuple[str, dict[str, Any]]] = {
    "plain": ("openai/gpt-4o-mini", {}),
    # a direct call's choice of OpenAI API; through OpenRouter (no key set here) it changes nothing in the body
    "native-api": ("openai:openai/gpt-4o-mini", {"native_api": "chat"}),
    "sampling": (
        "openai/gpt-4o-mini",
        {
            "temperature": 0.2,
            "top_p": 0.9,
            "top_k": 40,
            "min_p": 0.05,
            "top_a": 0.1,
            "frequency_penalty": -0.5,
            "presence_penalty": 1.5,
            "repetition_penalty": 1.1,
            "seed": 7,
            "stop": ["\n\n", "END"],
            "logit_bias": {"50256": -100},
            "logprobs": True,
            "top_logprobs": 5,
            "max_tokens": 256,
        },
    ),
    "stop as one string": ("openai/gpt-4o-mini", {"stop": "END", "max_completion_tokens": 64}),
    "reasoning effort": ("openai/o4-mini", {"reasoning": {"effort": "high", "exclude": True}}),
    "reasoning budget": ("anthropic/claude-sonnet-4", {"reasoning": {"max_tokens": 2000, "enabled": True}}),
    "reasoning_effort": ("openai/o4-mini", {"reasoning_effort": "minimal"}),
    "json schema strict": ("openai/gpt-4o-mini", {"response_format": json_schema(SCHEMA, "colours")}),
    "json object": ("openai/gpt-4o-mini", {"response_format": {"type": "json_object"}}),
    "tools": ("openai/gpt-4o-mini", {"tools": [TOOL], "tool_choice": "required", "parallel_tool_calls": False}),
    "named tool choice": (
        "openai/gpt-4o-mini",
        {"tools": [TOOL], "tool_choice": {"type": "function", "function": {"name": "lookup"}}},
    ),
    "transforms": ("meta-llama/llama-3.3-70b-instruct", {"transforms": ["middle-out"]}),
    "web plugin": ("openai/gpt-4o-mini", {"plugins": [{"id": "web", "max_results": 3}]}),
    "online suffix": ("openai/gpt-4o-mini:online", {}),
    "healing and parser": (
        "openai/gpt-4o-mini",
        {"plugins": [{"id": "response-healing"}, {"id": "file-parser", "pdf": {"engine": "pdf-text"}}]},
    ),
    "provider preferences": (
        "openai/gpt-4o-mini",
        {
            "provider": {
                "order": ["openai", "azure"],
                "allow_fallbacks": False,
                "require_parameters": True,
                "data_collection": "deny",
                "zdr": True,
                "quantizations": ["fp8"],
                "sort": "price",
                "max_price": {"prompt": 1, "completion": Decimal("2.50"), "request": "0.01"},
                "enforce_distillable_text": False,
            }
        },
    ),
    "pinned provider": ("groq:moonshotai/kimi-k2-0905", {"provider": {"ignore": ["deepinfra"]}}),
    "models and route": (
        "openai/gpt-4o-mini",
        {"models": ["anthropic/claude-3.5-haiku", "google/gemini-2.5-flash"], "route": "fallback"},
    ),
    "usage off": ("openai/gpt-4o-mini", {"usage": {"include": False}}),
    "user and metadata": ("openai/gpt-4o-mini", {"user": "user-42", "metadata": {"run": "a"}, "session_id": "s1"}),
    "top-level cache_control": ("anthropic/claude-sonnet-4", {"cache_control": {"type": "ephemeral"}}),
    "system message and stream": ("openai/gpt-4o-mini", {"sys_msg": "Be brief.", "stream": True}),
    "extra_body": ("openai/gpt-4o-mini", {"extra_body": {"service_tier": "flex", "modalities": ["text"]}}),
}
CACHED_PROMPT = [
    {"role": "system", "content": [cached_text("A long shared context " * 50, ttl="1h")]},
    {"role": "user", "content": [{"type": "text", "text": "The question"}, cached_text("tail")]},
]


@pytest.fixture(scope="module")
def validator() -> jsonschema.protocols.Validator:
    return jsonschema.Draft202012Validator(spec_schema("ChatRequest"))


@pytest.fixture(scope="module")
def client() -> Iterator[Client]:
    with Client(
        api_key="sk-or-test", base_url="http://127.0.0.1:9/api/v1", referer="https://app.example", title="App"
    ) as c:
        yield c


def _off_spec_fields(body: dict[str, Any]) -> list[str]:
    """Fields of ``body`` (top level, and inside ``reasoning``) that neither the spec nor OFF_SPEC lists."""
    spec = spec_schemas()["ChatRequest"]["properties"]
    found = [k for k in body if k not in spec and k not in OFF_SPEC[""]]
    reasoning = spec["reasoning"]["properties"]
    found += [
        f"reasoning.{k}" for k in body.get("reasoning", {}) if k not in reasoning and k not in OFF_SPEC["reasoning"]
    ]
    return found


@pytest.mark.parametrize("case", sorted(CASES))
def test_every_body_the_client_builds_matches_the_spec(
    case: str, client: Client, validator: jsonschema.protocols.Validator
) -> None:
    model, options = CASES[case]
    for prompt in ("Name two colours", CACHED_PROMPT):
        body = client.request(prompt, model, **options).body
        errors = sorted(validator.iter_errors(body), key=lambda e: list(e.absolute_path))
        assert not errors, f"{case}: {errors[0].json_path}: {errors[0].message}"
        assert _off_spec_fields(body) == [], case
    # What was asked is what is sent (the client adds, never rewrites, a caller's field).
    for name, value in options.items():
        if name in ("sys_msg", "stream", "extra_body", "provider", "models", "native_api"):
            continue
        assert body[name] == value, name


def test_the_cases_cover_every_option_and_the_headers() -> None:
    used = {name for _, options in CASES.values() for name in options}
    assert used == set(KNOWN), set(KNOWN) ^ used
    assert set(KNOWN) == set(ChatOptions.__annotations__)  # the typed face and the checks agree


def test_option_fields_shape_the_body(client: Client) -> None:
    online = client.request("hi", "openai/gpt-4o-mini:online")
    assert online.body["model"] == "openai/gpt-4o-mini:online"  # a suffix OpenRouter routes on, sent as is
    pinned = client.request("hi", "groq:moonshotai/kimi-k2-0905", provider={"ignore": ["deepinfra"]})
    assert pinned.body["provider"] == {"ignore": ["deepinfra"], "only": ["groq"], "allow_fallbacks": False}
    off = client.request("hi", "openai/gpt-4o-mini", usage={"include": False})
    assert off.body["usage"] == {"include": False}
    extra = client.request("hi", "openai/gpt-4o-mini", temperature=1, extra_body={"temperature": 0, "x_new": 1})
    assert (extra.body["temperature"], extra.body["x_new"]) == (0, 1)  # extra_body last, unchecked
    assert (extra.headers["HTTP-Referer"], extra.headers["X-Title"]) == ("https://app.example", "App")
    assert extra.body["messages"] == [{"role": "user", "content": "hi"}]
    capped = client.request(
        "hi", "openai/gpt-4o-mini", provider={"max_price": {"prompt": 1, "completion": Decimal("2.50")}}
    )
    assert capped.body["provider"]["max_price"] == {"prompt": "1", "completion": "2.5"}  # the spec's decimal strings
    with pytest.raises(InputError, match="float"):
        client.request("hi", "openai/gpt-4o-mini", provider={"max_price": {"prompt": 0.1}})


def test_the_known_values_follow_the_spec() -> None:
    schemas = spec_schemas()
    request = schemas["ChatRequest"]["properties"]
    assert set(PLUGINS) == set(request["plugins"]["items"]["discriminator"]["mapping"])
    assert set(EFFORTS) == {e for e in request["reasoning"]["properties"]["effort"]["enum"] if e}
    assert set(EFFORTS) == {e for e in request["reasoning_effort"]["enum"] if e}
    off = set(CHECKS) - set(request)
    assert off == set(OFF_SPEC[""]), off  # every other checked name is a field of the spec's request
    assert "transforms" not in request and "usage" not in request  # OFF_SPEC is still needed


def test_an_unknown_option_is_refused_with_the_known_ones(client: Client) -> None:
    with pytest.raises(InputError) as caught:
        client.request("hi", "openai/gpt-4o-mini", temprature=0.2)  # type: ignore[call-arg]  # mypy sees it too
    message = str(caught.value)
    assert "unknown option(s) temprature" in message and "extra_body" in message
    assert all(name in message for name in KNOWN)


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({"temperature": 3}, "temperature"),
        ({"temperature": True}, "temperature"),
        ({"top_p": "0.5"}, "top_p"),
        ({"max_tokens": 0}, "max_tokens"),
        ({"stop": ["a", "b", "c", "d", "e"]}, "stop"),
        ({"logit_bias": {"1": 500}}, "logit_bias"),
        ({"reasoning": {"effort": "huge"}}, "reasoning.effort"),
        ({"reasoning": {"effort": "low", "max_tokens": 100}}, "reasoning"),
        ({"reasoning": {"budget": 1}}, "reasoning: unknown key"),
        ({"response_format": {"type": "json_schema", "json_schema": {"schema": {}}}}, "json_schema.name"),
        ({"response_format": {"type": "yaml"}}, "response_format.type"),
        ({"tools": [{"type": "function", "function": {}}]}, "tools[0]"),
        ({"tool_choice": "always"}, "tool_choice"),
        ({"transforms": ["squeeze"]}, "transforms"),
        ({"plugins": [{"id": "search"}]}, "plugin 'search'"),
        ({"provider": {"sort": "cheapest"}}, "sort"),
        ({"provider": {"orderr": ["a"]}}, "unknown key(s) orderr"),
        ({"usage": {"include": "yes"}}, "usage.include"),
        ({"cache_control": {"type": "ephemeral", "ttl": "2h"}}, "cache_control.ttl"),
        ({"models": "openai/gpt-4o"}, "models"),
        ({"extra_body": ["x"]}, "extra_body"),
    ],
)
def test_a_bad_value_is_refused_naming_the_option(client: Client, options: dict[str, Any], named: str) -> None:
    with pytest.raises(InputError, match=re.escape(named)):
        client.request("hi", "openai/gpt-4o-mini", **options)


def test_a_malformed_cache_breakpoint_in_the_prompt_is_refused(client: Client) -> None:
    prompt = [{"role": "user", "content": [{"type": "text", "text": "x", "cache_control": {"type": "forever"}}]}]
    with pytest.raises(InputError, match=r"messages\[0\]\.content\[0\]\.cache_control\.type"):
        client.request(prompt, "anthropic/claude-sonnet-4")


# --- structured outputs ------------------------------------------------------------------------------------------

VALUES: list[tuple[Any, str | None]] = [
    ({"colours": ["red"], "count": 1}, None),
    ({"colours": ["red"], "count": 1, "note": None}, None),
    ({"colours": ["red", "pink"], "count": 2}, "$.colours[1]"),
    ({"colours": [], "count": 0}, "$.colours"),
    ({"colours": ["red"]}, "$"),
    ({"colours": ["red"], "count": 1.5}, "$.count"),
    ({"colours": ["red"], "count": -1}, "$.count"),
    ({"colours": ["red"], "count": True}, "$.count"),
    ({"colours": ["red"], "count": 1, "extra": 1}, "$.extra"),
    ({"colours": "red", "count": 1}, "$.colours"),
    ([1], "$"),
]


@pytest.mark.parametrize(("value", "path"), VALUES)
def test_the_schema_check_agrees_with_jsonschema(value: Any, path: str | None) -> None:
    errors = list(jsonschema.Draft202012Validator(SCHEMA).iter_errors(value))
    exact = json.loads(json.dumps(value), parse_float=Decimal)  # as parse_reply reads the text
    found = first_violation(exact, SCHEMA, SCHEMA, "$")
    assert (found is None) == (not errors)
    if found is not None:
        # jsonschema places an additionalProperties error on the object; this check names the property in it
        assert found[0] == path and any(path.startswith(e.json_path) for e in errors)


def test_refs_and_alternatives_are_followed() -> None:
    schema = {
        "$defs": {"point": {"type": "object", "properties": {"x": {"type": "number"}}, "required": ["x"]}},
        "type": "object",
        "properties": {"at": {"anyOf": [{"$ref": "#/$defs/point"}, {"type": "null"}]}},
    }
    assert first_violation({"at": {"x": Decimal("1.5")}}, schema, schema, "$") is None
    assert first_violation({"at": None}, schema, schema, "$") is None
    assert first_violation({"at": {"y": 1}}, schema, schema, "$") == (
        "$.at",
        '{"y": 1} matches none of the anyOf alternatives',
    )


@pytest.fixture(scope="module")
def echo() -> Iterator[str]:
    with serve_in_thread(FakeOpenRouter(MemorySource([memory_day("2026-01-01", [])]))) as url:
        yield url


@pytest.mark.parametrize("stream", [False, True])
def test_a_structured_echo_reply_parses_and_a_wrong_one_names_its_path(echo: str, stream: bool) -> None:
    fmt = json_schema(SCHEMA, "colours")
    with Client(base_url=echo, api_key="sk-or-test", max_attempts=1) as client:
        good = client.generate(
            '{"colours": ["red", "blue"], "count": 2}', "echo/echo", response_format=fmt, stream=stream
        )
        bad = client.generate(
            '{"colours": ["red", "teal"], "count": 2}', "echo/echo", response_format=fmt, stream=stream
        )
        plain = client.generate('{"n": 1.10}', "echo/echo", stream=stream)
    assert good.parsed == {"colours": ["red", "blue"], "count": 2}
    with pytest.raises(StructuredOutputError, match=r"at \$\.colours\[1\]: \"teal\" is not one of") as caught:
        bad.parsed  # noqa: B018 - the property raises
    assert caught.value.path == "$.colours[1]"
    assert plain.parsed == {"n": Decimal("1.10")}  # no schema asked: parsed, unchecked, numbers exact


def test_a_reply_that_is_not_json_says_so(echo: str) -> None:
    async def run() -> Any:
        async with AsyncClient(base_url=echo, api_key="sk-or-test", max_attempts=1) as client:
            with pytest.raises(InputError, match="unknown option"):  # the async face checks the same way
                await client.generate("x", "echo/echo", seeds=1)  # type: ignore[call-arg]
            return await client.generate("not json at all", "echo/echo", response_format=json_schema(SCHEMA))

    generation = asyncio.run(run())
    assert generation.text == "not json at all"
    with pytest.raises(StructuredOutputError, match="the reply is not JSON"):
        generation.parsed  # noqa: B018


# --- catalog gen: the flags, and the offline demo (item 5) --------------------------------------------------------


def _echo_cost(prompt_tokens: int, completion_tokens: int) -> Decimal:
    """What the echo bills, from its published price sheet (not from the client's arithmetic)."""
    return prompt_tokens * Decimal(ECHO_PRICING["prompt"]) + completion_tokens * Decimal(ECHO_PRICING["completion"])


def test_usd_prints_exact_decimals_without_trailing_zeros() -> None:
    assert usd(Decimal("0.00001200000000000000000")) == "$0.000012"
    assert usd(Decimal("0E-23")) == "$0"
    assert usd(Decimal("-1E-6")) == "-$0.000001"
    assert usd(Decimal("12.50")) == "$12.5"


def test_the_offline_demo_prices_the_echo_from_a_synced_history() -> None:
    ran = run_cli("gen", "hi there", "-m", "echo/echo", "--fake")
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout == "hi there\n"
    cost = usd(_echo_cost(2, 2))
    assert f"cost {cost}, billed {cost} (difference $0)" in ran.stderr, ran.stderr


def test_gen_flags_reach_the_body_and_a_structured_reply_is_checked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, validator: jsonschema.protocols.Validator
) -> None:
    built: list[dict[str, Any]] = []

    def recording(*args: Any, **kwargs: Any) -> Any:
        request = build_request(*args, **kwargs)
        built.append(request.body)
        return request

    monkeypatch.setattr(client_module, "build_request", recording)
    schema_file = tmp_path / "colours.json"
    schema_file.write_text(json.dumps(SCHEMA))
    prompt = '{"colours": ["green"], "count": 1}'
    flags = ["--json-schema", str(schema_file), "--temperature", "0.5", "--top-p", "0.9", "--seed", "3"]
    flags += ["--stop", "END", "--max-tokens", "50", "--reasoning-effort", "low", "--provider-order", "echo,b"]
    flags += ["--no-fallbacks", "--web", "--option", 'transforms=["middle-out"]', "--option", 'user="me"']
    flags += ["--referer", "https://app.example", "--title", "App"]
    ran = run_cli("gen", prompt, "-m", "echo/echo", "--fake", "--json", *flags)
    assert ran.returncode == 0, ran.stderr
    out = json.loads(ran.stdout)
    assert out["parsed"] == {"colours": ["green"], "count": 1}
    assert out["price_source"] == "endpoint", out
    assert out["cost"] == out["billed_cost"] is not None
    (body,) = built
    assert not list(validator.iter_errors(body)) and _off_spec_fields(body) == []
    assert body["response_format"] == json_schema(SCHEMA, "colours")
    assert (body["temperature"], body["top_p"], body["seed"], body["stop"], body["max_tokens"]) == (
        0.5,
        0.9,
        3,
        ["END"],
        50,
    )
    assert body["reasoning"] == {"effort": "low"} and body["plugins"] == [{"id": "web"}]
    assert body["provider"] == {"order": ["echo", "b"], "allow_fallbacks": False}
    assert (body["transforms"], body["user"]) == (["middle-out"], "me")

    wrong = run_cli(
        "gen", '{"colours": ["teal"], "count": 1}', "-m", "echo/echo", "--fake", "--json-schema", str(schema_file)
    )
    assert wrong.returncode == 1 and "$.colours[0]" in wrong.stderr, wrong.stderr


@pytest.mark.parametrize(
    ("option", "said"),
    [
        ("temprature=1", "unknown option(s) temprature; known:"),
        ("temperature", "write KEY=JSON"),
        ("user=me", "is not JSON"),
    ],
)
def test_gen_refuses_a_bad_option_before_calling(option: str, said: str) -> None:
    ran = run_cli("gen", "hi", "-m", "echo/echo", "--base-url", "http://127.0.0.1:9/api/v1", "--option", option)
    assert ran.returncode == 2 and said in ran.stderr, ran.stderr
