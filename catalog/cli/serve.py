"""Serving commands: the fake OpenRouter server (later: the API and the site)."""

from __future__ import annotations

import click


@click.command("fake-openrouter")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(0, 65535), default=None, help="Port (0 picks a free one).")
@click.option("--day", help="Recorded snapshot to serve (default: the newest full day).")
@click.option("--latency", type=click.FloatRange(min=0), default=0.0, help="Seconds added to every request.")
@click.option("--failure-rate", type=click.FloatRange(0, 1), default=0.0, help="Share of requests that fail.")
@click.option(
    "--faults",
    "faults_json",
    help='Any fault knobs as JSON, e.g. \'{"fail_first": 1, "drift": ["dynamic_price"]}\'.',
)
def fake_openrouter_cmd(
    host: str, port: int | None, day: str | None, latency: float, failure_rate: float, faults_json: str | None
) -> None:
    """Serve recorded OpenRouter data over HTTP in the exact v1 shapes (GET /api/v1/models …).

    The served day can be switched while it runs: POST /_fake/day {"day": "2026-07-18"}.
    """
    from catalog.fake import DEFAULT_PORT, Faults, run

    faults = Faults.from_json(faults_json) if faults_json else Faults()
    overrides = {k: v for k, v in (("latency", latency), ("failure_rate", failure_rate)) if v}
    if overrides:
        faults = Faults.from_dict({**faults.to_dict(), **overrides})
    run(host=host, port=DEFAULT_PORT if port is None else port, day=day, faults=faults)
