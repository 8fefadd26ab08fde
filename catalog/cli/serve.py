"""Serving commands: the fake OpenRouter server (later: the API and the site)."""

from __future__ import annotations

import json

import click

from catalog.errors import ConfigError


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

    knobs: dict[str, object] = {}
    if faults_json:
        try:
            knobs = json.loads(faults_json)
        except json.JSONDecodeError as exc:
            raise ConfigError(
                f"--faults is not valid JSON ({exc}); pass an object like '{{\"latency\": 0.1}}'"
            ) from None
        if not isinstance(knobs, dict):
            raise ConfigError("--faults must be a JSON object of fault knobs")
    if latency:
        knobs["latency"] = latency
    if failure_rate:
        knobs["failure_rate"] = failure_rate
    try:
        faults = Faults.from_dict(knobs)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"bad fault settings: {exc}") from None
    run(host=host, port=DEFAULT_PORT if port is None else port, day=day, faults=faults)
