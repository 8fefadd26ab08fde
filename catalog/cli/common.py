"""Options and helpers every command area shares.

Every module of ``catalog.cli`` is imported to list the commands, so at module level they import only click
and light parts of ``catalog``; DuckDB, Polars, the store and the HTTP client are imported inside the command
that uses them (``catalog --help`` stays fast: ``bench/startup.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar

import click

from catalog.settings import db_path
from catalog.times import parse_instant

if TYPE_CHECKING:
    import duckdb

F = TypeVar("F", bound=Callable[..., Any])


def db_option(func: F) -> F:
    return click.option(
        "--db",
        "db",
        type=click.Path(dir_okay=False),
        default=None,
        help="DuckDB file (default: $CATALOG_DB, else data/catalog.duckdb).",
    )(func)


def json_option(func: F) -> F:
    return click.option(
        "--json", "as_json", is_flag=True, help="Print JSON (exact decimal strings) instead of a table."
    )(func)


@contextmanager
def open_db(db: str | None, *, read_only: bool) -> Iterator[duckdb.DuckDBPyConnection]:
    """The history for one command. Readers fall back to the running service's read-only copy, and say so."""
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
        con = connect(path, read_only=False)
    try:
        yield con
    finally:
        con.close()


def instant(value: str | None, *, bound: str, what: str) -> Any:
    if value is None:
        return None
    return parse_instant(value, bound="start" if bound == "start" else "end", what=what)
