"""Instants given on the command line or in a query: a date or an ISO timestamp, always UTC-aware.

A bare date means the whole UTC day: as a start (``--since``) it is 00:00, as an end (``--until``,
``--as-of``) it is the last instant of that day — so ``--as-of 2026-07-20`` is the state at the end of the
20th, which includes that day's snapshot.

``now()`` is the one clock of the package (the data's age, the default ``as_of``, run times). ``use_clock``
swaps it for a block — how a test makes a replayed history "recent" without rewriting its timestamps.
Durations (``"90s"``, ``"15m"``, ``"1h30m"``, ``"2h"``, ``"1d"`` or seconds) are read by ``parse_duration``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal

from catalog.errors import InputError

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
# The unix seconds a usage time may be, on every path that reads one (response bodies, flat files, the API):
# 1970-01-01T00:00:00Z to the last second of the year 9999, the calendar a datetime holds. Anything else is a
# bad value for its row, never wrapped around into some other year.
UNIX_SECONDS_RANGE = (0, 253_402_300_799)


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


def _system_clock() -> datetime:
    return datetime.now(UTC)


_clock: Callable[[], datetime] = _system_clock


def now() -> datetime:
    """The current instant, UTC-aware (from the clock ``use_clock`` installed, else the system's)."""
    return _clock()


@contextmanager
def use_clock(clock: Callable[[], datetime] | datetime) -> Iterator[None]:
    """Within the block ``now()`` is ``clock()`` (or the fixed instant given): process-wide, for tests and
    benchmarks; the previous clock comes back on exit."""
    global _clock
    previous = _clock
    _clock = clock if callable(clock) else (lambda: clock)
    try:
        yield
    finally:
        _clock = previous


_DURATION = re.compile(r"^(?:(\d+(?:\.\d+)?)([smhd]))+$")
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)([smhd])")
_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def duration_seconds(text: str) -> float | None:
    """Seconds from ``"90s"``, ``"15m"``, ``"1h30m"``, ``"2h"``, ``"1d"`` or a plain number of seconds; ``None``
    when the text is neither. No range check: each caller has its own (and its own error type)."""
    raw = text.strip().lower().replace(" ", "")
    if not raw.isascii():  # float() reads "١" (an Arabic-Indic one) as 1
        return None
    try:
        return float(raw)
    except ValueError:
        if not _DURATION.match(raw):
            return None
        return sum(float(n) * _DURATION_UNITS[u] for n, u in _DURATION_PART.findall(raw))


def parse_duration(text: str, *, what: str = "duration") -> float:
    """Seconds from a duration text (``duration_seconds``), greater than 0."""
    seconds = duration_seconds(text)
    if seconds is None:
        raise InputError(f'{what} {text!r} is not a duration; write e.g. "90s", "15m", "2h", "1d" or 7200')
    if not math.isfinite(seconds) or seconds <= 0:
        raise InputError(f"{what} {text!r} must be a duration greater than 0 seconds")
    return seconds


def iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
