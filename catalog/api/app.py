"""The read-only query API over the history, versioned under ``/v1``, with its OpenAPI document at
``/openapi.json`` and docs at ``/docs`` (served from the installed package: they work offline).

Every answer carries ``ETag`` / ``Last-Modified`` of the data version (the newest snapshot); a request with a
matching ``If-None-Match`` gets ``304`` once its answer is known to be a 200 (cached, or just built): an error
is never a 304. Read answers are served from memory (``catalog.api.state``): a DuckDB query runs only the first
time a route and query is asked of a data version. The routes live in ``catalog.api.routes``, one router per
area, and reach the state through a dependency (``catalog.api.deps.State``); the SQL they need is the store's.
"""

from __future__ import annotations

import contextlib
import gc
import html
import inspect
import re
import sys
from pathlib import Path
from typing import Any
from urllib.parse import unquote_to_bytes

from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from catalog import __version__
from catalog.api import errors
from catalog.api.routes import ROUTERS, cheapest
from catalog.api.state import ApiState


def create_app(state: ApiState) -> FastAPI:
    """The API over ``state``. ``catalog serve`` runs it alone; ``catalog up`` mounts it beside its own routes."""
    app = CatalogApi(
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
    app.add_middleware(SecurityHeaders)
    _prepare_routes(app)
    return app


def _prepare_routes(app: FastAPI) -> None:
    """Have the framework build every route's handling now, not at the first request that reaches it.

    FastAPI makes an included router's routes ready (each one's parameters and their validators) when a request
    first matches against it: ~20 ms, more on a loaded machine, added to that one request — a user's, while the
    service answers. Matching a path of each route once here (nothing is called) does that work before serving.
    Its first answer of a route also reads the handler's source lines (where an error points): the first such read
    in a process compiles the tokenizer's patterns (~50 ms) and each reads its module's file; done here too."""
    for router in ROUTERS:
        for route in router.routes:
            endpoint = getattr(route, "endpoint", None)
            if endpoint is not None:
                with contextlib.suppress(OSError, TypeError):  # no source to read: the framework has none either
                    inspect.getsourcelines(endpoint)
            path = re.sub(r"\{[^}]*\}", "-", getattr(route, "path", "/"))
            scope: dict[str, Any] = {"type": "http", "method": "GET", "path": path, "root_path": "", "headers": []}
            for candidate in app.router.routes:
                candidate.matches(scope)


DOCS_ASSETS = Path(__file__).with_name("docs_assets")
OPENAPI_URL = "/openapi.json"
# The site's policy (catalog.website.build), but the docs page fetches the document and "Try it out" calls the
# API: connect-src is this origin instead of none. No inline script or style anywhere; no framing.
DOCS_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
# JSON answers are never a document to render: nothing may load from them, and nothing may frame them.
API_POLICY = "default-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"


class SecurityHeaders:
    """The headers the site's pages get, on every answer of the API: a Content-Security-Policy (the docs page's
    lets it run its own scripts and call this origin; everything else allows nothing), ``nosniff`` (a browser
    takes a JSON answer or a script for what its content type says) and no referrer."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        docs = path == "/docs" or path.startswith("/docs/")
        await self.app(scope, receive, secured(send, DOCS_HEADERS if docs else API_HEADERS))


def _security_headers(policy: str) -> list[tuple[bytes, bytes]]:
    return [
        (b"content-security-policy", policy.encode()),
        (b"x-content-type-options", b"nosniff"),
        (b"referrer-policy", b"no-referrer"),
    ]


DOCS_HEADERS = _security_headers(DOCS_POLICY)
API_HEADERS = _security_headers(API_POLICY)
FAST_EXTRA = tuple(API_HEADERS)  # what ``SecurityHeaders`` adds, for the fast path that runs before it


def secured(send: Send, extra: list[tuple[bytes, bytes]], *, unless_set: bool = False) -> Send:
    """``send`` with ``extra`` headers added to the response start (the fast path gets them as the router does).

    With ``unless_set``, a header the answer already has is left as it is: an outer app (``catalog up``) gives
    every answer these by default while the API and the site pages it serves keep their own policy."""

    async def with_headers(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = list(message.get("headers", []))
            if unless_set:
                present = {name.lower() for name, _value in headers}
                headers += [(name, value) for name, value in extra if name not in present]
            else:
                headers += extra
            message["headers"] = headers
        await send(message)

    return with_headers


# How long a thread may hold the interpreter lock while another waits for it (Python's default: 5 ms). A
# serving process's threads that wait on I/O (a request reading DuckDB or its socket, a sweep storing, a
# refresh's queries) give the lock up at every call and then wait up to this long to get it back from a thread
# that computes (a refresh building the next state, requests ranking): at 5 ms a sweep's store of ~80 ms idle
# took over a second under load. A shorter interval costs the computing threads a few more switches a second.
SWITCH_INTERVAL = 0.0005


def serving_interpreter() -> None:
    """Tune this process's interpreter for serving (``catalog serve``, ``catalog up``): the switch interval."""
    sys.setswitchinterval(SWITCH_INTERVAL)


def settle_heap() -> None:
    """Put everything alive now (the data state just loaded) out of the garbage collector's reach.

    A full collection traverses every container it tracks; with a state loaded that is the price table's and the
    mirror's lists (millions of references), a pause of hundreds of milliseconds for every request in flight
    whenever enough objects outlive their request. Frozen (``gc.freeze``), the state is no longer traversed and a
    collection scans only what requests made since: well under a millisecond. Called once the state is loaded
    and after each refresh publishes a new one; unfreezing and collecting first frees what an old state left in
    reference cycles (one full pause per refresh, not one every few thousand requests)."""
    gc.unfreeze()
    gc.collect()
    gc.freeze()


class CatalogApi(FastAPI):
    """The API app: a plain ``GET /v1/cheapest`` is answered before the middleware and the router
    (``catalog.api.routes.cheapest.fast_answer``: the same answer, a fraction of the time per request), every
    other request as FastAPI answers it."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["path"] == "/v1/cheapest"
            and scope["method"] == "GET"
            and not scope.get("root_path")
            and not_utf8(scope.get("query_string", b"")) is None  # else the middleware's 400
            and await cheapest.fast_answer(self.state.catalog, scope, send, FAST_EXTRA)
        ):
            return
        await super().__call__(scope, receive, send)

    def answer_now(
        self, path: bytes, query: bytes, headers: list[tuple[bytes, bytes]]
    ) -> tuple[int, list[tuple[bytes, bytes]], bytes] | None:
        """The served protocol's shortcut (``catalog.asgi_server``): a plain ``GET`` of ``path`` answered as
        soon as its headers are in, without a task, a scope or ASGI messages; None leaves it to the app. Only
        what ``__call__`` answers before the middleware: ``/v1/cheapest`` (``fast_response``), the same bytes."""
        if path != b"/v1/cheapest" or not_utf8(query) is not None:
            return None
        return cheapest.fast_response(self.state.catalog, query, headers, FAST_EXTRA)


class Utf8Query:
    """A query string whose percent-escapes are not UTF-8 is refused (400) before any route reads it: Starlette
    would decode ``%FF`` to U+FFFD and answer for a value nobody sent. The command line refuses the same bytes."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        query: bytes = scope.get("query_string", b"") if scope["type"] == "http" else b""
        message = not_utf8(query)
        if message is not None:
            await errors.error_response(400, "bad_parameter", message)(scope, receive, send)
            return
        await self.app(scope, receive, send)


def not_utf8(query: bytes) -> str | None:
    """The one-line reason a query string's percent-escapes are not UTF-8, or None when they are."""
    for pair in query.split(b"&") if b"%" in query else ():
        name, _, value = (unquote_to_bytes(part.replace(b"+", b" ")) for part in pair.partition(b"="))
        try:
            name.decode("utf-8")
            value.decode("utf-8")
        except UnicodeDecodeError:
            shown = name.decode("utf-8", "replace")[:40]
            return f"{shown}: the value is not valid UTF-8; percent-encode UTF-8 text"
    return None


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
    """``/docs``: Swagger UI 5 (renders OpenAPI 3.1) from the package's own copy, so it works offline; its start
    script is a file, not inline, so the page keeps a strict policy (see ``docs_assets/README.md``)."""
    app.mount("/docs/assets", StaticFiles(directory=DOCS_ASSETS), name="docs-assets")
    page = f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>OpenRouter price catalog API</title>
<link rel="stylesheet" href="/docs/assets/swagger-ui.css">
<link rel="icon" type="image/png" href="/docs/assets/favicon-32x32.png">
</head>
<body data-openapi="{html.escape(OPENAPI_URL)}">
<div id="swagger-ui"></div>
<script src="/docs/assets/swagger-ui-bundle.js"></script>
<script src="/docs/assets/docs-init.js"></script>
</body>
</html>
"""

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return HTMLResponse(page)
