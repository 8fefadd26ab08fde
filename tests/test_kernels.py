"""The compiled passes share a batch's rows between their threads a stretch at a time, whichever thread is free
(``kernels.claim``): whatever the split, the answers are the ones a single pass over the rows gives."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import polars as pl
import pytest
from test_cost_engine import EPOCH

from catalog.cost import breakdown, kernels
from catalog.cost.engine import cost_usage
from catalog.cost.linear import cost_totals
from catalog.cost.sheets import PriceTable, SheetVersion
from catalog.prices import parse_price_sheet

pytestmark = pytest.mark.skipif(not kernels.AVAILABLE, reason="numba is not installed (pip install '.[fast]')")

ROWS = 300_000  # several stretches (``_GRAB``) of each pass, and enough rows for every thread to have some


def test_claims_hand_out_every_stretch_once() -> None:
    @kernels.numba.njit(parallel=True)
    def stretches(n: int, step: int, workers: int) -> Any:  # pragma: no cover - compiled
        counter = np.zeros(1, dtype=np.int64)
        seen = np.zeros(n, dtype=np.int64)
        for _ in kernels.numba.prange(workers):
            while True:
                first = kernels.claim(counter, step)
                if first >= n:
                    break
                for i in range(first, min(n, first + step)):
                    seen[i] += 1
        return seen

    assert (stretches(100_003, 7, 4) == 1).all()  # every row once, the last stretch short


def test_the_first_row_of_each_code_whichever_thread_saw_it() -> None:
    rng = np.random.default_rng(7)
    models = rng.integers(0, 50, ROWS).astype(np.uint32)
    providers = rng.integers(0, 6, ROWS).astype(np.uint32)
    valid = rng.random(ROWS) < 0.8  # the rest are nulls, read as the null code 6
    bits = np.packbits(valid, bitorder="little")
    found = kernels.seen([models, kernels.Nullable(providers, bits, 0)], [50, 7], 50 * 7)
    combined = models.astype(np.int64) * 7 + np.where(valid, providers, 6)
    want = np.full(50 * 7, -1, dtype=np.int64)
    codes, first = np.unique(combined, return_index=True)
    want[codes] = first
    assert found.tolist() == want.tolist()


def _table() -> PriceTable:
    change = datetime(2026, 8, 9, 13, 30, tzinfo=UTC)
    price = parse_price_sheet({"prompt": "0.000003", "completion": "0.000015", "discount": "0.3"})
    dearer = parse_price_sheet({"prompt": "0.000004", "completion": "0.00002", "input_cache_read": "0.0000004"})
    tiered = parse_price_sheet(
        {
            "prompt": "0.000001",
            "completion": "0.000002",
            "overrides": [{"min_prompt_tokens": 20_000, "prompt": "0.0000015", "completion": "0.000003"}],
        }
    )
    return PriceTable.from_sheets(
        [
            SheetVersion("model", "m/a", None, None, None, EPOCH, change, price),
            SheetVersion("model", "m/a", None, None, None, change, None, dearer),
            SheetVersion("model", "m/b", None, None, None, EPOCH, None, tiered),
            SheetVersion("endpoint", "m/a", "deepinfra", "deepinfra", "DeepInfra", EPOCH, None, dearer),
        ]
    )


def _usage() -> pl.DataFrame:
    rng = np.random.default_rng(11)
    prompt = rng.integers(100, 50_000, ROWS)
    start = datetime(2026, 8, 1, tzinfo=UTC)
    return pl.DataFrame(
        {
            "timestamp": pl.Series([start + timedelta(seconds=int(s)) for s in rng.integers(0, 20 * 86_400, ROWS)]),
            "model": pl.Series(rng.choice(["m/a", "m/b", "m/x"], ROWS), dtype=pl.Categorical),
            "provider": pl.Series(rng.choice(["deepinfra", "gone", ""], ROWS)).replace("", None).cast(pl.Categorical),
            "prompt_tokens": prompt,
            "cache_read_tokens": (prompt * rng.random(ROWS) * 0.5).astype(np.int64),
            "completion_tokens": rng.integers(10, 4_000, ROWS),
        }
    )


def test_a_batch_shared_between_threads_prices_every_row_as_the_expressions() -> None:
    table, usage = _table(), _usage()
    at = datetime(2026, 8, 20, tzinfo=UTC)
    compiled = cost_usage(usage, table, at=at)
    kernels.AVAILABLE = False
    try:
        expressions = cost_usage(usage, table, at=at)
        numpy_totals = cost_totals(usage, table, keys=["model"], at=at)
    finally:
        kernels.AVAILABLE = True
    assert breakdown.numba is not None and compiled.height == ROWS
    for name in compiled.columns:
        assert compiled[name].to_list() == expressions[name].to_list(), name
    totals = cost_totals(usage, table, keys=["model"], at=at)
    assert totals.cost_total == numpy_totals.cost_total == compiled["cost_total"].sum()
    assert totals.summary.sort("model").to_dicts() == numpy_totals.summary.sort("model").to_dicts()
