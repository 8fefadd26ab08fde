"""Benchmark: the first ``catalog up`` on a fresh copy, this tree beside a base revision, in one run.

Each figure is a fresh process (``python -m catalog …``, the tree on ``PYTHONPATH`` and as the working directory,
the same Python for both) on an empty temp directory (``CATALOG_DB`` and ``--db`` there, a free port):

- ``catalog up``: seconds until its URL answers (``/health`` 200) and until ``/`` serves the site's HTML, and the
  process's CPU seconds by the first answer — on a busy machine the wall time grows with the load, the CPU time
  much less, so it is the better guess at what an idle machine shows;
- ``catalog replay --all`` (every bundled snapshot over HTTP through the in-process fake) and, on this tree,
  ``catalog replay --all --direct`` (the same bytes, parser and store without the round trips).

The base (default ``95d6f93``, whose first start loads over HTTP and builds the site before serving) runs from
a temporary ``git worktree``. Sweeps go to a closed local port, so they fail at once and nothing leaves the
machine. Target: the first ``catalog up`` answers within 15 s on an idle 2-core machine.

    python bench/first_start.py [--peer-rev 95d6f93] [--runs 1] [--no-peer]
"""

from __future__ import annotations

import argparse
import os
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_PEER = "95d6f93"
TARGET_S = 15.0
TIMEOUT_S = 900.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def env_for(tree: Path, db: Path) -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": str(tree),
        "CATALOG_DB": str(db),
        "OPENROUTER_BASE_URL": f"http://127.0.0.1:{free_port()}/api/v1",  # closed: a sweep fails at once
        "NO_COLOR": "1",
    }


def cpu_seconds(pid: int) -> float | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def first_up(tree: Path, work: Path) -> dict[str, float | None]:
    """One first start: seconds to the first answer and to the site, CPU seconds at the first answer."""
    db = work / "catalog.duckdb"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    cmd = [sys.executable, "-m", "catalog", "up", "--db", str(db), "--port", str(port)]
    out = (work / "up.out").open("wb")
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=tree, env=env_for(tree, db), stdout=out, stderr=subprocess.STDOUT)
    answered = cpu = site = None
    try:
        with httpx.Client(timeout=2) as client:
            while site is None:
                if proc.poll() is not None:
                    raise SystemExit(f"catalog up in {tree} exited:\n{(work / 'up.out').read_text()[-2000:]}")
                if time.perf_counter() - started > TIMEOUT_S:
                    raise SystemExit(f"catalog up in {tree} did not serve its site within {TIMEOUT_S:.0f} s")
                try:
                    if answered is None and client.get(f"{url}/health").status_code == 200:
                        answered, cpu = time.perf_counter() - started, cpu_seconds(proc.pid)
                    if answered is not None:
                        home = client.get(f"{url}/")
                        if home.headers.get("content-type", "").startswith("text/html"):
                            site = time.perf_counter() - started
                except httpx.HTTPError:
                    pass
                time.sleep(0.05)
    finally:
        proc.terminate()
        proc.wait(timeout=120)
        out.close()
    return {"answers": answered, "site": site, "cpu": cpu}


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def replay_all(tree: Path, work: Path, *extra: str) -> tuple[float, float]:
    """Seconds and CPU seconds of ``catalog replay --all`` into an empty file."""
    db = work / "replay.duckdb"
    cmd = [sys.executable, "-m", "catalog", "replay", "--all", "--db", str(db), "--json", *extra]
    cpu0, started = children_cpu(), time.perf_counter()
    done = subprocess.run(cmd, cwd=tree, env=env_for(tree, db), capture_output=True, text=True, timeout=TIMEOUT_S)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"`catalog replay --all {' '.join(extra)}` failed in {tree}:\n{done.stderr[-2000:]}")
    return elapsed, children_cpu() - cpu0


def load() -> str:
    try:
        return Path("/proc/loadavg").read_text().split()[0]
    except OSError:
        return "?"


def fmt(values: list[float | None]) -> str:
    known = [v for v in values if v is not None]
    if not known:
        return "       –"
    return f"{statistics.median(known):7.1f}s" + (f" (min {min(known):.1f})" if len(known) > 1 else "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--peer-rev", default=DEFAULT_PEER, help=f"the base revision (default {DEFAULT_PEER})")
    parser.add_argument("--runs", type=int, default=1, help="first starts per tree (median shown)")
    parser.add_argument("--no-peer", action="store_true", help="measure this tree only")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-first-start-") as tmp:
        scratch = Path(tmp)
        trees = {"this tree": ROOT}
        if not args.no_peer:
            peer = scratch / "peer"
            subprocess.run(
                ["git", "worktree", "add", "--detach", str(peer), args.peer_rev],
                cwd=ROOT,
                check=True,
                capture_output=True,
            )
            trees[f"base {args.peer_rev}"] = peer
        rows: list[tuple[str, str, str]] = []
        try:
            print(f"{os.cpu_count()} cores; load average at start {load()}", flush=True)
            for label, tree in trees.items():
                ups = []
                for run in range(args.runs):
                    work = scratch / f"{label.split()[0]}-up-{run}"
                    work.mkdir()
                    ups.append(first_up(tree, work))
                    shown = ", ".join(f"{k} {v:.1f} s" for k, v in ups[-1].items() if v is not None)
                    print(f"  {label}: first catalog up: {shown} (load {load()})", flush=True)
                rows.append((label, "first `catalog up`: URL answers", fmt([u["answers"] for u in ups])))
                rows.append((label, "first `catalog up`: CPU s by then", fmt([u["cpu"] for u in ups])))
                rows.append((label, "first `catalog up`: `/` serves the site", fmt([u["site"] for u in ups])))
                for what, extra in (("over HTTP", ()), ("--direct", ("--direct",))):
                    if extra and tree != ROOT:
                        continue  # the base has no --direct
                    work = scratch / f"{label.split()[0]}-replay{''.join(extra)}"
                    work.mkdir()
                    wall, cpu = replay_all(tree, work, *extra)
                    rows.append((label, f"`catalog replay --all` {what}", fmt([wall])))
                    rows.append((label, f"`catalog replay --all` {what}: CPU s", fmt([cpu])))
                    print(f"  {label}: replay --all {what}: {wall:.1f} s, CPU {cpu:.1f} s (load {load()})", flush=True)
        finally:
            if not args.no_peer:
                subprocess.run(["git", "worktree", "remove", "--force", str(peer)], cwd=ROOT, capture_output=True)

    print(f"\n{'tree':<16} {'what':<42} {'seconds':>10}")
    for label, what, value in rows:
        print(f"{label:<16} {what:<42} {value}")
    print(f"load average at end {load()}")
    ours = next(value for label, what, value in rows if label == "this tree" and what.endswith("answers"))
    verdict = "PASS" if float(ours.split("s")[0]) <= TARGET_S else "FAIL (compare the load average: the target is idle)"
    print(f"target: first `catalog up` answers ≤ {TARGET_S:.0f} s on an idle 2-core machine: {verdict}")


if __name__ == "__main__":
    main()
