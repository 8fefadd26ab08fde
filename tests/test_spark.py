"""The cost engine on Spark (``catalog.spark``) equals the single-machine engine exactly, on 100,000 rows.

Runs pyspark in local mode (``local[2]``); skipped, with the reason, where pyspark or a Java runtime is
missing (``.ci/run`` installs both).
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl
import pytest

from catalog.cost.engine import cost_usage
from catalog.cost.linear import cost_totals
from catalog.cost.sheets import PriceTable, SheetVersion
from catalog.prices import parse_price_sheet

ROWS = 100_000
AT = datetime(2026, 8, 5, 12, tzinfo=UTC)
EPOCH = datetime(2020, 1, 1, tzinfo=UTC)
CHANGE = datetime(2026, 8, 3, 6, tzinfo=UTC)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    pytest.importorskip("pyspark", reason="pyspark is not installed (pip install '.[spark]')")
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        pytest.skip("no Java runtime (apt-get install default-jre-headless)")
    from pyspark.sql import SparkSession

    os.environ["PYSPARK_PYTHON"] = sys.executable  # the executors run this interpreter (and its packages)
    session = (
        SparkSession.builder.master("local[2]")
        .appName("catalog-cost-test")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.shuffle.partitions", "2")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


def price_table(*extra: SheetVersion) -> PriceTable:
    """Two models with endpoints and a model-level price; tiers, a time window, a discount, a price change."""
    tiered = parse_price_sheet(
        {
            "prompt": "0.0000003",
            "completion": "0.0000012",
            "input_cache_read": "0.00000003",
            "discount": "0.15",
            "overrides": [{"min_prompt_tokens": 20_000, "prompt": "0.0000006", "completion": "0.0000024"}],
        }
    )
    night = parse_price_sheet(
        {
            "prompt": "0.00000027",
            "completion": "0.0000011",
            "overrides": [{"utc_start": 1630, "utc_end": 30, "prompt": "0.000000135", "completion": "0.00000055"}],
        }
    )
    plain = parse_price_sheet({"prompt": "0.000001", "completion": "0.000004", "request": "0.0001"})
    dearer = parse_price_sheet({"prompt": "0.0000012", "completion": "0.000004", "discount": "0.3333"})
    return PriceTable.from_sheets(
        [
            SheetVersion("model", "m/a", None, None, None, EPOCH, None, plain),
            SheetVersion("endpoint", "m/a", "deepinfra", "deepinfra", "DeepInfra", EPOCH, CHANGE, tiered),
            SheetVersion("endpoint", "m/a", "deepinfra", "deepinfra", "DeepInfra", CHANGE, None, dearer),
            SheetVersion("endpoint", "m/b", "deepseek", "deepseek", "DeepSeek", EPOCH, None, night),
            SheetVersion("model", "m/b", None, None, None, EPOCH, None, plain),
            *extra,
        ]
    )


def usage(rows: int) -> pl.DataFrame:
    """Deterministic rows over both models, with and without a provider, some unknown, some invalid."""
    i = pl.int_range(0, rows, eager=True)
    h = i.hash(seed=3)
    prompt = (h % 40_000 + 1).cast(pl.Int64)
    start = int((AT - timedelta(days=6)).timestamp())
    return pl.DataFrame(
        {
            "row": i,
            "timestamp": pl.from_epoch(start + (h % (6 * 86_400)).cast(pl.Int64), time_unit="s").dt.replace_time_zone(
                "UTC"
            ),
            "model": pl.Series(["m/a", "m/b", "m/a", "m/unknown"]).gather(h % 4),
            "provider": pl.Series([None, "deepinfra", "DeepSeek"], dtype=pl.String).gather((h // 5) % 3),
            "prompt_tokens": prompt,
            "completion_tokens": (h // 7 % 3_000).cast(pl.Int64),
            # Now and then more cache reads than prompt: an invalid row.
            "cache_read_tokens": (prompt * (h // 11 % 95) // 90).cast(pl.Int64),
        }
    )


def test_spark_equals_the_single_machine_engine_on_100_000_rows(spark: Any) -> None:
    from catalog.spark import SparkCost

    table, rows = price_table(), usage(ROWS)
    df = spark.createDataFrame(rows.to_arrow()).repartition(4)
    cost = SparkCost(spark, table, at=AT)

    by_row = pl.from_arrow(cost.rows(df).toArrow())
    assert isinstance(by_row, pl.DataFrame)
    want = cost_usage(rows, table, at=AT)
    money = [c for c in want.columns if c.startswith("cost_")] + ["saving"]
    compared = ["row", "status", "sheet_id", "overrides_applied", *money]
    got = by_row.sort("row").select(compared)
    assert got["cost_total"].dtype == pl.Decimal(38, table.scale)  # exact money through Spark
    assert got.to_dicts() == want.select(compared).with_columns(pl.col("status").cast(pl.String)).to_dicts()
    assert {"ok", "invalid", "unknown"} <= set(got["status"].to_list())

    for keys in ([], ["model", "day"]):
        totals = cost.totals(df, by=keys)
        single = cost_totals(rows, table, keys=keys, at=AT)
        order = [*keys, "rows"]
        assert totals.summary.sort(order).to_dicts() == single.summary.sort(order).to_dicts()
        assert (totals.rows, totals.by_status, totals.cost_total) == (single.rows, single.by_status, single.cost_total)


def test_usage_in_other_units_is_refused_never_priced_at_zero(spark: Any) -> None:
    from catalog.cost.unit_usage import UnitSkus
    from catalog.spark import SparkCost

    free_tokens = parse_price_sheet({"prompt": "0", "completion": "0"})  # how video models list their tokens
    table = price_table(SheetVersion("model", "v/clip", None, None, None, EPOCH, None, free_tokens))
    units = UnitSkus({}, {"v/clip": "video", "m/a": "text"})
    cost = SparkCost(spark, table, at=AT, units=units)

    counted = spark.createDataFrame(usage(10).with_columns(video_seconds=pl.lit("8")).to_arrow())
    with pytest.raises(ValueError, match="video_seconds is not priced on Spark yet"):
        cost.totals(counted)
    with pytest.raises(ValueError, match="video_seconds is not priced on Spark yet"):
        cost.rows(counted)

    clip = usage(10).with_columns(model=pl.lit("v/clip"))
    df = spark.createDataFrame(clip.to_arrow())
    for run in (lambda: cost.totals(df), lambda: cost.rows(df).toArrow()):
        with pytest.raises(Exception, match="usage of v/clip is not priced on Spark yet"):
            run()
    # token rows alone still price as before
    plain = spark.createDataFrame(usage(10).to_arrow())
    assert cost.totals(plain).rows == 10
