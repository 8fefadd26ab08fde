"""Options and helpers every command area shares.

Every module of ``catalog.cli`` is imported to list the commands, so at module level they import only click
and light parts of ``catalog``; DuckDB, Polars, the store and the HTTP client are imported inside the command
that uses them (``catalog --help`` stays fast: ``bench/startup.py``).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast

import click

from catalog.errors import InputError
from catalog.settings import db_path
from catalog.times import parse_instant

if TYPE_CHECKING:
    import duckdb

F = TypeVar("F", bound=Callable[..., Any])


def db_option(func: F) -> F:
    """``--db``, and the edge for the database's own failures: a full disk, a corrupt block met mid-query
    (DuckDB finds those only when it reads the block) become one line naming the file, never a traceback."""

    @functools.wraps(func)
    def command(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except Exception as exc:
            if type(exc).__module__.split(".")[0] not in ("duckdb", "_duckdb"):
                raise
            from catalog.store.failures import store_failure

            failure = store_failure(exc, db_path(kwargs.get("db")))
            if failure is None:
                raise
            raise failure from None

    return click.option(
        "--db",
        "db",
        type=click.Path(dir_okay=False),
        default=None,
        help="DuckDB file (default: $CATALOG_DB, else data/catalog.duckdb).",
    )(cast(F, command))


def json_option(func: F) -> F:
    return click.option(
        "--json", "as_json", is_flag=True, help="Print JSON (exact decimal strings) instead of a table."
    )(func)


@contextmanager
def open_db(db: str | None, *, read_only: bool, create: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
    """The history for one command. Readers fall back to the running service's read-only copy, and say so.
    A writer creates a missing file only with ``create`` (``init``, ``replay``; ``up`` opens its own)."""
    from catalog.store.db import connect, connect_for_reading, running_service

    path = db_path(db)
    if read_only:
        con, copy = connect_for_reading(path)
        if copy is not None:
            service = running_service(path)
            owner = f"`catalog up` (pid {service.pid})" if service else "another process"
            # stderr: --json output on stdout stays machine-readable.
            click.echo(
                f"note: {path} is owned by {owner}; reading the copy it published after its last job ({copy})",
                err=True,
            )
    else:
        con = connect(path, read_only=False, create=create)
    try:
        yield con
    finally:
        con.close()


def instant(value: str | None, *, bound: str, what: str) -> Any:
    if value is None:
        return None
    return parse_instant(value, bound="start" if bound == "start" else "end", what=what)


# Row limits: a bound keeps an absurd number a usage error rather than an overflow deep in a query.
LIMIT = click.IntRange(1, 1_000_000_000)


def writable_file(path: Path, suffixes: tuple[str, ...], what: str) -> Path:
    """Check an output file before any work is done for it: its kind from the suffix, and a folder that exists
    and can be written (finding out after costing a large file would waste the run)."""
    if path.suffix.lower() not in suffixes:
        raise InputError(f"{what} {path}: write {', '.join(suffixes[:-1])} or {suffixes[-1]}")
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise InputError(f"{what} {path}: the folder {folder} does not exist; create it or write elsewhere")
    if not os.access(folder, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise InputError(f"{what} {path}: not writable; choose a path you can write")
    return path
