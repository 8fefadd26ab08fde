"""Models: the list at an instant, one model with its endpoints and price sheets, and its price history."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from catalog.api import schemas
from catalog.api.deps import ERRORS, AsOf, Limit, Offset, State, instant, page, resolve, respond
from catalog.api.errors import ApiError
from catalog.cost.query import MAX_TOKENS

router = APIRouter(tags=["models"])


@router.get("/v1/models", response_model=schemas.ModelList, responses=ERRORS)
async def list_models(
    request: Request,
    state: State,
    q: Annotated[str | None, Query(max_length=200, description="Part of the id or name.")] = None,
    modality: Annotated[str | None, Query(max_length=50, description="An input or output modality.")] = None,
    min_context: Annotated[int | None, Query(ge=0, le=MAX_TOKENS)] = None,
    parameter: Annotated[str | None, Query(max_length=100, description="A supported parameter.")] = None,
    provider: Annotated[str | None, Query(max_length=100, description="Served by this provider.")] = None,
    kind: Annotated[
        Literal["text", "embeddings", "image", "video", "speech", "transcription", "rerank", "audio"] | None,
        Query(description="The kind of model, from its output modalities (audio: music and text+audio)."),
    ] = None,
    as_of: AsOf = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> Response:
    """Models listed at ``as_of``, with filters; each with its endpoint count and model-level prices."""

    def build() -> dict[str, Any]:
        at = instant(as_of, state, "as_of")
        frame = state.mirror.models_listed(
            at,
            search=q,
            modality=modality,
            min_context=min_context,
            parameter=parameter,
            provider=provider,
            kind=kind,
        )
        return {"as_of": at, **page(frame.to_dicts(), limit, offset)}

    return await respond(request, state, build)


@router.get("/v1/models/{author}/{slug}", response_model=schemas.ModelDetail, responses=ERRORS)
async def get_model(request: Request, state: State, author: str, slug: str, as_of: AsOf = None) -> Response:
    """One model at ``as_of``: its model-level row, every endpoint with exact prices, and every price sheet
    (listed strings, tiers, discount and the undiscounted base)."""

    def build() -> dict[str, Any]:
        model_id = resolve(state, f"{author}/{slug}")
        at = instant(as_of, state, "as_of")
        model = state.mirror.models_as_of(at, model=model_id)
        if model.is_empty():
            raise ApiError(
                404, "not_listed", f"model {model_id!r} was not listed at {at.isoformat()}", {"model": model_id}
            )
        endpoints = state.mirror.endpoints_as_of(model_id, at)
        sheets = state.catalog().prices(at, model=model_id)
        return {
            "as_of": at,
            "model": model.to_dicts()[0],
            "endpoints": endpoints.to_dicts(),
            "price_sheets": sheets.to_dicts(),
        }

    return await respond(request, state, build)


@router.get("/v1/models/{author}/{slug}/history", response_model=schemas.ModelHistory, responses=ERRORS)
async def model_history(
    request: Request,
    state: State,
    author: str,
    slug: str,
    start: Annotated[str | None, Query(alias="from", description="Versions in force from this time.")] = None,
    end: Annotated[str | None, Query(alias="to", description="… up to this time (inclusive).")] = None,
) -> Response:
    """Every price version of the model and of each of its endpoints overlapping ``[from, to]``."""

    def build() -> dict[str, Any]:
        model_id = resolve(state, f"{author}/{slug}")
        # "" is not a time: refused by instant() like any other, never read as "no bound"
        lo = instant(start, state, "from", bound="start") if start is not None else None
        hi = instant(end, state, "to") if end is not None else None
        if lo and hi and lo > hi:
            raise ApiError(400, "bad_parameter", "from is after to; swap them")
        models, endpoints = state.mirror.history_between(model_id, lo, hi)
        grouped = []
        for key, group in endpoints.group_by("endpoint_key", maintain_order=True):
            rows = group.to_dicts()
            grouped.append(
                {
                    "endpoint_key": key[0],
                    "tag": rows[0]["tag"],
                    "provider_name": rows[0]["provider_name"],
                    "versions": rows,
                }
            )
        return {"model_id": model_id, "from": lo, "to": hi, "model_versions": models.to_dicts(), "endpoints": grouped}

    return await respond(request, state, build)
