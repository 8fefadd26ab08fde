"""Benchmark: a synthetic month of hourly snapshots, built from a real recorded day.

720 hourly sweeps of the 2026-08-05 catalog (~1,000 endpoints, 338 models); each hour ~1 % of the endpoints
change a price (alternating between two real-looking values). Measures, in one run:

* ingest time per snapshot into the versioned history (target ≤ 100 ms), raw-payload archive off — it is a
  separate store with its own retention, measured by ``catalog up`` / ``sync``;
* the DuckDB file size against the peer: an append-every-snapshot table of the same rows (target ≤ 1/20);
* an as-of query (one model's endpoints at a random past hour) and one model's full history (targets ≤ 5 ms).

    python bench/history.py [--hours 720] [--change-share 0.01]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import random
import statistics
import tempfile
import time
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import duckdb
import polars as pl

from catalog.bundle import Bundle
from catalog.openrouter.payload import ALL_KINDS, RawPayload, Sweep, assemble, endpoints_path
from catalog.openrouter.records import EndpointRecord
from catalog.prices import content_hash
from catalog.store import queries
from catalog.store.db import connect
from catalog.store.ingest import _endpoint_row, record_snapshot


def base_sweep(day: str) -> Sweep:
    state = Bundle().load(day)
    raw = [RawPayload("models", 200, json.dumps({"data": state.models}).encode())]
    raw.append(RawPayload("providers", 200, json.dumps({"data": state.providers}).encode()))
    raw += [RawPayload(endpoints_path(m), 200, json.dumps({"data": b}).encode()) for m, b in state.endpoints.items()]
    return assemble(raw, taken_at=state.info.taken_at, source="bench", kinds=ALL_KINDS)


def with_prompt_price(rec: EndpointRecord, price: Decimal) -> EndpointRecord:
    prices = dict(rec.pricing.prices, prompt=price)
    texts = dict(rec.pricing.texts, prompt=format(price, "f"))
    pricing = dataclasses.replace(rec.pricing, prices=prices, texts=texts)
    body = {k: v for k, v in rec.facts.items() if v is not None and v != ()}
    body["pricing"] = pricing.canonical()
    return dataclasses.replace(rec, pricing=pricing, content_hash=content_hash(body))


def timed_ms(fn, repeat: int = 50) -> float:  # type: ignore[no-untyped-def]
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hours", type=int, default=720)
    parser.add_argument("--change-share", type=float, default=0.01)
    parser.add_argument("--day", default="2026-08-05")
    args = parser.parse_args()
    rng = random.Random(7)
    seed = base_sweep(args.day)
    flat = [(m, i) for m, recs in seed.endpoints.items() for i in range(len(recs))]
    per_hour = max(1, round(len(flat) * args.change_share))
    print(
        f"synthetic month: {args.hours} hourly snapshots of {len(seed.models or [])} models / {len(flat)} "
        f"endpoints, {per_hour} endpoint price changes per hour"
    )

    work = Path(tempfile.mkdtemp(prefix="bench-history-"))
    history_db, append_db = work / "history.duckdb", work / "append.duckdb"
    con = connect(history_db)
    peer = duckdb.connect(str(append_db))
    endpoints = {m: list(recs) for m, recs in seed.endpoints.items()}
    ingest_ms: list[float] = []
    peer_ms: list[float] = []
    for hour in range(args.hours):
        if hour:
            for model_id, index in rng.sample(flat, per_hour):
                rec = endpoints[model_id][index]
                bump = Decimal("1.1") if rng.random() < 0.5 else Decimal("0.9")
                price = ((rec.pricing.prices["prompt"] or Decimal("0.000001")) * bump).quantize(Decimal("1e-12"))
                endpoints[model_id][index] = with_prompt_price(rec, price)
        sweep = dataclasses.replace(
            seed,
            taken_at=seed.taken_at + timedelta(hours=hour),
            endpoints={m: list(r) for m, r in endpoints.items()},
            raw=[],
        )
        started = time.perf_counter()
        record_snapshot(con, sweep, archive=False)
        ingest_ms.append((time.perf_counter() - started) * 1000)
        # The peer stores every endpoint row of every snapshot, with the same columns.
        started = time.perf_counter()
        rows = [
            {**_endpoint_row(rec, f"{m}@{rec.tag}#{i}"), "snapshot_hour": hour}
            for m, recs in endpoints.items()
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
    con.execute("CHECKPOINT")
    peer.execute("CHECKPOINT")
    peer.close()

    versions = con.execute("SELECT count(*) FROM endpoint_versions").fetchall()[0][0]
    model = "deepseek/deepseek-v3.2"
    first = seed.taken_at

    def as_of() -> None:
        queries.endpoints_as_of(con, model, first + timedelta(hours=rng.randrange(args.hours), minutes=30))

    def history() -> None:
        queries.endpoint_history(con, model)

    as_of_ms, history_ms = timed_ms(as_of), timed_ms(history)
    con.close()
    size, peer_size = history_db.stat().st_size, append_db.stat().st_size
    # Updates (last_seen, telemetry) leave free blocks that DuckDB reuses but never returns; a compacting copy
    # shows the live size, which is what a periodic compaction would keep the file at.
    compact_db = work / "compact.duckdb"
    tool = duckdb.connect()
    tool.execute(f"ATTACH '{history_db}' AS src (READ_ONLY)")
    tool.execute(f"ATTACH '{compact_db}' AS dst (BLOCK_SIZE 16384)")
    tool.execute("COPY FROM DATABASE src TO dst")
    tool.close()
    compact_size = compact_db.stat().st_size
    q = statistics.quantiles(ingest_ms, n=20)
    print(
        f"ingest per snapshot: median {statistics.median(ingest_ms):.1f} ms, p95 {q[18]:.1f} ms, "
        f"max {max(ingest_ms):.1f} ms (target ≤ 100 ms); peer append: median {statistics.median(peer_ms):.1f} ms"
    )
    print(f"endpoint versions stored: {versions} (vs {len(flat) * args.hours} rows appended by the peer)")
    print(
        f"file size: history {size / 1e6:.1f} MB vs append-every-snapshot {peer_size / 1e6:.1f} MB "
        f"= 1/{peer_size / size:.0f} as written; compacted copy {compact_size / 1e6:.1f} MB "
        f"= 1/{peer_size / compact_size:.0f} (target ≤ 1/20)"
    )
    print(f"as-of query (one model's endpoints at a past hour): median {as_of_ms:.2f} ms (target ≤ 5 ms)")
    print(f"one model's full history: median {history_ms:.2f} ms (target ≤ 5 ms)")
    print(f"files in {work}")


if __name__ == "__main__":
    main()
