"""Transport faults and the request log, as one ASGI middleware in front of the fake's routes.

Order of events for a request under ``/api/v1`` (control routes under ``/_fake`` are neither delayed nor
logged):

1. ``latency`` seconds of asyncio sleep;
2. with probability ``timeout_rate``, ``hang`` more seconds (the client's read timeout should fire);
3. the first ``fail_first`` requests to this path: ``fail_status``;
4. ``/endpoints`` of a model in ``fail_models``: 502;
5. with probability ``failure_rate``: a status drawn from ``failure_statuses``;
6. otherwise the route answers; a 200 on a path in ``truncate_paths`` (or with probability
   ``truncate_rate``) goes out with its full ``Content-Length`` but only the first half of the body, and
   the connection is closed, so the client sees the body end early.

Injected errors use OpenRouter's error shape with ``metadata.fault`` naming the knob; a 429 carries
``Retry-After: <retry_after>``.
"""

from __future__ import annotations

import asyncio
import logging
import random
import threading
import time
import weakref
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from catalog.fake.faults import API_PREFIX, Faults
from catalog.fake.responses import error_response

CONTROL_PREFIX = "/_fake/"
_ENDPOINTS_PREFIX = API_PREFIX + "/models/"
_ENDPOINTS_SUFFIX = "/endpoints"
# How often a long sleep checks whether the server is shutting down, so a hang never holds up shutdown.
_PAUSE_SLICE = 0.05


def endpoints_model(path: str) -> str | None:
    """The model id in a ``/api/v1/models/<id>/endpoints`` path (ids may hold ``/``, ``:`` and ``~``)."""
    if path.startswith(_ENDPOINTS_PREFIX) and path.endswith(_ENDPOINTS_SUFFIX):
        model = path[len(_ENDPOINTS_PREFIX) : -len(_ENDPOINTS_SUFFIX)]
        return model or None
    return None


@dataclass(frozen=True)
class LoggedRequest:
    """One request: what was asked and the status it got (0: no answer was sent, e.g. shutdown)."""

    method: str
    path: str
    status: int
    at: float


class RequestLog:
    """Every request the fake answered outside ``/_fake``, readable from any thread.

    Counts are exact for the whole run; ``entries`` keeps the most recent ``keep`` requests only, so a
    server left running for days does not grow without bound.
    """

    def __init__(self, keep: int = 10_000) -> None:
        self._lock = threading.Lock()
        self._entries: deque[LoggedRequest] = deque(maxlen=keep)
        self._counts: Counter[tuple[str, int]] = Counter()

    def record(self, method: str, path: str, status: int) -> None:
        """Note one request (called by the middleware as the response starts)."""
        with self._lock:
            self._entries.append(LoggedRequest(method, path, status, time.monotonic()))
            self._counts[(path, status)] += 1

    @property
    def entries(self) -> list[LoggedRequest]:
        """The most recent requests, oldest first; ``at`` is ``time.monotonic()`` (to check retry delays)."""
        with self._lock:
            return list(self._entries)

    def count(self, path: str | None = None, status: int | None = None) -> int:
        """How many requests matched ``path`` (a full request path) and/or ``status``."""
        with self._lock:
            return sum(
                n
                for (p, s), n in self._counts.items()
                if (path is None or p == path) and (status is None or s == status)
            )

    def by_path(self) -> dict[str, int]:
        """Request counts per path."""
        out: Counter[str] = Counter()
        with self._lock:
            for (path, _), n in self._counts.items():
                out[path] += n
        return dict(out)

    def by_status(self) -> dict[int, int]:
        """Request counts per HTTP status."""
        out: Counter[int] = Counter()
        with self._lock:
            for (_, status), n in self._counts.items():
                out[status] += n
        return dict(out)

    def statuses(self, path: str) -> list[int]:
        """The statuses one path got, in order: e.g. ``[429, 200]`` for a retried request."""
        return [e.status for e in self.entries if e.path == path]

    def reset(self) -> None:
        """Forget every request so far."""
        with self._lock:
            self._entries.clear()
            self._counts.clear()


class FaultState:
    """The moving parts of one faults setting: seeded RNG streams and the ``fail_first`` counters."""

    def __init__(self, faults: Faults) -> None:
        self.faults = faults
        self._lock = threading.Lock()
        self._seen: Counter[str] = Counter()
        # One stream per knob: enabling truncation must not change which requests fail.
        self._rngs = {
            knob: random.Random(None if faults.seed is None else f"{faults.seed}/{knob}")
            for knob in ("failure", "status", "timeout", "truncate")
        }

    def roll(self, knob: str, rate: float) -> bool:
        """True with probability ``rate`` on the knob's own stream."""
        if rate <= 0:
            return False
        with self._lock:
            return self._rngs[knob].random() < rate

    def failure_status(self) -> int:
        """One of ``failure_statuses``."""
        with self._lock:
            return self._rngs["status"].choice(self.faults.failure_statuses)

    def first_requests(self, path: str) -> bool:
        """Count a request to ``path``; True while it is among the first ``fail_first`` ones."""
        if self.faults.fail_first <= 0:
            return False
        with self._lock:
            self._seen[path] += 1
            return self._seen[path] <= self.faults.fail_first


class FaultInjector:
    """ASGI middleware applying the current :class:`FaultState` and writing the :class:`RequestLog`."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        current: Callable[[], FaultState],
        log: RequestLog,
        released: threading.Event,
    ) -> None:
        self.app = app
        self.current = current
        self.log = log
        self.released = released

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(CONTROL_PREFIX):
            await self.app(scope, receive, send)
            return
        logged = False

        async def send_and_log(message: Message) -> None:
            nonlocal logged
            if message["type"] == "http.response.start":
                # Log before the client can see the answer, so a test that just got a response finds it.
                self.log.record(scope["method"], scope["path"], message["status"])
                logged = True
            await send(message)

        try:
            path = scope["path"]
            if path == API_PREFIX or path.startswith(API_PREFIX + "/"):
                await self._faulty(scope, receive, send_and_log)
            else:
                await self.app(scope, receive, send_and_log)
        finally:
            if not logged:
                self.log.record(scope["method"], scope["path"], 0)

    async def _faulty(self, scope: Scope, receive: Receive, send: Send) -> None:
        state = self.current()
        faults = state.faults
        path = scope["path"]
        await self._pause(faults.latency)
        if state.roll("timeout", faults.timeout_rate):
            await self._pause(faults.hang)
        if state.first_requests(path):
            await _injected(faults, faults.fail_status, "fail_first", scope)(scope, receive, send)
            return
        model = endpoints_model(path)
        if model is not None and model in faults.fail_models:
            await _injected(faults, 502, "fail_models", scope)(scope, receive, send)
            return
        if state.roll("failure", faults.failure_rate):
            await _injected(faults, state.failure_status(), "failure_rate", scope)(scope, receive, send)
            return
        if path in faults.truncate_paths or state.roll("truncate", faults.truncate_rate):
            await _truncated(self.app, scope, receive, send)
            return
        await self.app(scope, receive, send)

    async def _pause(self, seconds: float) -> None:
        await pause(seconds, self.released)


async def pause(seconds: float, released: threading.Event) -> None:
    """Sleep without blocking other requests, cut short when ``released`` is set (the server shuts down)."""
    deadline = time.monotonic() + seconds
    while not released.is_set():
        left = deadline - time.monotonic()
        if left <= 0:
            return
        await asyncio.sleep(min(left, _PAUSE_SLICE))


def _injected(faults: Faults, status: int, knob: str, scope: Scope) -> ASGIApp:
    headers = {"Retry-After": f"{faults.retry_after:g}"} if status == 429 else None
    message = "Rate limit exceeded" if status == 429 else HTTPStatus(status).phrase
    if faults.echo_credentials:
        sent = dict(scope.get("headers", []))
        authorization = sent.get(b"authorization", b"").decode("latin-1")
        query = scope.get("query_string", b"").decode("latin-1")
        message += f" (request {scope['path']}{'?' + query if query else ''}, Authorization: {authorization})"
    return error_response(status, message, {"fault": knob}, headers)


async def _truncated(app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
    """Run ``app``, then send a 200 with its full Content-Length but half its body, and drop the line."""
    start: Message | None = None
    chunks: list[bytes] = []

    async def capture(message: Message) -> None:
        nonlocal start
        if message["type"] == "http.response.start":
            start = message
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, receive, capture)
    if start is None:
        raise RuntimeError("the route returned without sending a response")
    body = b"".join(chunks)
    await send(start)
    if start["status"] != 200:
        await send({"type": "http.response.body", "body": body, "more_body": False})
        return
    # Returning with the body unfinished makes uvicorn close the connection after the half already
    # written, which is exactly a connection lost mid-body. uvicorn reports that as an error; the filter
    # below drops the report for these deliberate cases only.
    await send({"type": "http.response.body", "body": body[: len(body) // 2], "more_body": True})
    expect_incomplete_response()


_UNFINISHED = "ASGI callable returned without completing response."
_deliberate: weakref.WeakSet[asyncio.Task[Any]] = weakref.WeakSet()


class _DeliberateTruncationFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if record.msg != _UNFINISHED:
            return True
        try:
            task = asyncio.current_task()
        except RuntimeError:
            return True
        return task is None or task not in _deliberate


_FILTER = _DeliberateTruncationFilter()


def expect_incomplete_response() -> None:
    # uvicorn logs the unfinished response from inside the task that ran the app, right after it returns.
    task = asyncio.current_task()
    if task is not None:
        _deliberate.add(task)
    logger = logging.getLogger("uvicorn.error")
    if _FILTER not in logger.filters:
        logger.addFilter(_FILTER)
