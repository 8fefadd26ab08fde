"""The cost engine on Spark, for usage logs that live in a data lake (``pip install '.[spark]'``).

The kernel is the one the single machine runs: functions that price Arrow record batches
(``catalog.cost.engine.cost_usage`` per row, ``catalog.cost.linear.partial_sums`` for totals). Spark hands
each partition's rows to them as Arrow batches through ``mapInArrow``; the price table travels to the
executors once, as a broadcast variable.

* ``SparkCost.rows(df)``: every row priced, money as ``DECIMAL(38, scale)`` (exact: Spark decimals are
  128-bit integers with a scale, like the engine's own money).
* ``SparkCost.totals(df, by=[...])``: each partition sums its rows' counts per (group, price variant) —
  exact integer partial sums, a few rows per partition — and the driver adds them up and applies the rates
  once (``catalog.cost.linear.finish``). Equal to the single-machine engine's totals to the last unit.

Three lines::

    from catalog.spark import SparkCost
    cost = SparkCost.open(spark, "data/catalog.duckdb")
    cost.totals(spark.read.parquet("s3://logs/usage/"), by=["model", "day"]).summary
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl
import pyarrow as pa

from catalog.cost.engine import cost_usage
from catalog.cost.linear import SUMS, LinearSummary, combine, finish, partial_sums
from catalog.cost.sheets import PriceTable
from catalog.cost.unit_usage import UNIT_COLUMNS, UnitSkus, needs_units

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

# Partial-sum columns that hold integers of any size: DECIMAL(38, 0) on Spark (no 128-bit integer type there).
_WIDE = (*SUMS, "residue", "rounded", "units_total", "units_base", "units_saving")


class SparkCost:
    """Price Spark DataFrames of usage with one price table, broadcast to the executors once."""

    def __init__(
        self, spark: SparkSession, table: PriceTable, *, at: datetime | None = None, units: UnitSkus | None = None
    ) -> None:
        self.spark = spark
        self.table = table
        # Which models bill in their own units (video, speech …): their rows are refused here, never a silent $0.
        self.units = units
        # One instant for rows without a timestamp, the same on every executor.
        self.at = at or datetime.now(UTC)
        self._table = spark.sparkContext.broadcast(table)

    @classmethod
    def open(cls, spark: SparkSession, db: str | Path | None = None, *, at: datetime | None = None) -> SparkCost:
        """The price table of the catalog at ``db`` (default: the configured one), ready for Spark."""
        from catalog.library import Catalog

        with Catalog.open(db) as cat:
            table, units = cat.table, cat.unit_skus
        return cls(spark, table, at=at, units=units)

    def rows(self, df: DataFrame) -> DataFrame:
        """Every row of ``df`` priced: its columns (conformed to the usage contract) and the engine's."""
        from pyspark.sql.pandas.types import from_arrow_schema

        _refuse_unit_columns(df)
        target = _spark_arrow(cost_usage(_empty_like(df), self.table, at=self.at)).schema
        broadcast, at, units = self._table, self.at, self.units

        def price(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
            table = broadcast.value
            for batch in batches:
                frame = pl.from_arrow(batch)
                assert isinstance(frame, pl.DataFrame)
                _refuse_unit_rows(frame, units)
                yield from _spark_arrow(cost_usage(frame, table, at=at)).cast(target).to_batches()

        return df.mapInArrow(price, from_arrow_schema(target, prefer_timestamp_ntz=False))

    def totals(self, df: DataFrame, *, by: Sequence[str] = ()) -> LinearSummary:
        """Exact totals of ``df`` (per group of ``by``): partial sums per partition, added up on the driver."""
        from pyspark.sql.pandas.types import from_arrow_schema

        keys = list(by)
        _refuse_unit_columns(df)
        target = _spark_arrow(partial_sums(_empty_like(df), self.table, keys=keys, at=self.at)).schema
        broadcast, at, units = self._table, self.at, self.units

        def partial(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
            table = broadcast.value
            parts = []
            for batch in batches:
                frame = pl.from_arrow(batch)
                assert isinstance(frame, pl.DataFrame)
                _refuse_unit_rows(frame, units)
                parts.append(partial_sums(frame, table, keys=keys, at=at))
            if parts:  # one small frame per partition: its sums per (group, variant, status)
                yield from _spark_arrow(combine(parts, keys)).cast(target).to_batches()

        collected = df.mapInArrow(partial, from_arrow_schema(target, prefer_timestamp_ntz=False)).toArrow()
        frame = pl.from_arrow(collected)
        assert isinstance(frame, pl.DataFrame)
        frame = frame.with_columns(pl.col(c).cast(pl.Int128) for c in _WIDE)
        return finish(frame, self.table, keys)


_UNITS_LATER = (
    "is not priced on Spark yet: usage of models billed in their own units (video seconds, speech characters, "
    "audio minutes, search units, songs, images) goes through the single-machine engine's unit pass; price those "
    "rows with `catalog cost` or Catalog.cost, and the token rows here"
)


def _refuse_unit_columns(df: DataFrame) -> None:
    """Unit counts would be dropped by the token kernel: refused on the driver, before any work."""
    present = sorted(c for c in df.columns if c in UNIT_COLUMNS)
    if present:
        raise ValueError(f"usage with {', '.join(present)} {_UNITS_LATER}")


def _refuse_unit_rows(frame: pl.DataFrame, units: UnitSkus | None) -> None:
    """A row of a video or speech model lists token prices of 0: priced by tokens alone it would be a silent $0."""
    if units is not None and needs_units(frame, units):
        names = sorted({str(m) for m in frame["model"].unique().to_list() if units.kind_of(str(m)) != "text"})
        raise ValueError(f"usage of {', '.join(names[:3])} {_UNITS_LATER}")


def _empty_like(df: DataFrame) -> pl.DataFrame:
    """A zero-row frame with ``df``'s columns, to learn the output schema without running a job."""
    frame = pl.from_arrow(pa.schema(_arrow_fields(df)).empty_table())
    assert isinstance(frame, pl.DataFrame)
    return frame


def _arrow_fields(df: DataFrame) -> list[pa.Field]:
    from pyspark.sql.pandas.types import to_arrow_schema

    return list(to_arrow_schema(df.schema, timezone="UTC"))


def _spark_arrow(frame: pl.DataFrame) -> pa.Table:
    """A frame in the Arrow types Spark reads: text for categoricals, signed integers, 128-bit integers as
    DECIMAL(38, 0), plain (not large or view) strings."""
    casts: list[pl.Expr] = []
    for name, dtype in frame.schema.items():
        if isinstance(dtype, pl.Categorical | pl.Enum):
            casts.append(pl.col(name).cast(pl.String))
        elif dtype in (pl.UInt8, pl.UInt16):
            casts.append(pl.col(name).cast(pl.Int32))
        elif dtype in (pl.UInt32, pl.UInt64):
            casts.append(pl.col(name).cast(pl.Int64))
        elif dtype == pl.Int128:
            casts.append(pl.col(name).cast(pl.Decimal(38, 0)))
    table = (frame.with_columns(casts) if casts else frame).to_arrow()
    fields = []
    for field in table.schema:
        kind = field.type
        if pa.types.is_large_string(kind) or pa.types.is_string_view(kind) or pa.types.is_null(kind):
            kind = pa.string()
        fields.append(pa.field(field.name, kind))
    return table.cast(pa.schema(fields))


__all__ = ["SparkCost"]
