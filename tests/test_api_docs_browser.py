"""``/docs`` in a real browser (headless Debian Chromium through Playwright, as the site's browser tests): the API
served by uvicorn on loopback, its docs page under its strict Content-Security-Policy.

Swagger UI 4 (the PyPI bundle this project used to serve) cannot render the OpenAPI 3.1 document FastAPI writes
("Unable to render this definition"), and its page started Swagger UI from an inline script that the policy
refuses. Asserted: every operation of ``/openapi.json`` is listed in the rendered page, one expands to show its
parameters, and the browser reports no console error (a CSP violation is one), no failed request and no request
outside the server.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
import uvicorn
from test_site_browser import CHROMIUM_FLAGS, MISSING, chromium_executable, sync_playwright

from catalog.api import ApiState, create_app
from catalog.asgi_server import bind, quiet_config, serve_in_thread
from catalog.store.db import connect

pytestmark = [pytest.mark.browser, pytest.mark.skipif(MISSING is not None, reason=MISSING or "")]


@pytest.fixture(scope="module")
def api_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The query API over an empty history (the docs need the document, not data), on any free loopback port."""
    db = tmp_path_factory.mktemp("docs") / "docs.duckdb"
    connect(db).close()  # a writer creates the schema
    con = connect(db, read_only=True)
    sock = bind("127.0.0.1", 0)
    server = uvicorn.Server(quiet_config(create_app(ApiState(con, db)), log_config=None))
    try:
        with serve_in_thread(server, sock, name="api-docs"):
            yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        con.close()


def test_docs_render_every_operation_under_the_strict_policy(api_url: str, tmp_path: Path) -> None:
    document = httpx.get(f"{api_url}/openapi.json", timeout=10).json()
    assert document["openapi"].startswith("3.1")
    operations = {(method.upper(), path) for path, item in document["paths"].items() for method in item}
    assert ("GET", "/v1/cheapest") in operations
    assert sync_playwright is not None
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            user_data_dir=tmp_path / "chromium-profile",
            executable_path=chromium_executable(),
            args=CHROMIUM_FLAGS,
            headless=True,
        )
        context.set_default_timeout(20_000)
        try:
            page = context.new_page()
            problems: list[str] = []
            page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
            page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
            page.on("requestfailed", lambda r: problems.append(f"failed request: {r.url} {r.failure}"))
            page.on(
                "request",
                lambda r: (
                    None
                    if urlsplit(r.url).netloc == urlsplit(api_url).netloc or r.url.startswith("data:")
                    # An outside request would fail on this machine and leak the reader's visit anywhere else.
                    else problems.append(f"outside request: {r.url}")
                ),
            )
            response = page.goto(f"{api_url}/docs", wait_until="load")
            assert response is not None and response.status == 200
            assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
            page.wait_for_selector(".opblock-summary-path", state="attached")
            listed = page.eval_on_selector_all(
                ".opblock",
                """blocks => blocks.map(b => [
                    b.querySelector('.opblock-summary-method').textContent.trim(),
                    b.querySelector('.opblock-summary-path').getAttribute('data-path'),
                ])""",
            )
            assert {(method, path) for method, path in listed} == operations
            assert "Unable to render this definition" not in page.content()
            cheapest = page.locator(".opblock-summary-path[data-path='/v1/cheapest']").first
            cheapest.click()  # expand the operation: its parameters show
            page.wait_for_selector(".opblock.is-open .parameters", state="visible")
            assert page.locator(".opblock.is-open .parameters tr[data-param-name]").count() > 3
        finally:
            context.close()
    assert problems == []
