"""The price index (``catalog.cost.sheets.PriceTable``) against a plain reference of the lookup it replaced.

The table used to keep an entities × periods grid; it now keeps each entity's versions sorted by start and
searches within the entity. ``reference_sheet`` below is the old rule written out the slow way: the endpoint
candidates in order of preference, the first with a version in force at the instant (``valid_from ≤ t <
valid_to``; where versions of one entity overlap, the one listed last) wins, else the model-level version;
source 0 / 1 / 2. It is compared on 100,000 random (entity, instant) pairs of the bundled 20-day history,
on every row of random multi-version histories with gaps and overlaps (costs too, against
``tests/cost_reference.py``), and ``extend`` is compared with a rebuild from all versions.
"""

from __future__ import annotations

import copy
import gc
import random
import tracemalloc
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

import polars as pl
import pytest
from cost_reference import MONEY_NAMES, reference_cost
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_cost_engine import pricings, usage_rows

from catalog.cost.engine import cost_usage
from catalog.cost.sheets import _CHUNK, _MAX_CHUNKS, _NEVER_TS, PriceTable, Resolution, SheetVersion, VersionList
from catalog.cost.usage import usage_frame
from catalog.library import Catalog
from catalog.prices import parse_price_sheet
from catalog.store import queries

T0 = datetime(2026, 8, 1, tzinfo=UTC)
SOURCES = {0: "endpoint", 1: "model", 2: None}
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def micros(value: datetime) -> int:
    return (value - EPOCH) // timedelta(microseconds=1)


class Reference:
    """Today's lookup, written out: per entity key its versions; no index, no periods."""

    def __init__(self, table: PriceTable) -> None:
        self.keys = {entity: key for key, entity in table.entity_of.items()}
        self.by_key: dict[tuple[str, str | None], list[tuple[int, SheetVersion]]] = {}
        for sheet_id, version in enumerate(table.versions):
            self.by_key.setdefault(version.entity_key, []).append((sheet_id, version))

    def in_force(self, entity: int, at: datetime) -> int:
        found = -1
        for sheet_id, v in self.by_key.get(self.keys.get(entity, ("", "")), []):
            if v.valid_from <= at and (v.valid_to is None or at < v.valid_to):
                found = max(found, sheet_id)  # overlapping versions of one entity: the one listed last
        return found

    def sheet(self, resolution: Resolution, at: datetime) -> tuple[int, int]:
        for entity in resolution.entities:
            if (found := self.in_force(entity, at)) >= 0:
                return found, 0
        if resolution.model_entity >= 0 and (found := self.in_force(resolution.model_entity, at)) >= 0:
            return found, 1
        return -1, 2


def instants(versions: list[SheetVersion], rng: random.Random, count: int) -> list[datetime]:
    """Instants that probe the boundaries: exactly at a start or an end, a microsecond either side, and
    anywhere from a day before the history to a day after it."""
    edges = [v.valid_from for v in versions] + [v.valid_to for v in versions if v.valid_to is not None]
    low, high = min(edges) - timedelta(days=1), max(edges) + timedelta(days=1)
    span = micros(high) - micros(low)
    out = []
    for _ in range(count):
        kind = rng.randrange(4)
        if kind == 0:
            out.append(low + timedelta(microseconds=rng.randrange(span)))
        else:
            out.append(rng.choice(edges) + timedelta(microseconds=kind - 2))
    return out


def check_lookup(table: PriceTable, resolutions: list[Resolution], combos: list[int], at: list[datetime]) -> None:
    """Every way the table finds rows' sheets (each row searching its candidates, the resolutions' timelines
    searched or laid out per period) gives the reference's answer for every row."""
    reference = Reference(table)
    want = [reference.sheet(resolutions[c], t) for c, t in zip(combos, at, strict=True)]
    ways: list[Literal["rows", "timeline", "cells"]] = ["rows", "timeline"]
    if len(resolutions) * table.n_periods <= 4_000_000:
        ways.append("cells")
    for how in ways:
        sheet, source = table.lookup(
            resolutions,
            pl.Series(combos, dtype=pl.Int64),
            pl.Series([micros(t) for t in at], dtype=pl.Int64),
            how=how,
        )
        got = list(zip(sheet.to_list(), source.to_list(), strict=True))
        wrong = [(resolutions[c], t, g, w) for c, t, g, w in zip(combos, at, got, want, strict=True) if g != w]
        assert not wrong, (how, wrong[:5])


def names_of(table: PriceTable, rng: random.Random, count: int) -> list[Resolution]:
    """Resolutions as usage names things: an entity's key, a provider, the model alone, or unknown names."""
    out = []
    for _ in range(count):
        model, tag, slug, name = rng.choice(table.entities)
        choice = rng.randrange(5)
        if choice == 0 or tag is None:
            out.append(table.resolve(model, None, None))
        elif choice == 1:
            out.append(table.resolve(model, None, tag))
        elif choice == 2:
            out.append(table.resolve(model, rng.choice([slug, name, tag, "nobody"]), None))
        elif choice == 3:
            key = next(k for k, e in table.entity_of.items() if table.entities[e] == (model, tag, slug, name))
            out.append(table.resolve(model, None, key[1]))
        else:
            out.append(table.resolve(model + ":nitro", slug, None))
    return out


@pytest.fixture(scope="module")
def history(replayed_template: Path) -> PriceTable:
    with Catalog.open(replayed_template) as cat:
        return PriceTable.from_history(queries.price_versions(cat.con))


def test_the_index_finds_the_reference_sheet_for_100_000_random_pairs(history: PriceTable) -> None:
    rng = random.Random(15)
    every = [Resolution((e,), -1, None) for e in range(len(history.entities))]
    n = 100_000
    # Every entity alone (a row per (entity, instant)): rows search their entity, periods by minute.
    assert history._minute_table() is not None, "a batch this large reads periods from the minute table"
    check_lookup(history, every, [rng.randrange(len(every)) for _ in range(n)], instants(history.versions, rng, n))
    # Names as usage gives them (candidates in order, then the model's price); periods by binary search.
    named = names_of(history, rng, 2_000)
    check_lookup(
        history, named, [rng.randrange(len(named)) for _ in range(5_000)], instants(history.versions, rng, 5_000)
    )
    # A few names and many rows, by default resolved at the points where an answer can change.
    few = named[:20]
    check_lookup(history, few, [rng.randrange(len(few)) for _ in range(n)], instants(history.versions, rng, n))


def test_the_sheets_at_one_instant_are_the_references(history: PriceTable) -> None:
    """``sheets_at`` (one instant for many resolutions, in NumPy: a refresh's rank index asks it) gives the
    reference's sheet and source for names as usage gives them and for every entity alone, at instants on and
    either side of the bounds, before the history and after it."""
    rng = random.Random(35)
    reference = Reference(history)
    named = names_of(history, rng, 300) + [Resolution((e,), -1, None) for e in range(0, len(history.entities), 7)]
    checked = 0
    for at in instants(history.versions, rng, 40):
        sheets, sources = history.sheets_at(named, at)
        assert list(zip(sheets, sources, strict=True)) == [reference.sheet(r, at) for r in named], at
        checked += sum(s >= 0 for s in sheets)
    assert checked > 0
    assert history.sheets_at([], datetime(2026, 1, 1, tzinfo=UTC)) == ([], [])


def check_costs(table: PriceTable, rows: list[dict[str, Any]]) -> pl.DataFrame:
    """Cost ``rows`` with the engine: each row's sheet, source and money equal the reference's."""
    priced = cost_usage(usage_frame(rows), table)
    reference = Reference(table)
    for row, got in zip(rows, priced.to_dicts(), strict=True):
        resolution = table.resolve(row["model"], row.get("provider"), row.get("endpoint"))
        sheet_id, source = reference.sheet(resolution, row["timestamp"])
        assert (got["sheet_id"], got["price_source"]) == (sheet_id, SOURCES[source]), row
        if sheet_id >= 0:
            want = reference_cost(row, table.versions[sheet_id].sheet, row["timestamp"], table.scale)
            assert {k: got[k] for k in MONEY_NAMES} == want, row
    return priced


def usage_over(table: PriceTable, rng: random.Random, count: int) -> list[dict[str, Any]]:
    """Rows naming a model and a provider (else none) or an endpoint, at boundary-probing instants."""
    rows = []
    for at in instants(table.versions, rng, count):
        model, tag, slug, name = rng.choice(table.entities)
        pick = rng.randrange(4)
        rows.append(
            {
                "model": model,
                "provider": (slug or name) if pick == 1 else None,
                "endpoint": tag if pick == 2 else None,
                "timestamp": at,
                "prompt_tokens": rng.choice([10, 12_345, 250_000]),
                "completion_tokens": rng.randrange(2_000),
                "cache_read_tokens": 5,
            }
        )
    return rows


def test_engine_costs_on_the_history_equal_the_reference_sheet_and_cost(history: PriceTable) -> None:
    check_costs(history, usage_over(history, random.Random(7), 3_000))


# -- synthetic histories: gaps, overlaps, empty and reversed versions at shared boundaries ---------------------

HOURS = [T0 + timedelta(hours=h) for h in range(8)]
ENTITIES = [("m/a", None), ("m/a", "p"), ("m/a", "p/global"), ("m/a", "q"), ("m/b", None), ("m/b", "p")]


@st.composite
def histories(draw: st.DrawFn) -> list[SheetVersion]:
    sheets = [parse_price_sheet(draw(pricings())) for _ in range(draw(st.integers(1, 3)))]
    versions = []
    for _ in range(draw(st.integers(1, 14))):
        model, tag = draw(st.sampled_from(ENTITIES))
        start = draw(st.sampled_from(HOURS))
        end = draw(st.none() | st.sampled_from(HOURS))  # equal or earlier: a version in force at no instant
        sheet = draw(st.sampled_from(sheets))
        kind: Literal["endpoint", "model"] = "model" if tag is None else "endpoint"
        versions.append(SheetVersion(kind, model, tag, tag, tag and tag.upper(), start, end, sheet))
    return versions


@given(versions=histories(), rows=st.lists(st.tuples(st.integers(0, 5), usage_rows()), min_size=1, max_size=12))
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_every_row_of_a_random_history_gets_the_reference_sheet_and_cost(
    versions: list[SheetVersion], rows: list[tuple[int, dict[str, Any]]]
) -> None:
    table = PriceTable.from_sheets(versions)
    reference = Reference(table)
    names = [("m/a", None), ("m/a", "p"), ("m/a", "P"), ("m/a", "q"), ("m/b", "p"), ("m/c", None)]
    full = []
    for index, (choice, row) in enumerate(rows):
        model, provider = names[choice]
        # Times on the hour boundaries, a microsecond either side, and the generated spread.
        at = HOURS[index % len(HOURS)] + timedelta(microseconds=index % 3 - 1) if index % 2 else row["timestamp"]
        full.append({**row, "model": model, "provider": provider, "timestamp": at})
    priced = cost_usage(usage_frame(full), table).to_dicts()
    for row, got in zip(full, priced, strict=True):
        sheet_id, source = reference.sheet(table.resolve(row["model"], row["provider"], None), row["timestamp"])
        assert got["sheet_id"] == sheet_id
        assert got["price_source"] == SOURCES[source]
        if sheet_id >= 0:
            want = reference_cost(row, table.versions[sheet_id].sheet, row["timestamp"], table.scale)
            assert {k: got[k] for k in MONEY_NAMES} == want
    probes = [h + timedelta(microseconds=d) for h in HOURS for d in (-1, 0, 1)]
    every = [table.resolve(m, p, None) for m, p in names] + [
        Resolution((e,), -1, None) for e in range(len(table.entities))
    ]
    check_lookup(table, every, [c for c in range(len(every)) for _ in probes], probes * len(every))


# -- extend: a sweep's changes on a table, equal to a rebuild ----------------------------------------------------


def as_swept(versions: list[SheetVersion], cut: datetime) -> tuple[list[SheetVersion], list[tuple[list, dict]]]:
    """The history as it stood at ``cut`` (a version still in force then is open), and each later sweep's
    changes in order: the versions it opened (open) and the entity keys it closed (with the time)."""
    before = [v if v.valid_to is not None and v.valid_to <= cut else replace(v, valid_to=None) for v in versions]
    before = [v for v in before if v.valid_from <= cut]
    moments = {v.valid_from for v in versions} | {v.valid_to for v in versions if v.valid_to is not None}
    changes = []
    for moment in sorted(t for t in moments if t > cut):
        opened = [replace(v, valid_to=None) for v in versions if v.valid_from == moment]
        closed = {v.entity_key: moment for v in versions if v.valid_to == moment and v.valid_from < moment}
        changes.append((opened, closed))
    return before, changes


def identity(table: PriceTable, sheet_id: int) -> tuple[Any, ...] | None:
    v = table.versions[sheet_id] if sheet_id >= 0 else None
    return None if v is None else (v.entity_key, v.valid_from, v.valid_to, v.sheet.canonical())


def test_extend_equals_a_rebuild_from_all_versions(history: PriceTable, monkeypatch: pytest.MonkeyPatch) -> None:
    cut = sorted({v.valid_from for v in history.versions})[5]
    before, changes = as_swept(history.versions, cut)
    assert changes and any(closed for _, closed in changes), "the history must close versions after the cut"
    start = table = PriceTable.from_sheets(before)
    start_answers = start.lookup(
        [Resolution((e,), -1, None) for e in range(len(start.entities))],
        pl.int_range(0, len(start.entities), eager=True),
        pl.Series([micros(cut)] * len(start.entities)),
    )
    names_before = (copy.deepcopy(start.tag_entities), copy.deepcopy(start.providers_of))
    rebuilds: list[PriceTable] = []
    build_index = PriceTable._build_index
    monkeypatch.setattr(PriceTable, "_build_index", lambda self: (rebuilds.append(self), build_index(self))[1])
    for opened, closed in changes:
        table = table.extend(opened, closed)
    monkeypatch.undo()
    # Sweeps in time order extend the index in place (``_extend_index``), never re-sorting the whole of it.
    assert not rebuilds
    # The table it was extended from is unchanged: a request in flight on it sees what it saw.
    assert all(v.valid_to is None or v.valid_to <= cut for v in start.versions)
    again = start.lookup(
        [Resolution((e,), -1, None) for e in range(len(start.entities))],
        pl.int_range(0, len(start.entities), eager=True),
        pl.Series([micros(cut)] * len(start.entities)),
    )
    assert [s.to_list() for s in again] == [s.to_list() for s in start_answers]
    assert (start.tag_entities, start.providers_of) == names_before  # its name maps too (shared until changed)
    # Equal to a rebuild from the same versions in the same order: the same ids, index, variants and rates.
    rebuilt = PriceTable.from_sheets(list(table.versions))
    assert table.entity_of == rebuilt.entity_of and table.tag_entities == rebuilt.tag_entities
    assert table.providers_of == rebuilt.providers_of and table.slug_to_model == rebuilt.slug_to_model
    assert table.bounds.equals(rebuilt.bounds) and table.scale == rebuilt.scale
    assert table.n_periods == rebuilt.n_periods
    for name in ("_span_key", "_span_end", "_span_sheet", "_span_lo", "_span_count"):
        assert getattr(table, name).equals(getattr(rebuilt, name)), name
    assert table.variants.equals(rebuilt.variants) and table.variant_base.equals(rebuilt.variant_base)
    rng = random.Random(3)
    rows = usage_over(table, rng, 4_000)
    ours = check_costs(table, rows)
    assert ours.equals(cost_usage(usage_frame(rows), rebuilt))
    # And to the table read from the store (another order, so other ids): the same version and cost per row.
    theirs = cost_usage(usage_frame(rows), history)
    assert [identity(table, i) for i in ours["sheet_id"]] == [identity(history, i) for i in theirs["sheet_id"]]
    assert ours.drop("sheet_id").equals(theirs.drop("sheet_id"))


def test_the_open_versions_found_through_the_spans_are_a_scans(history: PriceTable) -> None:
    """``extend`` finds the open version of each entity it closes as the entity's last span: the same rows as a
    scan of every version's end (how it found them before), for every entity, none and one it does not hold."""
    entities = [-1, *range(len(history.entities)), len(history.entities)]
    scanned = (
        pl.DataFrame({"entity": history._ver_entity, "end": history._ver_to})
        .with_row_index("row")
        .filter((pl.col("end") == _NEVER_TS) & pl.col("entity").is_in(entities))
        .select("row", "entity")
    )
    assert not history._overlaps and scanned.height > 0
    rows, found = history._open_rows(entities)
    assert rows.tolist() == scanned["row"].to_list()
    assert found.tolist() == scanned["entity"].to_list()
    assert [a.size for a in history._open_rows([])] == [0, 0]


def test_extend_rescales_adds_override_slots_and_keeps_the_old_table() -> None:
    plain = parse_price_sheet({"prompt": "0.000001", "completion": "0.000002"})
    old = PriceTable.from_sheets([SheetVersion("endpoint", "m/a", "p", "p", "P", T0, None, plain)])
    tiered = parse_price_sheet(
        {
            "prompt": "0.0000012345678",
            "completion": "0.000002",
            "overrides": [
                {"min_prompt_tokens": 1000, "prompt": "0.000003"},
                {"utc_start": 2200, "utc_end": 600, "completion": "0"},
            ],
        }
    )
    noon = T0 + timedelta(hours=12)
    opened = [
        SheetVersion("endpoint", "m/a", "p", "p", "P", noon, None, tiered),
        SheetVersion("model", "m/b", None, None, None, T0, None, plain),
    ]
    new = old.extend(opened, {("m/a", "p"): noon})
    rebuilt = PriceTable.from_sheets(list(new.versions))
    assert new.scale == rebuilt.scale > old.scale and new.max_overrides == 2 and old.max_overrides == 0
    assert new.variants.equals(rebuilt.variants)
    assert new.conditions is not None and rebuilt.conditions is not None
    assert new.conditions.equals(rebuilt.conditions)
    rows = [
        {
            "model": m,
            "provider": "p",
            "timestamp": T0 + timedelta(hours=h),
            "prompt_tokens": 5_000,
            "completion_tokens": 7,
        }
        for m in ("m/a", "m/b")
        for h in range(24)
    ]
    assert check_costs(new, rows).equals(cost_usage(usage_frame(rows), rebuilt))
    assert old.versions[0].valid_to is None and len(old.versions) == 1 and "m/b" not in old.model_ids
    assert cost_usage(usage_frame(rows[:1]), old)["cost_total"].to_list() == [Decimal("0.005014")]


def test_two_tables_extended_from_one_keep_their_own_sheets_and_rates() -> None:
    """``extend`` appends a table's new distinct sheets (and the ranker its new variant rows) to lists it shares
    with the table it extends; a second table extended from the same one (a refresh that did not publish, then
    another) must not see the first one's rows: each equals a rebuild from its own versions."""
    from catalog.cost import ranker

    plain = parse_price_sheet({"prompt": "0.000001", "completion": "0.000002"})
    base = PriceTable.from_sheets([SheetVersion("endpoint", "m/a", "p", "p", "P", T0, None, plain)])
    ranker._variants(base)  # made on the parent: the children's are carried from it
    noon = T0 + timedelta(hours=12)
    children = []
    for prompt in ("0.000003", "0.000005"):
        sheet = parse_price_sheet({"prompt": prompt, "completion": "0.000002"})
        child = base.extend([SheetVersion("endpoint", "m/a", "p", "p", "P", noon, None, sheet)], {("m/a", "p"): noon})
        ranker._variants(child)
        children.append(child)
    for child in [*children, base]:
        rebuilt = PriceTable.from_sheets(list(child.versions))
        assert child.variants.equals(rebuilt.variants) and child.variant_base.equals(rebuilt.variant_base)
        mine, theirs = ranker._variants(child), ranker._variants(rebuilt)
        assert mine.rates[: mine.variants] == theirs.rates and mine.base[: mine.versions] == theirs.base
        assert (mine.num[: mine.variants], mine.den[: mine.variants]) == (theirs.num, theirs.den)
        one = [{"model": "m/a", "provider": "p", "timestamp": noon, "prompt_tokens": 1000, "completion_tokens": 0}]
        assert cost_usage(usage_frame(one), child).equals(cost_usage(usage_frame(one), rebuilt))
    # The first child appended to the parent's lists; the second copied the parent's own rows.
    assert ranker._variants(children[0]).rates is ranker._variants(base).rates
    assert ranker._variants(children[1]).rates is not ranker._variants(base).rates
    assert children[0]._distinct is base._distinct and children[1]._distinct is not base._distinct


def test_a_table_extended_sweep_after_sweep_keeps_its_columns_in_few_chunks() -> None:
    """Each ``extend`` appends one chunk to the version, variant and condition columns; a process that runs for a
    year extends ~8,760 times, and a gather over that many chunks is an order of magnitude slower. The columns are
    made contiguous again past ``_MAX_CHUNKS``, and the table still equals a rebuild from its versions."""
    tiered = {"overrides": [{"min_prompt_tokens": 1000, "prompt": "0.000009"}]}
    plain = parse_price_sheet({"prompt": "0.000001", "completion": "0"})
    table = PriceTable.from_sheets(
        [SheetVersion("endpoint", f"m/{i}", "p", "p", "P", T0, None, plain) for i in range(5)]
    )
    for hour in range(1, 3 * _MAX_CHUNKS + 1):
        at, model = T0 + timedelta(hours=hour), f"m/{hour % 5}"
        # A new sheet each sweep (every column gains rows), some with an override (the conditions frame too).
        sheet = parse_price_sheet({"prompt": f"0.{hour:09d}", "completion": "0", **(tiered if hour % 2 else {})})
        table = table.extend([SheetVersion("endpoint", model, "p", "p", "P", at, None, sheet)], {(model, "p"): at})
    columns: dict[str, pl.Series] = {}
    for name, value in vars(table).items():
        if isinstance(value, pl.Series):
            columns[name] = value
        elif isinstance(value, pl.DataFrame):
            columns.update({f"{name}.{c}": value[c] for c in value.columns})
        elif isinstance(value, dict):
            columns.update({f"{name}.{k}": v for k, v in value.items() if isinstance(v, pl.Series)})
    for name in ("_ver_entity", "_ver_from", "_ver_to", "_ver_dist", "_dist_base", "_rates.input", "conditions.min_0"):
        assert name in columns, name  # the columns that grow with every sweep are among those checked
    assert {name: s.n_chunks() for name, s in columns.items() if s.n_chunks() > _MAX_CHUNKS + 1} == {}
    rebuilt = PriceTable.from_sheets(list(table.versions))
    assert table.variants.equals(rebuilt.variants) and table.variant_base.equals(rebuilt.variant_base)
    assert table.conditions is not None and rebuilt.conditions is not None
    assert table.conditions.equals(rebuilt.conditions)
    rows = [
        {"model": f"m/{i}", "provider": "p", "timestamp": T0 + timedelta(hours=h, minutes=30), "prompt_tokens": 2_000}
        for i in range(5)
        for h in range(0, 3 * _MAX_CHUNKS + 1, 7)
    ]
    assert check_costs(table, rows).equals(cost_usage(usage_frame(rows), rebuilt))


def test_a_version_list_reads_as_the_list_it_holds_and_changes_into_a_new_one() -> None:
    """``PriceTable.versions`` is a ``VersionList`` (chunks shared between a table and its extension): ids, slices
    and iteration read as the plain list; ``changed`` swaps and appends into a new list across chunk edges and
    leaves the old one as it was."""
    plain = parse_price_sheet({"prompt": "0.000001", "completion": "0"})
    items = [SheetVersion("model", f"m/{i}", None, None, None, T0, None, plain) for i in range(2_500)]
    held = VersionList(items)
    assert len(held) == 2_500 and list(held) == items and held[-1] is items[-1] and held[1_024] is items[1_024]
    for cut in (slice(0, 3), slice(1_020, 1_030), slice(2_047, None), slice(5, 2_100, 7), slice(9, 3), slice(None)):
        assert held[cut] == items[cut], cut
    with pytest.raises(IndexError):
        held[2_500]
    swaps = {i: replace(items[i], valid_to=T0 + timedelta(hours=1)) for i in (0, 1_023, 1_024, 2_499)}
    added = [replace(items[0], model_id=f"m/new{i}") for i in range(1_100)]
    new = held.changed(swaps, added)
    expected = [swaps.get(i, v) for i, v in enumerate(items)] + added
    assert len(new) == len(expected) and list(new) == expected and new[3_599] is added[-1]
    assert list(held) == items  # the old list is unchanged
    with pytest.raises(IndexError):
        held.changed({2_500: items[0]}, [])


def test_extend_refuses_to_close_what_the_table_does_not_hold_open() -> None:
    plain = parse_price_sheet({"prompt": "0.000001", "completion": "0"})
    table = PriceTable.from_sheets([SheetVersion("model", "m/a", None, None, None, T0, T0 + timedelta(hours=1), plain)])
    for key in (("m/a", None), ("m/z", "p")):
        with pytest.raises(ValueError, match="rebuild the table from the store"):
            table.extend([], {key: T0 + timedelta(hours=2)})


# -- size: linear in versions ---------------------------------------------------------------------------------


def tiled(versions: list[SheetVersion], hours: int) -> list[SheetVersion]:
    """The history repeated end to end until it covers ``hours`` (each copy's open versions close where the
    next copy starts; versions past the end are dropped, those running over it left open)."""
    first = min(v.valid_from for v in versions)
    span = max(max(v.valid_from for v in versions), *(v.valid_to for v in versions if v.valid_to)) - first
    span += timedelta(hours=1)
    end = first + timedelta(hours=hours)
    out = []
    copy = 0
    while first + copy * span < end:
        shift = copy * span
        for v in versions:
            start = v.valid_from + shift
            stop = v.valid_to + shift if v.valid_to is not None else first + shift + span
            if start < end:
                out.append(replace(v, valid_from=start, valid_to=stop if stop < end else None))
        copy += 1
    return out


def test_index_size_and_build_allocations_grow_linearly_with_versions(history: PriceTable) -> None:
    month, four = tiled(history.versions, 720), tiled(history.versions, 2_880)
    ratio = len(four) / len(month)
    assert 3.6 <= ratio <= 4.4

    def build(versions: list[SheetVersion]) -> tuple[PriceTable, int]:
        tracemalloc.start()
        try:
            table = PriceTable.from_sheets(versions)
            return table, tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    (small, small_peak), (large, large_peak) = build(month), build(four)
    small_size, large_size = small.index_size(), large.index_size()
    # One span per version in force for some instant: nothing sized entities × periods.
    assert small_size["spans"] <= len(month) and large_size["spans"] <= len(four)
    assert large_size["bytes"] / small_size["bytes"] <= 4.5 / 4 * ratio
    assert large_peak / small_peak <= 4.5 / 4 * ratio
    # The old layout's grid, for scale: entities × periods cells, far more than the versions.
    assert len(large.entities) * large.n_periods > 10 * len(four)


def test_a_table_read_from_the_store_leaves_the_collector_its_sheets_not_its_names(replayed_template: Path) -> None:
    """What reading a table adds for the garbage collector to walk at each full collection grows with its distinct
    listings (their parsed sheets), not with a list per endpoint tag and per provider name: the name maps hold
    tuples, which leave the collector's care at its next pass (as lists they were ~4,000 more objects here for
    ~2,300 entities, and at ten times today's endpoints they tipped a full collection into the first cost call)."""
    with Catalog.open(replayed_template) as cat:
        frame = queries.price_versions(cat.con)
    gc.collect()
    before = len(gc.get_objects())
    table = PriceTable.from_history(frame)
    gc.collect()
    grown = len(gc.get_objects()) - before
    assert grown < len(table._distinct) + len(table.entities) // 2, (grown, len(table._distinct), len(table.entities))


def test_a_table_read_from_the_store_makes_its_versions_when_first_read(replayed_template: Path) -> None:
    """``from_history`` keeps the versions as columns (no ``SheetVersion`` made for a cost call, which reads only
    the arrays): read, they equal the versions made from the same rows one by one, a chunk's objects are made
    once (the same object on every read), and a table extended from it shares them."""
    with Catalog.open(replayed_template) as cat:
        frame = queries.price_versions(cat.con)
    table = PriceTable.from_history(frame)
    held = table.versions
    assert all(not isinstance(chunk, tuple) for chunk in held._chunks)  # nothing made yet
    eager = PriceTable.from_sheets(list(table.versions))
    assert held[1_500] is held[1_500] and list(held) == list(eager.versions)
    rows = frame.to_dicts()
    assert len(rows) == len(held) > 2_000
    for i in (0, 1_023, 1_024, len(rows) - 1):
        version, row = held[i], rows[i]
        assert (version.model_id, version.tag, version.valid_from, version.valid_to, version.key) == (
            row["model_id"],
            row["tag"],
            row["valid_from"],
            row["valid_to"],
            row["key"],
        )
    # The same index and the same costs as the table built from the objects.
    assert table._span_key.to_list() == eager._span_key.to_list() and table.entities == eager.entities
    fresh = PriceTable.from_history(frame)
    open_one = next(i for i, v in enumerate(eager.versions) if v.valid_to is None and v.kind == "endpoint")
    closing = eager.versions[open_one]
    later = max(v.valid_from for v in eager.versions) + timedelta(hours=1)
    child = fresh.extend([replace(closing, valid_from=later)], {closing.entity_key: later})
    untouched = next(i for i in range(0, len(rows), _CHUNK) if i // _CHUNK != open_one // _CHUNK)
    assert child.versions[untouched] is fresh.versions[untouched]  # a chunk made after the extend: shared
    assert child.versions[open_one].valid_to == later and fresh.versions[open_one].valid_to is None
