"""The read-only query API over the history, versioned under ``/v1``, with its OpenAPI document at
``/openapi.json`` and docs at ``/docs`` (served from the installed package: they work offline).

Every answer carries ``ETag`` / ``Last-Modified`` of the data version (the newest snapshot); a request with a
matching ``If-None-Match`` gets ``304`` once its answer is known to be a 200 (cached, or just built): an error
is never a 304. Read answers are served from memory (``catalog.api.state``): a DuckDB query runs only the first
time a route and query is asked of a data version. The routes live in ``catalog.api.routes``, one router per
area, and reach the state through a dependency (``catalog.api.deps.State``); the SQL they need is the store's.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote_to_bytes

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from catalog import __version__
from catalog.api import errors
from catalog.api.routes import ROUTERS
from catalog.api.state import ApiState


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
    for router in ROUTERS:
        app.include_router(router)
    app.add_middleware(HeadAsGet)
    app.add_middleware(Utf8Query)
    return app


class Utf8Query:
    """A query string whose percent-escapes are not UTF-8 is refused (400) before any route reads it: Starlette
    would decode ``%FF`` to U+FFFD and answer for a value nobody sent. The command line refuses the same bytes."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        query: bytes = scope.get("query_string", b"") if scope["type"] == "http" else b""
        for pair in query.split(b"&") if b"%" in query else ():
            name, _, value = (unquote_to_bytes(part.replace(b"+", b" ")) for part in pair.partition(b"="))
            try:
                name.decode("utf-8")
                value.decode("utf-8")
            except UnicodeDecodeError:
                shown = name.decode("utf-8", "replace")[:40]
                message = f"{shown}: the value is not valid UTF-8; percent-encode UTF-8 text"
                await errors.error_response(400, "bad_parameter", message)(scope, receive, send)
                return
        await self.app(scope, receive, send)


class HeadAsGet:
    """``HEAD`` answered as its ``GET`` with the body left out (RFC 9110 §9.3.2), so monitors that probe with HEAD
    see the status and headers a GET would get: FastAPI routes declared for GET otherwise answer it 405."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return

        async def headers_only(message: Message) -> None:
            if message["type"] == "http.response.body":
                if message.get("more_body", False):
                    return  # the GET's body parts are not sent; the last (empty) one ends the response
                message = {"type": "http.response.body", "body": b"", "more_body": False}
            await send(message)

        await self.app({**scope, "method": "GET"}, receive, headers_only)


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
