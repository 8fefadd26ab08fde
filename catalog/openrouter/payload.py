"""What one sweep of the catalog is, before and after parsing: pure data, no HTTP.

A sweep reads ``/models``, ``/providers`` and every model's ``/endpoints``. Fetching (``catalog.openrouter.fetch``)
only collects raw payloads (bytes as served, or the error that stopped them); ``assemble`` turns raw payloads
into records. The store archives the raw payloads, so ``assemble`` can run again over old snapshots when
parsing improves — which is why the store imports this module and never the fetch module.
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from catalog.openrouter.records import (
    EndpointRecord,
    ModelRecord,
    ParseReport,
    ProviderRecord,
    RecordError,
    parse_endpoints,
    parse_models,
    parse_providers,
)

ALL_KINDS = frozenset({"models", "endpoints", "providers"})
MODELS_PATH = "models"
PROVIDERS_PATH = "providers"

Progress = Callable[[int, int], None]


def endpoints_path(model_id: str) -> str:
    return f"models/{urllib.parse.quote(model_id, safe='/:~')}/endpoints"


def unfetchable_endpoints(model_id: str) -> str | None:
    """Why this model's ``/endpoints`` must not be requested, or None.

    A client normalises dot segments away, so an id with an empty or dot path segment would fetch another
    model's list (or another resource); it is this model's failure instead.
    """
    if any(part in ("", ".", "..") for part in model_id.split("/")):
        return f"model id {model_id!r} has an empty or dot path segment"
    return None


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


def parse_json(body: bytes) -> Any:
    """JSON with exact decimals: prices and discounts must never pass through a binary float.

    Every failure is a ``ValueError``, the one error callers handle for an unusable body: nesting deeper than
    the interpreter's stack would otherwise escape as a ``RecursionError``.
    """
    try:
        return json.loads(body, parse_float=Decimal)
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None


@dataclass(frozen=True)
class ModelsRead:
    """The ``/models`` payload of a sweep, parsed once: its records and report, or why it is unusable."""

    records: list[ModelRecord] | None
    report: ParseReport | None
    fatal: str | None


def read_models(models_raw: RawPayload | None) -> ModelsRead:
    """Parse the ``/models`` payload. The fetcher needs its ids before it fetches the endpoints, and hands the
    result to ``assemble``, so the largest body of a sweep is parsed once."""
    if models_raw is None or not models_raw.ok:
        return ModelsRead(None, None, (models_raw.error if models_raw else None) or "no /models payload")
    try:
        models, report = parse_models(parse_json(models_raw.body or b""))
    except (RecordError, ValueError) as exc:
        return ModelsRead(None, None, f"/models body unusable: {exc}")
    return ModelsRead(models, report, None)


def _count_unknown(sweep: Sweep, fields: Iterable[str]) -> None:
    for name in fields:
        sweep.unknown_fields[name] = sweep.unknown_fields.get(name, 0) + 1


def _count_price_keys(sweep: Sweep, keys: Iterable[str]) -> None:
    for name in keys:
        sweep.unknown_price_keys[name] = sweep.unknown_price_keys.get(name, 0) + 1


def assemble(
    raw: list[RawPayload],
    *,
    taken_at: datetime,
    source: str,
    kinds: frozenset[str],
    models_read: ModelsRead | None = None,
) -> Sweep:
    """Parse raw payloads into a ``Sweep``. One bad model is a problem for that model, not for the sweep.

    ``models_read``: ``read_models`` of the ``/models`` payload in ``raw``, when the caller already has it.
    """
    sweep = Sweep(taken_at=taken_at, source=source, kinds=kinds, raw=raw)
    by_path = {p.path: p for p in raw}
    read = models_read if models_read is not None else read_models(by_path.get(MODELS_PATH))
    if read.fatal is not None or read.records is None or read.report is None:
        sweep.fatal = read.fatal or "no /models payload"
        return sweep
    models, report = read.records, read.report
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
