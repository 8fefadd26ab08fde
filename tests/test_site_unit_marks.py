"""A unit model's change rows are marked on copies (``mark_unit_rows``): the site carries change rows from build to
build and knows what it made of one by the row itself, so a model that becomes a unit model (or stops being one)
with nothing else changing must still show its changes as a build from nothing does."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from catalog.library import Catalog
from catalog.store import queries
from catalog.website import build
from catalog.website import facts as site_facts
from catalog.website.build import ListDigests, build_site
from catalog.website.output import MANIFEST
from catalog.website.unitmodels import mark_unit_rows

pytestmark = pytest.mark.slow

BUILT_AT = datetime(2026, 8, 6, 9, 30, tzinfo=UTC)
# DuckDB lays out a new file its own way: the downloads (and the page and manifest that state their sizes and
# hashes) are left out; what is compared is every page.
NOT_BYTE_STABLE = ("downloads", MANIFEST)


def _files(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.relative_to(root).as_posix().startswith(NOT_BYTE_STABLE)
    }


def test_marking_copies_the_rows_of_unit_models_and_leaves_the_rows_given_as_they_are() -> None:
    at = datetime(2026, 8, 1, tzinfo=UTC)
    row = {"at": at, "tag": "p/fp8", "field": None, "old": None, "new": Decimal("0"), "pct_change": None}
    rows = [{**row, "model_id": "a", "kind": "added"}, {**row, "model_id": "b", "kind": "added"}]
    rows.append({**row, "model_id": "a", "kind": "removed", "old": Decimal("0"), "new": None})
    given = [dict(r) for r in rows]
    marked = mark_unit_rows(rows, frozenset({"a"}))
    assert rows == given  # nothing marked in place
    assert marked == [{**rows[0], "in_units": True}, rows[1], {**rows[2], "in_units": True}]
    assert marked[1] is rows[1]  # a row of another model is itself
    assert mark_unit_rows(rows, frozenset({"c"})) is rows  # none to mark: the list itself
    # What a page makes of a row, kept by the row (``_PerChange``): the marked copy's own text, not the row's.
    before = build.change_row_parts(rows[0])
    assert build.change_row_parts(marked[0]) == build._change_row_parts(marked[0]) != before
    assert ListDigests().of(marked) != ListDigests().of(rows)


def _flipped(model_id: str, flip: list[bool]) -> Any:
    """``queries.models_as_of`` with ``model_id`` listing only image output while ``flip[0]``: priced in its
    own units (a unit model), nothing else of the history changed."""
    real = queries.models_as_of

    def models_as_of(con: Any, at: Any, *args: Any, **kwargs: Any) -> pl.DataFrame:
        frame = real(con, at, *args, **kwargs)
        if not flip[0]:
            return frame
        outputs = frame.get_column("output_modalities").to_list()
        ids = frame.get_column("model_id").to_list()
        replaced = [["image"] if m == model_id else o for m, o in zip(ids, outputs, strict=True)]
        return frame.with_columns(pl.Series("output_modalities", replaced, dtype=frame.schema["output_modalities"]))

    return models_as_of


def test_a_model_that_becomes_a_unit_model_and_back_shows_its_carried_changes_as_a_fresh_build(
    replayed_template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db, other = tmp_path / "history.duckdb", tmp_path / "fresh.duckdb"
    shutil.copyfile(replayed_template, db)
    shutil.copyfile(replayed_template, other)  # builds from nothing: carries are kept per history file
    with Catalog.open(db) as cat, Catalog.open(other) as fresh_cat:
        newest = cat.con.execute("SELECT max(taken_at) FROM snapshots WHERE status <> 'failed'").fetchall()[0][0]
        newest = newest.astimezone(UTC)
        site_facts.forget(cat)
        found = site_facts.gather(cat, newest)
        # A text model with endpoint rows added or removed in its changes (their texts differ for a unit model).
        counts: dict[str, int] = {}
        for c in found.changes:
            if c["kind"] in ("added", "removed"):
                counts[c["model_id"]] = counts.get(c["model_id"], 0) + 1
        listed = {m["model_id"] for m in found.models}
        model_id = max((m for m in counts if m in listed), key=lambda m: (counts[m], m))
        flip = [False]
        monkeypatch.setattr(queries, "models_as_of", _flipped(model_id, flip))
        out = tmp_path / "incremental"
        shown: list[int] = []
        # The same history each time: only the model's kind changes, so every change row is carried.
        for n, unit in enumerate((False, True, False)):
            flip[0] = unit
            build_site(cat, out, at=newest, built_at=BUILT_AT)
            site_facts.forget(fresh_cat)  # from nothing: facts gathered again (new rows), a folder of its own
            build_site(fresh_cat, tmp_path / f"fresh-{n}", at=newest, built_at=BUILT_AT)
            incremental, fresh = _files(out), _files(tmp_path / f"fresh-{n}")
            assert incremental.keys() == fresh.keys()
            differing = [name for name in fresh if incremental[name] != fresh[name]]
            assert differing == [], (unit, model_id, differing[:5])
            shown.append(sum(v.count(b"priced per unit") for k, v in fresh.items() if k.startswith("changes/")))
        assert shown[1] > shown[0] == shown[2]  # the model's rows added and removed, priced per unit meanwhile
