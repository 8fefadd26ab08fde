"""Exact JSON for programs (the CLI's ``--json`` and the API): money as decimal strings, times ISO-8601 UTC."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from catalog.money import canonical
from catalog.times import iso


def jsonable(value: Any) -> Any:
    """``value`` with every Decimal as its canonical string and every datetime as ISO-8601 UTC (``…Z``).

    The one place where money becomes JSON text: records keep ``Decimal`` amounts until here."""
    if isinstance(value, Decimal):
        return canonical(value)
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value
