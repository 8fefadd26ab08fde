"""Options and helpers every command area shares."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import click
import duckdb

from catalog.settings import db_path
from catalog.store.db import connect
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
    con = connect(db_path(db), read_only=read_only)
    try:
        yield con
    finally:
        con.close()


def instant(value: str | None, *, bound: str, what: str) -> Any:
    if value is None:
        return None
    return parse_instant(value, bound="start" if bound == "start" else "end", what=what)
