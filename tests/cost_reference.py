"""An independent, one-row-at-a-time reference for the cost engine, written from the domain notes (§2–3).

It shares nothing with ``catalog.cost`` but the parsed ``PriceSheet``: override selection, sub-rate fallbacks,
the exclusive parts of a usage row and the undiscounted base are all spelled out again here, plainly and
slowly, in ``decimal.Decimal`` with a context far wider than any product of a price and a token count. The
engine is vectorised integer fixed point; agreement between the two (with ``==``) is what the tests check.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Context, Decimal, localcontext

from catalog.prices import PriceOverride, PriceSheet

# 200 significant digits: a 38-digit price times a 19-digit count needs 57; nothing here ever rounds
# except the one explicit quantize of cost_base.
WIDE = Context(prec=200)

TERM_NAMES = (
    "input",
    "cache_read",
    "cache_write_5m",
    "cache_write_1h",
    "output",
    "reasoning",
    "request",
    "image",
    "web_search",
    "audio",
)
MONEY_NAMES = (*(f"cost_{t}" for t in TERM_NAMES), "cost_total", "cost_base", "saving")
COUNTS = (
    "prompt_tokens",
    "completion_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "cache_write_1h_tokens",
    "audio_input_tokens",
    "reasoning_tokens",
    "image_output_tokens",
    "audio_output_tokens",
    "requests",
    "images",
    "web_searches",
)


def counts_of(row: dict) -> dict[str, int]:
    """The row's counts with the contract's defaults: a missing count is 0, missing ``requests`` is 1."""
    out = {}
    for name in COUNTS:
        value = row.get(name)
        out[name] = (1 if name == "requests" else 0) if value is None else int(value)
    return out


def row_problem(row: dict) -> str | None:
    """Why the row's counts are impossible (a part larger than its whole, a negative count), or None."""
    c = counts_of(row)
    if any(value < 0 for value in c.values()):
        return "negative count"
    prompt_parts = c["cache_read_tokens"] + c["cache_write_tokens"] + c["cache_write_1h_tokens"]
    prompt_parts += c["audio_input_tokens"]
    if prompt_parts > c["prompt_tokens"]:
        return "prompt parts exceed prompt_tokens"
    completion_parts = c["reasoning_tokens"] + c["image_output_tokens"] + c["audio_output_tokens"]
    if completion_parts > c["completion_tokens"]:
        return "completion parts exceed completion_tokens"
    return None


def utc_clock(at: datetime) -> int:
    """The UTC time of day as an HHMM clock number (23:30 → 2330); a naive datetime is read as UTC."""
    if at.tzinfo is not None:
        at = at.astimezone(UTC)
    return at.hour * 100 + at.minute


def override_applies(override: PriceOverride, prompt_tokens: int, at: datetime) -> bool:
    """Every condition of the entry holds: the whole prompt reaches the threshold, the clock is in the window."""
    if override.min_prompt_tokens is not None and prompt_tokens < override.min_prompt_tokens:
        return False
    start, end = override.utc_start, override.utc_end
    if start is None and end is None:
        return True
    if start is None or end is None:
        raise ValueError("an override window needs both utc_start and utc_end (the domain notes define no other)")
    now = utc_clock(at)
    if start <= end:
        return start <= now < end
    return now >= start or now < end  # the window wraps past midnight


def prices_in_force(sheet: PriceSheet, prompt_tokens: int, at: datetime) -> dict[str, Decimal | None]:
    """The base prices, overwritten key by key by every applying override, in list order (later wins)."""
    prices = dict(sheet.prices)
    for override in sheet.overrides:
        if override_applies(override, prompt_tokens, at):
            for key, value in override.prices.items():
                prices[key] = value
    return prices


def applying_mask(sheet: PriceSheet, prompt_tokens: int, at: datetime) -> int:
    """Bit ``j`` set when override ``j`` applies (what the engine reports as ``overrides_applied``)."""
    mask = 0
    for index, override in enumerate(sheet.overrides):
        if override_applies(override, prompt_tokens, at):
            mask |= 1 << index
    return mask


def _or_parent(value: Decimal | None, parent: Decimal | None) -> Decimal | None:
    """A sub-rate that is absent (parsed as 0) or 0 bills at its parent's rate; dynamic stays dynamic."""
    if value is None:
        return None
    if value == 0:
        return parent
    return value


def reference_status(row: dict, sheet: PriceSheet, at: datetime) -> str:
    """``invalid`` for impossible counts, ``dynamic`` when a price in force is the ``-1`` sentinel, else ``ok``."""
    if row_problem(row) is not None:
        return "invalid"
    prices = prices_in_force(sheet, counts_of(row)["prompt_tokens"], at)
    if _rates(prices) is None:
        return "dynamic"
    return "ok"


def _rates(prices: dict[str, Decimal | None]) -> dict[str, Decimal] | None:
    zero = Decimal(0)
    prompt = prices["prompt"]
    completion = prices["completion"]
    write_5m = _or_parent(prices["input_cache_write"], prompt)
    rates = {
        "prompt": prompt,
        "cache_read": _or_parent(prices["input_cache_read"], prompt),
        "cache_write_5m": write_5m,
        "cache_write_1h": _or_parent(prices["input_cache_write_1h"], write_5m),
        "completion": completion,
        "reasoning": _or_parent(prices["internal_reasoning"], completion),
        "request": prices.get("request", zero),
        "image": prices.get("image", zero),
        "image_output": _or_parent(prices["image_output"], completion),
        "web_search": prices.get("web_search", zero),
        "audio": _or_parent(prices["audio"], prompt),
        "audio_output": _or_parent(prices["audio_output"], completion),
    }
    if any(value is None for value in rates.values()):
        return None
    return {name: value for name, value in rates.items() if value is not None}


def reference_cost(row: dict, sheet: PriceSheet, at: datetime, scale: int = 30) -> dict[str, Decimal | None]:
    """The ten ``cost_*`` terms, ``cost_total``, ``cost_base`` and ``saving`` of one usage row.

    ``at`` is the row's time (it picks time-window overrides); ``scale`` is the unit ``cost_base`` is rounded
    to (``10**-scale`` USD, half up). Money is ``None`` when the row cannot be priced (invalid or dynamic).
    """
    if row_problem(row) is not None:
        return dict.fromkeys(MONEY_NAMES)
    c = counts_of(row)
    rates = _rates(prices_in_force(sheet, c["prompt_tokens"], at))
    if rates is None:
        return dict.fromkeys(MONEY_NAMES)
    with localcontext(WIDE):
        uncached = c["prompt_tokens"] - c["cache_read_tokens"] - c["cache_write_tokens"]
        uncached -= c["cache_write_1h_tokens"] + c["audio_input_tokens"]
        plain_output = c["completion_tokens"] - c["reasoning_tokens"]
        plain_output -= c["image_output_tokens"] + c["audio_output_tokens"]
        terms = {
            "input": uncached * rates["prompt"],
            "cache_read": c["cache_read_tokens"] * rates["cache_read"],
            "cache_write_5m": c["cache_write_tokens"] * rates["cache_write_5m"],
            "cache_write_1h": c["cache_write_1h_tokens"] * rates["cache_write_1h"],
            "output": plain_output * rates["completion"],
            "reasoning": c["reasoning_tokens"] * rates["reasoning"],
            "request": c["requests"] * rates["request"],
            "image": c["images"] * rates["image"] + c["image_output_tokens"] * rates["image_output"],
            "web_search": c["web_searches"] * rates["web_search"],
            "audio": c["audio_input_tokens"] * rates["audio"] + c["audio_output_tokens"] * rates["audio_output"],
        }
        total = sum(terms.values(), Decimal(0))
        # The listed prices already carry the discount: the undiscounted base is listed / (1 − discount).
        remaining = 1 - sheet.discount
        base: Decimal | None
        if remaining <= 0:
            base = None
        else:
            base = (total / remaining).quantize(Decimal(1).scaleb(-scale), rounding=ROUND_HALF_UP)
        out: dict[str, Decimal | None] = {f"cost_{name}": value for name, value in terms.items()}
        out["cost_total"] = total
        out["cost_base"] = base
        out["saving"] = None if base is None else base - total
    return out
