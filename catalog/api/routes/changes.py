"""Changes: what was added, removed or repriced in a window, newest first."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from catalog.api import schemas
from catalog.api.deps import ERRORS, Limit, Offset, State, days_before, instant, page, resolve, respond
from catalog.api.errors import ApiError
from catalog.store import queries

ChangeKind = Literal[
    "added", "removed", "price", "discount", "context", "overrides", "quantization", "parameters", "other", "coverage"
]
router = APIRouter(tags=["history"])


@router.get("/v1/changes", response_model=schemas.ChangeList, responses=ERRORS)
async def list_changes(
    request: Request,
    state: State,
    since: Annotated[str | None, Query(description="Start (a date: its 00:00 UTC); default 7 days ago.")] = None,
    until: Annotated[str | None, Query(description="End, inclusive; default: the newest snapshot.")] = None,
    kind: Annotated[ChangeKind | None, Query(description="Only this kind of change.")] = None,
    entity: Annotated[
        Literal["endpoint", "model", "catalog"] | None,
        Query(description="Endpoint or model level, or the catalog's coverage (kinds of models it now covers)."),
    ] = None,
    model: Annotated[str | None, Query(max_length=200)] = None,
    provider: Annotated[str | None, Query(max_length=100)] = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> Response:
    """What changed, newest first: endpoints and models added or removed, and each changed field with the
    old and new value (prices exact)."""

    def build() -> dict[str, Any]:
        hi = instant(until, state, "until")
        lo = instant(since, state, "since", bound="start") if since is not None else days_before(hi, 7)
        if lo > hi:
            raise ApiError(400, "bad_parameter", "since is after until; swap them")
        model_id = resolve(state, model) if model is not None else None
        frame = queries.changes(state.cursor(), lo, hi, entity=entity, kind=kind, model=model_id, provider=provider)
        return {"since": lo, "until": hi, **page(frame.to_dicts(), limit, offset)}

    return await respond(request, state, build)
