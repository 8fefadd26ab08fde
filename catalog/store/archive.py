"""The raw-payload archive: every body a snapshot fetched, gzip-compressed and stored once by content hash.

History can be re-derived from it when parsing improves (``catalog rederive``).
"""

from __future__ import annotations

import gzip
import hashlib

import duckdb
import pyarrow as pa

from catalog.openrouter.payload import RawPayload
from catalog.redact import redact
from catalog.store.redaction import redact_cell


def archive_payloads(con: duckdb.DuckDBPyConnection, snapshot_id: int, payloads: list[RawPayload]) -> int:
    """Store the payloads of one snapshot (inside the caller's transaction); return new bytes stored.

    Each table gets one bulk insert from an Arrow table: a sweep holds a few hundred payloads, and a
    statement per row (``executemany``) cost more than parsing them.
    """
    blobs: dict[str, bytes] = {}
    digests: list[str | None] = []
    for payload in payloads:
        digest = None
        if payload.body is not None:
            digest = hashlib.sha256(payload.body).hexdigest()
            blobs.setdefault(digest, payload.body)
        digests.append(digest)
    known: set[str] = set()
    if blobs:
        known = {
            row[0]
            for row in con.execute(
                "SELECT sha256 FROM raw_blobs WHERE sha256 IN (SELECT unnest(?::VARCHAR[]))", [list(blobs)]
            ).fetchall()
        }
    fresh = {d: b for d, b in blobs.items() if d not in known}
    packed = [gzip.compress(b, compresslevel=6, mtime=0) for b in fresh.values()]
    if fresh:
        _insert(
            con,
            "raw_blobs",
            pa.table(
                {
                    "sha256": pa.array(list(fresh), pa.string()),
                    "size_bytes": pa.array([len(b) for b in fresh.values()], pa.int32()),
                    "gzip_body": pa.array(packed, pa.binary()),
                }
            ),
        )
    if payloads:
        _insert(
            con,
            "raw_payloads",
            pa.table(
                {
                    "snapshot_id": pa.array([snapshot_id] * len(payloads), pa.int32()),
                    "path": pa.array([p.path for p in payloads], pa.string()),
                    "status": pa.array([p.status for p in payloads], pa.int32()),
                    "sha256": pa.array(digests, pa.string()),
                    # An error repeats what an upstream answered and the URL asked: no credential is kept.
                    "error": pa.array([redact(p.error) if p.error else p.error for p in payloads], pa.string()),
                }
            ),
        )
    return sum(len(b) for b in packed)


def _insert(con: duckdb.DuckDBPyConnection, table: str, rows: pa.Table) -> None:
    name = f"_incoming_{table}"
    con.register(name, rows)
    try:
        con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM {name}")
    finally:
        con.unregister(name)


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
        RawPayload(path, status, gzip.decompress(body) if body is not None else None, redact_cell("error", error))
        for path, status, body, error in rows
    ]
