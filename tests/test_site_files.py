"""How ``catalog up`` serves a site build (``jobs.site_files``): the build's own ``.gz`` to a client that
accepts gzip, the plain bytes to one that does not, strong ETags from the content hash, 304s, and the site's
security headers on every answer. A small hand-made build: no history needed."""

from __future__ import annotations

import gzip
import hashlib
import shutil
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Route
from starlette.testclient import TestClient

from catalog.website.build import MARKER
from catalog.website.output import MANIFEST, finish
from jobs.app import site_or_api
from jobs.site_files import accepts_gzip

PAGE = "<!doctype html><title>x</title>" + "<p>the same words again and again</p>\n" * 200


def make_site(root: Path, *, manifest: bool = True) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / MARKER).write_text("built by `catalog site build`\n")
    (root / "index.html").write_text(PAGE, encoding="utf-8")
    (root / "models").mkdir(exist_ok=True)
    (root / "models" / "a.html").write_text(PAGE.replace("words", "models"), encoding="utf-8")
    (root / "tiny.css").write_text("p{}", encoding="utf-8")
    (root / "downloads").mkdir(exist_ok=True)
    (root / "downloads" / "data.parquet").write_bytes(bytes(range(256)) * 64)
    if manifest:
        finish(root, {}, code="test")
    return root


def client(site: Path) -> TestClient:
    before = Route("/", lambda _request: PlainTextResponse("no site yet"))
    return TestClient(Starlette(routes=[Mount("/", app=site_or_api(site, None, before))]))


@pytest.fixture
def site(tmp_path: Path) -> Path:
    return make_site(tmp_path / "site")


def test_a_client_that_accepts_gzip_gets_the_builds_gz_with_a_strong_etag(site: Path) -> None:
    with client(site) as http:
        home = http.get("/", headers={"accept-encoding": "gzip"})
    assert home.status_code == 200 and home.text == PAGE
    assert home.headers["content-encoding"] == "gzip"
    assert home.headers["content-type"] == "text/html; charset=utf-8"
    # The very bytes the build wrote, not a compression of this request.
    assert int(home.headers["content-length"]) == (site / "index.html.gz").stat().st_size
    digest = hashlib.sha256(PAGE.encode()).hexdigest()[:32]
    assert home.headers["etag"] == f'"{digest}.gz"'
    assert home.headers["vary"] == "accept-encoding"
    assert "frame-ancestors 'none'" in home.headers["content-security-policy"]
    assert home.headers["x-content-type-options"] == "nosniff"


def test_a_client_without_gzip_gets_the_plain_bytes_and_their_own_etag(site: Path) -> None:
    with client(site) as http:
        plain = http.get("/models/a.html", headers={"accept-encoding": "identity"})
        refused = http.get("/models/a.html", headers={"accept-encoding": "gzip;q=0, identity"})
    for answer in (plain, refused):
        assert answer.status_code == 200 and "content-encoding" not in answer.headers
        assert answer.content == (site / "models" / "a.html").read_bytes()
        expected = hashlib.sha256(answer.content).hexdigest()[:32]
        assert answer.headers["etag"] == f'"{expected}"'


def test_a_current_etag_gets_a_304_and_a_stale_one_the_page(site: Path) -> None:
    with client(site) as http:
        first = http.get("/", headers={"accept-encoding": "gzip"})
        again = http.get("/", headers={"accept-encoding": "gzip", "if-none-match": first.headers["etag"]})
        weak = http.get("/", headers={"accept-encoding": "gzip", "if-none-match": "W/" + first.headers["etag"]})
        other = http.get("/", headers={"accept-encoding": "gzip", "if-none-match": '"0000"'})
        head = http.head("/", headers={"accept-encoding": "gzip"})
    assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == first.headers["etag"]
    assert again.headers["x-content-type-options"] == "nosniff"
    assert weak.status_code == 304  # If-None-Match compares weakly (RFC 9110)
    assert other.status_code == 200 and other.text == PAGE
    assert head.status_code == 200 and head.content == b"" and head.headers["etag"] == first.headers["etag"]


def test_a_new_build_is_served_at_once(site: Path, tmp_path: Path) -> None:
    with client(site) as http:
        first = http.get("/", headers={"accept-encoding": "gzip"})
        # The build swaps a new folder in whole.
        fresh = make_site(tmp_path / "next")
        (fresh / "index.html").write_text(PAGE + "<p>new</p>\n", encoding="utf-8")
        finish(fresh, {}, code="test")
        shutil.rmtree(site)
        fresh.rename(site)
        second = http.get("/", headers={"accept-encoding": "gzip", "if-none-match": first.headers["etag"]})
    assert second.status_code == 200 and second.text.endswith("<p>new</p>\n")
    assert second.headers["etag"] != first.headers["etag"]


def test_binary_files_go_as_they_are_and_the_builds_own_files_are_not_served(site: Path) -> None:
    with client(site) as http:
        data = http.get("/downloads/data.parquet", headers={"accept-encoding": "gzip"})
        small = http.get("/tiny.css", headers={"accept-encoding": "gzip"})
        hidden = [http.get(f"/{name}").status_code for name in (MANIFEST, MARKER, "models/../" + MANIFEST)]
        missing = http.get("/models/none.html")
    assert data.status_code == 200 and "content-encoding" not in data.headers
    assert data.content == (site / "downloads" / "data.parquet").read_bytes()
    assert small.status_code == 200 and "content-encoding" not in small.headers and small.text == "p{}"
    assert hidden == [404, 404, 404]
    assert missing.status_code == 404


def test_a_build_without_a_manifest_is_served_as_before(tmp_path: Path) -> None:
    site = make_site(tmp_path / "old", manifest=False)
    with client(site) as http:
        home = http.get("/", headers={"accept-encoding": "gzip"})
    assert home.status_code == 200 and home.text == PAGE and home.headers["content-encoding"] == "gzip"
    assert not (site / "index.html.gz").exists()


def test_the_gz_files_are_deterministic(tmp_path: Path) -> None:
    one = make_site(tmp_path / "one")
    two = make_site(tmp_path / "two")
    assert (one / "index.html.gz").read_bytes() == (two / "index.html.gz").read_bytes()
    assert gzip.decompress((one / "index.html.gz").read_bytes()).decode() == PAGE
    assert (one / MANIFEST).read_bytes() == (two / MANIFEST).read_bytes()


@pytest.mark.parametrize(
    ("header", "accepted"),
    [
        ("gzip, deflate, br", True),
        ("br;q=1.0, gzip;q=0.8", True),
        ("gzip;q=0", False),
        ("identity", False),
        ("*", True),
        ("*;q=0", False),
        ("*, gzip;q=0", False),
        ("", False),
        (None, False),
    ],
)
def test_accept_encoding(header: str | None, accepted: bool) -> None:
    assert accepts_gzip(header) is accepted
