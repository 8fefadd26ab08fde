"""The model page's price-history chart (static/chart.js over uPlot) in headless Debian Chromium (issue 18, item 1).

On ``deepseek/deepseek-v3.2`` of the 20 recorded days, served over loopback as ``test_site_browser`` serves the
site (its fixtures are reused: one build per run):

* The chart replaces the SVG fallback, spans the content width, and starts on a log axis exactly when its
  values span more than 10x; the log / linear switch changes uPlot's axis and what is drawn.
* A legend entry hides its line (and "only" leaves one line); a hidden line leaves the tooltip and the y range.
* The crosshair tooltip at 2026-07-25 lists baidu's price before and after its discount change, equal to what
  the cost engine charges for the default workload under baidu's versions either side of the change (found in
  the store, not written here), by mouse and by touch.
* At 390 px every text of the chart, the canvas's axis labels included, is at least 10 px, and no page scrolls
  sideways.
* No console error, no failed request, no request to anywhere but the test's own server.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import pytest
import test_site_browser as shared
from test_site_browser import MISSING, Engine, artifacts_dir, model_url

from catalog.money import per_million
from catalog.website.presets import DEFAULT

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext, Page, ViewportSize

pytestmark = [pytest.mark.browser, pytest.mark.skipif(MISSING is not None, reason=MISSING or "")]
# The built site, its loopback server, the browser and the engine: test_site_browser's fixtures (one build a run).
site, base_url, browser, engine = shared.site, shared.base_url, shared.browser, shared.engine

MODEL = "deepseek/deepseek-v3.2"
DISCOUNT_DAY = datetime(2026, 7, 25, tzinfo=UTC)
WIDE: ViewportSize = {"width": 1400, "height": 900}
PHONE: ViewportSize = {"width": 390, "height": 844}
TOKENS = DEFAULT.profile.input_tokens + DEFAULT.profile.output_tokens
PLOT = "figure.price-chart .chart-plot"


@contextmanager
def chart_page(browser: BrowserContext, base_url: str, viewport: ViewportSize) -> Iterator[tuple[Page, list[str]]]:
    """The model page with its chart drawn; every console error or warning, uncaught exception, failed request,
    error status and request to another origin lands in the list."""
    page = browser.new_page()
    problems: list[str] = []
    page.on(
        "console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type in ("error", "warning") else None
    )
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("requestfailed", lambda r: problems.append(f"failed: {r.url} {r.failure}"))
    page.on("request", lambda r: None if r.url.startswith(base_url) else problems.append(f"external: {r.url}"))
    page.on("response", lambda r: problems.append(f"status {r.status}: {r.url}") if r.status >= 400 else None)
    try:
        page.set_viewport_size(viewport)
        response = page.goto(model_url(base_url, MODEL), wait_until="load")
        assert response is not None and response.status == 200
        page.wait_for_selector("figure.price-chart.drawn canvas")
        page.locator("figure.price-chart").scroll_into_view_if_needed()
        yield page, problems
    finally:
        page.close()


def chart_json(page: Page) -> dict[str, Any]:
    chart_id = page.get_attribute("figure.price-chart", "data-chart")
    return json.loads(page.text_content(f"script#{chart_id}") or "")


def plot_state(page: Page) -> dict[str, Any]:
    """What uPlot holds now: the y axis's kind and range, which lines are shown, the canvas's sizes."""
    return page.evaluate(
        """() => { const u = document.querySelector('figure.price-chart').priceChart.plot;
        return {distr: u.scales.y.distr, min: u.scales.y.min, max: u.scales.y.max,
                shown: u.series.slice(1).map(s => s.show), width: u.width,
                canvas: u.ctx.canvas.getBoundingClientRect().width,
                fonts: u.axes.map(a => a.font[2])}; }"""
    )


def point_at(page: Page, when: datetime) -> tuple[float, float]:
    """The viewport position of ``when`` on the time axis (uPlot's own mapping), halfway down the plot."""
    box = page.locator(f"{PLOT} .u-over").bounding_box()
    assert box is not None
    left = page.evaluate(
        "t => document.querySelector('figure.price-chart').priceChart.plot.valToPos(t, 'x')", when.timestamp()
    )
    return box["x"] + left, box["y"] + box["height"] / 2


def tooltip(page: Page) -> dict[str, dict[str, str]]:
    assert page.is_visible("figure.price-chart .chart-tip")
    return page.eval_on_selector_all(
        "figure.price-chart .chart-tip tr[data-label]",
        """rows => Object.fromEntries(rows.map(r => [r.dataset.label,
            {price: r.querySelector('td.price').textContent, move: r.querySelector('td.move').textContent}]))""",
    )


def dollars(text: str) -> Decimal:
    return Decimal(text.strip().removeprefix("$").replace(",", ""))


def shown_as(text: str, exact: Decimal) -> bool:
    """``text`` is ``exact`` to the tooltip's four significant digits (half a unit of the last one either way:
    the browser rounds the float, the engine's value is exact)."""
    value = dollars(text)
    unit = Decimal(1).scaleb(exact.adjusted() - 3)
    return abs(value - exact) <= unit / 2


def baidu_change(engine: Engine) -> tuple[str, datetime, Decimal, Decimal]:
    """From the store: baidu's endpoint of the model whose discount changed on the day, the instant, and the
    engine's cost of the default workload ($ per M tokens) just before and at that instant."""
    rows = engine.cat.con.execute(
        "SELECT endpoint_key, tag, valid_from, discount FROM endpoint_versions WHERE model_id = ? "
        "AND provider_slug = 'baidu' ORDER BY endpoint_key, valid_from",
        [MODEL],
    ).fetchall()
    changes = [
        (later[0], later[1], later[2])
        for earlier, later in itertools.pairwise(rows)
        if earlier[0] == later[0]
        and later[3] != earlier[3]
        and DISCOUNT_DAY <= later[2] < DISCOUNT_DAY + timedelta(days=1)
    ]
    assert len(changes) == 1, f"{MODEL}: baidu's discount changes on {DISCOUNT_DAY:%Y-%m-%d}: {changes}"
    key, tag, at = changes[0]
    usage = [
        {"model": MODEL, "endpoint": key, "timestamp": when, **DEFAULT.profile.usage_row()}
        for when in (at - timedelta(seconds=1), at)
    ]
    priced = engine.cat.cost(usage, breakdown=False)
    assert priced["status"].to_list() == ["ok", "ok"]
    before, after = (per_million(cost, TOKENS) for cost in priced["cost_total"].to_list())
    assert before != after, "the discount change left the chat cost as it was: the check would prove nothing"
    return tag, at.astimezone(UTC), before, after


def test_chart_log_switch_legend_and_tooltip_follow_the_engine(
    browser: BrowserContext, base_url: str, engine: Engine
) -> None:
    tag, at, before, after = baidu_change(engine)
    with chart_page(browser, base_url, WIDE) as (page, problems):
        data = chart_json(page)
        labels = [s["label"] for s in data["series"]]
        assert tag in labels and len(labels) == len(set(labels))
        assert not page.is_visible("figure.price-chart svg.fallback")  # drawn: the fallback steps aside
        # Full content width: the plot is as wide as <main>'s content box.
        content = page.evaluate(
            "(() => { const m = getComputedStyle(document.querySelector('main')); "
            "return document.querySelector('main').clientWidth - parseFloat(m.paddingLeft) "
            "- parseFloat(m.paddingRight); })()"
        )
        state = plot_state(page)
        assert abs(state["width"] - content) <= 1, (state["width"], content)

        # Log at first exactly when the values span more than 10x; the switch changes the axis and the drawing.
        values = [p[1] for s in data["series"] for p in s["points"] if p[1]]
        assert max(values) / min(values) > 10, "the model's prices span less than 10x: pick another model"
        assert state["distr"] == 3
        assert page.get_attribute("figure.price-chart .chart-scale button:text-is('Log')", "aria-pressed") == "true"
        log_image = page.locator(PLOT).screenshot()
        page.click("figure.price-chart .chart-scale button:text-is('Linear')")
        linear = plot_state(page)
        assert linear["distr"] == 1 and linear["min"] == 0
        assert page.locator(PLOT).screenshot() != log_image
        page.click("figure.price-chart .chart-scale button:text-is('Log')")
        state = plot_state(page)
        assert state["distr"] == 3 and 0 < state["min"] < min(values)
        assert page.get_attribute("figure.price-chart", "data-scale") == "log"

        # The tooltip on the discount day, before and after the change, by mouse.
        page.mouse.move(*point_at(page, at - timedelta(hours=2)))
        rows = tooltip(page)
        assert set(rows) == {
            s["label"]
            for s in data["series"]
            if _value_at(s["points"], (at - timedelta(hours=2)).timestamp()) is not None
        }
        assert shown_as(rows[tag]["price"], before), (rows[tag], before)
        move = rows[tag]["move"]
        assert move.startswith(f"{at:%H:%M} "), move
        old, new = move.split(" ", 1)[1].split(" → ")
        assert shown_as(old, before) and shown_as(new, after), (move, before, after)
        page.mouse.move(*point_at(page, at + timedelta(hours=2)))
        rows = tooltip(page)
        assert shown_as(rows[tag]["price"], after) and rows[tag]["move"] == move
        # Cheapest first.
        assert [dollars(r["price"]) for r in rows.values()] == sorted(dollars(r["price"]) for r in rows.values())

        # The legend hides the dearest endpoint (the outlier that squashed the old chart), then "only" one line.
        dearest = max(
            (s for s in data["series"] if s["kind"] == "endpoint"), key=lambda s: max(p[1] or 0 for p in s["points"])
        )
        index = labels.index(dearest["label"])
        entry = page.locator("figure.price-chart .chart-legend li").nth(index)
        top_before = plot_state(page)["max"]
        entry.locator("button.chart-series").click()
        assert entry.locator("button.chart-series").get_attribute("aria-pressed") == "false"
        state = plot_state(page)
        assert state["shown"] == [label != dearest["label"] for label in labels]
        assert state["max"] < top_before  # the y range follows the shown lines
        page.mouse.move(*point_at(page, at + timedelta(hours=3)))
        assert dearest["label"] not in tooltip(page) and tag in tooltip(page)
        entry.locator("button.chart-only").click()
        assert plot_state(page)["shown"] == [label == dearest["label"] for label in labels]
        page.click("figure.price-chart .chart-all")
        assert all(plot_state(page)["shown"])

        # The keyboard: the arrow keys step the crosshair from one price move to the next, the change included.
        page.mouse.move(0, 0)  # off the chart: the crosshair goes
        page.focus(PLOT)
        for _ in range(len(data["series"]) * 10):  # more presses than the chart has instants
            page.keyboard.press("ArrowRight")
            if shown_as(tooltip(page)[tag]["price"], after):
                break
        # The first stop with the new price is the change itself.
        assert page.inner_text(".chart-tip-when") == f"{at:%b} {at.day} {at:%Y, %H:%M} UTC"

        page.evaluate("document.activeElement.blur()")  # no focus ring in the picture
        page.mouse.move(*point_at(page, at - timedelta(hours=1)))
        out = artifacts_dir()
        out.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=out / "model-chart-1400.png")
        assert problems == []


def _value_at(points: list[list[Any]], t: float) -> float | None:
    found = None
    for when, value in points:
        if when <= t:
            found = value
    return found


def test_chart_reads_on_a_phone_by_touch(browser: BrowserContext, base_url: str, engine: Engine) -> None:
    tag, at, before, after = baidu_change(engine)
    with chart_page(browser, base_url, PHONE) as (page, problems):
        state = plot_state(page)
        assert min(state["fonts"]) >= 10, f"axis labels at {state['fonts']} px"
        assert abs(state["canvas"] - state["width"]) < 1, "the canvas is scaled: its text is not the size it says"
        # A finger through the browser's real touch input: a tap after the change, then a drag sideways to before
        # it (a drag sends the page no mouse events: the chart's own touch handling moves the crosshair).
        cdp = page.context.new_cdp_session(page)
        after_x, y = point_at(page, at + timedelta(hours=3))
        before_x, _ = point_at(page, at - timedelta(hours=3))
        touch = [("touchStart", after_x), ("touchEnd", None)]
        for kind, x in touch:
            cdp.send("Input.dispatchTouchEvent", {"type": kind, "touchPoints": [] if x is None else [{"x": x, "y": y}]})
        assert shown_as(tooltip(page)[tag]["price"], after)
        # From days later (a drag of a few pixels stays within the browser's touch slop and moves nothing).
        far_x, _ = point_at(page, at + timedelta(days=4))
        drag = [("touchStart", far_x), *[("touchMove", far_x + (before_x - far_x) * i / 5) for i in range(1, 6)]]
        for kind, x in [*drag, ("touchEnd", None)]:
            cdp.send("Input.dispatchTouchEvent", {"type": kind, "touchPoints": [] if x is None else [{"x": x, "y": y}]})
        rows = tooltip(page)
        assert shown_as(rows[tag]["price"], before), (rows[tag], before)
        assert rows[tag]["move"].startswith(f"{at:%H:%M} ")
        # Every text of the figure (controls, legend, tooltip) at least 10 px.
        sizes = page.evaluate(
            """() => [...document.querySelectorAll('figure.price-chart *')]
                .filter(e => e.offsetParent !== null
                             && [...e.childNodes].some(n => n.nodeType === 3 && n.textContent.trim()))
                .map(e => [e.textContent.trim().slice(0, 30), parseFloat(getComputedStyle(e).fontSize)])"""
        )
        assert sizes and all(size >= 10 for _, size in sizes), [s for s in sizes if s[1] < 10]
        width, inner = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
        assert width <= inner + 1, f"the page is {width} px wide on a {inner} px screen"
        out = artifacts_dir()
        out.mkdir(parents=True, exist_ok=True)
        page.locator("figure.price-chart").scroll_into_view_if_needed()
        page.screenshot(path=out / "model-chart-390.png")
        assert problems == []


def test_the_busiest_chart_repeats_no_line_style_and_matches_its_fallback(
    browser: BrowserContext, base_url: str, site: shared.BuiltSite
) -> None:
    """The model whose chart has the most lines (found in the built pages): every line differs from every other
    in colour, dash or width, and each takes the colour and dash its no-JavaScript SVG line has."""
    counts = {}
    for path in (site.root / "models").rglob("*.html"):
        text = path.read_text(encoding="utf-8")
        if 'id="chart-history">' in text:
            body = text.split('id="chart-history">', 1)[1].split("</script>", 1)[0]
            counts[path.relative_to(site.root).as_posix()] = len(json.loads(body)["series"])
    busiest = max(counts, key=lambda p: (counts[p], p))
    assert counts[busiest] > 6 * 2, "no chart needs more than two dash patterns: the check would prove little"
    page = browser.new_page()
    try:
        page.set_viewport_size(WIDE)
        page.goto(base_url + busiest, wait_until="load")
        page.wait_for_selector("figure.price-chart.drawn canvas")
        styles = page.evaluate(
            """() => { const u = document.querySelector('figure.price-chart').priceChart.plot;
            const svg = [...document.querySelectorAll('figure.price-chart svg.fallback g.line')];
            const rgb = hex => 'rgb(' + [1, 3, 5].map(i => parseInt(hex.slice(i, i + 2), 16)).join(', ') + ')';
            return u.series.slice(1).map((s, i) => {
              const path = svg[i].querySelector('path:not(.riser)'), css = getComputedStyle(path);
              return {stroke: rgb(s.stroke(u, i + 1)), dash: (s.dash || []).join(' '), width: s.width,
                      svgStroke: css.stroke, svgDash: css.strokeDasharray.replace(/px/g, '').replace(/,/g, '')};
            }); }"""
        )
    finally:
        page.close()
    assert len(styles) == counts[busiest]
    assert len({(s["stroke"], s["dash"], s["width"]) for s in styles}) == len(styles), busiest
    for s in styles:
        assert s["svgStroke"] == s["stroke"], s
        assert s["svgDash"] == (s["dash"] or "none"), s


def test_a_page_written_once_per_change_shows_this_builds_instant_telemetry_and_chart_end(
    browser: BrowserContext, base_url: str, site: shared.BuiltSite
) -> None:
    """A model page holds nothing of its build (it is linked unchanged into later builds): the footer's sentence,
    the as-of day and the telemetry cells come from build.js and telemetry.js, and a chart whose last price event
    is before the build's instant is carried on to it, its open lines at their last value."""

    def assigned(name: str) -> dict[str, Any]:
        text = (site.root / name).read_text(encoding="ascii")
        found: dict[str, Any] = json.loads(text.split(" = ", 1)[1].rstrip().removesuffix(";"))
        return found

    build, telemetry = assigned("build.js"), assigned("telemetry.js")
    # A model whose chart ends before the build's instant (its prices did not move on the newest day).
    quiet = None
    for path in sorted((site.root / "models").rglob("*.html")):
        text = path.read_text(encoding="utf-8")
        if 'id="chart-history"' not in text:
            continue
        data = json.loads(text.split('<script type="application/json" id="chart-history">', 1)[1].split("</script>")[0])
        if data["end"] < build["at"] and data["extend"]:
            quiet = (path.relative_to(site.root).as_posix(), data)
            break
    assert quiet is not None, "every model's prices moved on the newest day: the check would prove nothing"
    page = browser.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type in ("error", "warning") else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.on("requestfailed", lambda r: problems.append(f"failed: {r.url}"))
    try:
        page.set_viewport_size(WIDE)
        page.goto(base_url + quiet[0], wait_until="load")
        page.wait_for_selector("figure.price-chart.drawn canvas")
        assert page.text_content("footer [data-stamp=asof]") == build["text"]["asof"]
        assert page.text_content("#endpoints") == f"Endpoints {build['text']['on-day']}"
        model = page.get_attribute("[data-telemetry-model]", "data-telemetry-model")
        assert model is not None
        cells = page.eval_on_selector_all(
            "[data-telemetry-model] tbody tr", "rows => rows.map(r => [...r.cells].slice(-3).map(td => td.textContent))"
        )
        assert cells == telemetry[model] and cells
        end = page.evaluate("() => document.querySelector('figure.price-chart').priceChart.plot.scales.x.max")
        assert end == build["at"] > quiet[1]["end"]
        # Each open line's value at the build's instant is its last one (uPlot's data, aligned on one time axis).
        last = page.evaluate(
            "() => { const d = document.querySelector('figure.price-chart').priceChart.plot.data;"
            " return d.slice(1).map(s => s[s.length - 1]); }"
        )
        for n, (line, value) in enumerate(zip(quiet[1]["series"], last, strict=True)):
            if n in quiet[1]["extend"]:
                assert value == line["points"][-1][1], line["label"]
        assert problems == []
    finally:
        page.close()
