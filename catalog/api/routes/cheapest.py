"""The cheapest endpoint for a workload. Its query parameters are built from ``catalog.cost.query.CHEAPEST``,
the one definition ``catalog cheapest`` builds its options from too."""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import Response

from catalog.api import schemas
from catalog.api.deps import ERRORS, AsOf, State, decimal, instant, resolve, respond
from catalog.api.errors import ApiError
from catalog.cost.profile import rank_endpoints
from catalog.cost.query import CHEAPEST, CheapestQuery, Param, build_query

router = APIRouter(tags=["costs"])
SHARE_LENGTH = 40  # a share is sent as decimal text; nothing longer is a share


def _annotation(param: Param) -> Any:
    """The parameter's type and its ``Query`` constraints."""
    doc = param.doc
    if param.kind == "count":
        kind: Any = int if param.default is not None else int | None
        return Annotated[kind, Query(ge=param.minimum, le=param.maximum, description=doc)]
    if param.kind == "share":
        return Annotated[str, Query(max_length=SHARE_LENGTH, description=doc)]
    if param.kind == "money":
        return Annotated[str | None, Query(max_length=SHARE_LENGTH, description=doc)]
    if param.kind == "number":
        return Annotated[float | None, Query(ge=0, description=doc)]
    if param.kind == "choice":
        choice: Any = Literal[param.choices]
        return Annotated[choice if param.default is not None else choice | None, Query(description=doc)]
    if param.kind == "names":
        return Annotated[list[str] | None, Query(description=doc)]
    if param.kind == "percent":
        return Annotated[float | None, Query(ge=param.minimum, le=param.maximum, description=doc)]
    return bool


@dataclass(frozen=True)
class Asked:
    model: str | None
    query: CheapestQuery
    as_of: str | None


async def _asked(**values: Any) -> Asked:
    """The request's model, query (checked: a bad share or profile is a 400 here) and ``as_of``."""
    query = build_query(values, lambda text, param: decimal(text, param.name))
    return Asked(values["model"], query, values["as_of"])


def _parameter(name: str, annotation: Any, default: Any) -> inspect.Parameter:
    return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=annotation, default=default)


Model = Annotated[str | None, Query(max_length=200, description="A model id; omit to rank every model.")]
# FastAPI reads a dependency's parameters from its signature: the model, the spec's parameters in order, as_of.
_asked.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
    [
        _parameter("model", Model, None),
        *(_parameter(p.name, _annotation(p), p.default) for p in CHEAPEST),
        _parameter("as_of", AsOf, None),
    ]
)


@router.get("/v1/cheapest", response_model=schemas.Cheapest, responses=ERRORS)
async def cheapest(request: Request, state: State, asked: Annotated[Asked, Depends(_asked)]) -> Response:
    """Rank endpoints by what the workload costs (per request, exact, and per M tokens), with why, and the
    OpenRouter ``provider`` routing object that pins the choice. The same answer as ``catalog cheapest``."""

    def build() -> dict[str, Any]:
        at = instant(asked.as_of, state, "as_of")
        model_id = resolve(state, asked.model) if asked.model is not None else None
        if state.table is None:
            raise ApiError(503, "no_data", "the history holds no prices yet")
        ranking = rank_endpoints(
            state.candidates(at, model_id),
            state.table,
            asked.query.profile,
            asked.query.filters,
            at=at,
            model=model_id,
            fallbacks=asked.query.fallbacks,
        )
        return ranking.to_dict()

    return await respond(request, state, build)
