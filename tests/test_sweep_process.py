"""The service fetches and parses its sweeps in a child process (``jobs.fetcher``), so its HTTP handlers cannot
starve a sweep of the interpreter lock (issue 16, item 17: a 2 s sweep took 29 s under load; ``bench/load.py``
measures it). Here: the child's sweep is the one the thread would fetch, a stop ends the child and stores
nothing, a child that dies is a one-line fetch error and the next sweep starts a new one, and a snapshot job run
through a context with a sweep process stores its snapshot; a child killed mid-sweep leaves the history and the
API's answers as they were, and the next sweep stores."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from test_faults import MODELS, PROVIDERS, listing, memory_day

from catalog.api import ApiState, create_app
from catalog.errors import FetchError, SweepInterrupted
from catalog.fake import FakeOpenRouter, Faults, MemorySource, serve_in_thread
from catalog.pipeline import fetch_once
from catalog.settings import FetchSettings
from catalog.store.db import connect
from jobs.config import load_config
from jobs.context import JobContext
from jobs.fetcher import SweepProcess
from jobs.runner import run_job
from jobs.sources import LiveSource

KINDS = frozenset({"models", "endpoints"})


def small_fake(faults: Faults | None = None) -> FakeOpenRouter:
    day = memory_day("2026-07-17", MODELS, {m["id"]: listing(m, "DeepInfra", "Together") for m in MODELS}, PROVIDERS)
    return FakeOpenRouter(MemorySource([day]), faults=faults)


@pytest.fixture
def sweeps() -> Iterator[SweepProcess]:
    process = SweepProcess()
    yield process
    process.close()


def test_the_child_fetches_the_sweep_the_thread_would(sweeps: SweepProcess) -> None:
    fake = small_fake()
    with serve_in_thread(fake) as url:
        settings = FetchSettings(base_url=url)
        here = fetch_once(settings, kinds=KINDS, source="test")
        there = sweeps.fetch(settings, kinds=KINDS, taken_at=here.taken_at, source="test", stop=threading.Event())
        child = sweeps._process
        again = sweeps.fetch(settings, kinds=KINDS, taken_at=here.taken_at, source="test", stop=threading.Event())
    assert child is not None and child.pid != os.getpid() and sweeps._process is child  # one child, reused
    for sweep in (there, again):
        assert sweep.models == here.models and sweep.endpoints == here.endpoints and sweep.fatal is None
        assert [(p.path, p.status, p.body) for p in sweep.raw] == [(p.path, p.status, p.body) for p in here.raw]
    # three sweeps, all of them over HTTP: the catalog's lists (every kind) and each model's endpoints
    assert len(here.raw) >= 1 + len(MODELS)
    assert fake.log.count(status=200) == 3 * len(here.raw)


def test_a_stop_ends_the_child_mid_sweep(sweeps: SweepProcess) -> None:
    fake = small_fake(Faults(latency=0.3))  # each request waits: the stop lands mid-sweep
    stop = threading.Event()
    with serve_in_thread(fake) as url:
        threading.Timer(1.0, stop.set).start()
        with pytest.raises(SweepInterrupted, match="history is unchanged"):
            sweeps.fetch(FetchSettings(base_url=url, concurrency=1), kinds=KINDS, taken_at=None, source=None, stop=stop)
    assert sweeps._process is None  # ended, not left fetching


def test_a_dead_child_is_a_fetch_error_and_the_next_sweep_starts_another(sweeps: SweepProcess) -> None:
    fake = small_fake(Faults(latency=0.3))
    with serve_in_thread(fake) as url:
        settings = FetchSettings(base_url=url, concurrency=1)
        sweeps.fetch(FetchSettings(base_url=url), kinds=KINDS, taken_at=None, source=None, stop=threading.Event())
        first = sweeps._process
        assert first is not None
        threading.Timer(1.0, first.kill).start()
        with pytest.raises(FetchError, match="sweep process ended"):
            sweeps.fetch(settings, kinds=KINDS, taken_at=None, source=None, stop=threading.Event())
        fake.set_faults(None)
        sweep = sweeps.fetch(settings, kinds=KINDS, taken_at=None, source=None, stop=threading.Event())
    assert sweep.fatal is None and sweeps._process is not None and sweeps._process is not first


def test_a_snapshot_job_with_a_sweep_process_stores_its_snapshot(sweeps: SweepProcess, tmp_path: Path) -> None:
    db = tmp_path / "history.duckdb"
    con = connect(db)
    try:
        with serve_in_thread(small_fake()) as url:
            ctx = JobContext(
                con=con,
                db=db,
                config=load_config(None),
                source=LiveSource(FetchSettings(base_url=url)),
                sweeps=sweeps,
            )
            _run_id, result = run_job(ctx, "snapshot_catalog", trigger="manual")
        assert result.status == "ok", result.summary
        stored = con.execute("SELECT status, models_count, endpoints_count FROM snapshots").fetchall()
    finally:
        con.close()
    assert stored == [("ok", len(MODELS), 2 * len(MODELS))]
    assert sweeps._process is not None and sweeps._process.is_alive()  # kept for the next sweep


def test_a_child_killed_mid_sweep_leaves_the_history_and_the_api_as_they_were(
    sweeps: SweepProcess, tmp_path: Path
) -> None:
    db = tmp_path / "history.duckdb"
    con = connect(db)
    fake = small_fake()
    try:
        with serve_in_thread(fake) as url:
            ctx = JobContext(
                con=con,
                db=db,
                config=load_config(None),
                source=LiveSource(FetchSettings(base_url=url, concurrency=1)),
                sweeps=sweeps,
            )
            assert run_job(ctx, "snapshot_catalog", trigger="manual")[1].status == "ok"
            api = ApiState(con.cursor(), db)
            client = TestClient(create_app(api))
            before = client.get("/v1/models")
            stored = con.execute("SELECT * FROM snapshots ORDER BY snapshot_id").fetchall()
            versions = con.execute("SELECT count(*) FROM endpoint_versions").fetchall()

            fake.set_faults(Faults(latency=0.3))  # slow: the kill lands mid-sweep
            child = sweeps._process
            assert child is not None
            threading.Timer(1.0, child.kill).start()
            _run_id, killed = run_job(ctx, "snapshot_catalog", trigger="manual")
            assert killed.status == "failed" and "sweep process ended" in (killed.error or "")
            assert con.execute("SELECT * FROM snapshots ORDER BY snapshot_id").fetchall() == stored
            assert con.execute("SELECT count(*) FROM endpoint_versions").fetchall() == versions
            assert api.refresh() is False  # no new data version: the API keeps its state
            after = client.get("/v1/models")
            assert after.status_code == 200 and after.json() == before.json()
            assert after.headers["etag"] == before.headers["etag"]

            fake.set_faults(None)
            _run_id, next_run = run_job(ctx, "snapshot_catalog", trigger="manual")
            assert next_run.status == "ok", next_run.summary
            assert sweeps._process is not None and sweeps._process is not child  # a new child
            assert api.refresh() is True
        count = con.execute("SELECT count(*) FROM snapshots WHERE status = 'ok'").fetchall()[0][0]
    finally:
        con.close()
    assert count == len(stored) + 1
