"""``catalog site report``: a comparison of chosen models for one workload as a page of its own, made to print.

The page is one self-contained HTML file: no script at all, the site's stylesheets inlined (its print rules
included), and a Content-Security-Policy that allows only that exact style (by its SHA-256) and ``data:``
images, so it can be mailed, archived or opened from disk and looks the same. The browser's "Save as PDF" gives
the report: title, as-of instant and data age, the comparison table, each model's cheapest endpoints, the
history chart (SVG) and the methodology in brief. Every figure is the engine's (``catalog.website.compare``).
"""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

from markupsafe import Markup

from catalog.settings import SITE_SOURCE
from catalog.website.build import environment
from catalog.website.compare import Comparison, svg_chart
from catalog.website.presets import PRESETS

STYLESHEETS = ("style.css", "compare.css", "print.css")
RANKED_SHOWN = 5  # each model's cheapest endpoints listed under the table


def policy(style: str) -> str:
    """The report's policy: nothing but its own inline style (by hash) and ``data:`` images."""
    digest = base64.b64encode(hashlib.sha256(style.encode()).digest()).decode()
    return f"default-src 'none'; style-src 'sha256-{digest}'; img-src data:; base-uri 'none'; form-action 'none'"


def render_report(comparison: Comparison, site_templates: Path = SITE_SOURCE) -> str:
    """The report's HTML."""
    style = "\n".join((site_templates / "static" / name).read_text(encoding="utf-8") for name in STYLESHEETS)
    env = environment(site_templates / "templates")
    matching = [p for p in PRESETS if p.profile == comparison.profile]
    return env.get_template("report.html").render(
        c=comparison,
        style=Markup(style.replace("</", "<\\/")),  # a stylesheet never closes its element early
        content_security_policy=policy(style.replace("</", "<\\/")),
        geometry=svg_chart(comparison.chart, comparison.start, comparison.at),
        series_chart=comparison.chart,
        chart_id="report-chart",
        preset=matching[0] if matching else None,
        ranked_shown=RANKED_SHOWN,
    )
