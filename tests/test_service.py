"""``catalog up`` as a real process: schedules against the fake OpenRouter, survives a dead network, stops
cleanly on SIGTERM mid-sweep, and lets other commands read while it owns the database."""

from __future__ import annotations

import itertools
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from helpers import Ran, run_cli
from test_faults import MODELS, PROVIDERS, listing, memory_day

from catalog.bundle import Bundle
from catalog.fake import FakeOpenRouter, Faults, MemorySource, serve_in_thread
from catalog.pipeline import sync_once
from catalog.replay import replay
from catalog.settings import FetchSettings
from catalog.store.db import connect, published_copy, service_file
from jobs.config import load_config
from jobs.context import JobContext
from jobs.scheduler import build_scheduler
from jobs.service import _to_load
from jobs.sources import LiveSource

HISTORY_TABLES = (
    "snapshots",
    "model_versions",
    "endpoint_versions",
    "endpoint_status",
    "endpoint_telemetry",
    "provider_versions",
    "price_overrides",
    "raw_payloads",
    "raw_blobs",
)
ONLY_THE_SWEEP = {
    "CATALOG_JOB_SNAPSHOT_PROVIDERS_ENABLED": "false",
    "CATALOG_JOB_PRUNE_RAW_ENABLED": "false",
    "CATALOG_JOB_CHECKPOINT_ENABLED": "false",
    "CATALOG_JOB_BUILD_SITE_ENABLED": "false",
}


def history_state(path: Path) -> dict[str, tuple[int, Any]]:
    """Row count and an order-free digest of every history table (everything but the run log)."""
    con = connect(path, read_only=True)
    try:
        return {
            t: tuple(con.execute(f"SELECT count(*), sum(hash(x)) FROM {t} x").fetchall()[0]) for t in HISTORY_TABLES
        }
    finally:
        con.close()


def runs(path: Path, job: str = "snapshot_catalog") -> list[tuple[Any, ...]]:
    con = connect(path, read_only=True)
    try:
        return con.execute(
            "SELECT run_id, status, started_at, finished_at, error_summary, snapshot_id FROM job_runs "
            "WHERE job = ? ORDER BY run_id",
            [job],
        ).fetchall()
    finally:
        con.close()


def wait_until(check: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")


class Up:
    """A ``catalog up`` subprocess; its output is collected line by line."""

    def __init__(self, db: Path, env: dict[str, str], *args: str) -> None:
        full_env = {**os.environ, "CATALOG_DB": str(db), **env}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "catalog", "up", "--db", str(db), "--port", "0", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=full_env,
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        line = wait_until(self._url_line, 90, "the service to print its URL")
        self.url = line.split()[3]

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    def _url_line(self) -> str | None:
        if self.process.poll() is not None and not self._reader.is_alive():
            raise AssertionError("catalog up exited early:\n" + "\n".join(self.lines))
        return next((line for line in self.lines if line.startswith("catalog service on ")), None)

    def health(self, **params: str) -> httpx.Response:
        return httpx.get(f"{self.url}/health", params=params, timeout=10)

    def job(self, name: str = "snapshot_catalog") -> dict[str, Any]:
        return next(j for j in self.health().json()["jobs"] if j["job"] == name)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
        code = self.process.wait(timeout=timeout)
        self._reader.join(timeout=5)
        assert self.process.stdout is not None
        self.process.stdout.close()
        return code

    def output(self) -> str:
        return "\n".join(self.lines)


@pytest.fixture
def history(replayed_template: Path, tmp_path: Path) -> Path:
    """A private copy of the 20 recorded days, so `catalog up` starts without loading the bundle."""
    path = tmp_path / "service.duckdb"
    shutil.copyfile(replayed_template, path)
    return path


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def run_catalog(*args: str, db: Path) -> Ran:
    return run_cli(*args, env={"CATALOG_DB": str(db)})


# --- the scheduler, in-process, against the fake server ---------------------------------------------------


@pytest.fixture
def slow_small_fake() -> Iterator[tuple[FakeOpenRouter, str]]:
    day = memory_day("2026-07-17", MODELS, {m["id"]: listing(m, "DeepInfra", "Together") for m in MODELS}, PROVIDERS)
    # Every request takes 0.5 s: a sweep (/models, then 6 endpoint lists two at a time) lasts ~2 s, twice the
    # 1 s interval. Until the test lifts it, every request fails (500, one attempt): sweeps fail outright.
    fake = FakeOpenRouter(MemorySource([day]), faults=Faults(latency=0.5, failure_rate=1.0, failure_statuses=(500,)))
    with serve_in_thread(fake) as url:
        yield fake, url


@pytest.mark.slow  # several seconds on its own
def test_scheduled_sweeps_never_overlap_and_a_failed_sweep_does_not_stop_the_next(
    slow_small_fake: tuple[FakeOpenRouter, str], tmp_path: Path
) -> None:
    fake, url = slow_small_fake
    db = tmp_path / "scheduled.duckdb"
    con = connect(db)
    config = load_config(None, env={"CATALOG_JOB_SNAPSHOT_CATALOG_EVERY": "1s", **ONLY_THE_SWEEP})
    settings = FetchSettings(base_url=url, concurrency=2, max_attempts=1)
    ctx = JobContext(con=con, db=db, config=config, source=LiveSource(settings))
    scheduler = build_scheduler(ctx, first_delay=timedelta(seconds=0.2))
    scheduler.start()
    try:
        wait_until(lambda: con_runs(ctx, "failed") >= 1, 30, "a failed sweep")
        fake.set_faults(Faults(latency=0.5))
        wait_until(lambda: con_runs(ctx, "ok") >= 3, 60, "three successful sweeps")
    finally:
        ctx.stop.set()
        scheduler.shutdown(wait=True)
    rows = ctx.con.execute(
        "SELECT status, started_at, finished_at, error_summary, snapshot_id FROM job_runs "
        "WHERE job = 'snapshot_catalog' ORDER BY started_at, run_id"
    ).fetchall()
    con.close()
    started = [r for r in rows if r[0] != "skipped"]
    skipped = [r for r in rows if r[0] == "skipped"]
    # The first sweep failed, with a one-line reason, and the schedule carried on.
    assert started[0][0] == "failed"
    assert "/models" in started[0][3] and "500" in started[0][3] and "\n" not in started[0][3]
    first_ok = next(i for i, r in enumerate(started) if r[0] == "ok")
    assert all(r[0] == "failed" for r in started[:first_ok])
    assert [r[0] for r in started[first_ok : first_ok + 3]] == ["ok", "ok", "ok"]
    # No two runs overlapped: each started after the one before had finished.
    for before, after in itertools.pairwise(started):
        if after[0] == "interrupted":
            continue
        assert after[1] >= before[2], f"run at {after[1]} overlapped the one that ended at {before[2]}"
    # Slots that came due during a 2 s sweep were skipped, and the log says why.
    assert skipped, "a 2 s sweep on a 1 s interval must skip slots"
    assert all("still going" in r[3] or "misfire" in r[3] for r in skipped)
    # Each ok run stored exactly one snapshot; the failed one stored a `failed` snapshot with no history.
    con = connect(db, read_only=True)
    snaps = dict(con.execute("SELECT snapshot_id, status FROM snapshots").fetchall())
    con.close()
    assert all(snaps[r[4]] == "failed" for r in started[:first_ok])
    assert [snaps[r[4]] for r in started if r[0] == "ok"] == ["ok"] * len([r for r in started if r[0] == "ok"]), rows


def con_runs(ctx: JobContext, status: str) -> int:
    with ctx.writing() as con:
        row = con.execute(
            "SELECT count(*) FROM job_runs WHERE job = 'snapshot_catalog' AND status = ?", [status]
        ).fetchall()
    return int(row[0][0])


# --- SIGTERM in the middle of a sweep ----------------------------------------------------------------------


@pytest.mark.service
def test_sigterm_mid_sweep_leaves_exactly_the_previous_snapshot(history: Path, bundle: Bundle) -> None:
    before = history_state(history)
    # Serve the first recorded day: stored now, it would open hundreds of versions against the last day.
    fake = FakeOpenRouter(bundle, day="2026-07-17", faults=Faults(latency=0.3))
    with serve_in_thread(fake) as url:
        up = Up(history, {"OPENROUTER_BASE_URL": url, "CATALOG_JOB_SNAPSHOT_CATALOG_EVERY": "1h", **ONLY_THE_SWEEP})
        try:
            wait_until(lambda: fake.log.count() >= 40, 60, "the sweep to be well under way")
            assert up.job()["running"] is True
        finally:
            code = up.stop(signal.SIGTERM)
        requests_at_stop = fake.log.count()
        time.sleep(1)
        assert fake.log.count() == requests_at_stop, "the sweep went on fetching after the service stopped"
    assert code == 0, up.output()
    assert "stopped" in up.output()
    # The database opens cleanly (as a writer, too) and holds exactly what it held before the sweep.
    connect(history).close()
    assert history_state(history) == before
    (run,) = runs(history)
    assert run[1] == "interrupted" and run[3] is not None and run[5] is None
    assert not service_file(history).exists()


# --- no network: the service keeps serving and says what failed --------------------------------------------


@pytest.mark.service
def test_dead_network_is_logged_and_health_shows_it_while_other_commands_read_the_copy(history: Path) -> None:
    env = {
        "OPENROUTER_BASE_URL": f"http://127.0.0.1:{closed_port()}/api/v1",
        "CATALOG_MAX_ATTEMPTS": "1",
        "CATALOG_JOB_SNAPSHOT_CATALOG_EVERY": "2s",
        **ONLY_THE_SWEEP,
    }
    up = Up(history, env)
    try:
        job = wait_until(
            lambda: (j := up.job())["failures"] >= 2 and j["last_run_status"] == "failed" and j, 60, "two failed sweeps"
        )
        assert job["last_run_status"] == "failed"
        assert "connect" in job["last_error"].lower() and "\n" not in job["last_error"]
        assert job["last_success"] is None
        report = up.health().json()
        assert report["status"] == "degraded"
        assert report["snapshots"]["ok"] == 20 and report["snapshots"]["failed"] >= 2
        assert up.health(strict="1").status_code == 503
        assert httpx.get(up.url, timeout=10).status_code == 200  # still serving

        # Another process reads while the service owns the file: it answers from the published copy.
        models = run_catalog("models", "--json", "--as-of", "2026-08-01", db=history)
        assert models.returncode == 0, models.stderr
        assert len(json.loads(models.stdout)) > 300
        assert "reading the copy" in models.stderr and "Traceback" not in models.stderr
        assert published_copy(history).exists()
        # A writer is told what to do, without a traceback.
        sync = run_catalog("sync", db=history)
        assert sync.returncode == 2
        assert f"pid {up.process.pid}" in sync.stderr and "catalog jobs run" in sync.stderr
        assert "Traceback" not in sync.stderr
        # The run log and the health report are one command away.
        status = run_catalog("status", "--json", db=history)
        assert status.returncode == 0, status.stderr
        assert json.loads(status.stdout)["service"]["pid"] == up.process.pid
        history_runs = json.loads(run_catalog("jobs", "history", "--json", db=history).stdout)
        # Every sweep that ran failed (a slot that came due while one was running is logged as skipped).
        assert {r["status"] for r in history_runs} - {"skipped", "running"} == {"failed"}
    finally:
        code = up.stop()
    assert code == 0, up.output()
    assert "failed" in up.output()
    # A clean stop takes the service file and the read-only copy away: readers open the database itself again.
    assert not service_file(history).exists() and not published_copy(history).exists()
    assert run_catalog("snapshots", "--json", db=history).returncode == 0


# --- the replay source: the history grows one recorded day per sweep ---------------------------------------


@pytest.mark.service
def test_replay_source_starts_small_and_adds_one_recorded_day_per_sweep(tmp_path: Path, bundle: Bundle) -> None:
    db = tmp_path / "demo.duckdb"
    initial = [s for s in bundle.snapshots() if s.taken_at <= bundle.snapshots("full")[0].taken_at]
    up = Up(db, {"CATALOG_JOB_SNAPSHOT_CATALOG_EVERY": "1s", **ONLY_THE_SWEEP}, "--source", "replay")
    try:
        assert up.health().json()["service"]["source"] == "replay"
        first = httpx.get(f"{up.url}/v1/snapshots", params={"limit": 1}, timeout=10).json()["total"]
        wait_until(lambda: up.health().json()["snapshots"]["ok"] >= len(initial) + 3, 90, "three replayed days")
        newest = up.health().json()["snapshots"]["newest"]
        # The query API is served by the same process and rebuilt after each snapshot: it sees the new days.
        listed = httpx.get(f"{up.url}/v1/snapshots", params={"limit": 1}, timeout=10)
        assert listed.status_code == 200 and listed.json()["total"] >= len(initial) + 3 > first
        assert listed.headers["etag"] != '"empty"'
        assert httpx.get(f"{up.url}/openapi.json", timeout=10).json()["paths"]["/v1/cheapest"]
        # catalog up calls its data stale after two sweep intervals (here 1 s each); the replayed days are old.
        cheapest = httpx.get(f"{up.url}/v1/cheapest", params={"input": 1000}, timeout=30)
        assert cheapest.status_code == 200 and cheapest.headers["x-data-stale"] == "true"
        assert cheapest.json()["data"]["stale_after_seconds"] == 2 and cheapest.json()["stale"] is True
    finally:
        code = up.stop()
    assert code == 0, up.output()
    con = connect(db, read_only=True)
    stored = [r[0] for r in con.execute("SELECT source FROM snapshots ORDER BY taken_at").fetchall()]
    oks = con.execute("SELECT count(*) FROM job_runs WHERE job = 'snapshot_catalog' AND status = 'ok'").fetchall()
    con.close()
    full_days = [s.id for s in bundle.snapshots("full")]
    # The load stopped at the first full day; each sweep then replayed the next day, in order, at its own time.
    assert stored[: len(initial)] == [f"replay:{s.id}" for s in initial]
    replayed = stored[len(initial) :]
    assert len(replayed) == oks[0][0] >= 3
    assert replayed == [f"replay:{d}" for d in full_days[1 : 1 + len(replayed)]]
    assert newest["taken_at"] is not None


# --- jobs by hand ------------------------------------------------------------------------------------------


def test_jobs_run_by_hand_logs_the_run_and_a_dry_run_stores_nothing(history: Path, bundle: Bundle) -> None:
    fake = FakeOpenRouter(bundle, day="2026-07-17")
    with serve_in_thread(fake) as url:
        env = {"CATALOG_DB": str(history), "OPENROUTER_BASE_URL": url}

        def catalog(*args: str) -> Ran:
            return run_cli(*args, env=env)

        before = history_state(history)
        dry = catalog("jobs", "run", "snapshot_catalog", "--dry-run", "--json")
        assert dry.returncode == 0, dry.stderr
        planned = json.loads(dry.stdout)
        assert planned["status"] == "ok" and "nothing stored" in planned["summary"]
        assert planned["detail"]["versions_opened"] > 100  # day 1 again, after day 20: many prices differ
        assert history_state(history) == before
        assert runs(history) == []

        real = catalog("jobs", "run", "snapshot_catalog", "--json")
        assert real.returncode == 0, real.stderr
        done = json.loads(real.stdout)
        # The dry run counted exactly what the real run then stored.
        assert done["detail"]["versions_opened"] == planned["detail"]["versions_opened"]
        assert done["detail"]["versions_closed"] == planned["detail"]["versions_closed"]
        (run,) = runs(history)
        assert run[1] == "ok" and run[5] == done["snapshot_id"]
        listed = json.loads(catalog("jobs", "list", "--json").stdout)
        assert {j["job"]: j["last_run_status"] for j in listed}["snapshot_catalog"] == "ok"
        bad = catalog("jobs", "run", "snapshot_catalog", "--config", str(history.parent / "missing.toml"))
        assert bad.returncode == 2 and "missing.toml" in bad.stderr and "Traceback" not in bad.stderr


@pytest.mark.slow  # seconds, not milliseconds: left out of make test-fast
def test_an_interrupted_bundled_load_goes_on_where_it_stopped(tmp_path: Path, bundle: Bundle) -> None:
    db = tmp_path / "half.duckdb"
    con = connect(db)
    try:
        replay(con, bundle, bundle.snapshots()[:3])
        source = LiveSource(FetchSettings())
        _bundle, rest = _to_load(con, source)
        assert [s.id for s in rest] == [s.id for s in bundle.snapshots()[3:]]
        # Once the history holds a live snapshot, the bundle is behind it: nothing more is loaded.
        fake = FakeOpenRouter(bundle, day=bundle.snapshots("full")[0].id)
        with serve_in_thread(fake) as url:
            assert sync_once(con, FetchSettings(base_url=url)).status == "ok"
        assert _to_load(con, source)[1] == []
    finally:
        con.close()
