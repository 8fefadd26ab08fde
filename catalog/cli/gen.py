"""``catalog gen``: one call to a model, its text as it arrives, then its tokens and its cost.

The common request options have flags of their own; ``--option KEY=JSON`` sets any other one (checked by the
client like every option: an unknown name is refused with the known ones). ``--fake`` runs the call offline
against an in-process fake OpenRouter, costed from a history synced from that fake (see ``offline_history``);
``provider:author/model`` there calls the fake's echo of that provider's own API (``catalog.fake.native``) with
the model id and prices the bundled data records for it.
"""

from __future__ import annotations

import json
import re
import sys
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from catalog import json_input
from catalog.cli.common import BaseUrl, FilePath, HeaderText, Names, Number, Whole, db_option, json_option
from catalog.errors import InputError
from catalog.money import canonical
from catalog.settings import db_path

if TYPE_CHECKING:
    from catalog.client import Generation

EFFORTS = ("max", "xhigh", "high", "medium", "low", "minimal", "none")
SORTS = ("price", "throughput", "latency")


@click.command("gen")
@click.argument("prompt")
@click.option("-m", "--model", required=True, help="author/model, or provider:author/model to pin a provider.")
@click.option("--stream", is_flag=True, help="Stream the answer and print it as it arrives.")
@click.option("--sys", "sys_msg", default=None, help="A system message (none is added otherwise).")
@click.option("--max-tokens", type=Whole(min=1), default=None, help="Cap the answer's length.")
@click.option("--temperature", type=Number(0, 2), default=None, help="Sampling temperature (0-2).")
@click.option("--top-p", type=Number(0, 1), default=None, help="Nucleus sampling (0-1).")
@click.option("--seed", type=Whole(), default=None, help="Sampling seed, where the provider supports one.")
@click.option("--stop", multiple=True, help="A stop sequence (repeat for up to 4).")
@click.option("--reasoning-effort", type=click.Choice(EFFORTS), default=None, help="reasoning.effort.")
@click.option(
    "--json-schema",
    "schema_file",
    type=FilePath(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Ask for JSON matching this JSON Schema file (strict); the reply is checked against it.",
)
@click.option(
    "--provider-order", type=Names(), default=None, metavar="A,B", help="provider.order: try these providers first."
)
@click.option("--provider-only", type=Names(), default=None, metavar="A,B", help="provider.only: no other provider.")
@click.option(
    "--provider-ignore", type=Names(), default=None, metavar="A,B", help="provider.ignore: never these providers."
)
@click.option("--provider-sort", type=click.Choice(SORTS), default=None, help="provider.sort.")
@click.option("--no-fallbacks", is_flag=True, help="provider.allow_fallbacks = false.")
@click.option("--web", is_flag=True, help='The web search plugin (plugins: [{"id": "web"}]).')
@click.option(
    "--option",
    "raw_options",
    multiple=True,
    metavar="KEY=JSON",
    help="Any other request option, e.g. --option 'transforms=[\"middle-out\"]' --option user='\"me\"'.",
)
@click.option("--cheapest", is_flag=True, help="Route to the cheapest endpoints for this request (from the history).")
@click.option(
    "--base-url", type=BaseUrl(), default=None, help="API base (default: $OPENROUTER_BASE_URL, else OpenRouter's)."
)
@click.option(
    "--referer", type=BaseUrl(), default=None, help="App attribution: the HTTP-Referer header (your app's URL)."
)
@click.option("--title", type=HeaderText(), default=None, help="App attribution: the X-Title header (your app's name).")
@click.option(
    "--fake",
    is_flag=True,
    help="Offline: call an in-process fake OpenRouter (echo/<anything>, or provider:author/model of a bundled model "
    "to call the fake's echo of that provider's own API), costed from a history synced from it into a temporary "
    "file (--db, --base-url and provider keys are not used).",
)
@click.option(
    "--no-native",
    is_flag=True,
    help="Send provider:author/model through OpenRouter pinned to that provider even when the provider's own key "
    "(ANTHROPIC_API_KEY, OPENAI_API_KEY …) is set.",
)
@db_option
@json_option
def gen_cmd(
    prompt: str,
    model: str,
    stream: bool,
    sys_msg: str | None,
    max_tokens: int | None,
    temperature: float | None,
    top_p: float | None,
    seed: int | None,
    stop: tuple[str, ...],
    reasoning_effort: str | None,
    schema_file: Path | None,
    provider_order: list[str] | None,
    provider_only: list[str] | None,
    provider_ignore: list[str] | None,
    provider_sort: str | None,
    no_fallbacks: bool,
    web: bool,
    raw_options: tuple[str, ...],
    cheapest: bool,
    base_url: str | None,
    referer: str | None,
    title: str | None,
    fake: bool,
    no_native: bool,
    db: str | None,
    as_json: bool,
) -> None:
    """Call MODEL with PROMPT; print the answer, the tokens, and the cost computed from the catalog beside
    what OpenRouter billed. The key comes from OPENROUTER_API_KEY and is never printed."""
    from catalog.client import Client, Generation
    from catalog.client.options import json_schema
    from catalog.errors import StreamError
    from catalog.library import Catalog

    options: dict[str, Any] = _parsed_options(raw_options)  # flags below win over the same --option
    options.update({"sys_msg": sys_msg, "stream": stream})
    flags = {"max_tokens": max_tokens, "temperature": temperature, "top_p": top_p, "seed": seed}
    options.update({k: v for k, v in flags.items() if v is not None})
    if stop:
        options["stop"] = list(stop)
    if reasoning_effort:
        options["reasoning"] = {**options.get("reasoning", {}), "effort": reasoning_effort}
    if schema_file is not None:
        options["response_format"] = json_schema(_schema(schema_file), _schema_name(schema_file))
    provider = _provider(options.get("provider"), provider_order, provider_only, provider_ignore, provider_sort)
    if no_fallbacks:
        provider["allow_fallbacks"] = False
    if provider:
        options["provider"] = provider
    if web:
        options["plugins"] = [*options.get("plugins", []), {"id": "web"}]
    if cheapest:
        options["route"] = "cheapest"
    with ExitStack() as stack:
        native: Any = False if no_native else None
        if fake:
            from catalog.fake import native_base_urls

            base_url, db = stack.enter_context(offline_history(model))
            if not no_native:
                native = native_base_urls(base_url)  # every provider's own API at the fake, never the real one
        # Costs come from the history when there is one; without it the call still runs, uncosted.
        prices = stack.enter_context(Catalog.open(db)) if db_path(db).exists() else None
        client = stack.enter_context(
            Client(prices=prices, base_url=base_url, referer=referer, title=title, native=native)
        )
        printer = None if as_json else _printer()
        try:
            generation = client.generate(prompt, model, on_text=printer, **options)
        except StreamError as exc:
            # What arrived before the stream broke was billed: say what it was, then the error.
            if isinstance(exc.partial, Generation) and not as_json:
                click.echo("", err=False)
                click.echo("partial answer: " + _summary(exc.partial), err=True)
            raise
    parsed = generation.parsed if schema_file is not None else None  # a reply that does not match raises
    if as_json:
        out = generation.to_dict()
        if schema_file is not None:
            out["parsed"] = parsed
        click.echo(json.dumps(out, indent=2, ensure_ascii=False, default=_exact))
        return
    click.echo("" if generation.text.endswith("\n") else "\n", nl=False)
    click.echo(_summary(generation), err=True)


@contextmanager
def offline_history(model: str | None = None) -> Iterator[tuple[str, str]]:
    """An in-process fake OpenRouter listing the echo models, and a temporary history synced from it: yields
    ``(base_url, db)``. The echo's price reaches the client the way a real model's does (``/models`` and
    ``/endpoints`` → the sync → the history → the price in force at the answer's time), so the demo shows the
    pipeline itself rather than a price registered beside it. A bundled ``model`` (``provider:author/model``)
    is listed too, with its endpoints as the newest bundled day recorded them (their ``provider_model_id``
    among them), so a direct call to the fake's echo of that provider is mapped and priced from data."""
    from datetime import UTC, datetime, timedelta

    from catalog.cli.common import open_db
    from catalog.fake import FakeOpenRouter, MemorySource, memory_day, serve_in_thread
    from catalog.pipeline import sync_once
    from catalog.settings import FetchSettings

    # A full day (providers given): the echo models and their endpoint, and the model asked for if bundled.
    models, endpoints = _bundled(model)
    day = memory_day(datetime.now(UTC).date().isoformat(), models, endpoints, [])
    fake = FakeOpenRouter(MemorySource([day]), echo_models=True)
    with tempfile.TemporaryDirectory(prefix="catalog-gen-") as folder, serve_in_thread(fake) as url:
        db = str(Path(folder) / "offline.duckdb")
        with open_db(db, read_only=False, create=True) as con:  # a fresh temporary history
            # Stamped at the whole second before now: an answer's ``created`` is whole seconds (OpenRouter's
            # and the echo's), so a call in the same second as the sync still finds the price in force.
            stamp = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=1)
            summary = sync_once(con, FetchSettings.from_env(base_url=url, concurrency=1), taken_at=stamp)
        if summary.status == "failed":
            raise InputError(f"--fake: the sync from the in-process fake failed ({summary.status}); report it")
        yield url, db


def _bundled(model: str | None) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
    """``model``'s /models entry and endpoints on the newest bundled full day (none for an echo model, or a
    model the bundle does not hold)."""
    from catalog.bundle import Bundle
    from catalog.client import ModelRef

    if model is None or model.strip().startswith("echo/"):
        return [], {}
    wanted = ModelRef.parse(model).model
    bundle = Bundle()
    state = bundle.load(bundle.snapshots("full")[-1].id)
    entries = [m for m in state.models if m.get("id") == wanted]
    return entries, ({wanted: state.endpoints[wanted]} if entries and wanted in state.endpoints else {})


def _parsed_options(raw: tuple[str, ...]) -> dict[str, Any]:
    from catalog.client.options import HANDLED, check_options

    options: dict[str, Any] = {}
    for item in raw:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise InputError(f"--option {item!r}: write KEY=JSON, e.g. --option 'transforms=[\"middle-out\"]'")
        try:
            options[key.strip()] = json_input.loads(text)  # deep nesting, 5,000-digit numbers: a JSON error too
        except json.JSONDecodeError:
            raise InputError(
                f"--option {key[:40]}: {text[:40]!r} is not JSON (quote strings: {key[:40]}='\"value\"')"
            ) from None
    # Decimal keeps a price cap exact; every other number goes to the body as the float JSON would give.
    parsed = {k: v if k == "provider" else _floats(v) for k, v in options.items()}
    for key, value in parsed.items():  # checked now, naming the option, not after the history is opened
        if key not in HANDLED:
            try:
                check_options({key: value})
            except InputError as exc:
                raise InputError(f"--option {exc}") from None
    return parsed


def _floats(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, dict):
        return {k: _floats(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_floats(v) for v in value]
    return value


def _provider(
    given: Any, order: list[str] | None, only: list[str] | None, ignore: list[str] | None, sort: str | None
) -> dict[str, Any]:
    provider: dict[str, Any] = dict(given) if isinstance(given, dict) else {}
    if given is not None and not isinstance(given, dict):
        raise InputError(f"--option provider={given!r} must be a JSON object")
    for key, value in (("order", order), ("only", only), ("ignore", ignore)):
        if value:
            provider[key] = value
    if sort:
        provider["sort"] = sort
    return provider


def _schema(path: Path) -> dict[str, Any]:
    try:
        schema = json_input.loads(path.read_bytes())  # deep nesting, huge numbers: a JSON error, not a crash
    except (OSError, ValueError) as exc:  # JSONDecodeError and bad UTF-8 are ValueErrors
        reason = exc.msg if isinstance(exc, json.JSONDecodeError) else exc
        raise InputError(f"--json-schema {path}: not a readable JSON file ({reason})") from None
    if not isinstance(schema, dict):
        raise InputError(f'--json-schema {path}: a JSON Schema is an object, e.g. {{"type": "object"}}')
    return schema


def _schema_name(path: Path) -> str:
    """The schema's name for the request: the file's stem in the characters OpenAI accepts (≤ 64)."""
    return re.sub(r"[^A-Za-z0-9_-]", "_", path.stem)[:64] or "response"


def _exact(value: Any) -> str:
    if isinstance(value, Decimal):
        return canonical(value)
    raise TypeError(f"{type(value).__name__} is not JSON")


def usd(value: Decimal) -> str:
    """An amount as exact dollars without trailing zeros: ``$0.000012``, ``$0``, ``-$0.000001``."""
    text = canonical(value)
    return f"-${text[1:]}" if text.startswith("-") else f"${text}"


def _printer() -> Any:
    def write(piece: str) -> None:
        sys.stdout.write(piece)
        sys.stdout.flush()

    return write


def _summary(g: Generation) -> str:
    usage = g.usage
    tokens = f"{usage.get('prompt_tokens', 0):,} in"
    if usage.get("cache_read_tokens"):
        tokens += f" ({usage['cache_read_tokens']:,} cached)"
    tokens += f", {usage.get('completion_tokens', 0):,} out"
    if usage.get("reasoning_tokens"):
        tokens += f" ({usage['reasoning_tokens']:,} reasoning)"
    computed = usd(g.cost) if g.cost is not None else f"not computed ({g.cost_status}: {g.cost_reason})"
    billed = usd(g.billed_cost) if g.billed_cost is not None else "not reported"
    if g.is_byok:
        billed += " by the provider (BYOK: OpenRouter billed 0)"
    via = f"{g.provider} directly (as {g.upstream_model})" if g.via == "native" else g.provider or "?"
    line = f"{g.model} via {via}: {tokens}; cost {computed}, billed {billed}"
    if g.cost_difference is not None:
        line += f" (difference {usd(g.cost_difference)})"
    ttft = f", first token {g.ttft * 1000:.0f} ms" if g.ttft is not None else ""
    return line + f"; {g.elapsed:.2f} s{ttft}"
