"""Compare the engine's cost with what was billed: per row, per group and in total.

Input is the engine's output for rows that carry a billed amount (``billed_cost`` / ``upstream_cost`` /
``is_byok`` carried through): OpenRouter's ``usage.cost``, a ``GET /generation`` record's ``total_cost``, a
``GET /activity`` row's ``usage``, a LiteLLM spend log's ``spend`` (``catalog.cost.shapes`` maps them).
``compare_billed`` adds ``billed``, ``difference`` and ``verdict`` to every row, vectorised; ``billed_summary``
gives the same per group; ``reconcile_rows`` is the row-by-row view ``catalog reconcile`` prints.

Billed amounts arrive as JSON or CSV floats, so an exact price can only be compared up to the float's own
rounding: the two agree when they differ by at most
``RELATIVE_TOLERANCE`` of the billed amount (a float keeps 15–17 significant digits; 1e-9 leaves a wide
margin above that and far below any real price difference, the smallest of which moves a cost by ~1e-3).
For BYOK calls OpenRouter bills 0 and reports the provider's charge as ``upstream_inference_cost``; that
is the amount compared.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Any

import polars as pl

from catalog.cost.money import MAX_SCALE, decimal_column, scale_of

RELATIVE_TOLERANCE = Decimal("1e-9")
_TOLERANCE_DIVISOR = 10**9  # |difference| ≤ |billed| × 1e-9, in integer units: |difference| ≤ |billed| // 10**9
VERDICTS = ("match", "differs", "unbilled", "unpriced")
VERDICT = pl.Enum(VERDICTS)
BILLED_COLUMNS = ("billed", "difference", "verdict")


def has_billed(priced: pl.DataFrame) -> bool:
    """Whether any row carries a billed amount to compare with."""
    return any(c in priced.columns and priced[c].null_count() < priced.height for c in ("billed_cost", "upstream_cost"))


def _units(texts: pl.Series, scale: int | None) -> tuple[pl.Series, int]:
    """Amounts as written → integer units of ``10**-scale`` USD, and that scale: at least ``scale``, and as many
    digits as the amounts themselves carry up to ``MAX_SCALE`` (half-even beyond: a float's own noise)."""
    amounts: dict[str, Decimal | None] = {}
    for text in texts.drop_nulls().unique().to_list():
        amount = decimal_or_none(text)
        amounts[text] = amount if amount is not None and amount.is_finite() else None
    needed = max([scale or 0, *(min(scale_of(a), MAX_SCALE) for a in amounts.values() if a is not None)])
    step = Decimal(1).scaleb(-needed)
    units = {
        text: None if a is None else int(a.quantize(step, rounding=ROUND_HALF_EVEN).scaleb(needed))
        for text, a in amounts.items()
    }
    lookup = pl.DataFrame(
        {"text": pl.Series(list(units), dtype=pl.String), "units": pl.Series(list(units.values()), dtype=pl.Int128)}
    )
    frame = pl.DataFrame({"text": texts.cast(pl.String)})
    return frame.join(lookup, on="text", how="left", maintain_order="left")["units"], needed


def compare_billed(priced: pl.DataFrame) -> pl.DataFrame:
    """``priced`` with ``billed`` (the amount compared: ``upstream_cost`` for BYOK, else ``billed_cost``),
    ``difference`` (computed − billed) and ``verdict``: ``match`` (within ``RELATIVE_TOLERANCE`` of the billed
    amount, exactly equal when it is 0), ``differs``, ``unbilled`` (no billed amount) or ``unpriced`` (the engine
    had no price)."""
    empty = pl.Series([None] * priced.height, dtype=pl.String)
    byok = priced["is_byok"].fill_null(False) if "is_byok" in priced.columns else pl.Series([False] * priced.height)
    billed_text = priced["billed_cost"] if "billed_cost" in priced.columns else empty
    upstream_text = priced["upstream_cost"] if "upstream_cost" in priced.columns else empty
    text = pl.select(pl.when(pl.lit(byok)).then(pl.lit(upstream_text)).otherwise(pl.lit(billed_text))).to_series()
    money = priced["cost_total"].dtype
    assert isinstance(money, pl.Decimal)
    billed, scale = _units(text, money.scale)
    # The computed cost at the comparison's scale: exact, its units only grow by a power of ten.
    grow = pl.lit(10 ** (scale - (money.scale or 0)), pl.Int128)
    computed = pl.select(pl.lit(priced["cost_total"].to_physical().cast(pl.Int128)) * grow).to_series()
    ok = priced["status"] == "ok"
    work = pl.DataFrame({"c": computed, "b": billed, "ok": ok})
    diff = pl.when(pl.col("ok")).then(pl.col("c") - pl.col("b"))
    verdict = (
        pl.when(~pl.col("ok") | pl.col("c").is_null())
        .then(pl.lit("unpriced"))
        .when(pl.col("b").is_null())
        .then(pl.lit("unbilled"))
        .when(diff.abs() <= pl.col("b").abs() // _TOLERANCE_DIVISOR)
        .then(pl.lit("match"))
        .otherwise(pl.lit("differs"))
        .cast(VERDICT)
    )
    out = work.select(pl.col("b").alias("billed"), diff.alias("difference"), verdict.alias("verdict"))
    return priced.with_columns(
        decimal_column(out["billed"], scale).alias("billed"),
        decimal_column(out["difference"], scale).alias("difference"),
        out["verdict"],
    )


def billed_summary(compared: pl.DataFrame, keys: Sequence[str]) -> pl.DataFrame:
    """Per group of ``keys`` (or overall): the billed total, the difference over the rows compared, a verdict
    for the group (the same rule on its sums) and how many rows got each verdict."""
    frame = compared
    if "day" in keys and "day" not in frame.columns:
        frame = frame.with_columns(pl.col("timestamp").dt.date().alias("day"))
    frame = frame.with_columns(pl.col(k).cast(pl.String) for k in keys if k != "day")
    compared_rows = pl.col("verdict").is_in(["match", "differs"])
    money, cost = frame["billed"].dtype, frame["cost_total"].dtype
    assert isinstance(money, pl.Decimal) and isinstance(cost, pl.Decimal)
    scale, grow = money.scale or 0, pl.lit(10 ** ((money.scale or 0) - (cost.scale or 0)), pl.Int128)
    units = frame.select(
        *[pl.col(k) for k in keys],
        pl.col("billed").to_physical().alias("_b"),
        pl.when(compared_rows).then(pl.col("cost_total").to_physical().cast(pl.Int128) * grow).alias("_c"),
        pl.when(compared_rows).then(pl.col("billed").to_physical()).alias("_cb"),
        pl.col("verdict"),
    )
    aggs = [
        pl.col("_b").sum().alias("_billed"),
        pl.col("_b").is_not_null().any().alias("_any_billed"),
        (pl.col("_c").sum() - pl.col("_cb").sum()).alias("_difference"),
        pl.col("_cb").sum().alias("_compared_billed"),
        compared_rows.any().alias("_any_compared"),
        *[(pl.col("verdict") == v).sum().alias(v) for v in VERDICTS],
    ]
    grouped = units.group_by(list(keys), maintain_order=True).agg(aggs) if keys else units.select(aggs)
    verdict = (
        pl.when(~pl.col("_any_compared"))
        .then(pl.when(pl.col("_any_billed")).then(pl.lit("unpriced")).otherwise(pl.lit("unbilled")))
        .when(pl.col("_difference").abs() <= pl.col("_compared_billed").abs() // _TOLERANCE_DIVISOR)
        .then(pl.lit("match"))
        .otherwise(pl.lit("differs"))
        .cast(VERDICT)
    )
    grouped = grouped.with_columns(verdict.alias("verdict"))
    return grouped.select(
        *[pl.col(k) for k in keys],
        decimal_column(grouped["_billed"].cast(pl.Int128), scale)
        .to_frame()
        .select(pl.when(grouped["_any_billed"]).then(pl.col("_billed")))
        .to_series()
        .alias("billed"),
        decimal_column(grouped["_difference"].cast(pl.Int128), scale)
        .to_frame()
        .select(pl.when(grouped["_any_compared"]).then(pl.col("_difference")))
        .to_series()
        .alias("difference"),
        pl.col("verdict"),
        *[pl.col(v).alias(f"rows_{v}") for v in VERDICTS],
    )


def compare_one(
    computed: Decimal | None, billed: Any, *, upstream: Any = None, is_byok: bool = False
) -> dict[str, Any]:
    """One computed cost against one billed amount (``upstream`` for BYOK), by ``compare_billed``'s rule, so a
    single call gets the verdict a file of them would: ``{"billed", "difference", "verdict"}``."""
    scale = min(scale_of(computed), MAX_SCALE) if computed is not None else 0
    frame = pl.DataFrame(
        {
            "cost_total": pl.Series([computed], dtype=pl.Decimal(38, scale)),
            "status": ["ok" if computed is not None else "no_price"],
            "billed_cost": pl.Series([None if billed is None else str(billed)], dtype=pl.String),
            "upstream_cost": pl.Series([None if upstream is None else str(upstream)], dtype=pl.String),
            "is_byok": [is_byok],
        }
    )
    row = compare_billed(frame).row(0, named=True)
    billed_amount = row["billed"] if row["verdict"] != "unpriced" else _as_decimal(frame.row(0, named=True))
    return {"billed": billed_amount, "difference": row["difference"], "verdict": str(row["verdict"])}


def decimal_or_none(text: Any) -> Decimal | None:
    """An amount as reported (a JSON number read as Decimal, or text), or None when it is not one."""
    if text is None:
        return None
    try:
        return Decimal(str(text))
    except InvalidOperation:
        return None


def reconcile_rows(priced: pl.DataFrame) -> list[dict[str, Any]]:
    """One verdict per row (``compare_billed``'s), with the relative difference, as ``catalog reconcile`` shows it."""
    compared = priced if "verdict" in priced.columns else compare_billed(priced)
    out = []
    for row in compared.iter_rows(named=True):
        billed, diff = row["billed"], row["difference"]
        relative = diff / billed if diff is not None and billed else None
        out.append(
            {
                "source": row.get("source"),
                "model": row.get("model"),
                "provider": row.get("provider"),
                "timestamp": row.get("timestamp"),
                "price_source": row.get("price_source"),
                "status": row["status"],
                "reason": row.get("reason"),
                "byok": bool(row.get("is_byok")),
                "computed": row.get("cost_total") if row["status"] == "ok" else None,
                "billed": billed if row["verdict"] != "unpriced" else _as_decimal(row),
                "difference": diff if row["verdict"] in ("match", "differs") else None,
                "relative": relative if row["verdict"] in ("match", "differs") else None,
                "verdict": row["verdict"],
            }
        )
    return out


def _as_decimal(row: dict[str, Any]) -> Decimal | None:
    """The billed amount as reported, for a row the engine could not price (nothing to compare it with)."""
    return decimal_or_none(row.get("upstream_cost") if row.get("is_byok") else row.get("billed_cost"))
