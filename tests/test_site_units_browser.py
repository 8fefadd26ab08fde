"""Issue 19, item 4 (the site's half), in a real browser (headless Debian Chromium through Playwright, as
test_site_browser.py): the pages of models priced in their own units, and the index's kind.

* The model page of a video, an embeddings and a transcription model (picked from the replayed history as of its
  newest day: per kind, the model with the most endpoints priced in the kind's unit) ranks its endpoints for a
  workload in that unit — seconds of video at a resolution, tokens to embed, minutes of audio — and its ranking,
  as built (what a reader without JavaScript sees), equals ``catalog cheapest --kind … --json`` for that model:
  the same endpoints in the same order, each at the same exact cost by the same SKU.
* Typing another amount (and, for the video model, choosing another resolution) re-ranks in the browser, and the
  new ranking equals the CLI's for that workload, to the last digit; the amount goes into the URL and reopens.
* No such page shows a cost of $0 or a token price; the index's kind filter (in the URL) keeps exactly the
  models of that kind, their cost cells give a price per unit, never a token cost, and stay out of the cost sort.
* No console error, failed request or request to another host; no sideways scroll at 390 px; screenshots at
  1,400 and 390 px go to ``test-artifacts/site/``.
"""

# ruff: noqa: F811  (the fixtures imported from test_site_browser are parameters here)
from __future__ import annotations

import functools
import json
import threading
from collections import Counter
from decimal import Decimal
from fractions import Fraction
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from helpers import run_cli
from test_site_browser import (  # noqa: F401  (fixtures)
    MISSING,
    BuiltSite,
    QuietHandler,
    artifacts_dir,
    base_url,
    browser,
    model_url,
    site,
)
from test_site_index_browser import PHONE, WIDE, opened

from catalog.openrouter.skus import model_kind
from catalog.store import queries
from catalog.store.db import connect

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext, Page

pytestmark = [pytest.mark.browser, pytest.mark.skipif(MISSING is not None, reason=MISSING or "")]

# Per kind: the unit its page must rank by, the CLI option counting it, and another amount to type.
UNIT = {"video": ("second", "--seconds", "13"), "embeddings": ("token", "--input", "2500000"),
        "transcription": ("minute", "--minutes", "95.5")}  # fmt: skip
RANK_JS = """rows => rows.map(r => ({key: r.dataset.key, sku: r.querySelector('code.sku').textContent,
  cost: r.querySelector('td.cost').getAttribute('data-value'), shown: r.querySelector('td.cost').textContent,
  price: r.querySelector('td.per-unit').textContent}))"""


TIME = {"second", "minute", "hour"}  # a count of one prices SKUs of any (audio minutes on a price per hour)


def _priced_in(row: dict[str, Any], unit: str) -> set[str]:
    """The variant tokens of the endpoint's SKUs priced (above 0) in ``unit`` (any time unit for a time unit);
    ``{""}`` for a plain one."""
    units = TIME if unit in TIME else {unit}
    found: set[str] = set()
    for sku in row["skus"] or []:
        if sku["is_price"] and sku["unit"] in units and sku["price_usd"]:
            found |= set((sku["variant"] or "").split(",")) if sku["variant"] else {""}
    return found


def _time_units(rows: list[dict[str, Any]], model: str) -> set[str]:
    """The time units the priced SKUs of ``model``'s endpoints bill in."""
    return {
        s["unit"]
        for r in rows
        if r["model_id"] == model
        for s in r["skus"] or []
        if s["is_price"] and s["unit"] in TIME and s["price_usd"]
    }


@pytest.fixture(scope="module")
def picked(site: BuiltSite) -> dict[str, str]:
    """Per kind, the model with no text output and the most endpoints priced in the kind's unit (a video model
    with the most resolutions among equals); ties by model id. Read from the history, not named here."""
    con = connect(site.db, read_only=True)
    try:
        rows = queries.unit_candidates(con, site.at)
    finally:
        con.close()
    out = {}
    for kind, (unit, _option, _other) in UNIT.items():
        score: Counter[str] = Counter()
        resolutions: dict[str, set[str]] = {}
        for row in rows:
            outputs = row["output_modalities"] or []
            if model_kind(outputs) != kind or "text" in outputs or not _priced_in(row, unit):
                continue
            score[row["model_id"]] += 1
            tokens = {t for t in _priced_in(row, unit) if t.endswith("p") and t[:-1].isdigit()}
            resolutions.setdefault(row["model_id"], set()).update(tokens)
        assert score, f"no {kind} model priced per {unit} on the newest day: the check would prove nothing"
        # among equals: the most resolutions (video), the most time units billed (transcription: minutes and
        # hours on one page), then model id
        out[kind] = max(score, key=lambda m: (score[m], len(resolutions.get(m, ())), len(_time_units(rows, m)), m))
    assert "hour" in _time_units(rows, out["transcription"]), "no endpoint billing per hour to rank by the minute"
    assert len(resolutions_of(rows, out["video"])) >= 2, "the video model offers one resolution: no picker to try"
    return out


def resolutions_of(rows: list[dict[str, Any]], model: str) -> list[str]:
    tokens = {t for r in rows if r["model_id"] == model for t in _priced_in(r, "second")}
    return sorted((t for t in tokens if t.endswith("p") and t[:-1].isdigit()), key=lambda t: int(t[:-1]))


def cli_ranking(site: BuiltSite, kind: str, model: str, count: str, resolution: str) -> list[dict[str, Any]]:
    _unit, option, _other = UNIT[kind]
    args = ["cheapest", model, "--kind", kind, option, count, "--as-of", site.at.isoformat(), "--db", str(site.db)]
    done = run_cli(*args, *(["--resolution", resolution] if resolution else []), "--json")
    assert done.returncode == 0, done.stderr
    ranked = json.loads(done.stdout)["ranked"]
    assert ranked, f"the CLI ranks no endpoint of {model} for {count} {option}: nothing to compare"
    return ranked


def page_ranking(page: Page) -> list[dict[str, Any]]:
    return page.eval_on_selector_all("#unit-rank tbody tr", RANK_JS)


def assert_same(shown: list[dict[str, Any]], ranked: list[dict[str, Any]], unit: str) -> None:
    """The page's rows are the CLI's: same endpoints in order, same SKUs, exactly the same costs."""
    assert [r["key"] for r in shown] == [r["endpoint_key"] for r in ranked]
    assert [r["sku"] for r in shown] == [r["skus"][unit] for r in ranked]
    assert [Decimal(r["cost"]) for r in shown] == [Decimal(r["cost"]) for r in ranked]
    assert all(Decimal(r["cost"]) > 0 and not r["shown"].startswith("$0 ") and r["shown"] != "$0" for r in shown)


@pytest.mark.parametrize("kind", list(UNIT))
def test_unit_model_page_ranks_as_the_cli(
    kind: str, browser: BrowserContext, base_url: str, site: BuiltSite, picked: dict[str, str]
) -> None:
    model = picked[kind]
    unit, _option, other = UNIT[kind]
    url = model_url(base_url, model)
    with opened(browser, url, WIDE) as (page, problems):
        data = json.loads(page.text_content("#unit-data") or "{}")
        assert (data["kind"], data["unit"]) == (kind, unit)
        count = str(data["count"])
        variant = page.input_value("#unit-variant") if page.query_selector("#unit-variant") else ""
        heading = page.text_content("#unit-workload") or ""
        assert f"{int(count):,} {data['many']}" in heading and (variant in heading)
        # As built (JavaScript has not re-ranked: no query in the address), the CLI's ranking of the workload.
        assert_same(page_ranking(page), cli_ranking(site, kind, model, count, variant), unit)
        if kind == "transcription":  # an endpoint billing per hour, ranked by the minute, its price as listed
            hourly = [r for r in page_ranking(page) if r["sku"].endswith("_hours")]
            assert hourly and all(r["price"].endswith("/h") for r in hourly)
        text = page.inner_text("main")
        assert "$ / M tokens" not in text and "per M tokens" not in text  # no token price of a text model
        assert "$0/" not in text and "$0 " not in text  # never a zero price for a model billed in its units
        # Another amount: the browser's ranking, exactly the CLI's.
        page.fill("#unit-count", other)
        assert other in (page.text_content("#unit-workload") or "").replace(",", "")
        assert_same(page_ranking(page), cli_ranking(site, kind, model, other, variant), unit)
        assert f"count={other}" in page.url
        if kind == "video":
            conn = connect(site.db, read_only=True)
            try:
                choices = resolutions_of(queries.unit_candidates(conn, site.at, model), model)
            finally:
                conn.close()
            chosen = next(r for r in choices if r != variant)
            page.select_option("#unit-variant", chosen)
            before = page_ranking(page)
            assert_same(before, cli_ranking(site, kind, model, other, chosen), unit)
            assert all(chosen in r["sku"] for r in before)
            reopened = page.url
        assert problems == [], problems
    if kind == "video":  # the address keeps the workload: a fresh page shows the same ranking
        with opened(browser, reopened, WIDE) as (page, problems):
            assert page_ranking(page) == before
            assert problems == [], problems
    out = artifacts_dir()
    out.mkdir(parents=True, exist_ok=True)
    for device, viewport in (("desktop", WIDE), ("phone", PHONE)):
        with opened(browser, url, viewport) as (page, problems):
            assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]
            page.screenshot(path=str(out / f"unit-{kind}-{device}.png"), full_page=True)
            assert problems == [], problems


def test_index_filters_by_kind_and_never_shows_a_token_cost_for_unit_models(
    browser: BrowserContext, base_url: str, site: BuiltSite, picked: dict[str, str]
) -> None:
    con = connect(site.db, read_only=True)
    try:
        kinds = Counter(r["kind"] for r in queries.models_as_of(con, site.at).to_dicts())
    finally:
        con.close()
    artifacts_dir().mkdir(parents=True, exist_ok=True)
    for device, viewport in (("desktop", WIDE), ("phone", PHONE)):
        with opened(browser, base_url + "index.html?kind=video&free=1", viewport) as (page, problems):
            rows = page.eval_on_selector_all(
                "#models tbody tr",
                """rows => rows.filter(r => !r.hidden).map(r => ({id: r.dataset.id, kind: r.dataset.kind,
                  unit: r.dataset.unit || null, value: r.querySelector('td.cost').getAttribute('data-value'),
                  text: r.querySelector('td.cost').textContent.trim()}))""",
            )
            assert page.input_value("#kind") == "video"
            assert len(rows) == kinds["video"] and {r["kind"] for r in rows} == {"video"}
            assert all(r["unit"] == "second" and r["value"] == "" for r in rows)  # out of the token cost sort
            priced = [r for r in rows if r["text"].startswith("$")]
            assert priced and all(r["text"].endswith("/s") and not r["text"].startswith("$0/") for r in priced)
            if device == "desktop":
                video = next(r for r in rows if r["id"] == picked["video"])
                with opened(browser, model_url(base_url, picked["video"]), WIDE) as (model_page, more):
                    first = model_page.eval_on_selector_all("#unit-rank tbody tr", RANK_JS)[0]
                    assert video["text"] == first["price"]  # the index's price per unit is the page's cheapest
                    assert more == []
            page.screenshot(path=str(artifacts_dir() / f"index-kind-video-{device}.png"), full_page=True)
            assert problems == [], problems
    # Any kind again: every model is listed, those priced in tokens first when sorted by cost.
    with opened(browser, base_url + "index.html?free=1", WIDE) as (page, problems):
        page.select_option("#kind", "")
        values = page.eval_on_selector_all(
            "#models tbody tr",
            "rows => rows.map(r => [r.dataset.unit || '', r.querySelector('td.cost').dataset.value])",
        )
        assert len(values) == sum(kinds.values())
        first_unit = next(i for i, (unit, _v) in enumerate(values) if unit)
        assert all(unit for unit, _v in values[first_unit:])  # unit models after every token-costed one
        assert "kind=" not in page.url
        assert problems == [], problems


def test_per_hour_endpoints_rank_by_the_minute_where_the_division_rounds(
    browser: BrowserContext, base_url: str, site: BuiltSite
) -> None:
    """The transcription models with an endpoint billing per hour at a price whose cost for 7 minutes ends in no
    decimal digit (7 × $0.04 ÷ 60): typed on the page, the browser's cost equals the CLI's to the last digit
    (both round the division half to even at 10**-24 USD)."""
    con = connect(site.db, read_only=True)
    try:
        rows = queries.unit_candidates(con, site.at)
    finally:
        con.close()
    rounding = sorted(
        {
            r["model_id"]
            for r in rows
            if model_kind(r["output_modalities"]) == "transcription" and r["status"] in (0, None)
            for s in r["skus"] or []
            if s["is_price"] and s["unit"] == "hour" and s["price_usd"]
            and (Fraction(7) * Fraction(s["price_usd"]) / 60 * 10**24).denominator > 1
        }
    )  # fmt: skip
    assert rounding, "no hourly price rounds for 7 minutes: the check would prove nothing"
    for model in rounding:
        with opened(browser, model_url(base_url, model), WIDE) as (page, problems):
            page.fill("#unit-count", "7")
            shown = page_ranking(page)
            assert_same(shown, cli_ranking(site, "transcription", model, "7", ""), "minute")
            assert any(r["price"].endswith("/h") for r in shown)
            assert problems == [], problems


def test_equal_costs_are_ordered_in_the_browser_as_on_the_server(browser: BrowserContext, tmp_path: Path) -> None:
    """units.js orders equal costs as ``units.tie_order`` does (uptime, then throughput, descending, a missing
    figure last, then key), not by key alone. No recorded page has a tie with these figures measured, so the
    page is made: the site's own unit data (``gather_unit_models``) of endpoints billing per second, minute and
    hour at one price per minute, with uptimes that order them otherwise than their keys, and the real scripts."""
    from catalog.cost.units import UnitWorkload, rank_endpoints
    from catalog.settings import PROJECT_ROOT
    from catalog.website.unitmodels import gather_unit_models

    def endpoint(key: str, sku: str, usd: str, unit: str, uptime: float | None, throughput: float | None) -> Any:
        listed = {"sku": sku, "price_usd": Decimal(usd), "unit": unit, "billable": None, "variant": None,
                  "is_price": True}  # fmt: skip
        return {"model_id": "m/stt", "endpoint_key": f"m/stt@{key}", "tag": key, "provider_name": key, "status": 0,
                "output_modalities": ["transcription"], "price_prompt": None, "skus": [listed],
                "uptime_last_1d": uptime, "throughput_p50": throughput}  # fmt: skip

    rows = [
        endpoint("a", "a:audio_minutes", "0.006", "minute", 90.0, None),
        endpoint("b", "b:audio_hours", "0.36", "hour", 99.5, 10.0),  # $0.006 a minute: a tie with a, c, d, e
        endpoint("c", "c:audio_seconds", "0.0001", "second", None, 80.0),
        endpoint("d", "d:audio_hours", "0.36", "hour", 99.5, 40.0),
        endpoint("e", "e:audio_minutes", "0.006", "minute", None, None),
        endpoint("f", "f:audio_hours", "0.10", "hour", 12.0, None),  # cheaper, and its division rounds
        # 1 minute: 2.5e-24 exactly half a unit, rounded to even (2e-24; half up would say 3e-24)
        endpoint("g", "g:audio_hours", "0.00000000000000000000015", "hour", None, None),
    ]
    model = {"model_id": "m/stt", "name": "M", "output_modalities": ["transcription"], "input_modalities": ["audio"]}
    [built] = gather_unit_models([model], rows, [])
    scripts = PROJECT_ROOT / "site" / "static"
    for name in ("cost.js", "units.js"):
        (tmp_path / name).write_text((scripts / name).read_text(encoding="utf-8"), encoding="utf-8")
    (tmp_path / "page.html").write_text(
        '<!doctype html><html><head><link rel="icon" href="data:,"></head><body><main><h2 id="unit-workload"></h2>'
        '<form id="unit-form" hidden><input id="unit-count" value="60"></form><p id="unit-summary"></p>'
        '<table id="unit-rank"><tbody></tbody></table><div id="unit-excluded" hidden><ul></ul></div>'
        f'<script type="application/json" id="unit-data">{json.dumps(built["unit_data"])}</script>'
        '<script src="cost.js"></script><script src="units.js"></script></main></body></html>',
        encoding="utf-8",
    )
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(tmp_path)))
    thread = threading.Thread(target=server.serve_forever, name="tie-page", daemon=True)
    thread.start()
    try:
        for count in ("60", "7", "2.5", "1"):
            ranked, _ = rank_endpoints(rows, UnitWorkload({"minute": Decimal(count)}), "transcription")
            url = f"http://127.0.0.1:{server.server_address[1]}/page.html?count={count}"
            with opened(browser, url, WIDE) as (page, problems):
                shown = page.eval_on_selector_all(
                    "#unit-rank tbody tr",
                    "rows => rows.map(r => [r.dataset.key, r.querySelector('td.rank').textContent,"
                    " r.querySelector('td.cost').getAttribute('data-value')])",
                )
                assert problems == [], problems
            assert [k for k, _r, _c in shown] == [r["endpoint_key"] for r in ranked]
            tied = [k for k, _r, c in shown if Decimal(c) == Decimal("0.006") * Decimal(count)]
            assert len(tied) == 5 and tied != sorted(tied)  # the tie, not in key order
            assert [int(r) for _k, r, _c in shown] == [r["rank"] for r in ranked]
            assert [Decimal(c) for _k, _r, c in shown] == [r["cost"] for r in ranked]
            if count == "1":
                assert Decimal(shown[0][2]) == Decimal("2e-24")
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
