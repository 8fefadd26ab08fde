"""One sweep of the catalog: ``/models``, ``/providers`` and every model's ``/endpoints``.

Fetching and parsing are separate steps on purpose: ``fetch_sweep`` only collects raw payloads (bytes as
served, or the error that stopped them), ``assemble`` turns raw payloads into records. The store archives the
raw payloads, so ``assemble`` can run again over old snapshots when parsing improves.
"""

from __future__ import annotations

import asyncio
import time
import urllib.parse
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import httpx

from catalog.errors import FetchError
from catalog.openrouter.client import OpenRouterClient, parse_json
from catalog.openrouter.records import (
    EndpointRecord,
    ModelRecord,
    ProviderRecord,
    RecordError,
    parse_endpoints,
    parse_models,
    parse_providers,
)
from catalog.settings import FetchSettings

ALL_KINDS = frozenset({"models", "endpoints", "providers"})
MODELS_PATH = "models"
PROVIDERS_PATH = "providers"

Progress = Callable[[int, int], None]


def endpoints_path(model_id: str) -> str:
    return f"models/{urllib.parse.quote(model_id, safe='/:~')}/endpoints"


@dataclass(frozen=True)
class RawPayload:
    """What one GET produced: the exact body on success, else the error that ended it."""

    path: str
    status: int | None
    body: bytes | None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == 200 and self.body is not None


@dataclass
class Sweep:
    """Everything one snapshot learned, parsed. ``fatal`` set means nothing may be stored but the failure."""

    taken_at: datetime
    source: str
    kinds: frozenset[str]
    raw: list[RawPayload] = field(default_factory=list)
    models: list[ModelRecord] | None = None
    models_unreadable: int = 0
    models_skipped: list[str] = field(default_factory=list)
    providers_skipped: list[str] = field(default_factory=list)
    providers_unreadable: int = 0
    endpoints: dict[str, list[EndpointRecord]] = field(default_factory=dict)
    endpoint_failures: dict[str, str] = field(default_factory=dict)
    providers: list[ProviderRecord] | None = None
    provider_error: str | None = None
    problems: list[str] = field(default_factory=list)
    unknown_fields: dict[str, int] = field(default_factory=dict)
    unknown_price_keys: dict[str, int] = field(default_factory=dict)
    fatal: str | None = None
    duration_s: float = 0.0
    retries: int = 0

    @property
    def endpoint_count(self) -> int:
        return sum(len(v) for v in self.endpoints.values())


async def _fetch(client: OpenRouterClient, path: str) -> RawPayload:
    try:
        fetched = await client.get(path)
    except FetchError as exc:
        return RawPayload(path, getattr(exc, "status", None), None, str(exc))
    return RawPayload(path, fetched.status, fetched.body)


async def fetch_sweep(
    settings: FetchSettings,
    *,
    kinds: Iterable[str] = ALL_KINDS,
    taken_at: datetime | None = None,
    source: str | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    progress: Progress | None = None,
) -> Sweep:
    """Fetch one snapshot over HTTP with bounded concurrency and parse it. Never raises for a failed GET."""
    wanted = frozenset(kinds)
    unknown = wanted - ALL_KINDS
    if unknown or "models" not in wanted:
        raise ValueError(f"kinds must include 'models' and be among {sorted(ALL_KINDS)}, got {sorted(wanted)}")
    started = time.monotonic()
    stamp = taken_at or datetime.now(UTC)
    raw: list[RawPayload] = []
    async with OpenRouterClient(settings, transport=transport) as client:
        models_raw = await _fetch(client, MODELS_PATH)
        raw.append(models_raw)
        model_ids: list[str] = []
        if models_raw.ok:
            try:
                records, _ = parse_models(parse_json(models_raw.body or b""))
                model_ids = [r.model_id for r in records]
            except (RecordError, ValueError):
                model_ids = []  # assemble() reports it as the fatal error
        tasks: list[asyncio.Task[RawPayload]] = []
        if "providers" in wanted and models_raw.ok:
            tasks.append(asyncio.create_task(_fetch(client, PROVIDERS_PATH)))
        if "endpoints" in wanted and model_ids:
            gate = asyncio.Semaphore(settings.concurrency)
            done = 0

            async def one(model_id: str) -> RawPayload:
                nonlocal done
                if any(part in ("", ".", "..") for part in model_id.split("/")):
                    # A client normalises dot segments away, so this id would fetch another model's list (or
                    # another resource); it is this model's failure instead.
                    payload = RawPayload(
                        endpoints_path(model_id), None, None, f"model id {model_id!r} has an empty or dot path segment"
                    )
                else:
                    async with gate:
                        payload = await _fetch(client, endpoints_path(model_id))
                done += 1
                if progress is not None:
                    progress(done, len(model_ids))
                return payload

            tasks.extend(asyncio.create_task(one(m)) for m in model_ids)
        raw.extend(await asyncio.gather(*tasks))
        retries = client.retries
    sweep = assemble(raw, taken_at=stamp, source=source or settings.base_url, kinds=wanted)
    sweep.duration_s = time.monotonic() - started
    sweep.retries = retries
    return sweep


def _count_unknown(sweep: Sweep, fields: Iterable[str]) -> None:
    for name in fields:
        sweep.unknown_fields[name] = sweep.unknown_fields.get(name, 0) + 1


def _count_price_keys(sweep: Sweep, keys: Iterable[str]) -> None:
    for name in keys:
        sweep.unknown_price_keys[name] = sweep.unknown_price_keys.get(name, 0) + 1


def assemble(raw: list[RawPayload], *, taken_at: datetime, source: str, kinds: frozenset[str]) -> Sweep:
    """Parse raw payloads into a ``Sweep``. One bad model is a problem for that model, not for the sweep."""
    sweep = Sweep(taken_at=taken_at, source=source, kinds=kinds, raw=raw)
    by_path = {p.path: p for p in raw}
    models_raw = by_path.get(MODELS_PATH)
    if models_raw is None or not models_raw.ok:
        sweep.fatal = (models_raw.error if models_raw else None) or "no /models payload"
        return sweep
    try:
        models, report = parse_models(parse_json(models_raw.body or b""))
    except (RecordError, ValueError) as exc:
        sweep.fatal = f"/models body unusable: {exc}"
        return sweep
    sweep.models = models
    sweep.models_unreadable = report.unreadable_ids
    sweep.models_skipped = report.skipped_ids
    sweep.problems.extend(report.problems)
    for model in models:
        _count_unknown(sweep, model.unknown_fields)
        _count_price_keys(sweep, model.pricing.unknown)
    if "providers" in kinds:
        prov = by_path.get(PROVIDERS_PATH)
        if prov is not None and prov.ok:
            try:
                providers, preport = parse_providers(parse_json(prov.body or b""))
                sweep.providers = providers
                sweep.providers_skipped = preport.skipped_ids
                sweep.providers_unreadable = preport.unreadable_ids
                sweep.problems.extend(preport.problems)
            except (RecordError, ValueError) as exc:
                sweep.provider_error = f"/providers body unusable: {exc}"
        else:
            sweep.provider_error = (prov.error if prov else None) or "no /providers payload"
    if "endpoints" in kinds:
        for model in models:
            payload = by_path.get(endpoints_path(model.model_id))
            if payload is None or not payload.ok:
                sweep.endpoint_failures[model.model_id] = (payload.error if payload else None) or "not fetched"
                continue
            try:
                records, ereport = parse_endpoints(model.model_id, parse_json(payload.body or b""))
            except (RecordError, ValueError) as exc:
                sweep.endpoint_failures[model.model_id] = f"endpoints body unusable: {exc}"
                continue
            if ereport.unreadable_ids:
                # We cannot tell which stored endpoint an unreadable entry is: treat the model as not fetched.
                sweep.endpoint_failures[model.model_id] = "; ".join(ereport.problems)
                continue
            sweep.endpoints[model.model_id] = records
            for record in records:
                _count_unknown(sweep, record.unknown_fields)
                _count_price_keys(sweep, record.pricing.unknown)
    return sweep
