"""What the site shows, gathered from the history in a few batch queries and cost-engine calls.

Everything here is computed by the same code the CLI and the API use: rankings by
``catalog.cost.ranker.RankIndex`` (as ``catalog.cost.profile.rank_endpoints``), price histories by
``catalog.cost.engine.cost_usage``. The result is plain dicts and lists that the templates render; nothing here
formats for display.
"""

from __future__ import annotations

import threading
import weakref
from collections import defaultdict
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl

from catalog.cost.engine import cost_usage
from catalog.cost.profile import (
    DefaultRouting,
    RankedEndpoint,
    Ranking,
    per_million_tokens,
)
from catalog.cost.ranker import RankIndex
from catalog.cost.sheets import PriceTable, SheetVersion
from catalog.cost.workload import EndpointFilters, WorkloadProfile
from catalog.library import Catalog, versions_by_model
from catalog.money import EXACT, base_price, percent_change, reduced
from catalog.openrouter.skus import in_scope
from catalog.prices import PriceSheet
from catalog.store import queries
from catalog.website.presets import DEFAULT, PRESETS, Preset
from catalog.website.unitmodels import gather_unit_models, mark_unit_rows

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)  # the changes page reaches back to the first snapshot
_NO_CHANGES: list[dict[str, Any]] = []  # a model without changes (one object: never changed)
CHANGE_WINDOWS = (7, 20)  # days of the index's price-change columns
MOVER_WINDOWS = (7, 30)  # days of the index's price movers (``catalog.website.movers``)


@dataclass(frozen=True)
class ListCost:
    """What one request costs at a model's list price (``/models``), for a model with no ranked endpoint;
    read by the templates like a ``RankedEndpoint``."""

    model_id: str
    cost_per_request: Decimal
    cost_per_million_tokens: Decimal | None
    endpoint_key: str
    tag: None = None
    provider_name: str = "list price"


Cheapest = RankedEndpoint | ListCost


@dataclass
class SiteFacts:
    at: datetime
    endpoint_start: datetime | None  # the first endpoint snapshot: price-change windows start no earlier
    table: PriceTable
    models: list[dict[str, Any]]
    providers: list[dict[str, Any]]
    changes: list[dict[str, Any]]
    windows: list[dict[str, Any]] = field(default_factory=list)  # the price-change columns: days and start
    unit_models: list[dict[str, Any]] = field(default_factory=list)  # priced in their own units (unitmodels.py)
    # The candidates and rank index of each change window's start, for the movers' windows that start there too
    # (the 7 days of both): read and built once.
    window_indexes: dict[datetime, tuple[pl.DataFrame, RankIndex]] = field(default_factory=dict)
    # The candidates at the start of each movers' window that starts at no change window's start, read beside
    # the rest of ``gather`` (``_Reads``) for the movers to take.
    window_candidates: dict[datetime, pl.DataFrame] = field(default_factory=dict)


def gather(cat: Catalog, at: datetime) -> SiteFacts:
    """Everything the pages need, as of ``at``.

    The reads that need nothing gathered before them (the candidates now and at the windows' starts, the changes,
    the endpoints, providers and unit candidates in force) run in a thread beside the rest, through a cursor of
    their own: DuckDB works without the GIL, so they overlap the rankings and list costs made here meanwhile (the
    same queries)."""
    con = cat.con
    endpoint_start = queries.first_good_snapshot(con, kind="endpoints")
    last = _earlier(cat, at)
    reader = con.cursor()
    try:
        with ThreadPoolExecutor(1, thread_name_prefix="site-reads") as side:
            starts = {days: _window_start(at, days, endpoint_start) for days in CHANGE_WINDOWS}
            movers = {_window_start(at, days, endpoint_start) for days in MOVER_WINDOWS} - set(starts.values())
            # Submitted in the order they are needed (the models in force are read here meanwhile).
            now = side.submit(queries.endpoint_candidates, reader, at)
            windows = {days: side.submit(queries.endpoint_candidates, reader, then) for days, then in starts.items()}
            changes = side.submit(queries.changes, reader, EPOCH if last is None else last.at, at)
            endpoints = side.submit(queries.endpoints_in_force, reader, at)
            providers = side.submit(queries.providers_as_of, reader, at)
            units = side.submit(queries.unit_candidates, reader, at)
            ahead = {then: side.submit(queries.endpoint_candidates, reader, then) for then in sorted(movers)}
            reads = _Reads(now, windows, ahead, changes, endpoints, providers, units)
            try:
                return _gathered(cat, at, endpoint_start, last, starts, reads)
            finally:
                reads.cancel()  # on a failure: the reads not started yet
    finally:
        reader.close()


def _window_start(at: datetime, days: int, endpoint_start: datetime | None) -> datetime:
    """Where the price-change column of ``days`` compares from: ``days`` before ``at``, or the first endpoint
    snapshot when the endpoint history is shorter than the window (endpoints with endpoints, not with list
    prices from before it)."""
    then = at - timedelta(days=days)
    if endpoint_start is not None and then < endpoint_start <= at:
        return endpoint_start
    return then


@dataclass(frozen=True)
class _Reads:
    """``gather``'s reads under way in its side thread."""

    now: Future[pl.DataFrame]  # the candidates at the as-of instant
    windows: dict[int, Future[pl.DataFrame]]  # the candidates at each change window's start
    movers: dict[datetime, Future[pl.DataFrame]]  # at each other movers' window start (``window_candidates``)
    changes: Future[pl.DataFrame]  # since the last build's instant (or all)
    endpoints: Future[pl.DataFrame]
    providers: Future[pl.DataFrame]
    units: Future[list[dict[str, Any]]]

    def cancel(self) -> None:
        futures: list[Future[Any]] = [self.now, *self.windows.values(), *self.movers.values()]
        futures += [self.changes, self.endpoints, self.providers, self.units]
        for future in futures:
            future.cancel()


def _gathered(
    cat: Catalog,
    at: datetime,
    endpoint_start: datetime | None,
    last: _Earlier | None,
    starts: dict[int, datetime],
    reads: _Reads,
) -> SiteFacts:
    con, table = cat.con, cat.table
    filters = EndpointFilters()

    # The models with a text output (what /models lists by default) are ranked for token workloads; the other
    # kinds in their own units (catalog/website/unitmodels.py).
    every = queries.models_as_of(con, at).to_dicts()
    listed = [m for m in every if in_scope(m["output_modalities"], "text")]
    candidates = reads.now.result()
    # The rank indexes the last build of this history made: a candidate whose sheet did not change is taken from
    # there when this table is that one or extends it (``RankIndex.build`` checks; the service's extends it).
    with _EARLIER_LOCK:
        indexes = _INDEXES.get(history_key(cat), {})
    index = RankIndex.build(candidates, table, at, previous=indexes.get(0))
    built = {0: index}
    rankings = _rankings(cat, index, [m["model_id"] for m in listed], filters)
    list_costs = {p.name: _list_costs(table, [m["model_id"] for m in listed], at, p.profile) for p in PRESETS}
    windows = []
    window_indexes: dict[datetime, tuple[pl.DataFrame, RankIndex]] = {}
    past: dict[int, dict[str, Decimal]] = {}  # per window: each model's headline cost then
    for days in CHANGE_WINDOWS:
        then = starts[days]
        windows.append({"days": days, "since": then})
        # ``rank_endpoints`` (one index for the call), on an index kept for the next build.
        window_candidates = reads.windows[days].result()
        built[days] = RankIndex.build(window_candidates, table, then, previous=indexes.get(days))
        window_indexes[then] = (window_candidates, built[days])
        listed_ids = [m["model_id"] for m in listed]
        headline = {m: c.cost_per_request for m, c in _list_costs(table, listed_ids, then, DEFAULT.profile).items()}
        models_then = window_candidates.get_column("model_id").unique().to_list()
        headline.update(cheapest_costs(cat, days, built[days], models_then, DEFAULT, filters))
        past[days] = headline

    endpoints = reads.endpoints.result().to_dicts()
    by_model: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in endpoints:
        if row["telemetry_at"] is not None and row["telemetry_at"] > at:
            # Telemetry keeps only the newest observation: for a past day it is not what was known then.
            row.update(uptime_last_1d=None, latency_p50=None, throughput_p50=None, telemetry_at=None)
        by_model[row["model_id"]].append(row)

    sheets = _sheets_in_force(table, at)
    candidate_rows = candidates.to_dicts()
    kept_keys = {r["endpoint_key"] for r in candidate_rows if filters.exclusion(r) is None}
    # What the ranking orders equal costs by (its own inputs: the telemetry the candidates carry).
    ties = {r["endpoint_key"]: (r.get("uptime_last_1d"), r.get("throughput_p50")) for r in candidate_rows}
    max_prompt = {r["endpoint_key"]: r.get("max_prompt_tokens") for r in candidate_rows}
    inputs = {r["model_id"]: r.get("input_modalities") or [] for r in candidate_rows}
    if last is None:
        all_changes = site_changes(reads.changes.result().to_dicts())
        new = all_changes
        changes_by_model = by_model_changes(all_changes)
    else:
        # The changes up to the last build's instant are what it found (the history only grew since: checked);
        # those after it are read, newest first before them, as one query over the whole span orders them.
        since = site_changes(reads.changes.result().to_dicts())
        new = [c for c in since if c["at"] > last.at]
        all_changes = new + last.changes
        changes_by_model = by_model_changes(new, last.changes_by_model)
    histories = _price_histories(table, at, last)
    with _EARLIER_LOCK:
        _INDEXES[history_key(cat)] = built  # 0: as of ``at``; n: n days before (the price-change columns)

    model_sheets = _sheets_in_force(table, at, kind="model")
    models = []
    for model in listed:
        mid = model["model_id"]
        rows = by_model.get(mid, [])
        for row in rows:
            sheet = sheets.get((mid, row["endpoint_key"]))
            row["sheet"] = sheet.sheet if sheet else None
            row["base_prompt"] = base_price(row["price_prompt"], row["discount"] or Decimal(0))
            row["base_completion"] = base_price(row["price_completion"], row["discount"] or Decimal(0))
            row["ranked"] = row["endpoint_key"] in kept_keys
            row["tie_uptime"], row["tie_throughput"] = ties.get(row["endpoint_key"], (None, None))
            row["max_prompt_tokens"] = max_prompt.get(row["endpoint_key"])  # a limit the ranking checks
        chat = rankings[DEFAULT.name].get(mid, ModelRanking())
        # Without a ranked endpoint (before the endpoint history, or none listed), the model's list price.
        cheapest: Cheapest | None = chat.ranked[0] if chat.ranked else list_costs[DEFAULT.name].get(mid)
        change: dict[int, Decimal | None] = {}
        for days in CHANGE_WINDOWS:
            earlier = past[days].get(mid)
            change[days] = (
                percent_change(earlier, cheapest.cost_per_request) if earlier is not None and cheapest else None
            )
        models.append(
            {
                **model,
                "endpoints_now": rows,
                "providers_count": len({r["provider_slug"] for r in rows}),
                "cheapest": cheapest,
                "change": change,
                "presets": {p.name: rankings[p.name].get(mid, ModelRanking()) for p in PRESETS},
                "routing": chat.routing,
                "ranking_inputs": inputs.get(mid, model["input_modalities"] or []),
                **_custom_rows(chat, rows, sheets, mid),
                "changes": changes_by_model.get(mid, _NO_CHANGES),
                "history": histories.get(mid, []),
                "sheets": {r["endpoint_key"]: sheets.get((mid, r["endpoint_key"])) for r in rows},
                "list_sheet": model_sheets.get((mid, "")) if not chat.ranked else None,
                "list_costs": {p.name: list_costs[p.name].get(mid) for p in PRESETS},
            }
        )
    providers = _providers(reads.providers.result(), endpoints)
    unit_models = gather_unit_models(every, reads.units.result(), endpoints)
    unit_ids = frozenset(m["model_id"] for m in unit_models)
    # The changes as the site shows them: a unit model's rows marked (copies); the last build's marked list
    # carried while the unit models are the same, so only the sweep's new rows are looked at.
    if last is not None and last.shown_changes is not None and last.unit_ids == unit_ids:
        shown_changes = mark_unit_rows(new, unit_ids) + last.shown_changes
    else:
        shown_changes = mark_unit_rows(all_changes, unit_ids)
    for provider in providers:
        provider["endpoints_now"] = mark_unit_rows(provider["endpoints_now"], unit_ids)
    _remember(
        cat,
        _Earlier(at, _mark(con, at), table.scale, all_changes, histories, changes_by_model, unit_ids, shown_changes),
    )
    return SiteFacts(
        at=at,
        endpoint_start=endpoint_start,
        table=table,
        models=models,
        providers=providers,
        changes=shown_changes,
        windows=windows,
        unit_models=unit_models,
        window_indexes=window_indexes,
        window_candidates={then: read.result() for then, read in reads.movers.items()},
    )


def _rankings(
    cat: Catalog, index: RankIndex, model_ids: list[str], filters: EndpointFilters
) -> dict[str, dict[str, ModelRanking]]:
    """Each preset's ranking of each model, as of the index's instant. A model whose ranking inputs are the same
    objects as at the last build of this history (``RankIndex.model_inputs``: after a sweep, all but the models
    whose endpoints, prices or telemetry changed) keeps that build's ranking; the others are ranked.

    The last build's table may be another object: the service builds on the API's table, which each sweep
    extends (``PriceTable.extend``: sheet ids and their rates stay), so a candidate kept by ``RankIndex.build``
    prices the same there; a table that does not extend it (read again from the store) keeps nothing."""
    with _EARLIER_LOCK:
        last_index, last = _RANKINGS.get(history_key(cat), (None, {}))
    if last_index is not None and not last_index.carries_to(index.table):
        last = {}
    kept: dict[tuple[str, str], tuple[tuple[Any, ...] | None, ModelRanking]] = {}
    out: dict[str, dict[str, ModelRanking]] = {}
    for preset in PRESETS:
        found: dict[str, ModelRanking] = {}
        out[preset.name] = found
        for model_id in model_ids:
            inputs = index.model_inputs(model_id)
            before = last.get((preset.name, model_id))
            if inputs is not None and before is not None and _same_inputs(before[0], inputs):
                ranking = before[1]
            else:
                ranking = _model_ranking(index.rank(preset.profile, filters, model=model_id))
            found[model_id] = ranking
            kept[(preset.name, model_id)] = (inputs, ranking)
    with _EARLIER_LOCK:
        _RANKINGS[history_key(cat)] = (index, kept)
    return out


def cheapest_costs(
    cat: Catalog, window: int, index: RankIndex, model_ids: list[str], preset: Preset, filters: EndpointFilters
) -> dict[str, Decimal]:
    """What one request of ``preset`` costs at each model's cheapest endpoint in ``index``'s ranking of every
    model (``_by_model(index.rank(profile, filters))``'s first row of each; a model without one is left out).

    A model's cheapest cost depends on its own candidates alone, so ranking it alone gives the same; one whose
    ranking inputs are the same objects as at the last build's call for this ``window`` and preset (after a sweep,
    most: ``_same_inputs``, on a table that is or extends that build's) keeps that build's cost, and only the
    others are ranked, one model at a time (all at once when more than a quarter changed)."""
    key = (history_key(cat), window, preset.name)
    with _EARLIER_LOCK:
        last_index, last = _CHEAPEST.get(key, (None, {}))
    if last_index is None or not last_index.carries_to(index.table):
        last = {}
    inputs = {m: index.model_inputs(m) for m in model_ids}
    kept: dict[str, tuple[tuple[Any, ...] | None, Decimal | None]] = {}
    changed = []
    for model_id, now in inputs.items():
        before = last.get(model_id)
        if now is not None and before is not None and _same_inputs(before[0], now):
            kept[model_id] = before
        else:
            changed.append(model_id)
    if len(changed) * 4 > len(inputs):
        ranked = _by_model(index.rank(preset.profile, filters))
        for model_id in changed:
            group = ranked.get(model_id)
            kept[model_id] = (inputs[model_id], group[0].cost_per_request if group else None)
    else:
        for model_id in changed:
            group = _by_model(index.rank(preset.profile, filters, model=model_id)).get(model_id)
            kept[model_id] = (inputs[model_id], group[0].cost_per_request if group else None)
    with _EARLIER_LOCK:
        _CHEAPEST[key] = (index, kept)
    return {model_id: cost for model_id, (_inputs, cost) in kept.items() if cost is not None}


def _same_inputs(before: tuple[Any, ...] | None, now: tuple[Any, ...]) -> bool:
    """Whether two ``model_inputs`` are the same: the same candidate objects and scale and, when one of them
    has an override in a UTC time window, the same minute of the day (the only conditions the minute decides:
    ``ranker._mask``; a prompt-size tier alone does not depend on it). The tables are checked once, in
    ``_rankings``: the same, or the new one extends the old."""
    if before is None or len(before) != len(now) or before[1] != now[1]:
        return False
    if not all(a is b for a, b in zip(before[3:], now[3:], strict=True)):
        return False
    return before[2] == now[2] or not any(start is not None for c in now[3:] for _least, start, _end in c.conditions)


def by_model_changes(
    changes: list[dict[str, Any]], older: dict[str, list[dict[str, Any]]] | None = None
) -> dict[str, list[dict[str, Any]]]:
    """Each model's changes in list order (newest first). ``older``: what this gave for the changes that follow
    ``changes`` in the whole list (the last build's): a model with no change in ``changes`` keeps that list, the
    same object (its pages' digests and feed entries are then known by it: ``catalog.website.build``); the
    others get theirs in front of it, as grouping the whole list gives. Lists are never changed once made."""
    grouped: dict[str, list[dict[str, Any]]] = {}
    for entry in changes:
        grouped.setdefault(entry["model_id"], []).append(entry)
    if older is None:
        return grouped
    out = dict(older)
    for model_id, rows in grouped.items():
        out[model_id] = rows + older.get(model_id, [])
    return out


def site_changes(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The changes the site shows: its tables spell v1 prices per M tokens, so SKU prices (``sku:…``, in their
    own units) and the catalog's coverage rows stay in the history, the API and ``catalog changes``."""
    return [r for r in rows if r["entity"] != "catalog" and not (r["field"] or "").startswith("sku:")]


@dataclass(frozen=True)
class _Earlier:
    """What the last build of a history found that a later one may keep (``gather``): the instant it was as of,
    the history's mark then (``_mark``), the price table's scale (amounts carry it), the changes up to that
    instant and the price histories."""

    at: datetime
    mark: tuple[Any, ...]
    scale: int
    changes: list[dict[str, Any]]
    histories: dict[str, list[dict[str, Any]]]
    changes_by_model: dict[str, list[dict[str, Any]]]  # ``changes`` per model (``by_model_changes``)
    unit_ids: frozenset[str] = frozenset()  # the models priced in their own units then
    # ``changes`` as the site showed them (``mark_unit_rows`` of ``unit_ids``); None: not known, marked again
    shown_changes: list[dict[str, Any]] | None = None


# Per history file: the last build's facts. In memory: the service builds after every sweep in one process;
# a build in a new process (``catalog site build``) starts from nothing, and gives the same pages.
_EARLIER: dict[str, _Earlier] = {}
_EARLIER_LOCK = threading.Lock()
# Per history file too: the rank indexes the last build made (0: as of its instant, n: n days before), and each
# (preset, model)'s ranking with what it was made from (``_rankings``), beside the index they were made on. Keyed
# by the file, not the ``Catalog``: the service's job opens a new catalog for every build, on the API's table.
_INDEXES: dict[str, dict[int, RankIndex]] = {}
_RANKINGS: dict[str, tuple[RankIndex, dict[tuple[str, str], tuple[tuple[Any, ...] | None, Any]]]] = {}


# Per history file, window and preset: each model's cheapest cost then and what it was made from
# (``cheapest_costs``), beside the index it was ranked on.
_CHEAPEST: dict[tuple[str, int, str], tuple[RankIndex, dict[str, tuple[tuple[Any, ...] | None, Decimal | None]]]] = {}


def history_key(cat: Catalog) -> str:
    """What the carries from one build to the next are kept by: the history file."""
    return str(Path(cat.path).resolve())


def indexes(cat: Catalog) -> dict[int, RankIndex]:
    """The rank indexes the last build of ``cat``'s history made: 0 as of its instant, n for n days before."""
    with _EARLIER_LOCK:
        return dict(_INDEXES.get(history_key(cat), {}))


def _mark(con: Any, at: datetime) -> tuple[Any, ...]:
    """How many versions started by ``at`` and their largest id, per version table: a later build finds the same
    when the history only grew since (sweeps append after ``at``), and other figures after a rebuild or repair."""
    return queries.version_marks(con, at)


def _earlier(cat: Catalog, at: datetime) -> _Earlier | None:
    """The last build's facts of this history if a build as of ``at`` may carry them forward: as of an instant
    no later than ``at``, with the history as it was then (else a build from nothing)."""
    with _EARLIER_LOCK:
        found = _EARLIER.get(history_key(cat))
    if found is None or found.at > at or found.scale != cat.table.scale or _mark(cat.con, found.at) != found.mark:
        return None
    return found


def _remember(cat: Catalog, facts: _Earlier) -> None:
    with _EARLIER_LOCK:
        _EARLIER[history_key(cat)] = facts


def carried(cat: Catalog) -> datetime | None:
    """The instant of the last build of this history whose facts the next build may carry forward."""
    with _EARLIER_LOCK:
        found = _EARLIER.get(history_key(cat))
    return found.at if found else None


def forget(cat: Catalog) -> None:
    """Drop what the last build of this history found: the next one gathers everything from the history."""
    with _EARLIER_LOCK:
        _EARLIER.pop(history_key(cat), None)
        _RANKINGS.pop(history_key(cat), None)
        for key in [k for k in _CHEAPEST if k[0] == history_key(cat)]:
            del _CHEAPEST[key]


@dataclass
class ModelRanking:
    """One model's ranking as its page shows it: the endpoint rows (shared ranks), the exclusions (with the
    requirement they fail), how many tie as the cheapest, default routing's expected cost, the explanation and
    the routing object; only endpoint prices (a model without a ranked endpoint shows its list price apart)."""

    ranked: list[RankedEndpoint] = field(default_factory=list)
    excluded: list[dict[str, Any]] = field(default_factory=list)
    ties: int = 0
    default_routing: DefaultRouting | None = None
    explanation: str = ""
    routing: dict[str, Any] | None = None


def _model_ranking(ranking: Ranking) -> ModelRanking:
    ranked = [r for r in ranking.ranked if r.price_source == "endpoint"]
    if not ranked:
        return ModelRanking(excluded=ranking.excluded)
    return ModelRanking(
        ranked=ranked,
        excluded=ranking.excluded,
        ties=ranking.ties,
        default_routing=ranking.default_routing,
        explanation=ranking.explanation,
        routing=ranking.routing,
    )


def _by_model(ranking: Ranking) -> dict[str, list[RankedEndpoint]]:
    """Each model's endpoint rows of a ranking over every model, cheapest first."""
    out: dict[str, list[RankedEndpoint]] = defaultdict(list)
    for row in ranking.ranked:
        if row.price_source == "endpoint":
            out[row.model_id].append(row)
    return dict(out)


def _custom_rows(
    chat: ModelRanking, rows: list[dict[str, Any]], sheets: dict[tuple[str, str], SheetVersion], model_id: str
) -> dict[str, Any]:
    """The "your workload" table as rendered (the default workload): the ranked rows, then every other
    endpoint the sliders may rank (in the page's price data) with why it is not ranked now."""
    priced = {r["endpoint_key"] for r in rows if r["ranked"] and (model_id, r["endpoint_key"]) in sheets}
    ranked_keys = {r.endpoint_key for r in chat.ranked}
    why = {e["endpoint_key"]: e for e in chat.excluded if e.get("endpoint_key") in priced}
    rest = [
        {"endpoint_key": r["endpoint_key"], "tag": r["tag"], "ranked": None, **why.get(r["endpoint_key"], {})}
        for r in rows
        if r["endpoint_key"] in priced - ranked_keys
    ]
    return {
        "custom_rows": [{"ranked": r} for r in chat.ranked] + rest,
        "custom_excluded": [why[k] for k in sorted(why)],
    }


def _sheets_in_force(table: PriceTable, at: datetime, kind: str = "endpoint") -> dict[tuple[str, str], SheetVersion]:
    """The sheets of ``kind`` in force at ``at``, by (model, endpoint key; "" for a model's list price)."""
    found = {}
    for version in (table.versions[i] for i in table.in_force(at)):
        if version.kind == kind:
            found[(version.model_id, (version.key or version.tag or "") if kind == "endpoint" else "")] = version
    return found


def _list_costs(table: PriceTable, model_ids: list[str], at: datetime, profile: WorkloadProfile) -> dict[str, ListCost]:
    """What one request of ``profile`` costs at each model's list price (``/models``), by the engine.

    A build asks at its instant and at the start of each change and movers window, all of which move with every
    sweep, while a list price changes seldom: what the engine found is kept per price table (and the tables
    extending it) by the sheet it priced (the one the engine's own look-up finds in force), the profile and,
    for a sheet with an override in a time window, the instant itself; only the others are priced
    (``_engine_list_costs``)."""
    if not model_ids:
        return {}
    sheets, sources = table.sheets_at([table.resolve(m, None, None) for m in model_ids], at)
    with _LIST_COSTS_LOCK:
        known = _list_costs_of(table)
    keys: dict[str, tuple[Any, ...]] = {}
    for model_id, sheet_id, source in zip(model_ids, sheets, sources, strict=True):
        if sheet_id >= 0 and source == _MODEL_SOURCE:
            keys[model_id] = (sheet_id, profile, at if _windowed(table.versions[sheet_id].sheet) else None)
    missing = [m for m in model_ids if m not in keys or keys[m] not in known]
    found = _engine_list_costs(table, missing, at, profile)
    with _LIST_COSTS_LOCK:
        if len(known) > 100_000:  # a service that ran for years: start again rather than grow
            known.clear()
        for model_id in missing:
            if model_id in keys:
                cost = found.get(model_id)
                known[keys[model_id]] = (cost.cost_per_request, cost.cost_per_million_tokens) if cost else None
    out = {}
    for model_id in model_ids:
        if model_id in keys:
            amounts = known.get(keys[model_id])
            if amounts is not None:
                out[model_id] = ListCost(model_id, amounts[0], amounts[1], endpoint_key=model_id)
        elif model_id in found:
            out[model_id] = found[model_id]
    return out


def _windowed(sheet: PriceSheet) -> bool:
    """Whether an override of ``sheet`` applies in a UTC time window only (its price then depends on the instant)."""
    return any(o.utc_start is not None or o.utc_end is not None for o in sheet.overrides)


_MODEL_SOURCE = 1  # ``PriceTable.sheets_at``: the sheet is the model's own (its list price)
_LIST_COSTS: weakref.WeakKeyDictionary[PriceTable, dict[tuple[Any, ...], tuple[Decimal, Decimal | None] | None]] = (
    weakref.WeakKeyDictionary()
)
_LIST_COSTS_LOCK = threading.Lock()


def _list_costs_of(table: PriceTable) -> dict[tuple[Any, ...], tuple[Decimal, Decimal | None] | None]:
    """The list costs kept for ``table``: those of the table it extends (``PriceTable.extend``, as the API's
    refresh does after each sweep: sheet ids stay, so a key names the same sheet), shared with it; else none."""
    known = _LIST_COSTS.get(table)
    if known is None:
        parent = table.parent() if table.parent is not None else None
        while parent is not None and (known := _LIST_COSTS.get(parent)) is None:
            parent = parent.parent() if parent.parent is not None else None
        known = _LIST_COSTS[table] = known if known is not None else {}
    return known


def _engine_list_costs(
    table: PriceTable, model_ids: list[str], at: datetime, profile: WorkloadProfile
) -> dict[str, ListCost]:
    """``_list_costs`` by the engine itself, every model priced."""
    if not model_ids:
        return {}
    usage = pl.DataFrame(
        [{"model": m, "timestamp": at, **profile.usage_row()} for m in model_ids],
        schema_overrides={"model": pl.String, "timestamp": pl.Datetime("us", "UTC")},
    )
    priced = cost_usage(usage, table, at=at, breakdown=False)
    tokens = profile.input_tokens + profile.output_tokens
    out = {}
    for model_id, status, source, total in zip(
        model_ids, priced["status"], priced["price_source"], priced["cost_total"], strict=True
    ):
        if status == "ok" and source == "model":
            out[model_id] = ListCost(
                model_id=model_id,
                cost_per_request=reduced(total),
                cost_per_million_tokens=per_million_tokens(total, tokens),
                endpoint_key=model_id,
            )
    return out


def _price_histories(
    table: PriceTable, at: datetime, earlier: _Earlier | None = None
) -> dict[str, list[dict[str, Any]]]:
    """Per model: every endpoint price version (and the model's list price) up to ``at``, with what the
    default workload cost per request under it, priced by the engine at the version's start.

    ``earlier``: the last build's, at an instant before ``at``: a model none of whose versions started or ended
    between the two keeps its list from then (each entry depends on its version alone, and on ``at`` only
    through whether its end is past); the others are priced again."""
    kept: dict[str, list[dict[str, Any]]] = {}
    known: dict[tuple[Any, ...], dict[str, Any] | None] = {}  # a touched model's entries of the last build
    if earlier is None:
        versions = [table.versions[i] for i in table.versions_between(None, at, ends=False)]
    else:
        touched = {table.versions[i].model_id for i in table.versions_between(earlier.at, at)}
        kept = {m: rows for m, rows in earlier.histories.items() if m not in touched}
        grouped = versions_by_model(table)
        # Each model's versions in id order, as the pass over the whole table meets them.
        versions = [v for m in sorted(touched) for v in grouped.get(m, []) if v.valid_from <= at]
        for model_id in touched:
            for row in earlier.histories.get(model_id, ()):
                key = (model_id, *_history_key(row))
                known[key] = None if key in known else row  # two alike: neither is taken for the other
    versions = [v for v in versions if v.kind == "endpoint" or v.kind == "model"]
    out: dict[str, list[dict[str, Any] | SheetVersion]] = defaultdict(list)
    priced_versions: list[SheetVersion] = []
    for v in versions:
        # A touched model's version that the last build listed as it would be listed now is that entry (its cost
        # is the version's, priced at its start): only the sweep's new and closed versions are priced.
        found = known.get((v.model_id, *_history_key(_history_entry(v, at)))) if known else None
        out[v.model_id].append(found if found is not None else v)
        if found is None:
            priced_versions.append(v)
    usage = [
        {
            "model": v.model_id,
            "endpoint": v.key or v.tag if v.kind == "endpoint" else None,
            "timestamp": v.valid_from,
            **DEFAULT.profile.usage_row(),
        }
        for v in priced_versions
    ]
    if not out:
        return kept
    entries: dict[int, dict[str, Any] | None] = {}
    if usage:
        frame = pl.DataFrame(
            usage, schema_overrides={"model": pl.String, "endpoint": pl.String, "timestamp": pl.Datetime("us", "UTC")}
        )
        priced = cost_usage(frame, table, at=at, breakdown=False)
        for version, status, price_source, cost in zip(
            priced_versions, priced["status"], priced["price_source"], priced["cost_total"], strict=True
        ):
            if version.kind == "model" and price_source != "model":
                entries[id(version)] = None  # only a model-level row priced by the model's own sheet is its list price
                continue
            entry = {**_history_entry(version, at), "cost": cost if status == "ok" else None}
            entry["status"] = status
            entries[id(version)] = entry
    made: dict[str, list[dict[str, Any]]] = {}
    for model_id, items in out.items():
        rows = [entries[id(i)] if isinstance(i, SheetVersion) else i for i in items]
        if listed := [r for r in rows if r is not None]:
            made[model_id] = listed
    return {**kept, **made}


def _history_entry(version: SheetVersion, at: datetime) -> dict[str, Any]:
    """A price history entry of ``version`` as of ``at``, but for its cost and status (``_price_histories``)."""
    return {
        "kind": version.kind,
        "key": version.key or version.tag if version.kind == "endpoint" else None,
        "tag": version.tag,
        "provider_name": version.provider_name,
        "valid_from": version.valid_from,
        "valid_to": version.valid_to if version.valid_to is None or version.valid_to <= at else None,
        "cost": None,
        "status": None,
        "prompt": version.sheet.prices["prompt"],
        "completion": version.sheet.prices["completion"],
    }


def _history_key(entry: dict[str, Any]) -> tuple[Any, ...]:
    """What an entry says of its version, exactly (prices as their spelling: an equal Decimal may read otherwise)."""
    return (
        entry["kind"],
        entry["key"],
        entry["tag"],
        entry["provider_name"],
        entry["valid_from"],
        entry["valid_to"],
        str(entry["prompt"]),
        str(entry["completion"]),
    )


def _median(values: list[Decimal]) -> Decimal | None:
    if not values:
        return None
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else EXACT.divide(ordered[mid - 1] + ordered[mid], Decimal(2))


def _providers(listed: pl.DataFrame, endpoints: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each provider (``listed``: ``queries.providers_as_of``) with its endpoints, each endpoint's prices against the
    median of the *other* providers' endpoints of the same model; per provider, per model it shares with others:
    cheaper or dearer."""
    by_model: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in endpoints:
        by_model[row["model_id"]].append(row)
    served: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in endpoints:
        others = [r for r in by_model[row["model_id"]] if r["provider_slug"] != row["provider_slug"]]
        entry = {**row, "peers": len({r["provider_slug"] for r in others})}
        for key in ("prompt", "completion"):
            median = _median(
                [r[f"price_{key}"] for r in others if not r["price_dynamic"] and r[f"price_{key}"] is not None]
            )
            price = row[f"price_{key}"]
            entry[f"median_{key}"] = median
            entry[f"vs_median_{key}"] = percent_change(median, price) if price is not None and median else None
        served[row["provider_slug"]].append(entry)
    providers = []
    for provider in listed.to_dicts():
        rows = served.get(provider["slug"], [])
        per_model: dict[str, Decimal] = {}
        for r in rows:  # a model's cheapest endpoint of this provider speaks for it
            if r["vs_median_prompt"] is not None:
                per_model[r["model_id"]] = min(
                    per_model.get(r["model_id"], r["vs_median_prompt"]), r["vs_median_prompt"]
                )
        provider["endpoints_now"] = rows
        provider["cheaper_than_median"] = sum(1 for v in per_model.values() if v < 0)
        provider["dearer_than_median"] = sum(1 for v in per_model.values() if v > 0)
        provider["compared"] = len(per_model)
        provider["median_vs_median"] = _median(list(per_model.values()))
        providers.append(provider)
    return providers
