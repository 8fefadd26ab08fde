"""Replaying 2026-01-10 → 01-20 → 01-29 records no price change caused by dropped zero-valued keys.

Between about 2026-01-12 and 01-27 OpenRouter stopped sending zero-valued pricing keys (``request``, ``image``,
``web_search``, ``internal_reasoning``) model by model; a missing key means 0, so a key that disappears with
value 0 is not a price change. The expected model price changes are computed here from the bundled /models
files with plain ``gzip`` / ``json`` / ``Decimal`` (the bytes the fake server serves, read without the
project's parsing code) and compared with what the replayed history reports, exactly.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from itertools import pairwise
from pathlib import Path
from typing import Any

import duckdb
import pytest
from conftest import change_value
from helpers import run_cli

from catalog.bundle import Bundle, SnapshotInfo
from catalog.replay import replay, select_snapshots
from catalog.store.db import connect
from catalog.store.queries import changes

JANUARY_IDS = ["2026-01-10T011641Z", "2026-01-10T182335Z", "2026-01-20", "2026-01-29"]
NOT_PRICES = {"discount", "overrides"}

# (snapshot time, model id, field, old, new); old/new Decimal, None for the dynamic sentinel, bool for "dynamic"
Change = tuple[datetime, str, str, Any, Any]
Recorded = list[tuple[SnapshotInfo, dict[str, dict[str, Any]]]]  # each snapshot with each model's pricing


def january(bundle: Bundle) -> list[SnapshotInfo]:
    return select_snapshots(
        bundle,
        start=datetime(2026, 1, 10, tzinfo=UTC),
        end=datetime(2026, 1, 29, 23, 59, 59, tzinfo=UTC),
        include_models_only=True,
    )


def listed_pricing(bundle: Bundle, info: SnapshotInfo) -> dict[str, dict[str, Any]]:
    """Each model's ``pricing`` object exactly as the bundled /models snapshot lists it."""
    document = json.loads(gzip.decompress((bundle.root / info.file).read_bytes()), parse_float=Decimal)
    return {m["id"]: m["pricing"] for m in document["models"]}


def amount(pricing: dict[str, Any], key: str) -> Decimal | None:
    raw = pricing.get(key)
    if raw is None:
        return Decimal(0)
    if raw == "-1":
        return None
    assert isinstance(raw, str), f"{key}={raw!r} is not a decimal string"
    return Decimal(raw)


def is_dynamic(pricing: dict[str, Any]) -> bool:
    return any(value == "-1" for key, value in pricing.items() if key not in NOT_PRICES)


def dropped_zero_keys(old: dict[str, Any], new: dict[str, Any]) -> set[str]:
    return {k for k in old.keys() - new.keys() - NOT_PRICES if amount(old, k) == 0}


@pytest.fixture(scope="module")
def recorded(bundle: Bundle) -> Recorded:
    return [(info, listed_pricing(bundle, info)) for info in january(bundle)]


@pytest.fixture(scope="module")
def history(bundle: Bundle, tmp_path_factory: pytest.TempPathFactory) -> Iterator[duckdb.DuckDBPyConnection]:
    """The four January snapshots replayed over HTTP into a fresh database."""
    con = connect(tmp_path_factory.mktemp("january") / "january.duckdb")
    steps = replay(con, bundle, january(bundle))
    assert [s.summary.status if s.summary else None for s in steps] == ["ok"] * 4
    yield con
    con.close()


def expected_changes(recorded: Recorded) -> set[Change]:
    found: set[Change] = set()
    for (_, before), (info, after) in pairwise(recorded):
        for model_id in before.keys() & after.keys():
            old, new = before[model_id], after[model_id]
            for key in (old.keys() | new.keys()) - NOT_PRICES:
                if amount(old, key) != amount(new, key):
                    found.add((info.taken_at, model_id, key, amount(old, key), amount(new, key)))
            if is_dynamic(old) != is_dynamic(new):
                found.add((info.taken_at, model_id, "dynamic", is_dynamic(old), is_dynamic(new)))
    return found


def as_changes(rows: list[dict[str, Any]]) -> list[Change]:
    return [
        (
            r["at"] if isinstance(r["at"], datetime) else datetime.fromisoformat(r["at"].replace("Z", "+00:00")),
            r["model_id"], r["field"], change_value(r["field"], r["old"]), change_value(r["field"], r["new"]),
        )
        for r in rows
    ]  # fmt: skip


def model_price_changes(con: duckdb.DuckDBPyConnection, snaps: list[SnapshotInfo]) -> list[Change]:
    frame = changes(con, snaps[0].taken_at, snaps[-1].taken_at, entity="model", kind="price")
    return as_changes(frame.to_dicts())


def test_the_january_snapshots_are_the_four_captures(bundle: Bundle) -> None:
    assert [s.id for s in january(bundle)] == JANUARY_IDS
    assert {s.kind for s in january(bundle)} == {"models"}


def test_the_recordings_really_drop_zero_valued_keys(recorded: Recorded) -> None:
    per_step: dict[str, set[str]] = {}
    for (_, before), (info, after) in pairwise(recorded):
        per_step[info.id] = {m for m in before.keys() & after.keys() if dropped_zero_keys(before[m], after[m])}
    assert per_step["2026-01-10T182335Z"] == set()  # two captures of one day, before the change
    assert len(per_step["2026-01-20"]) > 0  # the mixed state: some models already without zero keys
    assert len(per_step["2026-01-29"]) > 0
    assert sum(len(models) for models in per_step.values()) > 100


@pytest.mark.slow  # seconds, not milliseconds: left out of make test-fast
def test_no_change_is_recorded_for_a_dropped_zero_key(
    history: duckdb.DuckDBPyConnection, recorded: Recorded, bundle: Bundle
) -> None:
    reported = model_price_changes(history, january(bundle))
    assert reported, "the replay recorded no model price change at all"
    same = [c for c in reported if c[3] == c[4]]
    assert same == [], f"changes whose old and new are equal: {same[:10]}"
    dropped: set[tuple[datetime, str, str]] = set()
    for (_, before), (info, after) in pairwise(recorded):
        for model_id in before.keys() & after.keys():
            dropped |= {(info.taken_at, model_id, k) for k in dropped_zero_keys(before[model_id], after[model_id])}
    from_drops = [c for c in reported if c[:3] in dropped]
    assert from_drops == [], f"changes for keys that merely disappeared with value 0: {from_drops[:10]}"


def test_reported_model_price_changes_are_exactly_the_real_ones(
    history: duckdb.DuckDBPyConnection, recorded: Recorded, bundle: Bundle
) -> None:
    reported = model_price_changes(history, january(bundle))
    assert len(reported) == len(set(reported)), "a change is reported twice"
    expected = expected_changes(recorded)
    missing, extra = expected - set(reported), set(reported) - expected
    assert not missing and not extra, (
        f"{len(expected)} real changes, {len(reported)} reported\n"
        f"missing: {sorted(missing, key=str)[:20]}\nextra: {sorted(extra, key=str)[:20]}"
    )


@pytest.mark.slow  # seconds, not milliseconds: left out of make test-fast
def test_cli_replays_january_and_reports_the_same_changes(tmp_path: Path, recorded: Recorded) -> None:
    db = str(tmp_path / "cli.duckdb")
    out = run_cli("replay", "--all", "--from", "2026-01-10", "--to", "2026-01-29", "--json", "--db", db)
    assert out.returncode == 0, out.stderr
    steps = json.loads(out.stdout)
    assert [(s["id"], s["skipped"], s["status"]) for s in steps] == [(i, False, "ok") for i in JANUARY_IDS]
    out = run_cli(
        "changes", "--since", "2026-01-10", "--until", "2026-01-29", "--entity", "model", "--kind", "price",
        "--json", "--db", db,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert sorted(as_changes(json.loads(out.stdout)["changes"]), key=str) == sorted(expected_changes(recorded), key=str)
