"""Where a snapshot job fetches from: OpenRouter (or any base URL), or the recorded days replayed in-process.

A source turns "take a snapshot now" into a :class:`FetchPlan`: the settings to fetch with, which kinds, and
the time to stamp. Live sources stamp the fetch time; the replay source serves the next recorded day that
the history does not hold yet and stamps it with its recorded time, so a demo shows the history growing one
day per tick through the same HTTP code path.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

import duckdb

from catalog.bundle import Bundle, SnapshotInfo
from catalog.redact import redact
from catalog.replay import KINDS_FOR, replay_server
from catalog.settings import FetchSettings, bundle_dir
from catalog.store.snapshots import newest_good_snapshot


@dataclass(frozen=True)
class FetchPlan:
    settings: FetchSettings
    kinds: frozenset[str]
    taken_at: datetime | None = None
    source: str | None = None
    label: str | None = None


class Source(Protocol):
    name: str

    def plan(self, con: duckdb.DuckDBPyConnection, kinds: frozenset[str]) -> FetchPlan | None:
        """What to fetch now; ``None`` when there is nothing left to fetch (replay finished)."""
        ...

    def close(self) -> None: ...


class LiveSource:
    """OpenRouter itself, or whatever ``OPENROUTER_BASE_URL`` / ``--base-url`` points at."""

    def __init__(self, settings: FetchSettings) -> None:
        self.settings = settings
        # The name is shown (banner, /service, /health, the service file): the URL without its credentials.
        self.name = redact(settings.base_url)

    def plan(self, con: duckdb.DuckDBPyConnection, kinds: frozenset[str]) -> FetchPlan | None:
        return FetchPlan(self.settings, kinds)

    def close(self) -> None:
        pass


class ReplaySource:
    """The bundled recorded days, served by an in-process fake OpenRouter, one day per snapshot job run."""

    name = "replay"

    def __init__(self, bundle: Bundle, *, concurrency: int = 8) -> None:
        self.bundle = bundle
        self.concurrency = concurrency
        self._stack = ExitStack()
        first = bundle.snapshots()[0].id
        self.fake, base_url = self._stack.enter_context(replay_server(bundle, first))
        self.settings = FetchSettings(base_url=base_url, concurrency=concurrency)

    def initial_snapshots(self) -> list[SnapshotInfo]:
        """What an empty history starts from: every snapshot up to and including the first full day."""
        chosen: list[SnapshotInfo] = []
        for info in self.bundle.snapshots():
            chosen.append(info)
            if info.kind == "full":
                break
        return chosen

    def remaining(self, con: duckdb.DuckDBPyConnection) -> Iterator[SnapshotInfo]:
        newest = newest_good_snapshot(con)
        return (s for s in self.bundle.snapshots() if newest is None or s.taken_at > newest)

    def plan(self, con: duckdb.DuckDBPyConnection, kinds: frozenset[str]) -> FetchPlan | None:
        # A recorded day is replayed whole (its kinds, not the job's): the day carries its own providers.
        info = next(self.remaining(con), None)
        if info is None:
            return None
        self.fake.set_day(info.id)
        return FetchPlan(self.settings, KINDS_FOR[info.kind], info.taken_at, f"replay:{info.id}", f"day {info.id}")

    def close(self) -> None:
        self._stack.close()


def make_source(name: str | None, *, base_url: str | None = None, concurrency: int | None = None) -> Source:
    """The source a config names: ``replay`` (the bundled days), else OpenRouter or ``base_url``."""
    if name == "replay":
        return ReplaySource(Bundle(bundle_dir()), concurrency=concurrency or 8)
    return LiveSource(FetchSettings.from_env(base_url=base_url, concurrency=concurrency))
