"""Every answer of ``catalog up``'s app carries security headers: its own routes (``/health``, ``/service``,
``/jobs/*``, the JSON index, its 404s and 405s) the API's policy, the API its own, the site pages theirs. The routes
are enumerated from the app itself, so a route added later is covered without touching this test. In-process over
an empty history and a hand-made site: no sweep, no server."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from starlette.routing import BaseRoute, Mount, Route
from starlette.testclient import TestClient

from catalog.api import ApiState, create_app
from catalog.store.db import connect
from catalog.website.build import MARKER
from jobs.app import build_app
from jobs.config import load_config
from jobs.context import JobContext
from jobs.scheduler import build_scheduler
from jobs.sources import make_source

TOKEN = "not-the-real-token"


def _site(root: Path) -> Path:
    (root / "models").mkdir(parents=True)
    (root / MARKER).write_text("built by `catalog site build`\n")
    (root / "index.html").write_text("<!doctype html><title>home</title>", encoding="utf-8")
    (root / "models" / "a.html").write_text("<!doctype html><title>a</title>", encoding="utf-8")
    return root


@pytest.fixture(params=["with a site", "before the first build", "no site"])
def service(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[TestClient, list[BaseRoute], str]]:
    db = tmp_path / "h.duckdb"
    con = connect(db)
    ctx = JobContext(con=con, db=db, config=load_config(None, source="replay"), source=make_source("replay"))
    ctx.reader = con.cursor()
    site = {"with a site": _site(tmp_path / "site"), "before the first build": tmp_path / "nothing", "no site": None}[
        request.param
    ]
    api = create_app(ApiState(con.cursor(), db))
    app = build_app(
        ctx,
        build_scheduler(ctx),
        url="http://127.0.0.1:1",
        started_at=datetime.now(UTC),
        token=TOKEN,
        api=api,
        site=site,
    )
    try:
        with TestClient(app, raise_server_exceptions=False) as client:
            # The API's routers are listed in its OpenAPI document (FastAPI keeps included routers as objects of
            # its own in ``api.routes``); the routes it leaves out of the document (/docs, its assets) are plain.
            documented = [
                Route(path, _nothing, methods=[method.upper() for method in operations])
                for path, operations in api.openapi()["paths"].items()
            ]
            yield client, [*app.routes, *api.routes, *documented], request.param
    finally:
        con.close()


def _nothing(_request: Any) -> None:
    raise AssertionError("only the route's path and methods are used")


def _requests(routes: list[BaseRoute]) -> Iterator[tuple[str, str]]:
    """(method, path) for every route of the app and of the API it mounts, path parameters filled with a name
    no route knows (an answer is an answer: a 404 must carry the headers as much as a 200)."""
    for route in routes:
        if isinstance(route, Route):
            path = re.sub(r"\{[^}]+\}", "no-such-thing", route.path)
            for method in sorted((route.methods or {"GET"}) - {"HEAD"}):
                yield method, path
        elif isinstance(route, Mount) and route.path:  # the API's static docs assets; "/" mounts are the rest
            yield "GET", f"{route.path}/no-such-file.js"


def _assert_secured(answer: Any, what: str) -> None:
    policy = answer.headers.get("content-security-policy", "")
    assert "frame-ancestors 'none'" in policy, what
    assert answer.headers.get("x-content-type-options") == "nosniff", what
    assert answer.headers.get("referrer-policy") == "no-referrer", what
    assert answer.headers.get_list("content-security-policy") == [policy], f"{what}: one policy, not two"


def test_every_route_of_catalog_up_answers_with_the_security_headers(
    service: tuple[TestClient, list[BaseRoute], str],
) -> None:
    client, routes, kind = service
    seen = set()
    for method, path in _requests(routes):
        answer = client.request(method, path)
        assert answer.status_code != 500, (method, path, answer.text)  # 503 "no snapshot yet" is an answer
        _assert_secured(answer, f"{method} {path} -> {answer.status_code}")
        seen.add(path)
    # The service's own routes were all among them (the enumeration did not come up empty).
    assert {"/health", "/service", "/jobs/runs", "/jobs/no-such-thing/run", "/v1/models", "/docs"} <= seen, seen
    # And what no route names: a site page or the JSON index, a path nothing serves, a method nothing allows.
    for method, path in [("GET", "/"), ("GET", "/models/a.html"), ("GET", "/nowhere"), ("DELETE", "/health")]:
        answer = client.request(method, path)
        _assert_secured(answer, f"{method} {path} -> {answer.status_code} ({kind})")
        if kind == "with a site" and path.endswith(("/", ".html")):
            assert answer.status_code == 200 and "style-src 'self'" in answer.headers["content-security-policy"]


def test_the_service_s_json_answers_get_the_api_s_policy_and_a_job_run_without_the_token_is_refused(
    service: tuple[TestClient, list[BaseRoute], str],
) -> None:
    client, _routes, _kind = service
    for path in ("/service", "/jobs/runs"):
        answer = client.get(path)
        assert answer.status_code == 200 and answer.headers["content-security-policy"].startswith("default-src 'none'")
    refused = client.post("/jobs/snapshot_catalog/run")
    assert refused.status_code == 403 and "default-src 'none'" in refused.headers["content-security-policy"]


def test_even_a_500_from_the_outermost_error_handler_carries_them(
    service: tuple[TestClient, list[BaseRoute], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_args: Any, **_kwargs: Any) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr("jobs.app.health_report", broken)
    client, _routes, _kind = service
    answer = client.get("/health")
    assert answer.status_code == 500 and answer.json()["error"]["code"] == "internal_error"
    _assert_secured(answer, "a 500")
