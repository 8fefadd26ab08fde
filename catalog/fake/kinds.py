"""The fake's routes for the models of other kinds, in the spec's shapes, derived from one served day.

    GET /api/v1/embeddings/models                         ModelsListResponse of the embeddings models
    GET /api/v1/images/models                             ImageModelsListResponse
    GET /api/v1/images/models/{author}/{slug}/endpoints   ImageModelEndpointsResponse (``ImagePricingEntry``)
    GET /api/v1/videos/models                             VideoModelsListResponse (``pricing_skus``)

The bundle carries every SKU price on the v1 endpoint (``pricing_skus``, see ``catalog.bundle.build``); these
shapes are computed from it at serve time:

- ``ImagePricingEntry``: one entry per price SKU of an image endpoint; ``billable`` is ``input_image``
  (``input_font`` / ``input_reference`` when the name says so) for input SKUs, else ``output_image``;
  ``unit`` is ``megapixel`` or ``token`` when the name says so, else ``image``; ``cost_usd`` is the USD price
  (cents / 100) as a JSON number — the spec's type, so a float here: the exact text is on ``/endpoints``;
  ``variant`` is the SKU's variant (``1k``, ``moodboard`` …) when it has one.
- ``VideoModel.pricing_skus``: the first endpoint's price SKUs with the provider prefix stripped, values as
  recorded text (the spec: "provider prefix stripped, values as strings"); ``supported_resolutions`` are the
  resolutions its SKU names carry. Facts the recordings do not hold (durations, aspect ratios, sizes, frame
  images) are ``null`` / empty, never invented.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response

from catalog.fake.faults import API_PREFIX
from catalog.fake.responses import error_response, json_response
from catalog.openrouter.skus import Sku, parse_skus

if TYPE_CHECKING:
    from catalog.fake.view import ServedDay

Models = Sequence[Mapping[str, Any]]
Endpoints = Mapping[str, Mapping[str, Any]]

IMAGES_ENDPOINTS_PREFIX = API_PREFIX + "/images/models/"


def _outputs(model: Mapping[str, Any]) -> list[str]:
    return list((model.get("architecture") or {}).get("output_modalities") or ["text"])


def _endpoint_skus(endpoint: Mapping[str, Any]) -> list[Sku]:
    return [s for s in parse_skus(endpoint.get("pricing_skus")) if s.is_price]


def image_pricing(sku: Sku) -> dict[str, Any]:
    """One ``ImagePricingEntry`` for an image endpoint's price SKU."""
    name = sku.name.lower()
    if sku.billable == "input":
        billable = "input_font" if "font" in name else "input_reference" if "reference" in name else "input_image"
    else:
        billable = "output_image"
    unit = sku.unit if sku.unit in ("megapixel", "token") else "image"
    entry: dict[str, Any] = {"billable": billable, "unit": unit, "cost_usd": float(sku.usd or 0)}
    if sku.variant:
        entry["variant"] = sku.variant
    return entry


def embeddings_list(models: Models, endpoints: Endpoints) -> dict[str, Any]:
    """``GET /embeddings/models``: a ``ModelsListResponse`` of the embeddings models."""
    chosen = [m for m in models if "embeddings" in _outputs(m)]
    return {"data": chosen, "total_count": len(chosen), "links": {"next": None}}


def images_list(models: Models, endpoints: Endpoints) -> dict[str, Any]:
    """``GET /images/models``: an ``ImageModelsListResponse``."""
    items = []
    for model in models:
        if "image" not in _outputs(model):
            continue
        architecture = model.get("architecture") or {}
        items.append(
            {
                "id": model["id"],
                "name": model.get("name", model["id"]),
                "description": "",
                "created": model.get("created", 0),
                "architecture": {
                    "input_modalities": architecture.get("input_modalities") or [],
                    "output_modalities": architecture.get("output_modalities") or [],
                },
                "supported_parameters": {},
                "supports_streaming": False,
                "endpoints": f"{API_PREFIX}/images/models/{model['id']}/endpoints",
            }
        )
    return {"data": items}


def videos_list(models: Models, endpoints: Endpoints) -> dict[str, Any]:
    """``GET /videos/models``: a ``VideoModelsListResponse`` (``pricing_skus`` of the first endpoint)."""
    items = []
    for model in models:
        if "video" not in _outputs(model):
            continue
        listed = (endpoints.get(model["id"]) or {}).get("endpoints") or []
        skus = _endpoint_skus(listed[0]) if listed else []
        resolutions = sorted({v for s in skus for v in (s.variant or "").split(",") if v.endswith("p")})
        items.append(
            {
                "id": model["id"],
                "canonical_slug": model.get("canonical_slug", model["id"]),
                "name": model.get("name", model["id"]),
                "created": model.get("created", 0),
                "description": "",
                "pricing_skus": {s.name: s.text for s in skus} or None,
                "supported_resolutions": resolutions,
                "supported_aspect_ratios": [],
                "supported_sizes": None,
                "supported_durations": None,
                "supported_frame_images": [],
                "upscale_factor": None,
                "creativity": None,
                "generate_audio": None,
                "seed": None,
                "allowed_passthrough_parameters": [],
            }
        )
    return {"data": items}


KIND_LISTS: dict[str, Callable[[Models, Endpoints], dict[str, Any]]] = {
    "embeddings": embeddings_list,
    "image": images_list,
    "video": videos_list,
}


class KindRoutes:
    """Handlers reading the served day through ``served`` (the fake swaps days atomically)."""

    def __init__(self, served: Callable[[], ServedDay]) -> None:
        self.served = served

    async def embeddings_models(self, request: Request) -> Response:
        return json_response(self.served().kind_list_body("embeddings"))

    async def images_models(self, request: Request) -> Response:
        return json_response(self.served().kind_list_body("image"))

    async def videos_models(self, request: Request) -> Response:
        return json_response(self.served().kind_list_body("video"))

    async def image_endpoints(self, request: Request) -> Response:
        served = self.served()
        path = request.scope["path"]
        model_ref = path[len(IMAGES_ENDPOINTS_PREFIX) : -len("/endpoints")] if path.endswith("/endpoints") else ""
        model_id = served.find(model_ref) if model_ref else None
        listing = served.endpoints.get(model_id) if model_id else None
        if model_id is None or listing is None or "image" not in _outputs(listing):
            return error_response(404, f"Image model {model_ref or path} not found")
        endpoints = [
            {
                "provider_name": e.get("provider_name"),
                "provider_slug": str(e.get("tag") or "").split("/", 1)[0],
                "provider_tag": e.get("tag"),
                "pricing": [image_pricing(s) for s in _endpoint_skus(e)],
                "supported_parameters": {},
                "allowed_passthrough_parameters": [],
                "supports_streaming": False,
            }
            for e in listing.get("endpoints") or []
        ]
        return json_response({"id": model_id, "endpoints": endpoints})
