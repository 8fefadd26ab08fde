"""The cost engine against known cases (domain notes §2–3) and, by property, against an independent reference.

Every money comparison is ``==`` on exact ``Decimal``: the known cases against hand-written values, the
properties against ``tests/cost_reference.py``, a slow one-row-at-a-time reimplementation that shares nothing
with the engine but the parsed ``PriceSheet``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal, localcontext
from typing import Any

import polars as pl
import pytest
from cost_reference import (
    MONEY_NAMES,
    WIDE,
    applying_mask,
    reference_cost,
    reference_status,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from catalog.cost.engine import cost_usage
from catalog.cost.sheets import PriceTable, SheetVersion
from catalog.cost.usage import usage_frame
from catalog.prices import PriceSheet, parse_price_sheet

D = Decimal
MODEL = "acme/widget"
EPOCH = datetime(2020, 1, 1, tzinfo=UTC)
NOON = datetime(2026, 8, 1, 12, 0, tzinfo=UTC)


def sheet(**pricing: Any) -> PriceSheet:
    pricing.setdefault("prompt", "0")
    pricing.setdefault("completion", "0")
    return parse_price_sheet(pricing)


def model_version(
    price: PriceSheet, model: str = MODEL, since: datetime = EPOCH, until: datetime | None = None
) -> SheetVersion:
    return SheetVersion("model", model, None, None, None, since, until, price)


def endpoint_version(
    price: PriceSheet,
    tag: str,
    slug: str,
    name: str,
    since: datetime = EPOCH,
    until: datetime | None = None,
    model: str = MODEL,
) -> SheetVersion:
    return SheetVersion("endpoint", model, tag, slug, name, since, until, price)


def run(rows: list[dict[str, Any]], versions: list[SheetVersion]) -> pl.DataFrame:
    rows = [{"model": MODEL, "timestamp": NOON, **row} for row in rows]
    return cost_usage(usage_frame(rows), PriceTable.from_sheets(versions), money="decimal")


def only(rows: list[dict[str, Any]], price: PriceSheet) -> list[dict[str, Any]]:
    """Cost rows against one model-level sheet; each result row checked against the reference too."""
    table = PriceTable.from_sheets([model_version(price)])
    full = [{"model": MODEL, "timestamp": NOON, **row} for row in rows]
    result = cost_usage(usage_frame(full), table).to_dicts()
    for row, got in zip(full, result, strict=True):
        want = reference_cost(row, price, row["timestamp"], table.scale)
        assert {k: got[k] for k in MONEY_NAMES} == want
    return result


# -- known cases ------------------------------------------------------------------------------------------


def test_cached_prompt_at_3_030_375_costs_1_995() -> None:
    price = sheet(prompt="0.000003", input_cache_read="0.0000003", input_cache_write="0.00000375")
    [got] = only([{"prompt_tokens": 1_000_000, "cache_read_tokens": 400_000, "cache_write_tokens": 100_000}], price)
    assert got["cost_input"] == D("1.5")
    assert got["cost_cache_read"] == D("0.12")
    assert got["cost_cache_write_5m"] == D("0.375")
    assert got["cost_input"] + got["cost_cache_read"] + got["cost_cache_write_5m"] == D("1.995")
    assert got["cost_total"] == D("1.995")


def test_reasoning_inside_completion_is_billed_once() -> None:
    price = sheet(prompt="0.00000025", completion="0.000002")  # gpt-5-mini: internal_reasoning not listed
    [got] = only([{"completion_tokens": 2177, "reasoning_tokens": 960, "requests": 0}], price)
    assert got["cost_output"] == 1217 * D("0.000002")
    assert got["cost_reasoning"] == 960 * D("0.000002")
    assert got["cost_output"] + got["cost_reasoning"] == 2177 * D("0.000002") == got["cost_total"]


def test_discount_is_inside_the_listed_price() -> None:
    price = sheet(prompt="0.0000002072", completion="0.0000003108", discount="0.26")
    [got] = only([{"prompt_tokens": 1_000_000}], price)
    assert got["cost_total"] == D("0.2072")  # listed × tokens, the discount not applied again
    assert got["cost_base"] == D("0.28")  # DeepSeek's list price, 0.28 $/M
    assert got["saving"] == got["cost_base"] - got["cost_total"] == D("0.0728")


def test_one_hour_cache_write_has_its_own_rate() -> None:
    price = sheet(prompt="0.000003", input_cache_write="0.00000375", input_cache_write_1h="0.000006")
    [got] = only([{"prompt_tokens": 10_000, "cache_write_1h_tokens": 1_000, "cache_write_tokens": 500}], price)
    assert got["cost_cache_write_1h"] == 1_000 * D("0.000006")
    assert got["cost_cache_write_5m"] == 500 * D("0.00000375")
    assert got["cost_input"] == 8_500 * D("0.000003")
    # Without a 1-hour rate the 5-minute rate applies, and without that the prompt rate.
    [got] = only([{"prompt_tokens": 10_000, "cache_write_1h_tokens": 1_000}], sheet(prompt="0.000003"))
    assert got["cost_cache_write_1h"] == 1_000 * D("0.000003")
    price = sheet(prompt="0.000003", input_cache_write="0.00000375")
    [got] = only([{"prompt_tokens": 10_000, "cache_write_1h_tokens": 1_000}], price)
    assert got["cost_cache_write_1h"] == 1_000 * D("0.00000375")


def test_dynamic_price_has_no_money_and_says_why() -> None:
    [got] = only([{"prompt_tokens": 100, "completion_tokens": 10}], sheet(prompt="-1", completion="-1"))
    assert got["status"] == "dynamic"
    assert got["reason"]
    assert all(got[name] is None for name in MONEY_NAMES)


def test_free_model_costs_zero_not_null() -> None:
    free = sheet(prompt="0", completion="0", request="0")
    result = run(
        [{"model": "acme/widget:free", "prompt_tokens": 5_000, "completion_tokens": 300}],
        [model_version(free, model="acme/widget:free")],
    ).to_dicts()
    assert result[0]["status"] == "ok"
    assert result[0]["cost_total"] == D(0)
    assert result[0]["cost_base"] == D(0)


def test_missing_cache_price_bills_cached_tokens_at_the_prompt_rate() -> None:
    [got] = only([{"prompt_tokens": 1_000, "cache_read_tokens": 600}], sheet(prompt="0.000001"))
    assert got["cost_cache_read"] == 600 * D("0.000001")
    assert got["cost_total"] == 1_000 * D("0.000001")


def test_long_context_tier_is_chosen_from_the_whole_prompt() -> None:
    price = sheet(
        prompt="0.000003",
        input_cache_read="0.0000003",
        completion="0.000015",
        overrides=[
            {
                "min_prompt_tokens": 200_000,
                "prompt": "0.000006",
                "input_cache_read": "0.0000006",
                "completion": "0.0000225",
            }
        ],
    )
    [got] = only([{"prompt_tokens": 250_000, "cache_read_tokens": 100_000, "completion_tokens": 1_000}], price)
    assert got["overrides_applied"] == 1
    assert got["cost_input"] == 150_000 * D("0.000006")
    assert got["cost_cache_read"] == 100_000 * D("0.0000006")
    assert got["cost_output"] == 1_000 * D("0.0000225")
    [below] = only([{"prompt_tokens": 199_999, "cache_read_tokens": 100_000}], price)
    assert below["overrides_applied"] == 0
    assert below["cost_input"] == 99_999 * D("0.000003")


def test_time_window_wraps_past_midnight_and_is_half_open() -> None:
    price = sheet(prompt="0.000002", overrides=[{"utc_start": 2200, "utc_end": 600, "prompt": "0.000001"}])
    day = datetime(2026, 8, 1, tzinfo=UTC)
    times = {
        "23:30": day + timedelta(hours=23, minutes=30),
        "05:59": day + timedelta(hours=5, minutes=59, seconds=59),
        "22:00": day + timedelta(hours=22),
        "06:00": day + timedelta(hours=6),
        "21:59": day + timedelta(hours=21, minutes=59, seconds=59),
        "12:00": day + timedelta(hours=12),
    }
    got = only([{"prompt_tokens": 1_000, "requests": 0, "timestamp": at} for at in times.values()], price)
    by_time = dict(zip(times, got, strict=True))
    for inside in ("23:30", "05:59", "22:00"):
        assert by_time[inside]["overrides_applied"] == 1, inside
        assert by_time[inside]["cost_total"] == D("0.001"), inside
    for outside in ("06:00", "21:59", "12:00"):
        assert by_time[outside]["overrides_applied"] == 0, outside
        assert by_time[outside]["cost_total"] == D("0.002"), outside


def test_later_overrides_win_per_key_and_absent_keys_inherit() -> None:
    price = sheet(
        prompt="0.000001",
        completion="0.000010",
        request="0.005",
        overrides=[
            {"min_prompt_tokens": 100, "prompt": "0.000002", "completion": "0.000020"},
            {"min_prompt_tokens": 200, "prompt": "0.000003"},
        ],
    )
    rows = [{"prompt_tokens": n, "completion_tokens": 10} for n in (50, 150, 300)]
    low, mid, high = only(rows, price)
    assert (low["overrides_applied"], mid["overrides_applied"], high["overrides_applied"]) == (0, 1, 3)
    assert low["cost_input"] == 50 * D("0.000001") and low["cost_output"] == 10 * D("0.000010")
    assert mid["cost_input"] == 150 * D("0.000002") and mid["cost_output"] == 10 * D("0.000020")
    assert high["cost_input"] == 300 * D("0.000003") and high["cost_output"] == 10 * D("0.000020")
    assert low["cost_request"] == mid["cost_request"] == high["cost_request"] == D("0.005")


def test_invalid_rows_are_flagged_and_the_rest_of_the_batch_is_priced() -> None:
    rows = [
        {"prompt_tokens": 100, "completion_tokens": 10},
        {"prompt_tokens": 100, "cache_read_tokens": 101},
        {"completion_tokens": 10, "reasoning_tokens": 11},
        {"prompt_tokens": -1},
        {"prompt_tokens": 200, "completion_tokens": 20},
    ]
    got = only(rows, sheet(prompt="0.000001", completion="0.000002"))
    assert [r["status"] for r in got] == ["ok", "invalid", "invalid", "invalid", "ok"]
    for bad in got[1:4]:
        assert bad["reason"]
        assert bad["cost_total"] is None
    assert "prompt" in got[1]["reason"] and "completion" in got[2]["reason"] and "negative" in got[3]["reason"]
    assert got[0]["cost_total"] == D("0.00012")
    assert got[4]["cost_total"] == D("0.00024")


def test_unknown_model_is_reported_by_name() -> None:
    versions = [model_version(sheet(prompt="0.000001"))]
    got = run([{"prompt_tokens": 10}, {"model": "nobody/nothing", "prompt_tokens": 10}], versions).to_dicts()
    assert got[0]["status"] == "ok"
    assert got[1]["status"] == "unknown"
    assert "nobody/nothing" in got[1]["reason"]
    assert got[1]["cost_total"] is None


def _served_model() -> list[SheetVersion]:
    june = datetime(2026, 6, 1, tzinfo=UTC)
    return [
        model_version(sheet(prompt="0.000001"), since=datetime(2026, 1, 1, tzinfo=UTC)),
        endpoint_version(sheet(prompt="0.000002"), "deepinfra", "deepinfra", "DeepInfra", since=june),
        endpoint_version(sheet(prompt="0.0000015"), "deepinfra/fp8", "deepinfra", "DeepInfra", since=june),
        endpoint_version(sheet(prompt="0.000004"), "google-vertex", "google-vertex", "Google Vertex", since=june),
    ]


def test_rows_resolve_by_tag_slug_name_or_model() -> None:
    rows: list[dict[str, Any]] = [
        {"endpoint": "deepinfra/fp8"},
        {"provider": "deepinfra"},
        {"provider": "DeepInfra"},
        {"provider": "Google Vertex"},
        {},
        {"endpoint": "deepinfra/fp8", "timestamp": datetime(2026, 3, 1, tzinfo=UTC)},  # before the endpoint
        {"timestamp": datetime(2025, 12, 31, 23, 59, tzinfo=UTC)},  # before any history
    ]
    got = run([{"prompt_tokens": 1_000, "requests": 0, **row} for row in rows], _served_model()).to_dicts()
    assert [r["status"] for r in got] == ["ok"] * 6 + ["no_price"]
    assert [r["price_source"] for r in got[:6]] == ["endpoint"] * 4 + ["model"] * 2
    assert [r["cost_total"] for r in got[:6]] == [
        D("0.0015"),
        D("0.002"),
        D("0.002"),
        D("0.004"),
        D("0.001"),
        D("0.001"),
    ]
    assert got[6]["cost_total"] is None and got[6]["reason"]


def test_price_change_is_an_as_of_join() -> None:
    change = datetime(2026, 7, 20, 9, 30, tzinfo=UTC)
    versions = [
        endpoint_version(sheet(prompt="0.000001"), "deepinfra", "deepinfra", "DeepInfra", until=change),
        endpoint_version(sheet(prompt="0.000003"), "deepinfra", "deepinfra", "DeepInfra", since=change),
    ]
    times = [change - timedelta(days=3), change - timedelta(microseconds=1), change, change + timedelta(days=9)]
    rows = [{"endpoint": "deepinfra", "prompt_tokens": 1_000, "requests": 0, "timestamp": at} for at in times]
    got = run(rows, versions).to_dicts()
    assert [r["cost_total"] for r in got] == [D("0.001"), D("0.001"), D("0.003"), D("0.003")]
    assert [r["sheet_id"] for r in got] == [0, 0, 1, 1]


def test_a_large_rate_the_batch_does_not_use_does_not_break_it() -> None:
    # Real listings carry 23 fractional digits ("0.00000008333333333333334"), so the table's unit is 1e-23 USD
    # and a $0.004 web search is 4e20 units, beyond int64: a batch without web searches must still be priced.
    price = sheet(prompt="0.00000008333333333333334", completion="0.0000003", web_search="0.004")
    [got] = only([{"prompt_tokens": 10, "requests": 0}], price)
    assert got["status"] == "ok"
    assert got["cost_total"] == 10 * D("0.00000008333333333333334")


# -- properties against the reference ---------------------------------------------------------------------

SUB_RATES = (
    "input_cache_read",
    "input_cache_write",
    "input_cache_write_1h",
    "internal_reasoning",
    "image_output",
    "audio",
    "audio_output",
)
UNIT_PRICES = ("request", "image", "web_search")
ALL_KEYS = ("prompt", "completion", *SUB_RATES, *UNIT_PRICES)
CLOCKS = (0, 30, 559, 600, 1200, 1330, 2200, 2359)
FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@st.composite
def price_texts(draw: st.DrawFn) -> str:
    """A listed price: up to 24 fractional digits, sometimes 0, sometimes in scientific notation."""
    digits = draw(st.integers(0, 24))
    mantissa = draw(st.integers(0, min(10**8, 10**digits)) | st.sampled_from([0, 1, 3, 75]))
    value = D(mantissa).scaleb(-digits)
    if draw(st.booleans()) and mantissa:
        return f"{mantissa}e-{digits}"
    return format(value, "f")


clock = st.sampled_from(CLOCKS) | st.builds(lambda h, m: h * 100 + m, st.integers(0, 23), st.integers(0, 59))
thresholds = st.sampled_from([0, 1, 1_000, 200_000]) | st.integers(0, 300_000)


@st.composite
def overrides(draw: st.DrawFn) -> dict[str, Any]:
    entry: dict[str, Any] = {}
    if draw(st.booleans()):
        entry["min_prompt_tokens"] = draw(thresholds)
    if draw(st.booleans()):
        entry["utc_start"], entry["utc_end"] = draw(clock), draw(clock)
    for key in draw(st.lists(st.sampled_from(ALL_KEYS), max_size=4, unique=True)):
        entry[key] = "-1" if draw(st.integers(0, 19)) == 0 else draw(price_texts())
    return entry


@st.composite
def pricings(draw: st.DrawFn, with_overrides: bool = True) -> dict[str, Any]:
    pricing: dict[str, Any] = {"prompt": draw(price_texts()), "completion": draw(price_texts())}
    for key in (*SUB_RATES, *UNIT_PRICES):
        if draw(st.booleans()):  # absent half of the time: absent means 0, which falls back for sub-rates
            pricing[key] = draw(price_texts())
    if draw(st.booleans()):
        pricing["discount"] = str(draw(st.decimals(D("-0.3"), D("0.9"), places=draw(st.integers(0, 6)))))
    if with_overrides:
        pricing["overrides"] = draw(st.lists(overrides(), max_size=3))
    if draw(st.integers(0, 19)) == 0:
        pricing[draw(st.sampled_from(ALL_KEYS))] = "-1"
    return pricing


@st.composite
def usage_rows(draw: st.DrawFn) -> dict[str, Any]:
    """A valid row: every part inside its whole, built from the exclusive parts up."""
    small = st.integers(0, 5_000)
    big = st.integers(0, 400_000) | small
    prompt_parts = {
        k: draw(big if k == "cache_read_tokens" else small)
        for k in ("cache_read_tokens", "cache_write_tokens", "cache_write_1h_tokens", "audio_input_tokens")
    }
    completion_parts = {k: draw(small) for k in ("reasoning_tokens", "image_output_tokens", "audio_output_tokens")}
    day = datetime(2026, 8, 1, tzinfo=UTC)
    minute = draw(st.integers(0, 1439) | st.sampled_from(CLOCKS).map(lambda c: c // 100 * 60 + c % 100))
    minute = (minute + draw(st.sampled_from([-1, 0, 0, 1]))) % 1440
    return {
        "prompt_tokens": draw(big) + sum(prompt_parts.values()),
        "completion_tokens": draw(small) + sum(completion_parts.values()),
        **prompt_parts,
        **completion_parts,
        "requests": draw(st.integers(0, 3)),
        "images": draw(st.integers(0, 3)),
        "web_searches": draw(st.integers(0, 3)),
        "timestamp": day + timedelta(days=draw(st.integers(0, 30)), minutes=minute, seconds=draw(st.integers(0, 59))),
    }


def price_batch(rows: list[dict[str, Any]], sheets: list[PriceSheet]) -> tuple[pl.DataFrame, int]:
    """Cost rows (``model`` is an index into ``sheets``) with one model-level version per sheet."""
    table = PriceTable.from_sheets([model_version(s, model=f"m/{i}") for i, s in enumerate(sheets)])
    full = [{**row, "model": f"m/{row['model']}"} for row in rows]
    return cost_usage(usage_frame(full), table, money="decimal"), table.scale


@given(
    sheets=st.lists(pricings(), min_size=1, max_size=3),
    rows=st.lists(st.tuples(st.integers(0, 2), usage_rows()), min_size=1, max_size=12),
)
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@pytest.mark.slow  # seconds, not milliseconds: left out of make test-fast
def test_engine_equals_reference_row_by_row_and_in_total(sheets: list[dict[str, Any]], rows: list) -> None:
    parsed = [parse_price_sheet(p) for p in sheets]
    batch = [{**row, "model": index % len(parsed)} for index, row in rows]
    result, scale = price_batch(batch, parsed)
    totals = dict.fromkeys(MONEY_NAMES, D(0))
    for row, got in zip(batch, result.to_dicts(), strict=True):
        price, at = parsed[row["model"]], row["timestamp"]
        want = reference_cost(row, price, at, scale)
        assert got["status"] == reference_status(row, price, at)
        assert got["overrides_applied"] == applying_mask(price, row["prompt_tokens"], at)
        assert {k: got[k] for k in MONEY_NAMES} == want
        with localcontext(WIDE):  # the default 28 digits would round the reference sum
            for name in MONEY_NAMES:
                totals[name] += want[name] or 0
        if got["status"] == "ok":
            assert all(got[k] >= 0 for k in MONEY_NAMES if k != "saving")
            # A positive discount means the base is above the listed total, a markup (negative) below it.
            discount = price.discount
            assert (got["saving"] >= 0) if discount >= 0 else (got["saving"] <= 0)
    for name in MONEY_NAMES:
        assert result[name].sum() == totals[name], name


BUMPS = {  # count to raise -> the whole it sits inside (raised by the same amount)
    "prompt_tokens": None,
    "cache_read_tokens": "prompt_tokens",
    "cache_write_tokens": "prompt_tokens",
    "cache_write_1h_tokens": "prompt_tokens",
    "audio_input_tokens": "prompt_tokens",
    "completion_tokens": None,
    "reasoning_tokens": "completion_tokens",
    "image_output_tokens": "completion_tokens",
    "audio_output_tokens": "completion_tokens",
    "requests": None,
    "images": None,
    "web_searches": None,
}
PROMPT_SIDE = {
    "prompt_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "cache_write_1h_tokens",
    "audio_input_tokens",
}


def bumped(row: dict[str, Any], count: str, by: int) -> dict[str, Any]:
    out = {**row, count: row[count] + by}
    whole = BUMPS[count]
    if whole:
        out[whole] = row[whole] + by
    return out


@given(
    pricing=st.booleans().flatmap(lambda over: pricings(with_overrides=over)),
    row=usage_rows(),
    count=st.sampled_from(sorted(BUMPS)),
    by=st.integers(1, 100_000),
)
@FAST
def test_cost_is_monotone_in_every_count(pricing: dict[str, Any], row: dict[str, Any], count: str, by: int) -> None:
    price = parse_price_sheet(pricing)
    if price.overrides and count in PROMPT_SIDE:
        count = "completion_tokens"  # a bigger prompt may cross into a tier that is cheaper (never seen, allowed)
    before, after = price_batch([{**row, "model": 0}, {**bumped(row, count, by), "model": 0}], [price])[0].to_dicts()
    assert before["status"] == after["status"]
    if before["status"] == "ok":
        assert after["cost_total"] >= before["cost_total"]
        assert after["cost_base"] >= before["cost_base"]


@given(
    prompt=price_texts(),
    ratio=st.sampled_from([None, D(0), D("0.1"), D("0.25"), D("0.5"), D("0.999")]),
    discount=st.sampled_from([None, "0.26", "-0.2"]),
    row=usage_rows(),
    moved=st.integers(1, 400_000),
)
@FAST
def test_a_cached_token_never_costs_more_than_an_uncached_one(
    prompt: str, ratio: Decimal | None, discount: str | None, row: dict[str, Any], moved: int
) -> None:
    pricing: dict[str, Any] = {"prompt": prompt, "completion": "0.00001"}
    if ratio is not None:  # None: not listed (billed at the prompt rate); 0: listed as 0 (the same)
        pricing["input_cache_read"] = format(D(prompt) * ratio, "f")
    if discount is not None:
        pricing["discount"] = discount
    price = parse_price_sheet(pricing)
    uncached = row["prompt_tokens"] - sum(row[k] for k in PROMPT_SIDE - {"prompt_tokens"})
    moved = min(moved, uncached)
    after_row = {**row, "cache_read_tokens": row["cache_read_tokens"] + moved}
    before, after = price_batch([{**row, "model": 0}, {**after_row, "model": 0}], [price])[0].to_dicts()
    assert after["cost_total"] <= before["cost_total"]
    cheaper = ratio not in (None, D(0)) and moved > 0 and D(prompt) * ratio != 0
    assert (after["cost_total"] < before["cost_total"]) == cheaper
    if cheaper:
        saved_per_token = D(prompt) - D(pricing["input_cache_read"])
        assert before["cost_total"] - after["cost_total"] == moved * saved_per_token


@given(pricing=pricings(with_overrides=False), tokens=st.integers(0, 10**9))
@FAST
def test_listed_price_is_the_effective_price_without_cache(pricing: dict[str, Any], tokens: int) -> None:
    price = parse_price_sheet(pricing)
    row = {"model": 0, "prompt_tokens": tokens, "requests": 0, "timestamp": NOON}
    [got] = price_batch([row], [price])[0].to_dicts()
    if price.dynamic:
        assert got["status"] == "dynamic"
        return
    assert got["cost_total"] == got["cost_input"] == tokens * D(pricing["prompt"])


@given(
    base=pricings(with_overrides=False),
    tier=overrides(),
    row=usage_rows(),
)
@FAST
def test_tier_applies_to_every_bucket_from_the_whole_prompt(
    base: dict[str, Any], tier: dict[str, Any], row: dict[str, Any]
) -> None:
    tier.pop("utc_start", None)
    tier.pop("utc_end", None)
    threshold = tier.setdefault("min_prompt_tokens", 200_000)
    tiered = parse_price_sheet({**base, "overrides": [tier]})
    # The same prices as flat sheets: the row must cost exactly what the whole tier (or the base) costs.
    flat_tier = parse_price_sheet({**base, **{k: v for k, v in tier.items() if k != "min_prompt_tokens"}})
    flat_base = parse_price_sheet(base)
    result, _ = price_batch([{**row, "model": i} for i in range(3)], [tiered, flat_tier, flat_base])
    got, if_tier, if_base = result.to_dicts()
    in_tier = row["prompt_tokens"] >= threshold
    assert got["overrides_applied"] == int(in_tier)
    expected = if_tier if in_tier else if_base
    assert got["status"] == expected["status"]
    assert {k: got[k] for k in MONEY_NAMES} == {k: expected[k] for k in MONEY_NAMES}


def test_a_discount_with_many_digits_builds_a_table() -> None:
    sheet = parse_price_sheet({"prompt": "0.000001", "completion": "0", "discount": "0.1234567890123456789"})
    version = SheetVersion("model", "m/x", None, None, None, datetime(2020, 1, 1, tzinfo=UTC), None, sheet)
    table = PriceTable.from_sheets([version])
    priced = cost_usage(pl.DataFrame({"model": ["m/x"], "prompt_tokens": [1_000_000]}), table, at=datetime.now(UTC))
    assert priced["cost_total"][0] == Decimal("1")
    assert priced["cost_base"][0] > Decimal("1")


def test_counts_too_large_for_exact_money_are_flagged_not_wrapped() -> None:
    sheet = parse_price_sheet({"prompt": "0.000000000000000000000001", "completion": "0", "image": "1"})
    version = SheetVersion("model", "m/x", None, None, None, datetime(2020, 1, 1, tzinfo=UTC), None, sheet)
    table = PriceTable.from_sheets([version])
    usage = pl.DataFrame({"model": ["m/x", "m/x"], "prompt_tokens": [1, 1], "images": [10**15, 3]})
    priced = cost_usage(usage, table, at=datetime.now(UTC))
    assert priced["status"].to_list() == ["invalid", "ok"]
    assert "too large" in priced["reason"][0]
    assert priced["cost_total"][1] == Decimal("3.000000000000000000000001")


def test_slices_with_different_reasons_concatenate(monkeypatch: pytest.MonkeyPatch) -> None:
    import catalog.cost.engine as engine

    monkeypatch.setattr(engine, "CHUNK_ROWS", 4)
    table = PriceTable.from_sheets([model_version(sheet(prompt="0.000001"))])
    models = [MODEL] * 6 + ["nobody/else", MODEL, "huge/one"]
    usage = pl.DataFrame({"model": models, "prompt_tokens": [10] * 9})
    priced = cost_usage(usage, table, at=NOON, money="units")
    assert priced["status"].to_list() == ["ok"] * 6 + ["unknown", "ok", "unknown"]
    assert priced["reason"][6] == "unknown model 'nobody/else': not in the price history"
    assert table.scale == 6  # units of 1e-6 USD: 10 tokens at 0.000001 are 10 units
    assert priced["cost_total"].to_list() == [10] * 6 + [None, 10, None]


def test_an_override_the_sheet_does_not_have_never_applies() -> None:
    plain = endpoint_version(sheet(prompt="0.000001"), "a", "a", "A")
    tiered = endpoint_version(
        sheet(prompt="0.000005", overrides=[{"min_prompt_tokens": 10, "prompt": "0.000009"}]), "b", "b", "B"
    )
    priced = run([{"endpoint": "a", "prompt_tokens": 2**62}, {"endpoint": "b", "prompt_tokens": 20}], [plain, tiered])
    assert priced["overrides_applied"].to_list() == [0, 1]
    assert priced["cost_total"].to_list() == [D(2**62) * D("0.000001"), 20 * D("0.000009")]


def test_counts_that_are_not_whole_finite_numbers_and_bad_times_are_flagged() -> None:
    table = PriceTable.from_sheets([model_version(sheet(prompt="0.000001"))])
    usage = pl.DataFrame(
        {
            "model": [MODEL] * 5,
            "prompt_tokens": [10.0, 1e30, float("inf"), 10.5, 10.0],
            "timestamp": ["2026-08-01T00:00:00Z"] * 4 + ["yesterday"],
        }
    )
    priced = cost_usage(usage, table, at=NOON)
    assert priced["status"].to_list() == ["ok", "invalid", "invalid", "invalid", "invalid"]
    assert "whole number" in priced["reason"][1] and "timestamp" in priced["reason"][4]
    assert priced["cost_total"][0] == D("0.00001")


def test_two_endpoints_sharing_a_tag_are_priced_by_their_own_keys() -> None:
    first = endpoint_version(sheet(prompt="0.000001"), "together", "together", "Together")
    second = SheetVersion("endpoint", MODEL, "together", "together", "Together", EPOCH, None,
                          sheet(prompt="0.000002"), key=f"{MODEL}@together#2")  # fmt: skip
    priced = run(
        [{"endpoint": f"{MODEL}@together#2", "prompt_tokens": 10**6}, {"endpoint": "together", "prompt_tokens": 10**6}],
        [first, second],
    )
    assert priced["cost_total"].to_list() == [D(2), D(1)]


def test_image_and_audio_tokens_use_their_rates_or_their_parents() -> None:
    usage = {"prompt_tokens": 100, "audio_input_tokens": 40, "completion_tokens": 50, "image_output_tokens": 20}
    unpriced = run([usage], [model_version(sheet(prompt="0.000001", completion="0.000002"))]).row(0, named=True)
    # Not priced separately: audio input is prompt, image output is completion; nothing is billed twice.
    assert unpriced["cost_input"] + unpriced["cost_audio"] == 100 * D("0.000001")
    assert unpriced["cost_output"] + unpriced["cost_image"] == 50 * D("0.000002")
    priced = run(
        [usage],
        [model_version(sheet(prompt="0.000001", completion="0.000002", audio="0.00001", image_output="0.00003"))],
    ).row(0, named=True)
    assert priced["cost_audio"] == 40 * D("0.00001")
    assert priced["cost_input"] == 60 * D("0.000001")
    assert priced["cost_image"] == 20 * D("0.00003")
    assert priced["cost_output"] == 30 * D("0.000002")


@settings(max_examples=60, deadline=None)
@given(
    changes=st.lists(st.integers(0, 10**6), min_size=1, max_size=12, unique=True),
    probes=st.lists(st.integers(-(10**5), 11 * 10**5), min_size=1, max_size=50),
)
def test_the_minute_table_finds_the_same_period_as_a_binary_search(changes: list[int], probes: list[int]) -> None:
    # Version changes at arbitrary seconds (several may share a minute: then the table falls back).
    times = sorted(EPOCH + timedelta(seconds=c) for c in changes)
    versions = [
        model_version(sheet(prompt=f"0.00000{i % 9 + 1}"), since=start, until=end)
        for i, (start, end) in enumerate(zip(times, [*times[1:], None], strict=True))
    ]
    table = PriceTable.from_sheets(versions)
    micros = pl.Series([int((EPOCH + timedelta(seconds=p)).timestamp() * 1e6) for p in probes], dtype=pl.Int64)
    found = table.period_of(micros, by_minute=True).to_list()
    assert found == table.bounds.search_sorted(micros, side="right").to_list()


def test_each_timestamp_text_is_read_in_its_own_format() -> None:
    table = PriceTable.from_sheets([model_version(sheet(prompt="0.000001"))])
    texts = ["2026-08-01T12:00:00Z", "2026-08-01", "2026-08-01 12:00:00", "1785585600", "2026-08-01T14:00:00+02:00"]
    priced = cost_usage(pl.DataFrame({"model": [MODEL] * 5, "timestamp": texts, "prompt_tokens": [1] * 5}), table)
    assert priced["status"].to_list() == ["ok"] * 5
    noon = datetime(2026, 8, 1, 12, tzinfo=UTC)
    assert priced["timestamp"].to_list() == [noon, datetime(2026, 8, 1, tzinfo=UTC), noon, noon, noon]


def test_twin_endpoints_resolve_by_key_order_not_load_order() -> None:
    first = SheetVersion("endpoint", MODEL, "t", "t", "T", EPOCH, None, sheet(prompt="0.000001"), key=f"{MODEL}@t")
    twin = SheetVersion("endpoint", MODEL, "t", "t", "T", EPOCH, None, sheet(prompt="0.000002"), key=f"{MODEL}@t#2")
    for versions in ([first, twin], [twin, first]):
        assert run([{"provider": "t", "prompt_tokens": 10**6}], versions)["cost_total"].to_list() == [D(1)]


def test_a_decimal_count_with_a_tiny_fraction_is_flagged() -> None:
    table = PriceTable.from_sheets([model_version(sheet(prompt="0.000001"))])
    counts = pl.Series([D("9007199254740993.5"), D("3.0")], dtype=pl.Decimal(38, 1))
    priced = cost_usage(pl.DataFrame({"model": [MODEL, MODEL], "prompt_tokens": counts}), table, at=NOON)
    assert priced["status"].to_list() == ["invalid", "ok"]


def test_base_never_wraps_and_is_kept_for_steep_discounts_on_small_rows() -> None:
    discount = D("0.123456789012345678901234567891")
    table = PriceTable.from_sheets([model_version(sheet(prompt="0.000001", discount=str(discount)))])
    priced = cost_usage(pl.DataFrame({"model": [MODEL], "prompt_tokens": [10**12]}), table, at=NOON)
    want = reference_cost({"prompt_tokens": 10**12}, table.versions[0].sheet, NOON, table.scale)
    assert priced["cost_total"][0] == D(10**6)
    assert priced["cost_base"][0] == want["cost_base"] and priced["saving"][0] == want["saving"]
    steep = PriceTable.from_sheets([model_version(sheet(prompt="0.000001", discount="0.997"))])
    small = cost_usage(pl.DataFrame({"model": [MODEL], "prompt_tokens": [1000]}), steep, at=NOON)
    want = reference_cost({"prompt_tokens": 1000}, steep.versions[0].sheet, NOON, steep.scale)
    assert small["cost_base"][0] == want["cost_base"] == (D("0.001") / D("0.003")).quantize(D("1e-6"))
