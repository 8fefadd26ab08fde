"""The read-only query API over the history, versioned under ``/v1``, with its OpenAPI document at
``/openapi.json`` and docs at ``/docs`` (served from the installed package: they work offline).

Every answer carries ``ETag`` / ``Last-Modified`` of the data version (the newest snapshot); a request with a
matching ``If-None-Match`` gets ``304`` once its answer is known to be a 200 (cached, or just built): an error
is never a 304. Read answers are served from memory (``catalog.api.state``): a DuckDB query runs only the first
time a route and query is asked of a data version.
Every query is parameterised.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, Literal

import orjson
import polars as pl
from fastapi import FastAPI, Query, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from catalog import __version__
from catalog.api import errors, schemas
from catalog.api.errors import ApiError
from catalog.api.state import ApiState
from catalog.cost.bodies import usage_from_items
from catalog.cost.engine import cost_usage
from catalog.cost.profile import EndpointFilters, WorkloadProfile, rank_endpoints
from catalog.cost.totals import batch_totals
from catalog.cost.usage import usage_frame
from catalog.store import queries
from catalog.store.runlog import snapshot_counts
from catalog.times import parse_instant
from catalog.wire import jsonable

MAX_COST_BYTES = 1_000_000
MAX_COST_ROWS = 10_000
MAX_TOKENS = 10**12
ChangeKind = Literal[
    "added", "removed", "price", "discount", "context", "overrides", "quantization", "parameters", "other"
]
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


def _instant(value: str | None, state: ApiState, what: str, *, bound: str = "end") -> datetime:
    if value is None:
        if state.snapshot_times:
            return state.snapshot_times[-1]
        raise ApiError(503, "no_data", "the history holds no snapshot yet")
    if "\x00" in value or len(value) > 64:
        raise ApiError(400, "bad_parameter", f"{what}: not a date or an ISO timestamp; use e.g. 2026-08-01")
    return parse_instant(value, bound="start" if bound == "start" else "end", what=what)


def _days_before(at: datetime, days: int) -> datetime:
    try:
        return at - timedelta(days=days)
    except OverflowError:
        return datetime.min.replace(tzinfo=at.tzinfo)


def _decimal(value: str, what: str) -> Decimal:
    try:
        number = Decimal(value)
    except (InvalidOperation, ValueError):
        raise ApiError(400, "bad_parameter", f"{what}={value!r} is not a number; send e.g. 0.8") from None
    if not number.is_finite():
        raise ApiError(400, "bad_parameter", f"{what}={value!r} is not a finite number")
    return number


def _resolve(state: ApiState, model_id: str) -> str:
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


def _etag_matches(header: str, etag: str) -> bool:
    """``If-None-Match`` uses the weak comparison (RFC 9110): ``W/"x"`` matches ``"x"``."""
    if header.strip() == "*":
        return True
    return etag.removeprefix("W/") in {t.strip().removeprefix("W/") for t in header.split(",")}


def _cache_key(request: Request) -> tuple[Any, ...]:
    """The route's own parameters, in order: unknown parameters cannot grow the cache, and spelling the
    same query in another order finds the same entry."""
    route = request.scope.get("route")
    known = {p.alias for p in route.dependant.query_params} if route is not None else set()
    # Sorted by name only: a stable sort keeps the order of a repeated parameter's values, which matters.
    params = tuple(sorted(((k, v) for k, v in request.query_params.multi_items() if k in known), key=lambda kv: kv[0]))
    return (request.url.path, params)


def _page(items: list[Any], limit: int, offset: int) -> dict[str, Any]:
    return {"total": len(items), "limit": limit, "offset": offset, "items": items[offset : offset + limit]}


def create_app(state: ApiState) -> FastAPI:
    """The API over ``state``. ``catalog serve`` runs it alone; ``catalog up`` mounts it beside its own routes."""
    app = FastAPI(
        title="OpenRouter price catalog",
        version=__version__,
        description=(
            "The full history of OpenRouter's model catalog and per-provider endpoint prices: models, "
            "endpoints, price history, changes, the cheapest endpoint for a workload, and exact costs. "
            "Money is an exact decimal string (USD); times are ISO-8601 UTC."
        ),
        docs_url=None,
        redoc_url=None,
    )
    errors.install(app)
    app.state.catalog = state
    _docs(app)
    _publish_real_responses(app)

    async def respond(request: Request, build: Callable[[], Any]) -> Response:
        """304 for a current ETag; the cached JSON of this route and query; else build it off the event loop."""
        headers = {"ETag": state.etag, "Cache-Control": "no-cache"}
        if state.last_modified:
            headers["Last-Modified"] = state.last_modified
        key = _cache_key(request)
        body = state.lookup(key)
        if body is None:
            # Built (or refused with a 4xx) before any precondition: a 304 only ever stands for a 200.
            body = await run_in_threadpool(state.cached, key, lambda: orjson.dumps(jsonable(build())))
        match = request.headers.get("if-none-match")
        if match is not None and _etag_matches(match, state.etag):
            return Response(status_code=304, headers=headers)
        return Response(body, media_type="application/json", headers=headers)

    @app.get("/v1/models", response_model=schemas.ModelList, responses=ERRORS, tags=["models"])
    async def list_models(
        request: Request,
        q: Annotated[str | None, Query(max_length=200, description="Part of the id or name.")] = None,
        modality: Annotated[str | None, Query(max_length=50, description="An input or output modality.")] = None,
        min_context: Annotated[int | None, Query(ge=0, le=MAX_TOKENS)] = None,
        parameter: Annotated[str | None, Query(max_length=100, description="A supported parameter.")] = None,
        provider: Annotated[str | None, Query(max_length=100, description="Served by this provider.")] = None,
        as_of: AsOf = None,
        limit: Limit = 100,
        offset: Offset = 0,
    ) -> Response:
        """Models listed at ``as_of``, with filters; each with its endpoint count and model-level prices."""

        def build() -> dict[str, Any]:
            at = _instant(as_of, state, "as_of")
            cur = state.cursor()
            frame = queries.models_as_of(cur, at, q)
            if modality:
                frame = frame.filter(
                    pl.col("input_modalities").list.contains(modality)
                    | pl.col("output_modalities").list.contains(modality)
                    | (pl.col("modality") == modality)
                )
            if min_context is not None:
                frame = frame.filter(pl.col("context_length") >= min_context)
            if parameter:
                frame = frame.filter(pl.col("supported_parameters").list.contains(parameter))
            if provider:
                served = {r[0] for r in cur.execute(_SERVED_BY, [at, at, provider, provider, provider]).fetchall()}
                frame = frame.filter(pl.col("model_id").is_in(sorted(served)))
            return {"as_of": at, **_page(frame.to_dicts(), limit, offset)}

        return await respond(request, build)

    @app.get("/v1/models/{author}/{slug}", response_model=schemas.ModelDetail, responses=ERRORS, tags=["models"])
    async def get_model(request: Request, author: str, slug: str, as_of: AsOf = None) -> Response:
        """One model at ``as_of``: its model-level row, every endpoint with exact prices, and every price sheet
        (listed strings, tiers, discount and the undiscounted base)."""

        def build() -> dict[str, Any]:
            model_id = _resolve(state, f"{author}/{slug}")
            at = _instant(as_of, state, "as_of")
            cur = state.cursor()
            model = queries.models_as_of(cur, at).filter(pl.col("model_id") == model_id)
            if model.is_empty():
                raise ApiError(
                    404, "not_listed", f"model {model_id!r} was not listed at {at.isoformat()}", {"model": model_id}
                )
            endpoints = queries.endpoints_as_of(cur, model_id, at)
            sheets = state.catalog().prices(at, model=model_id)
            return {
                "as_of": at,
                "model": model.to_dicts()[0],
                "endpoints": endpoints.to_dicts(),
                "price_sheets": sheets.to_dicts(),
            }

        return await respond(request, build)

    @app.get(
        "/v1/models/{author}/{slug}/history", response_model=schemas.ModelHistory, responses=ERRORS, tags=["models"]
    )
    async def model_history(
        request: Request,
        author: str,
        slug: str,
        start: Annotated[str | None, Query(alias="from", description="Versions in force from this time.")] = None,
        end: Annotated[str | None, Query(alias="to", description="… up to this time (inclusive).")] = None,
    ) -> Response:
        """Every price version of the model and of each of its endpoints overlapping ``[from, to]``."""

        def build() -> dict[str, Any]:
            model_id = _resolve(state, f"{author}/{slug}")
            lo = _instant(start, state, "from", bound="start") if start else None
            hi = _instant(end, state, "to") if end else None
            if lo and hi and lo > hi:
                raise ApiError(400, "bad_parameter", "from is after to; swap them")
            cur = state.cursor()

            def overlapping(frame: pl.DataFrame) -> pl.DataFrame:
                start = pl.col("valid_from").dt.convert_time_zone("UTC")
                stop = pl.col("valid_to").dt.convert_time_zone("UTC")
                if hi is not None:
                    frame = frame.filter(start <= pl.lit(hi).dt.convert_time_zone("UTC"))
                if lo is not None:
                    frame = frame.filter(stop.is_null() | (stop > pl.lit(lo).dt.convert_time_zone("UTC")))
                return frame

            endpoints = overlapping(queries.endpoint_history(cur, model_id))
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
            return {
                "model_id": model_id,
                "from": lo,
                "to": hi,
                "model_versions": overlapping(queries.model_history(cur, model_id)).to_dicts(),
                "endpoints": grouped,
            }

        return await respond(request, build)

    @app.get("/v1/providers", response_model=schemas.ProviderList, responses=ERRORS, tags=["providers"])
    async def list_providers(request: Request, as_of: AsOf = None) -> Response:
        """Providers at ``as_of``: directory facts, data policy, and how many endpoints and models they serve."""

        def build() -> dict[str, Any]:
            at = _instant(as_of, state, "as_of")
            return {"as_of": at, "items": queries.providers_as_of(state.cursor(), at).to_dicts()}

        return await respond(request, build)

    @app.get("/v1/providers/{slug}", response_model=schemas.ProviderDetail, responses=ERRORS, tags=["providers"])
    async def get_provider(request: Request, slug: str, as_of: AsOf = None) -> Response:
        """One provider at ``as_of``: its data policy and every endpoint it serves, with exact prices."""

        def build() -> dict[str, Any]:
            at = _instant(as_of, state, "as_of")
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

        return await respond(request, build)

    @app.get("/v1/changes", response_model=schemas.ChangeList, responses=ERRORS, tags=["history"])
    async def list_changes(
        request: Request,
        since: Annotated[str | None, Query(description="Start (a date: its 00:00 UTC); default 7 days ago.")] = None,
        until: Annotated[str | None, Query(description="End, inclusive; default: the newest snapshot.")] = None,
        kind: Annotated[ChangeKind | None, Query(description="Only this kind of change.")] = None,
        entity: Annotated[Literal["endpoint", "model"] | None, Query(description="Endpoint or model level.")] = None,
        model: Annotated[str | None, Query(max_length=200)] = None,
        provider: Annotated[str | None, Query(max_length=100)] = None,
        limit: Limit = 100,
        offset: Offset = 0,
    ) -> Response:
        """What changed, newest first: endpoints and models added or removed, and each changed field with the
        old and new value (prices exact)."""

        def build() -> dict[str, Any]:
            hi = _instant(until, state, "until")
            lo = _instant(since, state, "since", bound="start") if since else _days_before(hi, 7)
            if lo > hi:
                raise ApiError(400, "bad_parameter", "since is after until; swap them")
            model_id = _resolve(state, model) if model is not None else None
            frame = queries.changes(state.cursor(), lo, hi, entity=entity, kind=kind, model=model_id, provider=provider)
            return {"since": lo, "until": hi, **_page(frame.to_dicts(), limit, offset)}

        return await respond(request, build)

    @app.get("/v1/cheapest", response_model=schemas.Cheapest, responses=ERRORS, tags=["costs"])
    async def cheapest(
        request: Request,
        model: Annotated[str | None, Query(max_length=200, description="A model id; omit to rank every model.")] = None,
        input: Annotated[int, Query(ge=0, le=MAX_TOKENS, description="Input tokens per request.")] = 1000,
        output: Annotated[int, Query(ge=0, le=MAX_TOKENS, description="Output tokens per request.")] = 500,
        cache_hit: Annotated[str, Query(max_length=40, description="Share of input read from cache, 0–1.")] = "0",
        cache_write: Annotated[str, Query(max_length=40, description="Share of input written to cache.")] = "0",
        cache_ttl: Annotated[Literal["5m", "1h"], Query(description="Cache write lifetime: 5m or 1h.")] = "5m",
        reasoning: Annotated[str, Query(max_length=40, description="Share of output that is reasoning.")] = "0",
        requests: Annotated[int, Query(ge=1, le=MAX_TOKENS)] = 1,
        images: Annotated[int, Query(ge=0, le=MAX_TOKENS)] = 0,
        web_searches: Annotated[int, Query(ge=0, le=MAX_TOKENS)] = 0,
        min_context: Annotated[int | None, Query(ge=1, le=MAX_TOKENS)] = None,
        min_max_completion: Annotated[int | None, Query(ge=1, le=MAX_TOKENS)] = None,
        parameter: Annotated[list[str] | None, Query(description="Required parameters (repeat).")] = None,
        quantization: Annotated[list[str] | None, Query(description="Allowed quantizations (repeat).")] = None,
        provider: Annotated[list[str] | None, Query(description="Only these providers (repeat).")] = None,
        exclude_provider: Annotated[list[str] | None, Query(description="Never these providers.")] = None,
        no_training: bool = False,
        no_prompt_retention: bool = False,
        any_status: bool = False,
        exclude_free: bool = False,
        min_uptime: Annotated[float | None, Query(ge=0, le=100)] = None,
        fallbacks: Annotated[int, Query(ge=0, le=20)] = 2,
        as_of: AsOf = None,
    ) -> Response:
        """Rank endpoints by what the workload costs (per request, exact, and per M tokens), with why, and the
        OpenRouter ``provider`` routing object that pins the choice. The same answer as ``catalog cheapest``."""

        def build() -> dict[str, Any]:
            profile = WorkloadProfile(
                input_tokens=input,
                output_tokens=output,
                cache_hit=_decimal(cache_hit, "cache_hit"),
                cache_write=_decimal(cache_write, "cache_write"),
                cache_ttl=cache_ttl,
                reasoning=_decimal(reasoning, "reasoning"),
                requests=requests,
                images=images,
                web_searches=web_searches,
            )
            filters = EndpointFilters(
                min_context=min_context,
                min_max_completion=min_max_completion,
                parameters=tuple(parameter or ()),
                quantizations=tuple(quantization or ()),
                providers=tuple(provider or ()),
                exclude_providers=tuple(exclude_provider or ()),
                no_training=no_training,
                no_prompt_retention=no_prompt_retention,
                status_ok=not any_status,
                min_uptime=min_uptime,
                exclude_free=exclude_free,
            )
            at = _instant(as_of, state, "as_of")
            model_id = _resolve(state, model) if model is not None else None
            if state.table is None:
                raise ApiError(503, "no_data", "the history holds no prices yet")
            ranking = rank_endpoints(
                state.candidates(at, model_id),
                state.table,
                profile,
                filters,
                at=at,
                model=model_id,
                fallbacks=fallbacks,
            )
            return ranking.to_dict()

        return await respond(request, build)

    @app.post(
        "/v1/cost",
        response_model=schemas.CostResult,
        responses={**ERRORS, 413: {"model": schemas.ErrorResponse, "description": "body too large"}},
        tags=["costs"],
        openapi_extra={
            "requestBody": {
                "required": True,
                "description": (
                    f"A JSON list (at most {MAX_COST_ROWS:,} items, {MAX_COST_BYTES:,} bytes) of usage rows "
                    "(model, provider, timestamp, prompt_tokens, completion_tokens, cache_read_tokens, "
                    "reasoning_tokens, …) and/or raw OpenRouter response bodies (with `usage`)."
                ),
                "content": {"application/json": {"schema": {"type": "array", "maxItems": MAX_COST_ROWS, "items": {}}}},
            }
        },
    )
    async def cost(
        request: Request,
        at: Annotated[str | None, Query(description="Time for rows without one (default: now).")] = None,
    ) -> Response:
        """Price usage rows or raw response bodies at the prices in force at each row's time: a per-row
        breakdown (exact) and totals. Bad rows get a status and a reason; they never fail the request."""
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > MAX_COST_BYTES:
            raise ApiError(413, "too_large", f"the body is {declared} bytes; send at most {MAX_COST_BYTES:,}")
        raw = bytearray()
        async for chunk in request.stream():
            raw += chunk
            if len(raw) > MAX_COST_BYTES:
                raise ApiError(413, "too_large", f"the body is over {MAX_COST_BYTES:,} bytes; split it")
        return await run_in_threadpool(_cost, bytes(raw), at)

    def _cost(raw: bytes, at: str | None) -> Response:
        """Parse and price off the event loop: a 10,000-row body takes long enough to stall other requests."""
        try:
            items = json.loads(raw, parse_float=Decimal)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ApiError(400, "bad_body", f"the body is not JSON: {exc}") from None
        except RecursionError:
            raise ApiError(400, "bad_body", "the body nests too deeply; send a flat list of objects") from None
        except (ValueError, ArithmeticError) as exc:  # a number of thousands of digits
            raise ApiError(400, "bad_body", f"the body holds a number that cannot be read: {exc}") from None
        try:  # an escaped lone surrogate parses, but is not text anything downstream can store
            json.dumps(items, default=str, ensure_ascii=False).encode("utf-8")
        except UnicodeError:
            raise ApiError(400, "bad_body", "the body holds a lone surrogate, which is not valid Unicode") from None
        if not isinstance(items, list):
            raise ApiError(400, "bad_body", "send a JSON list of usage rows or response bodies")
        if len(items) > MAX_COST_ROWS:
            raise ApiError(413, "too_large", f"{len(items):,} items; send at most {MAX_COST_ROWS:,} per request")
        if state.table is None:
            raise ApiError(503, "no_data", "the history holds no prices yet")
        when = parse_instant(at, what="at") if at else None
        rows, problems = usage_from_items(items, "body")
        priced = cost_usage(usage_frame(rows), state.table, at=when)
        body = {"rows": priced.to_dicts(), "totals": batch_totals(priced).to_dict(), "problems": problems}
        return Response(orjson.dumps(jsonable(body)), media_type="application/json")

    @app.get("/v1/snapshots", response_model=schemas.SnapshotList, responses=ERRORS, tags=["history"])
    async def list_snapshots(request: Request, limit: Limit = 100, offset: Offset = 0) -> Response:
        """Every snapshot, newest first: when, from where, status, counts, versions opened and closed, errors."""

        def build() -> dict[str, Any]:
            frame = queries.snapshots(state.cursor()).reverse()
            return _page(frame.to_dicts(), limit, offset)

        return await respond(request, build)

    @app.get("/health", response_model=schemas.Health, tags=["service"])
    async def health(request: Request) -> Response:
        """What the history holds and its data version (``catalog up`` answers this with its jobs too)."""

        def build() -> dict[str, Any]:
            return {"status": "ok", "data_version": state.etag, "snapshots": snapshot_counts(state.cursor())}

        return await respond(request, build)

    return app


_SERVED_BY = """
    SELECT DISTINCT model_id FROM endpoint_versions
    WHERE valid_from <= ? AND (valid_to IS NULL OR valid_to > ?)
      AND (provider_slug = ? OR tag = ? OR lower(provider_name) = lower(?))
"""


def _publish_real_responses(app: FastAPI) -> None:
    """The document says what the API sends: bad parameters are 400 ``ErrorResponse`` (FastAPI would list a
    422 that never happens), and every GET can answer 304 to a current ``If-None-Match``."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        document = build()
        for path in document.get("paths", {}).values():
            for method, operation in path.items():
                responses = operation.get("responses", {})
                responses.pop("422", None)
                if method == "get" and "200" in responses:
                    responses["304"] = {"description": "not modified: the If-None-Match ETag is current"}
        schemas_ = document.get("components", {}).get("schemas", {})
        schemas_.pop("HTTPValidationError", None)
        schemas_.pop("ValidationError", None)
        app.openapi_schema = document
        return document

    app.openapi = openapi  # type: ignore[method-assign]


def _docs(app: FastAPI) -> None:
    import swagger_ui_bundle

    app.mount("/docs/assets", StaticFiles(directory=swagger_ui_bundle.swagger_ui_path), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title="OpenRouter price catalog API",
            swagger_js_url="/docs/assets/swagger-ui-bundle.js",
            swagger_css_url="/docs/assets/swagger-ui.css",
            swagger_favicon_url="/docs/assets/favicon-32x32.png",
        )
