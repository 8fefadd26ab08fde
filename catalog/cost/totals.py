"""Totals of a priced batch: how many rows, how many of each status, and the exact money, overall or per group.

One place for every face that prices a batch: ``catalog cost`` (its summary and status counts), ``POST
/v1/cost`` (its ``totals``) and ``catalog reconcile`` (its verdict counts, the same tally). Totals come
either from the per-row output (``summarise``, ``batch_totals``) or straight from the usage by linearity
(``catalog.cost.linear``, ``linear_totals``); the two agree exactly (tests/test_cost_totals.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from datetime import datetime

    import polars as pl

    from catalog.cost.sheets import PriceTable

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


def linear_totals(usage: pl.DataFrame, table: PriceTable, *, at: datetime | None = None) -> BatchTotals:
    """The totals of ``usage`` priced by linearity (no per-row money): what ``batch_totals`` of the per-row
    output gives, without computing it."""
    from catalog.cost.linear import cost_totals

    done = cost_totals(usage, table, at=at)
    return BatchTotals(rows=done.rows, by_status=done.by_status, cost_total=done.cost_total)


def batch_totals(priced: pl.DataFrame) -> BatchTotals:
    """The totals of ``priced`` (the cost engine's output)."""
    import polars as pl

    from catalog.cost.engine import STATUSES

    counts = tally(priced["status"])
    ok = priced.filter(pl.col("status") == "ok")
    return BatchTotals(
        rows=priced.height,
        by_status={s: counts[s] for s in STATUSES if s in counts},
        # Polars sums Decimal columns exactly; a Python sum of Decimals would round at the context's 28 digits.
        cost_total=Decimal(ok["cost_total"].sum() or 0),
    )


def summarise(priced: pl.DataFrame, keys: Sequence[str] = ()) -> pl.DataFrame:
    """Rows, priced rows and exact money totals (cost, base, saving), overall or per group of ``keys``
    (any of ``GROUPS``), the costliest group first."""
    import polars as pl

    frame = priced
    missing = [k for k in keys if k not in GROUPS and k not in frame.columns]
    if missing:
        from catalog.errors import InputError

        raise InputError(f"cannot group by {', '.join(missing)}: the usage has no such column")
    if "day" in keys:
        frame = frame.with_columns(pl.col("timestamp").dt.date().alias("day"))
    aggs = [
        pl.len().cast(pl.Int64).alias("rows"),
        (pl.col("status") == "ok").sum().cast(pl.Int64).alias("priced"),
        pl.col("cost_total").sum().alias("cost_total"),
        pl.col("cost_base").sum().alias("cost_base"),
        pl.col("saving").sum().alias("saving"),
    ]
    if not keys:
        return _blank_unpriced(frame.select(aggs))
    grouped = frame.with_columns(pl.col(k).cast(pl.String) for k in keys if k != "day").group_by(list(keys))
    return _blank_unpriced(grouped.agg(aggs)).sort("cost_total", descending=True, nulls_last=True)


def merge_summaries(parts: Sequence[pl.DataFrame], keys: Sequence[str] = ()) -> pl.DataFrame:
    """``summarise`` of several batches added up into the ``summarise`` of them all (every column is a sum)."""
    import polars as pl

    frame = pl.concat(list(parts))
    aggs = [pl.col(c).sum() for c in ("rows", "priced", "cost_total", "cost_base", "saving")]
    if not keys:
        return _blank_unpriced(frame.select(aggs))
    merged = frame.group_by(list(keys), maintain_order=True).agg(aggs)
    return _blank_unpriced(merged).sort("cost_total", descending=True, nulls_last=True)


def _blank_unpriced(summary: pl.DataFrame) -> pl.DataFrame:
    """A group with no priced row has no money (null), not a cost of 0."""
    import polars as pl

    priced = pl.col("priced") > 0
    return summary.with_columns(pl.when(priced).then(pl.col(c)).alias(c) for c in ("cost_total", "cost_base", "saving"))
