"""Models side by side for one workload: the site's compare page and ``catalog site report``.

Both show, per model, what one request of the workload costs at its cheapest endpoint (the engine's ranking,
exact) and the history of that cost overlaid on one chart. The chart is emitted twice from the same series:
as the data the site's chart script reads (``chart_data``: ``{"title", "unit", "series": [{"label", "kind",
"points": [[unix_seconds, number_or_null], ...]}]}``, in a non-executed ``application/json`` script) and as
server-rendered SVG (``svg_chart``), which is what a page without JavaScript, and a printed report, show.

A series is a step function: each point holds its value until the next point; ``null`` is a time no endpoint of
the model had a price. Coordinates are floats (they only place lines); the money in the tables stays exact.
"""

from __future__ import annotations

import bisect
import math
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Any

import polars as pl

from catalog.cost.engine import cost_usage
from catalog.cost.profile import Ranking
from catalog.cost.sheets import PriceTable
from catalog.cost.workload import EndpointFilters, WorkloadProfile
from catalog.errors import InputError
from catalog.freshness import DataAge
from catalog.library import Catalog, versions_by_model
from catalog.money import canonical, per_million
from catalog.store import queries
from catalog.website.presets import DEFAULT

WINDOW = timedelta(days=90)  # as a model page's chart: at most the last 90 days
MAX_MODELS = 4  # the compare page's limit (a chart of more lines is not read)
MAX_REPORT_MODELS = 8
WIDTH, HEIGHT = 720, 280
LEFT, RIGHT, TOP, BOTTOM = 72, 12, 12, 28


# -- series ---------------------------------------------------------------------------------------------------


def unix(t: datetime) -> int:
    return int(t.timestamp())


class Steps:
    """The least ``cost`` among versions in force over their whole span, as the instants it changes at and the
    value from each on (None: no version with a price in force); ``cheapest_steps`` cuts it to a window.

    A sweep over the versions sorted by their bounds (those in force at once are few: a model's endpoints), not a
    pass over every version at every instant: a year of a model's versions is thousands of instants."""

    def __init__(self, versions: Iterable[dict[str, Any]]) -> None:
        listed = list(versions)
        self.count = len(listed)
        # For the window's "any version overlaps it" test: the latest start and end (None: still in force).
        self.last_from = max((v["valid_from"] for v in listed), default=None)
        ends = [v["valid_to"] for v in listed]
        self.open_ended = None in ends
        self.last_to = max((t for t in ends if t is not None), default=None)
        self.versions = listed
        priced = [v for v in listed if v["cost"] is not None]
        starts = sorted(range(len(priced)), key=lambda i: priced[i]["valid_from"])
        ends_at = sorted(
            (i for i in range(len(priced)) if priced[i]["valid_to"] is not None), key=lambda i: priced[i]["valid_to"]
        )
        instants = sorted({v["valid_from"] for v in priced} | {v["valid_to"] for v in priced if v["valid_to"]})
        self.times: list[datetime] = []
        self.values: list[Decimal | None] = []
        active: dict[int, Decimal] = {}
        s = e = 0
        last: Decimal | str | None = "none yet"
        for t in instants:  # in force at t: valid_from <= t < valid_to
            while s < len(starts) and priced[starts[s]]["valid_from"] <= t:
                active[starts[s]] = priced[starts[s]]["cost"]
                s += 1
            while e < len(ends_at) and priced[ends_at[e]]["valid_to"] <= t:
                active.pop(ends_at[e], None)
                e += 1
            value = min(active.values()) if active else None
            if value != last:
                self.times.append(t)
                self.values.append(value)
                last = value

    def overlaps(self, start: datetime, end: datetime) -> bool:
        """Whether a version (priced or not) is in force at some time of ``[start, end]``."""
        if self.last_from is None:
            return False
        if self.last_from <= end:  # every version starts by ``end``: one ending after ``start`` is enough
            return self.open_ended or (self.last_to is not None and self.last_to > start)
        return any((v["valid_to"] is None or v["valid_to"] > start) and v["valid_from"] <= end for v in self.versions)

    def at(self, t: datetime) -> Decimal | None:
        i = bisect.bisect_right(self.times, t)
        return self.values[i - 1] if i else None

    def window(self, start: datetime, end: datetime) -> list[list[Any]]:
        if not self.overlaps(start, end):
            return []
        first = self.at(start)
        points: list[list[Any]] = [[unix(start), None if first is None else float(first)]]
        if end <= start:
            return points
        last = first
        for i in range(bisect.bisect_right(self.times, start), bisect.bisect_left(self.times, end)):
            value = self.values[i]
            if value != last:
                points.append([unix(self.times[i]), None if value is None else float(value)])
                last = value
        final = self.at(end)
        points.append([unix(end), None if final is None else float(final)])
        return points


def cheapest_steps(versions: Iterable[dict[str, Any]], start: datetime, end: datetime) -> list[list[Any]]:
    """The least ``cost`` among the versions in force, as a step series over ``[start, end]``.

    ``versions``: dicts with ``valid_from``, ``valid_to`` (None: still in force) and ``cost`` (Decimal, None when
    the version has no price for the workload). A point is written only where the least cost changes, plus one
    at ``end`` so the line reaches the as-of instant; None where no version has a price."""
    return Steps(versions).window(start, end)


def chart_data(title: str, unit: str, series: list[dict[str, Any]]) -> dict[str, Any]:
    """The data contract of the site's charts."""
    return {"title": title, "unit": unit, "series": series}


def window_start(first: datetime | None, end: datetime) -> datetime:
    start = max(first or end - WINDOW, end - WINDOW)
    return min(start, end - timedelta(hours=1))


# -- the SVG fallback -------------------------------------------------------------------------------------------


def _fmt(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def money_label(value: float) -> str:
    """An axis label: at most 3 significant digits, no exponent, no trailing zeros ("$0.000312", "$0.02")."""
    if value == 0:
        return "$0"
    digits = max(0, 2 - math.floor(math.log10(abs(value))))
    text = f"{value:.{digits}f}"
    return "$" + (text.rstrip("0").rstrip(".") if "." in text else text)


def _log_ticks(lo: float, hi: float) -> list[float]:
    ticks = []
    for exponent in range(math.floor(math.log10(lo)), math.ceil(math.log10(hi)) + 1):
        for mantissa in (1, 2, 5):
            tick = float(f"{mantissa}e{exponent}")  # exactly the decimal tick, not 5 × 10**-4's float error
            if lo * (1 - 1e-9) <= tick <= hi * (1 + 1e-9):
                ticks.append(tick)
    return ticks


def svg_chart(data: dict[str, Any], start: datetime, end: datetime) -> dict[str, Any] | None:
    """Geometry for ``data``'s step series over ``[start, end]`` (the template writes the SVG, so every label is
    escaped); a log axis when the values span more than 10× (and none is 0). None when nothing has a value."""
    values = [p[1] for s in data["series"] for p in s["points"] if p[1] is not None]
    if not values:
        return None
    lo, hi = min(values), max(values)
    log = lo > 0 and hi / lo > 10
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    t0, t1 = start.timestamp(), end.timestamp()
    if log:  # framed by the 1-2-5 ticks around the data, so the lowest and highest lines have a label near them
        below = max((t for t in _log_ticks(lo / 10, lo)), default=lo)
        above = min((t for t in _log_ticks(hi, hi * 10)), default=hi)
        pad = (math.log10(above) - math.log10(below)) * 0.03  # a line on a tick is not drawn on the frame
        bottom, top = math.log10(below) - pad, math.log10(above) + pad
        ticks = _log_ticks(below, above)
    else:
        bottom, top = 0.0, (hi * 1.1) or 1.0
        ticks = [top / 1.1 * i / 4 for i in range(5)]

    def x(t: float) -> float:
        return LEFT + (min(max(t, t0), t1) - t0) / ((t1 - t0) or 1) * plot_w

    def y(v: float) -> float:
        ratio = ((math.log10(v) if log else v) - bottom) / ((top - bottom) or 1)
        return TOP + plot_h - ratio * plot_h

    lines = []
    for index, s in enumerate(data["series"]):
        parts: list[str] = []
        points = s["points"]
        for (t, v), (t_next, v_next) in zip(points, [*points[1:], [t1, None]], strict=True):
            if v is None:
                continue
            x1, x2, yy = x(t), max(x(t_next), x(t) + 1), y(v)
            parts.append(f"M{_fmt(x1)} {_fmt(yy)}H{_fmt(x2)}")
            if v_next is not None and t_next < t1:
                parts.append(f"V{_fmt(y(v_next))}")
        # A dot on the value at the as-of instant: a price that changed at that very instant is a 1-pixel step.
        last = points[-1] if points else None
        now = {"x": _fmt(x(last[0])), "y": _fmt(y(last[1]))} if last and last[1] is not None else None
        lines.append({"cls": f"s{index % 8}", "label": s["label"], "d": "".join(parts), "now": now})
    ticks_x = []
    span_days = (t1 - t0) / 86_400
    step = max(1, round(span_days / 6))
    day = datetime(start.year, start.month, start.day, tzinfo=UTC) + timedelta(days=1)
    while day < end:
        ticks_x.append({"x": _fmt(x(day.timestamp())), "label": f"{day:%b %d}"})
        day += timedelta(days=step)
    return {
        "width": WIDTH,
        "height": HEIGHT,
        "left": LEFT,
        "right": WIDTH - RIGHT,
        "top": TOP,
        "bottom": HEIGHT - BOTTOM,
        "log": log,
        "lines": lines,
        "ticks_y": [{"y": _fmt(y(t)), "label": money_label(t)} for t in ticks],
        "ticks_x": ticks_x,
    }


# -- the site's compare page (the default workload, every model) --------------------------------------------------


def site_histories(
    models: list[dict[str, Any]], end: datetime
) -> tuple[datetime, dict[str, tuple[str, list[list[Any]]]]]:
    """Per model (facts' model dicts): the default workload's cost per request at its cheapest endpoint over
    time (``endpoint``; the list price, ``list``, for a model with no endpoint version), from the start of the
    endpoint history (at most ``WINDOW``) to ``end``; the page's script overlays the chosen ones."""
    found = [(model, _HISTORY_STEPS.of(model["history"])) for model in models]
    start = window_start(min((f.first_endpoint for _, f in found if f.first_endpoint), default=None), end)
    out = {}
    for model, steps in found:
        points = steps.steps.window(start, end)
        if points:  # 6 significant digits place a line to well under a pixel; the page stays small
            out[model["model_id"]] = (steps.kind, [[t, None if v is None else float(f"{v:.6g}")] for t, v in points])
    _HISTORY_STEPS.next_build()
    return start, out


@dataclass(frozen=True)
class _HistorySteps:
    kind: str  # "endpoint", or "list" for a model with no endpoint version
    steps: Steps
    first_endpoint: datetime | None


class _StepsByHistory:
    """A model's ``Steps`` by its price history list: the site's facts carry an untouched model's list forward
    from one build to the next (``catalog.website.facts``: never changed once made), so only the models a sweep
    touched are swept again. Keyed by the list's identity, the list held so the id is not reused; entries no
    build used since the previous one are dropped."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.known: dict[int, tuple[list[dict[str, Any]], _HistorySteps]] = {}
        self.used: dict[int, tuple[list[dict[str, Any]], _HistorySteps]] = {}

    def of(self, history: list[dict[str, Any]]) -> _HistorySteps:
        with self.lock:
            found = self.used.get(id(history)) or self.known.get(id(history))
        if found is None or found[0] is not history:
            endpoint = [v for v in history if v["kind"] == "endpoint"]
            versions = endpoint or [v for v in history if v["kind"] == "model"]
            first = min((v["valid_from"] for v in endpoint), default=None)
            found = (history, _HistorySteps("endpoint" if endpoint else "list", Steps(versions), first))
        with self.lock:
            self.used[id(history)] = found
        return found[1]

    def next_build(self) -> None:
        with self.lock:
            self.known, self.used = self.used, {}


_HISTORY_STEPS = _StepsByHistory()


def site_chart(info: dict[str, Any], ids: list[str]) -> dict[str, Any]:
    """The compare page's chart data for the chosen models (its script builds the same for another choice)."""
    series = [
        {"label": mid, "kind": info["models"][mid]["kind"], "points": info["models"][mid]["points"]} for mid in ids
    ]
    # The whole window as the time axis, as the page's script has it: a redraw keeps the same dates.
    data = chart_data(f"{DEFAULT.label} workload at the cheapest endpoint", "$ per request", series)
    return {**data, "start": info["start"], "end": info["end"]}


def default_selection(models: list[dict[str, Any]], count: int = 3) -> list[str]:
    """What the compare page shows before a reader picks: the models served by the most providers (the ones
    whose endpoint prices there are most to compare), ties by id."""
    priced = [m for m in models if m["presets"][DEFAULT.name].ranked]
    ordered = sorted(priced, key=lambda m: (-m["providers_count"], m["model_id"]))
    return [m["model_id"] for m in ordered[:count]]


def list_text(value: Decimal | None, dynamic: bool = False) -> str:
    """A list price as $ per million tokens, as the pages spell it."""
    if dynamic:
        return "dynamic"
    return "—" if value is None else "$" + canonical(per_million(value, digits=4))


def site_page_data(
    models: list[dict[str, Any]], end: datetime, page: Callable[[str], str]
) -> tuple[datetime, dict[str, Any]]:
    """What the compare page's script needs beside the price data: per model its name, page, context, list
    prices and cost history (``site_histories``), and the chart's time span."""
    start, histories = site_histories(models, end)
    info = {
        m["model_id"]: {
            "name": m["name"] or m["model_id"],
            "page": f"models/{page(m['model_id'])}.html",
            "context": m["context_length"],
            "list": [list_text(m[f"price_{k}"], bool(m["price_dynamic"])) for k in ("prompt", "completion")],
            "kind": histories.get(m["model_id"], ("list", []))[0],
            "points": histories.get(m["model_id"], ("list", []))[1],
        }
        for m in models
    }
    return start, {"start": unix(start), "end": unix(end), "models": info}


def site_rows(models: list[dict[str, Any]], ids: list[str]) -> list[dict[str, Any]]:
    """The compare table as rendered (the default workload): per chosen model its cheapest endpoint (or list
    price), the next dearer endpoint, how many endpoints can take the request, and % above the cheapest."""
    by_id = {m["model_id"]: m for m in models}
    rows = []
    for mid in ids:
        m = by_id[mid]
        ranked = m["presets"][DEFAULT.name].ranked
        cheapest = m["cheapest"]
        dearer = next((r for r in ranked if cheapest and r.cost_per_request > cheapest.cost_per_request), None)
        rows.append({"model": m, "cheapest": cheapest, "next": dearer, "ranked": len(ranked)})
    least = min((r["cheapest"].cost_per_request for r in rows if r["cheapest"] is not None), default=None)
    for row in rows:
        row["versus"] = percent_above(row["cheapest"].cost_per_request, least) if row["cheapest"] else None
    return rows


def percent_above(value: Decimal, least: Decimal | None) -> Decimal | None:
    """How much dearer than ``least``, in percent held to 0.01 (half to even), as the page's script says it."""
    if least is None or least == 0:
        return None
    hundredths = round(Fraction(value - least) * 10_000 / Fraction(least))  # exact, then half to even
    return Decimal(hundredths).scaleb(-2)


# -- the report (any workload, chosen models) ---------------------------------------------------------------------


@dataclass
class Compared:
    """One model of a comparison: its ranking for the workload and facts to show beside it."""

    model_id: str
    name: str | None
    context_length: int | None
    price_prompt: Decimal | None
    price_completion: Decimal | None
    ranking: Ranking
    versus_cheapest: Decimal | None = None  # % above the cheapest model of the comparison

    @property
    def cheapest(self) -> Any:
        return self.ranking.ranked[0] if self.ranking.ranked else None

    @property
    def next_dearer(self) -> Any:
        first = self.cheapest
        return next((r for r in self.ranking.ranked if r.cost_per_request > first.cost_per_request), None)


@dataclass
class Comparison:
    at: datetime
    profile: WorkloadProfile
    models: list[Compared]
    data: DataAge | None
    chart: dict[str, Any]
    start: datetime
    built_at: datetime
    filters: EndpointFilters = field(default_factory=EndpointFilters)


def parse_models(text: str) -> list[str]:
    ids = [part.strip() for part in text.split(",") if part.strip()]
    if not ids:
        raise InputError(
            "--models is empty: give model ids separated by commas, e.g. --models openai/gpt-4o,z-ai/glm-5"
        )
    if len(ids) > MAX_REPORT_MODELS:
        raise InputError(f"--models names {len(ids)} models; a report compares at most {MAX_REPORT_MODELS}")
    if len(set(ids)) != len(ids):
        raise InputError(f"--models names a model twice: {text!r}")
    return ids


def compare(
    cat: Catalog,
    model_ids: list[str],
    profile: WorkloadProfile,
    *,
    at: datetime | None = None,
    filters: EndpointFilters | None = None,
    fallbacks: int = 2,
    built_at: datetime | None = None,
) -> Comparison:
    """Rank each model's endpoints for ``profile`` as ``catalog cheapest`` does, and price every endpoint
    version of the models with the engine for the history chart."""
    at = cat.as_of(at)
    filters = filters or EndpointFilters()
    listed = {row["model_id"]: row for row in queries.models_as_of(cat.con, at).to_dicts()}
    unknown = [m for m in model_ids if m not in listed]
    if unknown:
        raise InputError(
            f"no model {', '.join(map(repr, unknown))} was listed at {at:%Y-%m-%d %H:%M}Z; "
            "`catalog models --search TEXT` lists the ids"
        )
    models = []
    data = None
    for mid in model_ids:
        ranking = cat.cheapest(mid, profile, as_of=at, filters=filters, fallbacks=fallbacks)
        data = data or ranking.data
        row = listed[mid]
        models.append(
            Compared(mid, row["name"], row["context_length"], row["price_prompt"], row["price_completion"], ranking)
        )
    costs = [m.cheapest.cost_per_request for m in models if m.cheapest is not None]
    least = min(costs, default=None)
    for m in models:
        if m.cheapest is not None:
            m.versus_cheapest = percent_above(m.cheapest.cost_per_request, least)
    histories = workload_histories(cat.table, model_ids, profile, at)
    firsts = [v["valid_from"] for rows in histories.values() for v in rows if v["kind"] == "endpoint"]
    start = window_start(min(firsts, default=None), at)
    series = []
    for mid in model_ids:
        rows = histories.get(mid, [])
        endpoint = [v for v in rows if v["kind"] == "endpoint"]
        kind = "endpoint" if endpoint else "list"
        points = cheapest_steps(endpoint or [v for v in rows if v["kind"] == "model"], start, at)
        series.append({"label": mid, "kind": kind, "points": points})
    chart = chart_data(f"Cheapest endpoint over time: {', '.join(model_ids)}", "$ per request", series)
    return Comparison(at, profile, models, data, chart, start, built_at or datetime.now(UTC), filters)


def workload_histories(
    table: PriceTable, model_ids: list[str], profile: WorkloadProfile, at: datetime
) -> dict[str, list[dict[str, Any]]]:
    """Every price version of the models (endpoints and list price) up to ``at``, each with what one request of
    ``profile`` costs under it: priced by the engine at the version's first instant, as a model page's chart."""
    grouped = versions_by_model(table)
    versions = [v for m in model_ids for v in grouped.get(m, []) if v.valid_from <= at]
    if not versions:
        return {}
    frame = pl.DataFrame(
        [
            {
                "model": v.model_id,
                "endpoint": (v.key or v.tag) if v.kind == "endpoint" else None,
                "timestamp": v.valid_from,
                **profile.usage_row(),
            }
            for v in versions
        ],
        schema_overrides={"model": pl.String, "endpoint": pl.String, "timestamp": pl.Datetime("us", "UTC")},
    )
    priced = cost_usage(frame, table, at=at, breakdown=False)
    out: dict[str, list[dict[str, Any]]] = {}
    for v, status, source, cost in zip(
        versions, priced["status"], priced["price_source"], priced["cost_total"], strict=True
    ):
        if v.kind == "model" and source != "model":
            continue  # only a model-level row priced by the model's own sheet is its list price
        out.setdefault(v.model_id, []).append(
            {
                "kind": v.kind,
                "valid_from": v.valid_from,
                "valid_to": v.valid_to if v.valid_to is None or v.valid_to <= at else None,
                "cost": cost if status == "ok" else None,
            }
        )
    return out
