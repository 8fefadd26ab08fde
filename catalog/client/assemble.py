"""A response as it arrives — stream chunks or one body — assembled into what the model said.

One ``Draft`` takes either shape OpenRouter answers in, so streaming and non-streaming calls end in the same
``Generation``:

* chat completions: ``chat.completion`` bodies and ``chat.completion.chunk`` events (``delta.content``,
  ``delta.reasoning``, ``delta.tool_calls`` merged by ``index``, ``finish_reason``, ``usage`` on any chunk —
  the last one, with ``choices: []``, since 2025 — and an ``error`` chunk mid-stream);
* the Responses API: ``response`` bodies and ``response.*`` events (``output_text`` / ``reasoning_text``
  deltas, ``function_call`` items and their argument deltas, ``response.completed`` with the usage).

JSON from upstream is read with :func:`loads`: numbers stay exact (``Decimal``), and a number no count, time
or amount can be (``1e999999999``, ``NaN``, a 5,000-digit integer) arrives as text saying so, which the usage
normaliser reports as an unreadable value instead of overflowing on it. ``Draft.size`` counts the bytes of
the answer (text, reasoning, tool-call arguments) so the client can stop one that never ends.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

# The largest power of ten a number from upstream may have: far beyond any token count (int64 is 10^18),
# unix time or amount, far inside what Decimal arithmetic takes (its default context overflows at 10^999999).
MAX_EXPONENT = 100


def _unreadable(text: str) -> str:
    return f"{text[:40]}{'…' if len(text) > 40 else ''} (out of range)"


def _number(text: str) -> Decimal | str:
    try:
        value = Decimal(text)
    except InvalidOperation:
        return _unreadable(text)
    # Both ends: 1e999999999 overflows arithmetic, 1e-999999999 (or 0e-999999999) underflows it.
    if not value.is_finite() or value.adjusted() > MAX_EXPONENT or int(value.as_tuple().exponent) < -MAX_EXPONENT:
        return _unreadable(text)
    return value


def _integer(text: str) -> int | str:
    # Checked before int(): Python refuses to parse more than 4,300 digits, and nothing counts that high.
    return int(text) if len(text) <= MAX_EXPONENT + 1 else _unreadable(text)


def loads(raw: str | bytes) -> Any:
    """JSON from upstream: exact decimals (``usage.cost`` as written), absurd numbers as text (see above).
    Raises ``ValueError`` for text that is not JSON, ``RecursionError`` for nesting deeper than Python goes."""
    return json.loads(raw, parse_float=_number, parse_int=_integer, parse_constant=_not_a_number)


def _not_a_number(name: str) -> str:
    return f"{name} (not a number)"  # NaN, Infinity: Python's json takes them, JSON has no such values


def _size(piece: str) -> int:
    return len(piece) if piece.isascii() else len(piece.encode("utf-8", "surrogatepass"))


@dataclass
class ToolCall:
    id: str | None
    name: str
    arguments: str
    type: str = "function"

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "type": self.type, "function": {"name": self.name, "arguments": self.arguments}}


@dataclass
class Draft:
    """What a response has said so far."""

    text: list[str] = field(default_factory=list)
    reasoning: list[str] = field(default_factory=list)
    tools: dict[int, ToolCall] = field(default_factory=dict)
    finish_reason: str | None = None
    native_finish_reason: str | None = None
    id: str | None = None
    model: str | None = None
    provider: str | None = None
    created: float | None = None
    usage_body: dict[str, Any] | None = None  # the body or chunk that carried the usage, for the normaliser
    error: dict[str, Any] | None = None
    done: bool = False  # [DONE], or response.completed
    first_token_at: float | None = None
    chunks: int = 0
    size: int = 0  # bytes of text, reasoning and tool-call arguments so far

    # -- whole bodies ------------------------------------------------------------------------------------------

    def add_body(self, body: dict[str, Any]) -> None:
        """A non-streaming answer: a chat completion or a Responses API response."""
        if body.get("object") == "response":
            self._response(body)
        else:
            self._meta(body)
            choice = (body.get("choices") or [{}])[0]
            message = choice.get("message") or {}
            self._content(message.get("content"))
            if message.get("reasoning"):
                self._reason(message["reasoning"])
            for index, call in enumerate(message.get("tool_calls") or []):
                self._tool_delta(call["index"] if isinstance(call.get("index"), int) else index, call)
            self._finish(choice)
            if body.get("usage") is not None:
                self.usage_body = body
            if body.get("error") is not None:
                self.error = body["error"]
        self.done = True

    # -- stream events -----------------------------------------------------------------------------------------

    def add_event(self, data: str) -> None:
        """One SSE event's data: a JSON chunk, or ``[DONE]``."""
        if data == "[DONE]":
            self.done = True
            return
        chunk = loads(data)
        self.chunks += 1
        kind = chunk.get("type")
        if isinstance(kind, str) and kind.startswith(("response.", "error")):
            self._response_event(kind, chunk)
            return
        self._meta(chunk)
        for choice in chunk.get("choices") or []:
            delta = choice.get("delta") or {}
            self._content(delta.get("content"))
            if delta.get("reasoning"):
                self._reason(delta["reasoning"])
            for position, call in enumerate(delta.get("tool_calls") or []):
                self._tool_delta(self._stream_index(call, position), call)
            self._finish(choice)
        if chunk.get("usage") is not None:
            self.usage_body = chunk
        if chunk.get("error") is not None:
            self.error = chunk["error"]

    def _response_event(self, kind: str, event: dict[str, Any]) -> None:
        if kind in ("response.created", "response.in_progress") and isinstance(event.get("response"), dict):
            self._response_meta(event["response"])
        elif kind == "response.output_text.delta":
            self._content(event.get("delta"))
        elif kind in ("response.reasoning_text.delta", "response.reasoning_summary_text.delta"):
            self._reason(event.get("delta") or "")
        elif kind == "response.output_item.added" and (event.get("item") or {}).get("type") == "function_call":
            item = event["item"]
            index = event.get("output_index")
            arguments = str(item.get("arguments") or "")
            self.size += _size(arguments)
            self.tools[index if isinstance(index, int) else len(self.tools)] = ToolCall(
                item.get("call_id") or item.get("id"), item.get("name") or "", arguments
            )
        elif kind == "response.function_call_arguments.delta":
            index = event.get("output_index")
            call = self.tools.get(index) if isinstance(index, int) else None
            if call is not None:
                piece = str(event.get("delta") or "")
                self.size += _size(piece)
                call.arguments += piece
        elif kind in ("response.completed", "response.incomplete", "response.failed"):
            response = event.get("response") or {}
            streamed_text = "".join(self.text)
            self.text, self.tools = [], {}
            self._response(response)
            if not self.text and streamed_text:
                self.text = [streamed_text]
            self._recount()
            self.done = True
        elif kind == "error" or kind == "response.error":
            self.error = event.get("error") or event

    def _response(self, response: dict[str, Any]) -> None:
        """A Responses API ``response`` object: its output items, status and usage."""
        self._response_meta(response)
        for index, item in enumerate(response.get("output") or []):
            if item.get("type") == "message":
                for part in item.get("content") or []:
                    if part.get("type") == "output_text":
                        self._content(part.get("text"))
            elif item.get("type") == "function_call":
                arguments = str(item.get("arguments") or "")
                self.size += _size(arguments)
                self.tools[index] = ToolCall(item.get("call_id") or item.get("id"), item.get("name") or "", arguments)
            elif item.get("type") == "reasoning" and not self.reasoning:
                for part in item.get("content") or item.get("summary") or []:
                    if part.get("text"):
                        self._reason(part["text"])
        status = response.get("status")
        if status is not None:
            incomplete = (response.get("incomplete_details") or {}).get("reason")
            self.finish_reason = {"completed": "tool_calls" if self.tools else "stop", "incomplete": "length"}.get(
                status, status
            )
            self.native_finish_reason = incomplete or status
        if response.get("usage") is not None:
            self.usage_body = response
        if response.get("error"):
            self.error = response["error"]

    def _response_meta(self, response: dict[str, Any]) -> None:
        self.id = response.get("id") or self.id
        self.model = response.get("model") or self.model
        self.provider = response.get("provider") or self.provider
        self.created = response.get("created_at") or self.created

    # -- shared ------------------------------------------------------------------------------------------------

    def _meta(self, obj: dict[str, Any]) -> None:
        self.id = obj.get("id") or self.id
        self.model = obj.get("model") or self.model
        self.provider = obj.get("provider") or self.provider
        self.created = obj.get("created") or self.created

    def _content(self, content: Any) -> None:
        if isinstance(content, list):  # content parts
            content = "".join(str(p.get("text") or "") for p in content if isinstance(p, dict))
        if content:
            if self.first_token_at is None:
                self.first_token_at = time.perf_counter()
            piece = str(content)
            self.size += _size(piece)
            self.text.append(piece)

    def _reason(self, reasoning: Any) -> None:
        piece = str(reasoning)
        self.size += _size(piece)
        self.reasoning.append(piece)

    def _recount(self) -> None:
        """``size`` again, after a whole response replaced what its deltas had said."""
        pieces = [*self.text, *self.reasoning, *(call.arguments for call in self.tools.values())]
        self.size = sum(_size(piece) for piece in pieces)

    def _stream_index(self, call: dict[str, Any], position: int) -> int:
        """Which call a streamed delta continues: its ``index``; without one, a new call when it carries an id
        that is not the last call's, else the last call (or its position in a chunk that starts the list)."""
        if isinstance(call.get("index"), int):
            return int(call["index"])
        if not self.tools:
            return position
        last = max(self.tools)
        if call.get("id") and call["id"] != self.tools[last].id:
            return last + 1
        return last

    def _tool_delta(self, index: int, call: dict[str, Any]) -> None:
        if self.first_token_at is None:
            self.first_token_at = time.perf_counter()
        function = call.get("function") or {}
        found = self.tools.get(index)
        arguments = str(function.get("arguments") or "")
        self.size += _size(arguments)
        if found is None:
            self.tools[index] = ToolCall(
                call.get("id"), function.get("name") or "", arguments, call.get("type") or "function"
            )
            return
        found.id = found.id or call.get("id")
        found.name = found.name or function.get("name") or ""
        found.arguments += arguments

    def _finish(self, choice: dict[str, Any]) -> None:
        if choice.get("finish_reason"):
            self.finish_reason = choice["finish_reason"]
        if choice.get("native_finish_reason"):
            self.native_finish_reason = choice["native_finish_reason"]

    @property
    def tool_calls(self) -> list[ToolCall]:
        return [self.tools[i] for i in sorted(self.tools)]
