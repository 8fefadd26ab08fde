"""Benchmark: a service that stays up for months — thousands of sweeps stored and refreshed in one process.

``catalog up`` stores a sweep an hour and refreshes the API state in the same process, for as long as it runs: a
year is 8,760 refreshes. Whatever each refresh adds and never lets go of (a chunk per column, an entry per cache,
a table kept alive by the next) costs nothing in a benchmark that refreshes once and grows without bound in
production. This one starts from the first hour of the synthetic market of ``bench/history.py`` (the recorded
2026-08-05 catalog, ~1 % of the endpoints changing a price each hour) and, in one process per code:

* stores ``--sweeps`` sweeps one after another, refreshing the API state (``ApiState.refresh``) after each, as the
  sweep job does;
* after each refresh sends the in-process ASGI app a ranking (``/v1/cheapest``), a model at a random past hour
  (``/v1/models/{id}?as_of``) and a cost call of ``--cost-rows`` usage rows spread over the whole history
  (``POST /v1/cost``);
* prints per block of ``--every`` sweeps the median ingest, refresh and request times and the process's resident
  memory at the block's end.

Flat columns mean the work per sweep does not grow with the process's age. Today's code (``--peer-rev``, a
temporary ``git worktree``) runs the same sweeps in the same run.

    python bench/soak.py [--sweeps 2000] [--every 250] [--scale 1] [--peer-rev 20f1cf2]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
MODEL = "deepseek/deepseek-v3.2"


def _rss_mb() -> float:
    """The resident memory now (not the peak): pages in use, from the kernel's own count."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6


def run(sweeps: int, every: int, scale: int, cost_rows: int, work: Path) -> list[dict[str, Any]]:
    """The soak on the code imported (this process's ``PYTHONPATH``): one block of figures per ``every`` sweeps."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from fastapi.testclient import TestClient
    from history import Market, base_sweep  # the same synthetic market as bench/history.py

    from catalog.api import ApiState, create_app
    from catalog.store.db import connect
    from catalog.store.ingest import record_snapshot

    try:  # the interpreter as the code's servers run it (older code: Python's defaults)
        from catalog.api import serving_interpreter
    except ImportError:
        pass
    else:
        serving_interpreter()
    seed = base_sweep("2026-08-05", scale)
    market = Market(seed, 0.01, random.Random(7))
    db = work / "soak.duckdb"
    con = connect(db)
    record_snapshot(con, market.sweep(0), archive=False)
    state = ApiState(con.cursor(), db)
    rng = random.Random(11)
    models = sorted(m for m, recs in seed.endpoints.items() if recs)
    blocks: list[dict[str, Any]] = []
    block: dict[str, list[float]] = {"ingest": [], "refresh": [], "cheapest": [], "as_of": [], "cost": []}
    with TestClient(create_app(state)) as client:

        def timed(kind: str, method: str, url: str, **kwargs: Any) -> None:
            started = time.perf_counter()
            response = client.request(method, url, **kwargs)
            block[kind].append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200, (url, response.text[:300])

        for hour in range(1, sweeps + 1):
            market.move()
            started = time.perf_counter()
            record_snapshot(con, market.sweep(hour), archive=False)
            block["ingest"].append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            if not state.refresh():
                raise SystemExit(f"the refresh after sweep {hour} saw no new snapshot")
            block["refresh"].append((time.perf_counter() - started) * 1000)
            timed("cheapest", "GET", f"/v1/cheapest?model={MODEL}&input={20_000 + hour}&output=1000")
            at = seed.taken_at + timedelta(hours=rng.randrange(hour + 1), minutes=hour % 60)
            timed("as_of", "GET", f"/v1/models/{MODEL}?as_of={at.isoformat().replace('+00:00', 'Z')}")
            rows = [
                {
                    "model": rng.choice(models),
                    "timestamp": (seed.taken_at + timedelta(minutes=rng.randrange(hour * 60 + 1))).isoformat(),
                    "prompt_tokens": 1_000 + hour,
                    "completion_tokens": 100,
                }
                for _ in range(cost_rows)
            ]
            timed("cost", "POST", "/v1/cost", json=rows)
            if hour % every == 0:
                blocks.append(
                    {"sweeps": hour, "rss_mb": _rss_mb(), **{k: statistics.median(v) for k, v in block.items()}}
                )
                block = {k: [] for k in block}
                print(json.dumps(blocks[-1]), file=sys.stderr, flush=True)
    con.close()
    return blocks


def in_child(tree: Path, args: argparse.Namespace) -> list[dict[str, Any]]:
    """``run`` in a child process importing ``tree`` (its own interpreter state, as a service would have)."""
    with tempfile.TemporaryDirectory(prefix="bench-soak-") as work:
        done = subprocess.run(
            [
                sys.executable,
                str(Path(__file__).resolve()),
                *("--sweeps", str(args.sweeps), "--every", str(args.every), "--scale", str(args.scale)),
                *("--cost-rows", str(args.cost_rows), "--run-only", work),
            ],
            cwd=tree,
            env={**os.environ, "PYTHONPATH": str(tree)},
            capture_output=True,
            text=True,
        )
    if done.returncode:
        raise SystemExit(f"the soak on {tree} failed:\n{done.stderr[-3000:]}")
    blocks: list[dict[str, Any]] = json.loads(done.stdout.strip().splitlines()[-1])
    return blocks


def report(name: str, blocks: list[dict[str, Any]]) -> None:
    print(f"{name}: medians per block of sweeps (ms), resident memory at the block's end")
    print(f"  {'sweeps':>7} {'ingest':>8} {'refresh':>8} {'cheapest':>9} {'as-of':>7} {'cost':>7} {'RSS MB':>8}")
    for b in blocks:
        print(
            f"  {b['sweeps']:>7} {b['ingest']:>8.1f} {b['refresh']:>8.1f} {b['cheapest']:>9.1f} {b['as_of']:>7.1f} "
            f"{b['cost']:>7.1f} {b['rss_mb']:>8.0f}"
        )
    if len(blocks) > 1:
        first, last = blocks[0], blocks[-1]
        print(
            f"  last block / first: refresh {last['refresh'] / first['refresh']:.2f}x, cost "
            f"{last['cost'] / first['cost']:.2f}x, memory +{last['rss_mb'] - first['rss_mb']:.0f} MB"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sweeps", type=int, default=2000)
    parser.add_argument("--every", type=int, default=250, help="sweeps per block of figures")
    parser.add_argument("--scale", type=int, default=1, help="endpoints ×N, as bench/history.py")
    parser.add_argument("--cost-rows", type=int, default=500, help="usage rows in each cost call")
    parser.add_argument("--peer-rev", default="20f1cf2", help="today's code, run beside ours ('' to skip)")
    parser.add_argument("--run-only", type=Path, help=argparse.SUPPRESS)  # the child process's entry
    args = parser.parse_args()
    if args.run_only is not None:
        print(json.dumps(run(args.sweeps, args.every, args.scale, args.cost_rows, args.run_only)))
        return
    print(f"{args.sweeps} sweeps in one process per code, figures every {args.every}")
    report("ours", in_child(ROOT, args))
    if args.peer_rev:
        tree = Path(tempfile.mkdtemp(prefix="bench-soak-peer-")) / "tree"
        subprocess.run(["git", "worktree", "add", "--detach", str(tree), args.peer_rev], cwd=ROOT, check=True)
        try:
            report(f"today ({args.peer_rev})", in_child(tree, args))
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=ROOT, capture_output=True)
            shutil.rmtree(tree.parent, ignore_errors=True)  # the temporary folder the worktree was in


if __name__ == "__main__":
    main()
