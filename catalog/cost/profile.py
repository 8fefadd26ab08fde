"""Workload profiles and the cheapest endpoint for one: rank what a real workload pays, not list prices.

A ``WorkloadProfile`` describes one request (input and output tokens, the share of input read from or
written to the prompt cache, the share of output that is reasoning, images, web searches) and how many
such requests the workload has. ``rank_endpoints`` prices one such request on every candidate endpoint
with the cost engine, drops those the ``EndpointFilters`` exclude (saying why), ranks the rest, explains
which cost terms dominate, and returns an OpenRouter ``provider`` routing object that pins the winner with
the next ones as ordered fallbacks.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from datetime import datetime
from decimal import Decimal
from typing import Any

import polars as pl

from catalog.cost.engine import COST_COLUMNS, cost_usage
from catalog.cost.sheets import PriceTable
from catalog.cost.workload import DEFAULT_FALLBACKS, EndpointFilters, WorkloadProfile
from catalog.money import canonical, per_million, reduced

# A per-token average is a ratio, not an amount billed: rounded to 12 decimals (the per-request cost is exact).
PER_M_UNIT = Decimal("1e-12")


@dataclass(frozen=True)
class RankedEndpoint:
    """One ranked endpoint: what one request of the profile costs there, exact, and why.

    Amounts are ``Decimal`` in their shortest form (``catalog.money.reduced``); the faces spell them (JSON:
    ``catalog.money.canonical``). ``terms`` are the non-zero cost terms, largest first; ``term_shares`` their
    shares of the total, rounded for reading.
    """

    rank: int
    model_id: str
    tag: str
    endpoint_key: str
    provider: str
    provider_name: str | None
    quantization: str | None
    context_length: int | None
    cost_per_request: Decimal
    cost_per_million_tokens: Decimal | None
    workload_cost: Decimal
    base_per_request: Decimal | None
    saving_per_request: Decimal | None
    discount: Decimal
    terms: dict[str, Decimal]
    term_shares: dict[str, float]
    overrides_applied: int
    price_valid_from: datetime
    status: int | None
    uptime_last_1d: float | None

    def to_dict(self) -> dict[str, Any]:
        """The fields in order, values as they are (Decimal, datetime): ``catalog.exact_json.jsonable`` spells them."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass
class Ranking:
    """The answer to "which endpoint is cheapest for this workload": ranked rows, exclusions, why, routing."""

    at: datetime
    model: str | None
    profile: WorkloadProfile
    filters: EndpointFilters
    ranked: list[RankedEndpoint]
    excluded: list[dict[str, Any]]
    explanation: str
    routing: dict[str, Any] | None

    def to_dict(self) -> dict[str, Any]:
        """The answer as plain data; money stays ``Decimal`` until ``catalog.exact_json.jsonable`` spells it."""
        return {
            "as_of": self.at.isoformat().replace("+00:00", "Z"),
            "model": self.model,
            "profile": self.profile.to_dict(),
            "filters": self.filters.to_dict(),
            "ranked": [row.to_dict() for row in self.ranked],
            "excluded": self.excluded,
            "explanation": self.explanation,
            "provider": self.routing,
        }


def rank_endpoints(
    candidates: pl.DataFrame,
    table: PriceTable,
    profile: WorkloadProfile,
    filters: EndpointFilters,
    *,
    at: datetime,
    model: str | None = None,
    fallbacks: int = DEFAULT_FALLBACKS,
) -> Ranking:
    """Rank ``candidates`` (``catalog.store.queries.endpoint_candidates``) by what ``profile`` costs at ``at``."""
    rows = candidates.to_dicts()
    kept: list[dict[str, Any]] = []
    excluded: list[dict[str, str]] = []
    for row in rows:
        reason = filters.exclusion(row)
        if reason:
            excluded.append({"model_id": row["model_id"], "tag": row["tag"], "reason": reason})
        else:
            kept.append(row)
    usage = pl.DataFrame(
        [{"model": r["model_id"], "endpoint": r["endpoint_key"], **profile.usage_row()} for r in kept],
        schema_overrides={"model": pl.String, "endpoint": pl.String},
    )
    priced = cost_usage(usage, table, at=at) if kept else None
    ranked: list[RankedEndpoint] = []
    for index, row in enumerate(kept):
        assert priced is not None
        cost = priced.row(index, named=True)
        if cost["status"] != "ok":
            excluded.append({"model_id": row["model_id"], "tag": row["tag"], "reason": cost["reason"]})
            continue
        if filters.exclude_free and table.versions[cost["sheet_id"]].sheet.free:
            excluded.append({"model_id": row["model_id"], "tag": row["tag"], "reason": "free endpoint"})
            continue
        ranked.append(_ranked_row(row, cost, profile, table))
    ranked.sort(key=lambda r: (r.cost_per_request, r.model_id, r.tag))
    ranked = [replace(row, rank=rank) for rank, row in enumerate(ranked, 1)]
    return Ranking(
        at=at,
        model=model,
        profile=profile,
        filters=filters,
        ranked=ranked,
        excluded=sorted(excluded, key=lambda r: (r["model_id"], r["tag"])),
        explanation=_explain(ranked, profile),
        routing=provider_routing(ranked, filters, fallbacks),
    )


def _ranked_row(
    row: dict[str, Any], cost: dict[str, Any], profile: WorkloadProfile, table: PriceTable
) -> RankedEndpoint:
    total: Decimal = cost["cost_total"]
    tokens = profile.input_tokens + profile.output_tokens
    terms: dict[str, Decimal] = {c.removeprefix("cost_"): cost[c] for c in COST_COLUMNS if cost[c]}
    dominant = sorted(terms.items(), key=lambda kv: -kv[1])
    version = table.versions[cost["sheet_id"]]
    return RankedEndpoint(
        rank=0,
        model_id=row["model_id"],
        tag=row["tag"],
        endpoint_key=row["endpoint_key"],
        provider=row["provider_slug"],
        provider_name=row["provider_name"],
        quantization=row.get("quantization"),
        context_length=row.get("context_length"),
        cost_per_request=reduced(total),
        cost_per_million_tokens=per_million_tokens(total, tokens),
        workload_cost=reduced(total * profile.requests),
        base_per_request=reduced(cost["cost_base"]) if cost["cost_base"] is not None else None,
        saving_per_request=reduced(cost["saving"]) if cost["saving"] is not None else None,
        discount=reduced(version.sheet.discount),
        terms={k: reduced(v) for k, v in dominant},
        term_shares={k: round(float(v / total), 4) if total else 0.0 for k, v in dominant},
        overrides_applied=cost["overrides_applied"],
        price_valid_from=version.valid_from,
        status=row.get("status"),
        uptime_last_1d=row.get("uptime_last_1d"),
    )


def per_million_tokens(total: Decimal, tokens: int) -> Decimal | None:
    """A request's cost per million of its tokens, rounded to 12 decimals (``PER_M_UNIT``); None for a
    request of no tokens."""
    if not tokens:
        return None
    return reduced(per_million(total, tokens).quantize(PER_M_UNIT))


def _explain(ranked: list[RankedEndpoint], profile: WorkloadProfile) -> str:
    if not ranked:
        return "no endpoint passed the filters with a listed price"
    win = ranked[0]
    shares = ", ".join(f"{k} {v:.0%}" for k, v in list(win.term_shares.items())[:3]) or "nothing (free)"
    text = f"{win.model_id} via {win.tag} costs ${canonical(win.cost_per_request)} per request ({shares})"
    if len(ranked) > 1:
        second = ranked[1]
        a, b = win.cost_per_request, second.cost_per_request
        gap = f"{float((b - a) / b):.1%} less than" if b else "the same as"
        # The term where the runner-up loses the most explains the ordering best.
        zero = Decimal(0)
        diffs = {k: second.terms.get(k, zero) - win.terms.get(k, zero) for k in set(win.terms) | set(second.terms)}
        text += f"; {gap} {second.tag} (${canonical(second.cost_per_request)})"
        if diffs and max(diffs.values()) > 0:
            text += f", mostly on {max(diffs, key=lambda k: diffs[k])}"
    if profile.cache_hit:
        text += f"; {profile.cache_hit:%} of input is a cache hit, so cache-read prices weigh in"
    return text


def provider_routing(ranked: list[RankedEndpoint], filters: EndpointFilters, fallbacks: int) -> dict[str, Any] | None:
    """OpenRouter's ``provider`` object: the winner first, the next cheapest of the same model as fallbacks."""
    if not ranked:
        return None
    model = ranked[0].model_id
    # Two endpoints can share a tag (``model@tag#2``); OpenRouter routes by tag, so each appears once.
    order = list(dict.fromkeys(r.tag for r in ranked if r.model_id == model))[: 1 + fallbacks]
    routing: dict[str, Any] = {"order": order, "allow_fallbacks": False}
    if filters.parameters:
        routing["require_parameters"] = True
    if filters.quantizations:
        routing["quantizations"] = list(filters.quantizations)
    if filters.no_training:
        routing["data_collection"] = "deny"
    return routing
