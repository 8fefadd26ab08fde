"""The query API in-process, against the 20 recorded days.

* Contract: every operation of the app's own ``/openapi.json`` has good requests in ``GOOD`` and bad ones in
  ``BAD`` (a new route without both fails the suite); each answer validates against the schema published
  for that operation and status.
* One JSON error shape (``{"error": {"code", "message", "detail"}}``) for every bad request, never a 500.
* ``ETag`` / ``Last-Modified`` on every GET answer, and 304s.
* ``GET /v1/cheapest`` is exactly ``catalog cheapest --json``; ``POST /v1/cost`` prices mixed input exactly.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from decimal import Decimal
from email.utils import format_datetime
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from fastapi.testclient import TestClient
from helpers import run_cli
from httpx import Response
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from catalog.api import ApiState, create_app
from catalog.api.routes import ROUTERS
from catalog.exact_json import jsonable
from catalog.library import Catalog
from catalog.store import snapshots
from catalog.store.db import connect
from catalog.times import parse_instant, use_clock

MODEL = "deepseek/deepseek-v3.2"
DAY = "2026-08-01"
NOON = "2026-08-01T12:00:00Z"
PROVIDER = "baidu"
MAX_BYTES = 1_000_000
MAX_ITEMS = 10_000
UNSET: Any = object()
CLOCK = datetime(2026, 12, 2, 12, tzinfo=UTC)  # "now" where an answer's data age must not tick between two calls


# --- fixtures and helpers -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def api_db(replayed_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("api") / "api.duckdb"
    shutil.copyfile(replayed_template, path)
    return path


@pytest.fixture(scope="module")
def client(api_db: Path) -> Iterator[TestClient]:
    con = connect(api_db, read_only=True)
    try:
        # A crash must come back as a response (a 500 the tests can name), not as an exception in the test.
        with TestClient(create_app(ApiState(con, api_db)), raise_server_exceptions=False) as test_client:
            yield test_client
    finally:
        con.close()


@pytest.fixture(scope="module")
def openapi(client: TestClient) -> dict[str, Any]:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    document: dict[str, Any] = response.json()
    return document


def operations(document: dict[str, Any]) -> set[tuple[str, str]]:
    methods = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}
    return {(m.upper(), path) for path, item in document["paths"].items() for m in item if m in methods}


def _pointer(*parts: str) -> str:
    return "".join("/" + p.replace("~", "~0").replace("/", "~1") for p in parts)


def validator_at(document: dict[str, Any], pointer: str) -> Draft202012Validator:
    """A Draft 2020-12 validator for the schema at ``pointer`` in the OpenAPI document; its ``$ref``s
    (``#/components/schemas/...``) resolve inside the same document."""
    registry = Registry().with_resource("urn:openapi", Resource(contents=document, specification=DRAFT202012))
    return Draft202012Validator({"$ref": f"urn:openapi#{pointer}"}, registry=registry)


def response_validator(document: dict[str, Any], method: str, path: str, status: int) -> Draft202012Validator:
    responses = document["paths"][path][method.lower()]["responses"]
    assert str(status) in responses, f"{method} {path} does not document a {status} answer"
    assert "application/json" in responses[str(status)]["content"]
    pointer = _pointer("paths", path, method.lower(), "responses", str(status), "content", "application/json")
    return validator_at(document, pointer + "/schema")


def assert_valid(validator: Draft202012Validator, body: Any, what: str) -> None:
    problems = sorted(validator.iter_errors(body), key=lambda e: list(e.absolute_path))
    shown = "\n".join(f"  at {'/'.join(map(str, e.absolute_path))}: {e.message[:300]}" for e in problems[:10])
    assert not problems, f"{what}: {len(problems)} schema violation(s)\n{shown}"


def assert_error(response: Response, status: int, code: str, document: dict[str, Any]) -> dict[str, Any]:
    """The one error shape: exactly {"error": {"code", "message", "detail"}}, valid as ErrorResponse."""
    assert response.status_code == status, f"expected {status} {code}, got {response.status_code}: {response.text}"
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}, body
    error = body["error"]
    assert set(error) == {"code", "message", "detail"}, body
    assert error["code"] == code, body
    assert isinstance(error["message"], str) and error["message"].strip(), body
    assert_valid(validator_at(document, "/components/schemas/ErrorResponse"), body, "error body")
    return error


# --- the contract: one table of good requests per operation ---------------------------------------------------


class Call(NamedTuple):
    url: str
    params: dict[str, Any] | None = None
    body: Any = UNSET
    check: Callable[[dict[str, Any]], None] | None = None


def _models_at_day(body: dict[str, Any]) -> None:
    assert body["as_of"] == "2026-08-01T23:59:59.999999Z"
    assert body["total"] > 100 and len(body["items"]) == body["limit"] == 100 and body["offset"] == 0
    assert len({i["model_id"] for i in body["items"]}) == 100


def _models_filtered(body: dict[str, Any]) -> None:
    assert body["total"] >= 1 and len(body["items"]) <= 5
    assert all("deepseek" in (i["model_id"] + (i["name"] or "")).lower() for i in body["items"])
    assert all(i["context_length"] >= 100_000 for i in body["items"])


def _model_detail(body: dict[str, Any]) -> None:
    assert body["model"]["model_id"] == MODEL
    assert body["as_of"] == "2026-08-01T23:59:59.999999Z"
    tags = {e["tag"] for e in body["endpoints"]}
    assert "baidu/fp8" in tags
    sheets = {s["tag"] for s in body["price_sheets"] if s["kind"] == "endpoint"}
    assert tags <= sheets
    for endpoint in body["endpoints"]:
        # Every price is an exact decimal string, equal to the string OpenRouter listed.
        listed = json.loads(endpoint["pricing_text"])
        for key in ("prompt", "completion"):
            assert isinstance(endpoint[f"price_{key}"], str)
            assert Decimal(endpoint[f"price_{key}"]) == Decimal(listed[key])


def _history(body: dict[str, Any]) -> None:
    assert body["model_id"] == MODEL and body["from"] == "2026-07-20T00:00:00Z"
    assert body["model_versions"] and body["endpoints"]
    for group in body["endpoints"]:
        for version in group["versions"]:
            assert version["valid_from"] <= "2026-08-01T23:59:59.999999Z"
            assert version["valid_to"] is None or version["valid_to"] > "2026-07-20T00:00:00Z"


def _provider(body: dict[str, Any]) -> None:
    assert body["provider"]["slug"] == PROVIDER
    assert body["endpoints"] and all(e["provider_slug"] == PROVIDER for e in body["endpoints"])
    assert body["provider"]["endpoints"] == len(body["endpoints"])


def _price_changes(body: dict[str, Any]) -> None:
    assert body["total"] >= 1
    assert all(i["kind"] == "price" and i["entity"] == "endpoint" for i in body["items"])
    assert all("2026-07-17T00:00:00Z" <= i["at"] <= "2026-08-01T23:59:59.999999Z" for i in body["items"])


def _cheapest(body: dict[str, Any]) -> None:
    ranked = body["ranked"]
    assert ranked and ranked[0]["model_id"] == MODEL
    costs = [Decimal(r["cost_per_request"]) for r in ranked]
    assert costs == sorted(costs)
    assert body["provider"]["order"][0] == ranked[0]["tag"]


def _cheapest_all(body: dict[str, Any]) -> None:
    assert body["model"] is None and len({r["model_id"] for r in body["ranked"]}) > 1
    assert body["filters"]["parameters"] == ["tools"] and body["filters"]["exclude_free"] is True
    assert body["profile"]["reasoning"] == "0.5" and body["profile"]["cache_ttl"] == "1h"
    costs = [Decimal(r["cost_per_request"]) for r in body["ranked"]]
    assert costs == sorted(costs)


def _cheapest_units(body: dict[str, Any]) -> None:
    assert body["kind"] == "transcription" and body["workload"] == {"counts": {"minute": "60"}, "variant": []}
    costs = [Decimal(r["cost"]) for r in body["ranked"]]
    assert costs and costs == sorted(costs) and "profile" not in body
    assert {r["rates"]["minute"]["per"] for r in body["ranked"]} >= {"minute", "hour"}  # per-hour SKUs ranked


def _cost(body: dict[str, Any]) -> None:
    assert [r["status"] for r in body["rows"]] == ["ok"]
    assert Decimal(body["totals"]["cost_total"]) == Decimal(body["rows"][0]["cost_total"]) > 0


def _snapshots(body: dict[str, Any]) -> None:
    assert body["total"] == 20 and len(body["items"]) == 3
    taken = [i["taken_at"] for i in body["items"]]
    assert taken == sorted(taken, reverse=True)


def _health(body: dict[str, Any]) -> None:
    assert body["status"] == "ok" and body["snapshots"]["total"] == 20


GOOD: dict[tuple[str, str], list[Call]] = {
    ("GET", "/v1/models"): [
        Call("/v1/models", {"as_of": DAY}, check=_models_at_day),
        Call("/v1/models", {"q": "deepseek", "min_context": 100_000, "limit": 5, "as_of": DAY}, check=_models_filtered),
        Call("/v1/models", {"provider": PROVIDER, "modality": "text", "parameter": "tools", "offset": 1}),
    ],
    ("GET", "/v1/models/{author}/{slug}"): [Call(f"/v1/models/{MODEL}", {"as_of": DAY}, check=_model_detail)],
    ("GET", "/v1/models/{author}/{slug}/history"): [
        Call(f"/v1/models/{MODEL}/history", {"from": "2026-07-20", "to": DAY}, check=_history),
        Call(f"/v1/models/{MODEL}/history"),
    ],
    ("GET", "/v1/providers"): [Call("/v1/providers", {"as_of": DAY})],
    ("GET", "/v1/providers/{slug}"): [Call(f"/v1/providers/{PROVIDER}", {"as_of": DAY}, check=_provider)],
    ("GET", "/v1/changes"): [
        Call("/v1/changes", {"since": DAY}),
        Call(
            "/v1/changes",
            {"since": "2026-07-17", "until": DAY, "kind": "price", "entity": "endpoint", "limit": 1000},
            check=_price_changes,
        ),
        Call("/v1/changes", {"since": "2026-07-17", "model": MODEL, "provider": PROVIDER}),
    ],
    ("GET", "/v1/cheapest"): [
        Call(
            "/v1/cheapest",
            {"model": MODEL, "input": 20000, "output": 1000, "cache_hit": "0.8", "as_of": DAY},
            check=_cheapest,
        ),
        Call(
            "/v1/cheapest",
            {"as_of": DAY, "parameter": "tools", "exclude_free": "true", "reasoning": "0.5", "cache_ttl": "1h"},
            check=_cheapest_all,
        ),
        # the other answer of the operation: a workload in a kind's own units, valid against the published schema
        Call("/v1/cheapest", {"kind": "transcription", "minutes": "60", "as_of": "2026-08-05"}, check=_cheapest_units),
    ],
    ("POST", "/v1/cost"): [
        Call(
            "/v1/cost",
            body=[
                {"model": MODEL, "provider": PROVIDER, "timestamp": NOON, "prompt_tokens": 10, "completion_tokens": 5}
            ],
            params={"at": NOON},
            check=_cost,
        ),
    ],
    ("GET", "/v1/snapshots"): [Call("/v1/snapshots", {"limit": 3}, check=_snapshots), Call("/v1/snapshots")],
    ("GET", "/health"): [Call("/health", check=_health)],
}
GOOD_CALLS = [
    pytest.param(method, path, call, id=f"{method} {call.url} {i}")
    for (method, path), calls in GOOD.items()
    for i, call in enumerate(calls)
]


def send(client: TestClient, method: str, call: Call, headers: dict[str, str] | None = None) -> Response:
    if call.body is UNSET:
        return client.request(method, call.url, params=call.params, headers=headers)
    return client.request(method, call.url, params=call.params, json=call.body, headers=headers)


def test_every_published_operation_has_good_and_bad_requests_in_the_tables(openapi: dict[str, Any]) -> None:
    published = operations(openapi)
    assert published == set(GOOD), f"no good request for {published - set(GOOD)}; stale: {set(GOOD) - published}"
    assert published == set(BAD), f"no bad request for {published - set(BAD)}; stale: {set(BAD) - published}"
    assert all(GOOD[op] for op in published) and all(BAD[op] for op in published)


@pytest.mark.parametrize(("method", "path", "call"), GOOD_CALLS)
def test_good_request_answers_200_in_the_published_schema(
    client: TestClient, openapi: dict[str, Any], method: str, path: str, call: Call
) -> None:
    response = send(client, method, call)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert_valid(response_validator(openapi, method, path, 200), body, f"{method} {response.url}")
    if method == "GET":
        assert response.headers["etag"] and response.headers["last-modified"]
    if call.check is not None:
        call.check(body)


def test_no_request_readies_its_route_the_app_is_created_ready(api_db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """FastAPI readies an included router's routes (reads each handler's parameters) at the first request that
    reaches the router, adding tens of milliseconds to that user's request; ``create_app`` does it before
    serving. Once created, the first good request of every operation reads no handler's parameters."""
    import fastapi
    import fastapi.routing

    con = connect(api_db, read_only=True)
    try:
        app = create_app(ApiState(con, api_db))
        readied: list[str] = []
        reader = fastapi.routing.get_dependant

        def counting(*args: Any, **kwargs: Any) -> Any:
            readied.append(kwargs.get("path", "?"))
            return reader(*args, **kwargs)

        monkeypatch.setattr(fastapi.routing, "get_dependant", counting)
        with TestClient(app, raise_server_exceptions=False) as fresh:
            for (method, path), calls in GOOD.items():
                assert send(fresh, method, calls[0]).status_code == 200, (method, path)
        assert readied == []
        monkeypatch.undo()  # the check can fail: a fresh router, not readied, reads them at its first request
        bare = fastapi.FastAPI()
        bare.include_router(ROUTERS[0])
        monkeypatch.setattr(fastapi.routing, "get_dependant", counting)
        with TestClient(bare, raise_server_exceptions=False) as unready:
            first = GOOD["GET", "/v1/models"][0]
            unready.get(first.url, params=first.params)
        assert readied
    finally:
        con.close()


def test_model_list_filters_agree_with_the_provider_detail(client: TestClient) -> None:
    served = client.get(f"/v1/providers/{PROVIDER}", params={"as_of": DAY}).json()
    listed = client.get("/v1/models", params={"provider": PROVIDER, "as_of": DAY, "limit": 1000}).json()
    assert listed["total"] == served["provider"]["models"] > 0
    assert {i["model_id"] for i in listed["items"]} == {e["model_id"] for e in served["endpoints"]}
    page = client.get("/v1/models", params={"provider": PROVIDER, "as_of": DAY, "limit": 2, "offset": 1}).json()
    assert page["total"] == listed["total"] and page["items"] == listed["items"][1:3]


@pytest.mark.parametrize(
    "url", ["/v1/models", f"/v1/models/{MODEL}", "/v1/cheapest?model=deepseek/deepseek-v3.2", "/openapi.json", "/docs"]
)
def test_head_is_answered_as_get_without_a_body(client: TestClient, url: str) -> None:
    """Monitors probe with HEAD: the status and headers of the GET, no body (a GET route used to answer 405)."""
    got, head = client.get(url), client.head(url)
    assert got.status_code == head.status_code == 200, head.text
    assert head.content == b""
    for name in ("content-type", "content-length", "etag"):
        assert head.headers.get(name) == got.headers.get(name), name
    assert client.head("/v1/nothing").status_code == 404


def test_docs_are_served_offline(client: TestClient) -> None:
    page = client.get("/docs")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "/docs/assets/swagger-ui-bundle.js" in page.text and "/openapi.json" in page.text
    bundle = client.get("/docs/assets/swagger-ui-bundle.js")
    assert bundle.status_code == 200
    # Swagger UI 5 (OpenAPI 3.1, as FastAPI writes it): 4.x shows "Unable to render this definition".
    version = re.search(r'PACKAGE_VERSION:"(\d+)\.', bundle.text)
    assert version is not None and int(version.group(1)) >= 5, version
    assert client.get("/openapi.json").json()["openapi"].startswith("3.1")


@pytest.mark.parametrize("path", ["/docs", "/docs/assets/swagger-ui-bundle.js", "/openapi.json", "/v1/models"])
def test_docs_and_answers_carry_the_site_s_security_headers(client: TestClient, path: str) -> None:
    """The docs page gets the site pages' policy (scripts and styles from this origin only, no inline script, no
    framing), and the API's own answers one that lets nothing load or frame them; every answer is nosniff."""
    answer = client.get(path)
    assert answer.status_code == 200
    policy = answer.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in policy and answer.headers["x-content-type-options"] == "nosniff"
    if path.startswith("/docs"):
        assert "script-src 'self'" in policy and "unsafe-inline" not in policy and "unsafe-eval" not in policy
    else:
        assert "default-src 'none'" in policy
    if path == "/docs":
        assert "<script>" not in answer.text  # every script is a file: the policy allows no inline one


# --- one error shape over every route -------------------------------------------------------------------------


class Bad(NamedTuple):
    url: str
    status: int
    code: str
    params: dict[str, Any] | None = None
    method: str | None = None  # default: the operation's own method
    body: Any = UNSET  # JSON, sent with json=
    content: bytes | Callable[[], Any] | None = None  # raw bytes, or a factory of a (streamed) body
    headers: dict[str, str] | None = None
    mention: str | None = None  # the message names this (the parameter, the limit)
    suggest: str | None = None  # detail.did_you_mean holds this close match


def _streamed_oversize() -> Iterator[bytes]:
    """Chunks of a body over the limit, sent without Content-Length (chunked)."""
    yield b"["
    for _ in range(101):
        yield b" " * 10_000
    yield b"]"


OVERSIZE = b"[" + b" " * MAX_BYTES + b"]"
BAD: dict[tuple[str, str], list[Bad]] = {
    ("GET", "/v1/models"): [
        Bad("/v1/models", 400, "bad_parameter", {"as_of": "yesterday"}, mention="as_of"),
        Bad("/v1/models", 400, "bad_parameter", {"as_of": "2026-02-30"}, mention="as_of"),
        Bad("/v1/models", 400, "bad_parameter", {"limit": 0}, mention="limit"),
        Bad("/v1/models", 400, "bad_parameter", {"offset": -1}, mention="offset"),
        Bad("/v1/models", 400, "bad_parameter", {"min_context": "lots"}, mention="min_context"),
        Bad("/v1/models", 405, "method_not_allowed", method="DELETE"),
    ],
    ("GET", "/v1/models/{author}/{slug}"): [
        Bad("/v1/models/deepseek/deepseek-v3.3", 404, "unknown_model", mention="deepseek/deepseek-v3.3", suggest=MODEL),
        Bad(f"/v1/models/{MODEL}", 400, "bad_parameter", {"as_of": "2026-13-01"}, mention="as_of"),
        Bad(f"/v1/models/{MODEL}", 404, "not_listed", {"as_of": "2020-01-01"}, mention=MODEL),
        Bad(f"/v1/models/{MODEL}", 405, "method_not_allowed", method="PUT"),
    ],
    ("GET", "/v1/models/{author}/{slug}/history"): [
        Bad("/v1/models/deepseek/deepseek-v3.3/history", 404, "unknown_model", suggest=MODEL),
        Bad(f"/v1/models/{MODEL}/history", 400, "bad_parameter", {"from": DAY, "to": "2026-07-20"}, mention="from"),
        Bad(f"/v1/models/{MODEL}/history", 400, "bad_parameter", {"from": "last week"}, mention="from"),
        Bad(f"/v1/models/{MODEL}/history", 400, "bad_parameter", {"to": "2026-08-01T25:00"}, mention="to"),
    ],
    ("GET", "/v1/providers"): [
        Bad("/v1/providers", 400, "bad_parameter", {"as_of": "01/08/2026"}, mention="as_of"),
        Bad("/v1/providers", 405, "method_not_allowed", method="POST"),
    ],
    ("GET", "/v1/providers/{slug}"): [
        Bad("/v1/providers/baidux", 404, "unknown_provider", mention="baidux", suggest=PROVIDER),
        Bad(f"/v1/providers/{PROVIDER}", 400, "bad_parameter", {"as_of": "soon"}, mention="as_of"),
    ],
    ("GET", "/v1/changes"): [
        Bad("/v1/changes", 400, "bad_parameter", {"kind": "bogus"}, mention="kind"),
        Bad("/v1/changes", 400, "bad_parameter", {"entity": "provider"}, mention="entity"),
        Bad("/v1/changes", 400, "bad_parameter", {"since": "2026-08-02", "until": DAY}, mention="since"),
        Bad("/v1/changes", 400, "bad_parameter", {"since": "then"}, mention="since"),
        Bad("/v1/changes", 400, "bad_parameter", {"limit": 0}, mention="limit"),
        Bad("/v1/changes", 400, "bad_parameter", {"limit": 1001}, mention="limit"),
        Bad("/v1/changes", 404, "unknown_model", {"model": "deepseek/deepseek-v3.3"}, suggest=MODEL),
    ],
    ("GET", "/v1/cheapest"): [
        Bad("/v1/cheapest", 400, "bad_parameter", {"model": MODEL, "input": -5}, mention="input"),
        Bad("/v1/cheapest", 400, "bad_parameter", {"output": "many"}, mention="output"),
        Bad("/v1/cheapest", 404, "unknown_model", {"model": "deepseek/deepseek-v3.3"}, suggest=MODEL),
        Bad("/v1/cheapest", 400, "bad_parameter", {"cache_hit": "abc"}, mention="cache_hit"),
        Bad("/v1/cheapest", 400, "bad_parameter", {"cache_hit": "NaN"}, mention="cache_hit"),
        Bad("/v1/cheapest", 400, "bad_parameter", {"cache_hit": "2"}, mention="cache"),
        Bad("/v1/cheapest", 400, "bad_parameter", {"cache_hit": "0.9", "cache_write": "0.9"}, mention="cache"),
        Bad("/v1/cheapest", 400, "bad_parameter", {"reasoning": "-0.1"}, mention="reasoning"),
        Bad("/v1/cheapest", 400, "bad_parameter", {"cache_ttl": "2h"}, mention="cache_ttl"),
        Bad("/v1/cheapest", 400, "bad_parameter", {"requests": 0}, mention="requests"),
        Bad("/v1/cheapest", 400, "bad_parameter", {"fallbacks": 21}, mention="fallbacks"),
        Bad("/v1/cheapest", 400, "bad_parameter", {"min_uptime": 101}, mention="min_uptime"),
        Bad("/v1/cheapest", 400, "bad_parameter", {"as_of": "x"}, mention="as_of"),
    ],
    ("POST", "/v1/cost"): [
        Bad("/v1/cost", 400, "bad_body", content=b"model=deepseek", mention="JSON"),
        Bad("/v1/cost", 400, "bad_body", content=b"", mention="JSON"),
        Bad("/v1/cost", 400, "bad_body", content=b"\xff\xfe[]", mention="JSON"),
        Bad("/v1/cost", 400, "bad_body", body={"model": MODEL, "prompt_tokens": 10}, mention="list"),
        Bad("/v1/cost", 400, "bad_body", body="a string", mention="list"),
        Bad("/v1/cost", 400, "bad_parameter", {"at": "noon"}, body=[], mention="at"),
        Bad("/v1/cost", 413, "too_large", body=[{}] * (MAX_ITEMS + 1), mention="10,000"),
        # Over 1,000,000 bytes: with a correct Content-Length, with none (chunked), with one that understates
        # the body (read and counted anyway), and with one that overstates it (refused before reading).
        Bad("/v1/cost", 413, "too_large", content=OVERSIZE, mention="1,000,000"),
        Bad("/v1/cost", 413, "too_large", content=_streamed_oversize, mention="1,000,000"),
        Bad("/v1/cost", 413, "too_large", content=OVERSIZE, headers={"content-length": "2"}, mention="1,000,000"),
        Bad("/v1/cost", 413, "too_large", content=b"[]", headers={"content-length": "1000001"}, mention="1,000,000"),
        Bad("/v1/cost", 405, "method_not_allowed", method="GET"),
    ],
    ("GET", "/v1/snapshots"): [
        Bad("/v1/snapshots", 400, "bad_parameter", {"limit": 0}, mention="limit"),
        Bad("/v1/snapshots", 400, "bad_parameter", {"offset": "first"}, mention="offset"),
    ],
    ("GET", "/health"): [Bad("/health", 405, "method_not_allowed", method="POST")],
}
BAD_CALLS = [
    pytest.param(method, path, bad, id=f"{bad.method or method} {bad.url} {i}")
    for (method, path), bads in BAD.items()
    for i, bad in enumerate(bads)
]


def send_bad(client: TestClient, method: str, bad: Bad) -> Response:
    kwargs: dict[str, Any] = {"params": bad.params, "headers": bad.headers}
    if bad.body is not UNSET:
        kwargs["json"] = bad.body
    elif bad.content is not None:
        kwargs["content"] = bad.content() if callable(bad.content) else bad.content
    return client.request(bad.method or method, bad.url, **kwargs)


@pytest.mark.parametrize(("method", "path", "bad"), BAD_CALLS)
def test_bad_request_is_one_json_error_shape(
    client: TestClient, openapi: dict[str, Any], method: str, path: str, bad: Bad
) -> None:
    response = send_bad(client, method, bad)
    error = assert_error(response, bad.status, bad.code, openapi)
    if bad.method in (None, method):
        # The operation's own method: the status is one it documents, with the ErrorResponse schema.
        assert_valid(response_validator(openapi, method, path, bad.status), response.json(), "documented error")
    if bad.mention is not None:
        assert bad.mention in error["message"], error
    if bad.suggest is not None:
        assert bad.suggest in error["detail"]["did_you_mean"], error
        assert error["detail"]["did_you_mean"][0] == bad.suggest, error


@pytest.mark.parametrize(
    ("method", "url", "status", "code"),
    [
        ("GET", "/v1/nothing", 404, "not_found"),
        ("GET", "/nothing", 404, "not_found"),
        ("GET", "/v1/models/deepseek", 404, "not_found"),
        ("DELETE", "/v1/cost", 405, "method_not_allowed"),
        ("PATCH", "/v1/changes", 405, "method_not_allowed"),
    ],
)
def test_unknown_paths_and_wrong_methods_use_the_error_shape(
    client: TestClient, openapi: dict[str, Any], method: str, url: str, status: int, code: str
) -> None:
    assert_error(client.request(method, url), status, code, openapi)


# Each of these was a 500 once (OverflowError at the ends of the calendar, RecursionError in a nested body).


@pytest.mark.parametrize(
    ("method", "url", "params", "content"),
    [
        pytest.param("GET", "/v1/models", {"as_of": "9999-12-31"}, None, id="as_of-9999"),
        pytest.param("GET", "/v1/models", {"as_of": "0001-01-01T00:00:00+14:00"}, None, id="as_of-0001"),
        pytest.param("GET", "/v1/cheapest", {"as_of": "9999-12-31T23:00:00-14:00"}, None, id="cheapest"),
        pytest.param("GET", f"/v1/models/{MODEL}/history", {"to": "9999-12-31"}, None, id="to-9999"),
        pytest.param("GET", "/v1/changes", {"until": "0001-01-01"}, None, id="until-0001"),
        pytest.param("POST", "/v1/cost", {"at": "9999-12-31"}, b"[]", id="cost-at-9999"),
        pytest.param("POST", "/v1/cost", {}, b"[" * 100_000 + b"]" * 100_000, id="cost-nested"),
        pytest.param("GET", "/v1/models", {"as_of": "0001-01-01"}, None, id="as_of-0001-date"),
        pytest.param("GET", "/v1/changes", {"since": "0001-01-01", "until": "9999-12-30"}, None, id="changes-wide"),
        pytest.param("POST", "/v1/cost", {}, b"[" * 500 + b"]" * 500, id="cost-nested-500"),
    ],
)
def test_extreme_input_is_an_answer_or_a_4xx_never_a_500(
    client: TestClient, openapi: dict[str, Any], method: str, url: str, params: dict[str, str], content: bytes | None
) -> None:
    response = client.request(method, url, params=params, content=content)
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        assert_error(response, response.status_code, response.json()["error"]["code"], openapi)


# --- ETag / Last-Modified -------------------------------------------------------------------------------------

GET_CALLS = [
    pytest.param(path, calls[0], id=path) for (method, path), calls in GOOD.items() if method == "GET" and calls
]


@pytest.mark.parametrize(("path", "call"), GET_CALLS)
def test_get_answers_carry_the_data_version_and_a_matching_if_none_match_is_a_304(
    client: TestClient, path: str, call: Call
) -> None:
    with use_clock(CLOCK):  # the data's age is part of an answer; it must not tick between the first and the last
        _the_data_version_validates(client, call)


def _the_data_version_validates(client: TestClient, call: Call) -> None:
    newest = client.get("/v1/snapshots", params={"limit": 1}).json()["items"][0]["taken_at"]
    version = client.get("/health").json()["data_version"]
    first = send(client, "GET", call)
    assert first.status_code == 200
    etag = first.headers["etag"]
    assert etag == version and etag.startswith('"') and etag.endswith('"')
    stamp = datetime.fromisoformat(newest.replace("Z", "+00:00")).astimezone(UTC)
    assert first.headers["last-modified"] == format_datetime(stamp, usegmt=True)

    for match in (etag, f'"other", {etag}', "*"):
        again = send(client, "GET", call, headers={"If-None-Match": match})
        assert again.status_code == 304, match
        assert again.content == b""
        assert again.headers["etag"] == etag and again.headers["last-modified"] == first.headers["last-modified"]

    stale = send(client, "GET", call, headers={"If-None-Match": '"h0-0"'})
    assert stale.status_code == 200 and stale.headers["etag"] == etag
    assert stale.content == first.content


def test_a_weak_validator_of_the_same_version_is_a_304(client: TestClient) -> None:
    etag = client.get("/v1/snapshots").headers["etag"]
    # A proxy that compresses (nginx gzip) hands clients W/"..." for the strong ETag it received.
    assert client.get("/v1/snapshots", headers={"If-None-Match": f"W/{etag}"}).status_code == 304


# --- acceptance 3: the API's cheapest is the command's ----------------------------------------------------------


@pytest.mark.parametrize(
    ("cli_args", "params"),
    [
        pytest.param([], {}, id="acceptance"),
        pytest.param(
            ["--quantization", "fp8", "--no-training", "--exclude-provider", "siliconflow"],
            {"quantization": "fp8", "no_training": "true", "exclude_provider": "siliconflow"},
            id="filtered",
        ),
    ],
)
def test_cheapest_answer_is_exactly_the_commands_json(
    client: TestClient, api_db: Path, cli_args: list[str], params: dict[str, str]
) -> None:
    command = ["cheapest", MODEL, "--input", "20000", "--output", "1000"]
    command += ["--cache-hit", "0.8", "--as-of", DAY, *cli_args, "--json", "--db", str(api_db)]
    query = {"model": MODEL, "input": 20000, "output": 1000, "cache_hit": "0.8", "as_of": DAY, **params}
    with use_clock(CLOCK):  # one instant for both: the data's age is part of the answer
        ran = run_cli(*command)
        answer = client.get("/v1/cheapest", params=query)
    assert ran.returncode == 0, ran.stderr
    expected = json.loads(ran.stdout)
    assert answer.status_code == 200
    # The API's body is the command's JSON plus the top-level `stale` the issue asks of it.
    assert answer.json() == {**expected, "stale": expected["data"]["stale"]}
    assert expected["ranked"] and expected["ranked"][0]["tag"] == "baidu/fp8"
    if params:
        assert all(r["quantization"] == "fp8" and r["provider"] != "siliconflow" for r in expected["ranked"])
        assert expected["excluded"]


def test_no_as_of_means_the_newest_snapshot_in_the_api_the_cli_and_python(client: TestClient, api_db: Path) -> None:
    with use_clock(CLOCK), Catalog.open(api_db) as cat:
        newest = snapshots.default_as_of(cat.con)
        ranking = jsonable(cat.cheapest(MODEL).to_dict())
        api = client.get("/v1/cheapest", params={"model": MODEL})
    assert newest is not None and newest < datetime.now(UTC)
    assert api.status_code == 200
    assert api.json() == {**ranking, "stale": True}
    assert parse_instant(ranking["as_of"]) == newest
    ran = run_cli("endpoints", MODEL, "--json", "--db", str(api_db))
    assert ran.returncode == 0, ran.stderr
    assert parse_instant(json.loads(ran.stdout)["as_of"]) == newest
    listed = client.get("/v1/models").json()
    assert parse_instant(listed["as_of"]) == newest


# --- POST /v1/cost --------------------------------------------------------------------------------------------


def endpoint_prices(client: TestClient, at: str, provider: str = PROVIDER) -> dict[str, Decimal]:
    """The endpoint's prices in force at ``at``, as the API itself lists them (exact)."""
    detail = client.get(f"/v1/models/{MODEL}", params={"as_of": at})
    assert detail.status_code == 200
    (endpoint,) = [e for e in detail.json()["endpoints"] if e["provider_slug"] == provider]
    assert endpoint["override_count"] == 0, "a tiered sheet: the independent sum below would not apply"
    return {k.removeprefix("price_"): Decimal(v) for k, v in endpoint.items() if k.startswith("price_") and v}


def test_cost_prices_rows_and_raw_bodies_exactly_and_reports_the_rest(client: TestClient) -> None:
    created = int(datetime(2026, 8, 1, 12, tzinfo=UTC).timestamp())
    flat = {
        "model": MODEL,
        "provider": PROVIDER,
        "timestamp": NOON,
        "prompt_tokens": 20000,
        "completion_tokens": 1000,
        "cache_read_tokens": 16000,
        "reasoning_tokens": 0,
    }
    chat = {
        "id": "gen-1785585600-abc",
        "object": "chat.completion",
        "created": created,
        "model": MODEL,
        "provider": "Baidu",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}],
        "usage": {
            "prompt_tokens": 3000,
            "completion_tokens": 400,
            "total_tokens": 3400,
            "prompt_tokens_details": {"cached_tokens": 1000},
        },
    }
    unknown = {"model": "nobody/no-such-model", "timestamp": NOON, "prompt_tokens": 10, "completion_tokens": 1}
    response = client.post("/v1/cost", json=[flat, chat, unknown, "not an object"])
    assert response.status_code == 200, response.text
    body = response.json()
    rows = body["rows"]
    assert [(r["source"], r["status"]) for r in rows] == [("body[0]", "ok"), ("body[1]", "ok"), ("body[2]", "unknown")]
    assert "nobody/no-such-model" in rows[2]["reason"] and rows[2]["cost_total"] is None
    assert len(body["problems"]) == 1 and body["problems"][0].startswith("body[3]")
    assert "object" in body["problems"][0]
    assert rows[1]["timestamp"] == NOON and rows[1]["cache_read_tokens"] == 1000

    totals = body["totals"]
    assert totals["rows"] == 3 and totals["by_status"] == {"ok": 2, "unknown": 1}
    ok = [Decimal(r["cost_total"]) for r in rows if r["status"] == "ok"]
    assert Decimal(totals["cost_total"]) == sum(ok, Decimal(0))

    # Independently, from the prices the API lists for that endpoint at that time.
    price = endpoint_prices(client, NOON)
    assert rows[0]["price_source"] == rows[1]["price_source"] == "endpoint"
    assert Decimal(rows[0]["cost_total"]) == (
        (20000 - 16000) * price["prompt"] + 16000 * price["input_cache_read"] + 1000 * price["completion"]
    )
    assert Decimal(rows[1]["cost_total"]) == (
        (3000 - 1000) * price["prompt"] + 1000 * price["input_cache_read"] + 400 * price["completion"]
    )
    for row in rows[:2]:
        assert Decimal(row["saving"]) == Decimal(row["cost_base"]) - Decimal(row["cost_total"]) > 0


def test_cost_at_prices_rows_without_a_time_at_that_time(client: TestClient) -> None:
    row = {"model": MODEL, "provider": PROVIDER, "prompt_tokens": 1234, "completion_tokens": 56}
    dated = client.post("/v1/cost", json=[{**row, "timestamp": NOON}]).json()["rows"][0]
    undated = client.post("/v1/cost", params={"at": NOON}, json=[row]).json()["rows"][0]
    assert dated["status"] == undated["status"] == "ok"
    assert undated["cost_total"] == dated["cost_total"]
    price = endpoint_prices(client, NOON)
    assert Decimal(undated["cost_total"]) == 1234 * price["prompt"] + 56 * price["completion"]


def test_cost_takes_exactly_the_limits(client: TestClient, openapi: dict[str, Any]) -> None:
    # 10,000 rows in just under 1,000,000 bytes: accepted, and the total is exact.
    rows = [{"model": MODEL, "provider": PROVIDER, "timestamp": DAY, "prompt_tokens": i} for i in range(MAX_ITEMS)]
    payload = json.dumps(rows, separators=(",", ":")).encode()
    assert len(payload) <= MAX_BYTES
    response = client.post("/v1/cost", content=payload, headers={"content-type": "application/json"})
    assert response.status_code == 200, response.text[:500]
    body = response.json()
    assert body["totals"]["rows"] == MAX_ITEMS and body["totals"]["by_status"] == {"ok": MAX_ITEMS}
    price = endpoint_prices(client, "2026-08-01T00:00:00Z")
    assert Decimal(body["totals"]["cost_total"]) == sum(range(MAX_ITEMS)) * price["prompt"]
    assert_valid(response_validator(openapi, "POST", "/v1/cost", 200), body, "10,000 rows")

    exactly = b"[" + b" " * (MAX_BYTES - 2) + b"]"
    assert client.post("/v1/cost", content=exactly).status_code == 200
    assert client.post("/v1/cost", content=exactly + b" ").status_code == 413


@pytest.mark.parametrize("bad", ["abc", 1.5, True, 1e30])
def test_an_unreadable_count_makes_its_row_invalid_and_leaves_it_out_of_the_total(client: TestClient, bad: Any) -> None:
    good = {"model": MODEL, "provider": "baidu", "timestamp": "2026-08-01T12:00:00Z", "prompt_tokens": 1000}
    response = client.post("/v1/cost", json=[good, {**good, "prompt_tokens": bad}, {**good, "timestamp": "soon"}])
    assert response.status_code == 200
    body = response.json()
    assert [r["status"] for r in body["rows"]] == ["ok", "invalid", "invalid"]
    assert body["totals"]["cost_total"] == body["rows"][0]["cost_total"]
    assert any("body[1]" in p for p in body["problems"]) and any("body[2]" in p for p in body["problems"])


def test_cost_reads_other_shapes_says_which_and_sets_billed_beside_computed(client: TestClient) -> None:
    # LiteLLM spend-log rows: a bare model is its provider's, startTime is the time, spend is what was billed.
    litellm = [
        {
            "request_id": "r1",
            "model": "deepseek-v3.2",
            "custom_llm_provider": "deepseek",
            "startTime": NOON,
            "prompt_tokens": 1000,
            "completion_tokens": 100,
            "total_tokens": 1100,
            "spend": 0.5,
        },
        {"request_id": "r2", "model": MODEL, "startTime": NOON, "total_tokens": 0},
    ]
    body = client.post("/v1/cost", json=litellm).json()
    assert body["shape"]["shape"] == "litellm" and body["shape"]["columns"]["billed_cost"] == "spend"
    first, empty = body["rows"]
    assert first["model"] == "deepseek/deepseek-v3.2" and first["id"] == "r1"
    assert first["billed"] == "0.5" and first["verdict"] == "differs"
    assert Decimal(first["difference"]) == Decimal(first["cost_total"]) - Decimal("0.5")
    assert empty["status"] == "invalid" and empty["reason"].startswith("no usage counts (columns seen: request_id")
    assert body["totals"]["billed"]["verdict"] == "differs" and body["totals"]["billed"]["rows_differs"] == 1
    # Anthropic's names, nested: the prompt is input + cache reads + cache writes.
    anthropic = {
        "model": MODEL,
        "provider": PROVIDER,
        "timestamp": NOON,
        "input_tokens": 100,
        "output_tokens": 10,
        "cache_read_input_tokens": 900,
    }
    row = client.post("/v1/cost", json=[anthropic]).json()["rows"][0]
    assert (row["prompt_tokens"], row["cache_read_tokens"], row["status"]) == (1000, 900, "ok")
    # Forced to a shape that does not read one of its counts: the column is named, nothing is priced.
    refused = client.post("/v1/cost", params={"format": "genai-prices"}, json=[anthropic])
    assert refused.status_code == 400 and "cache_read_input_tokens" in refused.json()["error"]["message"]
    plain = {k: v for k, v in anthropic.items() if k != "cache_read_input_tokens"}
    forced = client.post("/v1/cost", params={"format": "genai-prices"}, json=[plain]).json()
    assert forced["shape"]["shape"] == "genai-prices" and forced["rows"][0]["prompt_tokens"] == 100
    mapped = client.post("/v1/cost", params={"map": "n=prompt_tokens"}, json=[{"model": MODEL, "n": 5}]).json()
    assert mapped["rows"][0]["prompt_tokens"] == 5
    unread = client.post("/v1/cost", json=[{"model": MODEL, "foo_tokens": 5}])
    assert unread.status_code == 400 and "foo_tokens" in unread.json()["error"]["message"]
    # A body whose usage holds no count is invalid too, never free.
    empty_body = {"id": "gen-1", "object": "chat.completion", "model": MODEL, "created": 1785585600, "usage": {}}
    (row,) = client.post("/v1/cost", json=[empty_body]).json()["rows"]
    assert row["status"] == "invalid" and row["reason"].startswith("no usage counts")


def test_unknown_query_parameters_do_not_grow_the_response_cache(client: TestClient) -> None:
    state = client.app.state.catalog  # type: ignore[attr-defined]
    client.get("/v1/snapshots", params={"limit": 3})
    before = len(state.current.caches.responses)
    for n in range(20):
        assert client.get("/v1/snapshots", params={"limit": 3, "junk": str(n)}).status_code == 200
    assert len(state.current.caches.responses) == before


@pytest.mark.parametrize(
    "content",
    [
        b'[{"model": "deepseek/deepseek-v3.2", "prompt_tokens": 1' + b"0" * 5000 + b"}]",
        b'[{"model": "\\ud800", "prompt_tokens": 1}]',
        b'[{"model": "deepseek/deepseek-v3.2", "timestamp": "9999-12-31T23:59:59-23:00", "prompt_tokens": 1}]',
    ],
    ids=["huge-number", "lone-surrogate", "timestamp-past-the-calendar"],
)
def test_pathological_cost_bodies_are_answered_not_crashed(client: TestClient, content: bytes) -> None:
    response = client.post("/v1/cost", content=content, headers={"content-type": "application/json"})
    assert response.status_code in (200, 400)
    if response.status_code == 200:
        assert [r["status"] for r in response.json()["rows"]] == ["invalid"]
    else:
        assert set(response.json()["error"]) == {"code", "message", "detail"}


def test_a_body_with_unreadable_usage_or_time_is_invalid_not_free(client: TestClient) -> None:
    body = {"id": "gen-1", "model": MODEL, "provider": "baidu", "object": "chat.completion", "created": 1785585600}
    rows = [
        {**body, "usage": {"prompt_tokens": "abc", "completion_tokens": 10}},
        {**body, "created": "soon", "usage": {"prompt_tokens": 10, "completion_tokens": 10}},
        {**body, "usage": {"prompt_tokens": 10, "completion_tokens": 10}},
    ]
    answer = client.post("/v1/cost", json=rows).json()
    assert [r["status"] for r in answer["rows"]] == ["invalid", "invalid", "ok"]
    assert answer["totals"]["cost_total"] == answer["rows"][2]["cost_total"]


def test_the_order_of_a_repeated_parameter_is_part_of_the_answer(client: TestClient) -> None:
    first = client.get("/v1/cheapest", params=[("model", MODEL), ("input", "4"), ("input", "3")]).json()
    second = client.get("/v1/cheapest", params=[("model", MODEL), ("input", "3"), ("input", "4")]).json()
    assert first["profile"]["input_tokens"] == 3 and second["profile"]["input_tokens"] == 4


def test_a_current_etag_never_hides_an_error(client: TestClient) -> None:
    etag = client.get("/health").headers["etag"]
    missing = client.get("/v1/models/nope/nope", headers={"If-None-Match": etag})
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "unknown_model"
    bad = client.get("/v1/models", params={"as_of": "garbage"}, headers={"If-None-Match": "*"})
    assert bad.status_code == 400
    assert client.get("/v1/models", headers={"If-None-Match": etag}).status_code == 304


def test_a_search_for_percent_or_underscore_matches_them_literally(client: TestClient) -> None:
    assert client.get("/v1/models", params={"q": "%"}).json()["total"] == 0
    every = client.get("/v1/models").json()["total"]
    assert 0 < client.get("/v1/models", params={"q": "deepseek"}).json()["total"] < every


def test_identical_requests_in_flight_build_the_answer_once(client: TestClient) -> None:
    import threading

    state = client.app.state.catalog  # type: ignore[attr-defined]
    built = []
    gate = threading.Event()

    def build() -> bytes:
        built.append(1)
        gate.wait(2)
        return b"{}"

    key = ("/test", (("n", "1"),))
    threads = [threading.Thread(target=state.cached, args=(key, build)) for _ in range(8)]
    for t in threads:
        t.start()
    gate.set()
    for t in threads:
        t.join(5)
    assert len(built) == 1 and state.lookup(key) == b"{}"
