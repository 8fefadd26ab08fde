"""Where the p99 of ``/v1/cheapest`` under load comes from: the server's side of a ``bench/cheapest.py`` (c) run.

Serves the history as ``catalog serve`` does (the same app, protocol and settling), in a child process that
records, for every request answered, when its headers were complete, on which connection, and how long the
answer took (wall time), and every garbage collection's pause. ``wrk`` then sends a new profile on every request
(``bench/cheapest.py``'s query and sequence) at ``--connections``; the server writes what it recorded when told.
Printed beside ``wrk``'s latency:

* the longest answers and the longest gaps between two answers (a stall inside the server: a collection, a
  cache cleared in bulk, a periodic job, would show here, for every connection at once);
* per connection, the time between two of its requests (what a client waits for an answer, plus its own turn):
  its median, p99 and maximum, and how evenly the connections were served (each connection's mean).

A tail that wrk reports and these do not (the server answering every connection in turn, no long answer, no
long gap) is made outside the server: the load generator's threads waiting for a core, the machine's load.

    python bench/cheapest_tail.py --db PATH [--connections 32] [--duration 10]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from api import cpu_seconds, run_wrk, stop  # bench/api.py: its load generator
from cheapest import CHEAPEST, STRIDE, start_existing

ROOT = Path(__file__).resolve().parents[1]
# ``catalog serve`` (``catalog.cli.servers.serve_cmd``) with the recording added; SIGUSR1 writes what it recorded.
SERVER = """
import gc, json, signal, sys, time
from pathlib import Path
import uvicorn
from catalog import asgi_server
from catalog.api import ApiState, create_app, serving_interpreter, settle_heap
from catalog.api.routes import cheapest
from catalog.asgi_server import bind, http_url, serve_config
from catalog.store.db import connect_for_reading
db, out = Path(sys.argv[1]), Path(sys.argv[2])
serving_interpreter()
con, copy = connect_for_reading(db)
state = ApiState(con, copy or db)
sock = bind("127.0.0.1", 0)
print(f"catalog API on {http_url('127.0.0.1', sock.getsockname()[1])}", flush=True)
config = serve_config(create_app(state), timeout_graceful_shutdown=2)
settle_heap()
clock = time.perf_counter
answers, heads, pauses, began = [], [], [], [0.0]
answer = cheapest.fast_response
def timed(*args, **kwargs):
    started = clock()
    found = answer(*args, **kwargs)
    answers.append((started, clock() - started))
    return found
cheapest.fast_response = timed
headers_complete = asgi_server._RequestDeadlines.on_headers_complete
def seen(self):
    heads.append((clock(), id(self)))
    return headers_complete(self)
asgi_server._RequestDeadlines.on_headers_complete = seen
def collected(phase, info):
    if phase == "start":
        began[0] = clock()
    else:
        pauses.append((began[0], clock() - began[0], info["generation"]))
gc.callbacks.append(collected)
def write(*_):
    part = out.with_suffix(".part")  # renamed when whole: the bench reads it as soon as it exists
    part.write_text(json.dumps({"answers": answers, "heads": heads, "pauses": pauses}))
    part.rename(out)
signal.signal(signal.SIGUSR1, write)
uvicorn.Server(config).run(sockets=[sock])
"""


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def report(record: dict[str, Any]) -> None:
    """The server's side of the run, the first tenth (warming) left out."""
    answers = record["answers"][len(record["answers"]) // 10 :]
    heads = record["heads"][len(record["heads"]) // 10 :]
    if len(answers) < 2:
        raise SystemExit("the server answered almost nothing: is the query right?")
    took = [ms * 1000 for _, ms in answers]
    gaps = [(b[0] - a[0] - a[1]) * 1000 for a, b in itertools.pairwise(answers)]
    start, end = answers[0][0], answers[-1][0]
    print(f"  answers recorded: {len(answers):,} over {end - start:.1f} s")
    print(f"  one answer, ms (wall):      p50 {quantile(took, 0.5):7.3f}  p99 {quantile(took, 0.99):7.3f}"
          f"  max {max(took):7.1f}")  # fmt: skip
    print(f"  gap between answers, ms:    p50 {quantile(gaps, 0.5):7.3f}  p99 {quantile(gaps, 0.99):7.3f}"
          f"  max {max(gaps):7.1f}")  # fmt: skip
    by_generation: dict[int, list[float]] = {}
    for at, seconds, generation in record["pauses"]:
        if start <= at <= end:
            by_generation.setdefault(generation, []).append(seconds * 1000)
    for generation, pauses in sorted(by_generation.items()):
        print(f"  gc generation {generation}: {len(pauses)} collections, longest {max(pauses):.2f} ms")
    last: dict[int, float] = {}
    per: dict[int, list[float]] = {}
    for at, connection in heads:
        if connection in last:
            per.setdefault(connection, []).append((at - last[connection]) * 1000)
        last[connection] = at
    every = [ms for values in per.values() for ms in values]
    means = [statistics.mean(values) for values in per.values()]
    print(f"  per connection, ms between two of its requests: p50 {quantile(every, 0.5):.1f}  p99 "
          f"{quantile(every, 0.99):.1f}  max {max(every):.1f}")  # fmt: skip
    print(f"  {len(per)} connections; their mean interval from {min(means):.1f} to {max(means):.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", type=Path, required=True, help="a history file (read only)")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--duration", type=int, default=10, help="seconds of load")
    args = parser.parse_args()
    if not args.db.exists():
        parser.error(f"--db {args.db}: no such file")
    with tempfile.TemporaryDirectory(prefix="bench-tail-") as scratch:
        tmp = Path(scratch)
        out, log = tmp / "record.json", tmp / "serve.out"
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        with log.open("wb") as sink:
            proc = subprocess.Popen(
                [sys.executable, "-c", SERVER, str(args.db), str(out)], stdout=sink, stderr=subprocess.STDOUT, env=env
            )
        try:
            _, url = start_existing(proc, log)
            cpu0, wall0 = cpu_seconds(proc.pid), time.monotonic()
            found = run_wrk(url, CHEAPEST, args.connections, args.duration, tmp, 20000, STRIDE)
            cpu = 100 * (cpu_seconds(proc.pid) - cpu0) / (time.monotonic() - wall0)
            proc.send_signal(signal.SIGUSR1)
            deadline = time.monotonic() + 30
            while not out.exists() and time.monotonic() < deadline:
                time.sleep(0.1)
        finally:
            stop(proc)
        print(f"wrk, {args.connections} connections, {args.duration} s, a new profile each request:")
        rps, p50, p99 = found["rps"], found["p50"], found["p99"]
        print(f"  {rps:,.0f} req/s, p50 {p50:.1f} ms, p99 {p99:.1f} ms; server CPU {cpu:.0f}% of one core")
        print("the server's side:")
        report(json.loads(out.read_text()))
        print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
