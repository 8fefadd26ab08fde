"""Chat-completions requests in each provider's own shape, and its answers read back into a ``Draft``.

Request bodies, from the options ``catalog.client.options`` checked (an option with no equivalent in the
provider's API is refused, naming it; ``extra_body`` is merged in afterwards, unchecked, as on OpenRouter):

* OpenAI chat completions (OpenAI API reference, "Create chat completion"), also Groq, Cerebras and xAI,
  which take the same body: the messages and OpenAI's own options as given; a stream asks for
  ``stream_options.include_usage`` so its last chunk carries the usage (``choices: []``), as the openai SDK
  documents. OpenRouter's ``reasoning.effort`` becomes ``reasoning_effort``.
* OpenAI Responses (OpenAI API reference, "Create a model response"): system messages become
  ``instructions``, the rest ``input`` messages; ``max_tokens`` is ``max_output_tokens``, a JSON schema
  ``text.format``. Its answers (``response`` bodies, ``response.*`` events) are what ``Draft`` already reads.
* Anthropic Messages (Anthropic API reference, "Messages"): system messages become ``system`` blocks (their
  ``cache_control`` kept: Anthropic's own prompt caching), ``stop`` is ``stop_sequences``, ``user`` is
  ``metadata.user_id``, ``reasoning.max_tokens`` a ``thinking`` budget.
* Gemini ``generateContent`` (Gemini API reference, "Generating content"): ``contents`` with roles ``user`` /
  ``model``, ``systemInstruction``, the sampling options in ``generationConfig`` (camelCase), a JSON schema
  as ``responseMimeType`` + ``responseJsonSchema``, ``reasoning.max_tokens`` as ``thinkingConfig.thinkingBudget``.

Answers: :class:`AnthropicDraft` and :class:`GeminiDraft` read those APIs' bodies and stream events into the
same ``Draft`` fields as OpenRouter's, and leave ``usage_body`` as a body the usage normaliser reads in that
provider's shape (``catalog.cost.bodies.usage_from_body``: ``from_anthropic``, ``from_gemini``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from catalog.client.assemble import Draft, ToolCall, loads
from catalog.errors import InputError

if TYPE_CHECKING:
    from catalog.client.native import NativeCall

# The chat-completions options each shape takes as they are (renamed where the shape names them otherwise).
OPENAI_OPTIONS = frozenset(
    {
        "temperature",
        "top_p",
        "frequency_penalty",
        "presence_penalty",
        "seed",
        "stop",
        "logit_bias",
        "logprobs",
        "top_logprobs",
        "max_tokens",
        "max_completion_tokens",
        "reasoning_effort",
        "response_format",
        "tools",
        "tool_choice",
        "parallel_tool_calls",
        "user",
        "metadata",
    }
)
RESPONSES_OPTIONS = frozenset(
    {"temperature", "top_p", "max_tokens", "max_completion_tokens", "reasoning_effort", "response_format", "user"}
)
ANTHROPIC_OPTIONS = frozenset({"temperature", "top_p", "top_k", "stop", "max_tokens", "max_completion_tokens", "user"})
GEMINI_CONFIG = {
    "temperature": "temperature",
    "top_p": "topP",
    "top_k": "topK",
    "max_tokens": "maxOutputTokens",
    "max_completion_tokens": "maxOutputTokens",
    "stop": "stopSequences",
    "seed": "seed",
    "frequency_penalty": "frequencyPenalty",
    "presence_penalty": "presencePenalty",
}
# Anthropic stop reasons / Gemini finish reasons as chat completions' finish_reason (what OpenRouter maps
# them to); the provider's own word stays in native_finish_reason.
ANTHROPIC_FINISH = {"end_turn": "stop", "stop_sequence": "stop", "max_tokens": "length", "tool_use": "tool_calls"}
GEMINI_FINISH = {"STOP": "stop", "MAX_TOKENS": "length", "SAFETY": "content_filter", "RECITATION": "content_filter"}


def _refuse(call: NativeCall, names: list[str]) -> None:
    if names:
        raise InputError(call.refusal(", ".join(sorted(names))))


def _reasoning(call: NativeCall, params: dict[str, Any]) -> tuple[str | None, int | None]:
    """OpenRouter's ``reasoning`` object as an effort or a token budget (``exclude`` / ``enabled`` have no
    direct equivalent and are refused)."""
    reasoning = params.pop("reasoning", None) or {}
    _refuse(call, [f"reasoning.{k}" for k in reasoning if k not in ("effort", "max_tokens")])
    effort = reasoning.get("effort") or params.pop("reasoning_effort", None)
    return effort, reasoning.get("max_tokens")


def _text(content: Any) -> str:
    if content is None or isinstance(content, str):
        return content or ""
    return "".join(str(p.get("text") or "") for p in content if isinstance(p, dict) and p.get("type") == "text")


def _only_text(call: NativeCall, messages: list[dict[str, Any]]) -> None:
    for i, message in enumerate(messages):
        content = message.get("content")
        if message.get("role") not in ("system", "developer", "user", "assistant"):
            _refuse(call, [f"messages[{i}] with role {message.get('role')!r}"])
        if message.get("tool_calls"):
            _refuse(call, [f"messages[{i}].tool_calls"])
        if isinstance(content, list):
            others = [p.get("type") for p in content if not isinstance(p, dict) or p.get("type") != "text"]
            _refuse(call, [f"messages[{i}] content of type {t!r}" for t in others])


def _schema_of(response_format: Any) -> dict[str, Any] | None:
    if not isinstance(response_format, dict) or response_format.get("type") == "text":
        return None
    if response_format.get("type") == "json_schema":
        spec = response_format.get("json_schema")
        return spec if isinstance(spec, dict) else None
    return {}  # json_object: JSON, no schema


# -- request bodies ---------------------------------------------------------------------------------------------


def openai_body(
    call: NativeCall, messages: list[dict[str, Any]], params: dict[str, Any], *, stream: bool
) -> dict[str, Any]:
    params = dict(params)
    effort, budget = _reasoning(call, params)
    _refuse(call, ["reasoning.max_tokens"] if budget is not None else [])
    _refuse(call, [k for k in params if k not in OPENAI_OPTIONS])
    body: dict[str, Any] = {"model": call.upstream_model, "messages": [_plain_parts(m) for m in messages], **params}
    if effort:
        body["reasoning_effort"] = effort
    if stream:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    return body


def _plain_parts(message: dict[str, Any]) -> dict[str, Any]:
    """A message without Anthropic's ``cache_control`` marks, which OpenAI-compatible APIs do not take
    (OpenAI caches prompt prefixes by itself)."""
    content = message.get("content")
    if not isinstance(content, list) or not any(isinstance(p, dict) and "cache_control" in p for p in content):
        return message
    parts = [{k: v for k, v in p.items() if k != "cache_control"} if isinstance(p, dict) else p for p in content]
    return {**message, "content": parts}


def responses_body(
    call: NativeCall, messages: list[dict[str, Any]], params: dict[str, Any], *, stream: bool
) -> dict[str, Any]:
    params = dict(params)
    effort, budget = _reasoning(call, params)
    _refuse(call, ["reasoning.max_tokens"] if budget is not None else [])
    _refuse(call, [k for k in params if k not in RESPONSES_OPTIONS])
    _only_text(call, messages)
    system = [_text(m.get("content")) for m in messages if m.get("role") in ("system", "developer")]
    body: dict[str, Any] = {
        "model": call.upstream_model,
        "input": [
            {"role": m["role"], "content": _text(m.get("content"))}
            for m in messages
            if m.get("role") not in ("system", "developer")
        ],
    }
    if system:
        body["instructions"] = "\n\n".join(system)
    for name in ("temperature", "top_p", "user"):
        if name in params:
            body[name] = params[name]
    limit = params.get("max_tokens", params.get("max_completion_tokens"))
    if limit is not None:
        body["max_output_tokens"] = limit
    if effort:
        body["reasoning"] = {"effort": effort}
    schema = _schema_of(params.get("response_format"))
    if schema == {}:
        body["text"] = {"format": {"type": "json_object"}}
    elif schema is not None:
        body["text"] = {"format": {"type": "json_schema", **schema}}
    if stream:
        body["stream"] = True
    return body


def anthropic_body(
    call: NativeCall, messages: list[dict[str, Any]], params: dict[str, Any], *, stream: bool
) -> dict[str, Any]:
    from catalog.client.native import ANTHROPIC_DEFAULT_MAX_TOKENS

    params = dict(params)
    effort, budget = _reasoning(call, params)
    _refuse(call, ["reasoning.effort"] if effort else [])
    _refuse(call, [k for k in params if k not in ANTHROPIC_OPTIONS])
    _only_text(call, messages)
    limit = params.get("max_tokens", params.get("max_completion_tokens")) or ANTHROPIC_DEFAULT_MAX_TOKENS
    body: dict[str, Any] = {"model": call.upstream_model, "max_tokens": limit, "messages": []}
    system: list[dict[str, Any]] = []
    for message in messages:
        blocks = _anthropic_blocks(message.get("content"))
        if message.get("role") in ("system", "developer"):
            system.extend(blocks)
        elif blocks:
            body["messages"].append({"role": message["role"], "content": blocks})
    if system:
        body["system"] = system
    for name in ("temperature", "top_p", "top_k"):
        if name in params:
            body[name] = params[name]
    if "stop" in params:
        body["stop_sequences"] = [params["stop"]] if isinstance(params["stop"], str) else list(params["stop"])
    if "user" in params:
        body["metadata"] = {"user_id": params["user"]}
    if budget is not None:
        body["thinking"] = {"type": "enabled", "budget_tokens": budget}
    if stream:
        body["stream"] = True
    return body


def _anthropic_blocks(content: Any) -> list[dict[str, Any]]:
    if content is None or isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    blocks = []
    for part in content:
        block = {"type": "text", "text": part.get("text") or ""}
        if "cache_control" in part:
            block["cache_control"] = part["cache_control"]
        blocks.append(block)
    return blocks


def gemini_body(call: NativeCall, messages: list[dict[str, Any]], params: dict[str, Any]) -> dict[str, Any]:
    params = dict(params)
    effort, budget = _reasoning(call, params)
    _refuse(call, ["reasoning.effort"] if effort else [])
    schema = _schema_of(params.pop("response_format", None))
    _refuse(call, [k for k in params if k not in GEMINI_CONFIG])
    _only_text(call, messages)
    body: dict[str, Any] = {"contents": []}
    system = [_text(m.get("content")) for m in messages if m.get("role") in ("system", "developer")]
    if system:
        body["systemInstruction"] = {"parts": [{"text": text} for text in system]}
    for message in messages:
        if message.get("role") in ("system", "developer"):
            continue
        role = "model" if message.get("role") == "assistant" else "user"
        body["contents"].append({"role": role, "parts": [{"text": _text(message.get("content"))}]})
    config: dict[str, Any] = {}
    for name, value in params.items():
        config[GEMINI_CONFIG[name]] = [value] if name == "stop" and isinstance(value, str) else value
    if schema is not None:
        config["responseMimeType"] = "application/json"
        if schema.get("schema") is not None:
            config["responseJsonSchema"] = schema["schema"]
    if budget is not None:
        config["thinkingConfig"] = {"thinkingBudget": budget}
    if config:
        body["generationConfig"] = config
    return body


# -- answers ----------------------------------------------------------------------------------------------------


class AnthropicDraft(Draft):
    """An Anthropic Messages answer: a ``message`` body, or its stream (Anthropic API reference, "Streaming
    Messages": ``message_start`` with the input usage, ``content_block_start`` / ``content_block_delta``
    (``text_delta``, ``thinking_delta``, ``input_json_delta``) / ``content_block_stop``, ``message_delta``
    with the stop reason and the cumulative usage, ``message_stop``; ``ping`` and ``error`` anywhere)."""

    def __init__(self) -> None:
        super().__init__()
        self._usage: dict[str, Any] = {}

    def add_body(self, body: dict[str, Any]) -> None:
        if body.get("type") == "error":
            self.error = body.get("error") or body
            self.done = True
            return
        self._message(body)
        for index, block in enumerate(body.get("content") or []):
            self._block(index, block)
        self._stop(body.get("stop_reason"))
        self._take_usage(body.get("usage"))
        self.done = True

    def add_event(self, data: str) -> None:
        event = loads(data)
        self.chunks += 1
        kind = event.get("type")
        if kind == "message_start":
            message = event.get("message") or {}
            self._message(message)
            self._take_usage(message.get("usage"))
        elif kind == "content_block_start":
            self._block(event.get("index"), event.get("content_block") or {})
        elif kind == "content_block_delta":
            delta = event.get("delta") or {}
            if delta.get("type") == "text_delta":
                self._content(delta.get("text"))
            elif delta.get("type") == "thinking_delta":
                self._reason(delta.get("thinking") or "")
            elif delta.get("type") == "input_json_delta":
                index = event.get("index")
                call = self.tools.get(index) if isinstance(index, int) else None
                if call is not None:
                    piece = str(delta.get("partial_json") or "")
                    self.size += len(piece.encode())
                    call.arguments += piece
        elif kind == "message_delta":
            self._stop((event.get("delta") or {}).get("stop_reason"))
            self._take_usage(event.get("usage"))  # cumulative: it replaces what message_start said
        elif kind == "message_stop":
            self.done = True
        elif kind == "error":
            self.error = event.get("error") or event

    def _message(self, message: dict[str, Any]) -> None:
        self.id = message.get("id") or self.id
        self.model = message.get("model") or self.model

    def _block(self, index: Any, block: dict[str, Any]) -> None:
        if block.get("type") == "text":
            self._content(block.get("text"))
        elif block.get("type") == "thinking":
            if block.get("thinking"):
                self._reason(block["thinking"])
        elif block.get("type") == "tool_use" and isinstance(index, int):
            arguments = "" if block.get("input") in (None, {}) else _json_text(block["input"])
            self.tools[index] = ToolCall(block.get("id"), block.get("name") or "", arguments)

    def _stop(self, reason: Any) -> None:
        if reason:
            self.native_finish_reason = str(reason)
            self.finish_reason = ANTHROPIC_FINISH.get(str(reason), str(reason))

    def _take_usage(self, usage: Any) -> None:
        if isinstance(usage, dict):
            self._usage.update({k: v for k, v in usage.items() if v is not None})
            # The shape the usage normaliser reads as Anthropic's (type "message" with input_tokens).
            self.usage_body = {"type": "message", "id": self.id, "model": self.model, "usage": dict(self._usage)}


class GeminiDraft(Draft):
    """A Gemini answer: one ``GenerateContentResponse`` body, or (``streamGenerateContent?alt=sse``) a stream
    of them, each a piece of the candidate's text (Gemini API reference, "models.streamGenerateContent"); the
    usage metadata is cumulative (the last one counts) and a candidate's ``finishReason`` ends the answer:
    the stream has no end marker of its own. Thought parts (``thought: true``) are reasoning."""

    def add_body(self, body: dict[str, Any]) -> None:
        self._response(body)
        self.done = True

    def add_event(self, data: str) -> None:
        self.chunks += 1
        self._response(loads(data))

    def _response(self, body: dict[str, Any]) -> None:
        if body.get("error") is not None:
            self.error = body["error"]
            return
        self.id = body.get("responseId") or self.id
        self.model = body.get("modelVersion") or self.model
        for candidate in (body.get("candidates") or [])[:1]:
            for part in (candidate.get("content") or {}).get("parts") or []:
                if part.get("thought") and part.get("text"):
                    self._reason(part["text"])
                elif part.get("text"):
                    self._content(part["text"])
                elif isinstance(part.get("functionCall"), dict):
                    call = part["functionCall"]
                    self.tools[len(self.tools)] = ToolCall(
                        call.get("id"), call.get("name") or "", _json_text(call.get("args") or {})
                    )
            reason = candidate.get("finishReason")
            if reason:
                self.native_finish_reason = str(reason)
                self.finish_reason = "tool_calls" if self.tools else GEMINI_FINISH.get(str(reason), str(reason).lower())
                self.done = True
        if body.get("usageMetadata") is not None:
            self.usage_body = body


def _json_text(value: Any) -> str:
    import json

    return json.dumps(value, ensure_ascii=False, default=str)
