"""Instants given on the command line or in a query: a date or an ISO timestamp, always UTC-aware.

A bare date means the whole UTC day: as a start (``--since``) it is 00:00, as an end (``--until``,
``--as-of``) it is the last instant of that day — so ``--as-of 2026-07-20`` is the state at the end of the
20th, which includes that day's snapshot.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal

from catalog.errors import InputError

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def parse_instant(text: str, *, bound: Literal["start", "end"] = "end", what: str = "time") -> datetime:
    raw = text.strip()
    try:
        return _parse(raw, bound)
    except (ValueError, OverflowError):
        raise InputError(
            f"{what} {text!r} is not a date or an ISO timestamp; use e.g. 2026-07-20 or 2026-07-20T12:00:00Z"
        ) from None


def _parse(raw: str, bound: Literal["start", "end"]) -> datetime:
    """Raises ValueError, or OverflowError at the ends of the calendar (9999-12-31 as an end, far offsets)."""
    if _DATE.match(raw):
        day = date.fromisoformat(raw)
        if bound == "start":
            return datetime.combine(day, time.min, tzinfo=UTC)
        return datetime.combine(day + timedelta(days=1), time.min, tzinfo=UTC) - timedelta(microseconds=1)
    value = datetime.fromisoformat(raw.replace("Z", "+00:00") if raw.endswith("Z") else raw)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def now() -> datetime:
    return datetime.now(UTC)


def iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
