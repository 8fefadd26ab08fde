"""Exports of the history as it was known at an instant: CSV, Parquet, JSON and a DuckDB file.

Written by DuckDB straight from the history tables, so prices stay exact: ``DECIMAL(38,30)`` in Parquet, its
decimal text in CSV, and a decimal *string* in JSON (a JSON number would be read as a binary float by most
readers). "As known at ``at``" (a snapshot's time): rows that start later are left out, a version closed
later is open, ``last_seen`` / ``last_snapshot`` stop at ``at``, and telemetry observed later is dropped.

The DuckDB file has the full schema (``COPY FROM DATABASE … (SCHEMA)``: tables, sequences past the ids in
use, the migrations) and those rows. It carries neither the run log (the service's operations, not data)
nor the raw payload archive; its snapshots say so (``raw_pruned_at``), and ``catalog rederive`` refuses to run
on it rather than rebuild the versions from nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import duckdb
import polars as pl

from catalog.store.redaction import redacted_snapshots

# table -> (the column saying when a row became known, the column that closes it)
HISTORY_TABLES: dict[str, tuple[str, str | None]] = {
    "model_versions": ("valid_from", "valid_to"),
    "endpoint_versions": ("valid_from", "valid_to"),
    "endpoint_status": ("valid_from", "valid_to"),
    "provider_versions": ("valid_from", "valid_to"),
    "snapshots": ("taken_at", None),
}
FORMATS = ("csv", "parquet", "json")
_OPTIONS = {"csv": "FORMAT csv, HEADER true", "parquet": "FORMAT parquet", "json": "FORMAT json, ARRAY true"}


@dataclass(frozen=True)
class Download:
    name: str
    about: str
    rows: int
    files: tuple[tuple[str, str, int], ...]  # (format, file name, bytes)


def _quoted(path: Path) -> str:
    return str(path).replace("'", "''")


def known_at(con: duckdb.DuckDBPyConnection, at: datetime, *, snapshots: str = "snapshots") -> dict[str, str]:
    """A SELECT per table giving its rows as known at ``at``. The statements hold only constants (table and
    column names, the instant and a snapshot id from the database), because COPY takes no parameters.
    ``snapshots``: the relation the snapshot rows are read from (the exports pass the redacted one)."""
    stamp = f"'{at.isoformat()}'::TIMESTAMPTZ"
    newest = con.execute("SELECT max(snapshot_id) FROM snapshots WHERE taken_at <= $at", {"at": at}).fetchall()
    last_id = int(newest[0][0]) if newest and newest[0][0] is not None else 0
    selects = {}
    for table, (start, end) in HISTORY_TABLES.items():
        if end is None:
            replace = f"CASE WHEN raw_pruned_at > {stamp} THEN NULL ELSE raw_pruned_at END AS raw_pruned_at"
        else:
            replace = (
                f"CASE WHEN {end} > {stamp} THEN NULL ELSE {end} END AS {end}, "
                f"least(last_seen, {stamp}) AS last_seen, least(last_snapshot, {last_id}) AS last_snapshot"
            )
        relation = snapshots if table == "snapshots" else table
        selects[table] = f"SELECT * REPLACE ({replace}) FROM {relation} WHERE {start} <= {stamp}"
    selects["price_overrides"] = (
        "SELECT o.* FROM price_overrides o WHERE (o.entity, o.version_id) IN ("
        f"SELECT 'endpoint', version_id FROM endpoint_versions WHERE valid_from <= {stamp} "
        f"UNION ALL SELECT 'model', version_id FROM model_versions WHERE valid_from <= {stamp})"
    )
    # SKU prices (models billed per second, character, minute …) of those endpoint versions: the recorded text
    # beside the exact decimal, in its own file (catalog.openrouter.skus)
    selects["endpoint_skus"] = (
        "SELECT k.* FROM endpoint_skus k WHERE k.version_id IN ("
        f"SELECT version_id FROM endpoint_versions WHERE valid_from <= {stamp})"
    )
    selects["endpoint_telemetry"] = f"SELECT * FROM endpoint_telemetry WHERE observed_at <= {stamp}"
    return selects


def known_mark(con: duckdb.DuckDBPyConnection, at: datetime) -> list[int]:
    """How many rows of each table ``known_at`` exports started by ``at``, and their largest id: the same at a
    later time exactly when the history only grew after ``at`` (sweeps append later rows; a rebuild, repair or
    redaction renumbers or removes rows), so the exports as of ``at`` written then are still the ones to give.
    (A row's later ``valid_to`` / ``last_seen`` is capped at ``at`` in the export: later growth is invisible.)"""
    stamp = f"'{at.isoformat()}'::TIMESTAMPTZ"
    parts = []
    for table, (start, _end) in HISTORY_TABLES.items():
        ident = "snapshot_id" if table == "snapshots" else "version_id"
        parts.append(f"(SELECT [count(*), coalesce(max({ident}), 0)] FROM {table} WHERE {start} <= {stamp})")
    parts.append(f"(SELECT [count(*), 0] FROM endpoint_telemetry WHERE observed_at <= {stamp})")
    versions = (
        f"SELECT 'endpoint', version_id FROM endpoint_versions WHERE valid_from <= {stamp} "
        f"UNION ALL SELECT 'model', version_id FROM model_versions WHERE valid_from <= {stamp}"
    )
    # Of the versions known then only (later sweeps add overrides and SKUs of later versions).
    parts.append(f"(SELECT [count(*), 0] FROM price_overrides WHERE (entity, version_id) IN ({versions}))")
    parts.append(
        "(SELECT [count(*), 0] FROM endpoint_skus WHERE version_id IN "
        f"(SELECT version_id FROM endpoint_versions WHERE valid_from <= {stamp}))"
    )
    # Redaction rewrites snapshot rows in place: their text, hashed, is part of the mark.
    parts.append(
        f"(SELECT [coalesce(sum(hash(snapshots::VARCHAR)) % 1000000007, 0)::BIGINT, 0] FROM snapshots "
        f"WHERE taken_at <= {stamp})"
    )
    row = con.execute("SELECT " + ", ".join(parts)).fetchall()[0]
    return [int(v) for pair in row for v in pair]


def _decimal_text(con: duckdb.DuckDBPyConnection, table: str, select: str) -> str:
    """``select`` with every DECIMAL column as its shortest exact text (for JSON)."""
    columns = con.execute(f"DESCRIBE {table}").fetchall()
    parts = []
    for name, kind, *_ in columns:
        if str(kind).startswith("DECIMAL"):
            text = f"CAST({name} AS VARCHAR)"
            # Trailing zeros go only after a decimal point ("100" stays "100").
            parts.append(
                f"CASE WHEN {name} IS NULL THEN NULL WHEN {name} = 0 THEN '0' WHEN contains({text}, '.') "
                f"THEN rtrim(rtrim({text}, '0'), '.') ELSE {text} END AS {name}"
            )
        else:
            parts.append(name)
    return f"SELECT {', '.join(parts)} FROM ({select})"


def _copy(con: duckdb.DuckDBPyConnection, table: str, select: str, out: Path) -> Download:
    rows = int(con.execute(f"SELECT count(*) FROM ({select})").fetchall()[0][0])
    files = []
    for fmt in FORMATS:
        target = out / f"{table}.{fmt}"
        query = _decimal_text(con, table, select) if fmt == "json" else select
        con.execute(f"COPY ({query}) TO '{_quoted(target)}' ({_OPTIONS[fmt]})")
        files.append((fmt, target.name, target.stat().st_size))
    about = {
        "price_overrides": "override tiers of those versions (one row per entry)",
        "endpoint_skus": "SKU prices of those endpoint versions (per second, character, minute, image …): the "
        "recorded text, the exact decimal and USD price, unit, direction and variant (one row per SKU)",
    }.get(table, f"the {table} table as known at the as-of instant")
    return Download(table, about, rows, tuple(files))


def write_frame(frame: pl.DataFrame, out: Path, stem: str, about: str) -> Download:
    """A frame (e.g. the prices in force, already exact strings) in every format."""
    frame.write_csv(out / f"{stem}.csv")
    frame.write_parquet(out / f"{stem}.parquet")
    frame.write_json(out / f"{stem}.json")
    files = tuple((fmt, f"{stem}.{fmt}", (out / f"{stem}.{fmt}").stat().st_size) for fmt in FORMATS)
    return Download(stem, about, frame.height, files)


def write_database(con: duckdb.DuckDBPyConnection, target: Path, at: datetime) -> int:
    """A DuckDB file with the full schema and the history known at ``at`` (no run log, no raw archive), its
    snapshots' sources and errors redacted."""
    target.unlink(missing_ok=True)
    source = con.execute("SELECT current_database()").fetchall()[0][0]
    con.execute(f"ATTACH '{_quoted(target)}' AS history_export (READ_WRITE)")
    try:
        quoted = str(source).replace('"', '""')
        con.execute(f'COPY FROM DATABASE "{quoted}" TO history_export (SCHEMA)')
        con.execute("INSERT INTO history_export.schema_migrations SELECT * FROM schema_migrations")
        # The marker too: the file is a catalog (a writer refuses a file without it as another program's).
        con.execute("INSERT INTO history_export.catalog_meta SELECT * FROM catalog_meta")
        rows = 0
        with redacted_snapshots(con) as snapshots:
            for table, select in known_at(con, at, snapshots=snapshots).items():
                rows += con.execute(f"INSERT INTO history_export.{table} {select}").fetchall()[0][0]
        # The payloads stay behind: say so, as a prune would (rederive refuses an archive this incomplete).
        con.execute("UPDATE history_export.snapshots SET raw_pruned_at = coalesce(raw_pruned_at, $at)", {"at": at})
    finally:
        con.execute("DETACH history_export")
    return rows


def write_history(con: duckdb.DuckDBPyConnection, out: Path, at: datetime) -> list[Download]:
    """Every history table as known at ``at`` in every format, and the DuckDB file, into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    with redacted_snapshots(con) as snapshots:  # a row an older version stored is published without its secrets
        downloads = [_copy(con, table, select, out) for table, select in known_at(con, at, snapshots=snapshots).items()]
    database = out / "catalog.duckdb"
    rows = write_database(con, database, at)
    downloads.append(
        Download(
            "catalog.duckdb",
            "all of the above as one DuckDB file with the project's schema (no raw payload archive, no run log)",
            rows,
            (("duckdb", database.name, database.stat().st_size),),
        )
    )
    return downloads
