"""Read the history: states as of an instant, versions, changes and snapshots, as Polars frames."""

from __future__ import annotations

import difflib
import json
from collections.abc import Container, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import duckdb
import numpy as np
import polars as pl

from catalog.errors import NotFoundError
from catalog.money import percent_change, reduced
from catalog.openrouter.skus import KINDS, in_scope, model_kind
from catalog.prices import PRICE_KEYS
from catalog.store.redaction import SECRET_COLUMNS, redact_frame
from catalog.store.snapshots import GOOD_SNAPSHOT

PRICE_COLS = ", ".join(f"price_{k}" for k in PRICE_KEYS)


def _frame(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any] | dict[str, Any]) -> pl.DataFrame:
    frame: pl.DataFrame = con.sql(sql, params=params or None).pl()
    return frame


def known_model_ids(con: duckdb.DuckDBPyConnection) -> list[str]:
    return [r[0] for r in con.execute("SELECT DISTINCT model_id FROM model_versions ORDER BY 1").fetchall()]


def close_model_ids(model_id: str, ids: list[str]) -> list[str]:
    """Up to five known ids close to ``model_id``: by spelling, then those containing it."""
    close = difflib.get_close_matches(model_id, ids, n=5, cutoff=0.5)
    return close + [i for i in ids if model_id.lower() in i.lower() and i not in close][: 5 - len(close)]


def require_model(con: duckdb.DuckDBPyConnection, model_id: str) -> None:
    """Raise ``NotFoundError`` with the closest ids when ``model_id`` was never in the history."""
    row = con.execute("SELECT 1 FROM model_versions WHERE model_id = ? LIMIT 1", [model_id]).fetchall()
    if not row:
        row = con.execute("SELECT 1 FROM endpoint_versions WHERE model_id = ? LIMIT 1", [model_id]).fetchall()
    if row:
        return
    close = close_model_ids(model_id, known_model_ids(con))
    hint = f"; did you mean {', '.join(close)}?" if close else "; list models with `catalog models --search …`"
    raise NotFoundError(f"model {model_id!r} is not in the history{hint}")


def kind_column() -> pl.Expr:
    """A model's kind from its output modalities (``catalog.openrouter.skus.model_kind``), as a column."""
    outputs = pl.col("output_modalities")
    expr: pl.Expr = pl.lit("text")
    for kind in reversed(KINDS[:-1]):
        expr = pl.when(outputs.list.contains(kind).fill_null(False)).then(pl.lit(kind)).otherwise(expr)
    return expr.alias("kind")


def models_as_of(con: duckdb.DuckDBPyConnection, at: datetime, search: str | None = None) -> pl.DataFrame:
    sql = f"""
        SELECT m.model_id, m.name, m.context_length, m.modality, m.input_modalities, m.output_modalities,
               m.supported_parameters, m.alias_target, m.price_dynamic, m.price_free, {PRICE_COLS}, m.discount,
               (SELECT count(*) FROM endpoint_versions e
                 WHERE e.model_id = m.model_id AND e.valid_from <= ? AND (e.valid_to IS NULL OR e.valid_to > ?))
                 AS endpoints,
               m.valid_from, m.valid_to, m.version_id
        FROM model_versions m
        WHERE m.valid_from <= ? AND (m.valid_to IS NULL OR m.valid_to > ?)
    """
    params: list[Any] = [at, at, at, at]
    if search:
        # A literal search: % and _ in what the user typed match themselves, not "anything".
        literal = search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        sql += " AND (m.model_id ILIKE ? ESCAPE '\\' OR m.name ILIKE ? ESCAPE '\\')"
        params += [f"%{literal}%", f"%{literal}%"]
    return _frame(con, sql + " ORDER BY m.model_id", params).with_columns(kind_column())


def endpoints_as_of(con: duckdb.DuckDBPyConnection, model_id: str, at: datetime) -> pl.DataFrame:
    """Every endpoint of ``model_id`` in force at ``at``, with its status then and its override count."""
    frame = _frame(
        con,
        f"""
        WITH e AS (
            SELECT * FROM endpoint_versions
            WHERE model_id = $model AND valid_from <= $at AND (valid_to IS NULL OR valid_to > $at)
        ), s AS (
            SELECT endpoint_key, status FROM endpoint_status
            WHERE model_id = $model AND valid_from <= $at AND (valid_to IS NULL OR valid_to > $at)
        )
        SELECT e.endpoint_key, e.model_id, e.tag, e.provider_slug, e.provider_name, e.name, e.permaslug,
               e.quantization, e.context_length, e.max_completion_tokens, e.max_prompt_tokens,
               e.supported_parameters, e.supports_implicit_caching, s.status,
               e.price_dynamic, e.price_free, {", ".join(f"e.price_{k}" for k in PRICE_KEYS)}, e.discount,
               e.override_count, e.pricing_text, e.valid_from, e.valid_to, e.version_id
        FROM e LEFT JOIN s USING (endpoint_key)
        ORDER BY e.price_prompt NULLS LAST, e.price_completion NULLS LAST, e.endpoint_key
        """,
        {"model": model_id, "at": at},
    )
    if frame.is_empty():
        require_model(con, model_id)  # an unknown id gets suggestions; a known one simply had none then
    return frame


def endpoints_in_force(con: duckdb.DuckDBPyConnection, at: datetime) -> pl.DataFrame:
    """Every endpoint of every model in force at ``at``: its status then, exact prices, and the latest
    telemetry (uptime, latency, throughput) with ``telemetry_at`` saying when it was observed."""
    return _frame(
        con,
        f"""
        WITH e AS (
            SELECT * FROM endpoint_versions WHERE valid_from <= $at AND (valid_to IS NULL OR valid_to > $at)
        ), s AS (
            SELECT endpoint_key, status FROM endpoint_status
            WHERE valid_from <= $at AND (valid_to IS NULL OR valid_to > $at)
        )
        SELECT e.endpoint_key, e.model_id, e.tag, e.provider_slug, e.provider_name, e.quantization,
               e.context_length, e.max_completion_tokens, e.supported_parameters, s.status,
               e.price_dynamic, e.price_free, {", ".join(f"e.price_{k}" for k in PRICE_KEYS)}, e.discount,
               e.override_count, e.valid_from, t.uptime_last_1d, t.latency_p50, t.throughput_p50,
               t.observed_at AS telemetry_at
        FROM e LEFT JOIN s USING (endpoint_key) LEFT JOIN endpoint_telemetry t USING (endpoint_key)
        ORDER BY e.model_id, e.endpoint_key
        """,
        {"at": at},
    )


def endpoint_history(con: duckdb.DuckDBPyConnection, model_id: str, provider: str | None = None) -> pl.DataFrame:
    """Every price version of the model's endpoints (optionally one provider slug or tag), oldest first."""
    require_model(con, model_id)
    sql = f"""
        SELECT endpoint_key, tag, provider_slug, provider_name, valid_from, valid_to, first_snapshot,
               last_snapshot, last_seen, price_dynamic, {PRICE_COLS}, discount, context_length,
               max_completion_tokens, quantization, pricing_text, version_id
        FROM endpoint_versions WHERE model_id = ?
    """
    params: list[Any] = [model_id]
    if provider:
        sql += " AND (tag = ? OR provider_slug = ? OR lower(provider_name) = lower(?))"
        params += [provider, provider, provider]
    return _frame(con, sql + " ORDER BY endpoint_key, valid_from", params)


def model_history(con: duckdb.DuckDBPyConnection, model_id: str) -> pl.DataFrame:
    require_model(con, model_id)
    return _frame(
        con,
        f"""SELECT model_id, valid_from, valid_to, first_snapshot, last_snapshot, last_seen, price_dynamic,
                  {PRICE_COLS}, discount, context_length, pricing_text, version_id
           FROM model_versions WHERE model_id = ? ORDER BY valid_from""",
        [model_id],
    )


def first_good_snapshot(con: duckdb.DuckDBPyConnection, kind: str | None = None) -> datetime | None:
    """When the first snapshot that did not fail (and took ``kind``: models, endpoints, providers) was taken."""
    rows = con.execute(
        f"SELECT min(taken_at) FROM snapshots WHERE {GOOD_SNAPSHOT} AND ($kind IS NULL OR contains(kinds, $kind))",
        {"kind": kind},
    ).fetchall()
    return rows[0][0].astimezone(UTC) if rows and rows[0][0] else None


def snapshots(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """Every snapshot, oldest first; sources and error summaries redacted (a row an older version stored)."""
    return redact_frame(
        _frame(con, "SELECT * FROM snapshots ORDER BY taken_at, snapshot_id", []), SECRET_COLUMNS["snapshots"]
    )


def holdings(con: duckdb.DuckDBPyConnection) -> dict[str, Any]:
    """A one-screen summary of what the history holds."""
    one = con.execute(
        f"""SELECT (SELECT count(*) FROM snapshots), (SELECT count(*) FROM snapshots WHERE status = 'ok'),
                  (SELECT min(taken_at) FROM snapshots WHERE {GOOD_SNAPSHOT}),
                  (SELECT max(taken_at) FROM snapshots WHERE {GOOD_SNAPSHOT}),
                  (SELECT count(DISTINCT model_id) FROM model_versions),
                  (SELECT count(*) FROM model_versions WHERE valid_to IS NULL),
                  (SELECT count(*) FROM model_versions),
                  (SELECT count(DISTINCT endpoint_key) FROM endpoint_versions),
                  (SELECT count(*) FROM endpoint_versions WHERE valid_to IS NULL),
                  (SELECT count(*) FROM endpoint_versions),
                  (SELECT count(DISTINCT slug) FROM provider_versions WHERE valid_to IS NULL),
                  (SELECT coalesce(sum(size_bytes), 0) FROM raw_blobs)"""
    ).fetchall()[0]
    keys = [
        "snapshots",
        "snapshots_ok",
        "first_snapshot",
        "last_snapshot",
        "models_ever",
        "models_now",
        "model_versions",
        "endpoints_ever",
        "endpoints_now",
        "endpoint_versions",
        "providers_now",
        "raw_bytes",
    ]
    return dict(zip(keys, one, strict=True))


# --- changes -----------------------------------------------------------------------------------------------

FIELD_KINDS = {
    "discount": "discount",
    "context_length": "context",
    "max_completion_tokens": "context",
    "max_prompt_tokens": "context",
    "quantization": "quantization",
    "supported_parameters": "parameters",
}


def _scopes(con: duckdb.DuckDBPyConnection, kind: str) -> list[tuple[datetime, str, str | None]]:
    """``(taken_at, scope, scope before)`` of the good snapshots that fetched ``kind`` (``models`` / ``endpoints``)
    whose scope no earlier one had, oldest first, with the scope of the snapshot just before (None for the first).
    Only those can cover a kind first (``_first_covering``, ``_coverage_changes``): a year of hourly snapshots
    repeats a few scopes, and reading every one (17,000 rows a build of the site) cost more than the rest. The
    instants come as microseconds since the epoch, made exact and UTC here."""
    shown = "coalesce(nullif(scope, ''), 'text')"  # an empty or missing scope is the text models'
    return [
        (_EPOCH + timedelta(microseconds=at), scope, before)
        for at, scope, before in con.execute(
            f"""
            SELECT epoch_us(taken_at), scope, before FROM (
                SELECT taken_at, snapshot_id, {shown} AS scope,
                       lag({shown}) OVER (ORDER BY taken_at, snapshot_id) AS before,
                       row_number() OVER (PARTITION BY {shown} ORDER BY taken_at, snapshot_id) AS nth
                FROM snapshots
                WHERE {GOOD_SNAPSHOT} AND list_contains(string_split(kinds, ','), ?)
            )
            WHERE nth = 1 ORDER BY taken_at, snapshot_id
            """,
            [kind],
        ).fetchall()
    ]


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _first_covering(scopes: list[tuple[datetime, str, str | None]], outputs: Any) -> datetime | None:
    """The first snapshot whose scope lists a model with these outputs: before it, its absence meant nothing."""
    return next((at for at, scope, _before in scopes if in_scope(outputs, scope)), None)


# One output modality that stands for each kind, to tell which kinds a scope covers.
_KIND_MODALITY = {kind: [kind] for kind in KINDS}


def _coverage_changes(
    con: duckdb.DuckDBPyConnection, scopes: list[tuple[datetime, str, str | None]], since: datetime, until: datetime
) -> list[dict[str, Any]]:
    """One row where a snapshot first covers kinds no earlier one did ("catalog now covers embeddings models"),
    in place of an "added" row for each model of those kinds (they were there before: we did not ask). It names
    the newly covered kinds of the models first seen then (all newly covered kinds when there are none)."""
    first_seen: dict[datetime, set[str]] = {}
    for at, outputs in con.execute(
        "SELECT min(valid_from), arg_min(output_modalities, valid_from) FROM model_versions GROUP BY model_id"
    ).fetchall():
        first_seen.setdefault(at, set()).add(model_kind(outputs))
    out: list[dict[str, Any]] = []
    covered: set[str] = set()
    for at, scope, previous in scopes:  # each scope where it first appears: only there can it cover a kind first
        kinds = {k for k, outputs in _KIND_MODALITY.items() if in_scope(outputs, scope)}
        new = sorted(kinds - covered, key=KINDS.index)
        seen = [k for k in new if k in first_seen.get(at, set())]
        if previous is not None and new and since <= at <= until:
            out.append(
                {
                    "at": at,
                    "entity": "catalog",
                    "model_id": "*",
                    "endpoint_key": None,
                    "tag": None,
                    "provider_name": None,
                    "kind": "coverage",
                    "field": "scope",
                    "old": previous,
                    "new": f"catalog now covers {', '.join(seen or new)} models",
                }
            )
        covered |= kinds
    return out


def _sku_rows(con: duckdb.DuckDBPyConnection, version_ids: list[int]) -> dict[int, dict[str, tuple[Any, bool]]]:
    """``{version_id: {sku: (amount or text, is_price)}}`` of endpoint versions."""
    out: dict[int, dict[str, tuple[Any, bool]]] = {}
    if not version_ids:
        return out
    rows = con.execute(
        "SELECT version_id, sku, price, price_text, is_price FROM endpoint_skus "
        "WHERE version_id IN (SELECT unnest(?::BIGINT[]))",
        [version_ids],
    ).fetchall()
    for vid, sku, price, text, is_price in rows:
        out.setdefault(vid, {})[sku] = (price if price is not None else text, bool(is_price))
    return out


def _sku_diff(old: dict[str, tuple[Any, bool]], new: dict[str, tuple[Any, bool]]) -> list[dict[str, Any]]:
    """A price change per SKU price that appeared, went or moved (``field`` is ``sku:<name as recorded>``);
    informational SKUs are not prices and make no rows."""
    out = []
    for sku in sorted(set(old) | set(new)):
        before, after = old.get(sku), new.get(sku)
        if not ((before and before[1]) or (after and after[1])):
            continue
        a, b = (before[0] if before else None), (after[0] if after else None)
        if a != b:
            out.append(
                {"kind": "price", "field": f"sku:{sku}", "old": _fmt(a), "new": _fmt(b), "pct_change": _pct(a, b)}
            )
    return out


def _fmt(value: Any) -> Decimal | str | None:
    """A changed value as a change row carries it: amounts as ``Decimal``, anything else as its text."""
    if value is None:
        return None
    if isinstance(value, Decimal):
        return reduced(value)
    if isinstance(value, list):
        return ",".join(value)
    return str(value)


def _pct(old: Any, new: Any) -> float | None:
    if isinstance(old, Decimal) and isinstance(new, Decimal):
        change = percent_change(old, new)
        return None if change is None else float(round(change, 4))
    return None


def _diff(
    entity: str, prev: dict[str, Any], cur: dict[str, Any], skus: dict[int, dict[str, tuple[Any, bool]]] | None = None
) -> list[dict[str, Any]]:
    out = []
    if skus is not None:
        out += _sku_diff(skus.get(prev["version_id"], {}), skus.get(cur["version_id"], {}))
    for key in PRICE_KEYS:
        col = f"price_{key}"
        if prev[col] != cur[col]:
            out.append(
                {
                    "kind": "price",
                    "field": key,
                    "old": _fmt(prev[col]),
                    "new": _fmt(cur[col]),
                    "pct_change": _pct(prev[col], cur[col]),
                }
            )
    if prev["price_dynamic"] != cur["price_dynamic"]:
        out.append(
            {"kind": "price", "field": "dynamic", "old": _fmt(prev["price_dynamic"]), "new": _fmt(cur["price_dynamic"])}
        )
    old_over = json.loads(prev["pricing_text"]).get("overrides")
    new_over = json.loads(cur["pricing_text"]).get("overrides")
    if old_over != new_over:
        out.append(
            {
                "kind": "overrides",
                "field": "overrides",
                "old": json.dumps(old_over),
                "new": json.dumps(new_over),
            }
        )
    for col, kind in FIELD_KINDS.items():
        if col in prev and prev[col] != cur[col]:
            out.append(
                {
                    "kind": kind,
                    "field": col,
                    "old": _fmt(prev[col]),
                    "new": _fmt(cur[col]),
                    "pct_change": _pct(prev[col], cur[col]),
                }
            )
    if not out:
        out.append({"kind": "other", "field": None, "old": None, "new": None})
    return out


def _entity_changes(
    con: duckdb.DuckDBPyConnection,
    entity: str,
    since: datetime,
    until: datetime,
    model: str | None,
    scopes: list[tuple[datetime, str, str | None]] | None = None,
) -> list[dict[str, Any]]:
    table, key = ("endpoint_versions", "endpoint_key") if entity == "endpoint" else ("model_versions", "model_id")
    if scopes is None:
        scopes = _scopes(con, "endpoints" if entity == "endpoint" else "models")
    where = (
        "((valid_from BETWEEN ? AND ?) OR (valid_to BETWEEN ? AND ?)) AND (valid_to IS NULL OR valid_to > valid_from)"
    )
    params: list[Any] = [since, until, since, until]
    if model:
        where += " AND model_id = ?"
        params.append(model)
    # The window runs over the entities with a version starting or ending in the span only (a neighbour is
    # always of the same entity): a short span of a long history reads a few partitions, not the whole table.
    sql = f"""
        WITH v AS (
            SELECT *, lag(version_id) OVER w AS prev_id, lag(valid_to) OVER w AS prev_to,
                   lead(valid_from) OVER w AS next_from
            FROM {table}
            WHERE (valid_to IS NULL OR valid_to > valid_from)
              AND {key} IN (SELECT {key} FROM {table} WHERE (valid_from BETWEEN ? AND ?) OR (valid_to BETWEEN ? AND ?))
            WINDOW w AS (PARTITION BY {key} ORDER BY valid_from, version_id)
        )
        SELECT {key} AS key, * FROM v WHERE {where}
    """
    cur = con.execute(sql, [since, until, since, until, *params])
    names = [d[0] for d in cur.description]
    rows = [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
    prev_ids = [r["prev_id"] for r in rows if r["prev_id"] is not None]
    prev_rows: dict[int, dict[str, Any]] = {}
    if prev_ids:
        pc = con.execute(f"SELECT * FROM {table} WHERE version_id IN (SELECT unnest(?::BIGINT[]))", [prev_ids])
        pnames = [d[0] for d in pc.description]
        prev_rows = {r[pnames.index("version_id")]: dict(zip(pnames, r, strict=True)) for r in pc.fetchall()}
    skus = _sku_rows(con, [r["version_id"] for r in rows] + prev_ids) if entity == "endpoint" else None
    # the outputs of each model, for the first snapshot whose scope covered it (older ones could not list it)
    model_ids = sorted({r["model_id"] for r in rows})
    outputs = dict(
        con.execute(
            "SELECT model_id, arg_max(output_modalities, valid_from) FROM model_versions "
            "WHERE model_id IN (SELECT unnest(?::VARCHAR[])) GROUP BY model_id",
            [model_ids],
        ).fetchall()
    )
    out: list[dict[str, Any]] = []
    for r in rows:
        base = {
            "entity": entity,
            "model_id": r["model_id"],
            "endpoint_key": r["key"] if entity == "endpoint" else None,
            "tag": r.get("tag"),
            "provider_name": r.get("provider_name"),
        }
        if since <= r["valid_from"] <= until:
            contiguous = r["prev_id"] is not None and r["prev_to"] == r["valid_from"]
            if contiguous:
                for d in _diff(entity, prev_rows[r["prev_id"]], r, skus):
                    out.append({"at": r["valid_from"], **base, **d})
            elif (first := _first_covering(scopes, outputs.get(r["model_id"]))) is None or r["valid_from"] > first:
                out.append(
                    {
                        "at": r["valid_from"],
                        **base,
                        "kind": "added",
                        "field": None,
                        "old": None,
                        "new": _fmt(r["price_prompt"]),
                    }
                )
        if r["valid_to"] is not None and since <= r["valid_to"] <= until and r["next_from"] != r["valid_to"]:
            out.append(
                {
                    "at": r["valid_to"],
                    **base,
                    "kind": "removed",
                    "field": None,
                    "old": _fmt(r["price_prompt"]),
                    "new": None,
                }
            )
    return out


CHANGE_SCHEMA: dict[str, pl.DataType | type[pl.DataType]] = {
    "at": pl.Datetime("us", "UTC"),
    "entity": pl.String,
    "kind": pl.String,
    "model_id": pl.String,
    "endpoint_key": pl.String,
    "tag": pl.String,
    "provider_name": pl.String,
    "field": pl.String,
    # Amounts (prices, discounts; the prompt price of an endpoint added or removed) as Decimal, other values
    # (context, quantization, parameters, the dynamic flag, overrides as JSON) as text: the faces spell them.
    "old": pl.Object,
    "new": pl.Object,
    "pct_change": pl.Float64,
}


def changes(
    con: duckdb.DuckDBPyConnection,
    since: datetime,
    until: datetime,
    *,
    entity: str | None = None,
    kind: str | None = None,
    model: str | None = None,
    provider: str | None = None,
) -> pl.DataFrame:
    """What changed in ``[since, until]``, newest first: added / removed / one row per changed field."""
    if model is not None:  # "" names no model: refused like any unknown id, not read as "every model"
        require_model(con, model)
    rows: list[dict[str, Any]] = []
    model_scopes = _scopes(con, "models") if entity in (None, "model", "catalog") else None  # read once for both
    for ent in ("endpoint", "model"):
        if entity in (None, ent):
            rows += _entity_changes(con, ent, since, until, model, model_scopes if ent == "model" else None)
    if entity in (None, "catalog") and model is None:
        rows += _coverage_changes(con, model_scopes or _scopes(con, "models"), since, until)
    for r in rows:
        r.setdefault("pct_change", None)
    frame = pl.DataFrame([{c: r.get(c) for c in CHANGE_SCHEMA} for r in rows], schema=CHANGE_SCHEMA)
    if kind:
        frame = frame.filter(pl.col("kind") == kind)
    if provider:
        frame = frame.filter(
            (pl.col("tag") == provider)
            | pl.col("tag").str.starts_with(provider + "/")
            | (pl.col("provider_name").str.to_lowercase() == provider.lower())
        )
    return frame.sort(
        ["at", "entity", "model_id", "endpoint_key", "field"], descending=[True, False, False, False, False]
    )


def price_versions(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """Every price version of every endpoint and model, with its listed strings, for the cost engine (and an
    endpoint's ``provider_model_id``, for the client's direct calls)."""
    return _frame(
        con,
        """
        SELECT 'endpoint' AS kind, model_id, tag, provider_slug, provider_name, valid_from, valid_to,
               pricing_text, permaslug AS canonical_slug, endpoint_key AS key, provider_model_id
        FROM endpoint_versions
        UNION ALL
        SELECT 'model', model_id, NULL, NULL, NULL, valid_from, valid_to, pricing_text, canonical_slug, NULL, NULL
        FROM model_versions
        ORDER BY kind, model_id, tag NULLS FIRST, valid_from
        """,
        [],
    )


def price_version_count(con: duckdb.DuckDBPyConnection) -> int:
    """How many rows ``price_versions`` gives: a price table held in memory is checked against it."""
    return int(
        con.execute(
            "SELECT (SELECT count(*) FROM endpoint_versions) + (SELECT count(*) FROM model_versions)"
        ).fetchall()[0][0]
    )


# --- the in-memory mirror's reads (catalog.store.mirror) --------------------------------------------------------


def mirror_rows(con: duckdb.DuckDBPyConnection, table: str, columns: list[str]) -> pl.DataFrame:
    """``columns`` of every row of the version table ``table``."""
    return _frame(con, f"SELECT {', '.join(columns)} FROM {table}", [])


def open_versions(con: duckdb.DuckDBPyConnection, table: str) -> pl.DataFrame:
    """The open versions of ``table``: id, model, and when each was last seen."""
    return _frame(con, f"SELECT version_id, model_id, last_snapshot, last_seen FROM {table} WHERE valid_to IS NULL", [])


# --- a refresh's reads: what the sweeps since a reader's state changed (catalog.api.state) -------------------------

# The extra columns the price table reads from a version row (``price_versions``) beside the mirror's.
PRICE_EXTRA = {"endpoint_versions": ("provider_model_id",), "model_versions": ("canonical_slug",)}


def sweep_delta(
    con: duckdb.DuckDBPyConnection, after_snapshot: int, after_time: datetime, columns: Mapping[str, Sequence[str]]
) -> SweepDelta:
    """Everything a reader holding the history as of snapshot ``after_snapshot`` (taken at ``after_time``) needs
    to follow the sweeps stored since (``SweepDelta`` gives each part):

    * a version table of ``columns`` (``endpoint_versions``, ``endpoint_status``, ``model_versions``): those
      columns (and the price table's, ``PRICE_EXTRA``) of the rows opened by snapshots after ``after_snapshot``
      (absent where there are none);
    * ``closed``: per version table (``tbl``) ``version_id``, ``model_id``, ``valid_to``, ``last_snapshot`` and
      ``last_seen`` of the older versions closed at or after ``after_time`` — the reader's open versions that a
      sweep since closed (a sweep closes at its own time), and those the reader's newest snapshot closed, which
      it holds closed already (the reader tells them apart: they are not among its open ones);
    * ``open``: per version table (``tbl``) ``version_id``, ``last_snapshot`` and ``last_seen`` of every open
      version: when each was last seen (that changes on every sweep without a new version), and their count and sum
      of ids (``open_check``);
    * ``count``: per version table its rows: with ``open_check``, whether the reader's open versions less those
      closed since plus those opened are the history's (a version deleted, reopened or renumbered is not the work
      of sweeps);
    * ``snapshot``: the good snapshots stored since (``snapshot_id``, ``taken_at``);
    * ``provider`` and ``telemetry``: the columns ``endpoint_candidates`` reads without a version (``volatile_of``
      makes them the rank index's).

    One narrow statement per shape of rows, each converting only its own columns: a single statement of all of
    them (``UNION ALL BY NAME``) gave one frame as wide as every part together, mostly nulls, whose conversion
    and split cost three times these reads (~100 ms against ~30 at a year). Only the opened rows are read whole:
    a version closed changes only in the columns ``closed`` gives, and the reader holds the rest.
    """
    params = {"after": after_snapshot, "since": after_time}
    parts: dict[str, pl.DataFrame] = {}
    # Each table's rows, and those opened since, in one statement: a table no sweep since opened a row of (most
    # sweeps open no status and no model version) costs no read of its own, each of which hands the GIL to the
    # requests in flight and waits to take it back. Its part is then absent (``part``: no rows, columns typed null).
    tallies = con.execute(
        "SELECT "
        + ", ".join(
            f"(SELECT count(*) FROM {table}), (SELECT count(*) FROM {table} WHERE first_snapshot > $after)"
            for table in columns
        ),
        {"after": after_snapshot},
    ).fetchall()[0]
    counts, opened_counts = tallies[0::2], tallies[1::2]
    for (table, names), opened_count in zip(columns.items(), opened_counts, strict=True):
        if not opened_count:
            continue
        picked = ", ".join([*names, *PRICE_EXTRA.get(table, ())])
        opened = f"SELECT {picked} FROM {table} WHERE first_snapshot > $after"
        parts[table] = _frame(con, opened, {"after": after_snapshot})
    # Each row says its table by its place in ``columns`` (a small integer: the open rows are every open version,
    # and a string per row cost a millisecond to convert and split).
    closed = " UNION ALL ".join(
        f"SELECT {i}::UTINYINT AS tbl, version_id, model_id, valid_to, last_snapshot, last_seen FROM {table} "
        "WHERE first_snapshot <= $after AND valid_to >= $since"
        for i, table in enumerate(columns)
    )
    parts["closed"] = _frame(con, closed, params)
    parts["open"] = _frame(
        con,
        " UNION ALL ".join(
            f"SELECT {i}::UTINYINT AS tbl, version_id, last_snapshot, last_seen FROM {table} WHERE valid_to IS NULL"
            for i, table in enumerate(columns)
        ),
        [],
    )
    snapshots = con.execute(
        f"SELECT snapshot_id, taken_at FROM snapshots WHERE {GOOD_SNAPSHOT} AND snapshot_id > $after "
        "ORDER BY taken_at, snapshot_id",
        {"after": after_snapshot},
    ).fetchall()
    parts["provider"] = _frame(con, f"SELECT {_PROVIDER_VOLATILE} FROM provider_versions", [])
    parts["telemetry"] = telemetry_rows(con)
    return SweepDelta(
        parts,
        dict(zip(columns, (int(n) for n in counts), strict=True)),
        [(int(i), t.astimezone(UTC)) for i, t in snapshots],
    )


def _split_by_table(rows: pl.DataFrame, names: list[str]) -> dict[str, pl.DataFrame]:
    """``rows`` by their ``tbl`` (an index into ``names``), each table's in the read's order: slices where the read
    gave each table's rows together (a ``UNION ALL`` usually does), else gathered; in NumPy, not planned steps."""
    tbl = rows["tbl"].to_numpy()
    if tbl.size and (tbl[1:] >= tbl[:-1]).all():
        edges = np.searchsorted(tbl, np.arange(len(names) + 1), side="left").tolist()
        return {name: rows.slice(lo, hi - lo) for name, lo, hi in zip(names, edges, edges[1:], strict=False) if hi > lo}
    return {names[int(k)]: rows[np.flatnonzero(tbl == k)] for k in np.unique(tbl).tolist()}


class SweepDelta:
    """``sweep_delta``'s reads, by what their rows are (``part``, then ``tbl``), each part with the columns it
    has."""

    def __init__(
        self,
        parts: dict[str, pl.DataFrame],
        counts: dict[str, int],
        snapshots: list[tuple[int, datetime]],
    ) -> None:
        self._parts = parts
        self._counts = counts
        self._snapshots = snapshots
        self._by_table: dict[str, dict[str, pl.DataFrame]] = {}

    def part(self, name: str, columns: Sequence[str]) -> pl.DataFrame:
        """The rows of ``part`` ``name`` (a version table: the rows opened since), with ``columns``."""
        found = self._parts.get(name)
        if found is None:
            return pl.DataFrame(schema={c: pl.Null for c in columns})
        # Columns picked by name (no query plan): each planned step hands the GIL to the requests in flight.
        return found[list(columns)]

    def _of(self, part: str, table: str, columns: Sequence[str]) -> pl.DataFrame:
        tables = self._by_table.get(part)
        if tables is None:
            found = self._parts.get(part)
            names = list(self._counts)  # the tables in the order ``sweep_delta`` numbered them
            tables = self._by_table[part] = _split_by_table(found, names) if found is not None else {}
        rows = tables.get(table)
        return rows[list(columns)] if rows is not None else pl.DataFrame(schema={c: pl.Null for c in columns})

    def open_rows(self, table: str) -> pl.DataFrame:
        """``table``'s open versions: ``version_id``, ``last_snapshot``, ``last_seen``."""
        return self._of("open", table, ("version_id", "last_snapshot", "last_seen"))

    def open_check(self, table: str) -> tuple[int, int]:
        """How many open versions ``table`` holds and the sum of their ids, summed in the frame: a reader's open
        versions carried by the sweeps since must give both (a version deleted, reopened or renumbered would not),
        checked without making a set of every open id and comparing sets."""
        ids = self.open_rows(table)["version_id"]
        return ids.len(), int(ids.sum() or 0)

    def closed(self, table: str, held: Container[int]) -> pl.DataFrame:
        """The ``closed`` rows of ``table`` whose versions ``held`` (a reader's open versions) names: ``version_id``,
        ``model_id``, ``valid_to``, ``last_snapshot``, ``last_seen``, one row a version, in the read's order. A held
        version no longer open without such a row (deleted, or closed before the reader's newest snapshot) is not
        here: ``open_check`` then differs from what the reader carries."""
        rows = self._of("closed", table, ("version_id", "model_id", "valid_to", "last_snapshot", "last_seen"))
        if rows.is_empty():
            return rows
        mine = [vid in held for vid in rows["version_id"].to_list()]
        return rows if all(mine) else rows[np.flatnonzero(mine)]

    def count(self, table: str) -> int:
        """How many rows ``table`` holds (-1: not read)."""
        return self._counts.get(table, -1)

    def snapshots(self) -> list[tuple[int, datetime]]:
        """The good snapshots stored since, as ``snapshots.good_snapshots`` gives them."""
        return self._snapshots


def open_price_versions(con: duckdb.DuckDBPyConnection) -> dict[int, tuple[str, str | None]]:
    """Every open price version's id with what it prices: ``(model_id, endpoint_key)``, ``(model_id, None)``
    for a model's own price."""
    rows = con.execute(
        """
        SELECT version_id, model_id, endpoint_key FROM endpoint_versions WHERE valid_to IS NULL
        UNION ALL
        SELECT version_id, model_id, NULL FROM model_versions WHERE valid_to IS NULL
        """
    ).fetchall()
    return {int(r[0]): (r[1], r[2]) for r in rows}


def endpoint_candidates(
    con: duckdb.DuckDBPyConnection,
    at: datetime,
    model_id: str | None = None,
    *,
    models: list[str] | None = None,
    volatile: bool = True,
) -> pl.DataFrame:
    """Every endpoint in force at ``at`` (optionally of one model) with what a ranking filters and sorts on.

    Limits and parameters are the endpoint version's at ``at``; ``input_modalities`` the model version's in
    force then (null when the model had none). Status is the one in force at ``at``; the provider's data
    policy is its version at ``at`` (else its earliest, for days before the directory was recorded), and
    ``zdr`` reads it: true when the provider retains no prompts, null when unknown. Uptime, latency and
    throughput are the latest observed (telemetry keeps only the newest value), with ``telemetry_at``
    saying when.

    Only endpoints of models with a text output are candidates: a token workload is priced on chat models, and
    an embeddings, image, video, speech, transcription or rerank endpoint (``prompt``/``completion`` often "0",
    its price in SKUs) would rank as free.

    ``models``: only those models' endpoints (a refresh reads the models a sweep changed, ``candidate_changes``).
    ``volatile`` False: the policy and telemetry columns are null, not read (the provider window costs more
    than the rest of a few models' rows; a refresh lays ``volatile_of`` over them).
    """
    # A list only when asked: the plain query keeps its plan.
    narrow = "AND list_contains($models::VARCHAR[], model_id)" if models is not None else ""
    if volatile:
        policy = """p.policy_training, p.policy_retains_prompts, p.policy_retention_days,
               NOT p.policy_retains_prompts AS zdr,
               t.uptime_last_5m, t.uptime_last_30m, t.uptime_last_1d, t.latency_p50, t.throughput_p50,
               t.observed_at AS telemetry_at"""
        joins = """LEFT JOIN p ON p.slug = e.provider_slug AND p.pick = 1
        LEFT JOIN endpoint_telemetry t ON t.endpoint_key = e.endpoint_key"""
    else:
        policy = ", ".join(f"NULL AS {name}" for name in (*POLICY_COLUMNS, *TELEMETRY_COLUMNS))
        joins = ""
    return _frame(
        con,
        f"""
        WITH e AS (
            SELECT * FROM endpoint_versions
            WHERE valid_from <= $at AND (valid_to IS NULL OR valid_to > $at)
              AND ($model IS NULL OR model_id = $model) {narrow}
        ), m AS (
            SELECT model_id, input_modalities, output_modalities FROM model_versions
            WHERE valid_from <= $at AND (valid_to IS NULL OR valid_to > $at)
              AND ($model IS NULL OR model_id = $model) {narrow}
        ), s AS (
            SELECT endpoint_key, status FROM endpoint_status
            WHERE valid_from <= $at AND (valid_to IS NULL OR valid_to > $at)
        ), p AS (
            SELECT slug, name, policy_training, policy_retains_prompts, policy_retention_days,
                   row_number() OVER (PARTITION BY slug ORDER BY (valid_from <= $at) DESC,
                                      CASE WHEN valid_from <= $at THEN valid_from END DESC, valid_from) AS pick
            FROM provider_versions
        )
        SELECT e.model_id, e.endpoint_key, e.tag, e.provider_slug, e.provider_name, e.quantization,
               e.context_length, e.max_completion_tokens, e.max_prompt_tokens, e.supported_parameters,
               m.input_modalities, s.status,
               {policy}
        FROM e
        LEFT JOIN m USING (model_id)
        LEFT JOIN s USING (endpoint_key)
        {joins}
        WHERE m.output_modalities IS NULL OR len(m.output_modalities) = 0 OR list_contains(m.output_modalities, 'text')
        ORDER BY e.model_id, e.endpoint_key
        """,
        {"at": at, "model": model_id, **({"models": models} if models is not None else {})},
    )


# The candidate columns that change without a new version of the endpoint, its model or its status: the provider's
# policy (its own versions) and the telemetry (replaced by every sweep).
POLICY_COLUMNS = ("policy_training", "policy_retains_prompts", "policy_retention_days", "zdr")
TELEMETRY_COLUMNS = (
    "uptime_last_5m", "uptime_last_30m", "uptime_last_1d", "latency_p50", "throughput_p50", "telemetry_at",
)  # fmt: skip


def candidate_changes(con: duckdb.DuckDBPyConnection, lo: datetime, hi: datetime) -> set[str]:
    """The models whose endpoint, list-price or status versions start or end in ``(lo, hi]``: those whose
    ``endpoint_candidates`` rows at ``hi`` may differ from their rows at ``lo`` (but for ``volatile_of``'s
    columns) when nothing was stored in between."""
    models, keys = candidate_keys(con, lo, hi)
    return models | set(keys.values())


def candidate_keys(
    con: duckdb.DuckDBPyConnection, lo: datetime, hi: datetime, *, endpoint_versions: bool = True
) -> tuple[set[str], dict[str, str]]:
    """``candidate_changes`` by what changed: the models whose list-price versions start or end in ``(lo, hi]``
    (each of their rows may differ: a model version gives every endpoint's modalities) and the endpoint keys
    (-> model) whose endpoint or status versions do (only those keys' rows may differ). ``endpoint_versions``
    False: not the endpoint versions' keys (a reader holding them in memory finds those itself:
    ``HistoryMirror.endpoints_changed``)."""
    if hi <= lo:
        return set(), {}
    endpoints = (
        """SELECT model_id, endpoint_key FROM endpoint_versions
        WHERE (valid_from > $lo AND valid_from <= $hi) OR (valid_to > $lo AND valid_to <= $hi)
        UNION ALL"""
        if endpoint_versions
        else ""
    )
    rows = con.execute(
        f"""
        {endpoints}
        SELECT model_id, NULL FROM model_versions
        WHERE (valid_from > $lo AND valid_from <= $hi) OR (valid_to > $lo AND valid_to <= $hi)
        UNION ALL
        SELECT model_id, endpoint_key FROM endpoint_status
        WHERE (valid_from > $lo AND valid_from <= $hi) OR (valid_to > $lo AND valid_to <= $hi)
        """,
        {"lo": lo, "hi": hi},
    ).fetchall()
    return {m for m, key in rows if key is None}, {key: m for m, key in rows if key is not None}


_PROVIDER_VOLATILE = (
    "slug, valid_from, policy_training, policy_retains_prompts, policy_retention_days, "
    "NOT policy_retains_prompts AS zdr"
)


def telemetry_rows(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """Every endpoint's telemetry as ``endpoint_candidates`` reads it, in the table's order (``sweep_delta``'s
    ``telemetry`` part; a rank index built whole keeps it to compare the next sweep's with, row by row)."""
    return _frame(con, f"SELECT {_TELEMETRY_VOLATILE} FROM endpoint_telemetry", [])


_TELEMETRY_VOLATILE = (
    "endpoint_key, uptime_last_5m, uptime_last_30m, uptime_last_1d, latency_p50, throughput_p50, "
    "observed_at AS telemetry_at"
)


def volatile_of(
    providers: pl.DataFrame, telemetry: pl.DataFrame, at: datetime
) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]] | None:
    """``endpoint_candidates``' policy columns per provider slug and telemetry columns (those of ``telemetry``)
    per endpoint key at ``at``, the same values as its rows hold, from ``sweep_delta``'s ``provider`` and
    ``telemetry`` rows; ``None`` when an endpoint has two telemetry rows (the query would list it twice: only a
    full read gives its rows)."""
    # ``endpoint_candidates``' pick, in Python: its window over a few dozen rows costs ~10 ms in DuckDB. The version
    # in force at ``at`` (the latest started), else the earliest.
    picked: dict[str, tuple[Any, ...]] = {}
    # Sorted in Python (a few dozen rows; a planned sort would hand the GIL to the requests in flight), by slug
    # (nulls first, as Polars sorts) then start.
    rows = providers[["slug", "valid_from", *POLICY_COLUMNS]].rows()
    rows.sort(key=lambda row: (row[0] is not None, row[0] or "", row[1]))
    for slug, since, *policy in rows:
        if slug not in picked or since <= at:
            picked[slug] = tuple(policy)
    names = [c for c in telemetry.columns if c != "endpoint_key"]
    keys = telemetry["endpoint_key"].to_list()
    values = telemetry[names].rows()
    by_key = dict(zip(keys, (dict(zip(names, row, strict=True)) for row in values), strict=True))
    if len(by_key) != telemetry.height:
        return None
    return {slug: dict(zip(POLICY_COLUMNS, policy, strict=True)) for slug, policy in picked.items()}, by_key


# --- providers ---------------------------------------------------------------------------------------------


def providers_as_of(con: duckdb.DuckDBPyConnection, at: datetime) -> pl.DataFrame:
    """Providers at ``at``: the directory entry in force (if recorded then) and the endpoints and models served.

    A provider that serves endpoints but had no directory entry then (days before the directory was
    recorded) is listed with the name its endpoints give.
    """
    return _frame(
        con,
        """
        WITH p AS (
            SELECT * FROM provider_versions WHERE valid_from <= $at AND (valid_to IS NULL OR valid_to > $at)
        ), e AS (
            SELECT provider_slug, any_value(provider_name) AS provider_name, count(*) AS endpoints,
                   count(DISTINCT model_id) AS models
            FROM endpoint_versions WHERE valid_from <= $at AND (valid_to IS NULL OR valid_to > $at)
            GROUP BY provider_slug
        )
        SELECT coalesce(p.slug, e.provider_slug) AS slug, coalesce(p.name, e.provider_name) AS name,
               coalesce(e.endpoints, 0) AS endpoints, coalesce(e.models, 0) AS models,
               p.headquarters, p.datacenters, p.policy_training, p.policy_training_openrouter,
               p.policy_retains_prompts, p.policy_retention_days, p.policy_can_publish,
               p.policy_requires_user_ids, p.privacy_policy_url, p.terms_of_service_url, p.status_page_url,
               p.valid_from
        FROM p FULL OUTER JOIN e ON e.provider_slug = p.slug
        ORDER BY slug
        """,
        {"at": at},
    )


def provider_endpoints_as_of(con: duckdb.DuckDBPyConnection, slug: str, at: datetime) -> pl.DataFrame:
    """Every endpoint of one provider in force at ``at``, with its status then and exact prices."""
    return _frame(
        con,
        f"""
        WITH e AS (
            SELECT * FROM endpoint_versions
            WHERE provider_slug = $slug AND valid_from <= $at AND (valid_to IS NULL OR valid_to > $at)
        ), s AS (
            SELECT endpoint_key, status FROM endpoint_status
            WHERE valid_from <= $at AND (valid_to IS NULL OR valid_to > $at)
        )
        SELECT e.endpoint_key, e.model_id, e.tag, e.provider_slug, e.provider_name, e.name, e.quantization,
               e.context_length, e.max_completion_tokens, s.status, e.price_dynamic, e.price_free,
               {", ".join(f"e.price_{k}" for k in PRICE_KEYS)}, e.discount, e.override_count, e.pricing_text,
               e.valid_from, e.valid_to
        FROM e LEFT JOIN s USING (endpoint_key)
        ORDER BY e.model_id, e.endpoint_key
        """,
        {"slug": slug, "at": at},
    )


def models_served_by(con: duckdb.DuckDBPyConnection, provider: str, at: datetime) -> set[str]:
    """The models with an endpoint in force at ``at`` from ``provider`` (its slug, an endpoint tag, or its
    name in any case)."""
    rows = con.execute(
        """
        SELECT DISTINCT model_id FROM endpoint_versions
        WHERE valid_from <= $at AND (valid_to IS NULL OR valid_to > $at)
          AND (provider_slug = $provider OR tag = $provider OR lower(provider_name) = lower($provider))
        """,
        {"at": at, "provider": provider},
    ).fetchall()
    return {r[0] for r in rows}


def models_listed(
    con: duckdb.DuckDBPyConnection,
    at: datetime,
    *,
    search: str | None = None,
    modality: str | None = None,
    min_context: int | None = None,
    parameter: str | None = None,
    provider: str | None = None,
    kind: str | None = None,
) -> pl.DataFrame:
    """``models_as_of`` narrowed: an input or output ``modality``, a least context length, a supported
    ``parameter``, an endpoint in force from ``provider`` (see ``models_served_by``) and a ``kind``."""
    frame = models_as_of(con, at, search)
    served = models_served_by(con, provider, at) if provider else None
    return narrowed_models(
        frame, modality=modality, min_context=min_context, parameter=parameter, served=served, kind=kind
    )


def narrowed_models(
    frame: pl.DataFrame,
    *,
    modality: str | None = None,
    min_context: int | None = None,
    parameter: str | None = None,
    served: set[str] | None = None,
    kind: str | None = None,
) -> pl.DataFrame:
    """``models_as_of`` rows narrowed as ``models_listed`` narrows them (``served``: the models a provider
    serves then, ``models_served_by``; ``kind``: one of ``catalog.openrouter.skus.KINDS``)."""
    if kind:
        frame = frame.filter(pl.col("kind") == kind)
    if modality:
        frame = frame.filter(
            pl.col("input_modalities").list.contains(modality)
            | pl.col("output_modalities").list.contains(modality)
            | (pl.col("modality") == modality)
        )
    if min_context is not None:
        frame = frame.filter(pl.col("context_length") >= min_context)
    if parameter:
        frame = frame.filter(pl.col("supported_parameters").list.contains(parameter))
    if served is not None:
        frame = frame.filter(pl.col("model_id").is_in(sorted(served)))
    return frame


def overlapping(frame: pl.DataFrame, lo: datetime | None, hi: datetime | None) -> pl.DataFrame:
    """The versions of ``frame`` in force at some time in ``[lo, hi]`` (either end open when ``None``)."""
    start = pl.col("valid_from").dt.convert_time_zone("UTC")
    stop = pl.col("valid_to").dt.convert_time_zone("UTC")
    if hi is not None:
        frame = frame.filter(start <= pl.lit(hi).dt.convert_time_zone("UTC"))
    if lo is not None:
        frame = frame.filter(stop.is_null() | (stop > pl.lit(lo).dt.convert_time_zone("UTC")))
    return frame


def history_between(
    con: duckdb.DuckDBPyConnection, model_id: str, lo: datetime | None, hi: datetime | None
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The model's versions and its endpoints' (``model_history``, ``endpoint_history``) in force at some
    time in ``[lo, hi]`` (either end open when ``None``)."""
    endpoints = overlapping(endpoint_history(con, model_id), lo, hi)
    return overlapping(model_history(con, model_id), lo, hi), endpoints


def version_marks(con: duckdb.DuckDBPyConnection, at: datetime) -> tuple[Any, ...]:
    """How many endpoint and model versions started by ``at``, and the largest id of each: equal at a later time
    exactly when the history only grew after ``at`` (a rebuild or repair renumbers or removes versions)."""
    return tuple(
        con.execute(
            """
            SELECT (SELECT count(*) FROM endpoint_versions WHERE valid_from <= $at),
                   (SELECT max(version_id) FROM endpoint_versions WHERE valid_from <= $at),
                   (SELECT count(*) FROM model_versions WHERE valid_from <= $at),
                   (SELECT max(version_id) FROM model_versions WHERE valid_from <= $at)
            """,
            {"at": at},
        ).fetchall()[0]
    )


def unit_candidates(con: duckdb.DuckDBPyConnection, at: datetime, model_id: str | None = None) -> list[dict[str, Any]]:
    """Every endpoint in force at ``at`` (optionally of one model) with its model's output modalities, its
    status then, its ``prompt`` price, its SKU rows (``endpoint_skus``) and its latest uptime and throughput
    (which order ties): what ``catalog.cost.units`` prices."""
    cursor = con.execute(
        """
        SELECT e.model_id, e.endpoint_key, e.tag, e.provider_name, e.price_prompt, e.discount,
               m.output_modalities, s.status, t.uptime_last_1d, t.throughput_p50,
               list({'sku': k.sku, 'price_usd': k.price_usd, 'unit': k.unit, 'billable': k.billable,
                     'variant': k.variant, 'is_price': k.is_price}) FILTER (WHERE k.sku IS NOT NULL) AS skus
        FROM endpoint_versions e
        JOIN model_versions m ON m.model_id = e.model_id AND m.valid_from <= $at
             AND (m.valid_to IS NULL OR m.valid_to > $at)
        LEFT JOIN endpoint_status s ON s.endpoint_key = e.endpoint_key AND s.valid_from <= $at
             AND (s.valid_to IS NULL OR s.valid_to > $at)
        LEFT JOIN endpoint_skus k ON k.version_id = e.version_id
        LEFT JOIN endpoint_telemetry t ON t.endpoint_key = e.endpoint_key
        WHERE e.valid_from <= $at AND (e.valid_to IS NULL OR e.valid_to > $at)
          AND ($model IS NULL OR e.model_id = $model)
        GROUP BY ALL
        ORDER BY e.model_id, e.endpoint_key
        """,
        {"at": at, "model": model_id},
    )
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def unit_sku_versions(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    """Every endpoint version that lists SKU prices: its key and ``valid_from`` (what the cost engine's price
    version of it carries), its discount and its SKU rows (``endpoint_skus``), for pricing usage in units."""
    cursor = con.execute(
        """
        SELECT e.endpoint_key, e.valid_from, e.discount,
               list({'sku': k.sku, 'price_usd': k.price_usd, 'unit': k.unit, 'billable': k.billable,
                     'variant': k.variant, 'is_price': k.is_price}) AS skus
        FROM endpoint_versions e JOIN endpoint_skus k ON k.version_id = e.version_id
        GROUP BY ALL
        """
    )
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def model_slugs(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """Each canonical slug that differs from its model's id (``alibaba/wan-2.6-20260327``), to the id: usage
    logs name models by either."""
    rows = con.execute(
        "SELECT DISTINCT canonical_slug, model_id FROM model_versions"
        " WHERE canonical_slug IS NOT NULL AND canonical_slug <> model_id ORDER BY ALL"
    ).fetchall()
    return {slug: model_id for slug, model_id in rows}


def model_outputs(con: duckdb.DuckDBPyConnection) -> dict[str, list[str] | None]:
    """Each model's output modalities, as last listed (its kind: ``catalog.openrouter.skus.model_kind``)."""
    rows = con.execute(
        "SELECT model_id, arg_max(output_modalities, valid_from) FROM model_versions GROUP BY model_id"
    ).fetchall()
    return {model_id: outputs for model_id, outputs in rows}
