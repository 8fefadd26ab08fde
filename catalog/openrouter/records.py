"""Typed records parsed from OpenRouter's v1 JSON, normalised for versioning.

Each record splits its fields in three:

* ``facts`` — what defines a version (prices, limits, parameters …). Their hash is the version identity, so
  two snapshots that list the same facts produce one version, however the JSON was spelled.
* ``live`` — fast-moving telemetry (status, uptime, latency, throughput) that is stored separately and never
  opens a new price version.
* unknown fields — tolerated, named in the snapshot's notes and kept in the raw-payload archive only.

A missing optional field is the same as ``null`` for the hash, so a field that upstream starts or stops
sending (without a value) does not look like a change.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any, TypeVar

from catalog.openrouter.skus import Sku, parse_skus
from catalog.prices import PriceFormatError, PriceSheet, content_hash, parse_price_sheet

MODEL_CORE = {
    "id",
    "canonical_slug",
    "name",
    "created",
    "context_length",
    "architecture",
    "pricing",
    "top_provider",
    "supported_parameters",
    "hugging_face_id",
    "expiration_date",
    "knowledge_cutoff",
    "alias_target",
}
# Descriptive facts that upstream sometimes stops sending altogether. Absent (not null) means "not said this
# time": the stored value carries forward instead of opening a version that only says "unknown now".
TOP_PROVIDER_FACTS = ("top_context_length", "top_max_completion_tokens", "is_moderated")
# Known fields stored as JSON beside the core columns (and part of the version identity).
MODEL_EXTRA = {"per_request_limits", "default_parameters", "reasoning", "supported_voices"}
# Known fields we deliberately do not version: prose, derived links, benchmark scores that move on their own.
MODEL_IGNORED = {"description", "links", "benchmarks"}

ENDPOINT_CORE = {
    "name",
    "model_id",
    "model_name",
    "context_length",
    "pricing",
    "provider_name",
    "tag",
    "quantization",
    "max_completion_tokens",
    "max_prompt_tokens",
    "supported_parameters",
    "supports_implicit_caching",
    "supports_voice_cloning",
    "provider_model_id",  # not in the v1 spec: the bundle's endpoints carry it (see catalog.bundle.build)
    "pricing_skus",
}
# Endpoint facts upstream may leave out (older recordings; OpenRouter's v1 endpoints list has no
# provider_model_id): absent, the stored value carries forward instead of opening a version.
ENDPOINT_SOMETIMES = ("supports_implicit_caching", "provider_model_id")
ENDPOINT_LIVE = {
    "status",
    "uptime_last_5m",
    "uptime_last_30m",
    "uptime_last_1d",
    "latency_last_30m",
    "throughput_last_30m",
}

PROVIDER_CORE = {
    "name",
    "slug",
    "privacy_policy_url",
    "terms_of_service_url",
    "status_page_url",
    "headquarters",
    "datacenters",
    "data_policy",
}
DATA_POLICY_KEYS = ("training", "training_openrouter", "retains_prompts", "can_publish", "requires_user_ids")


# Bounds on what one record may store, far above anything OpenRouter has sent (ids up to 61 characters, names
# 60, URLs 160, prices 25, lists 31 entries, nesting 4 levels) and far below what would bloat the history: past
# them a value is a fault or an attack, never a catalog fact, and the record is refused as a malformed one is.
# They are checked where each stored value is read (``_str``, ``_str_list``, ``_int``, the price sheet, the JSON
# extras, the names of unknown fields), so parsing pays next to nothing for them. Prose that is never stored
# (``description``) is not read; the raw archive keeps it, bounded by the body cap.
MAX_ID = 256  # model ids, endpoint tags, provider slugs
MAX_TEXT = 2_000  # any other string a record stores
MAX_PRICE_TEXT = 100  # a price or discount as written (DECIMAL(38,30) needs at most ~40 characters)
MAX_KEY = 100  # a field name
MAX_ITEMS = 1_000  # entries of one list or object
MAX_DEPTH = 10  # nesting inside one stored JSON value
MAX_BIGINT = 2**63 - 1  # whole numbers are stored as BIGINT


class RecordError(ValueError):
    """One record that cannot be parsed; the message names the field."""


def _shown(value: Any) -> str:
    """A value for a message: short, whatever its size (messages end up in the snapshot's summary)."""
    text = repr(value) if not isinstance(value, list | dict) else f"a {type(value).__name__} of {len(value):,}"
    return text if len(text) <= 60 else f"{text[:40]}… ({len(text):,} characters)"


def _names(names: Any, where: str = "") -> None:
    """Refuse an absurdly long field name (of fields named in the snapshot's notes, or stored in JSON)."""
    longest = max(map(len, names), default=0)
    if longest > MAX_KEY:
        raise RecordError(f"a field name{where} is {longest:,} characters long (at most {MAX_KEY})")


def _check_sizes(path: str, value: Any) -> None:
    """Refuse a JSON value holding an absurdly long string, field name or list, or nesting absurdly deep."""
    todo: list[tuple[str, Any, int]] = [(path, value, 1)]
    while todo:
        path, value, depth = todo.pop()
        if isinstance(value, str):
            if len(value) > MAX_TEXT:
                raise RecordError(f"{path!r} is {len(value):,} characters long (at most {MAX_TEXT:,})")
        elif isinstance(value, dict | list):
            if len(value) > MAX_ITEMS:
                raise RecordError(f"{path!r} has {len(value):,} entries (at most {MAX_ITEMS:,})")
            if depth >= MAX_DEPTH:
                raise RecordError(f"{path!r} is nested more than {MAX_DEPTH} levels deep")
            if isinstance(value, list):
                todo.extend((f"{path}[]", v, depth + 1) for v in value)
                continue
            _names(value, f" in {path!r}")
            todo.extend((f"{path}.{key}", inner, depth + 1) for key, inner in value.items())


def _ident(value: str, key: str) -> str:
    if len(value) > MAX_ID:
        raise RecordError(f"{key!r} is {len(value):,} characters long (at most {MAX_ID})")
    return value


def _str(obj: dict[str, Any], key: str, *, required: bool = False) -> str | None:
    value = obj.get(key)
    if value is None:
        if required:
            raise RecordError(f"missing {key!r}")
        return None
    if not isinstance(value, str):
        raise RecordError(f"{key!r} is {type(value).__name__}, expected a string")
    if len(value) > MAX_TEXT:
        raise RecordError(f"{key!r} is {len(value):,} characters long (at most {MAX_TEXT:,})")
    return value


def _int(obj: dict[str, Any], key: str) -> int | None:
    value = obj.get(key)
    if value is None:
        return None
    if isinstance(value, bool):
        raise RecordError(f"{key!r} is a boolean, expected a whole number")
    if isinstance(value, Decimal | float):
        exact = Decimal(value)  # exact for a float too
        # The size is checked before int(): int(Decimal("1e999999999")) would build a billion digits.
        if not exact.is_finite() or abs(exact) > MAX_BIGINT or exact != exact.to_integral_value():
            raise RecordError(f"{key!r} is {_shown(value)}, expected a whole number")
        value = int(exact)
    if isinstance(value, int):
        if abs(value) > MAX_BIGINT:
            raise RecordError(f"{key!r} is a whole number of {len(str(value)):,} digits, too large to be a count")
        return value
    raise RecordError(f"{key!r} is {_shown(value)}, expected a whole number")


def _float(obj: dict[str, Any], key: str) -> float | None:
    value = obj.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        raise RecordError(f"{key!r} is {_shown(value)}, expected a number")
    return float(value)


def _bool(obj: dict[str, Any], key: str) -> bool | None:
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, bool):
        raise RecordError(f"{key!r} is {_shown(value)}, expected true/false")
    return value


def _str_list(obj: dict[str, Any], key: str) -> tuple[str, ...]:
    value = obj.get(key)
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise RecordError(f"{key!r} is not a list of strings")
    if len(value) > MAX_ITEMS:
        raise RecordError(f"{key!r} has {len(value):,} entries (at most {MAX_ITEMS:,})")
    longest = max(map(len, value), default=0)
    if longest > MAX_TEXT:
        raise RecordError(f"an entry of {key!r} is {longest:,} characters long (at most {MAX_TEXT:,})")
    # Order carries no meaning upstream; sorting keeps a reshuffle from opening a version.
    return tuple(sorted(set(value)))


def _pricing(obj: dict[str, Any]) -> PriceSheet:
    sheet = obj.get("pricing")
    if isinstance(sheet, dict):  # flat checks: the sheet of every record is read, and only overrides nest
        if len(sheet) > MAX_ITEMS:
            raise RecordError(f"'pricing' has {len(sheet):,} entries (at most {MAX_ITEMS:,})")
        _names(sheet, " in 'pricing'")
        for key, value in sheet.items():
            if isinstance(value, str):
                if len(value) > MAX_PRICE_TEXT:
                    raise RecordError(f"'pricing.{key}' is {len(value):,} characters long (at most {MAX_PRICE_TEXT})")
            elif isinstance(value, dict | list):
                _check_sizes(f"pricing.{key}", value)
    try:
        return parse_price_sheet(sheet)
    except PriceFormatError as exc:
        raise RecordError(str(exc)) from None


def _jsonable(value: Any) -> Any:
    """Decimals (from ``parse_float=Decimal``) back to plain JSON numbers for JSON columns."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() and "E" not in str(value) else float(value)
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    return value


@dataclass(frozen=True)
class ModelRecord:
    model_id: str
    facts: dict[str, Any]
    pricing: PriceSheet
    extra: dict[str, Any]
    unknown_fields: tuple[str, ...] = ()
    content_hash: str = ""
    absent: frozenset[str] = frozenset()  # descriptive facts upstream did not send this time

    def with_facts(self, facts: dict[str, Any]) -> ModelRecord:
        return replace(self, facts=facts, absent=frozenset(), content_hash=_hash(facts, self.pricing, self.extra))

    @property
    def is_alias(self) -> bool:
        return self.model_id.startswith("~") or self.facts.get("alias_target") is not None


@dataclass(frozen=True)
class EndpointRecord:
    model_id: str  # the catalog model id we asked for (with any :variant suffix)
    tag: str
    facts: dict[str, Any]
    pricing: PriceSheet
    live: dict[str, Any]
    unknown_fields: tuple[str, ...] = ()
    content_hash: str = ""
    absent: frozenset[str] = frozenset()  # descriptive facts upstream did not send this time
    skus: tuple[Sku, ...] = ()  # ``pricing_skus``: SKU prices as recorded (models of other kinds)

    def with_facts(self, facts: dict[str, Any]) -> EndpointRecord:
        return replace(
            self, facts=facts, absent=frozenset(), content_hash=_endpoint_hash(facts, self.pricing, self.skus)
        )

    def hash_without(self, fact: str) -> str:
        """The content hash this record would have had without ``fact`` (a fact newly recorded: the version
        stored before it was known hashes so)."""
        return _hash({**self.facts, fact: None}, self.pricing)


@dataclass(frozen=True)
class ProviderRecord:
    slug: str
    facts: dict[str, Any]
    unknown_fields: tuple[str, ...] = ()
    content_hash: str = ""


@dataclass
class ParseReport:
    """What one payload yielded: records plus per-item problems (never an exception for one bad item)."""

    problems: list[str] = field(default_factory=list)
    unreadable_ids: int = 0  # items without a usable id: we cannot tell which rows they would close
    skipped_ids: list[str] = field(default_factory=list)  # items with an id that failed to parse


def _hash(facts: dict[str, Any], pricing: PriceSheet | None, extra: dict[str, Any] | None = None) -> str:
    body: dict[str, Any] = {k: v for k, v in facts.items() if v is not None and v != ()}
    if pricing is not None:
        body["pricing"] = pricing.canonical()
    if extra:
        body["extra"] = {k: v for k, v in extra.items() if v is not None}
    return content_hash(body)


def _endpoint_hash(facts: dict[str, Any], pricing: PriceSheet, skus: tuple[Sku, ...]) -> str:
    # SKUs join the identity only when there are some: every text endpoint keeps the hash it always had.
    return _hash(facts, pricing, {"skus": {s.sku: s.text for s in skus}} if skus else None)


def _skus(item: dict[str, Any]) -> tuple[Sku, ...]:
    raw = item.get("pricing_skus")
    if raw is None:
        return ()
    if not isinstance(raw, dict):
        raise RecordError(f"'pricing_skus' is {_shown(raw)}, expected an object")
    _check_sizes("pricing_skus", raw)
    for key, value in raw.items():
        # a price as text or a JSON number (read as an exact Decimal); anything else is not a price at all
        if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
            raise RecordError(f"'pricing_skus.{key}' is {_shown(value)}, expected a price")
        if len(str(value)) > MAX_PRICE_TEXT:
            raise RecordError(f"'pricing_skus.{key}' is {len(str(value)):,} characters long (at most {MAX_PRICE_TEXT})")
    return parse_skus(raw)


def parse_model(item: Any) -> ModelRecord:
    if not isinstance(item, dict):
        raise RecordError(f"model entry is {type(item).__name__}, expected an object")
    model_id = _ident(_str(item, "id", required=True) or "", "id")
    arch = item.get("architecture") or {}
    top = item.get("top_provider") or {}
    if not isinstance(arch, dict) or not isinstance(top, dict):
        raise RecordError("architecture/top_provider is not an object")
    alias = item.get("alias_target")
    alias_slug = alias.get("slug") if isinstance(alias, dict) else alias
    if isinstance(alias_slug, str):
        _ident(alias_slug, "alias_target")
    facts: dict[str, Any] = {
        "canonical_slug": _str(item, "canonical_slug"),
        "name": _str(item, "name"),
        "created": _int(item, "created"),
        "context_length": _int(item, "context_length"),
        "modality": _str(arch, "modality"),
        "input_modalities": _str_list(arch, "input_modalities"),
        "output_modalities": _str_list(arch, "output_modalities"),
        "tokenizer": _str(arch, "tokenizer"),
        "instruct_type": _str(arch, "instruct_type"),
        "top_context_length": _int(top, "context_length"),
        "top_max_completion_tokens": _int(top, "max_completion_tokens"),
        "is_moderated": _bool(top, "is_moderated"),
        "supported_parameters": _str_list(item, "supported_parameters"),
        "hugging_face_id": _str(item, "hugging_face_id") or None,
        "expiration_date": _str(item, "expiration_date"),
        "knowledge_cutoff": _str(item, "knowledge_cutoff"),
        "alias_target": alias_slug if isinstance(alias_slug, str) else None,
    }
    pricing = _pricing(item)
    present = [k for k in sorted(MODEL_EXTRA) if item.get(k) is not None]
    for key in present:  # before _jsonable, which recurses
        _check_sizes(key, item[key])
    extra = {k: _jsonable(item[k]) for k in present}
    unknown = tuple(sorted(set(item) - MODEL_CORE - MODEL_EXTRA - MODEL_IGNORED))
    _names(unknown)
    absent = frozenset(TOP_PROVIDER_FACTS) if "top_provider" not in item else frozenset()
    return ModelRecord(model_id, facts, pricing, extra, unknown, _hash(facts, pricing, extra), absent)


R = TypeVar("R", ModelRecord, ProviderRecord)


def _parse_list(
    body: Any, path: str, id_field: str, parse_one: Callable[[Any], R], key: Callable[[R], str]
) -> tuple[list[R], ParseReport]:
    """Parse a ``{"data": [...]}`` body (or a bare array: both occur in recordings), item by item.

    One bad item is a problem for that item; its id (when readable) is kept so the store does not take
    its absence for a removal.
    """
    items = body.get("data") if isinstance(body, dict) else body
    if not isinstance(items, list):
        raise RecordError(f"the {path} body has no 'data' list")
    report = ParseReport()
    records: dict[str, R] = {}
    for index, item in enumerate(items):
        try:
            record = parse_one(item)
        except RecordError as exc:
            ident = item.get(id_field) if isinstance(item, dict) else None
            if isinstance(ident, str) and 0 < len(ident) <= MAX_ID:
                report.skipped_ids.append(ident)
            else:  # no usable id (an absurdly long one is never repeated in a message or kept)
                ident = None
                report.unreadable_ids += 1
            report.problems.append(f"{path.strip('/').rstrip('s')} {ident or f'#{index}'}: {exc}")
            continue
        # A repeated id is kept once; the later entry wins, as a client reading the list would see it.
        records[key(record)] = record
    return list(records.values()), report


def parse_models(body: Any) -> tuple[list[ModelRecord], ParseReport]:
    """Parse a ``/models`` body into model records."""
    return _parse_list(body, "/models", "id", parse_model, lambda r: r.model_id)


def parse_endpoint(model_id: str, item: Any) -> EndpointRecord:
    if not isinstance(item, dict):
        raise RecordError(f"endpoint entry is {type(item).__name__}, expected an object")
    tag = _str(item, "tag") or _str(item, "provider_name")
    if not tag:
        raise RecordError("endpoint has neither 'tag' nor 'provider_name'")
    _ident(tag, "tag")
    facts: dict[str, Any] = {
        "name": _str(item, "name"),
        "permaslug": _str(item, "model_id"),
        "model_name": _str(item, "model_name"),
        "provider_name": _str(item, "provider_name"),
        "quantization": _str(item, "quantization"),
        "context_length": _int(item, "context_length"),
        "max_completion_tokens": _int(item, "max_completion_tokens"),
        "max_prompt_tokens": _int(item, "max_prompt_tokens"),
        "supported_parameters": _str_list(item, "supported_parameters"),
        "supports_implicit_caching": _bool(item, "supports_implicit_caching"),
        "supports_voice_cloning": _bool(item, "supports_voice_cloning") or None,
        "provider_model_id": _str(item, "provider_model_id") or None,
    }
    live = {
        "status": _int(item, "status"),
        "uptime_last_5m": _float(item, "uptime_last_5m"),
        "uptime_last_30m": _float(item, "uptime_last_30m"),
        "uptime_last_1d": _float(item, "uptime_last_1d"),
        "latency_last_30m": _percentiles(item, "latency_last_30m"),
        "throughput_last_30m": _percentiles(item, "throughput_last_30m"),
    }
    pricing = _pricing(item)
    skus = _skus(item)
    unknown = tuple(sorted(set(item) - ENDPOINT_CORE - ENDPOINT_LIVE))
    _names(unknown)
    absent = frozenset(f for f in ENDPOINT_SOMETIMES if f not in item)
    digest = _endpoint_hash(facts, pricing, skus)
    return EndpointRecord(model_id, tag, facts, pricing, live, unknown, digest, absent, skus)


def _percentiles(item: dict[str, Any], key: str) -> dict[str, float] | None:
    value = item.get(key)
    if value is None:
        return None
    if not isinstance(value, dict):
        raise RecordError(f"{key!r} is not an object")
    if len(value) > MAX_ITEMS:  # only the names are kept (and numbers): nothing else to bound
        raise RecordError(f"{key!r} has {len(value):,} entries (at most {MAX_ITEMS:,})")
    _names(value, f" in {key!r}")
    return {p: float(v) for p, v in value.items() if isinstance(v, int | float | Decimal) and not isinstance(v, bool)}


def parse_endpoints(model_id: str, body: Any) -> tuple[list[EndpointRecord], ParseReport]:
    """Parse one ``/models/{id}/endpoints`` body (``{"data": {..., "endpoints": [...]}}``)."""
    data = body.get("data") if isinstance(body, dict) else None
    if isinstance(data, dict):
        items = data.get("endpoints")
    elif isinstance(body, dict) and isinstance(body.get("endpoints"), list):
        items = body["endpoints"]
    else:
        items = None
    if not isinstance(items, list):
        raise RecordError(f"the endpoints body of {model_id} has no 'data.endpoints' list")
    report = ParseReport()
    records = []
    for index, item in enumerate(items):
        try:
            records.append(parse_endpoint(model_id, item))
        except RecordError as exc:
            report.unreadable_ids += 1
            report.problems.append(f"endpoint #{index} of {model_id}: {exc}")
    return records, report


def parse_provider(item: Any) -> ProviderRecord:
    if not isinstance(item, dict):
        raise RecordError(f"provider entry is {type(item).__name__}, expected an object")
    slug = _ident(_str(item, "slug", required=True) or "", "slug")
    policy = item.get("data_policy") or {}
    if not isinstance(policy, dict):
        raise RecordError("'data_policy' is not an object")
    facts: dict[str, Any] = {
        "name": _str(item, "name"),
        "privacy_policy_url": _str(item, "privacy_policy_url"),
        "terms_of_service_url": _str(item, "terms_of_service_url"),
        "status_page_url": _str(item, "status_page_url"),
        "headquarters": _str(item, "headquarters"),
        "datacenters": _str_list(item, "datacenters"),
        **{f"policy_{k}": _bool(policy, k) for k in DATA_POLICY_KEYS},
        "policy_retention_days": _int(policy, "retention_days"),
    }
    unknown = tuple(sorted(set(item) - PROVIDER_CORE))
    _names(unknown)
    return ProviderRecord(slug, facts, unknown, _hash(facts, None))


def parse_providers(body: Any) -> tuple[list[ProviderRecord], ParseReport]:
    """Parse a ``/providers`` body into provider records."""
    return _parse_list(body, "/providers", "slug", parse_provider, lambda r: r.slug)
