"""``POST /api/v1/chat/completions`` on the fake OpenRouter: echo models, and replayed real recordings.

**Echo models** (``echo/<anything>``) answer with the text of the last user message (a string, or the text
parts of a content list joined by newlines; no user message: an empty answer). Tokens are
``re.findall(r"\\S+\\s*", text)``: a word and the whitespace after it is one token, leading whitespace is no
token and is not echoed (so a JSON prompt comes back as that JSON: structured outputs are tested over loopback
with it). Usage is counted, not estimated, so a test can predict it exactly:

- ``prompt_tokens``: the tokens of every message's text content (roles, names, tool calls and non-text parts
  count nothing: ``PROMPT_OVERHEAD_TOKENS = 0``);
- ``prompt_tokens_details.cached_tokens``: the fake remembers the message lists it has answered, each with
  and without its answer appended as an assistant message; when a request's messages minus the last one equal
  a remembered list, the tokens of those messages are cached (so a conversation that sends back the echo and
  one more user message, or that repeats a prefix with a new last message, reads its prefix from cache);
- ``completion_tokens``: the echoed tokens, cut to ``max_tokens`` (or ``max_completion_tokens``) with
  ``finish_reason: "length"``, plus the reasoning tokens: ``min(64, prompt_tokens)`` when the body asks for
  reasoning (``reasoning: {...}`` not disabled, or ``reasoning_effort`` other than ``"none"``), counted inside
  ``completion_tokens`` and never shown as text; ``max_tokens`` limits only the echoed text;
- ``cost``: billed exactly from :data:`ECHO_PRICING` by the project's rule (uncached × prompt + cached ×
  input_cache_read + (completion − reasoning) × completion + reasoning × internal_reasoning), in Decimal, sent
  as a JSON number as OpenRouter does; ``is_byok: false``.

With ``"stream": true`` the answer is an SSE stream like OpenRouter's: ``: OPENROUTER PROCESSING``, one chunk
per token, a chunk with the finish reason, a last chunk with ``"choices": []`` and the usage, ``data: [DONE]``.

**Replay models** (``replay/<name>``, the name of a bundled chat recording with or without its extension)
answer with that recording's exact bytes, whatever the request asks: ``.sse`` as ``text/event-stream``,
``.json`` as ``application/json`` with status 200, except ``error-<status>-*`` files, sent with that status
(and no ``Retry-After``: the recorded 429 response carried none). An unknown name is a 404 that lists a few.

Anything else (bad JSON, no or unknown model, no messages, a malformed message) is a 400 in OpenRouter's
error shape. ``Faults.chunk_bytes`` and ``chunk_delay`` act on every body sent here (``catalog.fake.stream``
writes them); ``echo_tokens_per_second``, ``stream_error_after`` and ``stream_drop_after`` on echo streams only,
since a replay is sent as recorded.
"""

from __future__ import annotations

import difflib
import itertools
import json
import re
import time
from collections import OrderedDict
from collections.abc import AsyncGenerator, Callable, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any, Protocol, runtime_checkable

from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from catalog.errors import CatalogError
from catalog.fake.account import GenerationLog, GenerationRecord, elapsed_ms
from catalog.fake.faults import Faults
from catalog.fake.responses import JSON, encode, error_response
from catalog.fake.stream import FLUSH, ChatBody, ConnectionCut, Pause, each, sse_events

ECHO_PREFIX = "echo/"
REPLAY_PREFIX = "replay/"
ECHO_PROVIDER = "Echo"
ECHO_PRICING: dict[str, str] = {
    "prompt": "0.000001",
    "completion": "0.000002",
    "input_cache_read": "0.0000001",
    "internal_reasoning": "0.000003",
}
"""The echo models' price sheet, USD per token as OpenRouter's decimal strings."""
PROMPT_OVERHEAD_TOKENS = 0
"""Tokens added to every prompt for chat formatting; real models add a few, the echo adds none."""
MAX_REASONING_TOKENS = 64

_PRICE = {key: Decimal(value) for key, value in ECHO_PRICING.items()}
_TOKEN = re.compile(r"\S+\s*")
_ERROR_RECORDING = re.compile(r"error-(\d{3})-")
_REMEMBERED_LISTS = 4096  # bound the prefix memory of a server left running
PROCESSING = b": OPENROUTER PROCESSING\n\n"
DONE = b"data: [DONE]\n\n"
SSE_HEADERS = {"content-type": "text/event-stream", "cache-control": "no-cache"}


def tokens(text: str) -> list[str]:
    """The echo tokenizer: each whitespace-separated word with the whitespace after it."""
    return _TOKEN.findall(text)


@runtime_checkable
class ChatRecordingSource(Protocol):
    """Where replayed responses come from: ``catalog.bundle.Bundle`` or anything with the same two methods."""

    def chat_recordings(self) -> Sequence[str]: ...
    def chat_recording(self, name: str) -> bytes: ...


class BadRequest(ValueError):
    """A request the real API would refuse with 400; the message says what to send instead."""


@dataclass(frozen=True)
class ChatRequest:
    """The parts of a chat completions body the fake acts on."""

    model: str
    messages: tuple[tuple[str, str], ...]  # (role, text content)
    stream: bool
    max_tokens: int | None
    reasoning: bool


def parse_request(body: Any) -> ChatRequest:
    """Check a request body as the real API would (400 otherwise) and keep what the fake needs."""
    if not isinstance(body, dict):
        raise BadRequest("request body must be a JSON object")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise BadRequest("model is required: echo/<anything> or replay/<recording>")
    if not any(model.startswith(p) and len(model) > len(p) for p in (ECHO_PREFIX, REPLAY_PREFIX)):
        raise BadRequest(f"{model} is not a valid model ID (the fake serves echo/<anything> and replay/<recording>)")
    raw = body.get("messages")
    if not isinstance(raw, list) or not raw:
        raise BadRequest('messages is required: a non-empty list such as [{"role": "user", "content": "Hi"}]')
    messages = tuple(_message(i, m) for i, m in enumerate(raw))
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        raise BadRequest(f"stream must be true or false, not {stream!r}")
    max_tokens = body.get("max_tokens", body.get("max_completion_tokens"))
    if max_tokens is not None and (not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1):
        raise BadRequest(f"max_tokens must be a whole number >= 1, not {max_tokens!r}")
    return ChatRequest(model, messages, stream, max_tokens, _asks_for_reasoning(body))


def _message(index: int, message: Any) -> tuple[str, str]:
    if not isinstance(message, dict) or not isinstance(message.get("role"), str):
        raise BadRequest(f"messages[{index}] must be an object with a role, such as {{'role': 'user', 'content': '…'}}")
    content = message.get("content")
    if content is None or isinstance(content, str):
        return message["role"], content or ""
    if isinstance(content, list) and all(isinstance(part, dict) for part in content):
        texts = [p["text"] for p in content if p.get("type") == "text" and isinstance(p.get("text"), str)]
        return message["role"], "\n".join(texts)
    raise BadRequest(f"messages[{index}].content must be a string or a list of content parts")


def _asks_for_reasoning(body: dict[str, Any]) -> bool:
    reasoning = body.get("reasoning")
    if reasoning is not None:
        if not isinstance(reasoning, dict):
            raise BadRequest(f'reasoning must be an object such as {{"effort": "high"}}, not {reasoning!r}')
        return reasoning.get("enabled") is not False and reasoning.get("effort") != "none"
    effort = body.get("reasoning_effort")
    return isinstance(effort, str) and effort != "none"


@dataclass(frozen=True)
class EchoUsage:
    """Token counts of one echo answer and their exact cost at :data:`ECHO_PRICING`."""

    prompt_tokens: int
    cached_tokens: int
    completion_tokens: int
    reasoning_tokens: int

    @property
    def prompt_cost(self) -> Decimal:
        uncached = self.prompt_tokens - self.cached_tokens
        return uncached * _PRICE["prompt"] + self.cached_tokens * _PRICE["input_cache_read"]

    @property
    def completion_cost(self) -> Decimal:
        text = self.completion_tokens - self.reasoning_tokens
        return text * _PRICE["completion"] + self.reasoning_tokens * _PRICE["internal_reasoning"]

    @property
    def cost(self) -> Decimal:
        """What the echo bills, exactly."""
        return self.prompt_cost + self.completion_cost

    def to_wire(self) -> dict[str, Any]:
        """OpenRouter's ``usage`` object; money goes out as a JSON number, as OpenRouter sends it."""
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.prompt_tokens + self.completion_tokens,
            "cost": float(self.cost),
            "is_byok": False,
            "prompt_tokens_details": {"cached_tokens": self.cached_tokens, "audio_tokens": 0},
            "cost_details": {
                "upstream_inference_cost": None,
                "upstream_inference_prompt_cost": float(self.prompt_cost),
                "upstream_inference_completions_cost": float(self.completion_cost),
            },
            "completion_tokens_details": {"reasoning_tokens": self.reasoning_tokens, "image_tokens": 0},
        }


@dataclass(frozen=True)
class EchoAnswer:
    """One echo generation, before it is written as a JSON body or an SSE stream."""

    id: str
    model: str
    created: int
    tokens: tuple[str, ...]
    finish_reason: str
    usage: EchoUsage

    @property
    def text(self) -> str:
        return "".join(self.tokens)

    def completion(self) -> dict[str, Any]:
        """The non-streamed response body."""
        message = {"role": "assistant", "content": self.text, "refusal": None, "reasoning": None}
        choice = {
            "logprobs": None,
            "finish_reason": self.finish_reason,
            "native_finish_reason": self.finish_reason,
            "index": 0,
            "message": message,
        }
        return {**self._head("chat.completion"), "choices": [choice], "usage": self.usage.to_wire()}

    def chunk(self, content: str, finish_reason: str | None = None) -> bytes:
        """One SSE event carrying ``content`` (and the finish reason on the last one)."""
        choice = {
            "index": 0,
            "delta": {"role": "assistant", "content": content},
            "finish_reason": finish_reason,
            "native_finish_reason": finish_reason,
            "logprobs": None,
        }
        return _event({**self._head("chat.completion.chunk"), "choices": [choice]})

    def usage_chunk(self) -> bytes:
        return _event({**self._head("chat.completion.chunk"), "choices": [], "usage": self.usage.to_wire()})

    def error_chunk(self, message: str) -> bytes:
        """OpenRouter's mid-stream error: the status is already 200, so the error rides in a chunk."""
        choice = {"index": 0, "delta": {"content": ""}, "finish_reason": "error"}
        error = {"code": 502, "message": message}
        return _event({**self._head("chat.completion.chunk"), "error": error, "choices": [choice]})

    def _head(self, kind: str) -> dict[str, Any]:
        return {"id": self.id, "provider": ECHO_PROVIDER, "model": self.model, "object": kind, "created": self.created}


def _event(chunk: dict[str, Any]) -> bytes:
    return b"data: " + encode(chunk) + b"\n\n"


class PrefixMemory:
    """The message lists answered so far (most recent ``keep``), to report cached prompt tokens."""

    def __init__(self, keep: int = _REMEMBERED_LISTS) -> None:
        self.keep = keep
        self._lists: OrderedDict[str, None] = OrderedDict()

    def cached_tokens(self, messages: Sequence[tuple[str, str]]) -> int:
        """The tokens of ``messages[:-1]`` if that list was answered (or answered and replied to) before."""
        prefix = messages[:-1]
        key = _key(prefix)
        if not prefix or key not in self._lists:
            return 0
        self._lists.move_to_end(key)
        return sum(len(tokens(text)) for _, text in prefix)

    def remember(self, messages: Sequence[tuple[str, str]]) -> None:
        self._lists[_key(messages)] = None
        self._lists.move_to_end(_key(messages))
        while len(self._lists) > self.keep:
            self._lists.popitem(last=False)


def _key(messages: Sequence[tuple[str, str]]) -> str:
    return json.dumps(list(messages), ensure_ascii=False)


class ChatCompletions:
    """The route: echo answers and replays, with the streaming faults of ``faults()`` applied.

    ``recordings`` is where replays come from; None loads the bundled ones (``catalog.bundle.Bundle()``) at
    the first replay request.
    """

    def __init__(
        self,
        faults: Callable[[], Faults],
        pause: Pause,
        recordings: ChatRecordingSource | None = None,
        generations: GenerationLog | None = None,
    ) -> None:
        self.faults = faults
        self.pause = pause
        self._recordings = recordings
        # every echo answer's generation record, for GET /generation (catalog.fake.account)
        self.generations = generations if generations is not None else GenerationLog()
        self.memory = PrefixMemory()
        self._ids = itertools.count(1)

    async def handle(self, request: Request) -> Response | ChatBody:
        """Answer one ``POST /chat/completions``."""
        started = time.monotonic()
        try:
            body = json.loads(await request.body())
        except ClientDisconnect:  # the client gave up (a hang fault outlasted its timeout): nobody to answer
            return Response(status_code=499)
        except ValueError:  # also bad UTF-8
            return error_response(400, "request body must be a JSON object (Content-Type: application/json)")
        try:
            chat = parse_request(body)
        except BadRequest as exc:
            return error_response(400, str(exc))
        faults = self.faults()
        if chat.model.startswith(REPLAY_PREFIX):
            return self._replay(chat.model.removeprefix(REPLAY_PREFIX), faults)
        answer = self.answer(chat)
        self.generations.record(_record(answer, answer.usage, chat.stream, answer.finish_reason, started))
        headers = {"x-generation-id": answer.id}
        if not chat.stream:
            data = encode(answer.completion())
            headers.update({"content-type": JSON, "content-length": str(len(data))})
            return _body(each([data]), 200, headers, faults, self.pause)
        return _body(self._echo_stream(answer, faults), 200, {**SSE_HEADERS, **headers}, faults, self.pause)

    def answer(self, chat: ChatRequest) -> EchoAnswer:
        """Count and bill the echo of ``chat``, and remember its messages for later cache hits."""
        prompt = sum(len(tokens(text)) for _, text in chat.messages) + PROMPT_OVERHEAD_TOKENS
        cached = self.memory.cached_tokens(chat.messages)
        last_user = next((text for role, text in reversed(chat.messages) if role == "user"), "")
        echoed = tokens(last_user)
        finish = "stop"
        if chat.max_tokens is not None and len(echoed) > chat.max_tokens:
            echoed, finish = echoed[: chat.max_tokens], "length"
        reasoning = min(MAX_REASONING_TOKENS, prompt) if chat.reasoning else 0
        answer = EchoAnswer(
            id=f"gen-echo-{next(self._ids)}",
            model=chat.model,
            created=int(time.time()),
            tokens=tuple(echoed),
            finish_reason=finish,
            usage=EchoUsage(prompt, cached, len(echoed) + reasoning, reasoning),
        )
        self.memory.remember(chat.messages)
        self.memory.remember((*chat.messages, ("assistant", answer.text)))
        return answer

    async def _echo_stream(self, answer: EchoAnswer, faults: Faults) -> AsyncGenerator[bytes, None]:
        yield PROCESSING
        rate = faults.echo_tokens_per_second
        started = time.monotonic()
        for sent, token in enumerate(answer.tokens):
            if rate > 0:
                wait = started + sent / rate - time.monotonic()
                if wait > 0:
                    yield FLUSH
                    await self.pause(wait)
            yield answer.chunk(token)
            if sent + 1 == faults.stream_error_after:
                # The real API ends the stream after this chunk: no usage and no [DONE].
                yield answer.error_chunk(f"Upstream error after {sent + 1} chunks (fake: stream_error_after)")
                self._bill_sent(answer, sent + 1, "error")
                return
            if sent + 1 == faults.stream_drop_after:
                self._bill_sent(answer, sent + 1, None)
                raise ConnectionCut
        yield answer.chunk("", answer.finish_reason)
        yield answer.usage_chunk()
        yield DONE

    def _bill_sent(self, answer: EchoAnswer, sent: int, finish_reason: str | None) -> None:
        """A stream cut short bills the tokens it sent (and the reasoning done before them)."""
        usage = answer.usage
        cut = EchoUsage(usage.prompt_tokens, usage.cached_tokens, sent + usage.reasoning_tokens, usage.reasoning_tokens)
        before = self.generations.get(answer.id)
        record = _record(answer, cut, True, finish_reason, None)
        if before is not None:  # the same call: its time and latency stand
            record = replace(record, created=before.created, latency_ms=before.latency_ms)
        self.generations.record(record)

    def _replay(self, name: str, faults: Faults) -> Response | ChatBody:
        try:
            recordings = self._recording_source()
            names = list(recordings.chat_recordings())
            file = _recording_named(name, names)
            if file is None:
                shown = difflib.get_close_matches(name, names, n=3, cutoff=0.4) or names[:3]
                return error_response(
                    404,
                    f"No recorded response {name!r} to replay; try "
                    + ", ".join(f"replay/{n}" for n in shown)
                    + f" ({len(names)} recordings, listed in metadata)",
                    {"recordings": names},
                )
            data = recordings.chat_recording(file)
        except CatalogError as exc:
            return error_response(500, f"cannot replay {name!r}: {exc}")
        recorded_error = _ERROR_RECORDING.match(file)
        status = int(recorded_error.group(1)) if recorded_error else 200
        if file.endswith(".sse"):
            return _body(each(sse_events(data)), status, SSE_HEADERS, faults, self.pause)
        headers = {"content-type": JSON, "content-length": str(len(data))}
        return _body(each([data]), status, headers, faults, self.pause)

    def _recording_source(self) -> ChatRecordingSource:
        if self._recordings is None:
            from catalog.bundle import Bundle  # only a replay needs the bundle

            self._recordings = Bundle()
        return self._recordings


def _record(
    answer: EchoAnswer,
    usage: EchoUsage,
    streamed: bool,
    finish_reason: str | None,
    started: float | None,
) -> GenerationRecord:
    return GenerationRecord(
        id=answer.id,
        model=answer.model,
        provider=ECHO_PROVIDER,
        created=time.time(),  # with microseconds, as OpenRouter's created_at has them
        prompt_tokens=usage.prompt_tokens,
        completion_tokens=usage.completion_tokens,
        cached_tokens=usage.cached_tokens,
        reasoning_tokens=usage.reasoning_tokens,
        cost=usage.cost,
        streamed=streamed,
        finish_reason=finish_reason,
        latency_ms=elapsed_ms(started) if started is not None else 0.0,
    )


def _recording_named(name: str, names: Sequence[str]) -> str | None:
    """The recording ``name`` refers to: its file name, or its file name without the extension."""
    if name in names:
        return name
    matches = [n for n in names if n.rsplit(".", 1)[0] == name]
    return matches[0] if len(matches) == 1 else None


def _body(
    pieces: AsyncGenerator[bytes, None], status: int, headers: dict[str, str], faults: Faults, pause: Pause
) -> ChatBody:
    return ChatBody(
        pieces,
        status=status,
        headers=headers,
        chunk_bytes=faults.chunk_bytes,
        chunk_delay=faults.chunk_delay,
        pause=pause,
    )
