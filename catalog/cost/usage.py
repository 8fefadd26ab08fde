"""The one usage contract every cost calculation reads (domain notes §3).

A usage row says what one call (or a batch of identical calls) consumed. Every count is a whole number
of tokens or units; parts are *inside* their whole, as OpenRouter reports them:

    prompt_tokens      ⊇ cache_read_tokens + cache_write_tokens + cache_write_1h_tokens + audio_input_tokens
    completion_tokens  ⊇ reasoning_tokens + image_output_tokens + audio_output_tokens

Normalisers (``catalog.cost.normalise``) turn the shapes of OpenRouter, Anthropic, Gemini and OpenAI into
this one; the engine (``catalog.cost.engine``) prices it. Only ``model`` is required; a missing count is
0 and a missing ``requests`` is 1.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import polars as pl

from catalog.errors import InputError
from catalog.times import UNIX_SECONDS_RANGE

# Counts inside ``prompt_tokens`` and inside ``completion_tokens``.
PROMPT_PARTS = ("cache_read_tokens", "cache_write_tokens", "cache_write_1h_tokens", "audio_input_tokens")
COMPLETION_PARTS = ("reasoning_tokens", "image_output_tokens", "audio_output_tokens")
# Whole units billed per item, beside the tokens.
UNIT_COUNTS = ("requests", "images", "web_searches")
COUNT_COLUMNS = ("prompt_tokens", "completion_tokens", *PROMPT_PARTS, *COMPLETION_PARTS, *UNIT_COUNTS)

KEY_COLUMNS = ("model", "provider", "endpoint")
# The counts models of other kinds bill by (images, megapixels, seconds of video, characters of speech, minutes
# of audio, search units, songs) and the video resolution: exact decimal text, priced from the endpoint's SKUs
# by ``catalog.cost.unit_usage``. Optional: a frame without them is not given them.
UNIT_COUNT_COLUMNS = (
    "input_images",
    "output_images",
    "megapixels",
    "video_seconds",
    "speech_characters",
    "audio_minutes",
    "search_units",
    "songs",
)
UNIT_COLUMNS = (*UNIT_COUNT_COLUMNS, "video_resolution")

USAGE_SCHEMA: dict[str, pl.DataType] = {
    "timestamp": pl.Datetime("us", "UTC"),
    "model": pl.String(),
    "provider": pl.String(),  # provider slug or display name ("deepinfra", "Google AI Studio")
    "endpoint": pl.String(),  # endpoint tag ("deepinfra/fp8"): pins one endpoint of a provider
    **{name: pl.Int64() for name in COUNT_COLUMNS},
    **{name: pl.String() for name in UNIT_COLUMNS},
    "id": pl.String(),
    "billed_cost": pl.String(),  # OpenRouter's usage.cost, exact text as received
    "upstream_cost": pl.String(),  # cost_details.upstream_inference_cost (BYOK: what the provider billed)
    "is_byok": pl.Boolean(),
    "source": pl.String(),  # where the row came from: "file.jsonl:12"
}
NOT_WHOLE = "_count_not_whole"  # set by ``conform``: a count that is fractional, not finite or too large
BAD_TIME = "_timestamp_not_understood"  # set by ``conform``: a timestamp text it could not parse
ROW_FLAGS = (NOT_WHOLE, BAD_TIME)
# Set by the input layer (``catalog.cost.shapes``): why a row cannot be priced as read (no count at all, counts
# that contradict each other). The engine prices such a row as ``invalid`` with this text as its reason.
INVALID_REASON = "_invalid_reason"
DEFAULTS: dict[str, int] = {name: 0 for name in COUNT_COLUMNS} | {"requests": 1}


def usage_frame(rows: Iterable[Mapping[str, Any]]) -> pl.DataFrame:
    """Build a usage frame from dict rows (as normalisers return them); unknown keys are an error."""
    rows = list(rows)
    for index, row in enumerate(rows):
        unknown = set(row) - set(USAGE_SCHEMA) - set(ROW_FLAGS) - {INVALID_REASON}
        if unknown:
            raise InputError(
                f"usage row {index} has unknown field(s) {', '.join(sorted(unknown))}; "
                f"known fields: {', '.join(USAGE_SCHEMA)}"
            )
    given = {name for row in rows for name in UNIT_COLUMNS if row.get(name) is not None}
    names = [name for name in USAGE_SCHEMA if name not in UNIT_COLUMNS or name in given]
    columns = {
        name: [_text(row.get(name)) if name in UNIT_COLUMNS else row.get(name) for row in rows] for name in names
    }
    schema = {name: USAGE_SCHEMA[name] for name in names}
    # A value a normaliser could not read (a count "abc", a timestamp "soon") marks its row, so the row is
    # priced as invalid rather than with that field left out.
    for flag in ROW_FLAGS:
        if any(row.get(flag) for row in rows):
            columns[flag] = [bool(row.get(flag)) for row in rows]
            schema[flag] = pl.Boolean()
    if any(row.get(INVALID_REASON) for row in rows):
        columns[INVALID_REASON] = [row.get(INVALID_REASON) for row in rows]
        schema[INVALID_REASON] = pl.String()
    return conform(pl.DataFrame(columns, schema=schema))


def _text(value: Any) -> Any:
    """A unit count as exact text: a float through its shortest spelling (``repr``), anything else as written."""
    return (
        None
        if value is None
        else value
        if isinstance(value, str)
        else repr(value)
        if isinstance(value, float)
        else str(value)
    )


def conform(frame: pl.DataFrame) -> pl.DataFrame:
    """Cast a user frame to the contract: add missing columns, fill count defaults, keep extra columns.

    Strings for ``model``/``provider``/``endpoint`` may be Categorical (as Parquet dictionaries load);
    they are kept so the engine can map them by category instead of by string.
    """
    if "model" not in frame.columns:
        raise InputError(
            "usage has no 'model' column; every row must name the model it used (e.g. deepseek/deepseek-v3.2)"
        )
    exprs: list[pl.Expr] = []
    not_whole: list[pl.Expr] = []
    for name, dtype in USAGE_SCHEMA.items():
        if name not in frame.columns:
            if name in UNIT_COLUMNS:
                continue  # optional: only rows of other kinds of model carry them
            default = DEFAULTS.get(name)
            exprs.append(pl.lit(default, dtype=dtype).alias(name))
            continue
        current = frame.schema[name]
        if name in KEY_COLUMNS and isinstance(current, pl.Categorical | pl.Enum):
            continue
        if name == "timestamp":
            exprs.append(_timestamp(frame, current))
        elif name in DEFAULTS:
            if current.is_float() or current.is_decimal() or current in (pl.UInt64, pl.Int128, pl.UInt128):
                # A count that is fractional, not finite or beyond 64 bits is not a count: the row is flagged
                # (``NOT_WHOLE``), never rounded or read as the default.
                value = pl.col(name).cast(pl.Float64)
                as_int = pl.col(name).cast(pl.Int64, strict=False)
                # Decimals compare exactly (a float cannot see a fraction beyond 2**53); floats via Float64.
                fractional = (
                    (pl.col(name) != as_int.cast(current)) if current.is_decimal() else (value != value.floor())
                )
                not_whole.append(pl.col(name).is_not_null() & (as_int.is_null() | ~value.is_finite() | fractional))
                exprs.append(as_int.fill_null(DEFAULTS[name]))
            elif current.is_integer() or current == pl.Null:
                exprs.append(pl.col(name).cast(pl.Int64).fill_null(DEFAULTS[name]))
            else:
                raise InputError(f"usage column {name!r} is {current}, expected whole numbers")
        elif current != dtype:
            exprs.append(_cast(frame, name, current, dtype))
    if NOT_WHOLE in frame.columns:
        not_whole.append(pl.col(NOT_WHOLE).fill_null(False))
    if not_whole:
        exprs.append(pl.any_horizontal(not_whole).alias(NOT_WHOLE))
    kind = frame.schema["timestamp"] if "timestamp" in frame.columns else None
    if kind is not None and (kind == pl.String or kind.is_integer()):
        read = parse_time_text(pl.col("timestamp")) if kind == pl.String else unix_seconds(pl.col("timestamp"))
        bad_text = pl.col("timestamp").is_not_null() & read.is_null()
        flagged = (bad_text | pl.col(BAD_TIME).fill_null(False)) if BAD_TIME in frame.columns else bad_text
        exprs.append(flagged.alias(BAD_TIME))
    elif BAD_TIME in frame.columns:
        exprs.append(pl.col(BAD_TIME).fill_null(False))
    return frame.with_columns(exprs) if exprs else frame


# What a text or flag column may hold to be read as the contract's type: scalars, never lists or structs.
_TEXTUAL = (pl.String, pl.Categorical, pl.Enum, pl.Binary, pl.Null)
_FLAG_TEXT = {"true": True, "false": False}


def _cast(frame: pl.DataFrame, name: str, current: pl.DataType, dtype: pl.DataType) -> pl.Expr:
    """Column ``name`` as the contract's ``dtype``, or an ``InputError`` naming the column, what it holds and
    what it should hold (a polars cast error would name neither in words a user can act on)."""
    if dtype == pl.Boolean:
        if current.is_integer() or current == pl.Null:
            bad = frame.filter(~pl.col(name).is_in([0, 1]) & pl.col(name).is_not_null())
        elif current == pl.String:
            lowered = pl.col(name).str.strip_chars().str.to_lowercase()
            bad = frame.filter(~lowered.is_in(list(_FLAG_TEXT)) & pl.col(name).is_not_null())
            if bad.is_empty():
                return lowered.replace_strict(_FLAG_TEXT, default=None, return_dtype=pl.Boolean).alias(name)
        else:
            bad = frame
        if not bad.is_empty():
            raise InputError(f"usage column {name!r} holds {bad[name][0]!r} ({current}); give true or false (or 1 / 0)")
        return pl.col(name).cast(pl.Boolean)
    if dtype == pl.String and not isinstance(current, _TEXTUAL) and not current.is_numeric():
        raise InputError(f"usage column {name!r} holds {current} values; give one text value per row")
    return pl.col(name).cast(dtype)


def parse_time_text(text: pl.Expr) -> pl.Expr:
    """Each row's own format: ISO-8601 with ``Z`` or an offset, naive ISO (read as UTC, ``T`` or a space),
    a bare date (its start), or unix seconds. One guessed format for the whole column would flag every row
    written differently from the first."""
    iso = text.str.strip_chars().str.replace(r"Z$", "+00:00").str.replace(" ", "T", literal=True)
    utc = "UTC"
    return pl.coalesce(
        iso.str.to_datetime("%Y-%m-%dT%H:%M:%S%.f%:z", strict=False, time_unit="us").dt.convert_time_zone(utc),
        iso.str.to_datetime("%Y-%m-%dT%H:%M:%S%.f", strict=False, time_unit="us").dt.replace_time_zone(utc),
        iso.str.to_datetime("%Y-%m-%dT%H:%M", strict=False, time_unit="us").dt.replace_time_zone(utc),
        iso.str.to_date("%Y-%m-%d", strict=False).cast(pl.Datetime("us")).dt.replace_time_zone(utc),
        unix_seconds(iso.str.to_integer(strict=False)),
    )


def unix_seconds(seconds: pl.Expr) -> pl.Expr:
    """Unix seconds as UTC instants; outside ``UNIX_SECONDS_RANGE`` null (flagged per row), never wrapped."""
    low, high = UNIX_SECONDS_RANGE
    inside = pl.when(seconds.is_between(low, high)).then(seconds.cast(pl.Int64, strict=False))
    return pl.from_epoch(inside, time_unit="s").dt.cast_time_unit("us").dt.replace_time_zone("UTC")


def _timestamp(frame: pl.DataFrame, current: pl.DataType) -> pl.Expr:
    col = pl.col("timestamp")
    if isinstance(current, pl.Datetime):
        if current.time_zone is None:  # naive times are read as UTC, the catalog's only zone
            return col.dt.replace_time_zone("UTC").dt.cast_time_unit("us")
        return col.dt.convert_time_zone("UTC").dt.cast_time_unit("us")
    if current == pl.Date:
        return col.cast(pl.Datetime("us")).dt.replace_time_zone("UTC")
    if current.is_integer():  # unix seconds, as OpenRouter's ``created``
        return unix_seconds(col)
    if current in (pl.String, pl.Null):
        # Unparseable texts become null here and are flagged per row (``BAD_TIME``), never fatal to a batch.
        return parse_time_text(col.cast(pl.String))
    raise InputError(f"usage column 'timestamp' is {current}; give an ISO timestamp, a date or unix seconds")
