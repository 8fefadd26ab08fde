"""The echo models as the catalog routes list them, for a fake built with ``echo_models=True``.

``/models`` gains :data:`ECHO_MODELS`, their ``/endpoints`` one endpoint each (provider ``Echo``, tag
``echo``, priced at ``ECHO_PRICING``) and ``/providers`` the ``Echo`` provider, so a sync against the fake
stores the echo prices and a client can reconcile what it computes with what the echo bills. Chat
completions answer any ``echo/<anything>`` whether listed or not; only these ids are listed, and only on
request, because tests count the served models.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from catalog.fake.chat import ECHO_PRICING, ECHO_PROVIDER
from catalog.fake.source import DayStateLike, SnapshotInfoLike

ECHO_MODELS = ("echo/echo",)
_CREATED = 1767225600  # 2026-01-01T00:00:00Z: a fixed date, so the listing never changes
_CONTEXT = 131072
_PARAMETERS = ["max_tokens", "max_completion_tokens", "reasoning", "include_reasoning", "stream"]
_ARCHITECTURE = {
    "modality": "text->text",
    "input_modalities": ["text"],
    "output_modalities": ["text"],
    "tokenizer": "Other",
    "instruct_type": None,
}


def echo_model(model_id: str) -> dict[str, Any]:
    """The ``/models`` entry of an echo model."""
    return {
        "id": model_id,
        "canonical_slug": model_id,
        "hugging_face_id": None,
        "name": f"Echo: {model_id.removeprefix('echo/')}",
        "created": _CREATED,
        "context_length": _CONTEXT,
        "architecture": dict(_ARCHITECTURE),
        "pricing": dict(ECHO_PRICING),
        "top_provider": {"context_length": _CONTEXT, "max_completion_tokens": None, "is_moderated": False},
        "per_request_limits": None,
        "supported_parameters": list(_PARAMETERS),
        "default_parameters": {},
        "supported_voices": None,
        "knowledge_cutoff": None,
        "expiration_date": None,
        "links": {"details": f"/api/v1/models/{model_id}/endpoints"},
    }


def echo_listing(model_id: str) -> dict[str, Any]:
    """The ``/endpoints`` data object of an echo model: one endpoint, served by ``Echo``."""
    model = echo_model(model_id)
    endpoint = {
        "name": f"{ECHO_PROVIDER} | {model_id}",
        "model_id": model_id,
        "model_name": model["name"],
        "context_length": _CONTEXT,
        "pricing": {**ECHO_PRICING, "discount": 0},
        "provider_name": ECHO_PROVIDER,
        "tag": "echo",
        "quantization": "unknown",
        "max_completion_tokens": None,
        "max_prompt_tokens": None,
        "supported_parameters": list(_PARAMETERS),
        "status": 0,
        "uptime_last_30m": 100,
        "uptime_last_5m": 100,
        "uptime_last_1d": 100,
        "latency_last_30m": None,
        "throughput_last_30m": None,
        # the echo caches every prefix it has answered, without being asked to
        "supports_implicit_caching": True,
    }
    return {
        "id": model_id,
        "name": model["name"],
        "created": _CREATED,
        "description": "",
        "architecture": dict(_ARCHITECTURE),
        "endpoints": [endpoint],
    }


ECHO_PROVIDER_ENTRY: dict[str, Any] = {
    "name": ECHO_PROVIDER,
    "slug": "echo",
    "privacy_policy_url": None,
    "terms_of_service_url": None,
    "status_page_url": None,
    "headquarters": None,
    "datacenters": None,
    "data_policy": {},
}


@dataclass(frozen=True)
class _DayWithEcho:
    info: SnapshotInfoLike
    models: Sequence[Mapping[str, Any]]
    endpoints: Mapping[str, Mapping[str, Any]]
    providers: Sequence[Mapping[str, Any]] | None


def with_echo_models(state: DayStateLike) -> DayStateLike:
    """``state`` with the echo models listed (and their endpoints, when the day has endpoint data)."""
    recorded = {m["id"] for m in state.models}
    added = [model_id for model_id in ECHO_MODELS if model_id not in recorded]
    models = [*state.models, *(echo_model(model_id) for model_id in added)]
    endpoints: Mapping[str, Mapping[str, Any]] = state.endpoints
    # A models-only day has no endpoint data at all: giving the echo some would make it look like a full day.
    if state.info.kind == "full" or state.endpoints:
        endpoints = {**state.endpoints, **{model_id: echo_listing(model_id) for model_id in added}}
    providers = state.providers
    if providers is not None and all(p.get("slug") != "echo" for p in providers):
        providers = sorted([*providers, ECHO_PROVIDER_ENTRY], key=lambda p: str(p.get("slug")))
    return _DayWithEcho(info=state.info, models=models, endpoints=endpoints, providers=providers)
