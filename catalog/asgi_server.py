"""Serving an ASGI app with uvicorn on a socket bound up front (so ``port=0`` and a taken port are known at once).

Used by the fake OpenRouter and by ``catalog up``. A server in a background thread installs no signal
handlers: the process that starts it decides what SIGINT and SIGTERM mean.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn

from catalog.errors import ConfigError


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
        raise ConfigError(f"cannot listen on {host}:{port} ({exc.strerror}); pick another --port") from None
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
