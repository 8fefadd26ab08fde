"""Benchmark: one full sweep of a recorded day against the fake OpenRouter with 100 ms added latency.

The fake server runs in its own process (``catalog fake-openrouter``), so the client's event loop and the
server do not share a GIL. Prints the wall time at the default concurrency and, in the same run, the
sequential (concurrency 1) time as the peer. Target: ≤ 4 s at the default concurrency.

    python bench/sync.py [--day 2026-08-05] [--latency 0.1] [--skip-sequential]
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import subprocess
import sys
import time

import httpx

from catalog.openrouter.fetch import fetch_sweep
from catalog.settings import FetchSettings


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_up(url: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url.replace("/api/v1", "/_fake/state"), timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise SystemExit(f"fake server at {url} did not start")


def timed_sweep(base_url: str, concurrency: int) -> tuple[float, int, int, int]:
    settings = FetchSettings(base_url=base_url, concurrency=concurrency)
    started = time.perf_counter()
    sweep = asyncio.run(fetch_sweep(settings))
    elapsed = time.perf_counter() - started
    assert sweep.fatal is None, sweep.fatal
    return elapsed, len(sweep.models or []), len(sweep.raw), len(sweep.endpoint_failures)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--day", default="2026-08-05")
    parser.add_argument("--latency", type=float, default=0.1)
    parser.add_argument("--skip-sequential", action="store_true")
    parser.add_argument("--also", type=int, action="append", default=[16], help="extra concurrency levels to time")
    args = parser.parse_args()
    port = free_port()
    faults = f'{{"latency": {args.latency}}}'
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "catalog",
            "fake-openrouter",
            "--port",
            str(port),
            "--day",
            args.day,
            "--faults",
            faults,
        ],
        stdout=subprocess.DEVNULL,
    )
    base_url = f"http://127.0.0.1:{port}/api/v1"
    try:
        wait_up(base_url)
        print(f"fake OpenRouter: day {args.day}, {args.latency * 1000:.0f} ms added latency per request")
        for concurrency in [8, *args.also] + ([] if args.skip_sequential else [1]):
            elapsed, models, requests, failures = timed_sweep(base_url, concurrency)
            label = {8: "default", 1: "sequential (peer)"}.get(concurrency, "")
            # Endpoint calls are waves of `concurrency` requests each paying the added latency.
            floor = args.latency * (2 + -(-(requests - 2) // concurrency))
            print(
                f"concurrency {concurrency:>2} {label:>17}: {elapsed:6.2f} s wall for {requests} requests "
                f"({models} models, {failures} failed) = {requests / elapsed:6.1f} req/s; "
                f"latency floor {floor:.2f} s"
            )
        print("target: ≤ 4 s at the default concurrency")
    finally:
        server.terminate()
        server.wait(timeout=10)


if __name__ == "__main__":
    main()
