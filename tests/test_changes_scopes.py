"""``queries._scopes`` reads only the snapshots whose scope no earlier one had (with the scope just before each):
the coverage rows and each model's first covering snapshot made from them must be those made from every
snapshot's scope, as ``queries.changes`` made them before."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import duckdb

from catalog.openrouter.skus import KINDS, in_scope, model_kind
from catalog.store import queries

START = datetime(2026, 1, 1, tzinfo=UTC)
SCOPES = [None, "", "text", "all", "image", "text,image", "embeddings,rerank", "all"]


def every_scope(con: duckdb.DuckDBPyConnection, kind: str) -> list[tuple[datetime, str]]:
    """The whole definition: every good snapshot of ``kind``, oldest first, with its scope."""
    rows = con.execute(
        "SELECT taken_at, scope FROM snapshots WHERE status <> 'failed' "
        "AND list_contains(string_split(kinds, ','), ?) ORDER BY taken_at, snapshot_id",
        [kind],
    ).fetchall()
    return [(at.astimezone(UTC), scope or "text") for at, scope in rows]


def coverage_whole(
    con: duckdb.DuckDBPyConnection, scopes: list[tuple[datetime, str]], since: datetime, until: datetime
) -> list[dict[str, Any]]:
    """The coverage rows walked over every snapshot (the loop ``queries._coverage_changes`` ran before)."""
    first_seen: dict[datetime, set[str]] = {}
    for at, outputs in con.execute(
        "SELECT min(valid_from), arg_min(output_modalities, valid_from) FROM model_versions GROUP BY model_id"
    ).fetchall():
        first_seen.setdefault(at.astimezone(UTC), set()).add(model_kind(outputs))
    out, covered, previous = [], set(), None
    for at, scope in scopes:
        kinds = {k for k in KINDS if in_scope([k], scope)}
        new = sorted(kinds - covered, key=KINDS.index)
        seen = [k for k in new if k in first_seen.get(at, set())]
        if previous is not None and new and since <= at <= until:
            out.append({"at": at, "old": previous, "new": f"catalog now covers {', '.join(seen or new)} models"})
        covered |= kinds
        previous = scope
    return out


def history(rng: random.Random) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute(
        "CREATE TABLE snapshots "
        "(snapshot_id BIGINT, taken_at TIMESTAMPTZ, status VARCHAR, kinds VARCHAR, scope VARCHAR)"
    )
    con.execute("CREATE TABLE model_versions (model_id VARCHAR, valid_from TIMESTAMPTZ, output_modalities VARCHAR[])")
    at = START
    for n in range(400):
        at += timedelta(hours=rng.choice([1, 1, 1, 0]))  # some snapshots at the same instant: ordered by id
        scope = rng.choice(SCOPES) if rng.random() < 0.05 else SCOPES[n // 120]
        kinds = rng.choice(["models", "models,endpoints", "endpoints", "models,providers"])
        status = "failed" if rng.random() < 0.05 else rng.choice(["ok", "partial"])
        con.execute("INSERT INTO snapshots VALUES (?, ?, ?, ?, ?)", [n, at, status, kinds, scope])
        if rng.random() < 0.2:
            outputs = rng.choice([["text"], ["image"], ["embeddings"], ["text", "image"], []])
            con.execute("INSERT INTO model_versions VALUES (?, ?, ?)", [f"m{n}", at, outputs])
    return con


def test_first_scopes_give_the_coverage_rows_and_first_covering_snapshots_of_every_scope() -> None:
    rows = 0
    for seed in range(5):
        rng = random.Random(seed)
        con = history(rng)
        for kind in ("models", "endpoints"):
            whole, firsts = every_scope(con, kind), queries._scopes(con, kind)
            assert len(firsts) < len(whole)  # the point: a few rows, not every snapshot
            for outputs in ([], ["text"], ["image"], ["embeddings"], ["rerank"], ["audio"], ["text", "image"]):
                expected = next((at for at, scope in whole if in_scope(outputs, scope)), None)
                assert queries._first_covering(firsts, outputs) == expected, (seed, kind, outputs)
            end = START + timedelta(days=30)
            for since, until in ((START, end), (START + timedelta(hours=100), end), (end, end)):
                found = queries._coverage_changes(con, firsts, since, until)
                rows += len(found)
                assert [{k: r[k] for k in ("at", "old", "new")} for r in found] == coverage_whole(
                    con, whole, since, until
                ), (seed, kind, since)
    assert rows > 10  # coverage rows were compared, not only empty lists
