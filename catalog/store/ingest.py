"""Record one sweep as one snapshot: all or nothing, in a single transaction.

Versioning rules (each a promise the tests hold us to):

* A version is one row per entity per distinct content hash, ``valid_from`` inclusive, ``valid_to``
  exclusive (``NULL`` while open). Re-ingesting an identical state opens nothing; it only moves ``last_seen``.
* A model missing from ``/models`` closes its model row and its endpoint rows — unless the model count fell by
  more than half against the previous snapshot: then the snapshot is ``suspicious`` and closes nothing.
* A model whose endpoints could not be fetched (after retries) or parsed keeps its endpoint rows open and
  makes the snapshot ``partial``: a failed fetch is not a removal.
* A sweep that failed outright (no usable ``/models``) is recorded as ``failed`` and changes no history.
* Snapshots are applied in time order; an older one than the newest stored is refused.
"""

from __future__ import annotations

import json
import time
from bisect import bisect_right
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from itertools import accumulate, chain, compress
from operator import attrgetter, ne
from typing import Any, TypeVar, cast

import duckdb
import polars as pl
import pyarrow as pa

from catalog.errors import SnapshotOrderError
from catalog.openrouter.payload import Sweep
from catalog.openrouter.records import EndpointRecord, ModelRecord, ProviderRecord
from catalog.openrouter.skus import in_scope
from catalog.prices import MAX_INTEGER_DIGITS, PRICE_KEYS, PriceSheet
from catalog.redact import redact
from catalog.store.archive import archive_payloads
from catalog.store.failures import commit, rollback
from catalog.store.migrations import migrate
from catalog.store.open_versions import CARRIED, FINGERPRINT, OPEN_VERSIONS, Carry, OpenRows, opened_extras
from catalog.store.snapshots import GOOD_SNAPSHOT

SUSPICIOUS_DROP = 0.5
PERCENTILES = ("p50", "p75", "p90", "p99")
TELEMETRY_VALUES = (
    "status",
    "uptime_last_5m",
    "uptime_last_30m",
    "uptime_last_1d",
    *(f"latency_{p}" for p in PERCENTILES),
    *(f"throughput_{p}" for p in PERCENTILES),
)


@dataclass(frozen=True)
class SnapshotSummary:
    snapshot_id: int
    taken_at: datetime
    status: str
    models: int | None
    endpoints: int | None
    providers: int | None
    opened: int
    closed: int
    endpoint_failures: int
    error_summary: str | None
    duration_ms: int


def endpoint_base_key(model_id: str, tag: str) -> str:
    return f"{model_id}@{tag}"


def _pricing_text(sheet: PriceSheet) -> str:
    return json.dumps(sheet.original(), sort_keys=True)


def _pricing_columns(sheet: PriceSheet) -> dict[str, Any]:
    cols: dict[str, Any] = {f"price_{k}": sheet.prices[k] for k in PRICE_KEYS}
    cols["discount"] = sheet.discount
    cols["price_dynamic"] = sheet.dynamic
    cols["price_free"] = sheet.free
    cols["override_count"] = len(sheet.overrides)
    cols["pricing_text"] = _pricing_text(sheet)
    return cols


def _model_row(rec: ModelRecord) -> dict[str, Any]:
    row: dict[str, Any] = {"model_id": rec.model_id, "content_hash": rec.content_hash}
    row.update({k: list(v) if isinstance(v, tuple) else v for k, v in rec.facts.items()})
    row.update(_pricing_columns(rec.pricing))
    row["extra"] = json.dumps(rec.extra, sort_keys=True) if rec.extra else None
    return row


def _endpoint_row(rec: EndpointRecord, key: str) -> dict[str, Any]:
    row: dict[str, Any] = {
        "endpoint_key": key,
        "model_id": rec.model_id,
        "tag": rec.tag,
        "provider_slug": rec.tag.split("/", 1)[0],
        "content_hash": rec.content_hash,
    }
    row.update({k: list(v) if isinstance(v, tuple) else v for k, v in rec.facts.items()})
    row.update(_pricing_columns(rec.pricing))
    return row


def _status_row(rec: EndpointRecord, key: str) -> dict[str, Any]:
    status = rec.live.get("status")
    return {"endpoint_key": key, "model_id": rec.model_id, "status": status, "content_hash": str(status)}


def _provider_row(rec: ProviderRecord) -> dict[str, Any]:
    row: dict[str, Any] = {"slug": rec.slug, "content_hash": rec.content_hash}
    row.update({k: list(v) if isinstance(v, tuple) else v for k, v in rec.facts.items()})
    return row


def assign_endpoint_keys(
    current: dict[str, list[EndpointRecord]], open_rows: Iterable[tuple[str, str, str, str, str]]
) -> list[tuple[str, EndpointRecord]]:
    """``(key, record)`` of every fetched endpoint: ``endpoint_keys`` in pairs."""
    keys, records = endpoint_keys(current, open_rows)
    return list(zip(keys, records, strict=True))


def endpoint_keys(
    current: dict[str, list[EndpointRecord]], open_rows: Iterable[tuple[str, str, str, str, str]]
) -> tuple[list[str], list[EndpointRecord]]:
    """Give every fetched endpoint a key that is stable across snapshots: the keys and the records, in order.

    The key is ``model@tag``. Upstream sometimes lists two endpoints of one provider under the same tag
    (two ``together`` endpoints for one model, in an order that flips from day to day); they get ``#2``,
    ``#3``… and are matched to the stored ones by content first, then by identical prices (so two that both
    changed some other field cannot swap prices), and only then in listed order. An endpoint whose fields
    did not change keeps its key and opens no version.

    ``open_rows`` are ``(endpoint_key, model_id, tag, content_hash, pricing_text)`` of the open versions.
    """
    stored = [(key, endpoint_base_key(model_id, tag), digest, text) for key, model_id, tag, digest, text in open_rows]
    bases = sweep_bases(current)
    keys, records, _ = _endpoint_keys(current, bases, _listed(bases), stored, lambda text: text)
    return keys, records


def sweep_bases(current: dict[str, list[EndpointRecord]]) -> list[str]:
    """``model@tag`` of every fetched endpoint, in the sweep's order."""
    return [f"{model_id}@{rec.tag}" for model_id, records in current.items() for rec in records]


def _listed(bases: list[str]) -> tuple[set[str], set[str]]:
    """The distinct ``bases`` and those listed more than once."""
    seen: set[str] = set()
    repeated = {base for base in bases if base in seen or seen.add(base)}  # type: ignore[func-returns-value]
    return seen, repeated


_Stored = TypeVar("_Stored")
_Item = TypeVar("_Item")
# Where the keyed records left the sweep's order: ``(begin, positions)``, the records at ``begin``, ``begin + 1`` …
# being the sweep's at ``positions`` (all within one model's listing).
Moves = list[tuple[int, list[int]]]


def _endpoint_keys(
    current: dict[str, list[EndpointRecord]],
    bases: list[str],
    listed: tuple[set[str], set[str]],
    stored_rows: Iterable[tuple[str, str, str, _Stored]],
    pricing_text: Callable[[_Stored], str],
) -> tuple[list[str], list[EndpointRecord], Moves]:
    """``endpoint_keys`` on the sweep's ``bases`` (``listed``: ``_listed(bases)``). ``stored_rows`` are
    ``(endpoint_key, base, content_hash, ref)`` of open versions, all of a base or none, and
    ``pricing_text(ref)`` their pricing text, asked only when two endpoints of one tag are matched by price (a
    lookup, so it is read only then). Also returns where records left the sweep's order (``Moves``: matching
    endpoints of one tag puts them in match order), so columns read from the sweep in its order follow them.

    Keys and records are kept as two lists, not ten thousand pairs: tuples that outlive a sweep's garbage
    collections set off full ones. The endpoints of a model with one endpoint a tag and none stored under a
    numbered key keep their bases: only the models with a repeated or a stored base are walked one by one."""
    open_by_base: dict[str, list[tuple[str, str, _Stored]]] = defaultdict(list)
    for key, base, digest, ref in stored_rows:
        open_by_base[base].append((key, digest, ref))
    flat = list(chain.from_iterable(current.values()))
    distinct, repeated = listed
    suspects = repeated | (open_by_base.keys() & distinct)
    moves: Moves = []
    if not suspects:
        return bases, flat, moves
    ends = list(accumulate(map(len, current.values())))
    walked = sorted({bisect_right(ends, i) for i in compress(range(len(bases)), map(suspects.__contains__, bases))})
    keys: list[str] = []
    out: list[EndpointRecord] = []
    places: list[int] = []  # of the walked model: the sweep's position of each record kept

    def keep(key: str, place: int) -> None:
        keys.append(key)
        out.append(flat[place])
        places.append(place)

    done = 0  # the sweep's endpoints handled so far
    for index in walked:
        begin = ends[index - 1] if index else 0
        keys.extend(bases[done:begin])  # the models in between: their bases
        out.extend(flat[done:begin])
        done = ends[index]
        model_bases = bases[begin:done]
        if len(set(model_bases)) == len(model_bases) and open_by_base.keys().isdisjoint(model_bases):
            keys.extend(model_bases)  # one endpoint a tag, none stored under a numbered key
            out.extend(flat[begin:done])
            continue
        groups: dict[str, list[int]] = defaultdict(list)
        for place, base in enumerate(model_bases, start=begin):
            groups[base].append(place)
        places.clear()
        for base, group in groups.items():
            if len(group) == 1 and base not in open_by_base:  # most tags of a model walked for another one
                keys.append(base)
                out.append(flat[group[0]])
                places.append(group[0])
                continue
            stored = sorted(open_by_base.get(base, []), key=lambda s: (s[0], s[1]))
            if len(group) == 1 and len(stored) <= 1:
                keep(stored[0][0] if stored else base, group[0])
                continue
            free = list(stored)
            pending = list(group)
            matchers: tuple[Callable[[EndpointRecord, tuple[str, str, _Stored]], bool], ...] = (
                lambda rec, s: s[1] == rec.content_hash,  # nothing changed
                lambda rec, s: pricing_text(s[2]) == _pricing_text(rec.pricing),  # same prices, another field changed
            )
            for same in matchers:
                still = []
                for place in pending:
                    hit = next((s for s in free if same(flat[place], s)), None)
                    if hit is None:
                        still.append(place)
                    else:
                        free.remove(hit)
                        keep(hit[0], place)
                pending = still
            used = {s[0] for s in stored}
            for place in pending:  # then changed ones, in listed order, onto the remaining stored keys
                if free:
                    keep(free.pop(0)[0], place)
                    continue
                n = 1
                while (candidate := base if n == 1 else f"{base}#{n}") in used:
                    n += 1
                used.add(candidate)
                keep(candidate, place)
        if places != list(range(begin, done)):
            moves.append((begin, list(places)))
    keys.extend(bases[done:])
    out.extend(flat[done:])
    return keys, out, moves


def _moved(column: list[_Item], moves: Moves) -> list[_Item]:
    """``column``, read in the sweep's order, in the keyed records' order (``_endpoint_keys``' moves)."""
    if not moves:
        return column
    out = list(column)
    for begin, positions in moves:
        out[begin : begin + len(positions)] = [column[place] for place in positions]
    return out


def open_endpoint_versions(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """The open endpoint versions' identity columns, read once a sweep: key assignment, the provider model id
    fill-in and the comparison all work from this frame (a scan decodes every row of each string column it
    reads, ~10x the open rows in a long history, so it reads each once). ``numbered_base`` is the
    ``model@tag`` of a version stored under another key (a numbered one), else null: the model and the tag
    themselves stay in the database."""
    frame: pl.DataFrame = con.sql(OPEN_VERSIONS["endpoint_versions"]).pl()
    return frame


def sweep_endpoint_keys(
    con: duckdb.DuckDBPyConnection,
    open_endpoints: pl.DataFrame | OpenRows,
    current: dict[str, list[EndpointRecord]],
) -> tuple[list[str], list[EndpointRecord], int]:
    """``endpoint_keys`` of the sweep against the open versions (``open_endpoint_versions``), reading back only
    those it needs to see: those of a ``model@tag`` stored under a numbered key, or listed more than once now.
    Any other open version is the only one of its tag, keyed ``model@tag``, and the sweep's (single) endpoint of
    that tag gets that key with or without it — so the ~10,000 plain ones of a large sweep are not read back
    every hour. Their pricing texts are read only if two endpoints of one tag are matched by price. Also
    returns how many open versions were seen."""
    if isinstance(open_endpoints, pl.DataFrame):
        open_endpoints = OpenRows(*(open_endpoints[name].to_list() for name in open_endpoints.columns))
    keys, records, seen, _ = _sweep_endpoint_keys(con, open_endpoints, current, sweep_bases(current))
    return keys, records, seen


def _sweep_endpoint_keys(
    con: duckdb.DuckDBPyConnection,
    open_endpoints: OpenRows,
    current: dict[str, list[EndpointRecord]],
    bases: list[str],
) -> tuple[list[str], list[EndpointRecord], int, Moves]:
    """``sweep_endpoint_keys`` on the sweep's ``bases`` (``sweep_bases``), with ``_endpoint_keys``' moves."""
    numbered = open_endpoints.numbered or []
    listed = _listed(bases)
    wanted = listed[1] | {base for base in numbered if base is not None}
    if not wanted:
        keys, records, moves = _endpoint_keys(current, bases, listed, [], str)
        return keys, records, 0, moves
    # A version's base is its key unless it is stored under a numbered one.
    rows = [
        (key, base or key, digest, vid)
        for key, base, digest, vid in zip(
            open_endpoints.keys, numbered, open_endpoints.digests, open_endpoints.ids, strict=True
        )
        if (base or key) in wanted
    ]
    texts: dict[int, str] = {}

    def pricing_text(version_id: int) -> str:
        if not texts:  # all of them, once
            texts.update(
                con.execute(
                    "SELECT version_id, pricing_text FROM endpoint_versions "
                    "WHERE version_id IN (SELECT unnest(?::BIGINT[]))",
                    [[row[3] for row in rows]],
                ).fetchall()
            )
        return texts[version_id]

    keys, records, moves = _endpoint_keys(current, bases, listed, rows, pricing_text)
    return keys, records, len(rows), moves


class _Versioner:
    """Applies one entity kind's current rows to its version table."""

    def __init__(self, con: duckdb.DuckDBPyConnection, snapshot_id: int, taken_at: datetime) -> None:
        self.con = con
        self.snapshot_id = snapshot_id
        self.taken_at = taken_at
        self.opened = 0
        self.closed = 0
        self.carry: Carry | None = None  # record_snapshot's: the open versions carried from sweep to sweep

    def open_rows(self, table: str) -> OpenRows:
        """``table``'s open versions, as the last sweep on this connection left them or read now."""
        if self.carry is None:
            return OpenRows.read(self.con, table)
        return self.carry.open_rows(self.con, table)

    def new_ids(self, n: int) -> list[int]:
        if n == 0:
            return []
        rows = self.con.execute("SELECT nextval('version_id_seq') FROM range(?)", [n]).fetchall()
        return [r[0] for r in rows]

    def apply(
        self,
        table: str,
        key_col: str,
        keys: list[str],
        digests: list[str],
        make_row: Callable[[int], dict[str, Any]],
        may_close: Callable[[str, Any], bool],
        scope_col: str | None = None,
        open_rows: OpenRows | None = None,
    ) -> dict[str, int]:
        """Open / close / touch versions; return ``{key: version_id}`` of versions opened now.

        Row ``i`` of the sweep is ``keys[i]`` with ``digests[i]``; ``make_row(i)`` builds its full row, only
        for versions that open. The sweep is compared with the open versions in bulk: a sweep of ten
        thousand endpoints, nearly all unchanged, brings back only the few that open or may close.
        ``may_close(key, scope)`` is asked about each open version the sweep does not list; ``scope`` is its
        ``scope_col`` (default: the model of an endpoint row, else the key), as stored before this sweep.
        ``open_rows``: the table's open versions, when the caller has them.
        """
        if scope_col is None:
            scope_col = "model_id" if table in ("endpoint_versions", "endpoint_status") else key_col
        if open_rows is None:
            open_rows = self.open_rows(table)
        in_order = open_rows.keys == keys
        if not in_order and len(open_rows.keys) == len(keys):
            # The same keys with a few in other places (the endpoints of one tag matched anew): put the open ones
            # in the sweep's. Only the places that differ are matched: ten thousand keys looked up every hour
            # cost more than the comparison itself.
            moved = [j for j, (stored, key) in enumerate(zip(open_rows.keys, keys, strict=True)) if stored != key]
            index = {open_rows.keys[j]: j for j in moved}
            found = [index.get(keys[j]) for j in moved]
            if len(index) == len(moved) and None not in found and len(set(found)) == len(found):
                open_rows = open_rows.moved(moved, cast(list[int], found))
                in_order = True
        joined: pl.LazyFrame | None = None
        unseen: list[tuple[int, str]] = []
        if in_order:
            # The open versions are the sweep's keys in its order (the usual sweep after one on this connection):
            # compared position by position. Null-safe as the join: an equal hash, null included, is unchanged.
            fresh = list(compress(range(len(keys)), map(ne, digests, open_rows.digests)))
            close = [open_rows.ids[i] for i in fresh]
        else:
            seen = pl.LazyFrame({"key": keys, "digest": digests}, schema={"key": pl.String, "digest": pl.String})
            joined = seen.with_row_index("i").join(open_rows.frame().lazy(), on="key", how="full", coalesce=False)
            # Null-safe on purpose: a stored hash equal to the sweep's, null included, is "unchanged".
            same = pl.col("content_hash").eq_missing(pl.col("digest"))
            # Each sweep row whose open version differs or is missing (it opens one, closing the one it had),
            # then each open version the sweep does not list (``i`` null). One query: each eager step would be
            # another.
            differ = (
                joined.filter(pl.col("i").is_null() | ~same)
                .sort("i", nulls_last=True)
                .select("i", "version_id", "key_right")
                .collect()
            )
            listed = differ["i"].is_not_null()
            fresh = differ["i"].filter(listed).to_list()
            close = differ["version_id"].filter(listed).drop_nulls().to_list()
            unseen = list(
                zip(
                    differ["version_id"].filter(~listed).to_list(),
                    differ["key_right"].filter(~listed).to_list(),
                    strict=True,
                )
            )
        kept = False
        if unseen:  # what may_close needs, as stored before this sweep
            scopes = dict(
                self.con.execute(
                    f"SELECT version_id, {scope_col} FROM {table} WHERE version_id IN (SELECT unnest(?::BIGINT[]))",
                    [[vid for vid, _ in unseen]],
                ).fetchall()
            )
            for vid, key in unseen:
                if may_close(key, scopes[vid]):
                    close.append(vid)
                else:
                    kept = True
        touched = len(keys) > len(fresh)
        if close:
            self.con.execute(
                f"UPDATE {table} SET valid_to = ? WHERE version_id IN (SELECT unnest(?::BIGINT[]))",
                [self.taken_at, close],
            )
        if touched and not kept:
            # Every version still open is seen again (the usual sweep): no list of ids to pass and match.
            self.con.execute(
                f"UPDATE {table} SET last_seen = ?, last_snapshot = ? WHERE valid_to IS NULL",
                [self.taken_at, self.snapshot_id],
            )
        elif touched:
            assert joined is not None  # kept: an open version the sweep does not list, so not in order
            touch = joined.filter(pl.col("i").is_not_null() & pl.col("version_id").is_not_null() & same).collect()
            self.con.execute(
                f"UPDATE {table} SET last_seen = ?, last_snapshot = ? WHERE version_id IN (SELECT unnest(?::BIGINT[]))",
                [self.taken_at, self.snapshot_id, touch["version_id"].to_list()],
            )
        opened: dict[str, int] = {}
        rows: list[dict[str, Any]] = []
        if fresh:
            rows = [make_row(i) for i in fresh]
            ids = self.new_ids(len(rows))
            for row, vid in zip(rows, ids, strict=True):
                row.update(
                    version_id=vid,
                    valid_from=self.taken_at,
                    valid_to=None,
                    first_snapshot=self.snapshot_id,
                    last_snapshot=self.snapshot_id,
                    last_seen=self.taken_at,
                )
                opened[row[key_col]] = vid
            insert_rows(self.con, table, rows)
        if self.carry is not None:
            after: OpenRows | None
            if in_order:  # the same positions, the opened ones in place of those they close
                after = OpenRows(
                    list(open_rows.ids),
                    keys,
                    digests,
                    list(open_rows.no_id) if open_rows.no_id is not None else None,
                    list(open_rows.numbered) if open_rows.numbered is not None else None,
                )
                for i, row in zip(fresh, rows, strict=True):
                    after.ids[i] = row["version_id"]
                    opened_extras(after, row, keys[i], at=i)
            else:
                after = open_rows.changed(keys, close, opened, digests, {row[key_col]: row for row in rows})
            if after is None:
                self.carry.broken = True
            else:
                self.carry.applied(table, open_rows, after, close, opened, fresh if in_order else None)
        self.opened += len(fresh)
        self.closed += len(close)
        return opened


_SCHEMAS: dict[str, pa.Schema] = {}


def _table_schema(table: str) -> pa.Schema:
    """``table``'s columns as Polars reads them, in Arrow types, as the migrations make them: every file a writer
    opens is migrated to the last step, so they are read once a process from an empty database migrated in
    memory. Binding the table's name in the sweep's database cost most of a millisecond a table a sweep."""
    if not _SCHEMAS:
        con = duckdb.connect()
        try:
            migrate(con)
            tables = [name for (name,) in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()]
            read = {name: con.sql(f"SELECT * FROM {name} LIMIT 0").pl().to_arrow().schema for name in tables}
        finally:
            con.close()
        # Filled in one step: another thread's first insert never finds the cache begun but without its table.
        _SCHEMAS.update(read)
    return _SCHEMAS[table]


def insert_rows(con: duckdb.DuckDBPyConnection, table: str, rows: list[dict[str, Any]]) -> None:
    """Insert ``rows`` (dicts by column name; a missing column is NULL) in one statement, converted exactly to the
    table's column types (a price Decimal stays the same number; one that does not fit fails).

    The columns go straight into Arrow arrays of those types: a frame inferred from the dicts and then cast took
    four times as long for the hundred versions a sweep opens. By name: a column's place is no part of it."""
    schema = _table_schema(table)
    frame = pa.Table.from_pydict({c: [row.get(c) for row in rows] for c in schema.names}, schema=schema)
    con.register("_incoming", frame)
    try:
        con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM _incoming")
    finally:
        con.unregister("_incoming")


def _override_rows(entity: str, opened: dict[str, int], sheets: dict[str, PriceSheet]) -> list[dict[str, Any]]:
    rows = []
    for key, vid in opened.items():
        for ordinal, o in enumerate(sheets[key].overrides):
            row = {
                "entity": entity,
                "version_id": vid,
                "ordinal": ordinal,
                "min_prompt_tokens": o.min_prompt_tokens,
                "utc_start": o.utc_start,
                "utc_end": o.utc_end,
                "dynamic": any(k in o.prices and o.prices[k] is None for k in PRICE_KEYS),
            }
            row.update({f"price_{k}": o.prices.get(k) for k in PRICE_KEYS})
            rows.append(row)
    return rows


_PREVIOUS_MODEL_COUNT = (
    f"SELECT models_count FROM snapshots WHERE {GOOD_SNAPSHOT} AND models_count IS NOT NULL"
    "{before} ORDER BY taken_at DESC, snapshot_id DESC LIMIT 1"
)


# What a new sweep reads of the snapshot log: when the newest good snapshot was taken, the next snapshot id, and
# ``_PREVIOUS_MODEL_COUNT`` (the models of the newest good snapshot that counted them) — in one scan of the log,
# where three subqueries scanned it three times.
_SWEEP_START = (
    f"SELECT max(taken_at) FILTER ({GOOD_SNAPSHOT}) AS newest, coalesce(max(snapshot_id), 0) + 1 AS next_id, "
    f"arg_max(models_count, (taken_at, snapshot_id)) FILTER ({GOOD_SNAPSHOT} AND models_count IS NOT NULL) "
    "AS previous FROM snapshots"
)


def _previous_model_count(con: duckdb.DuckDBPyConnection, before_snapshot: int) -> int | None:
    """Models in the newest usable snapshot before ``before_snapshot`` (re-applying an old one)."""
    row = con.execute(_PREVIOUS_MODEL_COUNT.format(before=" AND snapshot_id < ?"), [before_snapshot]).fetchall()
    return row[0][0] if row else None


def _check_order(newest: datetime | None, taken_at: datetime) -> None:
    """``newest``: when the newest good snapshot was taken (``snapshots.newest_good_snapshot``)."""
    if newest is not None and taken_at < newest:
        raise SnapshotOrderError(
            f"snapshot time {taken_at.isoformat()} is older than the newest stored snapshot "
            f"({newest.isoformat()}); history is applied in time order. Load older data into an empty "
            "database (--db), or rebuild with `catalog rederive`."
        )


def _summary_text(sweep: Sweep, suspicious_note: str | None) -> str | None:
    parts = []
    if sweep.fatal:
        parts.append(sweep.fatal)
    if suspicious_note:
        parts.append(suspicious_note)
    if sweep.endpoint_failures:
        names = sorted(sweep.endpoint_failures)
        first = sweep.endpoint_failures[names[0]]
        parts.append(f"endpoints of {len(names)} model(s) not fetched, e.g. {names[0]}: {first}")
    if sweep.provider_error:
        parts.append(f"providers not fetched: {sweep.provider_error}")
    if sweep.problems:
        parts.append(f"{len(sweep.problems)} item(s) unparsable, e.g. {sweep.problems[0]}")
    if sweep.unknown_price_keys:
        # Loud on purpose: a price dimension we do not know cannot be costed until the parser learns it.
        keys = ", ".join(f"{k} ({v})" for k, v in sorted(sweep.unknown_price_keys.items()))
        parts.append(f"UNKNOWN PRICE KEYS, stored in pricing_text but not costed: {keys}")
    if sweep.unknown_fields:
        fields = ", ".join(f"{k} ({v})" for k, v in sorted(sweep.unknown_fields.items()))
        parts.append(f"new upstream fields kept in the raw archive: {fields}")
    return "; ".join(parts)[:2000] if parts else None


def record_snapshot(
    con: duckdb.DuckDBPyConnection, sweep: Sweep, *, snapshot_id: int | None = None, archive: bool = True
) -> SnapshotSummary:
    """Store one sweep in one transaction and return what it did.

    ``snapshot_id`` re-applies an already recorded snapshot (used by ``rederive``); ``archive=False`` skips the
    raw-payload archive (used by benchmarks that feed synthetic sweeps).
    """
    started = time.monotonic()
    # Taken out first: a sweep that fails, or any write it does not see, leaves nothing to carry.
    carry = Carry(CARRIED.pop(con, None))
    con.execute("BEGIN TRANSACTION")
    try:
        summary = apply_snapshot(con, sweep, snapshot_id=snapshot_id, archive=archive, started=started, carry=carry)
        carried = carry.carried(con)
    except BaseException:
        rollback(con)
        raise
    commit(con)  # a commit that fails (a full disk) says why, and has stored nothing
    if carried is not None:
        CARRIED[con] = carried
    return summary


def apply_snapshot(
    con: duckdb.DuckDBPyConnection,
    sweep: Sweep,
    *,
    snapshot_id: int | None = None,
    archive: bool = True,
    started: float | None = None,
    carry: Carry | None = None,
) -> SnapshotSummary:
    """The body of ``record_snapshot``, run inside the caller's transaction (``rederive`` wraps many).
    ``carry``: ``record_snapshot``'s open versions carried from its connection's last sweep."""
    started = time.monotonic() if started is None else started
    rederive = snapshot_id is not None
    previous: int | None = None
    if snapshot_id is None:
        # One question of the snapshot log rather than three (each statement costs a millisecond or two).
        # With a carry, the open versions' fingerprint too: it says whether the carried ones are still theirs.
        newest, snapshot_id, previous, *found = con.execute(
            "SELECT s.*" + (f", {FINGERPRINT}" if carry is not None else "") + f" FROM ({_SWEEP_START}) AS s"
        ).fetchall()[0]
        if carry is not None:
            carry.check(found)
        if sweep.fatal is None:
            _check_order(newest.astimezone(UTC) if newest is not None else None, sweep.taken_at)
    v = _Versioner(con, snapshot_id, sweep.taken_at)
    v.carry = carry if carry is not None and carry.before is not None else None
    status, suspicious_note = "ok", None
    if sweep.fatal is not None or sweep.models is None:
        status = "failed"
    else:
        if rederive:
            previous = _previous_model_count(con, snapshot_id)
        if previous and len(sweep.models) < previous * SUSPICIOUS_DROP:
            status = "suspicious"
            suspicious_note = (
                f"model count fell from {previous} to {len(sweep.models)}; nothing was closed "
                "(check the source before trusting this snapshot)"
            )
        elif (
            sweep.endpoint_failures
            or sweep.provider_error
            or sweep.models_unreadable
            or sweep.models_skipped
            or sweep.providers_skipped
            or sweep.providers_unreadable
        ):
            status = "partial"
        _apply_history(con, v, sweep, may_close_anything=status != "suspicious")
    duration_ms = int((time.monotonic() - started + sweep.duration_s) * 1000)
    # Nothing with a credential is stored (a base URL with user-info, a key an upstream echoed in an error):
    # the snapshot table is listed by the API and published in the site's downloads.
    summary_text = _summary_text(sweep, suspicious_note)
    error_summary = redact(summary_text) if summary_text is not None else None
    values: dict[str, Any] = dict(
        taken_at=sweep.taken_at,
        started_at=sweep.taken_at,
        source=redact(sweep.source),
        kinds=",".join(sorted(sweep.kinds)),
        scope=sweep.scope,
        status=status,
        models_count=len(sweep.models) if sweep.models is not None else None,
        endpoints_count=sweep.endpoint_count if "endpoints" in sweep.kinds and sweep.models is not None else None,
        providers_count=len(sweep.providers) if sweep.providers is not None else None,
        endpoint_failures=len(sweep.endpoint_failures),
        versions_opened=v.opened,
        versions_closed=v.closed,
        retries=sweep.retries,
        duration_ms=duration_ms,
        error_summary=error_summary,
    )
    if rederive:
        sets = ", ".join(f"{k} = ?" for k in values if k not in ("taken_at", "started_at", "source", "retries"))
        params = [val for k, val in values.items() if k not in ("taken_at", "started_at", "source", "retries")]
        con.execute(f"UPDATE snapshots SET {sets} WHERE snapshot_id = ?", [*params, snapshot_id])
    else:
        cols = ", ".join(["snapshot_id", *values])
        marks = ", ".join("?" * (len(values) + 1))
        con.execute(f"INSERT INTO snapshots ({cols}) VALUES ({marks})", [snapshot_id, *values.values()])
        if archive:
            archive_payloads(con, snapshot_id, sweep.raw)
    return SnapshotSummary(
        snapshot_id,
        sweep.taken_at,
        status,
        values["models_count"],
        values["endpoints_count"],
        values["providers_count"],
        v.opened,
        v.closed,
        len(sweep.endpoint_failures),
        error_summary,
        duration_ms,
    )


def _apply_history(con: duckdb.DuckDBPyConnection, v: _Versioner, sweep: Sweep, *, may_close_anything: bool) -> None:
    assert sweep.models is not None
    current_models = {m.model_id for m in sweep.models}
    protected = set(sweep.models_skipped)
    # Removals are only trusted when every /models entry was readable.
    removals_trusted = may_close_anything and sweep.models_unreadable == 0

    models = list(_carry_forward(con, "model_versions", "model_id", {m.model_id: m for m in sweep.models}).values())
    model_sheets = {m.model_id: m.pricing for m in models}
    # A model outside this snapshot's scope was not asked for: its absence says nothing. The output modalities
    # of the open models this sweep does not list (the only ones asked about), as stored before it: the model
    # versions' comparison reads them, and hands each to ``model_closable`` first.
    outputs: dict[str, Any] = {}

    def model_gone(model_id: str) -> bool:
        return (
            removals_trusted
            and model_id not in current_models
            and model_id not in protected
            and in_scope(outputs.get(model_id), sweep.scope)
        )

    def model_closable(model_id: str, output_modalities: Any) -> bool:
        outputs[model_id] = output_modalities
        return model_gone(model_id)

    opened = v.apply(
        "model_versions",
        "model_id",
        [m.model_id for m in models],
        [m.content_hash for m in models],
        lambda i: _model_row(models[i]),
        model_closable,
        scope_col="output_modalities",
    )
    _insert_overrides(con, "model", opened, model_sheets)

    if "endpoints" in sweep.kinds or removals_trusted:
        fetched = set(sweep.endpoints) if may_close_anything else set()

        def endpoint_closable(_key: str, model_id: str) -> bool:
            if model_id in fetched:
                return True  # its list was read in full: what is missing from it is gone
            return model_gone(model_id)

        open_endpoints = v.open_rows("endpoint_versions")
        read = _SweepColumns.read(sweep.endpoints)
        keys, records, _, moves = _sweep_endpoint_keys(con, open_endpoints, sweep.endpoints, read.bases)
        read = read.moved(moves)
        digests = read.digests
        if read.absent:  # facts upstream left out: rare
            absent = {key: rec for key, rec in zip(keys, records, strict=True) if rec.absent}
            carried = _carry_forward(con, "endpoint_versions", "endpoint_key", absent)
            records = [carried.get(key, rec) for key, rec in zip(keys, records, strict=True)]
            digests = list(map(attrgetter("content_hash"), records))  # those carried forward hash anew
        no_id = open_endpoints.no_id or []
        unfilled = (
            [
                (vid, key, digest)
                for vid, key, digest, missing in zip(
                    open_endpoints.ids, open_endpoints.keys, open_endpoints.digests, no_id, strict=True
                )
                if missing
            ]
            if any(no_id)
            else []
        )
        if _fill_in(con, "provider_model_id", keys, records, unfilled):
            open_endpoints = OpenRows.read(con, "endpoint_versions")  # hashes changed in place
            if v.carry is not None:
                v.carry.broken = True  # and the fingerprint with them: the next sweep reads them again
        telemetry = _telemetry_frame(keys, read)
        fresh: dict[str, EndpointRecord] = {}  # the records of the versions opened now, by key

        def endpoint_row(i: int) -> dict[str, Any]:
            fresh[keys[i]] = records[i]
            return _endpoint_row(records[i], keys[i])

        opened = v.apply(
            "endpoint_versions",
            "endpoint_key",
            keys,
            digests,
            endpoint_row,
            endpoint_closable,
            open_rows=open_endpoints,
        )
        _insert_overrides(con, "endpoint", opened, {key: fresh[key].pricing for key in opened})
        _insert_skus(con, opened, fresh)
        v.apply(
            "endpoint_status",
            "endpoint_key",
            keys,
            # str(status) of each record, from the telemetry's status column rather than another pass
            telemetry["status"].cast(pl.String).fill_null("None").to_list(),
            lambda i: _status_row(records[i], keys[i]),
            endpoint_closable,
        )
        _replace_telemetry(con, v, telemetry)

    if sweep.providers is not None:
        current_providers = {p.slug for p in sweep.providers}
        skipped = set(sweep.providers_skipped)
        trusted = may_close_anything and sweep.providers_unreadable == 0
        providers = sweep.providers
        v.apply(
            "provider_versions",
            "slug",
            [p.slug for p in providers],
            [p.content_hash for p in providers],
            lambda i: _provider_row(providers[i]),
            lambda key, _scope: trusted and key not in current_providers and key not in skipped,
        )


Carried = TypeVar("Carried", ModelRecord, EndpointRecord)


def _carry_forward(
    con: duckdb.DuckDBPyConnection, table: str, key_col: str, records: dict[str, Carried]
) -> dict[str, Carried]:
    """Fill facts upstream left out this time (``record.absent``) from the open version, if there is one."""
    needs = {key: rec for key, rec in records.items() if rec.absent}
    if not needs:
        return records
    fields = sorted(set().union(*(rec.absent for rec in needs.values())))
    rows = con.execute(
        f"SELECT {key_col}, {', '.join(fields)} FROM {table} "
        f"WHERE valid_to IS NULL AND {key_col} IN (SELECT unnest(?::VARCHAR[]))",
        [list(needs)],
    ).fetchall()
    out = dict(records)
    for key, *values in rows:
        rec = needs[key]
        stored = dict(zip(fields, values, strict=True))
        out[key] = rec.with_facts({**rec.facts, **{f: stored[f] for f in rec.absent}})
    return out


def _fill_in(
    con: duckdb.DuckDBPyConnection,
    fact: str,
    keys: list[str],
    records: list[EndpointRecord],
    missing: list[tuple[int, str, str]],
) -> bool:
    """Write ``fact`` into open endpoint versions stored before it was recorded (NULL there, and otherwise
    the same content), in place: learning the provider's own model id is not a change of the endpoint, and a
    history made before the field existed would otherwise open a version for every endpoint at once.

    ``missing``: ``(version_id, endpoint_key, content_hash)`` of the open versions without it. Returns whether
    any was written."""
    if not missing:  # the usual sweep: nothing to look up in its records
        return False
    known = {key: rec for key, rec in zip(keys, records, strict=True) if rec.facts.get(fact) is not None}
    updates = [
        (known[key].facts[fact], known[key].content_hash, vid)
        for vid, key, digest in missing
        if key in known and digest == known[key].hash_without(fact)
    ]
    if updates:
        con.executemany(f"UPDATE endpoint_versions SET {fact} = ?, content_hash = ? WHERE version_id = ?", updates)
    return bool(updates)


def _insert_overrides(
    con: duckdb.DuckDBPyConnection, entity: str, opened: dict[str, int], sheets: dict[str, PriceSheet]
) -> None:
    rows = _override_rows(entity, opened, sheets)
    if rows:  # one statement: executemany runs one INSERT per row
        insert_rows(con, "price_overrides", rows)


_PRICE_LIMIT = Decimal(10) ** MAX_INTEGER_DIGITS


def _storable(value: Decimal | None) -> Decimal | None:
    # DECIMAL(38,30): a SKU amount past it (never seen) keeps its text and no number rather than failing the sweep
    if value is None or not value.is_finite() or abs(value) >= _PRICE_LIMIT:
        return None
    exponent = value.as_tuple().exponent
    return value if isinstance(exponent, int) and exponent >= -30 else None


def _insert_skus(con: duckdb.DuckDBPyConnection, opened: dict[str, int], records: dict[str, EndpointRecord]) -> None:
    rows = [
        {
            "version_id": vid,
            "sku": s.sku,
            "price_text": s.text,
            "price": _storable(s.amount),
            "price_usd": _storable(s.usd),
            "unit": s.unit,
            "billable": s.billable,
            "variant": s.variant,
            "is_price": s.is_price,
        }
        for key, vid in opened.items()
        for s in records[key].skus
    ]
    if rows:
        insert_rows(con, "endpoint_skus", rows)


@dataclass
class _SweepColumns:
    """What a sweep's endpoints give the store, read in one pass in the sweep's order: ``model@tag``, the content
    hash and the model of each, whether any left facts out (``absent``), and its ``TELEMETRY_VALUES``."""

    bases: list[str]
    digests: list[str]
    model_ids: list[str]
    absent: bool
    telemetry: list[list[Any]]

    @classmethod
    def read(cls, current: dict[str, list[EndpointRecord]]) -> _SweepColumns:
        # One pass with an append per value: each pass over ten thousand records costs a few milliseconds in
        # memory reads alone (a record, its telemetry and their percentiles are apart on the heap), so they are
        # read once for everything; a tuple an endpoint would be ten thousand containers for the garbage
        # collector.
        empty: dict[str, Any] = {}
        bases: list[str] = []
        digests: list[str] = []
        model_ids: list[str] = []
        absent = False
        columns: list[list[Any]] = [[] for _ in TELEMETRY_VALUES]
        base, digest, model = bases.append, digests.append, model_ids.append
        status, up_5m, up_30m, up_1d, lat_50, lat_75, lat_90, lat_99, thr_50, thr_75, thr_90, thr_99 = (
            column.append for column in columns
        )
        for model_id, records in current.items():
            for rec in records:
                base(f"{model_id}@{rec.tag}")
                digest(rec.content_hash)
                model(rec.model_id)
                if rec.absent:
                    absent = True
                live = rec.live
                lat = live.get("latency_last_30m") or empty
                thr = live.get("throughput_last_30m") or empty
                status(live.get("status"))
                up_5m(live.get("uptime_last_5m"))
                up_30m(live.get("uptime_last_30m"))
                up_1d(live.get("uptime_last_1d"))
                lat_50(lat.get("p50"))
                lat_75(lat.get("p75"))
                lat_90(lat.get("p90"))
                lat_99(lat.get("p99"))
                thr_50(thr.get("p50"))
                thr_75(thr.get("p75"))
                thr_90(thr.get("p90"))
                thr_99(thr.get("p99"))
        return cls(bases, digests, model_ids, absent, columns)

    def moved(self, moves: Moves) -> _SweepColumns:
        """The columns in the keyed records' order (``_endpoint_keys``' moves)."""
        if not moves:
            return self
        return _SweepColumns(
            self.bases,
            _moved(self.digests, moves),
            _moved(self.model_ids, moves),
            self.absent,
            [_moved(column, moves) for column in self.telemetry],
        )


def _telemetry_frame(keys: list[str], columns: _SweepColumns) -> pl.DataFrame:
    """The sweep's telemetry rows: ``endpoint_key``, ``model_id`` and ``TELEMETRY_VALUES``, in the keys' order
    (``columns`` in that order)."""
    return pl.DataFrame(
        {
            "endpoint_key": pl.Series(keys, dtype=pl.String),
            "model_id": pl.Series(columns.model_ids, dtype=pl.String),
            **{
                name: pl.Series(name, column, dtype=pl.Int32 if name == "status" else pl.Float64)
                for name, column in zip(TELEMETRY_VALUES, columns.telemetry, strict=True)
            },
        }
    )


_TELEMETRY_SET = ", ".join(f"{name} = s.{name}" for name in TELEMETRY_VALUES)


def _replace_telemetry(con: duckdb.DuckDBPyConnection, v: _Versioner, telemetry: pl.DataFrame) -> None:
    """Keep the latest telemetry of every endpoint whose model is in this sweep (older rows stay for the rest):
    the table's rows of those models are replaced by the sweep's.

    The usual sweep lists the endpoints the table holds for its models, each once: their rows are updated in
    place, which writes less to the write-ahead log than deleting and inserting them (no key text; at ten
    thousand endpoints a sweep wrote 2.7 MB, now 2.2 MB when every endpoint's latency moves and 1.1 MB when
    none does), so the commit checkpoints less often. Otherwise (an endpoint came or went) the rows of the
    sweep's models are deleted and inserted again, the updated ones among them.
    """
    if telemetry.is_empty():
        return
    con.register("_telemetry", telemetry)
    try:
        updated = con.execute(
            "UPDATE endpoint_telemetry AS t SET snapshot_id = ?::INTEGER, observed_at = ?::TIMESTAMPTZ, "
            f"{_TELEMETRY_SET} FROM _telemetry AS s WHERE t.endpoint_key = s.endpoint_key AND t.model_id = s.model_id",
            [v.snapshot_id, v.taken_at],
        ).fetchall()[0][0]
        if updated == telemetry.height and _telemetry_rows_updated(con, updated):
            return
        con.execute("DELETE FROM endpoint_telemetry WHERE model_id IN (SELECT model_id FROM _telemetry)")
        con.execute(
            "INSERT INTO endpoint_telemetry BY NAME "
            "SELECT *, ?::INTEGER AS snapshot_id, ?::TIMESTAMPTZ AS observed_at FROM _telemetry",
            [v.snapshot_id, v.taken_at],
        )
    finally:
        con.unregister("_telemetry")


def _telemetry_rows_updated(con: duckdb.DuckDBPyConnection, updated: int) -> bool:
    """Whether the ``updated`` rows (as many as the sweep's, each matched by key and model) are all the rows of
    the sweep's models: then they are the sweep's rows, one a key. The table holds one row a key and model (its
    unique index) and the sweep lists each key once, so each sweep row matched one table row at most, and as
    many matched as it has: all of them did. The whole table is counted first (the usual case: every model with
    rows was fetched); rows of models fetched no more are left out by a join."""
    if con.execute("SELECT count(*) FROM endpoint_telemetry").fetchall()[0][0] == updated:
        return True
    rows = con.execute(
        "SELECT count(*) FROM endpoint_telemetry WHERE model_id IN (SELECT model_id FROM _telemetry)"
    ).fetchall()[0][0]
    return bool(rows == updated)
