"""What the fake serves for one day once the data faults are applied: :class:`ServedDay`.

The recorded day is never mutated: drifted models and endpoints are deep copies, so switching the
faults off serves the recording byte for byte again. Drift kinds (``Faults.drift``):

- ``unknown_field``: every targeted model and endpoint gains ``"x_new_field": {...}``, as when OpenRouter
  adds a field a strict parser has not seen.
- ``unknown_price_key``: every targeted ``pricing`` gains ``"x_new_price": "0.000001"``: a price key a
  strict price sheet must reject loudly rather than drop.
- ``missing_optional``: removes what older real responses did not send: a model's ``top_provider`` and
  ``per_request_limits``, an endpoint's uptime / latency / throughput stats and
  ``supports_implicit_caching``, and every zero-valued optional price key (``request``, ``image``,
  ``discount`` ...), as OpenRouter did from January 2026. A missing price key means 0, not a change.
- ``dynamic_price``: ``prompt`` and ``completion`` become ``"-1"``, the router models' sentinel for a
  price decided per request.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from catalog.fake.faults import Faults
from catalog.fake.kinds import KIND_LISTS
from catalog.fake.responses import encode
from catalog.fake.source import DayStateLike, SnapshotInfoLike

NEW_FIELD = "x_new_field"
NEW_PRICE_KEY = "x_new_price"
# Price keys a parser must always find; every other key is optional and absent means 0.
REQUIRED_PRICE_KEYS = frozenset({"prompt", "completion"})
# PublicEndpoint keys the real 2025 v1 responses did not carry yet (endpoints/ recordings).
OPTIONAL_ENDPOINT_KEYS = (
    "uptime_last_5m",
    "uptime_last_1d",
    "latency_last_30m",
    "throughput_last_30m",
    "supports_implicit_caching",
)
OPTIONAL_MODEL_KEYS = ("top_provider", "per_request_limits")


@dataclass(frozen=True)
class ServedDay:
    """One day as served: the models list, endpoints by model id and providers, faults applied."""

    info: SnapshotInfoLike
    models: tuple[Mapping[str, Any], ...]
    endpoints: Mapping[str, Mapping[str, Any]]
    providers: Sequence[Mapping[str, Any]] | None
    has_endpoints: bool
    models_body: bytes
    """The full ``/models`` body, encoded once because it is by far the largest and most requested."""
    more: tuple[Mapping[str, Any], ...]
    """The models of the other kinds (``DayState.more_models``), listed for ``output_modalities`` only."""
    providers_body: bytes | None
    canonical: Mapping[str, str]
    """canonical slug → model id, so ``links.details`` URLs (which use the canonical slug) resolve."""

    @classmethod
    def build(cls, state: DayStateLike, faults: Faults) -> ServedDay:
        """Apply ``drop_models`` and ``drift`` from ``faults`` to a recorded day."""
        dropped = faults.drop_models
        # A models-only snapshot has no endpoint data at all; a full one may still lack a model's listing.
        has_endpoints = state.info.kind == "full" or bool(state.endpoints)
        models: list[Mapping[str, Any]] = []
        more: list[Mapping[str, Any]] = []
        endpoints: dict[str, Mapping[str, Any]] = {}
        recorded_more = getattr(state, "more_models", None) or ()
        for listed, model in [*((models, m) for m in state.models), *((more, m) for m in recorded_more)]:
            model_id = model["id"]
            if model_id in dropped:
                continue
            drifting = bool(faults.drift) and (not faults.drift_models or model_id in faults.drift_models)
            listed.append(_drift_model(model, faults.drift) if drifting else model)
            listing = state.endpoints.get(model_id)
            if listing is None:
                listing = _empty_listing(model) if has_endpoints else None
            if listing is not None:
                endpoints[model_id] = _drift_listing(listing, faults.drift) if drifting else listing
        providers = state.providers
        return cls(
            info=state.info,
            models=tuple(models),
            endpoints=endpoints,
            providers=providers,
            has_endpoints=has_endpoints,
            models_body=encode(models_page(models, len(models), None)),
            more=tuple(more),
            providers_body=None if providers is None else encode({"data": providers}),
            canonical=_canonical_index([*models, *more]),
        )

    def find(self, model_ref: str) -> str | None:
        """The served model id for a model id or canonical slug, or None."""
        if model_ref in self.endpoints:
            return model_ref
        model_id = self.canonical.get(model_ref)
        return model_id if model_id in self.endpoints else None

    def listed(self, output_modalities: str | None) -> list[Mapping[str, Any]]:
        """The models ``/models?output_modalities=…`` lists: the default (None or ``text``) is every model with a
        text output, ``all`` every model, else those with any of the comma-separated output modalities."""
        wanted = {m.strip() for m in (output_modalities or "text").split(",") if m.strip()} or {"text"}
        everything = [*self.models, *self.more]
        if "all" in wanted:
            return everything
        return [m for m in everything if wanted & set(_outputs(m))]

    def models_body_for(self, output_modalities: str | None) -> bytes:
        """The whole ``/models?output_modalities=…`` body (the recorded one for the default ``text``)."""
        if output_modalities is None or output_modalities.strip() == "text":
            return self.models_body
        models = self.listed(output_modalities)
        return encode(models_page(models, len(models), None))

    def kind_list_body(self, kind: str) -> bytes:
        """The body of the official list of ``kind`` (``embeddings``, ``image``, ``video``)."""
        return encode(KIND_LISTS[kind](self.listed("all"), self.endpoints))

    def endpoints_body(self, model_ref: str) -> bytes | None:
        """The ``/models/{model_ref}/endpoints`` body as served, or None (a 404). The HTTP route and the
        bundle's direct load (``catalog.replay.recorded_sweep``) both take their bytes from here."""
        model_id = self.find(model_ref)
        return None if model_id is None else encode({"data": self.endpoints[model_id]})


def _outputs(model: Mapping[str, Any]) -> list[str]:
    architecture = model.get("architecture") or {}
    return list(architecture.get("output_modalities") or ["text"])


def models_page(models: Sequence[Mapping[str, Any]], total: int, next_url: str | None) -> dict[str, Any]:
    """A ``ModelsListResponse``. ``total_count`` and ``links`` are required by the 2026-08 spec and sent by
    the current API, though the July recordings (bare ``data`` lists) do not show them."""
    return {"data": list(models), "total_count": total, "links": {"next": next_url}}


def _empty_listing(model: Mapping[str, Any]) -> dict[str, Any]:
    # A listed model without recorded endpoints: OpenRouter answers with an empty endpoint list, not 404.
    return {
        "id": model["id"],
        "name": model.get("name", model["id"]),
        "created": model.get("created", 0),
        "description": "",
        "architecture": model.get("architecture", {}),
        "endpoints": [],
    }


def _canonical_index(models: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    by_slug: dict[str, list[str]] = {}
    for model in models:
        slug = model.get("canonical_slug")
        if isinstance(slug, str) and slug != model["id"]:
            by_slug.setdefault(slug, []).append(model["id"])
    index = {}
    for slug, ids in by_slug.items():
        # `x` and `x:free` share a canonical slug; the plain variant is the one the slug names.
        plain = [i for i in ids if ":" not in i]
        chosen = plain if plain else ids
        if len(chosen) == 1:
            index[slug] = chosen[0]
    return index


def _drift_model(model: Mapping[str, Any], kinds: frozenset[str]) -> dict[str, Any]:
    drifted = copy.deepcopy(dict(model))
    if "missing_optional" in kinds:
        for key in OPTIONAL_MODEL_KEYS:
            drifted.pop(key, None)
    _drift_object(drifted, kinds)
    return drifted


def _drift_listing(listing: Mapping[str, Any], kinds: frozenset[str]) -> dict[str, Any]:
    drifted = copy.deepcopy(dict(listing))
    for endpoint in drifted.get("endpoints", []):
        if "missing_optional" in kinds:
            for key in OPTIONAL_ENDPOINT_KEYS:
                endpoint.pop(key, None)
        _drift_object(endpoint, kinds)
    return drifted


def _drift_object(obj: dict[str, Any], kinds: frozenset[str]) -> None:
    """Drift shared by models and endpoints: new field, pricing changes."""
    if "unknown_field" in kinds:
        obj[NEW_FIELD] = {"introduced": "2026-08", "note": "schema drift injected by the fake OpenRouter"}
    pricing = obj.get("pricing")
    if not isinstance(pricing, dict):
        return
    if "missing_optional" in kinds:
        for key in [k for k, v in pricing.items() if k not in REQUIRED_PRICE_KEYS and _is_zero(v)]:
            del pricing[key]
    if "dynamic_price" in kinds:
        pricing["prompt"] = "-1"
        pricing["completion"] = "-1"
    if "unknown_price_key" in kinds:
        pricing[NEW_PRICE_KEY] = "0.000001"


def _is_zero(value: object) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int | float):
        return value == 0
    if isinstance(value, str):
        try:
            return float(value) == 0.0
        except ValueError:
            return False
    return False
