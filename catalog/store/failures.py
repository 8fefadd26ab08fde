"""DuckDB's failures in the history's words: one line that names the file, what happened and the way out.

DuckDB raises its own exception types, often with several lines and its internal wording ("TransactionContext
Error: Failed to commit: …"). Three kinds of failure reach a user of the history, and each becomes a
``StoreError`` here so the CLI prints one line (exit 2) and the service logs one line:

* a **write that failed** — a full disk, an I/O error — at a commit, a checkpoint or the read-only copy's
  publish (``StoreWriteError``). Nothing of the failed transaction is stored. A failed *checkpoint* is fatal
  to the open database in DuckDB: every later statement on it fails until the file is opened again
  (``fatal=True``); committed data is safe (the write-ahead log still holds it).
* a **corrupt file** — a block whose checksum does not match, or a header DuckDB cannot read
  (``StoreDamagedError``);
* a file that is **not a DuckDB database** at all (``NotACatalogError``).

``commit`` and ``rollback`` are the transaction ends every writer uses: a failed ``COMMIT`` has already
ended the transaction inside DuckDB, so the ``ROLLBACK`` after it must not replace the real cause with "no
transaction is active".
"""

from __future__ import annotations

import contextlib
import re
from pathlib import Path

import duckdb

from catalog.errors import NotACatalogError, StoreDamagedError, StoreError, StoreWriteError

CAUSE_CHARS = 200
# DuckDB's wrapping around the cause; the cause itself ("No space left on device") is what a person needs.
_PREFIXES = re.compile(
    r"^(?:(?:TransactionContext|IO|FATAL|Invalid Input|Internal|Catalog) Error: |Failed to commit: |"
    r"Failed to create checkpoint because of error: |Failed: )+"
)
_WRITE_WORDS = (
    "no space left on device",
    "could not write",
    "disk quota exceeded",
    "failed to commit",
    "could not truncate",
    "could not fsync",
    "input/output error",
    "read-only file system",
)


def database_path(con: duckdb.DuckDBPyConnection) -> str:
    """The file ``con`` has open (for a message), or a description when DuckDB can no longer say."""
    try:
        row = con.execute("SELECT path FROM duckdb_databases() WHERE database_name = current_database()").fetchall()
    except duckdb.Error:
        return "the database"
    return str(row[0][0]) if row and row[0][0] else "the database"


def cause(exc: BaseException) -> str:
    """The part of a DuckDB message that says what went wrong, on one line."""
    text = " ".join(str(exc).split())
    if "Original error:" in text:  # an invalidated database repeats the error that invalidated it
        text = text.split("Original error:", 1)[1].strip().strip('"')
    text = _PREFIXES.sub("", text).strip()
    return text if len(text) <= CAUSE_CHARS else text[: CAUSE_CHARS - 1] + "…"


def store_failure(exc: BaseException, path: Path | str) -> StoreError | None:
    """``exc`` as the one-line ``StoreError`` a person reads, when it is a write failure, a corrupt file or not
    a DuckDB file; ``None`` for any other error (a bug, or an error the caller words itself)."""
    if isinstance(exc, StoreError):
        return exc
    if not isinstance(exc, duckdb.Error):
        return None
    text = str(exc)
    lowered = text.lower()
    if isinstance(exc, duckdb.FatalException) or "has been invalidated" in lowered:
        return StoreWriteError(
            f"{path} can no longer be used by this process after a failed write ({cause(exc)}); everything "
            "committed before is safe: free space on its disk (or fix the I/O error) and start again",
            fatal=True,
        )
    if "corrupt database file" in lowered or ("checksum" in lowered and "block" in lowered):
        return StoreDamagedError(
            f"{path} is damaged ({cause(exc)}): restore it from a backup, or try `catalog rederive --db {path}`, "
            "which rebuilds the version tables from the raw archive (it stops the same way if that is damaged)"
        )
    if "not a valid duckdb database file" in lowered:
        return NotACatalogError(
            f"{path} is not a DuckDB database file: point --db / CATALOG_DB at a catalog, or create a new one "
            "with `catalog init --db NEW.duckdb`"
        )
    if "database file with version number" in lowered or ("storage version" in lowered and "newer" in lowered):
        return StoreDamagedError(
            f"{path} was written by a newer DuckDB than this installation can read ({cause(exc)}): "
            "use a newer version of catalog"
        )
    if any(word in lowered for word in _WRITE_WORDS):
        return StoreWriteError(
            f"could not write {path}: {cause(exc)}; nothing of this change was stored — free space on its disk "
            "(or fix the I/O error) and try again"
        )
    return None


def rollback(con: duckdb.DuckDBPyConnection) -> None:
    """End the transaction, quietly: called while another error is on its way, which must not be hidden (after
    a failed commit DuckDB has ended the transaction already; an invalidated database refuses even this)."""
    with contextlib.suppress(duckdb.Error):
        con.execute("ROLLBACK")


def commit(con: duckdb.DuckDBPyConnection) -> None:
    """``COMMIT``; a commit that fails (a full disk) raises the ``StoreError`` that says why."""
    try:
        con.execute("COMMIT")
    except duckdb.Error as exc:
        rollback(con)
        failure = store_failure(exc, database_path(con))
        if failure is None:
            raise
        raise failure from None
