"""The service commands: ``catalog up``, ``catalog status`` and ``catalog jobs run|list|history``.

They live here, not in ``catalog.cli``, because they run the jobs; the ``catalog`` command picks them up
through the ``catalog.commands`` entry point, so ``catalog`` itself never imports ``jobs``.

While ``catalog up`` owns the database, these commands ask it over HTTP (its service file says where, and
holds the token a job run needs); otherwise they work on the file directly.
"""

from __future__ import annotations

import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from catalog.cli.common import BaseUrl, FilePath, Host, Whole, db_option, json_option
from catalog.errors import ConfigError, StoreError, StoreLockedError
from catalog.settings import db_path
from catalog.times import iso
from jobs.config import DEFAULT_HOST, DEFAULT_PORT, SOURCES, ServiceConfig, config_path, load_config
from jobs.registry import JOBS, job_named, run_dry

if TYPE_CHECKING:
    import duckdb

    from catalog.store.db import ServiceInfo
    from jobs.context import JobResult

SERVICE_TIMEOUT = 10.0
FORWARDED_RUN_TIMEOUT = 3600.0

config_option = click.option(
    "--config",
    "config_file",
    type=FilePath(dir_okay=False),
    help="TOML file with [jobs.NAME] schedules and [service] settings (default: $CATALOG_CONFIG).",
)
source_option = click.option(
    "--source",
    type=click.Choice(SOURCES),
    default=None,
    help="openrouter: the live API (or $OPENROUTER_BASE_URL); replay: the bundled days, one per snapshot run.",
)
base_url_option = click.option(
    "--base-url", type=BaseUrl(), help="OpenRouter API base (default: $OPENROUTER_BASE_URL, else the real OpenRouter)."
)
concurrency_option = click.option(
    "--concurrency", type=Whole(1, 64), default=None, help="Parallel endpoint requests (default 8)."
)


def _config(config_file: str | None, source: str | None) -> ServiceConfig:
    return load_config(config_path(config_file), source=source)


def _ask(service: ServiceInfo, method: str, path: str, **kwargs: Any) -> Any:
    import httpx

    try:
        response = httpx.request(method, f"{service.url}{path}", timeout=SERVICE_TIMEOUT, **kwargs)
    except httpx.HTTPError as exc:
        raise StoreError(
            f"`catalog up` (pid {service.pid}) owns the database but does not answer at {service.url} ({exc}); "
            f"wait a moment, or stop it with kill -TERM {service.pid}"
        ) from None
    body = response.json()
    if response.status_code >= 400:
        raise ConfigError(f"the service refused: {body.get('error', {}).get('message', response.text)}")
    return body


# --- catalog up --------------------------------------------------------------------------------------------


@click.command("up")
@click.option("--host", type=Host(), default=None, help=f"Address to serve on (default {DEFAULT_HOST}).")
@click.option("--port", type=Whole(0, 65535), default=None, help=f"Port (default {DEFAULT_PORT}; 0: any).")
@source_option
@base_url_option
@config_option
@concurrency_option
@db_option
def up_cmd(
    host: str | None,
    port: int | None,
    source: str | None,
    base_url: str | None,
    config_file: str | None,
    concurrency: int | None,
    db: str | None,
) -> None:
    """Run the service: load the bundled history into an empty database, then sweep on schedule and serve HTTP.

    The one process that writes the database. Stop it with Ctrl-C or SIGTERM: a snapshot being fetched is
    abandoned, one being stored commits first.
    """
    from catalog.cli.output import progress_bar
    from jobs.service import ServiceOptions, run_service

    config = _config(config_file, source)
    options = ServiceOptions(
        db=db_path(db),
        config=config,
        host=host or config.host or DEFAULT_HOST,
        port=port if port is not None else config.port if config.port is not None else DEFAULT_PORT,
        base_url=base_url,
        concurrency=concurrency,
    )
    run_service(options, progress=lambda: progress_bar("bundled snapshots", enabled=True))


# --- catalog status ----------------------------------------------------------------------------------------


def _health(db: str | None, config_file: str | None) -> dict[str, Any]:
    from catalog.store.db import connect_for_reading, running_service
    from jobs.health import health_report

    path = db_path(db)
    service = running_service(path)
    if service is not None:
        report: dict[str, Any] = _ask(service, "GET", "/health")
        return report
    con, copy = connect_for_reading(path)
    try:
        return health_report(con, _config(config_file, None), db=copy or path)
    finally:
        con.close()


@click.command("status")
@config_option
@json_option
@db_option
def status_cmd(config_file: str | None, as_json: bool, db: str | None) -> None:
    """Health of the history: per job its last success, age, staleness and last error; snapshot counts.

    Asks the running service (`catalog up`) when there is one; otherwise reads the run log in the database.
    """
    from catalog.cli.output import emit_json, emit_table

    report = _health(db, config_file)
    if as_json:
        emit_json(report)
        return
    service = report.get("service")
    snaps = report["snapshots"]
    newest = snaps.get("newest") or {}
    emit_table(
        f"jobs ({'service pid ' + str(service['pid']) + ' at ' + service['url'] if service else 'no service running'})"
        f" — {report['status']}",
        ["job", "schedule", "last run", "last success", "age", "stale", "next run", "last error"],
        [
            [
                j["job"],
                j["schedule"],
                ("running" if j["running"] else j["last_run_status"]) or "never",
                j["last_success"],
                _age(j["last_success_age_s"]),
                "STALE" if j["stale"] else "",
                j["next_run"],
                j["last_error"],
            ]
            for j in report["jobs"]
        ],
        note=(
            f"snapshots: {snaps['total']} ({snaps['ok']} ok, {snaps['partial']} partial, {snaps['suspicious']} "
            f"suspicious, {snaps['failed']} failed); newest {newest.get('taken_at')} "
            f"({newest.get('models')} models, {newest.get('endpoints')} endpoints)"
        ),
    )


def _age(seconds: float | None) -> str | None:
    if seconds is None:
        return None
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f}{unit}"
    return f"{seconds:.0f}s"


# --- catalog jobs ------------------------------------------------------------------------------------------


@click.group("jobs")
def jobs_group() -> None:
    """The scheduled jobs: run one by hand, list the schedule, read the run log."""


@contextmanager
def _dry_run_connection(path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """A writable connection whose changes are rolled back: the file itself, or — while the service owns
    it — a scratch copy of the copy it publishes."""
    from catalog.store.db import connect, published_copy

    try:
        con = connect(path, create=False)
    except StoreLockedError:
        copy = published_copy(path)
        if not copy.exists():
            raise
        with tempfile.TemporaryDirectory(prefix="catalog-dry-run-") as scratch:
            target = Path(scratch) / "dry-run.duckdb"
            target.write_bytes(copy.read_bytes())
            con = connect(target)
            try:
                yield con
            finally:
                con.close()
        return
    try:
        yield con
    finally:
        con.close()


def _print_result(name: str, result: JobResult, as_json: bool, run_id: int | None) -> None:
    from catalog.cli.output import emit_json

    if as_json:
        emit_json({"job": name, "run_id": run_id, **result.__dict__})
    else:
        click.echo(f"{name}: {result.status} — {result.summary}", err=result.status != "ok")


def _run_on_service(service: ServiceInfo, name: str, as_json: bool) -> None:
    from catalog.cli.output import emit_json

    before = _ask(service, "GET", "/jobs/runs", params={"job": name, "limit": 1})
    last_id = before[0]["run_id"] if before else 0
    _ask(service, "POST", f"/jobs/{name}/run", headers={"Authorization": f"Bearer {service.token}"})
    if not as_json:
        click.echo(
            f"asked `catalog up` (pid {service.pid}) to run {name} now, with its own source and schedule "
            "settings; waiting for it to finish …",
            err=True,
        )
    deadline = time.monotonic() + FORWARDED_RUN_TIMEOUT
    while True:
        runs = _ask(service, "GET", "/jobs/runs", params={"job": name, "limit": 20})
        done = [r for r in runs if r["run_id"] > last_id and r["trigger"] == "manual" and r["status"] != "running"]
        if done:
            run = done[-1]
            break
        if time.monotonic() > deadline:
            raise StoreError(
                f"{name} has not finished on the service within {FORWARDED_RUN_TIMEOUT / 60:g} minutes; "
                "follow it with `catalog jobs history`"
            )
        time.sleep(0.5)
    if as_json:
        emit_json(run)
    else:
        line = f"{name}: {run['status']}"
        line += f" — {run['error_summary']}" if run["error_summary"] else ""
        line += f" (run {run['run_id']}, {run['rows_changed']} rows changed)" if run["status"] == "ok" else ""
        click.echo(line, err=run["status"] != "ok")
    if run["status"] != "ok":
        sys.exit(1)


@jobs_group.command("run")
@click.argument("name", type=click.Choice(list(JOBS)))
@click.option("--dry-run", is_flag=True, help="Do the work, show what would change, store nothing (not logged).")
@source_option
@base_url_option
@config_option
@concurrency_option
@json_option
@db_option
def run_cmd(
    name: str,
    dry_run: bool,
    source: str | None,
    base_url: str | None,
    config_file: str | None,
    concurrency: int | None,
    as_json: bool,
    db: str | None,
) -> None:
    """Run one job now and log it in the run log (while `catalog up` runs, it runs there); exits 1 if it failed."""
    from catalog.cli.output import progress_bar
    from catalog.store.db import connect, running_service
    from jobs.context import JobContext
    from jobs.runner import run_job
    from jobs.sources import make_source

    job_named(name)
    path = db_path(db)
    service = running_service(path)
    if service is not None and not dry_run:
        _run_on_service(service, name, as_json)
        return
    config = _config(config_file, source)
    job_source = make_source(config.source, base_url=base_url, concurrency=concurrency)
    try:
        with progress_bar("endpoints", enabled=not as_json) as progress:
            if dry_run:
                with _dry_run_connection(path) as con:
                    ctx = JobContext(con=con, db=path, config=config, source=job_source, progress=progress)
                    result, run_id = run_dry(ctx, name), None
            else:
                con = connect(path, create=False)
                try:
                    ctx = JobContext(con=con, db=path, config=config, source=job_source, progress=progress)
                    run_id, result = run_job(ctx, name, trigger="manual")
                finally:
                    con.close()
    finally:
        job_source.close()
    _print_result(name, result, as_json, run_id)
    if result.status != "ok":
        sys.exit(1)


@jobs_group.command("list")
@source_option
@config_option
@json_option
@db_option
def list_cmd(source: str | None, config_file: str | None, as_json: bool, db: str | None) -> None:
    """Each job with its trigger, next run time and last run (next runs come from the running service)."""
    from catalog.cli.output import emit_json, emit_table
    from catalog.store import runlog
    from catalog.store.db import connect_for_reading, running_service
    from jobs.scheduler import first_run

    path = db_path(db)
    service = running_service(path)
    rows: list[dict[str, Any]] = []
    if service is not None:
        report = _ask(service, "GET", "/health")
        for j in report["jobs"]:
            rows.append({k: j[k] for k in ("job", "enabled", "schedule", "next_run", "last_run_status")})
        where = f"service pid {service.pid}, schedule from {report['config']}"
    else:
        config = _config(config_file, source)
        con, _copy = connect_for_reading(path)
        at = datetime.now(UTC)
        try:
            health = {h.job: h for h in runlog.job_health(con, config.intervals(), at=at)}
            for name, schedule in config.jobs.items():
                start = first_run(con, schedule, at) if schedule.enabled else None
                if schedule.enabled and start is None:
                    start = schedule.trigger().get_next_fire_time(None, at)
                rows.append(
                    {
                        "job": name,
                        "enabled": schedule.enabled,
                        "schedule": schedule.describe(),
                        "next_run": iso(start),
                        "last_run_status": health[name].last_run_status,
                    }
                )
        finally:
            con.close()
        where = f"not running: next runs if `catalog up` started now; schedule from {config.origin}"
    for row in rows:
        row["about"] = JOBS[row["job"]].about
    if as_json:
        emit_json(rows)
        return
    emit_table(
        f"jobs ({where})",
        ["job", "schedule", "next run", "last run", "what it does"],
        [[r["job"], r["schedule"], r["next_run"], r["last_run_status"] or "never", r["about"]] for r in rows],
    )


@jobs_group.command("history")
@click.option("--job", type=click.Choice(list(JOBS)), help="Only this job's runs.")
@click.option("--limit", type=Whole(1, 10_000), default=30, show_default=True, help="Newest N runs.")
@json_option
@db_option
def history_cmd(job: str | None, limit: int, as_json: bool, db: str | None) -> None:
    """The run log, newest first: job, trigger, start, end, status, rows changed, snapshot, error."""
    from catalog.cli.output import emit_json, emit_table
    from catalog.store import runlog
    from catalog.store.db import connect_for_reading, running_service

    path = db_path(db)
    service = running_service(path)
    if service is not None:
        params: dict[str, Any] = {"limit": limit, **({"job": job} if job else {})}
        rows: list[dict[str, Any]] = _ask(service, "GET", "/jobs/runs", params=params)
    else:
        con, _copy = connect_for_reading(path)
        try:
            rows = runlog.run_history(con, job=job, limit=limit).to_dicts()
        finally:
            con.close()
    if as_json:
        emit_json(rows)
        return
    emit_table(
        "job runs (newest first)",
        ["run", "job", "trigger", "started", "finished", "status", "rows changed", "snapshot", "error"],
        [
            [
                r["run_id"],
                r["job"],
                r["trigger"],
                r["started_at"],
                r["finished_at"],
                r["status"],
                r["rows_changed"],
                r["snapshot_id"],
                r["error_summary"],
            ]
            for r in rows
        ],
    )
