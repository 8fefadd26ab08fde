"""Options and helpers every command area shares.

Every module of ``catalog.cli`` is imported to list the commands, so at module level they import only click
and light parts of ``catalog``; DuckDB, Polars, the store and the HTTP client are imported inside the command
that uses them (``catalog --help`` stays fast: ``bench/startup.py``).
"""

from __future__ import annotations

import functools
import math
import os
import re
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

# --- parameter types every command shares: one rule per kind of value, so no option reads it its own way -------

_WHOLE = re.compile(r"[-+]?[0-9]+")
_NUMBER = re.compile(r"[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?")
# Past this many digits no count or bound of the catalog means anything, and Python refuses to read 4,301.
_MAX_DIGITS = 30


class Whole(click.IntRange):
    """A whole number in ASCII digits within the bounds. ``int()`` alone takes ``"١"`` (an Arabic-Indic one) and
    ``"1_000"``, and a 5,001-digit number only to fail with a ValueError about Python's own limit."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, str) and not (_WHOLE.fullmatch(value.strip()) and len(value) <= _MAX_DIGITS):
            self.fail(f"{value[:40]!r} is not a whole number; write ASCII digits, e.g. 10", param, ctx)
        return super().convert(value, param, ctx)


class Number(click.FloatRange):
    """A finite decimal number in ASCII within the bounds: ``nan`` passes every range check (no comparison with it
    is true), ``inf`` and ``1e999999999`` are no amount of anything."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, str) and not (_NUMBER.fullmatch(value.strip()) and len(value) <= 2 * _MAX_DIGITS):
            self.fail(f"{value[:40]!r} is not a number; write ASCII digits, e.g. 0.5", param, ctx)
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        return number


class FilePath(click.Path):
    """``click.Path`` that refuses, as a usage error naming the option, a name the system cannot take at all
    (a part over 255 bytes), rather than an ``OSError`` from the first ``stat`` deep in the command."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, str):
            if value == "":
                self.fail("an empty path; name a file", param, ctx)
            if any(len(part.encode("utf-8", "surrogateescape")) > 255 for part in value.split(os.sep)):
                self.fail(f"{value[:40]}…: a file or folder name longer than 255 bytes; shorten it", param, ctx)
            if len(value.encode("utf-8", "surrogateescape")) > 4000:
                self.fail(f"{value[:40]}…: a path longer than 4,000 bytes; shorten it", param, ctx)
        return super().convert(value, param, ctx)


class BaseUrl(click.ParamType):
    """An ``http(s)://host…`` URL, checked before it is used (as the upstream, or as the site's address): a
    typo is a usage error naming the option, not a failed sweep or a broken feed."""

    name = "url"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        from urllib.parse import urlsplit

        text = str(value)
        try:
            parts = urlsplit(text)
            good = parts.scheme in ("http", "https") and bool(parts.hostname)
            parts.port  # noqa: B018 (a port that is not a number raises here)
        except ValueError:
            good = False
        if not good or len(text) > 2000 or any(ord(c) <= 0x20 or ord(c) == 0x7F for c in text):
            self.fail(f"{text[:80]!r} is not an http:// or https:// URL with a host", param, ctx)
        return text


class Host(click.ParamType):
    """An address to listen on: a host name or an IP address (an empty one would mean every interface)."""

    name = "host"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        text = str(value)
        if not text or len(text) > 253 or any(ord(c) <= 0x20 or ord(c) == 0x7F for c in text):
            self.fail(f"{text[:40]!r} is not a host name or an IP address, e.g. 127.0.0.1", param, ctx)
        return text


class Names(click.ParamType):
    """Comma-separated names (providers, …) → a list. An empty list, an empty name (``a,,b``) or one with control
    characters is refused: left as it is, ``""`` would silently mean "no preference" and a typo go unnoticed."""

    name = "names"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, list):
            return value
        text = str(value)
        names = [n.strip() for n in text.split(",")]
        if not text.strip() or any(not n for n in names):
            self.fail(f"{text[:40]!r}: write one or more names separated by commas, e.g. groq,deepinfra", param, ctx)
        if len(text) > 2000 or any(ord(c) < 0x20 or ord(c) == 0x7F for c in text):
            self.fail(f"{text[:40]!r} holds control characters or is too long; write names", param, ctx)
        return names


class HeaderText(click.ParamType):
    """Text sent as an HTTP header value (an app's name): one line of printable ASCII, as HTTP carries it; a
    control character would split or break the request, other text fail only when it is sent."""

    name = "text"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        text = str(value)
        if not text.strip() or len(text) > 1000 or any(not (0x20 <= ord(c) < 0x7F) for c in text):
            self.fail(f"{text[:40]!r}: write one line of printable ASCII (an HTTP header), e.g. 'My App'", param, ctx)
        return text


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
        type=FilePath(dir_okay=False),
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
LIMIT = Whole(1, 1_000_000_000)


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
