"""cost.js (the browser's recomputation, ``site/static/cost.js``, run by node) against the engine.

Compared with ``Catalog.cheapest`` on the price data embedded in the built pages: the same endpoints, in the
same order, at the same exact cost strings, for the presets and for profiles chosen to hit half-even rounding,
long-context tiers and zero output; also the index's filters, list-price fallbacks, UTC time-window tiers, and
the part/decimal/usd/units helpers against their Python counterparts. One node process serves the module
(``site_helpers.Node``).
"""

from __future__ import annotations

import re
import shutil
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from site_helpers import EVIL, Built, Hostile, Node, Page, model_page

from catalog.cost.engine import cost_usage
from catalog.cost.money import from_units
from catalog.cost.ranker import RankIndex
from catalog.cost.sheets import PriceTable, SheetVersion
from catalog.cost.workload import EndpointFilters, WorkloadProfile
from catalog.library import Catalog
from catalog.prices import canonical, parse_price_sheet
from catalog.store import queries
from catalog.website import build as site_build
from catalog.website.presets import PRESETS
from catalog.website.pricedata import RATE_ORDER, endpoint_entry


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    if shutil.which("node") is None:
        pytest.skip("node is not installed: cost.js cannot be run (install Node.js to compare it with the engine)")
    worker = Node(tmp_path_factory.mktemp("node"))
    yield worker
    worker.close()


@dataclass(frozen=True)
class Shares:
    """A profile as the page's sliders give it: token counts and whole-percent shares."""

    name: str
    input: int
    output: int
    cache_hit: int = 0
    reasoning: int = 0
    cache_write: int = 0
    images: int = 0
    tools: bool = False
    structured_output: bool = False
    reasoning_effort: str | None = None

    def js(self) -> dict[str, Any]:
        counts: dict[str, Any] = {
            k: getattr(self, k) for k in ("input", "output", "cache_hit", "reasoning", "cache_write", "images")
        }
        needs = {
            "tools": self.tools,
            "structured_output": self.structured_output,
            "reasoning": bool(self.reasoning_effort),
        }
        return {**counts, "needs": needs} if any(needs.values()) else counts

    def engine(self) -> WorkloadProfile:
        return WorkloadProfile(
            self.input,
            self.output,
            cache_hit=Decimal(self.cache_hit) / 100,
            reasoning=Decimal(self.reasoning) / 100,
            cache_write=Decimal(self.cache_write) / 100,
            images=self.images,
            tools=self.tools,
            structured_output=self.structured_output,
            reasoning_effort=self.reasoning_effort,
        )


def preset_shares() -> list[Shares]:
    return [
        Shares(p.name, p.profile.input_tokens, p.profile.output_tokens, int(p.profile.cache_hit * 100),
               int(p.profile.reasoning * 100), int(p.profile.cache_write * 100))
        for p in PRESETS
    ]  # fmt: skip


PROFILES = [
    *preset_shares(),
    Shares("odd shares", 1234, 567, cache_hit=33, reasoning=17, cache_write=12),
    Shares("halves round down", 50, 50, cache_hit=33, reasoning=17, cache_write=12),  # 16.5 → 16, 8.5 → 8
    Shares("halves round up", 150, 150, cache_hit=33, reasoning=17, cache_write=12),  # 49.5 → 50, 25.5 → 26
    Shares("write halves", 103, 7, cache_hit=0, reasoning=50, cache_write=50),  # 51.5 → 52, 3.5 → 4
    Shares("read + write clamp", 3, 1, cache_hit=50, cache_write=50),  # 2 read, 2 write > the 1 left: 1
    Shares("1M prompt", 1_000_000, 1_000, cache_hit=10),
    Shares("200k prompt", 200_000, 2_000, cache_hit=33, reasoning=17, cache_write=12),
    Shares("just under 200k", 199_999, 2_000),
    Shares("zero output", 5_000, 0, cache_hit=20),
    Shares("nothing at all", 0, 0),
]


def engine_ranking(cat: Catalog, at: datetime, profile: Shares, model: str | None = None) -> dict[str, list[list[str]]]:
    """Per model: [[endpoint key, cost per request], ...] in the engine's order."""
    out: dict[str, list[list[str]]] = defaultdict(list)
    for row in cat.cheapest(model, profile.engine(), as_of=at).to_dict()["ranked"]:
        out[row["model_id"]].append([row["endpoint_key"], canonical(row["cost_per_request"])])
    return dict(out)


def js_ranking(
    node: Node, data: dict[str, Any], profiles: list[Shares], filters: dict[str, Any] | None = None
) -> list[dict[str, list[list[str]]]]:
    """Endpoint rankings only: a model's list-price entry (keyed by the model id, no "@") is checked apart."""
    answers = node("rank", data=data, profiles=[p.js() for p in profiles], filters=filters)
    return [{m: [row[:2] for row in rows if "@" in row[0]] for m, rows in answer.items()} for answer in answers]


def test_models_without_an_endpoint_show_their_list_price_as_the_engine_prices_it(
    node: Node, site: Built, cat: Catalog, site_at: datetime
) -> None:
    """The index's fallback for a model with no ranked endpoint: its /models price, priced by the engine
    (no endpoint named: the model-level sheet), in the page and in cost.js for every profile."""
    index = site.out / "index.html"
    data = Page(index.read_text()).price_data()
    fallbacks = {
        m["id"]: m["endpoints"]
        for m in data["models"]
        if any(e[4] is not None and "@" not in e[4] for e in m["endpoints"])  # keyed by the model id alone
    }
    assert all(len(entries) == 1 for entries in fallbacks.values())
    # A dynamic list price (router models) is in the data but never ranked, as the engine never prices it.
    dynamic = {m for m, entries in fallbacks.items() if entries[0][2] == [None]}
    listed = set(fallbacks) - dynamic
    assert listed and dynamic, "the 20 days hold models listed without a ranked endpoint, priced and dynamic"
    assert {m for m, rows in node("rank", data=data, profiles=[PROFILES[0].js()])[0].items() if not rows} >= dynamic
    answers = node("rank", data=data, profiles=[p.js() for p in PROFILES])
    for shares, answer in zip(PROFILES, answers, strict=True):
        usage = [{"model": m, "timestamp": site_at, **shares.engine().usage_row()} for m in sorted(listed)]
        priced = cat.cost(usage, at=site_at)
        assert priced["price_source"].to_list() == ["model"] * len(listed)
        engine = {m: canonical(c) for m, c in zip(sorted(listed), priced["cost_total"], strict=True)}
        assert {m: answer[m][0][1] for m in listed} == engine, shares.name
    # The server-rendered index shows the same for the default workload, marked as the list price.
    cells = dict(
        re.findall(
            r'data-id="([^"]+)"[^>]*>\s*<td.*?<td class="num cost" data-value="([^"]*)"', index.read_text(), re.S
        )
    )
    chat = next(p for p in PROFILES if p.name == "chat")
    usage = [{"model": m, "timestamp": site_at, **chat.engine().usage_row()} for m in sorted(listed)]
    engine = {m: canonical(c) for m, c in zip(sorted(listed), cat.cost(usage, at=site_at)["cost_total"], strict=True)}
    assert {m: cells[m] for m in listed} == engine


def differences(js: dict[str, list[list[str]]], engine: dict[str, list[list[str]]]) -> dict[str, Any]:
    return {
        m: {"js": js.get(m, []), "engine": engine.get(m, [])}
        for m in sorted(set(js) | set(engine))
        if js.get(m, []) != engine.get(m, [])
    }


def test_profiles_reach_the_roundings_and_tiers_they_claim(node: Node, site: Built) -> None:
    """Guard on the test data: the odd shares do land on .5, and the long prompts do cross listed tiers."""
    usage = node("usage", cases=[p.js() for p in PROFILES])
    for shares, counts in zip(PROFILES, usage, strict=True):
        row = shares.engine().usage_row()
        assert counts == {
            "prompt": str(row["prompt_tokens"]),
            "completion": str(row["completion_tokens"]),
            "cache_read": str(row["cache_read_tokens"]),
            "cache_write_5m": str(row["cache_write_tokens"]),
            "cache_write_1h": str(row["cache_write_1h_tokens"]),
            "reasoning": str(row["reasoning_tokens"]),
            "requests": "1",
            "images": str(row["images"]),
            "web_searches": "0",
        }, shares.name
    by_name = {p.name: p.engine().usage_row() for p in PROFILES}
    assert (
        by_name["halves round down"]["cache_read_tokens"] == 16
        and by_name["halves round down"]["reasoning_tokens"] == 8
    )
    assert (
        by_name["halves round up"]["cache_read_tokens"] == 50 and by_name["halves round up"]["reasoning_tokens"] == 26
    )
    assert by_name["write halves"]["cache_write_tokens"] == 52
    assert by_name["read + write clamp"]["cache_write_tokens"] == 1
    minimums = {
        cond[0] for m in site.pages["index.html"].price_data()["models"] for e in m["endpoints"] for cond in e[3]
    }
    assert 200_000 in minimums and any(30_000 < m < 1_000_000 for m in minimums - {200_000})


def test_embedded_presets_are_the_engines_presets(site: Built) -> None:
    data = site.pages["index.html"].price_data()
    assert data["presets"] == {
        p.name: {k: v for k, v in p.js().items() if k not in ("cache_write", "images")} for p in preset_shares()
    }
    assert all(p.cache_write == 0 for p in preset_shares())


def test_js_ranks_every_model_of_the_index_as_the_engine_does(
    node: Node, site: Built, cat: Catalog, site_at: datetime
) -> None:
    data = site.pages["index.html"].price_data()
    assert len(data["models"]) == site.report["models"]
    js_all = js_ranking(node, data, PROFILES)
    compared = 0
    for shares, js in zip(PROFILES, js_all, strict=True):
        engine = engine_ranking(cat, site_at, shares)
        assert differences(js, engine) == {}, shares.name
        compared += sum(len(rows) for rows in engine.values())
    assert compared > 5_000


def test_js_ranks_as_the_engine_on_model_pages(node: Node, site: Built, cat: Catalog, site_at: datetime) -> None:
    tiered = [
        r[0]
        for r in cat.con.execute(
            "SELECT DISTINCT model_id FROM endpoint_versions WHERE override_count > 0 "
            "AND valid_from <= ? AND (valid_to IS NULL OR valid_to > ?) ORDER BY model_id",
            [site_at, site_at],
        ).fetchall()
    ]
    assert len(tiered) >= 5
    index = {m["id"]: m for m in site.pages["index.html"].price_data()["models"]}
    many = max(index, key=lambda m: len(index[m]["endpoints"]))
    # A model@tag#2 key (a list-price entry has a key too, without "@").
    repeated = next(m for m, v in index.items() if any(e[4] is not None and "@" in e[4] for e in v["endpoints"]))
    for model in sorted({*tiered[:6], many, repeated, "openai/gpt-5.5"}):
        data = site.pages[model_page(model)].price_data()
        assert [m["id"] for m in data["models"]] == [model]
        assert data["models"][0] == index[model]  # the page carries the index's data for its model
        for shares, js in zip(PROFILES, js_ranking(node, data, PROFILES), strict=True):
            engine = engine_ranking(cat, site_at, shares, model)
            assert js == {model: engine.get(model, [])}, (model, shares.name)
            # A long prompt may fit none of a model's endpoints (feasibility); the presets always fit.
            assert engine.get(model) or shares.input >= 200_000, (model, shares.name)


def test_js_orders_and_ranks_ties_as_the_ranking_core_does(node: Node, hostile: Hostile) -> None:
    """The hostile model's three endpoints cost the same: they share rank 1, all three are cheapest, and the
    order among them is the core's (the page lists endpoints in it; cost.js's sort by cost is stable)."""
    data = hostile.pages["index.html"].price_data()
    with Catalog.open(hostile.db) as cat:
        at = cat.con.execute("SELECT max(taken_at) FROM snapshots").fetchall()[0][0]
        index = RankIndex.build(queries.endpoint_candidates(cat.con, at), cat.table, at)
        answers = node("ranking", data=data, profiles=[p.js() for p in PROFILES])
        for shares, answer in zip(PROFILES, answers, strict=True):
            core = index.rank(shares.engine(), EndpointFilters(), model=EVIL)
            assert answer[EVIL]["ranked"] == [
                [r.endpoint_key, canonical(r.cost_per_request), r.rank] for r in core.ranked
            ]
            assert answer[EVIL]["ties"] == core.ties, shares.name
    assert len(core.ranked) == 3 and core.ties == 3 and {r.rank for r in core.ranked} == {1}  # a three-way tie
    # Reversed, the page's data would order the tie differently: the order is the data's, so it must be the core's.
    for model in data["models"]:
        model["endpoints"].reverse()
    (reversed_answer,) = node("ranking", data=data, profiles=[PROFILES[0].js()])
    assert [r[0] for r in reversed_answer[EVIL]["ranked"]] == [r.endpoint_key for r in core.ranked][::-1]


def test_page_tables_show_the_rankings_cost_js_gives(node: Node, site: Built) -> None:
    """The rendered (Python) tables and the browser's re-rank of the preset agree before any slider moves."""
    for model in ("openai/gpt-5.5", "deepseek/deepseek-v3.2"):
        page = site.pages[model_page(model)]
        (js,) = js_ranking(node, page.price_data(), preset_shares()[:1])
        keys = [str(values["data-key"]) for tag, values in page.elements if tag == "tr" and "data-key" in values]
        assert keys == [key for key, _ in js[model]]
        for key, cost in js[model]:
            assert f'<span title="${cost}">' in page.text.split(f'data-key="{key}"', 1)[1].split("</tr>", 1)[0]


def test_per_million_display_matches_the_pages(node: Node, site: Built) -> None:
    """The index's "$ / M tokens" cell (engine, rounded for display) equals what cost.js shows for the preset."""
    page = site.pages["index.html"]
    data = page.price_data()
    chat = preset_shares()[0]
    (answer,) = node("rank", data=data, profiles=[chat.js()])
    shown = {}
    for chunk in page.text.split('<tr data-model="')[1:]:
        model_id = chunk.split('data-id="', 1)[1].split('"', 1)[0]
        shown[model_id] = chunk.split('<td class="num per-m" data-value="', 1)[1].split('">', 1)[1].split("</td>", 1)[0]
    mismatched = {m: (rows[0][2], shown[m]) for m, rows in answer.items() if rows and rows[0][2] != shown[m]}
    assert mismatched == {}
    assert sum(1 for rows in answer.values() if rows) > 250


# --- cost.js helpers against Python ------------------------------------------------------------------------


def py_part(total: int, percent: int) -> int:
    """The engine's share of a count (WorkloadProfile.usage_row): half-even to whole tokens."""
    return int((total * (Decimal(percent) / 100)).quantize(Decimal(1), ROUND_HALF_EVEN))


def test_part_on_every_half_and_the_edges(node: Node) -> None:
    cases = [
        [total, percent]
        for total in (*range(0, 301), 10**6 + 1, 2**53 - 1)
        for percent in (0, 1, 12, 17, 33, 50, 99, 100)
    ]
    got = node("part", cases=[[str(t), p] for t, p in cases])
    assert got == [str(py_part(t, p)) for t, p in cases]
    assert node("part", cases=[["50", 33], ["150", 33], ["1", 50], ["3", 50]]) == ["16", "50", "0", "2"]


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 10**12), st.integers(0, 100)), min_size=1, max_size=300))
def test_part_is_the_engines_half_even_share(node: Node, cases: list[tuple[int, int]]) -> None:
    got = node("part", cases=[[str(t), p] for t, p in cases])
    assert got == [str(py_part(t, p)) for t, p in cases]


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(-(10**40), 10**40) | st.integers(-1000, 1000), st.integers(0, 30)), max_size=300))
def test_decimal_is_the_engines_canonical_spelling(node: Node, cases: list[tuple[int, int]]) -> None:
    got = node("decimal", cases=[[str(u), s] for u, s in cases])
    assert got == [canonical(from_units(u, s)) for u, s in cases]


AMOUNTS = st.integers(0, 30).flatmap(
    lambda scale: st.tuples(st.integers(0, 10 ** (scale + 12)) | st.integers(0, 100_000), st.just(scale))
)


@settings(max_examples=40, deadline=None)
@given(st.lists(AMOUNTS, max_size=300))
def test_usd_rounds_for_display_as_the_pages_do(node: Node, cases: list[tuple[int, int]]) -> None:
    got = node("usd", cases=[[str(u), s] for u, s in cases])
    assert got == [site_build.usd(from_units(u, s)) for u, s in cases]


def test_units_reads_the_embedded_rate_texts_exactly(node: Node, site: Built) -> None:
    data = site.pages["index.html"].price_data()
    texts = sorted({rate for m in data["models"] for e in m["endpoints"] for v in e[2] if v for rate in v})
    assert len(texts) > 50
    got = node("units", cases=[[t, data["scale"]] for t in texts])
    assert got == [str(int(Decimal(t).scaleb(data["scale"]))) for t in texts]


def test_js_applies_time_window_tiers_as_the_engine_does(node: Node) -> None:
    """No recorded override has a UTC window, so synthetic sheets cover them: a plain window, one that wraps past
    midnight, one combined with a prompt minimum, and an entry with only a start (which has no window)."""
    since = datetime(2026, 7, 1, tzinfo=UTC)
    sheets = {
        "day": {"prompt": "0.000001", "completion": "0.000002",
                "overrides": [{"utc_start": 900, "utc_end": 1700, "prompt": "0.0000005"}]},
        "night": {"prompt": "0.0000009", "completion": "0.000003", "input_cache_read": "0.0000001",
                  "overrides": [{"utc_start": 2200, "utc_end": 600, "prompt": "0.0000003", "completion": "0.000001"}]},
        "tiered": {"prompt": "0.0000008", "completion": "0.0000025",
                   "overrides": [{"min_prompt_tokens": 1000, "prompt": "0.0000016"},
                                 {"min_prompt_tokens": 1000, "utc_start": 0, "utc_end": 1200,
                                  "completion": "0.000004"}]},
        "half": {"prompt": "0.0000007", "completion": "0.0000021",
                 "overrides": [{"utc_start": 1000, "prompt": "0.0000001"}]},
    }  # fmt: skip
    versions = [
        SheetVersion("endpoint", "acme/m", tag, tag, tag, since, None, parse_price_sheet(s), key=f"acme/m@{tag}")
        for tag, s in sheets.items()
    ]
    table = PriceTable.from_sheets(versions)
    rows = [{"endpoint_key": v.key, "model_id": "acme/m", "tag": v.tag, "provider_name": v.tag} for v in versions]
    profiles = [Shares("small", 800, 300, cache_hit=25), Shares("large", 4_000, 500, cache_hit=40, reasoning=20)]
    entries = [endpoint_entry(r, v, table.scale) for r, v in zip(rows, versions, strict=True)]
    for hhmm in (0, 559, 600, 859, 900, 1159, 1200, 1659, 1700, 2159, 2200, 2359):
        at = since + timedelta(days=3, hours=hhmm // 100, minutes=hhmm % 100)
        data = {
            "scale": table.scale,
            "at_minute": at.hour * 60 + at.minute,
            "rates": list(RATE_ORDER),
            "models": [{"id": "acme/m", "endpoints": entries}],
        }  # fmt: skip
        js = js_ranking(node, data, profiles)
        for shares, answer in zip(profiles, js, strict=True):
            one = shares.engine().usage_row()
            usage = pl.DataFrame([{"model": "acme/m", "endpoint": v.key, "timestamp": at, **one} for v in versions])
            priced = cost_usage(usage, table, at=at)
            engine = sorted(
                ([v.key, canonical(c)] for v, c in zip(versions, priced["cost_total"], strict=True)),
                key=lambda kc: (Decimal(kc[1]), kc[0]),
            )
            assert answer["acme/m"] == engine, (hhmm, shares.name)
    # The windows matter: the cheapest endpoint is not the same at every hour.
    winners = {
        hhmm: js_ranking(node, {**data, "at_minute": hhmm}, profiles[:1])[0]["acme/m"][0][0] for hhmm in (120, 720)
    }
    assert len(set(winners.values())) == 2, winners


def test_index_filters_rank_the_endpoints_that_pass_as_the_engine_does(
    node: Node, site: Built, cat: Catalog, site_at: datetime
) -> None:
    """With a provider, parameter or minimum-context filter, or free endpoints excluded, the index prices each model
    at its cheapest endpoint that passes: cost.js's filtered ranking equals the engine's with the same
    EndpointFilters, model by model."""
    data = site.pages["index.html"].price_data()
    busiest = max(
        {e[5] for m in data["models"] for e in m["endpoints"] if e[5]},
        key=lambda slug: sum(any(e[5] == slug for e in m["endpoints"]) for m in data["models"]),
    )
    cases = [
        ({"provider": busiest}, {"providers": (busiest,)}),
        ({"parameter": "tools"}, {"parameters": ("tools",)}),
        ({"min_context": 200_000}, {"min_context": 200_000}),
        ({"provider": busiest, "parameter": "reasoning", "min_context": 128_000},
         {"providers": (busiest,), "parameters": ("reasoning",), "min_context": 128_000}),
        ({"exclude_free": True}, {"exclude_free": True}),  # the index's "exclude free" (on by default)
        ({"exclude_free": True, "min_context": 128_000}, {"exclude_free": True, "min_context": 128_000}),
    ]  # fmt: skip
    chat, rag = preset_shares()[0], preset_shares()[1]
    for js_filters, engine_filters in cases:
        for shares in (chat, rag):
            (js,) = js_ranking(node, data, [shares], js_filters)
            engine: dict[str, list[list[str]]] = defaultdict(list)
            for row in cat.cheapest(None, shares.engine(), as_of=site_at, **engine_filters).to_dict()["ranked"]:
                engine[row["model_id"]].append([row["endpoint_key"], canonical(row["cost_per_request"])])
            assert engine, js_filters
            assert differences(js, engine) == {}, (js_filters, shares.name)


# --- feasibility, ties and default routing against the ranking core ----------------------------------------

# Workloads that cross the recorded limits: prompts past 128k-200k contexts, outputs past max_completion_tokens,
# images (only some models read them), and the presets.
FEASIBILITY = [
    *preset_shares(),
    Shares("250k in + 2k out", 250_000, 2_000),
    Shares("1M prompt", 1_000_000, 1_000, cache_hit=10),
    Shares("just past 128k", 127_000, 1_001),
    Shares("long output", 2_000, 100_000, reasoning=30),
    Shares("images", 1_000, 200, images=3),
    Shares("images, long", 150_000, 8_000, cache_hit=50, images=1),
    Shares("tools", 3_000, 500, tools=True),
    Shares("structured, reasoning", 10_000, 2_000, reasoning=40, structured_output=True, reasoning_effort="high"),
    Shares(
        "everything", 40_000, 4_000, cache_hit=30, images=2, tools=True, structured_output=True, reasoning_effort="low"
    ),
]
UNRANKED = {
    "context",
    "max_prompt",
    "max_completion",
    "image_input",
    "tools",
    "structured_output",
    "reasoning",
    "price",
}


def core_answer(ranking: Any, keys: set[str]) -> dict[str, Any]:
    """The core's ranking of one model in the shape the node worker gives cost.js's; exclusions of the
    endpoints in the page's data (``keys``: the others never pass the index's filters, status ok first)."""
    d = ranking.default_routing
    return {
        "ranked": [[r.endpoint_key, canonical(r.cost_per_request), r.rank] for r in ranking.ranked],
        "excluded": sorted(
            [e["endpoint_key"], e["requirement"], e["reason"]] for e in ranking.excluded if e["endpoint_key"] in keys
        ),
        "ties": ranking.ties,
        "routing": ranking.routing,
        "default": d
        and {
            "expected": canonical(d.expected_cost_per_request),
            "saving": canonical(d.saving_per_request),
            "percent": format(d.saving_percent.quantize(Decimal("0.01")), "f"),
            "endpoints": d.endpoints,
        },
    }


def js_answer(answer: dict[str, Any]) -> dict[str, Any]:
    return {
        "ranked": answer["ranked"],
        "excluded": sorted(answer["excluded"]),
        "ties": answer["ties"],
        "routing": answer["routing"],
        "default": answer["default"] and {k: v for k, v in answer["default"].items() if k != "shares"},
    }


def test_js_feasibility_ties_and_default_routing_equal_the_ranking_core_on_every_model(
    node: Node, site: Built, cat: Catalog, site_at: datetime
) -> None:
    """For every model of the index and every workload above: the same endpoints ranked, in the same order,
    with the same shared ranks; the same endpoints excluded for the same requirement, with the same reason; the
    same number of ties; the same routing object; and default routing's expected cost, saving and percent, to
    the unit."""
    data = site.pages["index.html"].price_data()
    index = RankIndex.build(queries.endpoint_candidates(cat.con, site_at), cat.table, site_at)
    answers = node("ranking", data=data, profiles=[p.js() for p in FEASIBILITY])
    seen = defaultdict(int)
    for shares, answer in zip(FEASIBILITY, answers, strict=True):
        for model in data["models"]:
            mid = model["id"]
            if not any(e[4] is None or "@" in e[4] for e in model["endpoints"]):
                continue  # a list-price entry only: checked by the list-price test
            keys = {e[4] or f"{mid}@{e[0]}" for e in model["endpoints"]}
            core = core_answer(index.rank(shares.engine(), EndpointFilters(), model=mid), keys)
            assert {e[1] for e in core["excluded"]} <= UNRANKED
            assert js_answer(answer[mid]) == core, (mid, shares.name)
            seen["ranked"] += len(core["ranked"])
            seen["excluded " + shares.name] += len(core["excluded"])
            seen["ties"] += core["ties"] > 1
            seen["default"] += core["default"] is not None
            seen["shared rank"] += any(r[2] != i for i, r in enumerate(core["ranked"], 1))
            seen["free"] += bool(core["default"] and core["default"]["expected"] == "0")
    # The workloads reached what they claim: long prompts, long outputs and images each excluded endpoints;
    # ties and shared ranks occurred; default routing was computed for most models.
    for name in ("250k in + 2k out", "1M prompt", "long output", "images", "tools", "structured, reasoning"):
        assert seen["excluded " + name] > 0, name
    assert seen["ties"] > 50 and seen["shared rank"] > 50 and seen["default"] > 1_000, dict(seen)


def test_default_routing_shares_are_the_inverse_squares(
    node: Node, site: Built, cat: Catalog, site_at: datetime
) -> None:
    """cost.js's per-endpoint shares (display only, 4 decimals) equal the core's where each tag is listed once."""
    data = site.pages["index.html"].price_data()
    index = RankIndex.build(queries.endpoint_candidates(cat.con, site_at), cat.table, site_at)
    chat = preset_shares()[0]
    (answer,) = node("ranking", data=data, profiles=[chat.js()])
    compared = 0
    for model in data["models"]:
        js = answer[model["id"]]
        if js["default"] is None:
            continue
        tag_of = {e[4] or f"{model['id']}@{e[0]}": e[0] for e in model["endpoints"]}
        tags = [tag_of[key] for key, _, _ in js["ranked"]]
        if len(set(tags)) != len(tags):
            continue
        core = index.rank(chat.engine(), EndpointFilters(), model=model["id"]).default_routing
        assert core is not None
        assert {t: Decimal(s) for t, s in zip(tags, js["default"]["shares"], strict=True)} == core.shares, model["id"]
        compared += 1
    assert compared > 100
