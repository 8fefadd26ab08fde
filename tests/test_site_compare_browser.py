"""The compare page and the printable report in headless Debian Chromium (issue 18, acceptance 4).

* A compare view of three models, opened from its address with a workload, shows for each the engine's cost per
  request to the unit (``Catalog.cheapest`` at the site's as-of instant), its cheapest endpoint and the extra cost
  over the cheapest of the three; the chart's data names the three. Removing and adding a model and moving a
  slider keep the table the engine's and the address the view's. No console error, failed or external request.
* Two rows ticked on the models list open the compare page with those two.
* The report (``catalog site report``'s page) prints to a PDF of at least one page whose text names the three
  models; its pages are rasterised with ``pdftoppm`` (when installed) into ``test-artifacts/site/``.
* Screenshots of the compare page and the report at 1400 and 390 px go to ``test-artifacts/site/``.
* The compare view's history is the model page's interactive chart (chart.js over uPlot): one line per chosen model,
  labelled with its id, in the plot and the legend, the SVG hidden; the crosshair tooltip (by mouse, and by touch on
  a phone) lists each model's cost in force at that instant from the page's own data; a legend entry hides its
  line and "only" leaves one; removing a model takes the old chart down (its uPlot instance destroyed) and draws
  one with the other two, the log / linear switch still working. No console error, failed or external request.

The site, the server, the engine and the browser are ``test_site_browser``'s fixtures.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

import pytest
import test_site_browser as shared
from test_site_browser import MISSING, BuiltSite, Engine, artifacts_dir

from catalog.cost.workload import WorkloadProfile
from catalog.website.compare import compare
from catalog.website.report import render_report

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext, Page, ViewportSize

# The browser test's fixtures: the site built once per run, its server, the engine at its instant, the browser.
site, base_url, engine, browser = shared.site, shared.base_url, shared.engine, shared.browser
pytestmark = [pytest.mark.browser, pytest.mark.skipif(MISSING is not None, reason=MISSING or "")]

WIDE: ViewportSize = {"width": 1400, "height": 900}
PHONE: ViewportSize = {"width": 390, "height": 844}
WORKLOAD = WorkloadProfile(20_000, 1_000, cache_hit=Decimal("0.5"))
QUERY = "input=20000&output=1000&cache_hit=50"
ROWS_JS = """rows => rows.map(r => ({
  id: r.dataset.id, value: r.querySelector('td.cost').getAttribute('data-value'),
  title: (r.querySelector('td.cost span') || {}).title, versus: r.querySelector('td.versus').getAttribute('data-value'),
  via: r.querySelector('td.via').firstChild.textContent
}))"""


@contextmanager
def watched(browser: BrowserContext, url: str, viewport: ViewportSize = WIDE) -> Iterator[tuple[Page, list[str]]]:
    """A fresh page at ``url`` with every console error or warning, uncaught exception, failed request and request
    that leaves ``url``'s origin (or, for a file, any request but files)."""
    page = browser.new_page()
    problems: list[str] = []
    origin = "{0.scheme}://{0.netloc}/".format(urlsplit(url)) if not url.startswith("file:") else "file:"
    page.on(
        "console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type in ("error", "warning") else None
    )
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("requestfailed", lambda r: problems.append(f"failed: {r.url}"))
    page.on("request", lambda r: None if r.url.startswith(origin) else problems.append(f"external: {r.url}"))
    try:
        page.set_viewport_size(viewport)
        response = page.goto(url, wait_until="load")
        assert response is not None and response.ok, f"{url}: {response and response.status}"
        yield page, problems
    finally:
        page.close()


def models_for(engine: Engine, profile: WorkloadProfile, avoid: set[str], n: int = 3) -> list[str]:
    """Models with the most endpoints ranked for ``profile`` (cheapest and next mean something), outside the
    page's default choice (so the address, not the page, decides what is shown)."""
    ranked = engine.rankings(profile)
    pool = [m for m in ranked if m not in avoid and len({r.cost for r in ranked[m]}) > 1 and ranked[m][0].cost > 0]
    return sorted(pool, key=lambda m: (-len(ranked[m]), m))[:n]


def expected_rows(engine: Engine, models: list[str], profile: WorkloadProfile) -> list[dict[str, Any]]:
    """What each row must show, from the engine: exact cost, "$" + the same as its title, the provider it is
    cheapest at, and the extra over the cheapest model in hundredths of a percent (half to even)."""
    firsts = {m: engine.ranking(m, profile)[0] for m in models}
    least = min(r.cost for r in firsts.values())
    rows = []
    for m in models:
        cost = firsts[m].cost
        extra = round(Fraction(cost - least) * 10_000 / Fraction(least))
        rows.append({"id": m, "cost": cost, "via": firsts[m].via, "versus": Decimal(extra).scaleb(-2)})
    return rows


def shown_rows(page: Page) -> list[dict[str, Any]]:
    rows = page.eval_on_selector_all("#compare tbody tr", ROWS_JS)
    for row in rows:
        assert row["title"] == f"${row['value']}", row  # the visible figure's title carries every digit
    return [{"id": r["id"], "cost": Decimal(r["value"]), "via": r["via"], "versus": Decimal(r["versus"])} for r in rows]


def default_choice(site: BuiltSite) -> set[str]:
    text = (site.root / "compare.html").read_text()
    return set(text.split('data-models="', 1)[1].split('"', 1)[0].split(","))


def chart_labels(page: Page) -> list[str]:
    return page.evaluate(
        "JSON.parse(document.getElementById(document.querySelector('figure.compare-chart').dataset.chart)"
        ".textContent).series.map(s => s.label)"
    )


def test_compare_view_of_three_models_is_the_engines(
    browser: BrowserContext, base_url: str, site: BuiltSite, engine: Engine
) -> None:
    models = models_for(engine, WORKLOAD, default_choice(site))
    assert len(models) == 3
    url = f"{base_url}compare.html?models={','.join(models)}&{QUERY}"
    with watched(browser, url) as (page, problems):
        assert page.is_visible("#compare-pick") and page.is_visible("#workload")
        assert page.input_value("#input-tokens") == "20000" and page.text_content("#cache-hit-out") == "50 %"
        rows = shown_rows(page)
        assert rows == expected_rows(engine, models, WORKLOAD)
        assert chart_labels(page) == models
        assert page.eval_on_selector_all("figure.compare-chart path.series", "ps => ps.length") == 3
        query = parse_qs(urlsplit(page.url).query)
        assert query["models"] == [",".join(models)] and query["cache_hit"] == ["50"]

        # Remove one, add another: the table, the chart and the address follow.
        page.click(f"#compare-chosen button[aria-label='remove {models[0]}']")
        assert [r["id"] for r in shown_rows(page)] == models[1:]
        extra = models_for(engine, WORKLOAD, default_choice(site) | set(models), 1)[0]
        page.fill("#compare-add", extra)
        page.click("#compare-add-button")
        now = [*models[1:], extra]
        assert shown_rows(page) == expected_rows(engine, now, WORKLOAD)
        assert chart_labels(page) == now
        assert parse_qs(urlsplit(page.url).query)["models"] == [",".join(now)]

        # A slider moves the whole comparison (exactly), and the address keeps it.
        page.fill("#cache-hit", "90")
        cached = WorkloadProfile(20_000, 1_000, cache_hit=Decimal("0.9"))
        assert shown_rows(page) == expected_rows(engine, now, cached)
        shared = page.url
        assert parse_qs(urlsplit(shared).query)["cache_hit"] == ["90"]
        assert problems == []
    with watched(browser, shared) as (page, problems):  # the address reopens the same view
        assert shown_rows(page) == expected_rows(engine, now, cached)
        assert problems == []


def test_rows_ticked_on_the_index_open_the_compare_page(browser: BrowserContext, base_url: str, engine: Engine) -> None:
    chat = WorkloadProfile(2_000, 500)
    with watched(browser, base_url + "index.html") as (page, problems):
        ids = page.eval_on_selector_all("#models tbody tr", "rows => rows.map(r => r.dataset.id)")
        ranked = engine.rankings(chat)
        two = [m for m in ids if m in ranked and ranked[m][0].cost > 0][:2]  # priced, so "vs cheapest" is defined
        for model in two:
            page.check(f"#models input.pick[aria-label='compare {model}']")
        link = page.locator("p.compare-bar a")
        assert link.text_content() == "Compare 2 models →"
        link.click()
        page.wait_for_url(lambda url: "/compare.html?models=" in url)
        assert shown_rows(page) == expected_rows(engine, two, chat)
        assert problems == []


def test_report_prints_to_a_pdf_naming_the_three_models(
    browser: BrowserContext, site: BuiltSite, engine: Engine, tmp_path: Path
) -> None:
    pypdf = pytest.importorskip("pypdf", reason="pypdf reads the printed PDF (the test extra)")
    models = models_for(engine, WORKLOAD, set())
    report = tmp_path / "report.html"
    report.write_text(render_report(compare(engine.cat, models, WORKLOAD, at=engine.at)), encoding="utf-8")
    out = artifacts_dir()
    out.mkdir(parents=True, exist_ok=True)
    pdf = tmp_path / "report.pdf"
    with watched(browser, report.as_uri()) as (page, problems):
        page.emulate_media(media="print")
        page.pdf(path=str(pdf), format="A4", prefer_css_page_size=True)
        assert problems == []
    reader = pypdf.PdfReader(str(pdf))
    assert len(reader.pages) >= 1
    text = " ".join(p.extract_text() for p in reader.pages)
    joined = re.sub(r"\s+", "", text)  # a name wrapped at a line end ("deepseek-v4-⏎flash") is still the name
    for model in models:
        assert model in joined, f"{model} not in the printed report"
    assert "Methodology in brief" in text and "Price history" in text
    shutil.copyfile(pdf, out / "report.pdf")
    if shutil.which("pdftoppm") is None:
        pytest.skip("pdftoppm (poppler-utils) is not installed: the PDF was checked, its pages not rasterised")
    for old in out.glob("report-page-*.png"):
        old.unlink()
    subprocess.run(["pdftoppm", "-r", "70", "-png", str(pdf), str(out / "report-page")], check=True)
    pages = sorted(out.glob("report-page-*.png"))
    assert len(pages) == len(reader.pages)
    assert all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in pages)


@pytest.mark.parametrize(("device", "viewport"), [("desktop", WIDE), ("phone", PHONE)])
def test_compare_and_report_screenshots(
    browser: BrowserContext,
    base_url: str,
    site: BuiltSite,
    engine: Engine,
    tmp_path: Path,
    device: str,
    viewport: ViewportSize,
) -> None:
    """At 1400 and 390 px: nothing scrolls sideways (a wide table or chart scrolls in its own box)."""
    models = models_for(engine, WORKLOAD, set())
    report = tmp_path / "report.html"
    report.write_text(render_report(compare(engine.cat, models, WORKLOAD, at=engine.at)), encoding="utf-8")
    out = artifacts_dir()
    out.mkdir(parents=True, exist_ok=True)
    pages = {"compare": f"{base_url}compare.html?models={','.join(models)}&{QUERY}", "report": report.as_uri()}
    for name, url in pages.items():
        with watched(browser, url, viewport) as (page, problems):
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= viewport["width"] + 1, f"{name} is {width} px wide at {viewport['width']} px"
            target = out / f"{name}-{device}.png"
            target.unlink(missing_ok=True)
            page.screenshot(path=target, full_page=True)
            png = target.read_bytes()
            assert png[:8] == b"\x89PNG\r\n\x1a\n" and int.from_bytes(png[16:20], "big") == viewport["width"]
            assert problems == []


DRAWN = "figure.compare-chart.drawn"
PLOT_JS = """() => { const f = document.querySelector('figure.compare-chart'), u = f.priceChart.plot;
  return {labels: u.series.slice(1).map(s => s.label), shown: u.series.slice(1).map(s => s.show),
          distr: u.scales.y.distr, plots: document.querySelectorAll('.uplot').length,
          legend: Array.from(f.querySelectorAll('.chart-legend .chart-series')).map(b => b.textContent),
          fallback: getComputedStyle(f.querySelector('svg.fallback')).display}; }"""


def plot_state(page: Page) -> dict[str, Any]:
    page.wait_for_selector(f"{DRAWN} canvas")
    state: dict[str, Any] = page.evaluate(PLOT_JS)
    return state


def in_force(points: list[list[Any]], t: float) -> float | None:
    """A step line's value at ``t``: the last point at or before it (None before the first, or in a gap)."""
    before = [v for at, v in points if at <= t]
    return before[-1] if before else None


def tooltip_matches_data(page: Page, models: list[str]) -> None:
    """The tooltip lists, for the crosshair's instant, each model with a cost then, at that cost (to the four
    significant digits it shows), and no other line."""
    assert page.is_visible(f"{DRAWN} .chart-tip")
    t = page.evaluate(
        "() => { const u = document.querySelector('figure.compare-chart').priceChart.plot;"
        " return u.posToVal(u.cursor.left, 'x'); }"
    )
    data = json.loads(page.text_content("script#compare-data") or "")
    expected = {m: in_force(data["models"][m]["points"], t) for m in models}
    rows = page.eval_on_selector_all(
        f"{DRAWN} .chart-tip tr", "rows => rows.map(r => [r.dataset.label, r.querySelector('td.price').textContent])"
    )
    assert rows, "the tooltip lists no line"
    assert {label for label, _ in rows} == {m for m, v in expected.items() if v is not None}
    for label, text in rows:
        value = expected[label]
        assert value is not None and text.startswith("$")
        assert abs(float(text[1:].replace(",", "")) - value) <= abs(value) * 5e-4, (label, text, value)


def test_compare_history_is_the_interactive_chart_redrawn_on_a_new_choice(
    browser: BrowserContext, base_url: str, site: BuiltSite, engine: Engine
) -> None:
    models = models_for(engine, WORKLOAD, default_choice(site))
    assert len(models) == 3
    with watched(browser, f"{base_url}compare.html?models={','.join(models)}&{QUERY}") as (page, problems):
        state = plot_state(page)
        assert state["labels"] == models and state["legend"] == models and state["shown"] == [True] * 3
        assert state["plots"] == 1 and state["fallback"] == "none"

        # The crosshair tooltip by mouse, two thirds along the time axis.
        page.locator(f"{DRAWN} .chart-plot").scroll_into_view_if_needed()
        box = page.locator(f"{DRAWN} .u-over").bounding_box()
        assert box is not None
        page.mouse.move(box["x"] + box["width"] * 2 / 3, box["y"] + box["height"] / 2)
        tooltip_matches_data(page, models)

        # The legend: an entry hides its line, "only" leaves one, "Show all" brings them back.
        page.click(f"{DRAWN} .chart-legend li:nth-child(1) .chart-series")
        assert plot_state(page)["shown"] == [False, True, True]
        page.click(f"{DRAWN} .chart-legend li:nth-child(3) .chart-only")
        assert plot_state(page)["shown"] == [False, False, True]
        page.click(f"{DRAWN} .chart-all")
        assert plot_state(page)["shown"] == [True, True, True]

        # Remove one: the old chart is taken down (destroy() ran on its figure), a new one draws the other two.
        page.evaluate("() => { window.oldFigure = document.querySelector('figure.compare-chart'); }")
        page.click(f"#compare-chosen button[aria-label='remove {models[0]}']")
        state = plot_state(page)
        assert state["labels"] == models[1:] and state["legend"] == models[1:] and state["plots"] == 1
        assert page.evaluate(
            "() => !window.oldFigure.isConnected && !('priceChart' in window.oldFigure)"
            " && !window.oldFigure.classList.contains('drawn') && !window.oldFigure.querySelector('.uplot')"
        )
        # The new chart is as interactive as the first: the scale switch redraws uPlot's axis.
        scale = state["distr"]
        page.click(f"{DRAWN} .chart-scale button:text-is('{'Linear' if scale == 3 else 'Log'}')")
        assert plot_state(page)["distr"] == (1 if scale == 3 else 3)
        # Printed, the page shows the SVG of the two (kept in step with the choice), not the canvas.
        page.emulate_media(media="print")
        shown = "s => getComputedStyle(document.querySelector(s)).display"
        assert page.evaluate(shown, f"{DRAWN} > svg.fallback") == "block"
        assert page.evaluate(shown, f"{DRAWN} > .chart-plot") == "none"
        assert page.eval_on_selector_all(f"{DRAWN} > svg.fallback path.series", "ps => ps.length") == 2
        assert problems == []

    # On a phone, a finger on the chart puts the crosshair there; the tooltip sits under it.
    with watched(browser, f"{base_url}compare.html?models={','.join(models)}&{QUERY}", PHONE) as (page, problems):
        assert plot_state(page)["labels"] == models
        page.locator(f"{DRAWN} .chart-plot").scroll_into_view_if_needed()
        box = page.locator(f"{DRAWN} .u-over").bounding_box()
        assert box is not None
        cdp = page.context.new_cdp_session(page)
        point = {"x": box["x"] + box["width"] / 2, "y": box["y"] + box["height"] / 2}
        cdp.send("Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": [point]})
        cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
        assert page.get_attribute(f"{DRAWN} .chart-tip", "class") == "chart-tip below"
        tooltip_matches_data(page, models)
        assert problems == []
