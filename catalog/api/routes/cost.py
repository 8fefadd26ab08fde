"""Exact costs of a batch: usage rows or raw response bodies, priced at the prices in force at each row's time."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect
from starlette.responses import Response

from catalog import json_input
from catalog.api import schemas
from catalog.api.deps import ERRORS, State, age_headers
from catalog.api.errors import ApiError
from catalog.api.state import View
from catalog.cost.bodies import read_items
from catalog.cost.engine import cost_usage
from catalog.cost.reconcile import billed_summary, compare_billed, has_billed
from catalog.cost.shapes import BY_NAME, check_shape, parse_maps
from catalog.cost.totals import batch_totals, linear_totals
from catalog.cost.unit_usage import needs_units, price_units
from catalog.cost.usage import usage_frame
from catalog.exact_json import jsonable
from catalog.times import parse_instant

MAX_COST_BYTES = 1_000_000
MAX_COST_ROWS = 10_000
router = APIRouter(tags=["costs"])


@router.post(
    "/v1/cost",
    response_model=schemas.CostResult,
    responses={**ERRORS, 413: {"model": schemas.ErrorResponse, "description": "body too large"}},
    openapi_extra={
        "requestBody": {
            "required": True,
            "description": (
                f"A JSON list (at most {MAX_COST_ROWS:,} items, {MAX_COST_BYTES:,} bytes) of usage rows "
                "and/or raw response bodies (with `usage`). Rows may use the engine's names (model, provider, "
                "timestamp, prompt_tokens, completion_tokens, cache_read_tokens, reasoning_tokens, …) or any "
                f"shape `catalog cost` reads ({', '.join(BY_NAME)}), nested objects or flattened as `a.b`; "
                "`shape` in the answer says which was read."
            ),
            "content": {"application/json": {"schema": {"type": "array", "maxItems": MAX_COST_ROWS, "items": {}}}},
        }
    },
)
async def cost(
    request: Request,
    state: State,
    at: Annotated[str | None, Query(description="Time for rows without one (default: now).")] = None,
    shape: Annotated[
        str | None,
        Query(alias="format", description=f"Read the rows as this shape, not detected: {', '.join(BY_NAME)}."),
    ] = None,
    maps: Annotated[
        list[str] | None,
        Query(alias="map", description="COLUMN=FIELD: read COLUMN as the usage field FIELD (repeatable)."),
    ] = None,
    ignore_column: Annotated[
        list[str] | None, Query(description="A count-looking column to leave out (repeatable).")
    ] = None,
) -> Response:
    """Price usage rows or raw response bodies at the prices in force at each row's time: a per-row
    breakdown (exact) and totals. Bad rows get a status and a reason; they never fail the request."""
    # The options' own syntax first: a typo is answered before a megabyte is read.
    options = {"forced": check_shape(shape), "maps": parse_maps(maps or []), "ignore": ignore_column or []}
    declared = request.headers.get("content-length")
    if declared is not None and declared.isascii() and declared.isdigit() and int(declared) > MAX_COST_BYTES:
        raise ApiError(413, "too_large", f"the body is {declared} bytes; send at most {MAX_COST_BYTES:,}")
    raw = bytearray()
    try:
        async for chunk in request.stream():
            raw += chunk
            if len(raw) > MAX_COST_BYTES:
                raise ApiError(413, "too_large", f"the body is over {MAX_COST_BYTES:,} bytes; split it")
    except ClientDisconnect:  # the caller went away mid-upload: nothing to answer, nothing to log
        raise ApiError(400, "bad_body", "the connection closed before the body ended; send it whole") from None
    return await run_in_threadpool(_cost, state, bytes(raw), at, options)


def _cost(state: View, raw: bytes, at: str | None, options: dict[str, Any]) -> Response:
    """Parse and price off the event loop: a 10,000-row body takes long enough to stall other requests."""
    try:
        items = json_input.loads(raw)
    except json.JSONDecodeError as exc:  # also deep nesting, huge integers, NaN and bad UTF-8 (json_input)
        raise ApiError(400, "bad_body", f"the body is not JSON: {exc}") from None
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
    # One instant for the rows without a time, in both the rows and the totals ("" is a bad time, not "now").
    when = parse_instant(at, what="at") if at is not None else datetime.now(UTC)
    rows, problems, report = read_items([(f"body[{i}]", item) for i, item in enumerate(items)], **options)
    usage = usage_frame(rows)
    units = state.unit_skus()
    priced = price_units(cost_usage(usage, state.table, at=when), state.table, units)
    # The totals by linearity (the same exact figures as summing the rows; tests/test_cost_totals.py); rows of
    # other kinds of model, priced in their units per row, are summed from the rows.
    if needs_units(usage, units):
        totals = batch_totals(priced).to_dict()
    else:
        totals = linear_totals(usage, state.table, at=when).to_dict()
    if has_billed(priced):
        priced = compare_billed(priced)
        totals["billed"] = billed_summary(priced, []).row(0, named=True)
    shape = report.to_dict() if report is not None else None
    body = {"rows": priced.to_dicts(), "totals": totals, "problems": problems, "shape": shape}
    return Response(orjson.dumps(jsonable(body)), media_type="application/json", headers=age_headers(state))
