"""Compare the engine's cost of real responses with what OpenRouter billed for them.

Input is the engine's output for rows read from response bodies (``billed_cost`` / ``upstream_cost`` /
``is_byok`` carried through). OpenRouter reports ``usage.cost`` as a JSON float, so an exact price can
only be compared up to the float's own rounding: the two agree when they differ by at most
``RELATIVE_TOLERANCE`` of the billed amount (a float keeps 15–17 significant digits; 1e-9 leaves a wide
margin above that and far below any real price difference, the smallest of which moves a cost by ~1e-3).
For BYOK calls OpenRouter bills 0 and reports the provider's charge as ``upstream_inference_cost``; that
is the amount compared.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

import polars as pl

RELATIVE_TOLERANCE = Decimal("1e-9")


def decimal_or_none(text: Any) -> Decimal | None:
    """An amount as reported (a JSON number read as Decimal, or text), or None when it is not one."""
    if text is None:
        return None
    try:
        return Decimal(str(text))
    except InvalidOperation:
        return None


def reconcile_rows(priced: pl.DataFrame) -> list[dict[str, Any]]:
    """One verdict per row: ``match``, ``differs``, ``unpriced`` (the engine had no price) or ``unbilled``."""
    out = []
    for row in priced.iter_rows(named=True):
        byok = bool(row.get("is_byok"))
        billed = decimal_or_none(row.get("upstream_cost") if byok else row.get("billed_cost"))
        computed: Decimal | None = row.get("cost_total")
        verdict, diff, relative = _verdict(row["status"], computed, billed)
        out.append(
            {
                "source": row.get("source"),
                "model": row.get("model"),
                "provider": row.get("provider"),
                "timestamp": row.get("timestamp"),
                "price_source": row.get("price_source"),
                "status": row["status"],
                "reason": row.get("reason"),
                "byok": byok,
                "computed": computed,
                "billed": billed,
                "difference": diff,
                "relative": relative,
                "verdict": verdict,
            }
        )
    return out


def _verdict(
    status: str, computed: Decimal | None, billed: Decimal | None
) -> tuple[str, Decimal | None, Decimal | None]:
    if status != "ok" or computed is None:
        return "unpriced", None, None
    if billed is None:
        return "unbilled", None, None
    diff = computed - billed
    if billed == 0:
        return ("match" if diff == 0 else "differs"), diff, None
    relative = diff / billed
    return ("match" if abs(relative) <= RELATIVE_TOLERANCE else "differs"), diff, relative
