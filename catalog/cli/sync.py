"""Commands that write the history: init, sync, replay, rederive."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click

from catalog.cli.common import BaseUrl, Whole, db_option, instant, json_option, open_db
from catalog.cli.output import emit_json, emit_table, progress_bar
from catalog.settings import FetchSettings, bundle_dir
from catalog.times import iso, parse_duration

if TYPE_CHECKING:
    from catalog.store.ingest import SnapshotSummary

concurrency_option = click.option(
    "--concurrency", type=Whole(1, 64), default=None, help="Parallel endpoint requests (default 8)."
)


def _summary_line(s: SnapshotSummary) -> str:
    line = (
        f"snapshot {s.snapshot_id} at {iso(s.taken_at)}: {s.status}, {s.models} models, {s.endpoints} endpoints, "
        f"+{s.opened}/-{s.closed} versions, {s.duration_ms} ms"
    )
    return line + (f" — {s.error_summary}" if s.error_summary else "")


def _summary_dict(s: SnapshotSummary) -> dict[str, object]:
    return {
        "snapshot_id": s.snapshot_id,
        "taken_at": s.taken_at,
        "status": s.status,
        "models": s.models,
        "endpoints": s.endpoints,
        "providers": s.providers,
        "versions_opened": s.opened,
        "versions_closed": s.closed,
        "endpoint_failures": s.endpoint_failures,
        "error_summary": s.error_summary,
        "duration_ms": s.duration_ms,
    }


@click.command("init")
@json_option
@db_option
def init_cmd(as_json: bool, db: str | None) -> None:
    """Create an empty history file (or bring an older one's schema up to date). Refuses another program's file.

    The folder must exist. `catalog up` and `catalog replay` also create the file on their first run; the
    other writing commands (sync, rederive, jobs run) need an existing one.
    """
    from catalog.settings import db_path
    from catalog.store.migrations import MIGRATIONS, applied

    path = db_path(db)
    existed = path.exists()
    with open_db(db, read_only=False, create=True) as con:
        steps = len(applied(con))
    state = "existing" if existed else "created"
    if as_json:
        emit_json({"db": str(path), "state": state, "schema_steps": steps})
        return
    if existed:
        click.echo(f"{path} is a catalog; its schema is up to date ({steps} of {len(MIGRATIONS)} steps)")
    else:
        click.echo(f"created {path}: an empty catalog; load history with `catalog replay --db {path}` or `catalog up`")


@click.command("sync")
@click.option(
    "--base-url", type=BaseUrl(), help="OpenRouter API base (default: $OPENROUTER_BASE_URL, else the real OpenRouter)."
)
@click.option(
    "--deadline",
    metavar="DURATION",
    help="Give up on what is not fetched by then (default: $CATALOG_SWEEP_DEADLINE, else 15m); e.g. 90s, 5m.",
)
@concurrency_option
@json_option
@db_option
def sync_cmd(
    base_url: str | None, deadline: str | None, concurrency: int | None, as_json: bool, db: str | None
) -> None:
    """Take one snapshot now: /models, /providers and every model's /endpoints, into the history."""
    from catalog.pipeline import sync_once

    sweep_deadline = parse_duration(deadline, what="--deadline") if deadline is not None else None
    settings = FetchSettings.from_env(base_url=base_url, concurrency=concurrency, sweep_deadline=sweep_deadline)
    with open_db(db, read_only=False) as con, progress_bar("endpoints", enabled=not as_json) as progress:
        summary = sync_once(con, settings, progress=progress)
    if as_json:
        emit_json(_summary_dict(summary))
    else:
        click.echo(_summary_line(summary), err=summary.status == "failed")
    if summary.status == "failed":
        sys.exit(1)


@click.command("replay")
@click.option("--from", "start", help="First recorded day to load (default: the first).")
@click.option("--to", "end", help="Last recorded day to load (default: the last).")
@click.option(
    "--all", "include_all", is_flag=True, help="Also load the older model-only snapshots (2024-11 → 2026-05)."
)
@click.option("--force", is_flag=True, help="Ingest snapshots again even if already stored (adds no versions).")
@click.option(
    "--direct",
    is_flag=True,
    help="Skip HTTP: the same bodies, parser and store, without the fake server's round trips (the same history).",
)
@click.option("--list", "list_only", is_flag=True, help="List the bundled snapshots and exit.")
@concurrency_option
@json_option
@db_option
def replay_cmd(
    start: str | None,
    end: str | None,
    include_all: bool,
    force: bool,
    direct: bool,
    list_only: bool,
    concurrency: int | None,
    as_json: bool,
    db: str | None,
) -> None:
    """Walk the bundled recorded days over HTTP (an in-process fake OpenRouter), one snapshot per day."""
    from catalog.bundle import Bundle
    from catalog.replay import ReplayStep, load_bundle, replay, select_snapshots

    bundle = Bundle(bundle_dir())
    if list_only:
        rows = [[s.id, s.taken_at, s.kind, s.models, s.endpoints, s.providers] for s in bundle.snapshots()]
        if as_json:
            emit_json(
                [
                    dict(zip(["id", "taken_at", "kind", "models", "endpoints", "providers"], r, strict=True))
                    for r in rows
                ]
            )
        else:
            emit_table("bundled snapshots", ["id", "taken at", "kind", "models", "endpoints", "providers"], rows)
        return
    chosen = select_snapshots(
        bundle,
        start=instant(start, bound="start", what="--from"),
        end=instant(end, bound="end", what="--to"),
        include_models_only=include_all,
    )
    results: list[ReplayStep] = []

    def report(step: ReplayStep) -> None:
        results.append(step)
        if as_json:
            return
        if step.summary is None:
            click.echo(f"{step.info.id}: already stored, skipped (use --force to ingest again)")
        else:
            click.echo(f"{step.info.id}: {_summary_line(step.summary)}")

    if direct:
        with open_db(db, read_only=False, create=True) as con:
            load_bundle(con, bundle, chosen, force=force, on_step=report)
    else:
        with (
            open_db(db, read_only=False, create=True) as con,
            progress_bar("endpoints", enabled=not as_json) as progress,
        ):
            replay(con, bundle, chosen, concurrency=concurrency or 8, force=force, on_step=report, progress=progress)
    if as_json:
        emit_json(
            [
                {"id": s.info.id, "skipped": s.summary is None, **(_summary_dict(s.summary) if s.summary else {})}
                for s in results
            ]
        )
    if any(s.summary is not None and s.summary.status == "failed" for s in results):
        sys.exit(1)


@click.command("rederive")
@db_option
def rederive_cmd(db: str | None) -> None:
    """Rebuild all version tables from the raw-payload archive (after a parsing fix). All or nothing."""
    from catalog.pipeline import rederive
    from catalog.store import queries

    with open_db(db, read_only=False) as con, progress_bar("snapshots", enabled=True) as progress:
        count = rederive(con, on_snapshot=progress)
        held = queries.holdings(con)
    click.echo(
        f"re-derived {count} snapshots: {held['model_versions']} model versions, "
        f"{held['endpoint_versions']} endpoint versions"
    )
