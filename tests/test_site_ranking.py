"""The server-rendered rankings of the site against the ranking core (``catalog.cost.ranker``), and data age.

Model pages: each preset's shared ranks, "cheapest" marks on every rank-1 row, the "next cost" column (the first
strictly dearer endpoint, never one at the same cost), default routing's expected cost and the pinning saving,
all equal to ``RankIndex.rank`` for that model. The stale-data banner: on every page of a build whose newest
snapshot is older than the threshold (the bundled days), on none of a build made right after a sync.
"""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal
from pathlib import Path

from site_helpers import Built, Hostile, Page, model_page

from catalog.cost.ranker import RankIndex
from catalog.cost.workload import EndpointFilters
from catalog.library import Catalog
from catalog.prices import canonical
from catalog.store import queries
from catalog.website.build import build_site
from catalog.website.presets import DEFAULT, PRESETS

SONNET = "anthropic/claude-sonnet-4.5"


def summary_rows(page: Page) -> list[list[str]]:
    """The cells of the model page's "cheapest endpoint for each workload" table, as text without tags."""
    table = page.text.split('<table class="summary">', 1)[1].split("</table>", 1)[0]
    rows = re.findall(r"<tr>(.*?)</tr>", table.split("<tbody>", 1)[1], re.S)
    return [[re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", r, re.S)] for r in rows]


def titles(cell_html: str) -> list[str]:
    return re.findall(r'title="\$([^"]+)"', cell_html)


def test_model_pages_show_the_cores_ranks_ties_and_default_routing(
    site: Built, cat: Catalog, site_at: datetime
) -> None:
    index = RankIndex.build(queries.endpoint_candidates(cat.con, site_at), cat.table, site_at)
    checked = ties = 0
    for model in sorted(m for m in {SONNET, "openai/gpt-5.5", "deepseek/deepseek-v3.2", "z-ai/glm-5.2"}):
        page = site.pages[model_page(model)]
        for preset in PRESETS:
            ranking = index.rank(preset.profile, EndpointFilters(), model=model)
            assert ranking.ranked, (model, preset.name)
            section = page.text.split(f'<section id="preset-{preset.name}">', 1)[1].split("</section>", 1)[0]
            rows = re.findall(r"<tr><td class=\"num\">(\d+)</td><td>([^<]*)( <small>cheapest</small>)?</td>", section)
            assert [(int(rank), tag, bool(mark)) for rank, tag, mark in rows] == [
                (r.rank, r.tag, r.rank == 1) for r in ranking.ranked
            ], (model, preset.name)
            d = ranking.default_routing
            assert d is not None
            spans = titles(section.split("Unpinned, default routing would cost", 1)[1].split("</p>", 1)[0])
            assert spans == [canonical(d.expected_cost_per_request), canonical(d.saving_per_request)]
            assert f"({d.saving_percent.quantize(Decimal('0.01'))} %)" in section
            ties += ranking.ties > 1
            checked += 1
        # The summary table: the same figures, and "next cost" is the first strictly dearer endpoint.
        for preset, cells in zip(PRESETS, summary_rows(page), strict=True):
            ranking = index.rank(preset.profile, EndpointFilters(), model=model)
            dearer = [r for r in ranking.ranked if r.cost_per_request > ranking.ranked[0].cost_per_request]
            assert cells[6].startswith(dearer[0].tag + " (") if dearer else cells[6] == "—", (model, preset.name)
            first = [r.tag for r in ranking.ranked if r.rank == 1]
            assert cells[1].startswith(", ".join(first[:3])), (model, preset.name, cells[1])
            assert ("-way tie" in cells[1]) == (len(first) > 1)
    assert checked == 12 and ties > 0, "no tie among the checked models: the tie checks prove nothing"


def test_your_workload_section_starts_at_the_cores_default_workload_answer(
    site: Built, cat: Catalog, site_at: datetime
) -> None:
    index = RankIndex.build(queries.endpoint_candidates(cat.con, site_at), cat.table, site_at)
    ranking = index.rank(DEFAULT.profile, EndpointFilters(), model=SONNET)
    page = site.pages[model_page(SONNET)]
    (tag, values) = next((t, v) for t, v in page.elements if v.get("id") == "custom-default")
    d = ranking.default_routing
    assert d is not None and tag == "p"
    assert Decimal(str(values["data-expected"])) == d.expected_cost_per_request
    assert Decimal(str(values["data-saving"])) == d.saving_per_request
    assert Decimal(str(values["data-percent"])) == d.saving_percent
    assert ranking.ties > 1 and f"{ranking.ties} endpoints tie as the cheapest" in page.text
    labels = re.findall(r'<td class="num rank">(\d+|—)</td><td>[^<]*</td><td class="label">([^<]*)</td>', page.text)
    assert [label for _, label in labels].count("Cheapest") == ranking.ties
    assert [int(rank) for rank, _ in labels if rank != "—"] == [r.rank for r in ranking.ranked]


def test_old_data_puts_a_banner_on_every_page(site: Built, cat: Catalog) -> None:
    """The bundled days end 2026-08-05: far older than two hours at any build after that."""
    newest = queries.snapshots(cat.con)["taken_at"].max()
    assert isinstance(newest, datetime)
    for name, page in site.pages.items():
        assert "stale-banner" in page.ids, name
    banner = site.pages["index.html"].text.split('id="stale-banner"', 1)[1].split("</p>", 1)[0]
    assert newest.strftime("%Y-%m-%d %H:%M UTC") in banner and "days" in banner


def test_recent_data_has_no_banner(hostile: Hostile) -> None:
    """The hostile history was synced moments before its build: no page says the data is old."""
    assert hostile.pages
    assert not [name for name, page in hostile.pages.items() if "stale-banner" in page.ids]
    assert re.search(r"the newest snapshot then \d+ (s|min) old\.", hostile.pages["index.html"].text)


def test_the_threshold_decides_the_banner(site: Built, tmp_path: Path) -> None:
    with Catalog.open(site.db) as cat:
        build_site(cat, tmp_path / "lenient", stale_after=100_000 * 86_400.0)
    lenient = (tmp_path / "lenient" / "index.html").read_text()
    assert 'id="stale-banner"' not in lenient and "days old" in lenient


def test_model_pages_stay_within_the_page_budget(site: Built) -> None:
    """Every model page ≤ 100 kB (bench/site.py's target), with the default-routing figures, the exclusions and
    the workload form added; the largest one named by the report is the largest on disk."""
    sizes = {p: (site.out / p).stat().st_size for p in site.pages if p.startswith("models/")}
    largest = max(sizes, key=lambda p: sizes[p])
    assert site.report["largest_model_page"] == {"page": largest, "bytes": sizes[largest]}
    assert sizes[largest] <= 100_000, (largest, sizes[largest])
