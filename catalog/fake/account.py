"""The fake's account routes: ``GET /key``, ``GET /credits``, ``GET /generation?id=`` and ``GET /activity``.

Each answers in the shape the OpenAPI spec gives for that path (``tests/test_fake_account.py`` validates every
body against the bundled schemas), from what the fake itself served: every echo call and echo embedding is kept
as a generation record (:class:`GenerationLog`, the most recent ``keep``), so

- ``/generation?id=gen-echo-N`` gives that call's record: the native token counts (the echo's counts: its
  tokenizer is the native one), ``total_cost`` = ``usage`` = exactly what the answer billed in ``usage.cost``,
  provider ``Echo``, streamed or not, latency; an id the fake never issued is a 404;
- ``/key`` gives the key's limit and what it used (the sum of the records, by UTC day, ISO week and month);
  ``limit_remaining`` is the limit minus the usage;
- ``/credits`` gives ``total_credits`` (the account's) and ``total_usage`` (the sum of the records);
- ``/activity`` sums the records per UTC day, model and endpoint (``?date=YYYY-MM-DD`` picks one day). OpenRouter
  lists completed days only; the fake lists the current day too, so a test sees the calls it just made.

Money goes out as JSON numbers, as OpenRouter sends it (the shortest float text of an exact decimal reads back
as that decimal). Every route wants ``Authorization: Bearer <key>`` (401 otherwise, with the spec's message);
``/credits`` and ``/activity`` want a management key: with ``management_keys`` given, any other key is a 403;
without, the fake does not tell keys apart and answers any.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from catalog.fake.responses import error_response, json_response

_KEEP = 10_000  # records kept: enough for any test, bounded for a server left running
_ENDPOINT_NAMESPACE = uuid.UUID("5f6d3a56-8d7e-4b0e-9a51-2c1f1b0e7a11")  # stable endpoint ids for activity rows
_RATE_LIMIT = {"requests": -1, "interval": "10s", "note": "This field is deprecated and safe to ignore."}


@dataclass(frozen=True)
class GenerationRecord:
    """One call the fake answered, as ``GET /generation`` reports it."""

    id: str
    model: str
    provider: str
    created: float  # unix seconds
    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int
    reasoning_tokens: int
    cost: Decimal  # what the answer billed, exactly
    streamed: bool
    finish_reason: str | None
    latency_ms: float
    api_type: str = "completions"

    @property
    def day(self) -> date:
        return datetime.fromtimestamp(self.created, UTC).date()

    def to_wire(self) -> dict[str, Any]:
        """``GenerationResponse.data``: every key the spec requires."""
        created = datetime.fromtimestamp(self.created, UTC).isoformat()
        cost = float(self.cost)
        return {
            "id": self.id,
            "upstream_id": f"echo-{self.id}",
            "total_cost": cost,
            "usage": cost,
            "cache_discount": None,
            "upstream_inference_cost": None,
            "created_at": created,
            "model": self.model,
            "app_id": None,
            "streamed": self.streamed,
            "cancelled": False,
            "provider_name": self.provider,
            "latency": self.latency_ms,
            "moderation_latency": None,
            "generation_time": self.latency_ms,
            "finish_reason": self.finish_reason,
            "native_finish_reason": self.finish_reason,
            "service_tier": None,
            "tokens_prompt": self.prompt_tokens,
            "tokens_completion": self.completion_tokens,
            "native_tokens_prompt": self.prompt_tokens,
            "native_tokens_completion": self.completion_tokens,
            "native_tokens_completion_images": 0,
            "native_tokens_reasoning": self.reasoning_tokens,
            "native_tokens_cached": self.cached_tokens,
            "num_media_prompt": 0,
            "num_input_audio_prompt": 0,
            "num_media_completion": 0,
            "num_search_results": 0,
            "num_fetches": 0,
            "web_search_engine": None,
            "origin": "",
            "is_byok": False,
            "external_user": None,
            "api_type": self.api_type,
            "preset_id": None,
            "router": None,
            "provider_responses": None,
            "user_agent": None,
            "http_referer": None,
            "data_region": "global",
            "workspace_id": None,
        }


class GenerationLog:
    """The generation records of the calls the fake answered, by id; safe to use from any thread."""

    def __init__(self, keep: int = _KEEP) -> None:
        self.keep = keep
        self._lock = threading.Lock()
        self._records: OrderedDict[str, GenerationRecord] = OrderedDict()

    def record(self, record: GenerationRecord) -> None:
        """Keep ``record`` (replacing one with the same id: a stream cut short bills what it sent)."""
        with self._lock:
            self._records[record.id] = record
            self._records.move_to_end(record.id)
            while len(self._records) > self.keep:
                self._records.popitem(last=False)

    def get(self, generation_id: str) -> GenerationRecord | None:
        with self._lock:
            return self._records.get(generation_id)

    def all(self) -> list[GenerationRecord]:
        with self._lock:
            return list(self._records.values())


@dataclass
class FakeAccount:
    """The account behind every key the fake accepts: a spending limit (USD, None: none) and the credits
    bought. ``management_keys``: the keys ``/credits`` and ``/activity`` accept (None: any key)."""

    limit: Decimal | None = Decimal("10")
    total_credits: Decimal = Decimal("10")
    label: str = "fake key"
    management_keys: Collection[str] | None = None
    generations: GenerationLog = field(default_factory=GenerationLog)

    def usage(self, since: date | None = None) -> Decimal:
        return sum((r.cost for r in self.generations.all() if since is None or r.day >= since), Decimal(0))

    def key_body(self, key: str) -> dict[str, Any]:
        today = datetime.now(UTC).date()
        used = self.usage()
        windows = {
            "usage_daily": self.usage(today),
            "usage_weekly": self.usage(today - timedelta(days=today.weekday())),
            "usage_monthly": self.usage(today.replace(day=1)),
        }
        return {
            "data": {
                "label": self.label,
                "limit": float(self.limit) if self.limit is not None else None,
                "limit_remaining": float(self.limit - used) if self.limit is not None else None,
                "limit_reset": None,
                "usage": float(used),
                **{name: float(value) for name, value in windows.items()},
                "byok_usage": 0,
                "byok_usage_daily": 0,
                "byok_usage_weekly": 0,
                "byok_usage_monthly": 0,
                "include_byok_in_limit": False,
                "is_free_tier": False,
                "is_management_key": self.management_keys is not None and key in self.management_keys,
                "is_provisioning_key": False,
                "creator_user_id": None,
                "expires_at": None,
                "rate_limit": dict(_RATE_LIMIT),
            }
        }

    def credits_body(self) -> dict[str, Any]:
        return {"data": {"total_credits": float(self.total_credits), "total_usage": float(self.usage())}}

    def activity_body(self, day: date | None) -> dict[str, Any]:
        rows: dict[tuple[str, str, str], dict[str, Any]] = {}
        for r in self.generations.all():
            if day is not None and r.day != day:
                continue
            key = (r.day.isoformat(), r.model, r.provider)
            row = rows.setdefault(key, {"usage": Decimal(0), "requests": 0, "prompt": 0, "completion": 0, "reason": 0})
            row["usage"] += r.cost
            row["requests"] += 1
            row["prompt"] += r.prompt_tokens
            row["completion"] += r.completion_tokens
            row["reason"] += r.reasoning_tokens
        data = [
            {
                "date": when,
                "model": model,
                "model_permaslug": model,
                "endpoint_id": str(uuid.uuid5(_ENDPOINT_NAMESPACE, f"{model}|{provider}")),
                "provider_name": provider,
                "usage": float(row["usage"]),
                "byok_usage_inference": 0,
                "requests": row["requests"],
                "prompt_tokens": row["prompt"],
                "completion_tokens": row["completion"],
                "reasoning_tokens": row["reason"],
            }
            for (when, model, provider), row in sorted(rows.items(), reverse=True)
        ]
        return {"data": data}


class AccountRoutes:
    """The four routes over one :class:`FakeAccount`."""

    def __init__(self, account: FakeAccount) -> None:
        self.account = account

    async def key(self, request: Request) -> Response:
        key = _bearer(request)
        if key is None:
            return _unauthorised()
        return json_response(self.account.key_body(key))

    async def credits(self, request: Request) -> Response:
        refused = self._management(request)
        return refused or json_response(self.account.credits_body())

    async def activity(self, request: Request) -> Response:
        refused = self._management(request)
        if refused:
            return refused
        raw = request.query_params.get("date")
        day = None
        if raw is not None:
            try:
                day = date.fromisoformat(raw)
            except ValueError:
                return error_response(400, f"date {raw!r} must be a UTC day in the last 30 days, as YYYY-MM-DD")
        return json_response(self.account.activity_body(day))

    async def generation(self, request: Request) -> Response:
        if _bearer(request) is None:
            return _unauthorised()
        generation_id = request.query_params.get("id", "")
        if not generation_id:
            return error_response(400, "id is required: GET /generation?id=<the id of a chat completion>")
        record = self.account.generations.get(generation_id)
        if record is None:
            return error_response(404, f"Generation {generation_id} not found")
        return json_response({"data": record.to_wire()})

    def _management(self, request: Request) -> Response | None:
        key = _bearer(request)
        if key is None:
            return _unauthorised()
        allowed = self.account.management_keys
        if allowed is not None and key not in allowed:
            return error_response(403, "Only management keys can perform this operation")
        return None


def _bearer(request: Request) -> str | None:
    scheme, _, key = request.headers.get("authorization", "").partition(" ")
    return key.strip() or None if scheme.lower() == "bearer" else None


def _unauthorised() -> Response:
    return error_response(401, "Missing Authentication header")


def elapsed_ms(started: float) -> float:
    """Milliseconds since ``started`` (``time.monotonic()``), as a record's latency."""
    return round((time.monotonic() - started) * 1000, 3)
