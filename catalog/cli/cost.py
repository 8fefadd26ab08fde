"""Cost commands: price usage files, find the cheapest endpoint, show a price sheet, reconcile bills."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import click
import polars as pl

from catalog.cli.common import db_option, json_option
from catalog.cli.output import emit_json, emit_table, per_million, progress_bar
from catalog.cost.engine import CHUNK_ROWS, MONEY_COLUMNS
from catalog.cost.profile import EndpointFilters, WorkloadProfile
from catalog.cost.reconcile import RELATIVE_TOLERANCE, reconcile_rows
from catalog.cost.usage import usage_frame
from catalog.errors import InputError
from catalog.library import Catalog
from catalog.money import base_price
from catalog.prices import OVERRIDE_CONDITIONS, PRICE_KEYS, PriceOverride, canonical
from catalog.usage_files import read_usage, read_usage_file

GROUPS = ("model", "provider", "endpoint", "day", "status")
PER_UNIT_KEYS = ("request", "image", "web_search")


def _write(frame: pl.DataFrame, out: Path) -> None:
    suffix = out.suffix.lower()
    if suffix == ".parquet":
        frame.write_parquet(out)
    elif suffix == ".csv":
        frame.write_csv(out)
    elif suffix in (".jsonl", ".ndjson"):
        frame.with_columns(pl.col(c).cast(pl.String) for c in MONEY_COLUMNS if c in frame.columns).write_ndjson(out)
    else:
        raise InputError(f"--out {out}: write .parquet, .csv or .jsonl")


def _group_keys(by: str | None) -> list[str]:
    keys = [k.strip() for k in by.split(",")] if by else []
    unknown = [k for k in keys if k not in GROUPS]
    if unknown:
        raise InputError(f"--by {', '.join(unknown)}: group by any of {', '.join(GROUPS)}")
    return keys


def summarise(priced: pl.DataFrame, keys: list[str]) -> pl.DataFrame:
    """Rows, priced rows and exact money totals, overall or per group."""
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
    grouped = frame.with_columns(pl.col(k).cast(pl.String) for k in keys if k != "day").group_by(keys)
    return grouped.agg(aggs).sort("cost_total", descending=True, nulls_last=True)


@click.command("cost")
@click.argument("usage_file", type=click.Path(path_type=Path))
@click.option(
    "--out", type=click.Path(dir_okay=False, path_type=Path), help="Write every priced row (.parquet, .csv, .jsonl)."
)
@click.option("--by", help=f"Summarise per group: comma-separated {', '.join(GROUPS)}.")
@click.option("--at", "at", help="Price rows without a timestamp at this time (default: now).")
@json_option
@db_option
def cost_cmd(usage_file: Path, out: Path | None, by: str | None, at: str | None, as_json: bool, db: str | None) -> None:
    """Price a usage file at the prices in force when each call was made."""
    keys = _group_keys(by)
    usage, problems = read_usage(usage_file)
    with Catalog.open(db) as cat:
        table = cat.table
        parts = []
        with progress_bar(f"costing {usage.height:,} rows", enabled=not as_json) as update:
            for done, chunk in enumerate(usage.iter_slices(CHUNK_ROWS), 1):
                parts.append(cat.cost(chunk, at=at))
                update(min(done * CHUNK_ROWS, usage.height), usage.height)
        priced = pl.concat(parts) if parts else cat.cost(usage, at=at)
    if out:
        _write(priced, out)
    summary = summarise(priced, keys)
    statuses = dict(priced.group_by("status").len().sort("status").iter_rows())
    if as_json:
        emit_json(
            {
                "rows": priced.height,
                "status": {str(k): v for k, v in statuses.items()},
                "unit": f"USD, exact (scale {table.scale})",
                "summary": summary.to_dicts(),
                "problems": problems,
            }
        )
        return
    headers = [*keys, "rows", "priced", "cost_total", "cost_base", "saving"]
    emit_table(
        f"{usage_file.name}: {priced.height:,} rows",
        headers,
        summary.select(headers).rows(),
        note=", ".join(f"{k}: {v:,}" for k, v in statuses.items()) + (f"; wrote {out}" if out else ""),
    )
    for problem in problems[:20]:
        click.echo(f"skipped: {problem}", err=True)


def _filters(**kw: Any) -> EndpointFilters:
    return EndpointFilters(
        min_context=kw["min_context"],
        min_max_completion=kw["min_max_completion"],
        parameters=tuple(kw["parameter"]),
        quantizations=tuple(kw["quantization"]),
        providers=tuple(kw["provider"]),
        exclude_providers=tuple(kw["exclude_provider"]),
        no_training=kw["no_training"],
        no_prompt_retention=kw["no_prompt_retention"],
        status_ok=not kw["any_status"],
        min_uptime=kw["min_uptime"],
        exclude_free=kw["exclude_free"],
    )


@click.command("cheapest")
@click.argument("model", required=False)
@click.option(
    "--input",
    "input_tokens",
    type=click.IntRange(min=0),
    default=1000,
    show_default=True,
    help="Input tokens per request.",
)
@click.option(
    "--output",
    "output_tokens",
    type=click.IntRange(min=0),
    default=500,
    show_default=True,
    help="Output tokens per request.",
)
@click.option("--cache-hit", default="0", show_default=True, help="Share of input read from the prompt cache (0–1).")
@click.option("--cache-write", default="0", show_default=True, help="Share of input written to the prompt cache (0–1).")
@click.option(
    "--cache-ttl", type=click.Choice(["5m", "1h"]), default="5m", show_default=True, help="Cache write lifetime."
)
@click.option("--reasoning", default="0", show_default=True, help="Share of output that is reasoning (0–1).")
@click.option("--requests", type=click.IntRange(min=1), default=1, show_default=True, help="Requests in the workload.")
@click.option("--images", type=click.IntRange(min=0), default=0, help="Input images per request.")
@click.option("--web-searches", type=click.IntRange(min=0), default=0, help="Web searches per request.")
@click.option("--min-context", type=click.IntRange(min=1), help="Minimum context length.")
@click.option("--min-max-completion", type=click.IntRange(min=1), help="Minimum max-completion tokens.")
@click.option(
    "--parameter", multiple=True, help="Required supported parameter (repeat): tools, response_format, reasoning …"
)
@click.option("--quantization", multiple=True, help="Allowed quantization (repeat): fp8, bf16 …")
@click.option("--provider", multiple=True, help="Only these providers (slug, name or tag; repeat).")
@click.option("--exclude-provider", multiple=True, help="Never these providers (repeat).")
@click.option("--no-training", is_flag=True, help="Only providers that do not train on prompts.")
@click.option("--no-prompt-retention", is_flag=True, help="Only providers that do not retain prompts.")
@click.option("--any-status", is_flag=True, help="Also rank endpoints whose status was not ok.")
@click.option("--exclude-free", is_flag=True, help="Leave out free endpoints (:free variants).")
@click.option("--min-uptime", type=float, help="Minimum uptime over the last day, percent (latest telemetry).")
@click.option(
    "--fallbacks", type=click.IntRange(min=0), default=2, show_default=True, help="Fallbacks in the routing object."
)
@click.option("--limit", type=click.IntRange(min=1), default=20, show_default=True, help="Rows to show.")
@click.option("--as-of", "as_of", help="Prices in force at this time (default: now).")
@json_option
@db_option
def cheapest_cmd(
    model: str | None, as_of: str | None, limit: int, fallbacks: int, as_json: bool, db: str | None, **kw: Any
) -> None:
    """Rank endpoints by what a workload costs (a model, or every model passing the filters)."""
    profile = WorkloadProfile(
        input_tokens=kw["input_tokens"],
        output_tokens=kw["output_tokens"],
        cache_hit=_decimal(kw["cache_hit"], "--cache-hit"),
        cache_write=_decimal(kw["cache_write"], "--cache-write"),
        cache_ttl=kw["cache_ttl"],
        reasoning=_decimal(kw["reasoning"], "--reasoning"),
        requests=kw["requests"],
        images=kw["images"],
        web_searches=kw["web_searches"],
    )
    with Catalog.open(db) as cat:
        ranking = cat.cheapest(model, profile, as_of=as_of, filters=_filters(**kw), fallbacks=fallbacks)
    if as_json:
        emit_json(ranking.to_dict())
        return
    rows = [
        (
            r.rank,
            r.model_id,
            r.tag,
            r.quantization,
            r.cost_per_request,
            r.cost_per_million_tokens,
            r.discount,
            ", ".join(f"{k} {v:.0%}" for k, v in list(r.term_shares.items())[:3]),
        )
        for r in ranking.ranked[:limit]
    ]
    emit_table(
        f"cheapest for {model or 'any model'} as of {ranking.at:%Y-%m-%d %H:%M}Z",
        ["#", "model", "endpoint", "quant", "$/request", "$/M tokens", "discount", "dominant terms"],
        rows,
        note=f"{ranking.explanation}\nprovider: {json.dumps(ranking.routing)}\n{len(ranking.excluded)} excluded",
    )


def _decimal(value: str, what: str) -> Decimal:
    try:
        return Decimal(value)
    except ArithmeticError:
        raise InputError(f"{what} {value!r} is not a number") from None


@click.command("price")
@click.argument("model")
@click.option("--provider", help="One endpoint: provider slug, name or tag.")
@click.option("--as-of", "as_of", help="Sheet in force at this time (default: now).")
@json_option
@db_option
def price_cmd(model: str, provider: str | None, as_of: str | None, as_json: bool, db: str | None) -> None:
    """Show a model's price sheets: every key, tiers, discount and the undiscounted base price."""
    with Catalog.open(db) as cat:
        sheets = cat.price_sheets(model, provider=provider, as_of=as_of)
    payload: list[dict[str, Any]] = []
    for v in sheets:
        s = v.sheet
        prices = {
            k: {"listed": canonical(s.prices[k]), "base": canonical(base_price(s.prices[k], s.discount))}
            for k in PRICE_KEYS
            if s.prices[k] != 0
        }
        payload.append(
            {
                "kind": v.kind,
                "model_id": v.model_id,
                "tag": v.tag,
                "provider": v.provider_name,
                "valid_from": v.valid_from,
                "valid_to": v.valid_to,
                "discount": canonical(s.discount),
                "dynamic": s.dynamic,
                "free": s.free,
                "prices": prices,
                "listed_text": s.original(),
                "tiers": [o.canonical() for o in s.overrides],
            }
        )
    if as_json:
        emit_json(payload)
        return
    rows: list[tuple[Any, ...]] = []
    for v in sheets:
        where, discount = v.tag or "(model)", canonical(v.sheet.discount)
        entries = [("", v.sheet.prices)] + [(f" [{_condition(o)}]", o.prices) for o in v.sheet.overrides]
        for suffix, sheet_prices in entries:
            for key, listed in sheet_prices.items():
                if listed != 0:
                    base = base_price(listed, v.sheet.discount)
                    rows.append((where, key + suffix, _shown(key, listed), _shown(key, base), discount))
    emit_table(
        f"{model} price sheets ($ per M tokens; $ per unit for request, image and web_search)",
        ["endpoint", "key", "listed", "base", "discount"],
        rows,
    )


def _condition(override: PriceOverride) -> str:
    return " ".join(
        f"{name}={getattr(override, name)}" for name in OVERRIDE_CONDITIONS if getattr(override, name) is not None
    )


def _shown(key: str, value: Decimal | None) -> str:
    """Per-token prices per million tokens; per-request / image / search prices as they are."""
    if value is not None and key in PER_UNIT_KEYS:
        return canonical(value)
    return per_million(value)


@click.command("reconcile")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@json_option
@db_option
def reconcile_cmd(files: tuple[Path, ...], as_json: bool, db: str | None) -> None:
    """Compare our cost of real response bodies with OpenRouter's billed usage.cost."""
    rows: list[dict[str, Any]] = []
    problems: list[str] = []
    for path in files:
        found, issues = read_usage_file(path)
        rows += found
        problems += issues
    with Catalog.open(db) as cat:
        priced = cat.cost(usage_frame(rows)) if rows else None
    verdicts = reconcile_rows(priced) if priced is not None else []
    counts: dict[str, int] = {}
    for v in verdicts:
        counts[v["verdict"]] = counts.get(v["verdict"], 0) + 1
    if as_json:
        emit_json(
            {"tolerance": f"relative {RELATIVE_TOLERANCE}", "counts": counts, "rows": verdicts, "skipped": problems}
        )
        return
    emit_table(
        "reconciliation with billed cost",
        ["source", "model", "provider", "priced by", "computed", "billed", "verdict", "why"],
        [
            (
                v["source"],
                v["model"],
                v["provider"],
                v["price_source"],
                v["computed"],
                v["billed"],
                v["verdict"],
                v["reason"],
            )
            for v in verdicts
        ],
        note=f"tolerance: relative {RELATIVE_TOLERANCE}; " + ", ".join(f"{k} {n}" for k, n in sorted(counts.items())),
    )
    for problem in problems:
        click.echo(f"skipped: {problem}", err=True)
