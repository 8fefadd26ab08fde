"""Models side by side (issue 18, items 4 and 5): the site's compare page and ``catalog site report``.

* The step series a comparison charts: the least cost among the versions in force, gaps as null, a point at
  the as-of instant; the SVG fallback's axis (log past a 10× range, framed by its ticks).
* The compare page as built: the default choice's costs are the engine's, to the unit; its data covers every
  model of the index; the chart is the site's data contract and matches the SVG drawn beside it.
* The report: exit 0 and one self-contained page (no script, a policy naming the hash of its one style), its
  costs the engine's; wrong input is one line and exit 2.
"""

from __future__ import annotations

import base64
import hashlib
import json
import random
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from helpers import run_cli
from site_helpers import EVIL, XSS_NAME, Built, Hostile, Page

from catalog.cost.workload import WorkloadProfile
from catalog.library import Catalog
from catalog.website import compare
from catalog.website.presets import DEFAULT

T0 = datetime(2026, 7, 17, tzinfo=UTC)
CHAT = DEFAULT.profile
# A comparison row's model id and the exact figure in one of its cells (the cell's data-value).
ROW_COST = r'<tr data-id="([^"]+)">.*?<td[^>]* class="num cost" data-value="([^"]*)"'
ROW_VERSUS = r'<tr data-id="([^"]+)">.*?<td[^>]* class="num versus" data-value="([^"]*)"'


def hours(n: float) -> datetime:
    return T0 + timedelta(hours=n)


def version(start: float, end: float | None, cost: str | None) -> dict[str, Any]:
    return {"valid_from": hours(start), "valid_to": None if end is None else hours(end), "cost": cost and Decimal(cost)}


# --- the series and the SVG ------------------------------------------------------------------------------------


def test_cheapest_steps_follow_the_least_price_in_force() -> None:
    versions = [
        version(0, 10, "0.002"),  # a dearer endpoint all along the first 10 hours
        version(2, 5, "0.001"),  # a cheaper one for three of them
        version(12, None, "0.003"),  # after a gap of two hours, one endpoint again
        version(14, None, None),  # a version without a price for the workload draws nothing
    ]
    points = compare.cheapest_steps(versions, hours(0), hours(20))
    at = {t: v for t, v in points}
    assert [t for t, _ in points] == sorted(at)
    assert at == {
        compare.unix(hours(0)): 0.002,
        compare.unix(hours(2)): 0.001,
        compare.unix(hours(5)): 0.002,
        compare.unix(hours(10)): None,  # nothing in force: a gap
        compare.unix(hours(12)): 0.003,
        compare.unix(hours(20)): 0.003,  # the as-of instant ends every line
    }
    # The window cuts what came before it; a version ending before it is not there at all.
    late = compare.cheapest_steps(versions, hours(3), hours(6))
    assert late == [[compare.unix(hours(3)), 0.001], [compare.unix(hours(5)), 0.002], [compare.unix(hours(6)), 0.002]]
    assert compare.cheapest_steps([version(0, 1, "0.5")], hours(2), hours(3)) == []


def every_instant_steps(versions: list[dict[str, Any]], start: datetime, end: datetime) -> list[list[Any]]:
    """The series by its definition: at each instant a version starts or ends in the window, the least cost of
    those in force then (the pass over every version at every instant the sweep replaced)."""
    overlapping = [v for v in versions if (v["valid_to"] is None or v["valid_to"] > start) and v["valid_from"] <= end]
    if not overlapping:
        return []
    instants = {start, end} | {
        t for v in overlapping for t in (v["valid_from"], v["valid_to"]) if t is not None and start < t < end
    }
    points: list[list[Any]] = []
    last: Any = "none yet"
    for t in sorted(instants):
        costs = [
            v["cost"]
            for v in overlapping
            if v["cost"] is not None and v["valid_from"] <= t and (v["valid_to"] is None or v["valid_to"] > t)
        ]
        value = min(costs) if costs else None
        if value != last or t == end:
            points.append([compare.unix(t), None if value is None else float(value)])
            last = value
    return points


def test_the_sweep_gives_the_series_of_every_instant_for_random_histories() -> None:
    rng = random.Random(18)
    checked = 0
    for _ in range(400):
        versions = []
        for _ in range(rng.randint(0, 12)):
            start = rng.randint(0, 40)
            end = rng.choice([None, start + rng.randint(1, 15)])
            cost = rng.choice([None, "0.001", "0.002", "0.0020", "0.003", "0.0005"])
            versions.append(version(start, end, cost))
        steps = compare.Steps(versions)
        for _ in range(5):  # one sweep, cut to several windows (as the site does build after build)
            a = rng.randint(0, 50)
            b = a + rng.randint(0, 20)
            expected = every_instant_steps(versions, hours(a), hours(b))
            assert steps.window(hours(a), hours(b)) == expected, (versions, a, b)
            assert compare.cheapest_steps(versions, hours(a), hours(b)) == expected
            checked += bool(expected)
    assert checked > 1000  # most windows draw something


def test_svg_axis_is_log_past_ten_times_and_framed_by_its_ticks() -> None:
    start, end = hours(0), hours(48)
    t0, t1 = compare.unix(start), compare.unix(hours(24))
    wide = compare.chart_data("t", "$ per request", [
        {"label": "cheap", "kind": "endpoint", "points": [[t0, 0.000252], [compare.unix(end), 0.0003]]},
        {"label": "dear", "kind": "endpoint", "points": [[t0, 0.009], [t1, None]]},
    ])  # fmt: skip
    geometry = compare.svg_chart(wide, start, end)
    assert geometry is not None and geometry["log"]
    labels = [t["label"] for t in geometry["ticks_y"]]
    assert labels[0] == "$0.0002" and labels[-1] == "$0.01"  # the 1-2-5 ticks around 0.000252 … 0.009
    ys = [float(t["y"]) for t in geometry["ticks_y"]]  # downwards: the lowest tick has the largest y
    assert geometry["top"] < ys[-1] < ys[0] < geometry["bottom"]  # inside the plot, off its frame
    assert [line["label"] for line in geometry["lines"]] == ["cheap", "dear"]
    assert geometry["lines"][1]["now"] is None  # no price at the as-of instant: no dot
    assert geometry["lines"][0]["now"]["x"] == str(geometry["right"])
    narrow = compare.chart_data("t", "$", [{"label": "a", "kind": "list", "points": [[t0, 0.001], [t1, 0.002]]}])
    flat = compare.svg_chart(narrow, start, end)
    assert flat is not None and not flat["log"] and flat["ticks_y"][0]["label"] == "$0"
    assert compare.svg_chart(compare.chart_data("t", "$", []), start, end) is None


# --- the compare page as built ----------------------------------------------------------------------------------


def json_script(page: Page, script_id: str) -> Any:
    (text,) = [text for attrs, text in page.scripts if attrs.get("id") == script_id]
    assert attrs_type(page, script_id) == "application/json"  # data, never run
    return json.loads(text)


def attrs_type(page: Page, script_id: str) -> str | None:
    return next(attrs.get("type") for attrs, _ in page.scripts if attrs.get("id") == script_id)


def check_contract(data: dict[str, Any]) -> None:
    """The data contract of the site's charts."""
    assert set(data) - {"start", "end"} == {"title", "unit", "series"} and isinstance(data["title"], str)
    if "start" in data or "end" in data:  # the optional time axis: both, in order, around every point
        assert isinstance(data["start"], int) and isinstance(data["end"], int) and data["start"] < data["end"]
        assert all(data["start"] <= t <= data["end"] for s in data["series"] for t, _ in s["points"])
    for series in data["series"]:
        assert set(series) == {"label", "kind", "points"} and series["kind"] in ("endpoint", "list")
        for t, value in series["points"]:
            assert isinstance(t, int) and (value is None or isinstance(value, int | float))
        assert [t for t, _ in series["points"]] == sorted({t for t, _ in series["points"]})


def test_compare_page_shows_the_engines_costs_for_its_default_choice(
    site: Built, cat: Catalog, site_at: datetime
) -> None:
    page = site.pages["compare.html"]
    (table,) = [values for tag, values in page.elements if tag == "table" and values.get("id") == "compare"]
    chosen = str(table["data-models"]).split(",")
    assert len(chosen) == 3
    shown = dict(re.findall(ROW_COST, page.text, re.S))
    assert list(shown) == chosen
    for model in chosen:
        ranked = cat.cheapest(model, CHAT, as_of=site_at).ranked
        assert Decimal(shown[model]) == ranked[0].cost_per_request, model
    least = min(Decimal(v) for v in shown.values())
    versus = dict(re.findall(ROW_VERSUS, page.text, re.S))
    for model, value in versus.items():
        assert Decimal(value) == ((Decimal(shown[model]) - least) * 100 / least).quantize(Decimal("0.01")), model

    info = json_script(page, "compare-data")
    index_ids = {m["id"] for m in site.pages["index.html"].price_data()["models"]}
    assert set(info["models"]) == index_ids  # any model of the index can be chosen
    assert page.price_data() == site.pages["index.html"].price_data()  # the same prices the index ranks from
    for model in chosen:
        assert (site.out / info["models"][model]["page"]).is_file()
    chart = json_script(page, "compare-chart")
    check_contract(chart)
    assert [s["label"] for s in chart["series"]] == chosen
    assert chart == compare.site_chart(info, chosen)
    assert '<figure class="price-chart compare-chart" data-chart="compare-chart">' in page.text
    # The SVG fallback draws one line per chosen model, labelled as the data are.
    assert re.findall(r'<path class="series s\d"[^>]*><title>([^<]+)</title>', page.text) == chosen
    # Every series ends at the as-of instant with the cost in force then (the table's, for the default workload).
    for series in chart["series"]:
        t, value = series["points"][-1]
        assert t == compare.unix(site_at) and value is not None


def test_compare_page_keeps_hostile_names_as_data(hostile: Hostile) -> None:
    page = hostile.pages["compare.html"]
    info = json_script(page, "compare-data")
    assert EVIL in info["models"] and info["models"][EVIL]["name"] == XSS_NAME
    start = page.text.index('<script type="application/json" id="compare-data">')
    body = page.text[start:].split(">", 1)[1].split("</script>", 1)[0]
    assert "</" not in body and "<script" not in body.lower()


# --- the report -------------------------------------------------------------------------------------------------


def pick_models(cat: Catalog, profile: WorkloadProfile, at: datetime, n: int = 3) -> list[str]:
    """Models with several ranked endpoints for ``profile`` (so cheapest and next mean something), most first."""
    counts: dict[str, int] = {}
    for row in cat.cheapest(None, profile, as_of=at).ranked:
        counts[row.model_id] = counts.get(row.model_id, 0) + 1
    return sorted(counts, key=lambda m: (-counts[m], m))[:n]


def test_report_is_one_self_contained_page_with_the_engines_costs(replayed_db: Path, tmp_path: Path) -> None:
    profile = WorkloadProfile(20_000, 1_000, cache_hit=Decimal("0.5"))
    with Catalog.open(replayed_db) as cat:
        at = cat.as_of(None)
        models = pick_models(cat, profile, at)
        expected = {m: cat.cheapest(m, profile, as_of=at).ranked[0].cost_per_request for m in models}
    out = tmp_path / "report.html"
    args = ["--input", "20000", "--output", "1000", "--cache-hit", "0.5", "--out", str(out)]
    done = run_cli("site", "report", "--db", str(replayed_db), "--models", ",".join(models), *args)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"wrote {out}: 3 models")
    text = out.read_text()
    page = Page(text)
    assert [attrs.get("type") for attrs, _ in page.scripts] == ["application/json"]  # the chart's data only
    assert not [ref for _, _, ref in page.refs() if ref != "data:,"]  # loads nothing, links nowhere
    style = text.split("<style>", 1)[1].split("</style>", 1)[0]
    digest = base64.b64encode(hashlib.sha256(style.encode()).digest()).decode()
    (policy,) = [v["content"] for tag, v in page.elements if tag == "meta" and v.get("http-equiv")]
    assert f"style-src 'sha256-{digest}'" in str(policy) and str(policy).startswith("default-src 'none';")
    assert "@media print" in style
    shown = dict(re.findall(ROW_COST, text, re.S))
    assert {m: Decimal(v) for m, v in shown.items()} == expected
    assert list(shown) == models
    chart = json_script(page, "report-chart")
    check_contract(chart)
    assert [s["label"] for s in chart["series"]] == models
    for heading in ("Comparison", "Price history", "Methodology in brief"):
        assert f">{heading}</h2>" in text


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--models", "nobody/none", "--out", "r.html"], "no model 'nobody/none' was listed"),
        (["--models", ",", "--out", "r.html"], "--models is empty"),
        (["--models", ",".join(f"a/m{i}" for i in range(9)), "--out", "r.html"], "at most 8"),
        (["--models", "a/b", "--out", "r.pdf"], "write .html or .htm"),
        (["--models", "a/b,a/b", "--out", "r.html"], "names a model twice"),
    ],
)
def test_report_refuses_wrong_input_in_one_line(
    replayed_db: Path, tmp_path: Path, args: list[str], message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    done = run_cli("site", "report", "--db", str(replayed_db), *args)
    assert done.returncode == 2, done.stdout + done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("error")]
    assert len(errors) == 1 and message in errors[0], done.stderr
    assert not (tmp_path / "r.html").exists()
