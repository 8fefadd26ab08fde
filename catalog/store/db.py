"""Opening the DuckDB file: one writer, any number of readers, and clear words when that is not possible."""

from __future__ import annotations

from pathlib import Path

import duckdb

from catalog.errors import StoreError, StoreLockedError
from catalog.store.migrations import MIGRATIONS, applied, migrate

BLOCK_SIZE = 16 * 1024


def _locked(path: Path, exc: Exception) -> StoreLockedError:
    return StoreLockedError(
        f"the database {path} is in use by another process (DuckDB allows one writer). "
        "Stop that process, or point this command at another file with --db / CATALOG_DB."
        f" [{str(exc).splitlines()[0][:160]}]"
    )


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
