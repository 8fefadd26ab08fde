"""Totals of a priced batch (``catalog.cost.totals``): the one tally behind ``catalog cost``, ``POST /v1/cost``
and ``catalog reconcile``."""

from __future__ import annotations

from decimal import Decimal

import polars as pl

from catalog.cost.engine import STATUS
from catalog.cost.totals import batch_totals, summarise, tally


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
