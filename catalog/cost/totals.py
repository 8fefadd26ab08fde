"""Totals of a priced batch: how many rows, how many of each status, and the exact money, overall or per group.

One place for every face that prices a batch: ``catalog cost`` (its summary and status counts), ``POST
/v1/cost`` (its ``totals``) and ``catalog reconcile`` (its verdict counts, the same tally).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import polars as pl

GROUPS = ("model", "provider", "endpoint", "day", "status")


def tally(values: Iterable[Any]) -> dict[str, int]:
    """How many times each value occurs, in the order first seen."""
    counts: dict[str, int] = {}
    for value in values:
        counts[str(value)] = counts.get(str(value), 0) + 1
    return counts


@dataclass(frozen=True)
class BatchTotals:
    rows: int
    by_status: dict[str, int]  # rows per status present, in the engine's order of statuses (ok first)
    cost_total: Decimal  # of the rows priced (status ok), exact

    def to_dict(self) -> dict[str, Any]:
        """The wire form; statuses by name there."""
        return {"rows": self.rows, "by_status": dict(sorted(self.by_status.items())), "cost_total": self.cost_total}


def batch_totals(priced: pl.DataFrame) -> BatchTotals:
    """The totals of ``priced`` (the cost engine's output)."""
    import polars as pl

    from catalog.cost.engine import STATUSES

    counts = tally(priced["status"])
    ok = priced.filter(pl.col("status") == "ok")
    return BatchTotals(
        rows=priced.height,
        by_status={s: counts[s] for s in STATUSES if s in counts},
        cost_total=sum(ok["cost_total"].to_list(), Decimal(0)),
    )


def summarise(priced: pl.DataFrame, keys: Sequence[str] = ()) -> pl.DataFrame:
    """Rows, priced rows and exact money totals (cost, base, saving), overall or per group of ``keys``
    (any of ``GROUPS``), the costliest group first."""
    import polars as pl

    frame = priced
    if "day" in keys:
        frame = frame.with_columns(pl.col("timestamp").dt.date().alias("day"))
    aggs = [
        pl.len().alias("rows"),
        (pl.col("status") == "ok").sum().alias("priced"),
        pl.col("cost_total").sum().alias("cost_total"),
        pl.col("cost_base").sum().alias("cost_base"),
        pl.col("saving").sum().alias("saving"),
    ]
    if not keys:
        return frame.select(aggs)
    grouped = frame.with_columns(pl.col(k).cast(pl.String) for k in keys if k != "day").group_by(list(keys))
    return grouped.agg(aggs).sort("cost_total", descending=True, nulls_last=True)
