"""What every route shares: the state (a dependency), cached answers with their validators and the data's age,
the parameters that recur (``as_of``, paging) and the checks that turn a parameter into a value or a 4xx.

Every answer ``respond`` gives carries ``X-Data-Age`` (seconds since the newest good snapshot) and, once that
exceeds the state's threshold, ``X-Data-Stale: true``. The body of a cached answer is the same bytes for the
whole data version; an age that changes by the second is added as it is sent (``with_data``)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any

import orjson
from fastapi import Depends, Query, Request
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from catalog.api import schemas
from catalog.api.errors import ApiError
from catalog.api.state import ApiState, View
from catalog.cost.ranking_json import orjson_default
from catalog.exact_json import jsonable
from catalog.freshness import DataAge
from catalog.money import AmountFormatError, parse_amount
from catalog.times import now, parse_instant

ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": schemas.ErrorResponse, "description": "a parameter is missing or invalid"},
    404: {"model": schemas.ErrorResponse, "description": "no such model / provider"},
}

Limit = Annotated[int, Query(ge=1, le=1000, description="Items per page.")]
Offset = Annotated[int, Query(ge=0, le=10**9, description="Items to skip.")]
AsOf = Annotated[
    str | None,
    Query(
        description="A date (the end of that UTC day) or an ISO timestamp; default: the newest snapshot.",
        examples=["2026-08-01"],
    ),
]


def get_state(request: Request) -> View:
    """The data state this request answers from, taken once as it starts (``ApiState.pin``): a refresh that
    publishes a new one meanwhile changes nothing in this answer. (``create_app`` puts the ``ApiState`` on
    ``app.state``.)"""
    api: ApiState = request.app.state.catalog
    return api.pin()


State = Annotated[View, Depends(get_state)]


def age_headers(state: View, age: DataAge | None = None) -> dict[str, str]:
    """``X-Data-Age`` (seconds since the newest good snapshot) and, past the threshold, ``X-Data-Stale``."""
    age = age or state.data_age()
    if age is None:
        return {}
    if age.stale:
        return {"X-Data-Age": str(age.age_seconds), "X-Data-Stale": "true"}
    return {"X-Data-Age": str(age.age_seconds)}


def data_headers(state: View, age: DataAge | None = None) -> dict[str, str]:
    """The validators of the data version and the data's age, for every cached answer."""
    headers = {"ETag": state.etag, "Cache-Control": "no-cache"}
    if state.last_modified:
        headers["Last-Modified"] = state.last_modified
    headers.update(age_headers(state, age))
    return headers


_AGES_KEPT = 64
_age_members: dict[DataAge | None, bytes] = {}


def with_data(body: bytes, age: DataAge | None) -> bytes:
    """A JSON object's bytes with ``"data"`` (the ``DataAge``) and ``"stale"`` appended as its last members."""
    return body[:-1] + age_members(age)


def age_members(age: DataAge | None) -> bytes:
    """What ``with_data`` puts in place of a body's closing brace: ``"data"``, ``"stale"``, and the brace."""
    members = _age_members.get(age)
    if members is None:  # one per data state and second of age: every answer of that second shares it
        stale = b"true" if age is not None and age.stale else b"false"
        data = orjson.dumps(age.to_dict()) if age is not None else b"null"
        members = b"".join((b',"data":', data, b',"stale":', stale, b"}"))
        if len(_age_members) >= _AGES_KEPT:
            _age_members.clear()
        _age_members[age] = members
    return members


async def respond(
    request: Request, state: View, build: Callable[[], Any], *, data_at: datetime | None = None
) -> Response:
    """304 for a current ETag; the cached JSON of this route and query; else build it off the event loop.

    ``data_at``: the answer's ``as_of``; given, the body gains ``data`` (its ``DataAge``) and ``stale``."""
    key = cache_key(request)
    body = state.lookup(key)
    if body is None:
        # Built (or refused with a 4xx) before any precondition: a 304 only ever stands for a 200.
        body = await run_in_threadpool(state.cached, key, lambda: encode(build()))
    return answer(request, state, body, data_at=data_at)


def answer(request: Request, state: View, body: bytes, *, data_at: datetime | None = None) -> Response:
    """The response for a built 200 ``body``: 304 for a current ``If-None-Match``; the data's age in the
    headers, and (``data_at`` given) as ``data`` + ``stale`` at the end of the body."""
    age = state.data_age(data_at)
    headers = data_headers(state, age)
    match = request.headers.get("if-none-match")
    if match is not None and etag_matches(match, state.etag):
        return Response(status_code=304, headers=headers)
    if data_at is not None:
        body = with_data(body, age)
    return Response(body, media_type="application/json", headers=headers)


def encode(value: Any) -> bytes:
    """``value`` as exact JSON bytes, the same as ``orjson.dumps(jsonable(value))`` in one pass (Decimal and
    datetime spelled as ``jsonable`` spells them), without first copying every dict and list."""
    try:
        return orjson.dumps(value, default=orjson_default, option=orjson.OPT_PASSTHROUGH_DATETIME)
    except TypeError:  # something only jsonable turns into JSON: the general way
        return orjson.dumps(jsonable(value))


def instant(value: str | None, state: View, what: str, *, bound: str = "end") -> datetime:
    """A time parameter's instant; omitted, the rule of ``catalog.store.snapshots.default_as_of`` (the newest
    good snapshot at or before now), read from the state's snapshot times rather than asked of DuckDB."""
    if value is None:
        at = state.state_at(now())
        if at is None:
            raise ApiError(503, "no_data", "the history holds no snapshot yet")
        return at
    if "\x00" in value or len(value) > 64:
        raise ApiError(400, "bad_parameter", f"{what}: not a date or an ISO timestamp; use e.g. 2026-08-01")
    return parse_instant(value, bound="start" if bound == "start" else "end", what=what)


def days_before(at: datetime, days: int) -> datetime:
    try:
        return at - timedelta(days=days)
    except OverflowError:
        return datetime.min.replace(tzinfo=at.tzinfo)


def decimal(value: str, what: str) -> Decimal:
    try:
        return parse_amount(value, what)  # the one reading of decimal text: ASCII digits, finite
    except AmountFormatError:
        raise ApiError(400, "bad_parameter", f"{what}={value!r} is not a number; send e.g. 0.8") from None


def resolve(state: View, model_id: str) -> str:
    """The model id ``model_id`` names (an alias resolved), else a 404 with close matches."""
    table = state.table
    resolved = table.resolve_model(model_id) if table is not None else None
    if resolved is not None:
        return resolved
    if model_id in state.model_ids:
        return model_id
    raise ApiError(
        404,
        "unknown_model",
        f"model {model_id!r} is not in the history",
        {"model": model_id, "did_you_mean": state.suggestions(model_id)},
    )


def etag_matches(header: str, etag: str) -> bool:
    """``If-None-Match`` uses the weak comparison (RFC 9110): ``W/"x"`` matches ``"x"``."""
    if header.strip() == "*":
        return True
    return etag.removeprefix("W/") in {t.strip().removeprefix("W/") for t in header.split(",")}


def _query_names(route: APIRoute) -> frozenset[str]:
    """The query parameters a route reads, its dependencies' included."""
    names: set[str] = set()
    pending = [route.dependant]
    while pending:
        dependant = pending.pop()
        names.update(p.alias for p in dependant.query_params)
        pending += dependant.dependencies
    return frozenset(names)


def cache_key(request: Request) -> tuple[Any, ...]:
    """The route's own parameters, in order: unknown parameters cannot grow the cache, and spelling the
    same query in another order finds the same entry."""
    route = request.scope.get("route")
    known: frozenset[str] = frozenset()
    if isinstance(route, APIRoute):
        # The walk over the route's dependencies, done once per route and kept on it.
        known = route.__dict__.get("_catalog_query_names") or route.__dict__.setdefault(
            "_catalog_query_names", _query_names(route)
        )
    # Sorted by name only: a stable sort keeps the order of a repeated parameter's values, which matters.
    params = tuple(sorted(((k, v) for k, v in request.query_params.multi_items() if k in known), key=lambda kv: kv[0]))
    return (request.url.path, params)


def page(items: list[Any], limit: int, offset: int) -> dict[str, Any]:
    return {"total": len(items), "limit": limit, "offset": offset, "items": items[offset : offset + limit]}
