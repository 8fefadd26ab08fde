"""`catalog changes` reports exactly the endpoint price and discount changes the recordings hold.

The expected changes come from an independent reading of the raw recordings in ``../shared`` —
``endpoint-stats-daily/model-stats-<day>.jsonl.gz`` and ``models/models-<day>.json`` read with plain ``gzip``,
``json`` and ``Decimal``, none of the project's parsing, bundling or storage code — applying the domain rules
(``docs/domain.md``) directly:

* a stats line's model id is ``model_slug`` for variant ``standard``, else ``model_slug:variant``; only models
  that day's ``/models`` lists count;
* an endpoint is (model id, ``provider_slug`` tag); when one model lists several endpoints under one tag, they
  are told apart by the website's endpoint ``id``, which is stable across days;
* an endpoint present on both days whose price for a key differs is a price change (absent key = 0, ``"-1"`` =
  dynamic, values compared as ``Decimal``); ``discount`` the same way (absent = 0).

The CLI is run with the issue's exact arguments for the first pair of days and over the whole 20 days; every
pair of consecutive days is also checked through ``queries.changes``, with the window the issue implies
(``A.taken_at + 1 s`` → ``B.taken_at``).
"""

from __future__ import annotations

import gzip
import json
import shutil
from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import datetime, timedelta
from decimal import Decimal
from functools import cache
from itertools import pairwise
from pathlib import Path
from typing import Any

import duckdb
import pytest
from conftest import change_value, shared_data_dir
from helpers import run_cli

from catalog.bundle import Bundle, SnapshotInfo
from catalog.store.db import connect
from catalog.store.queries import changes

pytestmark = pytest.mark.shared

FULL_DAYS: list[SnapshotInfo] = Bundle().snapshots("full")
PAIRS = list(pairwise(FULL_DAYS))
NOT_PRICES = {"discount", "overrides", "display_pricing"}

# (model id, tag, field, old, new); old/new are Decimal, None for the dynamic sentinel, bool for "dynamic".
Change = tuple[str, str, str, Any, Any]
Endpoints = dict[tuple[str, str], dict[str, dict[str, Any]]]  # (model id, tag) -> {endpoint id: pricing}


# --- the independent reading -----------------------------------------------------------------------------------


@cache
def recorded_endpoints(day: str) -> Endpoints:
    """Every endpoint's pricing on ``day`` as the raw recordings list it, for models in that day's /models."""
    root = shared_data_dir()
    assert root is not None
    body = json.loads((root / "models" / f"models-{day}.json").read_text(encoding="utf-8"))
    listed = {m["id"] for m in (body["data"] if isinstance(body, dict) else body)}
    found: Endpoints = defaultdict(dict)
    stats = root / "endpoint-stats-daily" / f"model-stats-{day}.jsonl.gz"
    with gzip.open(stats, "rt", encoding="utf-8") as lines:
        for line in lines:
            if not line.strip():
                continue
            row = json.loads(line, parse_float=Decimal)
            slug, variant = row["model_slug"], row["variant"]
            model_id = slug if variant == "standard" else f"{slug}:{variant}"
            if model_id not in listed:
                continue
            for record in row.get("endpoints") or []:
                found[(model_id, record["provider_slug"])].setdefault(record["id"], record["pricing"])
    return dict(found)


def paired(before: Endpoints, after: Endpoints) -> Iterator[tuple[str, str, dict[str, Any], dict[str, Any]]]:
    """(model id, tag, pricing before, pricing after) of every endpoint listed on both days."""
    for model_id, tag in sorted(before.keys() & after.keys()):
        old, new = before[(model_id, tag)], after[(model_id, tag)]
        if len(old) == 1 and len(new) == 1:
            yield model_id, tag, next(iter(old.values())), next(iter(new.values()))
            continue
        for endpoint_id in sorted(old.keys() & new.keys()):  # one tag listed twice: the website id decides
            yield model_id, tag, old[endpoint_id], new[endpoint_id]


def amount(pricing: dict[str, Any], key: str) -> Decimal | None:
    raw = pricing.get(key)
    assert not isinstance(raw, float | bool), f"{key}={raw!r} was not read exactly"
    if raw is None:
        return Decimal(0)
    if raw == "-1" and key != "discount":
        return None
    return Decimal(raw)


def is_dynamic(pricing: dict[str, Any]) -> bool:
    return any(value == "-1" for key, value in pricing.items() if key not in NOT_PRICES)


def recorded_changes(before: Endpoints, after: Endpoints) -> dict[str, Counter[Change]]:
    """The price and discount changes between two days' recordings."""
    found: dict[str, Counter[Change]] = {"price": Counter(), "discount": Counter()}
    for model_id, tag, old, new in paired(before, after):
        for key in sorted((old.keys() | new.keys()) - NOT_PRICES):
            if amount(old, key) != amount(new, key):
                found["price"][(model_id, tag, key, amount(old, key), amount(new, key))] += 1
        if is_dynamic(old) != is_dynamic(new):
            found["price"][(model_id, tag, "dynamic", is_dynamic(old), is_dynamic(new))] += 1
        if amount(old, "discount") != amount(new, "discount"):
            found["discount"][(model_id, tag, "discount", amount(old, "discount"), amount(new, "discount"))] += 1
    return found


def between(before: SnapshotInfo, after: SnapshotInfo) -> dict[str, Counter[Change]]:
    return recorded_changes(recorded_endpoints(before.id), recorded_endpoints(after.id))


# --- what the store reports ------------------------------------------------------------------------------------


def reported(rows: list[dict[str, Any]]) -> Counter[Change]:
    return Counter(
        (r["model_id"], r["tag"], r["field"], change_value(r["field"], r["old"]), change_value(r["field"], r["new"]))
        for r in rows
    )


def _plain(value: Any) -> str:
    return f"{value:f}" if isinstance(value, Decimal) else str(value)


def diff_message(label: str, expected: Counter[Change], got: Counter[Change]) -> str:
    def show(change: Change) -> str:
        model_id, tag, field, old, new = change
        return f"{model_id} @ {tag}: {field} {_plain(old)} -> {_plain(new)}"

    lines = [f"{label}: the recordings have {sum(expected.values())}, the store reports {sum(got.values())}"]
    lines += [f"  missing from the report: {show(c)}" for c in sorted((expected - got).elements(), key=str)]
    lines += [f"  reported, not in the recordings: {show(c)}" for c in sorted((got - expected).elements(), key=str)]
    return "\n".join(lines)


def run_changes_cli(db: Path, since: str, until: str, kind: str) -> list[dict[str, Any]]:
    args = ["changes", "--since", since, "--until", until, "--entity", "endpoint", "--kind", kind, "--json"]
    out = run_cli(*args, "--db", str(db))
    assert out.returncode == 0, out.stderr
    rows: list[dict[str, Any]] = json.loads(out.stdout)["changes"]
    assert {(r["entity"], r["kind"]) for r in rows} <= {("endpoint", kind)}
    return rows


def iso(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


@pytest.fixture(scope="module")
def history(replayed_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[duckdb.DuckDBPyConnection]:
    """One read-only copy of the 20 replayed days for the per-pair checks of this module."""
    path = tmp_path_factory.mktemp("changes") / "replayed.duckdb"
    shutil.copyfile(replayed_template, path)
    con = connect(path, read_only=True)
    yield con
    con.close()


# --- the tests -------------------------------------------------------------------------------------------------


def test_the_recorded_days_are_the_bundled_full_days() -> None:
    root = shared_data_dir()
    assert root is not None
    days = sorted(p.name.removeprefix("model-stats-").removesuffix(".jsonl.gz")
                  for p in (root / "endpoint-stats-daily").glob("model-stats-*.jsonl.gz"))  # fmt: skip
    assert days == [s.id for s in FULL_DAYS]
    assert len(PAIRS) == 19


def test_issue_command_reports_exactly_the_recorded_changes(replayed_db: Path) -> None:
    first, second = PAIRS[0]
    assert (first.id, second.id) == ("2026-07-17", "2026-07-18")
    expected = between(first, second)
    assert sum(expected["price"].values()) > 0  # the acceptance check is not vacuous
    for kind in ("price", "discount"):
        rows = run_changes_cli(replayed_db, "2026-07-17", "2026-07-18T23:59:59", kind)
        assert {r["at"] for r in rows} == {iso(second.taken_at)}  # all of them belong to the 18th's snapshot
        got = reported(rows)
        assert got == expected[kind], diff_message(f"{kind}, 07-17 → 07-18 (CLI)", expected[kind], got)


@pytest.mark.parametrize(("before", "after"), PAIRS, ids=[f"{a.id}..{b.id}" for a, b in PAIRS])
def test_each_pair_of_days_reports_exactly_the_recorded_changes(
    history: duckdb.DuckDBPyConnection, before: SnapshotInfo, after: SnapshotInfo
) -> None:
    expected = between(before, after)
    for kind in ("price", "discount"):
        frame = changes(history, before.taken_at + timedelta(seconds=1), after.taken_at, entity="endpoint", kind=kind)
        # SKU prices (field sku:…) are diffed against the recordings in test_kinds.py; this diff is of v1 prices
        rows = [r for r in frame.to_dicts() if not (r["field"] or "").startswith("sku:")]
        assert {r["at"] for r in rows} <= {after.taken_at}
        got = reported(rows)
        assert got == expected[kind], diff_message(f"{kind}, {before.id} → {after.id}", expected[kind], got)


def test_whole_range_cli_is_every_pair_at_its_own_snapshot(replayed_db: Path) -> None:
    expected: dict[str, Counter[tuple[str, Change]]] = {"price": Counter(), "discount": Counter()}
    for before, after in PAIRS:
        for kind, found in between(before, after).items():
            expected[kind].update({(iso(after.taken_at), c): n for c, n in found.items()})
    first, last = FULL_DAYS[0].taken_at, FULL_DAYS[-1].taken_at
    for kind in ("price", "discount"):
        rows = run_changes_cli(replayed_db, iso(first), iso(last), kind)
        got: Counter[tuple[str, Change]] = Counter()
        for r in rows:
            if (r["field"] or "").startswith("sku:"):
                continue  # SKU prices: test_kinds.py
            (change,) = reported([r])
            got[(r["at"], change)] += 1
        missing, extra = expected[kind] - got, got - expected[kind]
        assert not missing and not extra, (
            f"{kind} over 20 days: missing {sorted(missing, key=str)[:20]}, extra {sorted(extra, key=str)[:20]}"
        )


def test_a_retagged_endpoint_is_reported_removed_and_added(history: duckdb.DuckDBPyConnection) -> None:
    """A tag is the endpoint's identity: when upstream renames it (alibaba → alibaba/fp8 for 43 endpoints on
    2026-07-29, ending their 0.2–0.41 discounts), the old tag is reported removed and the new one added, so the
    change is visible even though it is not a price change of one endpoint."""
    retagged = 0
    for before, after in PAIRS:
        old_days, new_days = recorded_endpoints(before.id), recorded_endpoints(after.id)
        where_before = {(m, eid): tag for (m, tag), group in old_days.items() for eid in group}
        where_after = {(m, eid): tag for (m, tag), group in new_days.items() for eid in group}
        expected = set()
        for (model_id, endpoint_id), old_tag in where_before.items():
            new_tag = where_after.get((model_id, endpoint_id))
            if new_tag is None or new_tag == old_tag:
                continue
            if (model_id, old_tag) not in new_days:
                expected.add(("removed", model_id, old_tag))
            if (model_id, new_tag) not in old_days:
                expected.add(("added", model_id, new_tag))
        frame = changes(history, before.taken_at + timedelta(seconds=1), after.taken_at, entity="endpoint")
        got = {(r["kind"], r["model_id"], r["tag"]) for r in frame.to_dicts() if r["kind"] in ("added", "removed")}
        assert expected <= got, f"{before.id} → {after.id}: not reported {sorted(expected - got)}"
        retagged += len(expected)
    assert retagged >= 2 * 43
