"""Exact money as integer fixed point: ``units`` of ``10**-scale`` USD.

Listed prices carry up to 24 fractional digits (``"0.000000022000000000000002"``), so no fixed unit
smaller than that is exact. A price table therefore picks its own ``scale`` — the most fractional digits
any of its rates needs — and every cost it produces is an integer number of ``10**-scale`` dollars.
Integers add and multiply exactly; ``Decimal`` is only the display form, made at the edge. The money
concepts themselves (parsing, spelling, per-million, percent change) are in ``catalog.money``.
"""

from __future__ import annotations

from decimal import Decimal

import polars as pl
import pyarrow as pa

from catalog.money import EXACT

INT64_MAX = 2**63 - 1
MAX_SCALE = 30


def scale_of(value: Decimal) -> int:
    """Fractional digits ``value`` needs to be written exactly (0 for whole numbers)."""
    exponent = value.normalize(EXACT).as_tuple().exponent
    assert isinstance(exponent, int)
    return max(0, -exponent)


def to_units(value: Decimal, scale: int) -> int:
    """``value`` as an integer count of ``10**-scale``; refuses to round."""
    scaled = value.scaleb(scale, EXACT)
    if scaled != scaled.to_integral_value():
        raise ValueError(f"{value} needs more than {scale} fractional digits")
    return int(scaled)


def from_units(units: int, scale: int) -> Decimal:
    """The exact ``Decimal`` of ``units`` at ``scale``."""
    return Decimal(units).scaleb(-scale, EXACT)


def decimal_column(units: pl.Series, scale: int) -> pl.Series:
    """Integer units → an exact ``Decimal(38, scale)`` column, without any arithmetic.

    Polars stores decimals as 128-bit integers: Polars 2 reinterprets Int128 as a Decimal in place (checking
    only that each value fits 38 digits), which is twice as fast as the route older versions need, a cast to
    ``Decimal(38, 0)`` relabelled to the scale through Arrow. Neither multiplies a value.
    """
    wide = units.cast(pl.Int128) if units.dtype != pl.Int128 else units
    try:
        return wide.reinterpret(dtype=pl.Decimal(38, scale)).alias(units.name)
    except TypeError:  # pragma: no cover - Polars 1.x: no reinterpret to Decimal
        pass
    whole = wide.cast(pl.Decimal(38, 0))
    relabelled = whole.to_arrow().view(pa.decimal128(38, scale))
    series = pl.from_arrow(relabelled)
    assert isinstance(series, pl.Series)
    return series.alias(units.name)
