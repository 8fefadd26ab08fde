"""Money, exactly: parsing amounts, their one spelling, base prices, per-million figures and percent changes.

Every amount is a ``Decimal``: parsed from its text, never through a binary float, and combined here with
enough precision that nothing rounds unless a function says so. Text is made only at the edges (the JSON
encoder, the CLI's tables, the site's filters), each with ``canonical`` or a rounding named here. The
browser's copy of the cost formula (``site/static/cost.js``) works in BigInt units and is tested equal to
the engine. Integer fixed-point units for the engine's columns are in ``catalog.cost.money``.

Only the standard library: every layer may import this module.
"""

from __future__ import annotations

import re
from decimal import MAX_EMAX, MAX_PREC, MIN_EMIN, ROUND_HALF_EVEN, Context, Decimal, InvalidOperation
from typing import Any

# Enough digits for any product of a 38-digit price and a token count, so arithmetic here never rounds
# behind our back.
EXACT = Context(prec=80)
# normalize() rounds to its context's precision (28 digits by default): strip zeros without rounding.
UNROUNDED = Context(prec=MAX_PREC, Emax=MAX_EMAX, Emin=MIN_EMIN)
MILLION = Decimal(1_000_000)

# Plain or scientific decimal text, as upstream writes amounts; Decimal() alone would also take "1_000",
# "Infinity" or "NaN", none of which is an amount, and (as would \d without ASCII) "١" or "٣.٥".
_NUMBER = re.compile(r"^-?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$", re.ASCII)


class AmountFormatError(ValueError):
    """A value that is not an amount we can take exactly; the message names the value."""


def parse_amount(raw: Any, what: str = "amount") -> Decimal:
    """``raw`` (decimal text, scientific notation, an ``int`` or ``Decimal``) as an exact ``Decimal``.

    Refuses floats (a float has already lost the exact value: parse JSON with ``parse_float=Decimal``),
    booleans, and text that is not a plain finite number. ``what`` names the value in the error.
    """
    if isinstance(raw, bool) or raw is None:
        raise AmountFormatError(f"{what} {raw!r} is not a decimal string")
    if isinstance(raw, float):
        raise AmountFormatError(f"{what} {raw!r} arrived as a binary float; parse JSON with parse_float=Decimal")
    text = str(raw).strip()
    if not _NUMBER.match(text):
        raise AmountFormatError(f"{what} {raw!r} is not a plain decimal number")
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise AmountFormatError(f"{what} {raw!r} is not a number") from None
    if not value.is_finite():
        raise AmountFormatError(f"{what} {raw!r} is not finite")
    return value


def reduced(value: Decimal) -> Decimal:
    """``value`` in its shortest exact form: no trailing zeros, and whole numbers with exponent 0.

    An amount read from a ``DECIMAL(38, s)`` column carries ``s`` fractional digits; a record reduces it so
    that what it holds (and what is computed from it) does not depend on the column it came from.
    """
    shortest = value.normalize(UNROUNDED)
    exponent = shortest.as_tuple().exponent
    assert isinstance(exponent, int)
    return shortest.quantize(Decimal(1), context=UNROUNDED) if exponent > 0 else shortest


def canonical(value: Decimal | None) -> str:
    """One spelling per number ("0.000001" == "1e-6" == "0.0000010"); ``dynamic`` for the sentinel."""
    if value is None:
        return "dynamic"
    if value == 0:
        return "0"
    return format(value.normalize(UNROUNDED), "f")


def units_text(units: int, scale: int) -> str:
    """``canonical`` of ``units`` of ``10**-scale`` USD, spelt from the integer without building a Decimal (the
    API writes every amount of a ranking this way, dozens per answer: kept to a few string operations)."""
    if units <= 0:
        return "0" if units == 0 else "-" + units_text(-units, scale)
    digits = str(units)
    if scale <= 0:
        return digits + "0" * -scale
    cut = len(digits) - scale
    if cut > 0:
        fraction = digits[cut:].rstrip("0")
        return f"{digits[:cut]}.{fraction}" if fraction else digits[:cut]
    return "0." + ("0" * -cut + digits).rstrip("0")  # below 1: never a whole number (units > 0)


def significant(value: Decimal, digits: int) -> Decimal:
    """``value`` rounded half-even to ``digits`` significant digits; whole digits are never dropped
    (123456 stays 123456 at 4 digits). For reading only: exact amounts are never rounded."""
    if value == 0:
        return value
    exponent = value.adjusted() - digits + 1
    return value.quantize(Decimal(1).scaleb(exponent), ROUND_HALF_EVEN) if exponent < 0 else value.quantize(1)


def base_price(listed: Decimal | None, discount: Decimal) -> Decimal | None:
    """The undiscounted price: listed prices already include ``discount``, so base = listed / (1 − discount).

    None for a dynamic price, and for a discount of 100 % or more (no base can be recovered from 0)."""
    if listed is None or discount >= 1:
        return None
    return EXACT.divide(listed, 1 - discount) if discount else listed


def per_million(amount: Decimal, tokens: int = 1, *, digits: int | None = None) -> Decimal:
    """``amount`` spread over ``tokens`` tokens, per million tokens ($/M).

    A per-token price is ``per_million(price)``; a request's cost per million of its tokens is
    ``per_million(cost, tokens)``. Exact to 80 digits; ``digits`` rounds to that many significant digits.
    """
    if tokens <= 0:
        raise ValueError(f"per_million of {amount} over {tokens} tokens: the count must be positive")
    value = EXACT.divide(EXACT.multiply(amount, MILLION), Decimal(tokens))
    return value if digits is None else significant(value, digits)


def percent_change(old: Decimal, new: Decimal) -> Decimal | None:
    """How much ``new`` differs from ``old``, in percent of ``old`` (−50 for a halving); None when ``old``
    is 0 (free to priced, or free to free: no percentage says that)."""
    if old == 0:
        return None
    return EXACT.divide(EXACT.multiply(EXACT.subtract(new, old), Decimal(100)), old)
