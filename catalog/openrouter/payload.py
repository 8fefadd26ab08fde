"""What one sweep of the catalog is, before and after parsing: pure data, no HTTP.

A sweep reads ``/models``, ``/providers`` and every model's ``/endpoints``.

Scope. ``/models`` lists only models with a text output unless asked ``output_modalities=all``; a full-scope
sweep asks that, and the official lists of the other kinds (``/embeddings/models``, ``/images/models``,
``/videos/models``), then the endpoints of every model listed. Each snapshot records the scope it covered
(``Sweep.scope``), so that a narrower one never closes a model outside it (``catalog.openrouter.skus.in_scope``):

- ``text``: the default ``/models`` (and every snapshot taken before scopes existed);
- ``all``: ``/models?output_modalities=all`` listed at least one model without a text output (upstream
  honoured the parameter);
- otherwise (upstream ignored the parameter) ``text`` plus each kind whose own list proves it is covered:
  ``embeddings`` when ``/embeddings/models`` (a ``/models``-shaped list) was read — its models are added to
  the sweep's list —, ``image`` / ``video`` when every model their list names is in the sweep's list. An
  empty list proves nothing and never widens the scope.

Fetching (``catalog.openrouter.fetch``) only collects raw payloads (bytes as served, or the error that stopped
them); ``assemble`` turns raw payloads into records. The store archives the raw payloads, so ``assemble`` can
run again over old snapshots when parsing improves — which is why the store imports this module and never the
fetch module.
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
from catalog.openrouter.skus import ALL_SCOPE, in_scope

ALL_KINDS = frozenset({"models", "endpoints", "providers"})
MODELS_PATH = "models"
MODELS_ALL_PATH = "models?output_modalities=all"
PROVIDERS_PATH = "providers"
# the official list of each kind that has one, in the order a sweep reads them
KIND_LIST_PATHS: dict[str, str] = {
    "embeddings": "embeddings/models",
    "image": "images/models",
    "video": "videos/models",
}
SCOPES = (ALL_SCOPE, "text")


def models_path(scope: str) -> str:
    """The ``/models`` request of a sweep asking for ``scope`` (``all`` or ``text``)."""
    return MODELS_ALL_PATH if scope == ALL_SCOPE else MODELS_PATH


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
    scope: str = "text"  # what the listed models cover (see the module doc)

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


@dataclass(frozen=True)
class Listing:
    """The models a sweep lists (``/models``, plus the embeddings list's extra models) and the scope covered."""

    read: ModelsRead
    scope: str


def _list_ids(payload: RawPayload | None) -> set[str] | None:
    """The model ids of an ``/images/models`` or ``/videos/models`` body; None when unusable."""
    if payload is None or not payload.ok:
        return None
    try:
        body = parse_json(payload.body or b"")
    except ValueError:
        return None
    items = body.get("data") if isinstance(body, dict) else None
    if not isinstance(items, list):
        return None
    ids = {item.get("id") for item in items if isinstance(item, dict)}
    return None if not all(isinstance(i, str) for i in ids) else {str(i) for i in ids}


def listed_models(by_path: dict[str, RawPayload], models_read: ModelsRead | None = None) -> Listing:
    """The sweep's model list and scope from its raw payloads (``models_read``: the ``/models`` one, parsed)."""
    all_payload = by_path.get(MODELS_ALL_PATH)
    # asked for every kind and answered; else the default list (asked for, or the fallback after a refusal)
    asked_all = all_payload is not None and (all_payload.ok or MODELS_PATH not in by_path)
    read = models_read or read_models(by_path.get(MODELS_ALL_PATH if asked_all else MODELS_PATH))
    if read.records is None or read.report is None or not asked_all:
        return Listing(read, "text")
    records = list(read.records)
    report = ParseReport(list(read.report.problems), read.report.unreadable_ids, list(read.report.skipped_ids))
    honoured = any(not in_scope(r.facts.get("output_modalities"), "text") for r in records)
    covered = {"text"}
    ids = {r.model_id for r in records}
    embeddings = by_path.get(KIND_LIST_PATHS["embeddings"])
    if embeddings is not None and embeddings.ok:
        try:
            extra, ereport = parse_models(parse_json(embeddings.body or b""))
        except (RecordError, ValueError):
            extra, ereport = [], None
        # an empty list proves nothing (an old recording, an upstream hiccup): it never widens the scope
        if ereport is not None and ereport.unreadable_ids == 0 and (extra or ereport.skipped_ids):
            covered.add("embeddings")
            report.skipped_ids.extend(i for i in ereport.skipped_ids if i not in ids)
            report.problems.extend(ereport.problems)
            for record in extra:
                if record.model_id not in ids:
                    ids.add(record.model_id)
                    records.append(record)
    for kind in ("image", "video"):
        kind_ids = _list_ids(by_path.get(KIND_LIST_PATHS[kind]))
        if kind_ids and kind_ids <= ids:
            covered.add(kind)
    scope = ALL_SCOPE if honoured else ",".join(sorted(covered))
    return Listing(ModelsRead(records, report, None), scope)


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
    listing: Listing | None = None,
) -> Sweep:
    """Parse raw payloads into a ``Sweep``. One bad model is a problem for that model, not for the sweep.

    ``listing``: ``listed_models`` of ``raw``, when the caller already has it.
    """
    sweep = Sweep(taken_at=taken_at, source=source, kinds=kinds, raw=raw)
    by_path = {p.path: p for p in raw}
    listing = listing if listing is not None else listed_models(by_path)
    read = listing.read
    sweep.scope = listing.scope
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
