"""Benchmark: synthetic hourly history built from a real recorded day, up to a year, optionally ×N endpoints.

``--hours`` hourly sweeps of the 2026-08-05 catalog (~1,000 endpoints, 338 models; ``--scale 10``: ten times
that, synthetic models copied from the real ones with their endpoints); each hour ~1 % of the endpoints change
a price (up or down 10 %). Measures, in one run:

* ingest time per snapshot into the versioned history (target ≤ 100 ms), raw-payload archive off — it is a
  separate store with its own retention, measured by ``catalog up`` / ``sync``;
* the DuckDB file size against the peer: an append-every-snapshot table of the same rows (target ≤ 1/20);
* the three hot as-of shapes, each at random past hours (targets ≤ 5 ms): the models in force at an instant
  (``queries.models_as_of``: ``/v1/models``), one model's endpoints at an instant (``endpoints_as_of``:
  ``/v1/models/{id}``), one model's history (``history_between``: ``/v1/models/{id}/history``);
* the API's refresh after one more sweep (``ApiState.refresh``, target ≤ 200 ms), while a probe thread sends
  requests through the ASGI app in process — rankings on the ready index and uncached model pages at random
  past hours — and reports its worst latency during the refresh (target ≤ 50 ms).

The as-of and refresh figures are measured for today's code too (``--peer-rev``, a temporary ``git worktree``,
in a child process with ``PYTHONPATH`` there, on the same files). A year of ingest takes a long time: ``--reuse
DIR`` keeps the generated files (and the figures of their ingest) in DIR and measures them again without
re-ingesting when they match the options, or carries shorter ones on to ``--hours``.

    python bench/history.py [--hours 720] [--scale 1] [--change-share 0.01] [--reuse DIR] [--peer-rev 95d6f93]
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from catalog.bundle import Bundle
from catalog.openrouter.payload import ALL_KINDS, RawPayload, Sweep, assemble, endpoints_path
from catalog.openrouter.records import EndpointRecord
from catalog.prices import content_hash
from catalog.store import ingest as store_ingest
from catalog.store import queries
from catalog.store.db import connect
from catalog.store.ingest import _endpoint_row, record_snapshot

ROOT = Path(__file__).resolve().parents[1]
MODEL = "deepseek/deepseek-v3.2"
TARGETS = {"ingest": 100.0, "as_of": 5.0, "refresh": 200.0, "probe": 50.0}
SHAPES = ("models in force at an instant", "one model's endpoints at an instant", "one model's history")


# --- the synthetic market ----------------------------------------------------------------------------------------


def base_sweep(day: str, scale: int) -> Sweep:
    """The recorded day, with ``scale - 1`` synthetic copies of every model (``…-x2``, ``…-x3``) and its
    endpoints."""
    state = Bundle().load(day)
    models = list(state.models)
    endpoints = dict(state.endpoints)
    for k in range(2, scale + 1):
        for model in state.models:
            clone = copy.deepcopy(model)
            clone["id"] = f"{model['id']}-x{k}"
            if clone.get("canonical_slug"):
                clone["canonical_slug"] = f"{clone['canonical_slug']}-x{k}"
            models.append(clone)
            listing = state.endpoints.get(model["id"])
            if listing is not None:
                listing = copy.deepcopy(listing)
                listing["id"] = clone["id"]
                for endpoint in listing.get("endpoints") or []:
                    endpoint["model_id"] = clone["id"]
                endpoints[clone["id"]] = listing
    raw = [RawPayload("models", 200, json.dumps({"data": models}).encode())]
    raw.append(RawPayload("providers", 200, json.dumps({"data": state.providers}).encode()))
    raw += [RawPayload(endpoints_path(m), 200, json.dumps({"data": b}).encode()) for m, b in endpoints.items()]
    return assemble(raw, taken_at=state.info.taken_at, source="bench", kinds=ALL_KINDS)


def with_prompt_price(rec: EndpointRecord, price: Decimal) -> EndpointRecord:
    prices = dict(rec.pricing.prices, prompt=price)
    texts = dict(rec.pricing.texts, prompt=format(price, "f"))
    pricing = dataclasses.replace(rec.pricing, prices=prices, texts=texts)
    body = {k: v for k, v in rec.facts.items() if v is not None and v != ()}
    body["pricing"] = pricing.canonical()
    return dataclasses.replace(rec, pricing=pricing, content_hash=content_hash(body))


class Market:
    """The endpoints' current records; ``sweep(hour)`` moves ``per_hour`` prices and returns the sweep."""

    def __init__(self, seed: Sweep, change_share: float, rng: random.Random) -> None:
        self.seed = seed
        self.rng = rng
        self.endpoints = {m: list(recs) for m, recs in seed.endpoints.items()}
        self.flat = [(m, i) for m, recs in seed.endpoints.items() for i in range(len(recs))]
        self.per_hour = max(1, round(len(self.flat) * change_share))

    def move(self) -> None:
        for model_id, index in self.rng.sample(self.flat, self.per_hour):
            rec = self.endpoints[model_id][index]
            bump = Decimal("1.1") if self.rng.random() < 0.5 else Decimal("0.9")
            price = ((rec.pricing.prices["prompt"] or Decimal("0.000001")) * bump).quantize(Decimal("1e-12"))
            self.endpoints[model_id][index] = with_prompt_price(rec, price)

    def sweep(self, hour: int) -> Sweep:
        return dataclasses.replace(
            self.seed,
            taken_at=self.seed.taken_at + timedelta(hours=hour),
            endpoints={m: list(r) for m, r in self.endpoints.items()},
            raw=[],
        )

    def prices(self) -> dict[str, str]:
        """The prompt prices that differ from the seed's, to pick the market up again (``restore``)."""
        out = {}
        for model_id, recs in self.endpoints.items():
            for index, rec in enumerate(recs):
                if rec is not self.seed.endpoints[model_id][index]:
                    out[f"{model_id}|{index}"] = str(rec.pricing.prices["prompt"])
        return out

    def restore(self, prices: dict[str, str]) -> None:
        for key, price in prices.items():
            model_id, index = key.rsplit("|", 1)
            rec = self.seed.endpoints[model_id][int(index)]
            self.endpoints[model_id][int(index)] = with_prompt_price(rec, Decimal(price))


# --- ingest -------------------------------------------------------------------------------------------------------


def generate(args: argparse.Namespace, work: Path, seed: Sweep, earlier: dict[str, Any] | None) -> dict[str, Any]:
    """Ingest ``args.hours`` sweeps into ``work/history.duckdb`` and the peer's append-everything table into
    ``work/append.duckdb``; the figures and the market's final prices go to ``work/bench.json``.

    ``earlier``: the facts of shorter files generated with the same options — they are carried on from their
    last hour (the market replayed to it: the same sweeps a run from scratch makes) instead of started again."""
    market = Market(seed, args.change_share, random.Random(7))
    ingest_ms: list[float] = []
    peer_ms: list[float] = []
    start = 0
    if earlier is not None:
        start = earlier["hours"]
        ingest_ms, peer_ms = list(earlier["ingest_ms"]), list(earlier["peer_ms"])
        for _hour in range(1, start):
            market.move()
        print(f"carrying the {start} hours generated earlier on to {args.hours}")
    else:
        for name in ("history.duckdb", "history.duckdb.wal", "append.duckdb", "append.duckdb.wal"):
            (work / name).unlink(missing_ok=True)
    con = connect(work / "history.duckdb")
    peer = duckdb.connect(str(work / "append.duckdb"))
    started_all = time.perf_counter()
    for hour in range(start, args.hours):
        if hour:
            market.move()
        sweep = market.sweep(hour)
        started = time.perf_counter()
        record_snapshot(con, sweep, archive=False)
        ingest_ms.append((time.perf_counter() - started) * 1000)
        # The peer stores every endpoint row of every snapshot, with the same columns.
        started = time.perf_counter()
        rows = [
            {**_endpoint_row(rec, f"{m}@{rec.tag}#{i}"), "snapshot_hour": hour}
            for m, recs in market.endpoints.items()
            for i, rec in enumerate(recs)
        ]
        frame = pl.DataFrame(rows, infer_schema_length=None)
        peer.register("incoming", frame)
        if hour == 0:
            peer.execute("CREATE TABLE endpoint_snapshots AS SELECT * FROM incoming")
        else:
            peer.execute("INSERT INTO endpoint_snapshots SELECT * FROM incoming")
        peer.unregister("incoming")
        peer_ms.append((time.perf_counter() - started) * 1000)
        if hour and hour % 500 == 0:
            print(f"  … {hour} snapshots in {time.perf_counter() - started_all:.0f} s", flush=True)
    con.execute("CHECKPOINT")
    peer.execute("CHECKPOINT")
    peer.close()
    con.close()
    facts = {**_options(args), "ingest_ms": ingest_ms, "peer_ms": peer_ms, "prices": market.prices()}
    (work / "bench.json").write_text(json.dumps(facts))
    return facts


def _options(args: argparse.Namespace) -> dict[str, Any]:
    return {"hours": args.hours, "scale": args.scale, "change_share": args.change_share, "day": args.day}


def sizes(work: Path) -> tuple[int, int, int]:
    """The history file, the peer's, and a compacting copy of the history (its live size)."""
    history_db, compact_db = work / "history.duckdb", work / "compact.duckdb"
    compact_db.unlink(missing_ok=True)
    # Updates (last_seen, telemetry) leave free blocks that DuckDB reuses but never returns; a compacting copy
    # shows the live size, which is what a periodic compaction would keep the file at.
    tool = duckdb.connect()
    tool.execute(f"ATTACH '{history_db}' AS src (READ_ONLY)")
    tool.execute(f"ATTACH '{compact_db}' AS dst (BLOCK_SIZE 16384)")
    tool.execute("COPY FROM DATABASE src TO dst")
    tool.close()
    size = (history_db.stat().st_size, (work / "append.duckdb").stat().st_size, compact_db.stat().st_size)
    compact_db.unlink()
    return size


# --- as-of shapes and refresh: measured here and, in a child process, for today's code -------------------------


def timed_ms(fn: Callable[[int], Any], repeat: int) -> list[float]:
    fn(-1)  # warm
    samples = []
    for i in range(repeat):
        started = time.perf_counter()
        fn(i)
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def as_of_shapes(db: Path, hours: int, first: datetime, repeat: int = 50) -> dict[str, Any]:
    """Each shape as the API answers it, at random past hours: from the state's in-memory mirror where the
    code has one (``catalog.store.mirror``), else from the store's queries (today's code)."""
    con = duckdb.connect(str(db), read_only=True)
    rng = random.Random(11)
    instants = [first + timedelta(hours=rng.randrange(hours), minutes=30) for _ in range(repeat + 1)]
    source: Any = None
    try:
        try:
            from catalog.store.mirror import HistoryMirror
        except ImportError:
            source, load_ms = None, None
        else:
            started = time.perf_counter()
            version = con.execute("SELECT max(snapshot_id) FROM snapshots").fetchall()[0][0]
            source = HistoryMirror.load(con, version)
            load_ms = (time.perf_counter() - started) * 1000
        if source is None:
            shapes = (
                lambda i: queries.models_as_of(con, instants[i]),
                lambda i: queries.endpoints_as_of(con, MODEL, instants[i]),
                lambda i: queries.history_between(con, MODEL, None, None),
            )
        else:
            shapes = (
                lambda i: source.models_as_of(instants[i]),
                lambda i: source.endpoints_as_of(MODEL, instants[i]),
                lambda i: source.history_between(MODEL, None, None),
            )
        figures: dict[str, Any] = {name: timed_ms(shape, repeat) for name, shape in zip(SHAPES, shapes, strict=True)}
        figures["source"] = "the state's in-memory mirror" if source is not None else "the store's queries"
        figures["load_ms"] = load_ms
        return figures
    finally:
        con.close()


def refresh_under_probe(work: Path, facts: dict[str, Any], extra: int) -> dict[str, Any]:
    """On a copy of the history: store ``extra`` more sweeps, timing each (the ingest per snapshot at the
    history's length, for files generated earlier, by this code); open the API state, store one more sweep, and
    refresh while a probe thread sends requests through the ASGI app (in process)."""
    from fastapi.testclient import TestClient

    from catalog.api import ApiState, create_app

    try:  # the interpreter as the code's servers run it (today's code: Python's defaults)
        from catalog.api import serving_interpreter
    except ImportError:
        pass
    else:
        serving_interpreter()
    db = work / "refresh.duckdb"
    shutil.copyfile(work / "history.duckdb", db)
    seed = base_sweep(facts["day"], facts["scale"])
    market = Market(seed, facts["change_share"], random.Random(facts["hours"]))
    market.restore(facts["prices"])
    market.move()
    con = connect(db)
    try:
        hours = facts["hours"]
        extra_ms, extra_cpu_ms, commit_ms = [], [], []
        committed = store_ingest.commit

        def timed_commit(con: duckdb.DuckDBPyConnection) -> None:  # the split: the sweep's commit (a checkpoint in it)
            started = time.perf_counter()
            try:
                committed(con)
            finally:
                commit_ms.append((time.perf_counter() - started) * 1000)

        store_ingest.commit = timed_commit
        try:
            for hour in range(hours, hours + extra):
                started, cpu = time.perf_counter(), time.process_time()
                record_snapshot(con, market.sweep(hour), archive=False)
                extra_ms.append((time.perf_counter() - started) * 1000)
                extra_cpu_ms.append((time.process_time() - cpu) * 1000)
                market.move()
        finally:
            store_ingest.commit = committed
        started = time.perf_counter()
        state = ApiState(con.cursor(), db)
        first_build = (time.perf_counter() - started) * 1000
        rng = random.Random(3)
        latencies: list[tuple[float, float]] = []  # (start, ms)
        stop = threading.Event()
        with TestClient(create_app(state)) as client:

            def probe() -> None:
                n = 0
                while not stop.is_set():
                    n += 1
                    if n % 2:
                        url = f"/v1/cheapest?model={MODEL}&input={20000 + n}&output=1000"
                    else:
                        at = seed.taken_at + timedelta(hours=rng.randrange(hours), minutes=n % 60)
                        url = f"/v1/models/{MODEL}?as_of={at.isoformat().replace('+00:00', 'Z')}"
                    started = time.perf_counter()
                    response = client.get(url)
                    latencies.append((started, (time.perf_counter() - started) * 1000))
                    assert response.status_code == 200, (url, response.text[:300])
                    time.sleep(0.002)

            thread = threading.Thread(target=probe, daemon=True)
            thread.start()
            time.sleep(1.0)  # the probe's own figures, before anything changes
            baseline = [ms for _, ms in latencies]
            started = time.perf_counter()
            summary = record_snapshot(con, market.sweep(hours + extra), archive=False)
            ingest = (time.perf_counter() - started) * 1000
            began = time.perf_counter()
            changed = state.refresh()
            ended = time.perf_counter()
            time.sleep(0.2)
            stop.set()
            thread.join(30)
        assert changed, "the refresh saw no new snapshot"
        # A request overlaps the refresh when it started before its end and finished after its start.
        during = [ms for start, ms in latencies if start < ended and start + ms / 1000 > began]
        return {
            "first_build_ms": first_build,
            "extra_ingest_ms": extra_ms,
            "extra_ingest_cpu_ms": extra_cpu_ms,
            "extra_commit_ms": commit_ms,
            "sweep_ingest_ms": ingest,
            "sweep_changes": (summary.opened, summary.closed),
            "refresh_ms": (ended - began) * 1000,
            # Today's code keeps no breakdown: it always reloads everything.
            "refresh_parts": getattr(state, "last_refresh", None) or {"kind": "full"},
            "probe_during": during,
            "probe_baseline": baseline,
        }
    finally:
        con.close()
        db.unlink(missing_ok=True)
        Path(f"{db}.wal").unlink(missing_ok=True)


def measure(work: Path, extra: int) -> dict[str, Any]:
    facts = json.loads((work / "bench.json").read_text())
    seed_time = Bundle().get(facts["day"]).taken_at
    return {
        "as_of": as_of_shapes(work / "history.duckdb", facts["hours"], seed_time),
        **refresh_under_probe(work, facts, extra),
    }


def measure_today(rev: str, work: Path, extra: int) -> dict[str, Any]:
    """``measure`` on today's code: this script in a child process importing the ``rev`` worktree."""
    tree = Path(tempfile.mkdtemp(prefix="bench-history-peer-")) / "tree"
    subprocess.run(["git", "worktree", "add", "--detach", str(tree), rev], cwd=ROOT, check=True, capture_output=True)
    try:
        done = subprocess.run(
            [sys.executable, str(Path(__file__).resolve()), "--measure-only", str(work), "--extra-sweeps", str(extra)],
            cwd=tree,
            env={**os.environ, "PYTHONPATH": str(tree)},
            capture_output=True,
            text=True,
        )
        if done.returncode:
            raise SystemExit(f"today's code ({rev}) failed:\n{done.stderr[-3000:]}")
        figures: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
        return figures
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=ROOT, capture_output=True)
        shutil.rmtree(tree.parent, ignore_errors=True)  # the temporary folder the worktree was in


# --- report ---------------------------------------------------------------------------------------------------------


def _median(samples: list[float]) -> str:
    return f"{statistics.median(samples):.2f} ms" if samples else "–"


def _parts(parts: dict[str, Any]) -> str:
    """What the refresh did and how long each part took (ours reports it; today's code has none)."""
    times = ", ".join(
        f"{k.removesuffix('_ms')} {v:.0f} ms" for k, v in parts.items() if k.endswith("_ms") and k != "ms"
    )
    return parts.get("kind", "?") + (f": {times}" if times else "")


def report(
    facts: dict[str, Any], size: tuple[int, int, int], ours: dict[str, Any], today: dict[str, Any] | None, rev: str
) -> None:
    ingest = facts["ingest_ms"]
    if len(ingest) > 1:
        q = statistics.quantiles(ingest, n=20)
        print(
            f"ingest per snapshot: median {statistics.median(ingest):.1f} ms, p95 {q[18]:.1f} ms, max "
            f"{max(ingest):.1f} ms (target ≤ {TARGETS['ingest']:.0f} ms); peer append: median "
            f"{statistics.median(facts['peer_ms']):.1f} ms"
        )
    else:
        print("ingest per snapshot: not measured (the files were generated without timing)")
    history, peer, compact = size
    print(
        f"file size: history {history / 1e6:.1f} MB vs append-every-snapshot {peer / 1e6:.1f} MB "
        f"= 1/{peer / history:.0f} as written; compacted copy {compact / 1e6:.1f} MB = 1/{peer / compact:.0f}"
    )
    label = f"today ({rev})"
    for name, figures in (("ours", ours), (label, today)):
        extra = figures["extra_ingest_ms"] if figures is not None else []
        if extra:
            print(
                f"ingest per snapshot at {facts['hours']} h, {len(extra)} more sweeps on a copy, {name}: median "
                f"{statistics.median(extra):.1f} ms, max {max(extra):.1f} ms (target ≤ {TARGETS['ingest']:.0f} ms)"
            )
            cpu, commits = figures.get("extra_ingest_cpu_ms"), figures.get("extra_commit_ms")
            if cpu and commits:  # CPU of the process (DuckDB's threads too); the commit includes any checkpoint
                print(
                    f"  CPU per snapshot: median {statistics.median(cpu):.1f} ms, min {min(cpu):.1f} ms; of the wall "
                    f"time the commit: median {statistics.median(commits):.1f} ms, max {max(commits):.1f} ms"
                )
    print(f"as-of shapes, median of 50 at random past hours (target ≤ {TARGETS['as_of']:.0f} ms):")
    for name, figures in (("ours", ours), (label, today)):
        if figures is not None:
            loaded = figures["as_of"]["load_ms"]
            note = f", loaded whole in {loaded:.0f} ms" if loaded is not None else ""
            print(f"  {name} answers from {figures['as_of']['source']}{note}")
    for shape in SHAPES:
        theirs = f"   {label}: {_median(today['as_of'][shape])}" if today else ""
        print(f"  {shape:<38} ours: {_median(ours['as_of'][shape])}{theirs}")
    for name, figures in (("ours", ours), (label, today)):
        if figures is None:
            continue
        during = figures["probe_during"]
        print(
            f"refresh after one sweep, {name}: {figures['refresh_ms']:.0f} ms "
            f"({_parts(figures['refresh_parts'])}; target ≤ {TARGETS['refresh']:.0f} ms); "
            f"probe during it: {len(during)} requests, worst "
            f"{max(during, default=0):.1f} ms (target ≤ {TARGETS['probe']:.0f} ms), median {_median(during)}; "
            f"probe before: worst {max(figures['probe_baseline'], default=0):.1f} ms, median "
            f"{_median(figures['probe_baseline'])}; state's first build {figures['first_build_ms']:.0f} ms; the sweep "
            f"opened / closed {figures['sweep_changes'][0]} / {figures['sweep_changes'][1]} versions"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hours", type=int, default=720)
    parser.add_argument("--scale", type=int, default=1, help="endpoints ×N: synthetic models copied from the real")
    parser.add_argument("--change-share", type=float, default=0.01)
    parser.add_argument("--day", default="2026-08-05")
    parser.add_argument("--reuse", type=Path, help="keep the generated files here; measure them again if they match")
    parser.add_argument("--peer-rev", default="95d6f93", help="today's code, measured beside ours ('' to skip)")
    parser.add_argument("--ingest-only", action="store_true", help="generate (or check) the files and stop")
    parser.add_argument(
        "--extra-sweeps",
        type=int,
        default=24,
        help="sweeps stored on a copy of the history before the refresh, timed by each code (ingest at its length)",
    )
    parser.add_argument("--measure-only", type=Path, help=argparse.SUPPRESS)  # the child process's entry
    args = parser.parse_args()
    if args.measure_only is not None:
        print(json.dumps(measure(args.measure_only, args.extra_sweeps)))
        return
    work = args.reuse or Path(tempfile.mkdtemp(prefix="bench-history-"))
    work.mkdir(parents=True, exist_ok=True)
    seed = base_sweep(args.day, args.scale)
    endpoints = sum(len(r) for r in seed.endpoints.values())
    print(
        f"synthetic history: {args.hours} hourly snapshots of {len(seed.models or [])} models / {endpoints} endpoints, "
        f"{max(1, round(endpoints * args.change_share))} endpoint price changes per hour; files in {work}"
    )
    saved = work / "bench.json"
    facts = json.loads(saved.read_text()) if saved.exists() else None
    same = facts is not None and all(facts.get(k) == v for k, v in _options(args).items() if k != "hours")
    if facts is not None and same and facts["hours"] == args.hours:
        print(f"reusing the history generated earlier in {work}")
    else:
        shorter = facts if same and facts is not None and facts["hours"] < args.hours else None
        facts = generate(args, work, seed, shorter)
    if args.ingest_only:
        return
    with duckdb.connect(str(work / "history.duckdb"), read_only=True) as con:
        versions = con.execute("SELECT count(*) FROM endpoint_versions").fetchall()[0][0]
    print(f"endpoint versions stored: {versions:,} (vs {endpoints * args.hours:,} rows appended by the peer)")
    size = sizes(work)
    ours = measure(work, args.extra_sweeps)
    today = measure_today(args.peer_rev, work, args.extra_sweeps) if args.peer_rev else None
    report(facts, size, ours, today, args.peer_rev)


if __name__ == "__main__":
    main()
