"""Options and helpers every command area shares."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import click
import duckdb

from catalog.settings import db_path
from catalog.store.db import connect, connect_for_reading, running_service
from catalog.times import parse_instant

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
