"""What the site shows, gathered from the history in a few batch queries and cost-engine calls.

Everything here is computed by the same code the CLI and the API use: rankings by
``catalog.cost.profile.rank_endpoints``, price histories by ``catalog.cost.engine.cost_usage``. The result is
plain dicts and lists that the templates render; nothing here formats for display.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import polars as pl

from catalog.cost.engine import cost_usage
from catalog.cost.money import EXACT
from catalog.cost.profile import EndpointFilters, provider_routing, rank_endpoints
from catalog.cost.sheets import PriceTable, SheetVersion
from catalog.library import Catalog, base_price
from catalog.prices import PRICE_KEYS
from catalog.store import queries
from catalog.website.presets import DEFAULT, PRESETS

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
CHANGE_WINDOWS = (7, 20)  # days of the index's price-change columns


@dataclass
class SiteFacts:
    at: datetime
    endpoint_start: datetime | None  # the first endpoint snapshot: price-change windows start no earlier
    table: PriceTable
    models: list[dict[str, Any]]
    providers: list[dict[str, Any]]
    changes: list[dict[str, Any]]
    windows: list[dict[str, Any]] = field(default_factory=list)  # the price-change columns: days and start


def newest_good_snapshot(cat: Catalog, at: datetime | None = None) -> datetime | None:
    """The newest snapshot that did not fail (taken at or before ``at``, when given)."""
    rows = cat.con.execute(
        "SELECT max(taken_at) FROM snapshots WHERE status <> 'failed' AND ($at IS NULL OR taken_at <= $at)",
        {"at": at},
    ).fetchall()
    return rows[0][0].astimezone(UTC) if rows and rows[0][0] else None


def gather(cat: Catalog, at: datetime) -> SiteFacts:
    """Everything the pages need, as of ``at``."""
    con, table = cat.con, cat.table
    filters = EndpointFilters()
    candidates = queries.endpoint_candidates(con, at)
    start_rows = con.execute(
        "SELECT min(taken_at) FROM snapshots WHERE kinds LIKE '%endpoints%' AND status <> 'failed'"
    ).fetchall()
    endpoint_start = start_rows[0][0].astimezone(UTC) if start_rows and start_rows[0][0] else None

    rankings = {p.name: _by_model(rank_endpoints(candidates, table, p.profile, filters, at=at)) for p in PRESETS}
    windows = []
    past: dict[int, dict[str, dict[str, Any]]] = {}
    for days in CHANGE_WINDOWS:
        then = at - timedelta(days=days)
        if endpoint_start is not None and then < endpoint_start:
            then = endpoint_start  # the history is shorter than the window: compare with its first day
        windows.append({"days": days, "since": then})
        ranked = _by_model(
            rank_endpoints(queries.endpoint_candidates(con, then), table, DEFAULT.profile, filters, at=then)
        )
        past[days] = {m: rows["ranked"][0] for m, rows in ranked.items() if rows["ranked"]}

    endpoints = queries.endpoints_in_force(con, at).to_dicts()
    by_model: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in endpoints:
        if row["telemetry_at"] is not None and row["telemetry_at"] > at:
            # Telemetry keeps only the newest observation: for a past day it is not what was known then.
            row.update(uptime_last_1d=None, latency_p50=None, throughput_p50=None, telemetry_at=None)
        by_model[row["model_id"]].append(row)

    sheets = _sheets_in_force(table, at)
    kept_keys = {r["endpoint_key"] for r in candidates.to_dicts() if filters.exclusion(r) is None}
    all_changes = queries.changes(con, EPOCH, at).to_dicts()
    changes_by_model: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for entry in all_changes:
        changes_by_model[entry["model_id"]].append(entry)
    histories = _price_histories(con, table, at)

    models = []
    for model in queries.models_as_of(con, at).to_dicts():
        mid = model["model_id"]
        rows = by_model.get(mid, [])
        for row in rows:
            sheet = sheets.get((mid, row["endpoint_key"]))
            row["sheet"] = sheet.sheet if sheet else None
            row["base_prompt"] = base_price(row["price_prompt"], row["discount"] or Decimal(0))
            row["base_completion"] = base_price(row["price_completion"], row["discount"] or Decimal(0))
            row["ranked"] = row["endpoint_key"] in kept_keys
        chat = rankings[DEFAULT.name].get(mid, {"ranked": [], "excluded": []})
        cheapest = chat["ranked"][0] if chat["ranked"] else None
        change: dict[int, Decimal | None] = {}
        for days in CHANGE_WINDOWS:
            before = past[days].get(mid)
            change[days] = (
                _pct(before["cost_per_request"], cheapest["cost_per_request"]) if before and cheapest else None
            )
        models.append(
            {
                **model,
                "endpoints_now": rows,
                "providers_count": len({r["provider_slug"] for r in rows}),
                "cheapest": cheapest,
                "change": change,
                "presets": {p.name: rankings[p.name].get(mid, {"ranked": [], "excluded": []}) for p in PRESETS},
                "routing": provider_routing(chat["ranked"], filters, 2),
                "changes": changes_by_model.get(mid, []),
                "history": histories.get(mid, []),
                "sheets": {r["endpoint_key"]: sheets.get((mid, r["endpoint_key"])) for r in rows},
            }
        )
    return SiteFacts(
        at=at,
        endpoint_start=endpoint_start,
        table=table,
        models=models,
        providers=_providers(con, at, endpoints),
        changes=all_changes,
        windows=windows,
    )


def _by_model(ranking: Any) -> dict[str, dict[str, list[dict[str, Any]]]]:
    out: dict[str, dict[str, list[dict[str, Any]]]] = defaultdict(lambda: {"ranked": [], "excluded": []})
    for row in ranking.ranked:
        group = out[row["model_id"]]["ranked"]
        group.append({**row, "rank": len(group) + 1})
    for row in ranking.excluded:
        out[row["model_id"]]["excluded"].append(row)
    return dict(out)


def _pct(old: str, new: str) -> Decimal | None:
    before, after = Decimal(old), Decimal(new)
    if before == 0:
        return None  # from free to priced (or free to free): no percentage says that
    return EXACT.divide((after - before) * 100, before)


def _sheets_in_force(table: PriceTable, at: datetime) -> dict[tuple[str, str], SheetVersion]:
    """The endpoint sheet in force at ``at``, by (model, endpoint key)."""
    found = {}
    for version in table.versions:
        if (
            version.kind == "endpoint"
            and version.valid_from <= at
            and (version.valid_to is None or version.valid_to > at)
        ):
            found[(version.model_id, version.key or version.tag or "")] = version
    return found


def _price_histories(con: Any, table: PriceTable, at: datetime) -> dict[str, list[dict[str, Any]]]:
    """Per model: every endpoint price version (and the model's list price) up to ``at``, with what the
    default workload cost per request under it, priced by the engine at the version's start."""
    versions = [v for v in table.versions if v.valid_from <= at and (v.kind == "endpoint" or v.kind == "model")]
    usage = [
        {
            "model": v.model_id,
            "endpoint": v.key or v.tag if v.kind == "endpoint" else None,
            "timestamp": v.valid_from,
            **DEFAULT.profile.usage_row(),
        }
        for v in versions
    ]
    if not usage:
        return {}
    frame = pl.DataFrame(
        usage, schema_overrides={"model": pl.String, "endpoint": pl.String, "timestamp": pl.Datetime("us", "UTC")}
    )
    priced = cost_usage(frame, table, at=at, breakdown=False)
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for version, status, price_source, cost in zip(
        versions, priced["status"], priced["price_source"], priced["cost_total"], strict=True
    ):
        if version.kind == "model" and price_source != "model":
            continue  # only a model-level row priced by the model's own sheet is its list price
        out[version.model_id].append(
            {
                "kind": version.kind,
                "key": version.key or version.tag if version.kind == "endpoint" else None,
                "tag": version.tag,
                "provider_name": version.provider_name,
                "valid_from": version.valid_from,
                "valid_to": version.valid_to if version.valid_to is None or version.valid_to <= at else None,
                "cost": cost if status == "ok" else None,
                "status": status,
                "prompt": version.sheet.prices["prompt"],
                "completion": version.sheet.prices["completion"],
            }
        )
    return dict(out)


def _median(values: list[Decimal]) -> Decimal | None:
    if not values:
        return None
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else EXACT.divide(ordered[mid - 1] + ordered[mid], Decimal(2))


def _providers(con: Any, at: datetime, endpoints: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each provider with its endpoints, each endpoint's prices against the median for the same model."""
    medians: dict[tuple[str, str], Decimal | None] = {}
    by_model: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in endpoints:
        by_model[row["model_id"]].append(row)
    for mid, rows in by_model.items():
        for key in ("prompt", "completion"):
            medians[(mid, key)] = _median(
                [r[f"price_{key}"] for r in rows if not r["price_dynamic"] and r[f"price_{key}"] is not None]
            )
    served: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in endpoints:
        entry = {**row, "peers": len(by_model[row["model_id"]])}
        for key in ("prompt", "completion"):
            median = medians[(row["model_id"], key)]
            price = row[f"price_{key}"]
            entry[f"median_{key}"] = median
            entry[f"vs_median_{key}"] = (
                EXACT.divide((price - median) * 100, median) if price is not None and median else None
            )
        served[row["provider_slug"]].append(entry)
    providers = []
    for provider in queries.providers_as_of(con, at).to_dicts():
        rows = served.get(provider["slug"], [])
        compared = [r["vs_median_prompt"] for r in rows if r["vs_median_prompt"] is not None and r["peers"] > 1]
        provider["endpoints_now"] = rows
        provider["cheaper_than_median"] = sum(1 for v in compared if v < 0)
        provider["dearer_than_median"] = sum(1 for v in compared if v > 0)
        provider["compared"] = len(compared)
        provider["median_vs_median"] = _median(compared)
        providers.append(provider)
    return providers


PRICE_FIELDS = tuple(f"price_{k}" for k in PRICE_KEYS)
