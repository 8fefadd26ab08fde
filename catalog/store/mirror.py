"""The hot as-of shapes answered from memory: an immutable copy of the columns they read, per model.

``queries.models_as_of``, ``endpoints_as_of``, ``endpoint_history`` / ``model_history`` (``history_between``)
scan whole version tables in DuckDB and convert every returned column: 10–20 ms at a month of hourly history,
several times that at a year, however few rows the answer has. A ``HistoryMirror`` holds the versions those
shapes read — endpoint versions and statuses split per model, model versions and a narrow frame of every
endpoint version's interval — and answers the same frames (same columns, types, order and errors) with a
filter over one model's rows, in well under a millisecond.

It follows the history without reloading it (``advanced``): the versions sweeps opened or closed since are
read (a handful per sweep, not the whole history of the models they belong to) and merged into their models'
rows, and the one column that changes on every sweep without a new version — when an open
version was last seen (``last_seen``, ``last_snapshot``) — is read for the open versions only and laid over
the history answers. A history that does not follow from the mirror by sweeps (a rebuild, a repair) raises
``MirrorMismatch``; the caller loads it whole again.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import duckdb
import numpy as np
import polars as pl

from catalog.errors import NotFoundError
from catalog.prices import PRICE_KEYS
from catalog.store import queries

if TYPE_CHECKING:
    from polars._typing import PolarsDataType

PRICES = [f"price_{k}" for k in PRICE_KEYS]
ENDPOINT_COLUMNS = [
    "endpoint_key", "model_id", "tag", "provider_slug", "provider_name", "name", "permaslug", "quantization",
    "context_length", "max_completion_tokens", "max_prompt_tokens", "supported_parameters",
    "supports_implicit_caching", "price_dynamic", "price_free", *PRICES, "discount", "override_count",
    "pricing_text", "valid_from", "valid_to", "version_id", "first_snapshot", "last_snapshot", "last_seen",
]  # fmt: skip
STATUS_COLUMNS = ["model_id", "endpoint_key", "status", "valid_from", "valid_to", "version_id"]
MODEL_COLUMNS = [
    "model_id", "name", "context_length", "modality", "input_modalities", "output_modalities",
    "supported_parameters", "alias_target", "price_dynamic", "price_free", *PRICES, "discount", "valid_from",
    "valid_to", "version_id", "first_snapshot", "last_snapshot", "last_seen", "pricing_text",
]  # fmt: skip
# ``version_id`` orders the intervals (``advanced`` finds the rows a sweep closes by a search, and appends the rows it
# opens: their ids come after every one held).
INTERVAL_COLUMNS = [
    "model_id", "provider_slug", "tag", "provider_name", "valid_from", "valid_to", "endpoint_key", "version_id",
]  # fmt: skip
# ``queries.endpoint_candidates``' columns read from the versions (its policy and telemetry columns follow).
CANDIDATE_COLUMNS = [
    "model_id", "endpoint_key", "tag", "provider_slug", "provider_name", "quantization", "context_length",
    "max_completion_tokens", "max_prompt_tokens", "supported_parameters", "input_modalities", "status",
]  # fmt: skip
# A version's place among its model's rows; ``version_id`` last, so that rows a merge brings in land where a
# read of the whole history puts them even when two versions start at the same instant.
ENDPOINT_ORDER = ["endpoint_key", "valid_from", "version_id"]
MODEL_ORDER = ["model_id", "valid_from", "version_id"]
TABLES = {"endpoint": "endpoint_versions", "status": "endpoint_status", "model": "model_versions"}
COLUMNS = {"endpoint": ENDPOINT_COLUMNS, "status": STATUS_COLUMNS, "model": MODEL_COLUMNS}

# The shapes' columns, in the order the SQL of ``catalog.store.queries`` gives them.
MODELS_AS_OF = [
    "model_id", "name", "context_length", "modality", "input_modalities", "output_modalities",
    "supported_parameters", "alias_target", "price_dynamic", "price_free", *PRICES, "discount", "endpoints",
    "valid_from", "valid_to", "version_id",
]  # fmt: skip
ENDPOINTS_AS_OF = [
    "endpoint_key", "model_id", "tag", "provider_slug", "provider_name", "name", "permaslug", "quantization",
    "context_length", "max_completion_tokens", "max_prompt_tokens", "supported_parameters",
    "supports_implicit_caching", "status", "price_dynamic", "price_free", *PRICES, "discount", "override_count",
    "pricing_text", "valid_from", "valid_to", "version_id",
]  # fmt: skip
ENDPOINT_HISTORY = [
    "endpoint_key", "tag", "provider_slug", "provider_name", "valid_from", "valid_to", "first_snapshot",
    "last_snapshot", "last_seen", "price_dynamic", *PRICES, "discount", "context_length", "max_completion_tokens",
    "quantization", "pricing_text", "version_id",
]  # fmt: skip
MODEL_HISTORY = [
    "model_id", "valid_from", "valid_to", "first_snapshot", "last_snapshot", "last_seen", "price_dynamic",
    *PRICES, "discount", "context_length", "pricing_text", "version_id",
]  # fmt: skip

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
INTERVAL_CHUNKS = 32  # the intervals frame is made contiguous again past this many chunks (one refresh adds one)
# Every model's endpoint rows are copied into buffers of their own at least once in this many sweeps
# (``_rotated``): what a process that stays up keeps of the frames its sweeps made is bounded by this many of them.
# The copies cost ~6 ms a refresh at 720 h x 10 endpoints with 64 (12 ms with 32), measured idle.
OWN_ROWS_SWEEPS = 64


class MirrorMismatch(Exception):
    """The history is not the mirror's plus what sweeps opened and closed since: load it whole again."""


def _micros(at: datetime) -> int:
    return (at - _EPOCH) // timedelta(microseconds=1)


def _in_force(at: datetime) -> pl.Expr:
    micros = _micros(at)
    valid_to = pl.col("valid_to").dt.epoch("us")
    return (pl.col("valid_from").dt.epoch("us") <= micros) & (valid_to.is_null() | (valid_to > micros))


def _by_model(frame: pl.DataFrame, order: list[str]) -> dict[str, pl.DataFrame]:
    if frame.is_empty():
        return {}
    return _split(frame.sort(["model_id", *order]))


@dataclass(frozen=True)
class HistoryMirror:
    """See the module docstring. ``open_*``: each open version's id -> its model (what the next ``advanced``
    compares against); ``seen``: ``last_snapshot`` / ``last_seen`` of every open endpoint and model version."""

    endpoints: dict[str, pl.DataFrame]
    statuses: dict[str, pl.DataFrame]
    models: pl.DataFrame
    intervals: pl.DataFrame
    schemas: dict[str, pl.Schema]
    open_ids: dict[str, dict[int, str]]
    seen: pl.DataFrame
    known_models: list[str]
    snapshot: int  # the newest snapshot id the mirror has
    # ``advanced``: the models whose endpoint, status or model rows the sweeps since the mirror it came from added
    # or changed (the rank index re-reads those); ``None`` for a mirror loaded whole.
    changed: frozenset[str] | None = None
    status_rows: int = 0  # the rows of ``statuses``, counted once (a sum over every model's frame each sweep)
    # ``advanced``: of ``changed``, what changed — the models whose own (list-price) versions were opened or closed
    # (each candidate row of theirs may differ) and the endpoint keys (-> model) whose endpoint or status versions
    # were (only those keys' rows may differ); ``None`` for a mirror loaded whole.
    changed_models: frozenset[str] | None = None
    changed_keys: dict[str, str] | None = None
    # ``advanced``: the endpoint rows of the models whose endpoint versions it merged, as one contiguous frame, and
    # those models (``candidates`` of them need not copy their frames together again); ``None`` for a mirror loaded
    # whole.
    merged_rows: tuple[frozenset[str], pl.DataFrame] | None = None
    rotation: int = 0  # the sweeps ``advanced`` has carried this mirror by (which models ``_rotated`` copies next)

    # -- building ---------------------------------------------------------------------------------------------

    @classmethod
    def load(cls, con: duckdb.DuckDBPyConnection, snapshot: int) -> HistoryMirror:
        """The whole history's shapes, as of the newest snapshot ``snapshot`` (read in the same transaction)."""
        frames = {kind: queries.mirror_rows(con, TABLES[kind], COLUMNS[kind]) for kind in TABLES}
        opened = {kind: queries.open_versions(con, TABLES[kind]) for kind in TABLES}
        models = frames["model"].sort(MODEL_ORDER)
        return cls(
            endpoints=_by_model(frames["endpoint"], ENDPOINT_ORDER),
            statuses=_by_model(frames["status"], ENDPOINT_ORDER),
            models=models,
            intervals=frames["endpoint"].select(INTERVAL_COLUMNS).sort("version_id"),
            schemas={kind: frame.schema for kind, frame in frames.items()},
            open_ids={
                kind: dict(zip(f["version_id"].to_list(), f["model_id"].to_list(), strict=True))
                for kind, f in opened.items()
            },
            seen=pl.concat([opened["endpoint"], opened["model"]]).select("version_id", "last_snapshot", "last_seen"),
            known_models=models["model_id"].unique().sort().to_list(),
            snapshot=snapshot,
            status_rows=frames["status"].height,
        )

    def advanced(self, delta: queries.SweepDelta, snapshot: int) -> HistoryMirror:
        """This mirror carried to the newest snapshot ``snapshot`` by ``delta`` (``queries.sweep_delta`` from this
        mirror's snapshot, with ``COLUMNS``): the versions opened since, and those it held open that are closed
        now (their rows here with the new ``valid_to``), merged into their models' rows; every open version's
        ``last_seen`` taken again. The work is in proportion to the versions the sweeps opened and closed (and
        the rows of the models they belong to), but for the open versions' ids and ``last_seen``. Raises
        ``MirrorMismatch`` when the history does not follow: its open versions or its counts of rows are not
        this mirror's with ``delta``'s."""
        frames, open_ids, closes = {}, {}, {}
        for kind, table in TABLES.items():
            schema = self.schemas[kind]
            opened = _typed(delta.part(table, COLUMNS[kind]), schema)
            was_open = self.open_ids[kind]
            ends = delta.closed(table, was_open)  # the held versions closed since: a few rows
            gone = ends["version_id"].to_list()
            ids = dict(was_open)  # a copy in C, less the few versions closed: not a pass over every open one
            for vid in gone:
                del ids[vid]
            for vid, model, valid_to in opened[["version_id", "model_id", "valid_to"]].iter_rows():
                if valid_to is None:
                    ids[vid] = model
            # The history's open versions counted and their ids summed: a held version deleted or closed otherwise
            # than by the sweeps since (not among ``ends``) stays in ``ids`` and tells, without a set of every open id.
            if (len(ids), sum(ids)) != delta.open_check(table):
                raise MirrorMismatch(f"{table}: the history's open versions are not the mirror's and the sweeps'")
            if kind == "model":
                frames[kind] = pl.concat([self._closed_model_rows(ends), opened]) if gone else opened
            else:
                frames[kind] = opened
            closes[kind] = ends if gone else None
            open_ids[kind] = ids
        endpoints, changed_rows, keys = _merged(self.endpoints, frames["endpoint"], ENDPOINT_ORDER, closes["endpoint"])
        statuses, status_changed, status_keys = _merged(
            self.statuses, frames["status"], ENDPOINT_ORDER, closes["status"]
        )
        fresh_models = frames["model"]
        models, known = self.models, self.known_models
        if not fresh_models.is_empty():
            kept = self.models.filter(~pl.col("version_id").is_in(fresh_models["version_id"].implode()))
            models = pl.concat([kept, fresh_models]).sort(MODEL_ORDER)
            new = set(fresh_models["model_id"].to_list()) - set(known)
            known = sorted({*known, *new}) if new else known
        changed = list(dict.fromkeys(changed_rows["model_id"].to_list())) if changed_rows is not None else []
        intervals = _intervals_advanced(self.intervals, frames["endpoint"], closes["endpoint"])
        if intervals is None:
            # The changed models' rows (``_merged`` gathered them at once) in place of their intervals, in id order.
            assert changed_rows is not None
            intervals = pl.concat(
                [self.intervals.filter(~pl.col("model_id").is_in(changed)), changed_rows[INTERVAL_COLUMNS]]
            ).sort("version_id")
        if intervals.n_chunks() > INTERVAL_CHUNKS:  # each refresh appends a chunk: filters slow down as they add up
            intervals = intervals.rechunk()
        status_rows = self.status_rows + frames["status"].height  # the versions opened: a close replaces a row
        held = {"endpoint_versions": intervals.height, "endpoint_status": status_rows, "model_versions": models.height}
        counts = {table: delta.count(table) for table in held}
        if counts != held:
            raise MirrorMismatch(f"the history holds {counts} versions, the mirror {held}")
        seen = pl.concat([delta.open_rows(TABLES[kind]) for kind in ("endpoint", "model")])
        # Endpoint rows only: a model's statuses are a few rows that rarely change (~0.1 MB of frames held after 300
        # sweeps against ~17 MB of endpoint rows, measured), not worth ~2 ms a sweep at 720 h x 10 endpoints.
        endpoints = _rotated(endpoints, self.rotation)
        touched = frozenset(
            [
                *fresh_models["model_id"].to_list(),
                *changed,
                *(status_changed["model_id"].unique().to_list() if status_changed is not None else ()),
            ]
        )
        return HistoryMirror(
            endpoints=endpoints,
            statuses=statuses,
            models=models,
            intervals=intervals,
            schemas=self.schemas,
            open_ids=open_ids,
            seen=_typed(seen, self.seen.schema),
            known_models=known,
            snapshot=snapshot,
            changed=touched,
            status_rows=status_rows,
            changed_models=frozenset(fresh_models["model_id"].to_list()),
            changed_keys={**keys, **status_keys},
            merged_rows=(frozenset(changed), changed_rows) if changed_rows is not None else None,
            rotation=self.rotation + 1,
        )

    def _closed_model_rows(self, ends: pl.DataFrame) -> pl.DataFrame:
        """The model versions this mirror holds of those in ``ends`` (``SweepDelta.closed``), closed as ``ends``
        says (an endpoint or status version is closed where ``_merged`` gathers its model's rows)."""
        held = self.models.filter(pl.col("version_id").is_in(ends["version_id"].implode()))
        if held.height != ends.height:
            raise MirrorMismatch("a model version closed since is not among the mirror's rows")
        columns = [c for c in ("version_id", "valid_to", "last_snapshot", "last_seen") if c in held.columns]
        return held.update(_typed(ends.select(columns), held.select(columns).schema), on="version_id")

    def candidates(self, at: datetime, models: Iterable[str], keys: Mapping[str, str] | None = None) -> pl.DataFrame:
        """``queries.endpoint_candidates(con, at, None, models=models, volatile=False)``, answered from memory:
        the rank index re-reads the candidates of the models a sweep changed, a few models' rows. ``keys`` (endpoint
        key -> its model): those endpoints' rows too (of a model not in ``models``: only those)."""
        whole = set(models)
        wanted = sorted(whole | set(keys.values())) if keys else sorted(whole)
        in_force = _in_force(at)
        if keys and len(wanted) > len(whole):
            in_force = in_force & (pl.col("model_id").is_in(sorted(whole)) | pl.col("endpoint_key").is_in(sorted(keys)))
        merged = self.merged_rows
        if wanted and merged is not None and merged[0].issuperset(wanted):
            # The models a sweep changed, gathered by ``advanced`` already (one contiguous frame): those of ``wanted``
            # are picked below, not copied together again.
            rows, in_force = merged[1], in_force & pl.col("model_id").is_in(wanted)
        else:
            found = [f for m in wanted if (f := self.endpoints.get(m)) is not None]
            # One contiguous frame: a filter over a hundred models' chunks costs ~20 times one over their rows copied
            # once.
            rows = pl.concat(found, rechunk=True) if found else pl.DataFrame(schema=self.schemas["endpoint"])
        held = [f for m in wanted if (f := self.statuses.get(m)) is not None]
        # The status frame's whole schema even when empty: the query below filters it by validity.
        status = pl.concat(held, rechunk=True) if held else pl.DataFrame(schema=self.schemas["status"])
        outputs = pl.col("output_modalities")
        # One query (filters, joins, sort): each eager step would hand the GIL to the requests in flight and wait to
        # take it back, and plan again.
        return (
            rows.lazy()
            .filter(in_force)
            .join(
                self.models.lazy()
                .filter(_in_force(at) & pl.col("model_id").is_in(wanted))
                .select("model_id", "input_modalities", "output_modalities"),
                on="model_id",
                how="left",
            )
            .join(status.lazy().filter(_in_force(at)).select("endpoint_key", "status"), on="endpoint_key", how="left")
            .filter(outputs.is_null() | (outputs.list.len() == 0) | outputs.list.contains("text"))
            .sort("model_id", "endpoint_key", multithreaded=False)
            .select(
                *CANDIDATE_COLUMNS,
                *(pl.lit(None).alias(name) for name in (*queries.POLICY_COLUMNS, *queries.TELEMETRY_COLUMNS)),
            )
            .collect()
        )

    def endpoints_changed(self, lo: datetime, hi: datetime) -> dict[str, str]:
        """The endpoint keys (-> model) whose endpoint versions start or end in ``(lo, hi]``: the endpoint part of
        ``queries.candidate_keys``, from memory (in the store its ``valid_to`` scan costs ~5 ms at 720 h × 10: the
        column every sweep updates)."""
        if hi <= lo:
            return {}
        low, high = _micros(lo), _micros(hi)
        start, end = pl.col("valid_from").dt.epoch("us"), pl.col("valid_to").dt.epoch("us")
        found = (
            self.intervals.lazy()
            .filter(((start > low) & (start <= high)) | ((end > low) & (end <= high)).fill_null(False))
            .select("endpoint_key", "model_id")
            .collect()
        )
        return dict(found.iter_rows())

    # -- the shapes ------------------------------------------------------------------------------------------

    def require_model(self, model_id: str) -> None:
        """``queries.require_model``, answered from memory."""
        if model_id in self.endpoints or model_id in self.known_models:
            return
        close = queries.close_model_ids(model_id, self.known_models)
        hint = f"; did you mean {', '.join(close)}?" if close else "; list models with `catalog models --search …`"
        raise NotFoundError(f"model {model_id!r} is not in the history{hint}")

    def _endpoints_of(self, model_id: str) -> pl.DataFrame:
        found = self.endpoints.get(model_id)
        return found if found is not None else pl.DataFrame(schema=self.schemas["endpoint"])

    def models_as_of(self, at: datetime, search: str | None = None, *, model: str | None = None) -> pl.DataFrame:
        """``queries.models_as_of`` (``model``: only that model's row)."""
        # One model (a model page): its own rows, and its endpoints counted from its own frame, not a filter of
        # every model's versions and every endpoint interval (~90 k at a year: most of the page's time).
        in_force = _in_force(at)
        frame = self.models.filter(in_force if model is None else in_force & (pl.col("model_id") == model))
        if search:
            needle = search.lower()
            frame = frame.filter(
                pl.col("model_id").str.to_lowercase().str.contains(needle, literal=True)
                | pl.col("name").str.to_lowercase().str.contains(needle, literal=True).fill_null(False)
            )
        # Every model: only the columns the count reads are filtered (not every interval's names and endpoint key).
        if model is None:
            live = self.intervals.select("model_id", "valid_from", "valid_to").filter(in_force)
        else:
            live = self._endpoints_of(model).filter(in_force)
        counts = live.group_by("model_id").agg(pl.len().cast(pl.Int64).alias("endpoints"))
        return (
            frame.join(counts, on="model_id", how="left")
            .with_columns(pl.col("endpoints").fill_null(0))
            .select(MODELS_AS_OF)
            .sort("model_id")
            .with_columns(queries.kind_column())
        )

    def models_served_by(self, provider: str, at: datetime) -> set[str]:
        """``queries.models_served_by``, answered from memory."""
        live = self.intervals.filter(_in_force(at))
        served = live.filter(
            (pl.col("provider_slug") == provider)
            | (pl.col("tag") == provider)
            | (pl.col("provider_name").str.to_lowercase() == provider.lower())
        )
        return set(served["model_id"].to_list())

    def models_listed(self, at: datetime, **narrowing: Any) -> pl.DataFrame:
        """``queries.models_listed``, answered from memory."""
        provider = narrowing.pop("provider", None)
        frame = self.models_as_of(at, narrowing.pop("search", None))
        served = self.models_served_by(provider, at) if provider else None
        return queries.narrowed_models(frame, served=served, **narrowing)

    def endpoints_as_of(self, model_id: str, at: datetime) -> pl.DataFrame:
        """``queries.endpoints_as_of``, answered from memory."""
        frame = self._endpoints_of(model_id).filter(_in_force(at))
        if frame.is_empty():
            self.require_model(model_id)
        statuses = self.statuses.get(model_id)
        status = (
            statuses.filter(_in_force(at)).select("endpoint_key", "status")
            if statuses is not None
            else pl.DataFrame(schema={"endpoint_key": pl.String, "status": self.schemas["status"]["status"]})
        )
        return (
            frame.join(status, on="endpoint_key", how="left", maintain_order="left")
            .sort(["price_prompt", "price_completion", "endpoint_key"], nulls_last=True)
            .select(ENDPOINTS_AS_OF)
        )

    def _seen(self, frame: pl.DataFrame) -> pl.DataFrame:
        """``frame`` with its open versions' ``last_snapshot`` / ``last_seen`` as they are now."""
        if frame.is_empty() or not frame["valid_to"].has_nulls():
            return frame
        return frame.update(self.seen, on="version_id", how="left")

    def endpoint_history(self, model_id: str, provider: str | None = None) -> pl.DataFrame:
        """``queries.endpoint_history``, answered from memory."""
        self.require_model(model_id)
        frame = self._endpoints_of(model_id)
        if provider:
            frame = frame.filter(
                (pl.col("tag") == provider)
                | (pl.col("provider_slug") == provider)
                | (pl.col("provider_name").str.to_lowercase() == provider.lower())
            )
        return self._seen(frame).select(ENDPOINT_HISTORY)

    def model_history(self, model_id: str) -> pl.DataFrame:
        """``queries.model_history``, answered from memory."""
        self.require_model(model_id)
        return self._seen(self.models.filter(pl.col("model_id") == model_id)).select(MODEL_HISTORY)

    def history_between(
        self, model_id: str, lo: datetime | None, hi: datetime | None
    ) -> tuple[pl.DataFrame, pl.DataFrame]:
        """``queries.history_between``, answered from memory."""
        endpoints = queries.overlapping(self.endpoint_history(model_id), lo, hi)
        return queries.overlapping(self.model_history(model_id), lo, hi), endpoints


def _typed(frame: pl.DataFrame, schema: pl.Schema) -> pl.DataFrame:
    """``frame`` with ``schema``'s types: a part of a refresh's reads has them but where a part is empty
    (its columns typed null) — a cast only then, not a pass over every column of every part."""
    if frame.schema == schema:
        return frame
    if frame.is_empty() and frame.columns == schema.names():
        return pl.DataFrame(schema=schema)  # no planned cast for no rows
    return frame.cast(schema)


def _merged(
    parts: dict[str, pl.DataFrame], fresh: pl.DataFrame, order: list[str], ends: pl.DataFrame | None
) -> tuple[dict[str, pl.DataFrame], pl.DataFrame | None, dict[str, str]]:
    """``parts`` (rows per model) with the versions in ``ends`` (``SweepDelta.closed``: rows held here, closed
    since) given their new ``valid_to`` and last sighting, and ``fresh``'s rows in place of those of the same
    version id, or added; every row of the models they touch (None: none touched); and the endpoint keys (-> model)
    of the versions opened or closed. Raises ``MirrorMismatch`` when a version of ``ends`` is not among the rows
    held."""
    keys = dict(zip(fresh["endpoint_key"].to_list(), fresh["model_id"].to_list(), strict=True))
    if fresh.is_empty() and ends is None:
        return parts, None, keys
    out = dict(parts)
    # All the changed models' rows at once: one copy, one sort and one split, however many models a sweep touched (a
    # sort per model cost ~1 ms each: 100 ms for a sweep over ten times today's endpoints). The look-ups and the
    # closes are NumPy on this thread, the order one planned step: each planned step hands the GIL to the requests in
    # flight and, under load, waits for the pool.
    touched = fresh["model_id"].to_list() + (ends["model_id"].to_list() if ends is not None else [])
    held = [found for model in dict.fromkeys(touched) if (found := parts.get(model)) is not None]
    rows = pl.concat([*held, fresh], rechunk=True) if held else fresh
    mine = rows.height - fresh.height  # the rows held here come first
    ids = rows["version_id"].to_numpy()
    keep = np.ones(rows.height, dtype=bool)
    if not fresh.is_empty():
        keep[:mine] = ~np.isin(ids[:mine], ids[mine:])  # a version read again replaces the row held
    if ends is not None:
        end_ids = ends["version_id"].to_numpy()
        at = np.flatnonzero(np.isin(ids[:mine], end_ids))
        if at.size != ends.height:
            raise MirrorMismatch("a version closed since is not among the mirror's rows")
        closing = rows[at]
        keys.update(zip(closing["endpoint_key"].to_list(), closing["model_id"].to_list(), strict=True))
        by_id = np.argsort(end_ids, kind="stable")
        ended = ends[by_id[np.searchsorted(end_ids[by_id], ids[at])]]  # each closing row's ``ends`` row
        for name in ("valid_to", "last_snapshot", "last_seen"):
            if name in rows.columns:
                # A copy: ``scatter`` writes in place, and the column may be a frame the old mirror still serves.
                column = rows[name].clone().scatter(at, ended[name].cast(rows.schema[name]))
                rows = _replaced(rows, column)
    kept = np.flatnonzero(keep)
    narrow = rows[["model_id", *order]]
    if kept.size != rows.height:
        narrow = narrow[kept]
    # One thread: a few thousand rows sort in less than the hand-off to the pool costs (half the CPU).
    ordered = narrow.select(pl.arg_sort_by(["model_id", *order], multithreaded=False)).to_series().to_numpy()
    rows = rows[kept[ordered]]
    out.update(_split(rows))
    return out, rows, keys


def _intervals_advanced(intervals: pl.DataFrame, fresh: pl.DataFrame, ends: pl.DataFrame | None) -> pl.DataFrame | None:
    """``intervals`` (in version id order) with the versions ``ends`` closes given their ``valid_to`` and ``fresh``'s
    appended: a search a closed version and one copy of the column, not a filter over every interval (~84,000 at
    720 h x 10, parallel, so waiting for the pool under load). None when that does not follow (a closed version
    not held, a version opened with an id before one held): the caller replaces the changed models' rows."""
    out = intervals
    if ends is not None and ends.height:
        ids = out["version_id"].to_numpy()
        closing = ends["version_id"].to_numpy()
        at = np.searchsorted(ids, closing)
        if not ids.size or (at >= ids.size).any() or (ids[np.minimum(at, ids.size - 1)] != closing).any():
            return None
        # A copy: ``scatter`` writes in place, and the old mirror still serves its column.
        column = out["valid_to"].clone().scatter(at, ends["valid_to"].cast(out.schema["valid_to"]))
        out = _replaced(out, column)
    if not fresh.is_empty():
        added = fresh[INTERVAL_COLUMNS]
        opened = added["version_id"].to_numpy()
        order = np.argsort(opened, kind="stable")
        if out.height and opened.min() <= int(out["version_id"][-1]):
            return None
        out = pl.concat([out, added[order] if (order != np.arange(order.size)).any() else added])
    return out


def _replaced(frame: pl.DataFrame, column: pl.Series) -> pl.DataFrame:
    """``frame`` with ``column`` in place of its namesake (a new frame: ``frame`` is left as it was)."""
    new = frame.clone()  # the columns are shared, not copied
    new.replace_column(new.get_column_index(column.name), column)
    return new


def _rotated(parts: dict[str, pl.DataFrame], sweep: int) -> dict[str, pl.DataFrame]:
    """``parts`` (endpoint rows by model) with one in ``OWN_ROWS_SWEEPS`` of its models (by name, a different
    share each sweep) copied into buffers of their own.

    A model's rows are a slice of the frame its last merge gathered (every model that sweep touched), and their text
    columns are views into the buffers of every frame they were gathered from, back to the load. A model no sweep
    touches again keeps those frames alive, so a process that stays up held more of them each sweep, far more than
    the rows it adds. With every model copied on its own once in ``OWN_ROWS_SWEEPS`` sweeps, no frame older than
    that is held; the copies cost a share of the rows each sweep, not a whole copy at once."""
    if not parts:
        return parts
    names = sorted(parts)
    step = -(-len(names) // OWN_ROWS_SWEEPS)
    start = (sweep % OWN_ROWS_SWEEPS) * step
    batch = names[start : start + step]
    if not batch:
        return parts
    frames = [parts[model] for model in batch]
    whole = _owned(frames)
    out, offset = dict(parts), 0  # a new dict: ``parts`` may be the previous mirror's own
    for model, frame in zip(batch, frames, strict=True):
        out[model] = whole.slice(offset, frame.height)
        offset += frame.height
    return out


def _has_views(dtype: PolarsDataType) -> bool:
    """Whether a column of ``dtype`` may point into another array's buffers (strings, bytes; in lists too)."""
    if dtype == pl.String or dtype == pl.Binary:
        return True
    if isinstance(dtype, pl.List | pl.Array):
        return _has_views(dtype.inner)
    if isinstance(dtype, pl.Struct):
        return any(_has_views(field.dtype) for field in dtype.fields)
    return False


def _owned(frames: list[pl.DataFrame]) -> pl.DataFrame:
    """``frames`` one after another, in buffers that no other frame shares (the same values and types).

    Copying two or more frames into one chunk writes the numbers anew (a single frame is gathered instead: it is one
    chunk already). Polars' text columns keep their views into the buffers they came from even then, so those go
    through Arrow's offset layout and back, which writes the text anew (a third of the time of joining each text
    to an empty one in a planned query, measured)."""
    rows = [frame for frame in frames if frame.height]
    if len(rows) > 1:
        copied = pl.concat(rows, how="vertical", rechunk=True)
    else:
        whole = rows[0] if rows else frames[0]
        copied = whole[np.arange(whole.height)]
    texty = [name for name, dtype in copied.schema.items() if _has_views(dtype)]
    if not texty:
        return copied
    text = copied.select(texty)
    rewritten = pl.from_arrow(text.to_arrow(compat_level=pl.CompatLevel.oldest()))
    assert isinstance(rewritten, pl.DataFrame)
    return copied.with_columns(rewritten.cast(text.schema).get_columns())


def _split(rows: pl.DataFrame) -> dict[str, pl.DataFrame]:
    """``rows`` (sorted by model) as one slice per model: runs of one model id, not a partition (half its cost)."""
    runs = rows["model_id"].rle().struct.unnest()  # one planned step: the fields taken apart do not plan again
    out, offset = {}, 0
    for model, length in zip(runs["value"].to_list(), runs["len"].to_list(), strict=True):
        out[str(model)] = rows.slice(offset, length)
        offset += length
    return out
