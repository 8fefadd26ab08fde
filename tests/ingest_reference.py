"""The per-row ingest as it was before the bulk comparison: the definition the bulk path is held to.

``catalog.store.ingest`` compares a sweep with the open versions in SQL and writes overrides, SKUs and
telemetry in one statement each. This module keeps the earlier code that walked every row in Python, so
``test_ingest_bulk`` can store the same random sweeps both ways and require identical tables. It is patched
into ``catalog.store.ingest`` (``_Versioner``, ``_apply_history``) by that test only.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from functools import partial
from typing import Any

import duckdb
import polars as pl

from catalog.openrouter.payload import Sweep
from catalog.openrouter.records import EndpointRecord
from catalog.openrouter.skus import in_scope
from catalog.prices import PRICE_KEYS, PriceSheet
from catalog.store.ingest import (
    _carry_forward,
    _endpoint_row,
    _model_row,
    _pricing_text,
    _provider_row,
    _status_row,
    _storable,
    endpoint_base_key,
)


def assign_endpoint_keys(
    current: dict[str, list[EndpointRecord]], open_rows: Iterable[tuple[str, str, str, str, str]]
) -> list[tuple[str, EndpointRecord]]:
    open_by_base: dict[str, list[tuple[str, str, str]]] = defaultdict(list)
    for key, model_id, tag, digest, pricing_text in open_rows:
        open_by_base[endpoint_base_key(model_id, tag)].append((key, digest, pricing_text))
    out: list[tuple[str, EndpointRecord]] = []
    for model_id, records in current.items():
        groups: dict[str, list[EndpointRecord]] = defaultdict(list)
        for rec in records:
            groups[endpoint_base_key(model_id, rec.tag)].append(rec)
        for base, group in groups.items():
            stored = sorted(open_by_base.get(base, []))
            if len(group) == 1 and len(stored) <= 1:
                out.append((stored[0][0] if stored else base, group[0]))
                continue
            free = list(stored)
            pending = list(group)
            matchers: tuple[Callable[[EndpointRecord, tuple[str, str, str]], bool], ...] = (
                lambda rec, s: s[1] == rec.content_hash,
                lambda rec, s: s[2] == _pricing_text(rec.pricing),
            )
            for same in matchers:
                still = []
                for rec in pending:
                    hit = next((s for s in free if same(rec, s)), None)
                    if hit is None:
                        still.append(rec)
                    else:
                        free.remove(hit)
                        out.append((hit[0], rec))
                pending = still
            used = {s[0] for s in stored}
            for rec in pending:
                if free:
                    out.append((free.pop(0)[0], rec))
                    continue
                n = 1
                while (candidate := base if n == 1 else f"{base}#{n}") in used:
                    n += 1
                used.add(candidate)
                out.append((candidate, rec))
    return out


class _Versioner:
    def __init__(self, con: duckdb.DuckDBPyConnection, snapshot_id: int, taken_at: datetime) -> None:
        self.con = con
        self.snapshot_id = snapshot_id
        self.taken_at = taken_at
        self.opened = 0
        self.closed = 0

    def new_ids(self, n: int) -> list[int]:
        if n == 0:
            return []
        rows = self.con.execute("SELECT nextval('version_id_seq') FROM range(?)", [n]).fetchall()
        return [r[0] for r in rows]

    def apply(
        self,
        table: str,
        key_col: str,
        rows: Sequence[tuple[str, str, Callable[[], dict[str, Any]]]],
        may_close: Callable[[str, str], bool],
    ) -> dict[str, int]:
        scope_col = "model_id" if table in ("endpoint_versions", "endpoint_status") else key_col
        open_rows = self.con.execute(
            f"SELECT version_id, {key_col}, content_hash, {scope_col} FROM {table} WHERE valid_to IS NULL"
        ).fetchall()
        open_by_key = {key: (vid, digest, scope) for vid, key, digest, scope in open_rows}
        touch, close, fresh = [], [], []
        seen = set()
        for key, digest, make_row in rows:
            seen.add(key)
            stored = open_by_key.get(key)
            if stored is not None and stored[1] == digest:
                touch.append(stored[0])
                continue
            if stored is not None:
                close.append(stored[0])
            fresh.append(make_row())
        for key, (vid, _digest, scope) in open_by_key.items():
            if key not in seen and may_close(key, scope):
                close.append(vid)
        if close:
            self.con.execute(
                f"UPDATE {table} SET valid_to = ? WHERE version_id IN (SELECT unnest(?::BIGINT[]))",
                [self.taken_at, close],
            )
        if touch and len(set(touch) | set(close)) == len(open_by_key):
            self.con.execute(
                f"UPDATE {table} SET last_seen = ?, last_snapshot = ? WHERE valid_to IS NULL",
                [self.taken_at, self.snapshot_id],
            )
        elif touch:
            self.con.execute(
                f"UPDATE {table} SET last_seen = ?, last_snapshot = ? WHERE version_id IN (SELECT unnest(?::BIGINT[]))",
                [self.taken_at, self.snapshot_id, touch],
            )
        opened: dict[str, int] = {}
        if fresh:
            ids = self.new_ids(len(fresh))
            for row, vid in zip(fresh, ids, strict=True):
                row.update(
                    version_id=vid,
                    valid_from=self.taken_at,
                    valid_to=None,
                    first_snapshot=self.snapshot_id,
                    last_snapshot=self.snapshot_id,
                    last_seen=self.taken_at,
                )
                opened[row[key_col]] = vid
            self._insert(table, fresh)
        self.opened += len(fresh)
        self.closed += len(close)
        return opened

    def _insert(self, table: str, rows: list[dict[str, Any]]) -> None:
        columns = [r[1] for r in self.con.execute(f"PRAGMA table_info('{table}')").fetchall()]
        frame = pl.DataFrame([{c: row.get(c) for c in columns} for row in rows], infer_schema_length=None)
        target = self.con.sql(f"SELECT * FROM {table} LIMIT 0").pl().schema
        frame = frame.select(
            [
                pl.col(c).cast(target[c], strict=True)
                if frame.schema[c] != pl.Null
                else pl.lit(None, target[c]).alias(c)
                for c in columns
            ]
        )
        self.con.register("_incoming", frame)
        try:
            self.con.execute(f"INSERT INTO {table} SELECT * FROM _incoming")
        finally:
            self.con.unregister("_incoming")


def _override_rows(entity: str, opened: dict[str, int], sheets: dict[str, PriceSheet]) -> list[tuple[Any, ...]]:
    rows = []
    for key, vid in opened.items():
        for ordinal, o in enumerate(sheets[key].overrides):
            prices = [o.prices.get(k) for k in PRICE_KEYS]
            dynamic = any(k in o.prices and o.prices[k] is None for k in PRICE_KEYS)
            rows.append((entity, vid, ordinal, o.min_prompt_tokens, o.utc_start, o.utc_end, dynamic, *prices))
    return rows


def _apply_history(con: duckdb.DuckDBPyConnection, v: _Versioner, sweep: Sweep, *, may_close_anything: bool) -> None:
    assert sweep.models is not None
    current_models = {m.model_id for m in sweep.models}
    protected = set(sweep.models_skipped)
    removals_trusted = may_close_anything and sweep.models_unreadable == 0

    models = list(_carry_forward(con, "model_versions", "model_id", {m.model_id: m for m in sweep.models}).values())
    model_sheets = {m.model_id: m.pricing for m in models}
    outputs = dict(
        con.execute("SELECT model_id, output_modalities FROM model_versions WHERE valid_to IS NULL").fetchall()
    )

    def model_gone(model_id: str) -> bool:
        return (
            removals_trusted
            and model_id not in current_models
            and model_id not in protected
            and in_scope(outputs.get(model_id), sweep.scope)
        )

    opened = v.apply(
        "model_versions",
        "model_id",
        [(m.model_id, m.content_hash, partial(_model_row, m)) for m in models],
        lambda key, _scope: model_gone(key),
    )
    _insert_overrides(con, "model", opened, model_sheets)

    if "endpoints" in sweep.kinds or removals_trusted:
        fetched = set(sweep.endpoints) if may_close_anything else set()

        def endpoint_closable(_key: str, model_id: str) -> bool:
            if model_id in fetched:
                return True
            return model_gone(model_id)

        open_rows = con.execute(
            "SELECT endpoint_key, model_id, tag, content_hash, pricing_text FROM endpoint_versions "
            "WHERE valid_to IS NULL"
        ).fetchall()
        keyed = assign_endpoint_keys(sweep.endpoints, open_rows)
        carried = _carry_forward(con, "endpoint_versions", "endpoint_key", dict(keyed))
        keyed = [(key, carried[key]) for key, _ in keyed]
        _fill_in(con, "provider_model_id", keyed)
        sheets = {key: rec.pricing for key, rec in keyed}
        opened = v.apply(
            "endpoint_versions",
            "endpoint_key",
            [(k, r.content_hash, partial(_endpoint_row, r, k)) for k, r in keyed],
            endpoint_closable,
        )
        _insert_overrides(con, "endpoint", opened, sheets)
        _insert_skus(con, opened, dict(keyed))
        status_rows = [(k, str(r.live.get("status")), partial(_status_row, r, k)) for k, r in keyed]
        v.apply("endpoint_status", "endpoint_key", status_rows, endpoint_closable)
        _replace_telemetry(con, v, keyed)

    if sweep.providers is not None:
        current_providers = {p.slug for p in sweep.providers}
        skipped = set(sweep.providers_skipped)
        trusted = may_close_anything and sweep.providers_unreadable == 0
        v.apply(
            "provider_versions",
            "slug",
            [(p.slug, p.content_hash, partial(_provider_row, p)) for p in sweep.providers],
            lambda key, _scope: trusted and key not in current_providers and key not in skipped,
        )


def _fill_in(con: duckdb.DuckDBPyConnection, fact: str, keyed: list[tuple[str, EndpointRecord]]) -> None:
    known = {key: rec for key, rec in keyed if rec.facts.get(fact) is not None}
    if not known:
        return
    rows = con.execute(
        f"SELECT version_id, endpoint_key, content_hash FROM endpoint_versions "
        f"WHERE valid_to IS NULL AND {fact} IS NULL"
    ).fetchall()
    updates = [
        (known[key].facts[fact], known[key].content_hash, vid)
        for vid, key, digest in rows
        if key in known and digest == known[key].hash_without(fact)
    ]
    if updates:
        con.executemany(f"UPDATE endpoint_versions SET {fact} = ?, content_hash = ? WHERE version_id = ?", updates)


def _insert_overrides(
    con: duckdb.DuckDBPyConnection, entity: str, opened: dict[str, int], sheets: dict[str, PriceSheet]
) -> None:
    rows = _override_rows(entity, opened, sheets)
    if rows:
        marks = ", ".join("?" * len(rows[0]))
        con.executemany(f"INSERT INTO price_overrides VALUES ({marks})", rows)


def _insert_skus(con: duckdb.DuckDBPyConnection, opened: dict[str, int], records: dict[str, EndpointRecord]) -> None:
    rows = [
        (vid, s.sku, s.text, _storable(s.amount), _storable(s.usd), s.unit, s.billable, s.variant, s.is_price)
        for key, vid in opened.items()
        for s in records[key].skus
    ]
    if rows:
        con.executemany("INSERT INTO endpoint_skus VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)


def _replace_telemetry(con: duckdb.DuckDBPyConnection, v: _Versioner, keyed: list[tuple[str, EndpointRecord]]) -> None:
    if not keyed:
        return
    columns: dict[str, list[Any]] = defaultdict(list)
    for key, rec in keyed:
        live = rec.live
        lat = live.get("latency_last_30m") or {}
        thr = live.get("throughput_last_30m") or {}
        columns["endpoint_key"].append(key)
        columns["model_id"].append(rec.model_id)
        columns["status"].append(live.get("status"))
        for name in ("uptime_last_5m", "uptime_last_30m", "uptime_last_1d"):
            columns[name].append(live.get(name))
        for p in ("p50", "p75", "p90", "p99"):
            columns[f"latency_{p}"].append(lat.get(p))
            columns[f"throughput_{p}"].append(thr.get(p))
    n = len(keyed)
    frame = pl.DataFrame(
        {
            **{k: columns[k] for k in ("endpoint_key", "model_id")},
            "snapshot_id": [v.snapshot_id] * n,
            "observed_at": pl.Series([v.taken_at] * n, dtype=pl.Datetime("us", "UTC")),
            "status": pl.Series(columns["status"], dtype=pl.Int32),
            **{
                k: pl.Series(vals, dtype=pl.Float64)
                for k, vals in columns.items()
                if k.startswith(("uptime", "latency", "throughput"))
            },
        }
    )
    models = sorted({rec.model_id for _, rec in keyed})
    con.execute("DELETE FROM endpoint_telemetry WHERE model_id IN (SELECT unnest(?::VARCHAR[]))", [models])
    con.register("_telemetry", frame)
    try:
        con.execute("INSERT INTO endpoint_telemetry BY NAME SELECT * FROM _telemetry")
    finally:
        con.unregister("_telemetry")
