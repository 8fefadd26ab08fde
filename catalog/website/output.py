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

import contextlib
import gzip
import hashlib
import json
import os
import shutil
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


class Output:
    """The files of one build as they are written: each with its hash and ``.gz``, then the manifest.

    ``code``: the version of the code and templates writing the build. ``previous``: the last build; a file
    whose bytes it holds under the same name takes its ``.gz`` from there instead of compressing again (when
    the same code wrote it). ``write`` and ``add`` may run in worker threads (zlib and hashlib release the GIL
    on large buffers, so they overlap the rendering), each file from one thread only."""

    def __init__(self, folder: Path, code: str, previous: Path | None = None) -> None:
        self.folder, self.code, self.previous = folder, code, previous
        last = read_manifest(previous) if previous is not None else None
        self.before: dict[str, Any] = {}
        self.before_pages: dict[str, Any] = {}  # page -> the fingerprint of its inputs then
        self.before_extra: dict[str, Any] = {}  # what the last build noted beside its files (``extra``)
        if last is not None and last.get("code") == code:
            self.before, self.before_pages = last["files"], last.get("pages") or {}
            self.before_extra = last.get("extra") or {}
        self.files: dict[str, FileFacts] = {}
        self.folders: set[str] = set()  # made already (``link``)
        self._folder_text, self._previous_text = str(folder), str(previous)
        self.extra: dict[str, Any] = {}  # noted in the manifest for the next build (JSON values)

    def reuse(self, rel: str, key: str) -> bool:
        """Take page ``rel`` from the last build, linked (its ``.gz`` too), when that build wrote it from the
        inputs of fingerprint ``key`` with the same code: its bytes are then this build's. A file missing or
        not of the size the last manifest lists (touched since) is not taken: False, the page is made."""
        if self.before_pages.get(rel) != key:
            return False
        return self.link(rel)

    def link(self, rel: str) -> bool:
        """Take file ``rel`` (and its ``.gz``) from the last build as it is, linked: the caller knows its bytes
        are this build's (``reuse``: a page of the same inputs; the history downloads of the same instant)."""
        facts = self.before.get(rel)
        if self.previous is None or not isinstance(facts, dict):
            return False
        packed = facts.get("gzip")
        pairs = [(rel, facts.get("size"))] + ([(rel + ".gz", packed)] if packed is not None else [])
        made: list[str] = []
        # Paths as strings: a build links a thousand pages, and pathlib's parsing cost more than the links.
        try:
            for name, size in pairs:
                source = os.path.join(self._previous_text, name)
                if os.stat(source).st_size != size:
                    raise OSError(f"{source} is not the file the last build wrote")
                target = os.path.join(self._folder_text, name)
                parent = os.path.dirname(target)
                if parent not in self.folders:
                    os.makedirs(parent, exist_ok=True)
                    self.folders.add(parent)
                try:
                    os.link(source, target)
                except OSError:  # a file system without hard links: a copy, still no render or compression
                    shutil.copyfile(source, target)
                made.append(target)
        except OSError:
            for target in made:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(target)
            return False
        self.files[rel] = FileFacts(facts["sha256"], facts["size"], packed)
        return True

    def write(self, rel: str, data: bytes) -> FileFacts:
        path = self.folder / rel
        if not path.parent.is_dir():
            path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return self._describe(rel, data)

    def add(self, rel: str) -> FileFacts:
        """A file written by other means (copied, exported): hash it and write its ``.gz``."""
        return self._describe(rel, (self.folder / rel).read_bytes())

    def _describe(self, rel: str, data: bytes) -> FileFacts:
        digest = hashlib.sha256(data).hexdigest()
        packed = None
        if compressible(rel) and len(data) >= MIN_COMPRESS:
            packed = self._previous_gzip(rel, digest) or precompress(data)
            (self.folder / (rel + ".gz")).write_bytes(packed)
        facts = FileFacts(digest, len(data), len(packed) if packed is not None else None)
        self.files[rel] = facts
        return facts

    def _previous_gzip(self, rel: str, digest: str) -> bytes | None:
        facts = self.before.get(rel)
        if self.previous is None or not isinstance(facts, dict) or facts.get("sha256") != digest:
            return None
        try:
            packed = (self.previous / (rel + ".gz")).read_bytes()
        except OSError:
            return None
        return packed if len(packed) == facts.get("gzip") else None

    def finish(self, pages: dict[str, str]) -> dict[str, FileFacts]:
        """Describe every file not yet described (the ``.gz`` written so far are not files of the site) and
        write the manifest. ``pages``: each rendered page's input fingerprint, kept for the next build."""
        top = self._folder_text
        for root, _dirs, names in os.walk(top):
            where = os.path.relpath(root, top)
            prefix = "" if where == "." else where.replace(os.sep, "/") + "/"
            for name in names:
                rel = prefix + name
                if name.startswith(".") or rel in self.files or (name.endswith(".gz") and rel[:-3] in self.files):
                    continue  # the marker, the manifest, what is described already
                self.add(rel)
        manifest = {
            "format": MANIFEST_FORMAT,
            "code": self.code,
            "files": {
                k: {"sha256": v.sha256, "size": v.size, "gzip": v.gzip_size} for k, v in sorted(self.files.items())
            },
            "pages": dict(sorted(pages.items())),
            "extra": self.extra,
        }
        (self.folder / MANIFEST).write_text(manifest_text(manifest) + "\n", encoding="utf-8")
        return self.files


def manifest_text(manifest: dict[str, Any]) -> str:
    """``json.dumps(manifest, indent=0)``, the same characters. With ``indent`` set, ``json`` encodes in Python (a
    thousand files' entries each build); at indent 0 a value's text does not depend on its depth, so the files'
    and pages' maps are joined here from texts the C encoder makes."""
    if not manifest:
        return "{}"
    parts = []
    for key, value in manifest.items():
        if key in ("files", "pages") and isinstance(value, dict) and value:
            text = "{\n" + ",\n".join(f"{json.dumps(k)}: {_item_text(v)}" for k, v in value.items()) + "\n}"
        else:
            text = json.dumps(value, indent=0)
        parts.append(f"{json.dumps(key)}: {text}")
    return "{\n" + ",\n".join(parts) + "\n}"


def _item_text(value: Any) -> str:
    """``json.dumps(value, indent=0)`` of a file's facts (a flat map) or a page's fingerprint (a text)."""
    if isinstance(value, dict) and value:
        return "{\n" + ",\n".join(f"{json.dumps(k)}: {_scalar_text(v)}" for k, v in value.items()) + "\n}"
    return json.dumps(value, indent=0)


def _scalar_text(value: Any) -> str:
    return json.dumps(value, indent=0) if isinstance(value, dict | list) else json.dumps(value)


def finish(folder: Path, pages: dict[str, str], code: str, previous: Path | None = None) -> dict[str, FileFacts]:
    """The ``.gz`` of each compressible file of a folder already written, and its manifest."""
    return Output(folder, code, previous).finish(pages)


def read_manifest(folder: Path) -> dict[str, Any] | None:
    """The manifest of the build at ``folder``; None when there is none or it is not one this code wrote."""
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(manifest, dict) or manifest.get("format") != MANIFEST_FORMAT:
        return None
    return manifest
