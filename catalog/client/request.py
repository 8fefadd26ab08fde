"""One call, ready to send: the URL, the headers (the key among them) and the JSON body.

The body is OpenRouter's chat-completions request: the caller's messages as given (a ``sys_msg`` is the only
system message ever added, and only when asked for), the ``provider`` routing object (a pinned provider forced
in, or the catalog's cheapest for ``route="cheapest"``), ``models`` fallbacks, ``usage.include`` (usage and
cost on every answer), every other option checked by ``catalog.client.options`` (an unknown name is refused),
then ``extra_body`` merged in unchecked.

``route="cheapest"`` ranks the model's endpoints for the request itself (``catalog.client.workload``: the
profile the body implies, the caller's ``provider`` object as constraints) and sends the ranking's routing,
which pins the cheapest endpoint that can serve it and carries the constraints asked for.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from catalog.client.assemble import Draft
from catalog.client.generation import Prices
from catalog.client.ids import ModelRef
from catalog.client.native import NativeAccess, NativeCall, native_body, native_target, provider_of, upstream_model
from catalog.client.native_shapes import AnthropicDraft, GeminiDraft
from catalog.client.options import check_messages, check_options
from catalog.client.workload import ranking_query
from catalog.errors import AuthError, InputError
from catalog.redact import redact
from catalog.settings import join_url

Prompt = str | list[dict[str, Any]]
ROUTES = ("cheapest", "fallback")


@dataclass
class Request:
    url: str
    headers: dict[str, str] = field(repr=False)
    body: dict[str, Any]
    model: str  # the id costs are looked up by
    stream: bool
    ranking: Any = field(default=None, repr=False)  # route="cheapest": the catalog's Ranking the routing came from
    native: NativeCall | None = None  # a direct call to the provider's own API (catalog.client.native)
    schema: dict[str, Any] | None = field(default=None, repr=False)  # a direct call's response_format schema

    def draft(self) -> Draft:
        """An empty draft that reads this call's answers: OpenRouter's shapes, or the provider's own."""
        shape = self.native.api.shape if self.native else None
        return AnthropicDraft() if shape == "anthropic" else GeminiDraft() if shape == "gemini" else Draft()


@dataclass(frozen=True)
class Identity:
    """Who calls: the key (never shown) and the attribution headers."""

    api_key: str | None = field(default=None, repr=False)
    referer: str | None = None
    title: str | None = None


def checked_key(key: str | None) -> str | None:
    """The key without surrounding whitespace; one with control or non-ASCII characters is refused without
    being shown (an HTTP header cannot carry it, and the error would otherwise print it)."""
    if key is None:
        return None
    key = key.strip()
    if not key:
        return None
    if not key.isascii() or any(ord(c) < 33 or ord(c) == 127 for c in key):
        raise AuthError("the API key holds spaces, control or non-ASCII characters: check OPENROUTER_API_KEY")
    return key


def shown_url(url: str) -> str:
    """``url`` for a message: credentials in it (``https://user:secret@host``, ``?api_key=…``) are never
    printed."""
    return redact(url)


def build_request(
    prices: Prices,
    base_url: str,
    who: Identity,
    prompt: Prompt,
    model: str,
    *,
    sys_msg: str | None = None,
    stream: bool = False,
    provider: dict[str, Any] | None = None,
    models: list[str] | None = None,
    route: str | None = None,
    extra_body: dict[str, Any] | None = None,
    native: Mapping[str, NativeAccess] | None = None,
    native_api: str | None = None,
    **options: Any,
) -> Request:
    params = check_options({"provider": provider, **options})  # unknown names and bad values refused here
    if native_api not in (None, "chat", "responses"):
        raise InputError(
            f"native_api={native_api!r}: use 'chat' (chat completions) or 'responses' (OpenAI's Responses API)"
        )
    provider = params.pop("provider", None)
    if extra_body is not None and not isinstance(extra_body, dict):
        raise InputError(f"extra_body={extra_body!r} must be an object of body fields")
    if models is not None and (not isinstance(models, list) or not all(isinstance(m, str) for m in models)):
        raise InputError(f"models={models!r} must be a list of author/model ids")
    messages = _messages(prompt, sys_msg)
    check_messages(messages)
    custom = prices.custom.get(model)
    ref = ModelRef(model) if custom else ModelRef.parse(model)
    access = (native or {}).get(provider_of(ref.provider)) if ref.provider and not custom else None
    if access is not None or native_api == "responses":
        asked = {"models": models, "route": route, "provider": provider}
        return _native_request(prices, access, ref, messages, params, asked, stream, native_api, extra_body)
    body: dict[str, Any] = {"model": (custom.upstream_model or model) if custom else ref.model, "messages": messages}
    if models:
        if custom:
            raise InputError(f"{model} is a registered model served by its own server: it takes no models=[...]")
        fallbacks = [ModelRef.parse(m) for m in models]
        if any(f.provider for f in fallbacks):
            raise InputError("a fallback model cannot pin a provider (provider:author/model): list author/model ids")
        body["models"] = [ref.model, *(f.model for f in fallbacks)]  # in order
    if stream:
        body["stream"] = True
    body["usage"] = {"include": True}  # usage and cost on every answer, unless the caller says otherwise
    if route not in (None, *ROUTES):
        raise InputError(f"route={route!r}: use 'cheapest' (the catalog's ranking) or OpenRouter's 'fallback'")
    if route == "fallback":
        body["route"] = "fallback"
    body.update(params)
    ranking = None
    if route == "cheapest" and custom:
        raise InputError(f"{model} is a registered model served by its own server: it has no endpoints to rank")
    if route == "cheapest":
        # The caller's preferences constrain the ranking; the answer's routing carries them (never merged over).
        query = ranking_query(ref.model, body, provider, ref.provider)
        ranking = prices.cheapest(query.model, query.profile, query.filters)
        provider = {**ranking.routing, **query.carried}
    routing = ref.routing(provider)
    if routing is not None and not custom:
        body["provider"] = routing
    if extra_body:
        body.update(extra_body)  # last and unchecked: the escape hatch for fields newer than this client
    headers = {"Content-Type": "application/json", "Accept": "text/event-stream" if stream else "application/json"}
    # A registered model's own server gets its own key, never the OpenRouter one.
    key = custom.api_key if custom and custom.base_url else who.api_key
    if key:
        headers["Authorization"] = f"Bearer {checked_key(key)}"
    if who.referer:
        headers["HTTP-Referer"] = who.referer
    if who.title:
        headers["X-Title"] = who.title
    base = custom.base_url if custom and custom.base_url else base_url
    return Request(join_url(base, "chat/completions"), headers, body, model if custom else ref.model, stream, ranking)


# Options that only mean something to OpenRouter (routing, its plugins and transforms).
_OPENROUTER_ONLY = frozenset({"provider", "models", "route", "plugins", "transforms", "session_id"})


def _native_request(
    prices: Prices,
    access: NativeAccess | None,
    ref: ModelRef,
    messages: list[dict[str, Any]],
    params: dict[str, Any],
    routing: dict[str, Any],
    stream: bool,
    native_api: str | None,
    extra_body: dict[str, Any] | None,
) -> Request:
    """The call to the provider's own API (``catalog.client.native``), costed as the OpenRouter id at that
    provider's endpoint."""
    if access is None:
        raise InputError(
            f"native_api='responses' is for a direct call (openai:author/model with OPENAI_API_KEY set); "
            f"{ref.provider + ':' if ref.provider else ''}{ref.model} goes through OpenRouter's chat completions"
        )
    api = access.api
    responses = native_api == "responses"
    if responses and api.shape != "openai":
        raise InputError(f"native_api='responses' is OpenAI's Responses API; {api.provider} has its own: drop it")
    given = {**routing, **params}
    refused = sorted(k for k, v in given.items() if v is not None and k in _OPENROUTER_ONLY)
    params = {k: v for k, v in params.items() if k != "usage"}  # a direct answer always carries its usage
    upstream, name = upstream_model(prices.table(), ref.model, api.provider, datetime.now(UTC))
    call = NativeCall(api, upstream, name, responses, access.why)
    if refused:
        raise InputError(call.refusal(f"{', '.join(refused)} (OpenRouter's routing)"))
    body = native_body(call, messages, params, stream=stream)
    if extra_body:
        body.update(extra_body)  # as on OpenRouter: last and unchecked
    url, headers = native_target(access, upstream, stream=stream, responses=responses)
    schema = response_schema({"response_format": params.get("response_format")})
    return Request(url, headers, body, ref.model, stream, native=call, schema=schema)


def _messages(prompt: Prompt, sys_msg: str | None) -> list[dict[str, Any]]:
    if isinstance(prompt, str):
        messages: list[dict[str, Any]] = [{"role": "user", "content": prompt}]
    elif isinstance(prompt, list) and all(isinstance(m, dict) and "role" in m for m in prompt):
        messages = list(prompt)
    else:
        raise InputError("prompt must be a string or a list of messages ({'role': ..., 'content': ...})")
    return [{"role": "system", "content": sys_msg}, *messages] if sys_msg else messages


def response_schema(body: dict[str, Any]) -> dict[str, Any] | None:
    """The JSON Schema a body's ``response_format`` asks the reply to match (None without one)."""
    fmt = body.get("response_format")
    if isinstance(fmt, dict) and fmt.get("type") == "json_schema" and isinstance(fmt.get("json_schema"), dict):
        schema = fmt["json_schema"].get("schema")
        return schema if isinstance(schema, dict) else None
    return None
