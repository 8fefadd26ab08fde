"""The site's downloads: the catalog in force and the full history as CSV, Parquet and JSON, plus the
DuckDB file itself.

Written by DuckDB straight from the history tables, so prices stay exact: ``DECIMAL(38,30)`` in Parquet, its
decimal text in CSV, and a decimal *string* in JSON (a JSON number would be read as a binary float by most
readers). A build as of a past instant exports the history as it was known then: versions that start later
are left out and versions closed later are open. The DuckDB file is the whole history, whatever the as-of.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import duckdb
import polars as pl

# table -> (the column saying when a row became known, the column that closes it)
HISTORY_TABLES: dict[str, tuple[str, str | None]] = {
    "model_versions": ("valid_from", "valid_to"),
    "endpoint_versions": ("valid_from", "valid_to"),
    "endpoint_status": ("valid_from", "valid_to"),
    "provider_versions": ("valid_from", "valid_to"),
    "snapshots": ("taken_at", None),
}
FORMATS = ("csv", "parquet", "json")


@dataclass(frozen=True)
class Download:
    name: str
    about: str
    rows: int
    files: tuple[tuple[str, str, int], ...]  # (format, file name, bytes)


def _decimal_text(con: duckdb.DuckDBPyConnection, table: str) -> str:
    """A select list with every DECIMAL column as its shortest exact text (for JSON)."""
    columns = con.execute(f"DESCRIBE {table}").fetchall()
    parts = []
    for name, kind, *_ in columns:
        if str(kind).startswith("DECIMAL"):
            parts.append(
                f"CASE WHEN {name} IS NULL THEN NULL WHEN {name} = 0 THEN '0' "
                f"ELSE rtrim(rtrim(CAST({name} AS VARCHAR), '0'), '.') END AS {name}"
            )
        else:
            parts.append(name)
    return ", ".join(parts)


def _copy(
    con: duckdb.DuckDBPyConnection, select: str, json_select: str, out: Path, stem: str
) -> tuple[int, tuple[tuple[str, str, int], ...]]:
    # The queries hold only constants (table names, an ISO instant from a datetime): COPY takes no parameters.
    rows = int(con.execute(f"SELECT count(*) FROM ({select})").fetchall()[0][0])
    files = []
    for fmt in FORMATS:
        target = out / f"{stem}.{fmt}"
        query = json_select if fmt == "json" else select
        options = {"csv": "FORMAT csv, HEADER true", "parquet": "FORMAT parquet", "json": "FORMAT json, ARRAY true"}[
            fmt
        ]
        con.execute(f"COPY ({query}) TO '{_quoted(target)}' ({options})")
        files.append((fmt, target.name, target.stat().st_size))
    return rows, tuple(files)


def _quoted(path: Path) -> str:
    return str(path).replace("'", "''")


def write_downloads(
    con: duckdb.DuckDBPyConnection, prices_now: pl.DataFrame, out: Path, at: datetime
) -> list[Download]:
    """Write every download into ``out`` and describe them (for the downloads page)."""
    out.mkdir(parents=True, exist_ok=True)
    downloads = []
    for fmt in FORMATS:
        target = out / f"prices-now.{fmt}"
        if fmt == "csv":
            prices_now.write_csv(target)
        elif fmt == "parquet":
            prices_now.write_parquet(target)
        else:
            prices_now.write_json(target)
    downloads.append(
        Download(
            "prices-now",
            "every price sheet in force at the as-of instant: endpoints and model list prices, exact decimal strings, "
            "base (undiscounted) prompt and completion prices, overrides as JSON",
            prices_now.height,
            tuple((fmt, f"prices-now.{fmt}", (out / f"prices-now.{fmt}").stat().st_size) for fmt in FORMATS),
        )
    )
    stamp = at.isoformat()
    for table, (start, end) in HISTORY_TABLES.items():
        closed = f"CASE WHEN {end} > '{stamp}'::TIMESTAMPTZ THEN NULL ELSE {end} END AS {end}" if end else None
        where = f"WHERE {start} <= '{stamp}'::TIMESTAMPTZ"
        replace = f" REPLACE ({closed})" if closed else ""
        select = f"SELECT *{replace} FROM {table} {where}"
        json_select = f"SELECT {_decimal_text(con, table)} FROM ({select})"
        rows, files = _copy(con, select, json_select, out, table)
        downloads.append(Download(table, f"the {table} table up to the as-of instant", rows, files))
    overrides = (
        "SELECT o.* FROM price_overrides o WHERE (o.entity, o.version_id) IN ("
        f"SELECT 'endpoint', version_id FROM endpoint_versions WHERE valid_from <= '{stamp}'::TIMESTAMPTZ "
        f"UNION ALL SELECT 'model', version_id FROM model_versions WHERE valid_from <= '{stamp}'::TIMESTAMPTZ)"
    )
    rows, files = _copy(
        con, overrides, f"SELECT {_decimal_text(con, 'price_overrides')} FROM ({overrides})", out, "price_overrides"
    )
    downloads.append(Download("price_overrides", "override tiers of those versions (one row per entry)", rows, files))

    database = out / "catalog.duckdb"
    database.unlink(missing_ok=True)
    name_row = con.execute("SELECT current_database()").fetchall()[0]
    con.execute(f"ATTACH '{_quoted(database)}' AS site_download (READ_WRITE)")
    try:
        con.execute(f'COPY FROM DATABASE "{name_row[0]}" TO site_download')
    finally:
        con.execute("DETACH site_download")
    downloads.append(
        Download(
            "catalog.duckdb",
            "the whole history as one DuckDB file (every table, raw payload archive included), whatever the as-of",
            0,
            (("duckdb", database.name, database.stat().st_size),),
        )
    )
    return downloads
