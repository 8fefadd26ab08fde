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

from catalog.errors import NotACatalogError, StoreDamagedError, StoreError, StoreLockedError, StoreWriteError
from catalog.settings import default_db
from catalog.store.failures import cause, database_path, rollback, store_failure
from catalog.store.failures import commit as commit_transaction
from catalog.store.migrations import APPLICATION_ID, CREATES, MIGRATIONS, applied, migrate

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
        service = running_service(path)
        # Only the service keeps the copy current: a lock held by `catalog sync` or `replay` means the copy
        # (if any) is from an earlier service run and may be days old.
        if service is None:
            raise
        if not copy.exists():
            # The service removes its copy when a publish fails rather than leave an outdated one to be read.
            raise StoreLockedError(
                f"the database {path} is owned by `catalog up` (pid {service.pid}), which has no read-only copy "
                f"published right now (it is starting, or its last publish failed: see its log); ask its API at "
                f"{service.url}, or try again after its next job"
            ) from None
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

    A publish that fails (a full disk: the copy needs about twice its size while DuckDB writes it) removes
    what it wrote and the previous copy too — fail closed: readers get an error naming the service rather
    than an older copy presented as the state after the last job — and raises ``StoreWriteError``.
    """
    target = published_copy(path)
    tmp = target.with_name(target.name + ".tmp")
    scratch = (tmp, tmp.with_name(tmp.name + ".wal"))
    for leftover in scratch:  # from a process killed while publishing
        leftover.unlink(missing_ok=True)
    source = con.execute("SELECT current_database()").fetchall()[0][0]
    literal = str(tmp).replace("'", "''")
    try:
        con.execute(f"ATTACH '{literal}' AS catalog_publish (BLOCK_SIZE {BLOCK_SIZE})")
        try:
            con.execute(f'COPY FROM DATABASE "{source.replace(chr(34), chr(34) * 2)}" TO catalog_publish')
        finally:
            # Detaching checkpoints the copy (it can fail for the same reason); never leave it attached.
            _detach(con)
        os.replace(tmp, target)
    except (duckdb.Error, OSError) as exc:
        for leftover in (*scratch, target):
            leftover.unlink(missing_ok=True)
        raise StoreWriteError(
            f"could not publish the read-only copy {target.name} beside {path}: {cause(exc)}; nothing of the "
            "history was lost (free space on its disk)"
        ) from None
    return target


def _detach(con: duckdb.DuckDBPyConnection) -> None:
    try:
        con.execute("DETACH catalog_publish")
    except duckdb.Error:
        # DuckDB detaches even when the checkpoint at DETACH fails; make sure, then let the caller report.
        con.execute("DETACH DATABASE IF EXISTS catalog_publish")
        raise


def connect(path: Path, *, read_only: bool = False, create: bool = True) -> duckdb.DuckDBPyConnection:
    """Open the history, checked (``check_schema``): a reader refuses a missing, foreign, damaged or outdated
    file; a writer refuses a foreign or damaged one and migrates an older one.

    A writer creates a missing file only with ``create`` (the CLI's ``init``, ``up`` and ``replay``; the
    Python default) and never creates a folder the caller named (only the default ``data/``). Every refusal
    is one ``StoreError`` line naming the file and the way out.
    """
    if read_only:
        if not path.exists():
            raise NotACatalogError(
                f"no database at {path}; create and load one with `catalog replay --db {path}` (or `catalog up`; "
                f"`catalog init` makes an empty one), or point at another file with --db / CATALOG_DB"
            )
        con = _open(path, read_only=True, config={})
        _checked(con, path, writer=False, create=False)
        return con
    if not path.exists():
        folder = path.parent
        if create and not folder.is_dir() and path.absolute() == default_db().absolute():
            folder.mkdir(parents=True, exist_ok=True)  # the default `data/` (beside a wheel install: in cwd)
        if not folder.is_dir():
            raise StoreError(
                f"cannot create {path}: the folder {folder} does not exist; create it first (mkdir -p {folder}) "
                "or choose another --db / CATALOG_DB"
            )
        if not create:
            raise NotACatalogError(
                f"no database at {path}; create it with `catalog init --db {path}` (`catalog up` and `catalog "
                "replay` also create it on their first run), or point --db / CATALOG_DB at an existing catalog"
            )
    # The history is small and mostly append-only: with DuckDB's default 256 KiB blocks a month of hourly
    # snapshots is mostly half-empty blocks (4 MB for ~2 MB of data). 16 KiB blocks keep the file near its
    # data size. The block size is fixed when a file is created; an existing file keeps its own.
    config: dict[str, str | bool | int | float | list[str]] = (
        {} if path.exists() else {"default_block_size": str(BLOCK_SIZE)}
    )
    con = _open(path, read_only=False, config=config)
    _checked(con, path, writer=True, create=create)
    try:
        migrate(con)
    except BaseException as exc:
        con.close()
        failure = store_failure(exc, path)
        if failure is None:
            raise
        raise failure from None
    return con


def _open(
    path: Path, *, read_only: bool, config: dict[str, str | bool | int | float | list[str]]
) -> duckdb.DuckDBPyConnection:
    try:
        return duckdb.connect(str(path), read_only=read_only, config=config)
    except duckdb.Error as exc:
        if isinstance(exc, duckdb.IOException) and "lock" in str(exc).lower():
            raise _locked(path, exc) from None
        failure = store_failure(exc, path)
        if failure is not None:
            raise failure from None
        raise StoreError(f"cannot open {path}: {cause(exc)}") from None


def _checked(con: duckdb.DuckDBPyConnection, path: Path, *, writer: bool, create: bool) -> None:
    """``check_schema``, closing ``con`` when the file is refused."""
    try:
        check_schema(con, path, writer=writer, create=create)
    except BaseException as exc:
        con.close()
        failure = store_failure(exc, path)
        if failure is None:
            raise
        raise failure from None


def check_schema(con: duckdb.DuckDBPyConnection, path: Path | str, *, writer: bool, create: bool = False) -> None:
    """The check at open: is this file a catalog this code can use? Raises a one-line ``StoreError`` if not.

    * an empty DuckDB file is a new catalog for a writer that may create one; anything else refuses it;
    * a file is ours when ``catalog_meta`` carries our application id, or — made before the marker existed —
      when its ``schema_migrations`` starts with our first step; anything else with tables in it belongs to
      another program and is refused, untouched (``NotACatalogError``);
    * steps this code does not know mean a newer version wrote it; a step whose tables or sequences are
      missing means the file was damaged (``StoreDamagedError``);
    * a reader refuses a file with steps still to apply (a writer applies them).
    """
    objects = {
        r[0]
        for r in con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_catalog = current_database() "
            "UNION ALL SELECT sequence_name FROM duckdb_sequences() WHERE database_name = current_database()"
        ).fetchall()
    }
    # A creation cut short before its first step committed leaves only the (empty) step table: still new.
    if not objects or (objects == {"schema_migrations"} and not applied(con)):
        if writer and create:
            return
        how = "`catalog init --db {0}` makes it an empty catalog, `catalog replay --db {0}` loads the history"
        raise NotACatalogError(f"{path} is an empty DuckDB file, not a catalog yet: {how.format(path)}")
    known = [name for name, _ in MIGRATIONS]
    steps = applied(con) if "schema_migrations" in objects else []
    marker = None
    if "catalog_meta" in objects:
        rows = con.execute("SELECT value FROM catalog_meta WHERE key = 'application_id'").fetchall()
        marker = rows[0][0] if rows else None
    if marker != APPLICATION_ID and (marker is not None or steps[:1] != known[:1]):
        tables = sorted(objects - {"schema_migrations"})
        shown = ", ".join(tables[:5]) + (f" and {len(tables) - 5} more" if len(tables) > 5 else "")
        raise NotACatalogError(
            f"{path} is not a price catalog but another program's DuckDB file (it holds {shown}); it was left "
            "untouched: point --db / CATALOG_DB at a catalog, or create a new one with `catalog init --db NEW.duckdb`"
        )
    newer = [name for name in steps if name not in known]
    if newer:
        raise StoreDamagedError(
            f"{path} was written by a newer version of catalog (schema step {newer[0]} is unknown here): use that "
            "version or a newer one to open it"
        )
    missing = [obj for name in steps for obj in CREATES[name] if obj not in objects]
    if missing or steps != known[: len(steps)]:
        what = (
            f"lacks {', '.join(missing)}" if missing else f"records its schema steps out of order ({', '.join(steps)})"
        )
        raise StoreDamagedError(
            f"{path} is damaged: its schema_migrations lists steps up to {steps[-1]} but the file {what}; restore "
            "it from a backup, or start a new history with `catalog init --db NEW.duckdb`"
        )
    if len(steps) < len(known) and not writer:
        raise StoreError(
            f"{path} has an older schema ({len(known) - len(steps)} step(s) behind this version of catalog); "
            f"upgrade it once with `catalog init --db {path}` (nothing in it is lost), then read it"
        )


@contextmanager
def transaction(con: duckdb.DuckDBPyConnection, *, commit: bool = True) -> Iterator[duckdb.DuckDBPyConnection]:
    """One transaction around the block: committed when it ends (rolled back instead with ``commit=False``,
    for a dry run), rolled back when it raises. A commit that fails raises the ``StoreError`` saying why."""
    con.execute("BEGIN TRANSACTION")
    try:
        yield con
    except BaseException:
        rollback(con)
        raise
    if commit:
        commit_transaction(con)
    else:
        con.execute("ROLLBACK")


def checkpoint(con: duckdb.DuckDBPyConnection) -> None:
    """Write the WAL into the database file. A checkpoint that fails (a full disk) invalidates the open
    database in DuckDB: that raises a fatal ``StoreWriteError`` (committed data stays safe in the WAL)."""
    try:
        con.execute("CHECKPOINT")
    except duckdb.Error as exc:
        failure = store_failure(exc, database_path(con))
        if failure is None:
            raise
        raise failure from None


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
