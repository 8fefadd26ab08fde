"""Fuzzing the query API over real HTTP: ``catalog serve`` runs as a subprocess on loopback (a copy of the 20
recorded days, any free port), and schemathesis generates requests for every operation of the OpenAPI
document that server publishes, schema-valid ones and schema-violating ones.

Asserted: no answer is a 5xx and the server logs no traceback; every answer has a documented status and
content type and validates against the published schema for that status. Not asserted (they fire by design,
see the report): "schema-valid request rejected" (free-text parameters such as ``as_of`` or ``kind`` are
validated by the handler, not by the schema) and "schema-violating request accepted" (``POST /v1/cost``
reports a non-object item as a problem instead of refusing the list).

``CATALOG_FUZZ_EXAMPLES=200`` runs more examples per operation, with a random seed.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import NamedTuple

import httpx
import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

pytestmark = pytest.mark.service  # `catalog serve` runs as its own process

OPERATIONS = [
    ("GET", "/v1/models"),
    ("GET", "/v1/models/{author}/{slug}"),
    ("GET", "/v1/models/{author}/{slug}/history"),
    ("GET", "/v1/providers"),
    ("GET", "/v1/providers/{slug}"),
    ("GET", "/v1/changes"),
    ("GET", "/v1/cheapest"),
    ("POST", "/v1/cost"),
    ("GET", "/v1/snapshots"),
    ("GET", "/health"),
]
# Path parameters that exist, so positive fuzzing of the query also reaches answers, not only 404s.
REAL_PATHS = {
    "/v1/models/{author}/{slug}": {"author": "deepseek", "slug": "deepseek-v3.2"},
    "/v1/models/{author}/{slug}/history": {"author": "deepseek", "slug": "deepseek-v3.2"},
    "/v1/providers/{slug}": {"slug": "baidu"},
}
NO_INPUT = {("GET", "/health")}  # nothing to violate: no negative cases
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
WIDE = os.environ.get("CATALOG_FUZZ_EXAMPLES")
EXAMPLES = int(WIDE) if WIDE else 20
CASES = [
    pytest.param(method, path, mode, id=f"{method} {path} {mode.value}")
    for method, path in OPERATIONS
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
    if not (mode is GenerationMode.NEGATIVE and (method, path) in NO_INPUT)
]


class Served(NamedTuple):
    url: str
    schema: schemathesis.schemas.BaseSchema
    log: Path


def _wait_for(
    check: Callable[[], object], timeout: float, what: str, process: subprocess.Popen[bytes], log: Path
) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return str(value)
        if process.poll() is not None:
            raise AssertionError(f"catalog serve exited ({process.returncode}):\n{log.read_text()}")
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}:\n{log.read_text()}")


@pytest.fixture(scope="module")
def served(replayed_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """``catalog serve`` on 127.0.0.1, any free port, over a private copy of the history (one per xdist
    worker); stopped with SIGTERM at the end of the module."""
    work = tmp_path_factory.mktemp("fuzz")
    db = work / "api.duckdb"
    shutil.copyfile(replayed_template, db)
    log = work / "serve.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "catalog", "serve", "--db", str(db), "--host", "127.0.0.1", "--port", "0"],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "CATALOG_DB": str(db), "PYTHONUNBUFFERED": "1"},
        )
    try:

        def printed_url() -> str | None:
            first = log.read_text().partition("\n")
            return first[0].split()[3] if first[1] and first[0].startswith("catalog API on ") else None

        url = _wait_for(printed_url, 60, "the printed URL", process, log)
        assert url.startswith("http://127.0.0.1:")

        def healthy() -> bool:
            try:
                return httpx.get(f"{url}/health", timeout=5).status_code == 200
            except httpx.TransportError:
                return False

        _wait_for(healthy, 30, "/health", process, log)
        schema = schemathesis.openapi.from_url(f"{url}/openapi.json", timeout=10)
        yield Served(url, schema, log)
    finally:
        process.terminate()
        try:
            code = process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
            raise AssertionError(f"catalog serve did not stop on SIGTERM:\n{log.read_text()}") from None
    # uvicorn shuts down gracefully, then re-raises the signal it caught.
    assert code in (0, -signal.SIGTERM), log.read_text()


def test_fuzzing_covers_every_published_operation(served: Served) -> None:
    published = set()
    for result in served.schema.get_all_operations():
        operation = result.ok()
        published.add((operation.method.upper(), operation.path))
    assert published == set(OPERATIONS)


@pytest.mark.parametrize(("method", "path", "mode"), CASES)
def test_fuzzed_requests_get_documented_answers_and_never_a_server_error(
    served: Served, method: str, path: str, mode: GenerationMode
) -> None:
    operation = served.schema[path][method]
    strategy = operation.as_strategy(generation_mode=mode)
    if mode is GenerationMode.POSITIVE and path in REAL_PATHS:
        strategy = strategy | operation.as_strategy(generation_mode=mode, path_parameters=REAL_PATHS[path])
    statuses: Counter[int] = Counter()
    logged_before = served.log.stat().st_size

    @given(case=strategy)
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=not WIDE,
        suppress_health_check=list(HealthCheck),
    )
    def fuzz(case: schemathesis.Case) -> None:
        response = case.call(base_url=served.url, timeout=60)
        statuses[response.status_code] += 1
        case.validate_response(response, checks=CHECKS)

    fuzz()
    assert sum(statuses.values()) >= (1 if (method, path) in NO_INPUT else min(EXAMPLES, 5)), statuses
    assert all(status < 500 for status in statuses), statuses
    if mode is GenerationMode.POSITIVE:
        assert any(200 <= status < 300 for status in statuses), f"no request got an answer: {statuses}"
    with open(served.log, "rb") as log:
        log.seek(logged_before)
        logged = log.read().decode(errors="replace")
    assert "Traceback" not in logged and "unhandled error" not in logged, logged


def test_a_server_error_fails_the_checks_even_when_documented() -> None:
    """The fuzz run's checks would catch a 5xx: ``not_a_server_error`` fails a 500 even when the schema lists it
    and the body has the documented shape (the other checks would pass it), so "0 server errors" is earned."""
    app = FastAPI()

    @app.get("/boom", responses={500: {"description": "a documented failure"}}, response_model=None)
    def boom() -> JSONResponse:
        return JSONResponse({"error": {"code": "internal_error", "message": "boom"}}, status_code=500)

    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    case = schema["/boom"]["GET"].Case()
    response = case.call()
    assert response.status_code == 500
    for checks in (CHECKS, [not_a_server_error]):
        # A FailureGroup is a BaseExceptionGroup, not an Exception: it ends a hypothesis run at once.
        with pytest.raises(FailureGroup, match=r"(?i)server error") as failed:
            case.validate_response(response, checks=checks)
        assert "500" in str(failed.value)
    case.validate_response(response, checks=[c for c in CHECKS if c is not not_a_server_error])  # only that check
