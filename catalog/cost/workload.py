"""What a cheapest-endpoint query asks: the workload profile and the endpoint filters, with their defaults.

Pure (no Polars, no store), so the faces can build their options from it at import time (``catalog.cost.query``)
without loading the engine.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any, Literal

from catalog.errors import InputError

DEFAULT_FALLBACKS = 2  # endpoints after the cheapest in the suggested provider routing


def _share(value: Decimal | float | str, what: str) -> Decimal:
    share = Decimal(str(value))
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

    def usage_row(self) -> dict[str, int]:
        """The per-request usage counts (shares rounded half-even to whole tokens)."""

        def part(total: int, share: Decimal) -> int:
            return int((total * share).quantize(Decimal(1), ROUND_HALF_EVEN))

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
        return {k: str(v) if isinstance(v, Decimal) else v for k, v in asdict(self).items()}


@dataclass(frozen=True)
class EndpointFilters:
    """What an endpoint must offer to be ranked; empty / None means no constraint."""

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

    def exclusion(self, row: dict[str, Any]) -> str | None:
        """Why ``row`` (a candidate endpoint) is excluded, or None."""
        names = {str(row.get(k) or "").lower() for k in ("provider_slug", "provider_name", "tag")} - {""}
        if self.providers and not names & {p.lower() for p in self.providers}:
            return "provider not in the allow-list"
        if names & {p.lower() for p in self.exclude_providers}:
            return "provider excluded"
        if self.min_context and (row.get("context_length") or 0) < self.min_context:
            return f"context {row.get('context_length')} < {self.min_context}"
        if self.min_max_completion and (row.get("max_completion_tokens") or 0) < self.min_max_completion:
            return f"max completion {row.get('max_completion_tokens')} < {self.min_max_completion}"
        missing = [p for p in self.parameters if p not in (row.get("supported_parameters") or [])]
        if missing:
            return f"does not support {', '.join(missing)}"
        if self.quantizations and (row.get("quantization") or "unknown") not in self.quantizations:
            return f"quantization {row.get('quantization') or 'unknown'} not allowed"
        if self.no_training and row.get("policy_training") is not False:
            return "provider may train on prompts" if row.get("policy_training") else "training policy unknown"
        if self.no_prompt_retention and row.get("policy_retains_prompts") is not False:
            return "provider retains prompts" if row.get("policy_retains_prompts") else "retention policy unknown"
        if self.status_ok and row.get("status") not in (0, None):
            return f"status {row.get('status')} (not ok) at that time"
        if self.min_uptime is not None and (
            row.get("uptime_last_1d") is None or row["uptime_last_1d"] < self.min_uptime
        ):
            return f"uptime {row.get('uptime_last_1d')} % < {self.min_uptime} %"
        return None

    def to_dict(self) -> dict[str, Any]:
        return {
            k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items() if v not in ((), None, False)
        }
