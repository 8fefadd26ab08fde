"""What a finished site build leaves beside its pages: a ``.gz`` of each compressible file and a manifest.

The manifest (``MANIFEST`` in the site folder) lists every file the build wrote with the SHA-256 of its bytes,
its size and the size of its ``.gz`` (null when it has none), and each rendered page's input fingerprint
(``catalog.website.incremental``). A server reads it once per build to answer with strong ETags and the
precompressed bytes, so a request never hashes or compresses; the next build reads it to tell which pages it
can take from this one.

Compression happens once per build, in the build folder, before the swap: a reader never sees a page without
its ``.gz``. The ``.gz`` files carry no time or name (``mtime=0``), so two builds of the same bytes give the same
``.gz``. Binary downloads (Parquet, DuckDB) are already compact and are left as they are.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MANIFEST = ".catalog-manifest.json"
MANIFEST_FORMAT = 1
# Text the site writes; anything else (Parquet, DuckDB) goes as it is.
COMPRESSIBLE = frozenset({".html", ".atom", ".css", ".js", ".json", ".csv", ".svg", ".txt", ".xml"})
MIN_COMPRESS = 256  # bytes: below this, gzip's own header and trailer eat most of what it saves
GZIP_LEVEL = 6  # zlib's default: level 9 takes ~2× as long for ~1 % less here


@dataclass(frozen=True)
class FileFacts:
    sha256: str
    size: int
    gzip_size: int | None


def compressible(name: str) -> bool:
    return os.path.splitext(name)[1] in COMPRESSIBLE


def precompress(data: bytes) -> bytes:
    """The ``.gz`` of ``data``: deterministic (no time stamp, no file name in the header)."""
    return gzip.compress(data, compresslevel=GZIP_LEVEL, mtime=0)


def finish(folder: Path, pages: dict[str, str], code: str, previous: Path | None = None) -> dict[str, FileFacts]:
    """Write the ``.gz`` beside each compressible file of ``folder`` and the manifest; return the files' facts.

    ``pages``: each rendered page's input fingerprint, kept for the next build; ``code``: the version of the
    code and templates that wrote it. ``previous``: the last build; a file whose bytes it holds under the same
    name takes its ``.gz`` from there instead of compressing again (when the same code wrote it)."""
    last = read_manifest(previous) if previous is not None else None
    before = last["files"] if last is not None and last.get("code") == code else {}
    files: dict[str, FileFacts] = {}
    for root, dirs, names in os.walk(folder):
        dirs.sort()
        for name in sorted(names):
            path = Path(root, name)
            rel = path.relative_to(folder).as_posix()
            if name.startswith("."):
                continue  # the marker and the manifest itself
            data = path.read_bytes()
            digest = hashlib.sha256(data).hexdigest()
            packed = None
            if compressible(name) and len(data) >= MIN_COMPRESS:
                packed = _previous_gzip(previous, rel, before.get(rel), digest) or precompress(data)
                Path(root, name + ".gz").write_bytes(packed)
            files[rel] = FileFacts(digest, len(data), len(packed) if packed is not None else None)
    manifest = {
        "format": MANIFEST_FORMAT,
        "code": code,
        "files": {k: {"sha256": v.sha256, "size": v.size, "gzip": v.gzip_size} for k, v in files.items()},
        "pages": dict(sorted(pages.items())),
    }
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=0, sort_keys=False) + "\n", encoding="utf-8")
    return files


def _previous_gzip(previous: Path | None, rel: str, facts: Any, digest: str) -> bytes | None:
    if previous is None or not isinstance(facts, dict) or facts.get("sha256") != digest or not facts.get("gzip"):
        return None
    try:
        packed = (previous / (rel + ".gz")).read_bytes()
    except OSError:
        return None
    return packed if len(packed) == facts["gzip"] else None


def read_manifest(folder: Path) -> dict[str, Any] | None:
    """The manifest of the build at ``folder``; None when there is none or it is not one this code wrote."""
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(manifest, dict) or manifest.get("format") != MANIFEST_FORMAT:
        return None
    return manifest
