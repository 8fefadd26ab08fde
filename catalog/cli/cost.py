"""Cost commands: price usage files, find the cheapest endpoint, show a price sheet, reconcile bills."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from catalog.cli.common import LIMIT, F, db_option, json_option, writable_file
from catalog.cli.output import emit_json, emit_table, per_million_text, progress_bar
from catalog.cost.query import CHEAPEST, Param, build_query
from catalog.cost.totals import GROUPS, summarise, tally
from catalog.errors import InputError
from catalog.money import base_price
from catalog.prices import OVERRIDE_CONDITIONS, PRICE_KEYS, PriceOverride, canonical

if TYPE_CHECKING:
    import polars as pl

PER_UNIT_KEYS = ("request", "image", "web_search")


class _Writer:
    """``--out`` written batch by batch (Parquet row groups, CSV and JSONL appended), so a streamed input is
    never held whole."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.suffix = out.suffix.lower()  # one of OUT_SUFFIXES: checked before the costing (``writable_file``)
        self.parquet: Any = None
        self.handle: Any = None

    def write(self, frame: pl.DataFrame) -> None:
        import polars as pl

        from catalog.cost.engine import MONEY_COLUMNS

        try:
            if self.suffix == ".parquet":
                import pyarrow.parquet as pq

                table = frame.to_arrow()
                if self.parquet is None:
                    self.parquet = pq.ParquetWriter(self.out, table.schema)
                self.parquet.write_table(table.cast(self.parquet.schema))
                return
            first = self.handle is None
            if first:
                self.handle = self.out.open("wb")
            if self.suffix == ".csv":
                frame.write_csv(self.handle, include_header=first)
            else:
                money = (pl.col(c).cast(pl.String) for c in MONEY_COLUMNS if c in frame.columns)
                frame.with_columns(money).write_ndjson(self.handle)
        except OSError as err:  # the disk filled, or the folder went away while costing
            raise InputError(f"--out {self.out}: could not write it ({err.strerror or err})") from None

    def close(self) -> None:
        if self.parquet is not None:
            self.parquet.close()
        if self.handle is not None:
            self.handle.close()


OUT_SUFFIXES = (".parquet", ".csv", ".jsonl", ".ndjson")


def _no_rows() -> pl.DataFrame:
    """An empty usage batch: what an empty file prices to (zero rows, its summary row still there)."""
    from catalog.cost.usage import usage_frame

    return usage_frame([])


def _group_keys(by: str | None) -> list[str]:
    """The --by keys: any of GROUPS, or any column of the usage (checked when it is read)."""
    keys = [k.strip() for k in by.split(",")] if by else []
    if any(not k for k in keys) or len(set(keys)) != len(keys):
        raise InputError(f"--by {by}: give distinct names, comma-separated: {', '.join(GROUPS)} or a usage column")
    return keys


@click.command("cost")
@click.argument("usage_file", type=click.Path(path_type=Path))
@click.option(
    "--out", type=click.Path(dir_okay=False, path_type=Path), help="Write every priced row (.parquet, .csv, .jsonl)."
)
@click.option("--by", help=f"Summarise per group: comma-separated {', '.join(GROUPS)} or any usage column.")
@click.option("--at", "at", help="Price rows without a timestamp at this time (default: now).")
@json_option
@db_option
def cost_cmd(usage_file: Path, out: Path | None, by: str | None, at: str | None, as_json: bool, db: str | None) -> None:
    """Price a usage file at the prices in force when each call was made.

    USAGE_FILE is a CSV, Parquet or JSONL file, JSON / SSE response bodies, or a folder of Parquet or CSV
    files. Parquet files and folders are streamed in batches, so they may be larger than memory. Totals are
    computed by linearity (rate × Σ counts per price variant); --out also writes every priced row."""
    import polars as pl

    from catalog.cost.engine import STATUSES, cost_usage
    from catalog.cost.linear import combine, finish, partial_sums
    from catalog.cost.totals import BatchTotals, merge_summaries
    from catalog.library import Catalog
    from catalog.times import parse_instant
    from catalog.usage_files import BATCH_ROWS, read_usage, streams, usage_batches

    keys = _group_keys(by)
    if out is not None:
        writable_file(out, OUT_SUFFIXES, "--out")
    when = parse_instant(at, what="--at") if at else datetime.now(UTC)  # one instant for every batch
    problems: list[str] = []
    if streams(usage_file):
        total_rows, batches = usage_batches(usage_file)
    else:
        usage, problems = read_usage(usage_file)
        total_rows, batches = usage.height, iter(usage.iter_slices(BATCH_ROWS) if usage.height else [usage])
    writer = _Writer(out) if out else None
    with Catalog.open(db) as cat:
        table = cat.table
        partial = None
        summaries = []
        statuses: dict[str, int] = {}
        done = 0
        with progress_bar(f"costing {usage_file.name}", enabled=not as_json, unit="rows") as update:
            try:
                for batch in batches:
                    if writer is not None:  # every row priced and written; the summary from the same rows
                        priced = cost_usage(batch, table, at=when)
                        writer.write(priced)
                        summaries.append(summarise(priced, keys))
                        for status, count in tally(priced["status"]).items():
                            statuses[status] = statuses.get(status, 0) + count
                    else:
                        sums = partial_sums(batch, table, keys=keys, at=when)
                        partial = sums if partial is None else combine([partial, sums], keys)
                    done += batch.height
                    update(done, total_rows)
            finally:
                if writer is not None:
                    writer.close()
        if writer is not None:
            summary = merge_summaries(summaries, keys) if summaries else summarise(cost_usage(_no_rows(), table), keys)
            by_status = {s: statuses[s] for s in STATUSES if s in statuses}
            totals = BatchTotals(rows=done, by_status=by_status, cost_total=Decimal(summary["cost_total"].sum() or 0))
        else:
            linear = finish(partial if partial is not None else partial_sums(_no_rows(), table, keys=keys), table, keys)
            summary = linear.summary
            totals = BatchTotals(rows=linear.rows, by_status=linear.by_status, cost_total=linear.cost_total)
    priced_rows = done
    if as_json:
        emit_json(
            {
                "rows": totals.rows,
                "status": totals.by_status,
                "unit": f"USD, exact (scale {table.scale})",
                # A day as ISO text (`--by day` gave a date the JSON encoder refused).
                "summary": summary.with_columns(pl.col(pl.Date).cast(pl.String)).to_dicts(),
                "problems": problems,
            }
        )
        return
    headers = [*keys, "rows", "priced", "cost_total", "cost_base", "saving"]
    emit_table(
        f"{usage_file.name}: {priced_rows:,} rows",
        headers,
        summary.select(headers).rows(),
        note=", ".join(f"{k}: {v:,}" for k, v in totals.by_status.items()) + (f"; wrote {out}" if out else ""),
    )
    for problem in problems[:20]:
        click.echo(f"skipped: {problem}", err=True)


def _cheapest_option(param: Param) -> Callable[[F], F]:
    """The click option of one cheapest-query parameter (its default is the spec's)."""
    kw: dict[str, Any] = {"help": param.help}
    if param.kind == "flag":
        kw["is_flag"] = True
    elif param.kind == "names":
        kw["multiple"] = True
    else:
        if param.default is not None:
            kw["default"] = param.default
            kw["show_default"] = param.show_default
        if param.kind == "count":
            kw["type"] = click.IntRange(min=param.minimum, max=param.maximum)  # the API's bounds too
        elif param.kind == "choice":
            kw["type"] = click.Choice(list(param.choices))
        elif param.kind == "percent":
            kw["type"] = click.FloatRange(param.minimum, param.maximum)  # NaN passes here; the filters refuse it
        elif param.kind == "number":
            kw["type"] = click.FloatRange(min=0)
        elif param.kind == "money":
            kw["type"] = str
            kw["metavar"] = "USD"
    return click.option(param.option, param.name, **kw)


def cheapest_options(func: F) -> F:
    """Every parameter of the cheapest query, in order, as click options."""
    for param in reversed(CHEAPEST):
        func = _cheapest_option(param)(func)
    return func


@click.command("cheapest")
@click.argument("model", required=False)
@cheapest_options
@click.option("--limit", type=LIMIT, default=20, show_default=True, help="Rows to show (ranked and excluded).")
@click.option("--as-of", "as_of", help="Prices in force at this time (default: the newest snapshot).")
@json_option
@db_option
def cheapest_cmd(model: str | None, as_of: str | None, limit: int, as_json: bool, db: str | None, **kw: Any) -> None:
    """Rank endpoints by what a workload costs (a model, or every model passing the filters).

    The header names the snapshot the answer comes from and the data's age; a stale history (newest
    snapshot older than CATALOG_STALE_AFTER, default 2h) is one warning on stderr. Excluded endpoints are
    listed with the limit each one fails."""
    from catalog.library import Catalog

    query = build_query(kw, lambda text, param: _decimal(text, param.option))
    with Catalog.open(db) as cat:
        ranking = cat.cheapest(model, query.profile, as_of=as_of, filters=query.filters, fallbacks=query.fallbacks)
    warning = ranking.data.warning() if ranking.data is not None else None
    if warning:
        click.echo(warning, err=True)
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
        _cheapest_title(model, ranking),
        ["#", "model", "endpoint", "quant", "$/request", "$/M tokens", "discount", "dominant terms"],
        rows,
        note="\n".join(_cheapest_notes(ranking, limit)),
    )
    if ranking.excluded:
        shown = ranking.excluded[:limit]
        rest = len(ranking.excluded) - len(shown)
        emit_table(
            f"excluded: {len(ranking.excluded)}",
            ["model", "endpoint", "requirement", "why"],
            [(e["model_id"], e["tag"], e.get("requirement"), e["reason"]) for e in shown],
            note=f"{rest} more excluded (--limit to show more, --json for all)" if rest else None,
        )


def _cheapest_title(model: str | None, ranking: Any) -> str:
    title = f"cheapest for {model or 'any model'} as of {ranking.at:%Y-%m-%d %H:%M}Z"
    data = ranking.data
    if data is not None and data.snapshot_at is not None:
        title += f" · data from {data.snapshot_at:%Y-%m-%d %H:%M}Z ({data.age_text} old)"
    elif data is not None:
        title += f" · before the first snapshot (newest {data.newest_snapshot_at:%Y-%m-%d %H:%M}Z, {data.age_text} old)"
    return title


def _cheapest_notes(ranking: Any, limit: int) -> list[str]:
    notes = [ranking.explanation]
    note = getattr(ranking, "note", None)
    if note:
        notes.append(note)
    routing = getattr(ranking, "default_routing", None)
    if routing is not None:
        notes.append(
            f"default routing ≈ ${canonical(routing.expected_cost_per_request)} per request; pinning saves "
            f"${canonical(routing.saving_per_request)} ({canonical(routing.saving_percent)} %)"
        )
    if len(ranking.ranked) > limit:
        notes.append(f"{len(ranking.ranked) - limit} more ranked (--limit to show more)")
    notes.append(f"provider: {json.dumps(ranking.routing)}")
    return notes


def _decimal(value: str, what: str) -> Decimal:
    try:
        return Decimal(value)
    except ArithmeticError:
        raise InputError(f"{what} {value!r} is not a number") from None


@click.command("price")
@click.argument("model")
@click.option("--provider", help="One endpoint: provider slug, name or tag.")
@click.option("--as-of", "as_of", help="Sheet in force at this time (default: the newest snapshot).")
@json_option
@db_option
def price_cmd(model: str, provider: str | None, as_of: str | None, as_json: bool, db: str | None) -> None:
    """Show a model's price sheets: every key, tiers, discount and the undiscounted base price."""
    from catalog.library import Catalog

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
    return per_million_text(value)


@click.command("reconcile")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@json_option
@db_option
def reconcile_cmd(files: tuple[Path, ...], as_json: bool, db: str | None) -> None:
    """Compare our cost of real response bodies with OpenRouter's billed usage.cost."""
    from catalog.cost.reconcile import RELATIVE_TOLERANCE, reconcile_rows
    from catalog.cost.usage import usage_frame
    from catalog.library import Catalog
    from catalog.usage_files import read_usage_file

    rows: list[dict[str, Any]] = []
    problems: list[str] = []
    for path in files:
        found, issues = read_usage_file(path)
        rows += found
        problems += issues
    with Catalog.open(db) as cat:
        priced = cat.cost(usage_frame(rows)) if rows else None
    verdicts = reconcile_rows(priced) if priced is not None else []
    counts = tally(v["verdict"] for v in verdicts)
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
