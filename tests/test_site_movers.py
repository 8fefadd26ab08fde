"""The index's movers and default order and the changes page's data, as built (issue 18, items 2 and 3); the
browser's side of them is in test_site_index_browser.py."""

from __future__ import annotations

import json
import random
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction

from site_helpers import Built

from catalog.library import Catalog
from catalog.store import queries
from catalog.website.changelog import PAGE_SIZE
from catalog.website.facts import EPOCH, _engine_list_costs, _list_costs, site_changes
from catalog.website.movers import MOVERS_SHOWN, Move, move_ratio, ranked_moves, window_start
from catalog.website.presets import PRESETS


def test_moves_rank_by_exact_ratio_and_leave_out_free_and_unmoved_models() -> None:
    old = {
        "a": Decimal("2"),
        "b": Decimal("3"),
        "c": Decimal("0"),
        "d": Decimal("5"),
        "e": Decimal("1"),
        "f": Decimal(1),
    }
    new = {"a": Decimal("1"), "b": Decimal("1.5"), "c": Decimal("1"), "d": Decimal("5"), "e": Decimal("1.1")}
    found = ranked_moves(old, new)
    # a and b both halve: the same ratio, so by model id; c was free (no percent), d did not move, f is gone.
    assert [m.model_id for m in found["cheaper"]] == ["a", "b"]
    assert [m.model_id for m in found["dearer"]] == ["e"]
    many = ranked_moves({str(i): Decimal(100) for i in range(9)}, {str(i): Decimal(100 - i - 1) for i in range(9)})
    assert [m.model_id for m in many["cheaper"]] == ["8", "7", "6", "5", "4"][:MOVERS_SHOWN]


def test_the_moves_shown_are_the_first_of_all_moves_sorted() -> None:
    """``ranked_moves`` takes the first few without sorting the rest: the same as sorting every move."""
    rng = random.Random(7)
    for _ in range(200):
        ids = [f"m{i}" for i in range(rng.randrange(0, 40))]
        old = {m: Decimal(rng.choice([0, 1, 2, 3, 5, 8])) / 4 for m in ids}
        new = {m: Decimal(rng.choice([0, 1, 2, 3, 5, 8])) / 4 for m in ids if rng.random() < 0.9}
        moves = [Move(m, old[m], new[m]) for m in sorted(old.keys() & new.keys()) if old[m] != 0 and old[m] != new[m]]
        cheaper = sorted((m for m in moves if m.new < m.old), key=lambda m: (m.ratio, m.model_id))
        dearer = sorted((m for m in moves if m.new > m.old), key=lambda m: (-m.ratio, m.model_id))
        found = ranked_moves(old, new)
        assert found == {"cheaper": cheaper[:MOVERS_SHOWN], "dearer": dearer[:MOVERS_SHOWN]}


def test_a_moves_ratio_kept_by_value_is_the_exact_ratio_of_its_amounts() -> None:
    """``move_ratio`` keeps ratios by the amounts' values: the same Fraction as computing it, whatever spelling of
    an amount came first (equal Decimals are equal numbers)."""
    rng = random.Random(3)
    for _ in range(500):
        old = Decimal(rng.randrange(1, 10**6)).scaleb(-rng.randrange(0, 12))
        new = Decimal(rng.randrange(0, 10**6)).scaleb(-rng.randrange(0, 12))
        for a, b in ((old, new), (Decimal(f"{old}0") if "." in str(old) else old, new.normalize())):
            expected = (Fraction(b) - Fraction(a)) / Fraction(a)
            assert move_ratio(a, b) == expected and Move("m", a, b).ratio == expected


def test_a_moves_percent_rounds_half_to_even_in_tenths() -> None:
    def tenths(old: str, new: str) -> str:
        return Move("m", Decimal(old), Decimal(new)).tenths

    assert tenths("2000", "1999") == "±0.0 %"  # −0.05 %: half, to the even 0
    assert tenths("2000", "1997") == "−0.2 %"  # −0.15 %: half, to the even −0.2
    assert tenths("2000", "1995") == "−0.2 %"  # −0.25 %: half, to the even −0.2
    assert tenths("0.00013", "0.0003") == "+130.8 %"
    assert tenths("3", "1") == "−66.7 %"


def test_a_window_longer_than_the_endpoint_history_starts_at_its_first_snapshot() -> None:
    at = datetime(2026, 8, 5, tzinfo=UTC)
    start = datetime(2026, 7, 17, tzinfo=UTC)
    assert window_start(at, 7, start) == (at - timedelta(days=7), False)
    assert window_start(at, 30, start) == (start, True)
    assert window_start(at, 30, None) == (at - timedelta(days=30), False)


def test_the_index_is_built_cheapest_first_with_free_models_after_the_paid(site: Built) -> None:
    page = site.pages["index.html"]
    costs = re.findall(r'<td class="num cost" data-value="([^"]*)"', page.text)
    tokens = [r for r in page.model_rows if "data-unit" not in r]
    assert len(costs) == len(tokens) > 100
    # The models billed in their own units follow, with no token cost to sort by (issue 19).
    assert all("data-unit" in r for r in page.model_rows[len(tokens) :])
    units = re.findall(r'<td class="num cost unit-cost" data-value="([^"]*)"', page.text)
    assert units == [""] * (len(page.model_rows) - len(tokens)) and units
    priced = [Decimal(c) for c in costs if c]
    paid = [c for c in priced if c > 0]
    assert priced[: len(paid)] == sorted(paid) and all(c == 0 for c in priced[len(paid) :])
    assert costs[len(priced) :] == [""] * (len(costs) - len(priced))  # those without a cost last
    assert 'data-sorted="1:asc"' in page.text


def test_the_changes_page_holds_every_change_newest_first_and_a_page_per_month(site: Built, cat: Catalog) -> None:
    # SKU prices and coverage rows are not in the site's tables (test_kinds checks them)
    changes = site_changes(queries.changes(cat.con, EPOCH, datetime(2100, 1, 1, tzinfo=UTC)).to_dicts())
    page = site.pages["changes.html"]
    (raw,) = [text for attrs, text in page.scripts if attrs.get("id") == "changes-data"]
    data = json.loads(raw)
    # The rows: the month scripts the page loads (before changes.js), in its order, each row's model by its
    # place in its month's list; every model of theirs is one of the page's.
    sources = [str(attrs["src"]) for attrs, _text in page.scripts if attrs.get("src")]
    loaded = [s for s in sources if s.startswith("changes/")]
    assert sources[-1] == "static/changes.js" and sources[-1 - len(loaded) : -1] == loaded
    rows = []
    for source in loaded:
        text = (site.out / source).read_text(encoding="ascii")
        head, tail = "(self.catalogChanges = self.catalogChanges || []).push(", ");\n"
        assert text.startswith(head) and text.endswith(tail) and text.count("\n") == 1, source
        month = json.loads(text[len(head) : -len(tail)])
        rows += [(month["models"][r[1]], r[2]) for r in month["rows"]]
    assert {m for m, _kind in rows} == {m[0] for m in data["models"]}
    assert len(rows) == len(changes) > PAGE_SIZE
    assert rows == [(c["model_id"], c["kind"]) for c in changes]
    # Without the script the table shows the newest PAGE_SIZE rows.
    table = re.search(r'<table class="changes" id="change-log">(.*?)</table>', page.text, re.S)
    assert table is not None and len(re.findall(r"<tr>", table.group(1))) == PAGE_SIZE + 1  # and the header
    months = sorted({c["at"].astimezone(UTC).strftime("%Y-%m") for c in changes})
    assert {p for p in site.pages if p.startswith("changes/")} == {f"changes/{m}.html" for m in months}
    for month in months:
        assert f'href="changes/{month}.html"' in page.text


def test_list_costs_kept_by_sheet_equal_the_engines_at_every_instant(cat: Catalog) -> None:
    """``_list_costs`` keeps what the engine found per sheet, profile (and instant, for a sheet with overrides):
    at each snapshot of the history, after the others filled it, the same as pricing every model again."""
    table = cat.table
    models = queries.models_as_of(cat.con, datetime(2100, 1, 1, tzinfo=UTC))["model_id"].to_list()
    models += ["no/such-model"]  # not in the table: no list price either way
    instants = [r[0].astimezone(UTC) for r in cat.con.execute("SELECT taken_at FROM snapshots ORDER BY 1").fetchall()]
    instants += [instants[-1] + timedelta(minutes=30), instants[0] - timedelta(days=1)]
    compared = 0
    for rounds in range(2):  # the second round finds every key kept by the first
        for at in instants:
            for preset in PRESETS:
                kept = _list_costs(table, models, at, preset.profile)
                fresh = _engine_list_costs(table, models, at, preset.profile)
                assert kept == fresh, (rounds, at, preset.name)
                compared += len(fresh)
    assert compared > 1000
