"""Serving commands: the query API over a history file, and the fake OpenRouter server."""

from __future__ import annotations

import click

from catalog.cli.common import Host, Number, Whole, db_option


@click.command("fake-openrouter")
@click.option("--host", type=Host(), default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=Whole(0, 65535), default=None, help="Port (0 picks a free one).")
@click.option("--day", help="Recorded snapshot to serve (default: the newest full day).")
@click.option("--latency", type=Number(min=0), default=0.0, help="Seconds added to every request.")
@click.option("--failure-rate", type=Number(0, 1), default=0.0, help="Share of requests that fail.")
@click.option(
    "--faults",
    "faults_json",
    help='Any fault knobs as JSON, e.g. \'{"fail_first": 1, "drift": ["dynamic_price"]}\'.',
)
@click.option(
    "--echo-models",
    is_flag=True,
    help="List the echo models (echo/echo, priced by the fake) in /models, /endpoints and /providers.",
)
def fake_openrouter_cmd(
    host: str,
    port: int | None,
    day: str | None,
    latency: float,
    failure_rate: float,
    faults_json: str | None,
    echo_models: bool,
) -> None:
    """Serve recorded OpenRouter data over HTTP in the exact v1 shapes (GET /api/v1/models …).

    The served day can be switched while it runs: POST /_fake/day {"day": "2026-07-18"}. POST
    /api/v1/chat/completions answers echo/<anything> (the prompt echoed, exact usage and cost) and
    replay/<recording> (a recorded response, byte for byte).
    """
    from catalog.fake import DEFAULT_PORT, Faults, run

    faults = Faults.from_json(faults_json) if faults_json is not None else Faults()  # "" is no JSON
    overrides = {k: v for k, v in (("latency", latency), ("failure_rate", failure_rate)) if v}
    if overrides:
        faults = Faults.from_dict({**faults.to_dict(), **overrides})
    run(host=host, port=DEFAULT_PORT if port is None else port, day=day, faults=faults, echo_models=echo_models)


@click.command("serve")
@click.option("--host", type=Host(), default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=Whole(0, 65535), default=8080, show_default=True, help="Port (0: any free).")
@db_option
def serve_cmd(host: str, port: int, db: str | None) -> None:
    """Serve the read-only query API over a history file (no scheduler; `catalog up` serves it too).

    OpenAPI document at /openapi.json, docs at /docs, routes under /v1.
    """
    import uvicorn

    from catalog.api import ApiState, create_app, serving_interpreter, settle_heap
    from catalog.asgi_server import bind, http_url, serve_config
    from catalog.settings import db_path
    from catalog.store.db import connect_for_reading

    serving_interpreter()
    path = db_path(db)
    con, copy = connect_for_reading(path)
    state = ApiState(con, copy or path)
    sock = bind(host, port)
    url = http_url(host, sock.getsockname()[1])
    click.echo(f"catalog API on {url}  (docs {url}/docs, OpenAPI {url}/openapi.json; data {copy or path})")
    if copy is not None:
        click.echo(
            "note: a running `catalog up` owns the database and serves this API itself, always current; this "
            "server reads the copy as it is now and does not see later snapshots",
            err=True,
        )
    config = serve_config(create_app(state), timeout_graceful_shutdown=2)
    settle_heap()  # the loaded state out of the collector's reach: no full-collection pause under load
    try:
        uvicorn.Server(config).run(sockets=[sock])
    except KeyboardInterrupt:
        pass  # uvicorn already shut down gracefully
    finally:
        sock.close()
        con.close()
