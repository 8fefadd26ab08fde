"""The built site in a real browser: headless Debian Chromium, driven by Playwright, over loopback HTTP.

The site is built once per run from a copy of the 20 recorded days and served by a ``ThreadingHTTPServer``;
every expected figure comes from the cost engine (``Catalog.cheapest``) at the site's as-of instant.

* Pages load with no console error or warning and no uncaught exception (the strict CSP included).
* A model page's workload sliders re-rank the endpoints exactly as the engine ranks them: a model whose
  order changes between 0 % and 90 % cache hits, and a model with long-context tiers at a large input.
* The index: after the cache-hit slider moves, each model's cheapest cost and provider are the engine's; the
  provider filter keeps exactly the models that provider serves.
* At a phone's width (390 × 844) no page scrolls sideways (wide tables scroll in their own container).
* Screenshots (desktop and phone) land in ``test-artifacts/site/`` (or ``$CATALOG_TEST_ARTIFACTS/site/``).

Needs Playwright's Python package (the ``test`` extra) and Debian's ``chromium``; Playwright's own browser
download is never used. Without either, every test here is skipped and says what to install.
"""

from __future__ import annotations

import fcntl
import functools
import os
import shutil
import threading
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl
import pytest

from catalog.cost.workload import WorkloadProfile
from catalog.library import Catalog
from catalog.settings import PROJECT_ROOT
from catalog.website.build import build_site, page_name
from catalog.website.presets import INPUT_STEPS, PRESETS

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext, Page, ViewportSize

try:
    from playwright.sync_api import sync_playwright
except ImportError:  # the `test` extra not installed
    sync_playwright = None  # type: ignore[assignment]


def chromium_executable() -> str | None:
    found = shutil.which("chromium")
    if found:
        return found
    return "/usr/bin/chromium" if os.access("/usr/bin/chromium", os.X_OK) else None


def missing_browser() -> str | None:
    if sync_playwright is None:
        return "Playwright is not installed: pip install -e '.[test]' (or pip install playwright); no browser download"
    if chromium_executable() is None:
        return "Debian's chromium is not installed: apt-get install chromium (the test drives /usr/bin/chromium)"
    return None


MISSING = missing_browser()
pytestmark = [pytest.mark.browser, pytest.mark.skipif(MISSING is not None, reason=MISSING or "")]

# Without the background-networking flags Chromium keeps trying hosts this machine's closed network refuses.
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DESKTOP: ViewportSize = {"width": 1280, "height": 900}
PHONE: ViewportSize = {"width": 390, "height": 844}
CHAT = WorkloadProfile(2_000, 500)
CHAT_CACHED = WorkloadProfile(2_000, 500, cache_hit=Decimal("0.9"))
LARGE_INPUTS = (200_000, 1_000_000)  # slider stops around and past the recorded tiers' thresholds (272,000 tokens)
# Pages by what they are; the model pages are picked from the engine's answers (see ``chosen``).
PAGES = ("index", "model", "long-context model", "providers", "provider", "changes", "methodology", "downloads")
WITH_SLIDERS = {"index", "model", "long-context model"}
FIXED = {
    "providers": "providers.html",
    "changes": "changes.html",
    "methodology": "methodology.html",
    "downloads": "downloads.html",
}

CUSTOM_RANK_JS = """rows => rows.map(r => {
  const cell = r.querySelector('td.cost'), span = cell.querySelector('span');
  return {key: r.dataset.key, value: cell.getAttribute('data-value'), title: span ? span.title : null,
          rank: r.querySelector('td.rank').textContent};
})"""
INDEX_ROWS_JS = """rows => rows.map(r => ({
  id: r.dataset.id, value: r.querySelector('td.cost').getAttribute('data-value'),
  via: r.querySelector('td.via').textContent, hidden: r.hidden, unit: r.hasAttribute('data-unit')
}))"""


# --- the site, the engine, the server, the browser ------------------------------------------------------------


@dataclass(frozen=True)
class BuiltSite:
    root: Path
    db: Path
    at: datetime


@pytest.fixture(scope="module")
def site(replayed_template: Path, tmp_path_factory: pytest.TempPathFactory) -> BuiltSite:
    """The site of the 20 recorded days, built once for all xdist workers (as the replayed history is)."""
    base = tmp_path_factory.getbasetemp()
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    folder = shared / "site-browser"
    with open(shared / "site-browser.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (folder / "as_of").exists():
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir()
            shutil.copyfile(replayed_template, folder / "history.duckdb")
            with Catalog.open(folder / "history.duckdb") as cat:
                report = build_site(cat, folder / "site")
            (folder / "as_of").write_text(report.at.isoformat())  # written last: the build is complete
    return BuiltSite(folder / "site", folder / "history.duckdb", datetime.fromisoformat((folder / "as_of").read_text()))


@dataclass(frozen=True)
class Ranked:
    key: str
    cost: Decimal
    via: str
    tiers: bool


class Engine:
    """The cost engine's answers at the site's as-of instant."""

    def __init__(self, cat: Catalog, at: datetime) -> None:
        self.cat, self.at = cat, at

    def ranking(self, model: str, profile: WorkloadProfile) -> list[Ranked]:
        rows = self.cat.cheapest(model, profile, as_of=self.at).to_dict()["ranked"]
        return [self._row(r) for r in rows]

    def rankings(self, profile: WorkloadProfile) -> dict[str, list[Ranked]]:
        """Every model's ranking in one call (ranked by cost, model, tag: each model's rows keep its order)."""
        out: dict[str, list[Ranked]] = defaultdict(list)
        for row in self.cat.cheapest(None, profile, as_of=self.at).to_dict()["ranked"]:
            out[row["model_id"]].append(self._row(row))
        return dict(out)

    @staticmethod
    def _row(row: dict[str, Any]) -> Ranked:
        via = row["provider_name"] or row["tag"]
        return Ranked(row["endpoint_key"], Decimal(row["cost_per_request"]), via, bool(row["overrides_applied"]))


@pytest.fixture(scope="module")
def engine(site: BuiltSite) -> Iterator[Engine]:
    with Catalog.open(site.db) as cat:
        yield Engine(cat, site.at)


@dataclass(frozen=True)
class Chosen:
    reordered: str  # its cheapest-endpoint order differs between 0 % and 90 % cache hits (2,000 in, 500 out)
    long_context: str | None  # a long-context tier applies at the largest input step


@pytest.fixture(scope="module")
def chosen(engine: Engine) -> Chosen:
    """Models picked from the engine's answers, so the test follows the data rather than naming models."""
    plain, cached = engine.rankings(CHAT), engine.rankings(CHAT_CACHED)
    reordered = [m for m in plain if [r.key for r in plain[m]] != [r.key for r in cached.get(m, [])]]
    assert reordered, "no model's order changes with cache hits: the slider check would prove nothing"
    most = max(reordered, key=lambda m: (len(plain[m]), m))  # the most endpoints: the strongest check
    large = engine.rankings(WorkloadProfile(LARGE_INPUTS[-1], 500, cache_hit=Decimal("0.9")))
    tiered = [m for m, rows in large.items() if m in plain and any(r.tiers for r in rows)]

    def preference(model: str) -> tuple[bool, int, str]:  # a tier that changes the order, then most endpoints
        return [r.key for r in large[model]] != [r.key for r in cached.get(model, [])], len(large[model]), model

    return Chosen(most, max(tiered, key=preference) if tiered else None)


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def base_url(site: BuiltSite) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(site.root)))
    thread = threading.Thread(target=server.serve_forever, name="site-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrowserContext]:
    assert sync_playwright is not None
    with sync_playwright() as playwright:
        # A persistent context is how Playwright takes a user data dir (launch() refuses --user-data-dir).
        context = playwright.chromium.launch_persistent_context(
            user_data_dir=tmp_path_factory.mktemp("chromium-profile"),
            executable_path=chromium_executable(),
            args=CHROMIUM_FLAGS,
            headless=True,
            viewport=DESKTOP,
        )
        context.set_default_timeout(10_000)  # a hidden slider (app.js not run) fails in seconds, not 30
        try:
            yield context
        finally:
            context.close()


@contextmanager
def opened(browser: BrowserContext, url: str, viewport: ViewportSize = DESKTOP) -> Iterator[tuple[Page, list[str]]]:
    """A fresh page at ``url``, with every console error or warning and uncaught exception it reports."""
    page = browser.new_page()
    problems: list[str] = []
    page.on(
        "console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type in ("error", "warning") else None
    )
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    try:
        page.set_viewport_size(viewport)
        response = page.goto(url, wait_until="load")
        assert response is not None and response.status == 200, f"{url}: {response and response.status}"
        yield page, problems
    finally:
        page.close()


def model_url(base_url: str, model: str) -> str:
    return f"{base_url}models/{page_name(model)}.html"


def url_of(name: str, base_url: str, site: BuiltSite, chosen: Chosen) -> str:
    """The address of one of ``PAGES``."""
    if name == "index":
        return base_url + "index.html"
    if name == "model":
        return model_url(base_url, chosen.reordered)
    if name == "long-context model":
        if chosen.long_context is None:
            pytest.skip("no model has a long-context tier in the recorded days")
        return model_url(base_url, chosen.long_context)
    if name == "provider":
        first = next(p for p in sorted((site.root / "providers").glob("*.html")))
        return base_url + first.relative_to(site.root).as_posix()
    return base_url + FIXED[name]


def custom_rank(page: Page) -> list[dict[str, Any]]:
    return page.eval_on_selector_all("#custom-rank tbody tr", CUSTOM_RANK_JS)


def shown(rows: list[dict[str, Any]]) -> list[tuple[str, Decimal]]:
    """The re-ranked rows as (endpoint key, exact cost); the visible figure's title carries the same cost. Rows
    the workload cannot use (rank "—": a limit or a dynamic price) come last and are left out."""
    unranked = [i for i, row in enumerate(rows) if row["rank"] == "—"]
    assert unranked == list(range(len(rows) - len(unranked), len(rows))), rows
    rows = rows[: len(rows) - len(unranked)]
    for position, row in enumerate(rows, 1):
        # Equal costs share a rank (1, 1, 1, 4): a row's rank is its position unless it ties the one before.
        tied = position > 1 and row["value"] == rows[position - 2]["value"]
        assert row["rank"] == (rows[position - 2]["rank"] if tied else str(position)), row
        assert row["title"] == f"${row['value']}", row
    return [(row["key"], Decimal(row["value"])) for row in rows]


def expected(ranking: list[Ranked]) -> list[tuple[str, Decimal]]:
    return [(r.key, r.cost) for r in ranking]


def slide(page: Page, slider: str, value: int, readout: str) -> None:
    """Move a range input (Playwright's fill sets it and fires input events) and check app.js saw it."""
    page.fill(slider, str(value))
    assert page.input_value(slider) == str(value)
    assert page.text_content(f"{slider}-out") == readout


# --- (a) pages load cleanly --------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", PAGES)
def test_page_loads_without_console_errors(
    browser: BrowserContext, base_url: str, site: BuiltSite, chosen: Chosen, name: str
) -> None:
    url = url_of(name, base_url, site, chosen)
    with opened(browser, url) as (page, problems):
        if name in WITH_SLIDERS:  # app.js ran under the page's CSP and showed them
            assert page.is_visible("#workload"), f"{url}: the workload sliders stayed hidden"
        assert problems == [], url


# --- (b) a model page's sliders re-rank as the engine does -------------------------------------------------------


def test_cache_hit_slider_reorders_endpoints_as_the_engine_does(
    browser: BrowserContext, base_url: str, engine: Engine, chosen: Chosen
) -> None:
    model = chosen.reordered
    with opened(browser, model_url(base_url, model)) as (page, problems):
        initial = custom_rank(page)
        # As rendered (the chat workload, no cache hits): the engine's order and its exact costs.
        assert [(r["key"], Decimal(r["title"].removeprefix("$"))) for r in initial] == expected(
            engine.ranking(model, CHAT)
        )
        slide(page, "#cache-hit", 90, "90 %")
        after = shown(custom_rank(page))
        assert after == expected(engine.ranking(model, CHAT_CACHED))
        assert [key for key, _ in after] != [r["key"] for r in initial], "90 % cache hits should reorder " + model
        assert problems == []


def test_large_input_applies_long_context_tiers_as_the_engine_does(
    browser: BrowserContext, base_url: str, engine: Engine, chosen: Chosen
) -> None:
    model = chosen.long_context or chosen.reordered
    with opened(browser, model_url(base_url, model)) as (page, problems):
        slide(page, "#cache-hit", 90, "90 %")
        for tokens in LARGE_INPUTS:
            slide(page, "#input", INPUT_STEPS.index(tokens), f"{tokens:,}")
            want = engine.ranking(model, WorkloadProfile(tokens, 500, cache_hit=Decimal("0.9")))
            assert shown(custom_rank(page)) == expected(want), f"{model} at {tokens:,} input tokens"
        if chosen.long_context:  # the check covered a tier (the page's conds and override variants)
            assert any(r.tiers for r in want), f"{model}: no long-context tier at {LARGE_INPUTS[-1]:,} tokens"
        assert problems == []


def test_preset_buttons_rank_as_the_engine_does(
    browser: BrowserContext, base_url: str, engine: Engine, chosen: Chosen
) -> None:
    model = chosen.reordered
    with opened(browser, model_url(base_url, model)) as (page, problems):
        for preset in PRESETS:
            page.click(f"#workload button[data-preset={preset.name}]")
            assert page.text_content("#reasoning-out") == f"{int(preset.profile.reasoning * 100)} %"
            assert shown(custom_rank(page)) == expected(engine.ranking(model, preset.profile)), preset.name
        assert problems == []


# --- (c) the index: costs after a slider move, and the filters ---------------------------------------------------


def test_index_costs_follow_the_slider(browser: BrowserContext, base_url: str, engine: Engine, chosen: Chosen) -> None:
    cached = engine.rankings(CHAT_CACHED)
    with opened(browser, base_url + "index.html") as (page, problems):
        page.uncheck("#exclude-free")  # every model, free ones too (the default view: test_site_index_browser.py)
        slide(page, "#cache-hit", 90, "90 %")
        rows = page.eval_on_selector_all("#models tbody tr", INDEX_ROWS_JS)
        # The models billed in their own units have no token cost (their price per unit stays, out of the sort).
        assert all(r["value"] == "" for r in rows if r["unit"])
        rows = [r for r in rows if not r["unit"]]
        assert len(rows) == len({r["id"] for r in rows}) > 100
        got = {r["id"]: (Decimal(r["value"]) if r["value"] else None, r["via"]) for r in rows}
        want = {m: (cached[m][0].cost, cached[m][0].via) if m in cached else (None, "—") for m in got}
        # A model without a ranked endpoint shows its list price (/models), priced by the engine (none if dynamic).
        unranked = sorted(m for m in got if m not in cached)
        usage = [{"model": m, "timestamp": engine.at, **CHAT_CACHED.usage_row()} for m in unranked]
        priced_list = engine.cat.cost(usage, at=engine.at).select("model", "status", "cost_total")
        for m, status, total in priced_list.iter_rows():
            if status == "ok":
                want[m] = (total, "list price")
        assert got == want
        # A handful across the table, each against its own per-model answer.
        priced = [r["id"] for r in rows if r["value"]]
        for model in {*priced[:: max(1, len(priced) // 4)], priced[-1], chosen.reordered}:
            assert got[model][0] == engine.ranking(model, CHAT_CACHED)[0].cost, model
        # A changed workload re-sorts the index by cost, priced models first.
        costs = [got[r["id"]][0] for r in rows]
        assert costs[: len(priced)] == sorted(c for c in costs if c is not None)
        assert problems == []


def test_index_provider_filter_prices_each_model_at_that_providers_cheapest_endpoint(
    browser: BrowserContext, base_url: str, engine: Engine
) -> None:
    """Choosing a provider keeps the models it serves (with a priced endpoint) and shows, for each, its cheapest
    endpoint of that provider: the engine's answer with ``providers=(slug,)``."""
    endpoints = engine.cat.prices(engine.at).filter(pl.col("kind") == "endpoint")
    serves: dict[str, set[str]] = defaultdict(set)
    for model, provider in endpoints.select("model_id", "provider_slug").iter_rows():
        serves[provider].add(model)
    chat = PRESETS[0].profile
    with opened(browser, base_url + "index.html") as (page, problems):
        page.uncheck("#exclude-free")  # as the engine ranks without --exclude-free
        every = page.eval_on_selector_all("#models tbody tr", INDEX_ROWS_JS)
        listed = {r["id"] for r in every}
        # the models billed in their own units are filtered by provider too, but have no token cost
        units = {r["id"] for r in every if r["unit"]}
        serves = defaultdict(set, {p: models & listed for p, models in serves.items() if models & listed})
        options = page.eval_on_selector_all("#provider option", "os => os.map(o => o.value)")
        assert set(options) == {""} | set(serves)
        by_size = sorted(serves, key=lambda p: (len(serves[p] & listed), p))
        for provider in (by_size[-1], by_size[len(by_size) // 2], by_size[0]):  # the widest, a middle one, the least
            page.select_option("#provider", provider)
            rows = page.eval_on_selector_all("#models tbody tr", INDEX_ROWS_JS)
            shown = {r["id"]: Decimal(r["value"]) for r in rows if not r["hidden"] and not r["unit"]}
            shown_units = {r["id"] for r in rows if not r["hidden"] and r["unit"]}
            assert shown_units == serves[provider] & units, provider
            expected: dict[str, Decimal] = {}
            for row in engine.cat.cheapest(None, chat, as_of=engine.at, providers=(provider,)).to_dict()["ranked"]:
                expected.setdefault(row["model_id"], Decimal(row["cost_per_request"]))
            assert shown == expected, provider
            assert set(shown) <= serves[provider]
            assert page.text_content("#shown") == f"{len(shown) + len(shown_units)} of {len(listed)} models"
        page.select_option("#provider", "")
        assert not any(r["hidden"] for r in page.eval_on_selector_all("#models tbody tr", INDEX_ROWS_JS))
        assert problems == []


# --- (d) a phone's width, (e) screenshots -----------------------------------------------------------------------


@pytest.mark.parametrize("name", PAGES)
def test_no_sideways_scrolling_on_a_phone(
    browser: BrowserContext, base_url: str, site: BuiltSite, chosen: Chosen, name: str
) -> None:
    url = url_of(name, base_url, site, chosen)
    with opened(browser, url, PHONE) as (page, problems):
        width, inner = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
        assert inner == PHONE["width"]
        assert width <= inner + 1, f"{url} is {width} px wide on a {inner} px screen"
        assert problems == []


def artifacts_dir() -> Path:
    root = os.environ.get("CATALOG_TEST_ARTIFACTS")
    return (Path(root) if root else PROJECT_ROOT / "test-artifacts") / "site"


def test_screenshots(browser: BrowserContext, base_url: str, chosen: Chosen) -> None:
    out = artifacts_dir()
    out.mkdir(parents=True, exist_ok=True)
    pages = {"index": base_url + "index.html", "model": model_url(base_url, chosen.reordered)}
    for device, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
        for name, url in pages.items():
            with opened(browser, url, viewport) as (page, problems):
                target = out / f"{name}-{device}.png"
                target.unlink(missing_ok=True)
                page.screenshot(path=target)
                png = target.read_bytes()
                assert png[:8] == b"\x89PNG\r\n\x1a\n"
                assert int.from_bytes(png[16:20], "big") == viewport["width"]  # IHDR width
                assert problems == []


# --- (f) feasibility, ties and default routing follow the typed workload -----------------------------------------

SONNET = "anthropic/claude-sonnet-4.5"
EXCLUDED_JS = (
    """items => items.map(i => ({key: i.dataset.key, requirement: i.dataset.requirement, text: i.textContent}))"""
)


def test_long_request_ranks_only_endpoints_that_can_take_it(
    browser: BrowserContext, base_url: str, engine: Engine
) -> None:
    """Issue 14's first acceptance case on the site: 250,000 tokens in and 2,000 out on claude-sonnet-4.5. No
    endpoint whose context is below 252,000 is ranked, each such one is listed with its limit, and the ranking,
    the exclusions and the default-routing figure are the engine's."""
    profile = WorkloadProfile(250_000, 2_000)
    answer = engine.cat.cheapest(SONNET, profile, as_of=engine.at)
    contexts: dict[str, int | None] = dict(
        engine.cat.con.execute(
            "SELECT endpoint_key, context_length FROM endpoint_versions WHERE model_id = ? AND valid_from <= ? "
            "AND (valid_to IS NULL OR valid_to > ?)",
            [SONNET, engine.at, engine.at],
        ).fetchall()
    )
    small = {k for k, c in contexts.items() if c is not None and c < 252_000}
    assert small, f"{SONNET} has no endpoint with a context below 252,000 at {engine.at}: the check proves nothing"
    with opened(browser, model_url(base_url, SONNET)) as (page, problems):
        # Before: the chat workload, where several endpoints tie at the same cost and all are "Cheapest".
        chat = engine.cat.cheapest(SONNET, CHAT, as_of=engine.at)
        assert chat.ties > 1, "no tie on the chat workload: the label check proves nothing"
        labels = page.eval_on_selector_all(
            "#custom-rank tbody tr",
            "rows => rows.map(r => [r.querySelector('td.rank').textContent, r.querySelector('td.label').textContent])",
        )
        assert [rank for rank, _ in labels[: len(chat.ranked)]] == [str(r.rank) for r in chat.ranked]
        assert [label for _, label in labels].count("Cheapest") == chat.ties
        page.fill("#input-tokens", "250000")
        page.fill("#output-tokens", "2000")
        assert page.text_content("#input-out") == "250,000" and page.text_content("#output-out") == "2,000"
        rows = custom_rank(page)
        ranked = [r for r in rows if r["rank"] != "—"]
        assert not {r["key"] for r in ranked} & small
        assert [(r["key"], Decimal(r["value"])) for r in ranked] == [
            (r.endpoint_key, r.cost_per_request) for r in answer.ranked
        ]
        assert [int(r["rank"]) for r in ranked] == [r.rank for r in answer.ranked]
        excluded = page.eval_on_selector_all("#custom-excluded li", EXCLUDED_JS)
        assert page.is_visible("#custom-excluded")
        by_key = {e["key"]: e for e in excluded}
        assert small <= set(by_key)
        for key in small:
            assert by_key[key]["requirement"] == "context"
            assert f"context {contexts[key] or 0:,} < 252,000" in by_key[key]["text"], by_key[key]
        engine_reasons = {e["endpoint_key"]: e["reason"] for e in answer.excluded if e["requirement"] == "context"}
        assert {k: e["text"].split(": ", 1)[1] for k, e in by_key.items() if e["requirement"] == "context"} == (
            engine_reasons
        )
        default = answer.default_routing
        assert default is not None
        node = page.query_selector("#custom-default")
        assert node is not None
        assert Decimal(str(node.get_attribute("data-expected"))) == default.expected_cost_per_request
        assert Decimal(str(node.get_attribute("data-saving"))) == default.saving_per_request
        assert Decimal(str(node.get_attribute("data-percent"))) == default.saving_percent
        # The routing snippet pins only endpoints that can take the request.
        snippet = page.text_content("#routing-snippet") or ""
        assert not any(f'"{key.split("@", 1)[1]}"' in snippet for key in small)
        assert problems == []


def test_request_flags_exclude_endpoints_without_the_parameter(
    browser: BrowserContext, base_url: str, engine: Engine
) -> None:
    """Ticking "sends tools" leaves out the endpoints that do not list ``tools``, as the engine does."""
    tools = WorkloadProfile(2_000, 500, tools=True)
    plain = engine.rankings(CHAT)
    without = sorted(
        {
            r["model_id"]
            for r in engine.cat.cheapest(None, tools, as_of=engine.at).excluded
            if r["requirement"] == "tools"
        }
    )
    # A model that stays ranked with tools and loses an endpoint the chat workload ranks (so it is on the page).
    chosen = next(
        m
        for m in without
        if (want := engine.cat.cheapest(m, tools, as_of=engine.at)).ranked
        and {e["endpoint_key"] for e in want.excluded if e["requirement"] == "tools"}
        & {r.key for r in plain.get(m, [])}
    )
    with opened(browser, model_url(base_url, chosen)) as (page, problems):
        page.check("#needs-tools")
        assert shown(custom_rank(page)) == [(r.endpoint_key, r.cost_per_request) for r in want.ranked]
        excluded = page.eval_on_selector_all("#custom-excluded li", EXCLUDED_JS)
        on_page = {r["key"] for r in custom_rank(page)}  # endpoints of status ok: the page's data
        assert {e["key"]: e["text"].split(": ", 1)[1] for e in excluded if e["requirement"] == "tools"} == {
            e["endpoint_key"]: e["reason"]
            for e in want.excluded
            if e["requirement"] == "tools" and e["endpoint_key"] in on_page
        }
        assert any(e["requirement"] == "tools" for e in excluded)
        assert problems == []


WIDE: ViewportSize = {"width": 1400, "height": 900}


@pytest.mark.parametrize("where", ["changes.html", "model"])
def test_change_tables_fit_their_box_at_1400_px(browser: BrowserContext, base_url: str, where: str) -> None:
    """Old, New and Change are in view without scrolling sideways: no change table is wider than its box (a
    200-character parameter list once made one 3,837 px wide in a 1,168 px box)."""
    url = model_url(base_url, "deepseek/deepseek-v3.2") if where == "model" else base_url + where
    with opened(browser, url, WIDE) as (page, problems):
        sizes = page.evaluate(
            "[...document.querySelectorAll('table.changes')].map(t => [t.scrollWidth, t.parentElement.clientWidth])"
        )
        # The lines a date's text takes: one box per line of a range over it (the row may be taller).
        when_lines = page.evaluate(
            "[...document.querySelectorAll('table.changes td.when')].map(td => "
            "{ const r = document.createRange(); r.selectNodeContents(td); return r.getClientRects().length; })"
        )
        assert sizes, f"{url}: no change table"
        assert all(table <= box for table, box in sizes), f"{url}: change tables {sizes} (table, box) px"
        assert problems == []
    assert when_lines and set(when_lines) == {1}, f"{url}: a date over several lines"
