"""Usage normalisers and body readers: every recorded chat body reads, real counts come out exactly, native shapes
map into the contract, and bad input is reported by field / file:line without stopping a batch."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from conftest import shared_data_dir

from catalog.cost.bodies import (
    NoUsageError,
    usage_from_body,
    usage_from_row,
    usage_from_sse,
)
from catalog.cost.normalise import (
    UsageFormatError,
    from_anthropic,
    from_gemini,
    from_openai,
    from_openrouter_chat,
    from_openrouter_responses,
)
from catalog.cost.usage import NOT_WHOLE, USAGE_SCHEMA, usage_frame
from catalog.errors import InputError
from catalog.usage_files import read_usage_file

_ROOT = shared_data_dir()
CHAT = _ROOT / "chat" if _ROOT is not None else None
CHAT_FILES = sorted(p.name for p in CHAT.iterdir()) if CHAT is not None else []


def loads(text: str) -> Any:
    return json.loads(text, parse_float=Decimal)


def sse(*chunks: Any, done: bool = True) -> str:
    """A transcript as OpenRouter sends it: a keep-alive comment, one event per chunk, then [DONE]."""
    lines = [": OPENROUTER PROCESSING", ""]
    for chunk in chunks:
        lines += [f"data: {json.dumps(chunk)}", ""]
    if done:
        lines += ["data: [DONE]", ""]
    return "\n".join(lines)


def chunk(usage: dict[str, Any] | None = None, *, content: str = "", **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": "gen-1",
        "provider": "OpenAI",
        "model": "openai/gpt-4o",
        "object": "chat.completion.chunk",
        "created": 1754441342,
        "choices": [{"index": 0, "delta": {"role": "assistant", "content": content}, "finish_reason": None}],
        **extra,
    }
    if usage is not None:
        body["usage"] = usage
    return body


# --- the recorded bodies (../shared) ---------------------------------------------------------------------------


@pytest.mark.shared
def test_all_recorded_chat_files_are_present() -> None:
    assert len(CHAT_FILES) >= 31
    assert {name.rsplit(".", 1)[1] for name in CHAT_FILES} == {"json", "sse"}


@pytest.mark.shared
@pytest.mark.parametrize("name", CHAT_FILES)
def test_every_recorded_chat_file_reads(name: str) -> None:
    assert CHAT is not None
    rows, problems = read_usage_file(CHAT / name)
    if name.startswith("error-"):
        assert rows == []
        assert len(problems) == 1 and problems[0].startswith(f"{name}: skipped")
        return
    assert len(rows) == 1
    row = rows[0]
    assert set(row) <= set(USAGE_SCHEMA)
    assert row["source"] == name
    assert row["model"] and row["id"].startswith("gen-")
    assert isinstance(row["timestamp"], datetime) and row["timestamp"].year >= 2024
    assert row["prompt_tokens"] > 0 and row["completion_tokens"] > 0
    # The only note on a usable recording: a stream that hit its token limit after reporting usage.
    assert problems == ([] if name != "stream-finish-length.sse" else [f"{name}: {_LIMIT_NOTE}"])


_LIMIT_NOTE = "kept the usage of a body that also reports an error 400: Token limit reached"


@pytest.mark.shared
def test_recorded_rows_build_one_usage_frame() -> None:
    assert CHAT is not None
    rows = [row for name in CHAT_FILES for row in read_usage_file(CHAT / name)[0]]
    frame = usage_frame(rows)
    assert frame.height == len(CHAT_FILES) - 1  # all but the 429
    assert frame["timestamp"].null_count() == 0
    assert frame["model"].null_count() == 0
    assert frame["prompt_tokens"].min() > 0  # type: ignore[operator]


@pytest.mark.shared
@pytest.mark.parametrize("name", [n for n in CHAT_FILES if not n.startswith("error-")])
def test_billed_cost_is_the_exact_text_of_the_file(name: str) -> None:
    assert CHAT is not None
    text = (CHAT / name).read_text(encoding="utf-8")
    # The top-level "cost" key only: upstream costs are "upstream_inference_*cost".
    received = re.findall(r'"cost":\s*([-0-9.eE+]+)', text)
    (row,), _ = read_usage_file(CHAT / name)
    if received:
        assert row["billed_cost"] == received[-1]
    else:
        assert "billed_cost" not in row  # 2024 streams and some 2025 bodies carry no cost at all


RECORDED: dict[str, dict[str, Any]] = {
    "nonstream-anthropic-prompt-cache-1.json": {
        "prompt_tokens": 3214,
        "cache_write_tokens": 3211,
        "cache_read_tokens": 0,
        "completion_tokens": 100,
        "billed_cost": "0.01355025",
        "upstream_cost": "0.01355025",
        "is_byok": False,
        "provider": "Anthropic",
        "model": "anthropic/claude-4.6-sonnet-20260217",
        "timestamp": datetime(2026, 3, 8, 23, 5, 55, tzinfo=UTC),
    },
    "nonstream-anthropic-prompt-cache-2.json": {
        "prompt_tokens": 3329,
        "cache_read_tokens": 3211,
        "cache_write_tokens": 115,
    },
    "nonstream-usage-reasoning-2.json": {
        "prompt_tokens": 17,
        "completion_tokens": 2177,
        "reasoning_tokens": 960,
        "billed_cost": "0.00435825",
        "upstream_cost": None,  # upstream_inference_cost: null
    },
    "nonstream-usage-reasoning-1.json": {"completion_tokens": 1515, "reasoning_tokens": 704, "billed_cost": None},
    "nonstream-web-search.json": {"web_searches": 1, "prompt_tokens": 8174, "billed_cost": "0.0133176"},
    "nonstream-gemini-implicit-cache-1.json": {
        # Parts exceed the whole as OpenRouter reported them: passed on, not clamped.
        "prompt_tokens": 2168,
        "cache_read_tokens": 2161,
        "cache_write_tokens": 2161,
        "billed_cost": "0.0004970133333333333",
    },
    "nonstream-cost-zero-upstream-cost-1.json": {"billed_cost": "0", "upstream_cost": "0.0003253", "is_byok": True},
    "nonstream-tool-call.json": {"prompt_tokens": 134, "completion_tokens": 43, "provider": "Mistral"},
    "responses-api-prompt-cache-1.json": {
        "prompt_tokens": 4020,
        "cache_write_tokens": 4012,
        "cache_read_tokens": 0,
        "completion_tokens": 5,
        "billed_cost": "0.025265",
        "provider": None,  # Responses API bodies do not name the provider
        "timestamp": datetime.fromtimestamp(1784286312, UTC),
    },
    "responses-api-prompt-cache-2.json": {"cache_read_tokens": 4012, "cache_write_tokens": None},
    "responses-api-stream.sse": {"prompt_tokens": 78, "completion_tokens": 37, "reasoning_tokens": 22},
    "responses-api-stream-2026-08-04.sse": {"prompt_tokens": 17, "completion_tokens": 4, "billed_cost": "0.0000825"},
    "stream-2024-11-10-gpt-4o.sse": {"prompt_tokens": 17, "completion_tokens": 5, "billed_cost": None},
    "stream-cached-tokens.sse": {"cache_read_tokens": 679, "reasoning_tokens": 118, "model": "x-ai/grok-4"},
    "stream-finish-length.sse": {"completion_tokens": 10, "reasoning_tokens": 11, "billed_cost": "0"},
    "stream-web-search.sse": {"web_searches": 1, "prompt_tokens": 8174, "completion_tokens": 30},
    "stream-tool-cache-write-fields.sse": {"billed_cost": "0.0145476", "upstream_cost": "0.0001776", "is_byok": None},
}


@pytest.mark.shared
@pytest.mark.parametrize("name", sorted(RECORDED))
def test_recorded_counts_are_exact(name: str) -> None:
    assert CHAT is not None
    (row,), _ = read_usage_file(CHAT / name)
    assert {field: row.get(field) for field in RECORDED[name]} == RECORDED[name]


@pytest.mark.shared
def test_error_body_is_skipped_with_its_message() -> None:
    assert CHAT is not None
    body = loads((CHAT / "error-429-provider-rate-limited-1.json").read_text(encoding="utf-8"))
    with pytest.raises(NoUsageError, match=r"x\.json: skipped, .*error 429 from Google: Provider returned error"):
        usage_from_body(body, source="x.json")


# --- OpenRouter shapes -----------------------------------------------------------------------------------------


def test_openrouter_chat_maps_every_field() -> None:
    usage = loads(
        """{"prompt_tokens": 100, "completion_tokens": 40, "total_tokens": 140,
        "prompt_tokens_details": {"cached_tokens": 30, "cache_write_tokens": 20, "audio_tokens": 5, "video_tokens": 9},
        "completion_tokens_details": {"reasoning_tokens": 10, "image_tokens": 7, "audio_tokens": 3},
        "server_tool_use_details": {"web_search_requests": 2, "tool_calls_requested": 4},
        "cost": 0.0004970133333333333, "is_byok": true,
        "cost_details": {"upstream_inference_cost": 9.78e-05}}"""
    )
    assert from_openrouter_chat(usage) == {
        "prompt_tokens": 100,
        "completion_tokens": 40,
        "cache_read_tokens": 30,
        "cache_write_tokens": 20,
        "audio_input_tokens": 5,
        "reasoning_tokens": 10,
        "image_output_tokens": 7,
        "audio_output_tokens": 3,
        "web_searches": 2,
        "billed_cost": "0.0004970133333333333",
        "upstream_cost": "0.0000978",  # same value; Decimal spells 9.78e-05 without the exponent
        "is_byok": True,
    }


def test_nulls_and_absent_fields_are_left_out() -> None:
    usage = {"prompt_tokens": 5, "cost": None, "cost_details": None, "prompt_tokens_details": {"cached_tokens": None}}
    assert from_openrouter_chat(usage) == {"prompt_tokens": 5}
    assert from_openrouter_chat({}) == {}


def test_zero_cost_stays_zero_text() -> None:
    assert from_openrouter_chat({"cost": 0})["billed_cost"] == "0"
    assert from_openrouter_chat({"cost": Decimal("0.0")})["billed_cost"] == "0.0"


def test_openrouter_responses_shape() -> None:
    usage = loads(
        """{"input_tokens": 4020, "input_tokens_details": {"cached_tokens": 8, "cache_write_tokens": 4012},
        "output_tokens": 50, "output_tokens_details": {"reasoning_tokens": 20}, "total_tokens": 4070,
        "cost": 0.025265, "is_byok": false, "server_tool_use_details": {"web_search_requests": 1},
        "cost_details": {"upstream_inference_cost": null, "upstream_inference_input_cost": 0.025115}}"""
    )
    assert from_openrouter_responses(usage) == {
        "prompt_tokens": 4020,
        "completion_tokens": 50,
        "cache_read_tokens": 8,
        "cache_write_tokens": 4012,
        "reasoning_tokens": 20,
        "web_searches": 1,
        "billed_cost": "0.025265",
        "is_byok": False,
    }


# --- native shapes ---------------------------------------------------------------------------------------------


def test_anthropic_input_excludes_the_cache() -> None:
    usage = {
        "input_tokens": 10,
        "cache_read_input_tokens": 100,
        "cache_creation_input_tokens": 50,
        "output_tokens": 20,
        "server_tool_use": {"web_search_requests": 2, "web_fetch_requests": 1},
    }
    assert from_anthropic(usage) == {
        "prompt_tokens": 160,
        "completion_tokens": 20,
        "cache_read_tokens": 100,
        "cache_write_tokens": 50,  # no split: every write is a 5-minute write
        "web_searches": 2,
    }


def test_anthropic_cache_creation_split_decides_the_ttl() -> None:
    usage = {
        "input_tokens": 10,
        "cache_read_input_tokens": 0,
        "cache_creation_input_tokens": 50,
        "cache_creation": {"ephemeral_5m_input_tokens": 20, "ephemeral_1h_input_tokens": 30},
        "output_tokens": 20,
        "output_tokens_details": {"thinking_tokens": 8},
    }
    row = from_anthropic(usage)
    assert (row["prompt_tokens"], row["cache_write_tokens"], row["cache_write_1h_tokens"]) == (60, 20, 30)
    assert row["reasoning_tokens"] == 8
    # The split alone (no total) still counts in the prompt.
    del usage["cache_creation_input_tokens"]
    assert from_anthropic(usage)["prompt_tokens"] == 60


def test_anthropic_split_that_disagrees_with_its_total_is_reported() -> None:
    usage = {
        "input_tokens": 1,
        "cache_creation_input_tokens": 50,
        "cache_creation": {"ephemeral_5m_input_tokens": 20, "ephemeral_1h_input_tokens": 0},
    }
    with pytest.raises(UsageFormatError, match=r"cache_creation.*does not add up.*50"):
        from_anthropic(usage)
    problems: list[str] = []
    assert from_anthropic(usage, problems=problems)["prompt_tokens"] == 51
    assert len(problems) == 1


def test_anthropic_message_body_and_stream() -> None:
    usage = {"input_tokens": 12, "cache_read_input_tokens": 3000, "cache_creation_input_tokens": 0, "output_tokens": 1}
    message = {"id": "msg_01", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5", "usage": usage}
    row = usage_from_body({**message, "usage": {**usage, "output_tokens": 40}}, source="a.json")
    assert row == {
        "prompt_tokens": 3012,
        "completion_tokens": 40,
        "cache_read_tokens": 3000,
        "cache_write_tokens": 0,
        "model": "claude-sonnet-4-5",
        "id": "msg_01",
        "source": "a.json",
    }
    stream = "\n".join(
        [
            "event: message_start",
            f"data: {json.dumps({'type': 'message_start', 'message': message})}",
            "",
            "event: ping",
            'data: {"type": "ping"}',
            "",
            "event: message_delta",
            'data: {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 40}}',
            "",
            "event: message_stop",
            'data: {"type": "message_stop"}',
            "",
        ]
    )
    assert usage_from_sse(stream, source="a.json") == row


def test_gemini_thoughts_are_beside_the_candidates() -> None:
    metadata = {
        "promptTokenCount": 1000,
        "cachedContentTokenCount": 400,
        "candidatesTokenCount": 50,
        "thoughtsTokenCount": 200,
        "toolUsePromptTokenCount": 30,
        "totalTokenCount": 1280,
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 900}, {"modality": "AUDIO", "tokenCount": 100}],
        "candidatesTokensDetails": [{"modality": "AUDIO", "tokenCount": 10}, {"modality": "TEXT", "tokenCount": 40}],
    }
    assert from_gemini(metadata) == {
        "prompt_tokens": 1030,
        "completion_tokens": 250,
        "cache_read_tokens": 400,
        "reasoning_tokens": 200,
        "audio_input_tokens": 100,
        "audio_output_tokens": 10,
    }
    # Gemini leaves out zero counts: thoughts only still make a completion.
    assert from_gemini({"promptTokenCount": 5, "thoughtsTokenCount": 7})["completion_tokens"] == 7


def test_gemini_body_and_stream() -> None:
    body = {
        "candidates": [{"content": {"parts": [{"text": "hi"}]}}],
        "usageMetadata": {"promptTokenCount": 8, "candidatesTokenCount": 2, "thoughtsTokenCount": 5},
        "modelVersion": "gemini-2.5-flash",
        "responseId": "abc",
    }
    row = usage_from_body(body, source="g.json")
    assert row == {
        "prompt_tokens": 8,
        "completion_tokens": 7,
        "reasoning_tokens": 5,
        "model": "gemini-2.5-flash",
        "id": "abc",
        "source": "g.json",
    }
    early = {**body, "usageMetadata": {"promptTokenCount": 8, "candidatesTokenCount": 1}}
    assert usage_from_sse(sse(early, body, done=False), source="g.json") == row


def test_openai_native_chat_and_responses_by_keys() -> None:
    chat = {
        "prompt_tokens": 2006,
        "completion_tokens": 300,
        "total_tokens": 2306,
        "prompt_tokens_details": {"cached_tokens": 1920, "audio_tokens": 6},
        "completion_tokens_details": {"reasoning_tokens": 256, "audio_tokens": 4, "accepted_prediction_tokens": 0},
    }
    assert from_openai(chat) == {
        "prompt_tokens": 2006,
        "completion_tokens": 300,
        "cache_read_tokens": 1920,
        "audio_input_tokens": 6,
        "reasoning_tokens": 256,
        "audio_output_tokens": 4,
    }
    responses = {
        "input_tokens": 328,
        "input_tokens_details": {"cached_tokens": 128},
        "output_tokens": 52,
        "output_tokens_details": {"reasoning_tokens": 32},
        "total_tokens": 380,
    }
    assert from_openai(responses) == {
        "prompt_tokens": 328,
        "completion_tokens": 52,
        "cache_read_tokens": 128,
        "reasoning_tokens": 32,
    }
    body = {"id": "resp_1", "object": "response", "created_at": 1741476542, "model": "gpt-4.1", "usage": responses}
    assert usage_from_body(body, source="r")["timestamp"] == datetime(2025, 3, 8, 23, 29, 2, tzinfo=UTC)


# --- bad values ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("usage", "field"),
    [
        ({"prompt_tokens": "many"}, "usage.prompt_tokens"),
        ({"prompt_tokens": True}, "usage.prompt_tokens"),
        ({"completion_tokens": Decimal("1.5")}, "usage.completion_tokens"),
        ({"completion_tokens": -3}, "usage.completion_tokens"),
        ({"prompt_tokens_details": {"cached_tokens": [1]}}, "usage.prompt_tokens_details.cached_tokens"),
        ({"prompt_tokens_details": 5}, "usage.prompt_tokens_details"),
        ({"cost": "free"}, "usage.cost"),
        ({"cost": 0.5}, "usage.cost"),
        ({"is_byok": "no"}, "usage.is_byok"),
        ({"prompt_tokens": 10**30}, "usage.prompt_tokens"),
    ],
)
def test_a_bad_value_names_its_field(usage: dict[str, Any], field: str) -> None:
    with pytest.raises(UsageFormatError) as caught:
        from_openrouter_chat(usage)
    assert caught.value.problems[0].startswith(f"{field} ")
    assert isinstance(caught.value, InputError)


def test_float_money_asks_for_exact_parsing() -> None:
    with pytest.raises(UsageFormatError, match="parse_float=Decimal"):
        from_openrouter_chat(json.loads('{"cost": 0.0012}'))


def test_collecting_drops_junk_and_keeps_negative_counts() -> None:
    problems: list[str] = []
    usage = {"prompt_tokens": "abc", "completion_tokens": -4, "cost": "0.001", "prompt_tokens_details": {"x": 1}}
    assert from_openrouter_chat(usage, problems=problems) == {"completion_tokens": -4, "billed_cost": "0.001"}
    assert [p.split(" ")[0] for p in problems] == ["usage.prompt_tokens", "usage.completion_tokens"]
    with pytest.raises(UsageFormatError) as caught:
        from_openrouter_chat(usage)
    assert len(caught.value.problems) == 2  # strict mode names every bad field, not just the first


def test_whole_numbers_in_other_spellings_are_counts() -> None:
    usage = {"prompt_tokens": "12", "completion_tokens": Decimal("3.0"), "total_tokens": "junk is not read"}
    assert from_openrouter_chat(usage) == {"prompt_tokens": 12, "completion_tokens": 3}


def test_usage_that_is_not_an_object() -> None:
    with pytest.raises(UsageFormatError, match="usage is 'lots'"):
        usage_from_body({"object": "chat.completion", "usage": "lots"}, source="s")


# --- SSE -------------------------------------------------------------------------------------------------------


def test_usage_on_an_earlier_chunk_and_the_last_usage_wins() -> None:
    # 2024-2025 streams: usage rode on a chunk that still had choices, and content chunks could follow it.
    early = chunk({"prompt_tokens": 17, "completion_tokens": 1})
    row = usage_from_sse(sse(chunk(content="Hi"), early, chunk(content="!")), source="s.sse")
    assert (row["prompt_tokens"], row["completion_tokens"], row["provider"]) == (17, 1, "OpenAI")
    final = chunk({"prompt_tokens": 17, "completion_tokens": 7}, choices=[])
    assert usage_from_sse(sse(early, chunk(content="!"), final), source="s.sse")["completion_tokens"] == 7


def test_crlf_and_comment_lines() -> None:
    text = sse(chunk(content="a"), chunk({"prompt_tokens": 5, "completion_tokens": 2, "cost": 0}, choices=[]))
    for ending in ("\r\n", "\r"):
        row = usage_from_sse(text.replace("\n", ending), source="s.sse")
        assert (row["prompt_tokens"], row["billed_cost"], row["id"]) == (5, "0", "gen-1")


def test_metadata_comes_from_other_chunks_when_the_usage_chunk_lacks_it() -> None:
    bare = {"object": "chat.completion.chunk", "choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 1}}
    row = usage_from_sse(sse(chunk(content="a"), bare), source="s.sse")
    assert (row["model"], row["id"], row["provider"]) == ("openai/gpt-4o", "gen-1", "OpenAI")
    assert row["timestamp"] == datetime.fromtimestamp(1754441342, UTC)


def test_a_transcript_without_usage_is_no_usage_not_a_crash(tmp_path: Path) -> None:
    text = sse(chunk(content="a"), chunk(content="b"))
    with pytest.raises(NoUsageError, match="none of the 2 chunks"):
        usage_from_sse(text, source="s.sse")
    path = tmp_path / "s.sse"
    path.write_text(text, encoding="utf-8")
    assert read_usage_file(path) == ([], ["s.sse: skipped, none of the 2 chunks of the transcript carries usage"])
    with pytest.raises(NoUsageError):
        usage_from_sse("", source="empty.sse")


def test_a_stream_that_errors_before_usage_says_so() -> None:
    failed = chunk(error={"code": 502, "message": "Upstream died"})
    with pytest.raises(NoUsageError, match="error 502: Upstream died"):
        usage_from_sse(sse(chunk(content="a"), failed), source="s.sse")


def test_the_default_event_name_does_not_change_the_shape() -> None:
    text = sse(chunk({"prompt_tokens": 6, "completion_tokens": 2})).replace("data: ", "event: message\ndata: ")
    assert usage_from_sse(text, source="s.sse")["prompt_tokens"] == 6


def test_responses_stream_with_event_lines() -> None:
    usage = {"input_tokens": 17, "input_tokens_details": {"cached_tokens": 0}, "output_tokens": 4, "cost": 0}
    response = {"id": "gen-2", "object": "response", "created_at": 1785882264, "model": "openai/gpt-4o", "usage": None}
    events = [
        ("response.created", {"type": "response.created", "response": response}),
        ("response.output_text.delta", {"type": "response.output_text.delta", "delta": "Hi"}),
        ("response.completed", {"response": {**response, "usage": usage}}),  # type only on the event: line
    ]
    text = "".join(f"event: {name}\ndata: {json.dumps(data)}\n\n" for name, data in events)
    row = usage_from_sse(text, source="r.sse")
    assert (row["prompt_tokens"], row["completion_tokens"], row["model"]) == (17, 4, "openai/gpt-4o")
    assert row["timestamp"] == datetime.fromtimestamp(1785882264, UTC)


def test_line_separators_inside_json_text_do_not_split_a_line() -> None:
    # JSON may carry U+2028 raw inside a string; the SSE spec ends lines only at CR / LF.
    text = sse(chunk({"prompt_tokens": 2, "completion_tokens": 1}, content="a\u2028b")).replace("\\u2028", "\u2028")
    assert "\u2028" in text
    assert usage_from_sse(text, source="s.sse")["prompt_tokens"] == 2


def test_a_transcript_that_lost_its_blank_lines() -> None:
    text = sse(chunk(content="a"), chunk({"prompt_tokens": 9, "completion_tokens": 1})).replace("\n\n", "\n")
    assert usage_from_sse(text, source="s.sse")["prompt_tokens"] == 9


def test_a_broken_chunk_is_reported_by_line() -> None:
    text = sse(chunk(content="a"), chunk({"prompt_tokens": 9, "completion_tokens": 1}))
    text = text.replace('"content": "a"', '"content": "a', 1)
    with pytest.raises(UsageFormatError, match=r"s\.sse: line 3: data is not JSON"):
        usage_from_sse(text, source="s.sse")
    problems: list[str] = []
    assert usage_from_sse(text, source="s.sse", problems=problems)["prompt_tokens"] == 9
    assert len(problems) == 1


# --- files -----------------------------------------------------------------------------------------------------


def test_jsonl_with_a_bad_line_keeps_the_others(tmp_path: Path) -> None:
    body = chunk({"prompt_tokens": 10, "completion_tokens": 2, "cost": 0.00001}, object="chat.completion")
    lines = [
        json.dumps(body),
        '{"model": "openai/gpt-4o", "prompt_tokens": 5',  # cut off
        "",
        json.dumps({"model": "x/y", "prompt_tokens": "many", "completion_tokens": 3, "billed_cost": "0.5"}),
        json.dumps({"error": {"code": 402, "message": "Insufficient credits"}}),
        "[1, 2]",
        json.dumps({"model": "x/y", "prompt_tokens": 4, "colour": "red"}),
    ]
    path = tmp_path / "usage.jsonl"
    path.write_text("\r\n".join(lines), encoding="utf-8")
    rows, problems = read_usage_file(path)
    assert [row["source"] for row in rows] == ["usage.jsonl:1", "usage.jsonl:4", "usage.jsonl:7"]
    assert rows[0]["billed_cost"] == "0.00001"
    # The unreadable count is left out and the row marked, so it is priced as invalid, never with 0 tokens.
    assert rows[1] == {
        "model": "x/y",
        "completion_tokens": 3,
        "billed_cost": "0.5",
        "source": "usage.jsonl:4",
        NOT_WHOLE: True,
    }
    assert rows[2] == {"model": "x/y", "prompt_tokens": 4, "source": "usage.jsonl:7"}
    assert [problem.split(": ")[0] for problem in problems] == [f"usage.jsonl:{n}" for n in (2, 4, 5, 6, 7)]
    assert "prompt_tokens is 'many'" in problems[1]
    assert "error 402: Insufficient credits" in problems[2]
    assert "unknown field 'colour'" in problems[4]
    assert usage_frame(rows).height == 3


def test_json_list_of_bodies_and_flat_rows(tmp_path: Path) -> None:
    path = tmp_path / "batch.json"
    flat = {"model": "a/b", "prompt_tokens": 1, "timestamp": "2026-07-20T12:00:00Z", "is_byok": True}
    path.write_text(json.dumps([flat, chunk({"prompt_tokens": 2, "completion_tokens": 1})]), encoding="utf-8")
    rows, problems = read_usage_file(path)
    assert problems == []
    assert [row["source"] for row in rows] == ["batch.json[0]", "batch.json[1]"]
    assert rows[0]["timestamp"] == datetime(2026, 7, 20, 12, tzinfo=UTC)
    assert rows[0]["is_byok"] is True


def test_flat_row_checks_its_values() -> None:
    with pytest.raises(UsageFormatError, match=r"f:1: timestamp is 'yesterday'"):
        usage_from_row({"model": "a/b", "timestamp": "yesterday"}, source="f:1")
    assert usage_from_row({"model": "a/b", "timestamp": 0, "requests": "3"}, source="f:1") == {
        "model": "a/b",
        "timestamp": datetime(1970, 1, 1, tzinfo=UTC),
        "requests": 3,
        "source": "f:1",
    }


def test_an_unknown_suffix_is_sniffed(tmp_path: Path) -> None:
    transcript = tmp_path / "capture.txt"
    transcript.write_text(sse(chunk({"prompt_tokens": 3, "completion_tokens": 1})), encoding="utf-8")
    lines = tmp_path / "capture.log"
    lines.write_text('{"model": "a/b", "prompt_tokens": 1}\n{"model": "a/b", "prompt_tokens": 2}\n', encoding="utf-8")
    assert read_usage_file(transcript)[0][0]["prompt_tokens"] == 3
    assert [row["prompt_tokens"] for row in read_usage_file(lines)[0]] == [1, 2]


def test_unreadable_files_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"missing\.json"):
        read_usage_file(tmp_path / "missing.json")
    broken = tmp_path / "broken.json"
    broken.write_text('{"usage": ', encoding="utf-8")
    with pytest.raises(InputError, match=r"broken.json is not valid JSON .*line 1.*\.jsonl"):
        read_usage_file(broken)
    binary = tmp_path / "binary.json"
    binary.write_bytes(b"\xff\xfe\x00{")
    with pytest.raises(InputError, match=r"binary\.json is not UTF-8"):
        read_usage_file(binary)
