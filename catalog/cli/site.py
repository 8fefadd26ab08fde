"""``catalog site build``: the static site (price comparisons, model and provider pages, downloads)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import click

from catalog.cli.common import BaseUrl, FilePath, db_option, instant, json_option
from catalog.cli.output import progress_bar
from catalog.settings import db_path, site_dir


@click.group("site")
def site_group() -> None:
    """The static site: every model's cheapest endpoints, price history, providers, changes, downloads."""


@site_group.command("build")
@db_option
@click.option(
    "--out",
    type=FilePath(file_okay=False),
    default=None,
    help="Folder to write the site to (default: $CATALOG_SITE_DIR, else data/site, or <db>-site beside a --db); "
    "replaced whole when done.",
)
@click.option("--as-of", "as_of", default=None, help="Build the site as of this instant (default: newest snapshot).")
@click.option(
    "--base-url",
    type=BaseUrl(),
    default=None,
    help="Where the site will be served (https://…/); makes the Atom feed's links absolute (default: "
    "$CATALOG_SITE_URL, else relative).",
)
@json_option
def site_build_cmd(db: str | None, out: str | None, as_of: str | None, base_url: str | None, as_json: bool) -> None:
    """Render the static site from the history; any static file server can host the folder."""
    from catalog.library import Catalog
    from catalog.website.build import build_site

    at = instant(as_of, bound="end", what="--as-of")
    target = Path(out) if out else site_dir(db_path(db))
    # On a terminal a bar names each step (reading the history takes a good part of a build) and counts pages;
    # elsewhere only the summary line below.
    with Catalog.open(db) as cat, progress_bar("building", enabled=not as_json and sys.stderr.isatty()) as step:
        report = build_site(
            cat,
            target,
            at=at,
            progress=step,
            base_url=base_url or os.environ.get("CATALOG_SITE_URL") or None,
            stage=lambda name: step(0, None, name),
        )
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=2))
        return
    click.echo(
        f"built {report.pages} pages ({report.models} models, {report.providers} providers) as of "
        f"{report.to_dict()['as_of']} in {report.seconds:.1f} s: {report.out}/index.html "
        f"({report.bytes / 1e6:.1f} MB in all; largest model page {report.largest_model_page[1] / 1e3:.0f} kB)"
    )
