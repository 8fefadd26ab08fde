"""Issue 18, items 2 and 3, in a real browser (headless Debian Chromium through Playwright, as test_site_browser.py).

* The index opens sorted by the chat workload's cost with free endpoints excluded, and its first row is the first
  paid row of ``catalog cheapest --json --exclude-free`` over every model (asked of the CLI here).
* A typed workload (20,000 input tokens, a 50 % cache-hit share), a filter and a sort go into the URL, and that URL
  opened in a fresh page shows the same rows, costs and order; the costs are the engine's.
* The price movers: for the chat workload the build's (the engine's at both instants), and after the workload
  changes the browser's, both equal to the engine's moves computed here from ``Catalog.cheapest``.
* The changes page filters by kind, model and provider, pages newest first, and reopens from its URL.
* Every change row on a model page and on the changes page shows its old, new and change cells inside the
  viewport at 1,400 px (a parameter diff included), without clipping.
* No console error, failed request or request to another host on any of these pages; screenshots of the index
  and the changes page at 1,400 and 390 px go to ``test-artifacts/site/``.
"""

# ruff: noqa: F811  (the fixtures imported from test_site_browser are parameters here)
from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import TYPE_CHECKING, Any

import pytest
from helpers import run_cli
from test_site_browser import (  # noqa: F401  (fixtures)
    MISSING,
    BuiltSite,
    artifacts_dir,
    base_url,
    browser,
    model_url,
    site,
)

from catalog.cost.workload import WorkloadProfile
from catalog.library import Catalog
from catalog.money import canonical
from catalog.store import queries
from catalog.website.facts import EPOCH, site_changes

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext, Page, ViewportSize

pytestmark = [pytest.mark.browser, pytest.mark.skipif(MISSING is not None, reason=MISSING or "")]

WIDE: ViewportSize = {"width": 1400, "height": 900}
PHONE: ViewportSize = {"width": 390, "height": 844}
CHAT = WorkloadProfile(2_000, 500)
VISIBLE_ROWS_JS = """rows => rows.filter(r => !r.hidden).map(r => ({
  id: r.dataset.id, value: r.querySelector('td.cost').getAttribute('data-value'),
  via: r.querySelector('td.via').textContent}))"""
MOVERS_JS = """boxes => boxes.map(b => ({window: Number(b.dataset.window), side: b.dataset.side,
  moves: [...b.querySelectorAll('li')].map(li => ({id: li.dataset.id,
    amounts: [...li.querySelectorAll('.amounts span')].map(s => s.title),
    pct: li.querySelector('.pct').textContent}))}))"""


@contextmanager
def opened(browser: BrowserContext, url: str, viewport: ViewportSize = WIDE) -> Iterator[tuple[Page, list[str]]]:
    """A fresh page at ``url`` with every console error or warning, uncaught exception, failed request and
    request to another host it makes."""
    page = browser.new_page()
    problems: list[str] = []
    origin = url.split("/", 3)[:3]
    page.on(
        "console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type in ("error", "warning") else None
    )
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("requestfailed", lambda r: problems.append(f"failed: {r.url}"))
    page.on(
        "request",
        lambda r: None if r.url.split("/", 3)[:3] == origin or r.url.startswith("data:") else problems.append(r.url),
    )
    try:
        page.set_viewport_size(viewport)
        response = page.goto(url, wait_until="load")
        assert response is not None and response.status == 200, f"{url}: {response and response.status}"
        yield page, problems
    finally:
        page.close()


def visible(page: Page) -> list[dict[str, Any]]:
    return page.eval_on_selector_all("#models tbody tr", VISIBLE_ROWS_JS)


# --- the index: the default view, the URL --------------------------------------------------------------------


def test_index_opens_on_the_cheapest_paid_model_as_catalog_cheapest_ranks_it(
    browser: BrowserContext, base_url: str, site: BuiltSite
) -> None:
    done = run_cli(
        "cheapest", "--json", "--exclude-free", "--input", "2000", "--output", "500",
        "--as-of", site.at.isoformat(), "--db", str(site.db),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    ranked = json.loads(done.stdout)["ranked"]
    assert ranked and Decimal(ranked[0]["cost_per_request"]) > 0
    with opened(browser, base_url + "index.html") as (page, problems):
        assert page.is_checked("#exclude-free")
        assert page.get_attribute("#models th[data-key=cost]", "aria-sort") == "ascending"
        rows = visible(page)
        assert rows[0]["id"] == ranked[0]["model_id"]
        assert Decimal(rows[0]["value"]) == Decimal(ranked[0]["cost_per_request"])
        costs = [Decimal(r["value"]) for r in rows if r["value"]]
        assert costs == sorted(costs) and min(costs) > 0  # cheapest first, no free model left
        # Each model's figure is its cheapest paid endpoint, as the CLI's first row for that model (a model with
        # no endpoint to rank shows its list price, which the CLI gives only for a model with none listed).
        first: dict[str, Decimal] = {}
        for row in ranked:
            first.setdefault(row["model_id"], Decimal(row["cost_per_request"]))
        by_endpoint = {r["id"]: Decimal(r["value"]) for r in rows if r["value"] and r["via"] != "list price"}
        assert len(by_endpoint) > 100
        assert by_endpoint == {m: c for m, c in first.items() if m in by_endpoint}
        # Showing free models again brings the $0 ones back, at the top.
        page.uncheck("#exclude-free")
        assert Decimal(visible(page)[0]["value"]) == 0
        assert "free=1" in page.url
        assert problems == []


def test_a_typed_workload_with_filters_and_sort_reopens_from_its_url(
    browser: BrowserContext, base_url: str, site: BuiltSite
) -> None:
    profile = WorkloadProfile(20_000, 500, cache_hit=Decimal("0.5"))
    with Catalog.open(site.db) as cat:
        answer = cat.cheapest(None, profile, as_of=site.at, exclude_free=True, min_context=128_000).to_dict()
    expected: dict[str, Decimal] = {}
    for row in answer["ranked"]:
        if row["price_source"] == "endpoint":
            expected.setdefault(row["model_id"], Decimal(row["cost_per_request"]))
    with opened(browser, base_url + "index.html") as (page, problems):
        page.fill("#input-tokens", "20000")  # typed: 20,000 is no slider stop
        page.fill("#cache-hit-pct", "50")
        assert page.text_content("#input-out") == "20,000" and page.input_value("#cache-hit") == "50"
        page.select_option("#min-context", "128000")
        page.click("#models th[data-key=context]")  # context ascending
        page.click("#models th[data-key=context]")  # then descending
        url = page.url
        before = visible(page)
        assert {r["id"]: Decimal(r["value"]) for r in before if r["value"]} == expected
        assert "in=20000" in url and "cache=50" in url and "ctx=128000" in url and "sort=-context" in url
        assert problems == []
    with opened(browser, url) as (page, problems):
        assert page.input_value("#input-tokens") == "20000" and page.input_value("#cache-hit") == "50"
        assert page.input_value("#min-context") == "128000" and page.is_checked("#exclude-free")
        assert page.get_attribute("#models th[data-key=context]", "aria-sort") == "descending"
        assert visible(page) == before
        assert page.url == url
        assert problems == []


# --- the movers ----------------------------------------------------------------------------------------------


def engine_moves(cat: Catalog, at: datetime, days: int, profile: WorkloadProfile, models: set[str]) -> dict[str, Any]:
    """The largest falls and rises of each model's cheapest cost between the window's start and ``at``, from
    ``Catalog.cheapest`` (its first row per model: the cheapest endpoint, else the list price)."""
    start = queries.first_good_snapshot(cat.con, kind="endpoints")
    then = at - timedelta(days=days)
    if start is not None and then < start:
        then = start

    def headline(when: datetime) -> dict[str, Decimal]:
        out: dict[str, Decimal] = {}
        for row in cat.cheapest(None, profile, as_of=when).to_dict()["ranked"]:
            out.setdefault(row["model_id"], Decimal(row["cost_per_request"]))
        return out

    old, new = headline(then), headline(at)
    moved = [m for m in sorted(models & old.keys() & new.keys()) if old[m] != 0 and old[m] != new[m]]
    ratio = {m: (Fraction(new[m]) - Fraction(old[m])) / Fraction(old[m]) for m in moved}
    cheaper = sorted((m for m in moved if ratio[m] < 0), key=lambda m: (ratio[m], m))[:5]
    dearer = sorted((m for m in moved if ratio[m] > 0), key=lambda m: (-ratio[m], m))[:5]
    sides = (("cheaper", cheaper), ("dearer", dearer))
    return {side: [(m, [f"${canonical(old[m])}", f"${canonical(new[m])}"]) for m in found] for side, found in sides}


def shown_moves(page: Page) -> dict[tuple[int, str], list[tuple[str, list[str]]]]:
    boxes = page.eval_on_selector_all(".mover-list", MOVERS_JS)
    return {(b["window"], b["side"]): [(m["id"], m["amounts"]) for m in b["moves"]] for b in boxes}


@pytest.mark.parametrize("workload", ["chat", "typed"])
def test_movers_are_the_engines_for_the_workload(
    browser: BrowserContext, base_url: str, site: BuiltSite, workload: str
) -> None:
    profile = CHAT if workload == "chat" else WorkloadProfile(20_000, 500, cache_hit=Decimal("0.9"))
    with opened(browser, base_url + "index.html") as (page, problems):
        models = {
            r["id"] for r in page.eval_on_selector_all("#models tbody tr", "rs => rs.map(r => ({id: r.dataset.id}))")
        }
        if workload == "typed":
            page.fill("#input-tokens", "20000")
            page.fill("#cache-hit-pct", "90")
            assert page.text_content("#movers-for") == "for your workload"
        got = shown_moves(page)
        assert problems == []
    with Catalog.open(site.db) as cat:
        for window, days in enumerate((7, 30)):
            want = engine_moves(cat, site.at, days, profile, models)
            for side in ("cheaper", "dearer"):
                assert got[(window, side)] == want[side], (workload, days, side)
    assert any(got.values()), "no model moved: the check proves nothing"


def test_movers_percent_matches_the_index_change_column(browser: BrowserContext, base_url: str) -> None:
    """The 7-day movers of the chat workload and the index's 7-day column say the same of the same models."""
    with opened(browser, base_url + "index.html") as (page, problems):
        moves = page.eval_on_selector_all(
            ".mover-list[data-window='0'] li", "ls => ls.map(l => [l.dataset.id, l.querySelector('.pct').textContent])"
        )
        column = dict(
            page.eval_on_selector_all(
                "#models tbody tr", "rs => rs.map(r => [r.dataset.id, r.querySelector('td.change').textContent])"
            )
        )
        assert moves
        for model, pct in moves:
            assert column[model] == pct, (model, pct)
        assert problems == []


# --- the changes page ---------------------------------------------------------------------------------------

CHANGE_ROWS_JS = """rows => rows.map(r => [...r.cells].map(c => c.textContent))"""


def all_changes(site: BuiltSite) -> list[dict[str, Any]]:
    with Catalog.open(site.db) as cat:
        return site_changes(queries.changes(cat.con, EPOCH, site.at).to_dicts())  # SKU rows: test_kinds


def test_changes_page_filters_by_kind_model_and_provider_and_pages(
    browser: BrowserContext, base_url: str, site: BuiltSite
) -> None:
    changes = all_changes(site)
    model = max({c["model_id"] for c in changes}, key=lambda m: (sum(c["model_id"] == m for c in changes), m))
    tags = [c["tag"].split("/", 1)[0] for c in changes if c["tag"]]
    provider = max(set(tags), key=lambda p: (tags.count(p), p))
    with opened(browser, base_url + "changes.html") as (page, problems):
        assert page.text_content("#change-count") == f"{len(changes)} of {len(changes)} changes"
        first = page.eval_on_selector_all("#change-log tbody tr", CHANGE_ROWS_JS)
        assert len(first) == 100
        page.click("#change-older")
        second = page.eval_on_selector_all("#change-log tbody tr", CHANGE_ROWS_JS)
        assert "page=2" in page.url and second != first
        # Newest first across pages: each row's time is no later than the one before.
        times = [r[0] for r in first + second]
        assert times == sorted(times, reverse=True)
        assert [r[2] for r in first + second] == [c["kind"] for c in changes[:200]]

        page.select_option("#change-kind", "discount")
        rows = page.eval_on_selector_all("#change-log tbody tr", CHANGE_ROWS_JS)
        want = [c for c in changes if c["kind"] == "discount"]
        assert {r[2] for r in rows} == {"discount"} and len(rows) == min(100, len(want)) and "page=" not in page.url
        page.select_option("#change-kind", "")
        page.fill("#change-model", model)
        rows = page.eval_on_selector_all("#change-log tbody tr", CHANGE_ROWS_JS)
        assert {r[1] for r in rows} == {model}
        assert len(rows) == min(100, sum(c["model_id"] == model for c in changes))
        page.fill("#change-model", "")
        page.select_option("#change-provider", provider)
        rows = page.eval_on_selector_all("#change-log tbody tr", CHANGE_ROWS_JS)
        assert {r[3].split("/", 1)[0] for r in rows} == {provider}
        assert page.text_content("#change-count") == f"{tags.count(provider)} of {len(changes)} changes"
        page.select_option("#change-kind", "price")
        url, shown = page.url, page.eval_on_selector_all("#change-log tbody tr", CHANGE_ROWS_JS)
        assert problems == []
    with opened(browser, url) as (page, problems):  # the view reopens from its URL
        assert page.input_value("#change-kind") == "price" and page.input_value("#change-provider") == provider
        assert page.eval_on_selector_all("#change-log tbody tr", CHANGE_ROWS_JS) == shown
        assert problems == []


# --- acceptance 2: old, new and % in view at 1,400 px ------------------------------------------------------------

IN_VIEW_JS = """([width]) => [...document.querySelectorAll('table.changes tbody tr')].map(r => {
  const cells = [...r.cells].slice(-3);
  return cells.map(c => { const b = c.getBoundingClientRect();
    return [c.textContent, b.left >= 0 && b.right <= width && b.width > 0, c.scrollWidth <= c.clientWidth + 1]; });
})"""


@pytest.mark.parametrize(
    "where", ["changes.html", "changes.html?kind=parameters", "changes.html?kind=price&page=2", "model"]
)
def test_every_change_row_shows_old_new_and_change_within_1400_px(
    browser: BrowserContext, base_url: str, where: str
) -> None:
    url = model_url(base_url, "deepseek/deepseek-v3.2") if where == "model" else base_url + where
    with opened(browser, url, WIDE) as (page, problems):
        rows = page.evaluate(IN_VIEW_JS, [WIDE["width"]])
        assert len(rows) > 5, url
        for cells in rows:
            assert all(inside and unclipped for _, inside, unclipped in cells), (url, cells)
        # Where a value exists both sides show it: a price change has old, new and a percent.
        priced = [c for c in rows if c[2][0].endswith("%") and c[0][0] and c[1][0]]
        assert where == "changes.html?kind=parameters" or priced, url
        assert problems == []


# --- screenshots ---------------------------------------------------------------------------------------------


def test_screenshots_of_the_index_and_changes_pages(browser: BrowserContext, base_url: str) -> None:
    out = artifacts_dir()
    out.mkdir(parents=True, exist_ok=True)
    for name in ("index", "changes"):
        for viewport in (WIDE, PHONE):
            with opened(browser, f"{base_url}{name}.html", viewport) as (page, problems):
                target = out / f"{name}-{viewport['width']}.png"
                target.unlink(missing_ok=True)
                page.screenshot(path=target)
                png = target.read_bytes()
                assert png[:8] == b"\x89PNG\r\n\x1a\n" and int.from_bytes(png[16:20], "big") == viewport["width"]
                width = page.evaluate("document.documentElement.scrollWidth")
                assert width <= viewport["width"], f"{name} is {width} px wide at {viewport['width']} px"
                if name == "index" and viewport is WIDE:  # every column in view: the table fits its box
                    table, box = page.evaluate(
                        "(t => [t.scrollWidth, t.parentElement.clientWidth])(document.querySelector('#models'))"
                    )
                    assert table <= box, f"the index's table is {table} px in a {box} px box at 1,400 px"
                assert problems == []
