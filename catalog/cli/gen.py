"""``catalog gen``: one call to a model, its text as it arrives, then its tokens and its cost."""

from __future__ import annotations

import json
import sys
from contextlib import ExitStack
from typing import TYPE_CHECKING, Any

import click

from catalog.cli.common import BaseUrl, Whole, db_option, json_option
from catalog.settings import db_path

if TYPE_CHECKING:
    from catalog.client import Generation


@click.command("gen")
@click.argument("prompt")
@click.option("-m", "--model", required=True, help="author/model, or provider:author/model to pin a provider.")
@click.option("--stream", is_flag=True, help="Stream the answer and print it as it arrives.")
@click.option("--sys", "sys_msg", default=None, help="A system message (none is added otherwise).")
@click.option("--max-tokens", type=Whole(min=1), default=None, help="Cap the answer's length.")
@click.option("--cheapest", is_flag=True, help="Route to the cheapest endpoints for this request (from the history).")
@click.option(
    "--base-url", type=BaseUrl(), default=None, help="API base (default: $OPENROUTER_BASE_URL, else OpenRouter's)."
)
@db_option
@json_option
def gen_cmd(
    prompt: str,
    model: str,
    stream: bool,
    sys_msg: str | None,
    max_tokens: int | None,
    cheapest: bool,
    base_url: str | None,
    db: str | None,
    as_json: bool,
) -> None:
    """Call MODEL with PROMPT; print the answer, the tokens, and the cost computed from the catalog beside
    what OpenRouter billed. The key comes from OPENROUTER_API_KEY and is never printed."""
    from catalog.client import Client, Generation
    from catalog.errors import StreamError
    from catalog.library import Catalog

    options: dict[str, Any] = {"sys_msg": sys_msg, "stream": stream}
    if max_tokens is not None:
        options["max_tokens"] = max_tokens
    if cheapest:
        options["route"] = "cheapest"
    with ExitStack() as stack:
        # Costs come from the history when there is one; without it the call still runs, uncosted.
        prices = stack.enter_context(Catalog.open(db)) if db_path(db).exists() else None
        client = stack.enter_context(Client(prices=prices, base_url=base_url))
        printer = None if as_json else _printer()
        try:
            generation = client.generate(prompt, model, on_text=printer, **options)
        except StreamError as exc:
            # What arrived before the stream broke was billed: say what it was, then the error.
            if isinstance(exc.partial, Generation) and not as_json:
                click.echo("", err=False)
                click.echo("partial answer: " + _summary(exc.partial), err=True)
            raise
    if as_json:
        click.echo(json.dumps(generation.to_dict(), indent=2, ensure_ascii=False))
        return
    click.echo("" if generation.text.endswith("\n") else "\n", nl=False)
    click.echo(_summary(generation), err=True)


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
    computed = f"${g.cost}" if g.cost is not None else f"not computed ({g.cost_status}: {g.cost_reason})"
    billed = f"${g.billed_cost}" if g.billed_cost is not None else "not reported"
    if g.is_byok:
        billed += " by the provider (BYOK: OpenRouter billed 0)"
    line = f"{g.model} via {g.provider or '?'}: {tokens}; cost {computed}, billed {billed}"
    if g.cost_difference is not None:
        line += f" (difference ${g.cost_difference})"
    ttft = f", first token {g.ttft * 1000:.0f} ms" if g.ttft is not None else ""
    return line + f"; {g.elapsed:.2f} s{ttft}"
