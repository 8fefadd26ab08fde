"""Benchmark: peak memory of `catalog sync` against a hostile upstream whose `/models` body is 1 GB.

A loopback server in this process generates the body while it sends it (one model whose name fills it, the
shape of the issue's 300 MB attack), never holding it. `catalog sync` runs as a child process and its peak RSS
is read from the kernel (`wait4`). Printed beside it, in the same run: the same sync against a normal small
body, and the old code (a peer git revision, default 843c197, before the body cap) against a smaller body —
the old code holds, parses and stores the whole body, so 1 GB would need tens of GB; `--peer-mb` sets it.
Target: under 300 MB peak RSS for the 1 GB body.

    python bench/upstream_caps.py [--mb 1024] [--peer 843c197] [--peer-mb 200] [--skip-peer]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MB = 1024 * 1024
TARGET_MB = 300
HEAD = b'{"data": [{"id": "acme/huge", "pricing": {"prompt": "0", "completion": "0"}, "name": "'
TAIL = b'"}]}'
SMALL = b'{"data": [{"id": "acme/small", "name": "Small", "pricing": {"prompt": "0.000001", "completion": "0"}}]}'


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def do_GET(self) -> None:
        if not self.path.endswith("/models"):
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        size = self.server.body_bytes
        if self.server.declare:
            self.send_header("Content-Length", str(size if size else len(SMALL)))
        else:
            self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        try:
            for part in _body(size):
                self.wfile.write(part if self.server.declare else b"%x\r\n%s\r\n" % (len(part), part))
            if not self.server.declare:
                self.wfile.write(b"0\r\n\r\n")
        except OSError:
            self.close_connection = True  # the client hung up: the capped client does exactly that

    def log_message(self, format: str, *args: object) -> None:
        pass


def _body(size: int) -> Iterator[bytes]:
    """``size`` bytes of one-model JSON, 1 MB at a time (0: the small normal body)."""
    if not size:
        yield SMALL
        return
    yield HEAD
    filler = b"A" * MB
    left = size - len(HEAD) - len(TAIL)
    while left > 0:
        part = filler[: min(left, MB)]
        yield part
        left -= len(part)
    yield TAIL


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.body_bytes = 0
        self.declare = False

    def handle_error(self, request: object, client_address: object) -> None:
        pass


@contextmanager
def serving() -> Iterator[_Server]:
    server = _Server()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def peak_sync(code: Path, url: str, db: Path) -> tuple[float, float, str]:
    """(peak RSS in MB, seconds, last output line) of `catalog sync` run from the tree at ``code``."""
    env = {**os.environ, "PYTHONPATH": str(code), "CATALOG_MAX_ATTEMPTS": "1"}
    env.pop("OPENROUTER_API_KEY", None)
    cmd = [sys.executable, "-m", "catalog", "sync", "--base-url", url, "--db", str(db), "--json"]
    started = time.perf_counter()
    # cwd too: `python -m` puts the working directory ahead of PYTHONPATH.
    proc = subprocess.Popen(cmd, env=env, cwd=code, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert proc.stdout is not None
    output = proc.stdout.read()
    _pid, _status, usage = os.wait4(proc.pid, 0)
    proc.returncode = 0  # reaped above; keep Popen from waiting again
    elapsed = time.perf_counter() - started
    lines = [line for line in output.decode(errors="replace").splitlines() if line.strip()]
    return usage.ru_maxrss / 1024, elapsed, _gist(lines)


def _gist(lines: list[str]) -> str:
    """The snapshot status and reason from `sync --json` (or the last line when it is not JSON)."""
    import json

    try:
        summary = json.loads("\n".join(lines))
        return f"{summary['status']}: {str(summary.get('error_summary') or '')[:140]}"
    except (ValueError, KeyError, TypeError):
        return (lines[-1] if lines else "")[:160]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mb", type=int, default=1024, help="size of the hostile /models body (MB)")
    parser.add_argument("--peer", default="843c197", help="git revision of the old code")
    parser.add_argument("--peer-mb", type=int, default=200, help="hostile body size for the old code (MB)")
    parser.add_argument("--skip-peer", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, serving() as server:
        folder = Path(tmp)
        url = f"http://127.0.0.1:{server.server_address[1]}/api/v1"
        runs: list[tuple[str, Path, int, bool]] = [
            ("this tree, normal body", ROOT, 0, True),
            (f"this tree, {args.mb} MB chunked", ROOT, args.mb * MB, False),
            (f"this tree, {args.mb} MB with Content-Length", ROOT, args.mb * MB, True),
        ]
        if not args.skip_peer:
            peer = folder / "peer"
            peer.mkdir()
            archive = subprocess.run(["git", "-C", str(ROOT), "archive", args.peer], capture_output=True, check=True)
            subprocess.run(["tar", "-x", "-C", str(peer)], input=archive.stdout, check=True)
            runs.append((f"peer {args.peer}, {args.peer_mb} MB chunked", peer, args.peer_mb * MB, False))
        print(f"`catalog sync` against a loopback /models body generated on the fly (target < {TARGET_MB} MB RSS)")
        for index, (label, code, size, declare) in enumerate(runs):
            server.body_bytes, server.declare = size, declare
            rss, seconds, gist = peak_sync(code, url, folder / f"run{index}.duckdb")
            print(f"  {label:<38} peak RSS {rss:8,.0f} MB  {seconds:6.1f} s  {gist}")
        if not args.skip_peer:
            note = f"the peer is given {args.peer_mb} MB, not {args.mb} MB: it holds the whole body several times over"
            print(f"  ({note})")


if __name__ == "__main__":
    main()
