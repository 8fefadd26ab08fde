"""The stored columns that hold text from outside, and ``catalog.redact`` applied to them wherever they leave.

A snapshot's ``source`` is the base URL it fetched from (user-info and ``?key=`` included, as typed), its
``error_summary`` and a payload's ``error`` repeat what an upstream answered, and a job run's ``error_summary`` and
``detail`` repeat those. Since this version every writer redacts them before they are stored; rows stored by
older versions are scrubbed once by a migration (``scrub``), and every reader that serves, prints or
publishes them redacts them again (``redact_frame``, ``redacted_snapshots``), so a file written
by an older program, or by one that lacks the migration, publishes no credential either.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import duckdb
import polars as pl
import pyarrow as pa

from catalog.redact import redact, redact_value

# table -> the columns that can hold a credential someone typed or an upstream echoed; ``detail`` is JSON.
SECRET_COLUMNS: dict[str, tuple[str, ...]] = {
    "snapshots": ("source", "error_summary"),
    "raw_payloads": ("error",),
    "job_runs": ("error_summary", "detail"),
}
JSON_COLUMNS = frozenset({"detail"})


def redact_cell(column: str, value: Any) -> Any:
    """One stored value, redacted: JSON text through its parsed values (the masks never break its syntax)."""
    if not isinstance(value, str):
        return value
    if column in JSON_COLUMNS:
        try:
            parsed = json.loads(value)
        except ValueError:
            return redact(value)
        masked = redact_value(parsed)
        return value if masked == parsed else json.dumps(masked, sort_keys=True)
    return redact(value)


def redact_column(column: str, values: Sequence[Any]) -> list[Any]:
    """``values`` of ``column`` redacted, each distinct value once: a column repeats a few sources and errors
    over thousands of snapshots (a year of hourly sweeps), so the site build and the API pay for a handful."""
    done = {v: redact_cell(column, v) for v in set(values)}
    return [done[v] for v in values]


def redact_frame(frame: pl.DataFrame, columns: Sequence[str]) -> pl.DataFrame:
    """``frame`` with its ``columns`` (those it has) redacted; the rest as it was."""
    present = [c for c in columns if c in frame.columns]
    return frame.with_columns(
        pl.Series(c, redact_column(c, frame[c].to_list()), dtype=frame.schema[c]) for c in present
    )


@contextmanager
def redacted_snapshots(con: duckdb.DuckDBPyConnection) -> Iterator[str]:
    """The ``snapshots`` table, redacted, as a relation registered on ``con`` for the block: its name.

    Exports copy from SQL; the redaction is Python (one function for every edge), so the table is read once
    (a row per sweep: small), redacted and handed back to DuckDB as Arrow."""
    table = con.sql("SELECT * FROM snapshots").to_arrow_table()
    for column in SECRET_COLUMNS["snapshots"]:
        index = table.schema.get_field_index(column)
        values = redact_column(column, table.column(index).to_pylist())
        table = table.set_column(index, table.schema.field(index), pa.array(values, table.schema.field(index).type))
    name = "_catalog_snapshots_redacted"
    con.register(name, table)
    try:
        yield name
    finally:
        con.unregister(name)


def scrub(con: duckdb.DuckDBPyConnection) -> int:
    """Redact every stored value of ``SECRET_COLUMNS`` in place (inside the caller's transaction); return the
    number of values changed. Only rows that change are written."""
    changed = 0
    for table, columns in SECRET_COLUMNS.items():
        for column in columns:
            rows = con.execute(f"SELECT rowid, {column}::VARCHAR FROM {table} WHERE {column} IS NOT NULL").fetchall()
            updates = [(new, rowid) for rowid, old in rows if (new := redact_cell(column, old)) != old]
            if updates:
                con.executemany(f"UPDATE {table} SET {column} = ? WHERE rowid = ?", updates)
                changed += len(updates)
    return changed
