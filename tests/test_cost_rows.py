"""The per-row breakdown's compiled pass (``catalog.cost.breakdown``) gives, column for column, what the Polars
expressions it replaces give (the path taken where numba is not installed): verdicts, override masks, every
``cost_*`` term, the total, the undiscounted base and the saving, to the last unit, on random price tables with
tiers, time windows, discounts and -1 prices, and on counts and rates near the limits of 128-bit money."""

from __future__ import annotations

import json
import mmap
import subprocess
import sys
from datetime import UTC, datetime
from typing import Any

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_cost_engine import EPOCH
from test_cost_totals import price_tables, usage_batches

from catalog.cost import breakdown, kernels
from catalog.cost.engine import COST_COLUMNS, cost_usage
from catalog.cost.sheets import PriceTable, SheetVersion
from catalog.cost.usage import usage_frame
from catalog.prices import parse_price_sheet

pytestmark = pytest.mark.skipif(not kernels.AVAILABLE, reason="numba is not installed (pip install '.[fast]')")

AT = datetime(2026, 8, 20, 7, 45, tzinfo=UTC)  # rows without a timestamp are priced here, in both runs
MODES = [("decimal", True), ("decimal", False), ("units", True)]


def _both(table: PriceTable, usage: pl.DataFrame, money: str, breakdown_: bool) -> tuple[pl.DataFrame, pl.DataFrame]:
    compiled = cost_usage(usage, table, at=AT, money=money, breakdown=breakdown_)  # type: ignore[arg-type]
    kernels.AVAILABLE = False
    try:
        expressions = cost_usage(usage, table, at=AT, money=money, breakdown=breakdown_)  # type: ignore[arg-type]
    finally:
        kernels.AVAILABLE = True
    return compiled, expressions


def _assert_same(table: PriceTable, usage: pl.DataFrame) -> None:
    for money, with_terms in MODES:
        compiled, expressions = _both(table, usage, money, with_terms)
        assert compiled.schema == expressions.schema
        for name in compiled.columns:
            assert compiled[name].to_list() == expressions[name].to_list(), (name, money, with_terms)


@given(table=price_tables(), usage=usage_batches())
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@pytest.mark.slow
def test_the_compiled_pass_equals_the_expressions_on_random_tables(table: PriceTable, usage: pl.DataFrame) -> None:
    _assert_same(table, usage)


# Rates from one unit of 10**-24 USD to dear ones, and 24-digit ones; discounts whose 1 − d has up to 13 digits
# (past 2**31: the base of those rows is left to Python integers), negative ones and 1 (no base).
RATES = st.sampled_from(
    [
        "0",
        "0.000000000000000000000001",
        "0.000003",
        "0.000000022000000000000002",
        "15",
        "123456.789",
        "99999999.999999999999999999999999",
    ]
)
DISCOUNTS = st.sampled_from([None, "0.25", "0.3333333333333", "0.0000001", "-0.3", "0.999999999999", "1"])
COUNTS = st.sampled_from([0, 1, 3, 2**31 - 1, 2**32 + 1, 2**40, 2**53 + 1, 2**62, 2**63 - 1]) | st.integers(0, 10**6)


@st.composite
def extreme_tables(draw: st.DrawFn) -> PriceTable:
    pricing: dict[str, Any] = {"prompt": draw(RATES), "completion": draw(RATES)}
    for key in ("input_cache_read", "internal_reasoning", "request", "web_search", "image"):
        if draw(st.booleans()):
            pricing[key] = draw(RATES)
    discount = draw(DISCOUNTS)
    if discount is not None:
        pricing["discount"] = discount
    if draw(st.booleans()):
        pricing["overrides"] = [
            {"min_prompt_tokens": draw(COUNTS), "prompt": draw(RATES), "utc_start": 2200, "utc_end": 300}
        ]
    price = parse_price_sheet(pricing)
    return PriceTable.from_sheets([SheetVersion("model", "m/a", None, None, None, EPOCH, None, price)])


@st.composite
def extreme_usage(draw: st.DrawFn) -> pl.DataFrame:
    rows = []
    for _ in range(draw(st.integers(1, 12))):
        cached, reasoning = draw(COUNTS), draw(COUNTS)
        row = {
            "model": "m/a",
            "prompt_tokens": min(cached + draw(COUNTS), 2**63 - 1),
            "completion_tokens": min(reasoning + draw(COUNTS), 2**63 - 1),
            "cache_read_tokens": cached,
            "reasoning_tokens": reasoning,
            "requests": draw(st.sampled_from([0, 1, 2**62])),
            "web_searches": draw(st.sampled_from([0, 5])),
            "timestamp": draw(st.sampled_from([None, datetime(2026, 8, 2, 23, 0, tzinfo=UTC), AT])),
        }
        rows.append(row)
    return usage_frame(rows)


@given(table=extreme_tables(), usage=extreme_usage())
@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@pytest.mark.slow
def test_the_compiled_pass_equals_the_expressions_near_the_limits(table: PriceTable, usage: pl.DataFrame) -> None:
    """Counts up to 2**63 − 1 times rates up to 10**32 units: products past 64 bits in both limbs, rows flagged
    too large for 128-bit money, bases past 2**126 left null, and 13-digit discount fractions."""
    _assert_same(table, usage)


def test_the_pass_reads_the_table_as_python_integers_would_give_it() -> None:
    """``table_arrays`` converts the Int128 rates and discount fractions vectorised; each limb, base kind and
    compiled fraction equals the one the Python-integer definition (what it replaced) gives, on dear, tiny and
    negative-discount sheets and the null variant (whose rates and fraction read as 0)."""
    rates = ["0", "0.000000000000000000000001", "0.000003", "15", "99999999.999999999999999999999999"]
    discounts = [None, "0.25", "0.3333333333333", "0.0000001", "-0.3", "0.999999999999", "1"]
    versions = []
    for i, (rate, discount) in enumerate((r, d) for r in rates for d in discounts):
        pricing: dict[str, Any] = {"prompt": rate, "completion": rates[-1 - i % len(rates)], "request": "-1"}
        if discount is not None:
            pricing["discount"] = discount
        sheet = parse_price_sheet(pricing)
        versions.append(SheetVersion("model", f"m/{i}", None, None, None, EPOCH, None, sheet))
    table = PriceTable.from_sheets(versions)
    names = ("input", "output", "request", "cache_read")
    arrays = breakdown.table_arrays(table, names)
    mask = (1 << 64) - 1
    for name in names:
        ints = [v or 0 for v in table.variants[name].to_list()]
        hi, lo = arrays["rates"][name]
        assert hi.dtype == lo.dtype == "uint64"
        assert hi.tolist() == [(v >> 64) & mask for v in ints] and lo.tolist() == [v & mask for v in ints], name
    kinds, nums, dens = [], [], []
    fractions = zip(table.variants["discount_num"].to_list(), table.variants["discount_den"].to_list(), strict=True)
    for num, den in fractions:
        num, den = num or 0, den or 0
        if num == den:
            kind = breakdown.SAME
        elif num <= 0:
            kind = breakdown.NO_BASE
        elif num < breakdown.MAX_FRACTION and 0 < den < breakdown.MAX_FRACTION:
            kind = breakdown.DIVIDE
        else:
            kind = breakdown.PYTHON
        kinds.append(kind)
        nums.append(num if kind == breakdown.DIVIDE else 0)
        dens.append(den if kind == breakdown.DIVIDE else 0)
    assert set(kinds) == {breakdown.SAME, breakdown.NO_BASE, breakdown.DIVIDE, breakdown.PYTHON}
    assert arrays["base_kind"].tolist() == kinds
    assert arrays["num"].tolist() == nums and arrays["den"].tolist() == dens


def test_bases_of_many_digit_discounts_are_left_to_python_integers(monkeypatch: pytest.MonkeyPatch) -> None:
    """1 − 0.1234567891234 = 8765432108766 / 10**13: past the pass's 31-bit division, so those rows' bases come
    from the engine's Python integers; a 25 % discount's from the pass. Both equal the expressions' bases."""
    calls: list[list[int]] = []
    real = breakdown.price

    def spy(**kwargs: Any) -> Any:
        fallback = kwargs["base_fallback"]

        def counted(rows: Any, totals: list[int], variants: list[int]) -> list[int | None]:
            calls.append(rows.tolist())
            return fallback(rows, totals, variants)

        return real(**(kwargs | {"base_fallback": counted}))

    monkeypatch.setattr(breakdown, "price", spy)
    versions = [
        SheetVersion("model", model, None, None, None, EPOCH, None, parse_price_sheet(pricing))
        for model, pricing in (
            ("m/a", {"prompt": "0.000003", "completion": "0.000015", "discount": "0.1234567891234"}),
            ("m/b", {"prompt": "0.000003", "completion": "0.000015", "discount": "0.25"}),
        )
    ]
    table = PriceTable.from_sheets(versions)
    usage = usage_frame(
        [
            {"model": model, "prompt_tokens": p, "completion_tokens": 7, "timestamp": EPOCH}
            for model in ("m/a", "m/b")
            for p in (1, 3, 1_000_001)
        ]
    )
    compiled, expressions = _both(table, usage, "decimal", True)
    assert calls == [[0, 1, 2]], "the many-digit discount's rows (only) go to Python integers"
    assert compiled["cost_base"].to_list() == expressions["cost_base"].to_list()
    assert compiled["saving"].to_list() == expressions["saving"].to_list()
    assert all(b > t for b, t in zip(compiled["cost_base"], compiled["cost_total"], strict=True))


def test_columns_no_row_bills_share_one_buffer_of_zeros_and_the_base_shares_the_total() -> None:
    """Without discounts, ``cost_base`` is the total's buffer and ``saving`` the zero buffer every unbilled
    term column shares: those columns take no memory of their own. Unpriced rows are still null in each."""
    price = parse_price_sheet({"prompt": "0.000003", "completion": "0.000015"})
    table = PriceTable.from_sheets([SheetVersion("model", "m/a", None, None, None, EPOCH, None, price)])
    usage = usage_frame(
        [
            {"model": model, "prompt_tokens": 10, "completion_tokens": 20, "timestamp": EPOCH}
            for model in ("m/a", "m/unknown", "m/a")
        ]
    )
    result = cost_usage(usage, table)

    def address(name: str) -> int:
        return int(result[name].to_arrow().buffers()[1].address)

    unbilled = ["cost_cache_read", "cost_web_search", "cost_audio", "saving"]
    assert len({address(name) for name in unbilled}) == 1
    assert address("cost_base") == address("cost_total") != address("cost_input")
    assert result["cost_web_search"].null_count() == 1 and result["cost_web_search"].drop_nulls().to_list() == [0, 0]
    assert result["cost_total"].to_list()[0] == result["cost_input"][0] + result["cost_output"][0] > 0


def test_output_on_plain_pages_gives_the_same_rows_with_the_same_compiled_versions(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Large output buffers come from anonymous pages (``breakdown.pages``) rather than numpy's allocator. Forced
    for every buffer here: the rows equal the expressions' and the small-buffer run's, and the compiled passes
    serve both kinds of buffer with the versions they already had (no compile per buffer kind)."""
    versions = [
        SheetVersion("model", model, None, None, None, EPOCH, None, parse_price_sheet(pricing))
        for model, pricing in (
            ("m/a", {"prompt": "0.000003", "completion": "0.000015", "discount": "0.25"}),
            ("m/b", {"prompt": "0.000002", "completion": "0.000008", "input_cache_read": "0.0000005"}),
        )
    ]
    table = PriceTable.from_sheets(versions)
    usage = usage_frame(
        [
            {
                "model": model,
                "prompt_tokens": p,
                "completion_tokens": 7,
                "cache_read_tokens": p // 3,
                "timestamp": EPOCH,
            }
            for model in ("m/a", "m/b", "m/unknown")
            for p in (1, 3, 1_000_001)
        ]
    )
    small, expressions = _both(table, usage, "decimal", True)
    known = len(breakdown._rows.signatures)
    monkeypatch.setattr(breakdown, "_LARGE", 0)
    owner = breakdown.pages((2, 3), np.uint64)
    while isinstance(owner, np.ndarray):
        owner = owner.base
    assert isinstance(owner, memoryview) and isinstance(owner.obj, mmap.mmap)
    large, _ = _both(table, usage, "decimal", True)
    assert len(breakdown._rows.signatures) == known
    for name in large.columns:
        assert large[name].to_list() == small[name].to_list() == expressions[name].to_list(), name
    assert large["cost_base"].drop_nulls().len() == 6 and large["cost_total"].null_count() == 3


WITHOUT_NUMBA = """
import json
import sys
from datetime import UTC, datetime

sys.modules["numba"] = None  # ``import numba`` now raises ImportError
from catalog.cost import breakdown, kernels
from catalog.cost.engine import cost_usage
from catalog.cost.sheets import PriceTable, SheetVersion
from catalog.cost.usage import usage_frame
from catalog.prices import parse_price_sheet

assert breakdown.numba is None and not kernels.AVAILABLE
epoch = datetime(2026, 8, 1, tzinfo=UTC)
price = parse_price_sheet(
    {"prompt": "0.000003", "completion": "0.000015", "input_cache_read": "0.0000003", "discount": "0.25",
     "overrides": [{"min_prompt_tokens": 200000, "prompt": "0.000006"}]}
)
table = PriceTable.from_sheets([SheetVersion("model", "m/a", None, None, None, epoch, None, price)])
usage = usage_frame(
    [{"model": "m/a", "prompt_tokens": p, "completion_tokens": 3 * p, "cache_read_tokens": p // 2, "timestamp": epoch}
     for p in (1, 7, 250_000, 199_999, 33)]
)
result = cost_usage(usage, table)
print(json.dumps({c: [str(v) for v in result[c]] for c in result.columns if c.startswith("cost_") or c == "saving"}))
"""


def test_the_breakdown_without_numba_equals_the_compiled_pass() -> None:
    """numba is an optional extra: where it cannot be imported the breakdown module still loads and the engine
    takes its Polars expressions, which price a batch with tiers and a discount as the compiled pass does."""
    done = subprocess.run([sys.executable, "-c", WITHOUT_NUMBA], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    without = json.loads(done.stdout)
    price = parse_price_sheet(
        {
            "prompt": "0.000003",
            "completion": "0.000015",
            "input_cache_read": "0.0000003",
            "discount": "0.25",
            "overrides": [{"min_prompt_tokens": 200000, "prompt": "0.000006"}],
        }
    )
    table = PriceTable.from_sheets([SheetVersion("model", "m/a", None, None, None, EPOCH, None, price)])
    usage = usage_frame(
        [
            {"model": "m/a", "prompt_tokens": p, "completion_tokens": 3 * p, "cache_read_tokens": p // 2}
            | {"timestamp": EPOCH}
            for p in (1, 7, 250_000, 199_999, 33)
        ]
    )
    result = cost_usage(usage, table)
    assert without == {name: [str(v) for v in result[name]] for name in without}
    assert set(without) == {*COST_COLUMNS, "cost_total", "cost_base", "saving"}
    assert without["cost_base"] != without["cost_total"]  # the discount's base was computed, not copied


def _keyed_calls(monkeypatch: pytest.MonkeyPatch, cells_per_row: int) -> list[bool]:
    """Route every batch to the pass that finds its rows' sheets itself (``cells_per_row`` large) or to the
    per-row lookup (0); returns, per call of the pass, whether it found the sheets itself."""
    from catalog.cost import engine

    calls: list[bool] = []
    real = breakdown.price

    def spy(**kwargs: Any) -> Any:
        calls.append(kwargs["keys"] is not None)
        return real(**kwargs)

    monkeypatch.setattr(engine, "_CELLS_PER_ROW", cells_per_row)
    monkeypatch.setattr(engine, "_KEYED_ROWS", 0)  # however few the rows
    monkeypatch.setattr(breakdown, "price", spy)
    return calls


@given(table=price_tables(), usage=usage_batches())
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@pytest.mark.slow
def test_sheets_found_in_the_pass_equal_the_expressions_on_random_tables(
    table: PriceTable, usage: pl.DataFrame
) -> None:
    """The pass that finds each row's cell (key codes, combo, period) and the cell's sheet gives what the
    expressions give (their sheets from ``PriceTable.lookup``), and so does the per-row lookup given to the
    pass: on random tables, rows naming unknown models and providers, null providers and timestamps."""
    for cells_per_row in (10**9, 0):
        with pytest.MonkeyPatch.context() as patch:
            calls = _keyed_calls(patch, cells_per_row)
            _assert_same(table, usage)
        assert calls and set(calls) == {cells_per_row > 0}


def test_sheets_found_in_the_pass_at_the_bounds_by_minute_table_and_by_search(monkeypatch: pytest.MonkeyPatch) -> None:
    """Rows at a price change's exact instant, one microsecond before it and in the same minute, read by the
    table's per-minute index and (with two changes in one minute, which rules that index out) by a search of
    the bounds; model and provider as Categorical or Enum (narrower codes), the provider with and without
    nulls, and an endpoint column."""
    change = datetime(2026, 8, 9, 13, 30, 0, 250_000, tzinfo=UTC)
    instants = [change.replace(microsecond=m) for m in (0, 249_999, 250_000, 250_001, 999_999)]
    instants += [datetime(2026, 8, 9, 13, 29, 59, tzinfo=UTC), datetime(2026, 8, 1, tzinfo=UTC), AT]
    for second_change in (None, change.replace(microsecond=600_000)):
        versions = []
        for model, tag, slug in (("m/a", None, None), ("m/a", "deepinfra", "deepinfra"), ("m/b", None, None)):
            cuts = [EPOCH, change] + ([second_change] if second_change else [])
            for index, (since, until) in enumerate(zip(cuts, [*cuts[1:], None], strict=True)):
                price = parse_price_sheet({"prompt": f"0.00000{index + 1}", "completion": f"0.0000{index + 2}"})
                kind = "model" if tag is None else "endpoint"
                versions.append(SheetVersion(kind, model, tag, slug, "DeepInfra" if tag else None, since, until, price))  # type: ignore[arg-type]
        table = PriceTable.from_sheets(versions)
        assert (table._minute_table() is None) == (second_change is not None)
        rows = [
            {"model": model, "provider": provider, "prompt_tokens": 10, "completion_tokens": 3, "timestamp": at}
            for at in instants
            for model, provider in (("m/a", "deepinfra"), ("m/a", None), ("m/b", "deepinfra"), ("m/x", None))
        ]
        usage = usage_frame(rows)
        for variant in (
            usage,
            usage.with_columns(pl.col("model").cast(pl.Enum(["m/x", "m/b", "m/a"]))),
            usage.filter(pl.col("provider").is_not_null()),
            usage.with_columns(pl.col("provider").alias("endpoint")),
        ):
            with pytest.MonkeyPatch.context() as patch:
                calls = _keyed_calls(patch, 10**9)
                _assert_same(table, variant)
            assert calls and all(calls)
            found = cost_usage(variant, table, at=AT)
            assert found["sheet_id"].drop_nulls().n_unique() > 1  # the change shows


def test_slices_of_a_large_frame_read_their_part_of_the_names_coded_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """A frame of several slices has its names coded once; each slice reads its rows' part of the codes (a
    nullable provider's validity bitmap from the slice's offset): the same rows as in one slice, and as the
    expressions give."""
    from catalog.cost import engine

    price = parse_price_sheet({"prompt": "0.000003", "completion": "0.000015", "discount": "0.25"})
    dearer = parse_price_sheet({"prompt": "0.000004", "completion": "0.00002"})
    change = datetime(2026, 8, 9, 13, 30, tzinfo=UTC)
    versions = [
        SheetVersion("model", "m/a", None, None, None, EPOCH, change, price),
        SheetVersion("model", "m/a", None, None, None, change, None, dearer),
        SheetVersion("endpoint", "m/a", "deepinfra", "deepinfra", "DeepInfra", EPOCH, None, dearer),
    ]
    table = PriceTable.from_sheets(versions)
    usage = usage_frame(
        [
            {
                "model": ["m/a", "m/x", "m/a"][i % 3],
                "provider": [None, "deepinfra", "gone", None, "deepinfra"][i % 5],
                "prompt_tokens": 10 + i,
                "completion_tokens": 3,
                "timestamp": datetime(2026, 8, 1 + i % 17, i % 24, tzinfo=UTC),
            }
            for i in range(101)
        ]
    )
    whole = cost_usage(usage, table, at=AT)
    coded: list[int] = []
    real = engine._names_coded
    monkeypatch.setattr(engine, "_names_coded", lambda *args: coded.append(1) or real(*args))
    monkeypatch.setattr(engine, "CHUNK_ROWS", 7)
    calls = _keyed_calls(monkeypatch, 10**9)
    sliced, expressions = _both(table, usage, "decimal", True)
    assert coded == [1] and len(calls) == 15 and all(calls)
    for name in whole.columns:
        assert sliced[name].to_list() == whole[name].to_list() == expressions[name].to_list(), name


ONE_SIGNATURE = """
import json
from datetime import UTC, datetime

import polars as pl

from catalog.cost import breakdown, engine
from catalog.cost.engine import cost_usage
from catalog.cost.sheets import PriceTable, SheetVersion
from catalog.cost.usage import usage_frame
from catalog.prices import parse_price_sheet

epoch = datetime(2026, 8, 1, tzinfo=UTC)
change = datetime(2026, 8, 5, tzinfo=UTC)
versions = [
    SheetVersion(kind, "m/a", tag, slug, name, since, until, parse_price_sheet(pricing))
    for kind, tag, slug, name in (("model", None, None, None), ("endpoint", "deepinfra", "deepinfra", "DeepInfra"))
    for since, until, pricing in (
        (epoch, change, {"prompt": "0.000003", "completion": "0.000015", "discount": "0.25"}),
        (change, None, {"prompt": "0.000002", "completion": "0.000008", "input_cache_read": "0.0000005"}),
    )
]
table = PriceTable.from_sheets(versions)
# A table extended by a sweep (as the service's is) holds its sheet columns in more than one chunk.
later = datetime(2026, 8, 7, tzinfo=UTC)
extended = table.extend(
    [SheetVersion("endpoint", "m/a", "deepinfra", "deepinfra", "DeepInfra", later, None,
                  parse_price_sheet({"prompt": "0.000001", "completion": "0.000004"}))],
    {("m/a", "deepinfra"): later},
)


def rows(n, provider=True):
    return usage_frame(
        [
            {"model": ["m/a", "m/b"][i % 2], "provider": "deepinfra" if provider and i % 3 else None,
             "prompt_tokens": 100 + i, "completion_tokens": 7, "cache_read_tokens": i % 50,
             "timestamp": datetime(2026, 8, 1 + i % 9, i % 24, tzinfo=UTC)}
            for i in range(n)
        ]
    )


engine._KEYED_ROWS = 0  # small batches too: both ways of finding the sheets share the compiled version
keyed = []
real = breakdown.price
breakdown.price = lambda **kwargs: keyed.append(kwargs["keys"] is not None) or real(**kwargs)
for usage in (rows(0), rows(1), rows(5), rows(3000), rows(3000, provider=False),
              rows(3000).with_columns(pl.col("model").cast(pl.Enum(["m/a", "m/b"])))):
    for money, terms in (("decimal", True), ("units", False)):
        for priced_by in (table, extended):
            assert cost_usage(usage, priced_by, money=money, breakdown=terms).height == usage.height
print(json.dumps({
    "keyed": keyed,
    "rows": len(breakdown._rows.signatures),
    "hits": sum(breakdown._rows.stats.cache_hits.values()),
    "misses": sum(breakdown._rows.stats.cache_misses.values()),
}))
"""


def test_one_compiled_version_serves_every_batch_and_a_fresh_process_loads_it_from_the_cache() -> None:
    """The pass has one signature whatever the batch: 1 row (sheets looked up per row and given), a few, and
    thousands (found in the pass), Categorical or Enum names, a provider with or without nulls (an empty batch
    never reaches it). Compiled once, it is cached on disk: a second fresh process loads it (no compile), which
    the first cost call of a service relies on."""
    first, second = (
        subprocess.run([sys.executable, "-c", ONE_SIGNATURE], capture_output=True, text=True, check=False)
        for _ in range(2)
    )
    assert first.returncode == 0, first.stderr
    assert second.returncode == 0, second.stderr
    found = json.loads(second.stdout)
    assert found["keyed"] == [False] * 8 + [True] * 12  # the empty batch takes the expressions
    assert found["rows"] == 1
    assert found["hits"] >= 1 and found["misses"] == 0
