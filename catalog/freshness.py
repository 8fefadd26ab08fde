"""How old the data behind an answer is: ``DataAge``, and the good snapshots held in memory (``SnapshotLog``).

Every answer (CLI, API, ``Catalog.cheapest``, the site) names the snapshot it was computed from — the newest
good one taken at or before its ``as_of`` — and the age of the history: now minus the newest good snapshot.
The history is **stale** when that age exceeds a threshold: by default twice the catalog sweep's interval
(``catalog up`` passes 2 × its configured ``snapshot_catalog`` interval; elsewhere ``CATALOG_STALE_AFTER``,
else 2 h, twice the default hourly sweep — ``catalog.settings.stale_after``). An answer as of a past instant
is not stale for being about the past: staleness is about whether the history still follows the catalog.

Pure: no store, no I/O. ``catalog.store.snapshots.snapshot_log`` reads the log from a history.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from catalog.times import iso, now

DEFAULT_STALE_AFTER = 2 * 3600.0  # seconds: twice the default hourly catalog sweep


@dataclass(frozen=True)
class DataAge:
    """The snapshot an answer was computed from, and how old the history is.

    ``snapshot_id`` / ``snapshot_at``: the good snapshot in force at the answer's ``as_of`` (``None`` for an
    ``as_of`` before the first snapshot); ``newest_snapshot_at``: the newest good snapshot of the history;
    ``age_seconds``: now − ``newest_snapshot_at`` (whole seconds, never negative); ``stale``: ``age_seconds >
    stale_after_seconds``.
    """

    snapshot_id: int | None
    snapshot_at: datetime | None
    newest_snapshot_at: datetime
    age_seconds: int
    stale: bool
    stale_after_seconds: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "snapshot_id": self.snapshot_id,
            "snapshot_at": iso(self.snapshot_at),
            "newest_snapshot_at": iso(self.newest_snapshot_at),
            "age_seconds": self.age_seconds,
            "stale": self.stale,
            "stale_after_seconds": self.stale_after_seconds,
        }

    @property
    def age_text(self) -> str:
        """The age for people: ``"40 s"``, ``"25 min"``, ``"5 h"``, ``"119 days"``."""
        return describe_age(self.age_seconds)

    def warning(self) -> str | None:
        """One line saying the history is stale (``None`` when it is not)."""
        if not self.stale:
            return None
        return (
            f"warning: the newest snapshot is from {self.newest_snapshot_at:%Y-%m-%d %H:%M}Z, {self.age_text} ago "
            f"(stale after {describe_age(self.stale_after_seconds)}); prices may have changed since — "
            "run `catalog up` or `catalog sync` to catch up"
        )


def describe_age(seconds: float) -> str:
    """A duration in its largest sensible unit, rounded down."""
    if seconds < 120:
        return f"{int(seconds)} s"
    if seconds < 120 * 60:
        return f"{int(seconds // 60)} min"
    if seconds < 48 * 3600:
        return f"{int(seconds // 3600)} h"
    return f"{int(seconds // 86400)} days"


class SnapshotLog:
    """The good snapshots of a history (id and time, oldest first), held in memory so that "the snapshot in
    force at ``at``" and "the newest" cost a bisect, not a query."""

    __slots__ = ("ids", "times")

    def __init__(self, snapshots: Sequence[tuple[int, datetime]]) -> None:
        ordered = sorted(snapshots, key=lambda s: s[1])
        self.ids = [s[0] for s in ordered]
        self.times = [s[1] for s in ordered]

    def __len__(self) -> int:
        return len(self.times)

    def extended(self, added: Sequence[tuple[int, datetime]]) -> SnapshotLog:
        """This log with the snapshots ``added`` (stored after its newest): appended, not sorted again with a
        year of others, when they are all taken at or after its newest (else the whole log is sorted)."""
        ordered = sorted(added, key=lambda s: s[1])
        if ordered and self.times and ordered[0][1] < self.times[-1]:
            return SnapshotLog([*zip(self.ids, self.times, strict=True), *added])
        log = object.__new__(SnapshotLog)
        log.ids = self.ids + [s[0] for s in ordered]
        log.times = self.times + [s[1] for s in ordered]
        return log

    @property
    def newest(self) -> datetime | None:
        return self.times[-1] if self.times else None

    def in_force(self, at: datetime) -> tuple[int, datetime] | None:
        """The newest good snapshot taken at or before ``at`` (``None`` before the first)."""
        index = bisect.bisect_right(self.times, at)
        return (self.ids[index - 1], self.times[index - 1]) if index else None

    def default_as_of(self) -> datetime | None:
        """What an omitted ``as_of`` stands for: the newest good snapshot at or before now."""
        found = self.in_force(now())
        return found[1] if found else None

    def age(self, at: datetime, stale_after: float, *, when: datetime | None = None) -> DataAge | None:
        """The ``DataAge`` of an answer as of ``at``, at ``when`` (default: now); ``None`` for an empty log."""
        newest = self.newest
        if newest is None:
            return None
        found = self.in_force(at)
        seconds = max(0, int(((when or now()) - newest).total_seconds()))
        threshold = int(stale_after)
        return DataAge(
            snapshot_id=found[0] if found else None,
            snapshot_at=found[1] if found else None,
            newest_snapshot_at=newest,
            age_seconds=seconds,
            stale=seconds > threshold,
            stale_after_seconds=threshold,
        )
