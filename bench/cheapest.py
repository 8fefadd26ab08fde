"""Benchmark: the cheapest-endpoint ranking — in process, for every model at once, and through ``/v1/cheapest`` —
each beside today's code measured in the same run.

Prepares a history of the 20 recorded days (``catalog replay`` into a temp dir, ~30 s; ``--db PATH`` reuses an
existing file, only read). Every profile is new (``input = 20000 + i``), so no figure is a cache hit unless it
says so.

(a) ``Catalog.cheapest(model, profile)`` for one model (``--model``), a new profile per call: median and p99
    over ``--calls`` calls (``RankIndex`` per snapshot in force, kept by the Catalog). Peers: the batch engine
    (``rank_with_engine``) over the same Catalog's candidate frame and price table (the reference the index must
    equal — checked on every sampled profile), and today's ``Catalog.cheapest`` (``--peer-rev``, a temporary
    ``git worktree``, in a child process with ``PYTHONPATH`` there, same DB). A ranking spells its rows' amounts
    other than the cost per request, its explanation and its default-routing figure on first read, so a second
    line reads everything (``Ranking.to_dict``).
(b) the same for every model at once (``cheapest(None, profile)``).
(c) ``catalog serve`` under load (``bench/api.py``'s generator: ``wrk`` when on PATH, else asyncio + httpx in a
    child process) at ``--connections``: ``/v1/cheapest`` with a new profile on every request (the same sequence
    for both servers, every one within all of the model's context lengths), then one cached query; the peer
    server is today's code (the ``--peer-rev`` worktree) on the same DB, measured after ours, never at the same
    time. Before the load, where the time of one uncached request goes, in process (CPU time
    of the thread, so a request preempted by another program does not count its time): the whole ASGI call,
    ours and today's (the same loop in a child process on each tree), the whole request through the protocol
    ``catalog serve`` runs with its bytes in memory (no socket: a figure a busy machine does not blur), parameter
    parsing, the ranking, JSON.

Targets: (a) median ≤ 0.2 ms, p99 ≤ 1 ms; (b) ≤ 20 ms; (c) ≥ 2,000 req/s with p99 ≤ 50 ms for new profiles,
≥ 2,600 req/s cached. Prints figures, not verdicts.

    python bench/cheapest.py [--db PATH] [--peer-rev a4f73d8] [--calls 2000] [--connections 32] [--duration 10]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from api import cpu_seconds, drive, run_wrk, stop  # bench/api.py: its load generator

ROOT = Path(__file__).resolve().parents[1]
CATALOG = [sys.executable, "-m", "catalog"]
MODEL = "deepseek/deepseek-v3.2"
AS_OF = "2026-08-05T18:00:00Z"
CHEAPEST = "/v1/cheapest?model=deepseek/deepseek-v3.2&input={i}&output=1000&cache_hit=0.8"
TARGETS = {"one": (0.2, 1.0), "all": 20.0, "new": (2000, 50.0), "cached": 2600}
# wrk's second thread counts from here on: both threads' inputs stay under the smallest context of the model
# (131,072 tokens with the 1,000 of output) for over 40 s of load at 2,500 req/s.
STRIDE = 50_000
# Today's Catalog.cheapest, timed in a child process on the peer tree (its own imports, the same DB).
PEER_LOOP = """
import json, sys, time
from decimal import Decimal
from catalog.cost.workload import WorkloadProfile
from catalog.library import Catalog
db, model, as_of, calls = sys.argv[1], sys.argv[2] or None, sys.argv[3], int(sys.argv[4])
with Catalog.open(db) as cat:
    cat.cheapest(model, WorkloadProfile(19999, 1000, cache_hit=Decimal("0.8")), as_of=as_of)
    times = []
    for i in range(calls):
        profile = WorkloadProfile(20000 + i, 1000, cache_hit=Decimal("0.8"))
        started = time.perf_counter()
        cat.cheapest(model, profile, as_of=as_of)
        times.append((time.perf_counter() - started) * 1000)
print(json.dumps(times))
"""


def quantiles(times: list[float]) -> dict[str, float]:
    ordered = sorted(times)

    def rank(q: float) -> float:  # nearest rank
        return ordered[min(len(ordered) - 1, max(0, int(-(-q * len(ordered) // 100)) - 1))]

    return {"median": statistics.median(ordered), "p99": rank(99), "n": len(ordered)}


def timed(call: Callable[[int], Any], calls: int, clock: Callable[[], float] = time.perf_counter) -> list[float]:
    """Each call's milliseconds by ``clock`` (wall time; ``time.thread_time``: this thread's CPU time)."""
    call(-1)  # warm: the index (or the frame) built, the code paths loaded
    times = []
    for i in range(calls):
        started = clock()
        call(i)
        times.append((clock() - started) * 1000)
    return times


def peer_worktree(rev: str, into: Path) -> Path:
    subprocess.run(["git", "worktree", "add", "--detach", str(into), rev], cwd=ROOT, check=True, capture_output=True)
    return into


def peer_env(tree: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(tree)}


def peer_cheapest(tree: Path, db: Path, model: str | None, calls: int) -> list[float]:
    done = subprocess.run(
        [sys.executable, "-c", PEER_LOOP, str(db), model or "", AS_OF, str(calls)],
        cwd=tree,
        env=peer_env(tree),
        capture_output=True,
        text=True,
        check=True,
    )
    times: list[float] = json.loads(done.stdout)
    return times


def in_process(db: Path, calls: int, all_calls: int) -> dict[str, Any]:
    """(a) and (b): ours and the batch engine over the same Catalog; equality checked on each sample."""
    from catalog.cost.ranker import rank_with_engine
    from catalog.cost.workload import EndpointFilters, WorkloadProfile
    from catalog.library import Catalog
    from catalog.store import queries

    def profile(i: int) -> WorkloadProfile:
        return WorkloadProfile(20000 + i, 1000, cache_hit=Decimal("0.8"))

    out: dict[str, Any] = {}
    with Catalog.open(db) as cat:
        at = cat.as_of(AS_OF)
        for name, model, n in (("one", MODEL, calls), ("all", None, all_calls)):
            frame = queries.endpoint_candidates(cat.con, at, model)
            out[name] = timed(lambda i, m=model: cat.cheapest(m, profile(i), as_of=AS_OF), n)
            # A ranking spells its rows' amounts, words its explanation and prices default routing when they
            # are first read: the same call with everything read (``to_dict``).
            out[f"{name}_read"] = timed(lambda i, m=model: cat.cheapest(m, profile(i), as_of=AS_OF).to_dict(), n)
            out[f"{name}_engine"] = timed(
                lambda i, m=model, f=frame: rank_with_engine(
                    f, cat.table, profile(i), EndpointFilters(), at=at, model=m
                ),
                max(20, n // 10),
            )
            for i in range(0, n, max(1, n // 25)):  # the figures are only worth it if the answers are the same
                ours = cat.cheapest(model, profile(i), as_of=AS_OF).to_dict()
                reference = rank_with_engine(frame, cat.table, profile(i), EndpointFilters(), at=at, model=model)
                ours.pop("data", None)
                expected = reference.to_dict()
                expected.pop("data", None)
                if ours != expected:
                    raise SystemExit(f"{name}: the index and the engine disagree on input={20000 + i}")
    return out


# One uncached /v1/cheapest through the whole ASGI app, in process (no socket), a new profile per request: the
# same code run in a child process on each tree (ours, and the peer's), so the two are measured alike. CPU time
# of the thread (the machine is shared: a request preempted meanwhile does not count the other program's time).
ASGI_LOOP = """
import asyncio, json, sys, time
from pathlib import Path
from catalog.api import ApiState, create_app
from catalog.store.db import connect
db, query, requests = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
con = connect(db, read_only=True)
app = create_app(ApiState(con, db))

async def call(i):
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
             "path": "/v1/cheapest", "raw_path": b"/v1/cheapest", "root_path": "",
             "query_string": query.format(i=i).encode(), "headers": [(b"host", b"bench")],
             "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80)}
    status = []

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        if message["type"] == "http.response.start":
            status.append(message["status"])

    await app(scope, receive, send)
    if status != [200]:
        raise SystemExit(f"/v1/cheapest?{query.format(i=i)} answered {status}")

async def main():
    await call(1)
    times = []
    for i in range(requests):
        started = time.thread_time_ns()
        await call(30000 + i)  # a new profile each (and one every endpoint can take)
        times.append((time.thread_time_ns() - started) / 1e6)
    return times

print(json.dumps(asyncio.run(main())))
con.close()
"""


# The same, through the served protocol (the one ``catalog serve`` runs: uvicorn's HTTP/1.1 protocol as the tree
# configures it, on uvloop) with the request's bytes fed in and the answer's bytes kept in memory: what the server
# spends per request in Python, without the socket's system calls or the load generator sharing the cores.
PROTO_LOOP = """
import asyncio, gc, json, re, sys, time
from pathlib import Path
import uvloop
from uvicorn.server import ServerState
from catalog import asgi_server
from catalog.api import ApiState, create_app
from catalog.store.db import connect
db, query, requests = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
con = connect(db, read_only=True)
make = getattr(asgi_server, "serve_config", None) or asgi_server.quiet_config
config = make(create_app(ApiState(con, db)))
config.load()
LENGTH = re.compile(rb"content-length: (\\d+)")

class Transport:
    def __init__(self):
        self.sent, self.closing, self.done = bytearray(), False, None
    def write(self, data):
        self.sent += data
        head, sep, body = bytes(self.sent).partition(b"\\r\\n\\r\\n")
        if sep and len(body) >= int(LENGTH.search(head).group(1)) and not self.done.done():
            self.done.set_result(head.split(b" ")[1])
    def writelines(self, parts):
        self.write(b"".join(parts))
    def is_closing(self):
        return self.closing
    def close(self):
        self.closing = True
    def get_extra_info(self, name, default=None):
        return {"sockname": ("127.0.0.1", 80), "peername": ("127.0.0.1", 1)}.get(name, default)
    def pause_reading(self):
        pass
    def resume_reading(self):
        pass

async def main():
    loop = asyncio.get_running_loop()
    protocol = config.http_protocol_class(config=config, server_state=ServerState(), app_state={}, _loop=loop)
    transport = Transport()
    protocol.connection_made(transport)

    async def call(i):
        transport.sent.clear()
        transport.done = loop.create_future()
        protocol.data_received(f"GET /v1/cheapest?{query.format(i=i)} HTTP/1.1\\r\\nHost: bench\\r\\n\\r\\n".encode())
        status = await transport.done
        if status != b"200":
            raise SystemExit(f"/v1/cheapest?{query.format(i=i)} answered {status}")

    await call(1)
    gc.collect()
    gc.freeze()  # as the server settles its loaded state (``settle_heap``)
    times = []
    for i in range(requests):
        started = time.thread_time_ns()
        await call(30000 + i)
        times.append((time.thread_time_ns() - started) / 1e6)
    return times

print(json.dumps(uvloop.run(main())))
con.close()
"""


def proto_times(tree: Path, db: Path, requests: int) -> list[float]:
    """PROTO_LOOP on ``tree``: each request's CPU milliseconds through the served protocol."""
    done = subprocess.run(
        [sys.executable, "-c", PROTO_LOOP, str(db), CHEAPEST.split("?", 1)[1], str(requests)],
        cwd=tree,
        env=peer_env(tree),
        capture_output=True,
        text=True,
        check=True,
    )
    times: list[float] = json.loads(done.stdout)
    return times


def asgi_times(tree: Path, db: Path, requests: int) -> list[float]:
    """ASGI_LOOP on ``tree``: each request's CPU milliseconds."""
    done = subprocess.run(
        [sys.executable, "-c", ASGI_LOOP, str(db), CHEAPEST.split("?", 1)[1], str(requests)],
        cwd=tree,
        env=peer_env(tree),
        capture_output=True,
        text=True,
        check=True,
    )
    times: list[float] = json.loads(done.stdout)
    return times


def breakdown(db: Path, peer: Path, requests: int, peer_db: Path) -> dict[str, float]:
    """Where one uncached ``/v1/cheapest`` request's time goes, in process (no socket): medians of CPU ms."""
    import orjson

    from catalog.api import ApiState
    from catalog.api.deps import decimal, encode
    from catalog.cost.query import build_query
    from catalog.cost.ranking_json import encode_ranking
    from catalog.exact_json import jsonable
    from catalog.store.db import connect

    con = connect(db, read_only=True)
    state = ApiState(con, db)
    from catalog.cost.query import CHEAPEST as PARAMS

    values = {p.name: p.default for p in PARAMS} | {"input": 20000, "output": 1000, "cache_hit": "0.8"}
    at = state.state_at(time_now())
    assert at is not None
    index = state.rank_index(at)
    assert index is not None
    parsed = build_query(values, lambda text, param: decimal(text, param.name))

    def ranking(i: int) -> Any:
        return index.rank(parsed.profile, parsed.filters, model=MODEL, fallbacks=parsed.fallbacks)

    body = ranking(0).to_dict()
    body.pop("data")
    if encode_ranking(ranking(0)) != orjson.dumps(jsonable(body)):
        raise SystemExit("encode_ranking and jsonable + orjson disagree")

    def general(i: int) -> bytes:  # what the route did before encode_ranking: spelt rows, one orjson pass
        answer = ranking(i).to_dict(spelt=True)
        answer.pop("data")
        return encode(answer)

    cpu = time.thread_time
    rank = statistics.median(timed(ranking, requests, cpu))
    figures = {
        "whole ASGI call, ours (CPU)": statistics.median(asgi_times(ROOT, db, requests)),
        "whole ASGI call, today's (CPU)": statistics.median(asgi_times(peer, peer_db, requests)),
        "served protocol, no socket, ours (CPU)": statistics.median(proto_times(ROOT, db, requests)),
        "served protocol, no socket, today's (CPU)": statistics.median(proto_times(peer, peer_db, requests)),
        "build_query (values already typed)": statistics.median(
            timed(lambda i: build_query(values, lambda t, p: decimal(t, p.name)), requests, cpu)
        ),
        "RankIndex.rank": rank,
        "JSON: encode_ranking (ours), beyond the rank": statistics.median(
            timed(lambda i: encode_ranking(ranking(i)), requests, cpu)
        )
        - rank,
        "JSON: to_dict(spelt) + orjson, beyond the rank": statistics.median(timed(general, requests, cpu)) - rank,
    }
    figures.update(answer_parts(index, parsed, requests))
    con.close()
    return figures


def answer_parts(index: Any, parsed: Any, requests: int) -> dict[str, float]:
    """Where ``encode_ranking``'s time goes, part by part of the answer: CPU microseconds per answer, each part
    timed over the same ``requests`` rankings of distinct profiles (one clock reading per part and pass, not per
    call: a part of a microsecond is not lost in the clock's own cost), median of three passes. The lazy parts
    (``explanation``, default routing) are worked out by their first read, here."""
    from catalog.cost import ranking_json as rj

    def rows(ranking: Any) -> list[str]:  # ``encode_ranking``'s loop over the rows
        spelt: dict[int, Any] = {}
        out = []
        for row in ranking.ranked:
            values = row.__dict__
            units = values["_deferred"]
            same = spelt.get(units.total)
            if same is None or same[0] != units:
                same = spelt[units.total] = (units, rj._amounts(units))
            out.append(rj._row(values["rank"], values["_fixed"], same[1], values["overrides_applied"]))
        return out

    parts: dict[str, Callable[[Any], Any]] = {
        "rows (amounts per row, spliced)": rows,
        "excluded": lambda r: rj._json(r.excluded),
        "explanation (worded on first read)": lambda r: rj._json(r.explanation),
        "note": lambda r: rj._json(r.note),
        "provider (routing object)": lambda r: rj._json(r.routing),
        "default routing (routing_units, spelt)": rj._default_routing,
        "profile": lambda r: rj._profile(r.profile),
        "filters": lambda r: rj._filters(r.filters),
    }
    clock = time.thread_time_ns
    found: dict[str, list[float]] = {"RankIndex.rank (µs)": [], "encode_ranking whole (µs)": []}
    found.update({f"  part: {name} (µs)": [] for name in parts})
    base = parsed.profile
    for round_ in range(3):
        profiles = [base.with_tokens(40_000 + round_ * requests + i, 1000) for i in range(requests)]
        started = clock()
        rankings = [index.rank(p, parsed.filters, model=MODEL, fallbacks=parsed.fallbacks) for p in profiles]
        found["RankIndex.rank (µs)"].append((clock() - started) / requests / 1e3)
        for name, part in parts.items():
            started = clock()
            for ranking in rankings:
                part(ranking)
            found[f"  part: {name} (µs)"].append((clock() - started) / requests / 1e3)
        rankings = [index.rank(p, parsed.filters, model=MODEL, fallbacks=parsed.fallbacks) for p in profiles]
        started = clock()
        for ranking in rankings:
            rj.encode_ranking(ranking)
        found["encode_ranking whole (µs)"].append((clock() - started) / requests / 1e3)
    return {name: statistics.median(values) for name, values in found.items()}


def time_now() -> Any:
    from catalog.times import now

    return now()


def load(args: argparse.Namespace, url: str, path: str, pid: int, first: int) -> dict[str, float]:
    """One closed-loop run at ``--connections`` (``{i}`` in ``path``: a new value per request)."""
    if "{i}" not in path:
        httpx.get(url + path, timeout=30).raise_for_status()
    cpu0, wall0 = cpu_seconds(pid), time.monotonic()
    if args.wrk:
        result = run_wrk(url, path, args.connections, args.duration, args.tmp, first, STRIDE)
    else:
        from concurrent.futures import ProcessPoolExecutor
        from multiprocessing import get_context

        with ProcessPoolExecutor(1, mp_context=get_context("spawn")) as pool:
            result = pool.submit(drive, url, path, args.connections, args.duration, first).result()
    result["cpu"] = 100 * (cpu_seconds(pid) - cpu0) / (time.monotonic() - wall0)
    return result


def served(args: argparse.Namespace, db: Path, tree: Path | None, label: str) -> dict[str, dict[str, float]]:
    """(c) for one server: ours (``tree`` None) or today's (the peer tree)."""
    env = peer_env(tree) if tree is not None else dict(os.environ)
    cmd = [*CATALOG, "serve", "--db", str(db), "--port", "0"]
    out = args.tmp / f"serve-{label}.out"
    with out.open("wb") as sink:
        proc = subprocess.Popen(cmd, stdout=sink, stderr=subprocess.STDOUT, env=env, cwd=tree or ROOT)
    server = None
    try:
        server, url = start_existing(proc, out)
        results = {}
        # The same new profiles for each server (each has its own cache): every one a request all of the model's
        # endpoints can take, as a program sends its real token counts (an input over every context would be
        # answered with exclusions only, at half the cost).
        for name, path, first in (
            ("new profile each", CHEAPEST, 20000),
            ("cached query", CHEAPEST.format(i=20000), 0),
        ):
            results[name] = load(args, url, path, proc.pid, first)
            print(f"  {label}: {name}: {results[name]['rps']:,.0f} req/s", flush=True)
        return results
    finally:
        stop(server or proc)


def start_existing(proc: subprocess.Popen[bytes], out: Path, timeout: float = 120) -> tuple[Any, str]:
    import re

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = re.search(r"catalog API on (http://\S+)", out.read_text(errors="replace"))
        if found:
            return proc, found.group(1)
        if proc.poll() is not None:
            break
        time.sleep(0.1)
    stop(proc)
    raise SystemExit(f"catalog serve gave no address:\n{out.read_text(errors='replace')[-2000:]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", type=Path, help="reuse this history file (read-only) instead of a fresh replay")
    parser.add_argument("--peer-rev", default="a4f73d8", help="today's code: the revision measured beside ours")
    parser.add_argument(
        "--peer-db",
        type=Path,
        help="the same history in the peer's schema (a peer older than a schema step refuses a newer file, and this "
        "code refuses an older one until `catalog init` upgrades it); default: --db",
    )
    parser.add_argument("--calls", type=int, default=2000, help="calls of (a); (b) makes a tenth of them")
    parser.add_argument("--connections", type=int, default=32, help="connections of (c)")
    parser.add_argument("--duration", type=int, default=10, help="seconds per load run of (c)")
    parser.add_argument("--no-wrk", action="store_true", help="the asyncio + httpx load generator even with wrk")
    parser.add_argument("--no-server", action="store_true", help="skip (c)")
    args = parser.parse_args()
    if min(args.calls, args.connections, args.duration) < 1:
        parser.error("--calls, --connections and --duration must be 1 or more")
    args.wrk = not args.no_wrk and shutil.which("wrk") is not None
    with tempfile.TemporaryDirectory(prefix="bench-cheapest-") as scratch:
        args.tmp = tmp = Path(scratch)
        db = args.db
        if db is None:
            db, started = tmp / "cheapest.duckdb", time.monotonic()
            subprocess.run([*CATALOG, "replay", "--db", str(db)], check=True, stdout=subprocess.DEVNULL)
            print(f"history prepared: 20 recorded days replayed in {time.monotonic() - started:.1f} s")
        elif not db.exists():
            parser.error(f"--db {db}: no such file")
        peer = peer_worktree(args.peer_rev, tmp / "peer")
        try:
            report(args, db, peer)
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(peer)], cwd=ROOT, capture_output=True)


def report(args: argparse.Namespace, db: Path, peer: Path) -> None:
    print(f"peer (today's code): {args.peer_rev} in a temporary git worktree; {os.cpu_count()} cores")
    all_calls = max(20, args.calls // 10)
    ours = in_process(db, args.calls, all_calls)
    old = args.peer_db or db
    today = {
        "one": peer_cheapest(peer, old, MODEL, max(20, args.calls // 10)),
        "all": peer_cheapest(peer, old, None, 10),
    }
    print(f"\n(a) Catalog.cheapest({MODEL!r}, new profile), ms        median      p99     calls")
    rows = (
        ("ours: RankIndex (per snapshot, in memory)", ours["one"]),
        ("ours, everything read (to_dict)", ours["one_read"]),
        ("batch engine: rank_with_engine, same frame", ours["one_engine"]),
        (f"today's Catalog.cheapest ({args.peer_rev})", today["one"]),
    )
    for label, times in rows:
        q = quantiles(times)
        print(f"  {label:<46}{q['median']:>9.3f}{q['p99']:>9.3f}{q['n']:>10}")
    median, p99 = TARGETS["one"]
    q = quantiles(ours["one"])
    print(f"  target: median <= {median} ms, p99 <= {p99} ms; measured {q['median']:.3f} / {q['p99']:.3f} ms")
    print("\n(b) Catalog.cheapest(None, new profile): every model, ms   median      p99     calls")
    rows = (
        ("ours: RankIndex", ours["all"]),
        ("ours, everything read (to_dict)", ours["all_read"]),
        ("batch engine: rank_with_engine, same frame", ours["all_engine"]),
        (f"today's Catalog.cheapest ({args.peer_rev})", today["all"]),
    )
    for label, times in rows:
        q = quantiles(times)
        print(f"  {label:<46}{q['median']:>9.3f}{q['p99']:>9.3f}{q['n']:>10}")
    print(f"  target: <= {TARGETS['all']} ms; measured median {quantiles(ours['all'])['median']:.2f} ms")
    print("\none uncached /v1/cheapest in process (no socket), medians of CPU time:")
    for label, ms in breakdown(db, peer, 1000, old).items():
        unit = "" if label.endswith("(µs)") else " ms"  # the answer's parts: microseconds, unit in the label
        print(f"  {label:<52}{ms:>9.3f}{unit}")
    if args.no_server:
        return
    generator = "wrk (2 threads)" if args.wrk else "asyncio + httpx (one child process)"
    print(f"\n(c) /v1/cheapest under load: {args.connections} connections, {args.duration} s each, {generator}")
    figures = {"ours": served(args, db, None, "ours"), "today": served(args, old, peer, f"today ({args.peer_rev})")}
    print(f"\n  {'server':<22}{'query':<20}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'non-2xx':>9}{'errors':>8}{'CPU':>7}")
    for server, results in figures.items():
        for name, r in results.items():
            print(
                f"  {server:<22}{name:<20}{r['rps']:>9,.0f}{r['p50']:>9.2f}{r['p99']:>9.2f}{r['non2xx']:>9}"
                f"{r['errors']:>8}{r['cpu']:>6.0f}%"
            )
    new, cached = figures["ours"]["new profile each"], figures["ours"]["cached query"]
    rps, p99 = TARGETS["new"]
    print(f"  target new profiles: >= {rps:,} req/s, p99 <= {p99} ms; measured {new['rps']:,.0f}, {new['p99']:.1f} ms")
    print(f"  target cached: >= {TARGETS['cached']:,} req/s; measured {cached['rps']:,.0f}")
    print(f"  {os.cpu_count()} cores shared by the server and the load generator; CPU is the server's, % of one core")


if __name__ == "__main__":
    main()
