"""Serving the static site from its build: the precompressed bytes, strong ETags, and 304s.

Every build writes a manifest (``catalog.website.output``) with each file's SHA-256 and a ``.gz`` beside each
compressible file. A request for a file of the manifest is answered from those: ``ETag`` is the content hash
(``"<hash>"`` for the plain bytes, ``"<hash>.gz"`` for the gzip ones, as RFC 9110 wants a tag per
representation), a current ``If-None-Match`` gets a 304, and the ``.gz`` goes with ``Content-Encoding: gzip``
only to a client that accepts gzip. Nothing is hashed or compressed per request, and the bytes of small files
are kept in memory for as long as their build is the one in place.

The site folder is swapped whole by each build, so its manifest is looked up on every request (one ``stat``):
a new build is served at once and everything read from the old one is dropped. Files the manifest does not
list, and large ones without a ``.gz`` (the DuckDB and Parquet downloads: streamed, with ranges), go to
Starlette's ``StaticFiles``; a folder built before manifests existed is served as it was (gzipped per request)
until the next build replaces it.
"""

from __future__ import annotations

import mimetypes
import os
from pathlib import Path
from typing import Any

from starlette.datastructures import Headers
from starlette.middleware.gzip import GZipMiddleware
from starlette.responses import JSONResponse
from starlette.staticfiles import StaticFiles
from starlette.types import Receive, Scope, Send

from catalog.api.deps import etag_matches
from catalog.website.output import MANIFEST, read_manifest

MEMORY_FILE = 2_000_000  # bytes: a file up to this size is kept in memory while its build is current
MEMORY_TOTAL = 64_000_000  # bytes kept in memory at most, over all files of the current build
CACHE_CONTROL = b"no-cache"  # the site changes every sweep: revalidate (a 304 costs nothing)

mimetypes.add_type("application/atom+xml", ".atom")


def accepts_gzip(header: str | None) -> bool:
    """Whether ``Accept-Encoding`` allows gzip (``gzip`` or ``*`` with a non-zero q, RFC 9110 §12.5.3)."""
    if not header:
        return False
    allowed: dict[str, bool] = {}
    for item in header.lower().split(","):
        name, _, params = item.strip().partition(";")
        q = 1.0
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        allowed[name.strip()] = q > 0
    return allowed.get("gzip", allowed.get("x-gzip", allowed.get("*", False)))


def media_type(name: str) -> bytes:
    kind = mimetypes.guess_type(name)[0] or "text/plain"
    return (f"{kind}; charset=utf-8" if kind.startswith("text/") else kind).encode()


class SiteFiles:
    """The ASGI app for the files of the build at ``site`` (GET and HEAD; the caller refuses other methods)."""

    def __init__(self, site: Path) -> None:
        self.site = site
        self.fallback = StaticFiles(directory=site, html=True, check_dir=False)
        # A build without a manifest (written by an older version): compressed per request, as it was.
        self.legacy = GZipMiddleware(
            self.fallback,
            minimum_size=1024,
            compresslevel=6,
            exclude_content_types=("application/octet-stream", "application/vnd.apache.parquet"),
        )
        self._version: tuple[int, int, int] | None = None
        self._files: dict[str, Any] = {}
        self._bytes: dict[tuple[str, bool], bytes] = {}
        self._held = 0

    def _current(self) -> bool:
        """Load the manifest of the build in place when it changed; False when there is none."""
        try:
            stat = os.stat(self.site / MANIFEST)
        except OSError:
            self._version, self._files = None, {}
            return False
        version = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
        if version != self._version:
            manifest = read_manifest(self.site)
            self._files = manifest["files"] if manifest else {}
            self._bytes, self._held, self._version = {}, 0, version
        return bool(self._files)

    def _read(self, rel: str, packed: bool) -> bytes | None:
        key = (rel, packed)
        data = self._bytes.get(key)
        if data is None:
            try:
                data = (self.site / (rel + ".gz" if packed else rel)).read_bytes()
            except OSError:
                return None  # swapped away under us: the next request sees the new build
            if len(data) <= MEMORY_FILE and self._held + len(data) <= MEMORY_TOTAL:
                self._bytes[key] = data
                self._held += len(data)
        return data

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "/")
        rel = path.lstrip("/")
        if rel == "" or rel.endswith("/"):
            rel += "index.html"
        parts = rel.split("/")
        if any(part.startswith(".") for part in parts):  # the manifest, the marker, and any ``..``
            await self._not_found(scope, receive, send)
            return
        if not self._current():
            await self.legacy(scope, receive, send)
            return
        facts = self._files.get(rel)
        if facts is None or (facts["gzip"] is None and facts["size"] > MEMORY_FILE):
            await self.fallback(scope, receive, send)  # not in this build (a 404), or a large download
            return
        request = Headers(scope=scope)
        packed = facts["gzip"] is not None and accepts_gzip(request.get("accept-encoding"))
        etag = f'"{facts["sha256"][:32]}{".gz" if packed else ""}"'
        headers = [(b"etag", etag.encode()), (b"cache-control", CACHE_CONTROL)]
        if facts["gzip"] is not None:
            headers.append((b"vary", b"accept-encoding"))
        match = request.get("if-none-match")
        if match is not None and etag_matches(match, etag):
            await send({"type": "http.response.start", "status": 304, "headers": headers})
            await send({"type": "http.response.body", "body": b""})
            return
        body = self._read(rel, packed)
        if body is None:
            await self.fallback(scope, receive, send)
            return
        headers += [(b"content-type", media_type(rel)), (b"content-length", str(len(body)).encode())]
        if packed:
            headers.append((b"content-encoding", b"gzip"))
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"" if scope.get("method") == "HEAD" else body})

    async def _not_found(self, scope: Scope, receive: Receive, send: Send) -> None:
        error = {"code": "not_found", "message": f"no page at {scope.get('path')}", "detail": None}
        await JSONResponse({"error": error}, status_code=404)(scope, receive, send)
