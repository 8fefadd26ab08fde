"""Opening the DuckDB file: one writer, any number of readers, and clear words when that is not possible.

DuckDB lets one process open a file for writing, and no other process may then open it at all. While
``catalog up`` owns the history it therefore publishes a **read-only copy** beside it after every job it runs
(``catalog.readonly.duckdb`` next to ``catalog.duckdb``; swapped in atomically, so a reader sees a whole
snapshot or the one before) and a small **service file** (``catalog.duckdb.service.json``: pid, URL, start
time). Readers that find the file locked read the copy instead; writers say which process to stop.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from catalog.errors import StoreError, StoreLockedError
from catalog.store.migrations import MIGRATIONS, applied, migrate

BLOCK_SIZE = 16 * 1024


def published_copy(path: Path) -> Path:
    """Where the service publishes its read-only copy of ``path``."""
    return path.with_name(f"{path.stem}.readonly{path.suffix or '.duckdb'}")


def service_file(path: Path) -> Path:
    """Where the process that owns ``path`` (``catalog up``) says who it is."""
    return path.with_name(path.name + ".service.json")


@dataclass(frozen=True)
class ServiceInfo:
    """The ``catalog up`` process that owns a database file, as its service file says."""

    pid: int
    url: str
    started_at: str
    source: str
    token: str

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> ServiceInfo:
        return cls(
            pid=int(raw["pid"]),
            url=str(raw["url"]),
            started_at=str(raw["started_at"]),
            source=str(raw.get("source", "")),
            token=str(raw.get("token", "")),
        )


def running_service(path: Path) -> ServiceInfo | None:
    """The live ``catalog up`` process that owns ``path``, if any (a file left by a killed process is ignored)."""
    try:
        info = ServiceInfo.from_dict(json.loads(service_file(path).read_text()))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    try:
        os.kill(info.pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass  # alive, owned by another user
    return info


def write_service_file(path: Path, info: ServiceInfo) -> None:
    target = service_file(path)
    tmp = target.with_name(target.name + ".tmp")
    # The token lets `catalog jobs run` ask this service to run a job: readable by its owner only.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(info.__dict__, out)
    os.replace(tmp, target)


def remove_service_file(path: Path) -> None:
    """On a clean stop: the service file and the copy go (a reader that has the copy open keeps reading it)."""
    service_file(path).unlink(missing_ok=True)
    published_copy(path).unlink(missing_ok=True)


def _locked(path: Path, exc: Exception) -> StoreLockedError:
    service = running_service(path)
    if service is not None:
        return StoreLockedError(
            f"the database {path} is owned by `catalog up` (pid {service.pid}, {service.url}), which runs the "
            f"scheduled jobs. Ask it to run one now with `catalog jobs run NAME`, stop it (Ctrl-C, or "
            f"kill -TERM {service.pid}), or point this command at another file with --db / CATALOG_DB."
        )
    return StoreLockedError(
        f"the database {path} is in use by another process (DuckDB allows one writer). "
        "Stop that process, or point this command at another file with --db / CATALOG_DB."
        f" [{str(exc).splitlines()[0][:160]}]"
    )


def connect_for_reading(path: Path) -> tuple[duckdb.DuckDBPyConnection, Path | None]:
    """Open the history read-only; if a running service owns it, open the copy it publishes instead.

    Returns the connection and the copy's path when the copy was used (``None`` for the file itself). Any
    other process holding the file (a sync, a replay) is an error that says so: the copy would be stale.
    """
    try:
        return connect(path, read_only=True), None
    except StoreLockedError:
        copy = published_copy(path)
        # Only the service keeps the copy current: a lock held by `catalog sync` or `replay` means the copy
        # (if any) is from an earlier service run and may be days old.
        if running_service(path) is None or not copy.exists():
            raise
        try:
            return connect(copy, read_only=True), copy
        except StoreError as exc:
            raise StoreLockedError(
                f"the database {path} is owned by another process and its read-only copy {copy} cannot be "
                f"read ({exc}); try again in a moment"
            ) from None


def publish_copy(con: duckdb.DuckDBPyConnection, path: Path) -> Path:
    """Write the database ``con`` has open (``path``) to its read-only copy, and swap the copy in atomically.

    DuckDB copies it inside one transaction, so the copy is one consistent state even while other threads
    write. The file at ``path`` is never opened by this process a second time: its lock is a POSIX record
    lock, and closing *any* descriptor of the file would drop the lock and let a second writer in.
    """
    target = published_copy(path)
    tmp = target.with_name(target.name + ".tmp")
    tmp.unlink(missing_ok=True)
    source = con.execute("SELECT current_database()").fetchall()[0][0]
    literal = str(tmp).replace("'", "''")
    con.execute(f"ATTACH '{literal}' AS catalog_publish (BLOCK_SIZE {BLOCK_SIZE})")
    try:
        con.execute(f'COPY FROM DATABASE "{source.replace(chr(34), chr(34) * 2)}" TO catalog_publish')
    finally:
        con.execute("DETACH catalog_publish")
    os.replace(tmp, target)
    return target


def connect(path: Path, *, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """Open the history. Writers migrate the schema first; readers refuse a missing or outdated file."""
    if read_only:
        if not path.exists():
            raise StoreError(
                f"no database at {path}; load one first with `catalog up` or `catalog replay`, "
                "or point at another file with --db / CATALOG_DB"
            )
        try:
            con = duckdb.connect(str(path), read_only=True)
        except duckdb.IOException as exc:
            if "lock" in str(exc).lower():
                raise _locked(path, exc) from None
            raise StoreError(f"cannot open {path}: {exc}") from None
        missing = len(MIGRATIONS) - len(applied(con))
        if missing:
            con.close()
            raise StoreError(f"{path} needs {missing} schema migration(s); run any writing command once")
        return con
    path.parent.mkdir(parents=True, exist_ok=True)
    # The history is small and mostly append-only: with DuckDB's default 256 KiB blocks a month of hourly
    # snapshots is mostly half-empty blocks (4 MB for ~2 MB of data). 16 KiB blocks keep the file near its
    # data size. The block size is fixed when a file is created; an existing file keeps its own.
    config: dict[str, str | bool | int | float | list[str]] = (
        {} if path.exists() else {"default_block_size": str(BLOCK_SIZE)}
    )
    try:
        con = duckdb.connect(str(path), config=config)
    except duckdb.IOException as exc:
        if "lock" in str(exc).lower():
            raise _locked(path, exc) from None
        raise StoreError(f"cannot open {path}: {exc}") from None
    except duckdb.Error as exc:
        raise StoreError(f"{path} is not a usable DuckDB file: {exc}") from None
    migrate(con)
    return con


@contextmanager
def transaction(con: duckdb.DuckDBPyConnection, *, commit: bool = True) -> Iterator[duckdb.DuckDBPyConnection]:
    """One transaction around the block: committed when it ends (rolled back instead with ``commit=False``,
    for a dry run), rolled back when it raises."""
    con.execute("BEGIN TRANSACTION")
    try:
        yield con
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT" if commit else "ROLLBACK")


def checkpoint(con: duckdb.DuckDBPyConnection) -> None:
    """Write the WAL into the database file."""
    con.execute("CHECKPOINT")


def database_size(con: duckdb.DuckDBPyConnection) -> dict[str, Any]:
    """The open database's block size, total, used and free blocks, and WAL size (``{}`` in memory)."""
    row = con.execute(
        "SELECT block_size, total_blocks, used_blocks, free_blocks, wal_size FROM pragma_database_size() "
        "WHERE database_name = current_database()"
    ).fetchall()
    if not row:
        return {}
    block_size, total, used, free, wal = row[0]
    return {
        "block_size": int(block_size),
        "total_blocks": int(total),
        "used_blocks": int(used),
        "free_blocks": int(free),
        "wal_size": str(wal),
    }
