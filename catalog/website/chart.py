"""The price-history chart of a model page: its data for the browser's chart and its no-JavaScript SVG.

Each endpoint's line is the cost of the default workload under each of its price versions, in $ per million of
the request's tokens, so a step is a price change and a gap is a time the endpoint was not listed. The model's
own list price (``/models``) is one more line. Both faces come from one list of series (``series``):

* ``chart_data``: the JSON that ``site/static/chart.js`` draws with uPlot (its data contract is written at the
  top of that file; the compare view overlays several models with the same shape). Its numbers are floats for
  drawing only: the exact money is in the page's tables.
* ``step_chart``: the geometry of the SVG the page shows without JavaScript (the template writes the SVG, so
  every label is escaped; each step's path and ``<title>``, its tooltip, are written here, escaped, as one
  string a line: a template loop over a thousand steps cost a tenth of a model page). Its lines take the same
  colour and dash as the drawn chart's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from markupsafe import Markup, escape

from catalog.money import per_million

WIDTH, HEIGHT = 720, 260
LEFT, RIGHT, TOP, BOTTOM = 64, 12, 12, 28
# The drawn chart's palette (chart.js): Okabe & Ito's colour-blind-safe colours less yellow (too pale on white)
# and black (the list price's). The n-th endpoint takes colour n mod 6 and dash n div 6, so no two lines share
# both up to COLOURS * DASHES endpoints (the most a recorded model has is 39); chart.js then draws thinner.
COLOURS = 6
DASHES = 8
WINDOW = timedelta(days=90)
LIST_LABEL = "list price (/models)"


@dataclass(frozen=True)
class Series:
    """One line: its label, its kind (``endpoint`` or ``list``) and its steps ``(from, to, $ per M tokens)``,
    in time order, each clipped to the chart's window."""

    label: str
    kind: str
    steps: list[tuple[datetime, datetime, Decimal]]
    tooltips: list[str]
    open: bool = False  # its last version is still in force (the chart's ``end`` is not where it stops)


def _fmt(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def series(
    history: list[dict[str, Any]], end: datetime, *, tokens: int, describe: Any
) -> tuple[datetime, list[Series]] | None:
    """The window's start and its lines from ``history`` (facts' price versions of one model) up to ``end``:
    the endpoints cheapest now first (then those no longer listed, by their last price), the list price last.

    ``tokens``: the workload's tokens per request, to state costs as $ per million tokens; ``describe(cost)``
    formats a cost for a step's title. None when nothing has a price in the window.
    """
    priced = [v for v in history if v["cost"] is not None]
    if not priced:
        return None
    endpoint_versions = [v for v in priced if v["kind"] == "endpoint"]
    # The last WINDOW at most: a page stays small however long the history grows (older changes are in the
    # change log and the downloads).
    start = max(min(v["valid_from"] for v in (endpoint_versions or priced)), end - WINDOW)
    if end - start < timedelta(hours=1):
        start = end - timedelta(hours=1)

    def clip(v: dict[str, Any]) -> tuple[datetime, datetime] | None:
        lo = max(v["valid_from"], start)
        hi = min(v["valid_to"] or end, end)
        return (lo, hi) if hi > lo or (v["valid_to"] is None and lo == end) else None

    groups: dict[str | None, list[tuple[datetime, datetime, Decimal, str, str]]] = {}
    still = {v["key"] for v in priced if v["valid_to"] is None}  # lines whose last version is in force
    for v in priced:
        span = clip(v)
        if span is None:
            continue
        lo, hi = span
        # short: every step of every line carries one (a page with 40 endpoints has some 160), the per-request unit
        # and UTC are said once above the chart, and a step ends where the next begins
        title = f"{v['tag'] or 'list price'}: {describe(v['cost'])} from {lo:%b %d %H:%M}"
        groups.setdefault(v["key"], []).append((lo, hi, per_million(v["cost"], tokens), title, v["tag"]))
    if not groups:
        return None

    def order(key: str | None) -> tuple[int, Decimal, str]:
        _start, _hi, value, _title, _tag = max(groups[key], key=lambda step: step[0])
        return (0 if key in still else 1, value, str(key))

    lines = []
    for key in [*sorted((k for k in groups if k is not None), key=order), *([None] if None in groups else [])]:
        steps = sorted(groups[key], key=lambda step: step[0])
        lines.append(
            Series(
                label=steps[0][4] if key is not None else LIST_LABEL,
                kind="endpoint" if key is not None else "list",
                steps=[(lo, hi, value) for lo, hi, value, _, _ in steps],
                tooltips=[step[3] for step in steps],
                open=key in still,
            )
        )
    return start, lines


def _seconds(t: datetime) -> int | float:
    return int(t.timestamp()) if not t.microsecond else round(t.timestamp(), 3)


def points(line: Series, end: datetime) -> list[list[Any]]:
    """``[[unix seconds, value or None], ...]``: each step's start with its value, a None where the line stops
    before the next step (a gap) or before ``end`` (no longer listed), and its last value again at ``end`` when
    it is still in force (so the drawn step reaches the right edge)."""
    out: list[list[Any]] = []
    for index, (lo, hi, value) in enumerate(line.steps):
        point = [_seconds(lo), float(value)]
        if out and out[-1][0] == point[0]:
            out[-1] = point  # a step that starts where a gap marker stands replaces it
        else:
            out.append(point)
        following = line.steps[index + 1][0] if index + 1 < len(line.steps) else None
        if following is None or following > hi:
            if hi < end or following is not None:
                out.append([_seconds(hi), None])
            elif out[-1][0] != _seconds(end):
                out.append([_seconds(end), float(value)])
    return out


def chart_data(title: str, unit: str, start: datetime, end: datetime, lines: list[Series]) -> dict[str, Any]:
    """The JSON chart.js draws (its contract is at the top of ``site/static/chart.js``)."""
    return {
        "title": title,
        "unit": unit,
        "start": _seconds(start),
        "end": _seconds(end),
        "series": [{"label": line.label, "kind": line.kind, "points": points(line, end)} for line in lines],
        # The lines still in force (by index) go on at their last value to the site's build instant (chart.js
        # reads it from build.js): ``end`` is the model's last price event, so the page stays the same until
        # its prices change.
        "extend": [n for n, line in enumerate(lines) if line.open],
    }


def style_class(index: int, kind: str) -> str:
    """The CSS classes of the fallback SVG's ``index``-th endpoint line: chart.js's colour and dash."""
    return f"c{index % COLOURS} d{index // COLOURS % DASHES}" if kind == "endpoint" else "list"


def log_axis(values: list[Decimal]) -> bool:
    """Whether a chart of ``values`` starts on a log axis: they span more than 10x (chart.js's rule too)."""
    positive = [v for v in values if v > 0]
    return bool(positive) and max(positive) > 10 * min(positive)


def _log_ticks(low: float, high: float) -> list[float]:
    """1, 2 and 5 of each decade between ``low`` and ``high``, and 3 too over less than two decades."""
    ticks = []
    mantissas = (1, 2, 3, 5) if high / low < 100 else (1, 2, 5)
    for exponent in range(math.floor(math.log10(low)), math.ceil(math.log10(high)) + 1):
        for mantissa in mantissas:
            tick = mantissa * 10.0**exponent
            if low <= tick <= high:
                ticks.append(tick)
    return ticks


def step_chart(start: datetime, end: datetime, lines: list[Series]) -> dict[str, Any]:
    """Geometry of the no-JavaScript SVG for ``series``' lines: on a log axis when the drawn chart starts on
    one (and no value is $0, which a log axis cannot place)."""
    span = (end - start).total_seconds()
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    values = [value for line in lines for _, _, value in line.steps]
    logarithmic = log_axis(values) and min(values) > 0
    if logarithmic:
        low, high = float(min(values)) / 1.3, float(max(values)) * 1.3
        bottom, scale = math.log10(low), math.log10(high) - math.log10(low)
        tick_values = _log_ticks(low, high)

        def fraction(value: float) -> float:
            return (math.log10(value) - bottom) / scale
    else:
        top = float(max(values)) * 1.1 or 1.0
        tick_values = [top / 1.1 * i / 4 for i in range(5)]

        def fraction(value: float) -> float:
            return value / top

    def x(t: datetime) -> float:
        return LEFT + (t - start).total_seconds() / span * plot_w

    def y(value: Decimal | float) -> float:
        return TOP + plot_h - fraction(float(value)) * plot_h

    drawn = []
    endpoints = 0
    for line in lines:
        steps, connectors = [], []
        previous: tuple[float, float] | None = None
        for (lo, hi, value), title in zip(line.steps, line.tooltips, strict=True):
            x1, x2, yy = x(lo), x(hi), y(value)
            # the path's numbers need no escaping; its title (a price and dates, as text) does
            steps.append(
                f'<path d="M{_fmt(x1)} {_fmt(yy)}H{_fmt(max(x2, x1 + 1))}"><title>{escape(title)}</title></path>'
            )
            if previous is not None and abs(previous[0] - x1) < 0.05:
                connectors.append(f"M{_fmt(x1)} {_fmt(previous[1])}V{_fmt(yy)}")
            previous = (x2, yy)
        drawn.append(
            {
                "cls": style_class(endpoints, line.kind),
                "label": line.label,
                "paths": Markup("".join(steps)),  # a step's path each: made here, not by a template loop
                "connectors": " ".join(connectors),
            }
        )
        endpoints += line.kind == "endpoint"
    ticks_y = [{"y": _fmt(y(tick)), "label": f"${tick:.3g}"} for tick in tick_values]
    ticks_x = []
    days = max(1, round(span / 86_400 / 6))
    t = datetime(start.year, start.month, start.day, tzinfo=start.tzinfo) + timedelta(days=1)
    while t < end:
        ticks_x.append({"x": _fmt(x(t)), "label": f"{t:%b %d}"})
        t += timedelta(days=days)
    return {
        "width": WIDTH,
        "height": HEIGHT,
        "left": LEFT,
        "right": WIDTH - RIGHT,
        "top": TOP,
        "bottom": HEIGHT - BOTTOM,
        "lines": drawn,
        "ticks_y": ticks_y,
        "ticks_x": ticks_x,
        "start": start,
        "end": end,
        "log": logarithmic,
    }


def last_event(history: list[dict[str, Any]]) -> datetime | None:
    """The newest instant one of the versions of ``history`` started or ended at (an end past the history's
    as-of instant is none: facts leave it out)."""
    instants = [v["valid_from"] for v in history] + [v["valid_to"] for v in history if v["valid_to"] is not None]
    return max(instants, default=None)


def model_chart(
    model: dict[str, Any], *, tokens: int, workload: str, describe: Any
) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """A model page's chart: the SVG geometry and the JSON for chart.js, or None when nothing has a price.
    ``workload``: the default workload's name as a page says it ("chat").

    Its time axis ends at the model's last price event, not at the build's instant: the page is then a function
    of the model's history alone, byte for byte the same from one build to the next until a price of it moves
    (an incremental build skips it). The lines still in force reach that edge, and chart.js carries them on to
    the build's instant; without JavaScript the caption says the prices are unchanged since."""
    end = last_event(model["history"])
    if end is None:
        return None
    found = series(model["history"], end, tokens=tokens, describe=describe)
    if found is None:
        return None
    start, lines = found
    title = f"{model['model_id']}: cost of one {workload} request"
    return step_chart(start, end, lines), chart_data(title, "$ / M tokens", start, end, lines)
