"""Issue 20, items 2 and 3 (acceptance 3 and 5): account and generation look-ups, ``Generation.billed()`` and
embeddings, over loopback against the fake OpenRouter.

The fake's answers are validated against the spec's schemas as bundled (``spec_schema``: the look-ups' and
embeddings' bodies and the error bodies), so the client is tested on the shapes OpenRouter documents. Money is
compared with ``==`` against ``Decimal`` references computed here from the echo's price sheet.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from helpers import run_cli, spec_problems

from catalog.client import AsyncClient, Client
from catalog.errors import AuthError, GenerationError, InputError, ModerationError, StreamError
from catalog.fake import FakeOpenRouter, Faults, MemorySource, memory_day, serve_in_thread, tokens
from catalog.fake.account import FakeAccount, GenerationRecord
from catalog.fake.chat import ECHO_PRICING
from catalog.fake.embeddings import echo_vector

KEY = "sk-or-v1-lookups-test-key"
MANAGEMENT = "sk-or-v1-lookups-management-key"
PRICE = {k: Decimal(v) for k, v in ECHO_PRICING.items()}


def _fake(**account: Any) -> FakeOpenRouter:
    # a full day (providers given), so a sync against it with echo_models stores the echo's endpoint price
    return FakeOpenRouter(
        MemorySource([memory_day("2026-07-17", [], {}, [])]), echo_models=True, account=FakeAccount(**account)
    )


@pytest.fixture
def served() -> Iterator[tuple[FakeOpenRouter, str]]:
    fake = _fake()
    with serve_in_thread(fake) as url:
        yield fake, url


@pytest.fixture
def client(served: tuple[FakeOpenRouter, str]) -> Iterator[Client]:
    with Client(base_url=served[1], api_key=KEY, max_attempts=1) as c:
        c.register_model("echo/echo", ECHO_PRICING)  # a registered price: no history needed
        yield c


def _echo_cost(prompt: int, completion: int) -> Decimal:
    return prompt * PRICE["prompt"] + completion * PRICE["completion"]


# --- the fake's routes answer in the spec's shapes ------------------------------------------------------------


def test_every_lookup_and_embeddings_answer_validates_against_the_bundled_spec(
    served: tuple[FakeOpenRouter, str],
) -> None:
    _, url = served
    auth = {"Authorization": f"Bearer {KEY}"}
    chat = httpx.post(
        f"{url}/chat/completions",
        json={"model": "echo/echo", "messages": [{"role": "user", "content": "one two three"}]},
        headers=auth,
    ).json()
    request = {"model": "echo/embed", "input": ["alpha beta", "gamma"], "dimensions": 5}
    assert spec_problems(request, "EmbeddingsRequest") == []
    embedded = httpx.post(f"{url}/embeddings", json=request, headers=auth).json()
    answers = {
        "KeyResponse": httpx.get(f"{url}/key", headers=auth).json(),
        "CreditsResponse": httpx.get(f"{url}/credits", headers=auth).json(),
        "GenerationResponse": httpx.get(f"{url}/generation", params={"id": chat["id"]}, headers=auth).json(),
        "ActivityResponse": httpx.get(f"{url}/activity", headers=auth).json(),
        "EmbeddingsResponse": embedded,
    }
    for schema, body in answers.items():
        assert spec_problems(body, schema) == [], schema
    # and the schemas are strict enough to catch a wrong shape (a check that validates nothing would pass too)
    assert spec_problems({"data": {"label": "x"}}, "KeyResponse")
    assert spec_problems({"data": {**answers["GenerationResponse"]["data"], "total_cost": "1"}}, "GenerationResponse")
    errors = {
        "UnauthorizedResponse": httpx.get(f"{url}/key"),
        "NotFoundResponse": httpx.get(f"{url}/generation", params={"id": "gen-nope"}, headers=auth),
    }
    assert [r.status_code for r in errors.values()] == [401, 404]
    for schema, response in errors.items():
        assert spec_problems(response.json(), schema) == [], schema
    assert [len(item["embedding"]) for item in embedded["data"]] == [5, 5]
    assert embedded["data"][0]["embedding"] == echo_vector("alpha beta", 5) != echo_vector("gamma", 5)


# --- acceptance 3: look-ups and billed() ------------------------------------------------------------------------


def test_lookups_are_typed_and_follow_the_calls_the_fake_answered(client: Client) -> None:
    first = client.generate("one two three", "echo/echo")
    second = client.generate("four five", "echo/echo", stream=True)
    expected = _echo_cost(3, 3) + _echo_cost(2, 2)
    assert first.cost == _echo_cost(3, 3) and second.cost == _echo_cost(2, 2)

    key = client.key_info()
    assert key.usage == key.usage_daily == expected
    assert key.limit == Decimal(10) and key.limit_remaining == Decimal(10) - expected
    assert key.is_free_tier is False and key.rate_limit is not None and "requests" in key.rate_limit

    credits = client.credits()
    assert (credits.total_credits, credits.total_usage, credits.remaining) == (10, expected, 10 - expected)

    record = client.generation_record(str(second.id))
    assert (record.id, record.model, record.provider, record.streamed) == (second.id, "echo/echo", "Echo", True)
    assert (record.native_tokens_prompt, record.native_tokens_completion, record.native_tokens_cached) == (2, 2, 0)
    assert record.total_cost == _echo_cost(2, 2) and record.latency_ms is not None and record.cache_discount is None

    (row,) = client.activity()
    assert (row.model, row.provider_name, row.requests, row.prompt_tokens, row.completion_tokens) == (
        "echo/echo",
        "Echo",
        2,
        5,
        5,
    )
    assert row.usage == expected
    assert client.activity(date="2001-01-01") == []


def test_billed_reconciles_an_echo_call_to_the_fakes_billed_cost_exactly(client: Client) -> None:
    g = client.generate("the quick brown fox", "echo/echo", reasoning={"effort": "low"})
    reasoning = min(64, 4)
    reference = 4 * PRICE["prompt"] + 4 * PRICE["completion"] + reasoning * PRICE["internal_reasoning"]
    billed = g.billed()
    assert billed.billed == reference == billed.computed == g.cost
    assert billed.difference == 0 and billed.verdict == "match" and billed.computed_from == "response usage"
    assert billed.record.native_tokens_reasoning == reasoning and billed.to_dict()["billed"] == str(reference)


def test_a_stream_without_its_usage_still_gets_its_billed_figure(client: Client) -> None:
    """The fake's mid-stream error ends the stream before the usage chunk: the partial generation has no cost,
    and billed() prices the record's native counts instead (what the fake billed: the tokens it sent)."""
    fake_url = client.base_url
    httpx.post(fake_url.removesuffix("/api/v1") + "/_fake/faults", json={"stream_error_after": 2})
    with pytest.raises(StreamError) as caught:
        client.generate("a b c d e f", "echo/echo", stream=True)
    partial = caught.value.partial
    assert partial.cost is None and partial.id
    billed = partial.billed()
    reference = 6 * PRICE["prompt"] + 2 * PRICE["completion"]
    assert billed.billed == billed.computed == reference and billed.verdict == "match"
    assert billed.computed_from == "generation record"


def test_billed_says_when_a_price_differs(served: tuple[FakeOpenRouter, str]) -> None:
    with Client(base_url=served[1], api_key=KEY) as c:
        c.register_model("echo/echo", {**ECHO_PRICING, "completion": "0.000003"})  # not what the echo bills
        g = c.generate("one two", "echo/echo")
        billed = g.billed()
    assert billed.verdict == "differs" and billed.difference == 2 * Decimal("0.000001")


def test_the_async_client_looks_up_and_reconciles_the_same(served: tuple[FakeOpenRouter, str]) -> None:
    async def run() -> tuple[Any, Any, Any]:
        async with AsyncClient(base_url=served[1], api_key=KEY) as c:
            c.register_model("echo/echo", ECHO_PRICING)
            g = await c.generate("red green blue", "echo/echo", stream=True)
            with pytest.raises(InputError, match=r"AsyncClient: use `await generation\.abilled"):
                g.billed()
            embedded = await c.embed("echo/echo", "red green")
            return await g.abilled(), await c.key_info(), embedded

    billed, key, embedded = asyncio.run(run())
    assert billed.verdict == "match" and billed.billed == _echo_cost(3, 3)
    assert key.usage == _echo_cost(3, 3) + 2 * PRICE["prompt"]  # the embedding is billed too
    assert embedded.cost == 2 * PRICE["prompt"] == embedded.billed_cost


def test_billed_needs_an_open_client(served: tuple[FakeOpenRouter, str]) -> None:
    with Client(base_url=served[1], api_key=KEY) as c:
        g = c.generate("x", "echo/echo")
    with pytest.raises(InputError, match="closed; pass an open one"):
        g.billed()
    with Client(base_url=served[1], api_key=KEY) as other:
        assert g.billed(other).billed == _echo_cost(1, 1)


def test_lookup_errors_are_typed_and_say_the_fix(served: tuple[FakeOpenRouter, str]) -> None:
    _, url = served
    with Client(base_url=url, api_key=KEY, max_attempts=1) as c:
        with pytest.raises(GenerationError, match=r"404: Generation gen-nope not found; check the id") as caught:
            c.generation_record("gen-nope")
        assert caught.value.status == 404
    with Client(base_url=url, api_key="", max_attempts=1) as c, pytest.raises(AuthError) as denied:
        c.key_info()
    assert "401" in str(denied.value) and "set OPENROUTER_API_KEY" in str(denied.value)


def test_credits_and_activity_want_a_management_key_when_the_fake_tells_keys_apart() -> None:
    fake = _fake(management_keys={MANAGEMENT})
    with serve_in_thread(fake) as url:
        with Client(base_url=url, api_key=KEY) as c, pytest.raises(ModerationError, match="needs a management key"):
            c.credits()
        with Client(base_url=url, api_key=MANAGEMENT) as c:
            assert c.key_info().is_management_key and c.credits().total_usage == 0 and c.activity() == []


def test_the_key_never_shows_in_a_lookup_error(served: tuple[FakeOpenRouter, str]) -> None:
    with Client(base_url=served[1], api_key=KEY, max_attempts=1) as c, pytest.raises(GenerationError) as caught:
        c.generation_record(f"gen-{KEY}")  # the 404 message echoes the id, which here holds the key
    assert KEY not in str(caught.value)


# --- acceptance 5: embeddings -----------------------------------------------------------------------------------


def test_embed_returns_vectors_usage_and_exact_cost(client: Client) -> None:
    inputs = ["The quick brown fox", "jumps", "over the lazy dog"]
    result = client.embed("echo/echo", inputs, dimensions=16)
    assert result.vectors == [echo_vector(text, 16) for text in inputs]
    prompt = sum(len(tokens(text)) for text in inputs)
    assert result.usage == {"prompt_tokens": prompt} and prompt == 9
    assert result.cost == prompt * PRICE["prompt"] == result.billed_cost and result.cost_difference == 0
    assert result.price_source == "custom" and result.cost_status == "ok"
    record = client.generation_record(str(result.id))
    assert record.api_type == "embeddings" and record.total_cost == result.cost


def test_embed_is_priced_from_the_history_once_synced(tmp_path: Path) -> None:
    fake = _fake()
    db = tmp_path / "echo.duckdb"
    with serve_in_thread(fake) as url:
        assert run_cli("init", "--db", str(db)).returncode == 0  # `sync` writes into an existing catalog
        synced = run_cli("sync", "--base-url", url, "--db", str(db))
        assert synced.returncode == 0, synced.stderr
        from catalog.library import Catalog

        with Catalog.open(str(db)) as cat, Client(base_url=url, api_key=KEY, prices=cat) as c:
            result = c.embed("echo/echo", "alpha beta gamma")
    assert result.cost == 3 * PRICE["prompt"] and result.price_source in ("endpoint", "model")


def test_embed_refuses_what_it_does_not_take(client: Client) -> None:
    with pytest.raises(InputError, match="embed\\(\\) got temperature; it takes dimensions"):
        client.embed("echo/echo", "x", temperature=1)
    with pytest.raises(InputError, match="non-empty list of strings"):
        client.embed("echo/echo", [])


# --- the commands ---------------------------------------------------------------------------------------------


def test_account_json_returns_the_specs_fields(served: tuple[FakeOpenRouter, str]) -> None:
    _, url = served
    ran = run_cli("account", "--json", "--base-url", url, env={"OPENROUTER_API_KEY": KEY})
    assert ran.returncode == 0, ran.stderr
    out = json.loads(ran.stdout)
    required = {"label", "limit", "usage", "limit_remaining", "is_free_tier", "rate_limit", "is_management_key"}
    assert required <= set(out["key"]) and {"total_credits", "total_usage"} == set(out["credits"])
    assert out["key"]["limit"] == "10" and out["credits"]["total_usage"] == "0" and out["credits_note"] is None
    assert KEY not in ran.stdout + ran.stderr
    text = run_cli("account", "--base-url", url, env={"OPENROUTER_API_KEY": KEY})
    assert "limit $10, used $0, $10 remaining" in text.stdout and "credits $10" in text.stdout


def test_generation_json_returns_the_specs_fields_and_reconciles_with_the_history(tmp_path: Path) -> None:
    fake = _fake()
    db = tmp_path / "echo.duckdb"
    with serve_in_thread(fake) as url:
        assert run_cli("init", "--db", str(db)).returncode == 0  # `sync` writes into an existing catalog
        assert run_cli("sync", "--base-url", url, "--db", str(db)).returncode == 0
        with Client(base_url=url, api_key=KEY) as c:
            g = c.generate("one two three four", "echo/echo")
        env = {"OPENROUTER_API_KEY": KEY}
        ran = run_cli("generation", str(g.id), "--json", "--base-url", url, "--db", str(db), env=env)
        text = run_cli("generation", str(g.id), "--base-url", url, "--db", str(db), env=env)
    assert ran.returncode == 0, ran.stderr
    out = json.loads(ran.stdout)
    # --json writes amounts (and other decimals) as exact strings; the spec's numbers, read back, are its fields
    doubles = {"total_cost", "usage", "latency", "generation_time", "moderation_latency", "cache_discount"}
    spec_record = {k: float(v) if k in doubles and v is not None else v for k, v in out["generation"].items()}
    assert spec_problems({"data": spec_record}, "GenerationResponse") == []  # every field the spec requires
    assert out["generation"]["id"] == g.id and Decimal(out["generation"]["total_cost"]) == _echo_cost(4, 4)
    assert out["reconciled"]["verdict"] == "match" and Decimal(out["reconciled"]["computed"]) == _echo_cost(4, 4)
    assert f"computed ${_echo_cost(4, 4).normalize():f}: match" in text.stdout


def test_command_errors_are_one_line(served: tuple[FakeOpenRouter, str], tmp_path: Path) -> None:
    _, url = served
    missing = run_cli("generation", "gen-unknown", "--base-url", url, "--db", str(tmp_path / "none.duckdb"),
                      env={"OPENROUTER_API_KEY": KEY})  # fmt: skip
    no_key = run_cli("account", "--base-url", url, env={"OPENROUTER_API_KEY": None})
    for ran, words in ((missing, "404: Generation gen-unknown not found"), (no_key, "401")):
        assert ran.returncode != 0 and ran.stdout == ""
        assert len(ran.stderr.strip().splitlines()) == 1 and words in ran.stderr, ran.stderr
    assert "set OPENROUTER_API_KEY" in no_key.stderr
    assert "Traceback" not in missing.stderr + no_key.stderr


def test_a_cut_stream_bills_only_what_it_sent() -> None:
    fake = _fake()
    fake.set_faults(Faults(stream_drop_after=1))
    with serve_in_thread(fake) as url, Client(base_url=url, api_key=KEY, max_attempts=1) as c:
        with pytest.raises(StreamError) as caught:
            c.generate("a b c", "echo/echo", stream=True)
        record = c.generation_record(str(caught.value.partial.id))
    assert (record.native_tokens_completion, record.total_cost) == (1, 3 * PRICE["prompt"] + PRICE["completion"])


def test_generation_record_asks_again_while_the_record_is_not_written(served: tuple[FakeOpenRouter, str]) -> None:
    fake, url = served
    late = GenerationRecord("gen-late", "echo/echo", "Echo", 1.0e9, 1, 1, 0, 0, _echo_cost(1, 1), False, "stop", 1.0)
    timer = threading.Timer(0.3, fake.account.generations.record, args=(late,))
    with Client(base_url=url, api_key=KEY, max_attempts=1) as c:
        with pytest.raises(GenerationError, match="404"):
            c.generation_record("gen-late")  # no wait: the first 404 is the answer
        timer.start()
        try:
            record = c.generation_record("gen-late", wait=10)
        finally:
            timer.cancel()
    assert record.total_cost == _echo_cost(1, 1) and fake.log.count(path="/api/v1/generation", status=404) >= 2


def test_bad_input_exits_2_and_an_upstream_failure_exits_1(served: tuple[FakeOpenRouter, str], tmp_path: Path) -> None:
    """The house rule over the look-ups and `catalog gen`: what the caller must fix (an unknown id or model, no
    key, a key the upstream refuses) exits 2 with one line; the upstream failing (5xx) exits 1, also one line."""
    _, url = served
    none = str(tmp_path / "none.duckdb")
    keyed, keyless = {"OPENROUTER_API_KEY": KEY}, {"OPENROUTER_API_KEY": None}
    bad_input = {
        "unknown generation id (404)": run_cli("generation", "gen-unknown", "--base-url", url, "--db", none, env=keyed),
        "account without a key (401)": run_cli("account", "--base-url", url, env=keyless),
        "generation without a key (401)": run_cli("generation", "gen-1", "--base-url", url, "--db", none, env=keyless),
        "gen with a malformed key": run_cli(
            "gen", "hi", "-m", "echo/echo", "--base-url", url, "--db", none, env={"OPENROUTER_API_KEY": "sk or"}
        ),
        "gen of an unknown model (4xx)": run_cli(
            "gen", "hi", "-m", "nobody/nothing", "--base-url", url, "--db", none, env=keyed
        ),
    }
    failing = _fake(management_keys={MANAGEMENT})
    failing.set_faults(Faults(failure_rate=1.0, failure_statuses=(502,)))
    with serve_in_thread(failing) as down:
        upstream = {
            "account, upstream 502": run_cli("account", "--base-url", down, env=keyed),
            "generation, upstream 502": run_cli("generation", "gen-1", "--base-url", down, "--db", none, env=keyed),
            "gen, upstream 502": run_cli("gen", "hi", "-m", "echo/echo", "--base-url", down, "--db", none, env=keyed),
        }
    for expected, cases in ((2, bad_input), (1, upstream)):
        for what, ran in cases.items():
            assert ran.returncode == expected, (what, ran.returncode, ran.stderr)
            lines = ran.stderr.strip().splitlines()
            assert lines and lines[-1].startswith("error: ") and "Traceback" not in ran.stderr, (what, ran.stderr)
            assert KEY not in ran.stdout + ran.stderr, what
