"""The snapshot log and the service's health: what the history holds, and its data version."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from catalog.api import schemas
from catalog.api.deps import ERRORS, Limit, Offset, State, page, respond
from catalog.store import queries
from catalog.store.runlog import snapshot_counts

router = APIRouter()


@router.get("/v1/snapshots", response_model=schemas.SnapshotList, responses=ERRORS, tags=["history"])
async def list_snapshots(request: Request, state: State, limit: Limit = 100, offset: Offset = 0) -> Response:
    """Every snapshot, newest first: when, from where, status, counts, versions opened and closed, errors."""

    def build() -> dict[str, Any]:
        frame = queries.snapshots(state.cursor()).reverse()
        return page(frame.to_dicts(), limit, offset)

    return await respond(request, state, build)


@router.get("/health", response_model=schemas.Health, tags=["service"])
async def health(request: Request, state: State) -> Response:
    """What the history holds and its data version (``catalog up`` answers this with its jobs too)."""

    def build() -> dict[str, Any]:
        return {"status": "ok", "data_version": state.etag, "snapshots": snapshot_counts(state.cursor())}

    return await respond(request, state, build)
