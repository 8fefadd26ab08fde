"""The service's own HTTP routes: ``/health``, the run log, and asking for a job run now.

Errors have one JSON shape, ``{"error": {"code", "message", "detail"}}``. ``POST /jobs/{name}/run`` needs the
token from the service file (readable only by the service's user), so only the owner of the database can
start a sweep through it.
"""

from __future__ import annotations

import hmac
import json
from datetime import datetime
from pathlib import Path
from typing import Any

from apscheduler.schedulers.base import BaseScheduler
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from catalog.api.app import API_HEADERS, secured
from catalog.exact_json import jsonable
from catalog.store import runlog
from catalog.website.build import CONTENT_SECURITY_POLICY
from jobs.context import JobContext
from jobs.health import health_report, service_facts
from jobs.registry import JOBS
from jobs.scheduler import next_runs, run_soon
from jobs.site_files import SiteFiles


def error(status: int, code: str, message: str, detail: Any = None) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message, "detail": detail}}, status_code=status)


API_PREFIXES = ("/v1/", "/docs", "/openapi.json")
STRICT = {"": False, "0": False, "false": False, "no": False, "1": True, "true": True, "yes": True}
# The pages carry their policy in a <meta> tag too (for any static host); a header can also forbid framing.
SITE_HEADERS = [
    (b"content-security-policy", f"{CONTENT_SECURITY_POLICY}; frame-ancestors 'none'".encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
]


def site_or_api(site: Path, api: ASGIApp | None, before_site: ASGIApp) -> ASGIApp:
    """The query API for its paths, the latest static site build for everything else.

    The site folder is looked up on every request, so a rebuild (swapped in whole) is served at once. Before
    the first build, ``/`` is ``before_site`` (the service's JSON index) and every other site path a 404.
    """
    # Pages are text with much repetition (the index embeds every price): each build writes a .gz of each, served
    # with ETags from its content hash; downloads that are already compact binary (Parquet, DuckDB) go as they are.
    files = SiteFiles(site)

    async def with_headers(scope: Scope, receive: Receive, send: Send) -> None:
        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *SITE_HEADERS]
            await send(message)

        await files(scope, receive, send_with_headers)

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if api is not None and (path.startswith(API_PREFIXES) or scope["type"] != "http"):
            await api(scope, receive, send)
        elif scope.get("method") not in ("GET", "HEAD"):
            await error(405, "method_not_allowed", f"{scope.get('method')} is not allowed on {path}")(
                scope, receive, send
            )
        elif path == "/" and not (site / "index.html").is_file():
            await before_site(scope, receive, send)
        elif not site.is_dir():
            await error(404, "not_found", f"no site has been built yet at {path}; it builds after the first sweep")(
                scope, receive, send
            )
        else:
            await with_headers(scope, receive, send)

    return app


class ServiceApp(Starlette):
    """``catalog up``'s app: every answer that has no policy of its own (``/health``, ``/service``, ``/jobs/*``,
    the JSON index, a 404 or 405, even a 500 from the outermost error handler) gets the API's security headers;
    the API's answers and the site pages keep the ones they set (the site's allows its scripts and styles)."""

    api: ASGIApp | None = None  # the query API mounted under it (``build_app``)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            send = secured(send, API_HEADERS, unless_set=True)
        await super().__call__(scope, receive, send)

    def answer_now(
        self, path: bytes, query: bytes, headers: list[tuple[bytes, bytes]]
    ) -> tuple[int, list[tuple[bytes, bytes]], bytes] | None:
        """The served protocol's shortcut (``catalog.asgi_server``), as ``catalog serve`` has it: the mounted API's
        own (``CatalogApi.answer_now``), which takes only its ``/v1/`` paths. No route of this app comes before the
        API's on those paths, and the API's answers carry every header this app would add, so the bytes are the
        ones the app would send."""
        answer_now = getattr(self.api, "answer_now", None)
        if answer_now is None or not path.startswith(b"/v1/"):
            return None
        found: tuple[int, list[tuple[bytes, bytes]], bytes] | None = answer_now(path, query, headers)
        return found


def build_app(
    ctx: JobContext,
    scheduler: BaseScheduler,
    *,
    url: str,
    started_at: datetime,
    token: str,
    api: ASGIApp | None = None,
    site: Path | None = None,
) -> Starlette:
    """The service's routes; ``api`` (the query API) and the static ``site`` are served under them, so
    ``/health`` is the service's. ``/`` is the site's index once built, else the JSON below (also ``/service``)."""

    def index(_request: Request) -> JSONResponse:
        return JSONResponse(
            {
                "service": "catalog",
                "db": ctx.db.name,  # the file, not where it lives: anyone who reaches the port reads this
                "source": ctx.source.name,
                "links": {
                    **({"site": f"{url}/"} if site is not None else {}),
                    "health": f"{url}/health",
                    "job_runs": f"{url}/jobs/runs",
                    **({"api_docs": f"{url}/docs", "openapi": f"{url}/openapi.json"} if api is not None else {}),
                },
            }
        )

    def health(request: Request) -> JSONResponse:
        raw_strict = request.query_params.get("strict", "").lower()
        if raw_strict not in STRICT:  # a typo must not quietly turn the monitor's check off
            return error(400, "bad_parameter", f"strict={raw_strict[:40]!r}: send true or false")
        strict = STRICT[raw_strict]
        with ctx.reading() as cur:
            report = health_report(
                cur,
                ctx.config,
                db=ctx.db,
                service=service_facts(url=url, source=ctx.source.name, started_at=started_at),
                next_runs=next_runs(scheduler),
                started_at=started_at,
            )
        report["db"] = ctx.db.name  # over HTTP the file is named, not located (``catalog status`` shows the path)
        return JSONResponse(report, status_code=503 if strict and report["status"] != "ok" else 200)

    def runs(request: Request) -> JSONResponse:
        job = request.query_params.get("job")
        if job is not None and job not in JOBS:
            return error(404, "unknown_job", f"no job named {job!r}", {"jobs": list(JOBS)})
        raw_limit = request.query_params.get("limit", "50")
        # ASCII digits ("²" and "١" pass isdigit), and few of them (int() refuses 4,301)
        if (
            not (raw_limit.isascii() and raw_limit.isdigit() and len(raw_limit) <= 6)
            or not 1 <= int(raw_limit) <= 10_000
        ):
            return error(400, "bad_parameter", f"limit={raw_limit[:40]!r} must be a whole number from 1 to 10000")
        with ctx.reading() as cur:
            rows = runlog.run_history(cur, job=job, limit=int(raw_limit)).to_dicts()
        for row in rows:
            row["detail"] = json.loads(row["detail"]) if row["detail"] else None
        return JSONResponse(jsonable(rows))

    def run_now(request: Request) -> JSONResponse:
        name = request.path_params["name"]
        given = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
        if not hmac.compare_digest(given.encode(), token.encode()):
            return error(
                403, "forbidden", "a job run needs the token from the service file (catalog jobs run NAME sends it)"
            )
        if name not in JOBS:
            return error(404, "unknown_job", f"no job named {name!r}", {"jobs": list(JOBS)})
        with ctx.reading() as cur:
            busy = name in runlog.running_jobs(cur)
        if busy:
            return error(409, "job_running", f"job {name} is running now; see /jobs/runs?job={name}")
        requested = run_soon(scheduler, ctx, name)
        return JSONResponse({"job": name, "requested_at": jsonable(requested)}, status_code=202)

    async def http_error(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, HTTPException)
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return error(exc.status_code, code, str(exc.detail))

    async def server_error(_request: Request, exc: Exception) -> JSONResponse:
        return error(500, "internal_error", "the service failed to answer; see its log", type(exc).__name__)

    service = ServiceApp(
        routes=[
            *([Route("/", index)] if site is None else []),
            Route("/service", index),
            Route("/health", health),
            Route("/jobs/runs", runs),
            Route("/jobs/{name}/run", run_now, methods=["POST"]),
            *([Mount("/", app=site_or_api(site, api, Route("/", index)))] if site is not None else []),
            *([Mount("/", app=api)] if api is not None and site is None else []),
        ],
        exception_handlers={HTTPException: http_error, Exception: server_error},
    )
    service.api = api
    return service
