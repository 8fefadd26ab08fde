"""``catalog up``: the one process that owns the history file.

It loads the bundled history into an empty database, then runs the schedule and serves HTTP until SIGINT or
SIGTERM. Shutting down:

1. the stop event is set: a snapshot still fetching abandons its fetch (nothing is stored; the run is logged
   ``interrupted``), one already storing runs to its commit — each snapshot is one transaction;
2. the scheduler waits for that run to end and starts no other;
3. the HTTP server stops, the service file is removed, the database is closed.

A second signal exits at once; DuckDB's write-ahead log still guarantees that the file holds the last
committed snapshot and nothing of an uncommitted one.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

import duckdb
import uvicorn

from catalog.api import ApiState, create_app, serving_interpreter, settle_heap
from catalog.asgi_server import bind, http_url, serve_config, serve_in_thread
from catalog.bundle import Bundle, SnapshotInfo
from catalog.errors import StoreWriteError, SweepInterrupted
from catalog.redact import redact
from catalog.replay import load_bundle
from catalog.settings import bundle_dir
from catalog.store import queries, runlog
from catalog.store.db import ServiceInfo, connect, remove_service_file, write_service_file
from catalog.store.failures import store_failure
from catalog.store.snapshots import live_snapshots
from catalog.times import iso
from jobs.app import build_app
from jobs.config import DEFAULT_HOST, DEFAULT_PORT, ServiceConfig
from jobs.context import JobContext
from jobs.fetcher import SweepProcess
from jobs.scheduler import build_scheduler, next_runs
from jobs.site import site_folder
from jobs.sources import ReplaySource, Source, make_source

log = logging.getLogger("catalog.service")


@dataclass(frozen=True)
class ServiceOptions:
    db: Path
    config: ServiceConfig
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    base_url: str | None = None
    concurrency: int | None = None


class _RedactingFormatter(logging.Formatter):
    """Every line the service logs goes through ``catalog.redact``: a failure may quote the base URL (with its
    user-info) or an upstream's answer (with an echoed key), and logs are kept and shared."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


def _log_to_stdout() -> None:
    handler = logging.StreamHandler(sys.stdout)
    formatter = _RedactingFormatter("%(asctime)s %(message)s", "%Y-%m-%dT%H:%M:%SZ")
    formatter.converter = time.gmtime
    handler.setFormatter(formatter)
    for name in ("catalog.service", "catalog.jobs"):
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler]
        logger.setLevel(logging.INFO)
        logger.propagate = False
    # The run log and our own lines already say when a run was skipped; APScheduler's warnings would repeat it.
    logging.getLogger("apscheduler").setLevel(logging.ERROR)


class _Signals:
    """SIGINT / SIGTERM: the first asks for a clean stop (``stop`` is set), a second exits at once."""

    def __init__(self) -> None:
        self.stop = threading.Event()
        self._previous: dict[int, Any] = {}

    def install(self) -> None:
        for sig in (signal.SIGINT, signal.SIGTERM):
            self._previous[sig] = signal.signal(sig, self._handle)

    def restore(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)

    def _handle(self, signum: int, _frame: FrameType | None) -> None:
        if self.stop.is_set():
            print("second signal: exiting now (the database keeps its last committed snapshot)", flush=True)
            os._exit(128 + signum)
        self.stop.set()


def _to_load(con: duckdb.DuckDBPyConnection, source: Source) -> tuple[Bundle, list[SnapshotInfo]]:
    """Bundled snapshots still to load: all of them for an empty history, and the rest of them for a history
    that holds nothing but bundled days (a load that was stopped half way goes on where it stopped)."""
    bundle = source.bundle if isinstance(source, ReplaySource) else Bundle(bundle_dir())
    chosen = source.initial_snapshots() if isinstance(source, ReplaySource) else bundle.snapshots()
    live, newest = live_snapshots(con)
    if live:
        return bundle, []  # the history has live snapshots: the bundle is behind it
    return bundle, [s for s in chosen if newest is None or s.taken_at > newest]


def _load(
    con: duckdb.DuckDBPyConnection,
    source: Source,
    stop: threading.Event,
    progress: Callable[[], AbstractContextManager[Callable[[int, int], None]]],
) -> None:
    bundle, chosen = _to_load(con, source)
    if not chosen:
        return
    log.info(
        "loading %d bundled snapshots%s",
        len(chosen),
        " (replay adds one recorded day per sweep after these)" if isinstance(source, ReplaySource) else "",
    )
    done = iter(range(1, len(chosen) + 1))
    started = time.monotonic()
    with progress() as bar:
        # Directly, not over HTTP: the same parse and store as `catalog replay`, without the round trips.
        load_bundle(con, bundle, chosen, on_step=lambda _step: bar(next(done), len(chosen)), stop=stop)
    log.info("loaded %d bundled snapshots in %.1f s", len(chosen), time.monotonic() - started)


def run_service(
    options: ServiceOptions,
    *,
    progress: Callable[[], AbstractContextManager[Callable[[int, int], None]]] | None = None,
) -> None:
    """Run until SIGINT / SIGTERM. Raises ``CatalogError`` for a locked file, a taken port, a bad setting.

    ``progress`` makes the progress bar shown while bundled snapshots load (none by default).
    """
    _log_to_stdout()
    serving_interpreter()  # a sweep storing must not wait 5 ms for the lock after each DuckDB call
    signals = _Signals()
    source: Source | None = None
    sock = bind(options.host, options.port)  # a taken port fails before anything is loaded or written
    con: duckdb.DuckDBPyConnection | None = None
    sweeps: SweepProcess | None = None
    wrote_service_file = False
    signals.install()
    try:
        con = connect(options.db)
        stale = runlog.interrupt_stale_runs(con)
        if stale:
            log.info("marked %d run(s) left 'running' by a stopped process as interrupted", stale)
        source = make_source(options.config.source, base_url=options.base_url, concurrency=options.concurrency)
        try:
            _load(con, source, signals.stop, progress or _no_progress)
        except SweepInterrupted:
            log.info("stopped while loading; every snapshot stored so far is complete (the next start goes on)")
            return
        if signals.stop.is_set():
            return
        started_at = datetime.now(UTC)
        sweeps = SweepProcess()
        sweeps.start()
        ctx = JobContext(
            con=con, db=options.db, config=options.config, source=source, stop=signals.stop, publish=True, sweeps=sweeps
        )
        ctx.log = log.info
        ctx.reader = con.cursor()
        try:
            ctx.publish_copy()
        except StoreWriteError as exc:
            # Fail closed at start, where someone is watching: a service other commands cannot read from
            # (and whose every write would fail the same way) does not start; nothing of the history is lost.
            raise StoreWriteError(f"catalog up did not start: {exc}", fatal=exc.fatal) from None
        with ctx.writing() as writer:
            api_reader = writer.cursor()
        api_state = ApiState(api_reader, options.db, stale_after=options.config.stale_after())

        attach_api_state(ctx, api_state)
        scheduler = build_scheduler(ctx)
        url = http_url(options.host, sock.getsockname()[1])
        if options.host not in WILDCARD_HOSTS:  # a wildcard address is no URL a feed reader can fetch
            ctx.site_url = f"{url}/"
        token = secrets.token_urlsafe(24)
        site = site_folder(ctx)
        build = scheduler.get_job("build_site")
        building = build is not None and not (site / "index.html").is_file()
        if building:
            # No site yet: serve the history now and build the site as the scheduler's first run (a few seconds;
            # `/` is the service's JSON index until then), rather than keep the API and /health waiting for it.
            build.modify(next_run_time=datetime.now(UTC))
        app = build_app(
            ctx, scheduler, url=url, started_at=started_at, token=token, api=create_app(api_state), site=site
        )
        # Everything alive now — the state, and the apps, routes and scheduler made over it — out of the collector's
        # reach before the first request: settled before the apps were made, their objects were left for the first
        # collections under load to walk.
        settle_heap()
        server = uvicorn.Server(serve_config(app, timeout_graceful_shutdown=2))
        with serve_in_thread(server, sock, name="catalog-service"):
            write_service_file(options.db, ServiceInfo(os.getpid(), url, iso(started_at) or "", source.name, token))
            wrote_service_file = True
            scheduler.start()
            _banner(ctx, url, next_runs(scheduler), building=building)
            while not signals.stop.wait(0.5):
                pass
            log.info("stopping: letting the running job commit or roll back …")
            scheduler.shutdown(wait=True)
        if ctx.fatal is not None:
            raise StoreWriteError(f"catalog up stopped: {ctx.fatal}", fatal=True)
        log.info("stopped")
    except duckdb.Error as exc:
        # A full disk or a damaged file met while loading or starting: one line, never a traceback.
        failure = store_failure(exc, options.db)
        if failure is None:
            raise
        raise failure from None
    finally:
        signals.restore()
        sock.close()
        if wrote_service_file:
            remove_service_file(options.db)
        if sweeps is not None:
            sweeps.close()
        if source is not None:
            source.close()
        if con is not None:
            with contextlib.suppress(duckdb.Error):  # an invalidated database may refuse even to close
                con.close()


WILDCARD_HOSTS = ("0.0.0.0", "::", "")


def attach_api_state(ctx: JobContext, api_state: ApiState) -> None:
    """Tie the jobs to the API's in-memory state: it is refreshed after every run (``run_job``'s ``after_run``:
    in a sweep's own run, so before the site build the sweep queues), and the site job builds on its price table
    and snapshot log (``jobs.site``), which each refresh extends by what the sweeps stored."""
    # A refresh settles the collector itself: a young collection and a freeze after an extension, a full
    # one only after a full reload (``ApiState.refresh``), so no full pause follows every sweep.
    ctx.after_run = api_state.refresh
    ctx.data_state = lambda: api_state.current


@contextmanager
def _no_progress() -> Iterator[Callable[[int, int], None]]:
    yield lambda _done, _total: None


def _banner(ctx: JobContext, url: str, upcoming: dict[str, datetime | None], *, building: bool) -> None:
    with ctx.writing() as con:
        summary = queries.holdings(con)
    site_note = "being built, a few seconds; then " if building else ""
    lines = [
        f"catalog service on {url}  (pid {os.getpid()}, stop with Ctrl-C or SIGTERM)",
        f"  site     {url}/   (the static site in {site_folder(ctx)}, {site_note}rebuilt after each sweep)",
        f"  API      {url}/v1/…   docs {url}/docs   OpenAPI {url}/openapi.json",
        f"  health   {url}/health",
        f"  runs     {url}/jobs/runs",
        f"  history  {ctx.db}: {summary['snapshots']} snapshots, "
        f"{iso(summary['first_snapshot'])} → {iso(summary['last_snapshot'])}",
        f"  source   {ctx.source.name}   (schedule from {ctx.config.origin})",
    ]
    for name, schedule in ctx.config.jobs.items():
        when = iso(upcoming.get(name)) if schedule.enabled else None
        lines.append(f"  job      {name}: {schedule.describe()}" + (f", next {when}" if when else ""))
    lines.append("  other catalog commands read the copy this service publishes after each job")
    print("\n".join(lines), flush=True)
