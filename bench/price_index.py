"""Benchmark: building the price index and the first cost call, by history length, ours against today's code.

The versions are made in memory from one recorded day (``--day``): every endpoint and model listed that day,
then 720 hourly sweeps in which ~1 % of the endpoints change their prompt price (flipping between the listed
value and twice it). Longer histories tile that month end to end (each copy's open versions close where the
next copy starts); ``×10`` lists every model ten times under other ids, so ten times the endpoints. Cases:
720 h, 2,880 h and 8,760 h (a year), and 720 h × 10.

Each case runs in its own child process, so memory figures do not mix: ours (this tree) and the peer
(``--peer-rev``, today's code in a temporary ``git worktree``, run with ``PYTHONPATH`` there). Measured in
each child, after the versions are made:

* build: ``PriceTable.from_sheets(versions)`` (the index, the variants and the rates; parsing excluded);
* memory: resident set growth over the build (``/proc/self/statm``), the table kept alive, and the peak
  (``ru_maxrss``) over the resident set before the build;
* first cost call: ``cost_usage`` over 20,000 usage rows spread over the history (80 % naming a provider,
  20 % the model only), on the fresh table; and a second call on the same table;
* ours only: the index's arrays in bytes (``PriceTable.index_size``) and ``extend`` with one sweep's changes;
* read from the store, in a child of its own: the same versions as the rows ``queries.price_versions`` returns
  (the caller holding only that frame, as ``Catalog.table`` / ``catalog cost`` / the API's first load do), the
  table built by ``PriceTable.from_history``, then the first and second cost call on it.

Targets (issue 15): build ≤ 2 s and ≤ 150 MB at a year; a cost call's first use ≤ 200 ms.

    python bench/price_index.py [--peer-rev 95d6f93] [--cases 720,2880,8760,720x10] [--no-peer]
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BLOCK_HOURS = 720
USAGE_ROWS = 20_000
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def day_catalog(day: str) -> tuple[list[Any], dict[str, list[Any]]]:
    """The models and endpoints one recorded day listed, parsed as a sweep parses them."""
    from catalog.bundle import Bundle
    from catalog.openrouter.payload import ALL_KINDS, RawPayload, assemble, endpoints_path

    state = Bundle().load(day)
    raw = [RawPayload("models", 200, json.dumps({"data": state.models}).encode())]
    raw.append(RawPayload("providers", 200, json.dumps({"data": state.providers}).encode()))
    raw += [RawPayload(endpoints_path(m), 200, json.dumps({"data": b}).encode()) for m, b in state.endpoints.items()]
    sweep = assemble(raw, taken_at=state.info.taken_at, source="bench", kinds=ALL_KINDS)
    return list(sweep.models or []), sweep.endpoints


def make_versions(hours: int, copies: int, day: str, change_share: float = 0.01) -> list[Any]:
    """The synthetic history described in the module docstring, as ``SheetVersion`` objects."""
    from catalog.cost.sheets import SheetVersion

    models, endpoints = day_catalog(day)
    # Per entity: (kind, model, tag, slug, name, key, canonical slug) and its two sheets (listed, changed).
    entities: list[tuple[tuple[Any, ...], Any, Any]] = []
    for copy in range(copies):
        suffix = "" if copy == 0 else f"-s{copy}"
        for m in models:
            entities.append((("model", m.model_id + suffix, None, None, None, None, None), m.pricing, None))
        for model_id, records in endpoints.items():
            seen: Counter[str] = Counter()
            for rec in records:
                seen[rec.tag] += 1
                key = f"{model_id}{suffix}@{rec.tag}" + (f"#{seen[rec.tag]}" if seen[rec.tag] > 1 else "")
                slug = rec.facts.get("provider_slug") or rec.tag.split("/")[0]
                name = rec.facts.get("provider_name")
                prompt = rec.pricing.prices["prompt"]
                changed = None
                if prompt is not None and prompt > 0:
                    doubled = prompt * 2
                    changed = dataclasses.replace(
                        rec.pricing,
                        prices=dict(rec.pricing.prices, prompt=doubled),
                        texts=dict(rec.pricing.texts, prompt=format(doubled, "f")),
                    )
                spec = ("endpoint", model_id + suffix, rec.tag, slug, name, key, None)
                entities.append((spec, rec.pricing, changed))
    changeable = [i for i, (_, _, changed) in enumerate(entities) if changed is not None]
    per_hour = max(1, round(sum(1 for e in entities if e[0][0] == "endpoint") * change_share))
    out: list[Any] = []
    current: dict[int, tuple[datetime, bool]] = {}  # entity -> (start of its open version, changed?)

    def close(entity: int, at: datetime) -> None:
        start, flipped = current.pop(entity)
        (kind, model, tag, slug, name, key, canonical), listed, changed = entities[entity]
        sheet = changed if flipped else listed
        out.append(SheetVersion(kind, model, tag, slug, name, start, at, sheet, canonical_slug=canonical, key=key))

    for hour in range(hours):
        at = T0 + timedelta(hours=hour)
        if hour % BLOCK_HOURS == 0:
            for entity in list(current):
                close(entity, at)
            current = {e: (at, False) for e in range(len(entities))}
            rng = random.Random(7)  # each copy of the month changes the same endpoints at the same hours
            continue
        for entity in rng.sample(changeable, per_hour):
            flipped = current[entity][1]
            close(entity, at)
            current[entity] = (at, not flipped)
    for entity, (start, flipped) in current.items():
        (kind, model, tag, slug, name, key, canonical), listed, changed = entities[entity]
        sheet = changed if flipped else listed
        out.append(SheetVersion(kind, model, tag, slug, name, start, None, sheet, canonical_slug=canonical, key=key))
    return out


def usage(versions: list[Any], rows: int) -> Any:
    import polars as pl

    rng = random.Random(11)
    named = [(v.model_id, v.provider_slug) for v in versions if v.kind == "endpoint"]
    named = sorted(set(named))
    start = min(v.valid_from for v in versions)
    span = int((max(v.valid_from for v in versions) - start).total_seconds()) + 3600
    picks = [rng.choice(named) for _ in range(rows)]
    return pl.DataFrame(
        {
            "model": [m for m, _ in picks],
            "provider": [p if i % 5 else None for i, (_, p) in enumerate(picks)],
            "timestamp": [start + timedelta(seconds=rng.randrange(span)) for _ in range(rows)],
            "prompt_tokens": [rng.randrange(100, 50_000) for _ in range(rows)],
            "completion_tokens": [rng.randrange(10, 4_000) for _ in range(rows)],
        },
        schema_overrides={"model": pl.Categorical, "provider": pl.Categorical, "timestamp": pl.Datetime("us", "UTC")},
    )


def store_frame(versions: list[Any]) -> Any:
    """``versions`` as the rows ``catalog.store.queries.price_versions`` returns (the listing as stored)."""
    import polars as pl

    from catalog.store.ingest import _pricing_text

    texts: dict[int, str] = {}
    for v in versions:
        if id(v.sheet) not in texts:
            texts[id(v.sheet)] = _pricing_text(v.sheet)
    names = ("kind", "model_id", "tag", "provider_slug", "provider_name", "valid_from", "valid_to")
    columns: dict[str, list[Any]] = {name: [getattr(v, name) for v in versions] for name in names}
    columns["pricing_text"] = [texts[id(v.sheet)] for v in versions]
    columns["canonical_slug"] = [v.canonical_slug for v in versions]
    columns["key"] = [v.key for v in versions]
    columns["provider_model_id"] = [v.provider_model_id for v in versions]
    return pl.DataFrame(columns, schema_overrides={"provider_model_id": pl.String, "canonical_slug": pl.String})


def store_child(case: str, day: str) -> dict[str, Any]:
    """Build from the store's rows and cost twice, in this process (nothing but the frame held)."""
    from catalog.cost.engine import cost_usage
    from catalog.cost.sheets import PriceTable

    hours, _, copies = case.partition("x")
    versions = make_versions(int(hours), int(copies or 1), day)
    rows = usage(versions, USAGE_ROWS)
    frame = store_frame(versions)
    warm_up(versions, lambda chosen: PriceTable.from_history(store_frame(chosen)))  # off the clock
    del versions
    gc.collect()
    started, cpu = time.perf_counter(), time.process_time()
    table = PriceTable.from_history(frame)
    build = (time.perf_counter() - started, time.process_time() - cpu)
    calls = []
    for _ in range(2):
        started, cpu = time.perf_counter(), time.process_time()
        done = cost_usage(rows, table)
        calls.append(((time.perf_counter() - started) * 1000, (time.process_time() - cpu) * 1000))
    return {
        "build_s": build[0],
        "build_cpu_s": build[1],
        "first_ms": calls[0][0],
        "first_cpu_ms": calls[0][1],
        "second_ms": calls[1][0],
        "second_cpu_ms": calls[1][1],
        "total": str(done["cost_total"].sum()),
    }


def warm_up(versions: list[Any], build: Any) -> None:
    """Load the cost engine's code paths off the clock: a table ``build`` makes of a few versions — the first
    fifty and every version of a model with a discounted endpoint listing — and usage rows priced on each kind.
    Older trees (a peer) compute the undiscounted base of discounted rows in a compiled kernel of its own
    (``_bases``): without such a row the timed first call would load it (a cache read of tens of milliseconds),
    which is not what it measures. Today's per-row pass (``_rows``) computes it itself."""
    import polars as pl

    from catalog.cost.engine import cost_usage

    sample = next((v for v in versions if v.kind == "endpoint" and v.sheet.discount != 0), None)
    chosen = list(versions[:50])
    if sample is not None:
        chosen += [v for v in versions[50:] if v.model_id == sample.model_id]
    rows = usage(chosen, 10)
    if sample is not None:
        extra = pl.DataFrame(
            {
                "model": [sample.model_id],
                "provider": [sample.provider_slug],
                "timestamp": [sample.valid_from],
                "prompt_tokens": [1_000],
                "completion_tokens": [100],
            },
            schema=rows.schema,
        )
        rows = pl.concat([rows, extra])
    cost_usage(rows, build(chosen))
    from catalog.cost import breakdown

    kernel = getattr(breakdown, "_bases", None) or getattr(breakdown, "_rows", None)  # the one holding the base
    if sample is not None and kernel is not None and not kernel.signatures:
        raise SystemExit("the warm-up did not load the kernel that divides the discounted base")


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def child(case: str, day: str) -> dict[str, Any]:
    """One case in this process: build, memory, first and second cost call (and ours: index size, extend)."""
    from catalog.cost.engine import cost_usage
    from catalog.cost.sheets import PriceTable

    hours, _, copies = case.partition("x")
    versions = make_versions(int(hours), int(copies or 1), day)
    rows = usage(versions, USAGE_ROWS)
    warm_up(versions, PriceTable.from_sheets)  # code paths loaded, off the clock
    gc.collect()
    before = rss_mb()
    started = time.perf_counter()
    table = PriceTable.from_sheets(versions)
    build_s = time.perf_counter() - started
    memory = rss_mb() - before
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - before  # KB on Linux
    started = time.perf_counter()
    first = cost_usage(rows, table)
    first_ms = (time.perf_counter() - started) * 1000
    started = time.perf_counter()
    cost_usage(rows, table)
    second_ms = (time.perf_counter() - started) * 1000
    out: dict[str, Any] = {
        "versions": len(versions),
        "entities": len(table.entities),
        "periods": table.n_periods,
        "build_s": build_s,
        "rss_mb": memory,
        "peak_mb": max(memory, peak),
        "first_ms": first_ms,
        "second_ms": second_ms,
        "priced": int((first["status"] == "ok").sum()),
        "total": str(first["cost_total"].sum()),
    }
    if hasattr(table, "index_size"):
        out["index_bytes"] = table.index_size()["bytes"]
        # One more sweep: ~1 % of the endpoints change an hour after the history ends.
        last = max(v.valid_from for v in versions) + timedelta(hours=1)
        open_now = [v for v in versions if v.valid_to is None and v.kind == "endpoint"]
        moved = random.Random(5).sample(open_now, max(1, len(open_now) // 100))
        opened = [dataclasses.replace(v, valid_from=last) for v in moved]
        started = time.perf_counter()
        table.extend(opened, {v.entity_key: last for v in moved})
        out["extend_ms"] = (time.perf_counter() - started) * 1000
        out["extend_changes"] = len(moved)
    return out


def run_child(case: str, day: str, tree: Path | None, *, store: bool = False) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(tree or ROOT)}
    done = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--child", case, "--day", day, *(["--store"] if store else [])],
        env=env,
        cwd=tree or ROOT,
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise SystemExit(f"the {case} child ({tree or 'ours'}) failed:\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", default="720,2880,8760,720x10")
    parser.add_argument("--day", default="2026-08-05")
    parser.add_argument("--peer-rev", default="95d6f93", help="today's code: the revision measured beside ours")
    parser.add_argument("--no-peer", action="store_true", help="measure ours only")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--store", action="store_true", help=argparse.SUPPRESS)  # the child reads the store's rows
    args = parser.parse_args()
    if args.child:
        print(json.dumps(store_child(args.child, args.day) if args.store else child(args.child, args.day)))
        return
    cases = args.cases.split(",")
    ours = {case: run_child(case, args.day, None) for case in cases}
    ours_store = {case: run_child(case, args.day, None, store=True) for case in cases}
    peer: dict[str, dict[str, Any]] = {}
    peer_store: dict[str, dict[str, Any]] = {}
    if not args.no_peer:
        with tempfile.TemporaryDirectory(prefix="bench-index-") as tmp:
            tree = Path(tmp) / "peer"
            add = ["git", "worktree", "add", "--detach", str(tree), args.peer_rev]
            subprocess.run(add, cwd=ROOT, check=True, capture_output=True)
            try:
                peer = {case: run_child(case, args.day, tree) for case in cases}
                peer_store = {case: run_child(case, args.day, tree, store=True) for case in cases}
            finally:
                subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=ROOT, capture_output=True)
    print(f"price index, {USAGE_ROWS:,} usage rows a cost call; {os.cpu_count()} cores; peer: {args.peer_rev}")
    header = f"{'history':>9} {'versions':>8} {'code':>5} {'build s':>8} {'RSS MB':>7} {'peak MB':>7} {'index MB':>8} "
    print(header + f"{'1st cost ms':>11} {'2nd ms':>7} {'extend ms':>9}")
    for case in cases:
        for who, result in (("ours", ours[case]), ("today", peer.get(case))):
            if result is None:
                continue
            index = f"{result['index_bytes'] / 2**20:8.1f}" if "index_bytes" in result else f"{'-':>8}"
            extend = f"{result['extend_ms']:9.1f}" if "extend_ms" in result else f"{'-':>9}"
            print(
                f"{case.replace('x', ' h ×') + (' h' if 'x' not in case else ''):>9} {result['versions']:>8,} "
                f"{who:>5} {result['build_s']:8.2f} {result['rss_mb']:7.0f} {result['peak_mb']:7.0f} {index} "
                f"{result['first_ms']:11.0f} {result['second_ms']:7.0f} {extend}"
            )
        if case in peer and peer[case]["total"] != ours[case]["total"]:
            print(f"  !! {case}: the totals differ: ours {ours[case]['total']}, today {peer[case]['total']}")
    print("read from the store (PriceTable.from_history, the caller holding only the rows), wall / CPU")
    print(f"{'history':>9} {'code':>5} {'build s':>13} {'1st cost ms':>13} {'2nd ms':>13}")
    for case in cases:
        for who, result in (("ours", ours_store[case]), ("today", peer_store.get(case))):
            if result is None:
                continue
            print(
                f"{case.replace('x', ' h ×') + (' h' if 'x' not in case else ''):>9} {who:>5} "
                f"{result['build_s']:6.2f} /{result['build_cpu_s']:5.2f} "
                f"{result['first_ms']:6.0f} /{result['first_cpu_ms']:5.0f} "
                f"{result['second_ms']:6.0f} /{result['second_cpu_ms']:5.0f}"
            )
        if case in peer_store and peer_store[case]["total"] != ours_store[case]["total"]:
            print(
                f"  !! {case}: the totals read from the store differ: ours {ours_store[case]['total']}, today "
                f"{peer_store[case]['total']}"
            )
        if ours_store[case]["total"] != ours[case]["total"]:
            print(
                f"  !! {case}: ours from the store {ours_store[case]['total']}, from the sheets {ours[case]['total']}"
            )
    year = ours.get("8760")
    if year:
        print("targets at a year (ours)")
        for label, value, unit, target in (
            ("index build", year["build_s"], "s", 2),
            ("index memory (peak)", year["peak_mb"], "MB", 150),
            ("first cost call", year["first_ms"], "ms", 200),
        ):
            print(f"  {label} {value:.2f} {unit} (≤ {target} {unit}): {'met' if value <= target else 'MISSED'}")


if __name__ == "__main__":
    main()
