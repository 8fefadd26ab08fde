"""The hot as-of shapes from memory (issue 15, item 3): ``HistoryMirror`` answers exactly what the store's
queries answer — the same columns, types, rows and order, and the same error for an unknown model — on the
replayed bundled history, for models across the catalog at instants across it (on, between, before and after
snapshots)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from catalog.errors import NotFoundError
from catalog.store import queries, snapshots
from catalog.store.db import connect
from catalog.store.mirror import HistoryMirror

MODEL = "deepseek/deepseek-v3.2"


@pytest.fixture(scope="module")
def con(replayed_template: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    con = connect(replayed_template, read_only=True)
    try:
        yield con
    finally:
        con.close()


@pytest.fixture(scope="module")
def mirror(con: duckdb.DuckDBPyConnection) -> HistoryMirror:
    version = snapshots.data_version(con)
    assert version is not None
    return HistoryMirror.load(con, version[0])


@pytest.fixture(scope="module")
def instants(con: duckdb.DuckDBPyConnection) -> list[datetime]:
    times = snapshots.snapshot_log(con).times
    picked = [*times[:: max(1, len(times) // 5)], times[-1]]
    return [
        times[0] - timedelta(days=1),
        *picked,
        *(t + timedelta(hours=7) for t in picked),
        times[-1] + timedelta(days=3),
    ]


def test_models_in_force_are_the_stores(
    con: duckdb.DuckDBPyConnection, mirror: HistoryMirror, instants: list[datetime]
) -> None:
    for at in instants:
        assert_frame_equal(mirror.models_as_of(at), queries.models_as_of(con, at))
        for search in ("deepseek", "QWEN", "%", "zz-none"):
            assert_frame_equal(mirror.models_as_of(at, search), queries.models_as_of(con, at, search))
        one = queries.models_as_of(con, at).filter(pl.col("model_id") == MODEL)
        assert_frame_equal(mirror.models_as_of(at, model=MODEL), one)
    assert mirror.models_as_of(instants[-2]).height > 100  # the comparison above compared something


@pytest.mark.parametrize(
    "narrowing",
    [{}, {"provider": "deepinfra"}, {"provider": "DeepInfra"}, {"modality": "image", "min_context": 100_000},
     {"parameter": "tools", "search": "qwen"}, {"provider": "no-such-provider"}],
)  # fmt: skip
def test_the_models_list_is_the_stores(
    con: duckdb.DuckDBPyConnection, mirror: HistoryMirror, instants: list[datetime], narrowing: dict[str, object]
) -> None:
    for at in instants[1::3]:
        assert_frame_equal(mirror.models_listed(at, **narrowing), queries.models_listed(con, at, **narrowing))  # type: ignore[arg-type]


def test_each_models_endpoints_and_history_are_the_stores(
    con: duckdb.DuckDBPyConnection, mirror: HistoryMirror, instants: list[datetime]
) -> None:
    models = queries.known_model_ids(con)
    assert MODEL in models and len(models) > 100
    compared = 0
    for model in [*models[::8], MODEL]:  # every eighth: the store's side is the slow one
        for at in instants[1:-1:2]:
            got = mirror.endpoints_as_of(model, at)
            assert_frame_equal(got, queries.endpoints_as_of(con, model, at))
            compared += got.height
        assert_frame_equal(mirror.endpoint_history(model), queries.endpoint_history(con, model))
        assert_frame_equal(mirror.model_history(model), queries.model_history(con, model))
    assert compared > 100
    for provider in ("baidu", "DeepInfra", "novita/fp8"):
        assert_frame_equal(mirror.endpoint_history(MODEL, provider), queries.endpoint_history(con, MODEL, provider))
    lo, hi = instants[2], instants[4]
    for got, want in zip(
        mirror.history_between(MODEL, lo, hi), queries.history_between(con, MODEL, lo, hi), strict=True
    ):
        assert_frame_equal(got, want)


def test_an_unknown_model_gets_the_stores_error(con: duckdb.DuckDBPyConnection, mirror: HistoryMirror) -> None:
    at = snapshots.snapshot_log(con).times[-1]
    for shape in (
        lambda source: source.endpoints_as_of("deepseek/deepseek-v3.3", at),
        lambda source: source.endpoint_history("deepseek/deepseek-v3.3"),
        lambda source: source.model_history("deepseek/deepseek-v3.3"),
    ):
        with pytest.raises(NotFoundError) as ours:
            shape(mirror)
        with pytest.raises(NotFoundError) as store:
            shape(_Store(con))
        assert str(ours.value) == str(store.value) and "did you mean" in str(ours.value)


class _Store:
    """The store's functions with the mirror's signatures."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.con = con

    def endpoints_as_of(self, model: str, at: datetime) -> object:
        return queries.endpoints_as_of(self.con, model, at)

    def endpoint_history(self, model: str) -> object:
        return queries.endpoint_history(self.con, model)

    def model_history(self, model: str) -> object:
        return queries.model_history(self.con, model)
