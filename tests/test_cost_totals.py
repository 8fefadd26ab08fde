"""Totals of a priced batch (``catalog.cost.totals``): the one tally behind ``catalog cost``, ``POST /v1/cost``
and ``catalog reconcile``."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_cost_engine import EPOCH, pricings, usage_rows

from catalog.cost import kernels, linear
from catalog.cost.engine import STATUS, cost_usage
from catalog.cost.linear import combine, cost_totals, finish, partial_sums
from catalog.cost.sheets import PriceTable, SheetVersion
from catalog.cost.totals import batch_totals, summarise, tally
from catalog.cost.usage import usage_frame
from catalog.prices import parse_price_sheet


def priced(statuses: list[str], costs: list[str | None]) -> pl.DataFrame:
    money = pl.Decimal(38, 12)
    values = [Decimal(c) if c is not None else None for c in costs]
    return pl.DataFrame(
        {
            "status": pl.Series(statuses, dtype=STATUS),
            "cost_total": pl.Series(values, dtype=money),
            "cost_base": pl.Series(values, dtype=money),
            "saving": pl.Series([Decimal(0) if v is not None else None for v in values], dtype=money),
        }
    )


def test_totals_count_every_status_and_sum_only_what_was_priced() -> None:
    frame = priced(["unknown", "ok", "invalid", "ok"], [None, "0.000123456789", None, "1.5"])
    totals = batch_totals(frame)
    assert totals.rows == 4
    assert list(totals.by_status.items()) == [("ok", 2), ("invalid", 1), ("unknown", 1)]  # the engine's order
    assert totals.cost_total == Decimal("1.500123456789")
    wire = totals.to_dict()
    assert list(wire["by_status"]) == ["invalid", "ok", "unknown"]  # by name on the wire
    assert summarise(frame).row(0, named=True)["cost_total"] == totals.cost_total


def test_an_empty_batch_totals_zero() -> None:
    totals = batch_totals(priced([], []))
    assert (totals.rows, totals.by_status, totals.cost_total) == (0, {}, Decimal(0))


def test_tally_keeps_the_order_first_seen() -> None:
    assert tally(["differs", "match", "differs", "unbilled"]) == {"differs": 2, "match": 1, "unbilled": 1}
    assert list(tally(["b", "a", "b"])) == ["b", "a"]


# -- totals by linearity == the per-row path's totals, exactly ---------------------------------------------

PROVIDERS = (("deepinfra", "DeepInfra"), ("together", "Together"), ("amazon-bedrock", "Amazon Bedrock"))
CHANGES = (datetime(2026, 8, 3, tzinfo=UTC), datetime(2026, 8, 9, 13, 30, tzinfo=UTC))


@st.composite
def price_tables(draw: st.DrawFn) -> PriceTable:
    """Two models: each a model-level price and endpoints (one provider with two tags), and every entity's
    price changing at the same instants or not; sheets with tiers, time windows, discounts and -1 prices."""
    versions: list[SheetVersion] = []
    for model in ("m/a", "m/b"):
        entities: list[tuple[str | None, str | None, str | None]] = [(None, None, None)]
        for slug, name in draw(st.lists(st.sampled_from(PROVIDERS), max_size=3, unique=True)):
            entities.append((slug, slug, name))
            if draw(st.booleans()):
                entities.append((f"{slug}/global", slug, name))
        for tag, slug, name in entities:
            cuts = [EPOCH, *draw(st.lists(st.sampled_from(CHANGES), max_size=2, unique=True).map(sorted))]
            for since, until in zip(cuts, [*cuts[1:], None], strict=True):
                price = parse_price_sheet(draw(pricings()))
                kind = "model" if tag is None else "endpoint"
                versions.append(SheetVersion(kind, model, tag, slug, name, since, until, price))  # type: ignore[arg-type]
    return PriceTable.from_sheets(versions)


@st.composite
def usage_batches(draw: st.DrawFn, invalid: bool = True) -> pl.DataFrame:
    rows = []
    for _ in range(draw(st.integers(1, 40))):
        row = draw(usage_rows())
        row["model"] = draw(st.sampled_from(["m/a", "m/b", "m/unknown"]))
        row["provider"] = draw(st.sampled_from([None, "deepinfra", "Together", "amazon-bedrock", "gone"]))
        if draw(st.integers(0, 5)) == 0:
            row["endpoint"] = draw(st.sampled_from(["deepinfra", "amazon-bedrock/global", "nope"]))
        if draw(st.integers(0, 9)) == 0:
            row["timestamp"] = None  # priced at ``at``; its day is null
        if invalid and draw(st.integers(0, 9)) == 0:  # an invalid row: a part larger than its whole, or negative
            row[draw(st.sampled_from(["cache_read_tokens", "reasoning_tokens", "images"]))] = (
                -1 - draw(st.integers(0, 10)) if draw(st.booleans()) else 10**7
            )
        rows.append(row)
    return usage_frame(rows)


GROUPINGS = st.sampled_from([(), ("model",), ("provider",), ("day",), ("status",), ("model", "endpoint", "day")])


@given(table=price_tables(), usage=usage_batches(), keys=GROUPINGS)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@pytest.mark.slow
def test_totals_by_linearity_equal_the_per_row_totals_exactly(
    table: PriceTable, usage: pl.DataFrame, keys: tuple[str, ...]
) -> None:
    _assert_linear_equals_per_row(table, usage, keys)


@given(table=price_tables(), usage=usage_batches(invalid=False), keys=GROUPINGS)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@pytest.mark.slow
def test_the_compiled_pass_and_the_numpy_path_give_the_per_row_totals(
    table: PriceTable, usage: pl.DataFrame, keys: tuple[str, ...]
) -> None:
    """Batches with no impossible counts, which the compiled pass (numba) sums when it is installed: its
    totals, and the numpy path's, equal the per-row path's to the unit."""
    _assert_linear_equals_per_row(table, usage, keys)


def _assert_linear_equals_per_row(table: PriceTable, usage: pl.DataFrame, keys: tuple[str, ...]) -> None:
    at = datetime(2026, 8, 5, 18, 45, tzinfo=UTC)
    rows = cost_usage(usage, table, at=at, breakdown=False)
    want = summarise(rows, keys)
    per_row = batch_totals(rows)
    columns = [*keys, "rows", "priced", "cost_total", "cost_base", "saving"]
    order = [*keys, "rows"] if keys else ["rows"]
    # Both ways of summing: the compiled pass where numba is installed, and the numpy path it falls back to.
    for compiled in dict.fromkeys([kernels.AVAILABLE, False]):
        before, kernels.AVAILABLE = kernels.AVAILABLE, compiled
        try:
            got = cost_totals(usage, table, keys=keys, at=at)
        finally:
            kernels.AVAILABLE = before
        assert got.summary.select(columns).sort(order, nulls_last=True).to_dicts() == (
            want.select(columns).sort(order, nulls_last=True).to_dicts()
        )
        assert (got.rows, got.by_status, got.cost_total) == (per_row.rows, per_row.by_status, per_row.cost_total)


@pytest.mark.skipif(not kernels.AVAILABLE, reason="numba is not installed (pip install '.[fast]')")
def test_the_compiled_pass_prices_a_clean_batch(monkeypatch: pytest.MonkeyPatch) -> None:
    """A batch with tiers and a discount and no impossible counts goes through ``kernels.totals`` (not the
    numpy fallback), and its totals equal the per-row path's."""
    calls = []
    real = kernels.totals

    def spy(*args: object, **kwargs: object) -> object:
        calls.append(1)
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(kernels, "totals", spy)
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
            {"model": "m/a", "prompt_tokens": p, "completion_tokens": 7 * i, "cache_read_tokens": i, "timestamp": EPOCH}
            for i, p in enumerate([1, 3, 250_000, 199_999, 200_000, 17, 50])  # each prompt holds its cache reads
        ]
    )
    _assert_linear_equals_per_row(table, usage, ())
    _assert_linear_equals_per_row(table, usage, ("model", "day"))
    assert calls


@pytest.mark.skipif(not kernels.AVAILABLE, reason="numba is not installed (pip install '.[fast]')")
@pytest.mark.parametrize(("discount", "remainders"), [("0.25", False), ("0.3", True)])
def test_the_compiled_pass_looks_at_discounted_rows_only_where_their_remainder_can_be_non_zero(
    monkeypatch: pytest.MonkeyPatch, discount: str, remainders: bool
) -> None:
    """Listed rates of 3 and 15 units: with a 25 % discount (1 − d = 3/4) both are multiples of 3, so every
    row's remainder is 0 and the pass does not flag the cell; with 30 % (7/10) they are not, the cell is
    flagged and the rows' remainders are summed. The totals equal the per-row path's either way."""
    flags: list[bool] = []
    real: Any = kernels._totals

    def spy(*args: Any) -> Any:
        flags.append(bool((args[14] & 2).any()))  # args[14]: the per-cell slot codes
        return real(*args)

    monkeypatch.setattr(kernels, "_totals", spy)
    price = parse_price_sheet({"prompt": "0.000003", "completion": "0.000015", "discount": discount})
    table = PriceTable.from_sheets([SheetVersion("model", "m/a", None, None, None, EPOCH, None, price)])
    usage = usage_frame(
        [{"model": "m/a", "prompt_tokens": p, "completion_tokens": p % 11, "timestamp": EPOCH} for p in range(1, 30)]
    )
    _assert_linear_equals_per_row(table, usage, ())
    assert flags and set(flags) == {remainders}


def test_counts_near_the_limits_take_the_exact_fallbacks_and_still_equal_the_per_row_totals(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Counts of 2**40 at 10**-24 USD rates with a seven-digit discount: ``constant + Σ coefficient × count``
    would pass 2**62, so the compiled pass takes a modulo per column on those rows (their counts are above
    the pass's cap for one modulo per row), and Σ rate × Σ counts × den passes
    2**120, so the money is summed in Python integers. Both paths (compiled and numpy) still equal the
    per-row path to the unit."""
    residue_caps: list[int] = []
    python_money: list[int] = []
    real_kernel, real_rows = kernels._totals, linear._money_rows

    def kernel_spy(*args: object) -> object:
        cap = args[-3]  # residue_cap
        assert isinstance(cap, int)
        residue_caps.append(cap)
        return real_kernel(*args)  # type: ignore[arg-type]

    def rows_spy(*args: object) -> object:
        python_money.append(1)
        return real_rows(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(kernels, "_totals", kernel_spy)
    monkeypatch.setattr(linear, "_money_rows", rows_spy)
    price = parse_price_sheet(
        {
            "prompt": "0.000003",
            "completion": "0.000015",
            "input_cache_read": "0.000000000000000000000003",  # 24 digits: the table's unit is 10**-24 USD
            "discount": "0.0000001",  # 1 − discount = 9999999 / 10000000: a seven-digit modulus
            "overrides": [{"min_prompt_tokens": 2**39, "prompt": "0.000006"}],
        }
    )
    table = PriceTable.from_sheets([SheetVersion("model", "m/a", None, None, None, EPOCH, None, price)])
    assert table.scale == 24
    big = 2**40
    usage = usage_frame(
        [
            {"model": "m/a", "prompt_tokens": p, "completion_tokens": c, "cache_read_tokens": r, "timestamp": EPOCH}
            for p, c, r in [(big, big - 1, big // 3), (big // 2 - 1, 12_345, 0), (2**39, big, 7), (1, 1, 1)]
        ]
    )
    _assert_linear_equals_per_row(table, usage, ())
    _assert_linear_equals_per_row(table, usage, ("model",))
    assert python_money, "the money was not summed in Python integers"
    if kernels.AVAILABLE:
        assert residue_caps and max(residue_caps) < big, "the compiled pass did not take a modulo per column"


@given(table=price_tables(), usage=usage_batches(), cut=st.integers(0, 40))
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@pytest.mark.slow
def test_partial_sums_of_batches_add_up_to_the_whole(table: PriceTable, usage: pl.DataFrame, cut: int) -> None:
    """Streamed batches and Spark partitions: partial sums combined equal the sums of the whole."""
    at = datetime(2026, 8, 5, tzinfo=UTC)
    keys = ("model", "day")
    parts = [partial_sums(frame, table, keys=keys, at=at) for frame in (usage.head(cut), usage.slice(cut))]
    got = finish(combine(parts, keys), table, keys).summary.sort(list(keys), nulls_last=True)
    whole = cost_totals(usage, table, keys=keys, at=at).summary.sort(list(keys), nulls_last=True)
    assert got.to_dicts() == whole.to_dicts()


def test_the_base_is_the_sum_of_rows_rounded_half_up_not_the_sum_rounded() -> None:
    """Three rows of 1 unit at a 1/3 discount: each base is 1.5 → 2 units, so the sum is 6 (not 4.5 → 5)."""
    price = parse_price_sheet({"prompt": "0.000001", "completion": "0", "discount": "0.3333333333333333"})
    table = PriceTable.from_sheets([SheetVersion("model", "m/a", None, None, None, EPOCH, None, price)])
    usage = usage_frame([{"model": "m/a", "prompt_tokens": 1, "requests": 0, "timestamp": EPOCH}] * 3)
    rows = cost_usage(usage, table, money="units")
    got = cost_totals(usage, table).summary.row(0, named=True)
    assert got["cost_base"] == sum(rows["cost_base"].to_list()) * Decimal(10) ** -table.scale
    assert rows["cost_base"].n_unique() == 1 and 3 * rows["cost_base"][0] != round(3 * rows["cost_total"][0] * 3 / 2)


WITHOUT_NUMBA = """
import sys
from datetime import UTC, datetime

sys.modules["numba"] = None  # type: ignore[assignment]  # ``import numba`` now raises ImportError
from catalog.cost import kernels
from catalog.cost.engine import cost_usage
from catalog.cost.linear import cost_totals
from catalog.cost.sheets import PriceTable, SheetVersion
from catalog.cost.totals import batch_totals
from catalog.cost.usage import usage_frame
from catalog.prices import parse_price_sheet

assert kernels.numba is None and not kernels.AVAILABLE
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
got = cost_totals(usage, table)
want = batch_totals(cost_usage(usage, table))
assert (got.rows, got.cost_total) == (want.rows, want.cost_total), (got, want)
print(got.cost_total)
"""


def test_totals_work_where_numba_is_not_installed() -> None:
    """numba is an optional extra (``[fast]``): where it cannot be imported, the kernels module loads with
    ``AVAILABLE`` false and totals take the numpy path, equal to the per-row path's."""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", WITHOUT_NUMBA], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() != "0"  # something was priced


@pytest.mark.skipif(not kernels.AVAILABLE, reason="numba is not installed (pip install '.[fast]')")
def test_the_compiled_pass_reads_null_providers_in_place_from_a_slice(monkeypatch: pytest.MonkeyPatch) -> None:
    """Rows without a provider, in a slice of a larger frame (Arrow's validity bitmap then starts mid-byte):
    the compiled pass reads the codes and the bitmap in place (``kernels.Nullable``, no filled copy), the
    null rows price at the model-level sheet, and the totals equal the per-row path's to the unit."""
    nullable: list[kernels.Nullable] = []
    real = linear._nullable

    def spy(physical: pl.Series) -> object:
        found = real(physical)
        if isinstance(found, kernels.Nullable):
            nullable.append(found)
        return found

    monkeypatch.setattr(linear, "_nullable", spy)
    cheap = parse_price_sheet({"prompt": "0.000001", "completion": "0.000002"})
    dear = parse_price_sheet({"prompt": "0.000003", "completion": "0.000015", "discount": "0.25"})
    table = PriceTable.from_sheets(
        [
            SheetVersion("model", "m/a", None, None, None, EPOCH, None, cheap),
            SheetVersion("endpoint", "m/a", "p1", "p1", "P1", EPOCH, None, dear),
            SheetVersion("endpoint", "m/a", "p2", "p2", "P2", EPOCH, None, cheap),
        ]
    )
    providers = ["p1", None, "p2", None, None, "p1", "p2", None, "p1", None, "p2"] * 3
    whole = usage_frame(
        [
            {"model": "m/a", "provider": p, "prompt_tokens": 10 + i, "completion_tokens": 3 * i + 1, "timestamp": EPOCH}
            for i, p in enumerate(providers)
        ]
    )
    # Categorical keys, as Parquet dictionaries load: sliced, their codes keep the larger frame's offset.
    usage = whole.with_columns(pl.col("model", "provider").cast(pl.Categorical)).slice(5, 21)
    assert usage["provider"].null_count() and usage["provider"].null_count() < usage.height
    _assert_linear_equals_per_row(table, usage, ())
    _assert_linear_equals_per_row(table, usage, ("provider",))
    assert nullable and nullable[0].offset % 8, "the codes were not read in place from a mid-byte slice"
