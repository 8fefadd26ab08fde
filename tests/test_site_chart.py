"""The model page chart's data (``catalog.website.chart``): the JSON points static/chart.js draws, the order and
styles of the lines, and the fallback SVG's axis. Pure functions on made-up histories: no site build."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import jinja2
import pytest

from catalog.money import per_million
from catalog.website import chart

END = datetime(2026, 8, 5, 12, tzinfo=UTC)
TOKENS = 2_500


def version(key: str | None, start: datetime, stop: datetime | None, cost: str | None) -> dict[str, Any]:
    return {
        "kind": "endpoint" if key else "model",
        "key": key,
        "tag": key or "",
        "valid_from": start,
        "valid_to": stop,
        "cost": None if cost is None else Decimal(cost),
    }


def day(n: int) -> datetime:
    return END - timedelta(days=n)


def drawn(history: list[dict[str, Any]]) -> dict[str, Any]:
    found = chart.series(history, END, tokens=TOKENS, describe=str)
    assert found is not None
    start, lines = found
    return chart.chart_data("t", "$ / M tokens", start, END, lines)


def ts(t: datetime) -> int:
    return int(t.timestamp())


def per_m(cost: str) -> float:
    return float(per_million(Decimal(cost), TOKENS))


def test_points_are_steps_with_gaps_and_an_end() -> None:
    history = [
        # a price change, then still listed at the end: its last value again at the end
        version("a", day(10), day(5), "0.001"),
        version("a", day(5), None, "0.0005"),
        # listed, unlisted for two days, listed again, then gone before the end
        version("b", day(10), day(8), "0.002"),
        version("b", day(6), day(1), "0.002"),
        version(None, day(10), None, "0.0008"),  # the list price
    ]
    data = drawn(history)
    series = {s["label"]: s for s in data["series"]}
    assert series["a"]["points"] == [
        [ts(day(10)), per_m("0.001")],
        [ts(day(5)), per_m("0.0005")],
        [ts(END), per_m("0.0005")],
    ]
    assert series["b"]["points"] == [
        [ts(day(10)), per_m("0.002")],
        [ts(day(8)), None],
        [ts(day(6)), per_m("0.002")],
        [ts(day(1)), None],
    ]
    assert series["list price (/models)"]["kind"] == "list"
    assert (data["start"], data["end"]) == (ts(day(10)), ts(END))
    # Listed now and cheapest first, then those gone (by their last price), the list price last.
    assert [s["label"] for s in data["series"]] == ["a", "b", "list price (/models)"]


def test_a_window_of_ninety_days_clips_older_versions() -> None:
    data = drawn([version("a", day(400), day(30), "0.003"), version("a", day(30), None, "0.001")])
    start = int((END - chart.WINDOW).timestamp())
    assert data["start"] == start
    assert data["series"][0]["points"][0] == [start, per_m("0.003")]


def test_unpriced_versions_are_left_out_and_nothing_priced_is_no_chart() -> None:
    assert chart.series([version("a", day(3), None, None)], END, tokens=TOKENS, describe=str) is None
    data = drawn([version("a", day(3), day(2), None), version("a", day(2), None, "0.001")])
    assert data["series"][0]["points"][0] == [int(day(2).timestamp()), per_m("0.001")]


def test_no_two_endpoint_lines_share_colour_and_dash() -> None:
    classes = [chart.style_class(i, "endpoint") for i in range(chart.COLOURS * chart.DASHES)]
    assert len(set(classes)) == len(classes)
    assert chart.style_class(0, "list") == "list"


@pytest.mark.parametrize(
    ("costs", "log"),
    [(["0.001", "0.0101"], True), (["0.001", "0.0099"], False), (["0", "0.5"], False), (["0", "0", "0.01"], False)],
)
def test_the_fallback_takes_a_log_axis_past_a_tenfold_span(costs: list[str], log: bool) -> None:
    history = [version(f"e{i}", day(3), None, cost) for i, cost in enumerate(costs)]
    found = chart.series(history, END, tokens=TOKENS, describe=str)
    assert found is not None
    svg = chart.step_chart(*found[:1], END, found[1])
    assert svg["log"] is log
    labels = [t["label"] for t in svg["ticks_y"]]
    if log:  # 1, 2, 3, 5 of each decade within the range: the span's ends are between ticks
        assert labels == ["$0.5", "$1", "$2", "$3", "$5"]
    else:
        assert labels[0] == "$0"


def test_the_fallbacks_step_paths_are_what_the_template_loop_wrote_with_every_title_escaped() -> None:
    hostile = '<script>alert("x")</script>&co'
    history = [version(hostile, day(10), day(5), "0.001"), version(hostile, day(5), None, "0.0005")]
    found = chart.series(history, END, tokens=TOKENS, describe=str)
    assert found is not None
    svg = chart.step_chart(found[0], END, found[1])
    (line,) = svg["lines"]
    # The loop _chart.html ran before the paths were made in Python, over the same steps and titles.
    loop = jinja2.Environment(autoescape=True).from_string(
        '{% for d, title in steps %}<path d="{{ d }}"><title>{{ title }}</title></path>{% endfor %}'
    )
    steps = re.findall(r'<path d="([^"]*)">', str(line["paths"]))
    assert len(steps) == 2
    assert str(line["paths"]) == loop.render(steps=list(zip(steps, found[1][0].tooltips, strict=True)))
    assert "<script>" not in line["paths"] and "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;&amp;co" in line["paths"]
