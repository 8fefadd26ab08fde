"""What a chat request implies for ranking endpoints (``route="cheapest"``): the workload profile read from the
body, and the caller's ``provider`` object read as constraints.

The profile, from the body the client is about to send:

- prompt tokens ≈ characters / 4, rounded up, over the text the model reads: every message's text (a string
  content or its ``text`` parts, a refusal, an assistant's tool calls' names and arguments) and the JSON of the
  ``tools`` definitions (providers put them into the prompt). Images, audio, files and video are not text;
- images = the ``image_url`` content parts of every message (the model must take image input);
- output tokens = ``max_completion_tokens``, else ``max_tokens``, else ``DEFAULT_OUTPUT`` (the profile's
  default: a request without a cap is ranked as a short answer, so set one for long outputs);
- ``tools`` (a non-empty list) → the endpoint must list ``tools``; ``response_format`` other than
  ``{"type": "text"}`` → structured output; ``reasoning`` / ``reasoning_effort`` / ``include_reasoning`` →
  the effort asked (``reasoning.effort``, else ``medium``, OpenRouter's default when reasoning is enabled
  without one; ``"none"`` or ``enabled: false`` ask for none).

- web searches = 1 when the request asks for the web plugin (``plugins: [{"id": "web"}]``) or the ``:online``
  model suffix (OpenRouter runs one search per request; the endpoint's ``web_search`` price applies).

The model suffixes that are routing shortcuts are read as what they stand for and ranked on the model itself:
``:online`` (the web plugin), ``:nitro`` (``sort: "throughput"``, unless the caller's object sorts),
``:floor`` (``sort: "price"``, the ranking's default). ``:free`` and other variants are models of their own.

``enforce_distillable_text`` (the history has no distillation facts to rank on) and ``require_parameters: true``
(kept even when the body has no parameter to require) are sent beside the ranking's routing as given.

The constraints: ``EndpointFilters.from_provider_preferences`` of the caller's ``provider`` object, with a pinned
provider (``provider:author/model``) as ``only``. ``require_parameters: true`` means what it means to OpenRouter:
only endpoints that support the request's parameters, so each sampling parameter the body sets (``temperature``,
``seed``, ``stop`` …, named as endpoints list them in ``supported_parameters``) becomes a required one; tools,
response format and reasoning are required by the profile whether or not it is set, because an endpoint without
them cannot serve the request.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from catalog.cost.workload import EndpointFilters, WorkloadProfile
from catalog.errors import InputError

CHARS_PER_TOKEN = 4
DEFAULT_OUTPUT = WorkloadProfile().output_tokens
DEFAULT_EFFORT = "medium"
ROUTING_SUFFIXES = (":online", ":nitro", ":floor")
# Body keys that name a supported parameter (the names endpoints list in ``supported_parameters``), for
# ``require_parameters``. ``max_completion_tokens`` is OpenAI's newer name for the cap endpoints list as
# ``max_tokens`` (19 of 20 endpoints that take a cap list only ``max_tokens`` on the recorded days).
REQUIRABLE = {
    name: name
    for name in (
        "temperature",
        "top_p",
        "top_k",
        "top_a",
        "min_p",
        "frequency_penalty",
        "presence_penalty",
        "repetition_penalty",
        "stop",
        "seed",
        "logit_bias",
        "logprobs",
        "top_logprobs",
        "tool_choice",
        "parallel_tool_calls",
        "verbosity",
        "web_search_options",
        "prediction",
        "max_tokens",
    )
} | {"max_completion_tokens": "max_tokens"}


def _text_chars(message: Mapping[str, Any]) -> int:
    chars = 0
    content = message.get("content")
    if isinstance(content, str):
        chars += len(content)
    elif isinstance(content, list):
        chars += sum(len(p["text"]) for p in content if isinstance(p, dict) and isinstance(p.get("text"), str))
    if isinstance(message.get("refusal"), str):
        chars += len(message["refusal"])
    for call in message.get("tool_calls") or []:
        function = call.get("function") if isinstance(call, dict) else None
        if isinstance(function, dict):
            chars += sum(len(v) for v in (function.get("name"), function.get("arguments")) if isinstance(v, str))
    return chars


def _images(message: Mapping[str, Any]) -> int:
    content = message.get("content")
    if not isinstance(content, list):
        return 0
    return sum(1 for part in content if isinstance(part, dict) and part.get("type") == "image_url")


def _count(body: Mapping[str, Any], key: str) -> int | None:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InputError(f"{key}={value!r} is not a whole number of tokens ≥ 0")
    return value


def _effort(body: Mapping[str, Any]) -> str | None:
    reasoning = body.get("reasoning")
    shorthand = body.get("reasoning_effort")
    if isinstance(reasoning, Mapping):
        if reasoning.get("enabled") is False:
            return None
        effort = reasoning.get("effort") or shorthand
        return str(effort) if effort else DEFAULT_EFFORT
    if reasoning is not None:
        raise InputError(f"reasoning={reasoning!r} is not an object (e.g. {{'effort': 'high'}})")
    if shorthand is not None:
        return str(shorthand)
    return DEFAULT_EFFORT if body.get("include_reasoning") is True else None


def _web_plugin(body: Mapping[str, Any]) -> bool:
    plugins = body.get("plugins") or []
    return any(isinstance(p, Mapping) and p.get("id") == "web" and p.get("enabled", True) for p in plugins)


def request_profile(body: Mapping[str, Any]) -> WorkloadProfile:
    """The workload one chat request body implies (see the module doc for the rules)."""
    messages = body.get("messages") or []
    chars = sum(_text_chars(m) for m in messages if isinstance(m, Mapping))
    tools = body.get("tools") or []
    if tools:
        chars += len(json.dumps(tools, ensure_ascii=False, separators=(",", ":")))
    output = _count(body, "max_completion_tokens")
    if output is None:
        output = _count(body, "max_tokens")
    response_format = body.get("response_format")
    structured = isinstance(response_format, Mapping) and response_format.get("type") != "text"
    effort = _effort(body)
    return WorkloadProfile(
        input_tokens=max(1, math.ceil(chars / CHARS_PER_TOKEN)),
        output_tokens=DEFAULT_OUTPUT if output is None else output,
        images=sum(_images(m) for m in messages if isinstance(m, Mapping)),
        web_searches=1 if _web_plugin(body) else 0,
        tools=bool(tools),
        structured_output=structured,
        reasoning_effort=None if effort == "none" else effort,
    )


def request_filters(
    provider: Mapping[str, Any] | None, body: Mapping[str, Any], pinned: str | None = None
) -> EndpointFilters:
    """The ranking constraints of the caller's ``provider`` object for this body (``pinned``: a provider named
    in the model id, which only that provider may serve)."""
    if provider is not None and not isinstance(provider, Mapping):
        raise InputError(f"provider={provider!r} is not an object: pass OpenRouter's provider preferences as a dict")
    preferences = dict(provider or {})
    if pinned is not None:
        preferences["only"] = [pinned]
        preferences["allow_fallbacks"] = False
    filters = EndpointFilters.from_provider_preferences(preferences)
    if preferences.get("require_parameters") is True:
        required = dict.fromkeys(REQUIRABLE[key] for key in body if key in REQUIRABLE and body[key] is not None)
        filters = replace(filters, parameters=tuple(dict.fromkeys((*filters.parameters, *required))))
    return filters


@dataclass(frozen=True)
class RankingQuery:
    """What ``route="cheapest"`` asks the catalog: the model to rank, the workload, the constraints."""

    model: str
    profile: WorkloadProfile
    filters: EndpointFilters
    carried: dict[str, Any]  # the caller's keys sent beside the ranking's routing as given


def ranking_query(
    model: str, body: Mapping[str, Any], provider: Mapping[str, Any] | None, pinned: str | None = None
) -> RankingQuery:
    """The ranking ``route="cheapest"`` needs for ``body`` sent to ``model`` (a routing suffix read as its meaning)."""
    if provider is not None and not isinstance(provider, Mapping):
        raise InputError(f"provider={provider!r} is not an object: pass OpenRouter's provider preferences as a dict")
    preferences = dict(provider or {})
    suffix = next((s for s in ROUTING_SUFFIXES if model.endswith(s)), None)
    ranked = model[: -len(suffix)] if suffix else model
    profile = request_profile(body)
    if suffix == ":online" and not profile.web_searches:
        profile = replace(profile, web_searches=1)
    if suffix in (":nitro", ":floor") and preferences.get("sort") is None:
        preferences["sort"] = "throughput" if suffix == ":nitro" else "price"
    carried = {}
    if preferences.get("enforce_distillable_text") is not None:
        carried["enforce_distillable_text"] = preferences.pop("enforce_distillable_text")
    if preferences.get("require_parameters") is True:
        carried["require_parameters"] = True
    return RankingQuery(ranked, profile, request_filters(preferences, body, pinned), carried)
