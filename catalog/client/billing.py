"""``Generation.billed()``: what OpenRouter billed for a call, set against what the catalog computes for it.

After a call, ``GET /generation?id=`` gives its record (``catalog.client.account.GenerationRecord``): the billed
``total_cost`` (for BYOK the provider's ``upstream_inference_cost``) and the provider's native token counts. The
computed side is the generation's own cost when its answer reported usage; otherwise — a stream that ended
without its usage chunk, a cut stream — the record's native counts are priced instead (read as
``catalog reconcile`` reads a ``GET /generation`` record: the ``openrouter-generation`` shape), so every call
gets a billed figure and a verdict. The verdict is ``catalog.cost.reconcile``'s rule (``match`` within 1e-9 of
the billed amount, ``differs``, ``unbilled``, ``unpriced``), applied to the one call.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from catalog.client.account import GenerationRecord
from catalog.cost.bodies import usage_from_row
from catalog.cost.engine import cost_usage
from catalog.cost.reconcile import compare_one
from catalog.cost.shapes import map_rows
from catalog.cost.usage import COUNT_COLUMNS, INVALID_REASON, ROW_FLAGS, usage_frame
from catalog.prices import canonical

if TYPE_CHECKING:
    from catalog.client.generation import Generation, Prices


@dataclass(frozen=True)
class BilledCost:
    """One call's billed amount beside its computed cost."""

    generation_id: str
    billed: Decimal | None  # the amount compared: total_cost, or the upstream cost for BYOK
    computed: Decimal | None
    difference: Decimal | None  # computed − billed
    verdict: str  # match / differs / unbilled / unpriced
    computed_from: str  # "response usage" or "generation record"
    cost_status: str
    cost_reason: str | None
    record: GenerationRecord

    def to_dict(self) -> dict[str, Any]:
        def money(value: Decimal | None) -> str | None:
            return canonical(value) if value is not None else None

        return {
            "generation_id": self.generation_id,
            "billed": money(self.billed),
            "computed": money(self.computed),
            "difference": money(self.difference),
            "verdict": self.verdict,
            "computed_from": self.computed_from,
            "cost_status": self.cost_status,
            "cost_reason": self.cost_reason,
            "is_byok": self.record.is_byok,
            "provider": self.record.provider,
        }


def reconcile(generation: Generation, record: GenerationRecord, prices: Prices | None) -> BilledCost:
    """``record`` (the call as billed) against ``generation`` (the call as computed)."""
    computed: Decimal | None
    if generation.cost is not None:
        computed, status, reason = generation.cost, generation.cost_status, generation.cost_reason
        source = "response usage"
    else:
        computed, status, reason = price_record(record, generation.model, prices)
        source = "generation record"
    compared = compare_one(computed, record.total_cost, upstream=record.upstream_inference_cost, is_byok=record.is_byok)
    return BilledCost(
        generation_id=record.id,
        billed=compared["billed"],
        computed=computed,
        difference=compared["difference"],
        verdict=compared["verdict"],
        computed_from=source,
        cost_status=status,
        cost_reason=reason,
        record=record,
    )


def price_record(
    record: GenerationRecord, model: str | None, prices: Prices | None
) -> tuple[Decimal | None, str, str | None]:
    """The record's native counts priced by the engine: (cost, status, reason)."""
    table = prices.table() if prices is not None else None
    if table is None:
        return None, "no_prices", "no price table: pass prices=Catalog.open() to the client"
    mapped, _ = map_rows([record.data], forced="openrouter-generation")
    problems: list[str] = []
    row = usage_from_row(
        {k: v for k, v in mapped[0].items() if k != INVALID_REASON}, source=record.id, problems=problems
    )
    if INVALID_REASON in mapped[0]:
        return None, "invalid", str(mapped[0][INVALID_REASON])
    custom = prices is not None and model in prices.custom
    wanted = str(model if custom or not row.get("model") else row["model"])
    if not custom and model and table.resolve_model(wanted) is None and table.resolve_model(model):
        wanted = model  # the record names a variant the history does not list; ask for the id called
    now = datetime.now(UTC)
    priced_row = {
        **{k: row[k] for k in COUNT_COLUMNS if row.get(k) is not None},
        **{k: row[k] for k in ROW_FLAGS if k in row},
        "model": wanted,
        "provider": None if custom else row.get("provider"),
        "timestamp": row.get("timestamp") or now,
    }
    priced = cost_usage(usage_frame([priced_row]), table, at=now).row(0, named=True)
    reason = "; ".join(problems) if problems else priced["reason"]
    return priced["cost_total"], str(priced["status"]), reason
