"""The native routes' answers (``catalog.fake.native``): one echo written in each provider API's own shapes,
whole or as its stream's events. The source of each shape is cited on its class."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from catalog.fake.responses import encode


@dataclass(frozen=True)
class Echo:
    """One echo answer, before it is written in an API's shape."""

    id: str
    model: str
    created: int
    tokens: tuple[str, ...]
    prompt_tokens: int
    cut: bool  # the token limit cut the echo short
    cached_tokens: int = 0  # of prompt_tokens: a conversation's earlier turns, answered before

    @property
    def text(self) -> str:
        return "".join(self.tokens)

    @property
    def completion_tokens(self) -> int:
        return len(self.tokens)


class _Writer(Protocol):
    """One API's answer to an echo: a whole body, or its stream's events."""

    def whole(self) -> dict[str, Any]: ...
    def events(self) -> list[bytes]: ...


def _sse(data: dict[str, Any], event: str | None = None, end: bytes = b"\n") -> bytes:
    head = b"event: " + event.encode() + end if event else b""
    return head + b"data: " + encode(data) + end + end


class _Chat:
    """OpenAI chat completions (OpenAI API reference, "The chat completion object", "The chat completion
    chunk object"; the usage chunk with ``choices: []`` when ``stream_options.include_usage`` is set)."""

    def __init__(self, echo: Echo, body: dict[str, Any]) -> None:
        self.echo = echo
        self.include_usage = (body.get("stream_options") or {}).get("include_usage") is True

    def usage(self) -> dict[str, Any]:
        e = self.echo
        return {
            "prompt_tokens": e.prompt_tokens,
            "completion_tokens": e.completion_tokens,
            "total_tokens": e.prompt_tokens + e.completion_tokens,
            "prompt_tokens_details": {"cached_tokens": e.cached_tokens, "audio_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0},
        }

    def _head(self, kind: str) -> dict[str, Any]:
        e = self.echo
        return {"id": f"chatcmpl-{e.id}", "object": kind, "created": e.created, "model": e.model}

    def whole(self) -> dict[str, Any]:
        message = {"role": "assistant", "content": self.echo.text, "refusal": None}
        choice = {"index": 0, "message": message, "logprobs": None, "finish_reason": self._finish()}
        return {**self._head("chat.completion"), "choices": [choice], "usage": self.usage()}

    def _finish(self) -> str:
        return "length" if self.echo.cut else "stop"

    def events(self) -> list[bytes]:
        extra = {"usage": None} if self.include_usage else {}

        def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
            choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
            return _sse({**self._head("chat.completion.chunk"), "choices": [choice], **extra})

        out = [chunk({"role": "assistant", "content": ""})]
        out += [chunk({"content": token}) for token in self.echo.tokens]
        out.append(chunk({}, self._finish()))
        if self.include_usage:
            out.append(_sse({**self._head("chat.completion.chunk"), "choices": [], "usage": self.usage()}))
        return [*out, b"data: [DONE]\n\n"]


class _Responses:
    """OpenAI Responses (OpenAI API reference, "The response object"; "Streaming events": each event named
    by an ``event:`` line and its ``type``, with a ``sequence_number``)."""

    def __init__(self, echo: Echo, body: dict[str, Any]) -> None:
        self.echo = echo

    def response(self, done: bool) -> dict[str, Any]:
        e = self.echo
        status = ("incomplete" if e.cut else "completed") if done else "in_progress"
        item = {
            "type": "message",
            "id": f"msg_{e.id}",
            "status": "completed",
            "role": "assistant",
            "content": [{"type": "output_text", "text": e.text, "annotations": []}],
        }
        usage = {
            "input_tokens": e.prompt_tokens,
            "input_tokens_details": {"cached_tokens": e.cached_tokens},
            "output_tokens": e.completion_tokens,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": e.prompt_tokens + e.completion_tokens,
        }
        return {
            "id": f"resp_{e.id}",
            "object": "response",
            "created_at": e.created,
            "status": status,
            "error": None,
            "incomplete_details": {"reason": "max_output_tokens"} if done and e.cut else None,
            "model": e.model,
            "output": [item] if done else [],
            "usage": usage if done else None,
        }

    def whole(self) -> dict[str, Any]:
        return self.response(True)

    def events(self) -> list[bytes]:
        e = self.echo
        sequence = itertools.count()
        item_id = f"msg_{e.id}"

        def event(kind: str, **fields: Any) -> bytes:
            return _sse({"type": kind, "sequence_number": next(sequence), **fields}, kind)

        item = {"type": "message", "id": item_id, "status": "in_progress", "role": "assistant", "content": []}
        part = {"type": "output_text", "text": "", "annotations": []}
        where = {"item_id": item_id, "output_index": 0, "content_index": 0}
        out = [
            event("response.created", response=self.response(False)),
            event("response.in_progress", response=self.response(False)),
            event("response.output_item.added", output_index=0, item=item),
            event("response.content_part.added", **where, part=part),
        ]
        out += [event("response.output_text.delta", **where, delta=token) for token in e.tokens]
        done = self.response(True)
        out += [
            event("response.output_text.done", **where, text=e.text),
            event("response.content_part.done", **where, part={**part, "text": e.text}),
            event("response.output_item.done", output_index=0, item=done["output"][0]),
            event("response.incomplete" if e.cut else "response.completed", response=done),
        ]
        return out


class _Anthropic:
    """Anthropic Messages (Anthropic API reference, "Messages": the ``message`` object; "Streaming Messages":
    ``message_start``, ``content_block_start``, ``ping``, ``content_block_delta`` (``text_delta``),
    ``content_block_stop``, ``message_delta`` with the cumulative usage, ``message_stop``)."""

    def __init__(self, echo: Echo, body: dict[str, Any]) -> None:
        self.echo = echo

    def _message(self, content: list[dict[str, Any]], stop: str | None, output_tokens: int) -> dict[str, Any]:
        e = self.echo
        usage = {  # input_tokens leaves the cache out (Anthropic, "Prompt caching": tracking cache performance)
            "input_tokens": e.prompt_tokens - e.cached_tokens,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": e.cached_tokens,
            "output_tokens": output_tokens,
        }
        return {
            "id": f"msg_{e.id}",
            "type": "message",
            "role": "assistant",
            "model": e.model,
            "content": content,
            "stop_reason": stop,
            "stop_sequence": None,
            "usage": usage,
        }

    def _stop(self) -> str:
        return "max_tokens" if self.echo.cut else "end_turn"

    def whole(self) -> dict[str, Any]:
        e = self.echo
        return self._message([{"type": "text", "text": e.text}], self._stop(), e.completion_tokens)

    def events(self) -> list[bytes]:
        e = self.echo
        out = [
            _sse({"type": "message_start", "message": self._message([], None, 1)}, "message_start"),
            _sse(
                {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
                "content_block_start",
            ),
            _sse({"type": "ping"}, "ping"),
        ]
        out += [
            _sse(
                {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": token}},
                "content_block_delta",
            )
            for token in e.tokens
        ]
        delta = {"stop_reason": self._stop(), "stop_sequence": None}
        out += [
            _sse({"type": "content_block_stop", "index": 0}, "content_block_stop"),
            _sse(
                {"type": "message_delta", "delta": delta, "usage": {"output_tokens": e.completion_tokens}},
                "message_delta",
            ),
            _sse({"type": "message_stop"}, "message_stop"),
        ]
        return out


class _Gemini:
    """Gemini (Gemini API reference, "Generating content": ``GenerateContentResponse`` with ``candidates``,
    ``usageMetadata``, ``modelVersion``, ``responseId``; streamed with ``alt=sse`` as one such response per
    event, the last with the ``finishReason`` and the whole usage, each event ended by ``\\r\\n\\r\\n``)."""

    def __init__(self, echo: Echo, body: dict[str, Any]) -> None:
        self.echo = echo

    def _usage(self, completion: int | None) -> dict[str, Any]:
        e = self.echo
        usage: dict[str, Any] = {
            "promptTokenCount": e.prompt_tokens,
            "totalTokenCount": e.prompt_tokens + (completion or 0),
            "promptTokensDetails": [{"modality": "TEXT", "tokenCount": e.prompt_tokens}],
        }
        if completion is not None:
            usage["candidatesTokenCount"] = completion
        if e.cached_tokens:  # inside promptTokenCount (Gemini API reference, "UsageMetadata")
            usage["cachedContentTokenCount"] = e.cached_tokens
        return usage

    def _response(self, text: str, finish: str | None, completion: int | None) -> dict[str, Any]:
        candidate: dict[str, Any] = {"content": {"parts": [{"text": text}], "role": "model"}, "index": 0}
        if finish:
            candidate["finishReason"] = finish
        e = self.echo
        return {
            "candidates": [candidate],
            "usageMetadata": self._usage(completion),
            "modelVersion": e.model,
            "responseId": e.id,
        }

    def _finish(self) -> str:
        return "MAX_TOKENS" if self.echo.cut else "STOP"

    def whole(self) -> dict[str, Any]:
        return self._response(self.echo.text, self._finish(), self.echo.completion_tokens)

    def events(self) -> list[bytes]:
        e = self.echo
        pieces = list(e.tokens) or [""]
        out = [_sse(self._response(t, None, None), end=b"\r\n") for t in pieces[:-1]]
        return [*out, _sse(self._response(pieces[-1], self._finish(), e.completion_tokens), end=b"\r\n")]


WRITERS: dict[str, Callable[[Echo, dict[str, Any]], _Writer]] = {
    "chat": _Chat,
    "responses": _Responses,
    "anthropic": _Anthropic,
    "gemini": _Gemini,
}
