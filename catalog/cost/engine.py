"""Price usage rows, vectorised and exact: frames in, frames out, no I/O.

For each row (see ``catalog.cost.usage`` for the contract) the engine finds the sheet in force at the row's
time for its endpoint (by tag, else by provider, else the model-level price), picks the override variant
from the *whole* prompt and the row's UTC time of day, and bills each exclusive part once:

    input           (prompt − cache_read − cache_write_5m − cache_write_1h − audio_input) × prompt rate
    cache_read      cache_read × input_cache_read (prompt rate when none is listed)
    cache_write_5m  cache_write × input_cache_write (prompt rate when none is listed)
    cache_write_1h  cache_write_1h × input_cache_write_1h (the 5-minute rate when none is listed)
    output          (completion − reasoning − image_output − audio_output) × completion rate
    reasoning       reasoning × internal_reasoning (completion rate when not priced)
    request         requests × request
    image           images × image + image_output × image_output (completion rate when not priced)
    web_search      web_searches × web_search
    audio           audio_input × audio + audio_output × audio_output (prompt / completion when not priced)

Listed prices already include ``discount``; the undiscounted ``cost_base`` is ``total / (1 − discount)``
(rounded half up to the table's unit) and ``saving = cost_base − cost_total``. Rows that cannot be priced
keep null money and say why in ``status`` / ``reason``; a batch never fails because of one row.
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Literal

import numpy as np
import polars as pl

from catalog.cost import breakdown as breakdown_pass
from catalog.cost import kernels
from catalog.cost.money import INT64_MAX, decimal_column
from catalog.cost.sheets import PriceTable, Resolution
from catalog.cost.usage import (
    BAD_TIME,
    COMPLETION_PARTS,
    COUNT_COLUMNS,
    INVALID_REASON,
    NOT_WHOLE,
    PROMPT_PARTS,
    ROW_FLAGS,
    conform,
)
from catalog.errors import InputError

TERMS: dict[str, list[tuple[str, str]]] = {  # term -> [(token expression name, rate)]
    "input": [("uncached_input", "input")],
    "cache_read": [("cache_read_tokens", "cache_read")],
    "cache_write_5m": [("cache_write_tokens", "cache_write_5m")],
    "cache_write_1h": [("cache_write_1h_tokens", "cache_write_1h")],
    "output": [("plain_output", "output")],
    "reasoning": [("reasoning_tokens", "reasoning")],
    "request": [("requests", "request")],
    "image": [("images", "image"), ("image_output_tokens", "image_output")],
    "web_search": [("web_searches", "web_search")],
    "audio": [("audio_input_tokens", "audio_input"), ("audio_output_tokens", "audio_output")],
}
COST_COLUMNS = tuple(f"cost_{term}" for term in TERMS)
MONEY_COLUMNS = (*COST_COLUMNS, "cost_total", "cost_base", "saving")
STATUSES = ("ok", "invalid", "unknown", "no_price", "dynamic")
STATUS = pl.Enum(STATUSES)
SOURCE = pl.Enum(["endpoint", "model"])
_MINUTE = 60_000_000
CHUNK_ROWS = 1 << 20
# The compiled pass finds the rows' sheets itself when the batch has at least ``_KEYED_ROWS`` rows and its cells
# (distinct names × periods) are at most ``_CELLS_PER_ROW`` per row: each cell is looked up once. A small batch
# (an API call's) keeps the lookup per row, which needs neither the per-minute table nor the names' codes.
_CELLS_PER_ROW = 1
_KEYED_ROWS = 1 << 16
# The whole a derived count is bounded by.
_WHOLE = {"uncached_input": "prompt_tokens", "plain_output": "completion_tokens"}


def cost_usage(
    usage: pl.DataFrame,
    table: PriceTable,
    *,
    at: datetime | None = None,
    breakdown: bool = True,
    money: Literal["decimal", "units"] = "decimal",
) -> pl.DataFrame:
    """Price every row of ``usage`` at the prices in force at its ``timestamp`` (``at``, else now, when null).

    Returns the usage columns plus ``status``, ``reason``, ``price_source`` (endpoint / model), ``sheet_id``
    (an index into ``table.versions``), ``overrides_applied`` (bit mask of the applying override entries),
    the ``cost_*`` breakdown (unless ``breakdown=False``), ``cost_total``, ``cost_base`` and ``saving``.
    Money is exact ``Decimal(38, table.scale)``, or with ``money="units"`` integers of ``10**-table.scale``
    USD (faster; convert with ``catalog.cost.money.decimal_column``).
    """
    frame = conform(usage)
    default_at = at or datetime.now(UTC)
    if frame.height <= CHUNK_ROWS:
        return _cost_chunk(frame, table, default_at, breakdown, money)
    # Slices keep every intermediate column small enough to stay in cache and bound the memory beyond the
    # input and the result; the rows are independent, so the result is the same.
    # The compiled pass's names are coded once for the whole frame (a slice's codes are a slice of them).
    coded = _names_coded(frame, table) if kernels.AVAILABLE and table.versions else None
    parts = [
        _cost_chunk(chunk, table, default_at, breakdown, money, _slice_coded(coded, start, chunk.height))
        for start, chunk in zip(range(0, frame.height, CHUNK_ROWS), frame.iter_slices(CHUNK_ROWS), strict=True)
    ]
    return pl.concat(parts, rechunk=False)


_Coded = tuple[list[Any], list[int], np.ndarray, list[Resolution], list[dict[str, str | None]]]


def _names_coded(frame: pl.DataFrame, table: PriceTable) -> _Coded | None:
    """The key columns' codes and each distinct name's resolution, for the pass that finds the rows' sheets
    itself (``linear._kernel_combos``); None for a small batch, or one of fewer rows than the table has periods
    (more cells than rows whatever its names): those take the lookup per row."""
    from catalog.cost import linear  # (which imports this module)

    if frame.height < _KEYED_ROWS or table.n_periods > frame.height * _CELLS_PER_ROW:
        return None
    return linear._kernel_combos(frame, table)


def _slice_coded(coded: _Coded | None, start: int, length: int) -> _Coded | None:
    """``coded`` for the rows ``start`` to ``start + length``: the codes sliced, the rest shared."""
    if coded is None:
        return None
    codes, radixes, combo_of, resolutions, names = coded
    part = [
        kernels.Nullable(c.values[start : start + length], c.bits, c.offset + start)
        if isinstance(c, kernels.Nullable)
        else c[start : start + length]
        for c in codes
    ]
    return part, radixes, combo_of, resolutions, names


def _cost_chunk(
    frame: pl.DataFrame,
    table: PriceTable,
    default_at: datetime,
    breakdown: bool,
    money: str,
    coded: _Coded | None = None,
) -> pl.DataFrame:
    if not table.versions:
        raise InputError("the price table is empty: load the history first (`catalog up` or `catalog sync`)")
    if kernels.AVAILABLE and frame.height:  # the rest in one compiled pass (``catalog.cost.breakdown``)
        return _cost_compiled(frame, table, default_at, breakdown, money, coded or _names_coded(frame, table))
    combo, resolutions, _ = _combos(frame, table)
    ts = pl.col("timestamp").fill_null(pl.lit(default_at, pl.Datetime("us", "UTC"))).dt.epoch("us")
    work = frame.select(
        combo.alias("_combo"),
        ts.alias("_ts"),
        *[pl.col(c) for c in COUNT_COLUMNS],
        *[pl.col(c) for c in ROW_FLAGS if c in frame.columns],
    )
    # Reasons the input layer gave (``catalog.cost.shapes``): the row is invalid whatever its prices.
    given = frame[INVALID_REASON].cast(pl.String) if INVALID_REASON in frame.columns else None
    given_texts = given.drop_nulls().unique(maintain_order=True).to_list() if given is not None else []
    # The sheet in force for each row: the first endpoint candidate listed at the row's time (plain tag, then
    # /global, then the rest), else the model-level price; searched within each candidate's versions.
    sheet_id, source = table.lookup(resolutions, work["_combo"], work["_ts"])
    work = work.with_columns(
        sheet_id.alias("sheet_id"),
        pl.Series("price_source", ["endpoint", "model", None], dtype=SOURCE).gather(source),
    )
    work = work.with_columns(_override_mask(table).cast(pl.UInt8).alias("overrides_applied"))
    sheet = pl.col("sheet_id").clip(0)
    work = work.with_columns((pl.lit(table.variant_base).gather(sheet) + pl.col("overrides_applied")).alias("_variant"))
    dynamic = pl.lit(table.variants["dynamic"]).gather(pl.col("_variant"))
    reasons = _Reasons(resolutions, given_texts)
    combo_reason = pl.lit(reasons.by_combo).gather(pl.col("_combo"))
    dtype, maxima, bound = _money_dtype(work, table)
    problem = _problem_code([c for c in ROW_FLAGS if c in frame.columns])
    if bound >= _I128_SAFE:
        # Some row could overflow 128 bits (absurd counts times the dearest rates): flag the rows whose own
        # counts could, at the dearest rates (an upper bound), rather than wrap around to a wrong number.
        estimate = _add(
            [
                pl.col(_WHOLE.get(token, token)).cast(pl.Float64) * float(table.variant_rate_max[rate])
                for parts in TERMS.values()
                for token, rate in parts
            ]
        )
        problem = pl.when(estimate >= float(_I128_SAFE)).then(pl.lit(_TOO_LARGE)).otherwise(problem)
    given_code = pl.lit(-1)
    if given is not None:
        index = {text: reasons.texts.index(text) for text in given_texts}
        given_code = pl.lit(given.replace_strict(index, default=-1, return_dtype=pl.Int64))
    code = (
        pl.when(given_code >= 0)
        .then(given_code)
        .when((combo_reason >= 0) & (pl.col("sheet_id") < 0))
        .then(combo_reason)
        .when(problem >= 0)
        .then(problem)
        .when(pl.col("sheet_id") < 0)
        .then(pl.lit(_NO_PRICE))
        .when(dynamic)
        .then(pl.lit(_DYNAMIC))
        .otherwise(pl.lit(-1))
    )
    work = work.with_columns(code.alias("_reason"))
    ok = pl.col("_reason") < 0
    work = work.with_columns(
        pl.lit(reasons.status).gather(pl.col("_reason").clip(0)).alias("_status"),
        pl.when(ok).then(pl.col("_variant")).otherwise(pl.lit(table.null_variant)).alias("_variant"),
    )
    work = work.with_columns(
        pl.when(ok).then(pl.lit("ok", STATUS)).otherwise(pl.col("_status")).alias("status"),
        # Categorical (not the slice's own Enum) so that slices with different reasons concatenate; 4 bytes
        # a row where a String view would take 16.
        pl.when(~ok)
        .then(pl.lit(reasons.labels).gather(pl.col("_reason").clip(0)))
        .cast(pl.Categorical)
        .alias("reason"),
    )
    variant = pl.col("_variant")

    tokens = {
        "uncached_input": pl.col("prompt_tokens") - _add([pl.col(c) for c in PROMPT_PARTS]),
        "plain_output": pl.col("completion_tokens") - _add([pl.col(c) for c in COMPLETION_PARTS]),
    }
    priced = pl.col("_variant") != table.null_variant
    terms: dict[str, pl.Expr] = {}
    for term, parts in TERMS.items():
        pieces = []
        for token_name, rate in parts:
            if table.variant_rate_max[rate] == 0 or maxima[_WHOLE.get(token_name, token_name)] <= 0:
                continue  # nothing bills this rate, or no row uses it: 0 without a gather
            count = tokens.get(token_name, pl.col(token_name))
            pieces.append(count.cast(dtype) * pl.lit(table.variants[rate].cast(dtype)).gather(variant))
        if pieces:
            terms[term] = _add(pieces)
    zero = pl.when(priced).then(pl.lit(0, dtype))
    if breakdown:
        work = work.with_columns(terms.get(term, zero).alias(f"cost_{term}") for term in TERMS)
        work = work.with_columns(_add([pl.col(f"cost_{term}") for term in terms] or [zero]).alias("cost_total"))
    else:  # the total only: no column per term is ever materialised
        work = work.with_columns(_add(list(terms.values()) or [zero]).alias("cost_total"))
    work = work.with_columns(_base_and_saving(work, table))
    money_cols = list(MONEY_COLUMNS if breakdown else ("cost_total", "cost_base", "saving"))
    out_cols = ["status", "reason", "price_source", "sheet_id", "overrides_applied", *money_cols]
    result = work.select(out_cols).with_columns(pl.col(c).cast(pl.Int128) for c in money_cols)
    if money == "decimal":
        result = result.with_columns([decimal_column(result[c], table.scale) for c in money_cols])
    kept = [c for c in frame.columns if c not in out_cols and c not in ROW_FLAGS and c != INVALID_REASON]
    return pl.concat([frame.select(kept), result], how="horizontal")


def _cost_compiled(
    frame: pl.DataFrame, table: PriceTable, default_at: datetime, breakdown: bool, money: str, coded: _Coded | None
) -> pl.DataFrame:
    """``_cost_chunk`` through ``catalog.cost.breakdown``: the same columns and values.

    Where the batch has at least as many rows as (distinct model/provider/endpoint) × periods cells, each
    cell's sheet is found once and the pass finds each row's cell itself from the key columns' categorical
    codes and the timestamp; otherwise (a small batch, or too many cells) the sheets are looked up per row
    first (``PriceTable.lookup``) and given to the pass. ``coded``: the batch's names coded (``_names_coded``)."""
    stamps = frame["timestamp"]
    filled = stamps.fill_null(pl.lit(default_at, pl.Datetime("us", "UTC"))) if stamps.null_count() else stamps
    micros = filled.dt.epoch("us")
    keys = None
    row_sheets: tuple[pl.Series, pl.Series, pl.Series] | None = None
    # Cells (distinct names × periods) few enough for the rows; the pass packs a cell's sheet and source into
    # an int32.
    few = coded is not None and len(coded[3]) * table.n_periods <= frame.height * _CELLS_PER_ROW
    if coded is not None and few and len(table.versions) < 2**28:
        codes, radixes, combo_of, resolutions, _ = coded
        cell_sheet, cell_source = _cell_sheets(table, resolutions)
        minutes = breakdown_pass.minutes(table)
        keys = breakdown_pass.Keys(codes, radixes, combo_of, table.n_periods, cell_sheet, cell_source, minutes)
    else:
        combo, resolutions, _ = _combos(frame, table)
        sheet_id, source = table.lookup(resolutions, combo, micros)
        row_sheets = (sheet_id, source, combo)
    # Reasons the input layer gave (``catalog.cost.shapes``): the row is invalid whatever its prices.
    given = frame[INVALID_REASON].cast(pl.String) if INVALID_REASON in frame.columns else None
    given_texts = given.drop_nulls().unique(maintain_order=True).to_list() if given is not None else []
    reasons = _Reasons(resolutions, given_texts)
    work = frame
    extrema = work.select(
        *[pl.col(c).min().alias(f"min_{c}") for c in COUNT_COLUMNS],
        *[pl.col(c).max().alias(c) for c in COUNT_COLUMNS],
    ).row(0, named=True)
    maxima = {c: extrema[c] or 0 for c in COUNT_COLUMNS}
    bound = sum(
        max(maxima[_WHOLE.get(token, token)], 0) * table.variant_rate_max[rate]
        for parts in TERMS.values()
        for token, rate in parts
    )
    n = work.height
    # A count holding one value on every row (a default ``conform`` filled in) is read as that one value.
    counts = [
        np.full(1, extrema[c], dtype=np.int64)
        if n and extrema[c] == extrema[f"min_{c}"] and extrema[c] is not None
        else work[c].to_numpy()
        for c in COUNT_COLUMNS
    ]
    too_large = None
    if bound >= _I128_SAFE:  # as in ``_cost_chunk``: an upper bound per row, at the dearest rates
        estimate = _add(
            [
                pl.col(_WHOLE.get(token, token)).cast(pl.Float64) * float(table.variant_rate_max[rate])
                for parts in TERMS.values()
                for token, rate in parts
            ]
        )
        too_large = work.select((estimate >= float(_I128_SAFE)).fill_null(False)).to_series().to_numpy()
    flags = [work[c].fill_null(False).to_numpy() if c in work.columns else None for c in (NOT_WHOLE, BAD_TIME)]
    given_codes = None
    if given is not None:
        index = {text: reasons.texts.index(text) for text in given_texts}
        given_codes = given.replace_strict(index, default=-1, return_dtype=pl.Int64).fill_null(-1).to_numpy()
    pieces: list[tuple[int, int, str]] = []
    for term_index, parts in enumerate(TERMS.values()):
        for token_name, rate in parts:
            if table.variant_rate_max[rate] == 0 or maxima[_WHOLE.get(token_name, token_name)] <= 0:
                continue  # nothing bills this rate, or no row uses it: 0
            count = {"uncached_input": -1, "plain_output": -2}.get(token_name)
            pieces.append(
                (term_index if breakdown else -1, COUNT_COLUMNS.index(token_name) if count is None else count, rate)
            )

    def fallback(rows: np.ndarray, totals: list[int], variants: list[int]) -> list[int | None]:
        part = pl.DataFrame(
            {"cost_total": pl.Series(totals, dtype=pl.Int128), "_variant": pl.Series(variants, dtype=pl.Int64)}
        )
        return _base_and_saving(part, table)[0].to_list()

    priced = breakdown_pass.price(
        sheet=None if row_sheets is None else row_sheets[0].to_numpy(),
        source=None if row_sheets is None else row_sheets[1].to_numpy(),
        combo=None if row_sheets is None else row_sheets[2].cast(pl.Int64).to_numpy(),
        keys=keys,
        micros=micros.to_numpy(),
        counts=counts,
        given=given_codes,
        flags=[*flags, too_large],
        combo_reason=reasons.by_combo.to_numpy(),
        arrays=breakdown_pass.table_arrays(table, tuple(rate for parts in TERMS.values() for _, rate in parts)),
        pieces=pieces,
        term_names=list(COST_COLUMNS) if breakdown else [],
        prompt_parts=[COUNT_COLUMNS.index(c) for c in PROMPT_PARTS],
        completion_parts=[COUNT_COLUMNS.index(c) for c in COMPLETION_PARTS],
        scale=table.scale,
        base_fallback=fallback,
    )
    code = pl.Series("_code", priced.code) + 1  # 0: priced, else 1 + the reason's code
    statuses = pl.Series("status", ["ok", *reasons.status.cast(pl.String).to_list()], dtype=STATUS)
    labels = pl.Series("reason", [None, *reasons.texts], dtype=reasons.labels.dtype)
    money_cols = list(MONEY_COLUMNS if breakdown else ("cost_total", "cost_base", "saving"))
    columns = [
        statuses.gather(code),
        # Cast before the gather: the few labels, not each row's (a third of the time; the same values).
        labels.cast(pl.Categorical).gather(code),
        pl.Series("price_source", ["endpoint", "model", None], dtype=SOURCE).gather(pl.Series(priced.source)),
        pl.Series("sheet_id", priced.sheet, dtype=pl.Int32),
        pl.Series("overrides_applied", priced.mask, dtype=pl.UInt8),
    ]
    for name in money_cols:
        column = priced.money[name]
        columns.append(column.to_physical().cast(pl.Int128).alias(name) if money != "decimal" else column)
    out_cols = ["status", "reason", "price_source", "sheet_id", "overrides_applied", *money_cols]
    kept = [c for c in frame.columns if c not in out_cols and c not in ROW_FLAGS and c != INVALID_REASON]
    return pl.concat([frame.select(kept), pl.DataFrame(columns)], how="horizontal")


# Per table, each resolution's sheet and source in every period: a table never changes once built, and a
# large usage file's batches name the same endpoints again and again.
_CELLS: weakref.WeakKeyDictionary[PriceTable, dict[Resolution, tuple[np.ndarray, np.ndarray]]] = (
    weakref.WeakKeyDictionary()
)
_MAX_CELLS = 1 << 22  # cells remembered per table (5 bytes each); past that the memo starts again


def _cell_sheets(table: PriceTable, resolutions: list[Resolution]) -> tuple[np.ndarray, np.ndarray]:
    """Per cell (combo × ``n_periods`` + period): the sheet in force (-1: none) and its source, as
    ``PriceTable.sheets_in_periods`` gives them; each resolution is looked up once per table."""
    periods = table.n_periods
    known = _CELLS.setdefault(table, {})
    found = {}
    fresh = []
    for resolution in dict.fromkeys(resolutions):
        hit = known.get(resolution)
        if hit is None:
            fresh.append(resolution)
        else:
            found[resolution] = hit
    if fresh:
        sheet, source = table.sheets_in_periods(
            fresh,
            pl.Series(np.repeat(np.arange(len(fresh), dtype=np.int64), periods)),
            pl.Series(np.tile(np.arange(periods, dtype=np.int64), len(fresh))),
        )
        sheets = sheet.to_numpy().reshape(len(fresh), periods)
        sources = source.to_numpy().reshape(len(fresh), periods)
        if (len(known) + len(fresh)) * periods > _MAX_CELLS:
            known.clear()
        for row, resolution in enumerate(fresh):
            found[resolution] = known[resolution] = (sheets[row], sources[row])
    # (From this call's own dict: another thread may clear the memo meanwhile.)
    return (
        np.concatenate([found[r][0] for r in resolutions]),
        np.concatenate([found[r][1] for r in resolutions]),
    )


def _base_and_saving(work: pl.DataFrame, table: PriceTable) -> list[pl.Series]:
    """``cost_base`` = total / (1 − discount), rounded half up to the unit; ``saving`` = base − total.

    Only rows whose sheet has a discount need the 128-bit division, and they are few: compute those and
    scatter them into a copy of the total.
    """
    total = work["cost_total"].cast(pl.Int128)
    base = total.clone()
    if table.has_discounts:
        variant = work["_variant"]
        num = table.variants["discount_num"].gather(variant)
        den = table.variants["discount_den"].gather(variant)
        rows = ((num != den) & total.is_not_null()).arg_true()
        if rows.len():
            t, n, d = total.gather(rows), num.gather(rows).cast(pl.Int128), den.gather(rows).cast(pl.Int128)
            # base = t·d/n rounded half up, as q·d + (2·r·d + n) // 2n with t = q·n + r (d/n reduced when the
            # table was built). r < n, so 2·r·d < 2·n·d: both that and q·d are checked against 128 bits per
            # row; the rows that would pass it are computed below in Python integers. 1 − discount ≤ 0 has no
            # finite base, and a base beyond 128 bits is left null rather than wrapped.
            tn, nn, dn = pl.lit(t), pl.lit(n), pl.lit(d)
            limit = pl.lit(2**125, pl.Int128)
            fits = (nn > 0) & (nn <= limit // dn) & (tn // nn <= limit // dn)
            quotient = pl.select(
                pl.when(fits).then((tn // nn) * dn + (2 * (tn % nn) * dn + nn) // (2 * nn))
            ).to_series()
            # The rare rows that do not fit (many-digit discounts): Python integers, which do not overflow.
            unfit = pl.select((~fits).fill_null(False) & (nn > 0)).to_series().arg_true()
            if unfit.len():
                exact = [
                    value if (value := (2 * ti * di + ni) // (2 * ni)) < 2**126 else None
                    for ti, ni, di in zip(
                        t.gather(unfit).to_list(), n.gather(unfit).to_list(), d.gather(unfit).to_list(), strict=True
                    )
                ]
                quotient = quotient.scatter(unfit, pl.Series(exact, dtype=pl.Int128))
            base = base.scatter(rows, quotient)
    return [base.alias("cost_base"), (base - total).alias("saving")]


def _add(pieces: list[pl.Expr]) -> pl.Expr:
    total = pieces[0]
    for piece in pieces[1:]:
        total = total + piece
    return total


def _override_mask(table: PriceTable) -> pl.Expr:
    """Bit ``j`` set when override entry ``j`` of the row's sheet applies (whole prompt; UTC time of day)."""
    if table.conditions is None:
        return pl.lit(0, pl.Int64)
    sheet = pl.lit(table.sheet_rows).gather(pl.col("sheet_id").clip(0))  # conditions are kept per distinct sheet
    minute = (pl.col("_ts") // _MINUTE) % 1440
    mask: pl.Expr = pl.lit(0, pl.Int64)
    for j in range(table.max_overrides):
        threshold = pl.lit(table.conditions[f"min_{j}"]).gather(sheet)  # null: the sheet has no entry j
        applies = (pl.col("prompt_tokens") >= threshold).fill_null(False)
        if table.has_windows:
            start = pl.lit(table.conditions[f"start_{j}"]).gather(sheet)
            end = pl.lit(table.conditions[f"end_{j}"]).gather(sheet)
            inside = (
                pl.when(start.is_null() | end.is_null())
                .then(pl.lit(True))
                .when(start <= end)
                .then((minute >= start) & (minute < end))
                .otherwise((minute >= start) | (minute < end))  # the window wraps past midnight
            )
            applies = applies & inside
        mask = mask + applies.cast(pl.Int64) * (1 << j)
    return mask


# Reasons a row is not priced: fixed ones first, then one per distinct resolution failure.
_FIXED_REASONS: tuple[tuple[str, str], ...] = (
    ("invalid", "a token or unit count is negative or not a whole number"),
    ("invalid", "cache reads + cache writes + audio input exceed prompt_tokens (they are inside the prompt)"),
    ("invalid", "reasoning + image + audio output exceed completion_tokens (they are inside the completion)"),
    ("no_price", "no price in force at this time (before the history starts, or not listed then)"),
    ("dynamic", "dynamic price (-1): the router decides it per request; it is not listed"),
    ("invalid", "counts too large to price exactly (the cost would exceed 128-bit money)"),
    ("invalid", "timestamp not understood: give ISO-8601 (2026-08-01T12:00:00Z), a date or unix seconds"),
)
_NO_PRICE, _DYNAMIC, _TOO_LARGE, _BAD_TIME = 3, 4, 5, 6
# Totals stay below this: 2**9 of headroom under 2**127 for adding terms and for cost_base.
_I128_SAFE = 2**118


class _Reasons:
    """Reason texts as an Enum, so a row carries a small code instead of a string until the end."""

    def __init__(self, resolutions: list[Resolution], given: Sequence[str] = ()) -> None:
        texts = [text for _, text in _FIXED_REASONS]
        statuses = [status for status, _ in _FIXED_REASONS]
        for text in given:  # reasons given by the input layer: always invalid
            if text not in texts:
                texts.append(text)
                statuses.append("invalid")
        by_combo = []
        for resolution in resolutions:
            if resolution.reason is None:
                by_combo.append(-1)
                continue
            if resolution.reason not in texts:
                texts.append(resolution.reason)
                statuses.append("unknown")
            by_combo.append(texts.index(resolution.reason))
        self.texts = texts
        self.labels = pl.Series("reason", texts, dtype=pl.Enum(texts))
        self.status = pl.Series("status", statuses, dtype=STATUS)
        self.by_combo = pl.Series("by_combo", by_combo, dtype=pl.Int32)


def _problem_code(flags: list[str]) -> pl.Expr:
    """The code of why a row's counts are impossible (-1: they are fine); never clamped, never fatal."""
    negative = pl.any_horizontal(*[pl.col(c) < 0 for c in COUNT_COLUMNS])
    if NOT_WHOLE in flags:
        negative = negative | pl.col(NOT_WHOLE)
    negative_or_time = pl.when(pl.col(BAD_TIME)).then(pl.lit(_BAD_TIME)) if BAD_TIME in flags else None
    prompt_parts = _add([pl.col(c) for c in PROMPT_PARTS])
    completion_parts = _add([pl.col(c) for c in COMPLETION_PARTS])
    chain = (
        pl.when(negative)
        .then(pl.lit(0))
        .when(prompt_parts > pl.col("prompt_tokens"))
        .then(pl.lit(1))
        .when(completion_parts > pl.col("completion_tokens"))
        .then(pl.lit(2))
        .otherwise(pl.lit(-1))
    )
    return chain if negative_or_time is None else negative_or_time.otherwise(chain)


def _money_dtype(work: pl.DataFrame, table: PriceTable) -> tuple[pl.DataType, dict[str, int], int]:
    """Int64 when no row's total can overflow it (checked from this batch's maxima), else Int128."""
    maxima = {k: v or 0 for k, v in work.select(pl.col(c).max() for c in COUNT_COLUMNS).row(0, named=True).items()}
    bound = 0
    for parts in TERMS.values():
        for token_name, rate in parts:
            bound += max(maxima[_WHOLE.get(token_name, token_name)], 0) * table.variant_rate_max[rate]
    # cost_base multiplies the total by the discount denominator; that step is always 128-bit.
    return (pl.Int64() if bound < INT64_MAX // 2 else pl.Int128()), maxima, bound


def _combos(frame: pl.DataFrame, table: PriceTable) -> tuple[pl.Series, list[Resolution], list[dict[str, str | None]]]:
    """Map rows to their distinct (model, provider, endpoint) and resolve each distinct one once.

    Each key column becomes small dense codes (through Polars' categorical codes, so no string is compared
    per row); the codes combine into one integer per row, and only the distinct integers are resolved.
    Returns each row's combo, each combo's resolution and its names as the usage gave them.
    """
    present = ["model"] + [c for c in ("provider", "endpoint") if frame[c].null_count() < frame.height]
    coded = [_dense_codes(frame[c]) for c in present]
    if len(coded) == 1:  # the dense codes of one column already number its distinct values 0..k-1
        codes, names = coded[0]
        return codes, [table.resolve(name, None, None) for name in names], [{"model": name} for name in names]
    combined = coded[0][0].to_numpy()
    for codes, names in coded[1:]:
        combined = combined * len(names) + codes.to_numpy()
    space = 1
    for _, names in coded:
        space *= len(names)
    if space <= 1 << 24:  # a dense table of the combinations: one counting pass and one gather
        used = np.flatnonzero(np.bincount(combined, minlength=space))
        lookup = np.full(space, -1, dtype=np.int64)
        lookup[used] = np.arange(len(used))
        distinct = pl.Series(used, dtype=pl.Int64)
        combo = pl.Series("_combo", lookup[combined])
    else:  # too many combinations for a dense table: an integer join is still cheap
        keyed = pl.Series("k", combined)
        distinct = keyed.unique().sort()
        index = pl.DataFrame({"k": distinct, "_combo": pl.int_range(0, len(distinct), eager=True, dtype=pl.Int64)})
        combo = pl.DataFrame({"k": keyed}).join(index, on="k", how="left", maintain_order="left")["_combo"]
    resolutions = []
    named = []
    for key in distinct.to_list():
        parts: dict[str, str | None] = {}
        for column, (_, names) in zip(reversed(present), reversed(coded), strict=True):
            key, code = divmod(key, len(names))
            parts[column] = names[code]
        resolutions.append(table.resolve(parts.get("model"), parts.get("provider"), parts.get("endpoint")))
        named.append(parts)
    return combo, resolutions, named


def _dense_codes(column: pl.Series) -> tuple[pl.Series, list[str | None]]:
    """Codes 0..k-1 per row for the column's k distinct values (null included), and the values.

    From the categorical codes: one counting pass finds the codes in use, and any row holding a code
    names it (whichever row numpy's scatter keeps), so no string is hashed or compared per row.
    """
    if not isinstance(column.dtype, pl.Categorical | pl.Enum):
        column = column.cast(pl.String).cast(pl.Categorical)
    physical = column.to_physical()
    top = physical.max()
    null_code = 0 if top is None else int(top) + 1  # type: ignore[arg-type]
    codes = (physical.fill_null(null_code) if physical.null_count() else physical).cast(pl.Int64).to_numpy()
    used = np.flatnonzero(np.bincount(codes, minlength=null_code + 1))
    row_of = np.zeros(null_code + 1, dtype=np.int64)
    row_of[codes] = np.arange(len(codes))
    names = [
        None if code == null_code else value
        for code, value in zip(
            used.tolist(), column.gather(pl.Series(row_of[used])).cast(pl.String).to_list(), strict=True
        )
    ]
    lookup = np.zeros(null_code + 1, dtype=np.int64)
    lookup[used] = np.arange(len(used))
    return pl.Series(column.name, lookup[codes]), names
