"""Providers' own APIs on the fake, for the client's direct calls: echo answers in each native shape.

    POST /_native/{provider}/v1/chat/completions          OpenAI chat completions (any OpenAI-compatible provider)
    POST /_native/{provider}/openai/v1/chat/completions   the same below Groq's /openai prefix
    POST /_native/{provider}/v1/responses                 OpenAI Responses
    POST /_native/{provider}/v1/messages                  Anthropic Messages
    POST /_native/{provider}/v1beta/models/{m}:generateContent          Gemini
    POST /_native/{provider}/v1beta/models/{m}:streamGenerateContent?alt=sse

:func:`native_base_urls` gives the base URL of each provider the client calls directly, as the client reads
them (``Client(native={...})``). Every answer echoes the text of the last user message with the echo's
tokenizer (``catalog.fake.chat.tokens``): prompt tokens are those of every text the request carries (system
too), completion tokens those echoed, cut to the request's token limit with the API's own "too long" finish.
A conversation's earlier turns, once answered, are read from cache as the echo's are (``PrefixMemory``, with no
cache breakpoints needed), reported where each API reports them: inside the prompt for OpenAI and Gemini,
beside ``input_tokens`` for Anthropic.
Each request is logged (:attr:`NativeRoutes.received`: provider, path, model, whether a key came in the
header that API uses), so a test can check which model id reached the provider. ``Faults.chunk_bytes`` and
``chunk_delay`` shape these bodies too, and ``stream_drop_after`` N cuts a native stream after N events. A
body without a model, or without a user message, is refused with that API's 400.

The shapes are the documented ones, one source each (cited where each is written): OpenAI API reference,
"The chat completion object" / "The chat completion chunk object" and ``stream_options.include_usage``;
"The response object" and "Streaming events" (Responses); Anthropic API reference, "Messages" and
"Streaming Messages"; Gemini API reference, "Generating content" (``GenerateContentResponse``,
``UsageMetadata``) and "models.streamGenerateContent" with ``alt=sse``.
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from starlette.requests import Request
from starlette.responses import Response

from catalog.fake.chat import SSE_HEADERS, PrefixMemory, tokens
from catalog.fake.faults import Faults
from catalog.fake.responses import JSON, encode, json_response
from catalog.fake.stream import ChatBody, ConnectionCut, Pause, each

NATIVE_PREFIX = "/_native"


def native_base_urls(root: str) -> dict[str, dict[str, str]]:
    """``Client(native=...)`` pointing every direct call at the fake served at ``root`` (``http://host:port``,
    or the fake's ``…/api/v1`` base), each with a stand-in key."""
    root = root.rstrip("/").removesuffix("/api/v1")
    bases = {
        "openai": "/openai/v1",  # the openai SDK's base URL ends in /v1
        "anthropic": "/anthropic",
        "google-ai-studio": "/google-ai-studio",
        "groq": "/groq",
        "cerebras": "/cerebras",
        "xai": "/xai",
    }
    return {p: {"api_key": f"fake-{p}-key", "base_url": f"{root}{NATIVE_PREFIX}{b}"} for p, b in bases.items()}


@dataclass(frozen=True)
class Received:
    """One request a native route answered."""

    provider: str
    path: str
    model: str | None
    keyed: bool  # the key came in the header this API uses
    body: dict[str, Any]


@dataclass(frozen=True)
class Echo:
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


class BadNative(ValueError):
    """A request that API would refuse with 400; the message says why."""


class _Writer(Protocol):
    """One API's answer to an echo: a whole body, or its stream's events."""

    def whole(self) -> dict[str, Any]: ...
    def events(self) -> list[bytes]: ...


class NativeRoutes:
    """The native routes' handler; ``received`` logs what came in."""

    def __init__(self, faults: Any, pause: Pause) -> None:
        self.faults = faults
        self.pause = pause
        self.received: list[Received] = []
        self.memory = PrefixMemory()  # the conversations answered, for cached prompt tokens (as the echo's)
        self._ids = itertools.count(1)

    async def handle(self, request: Request) -> Response | ChatBody:
        provider = request.path_params["provider"]
        path = request.path_params["path"]
        try:
            body = json.loads(await request.body())
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return _error(path, 400, "request body must be a JSON object")
        headers = request.headers
        if path.endswith(("chat/completions", "responses")):
            kind, keyed = (
                ("responses" if path.endswith("responses") else "chat"),
                headers.get("authorization", "").startswith("Bearer "),
            )
            model = body.get("model")
        elif path.endswith("messages"):
            kind, keyed, model = (
                "anthropic",
                bool(headers.get("x-api-key")) and bool(headers.get("anthropic-version")),
                body.get("model"),
            )
        elif ":generateContent" in path or ":streamGenerateContent" in path:
            kind, keyed = "gemini", bool(headers.get("x-goog-api-key"))
            model = path.split("models/", 1)[-1].split(":", 1)[0]
        else:
            return _error(path, 404, f"no native route for {path}")
        self.received.append(Received(provider, path, model if isinstance(model, str) else None, keyed, body))
        if not keyed:
            return _error(path, 401, "no API key in the header this API reads")
        try:
            echo = self._echo(kind, model, body)
        except BadNative as exc:
            return _error(path, 400, str(exc))
        faults: Faults = self.faults()
        stream = ":streamGenerateContent" in path if kind == "gemini" else body.get("stream") is True
        writer = _WRITERS[kind](echo, body)
        if not stream:
            data = encode(writer.whole())
            return ChatBody(
                each([data]), status=200, headers={"content-type": JSON, "content-length": str(len(data))},
                chunk_bytes=faults.chunk_bytes, chunk_delay=faults.chunk_delay, pause=self.pause,
            )  # fmt: skip
        return ChatBody(
            _pieces(writer.events(), faults.stream_drop_after), status=200, headers=SSE_HEADERS,
            chunk_bytes=faults.chunk_bytes, chunk_delay=faults.chunk_delay, pause=self.pause,
        )  # fmt: skip

    def _echo(self, kind: str, model: Any, body: dict[str, Any]) -> Echo:
        if not isinstance(model, str) or not model:
            raise BadNative("model is required")
        messages = _conversation(kind, body)
        last_user = next((text for role, text in reversed(messages) if role == "user"), None)
        if last_user is None:
            raise BadNative("the request holds no user message to answer")
        limit = _limit(kind, body)
        echoed = tokens(last_user)
        cut = limit is not None and len(echoed) > limit
        if cut:
            echoed = echoed[:limit]
        prompt = sum(len(tokens(text)) for _, text in messages)
        cached = self.memory.cached_tokens(messages)
        self.memory.remember(messages)
        self.memory.remember([*messages, ("assistant", "".join(echoed))])
        return Echo(f"echo-{next(self._ids)}", model, int(time.time()), tuple(echoed), prompt, cut, cached)


async def _pieces(events: list[bytes], drop_after: int = 0) -> AsyncGenerator[bytes, None]:
    """The events of a stream; with ``Faults.stream_drop_after`` N, the connection is cut after N of them (a
    native stream's own end marker never arrives)."""
    for sent, event in enumerate(events, start=1):
        yield event
        if sent == drop_after:
            raise ConnectionCut


def _error(path: str, status: int, message: str) -> Response:
    if path.endswith("messages"):  # Anthropic API reference, "Errors"
        kind = {400: "invalid_request_error", 401: "authentication_error"}.get(status, "not_found_error")
        return json_response({"type": "error", "error": {"type": kind, "message": message}}, status)
    if "generateContent" in path:  # Gemini: Google's API error shape
        return json_response({"error": {"code": status, "message": message, "status": "INVALID_ARGUMENT"}}, status)
    return json_response({"error": {"message": message, "type": "invalid_request_error", "code": None}}, status)


def _part_texts(content: Any) -> list[str]:
    if isinstance(content, str):
        return [content]
    if isinstance(content, list):
        return [str(p.get("text") or "") for p in content if isinstance(p, dict) and isinstance(p.get("text"), str)]
    return []


def _conversation(kind: str, body: dict[str, Any]) -> list[tuple[str, str]]:
    """The request's messages as ``(role, text)``, system text first, in the same form whatever the shape (a
    Gemini ``model`` turn is an ``assistant`` one), so the prefix memory reads one conversation the same way
    through any API."""
    out: list[tuple[str, str]] = []
    if kind == "gemini":
        system = body.get("systemInstruction") or {}
        out += [("system", str(p.get("text") or "")) for p in system.get("parts") or [] if isinstance(p, dict)]
        for content in body.get("contents") or []:
            parts = [str(p.get("text") or "") for p in content.get("parts") or [] if isinstance(p, dict)]
            out.append(("assistant" if content.get("role") == "model" else "user", "\n".join(parts)))
        return out
    if kind == "anthropic":
        out += [("system", text) for text in _part_texts(body.get("system"))]
    if kind == "responses":
        out += [("system", text) for text in _part_texts(body.get("instructions"))]
        messages = body.get("input")
        messages = [{"role": "user", "content": messages}] if isinstance(messages, str) else messages
    else:
        messages = body.get("messages")
    for message in messages or []:
        if isinstance(message, dict):
            out.append((str(message.get("role")), "\n".join(_part_texts(message.get("content")))))
    return out


def _limit(kind: str, body: dict[str, Any]) -> int | None:
    if kind == "gemini":
        value = (body.get("generationConfig") or {}).get("maxOutputTokens")
    elif kind == "responses":
        value = body.get("max_output_tokens")
    else:
        value = body.get("max_completion_tokens", body.get("max_tokens"))
    if kind == "anthropic" and not isinstance(value, int):
        raise BadNative("max_tokens: Field required")  # the Messages API requires it
    return value if isinstance(value, int) and value > 0 else None


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


_WRITERS: dict[str, Callable[[Echo, dict[str, Any]], _Writer]] = {
    "chat": _Chat,
    "responses": _Responses,
    "anthropic": _Anthropic,
    "gemini": _Gemini,
}
