"""``catalog site build``: the static site (price comparisons, model and provider pages, downloads)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import click

from catalog.cli.common import BaseUrl, FilePath, db_option, instant, json_option, writable_file
from catalog.cli.cost import _decimal, cheapest_options
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


@site_group.command("report")
@click.option(
    "--models",
    "models",
    required=True,
    help="The models to compare, as ids separated by commas (at most 8), e.g. openai/gpt-4o,anthropic/claude-sonnet-4.",
)
@cheapest_options
@click.option("--as-of", "as_of", default=None, help="Prices in force at this instant (default: the newest snapshot).")
@click.option(
    "--out",
    type=FilePath(dir_okay=False),
    required=True,
    help='The report\'s HTML file (one self-contained page; print it or "Save as PDF" in a browser).',
)
@db_option
def site_report_cmd(models: str, as_of: str | None, out: str, db: str | None, **kw: Any) -> None:
    """Write a printable price comparison of MODELS for one workload: the table, each model's cheapest
    endpoints, the price history chart and the methodology, as one HTML page without scripts.

    The workload and filters are those of `catalog cheapest` (--input, --output, --cache-hit, …)."""
    from catalog.cost.query import build_query
    from catalog.library import Catalog
    from catalog.website.compare import compare, parse_models
    from catalog.website.report import render_report

    ids = parse_models(models)
    target = writable_file(Path(out), (".html", ".htm"), "--out")
    query = build_query(kw, lambda text, param: _decimal(text, param.option))
    at = instant(as_of, bound="end", what="--as-of")
    with Catalog.open(db) as cat:
        comparison = compare(cat, ids, query.profile, at=at, filters=query.filters, fallbacks=query.fallbacks)
    warning = comparison.data.warning() if comparison.data is not None else None
    if warning:
        click.echo(warning, err=True)
    target.write_text(render_report(comparison), encoding="utf-8")
    cheapest = [m for m in comparison.models if m.cheapest is not None]
    best = min(cheapest, key=lambda m: m.cheapest.cost_per_request) if cheapest else None
    click.echo(
        f"wrote {target}: {len(ids)} models as of {comparison.at:%Y-%m-%d %H:%M}Z"
        + (f"; cheapest {best.model_id} at ${best.cheapest.cost_per_request} per request" if best else "")
    )
