"""Benchmark: the static site build (``catalog site build``, ``build_site``) over the 20 recorded days, and its size.

Prepares the history like the other benchmarks: the 20 bundled full days replayed into a temp DuckDB file
(``catalog.replay.replay``, ~30-60 s), or ``--db PATH`` (an existing history, opened read-only and left as it is).
Then one warm-up build and ``--runs`` timed builds, each as ``catalog site build`` does it: open the history
(``Catalog.open``, so the price table is built inside the clock) and ``build_site`` into a new folder. Reported: the
median and min build time, and what the build wrote: total bytes, pages, the largest and the median model page,
``index.html`` and the downloads (CSV, Parquet, JSON and the DuckDB file).

The peer, in the same run: what a user does without the batch — ``Catalog.cheapest(model, preset)`` once per model
listed at the as-of instant, for each of the three presets (the price table built before the clock starts, in the
peer's favour). Beside it, the same rankings as the site gets them: one ``Catalog.cheapest(None, preset)`` per preset;
the site prices every model for the three workloads plus every price version's history this way, one batch each.
The per-model loop is checked against the batch (same cheapest endpoint and cost for every model).

Targets: a build ≤ 5 s; every model page ≤ 100 kB (1 kB = 1,000 bytes).

    python bench/site.py [--db PATH] [--runs 5] [--peer-runs 1]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

from catalog.bundle import Bundle
from catalog.cost.profile import RankedEndpoint
from catalog.library import Catalog
from catalog.replay import replay
from catalog.store.db import connect
from catalog.store.queries import models_as_of
from catalog.website.build import BuildReport, build_site, rfc3339
from catalog.website.presets import PRESETS

TARGET_BUILD_S = 5.0
TARGET_MODEL_PAGE = 100_000


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def kb(size: float) -> str:
    return f"{size / 1e3:,.1f} kB" if size < 1e6 else f"{size / 1e6:,.1f} MB"


def prepare(db: Path | None, scratch: Path) -> Path:
    if db is not None:
        if not db.exists():
            raise SystemExit(f"--db {db}: no such file")
        return db
    db = scratch / "site.duckdb"
    bundle, started = Bundle(), time.perf_counter()
    con = connect(db)
    try:
        replay(con, bundle, bundle.snapshots("full"))
    finally:
        con.close()
    days = len(bundle.snapshots("full"))
    print(f"history prepared: {days} recorded days replayed in {time.perf_counter() - started:.1f} s")
    return db


def build_once(db: Path, out: Path) -> tuple[float, BuildReport]:
    started = time.perf_counter()
    with Catalog.open(db) as cat:
        report = build_site(cat, out)
    return time.perf_counter() - started, report


def output_sizes(root: Path) -> dict[str, Any]:
    sizes = {p.relative_to(root).as_posix(): p.stat().st_size for p in root.rglob("*") if p.is_file()}
    pages = {k: v for k, v in sizes.items() if k.startswith("models/") and not k.endswith(".changes.html")}
    downloads = [v for k, v in sizes.items() if k.startswith("downloads/")]
    return {
        "files": len(sizes),
        "bytes": sum(sizes.values()),
        "index": sizes.get("index.html", 0),
        "model_pages": len(pages),
        "largest": max(pages.items(), key=lambda kv: kv[1]) if pages else ("-", 0),
        "median": statistics.median(pages.values()) if pages else 0,
        "downloads": (len(downloads), sum(downloads)),
    }


def timed(fn: Callable[[], Any], runs: int) -> tuple[list[float], Any]:
    seconds, result = [], None
    for _ in range(runs):
        started = time.perf_counter()
        result = fn()
        seconds.append(time.perf_counter() - started)
    return seconds, result


def cheapest_each(ranked: list[RankedEndpoint]) -> dict[str, tuple[str, Decimal]]:
    """model -> (endpoint, cost) of its cheapest endpoint, from ranked rows (cost order, so the first per model)."""
    first: dict[str, tuple[str, Decimal]] = {}
    for row in ranked:
        first.setdefault(row.model_id, (row.endpoint_key, row.cost_per_request))
    return first


def peer(db: Path, report: BuildReport, runs: int) -> dict[str, Any]:
    """Per-model ``cheapest`` for every listed model and preset, against one batch call per preset."""
    with Catalog.open(db) as cat:
        models = models_as_of(cat.con, report.at)["model_id"].to_list()
        cat.table  # built before either clock starts: both sides share it  # noqa: B018

        def per_model() -> dict[str, dict[str, tuple[str, Decimal]]]:
            found: dict[str, dict[str, tuple[str, Decimal]]] = {}
            for preset in PRESETS:
                found[preset.name] = {}
                for model in models:
                    found[preset.name].update(
                        cheapest_each(cat.cheapest(model, preset.profile, as_of=report.at).ranked)
                    )
            return found

        def batch() -> dict[str, dict[str, tuple[str, Decimal]]]:
            return {p.name: cheapest_each(cat.cheapest(None, p.profile, as_of=report.at).ranked) for p in PRESETS}

        loop_s, loop = timed(per_model, runs)
        batch_s, batched = timed(batch, max(3, runs))
    pairs = [(loop[p.name].get(m), batched[p.name].get(m)) for p in PRESETS for m in models]
    return {
        "models": len(models),
        "loop_s": loop_s,
        "batch_s": batch_s,
        "agree": sum(a == b for a, b in pairs),
        "compared": len(pairs),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", type=Path, help="an existing history (read-only) instead of a fresh replay")
    parser.add_argument("--runs", type=int, default=5, help="timed builds after one warm-up")
    parser.add_argument("--peer-runs", type=int, default=1, help="runs of the per-model loop (~25 s each)")
    args = parser.parse_args()
    if min(args.runs, args.peer_runs) < 1:
        parser.error("--runs and --peer-runs must be 1 or more")

    with tempfile.TemporaryDirectory(prefix="bench-site-") as scratch:
        tmp = Path(scratch)
        db = prepare(args.db, tmp)
        warm_s, report = build_once(db, tmp / "warm-up")
        shutil.rmtree(tmp / "warm-up")
        print(f"warm-up build: {warm_s:.2f} s, {report.pages} pages as of {rfc3339(report.at)}")
        build_s = []
        for run in range(args.runs):
            out = tmp / f"site-{run}"
            seconds, report = build_once(db, out)
            build_s.append(seconds)
            print(f"  build {run + 1}: {seconds:.2f} s")
            if run < args.runs - 1:
                shutil.rmtree(out)
        sizes = output_sizes(tmp / f"site-{args.runs - 1}")
        print(f"peer: Catalog.cheapest(model, preset) for {len(PRESETS)} presets per model ...")
        theirs = peer(db, report, args.peer_runs)

    median, fastest = statistics.median(build_s), min(build_s)
    calls = theirs["models"] * len(PRESETS)
    loop, batch = statistics.median(theirs["loop_s"]), statistics.median(theirs["batch_s"])
    largest_name, largest = sizes["largest"]
    files, downloads = sizes["downloads"]
    print()
    print(f"site build: {report.models} models, {report.providers} providers, as of {rfc3339(report.at)}")
    print(f"  {'':<34}{'median':>10}{'min':>10}   target")
    build_verdict = f"≤ {TARGET_BUILD_S:g} s: {verdict(median <= TARGET_BUILD_S)}"
    print(f"  {'build (open + build_site)':<34}{median:>8.2f} s{fastest:>8.2f} s   {build_verdict}")
    print(f"  ({args.runs} runs after one warm-up of {warm_s:.2f} s)")
    print("output")
    print(f"  {'pages':<34}{report.pages:>10,}")
    print(f"  {'total':<34}{kb(sizes['bytes']):>10}   in {sizes['files']:,} files")
    print(f"  {'index.html':<34}{kb(sizes['index']):>10}")
    print(f"  {'model pages':<34}{sizes['model_pages']:>10,}")
    print(f"  {'  largest':<34}{kb(largest):>10}   {largest_name}; ≤ 100 kB: {verdict(largest <= TARGET_MODEL_PAGE)}")
    print(f"  {'  median':<34}{kb(sizes['median']):>10}")
    print(f"  {'downloads/':<34}{kb(downloads):>10}   in {files} files")
    print(f"rankings for {len(PRESETS)} presets × {theirs['models']} models ({calls:,} rankings)")
    print(f"  {'peer: cheapest(model, preset) loop':<34}{loop:>8.2f} s   {loop / calls * 1000:.1f} ms per call")
    print(f"  {'batch: cheapest(None, preset) × 3':<34}{batch:>8.2f} s   {loop / batch:,.0f}× faster than the loop")
    whole = f"rankings + histories + pages + downloads; the loop alone is {loop / median:.1f}× the whole build"
    print(f"  {'whole site build (above)':<34}{median:>8.2f} s   {whole}")
    agree = f"{theirs['agree']:,} of {theirs['compared']:,}"
    print(f"  loop and batch give the same cheapest endpoint and cost (or none) for {agree} (model, preset) pairs")


if __name__ == "__main__":
    main()
