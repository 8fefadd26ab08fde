"""Benchmark: the static site build (``catalog site build``, ``build_site``), its incremental rebuild after one
sweep, and ``/`` served by ``catalog up`` under load, each beside today's code (``--peer-rev``) in the same run.

Prepares the history like the other benchmarks: the 20 bundled full days replayed into a temp DuckDB file
(``catalog.replay.replay``, ~30-60 s), or ``--db PATH`` (an existing history, opened read-only and left as it is);
``--long-db PATH`` adds a longer one for the incremental rebuild: the issue's target is at a year, which
``bench/history.py --hours 8760`` makes (its ``history.duckdb``; hourly sweeps, ~1 % of endpoints changing an hour).
Today's code is a temporary ``git worktree`` of ``--peer-rev``; both trees run the same child scripts with
``PYTHONPATH`` set to their tree, so neither gets a warmer process:

1. **Full build**: one warm-up and ``--runs`` timed builds into new folders, each as ``catalog site build`` does it
   (``Catalog.open``, so the price table is built inside the clock, then ``build_site``). Target ≤ 3 s.
2. **Incremental rebuild after one sweep**: a build as of the second newest snapshot, then the newest into the same
   folder (the peer's incremental build, if it has one), wall time and the CPU time (every thread's, and the
   page-making helper process's when the build forks one: steadier than wall on a shared machine). Target ≤ 1 s
   (the issue sets it at a year of history). With ``--long-only`` and ``bench/history.py``'s ``bench.json`` beside
   ``--long-db``, also as ``catalog up`` does it (``--service-runs`` per tree, alternating): on a copy, the API's
   state and the ``build_site`` job wired as the service wires them, a build, one more sweep of that market
   stored and the API refreshed (as the sweep's run does), then the job's build timed.
3. **``/`` at ``--connections``** with ``wrk`` (``Accept-Encoding: gzip``, as a browser): the site app of
   ``catalog up`` (``jobs.app.site_or_api``) in a uvicorn child, quiet and while a thread of that process rebuilds
   and swaps the served site in a loop (what follows every sweep). Target ≥ 500 req/s during the rebuilds.

Then what the build wrote (bytes, pages, the largest and the median model page, ``index.html``, downloads), and
the batch-vs-loop rankings check (``--peer-runs``; 0 skips it): ``Catalog.cheapest(model, preset)`` per model for
the three presets against one ``Catalog.cheapest(None, preset)`` per preset.

    python bench/site.py [--db PATH] [--long-db PATH] [--peer-rev 95d6f93] [--runs 3] [--peer-runs 0]
        [--connections 30] [--duration 8]
    python bench/site.py --long-db PATH --long-only [--peer-rev …] [--service-runs 1]   # step 2 at the long history
"""

from __future__ import annotations

import argparse
import json
import os
import re
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

from catalog.bundle import Bundle
from catalog.cost.profile import RankedEndpoint
from catalog.library import Catalog
from catalog.replay import replay
from catalog.store.db import connect
from catalog.store.queries import models_as_of
from catalog.website.build import BuildReport, build_site, rfc3339
from catalog.website.presets import PRESETS

TARGET_BUILD_S = 3.0
TARGET_INCREMENTAL_S = 1.0
TARGET_RPS = 500
TARGET_MODEL_PAGE = 100_000
ROOT = Path(__file__).resolve().parent.parent

# Child scripts, run with PYTHONPATH set to one tree (ours or today's): the same harness for both.
FULL_BUILDS = """
import json, resource, shutil, sys, time
from pathlib import Path
from catalog.library import Catalog
from catalog.website.build import build_site
db, scratch, runs = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
def cpu():  # this process's threads and its helper processes
    mine, helpers = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return mine.ru_utime + mine.ru_stime + helpers.ru_utime + helpers.ru_stime
times, cpus, mains = [], [], []
for run in range(runs + 1):  # the first is the warm-up
    out = scratch / f"full-{run}"
    started, used, main = time.perf_counter(), cpu(), time.thread_time()
    with Catalog.open(db) as cat:
        build_site(cat, out)
    times.append(time.perf_counter() - started)
    cpus.append(cpu() - used)
    mains.append(time.thread_time() - main)  # the thread that renders: the critical path on two cores
    if run < runs:
        shutil.rmtree(out)
print(json.dumps({"warm_up": times[0], "runs": times[1:], "cpu": cpus[1:], "main": mains[1:], "out": str(out)}))
"""
INCREMENTAL = """
import json, resource, sys, time
from pathlib import Path
from catalog.library import Catalog
from catalog.website.build import build_site
db, out = Path(sys.argv[1]), Path(sys.argv[2])
found = {}
def cpu():  # this process's threads and its helper processes (a build may fork one to make pages)
    mine, helpers = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return mine.ru_utime + mine.ru_stime + helpers.ru_utime + helpers.ru_stime
with Catalog.open(db) as cat:
    taken = [r[0] for r in cat.con.execute(
        "SELECT taken_at FROM snapshots WHERE status <> 'failed' ORDER BY taken_at DESC LIMIT 2").fetchall()]
    started = time.perf_counter()
    first = build_site(cat, out, at=taken[1])
    found["first"] = time.perf_counter() - started
    for name, at in (("after_sweep", taken[0]), ("nothing_new", taken[0])):
        started, used, main = time.perf_counter(), cpu(), time.thread_time()
        report = build_site(cat, out, at=at)
        found[name] = time.perf_counter() - started
        found[name + "_cpu"] = cpu() - used  # every thread's and process's, DuckDB's too: steadier on a busy machine
        found[name + "_main"] = time.thread_time() - main  # the thread that gathers and renders
        found[name + "_rendered"] = getattr(report, "rendered", report.pages)
        found[name + "_reused"] = getattr(report, "reused", 0)
        found[name + "_linked"] = getattr(report, "linked", 0)  # taken as the last build's file: not even written
    found["pages"] = report.pages
print(json.dumps(found))
"""
SERVICE = """
import importlib.util, json, random, resource, shutil, sys, time
from pathlib import Path
from catalog.api import ApiState
from catalog.store.db import connect
from catalog.store.ingest import record_snapshot
from jobs import service
from jobs.config import ServiceConfig, default_schedules
from jobs.context import JobContext
from jobs.site import build_site
harness, history, work = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
spec = importlib.util.spec_from_file_location("bench_history", harness)
bench_history = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bench_history)
facts = json.loads((history.parent / "bench.json").read_text())
db = work / "service.duckdb"
shutil.copyfile(history, db)  # the sweep is stored into a copy: the history given is left as it is
seed = bench_history.base_sweep(facts["day"], facts["scale"])
market = bench_history.Market(seed, facts["change_share"], random.Random(facts["hours"]))
market.restore(facts["prices"])
market.move()
def cpu():  # this process's threads and its helper processes
    mine, helpers = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return mine.ru_utime + mine.ru_stime + helpers.ru_utime + helpers.ru_stime
found = {}
con = connect(db)
try:
    # What ``catalog up`` makes: the API's state over a cursor of the writing connection, tied to the jobs.
    ctx = JobContext(con=con, db=db, config=ServiceConfig(jobs=default_schedules("openrouter")), source=None,
                     site_dir=work / "site")
    with ctx.writing() as writer:
        state = ApiState(writer.cursor(), db)
    attach = getattr(service, "attach_api_state", None)
    if attach is not None:
        attach(ctx, state)
    else:  # today's code: the refresh only (the site job opens the history itself)
        ctx.after_run = state.refresh
    started = time.perf_counter()
    first = build_site(ctx)
    found["first"] = time.perf_counter() - started
    assert first.status == "ok", first.summary
    # One sweep as the service stores it: the snapshot, then the job's after_run (the API's refresh) in the same
    # run, then the site build the scheduler queued after it.
    summary = record_snapshot(con, market.sweep(facts["hours"]), archive=False)
    found["sweep_changes"] = [summary.opened, summary.closed]
    started = time.perf_counter()
    ctx.after_run()
    found["refresh"] = time.perf_counter() - started
    for name in ("after_sweep", "nothing_new"):
        started, used, main = time.perf_counter(), cpu(), time.thread_time()
        result = build_site(ctx)
        found[name] = time.perf_counter() - started
        found[name + "_cpu"] = cpu() - used
        found[name + "_main"] = time.thread_time() - main
        assert result.status == "ok", result.summary
        found[name + "_rendered"] = result.detail["rendered"]
        found[name + "_reused"] = result.detail["reused"]
        found[name + "_linked"] = result.detail.get("linked", 0)
    found["pages"] = result.detail["pages"]
    found["as_of"] = result.detail["as_of"]
finally:
    con.close()
print(json.dumps(found))
"""
SERVE_SITE = """
import sys, threading, time
from pathlib import Path
import uvicorn
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Route
from catalog.asgi_server import bind, quiet_config
from catalog.library import Catalog
from catalog.website.build import build_site
from jobs.app import site_or_api
site, db, busy = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3] == "busy"
before = Route("/", lambda _request: PlainTextResponse("no site yet"))
app = Starlette(routes=[Mount("/", app=site_or_api(site, None, before))])
def rebuild():  # what follows every sweep in catalog up: a build in a thread of the serving process
    with Catalog.open(db) as cat:
        taken = [r[0] for r in cat.con.execute(
            "SELECT taken_at FROM snapshots WHERE status <> 'failed' ORDER BY taken_at DESC LIMIT 2").fetchall()]
        n = 0
        while True:
            build_site(cat, site, at=taken[n % 2])
            n += 1
            print(f"rebuilt {n}", flush=True)
if busy:
    threading.Thread(target=rebuild, daemon=True).start()
sock = bind("127.0.0.1", 0)
print(f"site on http://127.0.0.1:{sock.getsockname()[1]}", flush=True)
uvicorn.Server(quiet_config(app)).run(sockets=[sock])
"""


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
    sizes = {
        p.relative_to(root).as_posix(): p.stat().st_size
        for p in root.rglob("*")
        if p.is_file() and p.suffix != ".gz" and not p.name.startswith(".")
    }
    packed = sum(p.stat().st_size for p in root.rglob("*.gz"))
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
        "gzip": packed,
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


def peer_check(db: Path, report: BuildReport, runs: int) -> dict[str, Any]:
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


def peer_worktree(rev: str, into: Path) -> Path:
    subprocess.run(["git", "worktree", "add", "--detach", str(into), rev], cwd=ROOT, check=True, capture_output=True)
    return into


def child(tree: Path, script: str, *args: str) -> dict[str, Any]:
    """Run ``script`` with ``tree``'s code; its last line of output is JSON."""
    done = subprocess.run(
        [sys.executable, "-c", script, *args],
        cwd=tree,
        env={**os.environ, "PYTHONPATH": str(tree)},
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise SystemExit(f"{script.splitlines()[1]} … in {tree} failed:\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def wrk(url: str, conns: int, duration: int) -> dict[str, float]:
    cmd = ["wrk", f"-t{min(2, conns)}", f"-c{conns}", f"-d{duration}s", "--latency", "--timeout", "10s"]
    text = subprocess.run([*cmd, "-H", "Accept-Encoding: gzip", url], capture_output=True, text=True, check=True).stdout
    scale = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 6e4}

    def latency(pct: str) -> float:
        found = re.search(rf"^\s*{pct}%\s+([\d.]+)(us|ms|s|m)\s*$", text, re.M)
        assert found is not None, text
        return float(found.group(1)) * scale[found.group(2)]

    rps = re.search(r"Requests/sec:\s*([\d.]+)", text)
    assert rps is not None, text
    bad = re.search(r"Non-2xx or 3xx responses:\s*(\d+)", text)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    return {
        "rps": float(rps.group(1)),
        "p50": latency("50"),
        "p99": latency("99"),
        "bad": (int(bad.group(1)) if bad else 0) + (sum(map(int, errors.groups())) if errors else 0),
    }


def serve_and_load(tree: Path, site: Path, db: Path, busy: bool, args: argparse.Namespace) -> dict[str, float]:
    """``/`` under wrk, from a uvicorn child of ``tree`` serving ``site`` (``busy``: rebuilding it meanwhile)."""
    log = args.tmp / f"serve-{tree.name}-{'busy' if busy else 'quiet'}.log"
    with log.open("wb") as sink:
        proc = subprocess.Popen(
            [sys.executable, "-c", SERVE_SITE, str(site), str(db), "busy" if busy else "quiet"],
            cwd=tree,
            env={**os.environ, "PYTHONPATH": str(tree)},
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 60
        while not (found := re.search(r"site on (http://\S+)", log.read_text())):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"the site server gave no address:\n{log.read_text()[-2000:]}")
            time.sleep(0.1)
        if busy:  # load starts once the first rebuild is under way
            while "rebuilt 1" not in log.read_text() and proc.poll() is None:
                time.sleep(0.1)
        result = wrk(found.group(1) + "/", args.connections, args.duration)
        result["rebuilds"] = log.read_text().count("rebuilt ") - (1 if busy else 0)
        return result
    finally:
        proc.send_signal(2)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def incremental_line(label: str, found: dict[str, Any]) -> str:
    return (
        f"  {label:<40}{found['after_sweep']:>8.2f} s ({found['after_sweep_cpu']:.2f} s CPU, "
        f"{found.get('after_sweep_main', 0):.2f} s main thread)   "
        f"{found['after_sweep_rendered']:>4} of {found['pages']} pages rendered, {found.get('after_sweep_linked', 0)} "
        f"linked unchanged; nothing new: {found['nothing_new']:.2f} s ({found['nothing_new_cpu']:.2f} s CPU, "
        f"{found.get('nothing_new_main', 0):.2f} s main thread, "
        f"{found['nothing_new_rendered']} rendered)"
    )


def as_the_service(tree: Path, history: Path, work: Path) -> dict[str, Any]:
    """``SERVICE`` with ``tree``'s code: the site job after one more sweep, as ``catalog up`` runs it."""
    work.mkdir(parents=True)
    try:
        return child(tree, SERVICE, str(ROOT / "bench" / "history.py"), str(history), str(work))
    finally:
        shutil.rmtree(work, ignore_errors=True)


def long_only(args: argparse.Namespace, peer: Path, tmp: Path) -> None:
    """``--long-only``: the incremental rebuild of ``--long-db``, ours then the peer's, with ``uptime`` before;
    as the service does it when ``bench.json`` (``bench/history.py``'s market) lies beside it, and in one process
    with one ``Catalog`` (the figure earlier sessions printed: a best case, its price table never changes)."""
    load = os.getloadavg()
    print(f"load average before: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    if (args.long_db.parent / "bench.json").is_file():
        served = {}
        for n in range(args.service_runs):
            for label, tree in (("ours", ROOT), ("today", peer)):  # alternating: the same load for both
                served.setdefault(label, []).append(as_the_service(tree, args.long_db, tmp / f"svc-{label}-{n}"))
        print(f"incremental rebuild after one sweep AS THE SERVICE DOES IT, {args.long_db} (--long-db)")
        print("  (catalog up's wiring: a sweep stored, the API state refreshed, the build_site job; per tree:")
        print("   a build from nothing, one sweep, then the timed builds)")
        for label in ("ours", "today"):
            runs = served[label]
            for found in runs:
                print(incremental_line("ours" if label == "ours" else f"today ({args.peer_rev})", found))
            print(
                f"  {'':<40}refresh {statistics.median(r['refresh'] for r in runs) * 1000:.0f} ms (not in the build's "
                f"figure), sweep opened/closed {runs[0]['sweep_changes']}, as of {runs[0]['as_of']}"
            )
        best = statistics.median(r["after_sweep"] for r in served["ours"])
        print(f"  median {best:.2f} s; target ≤ {TARGET_INCREMENTAL_S:g} s: {verdict(best <= TARGET_INCREMENTAL_S)}")
    else:
        print(f"(no bench.json beside {args.long_db}: the service's figure needs bench/history.py's market)")
    found = {
        label: child(tree, INCREMENTAL, str(args.long_db), str(tmp / f"long-{label}" / "site"))
        for label, tree in (("ours", ROOT), ("today", peer))
    }
    print(f"incremental rebuild after one sweep, one process and one Catalog (best case), {args.long_db}")
    for label in ("ours", "today"):
        print(incremental_line("ours" if label == "ours" else f"today ({args.peer_rev})", found[label]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", type=Path, help="an existing history (read-only) instead of a fresh replay")
    parser.add_argument("--long-db", type=Path, help="a longer history for the incremental rebuild (read-only)")
    parser.add_argument("--peer-rev", default="95d6f93", help="today's code: the revision measured beside ours")
    parser.add_argument("--runs", type=int, default=3, help="timed full builds after one warm-up")
    parser.add_argument("--peer-runs", type=int, default=0, help="runs of the per-model cheapest loop (~25 s each)")
    parser.add_argument("--connections", type=int, default=30)
    parser.add_argument("--duration", type=int, default=8, help="seconds of each wrk run")
    parser.add_argument(
        "--service-runs", type=int, default=1, help="--long-only: runs of the service's way per tree, alternating"
    )
    parser.add_argument(
        "--long-only",
        action="store_true",
        help="only the incremental rebuild of --long-db (ours and the peer's): a quick figure while developing",
    )
    args = parser.parse_args()
    if args.runs < 1 or args.peer_runs < 0:
        parser.error("--runs must be 1 or more, --peer-runs 0 or more")
    if args.long_only and args.long_db is None:
        parser.error("--long-only needs --long-db")
    if shutil.which("wrk") is None:
        parser.error("wrk is needed for the load figure (apt install wrk)")

    with tempfile.TemporaryDirectory(prefix="bench-site-") as scratch:
        tmp = args.tmp = Path(scratch)
        db = args.long_db if args.long_only else prepare(args.db, tmp)
        peer = peer_worktree(args.peer_rev, tmp / "peer")
        try:
            run_all(args, db, peer, tmp)
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(peer)], cwd=ROOT, capture_output=True)


def run_all(args: argparse.Namespace, db: Path, peer: Path, tmp: Path) -> None:
    print(f"peer (today's code): {args.peer_rev} in a temporary git worktree; {os.cpu_count()} cores", flush=True)
    if args.long_only:
        long_only(args, peer, tmp)
        return
    full = {}
    for label, tree in (("ours", ROOT), ("today", peer)):
        (tmp / label).mkdir()
        full[label] = child(tree, FULL_BUILDS, str(db), str(tmp / label), str(args.runs))
        print(f"  full builds, {label}: {', '.join(f'{t:.2f}' for t in full[label]['runs'])} s", flush=True)
    incremental = {
        label: child(tree, INCREMENTAL, str(db), str(tmp / f"inc-{label}" / "site"))
        for label, tree in (("ours", ROOT), ("today", peer))
    }
    long_history = None
    if args.long_db is not None:
        long_history = {
            label: child(tree, INCREMENTAL, str(args.long_db), str(tmp / f"long-{label}" / "site"))
            for label, tree in (("ours", ROOT), ("today", peer))
        }
    served = {}
    for label, tree in (("ours", ROOT), ("today", peer)):
        site = tmp / f"inc-{label}" / "site"  # the incremental run's site: as of the newest snapshot
        for busy in (False, True):
            served[(label, busy)] = serve_and_load(tree, site, db, busy, args)
            print(f"  / {label} {'during rebuilds' if busy else 'quiet'}: {served[(label, busy)]['rps']:,.0f} req/s")
    sizes = output_sizes(Path(full["ours"]["out"]))
    with Catalog.open(db) as cat:
        report = build_site(cat, tmp / "report")
    theirs = peer_check(db, report, args.peer_runs) if args.peer_runs else None

    print()
    print(f"site build: {report.models} models, {report.providers} providers, as of {rfc3339(report.at)}")
    print(f"  {'full build (open + build_site)':<40}{'median':>9}{'min':>9}   target")
    for label in ("ours", "today"):
        times = full[label]["runs"]
        name = "ours" if label == "ours" else f"today ({args.peer_rev})"
        ok = f"≤ {TARGET_BUILD_S:g} s: {verdict(statistics.median(times) <= TARGET_BUILD_S)}" if label == "ours" else ""
        print(f"  {name:<40}{statistics.median(times):>7.2f} s{min(times):>7.2f} s   {ok}")
    for label in ("ours", "today"):  # steadier than wall on a shared machine: paired CPU of the same runs
        name = "ours" if label == "ours" else f"today ({args.peer_rev})"
        cpus, mains = full[label].get("cpu"), full[label].get("main")
        if cpus and mains:
            print(
                f"  {name + ', CPU: all threads / main thread':<40}{statistics.median(cpus):>7.2f} s"
                f"{statistics.median(mains):>7.2f} s   (medians)"
            )
    print(f"  ({args.runs} runs after one warm-up each, in a child process per tree)")
    print("incremental rebuild after one sweep (as of the second newest snapshot, then the newest), 20 days")
    for label in ("ours", "today"):
        print(
            incremental_line(
                "ours" if label == "ours" else f"today ({args.peer_rev}, a full build)", incremental[label]
            )
        )
    ok = incremental["ours"]["after_sweep"] <= TARGET_INCREMENTAL_S
    print(f"  target ≤ {TARGET_INCREMENTAL_S:g} s (the issue's, at a year): {verdict(ok)} at 20 days")
    if long_history is not None:
        print(f"incremental rebuild after one sweep, {args.long_db} (--long-db)")
        for label in ("ours", "today"):
            line = incremental_line("ours" if label == "ours" else f"today ({args.peer_rev})", long_history[label])
            print(line)
        ok = long_history["ours"]["after_sweep"] <= TARGET_INCREMENTAL_S
        print(
            f"  target ≤ {TARGET_INCREMENTAL_S:g} s (at a year: bench/history.py --hours 8760 makes one): {verdict(ok)}"
        )
    print(f"/ at {args.connections} connections, wrk {args.duration} s, Accept-Encoding: gzip")
    print(f"  {'':<40}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}{'rebuilds':>10}")
    for (label, busy), r in served.items():
        who = "ours" if label == "ours" else f"today ({args.peer_rev})"
        name = f"{who}, {'during rebuilds' if busy else 'quiet'}"
        print(f"  {name:<40}{r['rps']:>9,.0f}{r['p50']:>9.1f}{r['p99']:>9.1f}{r['bad']:>8}{r['rebuilds']:>10}")
    print(f"  target ≥ {TARGET_RPS} req/s during rebuilds: {verdict(served[('ours', True)]['rps'] >= TARGET_RPS)}")
    largest_name, largest = sizes["largest"]
    files, downloads = sizes["downloads"]
    print("output")
    print(f"  {'pages':<34}{report.pages:>10,}")
    print(f"  {'total':<34}{kb(sizes['bytes']):>10}   in {sizes['files']:,} files, and {kb(sizes['gzip'])} of .gz")
    print(f"  {'index.html':<34}{kb(sizes['index']):>10}")
    print(f"  {'model pages':<34}{sizes['model_pages']:>10,}")
    print(f"  {'  largest':<34}{kb(largest):>10}   {largest_name}; ≤ 100 kB: {verdict(largest <= TARGET_MODEL_PAGE)}")
    print(f"  {'  median':<34}{kb(sizes['median']):>10}")
    print(f"  {'downloads/':<34}{kb(downloads):>10}   in {files} files")
    if theirs is not None:
        calls = theirs["models"] * len(PRESETS)
        loop, batch = statistics.median(theirs["loop_s"]), statistics.median(theirs["batch_s"])
        print(f"rankings for {len(PRESETS)} presets × {theirs['models']} models ({calls:,} rankings)")
        print(f"  {'peer: cheapest(model, preset) loop':<34}{loop:>8.2f} s   {loop / calls * 1000:.1f} ms per call")
        print(f"  {'batch: cheapest(None, preset) × 3':<34}{batch:>8.2f} s   {loop / batch:,.0f}× faster than the loop")
        agree = f"{theirs['agree']:,} of {theirs['compared']:,}"
        print(f"  loop and batch give the same cheapest endpoint and cost (or none) for {agree} (model, preset) pairs")


if __name__ == "__main__":
    main()
