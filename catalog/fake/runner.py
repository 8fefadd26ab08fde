"""Running the fake OpenRouter: in a background thread for tests, or in the foreground for the CLI.

Both bind the listening socket before uvicorn starts, so the port (even a free one picked with
``port=0``) is known up front and a taken port fails at once with a clear message.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn

from catalog import asgi_server
from catalog.asgi_server import bind, http_url, quiet_config
from catalog.fake.echo_models import ECHO_MODELS
from catalog.fake.faults import API_PREFIX, Faults
from catalog.fake.server import FakeOpenRouter
from catalog.fake.source import SnapshotSource

DEFAULT_PORT = 8765
# Backstop only: hangs and latency sleeps are released on shutdown, so requests normally end at once.
_GRACEFUL_SHUTDOWN_SECONDS = 2


def base_url(host: str, port: int) -> str:
    """``http://host:port/api/v1`` (IPv6 hosts in brackets)."""
    return http_url(host, port) + API_PREFIX


@contextmanager
def serve_in_thread(
    fake: FakeOpenRouter, host: str = "127.0.0.1", port: int = 0, *, startup_timeout: float = 10.0
) -> Iterator[str]:
    """Serve ``fake`` from a background thread; yields the base URL ``http://127.0.0.1:<port>/api/v1``.

    Returns once the server accepts connections; on exit stops it and joins the thread, so no thread
    or socket outlives the block. ``port=0`` picks a free port.
    """
    sock = bind(host, port)
    # log_config=None: leave logging to the caller (pytest captures uvicorn's warnings through the root
    # logger) instead of reconfiguring the process's logging from a background thread.
    config = quiet_config(fake.app, log_config=None, timeout_graceful_shutdown=_GRACEFUL_SHUTDOWN_SECONDS)
    server = _Server(config, fake)
    fake.hold_pauses()
    port_bound = sock.getsockname()[1]
    with asgi_server.serve_in_thread(
        server, sock, name=f"fake-openrouter-{port_bound}", startup_timeout=startup_timeout
    ):
        yield base_url(host, port_bound)


def run(
    host: str = "127.0.0.1",
    port: int = DEFAULT_PORT,
    day: str | None = None,
    faults: Faults | None = None,
    *,
    source: SnapshotSource | None = None,
    echo_models: bool = False,
) -> None:
    """Serve the recorded bundle (or ``source``) in the foreground until Ctrl-C (``catalog fake-openrouter``).

    Prints the base URL and the day served; point the fetcher at it with ``OPENROUTER_BASE_URL``.
    ``port=0`` picks a free port (the printed URL names it). ``echo_models`` lists the echo models in the
    catalog routes. Returns normally after Ctrl-C.
    """
    if source is None:
        from catalog.bundle import Bundle  # the bundle is only needed when no source is given

        source = Bundle()
    fake = FakeOpenRouter(source, day=day, faults=faults, echo_models=echo_models)
    sock = bind(host, port)
    url = base_url(host, sock.getsockname()[1])
    served = fake.served
    print(f"fake OpenRouter serving {url}", flush=True)
    print(
        f"day {fake.day} ({served.info.kind} snapshot, {len(served.models)} models); "
        f"switch with POST {url.removesuffix(API_PREFIX)}/_fake/day",
        flush=True,
    )
    listed = f"; listed: {', '.join(ECHO_MODELS)}" if echo_models else ""
    print(f"chat: POST {url}/chat/completions with echo/<anything> or replay/<recording>{listed}", flush=True)
    if fake.faults.active:
        print(f"faults {fake.faults.to_json()}", flush=True)
    config = quiet_config(fake.app, timeout_graceful_shutdown=_GRACEFUL_SHUTDOWN_SECONDS)
    try:
        _Server(config, fake).run(sockets=[sock])
    except KeyboardInterrupt:
        # uvicorn shuts down gracefully on Ctrl-C, then re-raises the signal; stopping is the normal end.
        pass
    finally:
        sock.close()
    print("fake OpenRouter stopped", flush=True)


class _Server(uvicorn.Server):
    """uvicorn's server, releasing the fake's latency and hang sleeps as soon as shutdown starts."""

    def __init__(self, config: uvicorn.Config, fake: FakeOpenRouter) -> None:
        super().__init__(config)
        self.fake = fake

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        self.fake.release_pauses()
        await super().shutdown(sockets)
