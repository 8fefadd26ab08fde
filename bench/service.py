"""Benchmark: the long-running service (``catalog up``) sweeping back to back, against one process per sweep.

A fake OpenRouter runs in its own process with added latency per request (default 50 ms). ``catalog up``
starts on a database that already holds one recorded day (so it loads no bundle) with
``snapshot_catalog`` every second — the scheduler runs one sweep at a time and skips overlapping slots, so
sweeps run back to back — and every other job off. The script polls the run log until ``--sweeps`` runs
ended ``ok``, sampling the service's CPU (``/proc/PID/stat``) and RSS (``/proc/PID/status``) every 0.5 s,
and prints sweep durations, sustained sweeps per hour, CPU per sweep and RSS over time (the slope must stay
near zero: memory must not grow with every sweep). With the checkpoint job off, DuckDB holds what each sweep
appends to its write-ahead log in memory until its own 16 MiB auto-checkpoint, which is part of the slope.

The peer, in the same run: the cron-style alternative, a fresh ``catalog sync`` process per sweep on a copy
of the same database, run ``--peer-sweeps`` times; its CPU and peak RSS come from ``os.wait4`` of each child
(exactly that process; ``RUSAGE_CHILDREN`` would fold in the setup and service processes' peaks).
``catalog sync`` also fetches ``/providers``: one request more per sweep than ``snapshot_catalog``.

    python bench/service.py [--sweeps 50] [--peer-sweeps 5] [--latency 0.05] [--concurrency 8]
"""

from __future__ import annotations

import argparse
import itertools
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import httpx

CATALOG = [sys.executable, "-m", "catalog"]
TICK = os.sysconf("SC_CLK_TCK")
MIB = 1024 * 1024
CHECKPOINTS = (1, 5, 10, 25, 50)


def wait_for_line(proc: subprocess.Popen[bytes], out: Path, pattern: str, timeout: float) -> re.Match[str]:
    """The first match of ``pattern`` in the process's stdout file (it writes to a file, never a full pipe)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = re.search(pattern, out.read_text(errors="replace"))
        if found:
            return found
        if proc.poll() is not None:
            raise SystemExit(f"{proc.args} exited with {proc.returncode}:\n{out.read_text(errors='replace')[-2000:]}")
        time.sleep(0.1)
    raise SystemExit(f"no line matching {pattern!r} from {proc.args} within {timeout:.0f} s")


def sample(pid: int) -> tuple[float, int, int]:
    """CPU seconds (user + system, every thread), RSS and peak RSS in bytes of a live process."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / TICK  # utime, stime: fields 14 and 15 of stat(5)
    status = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return cpu, int(status["VmRSS"].split()[0]) * 1024, int(status["VmHWM"].split()[0]) * 1024


def seconds(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


def stats(values: list[float]) -> tuple[float, float, float]:
    """Mean, median and p95 (nearest rank)."""
    ordered = sorted(values)
    mid = len(ordered) // 2
    median = ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2
    p95 = ordered[min(len(ordered) - 1, max(0, -(-95 * len(ordered) // 100) - 1))]
    return sum(ordered) / len(ordered), median, p95


def show(label: str, text: str) -> None:
    print(f"  {label:<24} {text}")


def stop(proc: subprocess.Popen[bytes] | None, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int | None:
    if proc is None or proc.poll() is not None:
        return None if proc is None else proc.returncode
    proc.send_signal(sig)
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        return None


def bench_service(args: argparse.Namespace, tmp: Path, env: dict[str, str], extra: list[str]) -> dict[str, float]:
    out = tmp / "service.out"
    started = time.monotonic()
    with out.open("wb") as sink:
        proc = subprocess.Popen(
            [*CATALOG, "up", "--db", str(tmp / "bench.duckdb"), "--port", "0", *extra],
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    try:
        url = wait_for_line(proc, out, r"catalog service on (http://\S+)", 120).group(1)
        ready, ready_clock = time.monotonic(), time.time()
        cpu0, _, _ = sample(proc.pid)
        print(f"service pid {proc.pid} at {url}: up in {ready - started:.2f} s ({cpu0:.2f} s CPU)")
        runs: dict[int, dict[str, str]] = {}
        samples: list[tuple[int, float, int]] = []  # (sweeps ok so far, CPU s, RSS)
        client = httpx.Client(base_url=url, timeout=10)
        done_at = ready
        while True:
            # Each poll sees the newest 200 runs (skipped slots included); earlier ones were kept from earlier polls.
            page = client.get("/jobs/runs", params={"job": "snapshot_catalog", "limit": 200}).raise_for_status()
            runs.update({r["run_id"]: r for r in page.json() if r["status"] == "ok"})
            cpu, rss, peak = sample(proc.pid)
            samples.append((len(runs), cpu, rss))
            if len(runs) >= args.sweeps:
                done_at = time.monotonic()
                break
            if proc.poll() is not None:
                raise SystemExit(f"catalog up exited with {proc.returncode}:\n{out.read_text()[-2000:]}")
            time.sleep(0.5)
        newest = client.get("/health").raise_for_status().json()["snapshots"]["newest"] or {}
        every = client.get("/jobs/runs", params={"job": "snapshot_catalog", "limit": 10_000}).json()
        client.close()
        bad = [r for r in every if r["status"] in ("failed", "interrupted")]
        skipped = sum(r["status"] == "skipped" for r in every)
    finally:
        code = stop(proc)
    tail = out.read_text(errors="replace").splitlines()[-3:]
    print(f"catalog up stopped by SIGTERM: exit code {code}" + ("" if code == 0 else "  <-- expected 0"))
    print("  last lines: " + " | ".join(tail))

    ok = sorted(runs.values(), key=lambda r: seconds(r["started_at"]))[: args.sweeps]
    durations = [seconds(r["finished_at"]) - seconds(r["started_at"]) for r in ok]
    starts = [seconds(r["started_at"]) for r in ok]
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    mean, median, p95 = stats(durations)
    wall = done_at - ready
    cpu = samples[-1][1] - cpu0
    print(f"\nservice: {len(ok)} sweeps ok in {wall:.1f} s wall ({skipped} overlapping slots skipped, {len(bad)} bad)")
    show("first sweep", f"started {starts[0] - ready_clock:.1f} s after the service was up (its first-run delay)")
    show("models / endpoints", f"{newest.get('models')} / {newest.get('endpoints')} per sweep")
    show("sweep duration", f"mean {mean:.2f} s, median {median:.2f} s, p95 {p95:.2f} s")
    if gaps:
        gap = sum(gaps) / len(gaps)
        show("start to start", f"mean {gap:.2f} s -> {3600 / gap:.0f} sweeps/hour sustained")
        show("between sweeps", f"{gap - mean:.2f} s on average (publishing the copy, waiting for a tick)")
    show("CPU", f"{cpu / len(ok):.2f} s per sweep, {100 * cpu / wall:.0f} % of one core overall")
    marks = sorted({k for k in CHECKPOINTS if k <= args.sweeps} | {args.sweeps})
    rss_at = {k: next((s[2] for s in samples if s[0] >= k), samples[-1][2]) for k in marks}
    show("RSS after sweep", ", ".join(f"#{k}: {v / MIB:.1f} MiB" for k, v in rss_at.items()))
    show("peak RSS (VmHWM)", f"{peak / MIB:.1f} MiB")
    first = 10 if args.sweeps > 10 else 1
    if args.sweeps > first:
        grown = rss_at[args.sweeps] - rss_at[first]
        per = grown / (args.sweeps - first)
        show(f"RSS growth #{first}->#{args.sweeps}", f"{grown / MIB:+.1f} MiB = {per / 1024:+.1f} KiB per sweep")
    for r in bad[:3]:
        print(f"  {r['status']} run {r['run_id']}: {r.get('error_summary')}")
    return {
        "wall": mean,
        "cadence": sum(gaps) / len(gaps) if gaps else mean,
        "cpu": cpu / len(ok),
        "rss": peak,
        "sweeps": len(ok),
    }


def bench_peer(args: argparse.Namespace, tmp: Path, env: dict[str, str], extra: list[str]) -> dict[str, float]:
    walls, cpus, peaks = [], [], []
    # `sync` needs an existing file (creating one is `catalog init`'s); made once, outside the timing.
    subprocess.run([*CATALOG, "init", "--db", str(tmp / "peer.duckdb")], env=env, check=True, capture_output=True)
    for _ in range(args.peer_sweeps):
        started = time.monotonic()
        with (tmp / "peer.out").open("wb") as sink:
            proc = subprocess.Popen(
                [*CATALOG, "sync", "--db", str(tmp / "peer.duckdb"), *extra], env=env, stdout=sink, stderr=sink
            )
        try:
            _, status, usage = os.wait4(proc.pid, 0)  # this child's own rusage
        except BaseException:
            proc.kill()
            proc.wait()
            raise
        walls.append(time.monotonic() - started)
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            raise SystemExit(f"catalog sync exited with {proc.returncode}: {(tmp / 'peer.out').read_text()[-2000:]}")
        cpus.append(usage.ru_utime + usage.ru_stime)
        peaks.append(usage.ru_maxrss * 1024)  # kilobytes on Linux
    mean, median, p95 = stats(walls)
    print(f"\npeer: {args.peer_sweeps} x `catalog sync` in a fresh process")
    show("wall per sweep", f"mean {mean:.2f} s, median {median:.2f} s, p95 {p95:.2f} s (start-up included)")
    show("CPU per sweep", f"{sum(cpus) / len(cpus):.2f} s (start-up included)")
    show("peak RSS", f"{max(peaks) / MIB:.1f} MiB")
    return {"wall": mean, "cadence": mean, "cpu": sum(cpus) / len(cpus), "rss": max(peaks), "sweeps": len(walls)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sweeps", type=int, default=50, help="ok sweeps of the service to wait for")
    parser.add_argument("--peer-sweeps", type=int, default=5, help="`catalog sync` processes to run one by one")
    parser.add_argument("--latency", type=float, default=0.05, help="seconds the fake adds to every request")
    parser.add_argument("--concurrency", type=int, default=None, help="passed to `catalog up` and `catalog sync`")
    args = parser.parse_args()
    if args.sweeps < 1 or args.peer_sweeps < 1:
        parser.error("--sweeps and --peer-sweeps must be 1 or more")
    extra = ["--concurrency", str(args.concurrency)] if args.concurrency else []
    fake: subprocess.Popen[bytes] | None = None
    with tempfile.TemporaryDirectory(prefix="bench-service-") as scratch:
        tmp = Path(scratch)
        try:
            fake_out = tmp / "fake.out"
            with fake_out.open("wb") as sink:
                fake = subprocess.Popen(
                    [*CATALOG, "fake-openrouter", "--port", "0", "--latency", str(args.latency)],
                    stdout=sink,
                    stderr=subprocess.STDOUT,
                )
            base_url = wait_for_line(fake, fake_out, r"fake OpenRouter serving (http://\S+)", 60).group(1)
            env = {k: v for k, v in os.environ.items() if not k.startswith("CATALOG_")}
            env |= {
                "OPENROUTER_BASE_URL": base_url,
                "CATALOG_JOB_SNAPSHOT_CATALOG_EVERY": "1s",
                "CATALOG_JOB_SNAPSHOT_PROVIDERS_ENABLED": "false",
                "CATALOG_JOB_PRUNE_RAW_ENABLED": "false",
                "CATALOG_JOB_CHECKPOINT_ENABLED": "false",
            }
            started = time.monotonic()
            subprocess.run(
                [*CATALOG, "replay", "--from", "2026-08-05", "--db", str(tmp / "bench.duckdb")],
                env=env,
                check=True,
                stdout=subprocess.DEVNULL,
            )
            shutil.copyfile(tmp / "bench.duckdb", tmp / "peer.duckdb")
            print(f"fake OpenRouter at {base_url}, {args.latency * 1000:.0f} ms added per request")
            print(f"history prepared: one recorded day (2026-08-05) in {time.monotonic() - started:.1f} s, copied")
            service = bench_service(args, tmp, env, extra)
            peer = bench_peer(args, tmp, env, extra)
        finally:
            stop(fake, signal.SIGINT)
    rows = [
        ("wall per sweep (s)", "wall", "{:.2f}"),
        ("start-to-start (s)", "cadence", "{:.2f}"),
        ("sweeps per hour", "cadence", "{:.0f}"),
        ("CPU per sweep (s)", "cpu", "{:.2f}"),
        ("peak RSS (MiB)", "rss", "{:.1f}"),
    ]
    print(f"\n{'':<22}{'catalog up':>14}{'catalog sync x N':>18}")
    for label, key, spec in rows:
        cells = []
        for result in (service, peer):
            value = result[key]
            value = 3600 / value if label == "sweeps per hour" else value / MIB if key == "rss" else value
            cells.append(spec.format(value))
        print(f"{label:<22}{cells[0]:>14}{cells[1]:>18}")
    print(f"{'sweeps measured':<22}{service['sweeps']:>14}{peer['sweeps']:>18}")


if __name__ == "__main__":
    main()
