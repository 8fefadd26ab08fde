"""The raw-payload archive: every body a snapshot fetched, gzip-compressed and stored once by content hash.

History can be re-derived from it when parsing improves (``catalog rederive``).
"""

from __future__ import annotations

import gzip
import hashlib

import duckdb

from catalog.openrouter.payload import RawPayload


def archive_payloads(con: duckdb.DuckDBPyConnection, snapshot_id: int, payloads: list[RawPayload]) -> int:
    """Store the payloads of one snapshot (inside the caller's transaction); return new bytes stored."""
    blobs: dict[str, bytes] = {}
    rows = []
    for payload in payloads:
        digest = None
        if payload.body is not None:
            digest = hashlib.sha256(payload.body).hexdigest()
            blobs.setdefault(digest, payload.body)
        rows.append((snapshot_id, payload.path, payload.status, digest, payload.error))
    known: set[str] = set()
    if blobs:
        known = {
            row[0]
            for row in con.execute(
                "SELECT sha256 FROM raw_blobs WHERE sha256 IN (SELECT unnest(?::VARCHAR[]))", [list(blobs)]
            ).fetchall()
        }
    fresh = [(d, len(b), gzip.compress(b, compresslevel=6, mtime=0)) for d, b in blobs.items() if d not in known]
    if fresh:
        con.executemany("INSERT INTO raw_blobs (sha256, size_bytes, gzip_body) VALUES (?, ?, ?)", fresh)
    if rows:
        con.executemany(
            "INSERT INTO raw_payloads (snapshot_id, path, status, sha256, error) VALUES (?, ?, ?, ?, ?)", rows
        )
    return sum(len(f[2]) for f in fresh)


def load_payloads(con: duckdb.DuckDBPyConnection, snapshot_id: int) -> list[RawPayload]:
    """The payloads of one snapshot, bodies decompressed, in a stable order."""
    rows = con.execute(
        """
        SELECT p.path, p.status, b.gzip_body, p.error
        FROM raw_payloads p LEFT JOIN raw_blobs b ON b.sha256 = p.sha256
        WHERE p.snapshot_id = ? ORDER BY p.path
        """,
        [snapshot_id],
    ).fetchall()
    return [
        RawPayload(path, status, gzip.decompress(body) if body is not None else None, error)
        for path, status, body, error in rows
    ]
