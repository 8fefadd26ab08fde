"""The price-history chart of a model page: inline SVG geometry, one stepped line per endpoint.

Each endpoint's line is the cost of the default workload under each of its price versions, so a step is a
price change and a gap is a time the endpoint was not listed. The model's own list price (``/models``) is a
dashed line. Geometry is computed here; the template writes the SVG (so every label is escaped), and each
step carries a ``<title>`` that browsers show on hover. Floats are used for coordinates only.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from catalog.money import per_million

WIDTH, HEIGHT = 720, 260
LEFT, RIGHT, TOP, BOTTOM = 64, 12, 12, 28
PALETTE = 10  # CSS classes c0..c9
WINDOW = timedelta(days=90)


def _fmt(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def step_chart(history: list[dict[str, Any]], end: datetime, *, tokens: int, describe: Any) -> dict[str, Any] | None:
    """Geometry for ``history`` (facts' price versions of one model) up to ``end``.

    ``tokens``: the workload's tokens per request, to label costs as $ per million tokens; ``describe(cost)``
    formats a cost for a title. None when nothing has a price.
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
    span = (end - start).total_seconds()
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def clip(v: dict[str, Any]) -> tuple[datetime, datetime] | None:
        lo = max(v["valid_from"], start)
        hi = min(v["valid_to"] or end, end)
        return (lo, hi) if hi > lo or (v["valid_to"] is None and lo == end) else None

    shown = [(v, c) for v in priced if (c := clip(v)) is not None]
    if not shown:
        return None
    per_m = [per_million(v["cost"], tokens) for v, _ in shown]
    top = float(max(per_m)) * 1.1 or 1.0

    def x(t: datetime) -> float:
        return LEFT + (t - start).total_seconds() / span * plot_w

    def y(value: Decimal) -> float:
        return TOP + plot_h - float(value) / top * plot_h

    groups: dict[str | None, list[tuple[dict[str, Any], tuple[datetime, datetime], Decimal]]] = defaultdict(list)
    for (v, c), value in zip(shown, per_m, strict=True):
        groups[v["key"]].append((v, c, value))
    lines = []
    endpoint_keys = sorted(k for k in groups if k is not None)
    for index, key in enumerate([*endpoint_keys, *([None] if None in groups else [])]):
        steps, connectors = [], []
        previous: tuple[float, float] | None = None
        for v, (lo, hi), value in sorted(groups[key], key=lambda item: item[1][0]):
            x1, x2, yy = x(lo), x(hi), y(value)
            steps.append(
                {
                    "d": f"M{_fmt(x1)} {_fmt(yy)}H{_fmt(max(x2, x1 + 1))}",
                    "title": f"{v['tag'] or 'list price'}: {describe(v['cost'])}/request, {lo:%b %d %H:%M}"
                    + (f"–{hi:%b %d %H:%M} UTC" if v["valid_to"] else " UTC on"),
                }
            )
            if previous is not None and abs(previous[0] - x1) < 0.05:
                connectors.append(f"M{_fmt(x1)} {_fmt(previous[1])}V{_fmt(yy)}")
            previous = (x2, yy)
        first = groups[key][0][0]
        lines.append(
            {
                # Colours repeat after PALETTE lines; each round has its own dash pattern, so no two match.
                "cls": f"c{index % PALETTE} d{index // PALETTE % 3}" if key is not None else "list",
                "label": first["tag"] if key is not None else "list price (/models)",
                "steps": steps,
                "connectors": " ".join(connectors),
            }
        )
    ticks_y = []
    for i in range(5):
        tick = top / 1.1 * i / 4
        ticks_y.append({"y": _fmt(TOP + plot_h - tick / top * plot_h), "label": f"${tick:.3g}"})
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
        "lines": lines,
        "ticks_y": ticks_y,
        "ticks_x": ticks_x,
        "start": start,
        "end": end,
    }
