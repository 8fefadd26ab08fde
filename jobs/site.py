"""The ``build_site`` job: render the static site from the history the service owns.

It runs after each successful sweep (the scheduler queues it) and daily. It reads through a cursor of the
service's own connection — the service never opens its database file by path a second time — and writes
the site beside the database (``catalog.settings.site_dir``), swapping it in whole when complete.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import duckdb

from catalog.library import Catalog
from catalog.settings import site_dir
from catalog.store import queries, snapshots
from catalog.website.build import build_site as render_site
from jobs.context import JobContext, JobResult


def site_folder(ctx: JobContext) -> Path:
    return ctx.site_dir or site_dir(ctx.db)


def _catalog(ctx: JobContext, cursor: duckdb.DuckDBPyConnection) -> tuple[Catalog, bool]:
    """The history to build from: on the API's price table and snapshot log when the service has them for the
    history as it is now (its refresh follows every run that writes, so after a sweep it has extended them by
    that sweep), else read from the history. Building on the same table from build to build lets the site's
    carries (``catalog.website.facts``: rank indexes, rankings, list costs, kept for a table and the tables
    extending it) reach the next build, and saves reading and parsing a year of price versions. And whether it
    is the API's: then the API state has frozen the heap out of the collector (each refresh does, the first
    when the state is made), which the build need not count."""
    state = ctx.data_state() if ctx.data_state is not None else None
    if (
        state is not None
        and state.table is not None
        and state.version is not None
        and snapshots.data_version(cursor) == state.version
        and len(state.table.versions) == queries.price_version_count(cursor)
    ):
        return Catalog(cursor, ctx.db, state.table, log=state.log), True
    return Catalog(cursor, ctx.db), False


def build_site(ctx: JobContext, *, dry_run: bool = False) -> JobResult:
    """Render every page as of the newest snapshot; a dry run renders into a temporary folder and drops it."""
    with ctx.writing() as con:
        cursor = con.cursor()
    scratch = Path(tempfile.mkdtemp(prefix="catalog-site-")) if dry_run else None
    try:
        out = scratch / "site" if scratch else site_folder(ctx)
        cat, on_state = _catalog(ctx, cursor)
        report = render_site(
            cat,
            out,
            # A public URL set by whoever runs the service wins over the address it is bound to.
            base_url=os.environ.get("CATALOG_SITE_URL") or ctx.site_url,
            stale_after=ctx.config.stale_after(),  # the banner's threshold: twice this service's sweep interval
            # The new site is served once swapped in; the old one is removed meanwhile (or by the next build).
            background_removal=not dry_run,
            heap_frozen=True if on_state else None,
        )
    finally:
        cursor.close()
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
    facts = report.to_dict()
    where = "(dry run, not kept)" if dry_run else f"into {report.out}"
    line = (
        f"built {report.pages} pages ({report.models} models, {report.providers} providers; {report.rendered} "
        f"rendered, {report.reused} unchanged since the last build) as of {facts['as_of']} in {report.seconds:.1f} s "
        f"{where}"
    )
    return JobResult("ok", line, rows_changed=0, detail=facts)
