"""Serving an ASGI app with uvicorn on a socket bound up front (so ``port=0`` and a taken port are known at once).

Used by the fake OpenRouter and by ``catalog up``. A server in a background thread installs no signal
handlers: the process that starts it decides what SIGINT and SIGTERM mean.

The served service (``catalog serve``, ``catalog up``) also bounds how long a client may take to send a request
(``serve_config``). uvicorn bounds only the idle time between requests (``timeout_keep_alive``, which any byte
resets) and has no timeout on receiving a request (its issue #157 plans ``--timeout-request-start`` and
``--timeout-request-complete``, not built), so a client sending its headers or body a byte at a time held a
connection for ever; ASGI middleware cannot help, as the app is called only once the headers are in. The bound is
a subclass of uvicorn's own HTTP/1.1 protocol (httptools, else h11: the one uvicorn would pick) that keeps a
deadline from the first byte of a request to its last header line and another to the end of its body, the
approach of Go's ``ReadHeaderTimeout`` / ``ReadTimeout`` and nginx's ``client_header_timeout``. It reads only
what both protocols keep per request (``cycle`` and its ``more_body`` / ``response_started`` flags), so the
parsing stays uvicorn's.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, cast

import httptools
import uvicorn
from uvicorn.protocols.http.auto import AutoHTTPProtocol
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from catalog.errors import ConfigError
from catalog.settings import ServeSettings


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port``; a taken port is a ``ConfigError`` that says to pick another."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto=IPPROTO_TCP, not the default 0: asyncio only sets TCP_NODELAY on accepted sockets whose proto
    # says TCP, and without it every response waits ~40 ms on Nagle + delayed ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if isinstance(exc, socket.gaierror):  # the name, not the port: no address to listen on
            raise ConfigError(f"cannot listen on {host!r} ({exc.strerror}); give --host an address") from None
        raise ConfigError(f"cannot listen on {host}:{port} ({exc.strerror}); pick another --port") from None
    except (UnicodeError, ValueError, TypeError):  # a name no resolver takes (a label over 63 characters, a NUL)
        sock.close()
        raise ConfigError(f"cannot listen on {host[:60]!r}: not a host name or an address; fix --host") from None
    # Listen now: a URL printed before the server loop starts already accepts connections (they queue).
    sock.listen(2048)
    return sock


def http_url(host: str, port: int) -> str:
    """``http://host:port`` (IPv6 hosts in brackets)."""
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"


@contextmanager
def serve_in_thread(
    server: uvicorn.Server, sock: socket.socket, *, name: str, startup_timeout: float = 10.0
) -> Iterator[None]:
    """Run ``server`` on ``sock`` in a daemon thread for as long as the block runs, then stop and join it."""
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name=name, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + startup_timeout
        while not server.started:
            if not thread.is_alive():
                raise ConfigError(f"the {name} server stopped while starting; see the log above")
            if time.monotonic() > deadline:
                raise ConfigError(f"the {name} server did not start within {startup_timeout:g} s")
            time.sleep(0.005)
        yield
    finally:
        server.should_exit = True
        thread.join(timeout=startup_timeout)
        sock.close()


def quiet_config(app: Any, **options: Any) -> uvicorn.Config:
    """uvicorn settings for a server inside another program: warnings only, no access log, no lifespan."""
    return uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off", **options)


_BODY_HEADERS = frozenset((b"content-length", b"transfer-encoding", b"expect"))
_TIMED_OUT = b"HTTP/1.1 408 Request Timeout\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
_HEADERS_TOO_LARGE = b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"


class _OneWrite:
    """A connection's transport with a response's head and the first part of its body sent in one write.

    uvicorn writes the status line and headers when the app starts a response, and the body when the app
    sends it: two system calls per answer, and on loopback two TCP segments that the writing core also carries
    through the receiving side. Measured on ``/v1/cheapest``, the two writes were a quarter of the server's CPU
    time. Here a write is held when nothing is, the next write goes out with it (one ``writev``), and whatever
    is still held when the event loop's current callbacks have run goes out then (``call_soon``): a response
    whose body comes later (a stream, a file read in a thread, ``100 Continue``) is not delayed by more than
    that. Closing sends what is held first; everything else is the real transport's."""

    def __init__(self, transport: Any, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._held: bytes | None = None

    def write(self, data: Any) -> None:
        held = self._held
        if held is None:
            if data:
                self._held = bytes(data)
                self._loop.call_soon(self._flush)
            return
        self._held = None
        self._transport.writelines((held, data))

    def writelines(self, list_of_data: Any) -> None:
        """A whole response at once (the protocol's own answers): after what is held, not held itself."""
        held, self._held = self._held, None
        self._transport.writelines((held, *list_of_data) if held is not None else list_of_data)

    def _flush(self) -> None:
        held, self._held = self._held, None
        if held is not None and not self._transport.is_closing():
            self._transport.write(held)

    def close(self) -> None:
        self._flush()
        self._transport.close()

    def write_eof(self) -> None:
        self._flush()
        self._transport.write_eof()

    def abort(self) -> None:
        self._held = None
        self._transport.abort()

    def is_closing(self) -> bool:
        return bool(self._transport.is_closing())

    def get_write_buffer_size(self) -> int:
        return int(self._transport.get_write_buffer_size()) + len(self._held or b"")

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._transport.get_extra_info(name, default)

    def __getattr__(self, name: str) -> Any:  # pause_reading, get_protocol, ...: the real transport's
        return getattr(self._transport, name)


class _RequestDeadlines(AutoHTTPProtocol):  # type: ignore[misc,valid-type]
    """uvicorn's HTTP/1.1 protocol with a deadline on receiving each request (see the module's notes).

    The header deadline runs from the connection (or the first byte of a later request on it) until the
    headers are complete; the body deadline from there until the body is complete. Both are absolute: a byte
    now and then does not extend them. A request received whole disarms both, so a slow *response* (or a
    client reading one slowly) is never cut. On expiry the client gets a 408 if no response has begun, and the
    connection is closed (a connection that sent nothing is just closed); the app, if it was waiting for the
    body, sees the client disconnect.
    """

    limits: ServeSettings = ServeSettings()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # The app's shortcut for requests it answers without ASGI (``CatalogApi.answer_now``): only on uvicorn's
        # httptools protocol (whose parser it reads), without an access log (it writes none) or a concurrency cap.
        answer_now = getattr(self.config.app, "answer_now", None)
        usable = isinstance(self, HttpToolsProtocol) and not self.access_log and self.limit_concurrency is None
        self._answer_now: Any = answer_now if usable and not self.root_path else None
        self._answered = 0  # requests answered at once on this connection
        self._answering = False  # the request being parsed was answered at once

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        # Every write of the protocol and its request cycles from here on goes through the one-write transport
        # (uvicorn's flow control keeps the real one: it only pauses and resumes reading).
        self.transport: asyncio.Transport = cast(asyncio.Transport, _OneWrite(transport, self.loop))
        self._deadline: asyncio.TimerHandle | None = None
        self._awaiting_body = False
        self._seen: Any = None  # the request (uvicorn's cycle) whose headers were last seen complete
        self._header_bytes = 0
        self._arm(self.limits.header_timeout, body=False)  # a connection that sends nothing is closed too

    def data_received(self, data: bytes) -> None:
        if self._deadline is None:
            self._header_bytes = 0
            self._arm(self.limits.header_timeout, body=False)  # the first bytes of the next request
        answered = self._answered
        super().data_received(data)
        cycle: Any = self.cycle
        if cycle is not None and cycle is not self._seen:  # this data completed a request's headers
            self._seen = cycle
            self._disarm()
            if cycle.more_body:
                self._arm(self.limits.body_timeout, body=True)
        elif self._answered != answered:  # a request answered at once: received whole (it has no body)
            self._disarm()
        elif self._awaiting_body:
            if cycle is not None and not cycle.more_body:
                self._disarm()
        else:  # still inside the headers: they are bounded in size as well as in time
            self._header_bytes += len(data)
            if self._header_bytes > self.limits.max_header_bytes and not self.transport.is_closing():
                self._refuse(_HEADERS_TOO_LARGE)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def on_headers_complete(self) -> None:
        """A request the app answers at once (``answer_now``) is answered here, in one write, without the task,
        scope and ASGI messages of uvicorn's request cycle; any other goes on as uvicorn's protocol takes it.

        Only a plain ``GET``: HTTP/1.1 kept alive, no body, no ``Expect``, no upgrade, and nothing else of this
        connection's in flight (pipelined requests are answered in order)."""
        answer_now = self._answer_now
        if answer_now is not None and self._plain_get():
            parsed = httptools.parse_url(self.url)
            found = None
            with contextlib.suppress(Exception):  # the app answers it the usual way, errors included
                found = answer_now(parsed.path, parsed.query or b"", self.headers)
            if found is not None:
                status, headers, body = found
                head = [STATUS_LINE[status]]
                for name, value in (*self.server_state.default_headers, *headers):
                    head += (name, b": ", value, b"\r\n")
                head.append(b"\r\n")
                self.transport.writelines((b"".join(head), body))
                self._answered += 1
                self._answering = True
                self.on_response_complete()  # counted, reading resumed, the keep-alive timer armed, as uvicorn does
                return
        super().on_headers_complete()

    def _plain_get(self) -> bool:
        parser, cycle = self.parser, self.cycle
        if parser.get_method() != b"GET" or parser.get_http_version() != "1.1" or not parser.should_keep_alive():
            return False
        if parser.should_upgrade() or self.pipeline or (cycle is not None and not cycle.response_complete):
            return False
        return not any(name in _BODY_HEADERS for name, _ in self.headers) and not self.transport.is_closing()

    def on_message_complete(self) -> None:
        if self._answering:  # answered with its headers: no cycle of uvicorn's to complete
            self._answering = False
            return
        super().on_message_complete()

    def _arm(self, seconds: float, *, body: bool) -> None:
        self._awaiting_body = body
        self._deadline = self.loop.call_later(seconds, self._expired)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None
        self._awaiting_body = False

    def _expired(self) -> None:
        self._deadline = None
        cycle: Any = self.cycle
        if not self._awaiting_body and cycle is not None and not cycle.response_complete:
            # The next request is trickling in while this one's response is still being sent: finish that
            # response, then close (uvicorn closes after a response that may not keep the connection alive).
            cycle.keep_alive = False
            return
        if not self._awaiting_body and self._header_bytes == 0:
            # Not one byte of a request: closed without a word, as a browser's unused preconnection expects.
            self._disarm()
            self.transport.close()
            return
        self._refuse(_TIMED_OUT)

    def _refuse(self, answer: bytes) -> None:
        cycle: Any = self.cycle
        # Answer unless a response to this request has begun (between requests, the last one's has ended).
        if cycle is None or not cycle.response_started or (cycle.response_complete and not self._awaiting_body):
            self.transport.write(answer)
        self._disarm()
        self.transport.close()


def guarded_protocol(limits: ServeSettings) -> type[asyncio.Protocol]:
    """uvicorn's HTTP/1.1 protocol class with these request deadlines and header size cap."""
    return type("GuardedHTTPProtocol", (_RequestDeadlines,), {"limits": limits})


def serve_config(app: Any, limits: ServeSettings | None = None, **options: Any) -> uvicorn.Config:
    """uvicorn settings for the catalog's own service: slow or oversized requests are cut off (``limits``,
    default from the environment), warnings only, no access log, no lifespan."""
    protocol = guarded_protocol(limits or ServeSettings.from_env())
    return uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off", http=protocol, **options)
