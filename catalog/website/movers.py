"""The index's price movers: the models whose cost for a workload moved most over the last 7 and 30 days.

A model's cost is what its headline on the index is: one request of the workload at its cheapest ranked
endpoint, else at its list price (``/models``), the same rule as the index's change columns. For each preset
workload the moves are computed here by the ranking index (``catalog.cost.ranker.RankIndex``, equal to the
engine) at the as-of instant and at the start of each window, and ranked by their exact percent change.

For any other workload the browser recomputes them (``site/static/index.js`` with ``cost.js``): the index's
price data is the "now" side, and ``then_data`` is the "then" side of each window, holding only the models whose
rankable endpoints or prices differ between the two instants (a model whose entries are the same cannot have
moved). A window longer than the endpoint history starts at its first snapshot, as the change columns do.
"""

from __future__ import annotations

import functools
import heapq
import threading
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Any

from catalog.cost.ranker import RankIndex
from catalog.cost.workload import EndpointFilters
from catalog.library import Catalog
from catalog.store import queries
from catalog.website import facts as site_facts
from catalog.website.facts import MOVER_WINDOWS, Cheapest, SiteFacts, _list_costs, _sheets_in_force
from catalog.website.presets import PRESETS
from catalog.website.pricedata import LIST_TAG, endpoint_entry, entry_text, rate_text

MOVERS_SHOWN = 5  # per direction and window


@functools.lru_cache(maxsize=16384)
def move_ratio(old: Decimal, new: Decimal) -> Fraction:
    """(new − old) / old, exact. Kept by value: after a sweep most models' costs then and now are those of the
    last build (exact ratios are slow to make), and equal Decimals are equal numbers, whatever their spelling."""
    return (Fraction(new) - Fraction(old)) / Fraction(old)


@dataclass(frozen=True)
class Move:
    """One model's cost for a workload then and now (exact; ``old`` is never 0)."""

    model_id: str
    old: Decimal
    new: Decimal

    @property
    def ratio(self) -> Fraction:
        """(new − old) / old, exact: what the moves are ranked by."""
        return move_ratio(self.old, self.new)

    @property
    def tenths(self) -> str:
        """The percent change to 0.1, half to even ("−85.9 %"), as index.js spells it."""
        value = round(self.ratio * 1000)  # a Fraction rounds half to even
        if value == 0:
            return "±0.0 %"
        return f"{'+' if value > 0 else '−'}{abs(value) // 10}.{abs(value) % 10} %"


@dataclass
class Movers:
    windows: list[dict[str, Any]]  # {"days", "since", "clamped"} per window
    moves: dict[str, dict[int, dict[str, list[Move]]]]  # preset -> days -> "cheaper" / "dearer" -> moves
    then_data: list[dict[str, Any]]  # per window: the "then" price data of the models that may have moved


def window_start(at: datetime, days: int, endpoint_start: datetime | None) -> tuple[datetime, bool]:
    """Where a window of ``days`` before ``at`` starts, and whether the endpoint history cut it short."""
    then = at - timedelta(days=days)
    if endpoint_start is not None and then < endpoint_start <= at:
        return endpoint_start, True
    return then, False


def ranked_moves(old: dict[str, Decimal], new: dict[str, Decimal]) -> dict[str, list[Move]]:
    """The models priced at both instants whose cost moved, the largest falls and rises first (ties by
    model id); a model free then has no percent change and is left out."""
    moves = [
        Move(model_id, old[model_id], new[model_id])
        for model_id in sorted(old.keys() & new.keys())
        if old[model_id] != 0 and old[model_id] != new[model_id]
    ]
    # ``nsmallest`` is ``sorted(…)[:n]``, without ordering the hundreds of others (exact ratios compare slowly).
    cheaper = heapq.nsmallest(MOVERS_SHOWN, (m for m in moves if m.new < m.old), key=lambda m: (m.ratio, m.model_id))
    dearer = heapq.nsmallest(MOVERS_SHOWN, (m for m in moves if m.new > m.old), key=lambda m: (-m.ratio, m.model_id))
    return {"cheaper": cheaper, "dearer": dearer}


def _headline(model: dict[str, Any], preset: str) -> Cheapest | None:
    """The index's cost of a model, as the page's script finds it: its cheapest ranked endpoint; the list
    price only for a model with no endpoint to rank (one whose endpoints cannot take the request has none)."""
    ranked = model["presets"][preset].ranked
    if ranked:
        return ranked[0]
    found: Cheapest | None = model["list_costs"][preset] if model["list_sheet"] is not None else None
    return found


def gather_movers(cat: Catalog, facts: SiteFacts, data: dict[str, Any]) -> Movers:
    """The moves of every preset over ``MOVER_WINDOWS`` and the "then" price data (``data``: the index's)."""
    filters = EndpointFilters()
    ids = [m["model_id"] for m in facts.models]
    windows, then_data = [], []
    moves: dict[str, dict[int, dict[str, list[Move]]]] = {p.name: {} for p in PRESETS}
    built: dict[int, RankIndex] = {}
    for days in MOVER_WINDOWS:
        then, clamped = window_start(facts.at, days, facts.endpoint_start)
        windows.append({"days": days, "since": then, "clamped": clamped})
        shared = facts.window_indexes.get(then)
        if shared is not None:  # a change column's window starts at the same instant: its candidates and index
            candidates, index = shared
        else:
            read = facts.window_candidates.get(then)  # read ahead by ``gather``
            candidates = read if read is not None else queries.endpoint_candidates(cat.con, then)
            # On the index the last build of this history made for this window (``RankIndex.build`` takes its
            # candidates when this table is its table or extends it): only changed candidates are new.
            with _LOCK:
                previous = _INDEXES.get(site_facts.history_key(cat), {}).get(days)
            if previous is None:  # the first build: the change columns made one for a window of this length
                previous = site_facts.indexes(cat).get(days)
            index = RankIndex.build(candidates, facts.table, then, previous=previous)
        rows = candidates.to_dicts()
        models_then = list(dict.fromkeys(row["model_id"] for row in rows))
        rankable = _rankable(facts, rows, then)
        built[days] = index
        for preset in PRESETS:
            # As of ``then`` by the same rule as ``_headline``: the list price only without an endpoint to rank.
            unranked = [m for m in ids if m not in rankable]
            earlier = {
                m: c.cost_per_request for m, c in _list_costs(facts.table, unranked, then, preset.profile).items()
            }
            earlier.update(site_facts.cheapest_costs(cat, days, index, models_then, preset, filters))
            now = {m["model_id"]: found for m in facts.models if (found := _headline(m, preset.name)) is not None}
            moves[preset.name][days] = ranked_moves(earlier, {m: c.cost_per_request for m, c in now.items()})
        then_data.append(_then_data(facts, rows, rankable, then, data))
    with _LOCK:
        _INDEXES[site_facts.history_key(cat)] = built
    return Movers(windows, moves, then_data)


# Per history file (as ``facts``' carries): the rank index of each window the last build made.
_INDEXES: dict[str, dict[int, RankIndex]] = {}
_LOCK = threading.Lock()


def _rankable(facts: SiteFacts, candidates: list[dict[str, Any]], then: datetime) -> dict[str, list[dict[str, Any]]]:
    """Per model, the candidate endpoints a ranking as of ``then`` considers (status ok, a sheet in force)."""
    filters = EndpointFilters()
    sheets = _sheets_in_force(facts.table, then)
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in candidates:
        if filters.exclusion(row) is None and (row["model_id"], row["endpoint_key"]) in sheets:
            out[row["model_id"]].append({**row, "sheet_version": sheets[(row["model_id"], row["endpoint_key"])]})
    return dict(out)


def _then_data(
    facts: SiteFacts,
    candidates: list[dict[str, Any]],
    by_model: dict[str, list[dict[str, Any]]],
    then: datetime,
    data: dict[str, Any],
) -> dict[str, Any]:
    """The price data as of ``then`` (``pricedata``'s shape) of the index's models whose entries differ from
    ``data``'s (the entries as of the as-of instant): ``index`` is its position in ``data["models"]``, ``same``
    the positions of its entries there that are unchanged, ``endpoints`` the others."""
    parameters = {name: i for i, name in enumerate(data["parameters"])}
    list_sheets = _sheets_in_force(facts.table, then, kind="model")
    inputs = {row["model_id"]: row.get("input_modalities") or [] for row in candidates}
    models = []
    for position, now in enumerate(data["models"]):
        mid = now["id"]
        rows = by_model.get(mid, [])
        entries = [endpoint_entry(r, r["sheet_version"], facts.table.scale, parameters) for r in rows]
        if not entries and (mid, "") in list_sheets:
            row = {"endpoint_key": mid, "model_id": mid, "tag": LIST_TAG, "provider_name": LIST_TAG}
            entries.append(endpoint_entry(row, list_sheets[(mid, "")], facts.table.scale))
        if not entries:
            continue  # no price then: no move to show
        spelled: dict[str, int] = {}
        for i, e in enumerate(now["endpoints"]):
            spelled.setdefault(entry_text(e), i)  # its first position, as ``list.index`` finds it
        texts = [entry_text(e) for e in entries]
        same = [spelled[text] for text in texts if text in spelled]
        other = [e for e, text in zip(entries, texts, strict=True) if text not in spelled]
        model_inputs = inputs.get(mid, now["inputs"])
        if other or len(same) != len(now["endpoints"]) or model_inputs != now["inputs"]:
            # The entries as the now side's (by position) plus those that differ: most of a model's are the same.
            models.append({"index": position, "inputs": model_inputs, "same": same, "endpoints": other})
    return {"at_minute": then.hour * 60 + then.minute, "models": models}


def movers_json(movers: Movers, data: dict[str, Any]) -> dict[str, Any]:
    """What the page embeds: the windows, each preset's moves as ``[model index, old, new, percent tenths]``
    (amounts exact, as the price data spells rates: ``"<integer>e<exponent>"``) and the "then" data per window."""
    position = {m["id"]: i for i, m in enumerate(data["models"])}
    scale = data["scale"]

    def spelled(move: Move) -> list[Any]:
        return [position[move.model_id], rate_text(move.old, scale), rate_text(move.new, scale), move.tenths]

    return {
        "windows": [{"days": w["days"], "since": w["since"].isoformat()} for w in movers.windows],
        "presets": {
            name: [{side: [spelled(m) for m in found[side]] for side in ("cheaper", "dearer")} for found in by.values()]
            for name, by in movers.moves.items()
        },
        "then": movers.then_data,
        "shown": MOVERS_SHOWN,
        "labels": {p.name: p.label.lower() for p in PRESETS},
    }
