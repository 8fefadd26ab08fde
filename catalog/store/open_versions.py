"""The open versions a sweep compares with, carried from one sweep to the next on the same connection.

A long-running writer (``catalog up``) stores a sweep an hour on one connection. Reading a version table's open
versions back each time decodes every row of its key and hash columns (~10x the open rows in a long history);
the next sweep starts instead from the open versions the last one committed, as aligned lists in the order it
listed them, so a sweep listing the same keys compares position by position.

Whatever else wrote in between shows in a fingerprint read inside the sweep's transaction (``rederive``, a
migration, a sweep on another cursor, another process once this connection was closed and opened again; a
rolled-back sweep leaves nothing to carry): per table, the open versions' count and sum of
``hash(version_id, content_hash)`` — a version opened, closed, reopened or deleted moves them, and so does a hash
rewritten in place — and how many endpoint versions lack the provider's model id. A mismatch reads the open
versions again. Keys, models and tags are never rewritten in place (a version's key is its identity), so they
are not fingerprinted: that would cost as much as reading them.
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import duckdb
import polars as pl

# What a sweep compares with, per version table: its open versions' ids, keys and hashes (an endpoint's as
# ``open_endpoint_versions`` describes).
OPEN_VERSIONS = {
    "endpoint_versions": (
        "SELECT version_id, endpoint_key, content_hash, provider_model_id IS NULL AS no_provider_model_id, "
        "CASE WHEN endpoint_key <> model_id || '@' || tag THEN model_id || '@' || tag END AS numbered_base "
        "FROM endpoint_versions WHERE valid_to IS NULL"
    ),
    **{
        table: f"SELECT version_id, {key_col} AS key, content_hash FROM {table} WHERE valid_to IS NULL"
        for table, key_col in (
            ("model_versions", "model_id"),
            ("endpoint_status", "endpoint_key"),
            ("provider_versions", "slug"),
        )
    },
}
# The open versions' fingerprint, per table: how many, the sum of hash(version_id, content_hash), and (endpoints)
# how many lack the provider's model id. Integers and one string column: ~5 ms at 720 h x 10, a quarter of reading.
FINGERPRINT = ", ".join(
    f"(SELECT [count(*), coalesce(sum(hash(version_id, content_hash)), 0)"
    f"{', count(*) FILTER (provider_model_id IS NULL)' if table == 'endpoint_versions' else ''}]::HUGEINT[] "
    f"FROM {table} WHERE valid_to IS NULL)"
    for table in OPEN_VERSIONS
)
Fingerprint = tuple[tuple[int, ...], ...]


@dataclass
class OpenRows:
    """One version table's open versions, as aligned lists: after a sweep in the order it listed them (any it
    did not list but kept open after), so the next sweep, listing the same keys in the same order, compares
    position by position. ``no_id`` and ``numbered`` (endpoint versions only): whether the provider's model id
    is missing, and the ``model@tag`` of a version stored under a numbered key (else None)."""

    ids: list[int]
    keys: list[str]
    digests: list[str]
    no_id: list[bool] | None = None
    numbered: list[str | None] | None = None

    @classmethod
    def read(cls, con: duckdb.DuckDBPyConnection, table: str) -> OpenRows:
        frame = con.sql(OPEN_VERSIONS[table]).pl()
        columns = [frame[name].to_list() for name in frame.columns]
        return cls(*columns)

    def moved(self, places: list[int], sources: list[int]) -> OpenRows:
        """The same versions, position ``places[n]`` holding the one at ``sources[n]`` (a permutation of
        ``places``), every other where it is."""
        return OpenRows(
            _moved(self.ids, places, sources),
            _moved(self.keys, places, sources),
            _moved(self.digests, places, sources),
            _moved(self.no_id, places, sources) if self.no_id is not None else None,
            _moved(self.numbered, places, sources) if self.numbered is not None else None,
        )

    def frame(self) -> pl.DataFrame:
        """``version_id, key, content_hash``."""
        return pl.DataFrame(
            {"version_id": self.ids, "key": self.keys, "content_hash": self.digests},
            schema={"version_id": pl.Int64, "key": pl.String, "content_hash": pl.String},
        )

    def changed(
        self,
        keys: Sequence[str],
        closed: Sequence[int],
        opened: dict[str, int],
        digests: Sequence[str],
        rows: dict[str, dict[str, Any]],
    ) -> OpenRows | None:
        """The open versions after a sweep listing ``keys`` (``digests``) closed ``closed`` and opened ``opened``
        (``rows``: their rows by key): those it lists in its order, then the others still open."""
        gone = set(closed)
        index = {key: j for j, (key, vid) in enumerate(zip(self.keys, self.ids, strict=True)) if vid not in gone}
        listed = set(keys)
        if len(listed) < len(keys) or len(index) < len(self.ids) - len(gone):
            return None  # a key twice (never seen): not carried, the next sweep reads them
        order: list[int] = []  # positions in self, or -1 for an opened one
        for key in keys:
            order.append(-1 if key in opened else index[key])
        order += [j for key, j in index.items() if key not in listed]
        out = OpenRows([], [], [], [] if self.no_id is not None else None, [] if self.numbered is not None else None)
        for n, j in enumerate(order):
            if j < 0:
                key = keys[n]
                out.ids.append(opened[key])
                out.keys.append(key)
                out.digests.append(digests[n])
                opened_extras(out, rows[key], key)
            else:
                out.ids.append(self.ids[j])
                out.keys.append(self.keys[j])
                out.digests.append(self.digests[j])
                if out.no_id is not None and self.no_id is not None:
                    out.no_id.append(self.no_id[j])
                if out.numbered is not None and self.numbered is not None:
                    out.numbered.append(self.numbered[j])
        return out


_Item = TypeVar("_Item")


def _moved(column: list[_Item], places: list[int], sources: list[int]) -> list[_Item]:
    out = list(column)
    for place, source in zip(places, sources, strict=True):
        out[place] = column[source]
    return out


def opened_extras(into: OpenRows, row: dict[str, Any], key: str, at: int | None = None) -> None:
    """An opened endpoint version's ``no_id`` and ``numbered`` from its row, as ``OPEN_VERSIONS`` reads them:
    appended, or put ``at`` a position."""
    if into.no_id is not None:
        no_id = row.get("provider_model_id") is None
        if at is None:
            into.no_id.append(no_id)
        else:
            into.no_id[at] = no_id
    if into.numbered is not None:
        base = f"{row['model_id']}@{row['tag']}"
        numbered = None if base == key else base
        if at is None:
            into.numbered.append(numbered)
        else:
            into.numbered[at] = numbered


@dataclass(frozen=True)
class Carried:
    """The open versions as a connection's last ``record_snapshot`` committed them (the tables it applied) and
    the fingerprint of all of them."""

    tables: dict[str, OpenRows]
    fingerprint: Fingerprint


# Per connection, and gone with it.
CARRIED: weakref.WeakKeyDictionary[duckdb.DuckDBPyConnection, Carried] = weakref.WeakKeyDictionary()


class Carry:
    """One ``record_snapshot``'s use of the carried open versions: checked against the fingerprint it reads,
    told what each table opened and closed, and made into what the next sweep carries."""

    def __init__(self, previous: Carried | None) -> None:
        self.previous = previous
        self.before: Fingerprint | None = None  # the open versions' fingerprint as this sweep found them
        self.tables: dict[str, OpenRows] = {}  # the open versions after this sweep, of the tables it applied
        # (table, version_id, content_hash, no provider model id, +1 opened / -1 closed) of each change
        self.moved: list[tuple[int, int, str, bool, int]] = []
        self.broken = False  # open versions rewritten in place (a fact filled in): the next sweep reads them

    def check(self, found: Sequence[Sequence[int]]) -> None:
        self.before = tuple(tuple(map(int, part)) for part in found)
        if self.previous is not None and self.previous.fingerprint != self.before:
            self.previous = None

    def open_rows(self, con: duckdb.DuckDBPyConnection, table: str) -> OpenRows:
        rows = self.previous.tables.get(table) if self.previous is not None else None
        return rows if rows is not None else OpenRows.read(con, table)

    def applied(
        self,
        table: str,
        before: OpenRows,
        after: OpenRows,
        closed: list[int],
        opened: dict[str, int],
        places: list[int] | None = None,
    ) -> None:
        """``table``'s open versions went from ``before`` to ``after``, closing ``closed`` and opening ``opened``.
        ``places``: where those stand, when each opened one took the place of one closed (a sweep compared in
        order), so they are not looked for among all the open versions."""
        self.tables[table] = after
        group = list(OPEN_VERSIONS).index(table)
        if places is not None:
            for j in places:
                self.moved.append((group, before.ids[j], before.digests[j], bool(before.no_id and before.no_id[j]), -1))
            for j in places:
                self.moved.append((group, after.ids[j], after.digests[j], bool(after.no_id and after.no_id[j]), 1))
            return
        if closed:
            gone = set(closed)
            for j, vid in enumerate(before.ids):
                if vid in gone:
                    no_id = before.no_id[j] if before.no_id is not None else False
                    self.moved.append((group, vid, before.digests[j], no_id, -1))
        if opened:
            fresh = set(opened.values())
            for j, vid in enumerate(after.ids):
                if vid in fresh:
                    no_id = after.no_id[j] if after.no_id is not None else False
                    self.moved.append((group, vid, after.digests[j], no_id, 1))

    def carried(self, con: duckdb.DuckDBPyConnection) -> Carried | None:
        """What the next sweep starts from, its fingerprint worked out from the one found: one statement hashes
        the versions opened and closed."""
        if self.before is None or self.broken:
            return None
        tables = dict(self.previous.tables) if self.previous is not None else {}
        tables.update(self.tables)
        fingerprint = [list(part) for part in self.before]
        if self.moved:
            group, ids, digests, no_ids, signs = (list(column) for column in zip(*self.moved, strict=True))
            sums = con.execute(
                "SELECT part, sign, count(*), sum(hash(version_id, content_hash)), count(*) FILTER (no_id) FROM "
                "(SELECT unnest(?::INTEGER[]) AS part, unnest(?::BIGINT[]) AS version_id, "
                "unnest(?::VARCHAR[]) AS content_hash, unnest(?::BOOLEAN[]) AS no_id, unnest(?::INTEGER[]) AS sign) "
                "GROUP BY part, sign",
                [group, ids, digests, no_ids, signs],
            ).fetchall()
            for part, sign, count, total, no_id in sums:
                into = fingerprint[part]
                into[0] += sign * count
                into[1] += sign * int(total)
                if len(into) > 2:
                    into[2] += sign * no_id
        tables_in_order = list(OPEN_VERSIONS)
        if any(len(rows.ids) != fingerprint[tables_in_order.index(table)][0] for table, rows in tables.items()):
            return None  # lists that do not hold as many versions as are open: not carried
        return Carried(tables, tuple(map(tuple, fingerprint)))
