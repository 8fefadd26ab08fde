"""The service's sweeps fetch and parse in a process of their own, so a busy API cannot starve them.

Fetching a sweep is mostly Python work (hundreds of JSON bodies parsed with exact decimals) and the service's
HTTP handlers are too: in one process they share one interpreter lock, and with dozens of requests in flight a
sweep's thread got a small share of it (a 2 s sweep took 29 s under load). The service therefore runs
``fetch_once`` in one long-lived child process (started with "spawn": the parent holds DuckDB and threads, which
a fork would copy mid-use) and gets the parsed ``Sweep`` back; only storing it, a short transaction, stays in
the service. Nothing is stored by the child, so stopping it at any moment loses nothing: a stop or a dead child
ends the sweep as ``SweepInterrupted`` / ``FetchError``, and the next sweep starts a new child.
"""

from __future__ import annotations

import multiprocessing
import signal
import threading
from datetime import datetime
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

from catalog.errors import FetchError, SweepInterrupted
from catalog.openrouter.payload import Sweep
from catalog.settings import FetchSettings

_POLL_SECONDS = 0.1


def _serve(conn: Connection) -> None:
    """The child: fetch what the parent asks for, one sweep at a time, until the pipe closes."""
    # Ctrl-C reaches the whole process group; the parent decides what stops (it ends this process itself).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    from catalog.pipeline import fetch_once

    while True:
        try:
            request = conn.recv()
        except (EOFError, OSError):
            return
        try:
            reply: tuple[str, Any] = ("ok", fetch_once(**request))
        except Exception as exc:  # sent back as text: an exception need not survive pickling
            reply = ("error", f"{type(exc).__name__}: {exc}")
        try:
            conn.send(reply)
        except (BrokenPipeError, OSError):
            return


class SweepProcess:
    """One child process that fetches sweeps for the service (see the module docstring)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._process: BaseProcess | None = None
        self._conn: Connection | None = None

    def _started(self) -> tuple[BaseProcess, Connection]:
        if self._process is None or self._conn is None or not self._process.is_alive():
            self.close()
            context = multiprocessing.get_context("spawn")
            parent, child = context.Pipe()
            process = context.Process(target=_serve, args=(child,), name="catalog-sweep", daemon=True)
            process.start()
            child.close()
            self._process, self._conn = process, parent
        return self._process, self._conn

    def start(self) -> None:
        """Start the child now (it imports the fetch code while the service starts, not in the first sweep)."""
        with self._lock:
            self._started()

    def fetch(
        self,
        settings: FetchSettings,
        *,
        kinds: frozenset[str],
        taken_at: datetime | None,
        source: str | None,
        stop: threading.Event,
    ) -> Sweep:
        """``catalog.pipeline.fetch_once`` in the child; ``stop`` set ends the child and the sweep."""
        with self._lock:
            process, conn = self._started()
            conn.send({"settings": settings, "kinds": kinds, "taken_at": taken_at, "source": source})
            while not conn.poll(_POLL_SECONDS):
                if stop.is_set():
                    self.close()
                    raise SweepInterrupted("the sweep was stopped before it was stored; the history is unchanged")
                if not process.is_alive():
                    code = process.exitcode
                    self.close()
                    raise FetchError(f"the sweep process ended (exit code {code}) before it answered; nothing stored")
            try:
                status, value = conn.recv()
            except (EOFError, OSError) as exc:
                self.close()
                raise FetchError(f"the sweep process ended before it answered ({exc}); nothing stored") from None
        if status != "ok":
            raise FetchError(f"the sweep failed: {value}")
        assert isinstance(value, Sweep)
        return value

    def close(self) -> None:
        """End the child (a sweep it was fetching is dropped: nothing of it was stored)."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        if self._process is not None:
            if self._process.is_alive():
                self._process.terminate()
            self._process.join(timeout=5)
            if self._process.is_alive():
                self._process.kill()
                self._process.join(timeout=5)
            self._process = None
