"""A response as it arrives — stream chunks or one body — assembled into what the model said.

One ``Draft`` takes either shape OpenRouter answers in, so streaming and non-streaming calls end in the same
``Generation``:

* chat completions: ``chat.completion`` bodies and ``chat.completion.chunk`` events (``delta.content``,
  ``delta.reasoning``, ``delta.tool_calls`` merged by ``index``, ``finish_reason``, ``usage`` on any chunk —
  the last one, with ``choices: []``, since 2025 — and an ``error`` chunk mid-stream);
* the Responses API: ``response`` bodies and ``response.*`` events (``output_text`` / ``reasoning_text``
  deltas, ``function_call`` items and their argument deltas, ``response.completed`` with the usage).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any


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
                self.reasoning.append(str(message["reasoning"]))
            for index, call in enumerate(message.get("tool_calls") or []):
                self._tool_delta(call.get("index", index), call)
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
        chunk = json.loads(data, parse_float=Decimal)  # usage.cost stays the exact decimal OpenRouter wrote
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
                self.reasoning.append(str(delta["reasoning"]))
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
            self.reasoning.append(str(event.get("delta") or ""))
        elif kind == "response.output_item.added" and (event.get("item") or {}).get("type") == "function_call":
            item = event["item"]
            self.tools[event.get("output_index", len(self.tools))] = ToolCall(
                item.get("call_id") or item.get("id"), item.get("name") or "", item.get("arguments") or ""
            )
        elif kind == "response.function_call_arguments.delta":
            call = self.tools.get(event.get("output_index", -1))
            if call is not None:
                call.arguments += str(event.get("delta") or "")
        elif kind in ("response.completed", "response.incomplete", "response.failed"):
            response = event.get("response") or {}
            streamed_text = "".join(self.text)
            self.text, self.tools = [], {}
            self._response(response)
            if not self.text and streamed_text:
                self.text = [streamed_text]
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
                self.tools[index] = ToolCall(
                    item.get("call_id") or item.get("id"), item.get("name") or "", item.get("arguments") or ""
                )
            elif item.get("type") == "reasoning" and not self.reasoning:
                for part in item.get("content") or item.get("summary") or []:
                    if part.get("text"):
                        self.reasoning.append(str(part["text"]))
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
            self.text.append(str(content))

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
        if found is None:
            self.tools[index] = ToolCall(
                call.get("id"),
                function.get("name") or "",
                function.get("arguments") or "",
                call.get("type") or "function",
            )
            return
        found.id = found.id or call.get("id")
        found.name = found.name or function.get("name") or ""
        found.arguments += function.get("arguments") or ""

    def _finish(self, choice: dict[str, Any]) -> None:
        if choice.get("finish_reason"):
            self.finish_reason = choice["finish_reason"]
        if choice.get("native_finish_reason"):
            self.native_finish_reason = choice["native_finish_reason"]

    @property
    def tool_calls(self) -> list[ToolCall]:
        return [self.tools[i] for i in sorted(self.tools)]
