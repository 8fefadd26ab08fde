"""Cost commands: price usage files, find the cheapest endpoint, show a price sheet, reconcile bills."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from catalog.cli.common import (
    LIMIT,
    F,
    FilePath,
    Number,
    Whole,
    db_option,
    instant,
    json_option,
    writable_file,
)
from catalog.cli.output import emit_json, emit_table, per_million_text, progress_bar
from catalog.cost.query import CHEAPEST, Param, build_query
from catalog.cost.totals import GROUPS, summarise, tally
from catalog.cost.units import UNIT_COUNTS
from catalog.errors import InputError
from catalog.money import base_price
from catalog.prices import OVERRIDE_CONDITIONS, PRICE_KEYS, PriceOverride, canonical

if TYPE_CHECKING:
    import polars as pl

PER_UNIT_KEYS = ("request", "image", "web_search")
BODIES_LINE = "read as response bodies (OpenRouter, OpenAI, Anthropic or Gemini, told apart body by body)"
# `catalog cost --help` ends with the names it reads; tests/test_docs.py keeps the README's list equal to it.
COST_EPILOG = """\b
Accepted names (each shape's counts; then its other columns). Nested objects may stay nested (JSONL,
Parquet) or be flattened as a.b or a_b columns, in any case; timestamp, model, provider, endpoint and id are
read in every shape.
  contract              prompt_tokens completion_tokens cache_read_tokens cache_write_tokens
                        cache_write_1h_tokens audio_input_tokens reasoning_tokens image_output_tokens
                        audio_output_tokens requests images web_searches; billed_cost upstream_cost is_byok
  every shape           other kinds of model, in their own units (exact decimals, read in every shape):
                        input_images output_images megapixels video_seconds video_resolution
                        speech_characters audio_minutes search_units songs — priced at the SKU prices of
                        the endpoint in force at the row's time; a video, speech, transcription, rerank,
                        music or image model's row without its unit is invalid, never $0
  openai-chat           prompt_tokens completion_tokens prompt_tokens_details.cached_tokens
                        prompt_tokens_details.cache_write_tokens prompt_tokens_details.audio_tokens
                        completion_tokens_details.reasoning_tokens completion_tokens_details.audio_tokens
                        completion_tokens_details.image_tokens server_tool_use_details.web_search_requests;
                        created cost cost_details.upstream_inference_cost is_byok
  openai-responses      input_tokens output_tokens input_tokens_details.cached_tokens
                        input_tokens_details.cache_write_tokens output_tokens_details.reasoning_tokens
                        server_tool_use_details.web_search_requests; created_at cost
                        cost_details.upstream_inference_cost is_byok
  anthropic             input_tokens cache_read_input_tokens cache_creation_input_tokens
                        cache_creation.ephemeral_5m_input_tokens cache_creation.ephemeral_1h_input_tokens
                        output_tokens output_tokens_details.thinking_tokens
                        server_tool_use.web_search_requests
  genai-prices          input_tokens output_tokens cache_read_tokens cache_write_tokens input_audio_tokens
                        cache_audio_read_tokens output_audio_tokens requests
  openrouter-generation native_tokens_prompt native_tokens_completion native_tokens_cached
                        native_tokens_reasoning native_tokens_completion_images; created_at provider_name
                        total_cost upstream_inference_cost is_byok
  openrouter-activity   prompt_tokens completion_tokens reasoning_tokens requests; date provider_name usage
                        byok_usage_inference
  litellm               prompt_tokens completion_tokens; startTime custom_llm_provider request_id spend

\b
Example (CSV), read as openai-responses (Anthropic and genai-prices read it the same way):
  timestamp,model,input_tokens,output_tokens
  2026-08-01T12:00:00Z,deepseek/deepseek-v3.2,20000,1000
"""


class _Writer:
    """``--out`` written batch by batch (Parquet row groups, CSV and JSONL appended), so a streamed input is
    never held whole. Parquet keeps DECIMAL; the text formats get each amount as exact decimal text in its
    shortest spelling (0.0035, never 0.003500000000000000000000)."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.suffix = out.suffix.lower()  # one of OUT_SUFFIXES: checked before the costing (``writable_file``)
        self.parquet: Any = None
        self.handle: Any = None
        self.columns: list[str] | None = None

    def write(self, frame: pl.DataFrame) -> None:
        import polars as pl

        # One set of columns in one order for every batch: a batch with no row of a unit model has no
        # ``cost_units`` / ``unit_skus`` (the unit pass adds them only where it has work), and a CSV header is
        # written once, so a later batch with them would shift its cells under the wrong names.
        scale = frame.schema["cost_total"].scale if "cost_total" in frame.columns else 24  # type: ignore[attr-defined]
        for name, dtype in (("cost_units", pl.Decimal(38, scale)), ("unit_skus", pl.String)):
            if name not in frame.columns:
                frame = frame.with_columns(pl.lit(None, dtype).alias(name))
        if self.columns is None:
            self.columns = frame.columns
        frame = frame.select(self.columns)
        try:
            if self.suffix == ".parquet":
                import pyarrow.parquet as pq

                table = frame.to_arrow()
                if self.parquet is None:
                    self.parquet = pq.ParquetWriter(self.out, table.schema)
                self.parquet.write_table(table.cast(self.parquet.schema))
                return
            money = [c for c in frame.columns if frame.schema[c].is_decimal()]
            texts = frame.with_columns(exact_text(pl.col(c)).alias(c) for c in money)
            first = self.handle is None
            if first:
                self.handle = self.out.open("wb")
            if self.suffix == ".csv":
                texts.write_csv(self.handle, include_header=first)
            else:
                texts.write_ndjson(self.handle)
        except OSError as err:  # the disk filled, or the folder went away while costing
            raise InputError(f"--out {self.out}: could not write it ({err.strerror or err})") from None

    def close(self) -> None:
        if self.parquet is not None:
            self.parquet.close()
        if self.handle is not None:
            self.handle.close()


def exact_text(column: pl.Expr) -> pl.Expr:
    """A Decimal column as exact decimal text without trailing zeros (null stays null: no amount, not 0)."""
    import polars as pl

    text = column.cast(pl.String)
    trimmed = text.str.replace(r"(\.\d*?)0+$", "$1").str.replace(r"\.$", "")
    return pl.when(trimmed.is_in(["-0", ""])).then(pl.lit("0")).otherwise(trimmed)


OUT_SUFFIXES = (".parquet", ".csv", ".jsonl", ".ndjson")
SUMMARY_MONEY = ("cost_total", "cost_base", "saving")


def _no_rows() -> pl.DataFrame:
    """An empty usage batch: what an empty file prices to (zero rows, its summary row still there)."""
    from catalog.cost.usage import usage_frame

    return usage_frame([])


def _group_keys(by: str | None) -> list[str]:
    """The --by keys: any of GROUPS, or any column of the usage (checked when it is read)."""
    if by is None:
        return []
    keys = [k.strip() for k in by.split(",")]
    if any(not k for k in keys) or len(set(keys)) != len(keys):
        raise InputError(f"--by {by!r}: give distinct names, comma-separated: {', '.join(GROUPS)} or a usage column")
    return keys


def _with_total(summary: pl.DataFrame, keys: list[str]) -> pl.DataFrame:
    """The groups (costliest first), then the grand total as the last row (``total`` true); money stays blank
    where nothing was priced, which is not $0."""
    import polars as pl

    from catalog.cost.totals import merge_summaries

    flagged = summary.with_columns(pl.lit(not keys).alias("total"))
    if not keys:
        return flagged
    grand = merge_summaries([summary.drop(keys)], []).with_columns(
        *(pl.lit(None).cast(summary.schema[k]).alias(k) for k in keys), pl.lit(True).alias("total")
    )
    return pl.concat([flagged, grand.select(flagged.columns)], how="vertical_relaxed")


def _billed_summary(priced: pl.DataFrame, keys: list[str]) -> pl.DataFrame:
    """Per group and in all, beside the money: the billed total, the difference and the verdicts."""
    import polars as pl

    from catalog.cost.reconcile import billed_summary
    from catalog.cost.totals import summarise

    parts: list[pl.DataFrame] = []
    for group in (keys, []):
        frame = summarise(priced, group)
        extra = billed_summary(priced, group)
        frame = (
            frame.join(extra, on=group, how="left", nulls_equal=True)
            if group
            else pl.concat([frame, extra], how="horizontal")
        )
        frame = frame.with_columns(pl.lit(not group).alias("total"))
        if parts:  # the grand total of the groups in parts[0]: its key cells blank, of the groups' types
            frame = frame.with_columns(pl.lit(None).cast(parts[0].schema[k]).alias(k) for k in keys)
        parts.append(frame.select(*keys, *[c for c in frame.columns if c not in keys]))
        if not keys:
            break
    return pl.concat(parts, how="vertical_relaxed")


SHAPE_HELP = "Read the usage as this shape (a name below) instead of detecting it."


def usage_shape_options(func: F) -> F:
    """``--format``, ``--map`` and ``--ignore-column``: how a usage file's columns are read, the same for every
    command that reads one (``cost``, ``reconcile``); the command passes them to ``read_usage`` as
    ``forced=shape, maps=parse_maps(maps), ignore=ignored``."""
    for option in reversed(
        (
            click.option("--format", "shape", metavar="NAME", help=SHAPE_HELP),
            click.option(
                "--map",
                "maps",
                multiple=True,
                metavar="COLUMN=FIELD",
                help="Read COLUMN as the usage field FIELD (prompt_tokens, cache_read_tokens, model, timestamp, "
                "billed_cost, …).",
            ),
            click.option(
                "--ignore-column",
                "ignored",
                multiple=True,
                metavar="COLUMN",
                help="Leave out a column that looks like a count but is not one to price.",
            ),
        )
    ):
        func = option(func)
    return func


def _shaped(batches: Iterator[pl.DataFrame], options: dict[str, Any]) -> tuple[Iterator[pl.DataFrame], Any]:
    """Streamed batches read as their shape: the first batch decides (and reports) it, every batch is read the
    same way (a later batch with other columns is refused by ``read_shape`` like any file would be)."""
    from catalog.cost.shapes import read_shape

    first = next(batches, None)
    if first is None:
        return iter(()), None
    shaped, report = read_shape(first, **options)
    forced = {**options, "forced": report.shape}  # every batch as the first one was read

    def rest() -> Iterator[pl.DataFrame]:
        yield shaped
        for batch in batches:
            yield read_shape(batch, **forced)[0]

    return rest(), report


@click.command("cost", epilog=COST_EPILOG)
@click.argument("usage_file", type=FilePath(path_type=Path))
@click.option(
    "--out", type=FilePath(dir_okay=False, path_type=Path), help="Write every priced row (.parquet, .csv, .jsonl)."
)
@click.option("--by", help=f"Summarise per group: comma-separated {', '.join(GROUPS)} or any usage column.")
@click.option("--at", "at", help="Price rows without a timestamp at this time (default: now).")
@usage_shape_options
@json_option
@db_option
def cost_cmd(
    usage_file: Path,
    out: Path | None,
    by: str | None,
    at: str | None,
    shape: str | None,
    maps: tuple[str, ...],
    ignored: tuple[str, ...],
    as_json: bool,
    db: str | None,
) -> None:
    """Price a usage file at the prices in force when each call was made.

    USAGE_FILE is a CSV, Parquet or JSONL file of usage rows, JSON / JSONL / SSE of raw response bodies, or a
    folder of Parquet or CSV files; Parquet files and folders are streamed in batches, so they may be larger
    than memory. The row shape is detected (see below) and named on stderr with the columns read; a column
    that looks like a count and is read by nothing is an error, and a row without any count is invalid, never
    free. Totals are computed by linearity (rate × Σ counts per price variant); --out also writes every priced
    row, and rows with a billed cost are compared with it row by row."""
    import itertools

    import polars as pl

    from catalog.cost.engine import STATUSES, cost_usage
    from catalog.cost.linear import combine, finish, partial_sums
    from catalog.cost.reconcile import compare_billed, has_billed
    from catalog.cost.shapes import check_shape, parse_maps
    from catalog.cost.totals import BatchTotals, merge_summaries
    from catalog.cost.unit_usage import merge_money, needs_units, price_units, unit_rows
    from catalog.library import Catalog
    from catalog.usage_files import BATCH_ROWS, read_usage, streams, usage_batches

    # Every option, and the history, checked before the file is read: a bad value is refused before any work.
    keys = _group_keys(by)
    if out is not None:
        writable_file(out, OUT_SUFFIXES, "--out")
    options: dict[str, Any] = {"forced": check_shape(shape), "maps": parse_maps(maps), "ignore": ignored}
    # The library's reading of a day (its end); one instant for every batch's rows without a time.
    when = instant(at, bound="end", what="--at") or datetime.now(UTC)
    problems: list[str] = []
    writer = _Writer(out) if out else None
    with Catalog.open(db) as cat:
        if streams(usage_file):
            total_rows, raw = usage_batches(usage_file)
            batches, report = _shaped(raw, options)
        else:
            usage, problems, report = read_usage(usage_file, **options)
            total_rows, batches = usage.height, iter(usage.iter_slices(BATCH_ROWS) if usage.height else [usage])
        first = next(batches, None)
        billed = first is not None and has_billed(first)
        batches = itertools.chain([first] if first is not None else [], batches)
        table = cat.table
        units = cat.unit_skus
        partial = None
        summaries: list[pl.DataFrame] = []
        kept: list[pl.DataFrame] = []  # billed rows, compared per group once all are priced
        statuses: dict[str, int] = {}
        done = 0
        with progress_bar(f"costing {usage_file.name}", enabled=not as_json, unit="rows") as update:
            try:
                for batch in batches:
                    size = batch.height
                    if not (writer is not None or billed) and needs_units(batch, units):
                        # Rows of other kinds of model are priced per row (their SKUs are not linear rates of
                        # the price table); the rest of the batch keeps the linear path.
                        mask = unit_rows(batch, units)
                        priced = price_units(cost_usage(batch.filter(mask), table, at=when), table, units)
                        summaries.append(summarise(priced, keys))
                        for status, count in tally(priced["status"]).items():
                            statuses[status] = statuses.get(status, 0) + count
                        batch = batch.filter(~mask)
                    if writer is not None or billed:  # every row priced; the summary from the same rows
                        priced = price_units(cost_usage(batch, table, at=when), table, units)
                        if billed:
                            priced = compare_billed(priced)
                            kept.append(priced)
                        else:
                            summaries.append(summarise(priced, keys))
                        if writer is not None:
                            writer.write(priced)
                        for status, count in tally(priced["status"]).items():
                            statuses[status] = statuses.get(status, 0) + count
                    else:
                        sums = partial_sums(batch, table, keys=keys, at=when)
                        partial = sums if partial is None else combine([partial, sums], keys)
                    done += size
                    update(done, total_rows)
            finally:
                if writer is not None:
                    writer.close()
        if billed:
            priced = pl.concat(kept, how="vertical_relaxed")
            summary = _billed_summary(priced, keys)
        elif writer is not None:
            grouped = (
                merge_summaries(merge_money(summaries), keys)
                if summaries
                else summarise(cost_usage(_no_rows(), table), keys)
            )
            summary = _with_total(grouped, keys)
        else:
            linear = finish(partial if partial is not None else partial_sums(_no_rows(), table, keys=keys), table, keys)
            linear, summary = _linear_with_units(linear, summaries, statuses, keys)
        if billed or writer is not None:
            by_status = {s: statuses[s] for s in STATUSES if s in statuses}
            grand = summary.row(summary.height - 1, named=True)
            totals = BatchTotals(rows=done, by_status=by_status, cost_total=Decimal(grand["cost_total"] or 0))
        else:
            totals = BatchTotals(rows=linear.rows, by_status=linear.by_status, cost_total=linear.cost_total)
    # Said once the rows are costed: a column refused while costing (is_byok "yes") is then the only line.
    click.echo(report.line() if report else BODIES_LINE, err=True)
    if as_json:
        emit_json(
            {
                "rows": totals.rows,
                "status": totals.by_status,
                "unit": f"USD, exact (scale {table.scale})",
                "shape": report.to_dict() if report else {"shape": "bodies", "title": BODIES_LINE},
                # A day as ISO text (`--by day` gave a date the JSON encoder refused).
                "summary": summary.with_columns(pl.col(pl.Date).cast(pl.String)).to_dicts(),
                "verdicts": tally(priced["verdict"]) if billed else {},
                "problems": problems,
            }
        )
        return
    money = ["billed", "difference", "verdict"] if billed else []
    headers = [*keys, "rows", "priced", *SUMMARY_MONEY, *money]
    rows = summary.select(headers).rows()
    if keys:  # the last row is the grand total: say so in the first key column
        rows[-1] = ("total", *rows[-1][1:])
    emit_table(
        f"{usage_file.name}: {done:,} rows",
        headers,
        rows,
        note=", ".join(f"{k}: {v:,}" for k, v in totals.by_status.items()) + (f"; wrote {out}" if out else ""),
    )
    for problem in problems[:20]:
        click.echo(f"skipped: {problem}", err=True)


def _linear_with_units(
    linear: Any, summaries: list[pl.DataFrame], statuses: dict[str, int], keys: list[str]
) -> tuple[Any, pl.DataFrame]:
    """The linear totals with the rows of other kinds of model (priced per row in their units: ``summaries``,
    ``statuses``) added exactly, and the summary table with its grand total."""
    from dataclasses import replace

    import polars as pl

    from catalog.cost.engine import STATUSES
    from catalog.cost.totals import merge_summaries
    from catalog.cost.unit_usage import merge_money

    if not summaries:
        return linear, _with_total(linear.summary, keys)
    parts = merge_money([linear.summary.select(summaries[0].columns), *summaries])
    merged = merge_summaries(
        [p.with_columns(pl.col(k).cast(pl.String) for k in keys if k != "day") for p in parts], keys
    )
    summary = _with_total(merged, keys)
    by_status = dict(linear.by_status)
    for status, count in statuses.items():
        by_status[status] = by_status.get(status, 0) + count
    grand = summary.row(summary.height - 1, named=True)
    return replace(
        linear,
        rows=linear.rows + sum(statuses.values()),
        by_status={s: by_status[s] for s in STATUSES if by_status.get(s)},
        cost_total=Decimal(grand["cost_total"] or 0),
    ), summary


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
            kw["type"] = Whole(min=param.minimum, max=param.maximum)  # the API's bounds too
        elif param.kind == "choice":
            kw["type"] = click.Choice(list(param.choices))
        elif param.kind == "percent":
            kw["type"] = Number(param.minimum, param.maximum)  # finite: NaN would pass any range
        elif param.kind == "number":
            kw["type"] = Number(min=0)
        elif param.kind == "money":
            kw["type"] = str
            kw["metavar"] = "USD"
    return click.option(param.option, param.name, **kw)


def cheapest_options(func: F) -> F:
    """Every parameter of the cheapest query, in order, as click options."""
    for param in reversed(CHEAPEST):
        func = _cheapest_option(param)(func)
    return func


UNIT_OPTIONS = UNIT_COUNTS  # option -> the unit it counts (catalog.cost.units)


class UnitCount(click.ParamType):
    """A count of a unit as an exact ``Decimal`` (8, 2.5 megapixels), never through a float."""

    name = "count"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, Decimal):
            return value
        text = str(value).strip()
        try:
            count = Decimal(text) if len(text) <= 40 else None
        except ArithmeticError:
            count = None
        if count is None or not count.is_finite() or count < 0:
            self.fail(f"{text[:40]!r} is not a count; write a number of at least 0, e.g. 8 or 2.5", param, ctx)
        return count


def unit_options(func: F) -> F:
    """The non-text workload: a kind and the counts its models bill by."""
    for name, unit in reversed(UNIT_OPTIONS.items()):
        func = click.option(f"--{name}", type=UnitCount(), help=f"Non-text workload: {unit}s to price.")(func)
    func = click.option(
        "--variant", help="Non-text workload: a SKU variant every price used must carry (multilingual, with_audio…)."
    )(func)
    func = click.option("--resolution", help="Non-text workload: a resolution (720p, 1080p, 4k, 2k…).")(func)
    return click.option(
        "--kind",
        help="Rank the endpoints of this kind of model (embeddings, image, video, speech, transcription, rerank, "
        "audio/music) in their own units: --seconds, --characters, --minutes, --searches, --songs, --megapixels, "
        "--images (output images), embeddings: --input tokens.",
    )(func)


@click.command("cheapest")
@click.argument("model", required=False)
@cheapest_options
@unit_options
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

    kind = kw.pop("kind")
    units = {name: kw.pop(name) for name in UNIT_OPTIONS}
    resolution, variant = kw.pop("resolution"), kw.pop("variant")
    if kind is not None:
        _cheapest_units(model, kind, units, resolution, variant, kw, as_of, limit, as_json, db)
        return
    given = [name for name, v in {**units, "resolution": resolution, "variant": variant}.items() if v is not None]
    if given:  # never ignored in silence: these count only for a model kind priced in its own units
        raise click.BadParameter(
            "prices a workload of another kind of model: add --kind (video, speech, image, …)",
            param_hint=f"--{given[0]}",
        )

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


def _cheapest_units(
    model: str | None,
    kind: str | None,
    units: dict[str, Any],
    resolution: str | None,
    variant: str | None,
    token_options: dict[str, Any],
    as_of: str | None,
    limit: int,
    as_json: bool,
    db: str | None,
) -> None:
    """``catalog cheapest --kind …``: endpoints of one kind ranked by the exact cost of counts in their units
    (``Catalog.cheapest_units``, the engine the API and Python share)."""
    from catalog.cost.units import WorkloadError, unit_workload
    from catalog.library import Catalog

    instant(as_of, bound="end", what="--as-of")  # a bad --as-of is refused before the history is opened
    tokens = {"input": token_options.get("input"), "images": token_options.get("images")}
    try:
        unit_workload(kind, units, resolution, variant, tokens)  # a bad workload too
        with Catalog.open(db) as cat:
            ranking = cat.cheapest_units(
                kind or "",
                model,
                as_of=as_of,
                resolution=resolution,
                variant=variant,
                input_tokens=token_options.get("input"),
                images=token_options.get("images"),
                **units,
            )
    except WorkloadError as err:
        raise click.BadParameter(str(err), param_hint=f"--{err.parameter}") from None
    warning = ranking.data.warning() if ranking.data is not None else None
    if warning:
        click.echo(warning, err=True)
    if as_json:
        emit_json(ranking.to_dict())
        return
    workload = ranking.workload
    asked = ", ".join(f"{v} {k}s" for k, v in workload.counts.items())
    asked += f" at {'/'.join(workload.variant)}" if workload.variant else ""
    title = _cheapest_title(model, ranking).replace("cheapest for", f"cheapest {ranking.kind} for {asked}:", 1)
    emit_table(
        title,
        ["#", "model", "endpoint", "$ total", "SKUs used (price per its own unit)"],
        [
            (
                e["rank"],
                e["model_id"],
                e["tag"],
                e["cost"],
                # the unit the SKU bills, which may not be the one counted: minutes priced "$0.111 per hour"
                ", ".join(f"{r['sku']} (${canonical(r['usd'])} per {r['per']})" for r in e["rates"].values()),
            )
            for e in ranking.ranked[:limit]
        ],
        note=f"{len(ranking.ranked) - limit} more ranked (--limit to show more)"
        if len(ranking.ranked) > limit
        else None,
    )
    if ranking.excluded:
        shown = ranking.excluded[:limit]
        rest = len(ranking.excluded) - len(shown)
        emit_table(
            f"excluded: {len(ranking.excluded)}",
            ["model", "endpoint", "why"],
            [(e["model_id"], e["tag"], e["reason"]) for e in shown],
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
    from catalog.money import AmountFormatError, parse_amount

    try:
        return parse_amount(value, what)
    except AmountFormatError:  # the one reading of decimal text: ASCII digits, finite
        raise InputError(f"{what} {value!r} is not a number; write e.g. 0.8") from None


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


@click.command("reconcile", epilog=COST_EPILOG)
@click.argument("files", nargs=-1, required=True, type=FilePath(path_type=Path))
@usage_shape_options
@json_option
@db_option
def reconcile_cmd(
    files: tuple[Path, ...],
    shape: str | None,
    maps: tuple[str, ...],
    ignored: tuple[str, ...],
    as_json: bool,
    db: str | None,
) -> None:
    """Compare our cost with what was billed, row by row: response bodies (OpenRouter's usage.cost) or usage
    files with a billed column (GET /generation total_cost, GET /activity usage, LiteLLM spend). The same
    comparison `catalog cost` reports per row and per group; the files' columns are read as `catalog cost`
    reads them (--format, --map, --ignore-column apply to every file)."""
    import polars as pl

    from catalog.cost.reconcile import RELATIVE_TOLERANCE, reconcile_rows
    from catalog.cost.shapes import check_shape, parse_maps
    from catalog.library import Catalog
    from catalog.usage_files import read_usage

    frames: list[pl.DataFrame] = []
    problems: list[str] = []
    mapped = parse_maps(maps)  # a bad --map or --format fails before any file is read
    forced = check_shape(shape)
    said: list[str] = []
    with Catalog.open(db) as cat:  # the history checked before any file is read
        for path in files:
            frame, issues, report = read_usage(path, forced=forced, maps=mapped, ignore=ignored)
            if report is None and (forced or mapped or ignored):
                # Response bodies are read by their own keys: a column option would be silently dropped.
                raise InputError(
                    f"{path.name} holds response bodies, which have no columns: --format, --map and "
                    "--ignore-column apply to usage files (CSV, Parquet, JSONL rows); leave them out for this file"
                )
            if report is not None:
                said.append(f"{path.name}: {report.line()}")
            if "source" not in frame.columns or frame["source"].null_count() == frame.height:
                frame = frame.with_columns(
                    (pl.lit(f"{path.name}:") + pl.int_range(2, frame.height + 2).cast(pl.String)).alias("source")
                )
            frames.append(frame)
            problems += issues
        usage = pl.concat(frames, how="diagonal_relaxed") if frames else pl.DataFrame()
        priced = cat.cost(usage) if usage.height else None
    for line in said:  # once the rows are costed, as `catalog cost` says it
        click.echo(line, err=True)
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
