"""Issue 20, item 4 (data half): each endpoint's ``provider_model_id`` is kept from the bundle through the
records and the store (migration step 0005) to the price table the client maps ids with.

The endpoint days are the recorded anthropic/claude-haiku-4.5 entry as bundled, edited only in the one field
under test; each day is stored as a sweep stores it (``record_snapshot``).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import duckdb
import pytest

from catalog.bundle import Bundle
from catalog.fake import Faults, memory_day
from catalog.fake.view import ServedDay
from catalog.library import Catalog
from catalog.openrouter.records import parse_endpoint
from catalog.replay import KINDS_FOR, recorded_sweep
from catalog.store.db import connect
from catalog.store.ingest import record_snapshot
from catalog.store.migrations import MIGRATIONS, migrate

MODEL = "anthropic/claude-haiku-4.5"
RECORDED_ID = "claude-haiku-4-5-20251001"


@pytest.fixture(scope="module")
def recorded() -> tuple[dict[str, Any], dict[str, Any], list[dict[str, Any]]]:
    state = Bundle().load("2026-08-01")
    model = next(m for m in state.models if m["id"] == MODEL)
    endpoints = copy.deepcopy(state.endpoints[MODEL])
    endpoints["endpoints"] = [e for e in endpoints["endpoints"] if e["tag"] == "anthropic"]
    return model, endpoints, list(state.providers or [])


def _store(con: duckdb.DuckDBPyConnection, day: str, recorded: Any, upstream: str | type[KeyError] | None) -> int:
    """Store one day with the anthropic endpoint's provider_model_id set to ``upstream`` (``KeyError``:
    the field left out, as OpenRouter's v1 endpoints list leaves it); return the versions opened."""
    model, endpoints, providers = recorded
    endpoints = copy.deepcopy(endpoints)
    for endpoint in endpoints["endpoints"]:
        if upstream is KeyError:
            del endpoint["provider_model_id"]
        else:
            endpoint["provider_model_id"] = upstream
    state = memory_day(day, [model], {MODEL: endpoints}, providers)
    sweep = recorded_sweep(
        ServedDay.build(state, Faults()), kinds=KINDS_FOR["full"], taken_at=state.info.taken_at, source="t"
    )
    summary = record_snapshot(con, sweep)
    return summary.opened


def _versions(con: duckdb.DuckDBPyConnection) -> list[tuple[Any, ...]]:
    return con.execute(
        "SELECT provider_model_id, valid_to IS NULL FROM endpoint_versions WHERE model_id = ? ORDER BY valid_from",
        [MODEL],
    ).fetchall()


def test_the_bundled_endpoints_carry_the_providers_own_id(bundle: Bundle) -> None:
    endpoints = bundle.load("2026-08-01").endpoints[MODEL]["endpoints"]
    assert {e["tag"]: e["provider_model_id"] for e in endpoints}["anthropic"] == RECORDED_ID
    assert all(e["provider_model_id"] for e in endpoints)


def test_a_record_keeps_the_id_and_says_when_it_was_left_out(recorded: Any) -> None:
    item = recorded[1]["endpoints"][0]
    kept = parse_endpoint(MODEL, item)
    assert kept.facts["provider_model_id"] == RECORDED_ID and "provider_model_id" not in kept.absent
    without = parse_endpoint(MODEL, {k: v for k, v in item.items() if k != "provider_model_id"})
    assert without.facts["provider_model_id"] is None and "provider_model_id" in without.absent
    assert "provider_model_id" not in without.unknown_fields
    assert kept.content_hash != without.content_hash == kept.hash_without("provider_model_id")


def test_the_id_is_stored_carried_forward_when_absent_and_a_change_opens_a_version(
    tmp_path: Path, recorded: Any
) -> None:
    con = connect(tmp_path / "h.duckdb")
    try:
        assert _store(con, "2026-08-01", recorded, RECORDED_ID) >= 1
        assert _versions(con) == [(RECORDED_ID, True)]
        # left out (the v1 endpoints list has no such field): the stored id carries forward, nothing opens
        _store(con, "2026-08-02", recorded, KeyError)
        assert _versions(con) == [(RECORDED_ID, True)]
        # a new id is a new version of the endpoint
        _store(con, "2026-08-03", recorded, "claude-haiku-4-5-20260101")
        assert _versions(con) == [(RECORDED_ID, False), ("claude-haiku-4-5-20260101", True)]
    finally:
        con.close()


def test_a_version_stored_before_the_field_existed_is_filled_in_not_reopened(tmp_path: Path, recorded: Any) -> None:
    con = connect(tmp_path / "h.duckdb")
    try:
        _store(con, "2026-08-01", recorded, None)  # as a history built before the field was kept
        assert _versions(con) == [(None, True)]
        before = con.execute("SELECT count(*) FROM endpoint_versions").fetchone()
        _store(con, "2026-08-02", recorded, RECORDED_ID)
        assert _versions(con) == [(RECORDED_ID, True)]
        assert con.execute("SELECT count(*) FROM endpoint_versions").fetchone() == before
        # and the filled-in version hashes as the record does: the next identical day opens nothing
        _store(con, "2026-08-03", recorded, RECORDED_ID)
        assert _versions(con) == [(RECORDED_ID, True)]
    finally:
        con.close()
    with Catalog.open(tmp_path / "h.duckdb") as cat:
        ids = {v.tag: v.provider_model_id for v in cat.table.versions if v.kind == "endpoint"}
    assert ids == {"anthropic": RECORDED_ID}


def test_step_0005_adds_the_column_to_a_history_made_before_it() -> None:
    con = duckdb.connect()
    con.execute(
        "CREATE TABLE schema_migrations "
        "(step INTEGER PRIMARY KEY, name VARCHAR NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
    )
    for step, (name, apply) in enumerate(MIGRATIONS[:4], start=1):
        apply(con)
        con.execute("INSERT INTO schema_migrations (step, name) VALUES (?, ?)", [step, name])
    con.execute(
        "INSERT INTO endpoint_versions (endpoint_key, model_id, tag, provider_slug, content_hash, valid_from, "
        "first_snapshot, last_snapshot, last_seen, discount, price_dynamic, price_free, override_count, pricing_text) "
        "VALUES ('m@t', 'm', 't', 't', 'h', now(), 1, 1, now(), 0, false, false, 0, '{}')"
    )
    assert migrate(con)[0] == "0005_endpoint_provider_model_id"  # then any later steps
    assert con.execute("SELECT endpoint_key, provider_model_id FROM endpoint_versions").fetchall() == [("m@t", None)]
