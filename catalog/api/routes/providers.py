"""Providers: the directory at an instant, and one provider with every endpoint it serves."""

from __future__ import annotations

import difflib
from typing import Any

import polars as pl
from fastapi import APIRouter, Request
from starlette.responses import Response

from catalog.api import schemas
from catalog.api.deps import ERRORS, AsOf, State, instant, respond
from catalog.api.errors import ApiError
from catalog.store import queries

router = APIRouter(tags=["providers"])


@router.get("/v1/providers", response_model=schemas.ProviderList, responses=ERRORS)
async def list_providers(request: Request, state: State, as_of: AsOf = None) -> Response:
    """Providers at ``as_of``: directory facts, data policy, and how many endpoints and models they serve."""

    def build() -> dict[str, Any]:
        at = instant(as_of, state, "as_of")
        return {"as_of": at, "items": queries.providers_as_of(state.cursor(), at).to_dicts()}

    return await respond(request, state, build)


@router.get("/v1/providers/{slug}", response_model=schemas.ProviderDetail, responses=ERRORS)
async def get_provider(request: Request, state: State, slug: str, as_of: AsOf = None) -> Response:
    """One provider at ``as_of``: its data policy and every endpoint it serves, with exact prices."""

    def build() -> dict[str, Any]:
        at = instant(as_of, state, "as_of")
        cur = state.cursor()
        providers = queries.providers_as_of(cur, at)
        found = providers.filter(pl.col("slug") == slug)
        if found.is_empty():
            known = providers["slug"].to_list()
            raise ApiError(
                404,
                "unknown_provider",
                f"provider {slug!r} is not listed at {at.isoformat()}",
                {"provider": slug, "did_you_mean": difflib.get_close_matches(slug, known, n=5, cutoff=0.5)},
            )
        endpoints = queries.provider_endpoints_as_of(cur, slug, at)
        return {"as_of": at, "provider": found.to_dicts()[0], "endpoints": endpoints.to_dicts()}

    return await respond(request, state, build)
