"""Benchmark: `catalog up` under a bounded load on loopback, while it sweeps and rebuilds its site.

A fake OpenRouter runs in its own process; `catalog up` serves a history of one recorded day, sweeps the fake
every ``--every`` seconds and rebuilds the site after each sweep. First ``--idle-sweeps`` sweeps run with no
load (the idle time); then ``wrk`` holds ``--connections`` connections open for ``--seconds`` seconds (by default
2/3 on ``/v1/cheapest`` with the model and workload varied on every request, so the answer cache rarely helps,
and 1/3 on the site's ``/``), and the sweeps that ran wholly inside that window are the ones under load. The
service runs one job at a time, so a sweep due during a site build waits for it (that wait is not the sweep's
duration; a short window may hold no sweep at all: lengthen ``--seconds``).

Printed: per route the requests, errors (socket errors, timeouts and non-2xx/3xx answers, as wrk counts them),
requests/s and latency p50 / p99; the sweep's duration idle and under load and their ratio. The acceptance
(issue 16, item 17): 0 errors, and the sweep under load within 2x its idle time; the script exits 1 otherwise.

With ``--peer-rev REV`` the same is measured for that revision's service (a temporary ``git worktree``) after
ours, in the same run, against the same fake; the exit status is ours.

    python bench/load.py [--connections 60] [--seconds 40] [--every 5] [--idle-sweeps 3] [--latency 0]
                         [--peer-rev REV]

Needs ``wrk`` (Debian: apt-get install wrk).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

CATALOG = [sys.executable, "-m", "catalog"]
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from service import stop, wait_for_line  # noqa: E402  (a sibling script, not a package)

# wrk's Lua: vary the model and the workload on every request; print the figures as one JSON line at the end.
CHEAPEST_LUA = """
local models = {%(models)s}
local n = 0
request = function()
  n = n + 1
  local model = models[(n %% #models) + 1]
  local path = string.format("/v1/cheapest?model=%%s&input=%%d&output=%%d&cache_hit=0.%%d",
    model, 500 + (n * 37) %% 60000, 50 + (n * 13) %% 4000, n %% 10)
  return wrk.format("GET", path)
end
"""
DONE_LUA = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'RESULT {"requests": %d, "seconds": %.3f, "connect": %d, "read": %d, "write": %d, "status": %d, ' ..
    '"timeout": %d, "p50_ms": %.1f, "p99_ms": %.1f, "max_ms": %.1f}\\n',
    summary.requests, summary.duration / 1e6, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.max / 1000))
end
"""


def seconds(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


def sweeps(client: httpx.Client) -> list[dict[str, Any]]:
    runs = client.get("/jobs/runs", params={"job": "snapshot_catalog", "limit": 1000}).raise_for_status().json()
    return [r for r in runs if r["status"] not in ("running", "skipped")]


def wait_for_sweeps(client: httpx.Client, count: int, after: float, timeout: float) -> list[dict[str, Any]]:
    """``count`` sweeps that started after ``after`` (a clock time) and ended."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done = [r for r in sweeps(client) if seconds(r["started_at"]) >= after]
        if len(done) >= count:
            return done
        time.sleep(0.5)
    raise SystemExit(f"fewer than {count} sweeps ended within {timeout:.0f} s")


def wait_for_first_site(client: httpx.Client, timeout: float) -> float:
    """When the service's first site build ended: idle sweeps are timed after it, with nothing else running."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        built = client.get("/jobs/runs", params={"job": "build_site"}).raise_for_status().json()
        ended = [seconds(r["finished_at"]) for r in built if r["status"] == "ok"]
        if ended:
            return min(ended)
        time.sleep(0.5)
    raise SystemExit(f"no site build ended within {timeout:.0f} s")


def _split(run: dict[str, Any]) -> str:
    """A sweep's fetch-and-parse and store milliseconds, as its run's detail says."""
    detail = run.get("detail") or {}
    if isinstance(detail, str):
        detail = json.loads(detail)
    return f"{detail.get('fetch_ms', '?')}/{detail.get('store_ms', '?')}"


def wrk(url: str, path: str, connections: int, seconds_: int, script: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        ["wrk", "-t1", f"-c{connections}", f"-d{seconds_}s", "--timeout", "30s", "-s", str(script), url + path],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def result(proc: subprocess.Popen[str]) -> dict[str, float]:
    out, _ = proc.communicate()
    line = next((line for line in out.splitlines() if line.startswith("RESULT ")), None)
    if line is None:
        raise SystemExit(f"wrk printed no result:\n{out}")
    return dict(json.loads(line.removeprefix("RESULT ")))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--connections", type=int, default=60, help="open connections in all (2/3 on cheapest)")
    parser.add_argument("--seconds", type=int, default=40, help="how long the load lasts")
    parser.add_argument("--every", default="5s", help="the sweep interval of catalog up")
    parser.add_argument("--idle-sweeps", type=int, default=3, help="sweeps to time before the load starts")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds the fake adds to every request")
    parser.add_argument("--peer-rev", default="", help="also measure this git revision's service, after ours")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install wrk")
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    passed = measure(args, "ours", None)
    if args.peer_rev:
        tree = Path(tempfile.mkdtemp(prefix="bench-load-peer-")) / "tree"
        subprocess.run(
            ["git", "worktree", "add", "--detach", str(tree), args.peer_rev], cwd=ROOT, check=True, capture_output=True
        )
        try:
            measure(args, f"peer {args.peer_rev}", tree)
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=ROOT, capture_output=True)
            shutil.rmtree(tree.parent, ignore_errors=True)  # the temporary folder the worktree was in
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if not passed:
        raise SystemExit(1)


def measure(args: argparse.Namespace, label: str, tree: Path | None) -> bool:
    """One service (ours, or the code in ``tree``) under the load; prints its figures, True if it passed.

    The fake OpenRouter is always ours: both services sweep the same upstream."""
    print(f"\n=== {label} === (load average {' '.join(f'{x:.2f}' for x in os.getloadavg())})")
    fake: subprocess.Popen[bytes] | None = None
    service: subprocess.Popen[bytes] | None = None
    with tempfile.TemporaryDirectory(prefix="bench-load-") as scratch:
        tmp = Path(scratch)
        try:
            with (tmp / "fake.out").open("wb") as sink:
                fake = subprocess.Popen(
                    [*CATALOG, "fake-openrouter", "--port", "0", "--latency", str(args.latency)],
                    cwd=ROOT,
                    stdout=sink,
                    stderr=subprocess.STDOUT,
                )
            base_url = wait_for_line(fake, tmp / "fake.out", r"fake OpenRouter serving (http://\S+)", 60).group(1)
            env = {k: v for k, v in os.environ.items() if not k.startswith("CATALOG_")}
            if tree is not None:
                env["PYTHONPATH"] = str(tree)
            env |= {
                "OPENROUTER_BASE_URL": base_url,
                "CATALOG_JOB_SNAPSHOT_CATALOG_EVERY": args.every,
                "CATALOG_JOB_SNAPSHOT_PROVIDERS_ENABLED": "false",
                "CATALOG_JOB_PRUNE_RAW_ENABLED": "false",
                "CATALOG_JOB_CHECKPOINT_ENABLED": "false",
                "CATALOG_SITE_DIR": str(tmp / "site"),
            }
            db = tmp / "load.duckdb"
            # `python -m` puts its working directory first on the path: run each side's code from its own tree.
            code = str(tree or ROOT)
            subprocess.run(
                [*CATALOG, "replay", "--from", "2026-08-05", "--db", str(db)],
                cwd=code,
                env=env,
                check=True,
                stdout=subprocess.DEVNULL,
            )
            with (tmp / "service.out").open("wb") as sink:
                service = subprocess.Popen(
                    [*CATALOG, "up", "--db", str(db), "--port", "0"],
                    cwd=code,
                    env=env,
                    stdout=sink,
                    stderr=subprocess.STDOUT,
                )
            url = wait_for_line(service, tmp / "service.out", r"catalog service on (http://\S+)", 120).group(1)
            client = httpx.Client(base_url=url, timeout=30)
            print(f"fake OpenRouter at {base_url} (+{args.latency * 1000:.0f} ms per request); catalog up at {url}")
            quiet_from = wait_for_first_site(client, 180)
            wait_for_sweeps(client, args.idle_sweeps, quiet_from, 60 + 30 * args.idle_sweeps)
            listed = client.get("/v1/models", params={"limit": 60}).raise_for_status().json()["items"]
            models = [m["model_id"] for m in listed]
            lua = CHEAPEST_LUA % {"models": ", ".join(json.dumps(m) for m in models)}
            (tmp / "cheapest.lua").write_text(lua + DONE_LUA)
            (tmp / "plain.lua").write_text(DONE_LUA)
            on_cheapest = max(1, args.connections * 2 // 3)
            started = time.time()
            loads = {
                "/v1/cheapest": wrk(url, "/v1/cheapest", on_cheapest, args.seconds, tmp / "cheapest.lua"),
                "/": wrk(url, "/", args.connections - on_cheapest, args.seconds, tmp / "plain.lua"),
            }
            figures = {route: result(proc) for route, proc in loads.items()}
            ended = time.time()
            time.sleep(1)
            every = sweeps(client)
            site_builds = client.get("/jobs/runs", params={"job": "build_site", "limit": 1000}).json()
            all_runs = client.get("/jobs/runs", params={"limit": 1000}).json()
            client.close()
        finally:
            stop(service)
            stop(fake, signal.SIGINT)
        idle_runs = [r for r in every if quiet_from <= seconds(r["started_at"]) < started][-args.idle_sweeps :]
        loaded_runs = [r for r in every if seconds(r["started_at"]) >= started and seconds(r["finished_at"]) <= ended]
        builds = [r for r in site_builds if r["status"] == "ok" and started <= seconds(r["started_at"]) <= ended]

    def duration(run: dict[str, Any]) -> float:
        return seconds(run["finished_at"]) - seconds(run["started_at"])

    errors = 0
    print(f"\nload: {args.connections} connections for {args.seconds} s ({on_cheapest} on /v1/cheapest)")
    print(f"  {'route':<14}{'requests':>10}{'errors':>8}{'req/s':>8}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}")
    for route, f in figures.items():
        bad = int(f["connect"] + f["read"] + f["write"] + f["status"] + f["timeout"])
        errors += bad
        print(
            f"  {route:<14}{int(f['requests']):>10}{bad:>8}{f['requests'] / f['seconds']:>8.0f}"
            f"{f['p50_ms']:>9.1f}{f['p99_ms']:>9.1f}{f['max_ms']:>9.1f}"
        )
        if bad:  # which kind, as wrk counts them: a refused or dropped connection is not a wrong answer
            kinds = ("connect", "read", "write", "status", "timeout")
            print("    errors: " + ", ".join(f"{k} {int(f[k])}" for k in kinds if f[k]))
    not_ok = [r for r in idle_runs + loaded_runs if r["status"] != "ok"]
    idle_s = statistics.median(duration(r) for r in idle_runs) if idle_runs else float("nan")
    load_s = [duration(r) for r in loaded_runs]
    print(f"\nsweeps: idle {', '.join(f'{duration(r):.2f}' for r in idle_runs)} s (median {idle_s:.2f} s)")
    print(f"        under load {', '.join(f'{d:.2f}' for d in load_s) or 'none ended in the window'} s")
    for label, runs in (("idle", idle_runs), ("under load", loaded_runs)):
        print(f"  {label:<10} fetch / store ms: " + ", ".join(_split(r) for r in runs))
    # Every job that ran during the load, in order: a window with no sweep in it shows what held the queue.
    window = [r for r in all_runs if r.get("finished_at") and seconds(r["finished_at"]) >= started]
    window = [r for r in window if seconds(r["started_at"]) <= ended and r["status"] != "skipped"]
    print(
        "jobs during the load (start s after it began, duration s): "
        + ", ".join(
            f"{r['job']} {seconds(r['started_at']) - started:+.0f} {duration(r):.1f}"
            for r in sorted(window, key=lambda r: seconds(r["started_at"]))
        )
    )
    print(f"site builds under load: {len(builds)} ({', '.join(f'{duration(r):.1f}' for r in builds)} s)")
    worst = max(load_s) if load_s else float("inf")
    ratio = worst / idle_s
    print(f"slowest sweep under load / idle median: {ratio:.2f}x (acceptance: <= 2x); {errors} errors (acceptance: 0)")
    for r in not_ok:
        print(f"  sweep run {r['run_id']} {r['status']}: {r.get('error_summary')}")
    if errors or not load_s or ratio > 2 or not_ok:
        print("FAIL")
        return False
    print("PASS")
    return True


if __name__ == "__main__":
    main()
