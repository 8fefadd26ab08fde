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

The shapes are the documented ones, one source each (``catalog.fake.native_bodies`` writes them, citing each):
OpenAI API reference, "The chat completion object" / "The chat completion chunk object" and
``stream_options.include_usage``; "The response object" and "Streaming events" (Responses); Anthropic API
reference, "Messages" and "Streaming Messages"; Gemini API reference, "Generating content"
(``GenerateContentResponse``, ``UsageMetadata``) and "models.streamGenerateContent" with ``alt=sse``.
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from catalog.fake.chat import SSE_HEADERS, PrefixMemory, tokens
from catalog.fake.faults import Faults
from catalog.fake.native_bodies import WRITERS, Echo
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


class BadNative(ValueError):
    """A request that API would refuse with 400; the message says why."""


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
        writer = WRITERS[kind](echo, body)
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
