"""Slow clients cannot hold the served service's connections (issue 16, item 4).

``catalog serve`` runs as a real process with half-second header and body deadlines; raw loopback sockets send
nothing, trickle their headers, trickle a body, flood headers, or trickle a second request on a kept-alive
connection. Each is closed within a bound far below the wait that would mean "never", while ordinary requests
on other connections (and a slow download of a whole request) are served as usual. ``catalog up`` serves
through the same ``serve_config``; the in-process test checks the protocol it installs.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
import uvicorn

from catalog.asgi_server import bind, http_url, serve_config, serve_in_thread
from catalog.errors import ConfigError
from catalog.settings import ServeSettings
from catalog.store.db import connect

BOUND = 0.5  # the header and body deadlines the server runs with here
NEVER = 15.0  # a socket still open after this was never going to be closed
GET = b"GET /openapi.json HTTP/1.1\r\nHost: test\r\n\r\n"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int]]:
    db = tmp_path_factory.mktemp("slow") / "catalog.duckdb"
    connect(db).close()
    env = {"CATALOG_HEADER_TIMEOUT": f"{BOUND}", "CATALOG_BODY_TIMEOUT": f"{BOUND}s", "PYTHONUNBUFFERED": "1"}
    cmd = [sys.executable, "-m", "catalog", "serve", "--port", "0", "--db", str(db)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=_env(env))
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        match = re.search(r"http://127\.0\.0\.1:(\d+)", line)
        assert match, f"catalog serve did not print its URL: {line!r}"
        url = match.group(0)
        _wait_up(url)
        yield url, int(match.group(1))
    finally:
        proc.terminate()
        proc.communicate(timeout=10)


def _env(extra: dict[str, str]) -> dict[str, str]:
    return {**os.environ, **extra}


def _wait_up(url: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/openapi.json", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise AssertionError(f"{url} did not answer")


def until_closed(port: int, send: Callable[[socket.socket], None]) -> tuple[float, bytes]:
    """Connect, run ``send`` (which may trickle), then read until the server closes the connection; return
    the seconds from connecting to the close and what the server wrote (never more than ``NEVER``)."""
    sock = socket.create_connection(("127.0.0.1", port))
    sock.settimeout(NEVER)
    started = time.monotonic()
    received = b""
    try:
        with contextlib.suppress(OSError):  # closed under our feet while trickling: that is the point
            send(sock)
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            received += chunk
    except TimeoutError:
        return NEVER, received
    except OSError:
        pass  # reset by the server
    finally:
        sock.close()
    return time.monotonic() - started, received


def trickle(payload: bytes, every: float = 0.1, limit: float = NEVER) -> Callable[[socket.socket], None]:
    """Send ``payload`` a byte at a time, then keep sending header-ish bytes: never finishing the request."""

    def send(sock: socket.socket) -> None:
        stop = time.monotonic() + limit
        for byte in payload:
            sock.sendall(bytes([byte]))
            time.sleep(every)
        while time.monotonic() < stop:
            sock.sendall(b"x")
            time.sleep(every)

    return send


def at_once(payload: bytes) -> Callable[[socket.socket], None]:
    return lambda sock: sock.sendall(payload)


@pytest.mark.service
def test_slow_headers_and_bodies_are_cut_off_while_normal_requests_are_served(served: tuple[str, int]) -> None:
    url, port = served
    body_head = (
        b"POST /v1/cost HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
    )
    cases = {
        "sends nothing": lambda sock: None,
        "trickles its headers": trickle(b"GET /openapi.json HTTP/1.1\r\nHost: test\r\nX-Slow: "),
        "trickles its body": lambda sock: (sock.sendall(body_head), trickle(b"[")(sock)),
        "floods its headers": at_once(b"GET / HTTP/1.1\r\n" + b"X-Pad: " + b"a" * 200_000 + b"\r\n"),
        "trickles a second request": lambda sock: (sock.sendall(GET), time.sleep(0.2), trickle(b"GET /")(sock)),
    }
    with ThreadPoolExecutor(len(cases)) as pool:
        slow = {name: pool.submit(until_closed, port, send) for name, send in cases.items()}
        # Meanwhile ordinary clients are served, each on its own connection.
        for _ in range(5):
            assert httpx.get(f"{url}/openapi.json", timeout=5).status_code == 200
            rows = [{"model": "acme/alpha", "prompt_tokens": 1, "completion_tokens": 1, "timestamp": 1784000000}]
            cost = httpx.post(f"{url}/v1/cost", content=json.dumps(rows), timeout=5)
            # Read whole and answered (an empty history has no prices: 503 in the API's error shape), not cut.
            assert cost.status_code != 408 and cost.json()["error"]["code"] == "no_data", cost.text
            time.sleep(0.1)
        outcomes = {name: future.result() for name, future in slow.items()}
    for name, (took, _received) in outcomes.items():
        assert took < NEVER, f"a client that {name} was never disconnected"
        assert took < BOUND + 5, f"a client that {name} was disconnected only after {took:.1f} s"
    # Cut before a response began: told why (unless nothing was sent). The kept-alive connection got its first
    # answer whole.
    assert outcomes["sends nothing"][1] == b""  # nothing asked, nothing said: closed
    assert outcomes["trickles its headers"][1].startswith(b"HTTP/1.1 408")
    assert outcomes["trickles its body"][1].startswith(b"HTTP/1.1 408")
    assert outcomes["floods its headers"][1].startswith(b"HTTP/1.1 431")
    second = outcomes["trickles a second request"][1]
    assert second.startswith(b"HTTP/1.1 200") and second.count(b"HTTP/1.1 ") == 2 and b"HTTP/1.1 408" in second


def read_response(sock: socket.socket) -> bytes:
    """One whole response (headers and a ``content-length`` body) from ``sock``."""
    received = b""
    while b"\r\n\r\n" not in received:
        received += sock.recv(65536)
    head, _, body = received.partition(b"\r\n\r\n")
    length = int(re.search(rb"content-length: (\d+)", head, re.IGNORECASE).group(1))  # type: ignore[union-attr]
    while len(body) < length:
        body += sock.recv(65536)
    return head + b"\r\n\r\n" + body


@pytest.mark.service
def test_a_request_received_whole_leaves_no_deadline_behind(served: tuple[str, int]) -> None:
    _url, port = served
    sock = socket.create_connection(("127.0.0.1", port))
    sock.settimeout(NEVER)
    try:
        sock.sendall(GET)
        assert read_response(sock).startswith(b"HTTP/1.1 200")
        time.sleep(BOUND * 3)  # idle past both deadlines (within uvicorn's 5 s keep-alive)
        sock.sendall(GET)
        second = read_response(sock)
    finally:
        sock.close()
    assert second.startswith(b"HTTP/1.1 200") and json.loads(second.partition(b"\r\n\r\n")[2])["openapi"]


def test_the_service_config_installs_the_deadlines_and_reads_them_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CATALOG_HEADER_TIMEOUT", "3")
    monkeypatch.setenv("CATALOG_BODY_TIMEOUT", "1m")
    assert ServeSettings.from_env() == ServeSettings(header_timeout=3, body_timeout=60)

    async def app(scope: dict, receive: Callable, send: Callable) -> None:  # type: ignore[type-arg]
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    config = serve_config(app, ServeSettings(header_timeout=BOUND, body_timeout=BOUND))
    sock = bind("127.0.0.1", 0)
    port = sock.getsockname()[1]
    with serve_in_thread(uvicorn.Server(config), sock, name="guarded"):
        assert httpx.get(http_url("127.0.0.1", port)).status_code == 204
        took, received = until_closed(port, lambda sock: None)
    assert took < BOUND + 5 and received == b""
    assert getattr(config.http, "limits", None) == ServeSettings(header_timeout=BOUND, body_timeout=BOUND)


def test_a_bad_deadline_in_the_environment_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CATALOG_BODY_TIMEOUT", "-1")
    with pytest.raises(ConfigError, match="CATALOG_BODY_TIMEOUT"):
        ServeSettings.from_env()


class _Recorded:
    """A transport that records each write call (``writelines`` as one call of its parts)."""

    def __init__(self) -> None:
        self.calls: list[list[bytes]] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.calls.append([bytes(data)])

    def writelines(self, parts: Any) -> None:
        self.calls.append([bytes(p) for p in parts])

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True


def test_a_response_head_goes_out_with_its_body_and_nothing_is_held_past_the_loop_turn() -> None:
    """The served protocol's transport (``_OneWrite``) sends a response's head with the first part of its body
    in one call; a write with nothing after it leaves once the loop has run its ready callbacks; closing sends
    what is held first; a whole response written at once goes out after anything held, in order."""
    from catalog.asgi_server import _OneWrite

    async def scenario() -> list[list[list[bytes]]]:
        loop = asyncio.get_running_loop()
        seen = []
        real = _Recorded()
        out = _OneWrite(real, loop)
        out.write(b"HEAD1")
        out.write(b"BODY1")
        seen.append(list(real.calls))  # one call, both parts
        out.write(b"HEAD2")  # a HEAD request's answer: no body follows
        seen.append(list(real.calls))  # held for now
        await asyncio.sleep(0)
        seen.append(list(real.calls))  # gone once the loop turned
        out.write(b"HEAD3")
        out.writelines([b"WHOLE4"])
        out.write(b"HEAD5")
        out.close()
        seen.append(list(real.calls))
        return seen

    first, held, turned, closed = asyncio.run(scenario())
    assert first == [[b"HEAD1", b"BODY1"]]
    assert held == first and turned == [*first, [b"HEAD2"]]
    assert closed == [*turned, [b"HEAD3", b"WHOLE4"], [b"HEAD5"]]
