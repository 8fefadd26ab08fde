"""Change rows a reader can take in (issue 18, item 2, first bullet): old → new and the move in a few
characters, one unit everywhere, a list's change as a diff, the date on one line."""

from __future__ import annotations

import re
from decimal import Decimal

from site_helpers import Built

from catalog.website.build import change_cells, change_diff


def test_a_token_price_reads_per_million_with_its_move() -> None:
    row = {"kind": "price", "field": "prompt", "old": Decimal("0.0000005"), "new": Decimal("0.00000025")}
    assert change_cells({**row, "pct_change": -50.0}) == ("$0.5/M", "$0.25/M", "−50.0 %")


def test_a_unit_price_reads_per_unit_not_per_million() -> None:
    row = {"kind": "price", "field": "request", "old": Decimal("0.001"), "new": Decimal("0.002"), "pct_change": 100.0}
    assert change_cells(row) == ("$0.001/request", "$0.002/request", "+100.0 %")
    image = {"kind": "price", "field": "image", "old": None, "new": Decimal("0.04"), "pct_change": None}
    assert change_cells(image) == ("", "$0.04/image", "")


def test_an_added_endpoint_shows_its_prompt_price_in_the_same_unit() -> None:
    row = {"kind": "added", "field": None, "old": None, "new": Decimal("0.0000003705"), "pct_change": None}
    assert change_cells(row) == ("", "$0.3705/M", "")


def test_a_parameter_list_change_is_a_diff_not_two_long_lists() -> None:
    old = "max_tokens,temperature,logprobs,top_p"
    new = "max_tokens,temperature,top_p,tools,tool_choice"
    row = {"kind": "parameters", "field": "supported_parameters", "old": old, "new": new, "pct_change": None}
    assert change_cells(row) == ("4 params", "5 params", "+tools +tool_choice −logprobs")
    many = {**row, "old": "", "new": "a,b,c,d,e,f,g"}
    assert change_cells(many)[2] == "+a +b +c +d and 3 more"
    assert change_diff(many) == "+a +b +c +d +e +f +g"  # the whole, in the cell's title


def test_tiers_and_discounts_read_short() -> None:
    tiers = {"kind": "overrides", "field": "overrides", "old": "null", "new": '[{"a": 1}, {"b": 2}]'}
    assert change_cells({**tiers, "pct_change": None}) == ("none", "2 tiers", "")
    discount = {"kind": "discount", "field": "discount", "old": Decimal("0"), "new": Decimal("0.25")}
    assert change_cells({**discount, "pct_change": None})[:2] == ("0 %", "25 %")


def test_change_tables_carry_diffs_and_units_and_no_raw_per_token_amounts(site: Built) -> None:
    rows = 0
    diffs = units = 0
    for name, page in site.pages.items():
        for table in re.findall(r'<table class="changes">(.*?)</table>', page.text, re.S):
            for row in re.findall(r"<tr>(.*?)</tr>", table, re.S)[1:]:
                rows += 1
                assert '<td class="when">' in row, name
                cells = re.findall(r'<td class="num[^"]*"(?: title="[^"]*")?>([^<]*)</td>', row)
                assert not any(re.search(r"0\.0000", cell) for cell in cells), (name, cells)  # per token
                # Old and New stay a price or a count; the move at most five short items (it wraps in its cell).
                assert max(map(len, cells[:2])) <= 40 and len(cells[2]) <= 120, (name, cells)
                diffs += bool(re.search(r'<td class="num move">[+−]\w', row))
                units += any(cell.endswith("/M") for cell in cells)
    assert rows > 100 and diffs > 0 and units > 0
