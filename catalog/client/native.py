"""Calling a provider's own API directly: ``provider:author/model`` with that provider's key set.

    OPENAI_API_KEY     openai:openai/gpt-4o-mini                chat completions (or the Responses API)
    ANTHROPIC_API_KEY  anthropic:anthropic/claude-haiku-4.5     the Messages API
    GEMINI_API_KEY     google-ai-studio:google/gemini-2.5-flash generateContent / streamGenerateContent
    GROQ_API_KEY       groq:moonshotai/kimi-k2-0905             OpenAI-compatible chat completions
    CEREBRAS_API_KEY   cerebras:openai/gpt-oss-120b             OpenAI-compatible chat completions
    XAI_API_KEY        xai:x-ai/grok-4.3                        OpenAI-compatible chat completions

The prefix is OpenRouter's provider slug, so without the key the same id goes through OpenRouter pinned to
that provider (``catalog.client.ids``), as it always did; ``Generation.via`` says which way a call went.

The model id the provider's API knows (``claude-haiku-4-5-20251001`` for ``anthropic/claude-haiku-4.5``) is
the ``provider_model_id`` the catalog recorded for that endpoint (``catalog.cost.sheets.SheetVersion``): the
open version of the provider's plain tag, else of any of its tags, else the newest closed one. Only where the
history has none does :data:`UPSTREAM_IDS` (a short table of models that left before endpoints were recorded)
answer; with neither, the call is refused rather than guessed.

Each base URL is read as that provider's official SDK reads its own (``OPENAI_BASE_URL`` ends in ``/v1`` as
the openai SDK's does; ``ANTHROPIC_BASE_URL``, ``GROQ_BASE_URL``, ``CEREBRAS_BASE_URL`` are the host root as in
their SDKs; ``GEMINI_BASE_URL`` and ``XAI_BASE_URL`` likewise the host root), or passed to the client as
``Client(native={"anthropic": {"api_key": ..., "base_url": ...}})``; ``native=False`` sends everything through
OpenRouter. The request is translated from the chat-completions options (``catalog.client.options``); an
option the provider's API has no equivalent for is refused, naming it, rather than dropped.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from catalog.cost.sheets import PriceTable
from catalog.errors import InputError
from catalog.redact import redact
from catalog.settings import join_url

Shape = Literal["openai", "anthropic", "gemini"]
ANTHROPIC_VERSION = "2023-06-01"  # the Messages API's version header (Anthropic API reference, "Versions")
# Anthropic requires max_tokens; the Anthropic SDK leaves it to the caller. 4096 is LiteLLM's default for the
# same translation, and fits every current Claude model's output limit.
ANTHROPIC_DEFAULT_MAX_TOKENS = 4096


@dataclass(frozen=True)
class NativeApi:
    """One provider's own API: its OpenRouter slug, request shape, key and base URL."""

    provider: str  # OpenRouter's provider slug (the tag before any "/variant")
    shape: Shape
    key_env: str
    url_env: str
    default_url: str
    chat_path: str  # below the base URL; Gemini's names the model (``{model}``)


NATIVE_APIS: dict[str, NativeApi] = {
    api.provider: api
    for api in (
        NativeApi(
            "openai", "openai", "OPENAI_API_KEY", "OPENAI_BASE_URL", "https://api.openai.com/v1", "chat/completions"
        ),
        NativeApi(
            "anthropic",
            "anthropic",
            "ANTHROPIC_API_KEY",
            "ANTHROPIC_BASE_URL",
            "https://api.anthropic.com",
            "v1/messages",
        ),
        NativeApi(
            "google-ai-studio",
            "gemini",
            "GEMINI_API_KEY",
            "GEMINI_BASE_URL",
            "https://generativelanguage.googleapis.com",
            "v1beta/models/{model}:generateContent",
        ),
        NativeApi(
            "groq", "openai", "GROQ_API_KEY", "GROQ_BASE_URL", "https://api.groq.com", "openai/v1/chat/completions"
        ),
        NativeApi(
            "cerebras",
            "openai",
            "CEREBRAS_API_KEY",
            "CEREBRAS_BASE_URL",
            "https://api.cerebras.ai",
            "v1/chat/completions",
        ),
        NativeApi("xai", "openai", "XAI_API_KEY", "XAI_BASE_URL", "https://api.x.ai", "v1/chat/completions"),
    )
}

# (provider, OpenRouter id) -> the provider's own id, only for models the endpoint history does not cover: they
# left before endpoints were recorded (the bundled history lists them in /models snapshots only). The ids are
# the providers' documented ones (Anthropic's "Models overview", Google's "Gemini models"). The catalog's
# recorded id always wins (tests/test_client_native.py checks that none of these is in the bundled endpoints).
UPSTREAM_IDS: dict[tuple[str, str], str] = {
    ("anthropic", "anthropic/claude-3-haiku"): "claude-3-haiku-20240307",
    ("anthropic", "anthropic/claude-3.5-haiku"): "claude-3-5-haiku-20241022",
    ("anthropic", "anthropic/claude-3.5-sonnet"): "claude-3-5-sonnet-20241022",
    ("anthropic", "anthropic/claude-3.7-sonnet"): "claude-3-7-sonnet-20250219",
    ("anthropic", "anthropic/claude-sonnet-4"): "claude-sonnet-4-20250514",
    ("google-ai-studio", "google/gemini-2.0-flash-001"): "gemini-2.0-flash-001",
}


@dataclass(frozen=True)
class NativeAccess:
    """A key (never shown) and the base URL to call one provider with."""

    api: NativeApi
    api_key: str = field(repr=False)
    base_url: str
    why: str = ""  # why calls go direct: the variable set, or the client's native= option


def native_access(given: Mapping[str, Mapping[str, str]] | bool | None) -> dict[str, NativeAccess]:
    """Which providers are called directly: each with a key (``given`` first, then the environment).
    ``False``: none."""
    if given is False:
        return {}
    overrides = given if isinstance(given, Mapping) else {}
    unknown = sorted(set(overrides) - set(NATIVE_APIS))
    if unknown:
        raise InputError(
            f"native={{{unknown[0]!r}: ...}}: not a provider called directly; known: {', '.join(NATIVE_APIS)}"
        )
    out: dict[str, NativeAccess] = {}
    for slug, api in NATIVE_APIS.items():
        own = overrides.get(slug) or {}
        key = (own.get("api_key") or os.environ.get(api.key_env) or "").strip()
        if not key:
            continue
        why = f"native={{{slug!r}: ...}} gives a key" if own.get("api_key") else f"{api.key_env} is set"
        if not key.isascii() or any(ord(c) < 33 or ord(c) == 127 for c in key):
            raise InputError(f"the {slug} key ({why}) holds spaces, control or non-ASCII characters: check it")
        url = (own.get("base_url") or os.environ.get(api.url_env) or api.default_url).rstrip("/")
        if not url.startswith(("http://", "https://")):
            raise InputError(f"{api.url_env} {redact(url)!r} must start with http:// or https://")
        out[slug] = NativeAccess(api, key, url, why)
    return out


def provider_of(tag: str) -> str:
    return tag.split("/", 1)[0].lower()


def upstream_model(table: PriceTable | None, model: str, provider: str, now: datetime) -> tuple[str, str | None]:
    """The provider's own id of ``model`` and the provider's display name, from the catalog's endpoints
    (see the module docstring), else :data:`UPSTREAM_IDS`; an ``InputError`` saying how to fix it without
    either."""
    best: tuple[tuple[int, int, int, datetime], str, str | None] | None = None
    if table is not None:
        resolved = table.resolve_model(model) or model
        for version in table.versions:
            if version.kind != "endpoint" or version.model_id != resolved or not version.tag:
                continue
            if provider_of(version.tag) != provider or not version.provider_model_id:
                continue
            in_force = version.valid_from <= now and (version.valid_to is None or version.valid_to > now)
            rank = (int(in_force), int(version.valid_to is None), int(version.tag == provider), version.valid_from)
            if best is None or rank > best[0]:
                best = (rank, version.provider_model_id, version.provider_name)
    if best is not None:
        return best[1], best[2]
    known = UPSTREAM_IDS.get((provider, model))
    if known is not None:
        return known, None
    where = "the catalog records no" if table is not None else "no catalog (prices=Catalog.open()) gives the"
    raise InputError(
        f"{provider}:{model}: {where} {provider} model id for it, so it cannot be called at {provider} directly; "
        f"check the id (`catalog endpoints {model}`), or send it through OpenRouter (Client(native=False); "
        "catalog gen --no-native)"
    )


@dataclass(frozen=True)
class NativeCall:
    """What the client needs to read and cost a direct call."""

    api: NativeApi
    upstream_model: str
    provider_name: str | None
    responses: bool = False  # the OpenAI Responses API rather than chat completions
    why: str = ""  # NativeAccess.why, for messages

    def refusal(self, what: str) -> str:
        """The message refusing ``what`` on this direct call, with the way round it."""
        return (
            f"{what}: not taken by {self.api.provider}'s own API (called directly because {self.why}); drop it, or "
            f"send the call through OpenRouter (Client(native=False); catalog gen --no-native)"
        )


def native_target(access: NativeAccess, upstream: str, *, stream: bool, responses: bool) -> tuple[str, dict[str, str]]:
    """The URL and headers (the key among them) of one direct call."""
    api = access.api
    headers = {"Content-Type": "application/json", "Accept": "text/event-stream" if stream else "application/json"}
    if api.shape == "anthropic":
        # Anthropic API reference, "Messages": the key in x-api-key, the version header required.
        headers.update({"x-api-key": access.api_key, "anthropic-version": ANTHROPIC_VERSION})
        return join_url(access.base_url, api.chat_path), headers
    if api.shape == "gemini":
        # Gemini API reference, "models.generateContent" / "models.streamGenerateContent": the key in
        # x-goog-api-key; a stream is asked for as server-sent events with alt=sse.
        headers["x-goog-api-key"] = access.api_key
        path = api.chat_path.format(model=upstream)
        if stream:
            path = path.replace(":generateContent", ":streamGenerateContent") + "?alt=sse"
        return join_url(access.base_url, path), headers
    headers["Authorization"] = f"Bearer {access.api_key}"
    path = api.chat_path.rsplit("chat/completions", 1)[0] + "responses" if responses else api.chat_path
    return join_url(access.base_url, path), headers


def native_body(
    call: NativeCall, messages: list[dict[str, Any]], params: dict[str, Any], *, stream: bool
) -> dict[str, Any]:
    """The request body in the provider's shape (``catalog.client.native_shapes``)."""
    from catalog.client.native_shapes import anthropic_body, gemini_body, openai_body, responses_body

    if call.api.shape == "anthropic":
        return anthropic_body(call, messages, params, stream=stream)
    if call.api.shape == "gemini":
        return gemini_body(call, messages, params)
    if call.responses:
        return responses_body(call, messages, params, stream=stream)
    return openai_body(call, messages, params, stream=stream)
