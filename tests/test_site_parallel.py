"""The site build's helper process (issue 18 item 9, issue 15 item 4): a forked copy makes part of the model,
provider and month pages while the main process makes the rest. The site it gives is byte for byte the one a
single process gives, pages keep the same fingerprints (so the next build reuses them whichever process made
them), every page is counted once, and a helper that fails leaves its pages to the main process.

The 20 recorded days, each build into a folder of its own (its own page cache: from nothing), with one build
time.
"""

from __future__ import annotations

import json
import os
import pickle
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from helpers import built_once
from jinja2.compiler import CodeGenerator

from catalog.library import Catalog
from catalog.website import build as site_build
from catalog.website.build import BuildReport, build_site
from catalog.website.output import MANIFEST, Output

BUILT_AT = datetime(2026, 8, 6, 9, 30, tzinfo=UTC)
NOT_BYTE_STABLE = "downloads/catalog.duckdb"  # DuckDB lays out a new file its own way (test_site_incremental)


def files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def same_site(one: Path, other: Path) -> None:
    mine, theirs = files(one), files(other)
    assert sorted(mine) == sorted(theirs)
    differ = [name for name in mine if mine[name] != theirs[name]]
    assert set(differ) <= {NOT_BYTE_STABLE, MANIFEST}, differ
    manifests = [json.loads(mine[MANIFEST]), json.loads(theirs[MANIFEST])]
    for manifest in manifests:
        manifest["files"].pop(NOT_BYTE_STABLE)
    assert manifests[0] == manifests[1]  # every file's hash and .gz size, every page's fingerprint


@pytest.fixture(scope="module")
def builds(replayed_template: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Two builds of the 20 days, made once per run for every xdist worker; the tests only read them."""

    def make(folder: Path) -> None:
        db = folder / "history.duckdb"
        shutil.copyfile(replayed_template, db)
        counts: list[tuple[int, int]] = []
        with Catalog.open(db) as cat:
            single = build_site(cat, folder / "single", built_at=BUILT_AT, workers=1)
            split = build_site(
                cat, folder / "split", built_at=BUILT_AT, workers=2, progress=lambda d, t: counts.append((d, t))
            )
        (folder / "builds.pickle").write_bytes(pickle.dumps({"single": single, "split": split, "counts": counts}))

    folder = built_once(tmp_path_factory, "test_site_parallel-builds", make)
    found: dict[str, Any] = pickle.loads((folder / "builds.pickle").read_bytes())
    return {"folder": folder, "db": folder / "history.duckdb", **found}


def test_two_processes_give_the_bytes_and_fingerprints_of_one(builds: dict[str, Any]) -> None:
    single, split = builds["single"], builds["split"]
    assert isinstance(single, BuildReport) and isinstance(split, BuildReport)
    assert split.rendered == single.rendered > 400 and split.reused == single.reused == 0
    same_site(builds["folder"] / "single", builds["folder"] / "split")
    # Nothing of the helper's is left in the site (its result file is taken in and removed).
    assert not [p for p in (builds["folder"] / "split").iterdir() if p.name.startswith(".helper-")]


def test_every_page_is_counted_once_in_order_with_a_helper(builds: dict[str, Any]) -> None:
    split = builds["split"]
    assert [done for done, _ in builds["counts"]] == list(range(1, split.pages + 1))
    assert {total for _, total in builds["counts"]} == {split.pages}


def test_the_helper_shares_the_pages(builds: dict[str, Any]) -> None:
    # What the split gives the helper: part of the queue, of every kind, and never nothing at this size.
    queued = [site_build._Queued(f"p{i}", lambda: b"", w) for i, w in enumerate([4, 1, 3, 1] * 40)]
    mine, theirs = site_build._shares(queued, workers=2)
    assert mine and theirs and sorted(q.target for q in mine + theirs) == sorted(q.target for q in queued)
    share = sum(q.weight for q in theirs) / sum(q.weight for q in queued)
    assert abs(share - site_build.HELPER_SHARE) < 0.05
    assert site_build._shares(queued, workers=1) == (queued, [])
    assert site_build._shares(queued[: site_build.MIN_SHARED - 1], workers=2)[1] == []


def test_a_helper_that_fails_leaves_its_pages_to_the_main_process(
    builds: dict[str, Any], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    main = os.getpid()
    write = Output.write

    def failing(self: Output, rel: str, data: bytes) -> Any:
        if os.getpid() != main:
            raise OSError("the helper's disk is full")
        return write(self, rel, data)

    monkeypatch.setattr(Output, "write", failing)
    counts: list[int] = []
    db = tmp_path / "history.duckdb"  # the shared builds are read by other workers: a private copy to write
    shutil.copyfile(builds["db"], db)
    with Catalog.open(db) as cat:
        report = build_site(
            cat, tmp_path / "fallback", built_at=BUILT_AT, workers=2, progress=lambda d, t: counts.append(d)
        )
    assert counts == list(range(1, report.pages + 1))
    same_site(builds["folder"] / "single", tmp_path / "fallback")


def test_the_compiled_templates_give_the_pages_jinjas_own_code_generator_gives(
    builds: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The site's code generator (plain-string escaping, a dict row's field read in place) against Jinja's own,
    over every page of the 20 days: the same bytes."""
    monkeypatch.setattr(site_build._Environment, "code_generator_class", CodeGenerator)
    monkeypatch.setattr(site_build, "_ENVIRONMENTS", {})  # templates compiled again, by Jinja's generator
    db = tmp_path / "history.duckdb"  # the shared builds are read by other workers: a private copy to open
    shutil.copyfile(builds["db"], db)
    with Catalog.open(db) as cat:
        stock = build_site(cat, tmp_path / "stock", built_at=BUILT_AT, workers=1)
    assert stock.rendered == builds["single"].rendered > 900  # every page rendered, none taken from a cache
    same_site(builds["folder"] / "single", stock.out)


def test_pages_written_by_the_packer_process_are_those_a_thread_writes(
    builds: dict[str, Any], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A full build writes its pages (hash, ``.gz``) in a packer process (catalog/website/packer.py); without one
    (an incremental build, or where none starts) a thread writes them: the same files, hashes and manifest."""
    started: list[Any] = []
    real = site_build._packer
    monkeypatch.setattr(site_build, "_packer", lambda output: started.append(real(output)) or None)
    db = tmp_path / "history.duckdb"  # the shared builds are read by other workers: a private copy to open
    shutil.copyfile(builds["db"], db)
    with Catalog.open(db) as cat:
        threaded = build_site(cat, tmp_path / "threaded", built_at=BUILT_AT, workers=1)
    assert len(started) == 1 and started[0] is not None  # the packer would have started: a full build
    started[0].stop()
    assert threaded.rendered == builds["single"].rendered
    same_site(builds["folder"] / "single", threaded.out)
