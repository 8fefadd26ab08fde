"""``catalog account`` (the key's limits and the account's credits) and ``catalog generation ID`` (one call as
billed, beside what the catalog computes for it)."""

from __future__ import annotations

import json
from contextlib import ExitStack
from decimal import Decimal
from typing import Any

import click

from catalog.cli.common import BaseUrl, db_option, json_option
from catalog.settings import db_path

_BASE_URL_HELP = "API base (default: $OPENROUTER_BASE_URL, else OpenRouter's)."


def _usd(value: Decimal | None) -> str:
    from catalog.money import canonical

    return f"${canonical(value)}" if value is not None else "none"


@click.command("account")
@click.option("--base-url", type=BaseUrl(), default=None, help=_BASE_URL_HELP)
@json_option
def account_cmd(base_url: str | None, as_json: bool) -> None:
    """The key's limit, usage and remaining credit (GET /key) and the account's credits (GET /credits, which
    needs a management key: without one the key is still shown). The key comes from OPENROUTER_API_KEY."""
    from catalog.client import Client
    from catalog.errors import ModerationError

    with Client(base_url=base_url) as client:
        key = client.key_info()
        credits, note = None, None
        try:
            credits = client.credits()
        except ModerationError as exc:  # 403: not a management key; the key's own figures still stand
            note = str(exc)
    if as_json:
        out = {"key": key.to_dict(), "credits": credits.to_dict() if credits else None, "credits_note": note}
        click.echo(json.dumps(out, indent=2, ensure_ascii=False))
        return
    limit = "no limit" if key.limit is None else f"limit {_usd(key.limit)}"
    if key.limit is not None and key.limit_reset:
        limit += f" ({key.limit_reset})"
    remaining = f", {_usd(key.limit_remaining)} remaining" if key.limit_remaining is not None else ""
    click.echo(f"key {key.label or '?'}: {limit}, used {_usd(key.usage)}{remaining}")
    click.echo(
        f"  used today {_usd(key.usage_daily)}, this week {_usd(key.usage_weekly)}, "
        f"this month {_usd(key.usage_monthly)}; BYOK {_usd(key.byok_usage)}"
    )
    kind = "free tier" if key.is_free_tier else "paid tier"
    kind += ", management key" if key.is_management_key else ""
    rate = key.rate_limit or {}
    if rate.get("requests") is not None and rate.get("interval"):
        kind += f"; rate limit {rate['requests']} requests / {rate['interval']}"
    click.echo(f"  {kind}" + (f"; expires {key.expires_at}" if key.expires_at else ""))
    if credits is not None:
        click.echo(
            f"credits {_usd(credits.total_credits)}, used {_usd(credits.total_usage)}, "
            f"remaining {_usd(credits.remaining)}"
        )
    else:
        click.echo(f"credits: not shown ({note})", err=True)


@click.command("generation")
@click.argument("generation_id")
@click.option("--base-url", type=BaseUrl(), default=None, help=_BASE_URL_HELP)
@db_option
@json_option
def generation_cmd(generation_id: str, base_url: str | None, db: str | None, as_json: bool) -> None:
    """One call as OpenRouter billed it (GET /generation?id=GENERATION_ID): cost, native token counts,
    provider, latency, cache discount; with the history, the cost the catalog computes from those counts
    beside it, and the verdict `catalog reconcile` would give."""
    from catalog.client import Client
    from catalog.client.billing import price_record
    from catalog.client.generation import Prices
    from catalog.cost.reconcile import compare_one
    from catalog.library import Catalog

    with ExitStack() as stack:
        client = stack.enter_context(Client(base_url=base_url))
        record = client.generation_record(generation_id)
        reconciled: dict[str, Any] | None = None
        if db_path(db).exists():
            prices = Prices(stack.enter_context(Catalog.open(db)))
            computed, status, reason = price_record(record, record.model, prices)
            compared = compare_one(
                computed, record.total_cost, upstream=record.upstream_inference_cost, is_byok=record.is_byok
            )
            reconciled = {"computed": computed, "status": status, "reason": reason, **compared}
    if as_json:
        from catalog.exact_json import jsonable

        click.echo(json.dumps({"generation": record.to_dict(), "reconciled": jsonable(reconciled)}, indent=2))
        return
    tokens = f"{record.native_tokens_prompt or 0:,} in"
    if record.native_tokens_cached:
        tokens += f" ({record.native_tokens_cached:,} cached)"
    tokens += f", {record.native_tokens_completion or 0:,} out"
    if record.native_tokens_reasoning:
        tokens += f" ({record.native_tokens_reasoning:,} reasoning)"
    billed = _usd(record.total_cost)
    if record.is_byok:
        billed += f" (BYOK: the provider charged {_usd(record.upstream_inference_cost)})"
    if record.cache_discount:
        billed += f", cache discount {_usd(record.cache_discount)}"
    when = record.created_at.isoformat().replace("+00:00", "Z") if record.created_at else "?"
    latency = f"{record.latency_ms} ms" if record.latency_ms is not None else "?"
    stream = "streamed" if record.streamed else "not streamed"
    click.echo(f"{record.id}: {record.model} via {record.provider or '?'} at {when}, {stream}")
    click.echo(f"  native tokens {tokens}; billed {billed}; latency {latency}; finish {record.finish_reason}")
    if reconciled is None:
        click.echo("  not computed: no history (run `catalog up` or `catalog sync` first, or pass --db)", err=True)
    elif reconciled["computed"] is None:
        click.echo(f"  not computed ({reconciled['status']}: {reconciled['reason']})")
    else:
        difference = f", difference {_usd(reconciled['difference'])}" if reconciled["difference"] is not None else ""
        click.echo(f"  computed {_usd(reconciled['computed'])}: {reconciled['verdict']}{difference}")
