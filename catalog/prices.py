"""Price sheets as OpenRouter lists them, parsed exactly.

Every price is a decimal string in USD per token (or per request / image / web search). We parse the string
straight into ``Decimal`` — never through a binary float — and keep the original text beside it.

Three rules from the upstream data live here and nowhere else:

* A missing optional key means ``0``. In January 2026 OpenRouter stopped sending zero-valued keys model by
  model; normalising "absent" to "0" is what keeps that from looking like a price change.
* ``"-1"`` is the sentinel of router models (``openrouter/auto`` …): the price is decided per request. It is
  stored as *dynamic* (no number), so such a model is never "cheapest" and never crashes a sweep.
* ``discount`` is already inside the listed prices; it is kept as given and never applied again here.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from catalog.money import UNROUNDED, AmountFormatError, canonical, parse_amount

# Token / unit price keys, in the order the columns appear in storage.
PRICE_KEYS: tuple[str, ...] = (
    "prompt",
    "completion",
    "request",
    "image",
    "image_token",
    "image_output",
    "web_search",
    "internal_reasoning",
    "input_cache_read",
    "input_cache_write",
    "input_cache_write_1h",
    "audio",
    "audio_output",
    "input_audio_cache",
)
NON_PRICE_KEYS = ("discount", "overrides")
OVERRIDE_CONDITIONS = ("min_prompt_tokens", "utc_start", "utc_end")

DYNAMIC_TEXT = "-1"
# Storage is DECIMAL(38, 30): real prices carry up to 23 fractional digits (e.g. "0.00000008333333333333334");
# 8 integer digits still allow $99,999,999 per unit.
SCALE = 30
MAX_INTEGER_DIGITS = 8
ZERO = Decimal(0)


class PriceFormatError(ValueError):
    """A price value that is not a decimal string we can store exactly."""


def parse_price(raw: Any) -> Decimal | None:
    """Parse one listed price exactly; ``None`` means dynamic (the ``-1`` sentinel).

    Accepts decimal strings (``"0.0000002"``), scientific notation (``"5.6e-7"``) and, defensively, JSON
    numbers that reached us as ``Decimal`` or ``int``. Refuses floats: a float has already lost the exact
    value, and refusing makes the caller fix the parse instead of storing a rounded price.
    """
    if str(raw).strip() == DYNAMIC_TEXT and not isinstance(raw, bool | float):
        return None
    try:
        value = parse_amount(raw, "price")
    except AmountFormatError as exc:
        raise PriceFormatError(str(exc)) from None
    if value < 0:
        raise PriceFormatError(f"price {raw!r} is negative (only the exact sentinel '-1' means dynamic)")
    return _check_storable(value, raw)


def _check_storable(value: Decimal, raw: Any) -> Decimal:
    _sign, digits, exponent = value.normalize(UNROUNDED).as_tuple()
    assert isinstance(exponent, int)
    fractional = -exponent if exponent < 0 else 0
    integer_digits = len(digits) + exponent if len(digits) + exponent > 0 else 0
    if fractional > SCALE or integer_digits > MAX_INTEGER_DIGITS:
        raise PriceFormatError(f"price {raw!r} does not fit DECIMAL(38,{SCALE}) exactly")
    return value


@dataclass(frozen=True)
class PriceOverride:
    """One conditional price entry: applies when all its conditions hold; absent keys inherit the base."""

    min_prompt_tokens: int | None
    utc_start: int | None
    utc_end: int | None
    prices: dict[str, Decimal | None]
    texts: dict[str, str]

    def canonical(self) -> dict[str, Any]:
        return {
            "min_prompt_tokens": self.min_prompt_tokens,
            "utc_start": self.utc_start,
            "utc_end": self.utc_end,
            "prices": {k: canonical(v) for k, v in sorted(self.prices.items())},
        }


@dataclass(frozen=True)
class PriceSheet:
    """The prices of one model or endpoint, normalised for storage and comparison.

    ``prices`` has every key of ``PRICE_KEYS`` (missing → 0, dynamic → None); ``texts`` keeps the strings
    exactly as listed (absent keys stay absent); ``unknown`` holds price keys we do not know yet, so a new
    upstream key is visible instead of silently dropped.
    """

    prices: dict[str, Decimal | None]
    texts: dict[str, str]
    discount: Decimal
    discount_text: str | None
    overrides: tuple[PriceOverride, ...] = ()
    unknown: dict[str, Any] = field(default_factory=dict)

    @property
    def dynamic(self) -> bool:
        return any(v is None for v in self.prices.values())

    @property
    def free(self) -> bool:
        return not self.dynamic and not self.overrides and all(v == 0 for v in self.prices.values())

    def canonical(self) -> dict[str, Any]:
        """The comparable form: equal for sheets that bill the same, whatever keys were omitted."""
        return {
            "prices": {k: canonical(self.prices[k]) for k in PRICE_KEYS},
            "discount": canonical(self.discount),
            "overrides": [o.canonical() for o in self.overrides],
            "unknown": {k: str(v) for k, v in sorted(self.unknown.items())},
        }

    def original(self) -> dict[str, Any]:
        """The listed strings as received (for storage beside the exact values)."""
        out: dict[str, Any] = dict(self.texts)
        if self.discount_text is not None:
            out["discount"] = self.discount_text
        if self.overrides:
            out["overrides"] = [
                {
                    **{c: getattr(o, c) for c in OVERRIDE_CONDITIONS if getattr(o, c) is not None},
                    **o.texts,
                }
                for o in self.overrides
            ]
        for key, value in self.unknown.items():
            out[key] = str(value)
        return out


def _as_int(raw: Any, what: str) -> int | None:
    if raw is None:
        return None
    if isinstance(raw, bool):
        raise PriceFormatError(f"{what} {raw!r} is not a number")
    try:
        value = Decimal(str(raw))
    except InvalidOperation:
        raise PriceFormatError(f"{what} {raw!r} is not a number") from None
    if value != value.to_integral_value():
        raise PriceFormatError(f"{what} {raw!r} is not a whole number")
    return int(value)


def _parse_override(entry: Any, index: int) -> PriceOverride:
    if not isinstance(entry, dict):
        raise PriceFormatError(f"overrides[{index}] is {type(entry).__name__}, expected an object")
    prices: dict[str, Decimal | None] = {}
    texts: dict[str, str] = {}
    for key, raw in entry.items():
        if key in OVERRIDE_CONDITIONS:
            continue
        if key not in PRICE_KEYS:
            raise PriceFormatError(f"overrides[{index}] has unknown key {key!r}")
        prices[key] = parse_price(raw)
        texts[key] = str(raw)
    return PriceOverride(
        min_prompt_tokens=_as_int(entry.get("min_prompt_tokens"), "min_prompt_tokens"),
        utc_start=_as_int(entry.get("utc_start"), "utc_start"),
        utc_end=_as_int(entry.get("utc_end"), "utc_end"),
        prices=prices,
        texts=texts,
    )


def parse_price_sheet(pricing: Any) -> PriceSheet:
    """Parse an OpenRouter ``pricing`` object (model or endpoint) into a ``PriceSheet``.

    Raises ``PriceFormatError`` with the offending key for anything that cannot be stored exactly.
    """
    if not isinstance(pricing, dict):
        raise PriceFormatError(f"pricing is {type(pricing).__name__}, expected an object")
    prices: dict[str, Decimal | None] = dict.fromkeys(PRICE_KEYS, ZERO)
    texts: dict[str, str] = {}
    unknown: dict[str, Any] = {}
    for key, raw in pricing.items():
        if key in PRICE_KEYS:
            try:
                prices[key] = parse_price(raw)
            except PriceFormatError as exc:
                raise PriceFormatError(f"pricing.{key}: {exc}") from None
            texts[key] = str(raw)
        elif key in NON_PRICE_KEYS or key == "display_pricing":
            continue
        else:
            unknown[key] = raw
    for required in ("prompt", "completion"):
        if required not in pricing:
            raise PriceFormatError(f"pricing has no {required!r} price")
    raw_discount = pricing.get("discount")
    if raw_discount is None:
        discount, discount_text = ZERO, None
    else:
        # Negative discounts are real (a markup: StreamLake lists -0.2 on xiaomi/mimo-v2.5-pro in
        # August 2026, its prices 1.2x the provider's); only "more than free" is nonsense.
        try:
            discount_value = Decimal(str(raw_discount))
        except InvalidOperation:
            raise PriceFormatError(f"pricing.discount {raw_discount!r} is not a number") from None
        if isinstance(raw_discount, bool | float) or not discount_value.is_finite() or discount_value > 1:
            raise PriceFormatError(f"pricing.discount {raw_discount!r} is not a fraction of at most 1")
        discount, discount_text = _check_storable(discount_value, raw_discount), str(raw_discount)
    raw_overrides = pricing.get("overrides") or []
    if not isinstance(raw_overrides, list):
        raise PriceFormatError("pricing.overrides is not a list")
    overrides = tuple(_parse_override(entry, i) for i, entry in enumerate(raw_overrides))
    return PriceSheet(prices, texts, discount, discount_text, overrides, unknown)


def content_hash(fields: dict[str, Any]) -> str:
    """A stable hash of normalised fields: the identity of one stored version."""
    blob = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:32]
