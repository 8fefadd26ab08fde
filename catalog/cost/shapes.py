"""Usage rows as people have them → the engine's flat column names (``catalog.cost.usage``).

A usage log arrives in the names of whatever wrote it: OpenAI's Chat Completions or Responses usage (often with the
nested ``*_details`` objects flattened into ``a.b`` or ``a_b`` columns), Anthropic's Messages usage, OpenRouter's
``GET /generation`` records and ``GET /activity`` rows, LiteLLM's spend logs, genai-prices' ``Usage``. Each is a
``Shape`` here: which columns it reads, what each contract count is in its terms, which columns it knows and
deliberately does not price (and why), and where its billed cost is. ``read_shape`` finds the shape that explains the
most count columns of a frame (or takes the one named), maps the frame to the contract and says what it did
(``ShapeReport``), so no face ever guesses silently:

* a count-looking column (``*token*``, ``*_count``, ``*requests``) that neither the shape nor a ``--map`` reads is an
  error naming it and the accepted names, unless the caller ignores it;
* a row with no count at all is marked invalid ("no usage counts (columns seen: …)"), never priced as a free call.

Containment differs between systems and is the point of the mapping (domain notes §3): OpenAI, OpenRouter,
LiteLLM and genai-prices count cached tokens *inside* the prompt; Anthropic's ``input_tokens`` *excludes* cache
reads and writes, so its prompt is their sum; reasoning is inside the completion everywhere.

No I/O: frames and dict rows in, frames and dict rows out (the file readers are in ``catalog.usage_files``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import polars as pl

from catalog.cost.usage import COUNT_COLUMNS, INVALID_REASON, UNIT_COLUMNS, UNIT_COUNT_COLUMNS, USAGE_SCHEMA
from catalog.errors import InputError

Combo = tuple[tuple[str, int], ...]  # (column, coefficient): a count as a sum of columns


@dataclass(frozen=True)
class Rule:
    """One way to compute a contract count: used when every ``requires`` column is present and any term is."""

    target: str
    terms: Combo
    requires: tuple[str, ...] = ()


@dataclass(frozen=True)
class Shape:
    name: str
    title: str
    source: str  # the official document the names come from
    rules: tuple[Rule, ...]
    keys: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # contract field ← first present column
    known: Mapping[str, str] = field(default_factory=dict)  # column read and deliberately not priced → why
    checks: tuple[tuple[Combo, Combo, str], ...] = ()  # rows where the two sums differ are invalid (the text)
    prefixes: tuple[str, ...] = ("usage.",)  # the object the names sit in, when a flattening kept it
    billed: str | None = None  # what the billed cost means, for the report

    def columns(self) -> set[str]:
        """Every column name this shape reads or knows."""
        names = {c for rule in self.rules for c, _ in rule.terms} | {c for r in self.rules for c in r.requires}
        names |= {c for cols in self.keys.values() for c in cols} | set(self.known)
        return names

    def count_columns(self) -> list[str]:
        """The count columns this shape reads, in the order its rules name them."""
        seen: dict[str, None] = {}
        for rule in self.rules:
            for column, _ in rule.terms:
                seen.setdefault(column)
        return list(seen)


def _one(column: str) -> Combo:
    return ((column, 1),)


def _rename(pairs: Mapping[str, str]) -> tuple[Rule, ...]:
    return tuple(Rule(target, _one(column)) for column, target in pairs.items())


# The contract's own key names are read in every shape: a log with `timestamp,model,input_tokens,output_tokens`
# names its time and model the engine's way whatever its counts are called.
_BASE_KEYS: dict[str, tuple[str, ...]] = {
    "timestamp": ("timestamp",),
    "model": ("model",),
    "provider": ("provider",),
    "endpoint": ("endpoint",),
    "id": ("id",),
    # the counts of other kinds of model (video seconds, characters of speech …), in the contract's names
    **{name: (name,) for name in UNIT_COLUMNS},
}
_TOTAL = "the sum of the prompt and completion counts: its parts are priced"
_OPENROUTER_MONEY = {
    "billed_cost": ("cost",),  # usage.cost: what OpenRouter billed (0 for BYOK)
    "upstream_cost": ("cost_details.upstream_inference_cost",),  # BYOK: what the provider billed
    "is_byok": ("is_byok",),
}

CONTRACT = Shape(
    "contract",
    "the engine's own names",
    "catalog.cost.usage (this project's usage contract)",
    _rename({name: name for name in COUNT_COLUMNS}),
    keys={name: (name,) for name in USAGE_SCHEMA if name not in COUNT_COLUMNS},
    prefixes=(),
    billed="billed_cost (upstream_cost when is_byok)",
)

OPENAI_CHAT = Shape(
    "openai-chat",
    "OpenAI Chat Completions usage (and OpenRouter's, which extends it)",
    "OpenAI API reference, CompletionUsage; OpenRouter API reference, chat completion usage",
    _rename(
        {
            "prompt_tokens": "prompt_tokens",
            "completion_tokens": "completion_tokens",
            "prompt_tokens_details.cached_tokens": "cache_read_tokens",
            "prompt_tokens_details.cache_write_tokens": "cache_write_tokens",  # OpenRouter
            "prompt_tokens_details.audio_tokens": "audio_input_tokens",
            "completion_tokens_details.reasoning_tokens": "reasoning_tokens",
            "completion_tokens_details.audio_tokens": "audio_output_tokens",
            "completion_tokens_details.image_tokens": "image_output_tokens",  # OpenRouter
            "server_tool_use_details.web_search_requests": "web_searches",  # OpenRouter
        }
    ),
    keys={**_BASE_KEYS, "timestamp": ("timestamp", "created"), **_OPENROUTER_MONEY},
    known={
        "total_tokens": _TOTAL,
        "completion_tokens_details.accepted_prediction_tokens": "inside completion_tokens, billed as completion",
        "completion_tokens_details.rejected_prediction_tokens": "inside completion_tokens, billed as completion",
        "prompt_tokens_details.video_tokens": "inside prompt_tokens; no separate video price is listed",
    },
    billed="usage.cost (cost_details.upstream_inference_cost when is_byok)",
)

OPENAI_RESPONSES = Shape(
    "openai-responses",
    "OpenAI Responses API usage (and OpenRouter's)",
    "OpenAI API reference, ResponseUsage; OpenRouter API reference, Responses API usage",
    _rename(
        {
            "input_tokens": "prompt_tokens",
            "output_tokens": "completion_tokens",
            "input_tokens_details.cached_tokens": "cache_read_tokens",
            "input_tokens_details.cache_write_tokens": "cache_write_tokens",  # OpenRouter
            "output_tokens_details.reasoning_tokens": "reasoning_tokens",
            "server_tool_use_details.web_search_requests": "web_searches",  # OpenRouter
        }
    ),
    keys={**_BASE_KEYS, "timestamp": ("timestamp", "created_at"), **_OPENROUTER_MONEY},
    known={"total_tokens": _TOTAL},
    billed="usage.cost (cost_details.upstream_inference_cost when is_byok)",
)

_5M, _1H = "cache_creation.ephemeral_5m_input_tokens", "cache_creation.ephemeral_1h_input_tokens"
_CREATION, _READ = "cache_creation_input_tokens", "cache_read_input_tokens"
ANTHROPIC = Shape(
    "anthropic",
    "Anthropic Messages usage (input_tokens excludes the cache)",
    "Anthropic API reference, Messages: Usage (cache_creation, cache_read_input_tokens, server_tool_use)",
    (
        # The prompt is input + cache reads + cache writes: Anthropic counts them beside each other.
        Rule("prompt_tokens", (("input_tokens", 1), (_READ, 1), (_CREATION, 1)), requires=(_CREATION,)),
        Rule("prompt_tokens", (("input_tokens", 1), (_READ, 1), (_5M, 1), (_1H, 1))),
        Rule("completion_tokens", _one("output_tokens")),
        Rule("cache_read_tokens", _one(_READ)),
        # With the TTL split, 5-minute writes are its 5m part; without it every write is a 5-minute write (the
        # only TTL before the split existed).
        Rule("cache_write_tokens", _one(_5M), requires=(_5M,)),
        Rule("cache_write_tokens", ((_CREATION, 1), (_1H, -1))),
        Rule("cache_write_1h_tokens", _one(_1H)),
        Rule("reasoning_tokens", _one("output_tokens_details.thinking_tokens")),  # inside output_tokens
        Rule("web_searches", _one("server_tool_use.web_search_requests")),
    ),
    keys=_BASE_KEYS,
    known={"server_tool_use.web_fetch_requests": "web fetches: OpenRouter lists no price for them"},
    checks=(
        (
            _one(_CREATION),
            ((_5M, 1), (_1H, 1)),
            "cache_creation_input_tokens is not the sum of its 5-minute and 1-hour parts (cache_creation.*)",
        ),
    ),
    prefixes=("usage.", "message.usage."),
)

GENERATION = Shape(
    "openrouter-generation",
    "OpenRouter GET /generation records (native token counts, billed total_cost)",
    "OpenRouter OpenAPI spec, GET /generation: GenerationResponse.data",
    _rename(
        {
            "native_tokens_prompt": "prompt_tokens",
            "native_tokens_completion": "completion_tokens",
            "native_tokens_cached": "cache_read_tokens",  # inside native_tokens_prompt, as in usage
            "native_tokens_reasoning": "reasoning_tokens",  # inside native_tokens_completion
            "native_tokens_completion_images": "image_output_tokens",
        }
    ),
    keys={
        **_BASE_KEYS,
        "timestamp": ("timestamp", "created_at"),
        "provider": ("provider", "provider_name"),
        "billed_cost": ("total_cost",),
        "upstream_cost": ("upstream_inference_cost",),
        "is_byok": ("is_byok",),
    },
    known={
        "tokens_prompt": "normalised (GPT tokenizer) count; OpenRouter bills the native_tokens_* counts",
        "tokens_completion": "normalised (GPT tokenizer) count; OpenRouter bills the native_tokens_* counts",
        "usage": "the same amount as total_cost",
    },
    prefixes=("data.",),
    billed="total_cost (upstream_inference_cost when is_byok)",
)

ACTIVITY = Shape(
    "openrouter-activity",
    "OpenRouter GET /activity rows (one day × model × endpoint, summed over its requests)",
    "OpenRouter OpenAPI spec, GET /activity: ActivityItem",
    _rename(
        {
            "prompt_tokens": "prompt_tokens",
            "completion_tokens": "completion_tokens",
            "reasoning_tokens": "reasoning_tokens",
            "requests": "requests",
        }
    ),
    keys={
        **_BASE_KEYS,
        "timestamp": ("timestamp", "date"),
        "provider": ("provider", "provider_name"),
        "billed_cost": ("usage",),
        "upstream_cost": ("byok_usage_inference",),
    },
    known={"model_permaslug": "the dated id of model; model is read", "endpoint_id": "OpenRouter's endpoint UUID"},
    prefixes=("data.",),
    billed="usage (byok_usage_inference for an all-BYOK row: usage 0)",
)

LITELLM = Shape(
    "litellm",
    "LiteLLM proxy spend logs (LiteLLM_SpendLogs)",
    "LiteLLM schema.prisma, model LiteLLM_SpendLogs",
    _rename({"prompt_tokens": "prompt_tokens", "completion_tokens": "completion_tokens"}),
    keys={
        **_BASE_KEYS,
        "timestamp": ("timestamp", "startTime"),
        "provider": ("provider", "custom_llm_provider"),
        "id": ("id", "request_id"),
        "billed_cost": ("spend",),
    },
    known={"total_tokens": _TOTAL},
    prefixes=(),
    billed="spend",
)

GENAI_PRICES = Shape(
    "genai-prices",
    "genai-prices Usage (input_tokens includes cache reads and writes)",
    "pydantic/genai-prices, genai_prices.types.Usage / AbstractUsage",
    (
        Rule("prompt_tokens", _one("input_tokens")),
        Rule("completion_tokens", _one("output_tokens")),
        Rule("cache_read_tokens", _one("cache_read_tokens")),  # cached audio included: billed at the cache rate
        Rule("cache_write_tokens", _one("cache_write_tokens")),
        # Audio read from the cache is inside both input_audio_tokens and cache_read_tokens; the engine's parts
        # are disjoint, so only the uncached audio is audio input.
        Rule("audio_input_tokens", (("input_audio_tokens", 1), ("cache_audio_read_tokens", -1))),
        Rule("audio_output_tokens", _one("output_audio_tokens")),  # inside output_tokens, as its extractors fill it
        Rule("requests", _one("requests")),
    ),
    keys=_BASE_KEYS,
    prefixes=(),
)

# In this order ties are broken: the engine's own names first, then the more specific shapes.
SHAPES: tuple[Shape, ...] = (
    CONTRACT,
    OPENAI_CHAT,
    OPENAI_RESPONSES,
    ANTHROPIC,
    GENAI_PRICES,
    GENERATION,
    ACTIVITY,
    LITELLM,
)
BY_NAME = {shape.name: shape for shape in SHAPES}
MAP_FIELDS = tuple(name for name in USAGE_SCHEMA if name != "source")


def count_like(column: str) -> bool:
    """A column name that looks like a count someone meant to be priced: ``*token*`` (any case), ``*_count`` or
    ``*Count`` (not ``discount``), ``*requests``."""
    leaf = column.rsplit(".", 1)[-1]
    return (
        "token" in column.lower() or bool(re.search(r"(^|_)count$|Count$", leaf)) or leaf.lower().endswith("requests")
    )


def _norm(name: str) -> str:
    """One spelling for ``a.b``, ``a_b``, ``a__b``, ``a/b`` and any case."""
    return re.sub(r"[._/\-]+", "_", name.strip().lower())


def accepted_names() -> str:
    """Every shape's count names, one line (for errors and ``cost --help``)."""
    return "; ".join(f"{s.name}: {', '.join(s.count_columns())}" for s in SHAPES)


@dataclass
class ShapeReport:
    """What was read: the shape, and which input column became which contract field."""

    shape: str
    title: str
    same_as: list[str]  # other shapes that read these columns identically
    used: dict[str, str]  # contract field → its source ("a + b", "x (--map)")
    ignored: dict[str, str]  # input column → why it is not priced
    billed: str | None
    no_counts: int = 0  # rows marked invalid for having no count

    def line(self) -> str:
        """The one stderr line a CLI prints."""
        also = ""
        if self.same_as:
            titles = ", ".join(BY_NAME[name].title.split(" (")[0] for name in self.same_as)
            also = f"; {' and '.join(titles.rsplit(', ', 1))} read these columns the same way"
        used = ", ".join(f"{target} ← {source}" for target, source in self.used.items())
        ignored = f"; not priced: {', '.join(self.ignored)}" if self.ignored else ""
        title = BY_NAME[self.shape].title.split(" (")[0]
        return f"read as {self.shape} ({title}{also}): {used or 'no columns'}{ignored}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "shape": self.shape,
            "title": self.title,
            "same_as": self.same_as,
            "columns": self.used,
            "ignored": self.ignored,
            "billed": self.billed,
            "rows_without_counts": self.no_counts,
        }


@dataclass
class _Plan:
    shape: Shape
    found: dict[str, str]  # the shape's column name → the input column
    formulas: dict[str, Combo]  # contract field → input columns and coefficients (its first rule)
    alternatives: dict[str, list[tuple[tuple[str, ...], Combo]]]  # every rule that applies: (requires, terms)
    keys: dict[str, str]  # contract field → input column
    checks: list[tuple[Combo, Combo, str]]
    counts_read: set[str]  # input columns read as counts

    def signature(self) -> tuple[Any, ...]:
        return (sorted(self.formulas.items()), sorted(self.keys.items()))


def _plan(shape: Shape, columns: Sequence[str]) -> _Plan:
    by_norm: dict[str, str] = {}
    for column in columns:
        by_norm.setdefault(_norm(column), column)
    found: dict[str, str] = {}
    for name in shape.columns():
        for prefix in ("", *shape.prefixes):
            hit = by_norm.get(_norm(prefix + name))
            if hit is not None:
                found[name] = hit
                break
    alternatives: dict[str, list[tuple[tuple[str, ...], Combo]]] = {}
    for rule in shape.rules:
        if not all(r in found for r in rule.requires):
            continue
        terms = tuple((found[c], k) for c, k in rule.terms if c in found)
        if terms:
            # Row by row, the first rule whose required columns hold a value is used.
            alternatives.setdefault(rule.target, []).append((tuple(found[r] for r in rule.requires), terms))
    formulas = {target: alts[0][1] for target, alts in alternatives.items()}
    keys = {}
    for target, names in shape.keys.items():
        present = [found[n] for n in names if n in found]
        if present:
            keys[target] = present[0]
    checks = []
    for left, right, text in shape.checks:
        if all(c in found for c, _ in left + right):
            checks.append((tuple((found[c], k) for c, k in left), tuple((found[c], k) for c, k in right), text))
    read = {c for alts in alternatives.values() for _, terms in alts for c, _ in terms}
    return _Plan(shape, found, formulas, alternatives, keys, checks, read)


def check_shape(forced: str | None) -> str | None:
    """``forced`` if it names a usage shape (checked before any row is read: a typo should not wait for a file)."""
    if forced is not None and forced not in BY_NAME:
        raise InputError(f"format {forced[:40]!r} is not a usage shape; use one of {', '.join(BY_NAME)}")
    return forced


def choose(columns: Sequence[str], *, forced: str | None = None, mapped: Iterable[str] = ()) -> tuple[_Plan, list[str]]:
    """The plan of the shape that reads the most count columns (or ``forced``), and the shapes that would read
    these columns the same way."""
    shape = check_shape(forced)
    if shape is not None:
        return _plan(BY_NAME[shape], columns), []
    free = [c for c in columns if c not in set(mapped)]
    plans = [_plan(shape, free) for shape in SHAPES]
    # Most count columns read, then most columns known at all (an activity row's `date`, `usage`), then order.
    best = max(plans, key=lambda p: (len(p.counts_read), len(p.found), -SHAPES.index(p.shape)))
    same = [p.shape.name for p in plans if p is not best and p.counts_read and p.signature() == best.signature()]
    return best, same


def parse_maps(maps: Iterable[str]) -> dict[str, str]:
    """``COLUMN=FIELD`` options → {column: contract field}."""
    out: dict[str, str] = {}
    for text in maps:
        column, sep, target = text.partition("=")
        column, target = column.strip(), target.strip()
        if not sep or not column or not target:
            raise InputError(f"map {text[:60]!r}: write COLUMN=FIELD, e.g. in_tok=prompt_tokens")
        if target not in MAP_FIELDS:
            raise InputError(
                f"map {text[:60]!r}: {target[:40]!r} is not a usage field; use one of {', '.join(MAP_FIELDS)}"
            )
        out[column] = target
    return out


def _resolve(
    columns: Sequence[str],
    *,
    forced: str | None,
    maps: Mapping[str, str],
    ignore: Iterable[str],
) -> tuple[_Plan, list[str], dict[str, str]]:
    """The plan with ``--map`` applied; every count-looking column left over is an error."""
    missing = [c for c in maps if c not in columns]
    if missing:
        names = ", ".join(repr(c[:40]) for c in missing)
        raise InputError(f"map names {names}, not a column of the usage (columns: {', '.join(columns)})")
    ignored_set = set(ignore)
    # A name that is no column is a typo: the column meant would still be read (or refused) without a word.
    strays = [c for c in ignored_set if c not in columns]
    if strays:
        names = ", ".join(repr(c[:40]) for c in sorted(strays))
        raise InputError(f"ignore-column {names}: not a column of the usage (columns: {', '.join(columns)})")
    usable = [c for c in columns if c not in ignored_set]
    plan, same = choose(usable, forced=forced, mapped=maps)
    for column, target in maps.items():
        if target in COUNT_COLUMNS:
            plan.formulas[target] = ((column, 1),)
            plan.alternatives[target] = [((), ((column, 1),))]
        else:
            plan.keys[target] = column
    if maps:
        same = []
    read = _count_inputs(plan) | set(plan.keys.values())
    known = {plan.found[name]: why for name, why in plan.shape.known.items() if name in plan.found}
    unused = [c for c in usable if count_like(c) and c not in read and c not in known]
    if unused:
        raise InputError(
            f"column{'s' if len(unused) > 1 else ''} {', '.join(repr(c) for c in unused)} "
            f"look{'' if len(unused) > 1 else 's'} like a count but no usage shape reads "
            f"{'them' if len(unused) > 1 else 'it'} (read as {plan.shape.name}); map it with --map COLUMN=FIELD "
            f"or leave it out with --ignore-column COLUMN. Accepted names: {accepted_names()}"
        )
    ignored = {**known, **{c: "--ignore-column" for c in columns if c in ignored_set}}
    return plan, same, ignored


def _count_inputs(plan: _Plan) -> set[str]:
    """Every input column some count rule of the plan reads."""
    return {c for alts in plan.alternatives.values() for _, terms in alts for c, _ in terms}


def _used(plan: _Plan, maps: Mapping[str, str]) -> dict[str, str]:
    used: dict[str, str] = {}
    for target, alts in plan.alternatives.items():
        texts = [" ".join(f"{'-' if k < 0 else '+'} {c}" for c, k in terms).removeprefix("+ ") for _, terms in alts]
        text = " (else ".join(texts) + ")" * (len(texts) - 1)
        used[target] = text + (" (--map)" if any(maps.get(c) == target for c, _ in alts[0][1]) else "")
    for target, column in plan.keys.items():
        used[target] = column + (" (--map)" if maps.get(column) == target else "")
    return used


def _billed(plan: _Plan) -> str | None:
    """What the billed amount is, when the input has one."""
    return plan.shape.billed if {"billed_cost", "upstream_cost"} & plan.keys.keys() else None


def _seen(columns: Sequence[str]) -> str:
    shown = list(columns[:12])
    return ", ".join(shown) + (f", … ({len(columns)} in all)" if len(columns) > 12 else "")


def no_counts_reason(columns: Sequence[str]) -> str:
    return f"no usage counts (columns seen: {_seen(columns) or 'none'})"


# --- frames ----------------------------------------------------------------------------------------------------


def flatten(frame: pl.DataFrame) -> pl.DataFrame:
    """Struct columns (nested JSON objects, Parquet groups) as ``a.b`` columns, at any depth."""
    while any(isinstance(dtype, pl.Struct) for dtype in frame.schema.values()):
        exprs: list[pl.Expr] = []
        for name, dtype in frame.schema.items():
            if isinstance(dtype, pl.Struct):
                exprs += [pl.col(name).struct.field(f.name).alias(f"{name}.{f.name}") for f in dtype.fields]
            else:
                exprs.append(pl.col(name))
        frame = frame.select(exprs)
    return frame


def _count_expr(frame: pl.DataFrame, terms: Combo) -> pl.Expr:
    if len(terms) == 1 and terms[0][1] == 1:
        return pl.col(terms[0][0])  # a rename keeps its type: the contract reports what it cannot read
    parts = []
    for column, k in terms:
        dtype = frame.schema[column]
        if dtype == pl.String:
            raise InputError(f"usage column {column!r} holds text, expected whole numbers")
        kind = pl.Int64 if dtype.is_integer() or dtype == pl.Null else pl.Float64
        parts.append(pl.col(column).cast(kind) * k)
    # Missing parts are 0 when another part of the row is there; a row with none of them has no such count.
    present = pl.any_horizontal([pl.col(c).is_not_null() for c, _ in terms])
    return pl.when(present).then(pl.sum_horizontal(parts))


def _money_text(frame: pl.DataFrame, column: str) -> pl.Expr:
    """An amount as exact text: text as written; a number as the shortest text of its stored value."""
    dtype = frame.schema[column]
    if dtype == pl.String or dtype == pl.Null:
        return pl.col(column).cast(pl.String).str.strip_chars()
    return pl.col(column).cast(pl.String)


def _unit_inputs(plan: Any) -> set[str]:
    """The input columns read as unit counts (a row with only those has counts: video seconds are usage)."""
    return {column for target, column in plan.keys.items() if target in UNIT_COUNT_COLUMNS}


def read_shape(
    frame: pl.DataFrame,
    *,
    forced: str | None = None,
    maps: Mapping[str, str] | None = None,
    ignore: Iterable[str] = (),
) -> tuple[pl.DataFrame, ShapeReport]:
    """``frame`` in any known shape → a frame in contract names (plus its other, non-count columns)."""
    maps = dict(maps or {})
    frame = flatten(frame)
    columns = frame.columns
    plan, same, ignored = _resolve(columns, forced=forced, maps=maps, ignore=ignore)
    exprs: dict[str, pl.Expr] = {}
    for target, alts in plan.alternatives.items():
        expr = _count_expr(frame, alts[-1][1])
        for requires, terms in reversed(alts[:-1]):
            expr = (
                pl.when(pl.all_horizontal([pl.col(r).is_not_null() for r in requires]))
                .then(_count_expr(frame, terms))
                .otherwise(expr)
            )
        exprs[target] = expr.alias(target)
    for target, column in plan.keys.items():
        if target in ("billed_cost", "upstream_cost"):
            exprs[target] = _money_text(frame, column).alias(target)
        else:
            exprs[target] = pl.col(column).alias(target)
    if plan.shape is LITELLM and "model" in exprs:
        exprs["model"] = _litellm_model(exprs["model"], exprs.get("provider"))
    if plan.shape is ACTIVITY and "upstream_cost" in exprs and "billed_cost" in exprs:
        # An activity row is a day's sum: only a row OpenRouter billed nothing for is all BYOK.
        exprs["is_byok"] = (
            (pl.col(plan.keys["billed_cost"]).cast(pl.Float64) == 0)
            & (pl.col(plan.keys["upstream_cost"]).cast(pl.Float64) > 0)
        ).alias("is_byok")
    consumed = _count_inputs(plan) | set(plan.keys.values()) | set(ignored)
    kept = [pl.col(c) for c in columns if c not in consumed and c not in exprs]
    out = frame.select(*kept, *exprs.values())
    # Why a row cannot be priced, from the input columns: no count at all, or counts that contradict each other.
    # Counted first, so a clean file (the usual case) builds no text column.
    inputs = [pl.col(c) for c in sorted(_count_inputs(plan) | _unit_inputs(plan))]
    conditions = [(pl.all_horizontal([c.is_null() for c in inputs] or [pl.lit(True)]), no_counts_reason(columns))]
    for left, right, text in plan.checks:
        conditions.append(((_count_expr(frame, left) != _count_expr(frame, right)).fill_null(False), text))
    found = frame.select(cond.sum().alias(str(i)) for i, (cond, _) in enumerate(conditions)).row(0)
    no_counts = int(found[0] or 0)
    if any(found):
        reasons = [pl.when(cond).then(pl.lit(text)) for cond, text in conditions]
        out = out.with_columns(frame.select(pl.coalesce(reasons).cast(pl.String).alias(INVALID_REASON)))
    report = ShapeReport(plan.shape.name, plan.shape.title, same, _used(plan, maps), ignored, _billed(plan), no_counts)
    return out, report


def _litellm_model(model: pl.Expr, provider: pl.Expr | None) -> pl.Expr:
    """LiteLLM logs the name it sent upstream: ``openrouter/`` routes are OpenRouter ids already; a bare name
    (``gpt-4o``) is its provider's model (``openai/gpt-4o``)."""
    text = model.cast(pl.String).str.strip_prefix("openrouter/")
    if provider is None:
        return text.alias("model")
    bare = ~text.str.contains("/") & provider.is_not_null() & (provider.cast(pl.String) != "openrouter")
    return pl.when(bare).then(pl.concat_str(provider.cast(pl.String), pl.lit("/"), text)).otherwise(text).alias("model")


# --- dict rows (JSON items, the API) ---------------------------------------------------------------------------


def flat_dict(item: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """A nested JSON object as ``a.b`` keys."""
    out: dict[str, Any] = {}
    for key, value in item.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out |= flat_dict(value, name + ".")
        else:
            out[name] = value
    return out


def map_rows(
    rows: Sequence[Mapping[str, Any]],
    *,
    forced: str | None = None,
    maps: Mapping[str, str] | None = None,
    ignore: Iterable[str] = (),
) -> tuple[list[dict[str, Any]], ShapeReport]:
    """Flat dict rows in any known shape → dict rows in contract names, their values as given (the caller checks
    each value, ``catalog.cost.bodies.usage_from_row``). A row without any count carries ``INVALID_REASON``; a sum
    over a value that is not a whole number is left for the value check to describe (the part is passed on)."""
    maps = dict(maps or {})
    flat = [flat_dict(row) for row in rows]
    columns = list({key: None for row in flat for key in row})
    plan, same, ignored = _resolve(columns, forced=forced, maps=maps, ignore=ignore)
    out: list[dict[str, Any]] = []
    for row in flat:
        mapped: dict[str, Any] = {}
        for target, alts in plan.alternatives.items():
            terms = next((t for requires, t in alts if all(row.get(r) is not None for r in requires)), alts[-1][1])
            values = [(row.get(c), k) for c, k in terms]
            if all(v is None for v, _ in values):
                continue
            if len(values) == 1 and values[0][1] == 1:
                mapped[target] = values[0][0]
                continue
            bad = [v for v, _ in values if v is not None and not _whole(v)]
            # A bad part: give the check the bad value itself, so the row is invalid and the value named.
            mapped[target] = bad[0] if bad else sum(int(v) * k for v, k in values if v is not None)
        for target, column in plan.keys.items():
            if row.get(column) is not None:
                mapped[target] = row[column]
        if plan.shape is LITELLM and isinstance(mapped.get("model"), str):
            mapped["model"] = _litellm_model_text(mapped["model"], mapped.get("provider"))
        if plan.shape is ACTIVITY and mapped.get("upstream_cost") is not None:
            mapped["is_byok"] = _number(mapped.get("billed_cost")) == 0 and (_number(mapped["upstream_cost"]) or 0) > 0
        reason = None
        if not any(row.get(c) is not None for c in _count_inputs(plan) | _unit_inputs(plan)):
            reason = no_counts_reason(list(row))
        for left, right, text in plan.checks:
            a, b = _row_sum(row, left), _row_sum(row, right)
            if reason is None and a is not None and b is not None and a != b:
                reason = text
        if reason is not None:
            mapped[INVALID_REASON] = reason
        out.append(mapped)
    report = ShapeReport(
        plan.shape.name,
        plan.shape.title,
        same,
        _used(plan, maps),
        ignored,
        _billed(plan),
        sum(1 for row in out if str(row.get(INVALID_REASON, "")).startswith("no usage counts")),
    )
    return out, report


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _number(value: Any) -> Decimal | None:
    try:
        return Decimal(str(value)) if value is not None and not isinstance(value, bool) else None
    except ArithmeticError:
        return None


def _row_sum(row: Mapping[str, Any], terms: Combo) -> int | None:
    values = [(row.get(c), k) for c, k in terms]
    total = 0
    for value, k in values:
        if not isinstance(value, int) or isinstance(value, bool):
            return None
        total += value * k
    return total


def _litellm_model_text(model: str, provider: Any) -> str:
    model = model.removeprefix("openrouter/")
    if "/" not in model and isinstance(provider, str) and provider and provider != "openrouter":
        return f"{provider}/{model}"
    return model


_TEXT_FIELDS = ("billed_cost", "upstream_cost", "model", "provider", "endpoint", "id", "source")


def text_columns(columns: Sequence[str]) -> list[str]:
    """The columns some shape reads as text (money as written, names, ids): a CSV reader keeps them as text."""
    wanted: set[str] = set()
    for shape in SHAPES:
        for target in _TEXT_FIELDS:
            for name in shape.keys.get(target, ()):
                wanted |= {_norm(prefix + name) for prefix in ("", *shape.prefixes)}
    return [c for c in columns if _norm(c) in wanted]
