"""A hostile upstream on loopback: a real HTTP/1.1 server whose answer to each path is scripted — a JSON body,
a body that trickles a byte at a time for ever, or a large body generated while it is sent (never held).

The fake OpenRouter answers like OpenRouter; this one answers like an attacker or a broken proxy, with the
socket under the test's control, so a test can count what the client actually read before it hung up.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Answer = Callable[[BaseHTTPRequestHandler, threading.Event], None]
PREFIX = "/api/v1/"


def json_body(payload: Any) -> Answer:
    body = json.dumps(payload).encode()

    def answer(handler: BaseHTTPRequestHandler, _stop: threading.Event) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    return answer


def trickle(every: float) -> Answer:
    """Headers at once, then one byte of a promised megabyte every ``every`` seconds until the client leaves."""

    def answer(handler: BaseHTTPRequestHandler, stop: threading.Event) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(1_000_000))
        handler.end_headers()
        handler.wfile.write(b"{")
        while not stop.wait(every):
            handler.wfile.write(b" ")  # raises once the client has closed the connection

    return answer


class Counter:
    """Bytes of body written so far (by a ``huge`` answer)."""

    def __init__(self) -> None:
        self.sent = 0


def huge(total: int, counter: Counter, *, declare: bool) -> Answer:
    """A ``/models`` body of ``total`` bytes: one model whose name fills it, generated as it is written.
    ``declare``: send ``Content-Length`` (else the body is chunked and its size unknown until it ends)."""
    head = b'{"data": [{"id": "acme/huge", "pricing": {"prompt": "0", "completion": "0"}, "name": "'
    tail = b'"}]}'
    filler = b"A" * 65536

    def answer(handler: BaseHTTPRequestHandler, stop: threading.Event) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        if declare:
            handler.send_header("Content-Length", str(total))
        else:
            handler.send_header("Transfer-Encoding", "chunked")
        handler.end_headers()

        def write(part: bytes) -> None:
            handler.wfile.write(part if declare else b"%x\r\n%s\r\n" % (len(part), part))
            counter.sent += len(part)

        write(head)
        left = total - len(head) - len(tail)
        while left > 0 and not stop.is_set():
            part = filler[: min(left, len(filler))]
            write(part)
            left -= len(part)
        write(tail)
        if not declare:
            handler.wfile.write(b"0\r\n\r\n")

    return answer


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def do_GET(self) -> None:
        path = self.path.removeprefix(PREFIX)
        self.server.requests.append(path)
        answer = self.server.routes.get(path)
        try:
            if answer is None:
                self.send_error(404)
                return
            answer(self, self.server.stop)
        except OSError:
            self.close_connection = True  # the client hung up: that is what the tests want to see

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, routes: dict[str, Answer]) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.routes = routes
        self.requests: list[str] = []
        self.stop = threading.Event()

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client hanging up mid-answer is the point of these tests, not news on stderr


@contextmanager
def upstream(routes: dict[str, Answer]) -> Iterator[tuple[str, list[str]]]:
    """Serve ``routes`` (paths under ``/api/v1/``); yields the base URL and the list of paths requested."""
    server = _Server(routes)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/api/v1", server.requests
    finally:
        server.stop.set()  # ends every trickle and stream still being written
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def finished_within(seconds: float, work: Callable[[], Any]) -> tuple[bool, Any, float]:
    """Run ``work`` in a thread; (whether it ended within ``seconds``, its result, the time taken). A hang on
    the code under test fails the test after ``seconds`` instead of hanging the suite."""
    result: list[Any] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            result.append(work())
        except BaseException as exc:  # handed to the test
            errors.append(exc)

    started = time.monotonic()
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    if errors:
        raise errors[0]
    return not thread.is_alive(), result[0] if result else None, time.monotonic() - started
