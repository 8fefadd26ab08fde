"""Every chat-completions request option the client takes, typed by group and checked before anything is sent.

The groups are ``TypedDict``s, so a call reads as OpenRouter's body does and a type checker sees a typo:

    client.generate(prompt, model, temperature=0.2, max_tokens=200,
                    reasoning={"effort": "low"}, response_format=json_schema(schema),
                    provider={"order": ["groq"], "allow_fallbacks": False}, plugins=[{"id": "web"}])

``check_options`` refuses an unknown name with the list of known ones (OpenRouter would accept and ignore it,
so a misspelt ``temprature`` would silently do nothing), and a known one with a value of the wrong type or out
of its documented range, naming it. ``extra_body={...}`` is the escape hatch (as in the openai SDK): merged
into the body last, unchecked, for what OpenRouter adds before this module knows it.

What is checked comes from the bundled OpenAPI spec's ``ChatRequest`` (``catalog.bundle.spec_schema``;
tests/test_client_options.py validates every body the client builds against it) and, for the fields
OpenRouter documents but that spec does not list, from OpenRouter's API reference: ``transforms``,
``usage.include`` and ``reasoning.max_tokens`` / ``exclude`` / ``enabled`` (``OFF_SPEC`` names them).
Ranges are the documented ones (temperature 0–2, top_p 0–1 …); where the docs give none, only the type.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any, Literal, TypedDict

from catalog.cost.workload import EndpointFilters
from catalog.errors import InputError
from catalog.money import canonical, parse_amount

Effort = Literal["max", "xhigh", "high", "medium", "low", "minimal", "none"]
EFFORTS: tuple[str, ...] = ("max", "xhigh", "high", "medium", "low", "minimal", "none")
RESPONSE_FORMATS = ("text", "json_object", "json_schema", "grammar", "python")
TRANSFORMS = ("middle-out",)
# The plugin ids of the spec's ``plugins`` discriminator (a test keeps them equal).
PLUGINS = (
    "auto-beta-router",
    "auto-router",
    "context-compression",
    "file-parser",
    "fusion",
    "moderation",
    "pareto-router",
    "response-healing",
    "web",
    "web-fetch",
)
CACHE_TTLS = ("5m", "1h")
# Body fields OpenRouter's API reference documents that the bundled spec's ChatRequest does not list.
OFF_SPEC = {"": ("transforms", "usage"), "reasoning": ("max_tokens", "exclude", "enabled")}


class Sampling(TypedDict, total=False):
    """How the next token is picked, and how many."""

    temperature: float
    top_p: float
    top_k: int
    min_p: float
    top_a: float
    frequency_penalty: float
    presence_penalty: float
    repetition_penalty: float
    seed: int
    stop: str | list[str]
    logit_bias: dict[str, float]
    logprobs: bool
    top_logprobs: int
    max_tokens: int
    max_completion_tokens: int


class Reasoning(TypedDict, total=False):
    """``reasoning``: an effort or a token budget (one of them), and whether the reasoning is sent back."""

    effort: Effort
    max_tokens: int
    exclude: bool
    enabled: bool


class JsonSchema(TypedDict, total=False):
    name: str
    schema: dict[str, Any]
    strict: bool
    description: str


class ResponseFormat(TypedDict, total=False):
    type: Literal["text", "json_object", "json_schema", "grammar", "python"]
    json_schema: JsonSchema


class Plugin(TypedDict, total=False):
    """``{"id": "web", "max_results": 3}``, ``{"id": "response-healing"}``, ``{"id": "file-parser", "pdf":
    {"engine": "pdf-text"}}`` …: the id and that plugin's own settings."""

    id: str
    enabled: bool
    max_results: int
    search_prompt: str
    engine: str
    pdf: dict[str, Any]


class UsageOption(TypedDict):
    include: bool


class Routing(TypedDict, total=False):
    """Which endpoints may serve: the ``provider`` object (OpenRouter's ``ProviderPreferences``), fallback
    ``models`` (tried in order) and ``route`` (``"fallback"``, or ``"cheapest"``: the catalog's ranking)."""

    provider: dict[str, Any]
    models: list[str]
    route: Literal["cheapest", "fallback"]


class ChatOptions(Sampling, Routing, total=False):
    """Every option of ``generate`` (besides ``on_text``): the groups above and the rest of the body."""

    sys_msg: str | None
    stream: bool
    reasoning: Reasoning
    reasoning_effort: Effort
    response_format: ResponseFormat
    tools: list[dict[str, Any]]
    tool_choice: str | dict[str, Any]
    parallel_tool_calls: bool
    transforms: list[str]
    plugins: list[Plugin]
    usage: UsageOption
    user: str
    metadata: dict[str, str]
    session_id: str
    cache_control: dict[str, Any]
    extra_body: dict[str, Any]
    # A direct call to OpenAI (or an OpenAI-compatible provider): "chat" completions or the "responses" API.
    native_api: Literal["chat", "responses"]


def json_schema(
    schema: dict[str, Any], name: str = "response", *, strict: bool = True, description: str | None = None
) -> ResponseFormat:
    """``response_format`` asking for JSON that matches ``schema`` (``strict``: the provider enforces it;
    ``Generation.parsed`` checks it either way)."""
    spec: JsonSchema = {"name": name, "schema": schema, "strict": strict}
    if description is not None:
        spec["description"] = description
    return {"type": "json_schema", "json_schema": spec}


def cached_text(text: str, ttl: Literal["5m", "1h"] | None = None) -> dict[str, Any]:
    """A text content part with Anthropic's ``cache_control`` breakpoint: the prompt up to here is cached
    (``ttl`` "5m", the default, or "1h")."""
    control: dict[str, Any] = {"type": "ephemeral"}
    if ttl is not None:
        control["ttl"] = ttl
    return {"type": "text", "text": text, "cache_control": control}


# -- checking ----------------------------------------------------------------------------------------------------


def _number(low: float | None = None, high: float | None = None) -> Callable[[str, Any], None]:
    def check(name: str, value: Any) -> None:
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise InputError(f"{name}={value!r} must be a number")
        if (low is not None and value < low) or (high is not None and value > high):
            raise InputError(f"{name}={value!r} must be between {low} and {high}")

    return check


def _integer(low: int | None = None, high: int | None = None) -> Callable[[str, Any], None]:
    def check(name: str, value: Any) -> None:
        if isinstance(value, bool) or not isinstance(value, int):
            raise InputError(f"{name}={value!r} must be a whole number")
        if (low is not None and value < low) or (high is not None and value > high):
            bounds = f">= {low}" if high is None else f"between {low} and {high}"
            raise InputError(f"{name}={value!r} must be {bounds}")

    return check


def _kind(kind: type | tuple[type, ...], what: str) -> Callable[[str, Any], None]:
    def check(name: str, value: Any) -> None:
        if (isinstance(value, bool) and kind is not bool) or not isinstance(value, kind):
            raise InputError(f"{name}={value!r} must be {what}")

    return check


def _one_of(choices: tuple[str, ...]) -> Callable[[str, Any], None]:
    def check(name: str, value: Any) -> None:
        if value not in choices:
            raise InputError(f"{name}={value!r} is not one of {', '.join(choices)}")

    return check


def _keys(name: str, value: Any, known: tuple[str, ...]) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise InputError(f"{name}={value!r} must be an object with keys among {', '.join(known)}")
    unknown = sorted(set(value) - set(known))
    if unknown:
        raise InputError(f"{name}: unknown key(s) {', '.join(unknown)}; known: {', '.join(known)}")
    return value


def _stop(name: str, value: Any) -> None:
    words = [value] if isinstance(value, str) else value
    if not isinstance(words, list) or not 1 <= len(words) <= 4 or not all(isinstance(w, str) and w for w in words):
        # An empty sequence stops nothing (or stops at once, by provider): refused rather than guessed.
        raise InputError(f"{name}={value!r} must be a non-empty string or a list of up to 4 of them")


def _logit_bias(name: str, value: Any) -> None:
    if not isinstance(value, Mapping):
        raise InputError(f"{name} must map token ids to a bias between -100 and 100")
    for token, bias in value.items():
        _number(-100, 100)(f"{name}[{token!r}]", bias)


def _reasoning(name: str, value: Any) -> None:
    obj = _keys(name, value, ("effort", "max_tokens", "exclude", "enabled", "summary"))
    if "effort" in obj and "max_tokens" in obj:
        raise InputError(f"{name}: give effort or max_tokens, not both (OpenRouter takes one)")
    if "effort" in obj:
        _one_of(EFFORTS)(f"{name}.effort", obj["effort"])
    if "max_tokens" in obj:
        _integer(0)(f"{name}.max_tokens", obj["max_tokens"])
    for flag in ("exclude", "enabled"):
        if flag in obj:
            _kind(bool, "true or false")(f"{name}.{flag}", obj[flag])


def _response_format(name: str, value: Any) -> None:
    obj = _keys(name, value, ("type", "json_schema", "grammar", "python"))
    _one_of(RESPONSE_FORMATS)(f"{name}.type", obj.get("type"))
    if obj["type"] != "json_schema":
        return
    spec = _keys(f"{name}.json_schema", obj.get("json_schema"), ("name", "schema", "strict", "description"))
    label = spec.get("name")
    if not isinstance(label, str) or not 1 <= len(label) <= 64:
        raise InputError(f"{name}.json_schema.name must be a name of 1 to 64 characters, e.g. 'answer'")
    if not isinstance(spec.get("schema"), Mapping):
        raise InputError(f"{name}.json_schema.schema must be a JSON Schema object")
    if "strict" in spec:
        _kind(bool, "true or false")(f"{name}.json_schema.strict", spec["strict"])


def _tools(name: str, value: Any) -> None:
    if not isinstance(value, list) or not all(isinstance(t, Mapping) and "type" in t for t in value):
        raise InputError(f"{name} must be a list of tools such as {{'type': 'function', 'function': {{'name': …}}}}")
    for i, tool in enumerate(value):
        if tool["type"] == "function" and not isinstance((tool.get("function") or {}).get("name"), str):
            raise InputError(f"{name}[{i}]: a function tool needs function.name")


def _tool_choice(name: str, value: Any) -> None:
    if value in ("none", "auto", "required"):
        return
    if isinstance(value, Mapping) and isinstance((value.get("function") or {}).get("name"), str):
        return
    if isinstance(value, Mapping) and isinstance(value.get("type"), str) and value.get("type") != "function":
        return  # a server tool (web_search …): the spec's ChatServerToolChoice
    raise InputError(
        f"{name}={value!r}: use 'none', 'auto', 'required' or {{'type': 'function', 'function': {{'name': …}}}}"
    )


def _transforms(name: str, value: Any) -> None:
    if not isinstance(value, list) or any(t not in TRANSFORMS for t in value):
        raise InputError(f"{name}={value!r} must be a list of {', '.join(TRANSFORMS)} (or [] to turn them off)")


def _plugins(name: str, value: Any) -> None:
    if not isinstance(value, list):
        raise InputError(f"{name} must be a list such as [{{'id': 'web'}}]")
    for i, plugin in enumerate(value):
        if not isinstance(plugin, Mapping) or plugin.get("id") not in PLUGINS:
            got = plugin.get("id") if isinstance(plugin, Mapping) else plugin
            raise InputError(f"{name}[{i}]: plugin {got!r} is not one of {', '.join(PLUGINS)}")


def _provider(name: str, value: Any) -> None:
    # The same reading route="cheapest" gives it: unknown keys, types and values are refused alike. The one
    # spec key the ranking has no facts for is checked here and sent on as given (catalog.client.workload).
    if isinstance(value, Mapping) and "enforce_distillable_text" in value:
        _kind(bool, "true or false")(f"{name}.enforce_distillable_text", value["enforce_distillable_text"])
        value = {k: v for k, v in value.items() if k != "enforce_distillable_text"}
    EndpointFilters.from_provider_preferences(value)


def _usage(name: str, value: Any) -> None:
    obj = _keys(name, value, ("include",))
    _kind(bool, "true or false")(f"{name}.include", obj.get("include"))


def _cache_control(name: str, value: Any) -> None:
    obj = _keys(name, value, ("type", "ttl"))
    _one_of(("ephemeral",))(f"{name}.type", obj.get("type"))
    if "ttl" in obj:
        _one_of(CACHE_TTLS)(f"{name}.ttl", obj["ttl"])


def _metadata(name: str, value: Any) -> None:
    if not isinstance(value, Mapping) or not all(isinstance(v, str) for v in value.values()):
        raise InputError(f"{name} must map names to strings")


_UNIT = _number(0, 1)
CHECKS: dict[str, Callable[[str, Any], None]] = {
    "temperature": _number(0, 2),
    "top_p": _UNIT,
    "top_k": _integer(0),
    "min_p": _UNIT,
    "top_a": _UNIT,
    "frequency_penalty": _number(-2, 2),
    "presence_penalty": _number(-2, 2),
    "repetition_penalty": _number(0, 2),
    "seed": _integer(),
    "stop": _stop,
    "logit_bias": _logit_bias,
    "logprobs": _kind(bool, "true or false"),
    "top_logprobs": _integer(0, 20),
    "max_tokens": _integer(1),
    "max_completion_tokens": _integer(1),
    "reasoning": _reasoning,
    "reasoning_effort": _one_of(EFFORTS),
    "response_format": _response_format,
    "tools": _tools,
    "tool_choice": _tool_choice,
    "parallel_tool_calls": _kind(bool, "true or false"),
    "transforms": _transforms,
    "plugins": _plugins,
    "provider": _provider,
    "usage": _usage,
    "user": _kind(str, "a string"),
    "metadata": _metadata,
    "session_id": _kind(str, "a string"),
    "cache_control": _cache_control,
}
# Taken by build_request itself (they shape more than one field), checked there.
HANDLED = ("sys_msg", "stream", "models", "route", "extra_body", "native_api")
KNOWN = tuple(sorted((*CHECKS, *HANDLED)))


def check_options(options: Mapping[str, Any]) -> dict[str, Any]:
    """``options`` as body fields, each checked; an unknown name is refused with the known ones. ``None``
    values are dropped (an option not set)."""
    unknown = sorted(set(options) - set(CHECKS))
    if unknown:
        raise InputError(
            f"unknown option(s) {', '.join(unknown)}; known: {', '.join(KNOWN)} "
            "(pass anything else to the body with extra_body={...})"
        )
    body: dict[str, Any] = {}
    for name, value in options.items():
        if value is None:
            continue
        CHECKS[name](name, value)
        body[name] = _max_price_as_text(value) if name == "provider" else value
    return body


def _max_price_as_text(provider: Mapping[str, Any]) -> dict[str, Any]:
    """``provider`` with its ``max_price`` caps as the spec's decimal strings (a ``Decimal`` or ``int`` cap is
    written exactly; a float was refused by the check, having lost its exact value already)."""
    caps = provider.get("max_price")
    if not isinstance(caps, Mapping):
        return dict(provider)
    return {**provider, "max_price": {k: v if v is None else canonical(parse_amount(v)) for k, v in caps.items()}}


def check_messages(messages: list[dict[str, Any]]) -> None:
    """The ``cache_control`` breakpoints on content parts (Anthropic prompt caching) are well formed."""
    for i, message in enumerate(messages):
        content = message.get("content")
        if not isinstance(content, list):
            continue
        for j, part in enumerate(content):
            if isinstance(part, Mapping) and "cache_control" in part:
                _cache_control(f"messages[{i}].content[{j}].cache_control", part["cache_control"])
