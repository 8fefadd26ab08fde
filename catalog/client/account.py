"""What OpenRouter's account and generation look-ups answer, as typed values.

    GET /key                 KeyInfo           the calling key: limit, usage (total, day, week, month), remaining,
                                               rate limit, free tier, management key
    GET /credits             Credits           credits bought and used (a management key only)
    GET /generation?id=      GenerationRecord  one call as billed: total cost, native token counts, provider,
                                               latency, cache discount, streamed, BYOK
    GET /activity            ActivityRow       one UTC day × model × endpoint, summed (a management key only)

Field names are the spec's. Amounts are exact ``Decimal`` s of what OpenRouter wrote (its JSON numbers are read
as decimals, never through a float); ``data`` keeps the whole record as received, so a field this module does
not name is still there, and ``to_dict()`` gives it back with money as exact decimal strings (the CLI's
``--json``). A record missing a field the spec requires is an ``UpstreamError`` naming it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from catalog.errors import InputError, UpstreamError
from catalog.exact_json import jsonable
from catalog.times import parse_instant


def _need(data: Any, key: str, what: str) -> Any:
    if not isinstance(data, dict) or key not in data:
        raise UpstreamError(f"{what} answered without {key!r}, which the spec requires: not OpenRouter's shape")
    return data[key]


def _money(data: dict[str, Any], key: str, what: str, *, required: bool = True) -> Decimal | None:
    value = _need(data, key, what) if required else data.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        raise UpstreamError(f"{what}: {key} = {str(value)[:40]!r} is not an amount")
    return Decimal(value)


def _count(data: dict[str, Any], key: str) -> int | None:
    value = data.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _text(data: dict[str, Any], key: str) -> str | None:
    value = data.get(key)
    return value if isinstance(value, str) else None


def _instant(text: str | None) -> datetime | None:
    try:
        return parse_instant(text, what="created_at") if text else None
    except InputError:  # an unreadable time is no reason to lose the record
        return None


def _data(body: Any, what: str) -> Any:
    return _need(body, "data", what)


@dataclass(frozen=True)
class KeyInfo:
    """``GET /key``: the key the client calls with."""

    label: str | None
    limit: Decimal | None  # USD; None: no limit
    limit_remaining: Decimal | None
    limit_reset: str | None  # daily / weekly / monthly, or None
    usage: Decimal  # USD, all time
    usage_daily: Decimal | None
    usage_weekly: Decimal | None
    usage_monthly: Decimal | None
    byok_usage: Decimal | None
    is_free_tier: bool
    is_management_key: bool
    rate_limit: dict[str, Any] | None  # deprecated by OpenRouter, kept as given
    expires_at: str | None
    data: dict[str, Any] = field(repr=False)

    @classmethod
    def from_body(cls, body: Any) -> KeyInfo:
        what = "GET /key"
        data = _data(body, what)
        usage = _money(data, "usage", what)
        assert usage is not None
        return cls(
            label=_text(data, "label"),
            limit=_money(data, "limit", what),
            limit_remaining=_money(data, "limit_remaining", what, required=False),
            limit_reset=_text(data, "limit_reset"),
            usage=usage,
            usage_daily=_money(data, "usage_daily", what, required=False),
            usage_weekly=_money(data, "usage_weekly", what, required=False),
            usage_monthly=_money(data, "usage_monthly", what, required=False),
            byok_usage=_money(data, "byok_usage", what, required=False),
            is_free_tier=data.get("is_free_tier") is True,
            is_management_key=data.get("is_management_key") is True,
            rate_limit=data.get("rate_limit") if isinstance(data.get("rate_limit"), dict) else None,
            expires_at=_text(data, "expires_at"),
            data=data,
        )

    def to_dict(self) -> dict[str, Any]:
        """The record as received, money as exact decimal strings."""
        return dict(jsonable(self.data))


@dataclass(frozen=True)
class Credits:
    """``GET /credits``: credits bought and used, USD (a management key only)."""

    total_credits: Decimal
    total_usage: Decimal
    data: dict[str, Any] = field(repr=False)

    @property
    def remaining(self) -> Decimal:
        return self.total_credits - self.total_usage

    @classmethod
    def from_body(cls, body: Any) -> Credits:
        what = "GET /credits"
        data = _data(body, what)
        total, used = _money(data, "total_credits", what), _money(data, "total_usage", what)
        assert total is not None and used is not None
        return cls(total, used, data)

    def to_dict(self) -> dict[str, Any]:
        return dict(jsonable(self.data))


@dataclass(frozen=True)
class GenerationRecord:
    """``GET /generation?id=``: one call as OpenRouter billed it. Token counts are the provider's own (native)
    counts, which are the ones billed; ``tokens_*`` are OpenRouter's normalised counts."""

    id: str
    model: str | None
    provider: str | None
    created_at: datetime | None
    total_cost: Decimal  # what OpenRouter billed (0 for BYOK)
    upstream_inference_cost: Decimal | None  # the provider's charge (BYOK)
    cache_discount: Decimal | None
    is_byok: bool
    streamed: bool | None
    latency_ms: Decimal | None
    generation_time_ms: Decimal | None
    finish_reason: str | None
    native_tokens_prompt: int | None
    native_tokens_completion: int | None
    native_tokens_cached: int | None
    native_tokens_reasoning: int | None
    native_tokens_completion_images: int | None
    tokens_prompt: int | None
    tokens_completion: int | None
    api_type: str | None
    data: dict[str, Any] = field(repr=False)

    @property
    def billed(self) -> Decimal | None:
        """The amount to compare a computed cost with: the upstream cost for BYOK, else ``total_cost``."""
        return self.upstream_inference_cost if self.is_byok else self.total_cost

    @classmethod
    def from_body(cls, body: Any) -> GenerationRecord:
        what = "GET /generation"
        data = _data(body, what)
        total = _money(data, "total_cost", what)
        assert total is not None
        created = _text(data, "created_at")
        return cls(
            id=str(_need(data, "id", what)),
            model=_text(data, "model"),
            provider=_text(data, "provider_name"),
            created_at=_instant(created),
            total_cost=total,
            upstream_inference_cost=_money(data, "upstream_inference_cost", what, required=False),
            cache_discount=_money(data, "cache_discount", what, required=False),
            is_byok=data.get("is_byok") is True,
            streamed=data.get("streamed") if isinstance(data.get("streamed"), bool) else None,
            latency_ms=_money(data, "latency", what, required=False),
            generation_time_ms=_money(data, "generation_time", what, required=False),
            finish_reason=_text(data, "finish_reason"),
            native_tokens_prompt=_count(data, "native_tokens_prompt"),
            native_tokens_completion=_count(data, "native_tokens_completion"),
            native_tokens_cached=_count(data, "native_tokens_cached"),
            native_tokens_reasoning=_count(data, "native_tokens_reasoning"),
            native_tokens_completion_images=_count(data, "native_tokens_completion_images"),
            tokens_prompt=_count(data, "tokens_prompt"),
            tokens_completion=_count(data, "tokens_completion"),
            api_type=_text(data, "api_type"),
            data=data,
        )

    def to_dict(self) -> dict[str, Any]:
        return dict(jsonable(self.data))


@dataclass(frozen=True)
class ActivityRow:
    """``GET /activity``: one UTC day × model × endpoint, summed over its requests."""

    date: str
    model: str
    provider_name: str | None
    usage: Decimal  # billed by OpenRouter
    byok_usage_inference: Decimal | None
    requests: int | None
    prompt_tokens: int | None
    completion_tokens: int | None
    reasoning_tokens: int | None
    data: dict[str, Any] = field(repr=False)

    @classmethod
    def list_from_body(cls, body: Any) -> list[ActivityRow]:
        what = "GET /activity"
        items = _data(body, what)
        if not isinstance(items, list):
            raise UpstreamError(f"{what} answered with data that is not a list: not OpenRouter's shape")
        rows = []
        for item in items:
            usage = _money(item, "usage", what)
            assert usage is not None
            rows.append(
                cls(
                    date=str(_need(item, "date", what)),
                    model=str(_need(item, "model", what)),
                    provider_name=_text(item, "provider_name"),
                    usage=usage,
                    byok_usage_inference=_money(item, "byok_usage_inference", what, required=False),
                    requests=_count(item, "requests"),
                    prompt_tokens=_count(item, "prompt_tokens"),
                    completion_tokens=_count(item, "completion_tokens"),
                    reasoning_tokens=_count(item, "reasoning_tokens"),
                    data=item,
                )
            )
        return rows

    def to_dict(self) -> dict[str, Any]:
        return dict(jsonable(self.data))
