"""What a job runs against: the database it owns, where it fetches from, and the service's locks."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

from catalog.openrouter.payload import Progress
from catalog.store.db import checkpoint, publish_copy
from jobs.config import ServiceConfig
from jobs.fetcher import SweepProcess
from jobs.sources import Source

if TYPE_CHECKING:
    from catalog.api.state import DataState


@dataclass
class JobResult:
    """How a run ended. ``failed`` runs carry a one-line ``error``; ``summary`` is the line a person reads."""

    status: str  # ok | failed
    summary: str
    rows_changed: int | None = None
    snapshot_id: int | None = None
    error: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass
class JobContext:
    """One process's handle on the history for running jobs.

    ``con`` is the writing connection; every use of it, read or write, holds ``write_lock`` (a DuckDB
    connection must not be used by two threads at once: the job thread and the scheduler's listener both
    write). The service's HTTP handlers read through ``reader``, one at a time under ``read_lock``.
    """

    con: duckdb.DuckDBPyConnection
    db: Path
    config: ServiceConfig
    source: Source
    stop: threading.Event = field(default_factory=threading.Event)
    publish: bool = False
    pid: int = field(default_factory=os.getpid)
    progress: Progress | None = None
    log: Callable[[str], None] = lambda _line: None
    write_lock: threading.RLock = field(default_factory=threading.RLock)
    read_lock: threading.Lock = field(default_factory=threading.Lock)
    reader: duckdb.DuckDBPyConnection | None = None
    # Called after every run (the service rebuilds the API's in-memory structures when a snapshot arrived).
    after_run: Callable[[], Any] | None = None
    site_dir: Path | None = None  # where build_site writes (default: beside the database)
    # The API's data state now (``catalog up``: ``ApiState.current``, refreshed after each run): the site job
    # builds on its price table and snapshot log, which each sweep extends, instead of reading its own.
    data_state: Callable[[], DataState] | None = None
    # Fetches sweeps in a child process (the service: see jobs.fetcher); None fetches in the job's thread.
    sweeps: SweepProcess | None = None
    # The URL the service serves the site at (``catalog up`` sets it once bound): feeds link absolutely to it.
    site_url: str | None = None
    # Set when the database can no longer be used (DuckDB invalidated it after a failed checkpoint): the
    # service stops with this line rather than keep failing every job and request.
    fatal: str | None = None

    def fail(self, reason: str) -> None:
        """Stop the service: the open database is unusable (``reason`` is the one line it exits with)."""
        if self.fatal is None:
            self.fatal = reason
        self.stop.set()

    @contextmanager
    def writing(self) -> Iterator[duckdb.DuckDBPyConnection]:
        with self.write_lock:
            yield self.con

    @contextmanager
    def reading(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A cursor for another thread (the HTTP handlers), one at a time."""
        with self.read_lock:
            if self.reader is None:
                self.reader = self.con.cursor()
            yield self.reader

    def publish_copy(self) -> None:
        """Swap in a fresh read-only copy for other processes (service mode only)."""
        if not self.publish:
            return
        with self.write_lock:
            # Checkpoint first: a long-running writer otherwise keeps up to DuckDB's 16 MB WAL threshold of
            # every sweep's log in memory (each sweep rewrites the latest telemetry and archives payload rows).
            checkpoint(self.con)
            publish_copy(self.con, self.db)
