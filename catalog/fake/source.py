"""Where the fake server's days come from: anything shaped like ``catalog.bundle.Bundle``.

The fake depends on the shape, not on the bundle module, so tests can hand it a few hand-made days
through :class:`MemorySource` while real runs serve the recorded bundle. ``resolve_day`` is the one
place that turns a ``--day`` value into a snapshot id.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from catalog.errors import NotFoundError


class SnapshotInfoLike(Protocol):
    """The parts of ``catalog.bundle.SnapshotInfo`` the fake reads."""

    @property
    def id(self) -> str: ...
    @property
    def taken_at(self) -> datetime: ...
    @property
    def kind(self) -> str: ...


class DayStateLike(Protocol):
    """The parts of ``catalog.bundle.DayState`` the fake reads: one recorded day in v1 shapes."""

    @property
    def info(self) -> SnapshotInfoLike: ...
    @property
    def models(self) -> Sequence[Mapping[str, Any]]: ...
    @property
    def endpoints(self) -> Mapping[str, Mapping[str, Any]]: ...
    @property
    def providers(self) -> Sequence[Mapping[str, Any]] | None: ...


class SnapshotSource(Protocol):
    """Lists snapshots in time order and loads one; ``catalog.bundle.Bundle`` is the real one."""

    def snapshots(self, kind: str | None = None) -> Sequence[SnapshotInfoLike]: ...
    def load(self, snapshot_id: str) -> DayStateLike: ...


@dataclass(frozen=True)
class MemorySnapshot:
    """A snapshot's identity for :class:`MemorySource` days."""

    id: str
    taken_at: datetime
    kind: str = "full"


@dataclass(frozen=True)
class MemoryDay:
    """One hand-made day: ``models`` is the ``/models`` data list, ``endpoints`` maps model id to the
    ``/endpoints`` data object, ``providers`` is the ``/providers`` data list (None: a models-only day)."""

    info: MemorySnapshot
    models: list[dict[str, Any]]
    endpoints: dict[str, dict[str, Any]] = field(default_factory=dict)
    providers: list[dict[str, Any]] | None = None
    more_models: list[dict[str, Any]] = field(default_factory=list)
    """Models of the other kinds, listed only for ``output_modalities`` other than the default ``text``."""


def memory_day(
    day: str,
    models: list[dict[str, Any]],
    endpoints: dict[str, dict[str, Any]] | None = None,
    providers: list[dict[str, Any]] | None = None,
    *,
    kind: str | None = None,
) -> MemoryDay:
    """A :class:`MemoryDay` taken at noon UTC of ``day`` (``YYYY-MM-DD``); the kind defaults to ``full``
    when providers are given and ``models`` otherwise, matching the bundle's two kinds of snapshot."""
    taken_at = datetime.fromisoformat(day).replace(hour=12, tzinfo=UTC)
    snapshot_kind = kind or ("full" if providers is not None else "models")
    return MemoryDay(MemorySnapshot(day, taken_at, snapshot_kind), models, endpoints or {}, providers)


class MemorySource:
    """A :class:`SnapshotSource` over days held in memory, for tests and demos."""

    def __init__(self, days: Iterable[MemoryDay]) -> None:
        self._days = {d.info.id: d for d in sorted(days, key=lambda d: d.info.taken_at)}

    def snapshots(self, kind: str | None = None) -> list[MemorySnapshot]:
        """Snapshot infos in time order, optionally only one kind."""
        return [d.info for d in self._days.values() if kind is None or d.info.kind == kind]

    def load(self, snapshot_id: str) -> MemoryDay:
        """The day with this id; NotFoundError when there is none."""
        try:
            return self._days[snapshot_id]
        except KeyError:
            raise NotFoundError(f"no snapshot {snapshot_id!r} in this source; known: {list(self._days)}") from None


def resolve_day(source: SnapshotSource, day: str | None) -> str:
    """The snapshot id to serve for ``day``.

    ``None`` means the newest full day (the newest snapshot of any kind if there is no full one). A
    snapshot id is used as is; otherwise ``YYYY-MM-DD`` picks that date's snapshot, a full one first and
    the latest one when a date has several.
    """
    snapshots = list(source.snapshots())
    if not snapshots:
        raise NotFoundError("the snapshot source is empty; build the bundle first (data/bundle)")
    if day is None:
        full = [s for s in snapshots if s.kind == "full"]
        return (full or snapshots)[-1].id
    for snap in snapshots:
        if snap.id == day:
            return snap.id
    same_date = [s for s in snapshots if s.taken_at.date().isoformat() == day]
    if same_date:
        full = [s for s in same_date if s.kind == "full"]
        return (full or same_date)[-1].id
    raise NotFoundError(
        f"no snapshot for day {day!r}; available: {snapshots[0].id} … {snapshots[-1].id} ({len(snapshots)} snapshots)"
    )
