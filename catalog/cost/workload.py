"""What a cheapest-endpoint query asks: the workload profile and the endpoint filters, with their defaults.

Pure (no Polars, no store), so the faces can build their options from it at import time (``catalog.cost.query``)
without loading the engine.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any, Literal

from catalog.endpoint_status import is_ok, status_text
from catalog.errors import InputError
from catalog.money import MILLION, canonical

_ONE = Decimal(1)
DEFAULT_FALLBACKS = 2  # endpoints after the cheapest in the suggested provider routing
# The spec's ``reasoning_effort`` enum (chat request), strongest first.
REASONING_EFFORTS = ("max", "xhigh", "high", "medium", "low", "minimal", "none")
# What an endpoint must list in ``supported_parameters`` for a request feature. A structured output is sent as
# ``response_format`` (json_object or json_schema); an endpoint listing either name takes it. Recorded days list
# ``response_format`` on more endpoints than ``structured_outputs`` (json_schema), so asking for both would
# exclude endpoints that serve JSON mode.
TOOLS_PARAMETERS = ("tools",)
STRUCTURED_PARAMETERS = ("structured_outputs", "response_format")
REASONING_PARAMETERS = ("reasoning",)
SORTS = ("price", "throughput", "latency")
# The spec's ``Quantization`` enum: what OpenRouter's ``quantizations`` takes (and what listings carry).
QUANTIZATIONS = ("int4", "int8", "fp4", "mxfp4", "nvfp4", "fp6", "fp8", "mxfp8", "fp16", "bf16", "fp32", "unknown")


def _share(value: Decimal | float | str, what: str) -> Decimal:
    share = value if isinstance(value, Decimal) else Decimal(str(value))
    if not share.is_finite() or not 0 <= share <= 1:
        raise InputError(f"{what} {value} is not a share between 0 and 1 (e.g. 0.8 for 80 %)")
    return share


def _count(value: int, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InputError(f"{what} {value!r} is not a whole number ≥ 0")
    return value


@dataclass(frozen=True)
class WorkloadProfile:
    """One request of a workload, and how many of them; shares are fractions of input / output."""

    input_tokens: int = 1000
    output_tokens: int = 500
    cache_hit: Decimal = Decimal(0)
    cache_write: Decimal = Decimal(0)
    cache_ttl: Literal["5m", "1h"] = "5m"
    reasoning: Decimal = Decimal(0)
    requests: int = 1
    images: int = 0
    web_searches: int = 0
    tools: bool = False  # the request sends tools: the endpoint must list ``tools``
    structured_output: bool = False  # a response format / JSON schema: ``structured_outputs`` or ``response_format``
    reasoning_effort: str | None = None  # OpenRouter's effort (``none`` asks for no reasoning, so needs nothing)

    def __post_init__(self) -> None:
        for name in ("input_tokens", "output_tokens", "requests", "images", "web_searches"):
            _count(getattr(self, name), name.replace("_", "-"))
        for name in ("cache_hit", "cache_write", "reasoning"):
            object.__setattr__(self, name, _share(getattr(self, name), name.replace("_", "-")))
        if self.cache_hit + self.cache_write > 1:
            raise InputError(
                f"cache-hit {self.cache_hit} + cache-write {self.cache_write} exceed 1: "
                "a prompt token is either read from the cache, written to it, or neither"
            )
        if self.cache_ttl not in ("5m", "1h"):
            raise InputError(f"cache TTL {self.cache_ttl!r} is not 5m or 1h")
        if self.requests < 1:
            raise InputError("requests must be at least 1")
        if self.reasoning_effort is not None and self.reasoning_effort not in REASONING_EFFORTS:
            raise InputError(f"reasoning effort {self.reasoning_effort!r} is not one of {', '.join(REASONING_EFFORTS)}")

    def with_tokens(self, input_tokens: int, output_tokens: int) -> WorkloadProfile:
        """This profile with other token counts, checked as the constructor checks them; the rest, checked when
        this one was made, is not checked again (the API answers many queries that differ only in their counts,
        and the constructor's checks were a tenth of such an answer's time)."""
        _count(input_tokens, "input-tokens")
        _count(output_tokens, "output-tokens")
        made = object.__new__(WorkloadProfile)
        values = made.__dict__
        values.update(self.__dict__)
        values["input_tokens"], values["output_tokens"] = input_tokens, output_tokens
        return made

    def requirements(self) -> tuple[tuple[str, tuple[str, ...]], ...]:
        """The supported parameters this request needs: (requirement code, any one of these parameters)."""
        needs: list[tuple[str, tuple[str, ...]]] = []
        if self.tools:
            needs.append(("tools", TOOLS_PARAMETERS))
        if self.structured_output:
            needs.append(("structured_output", STRUCTURED_PARAMETERS))
        if self.reasoning_effort not in (None, "none"):
            needs.append(("reasoning", REASONING_PARAMETERS))
        return tuple(needs)

    def usage_row(self) -> dict[str, int]:
        """The per-request usage counts (shares rounded half-even to whole tokens)."""

        def part(total: int, share: Decimal) -> int:
            if not share:
                return 0  # most shares are 0: no Decimal to round (every ranking asks this)
            return int((total * share).quantize(_ONE, ROUND_HALF_EVEN))

        cache_read = part(self.input_tokens, self.cache_hit)
        cache_write = min(part(self.input_tokens, self.cache_write), self.input_tokens - cache_read)
        return {
            "prompt_tokens": self.input_tokens,
            "completion_tokens": self.output_tokens,
            "cache_read_tokens": cache_read,
            "cache_write_tokens": cache_write if self.cache_ttl == "5m" else 0,
            "cache_write_1h_tokens": cache_write if self.cache_ttl == "1h" else 0,
            "reasoning_tokens": part(self.output_tokens, self.reasoning),
            "requests": 1,
            "images": self.images,
            "web_searches": self.web_searches,
        }

    def to_dict(self) -> dict[str, Any]:
        return {k: str(v) if isinstance(v, Decimal) else v for k, v in _shallow_items(self)}


_field_names: dict[type, tuple[str, ...]] = {}


def _shallow_items(obj: Any) -> list[tuple[str, Any]]:
    """A flat dataclass's (name, value) pairs. Not ``asdict``: it deep-copies, a cost every API answer paid;
    the names are read from ``fields`` once per class (every answer lists its profile and filters)."""
    names = _field_names.get(obj.__class__)
    if names is None:
        names = _field_names[obj.__class__] = tuple(f.name for f in fields(obj))
    values = obj.__dict__
    return [(name, values[name]) for name in names]


MAX_CAP_DIGITS = 15  # a price cap of 10**15 USD or more caps nothing


def _money_cap(value: Decimal | str | int | None, what: str) -> Decimal | None:
    if value is None:
        return None
    if isinstance(value, float | bool):
        raise InputError(f'{what} {value!r}: give the cap as decimal text (e.g. "2.5"), not a float')
    try:
        cap = Decimal(str(value))
    except ArithmeticError:
        raise InputError(f"{what} {value!r} is not a decimal amount in USD (e.g. 2.5)") from None
    if not cap.is_finite() or cap < 0:
        raise InputError(f"{what} {value} is not an amount ≥ 0 in USD")
    if cap.adjusted() >= MAX_CAP_DIGITS:  # no price is within sight of it: a typo, or an overflow to come
        raise InputError(f"{what} {str(value)[:40]} is larger than any price; leave it out for no cap")
    return cap


def _positive(value: float | int | Decimal | None, what: str) -> float | None:
    """A telemetry threshold (tokens/s, seconds, percent): compared with float telemetry, so a float."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal) or not math.isfinite(value) or value < 0:
        raise InputError(f"{what} {value!r} is not a number ≥ 0")
    return float(value)


# The caps of OpenRouter's ``max_price``: prompt / completion are USD per million tokens, the others per unit.
MAX_PRICE_KEYS = {
    "prompt": "max_price_prompt",
    "completion": "max_price_completion",
    "request": "max_price_request",
    "image": "max_price_image",
}
CAP_UNITS = {"prompt": " per M tokens", "completion": " per M tokens", "request": " per request", "image": " per image"}
PREFERENCE_KEYS = (
    "order",
    "only",
    "ignore",
    "allow_fallbacks",
    "require_parameters",
    "data_collection",
    "zdr",
    "quantizations",
    "sort",
    "max_price",
    "preferred_min_throughput",
    "preferred_max_latency",
)


@dataclass(frozen=True)
class EndpointFilters:
    """What an endpoint must offer to be ranked, and how to order them; empty / None means no constraint.

    The knobs follow OpenRouter's ``provider`` object (``from_provider_preferences`` reads one): ``providers``
    is ``only``, ``exclude_providers`` ``ignore``, ``no_training`` ``data_collection: "deny"``, ``parameters``
    ``require_parameters``; ``zdr``, ``max_price_*``, ``sort``, ``order``, ``allow_fallbacks`` and the two
    ``preferred_*`` keep their names. The preferences never exclude: endpoints meeting them rank first.
    """

    min_context: int | None = None
    min_max_completion: int | None = None
    parameters: tuple[str, ...] = ()
    quantizations: tuple[str, ...] = ()
    providers: tuple[str, ...] = ()  # allow-list: provider slugs, names or endpoint tags
    exclude_providers: tuple[str, ...] = ()
    no_training: bool = False
    no_prompt_retention: bool = False
    status_ok: bool = True
    min_uptime: float | None = None  # percent over the last day, from the latest telemetry
    exclude_free: bool = False  # leave out free endpoints (`:free` variants: rate-limited, often logged)
    zdr: bool = False  # zero data retention: the provider's policy says it retains no prompts
    max_price_prompt: Decimal | None = None  # USD per million prompt tokens
    max_price_completion: Decimal | None = None  # USD per million completion tokens
    max_price_request: Decimal | None = None  # USD per request
    max_price_image: Decimal | None = None  # USD per input image
    sort: Literal["price", "throughput", "latency"] = "price"
    order: tuple[str, ...] = ()  # these providers first, in this order (slug, name or tag)
    allow_fallbacks: bool = False
    preferred_min_throughput: float | None = None  # tokens/s at p50: endpoints meeting it rank first
    preferred_max_latency: float | None = None  # seconds at p50 (telemetry: ms): endpoints meeting it rank first

    def __post_init__(self) -> None:
        for name in MAX_PRICE_KEYS.values():
            object.__setattr__(self, name, _money_cap(getattr(self, name), name.replace("_", "-")))
        for name in ("preferred_min_throughput", "preferred_max_latency", "min_uptime"):
            object.__setattr__(self, name, _positive(getattr(self, name), name.replace("_", "-")))
        if self.sort not in SORTS:
            raise InputError(f"sort {self.sort!r} is not one of {', '.join(SORTS)}")
        for name in ("parameters", "quantizations", "providers", "exclude_providers", "order"):
            value = getattr(self, name)
            if isinstance(value, str) or not isinstance(value, tuple | list):
                raise InputError(f"{name} {value!r} is not a list of names")
            object.__setattr__(self, name, tuple(value))
        unknown = [q for q in self.quantizations if q.lower() not in QUANTIZATIONS]
        if unknown:
            raise InputError(
                f"quantization {', '.join(map(repr, unknown))} is not one of {', '.join(QUANTIZATIONS)} (OpenRouter's)"
            )
        object.__setattr__(self, "quantizations", tuple(q.lower() for q in self.quantizations))
        # Whether any filter looks at more than the status: most queries set none, and their check stays short.
        narrow = self.providers or self.exclude_providers or self.min_context or self.min_max_completion
        narrow = narrow or self.parameters or self.quantizations or self.no_training or self.no_prompt_retention
        object.__setattr__(self, "_narrow", bool(narrow or self.zdr or self.min_uptime is not None))

    @property
    def max_price(self) -> dict[str, Decimal]:
        """The caps set, by OpenRouter's ``max_price`` key (a copy; ``has_caps`` says whether there are any)."""
        return {key: cap for key, name in MAX_PRICE_KEYS.items() if (cap := getattr(self, name)) is not None}

    @property
    def has_caps(self) -> bool:
        return not (
            self.max_price_prompt is None
            and self.max_price_completion is None
            and self.max_price_request is None
            and self.max_price_image is None
        )

    @property
    def requires_parameters(self) -> bool:
        return bool(self.parameters)

    @classmethod
    def from_provider_preferences(cls, obj: Mapping[str, Any] | None) -> EndpointFilters:
        """The filters an OpenRouter ``provider`` object asks for (its keys as the spec's ``ProviderPreferences``).

        ``require_parameters`` has nothing to list by itself: the request's own parameters say what is required,
        so the profile's ``tools`` / ``structured_output`` / ``reasoning_effort`` carry it. Latency and throughput
        preferences are read at p50 (the percentile the telemetry keeps).
        """
        if obj is None:
            return cls()
        if not isinstance(obj, Mapping):
            raise InputError(f"provider preferences {obj!r} are not an object")
        unknown = sorted(set(obj) - set(PREFERENCE_KEYS))
        if unknown:
            raise InputError(
                f"provider preferences: unknown key(s) {', '.join(unknown)}; known: {', '.join(PREFERENCE_KEYS)}"
            )
        values: dict[str, Any] = {}

        def names(key: str) -> tuple[str, ...]:
            value = obj.get(key)
            if value is None:
                return ()
            if isinstance(value, str) or not isinstance(value, list | tuple):
                raise InputError(f"provider.{key} {value!r} is not a list of provider names")
            return tuple(str(v) for v in value)

        values["order"] = names("order")
        values["providers"] = names("only")
        values["exclude_providers"] = names("ignore")
        values["quantizations"] = names("quantizations")
        if obj.get("allow_fallbacks") is not None:
            values["allow_fallbacks"] = _boolean(obj["allow_fallbacks"], "provider.allow_fallbacks")
        if obj.get("zdr") is not None:
            values["zdr"] = _boolean(obj["zdr"], "provider.zdr")
        _boolean(obj.get("require_parameters") or False, "provider.require_parameters")
        collection = obj.get("data_collection")
        if collection not in (None, "allow", "deny"):
            raise InputError(f"provider.data_collection {collection!r} is not allow or deny")
        values["no_training"] = collection == "deny"
        values.update(_sort(obj.get("sort")))
        values.update(_caps(obj.get("max_price")))
        for key in ("preferred_min_throughput", "preferred_max_latency"):
            values.update(_preference(key, obj.get(key)))
        return cls(**values)

    def requirement(
        self, row: dict[str, Any], profile: WorkloadProfile | None = None, names: frozenset[str] | None = None
    ) -> tuple[str, str] | None:
        """Why ``row`` (a candidate endpoint) cannot serve ``profile`` or is filtered out, as
        ``(requirement code, reason naming the limit)``; None when it stays. Feasibility first, then filters.
        ``names``: the row's provider slug, name and tag in lower case, when the caller has them already."""
        if profile is not None:
            found = feasibility(row, profile)
            if found:
                return found
        if not self._narrow:  # type: ignore[attr-defined]  # set in __post_init__
            return self._status(row)
        if self.providers or self.exclude_providers:
            if names is None:
                names = frozenset(str(row.get(k) or "").lower() for k in ("provider_slug", "provider_name", "tag"))
            if self.providers and not names & {p.lower() for p in self.providers}:
                return "provider", "provider not in the allow-list"
            if names & {p.lower() for p in self.exclude_providers}:
                return "provider", "provider excluded"
        if self.min_context and (row.get("context_length") or 0) < self.min_context:
            return "context", f"context {_n(row.get('context_length'))} < {self.min_context:,} (min-context)"
        if self.min_max_completion and (row.get("max_completion_tokens") or 0) < self.min_max_completion:
            return "max_completion", (
                f"max completion {_n(row.get('max_completion_tokens'))} < {self.min_max_completion:,}"
            )
        listed = row.get("supported_parameters") or ()
        missing = [p for p in self.parameters if p not in listed]
        if missing:
            return "parameters", f"does not support {', '.join(missing)}"
        if self.quantizations and (row.get("quantization") or "unknown") not in self.quantizations:
            return "quantization", f"quantization {row.get('quantization') or 'unknown'} not allowed"
        if self.no_training and row.get("policy_training") is not False:
            return "data_policy", (
                "provider may train on prompts" if row.get("policy_training") else "training policy unknown"
            )
        if self.no_prompt_retention and row.get("policy_retains_prompts") is not False:
            return "data_policy", (
                "provider retains prompts" if row.get("policy_retains_prompts") else "retention policy unknown"
            )
        if self.zdr and row.get("policy_retains_prompts") is not False:
            return "zdr", (
                "not zero data retention: provider retains prompts"
                if row.get("policy_retains_prompts")
                else "not known to be zero data retention: retention policy unknown"
            )
        status = self._status(row)
        if status:
            return status
        if self.min_uptime is not None and (
            row.get("uptime_last_1d") is None or row["uptime_last_1d"] < self.min_uptime
        ):
            return "uptime", f"uptime {row.get('uptime_last_1d')} % < {self.min_uptime} %"
        return None

    def _status(self, row: dict[str, Any]) -> tuple[str, str] | None:
        if self.status_ok and not is_ok(row.get("status")):
            return "status", f"status {status_text(row.get('status'))} at that time"
        return None

    def exclusion(self, row: dict[str, Any], profile: WorkloadProfile | None = None) -> str | None:
        """Why ``row`` is excluded (the reason text of ``requirement``), or None."""
        found = self.requirement(row, profile)
        return found[1] if found else None

    def price_cap(self, prices: Mapping[str, Decimal | None]) -> str | None:
        """Why a listed sheet (the variant that applies) breaks a ``max_price`` cap, or None."""
        for key, cap in self.max_price.items():
            rate = prices.get(key)
            if rate is None:
                continue
            listed = rate * MILLION if key in ("prompt", "completion") else rate
            if listed > cap:
                unit = (
                    " per M tokens"
                    if key in ("prompt", "completion")
                    else (" per request" if key == "request" else " per image")
                )
                return f"{key} ${canonical(listed)}{unit} > max price ${canonical(cap)}"
        return None

    def to_dict(self) -> dict[str, Any]:
        return {
            k: list(v) if isinstance(v, tuple) else v
            for k, v in _shallow_items(self)
            if v not in ((), None, False) and not (k == "sort" and v == "price")
        }


def _sort(sort: Any) -> dict[str, Any]:
    if isinstance(sort, Mapping):
        extra = sorted(set(sort) - {"by", "partition"})
        if extra:
            raise InputError(f"provider.sort: unknown key(s) {', '.join(extra)}; known: by, partition")
        sort = sort.get("by")
    if sort is None:
        return {}
    if sort not in SORTS:
        raise InputError(f"provider.sort {sort!r} is not one of {', '.join(SORTS)} (exacto is not modelled)")
    return {"sort": sort}


def _caps(caps: Any) -> dict[str, Any]:
    if caps is None:
        return {}
    if not isinstance(caps, Mapping):
        raise InputError(f"provider.max_price {caps!r} is not an object")
    extra = sorted(set(caps) - set(MAX_PRICE_KEYS))
    if extra:
        raise InputError(f"provider.max_price: {', '.join(extra)} not modelled; known: {', '.join(MAX_PRICE_KEYS)}")
    return {
        name: _money_cap(caps[key], f"provider.max_price.{key}")
        for key, name in MAX_PRICE_KEYS.items()
        if caps.get(key) is not None
    }


def _preference(key: str, value: Any) -> dict[str, Any]:
    if isinstance(value, Mapping):
        others = sorted(k for k, v in value.items() if k != "p50" and v is not None)
        if others:
            raise InputError(
                f"provider.{key}: only p50 is modelled (the telemetry keeps the median); drop {', '.join(others)}"
            )
        value = value.get("p50")
    return {} if value is None else {key: _positive(value, f"provider.{key}")}


def _boolean(value: Any, what: str) -> bool:
    if not isinstance(value, bool):
        raise InputError(f"{what} {value!r} is not true or false")
    return value


def _n(value: int | None) -> str:
    return "unknown" if value is None else f"{value:,}"


def feasibility(row: dict[str, Any], profile: WorkloadProfile) -> tuple[str, str] | None:
    """Whether the endpoint version ``row`` can take one request of ``profile``: (requirement, reason) or None.

    Limits are the endpoint's listed ones (absent: not limited): prompt ≤ ``max_prompt_tokens``, prompt +
    output ≤ ``context_length``, output ≤ ``max_completion_tokens``; images need ``image`` among the model's
    input modalities; tools, a structured output and reasoning need their supported parameter.
    """
    prompt, output = profile.input_tokens, profile.output_tokens
    context = row.get("context_length")
    if context is not None and prompt + output > context:
        return "context", f"context {context:,} < {prompt + output:,} ({prompt:,} prompt + {output:,} output)"
    max_prompt = row.get("max_prompt_tokens")
    if max_prompt is not None and prompt > max_prompt:
        return "max_prompt", f"max prompt {max_prompt:,} < {prompt:,} prompt tokens"
    max_completion = row.get("max_completion_tokens")
    if max_completion is not None and output > max_completion:
        return "max_completion", f"max completion {max_completion:,} < {output:,} output tokens"
    if profile.images and "image" not in (row.get("input_modalities") or ()):
        takes = ", ".join(row.get("input_modalities") or ()) or "unknown"
        return "image_input", f"model takes no image input (input modalities: {takes})"
    if not (profile.tools or profile.structured_output or profile.reasoning_effort not in (None, "none")):
        return None
    listed = row.get("supported_parameters") or ()
    for code, wanted in profile.requirements():
        if not any(p in listed for p in wanted):
            return code, f"does not support {' or '.join(wanted)}"
    return None
