"""What can go wrong on the wire, as one validated, JSON-(de)serialisable value: :class:`Faults`.

A ``Faults`` only describes the misbehaviour; ``catalog.fake.inject`` applies the transport faults
(latency, failures, hangs, truncation), ``catalog.fake.view`` the data faults (drift, dropped models) and
``catalog.fake.chat`` the streaming faults of ``POST /chat/completions`` (split writes, pacing, mid-stream
errors, dropped connections).
``Faults()`` is a well-behaved server. Every knob is validated when the value is built, so a typo in a
``POST /_fake/faults`` body or a ``--faults`` flag fails at once with a message naming the knob.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from typing import Any

from catalog.errors import ConfigError

API_PREFIX = "/api/v1"

# The kinds of schema drift the fake can serve; see catalog.fake.view for what each one does to a body.
DRIFT_KINDS = frozenset({"unknown_field", "unknown_price_key", "missing_optional", "dynamic_price"})

_RATES = ("failure_rate", "timeout_rate", "truncate_rate")
_SECONDS = ("latency", "hang", "retry_after", "chunk_delay")
_COUNTS = ("fail_first", "chunk_bytes", "stream_error_after", "stream_drop_after")
_MODEL_SETS = ("fail_models", "drop_models", "drift_models")


@dataclass(frozen=True)
class Faults:
    """Faults injected into every ``/api/v1`` request of a fake OpenRouter run.

    Rates are probabilities in 0..1 drawn from RNG streams seeded by ``seed`` (one stream per knob, so
    turning one knob on does not change the draws of another); ``seed=None`` draws fresh randomness.
    Paths are full request paths such as ``/api/v1/models``; model ids are as listed in ``/models``.

    The streaming knobs (``chunk_bytes``, ``chunk_delay``, ``echo_tokens_per_second``,
    ``stream_error_after``, ``stream_drop_after``) shape only the bodies of ``POST /chat/completions`` (and
    ``chunk_bytes``, ``chunk_delay``, ``stream_drop_after`` those of the native routes, ``catalog.fake.native``),
    after the request faults above have let a request through: a client's retry logic meets the 429s and
    5xx before the first byte, and the split writes, pacing, mid-stream errors and cut connections after it.
    """

    latency: float = 0.0
    """Seconds added to every request (an asyncio sleep: concurrent requests overlap)."""
    failure_rate: float = 0.0
    """Share of requests answered with one of ``failure_statuses`` (picked at random) instead of data."""
    failure_statuses: tuple[int, ...] = (429, 500, 502)
    retry_after: float = 1.0
    """Seconds sent in ``Retry-After`` on every injected 429."""
    seed: int | None = 0
    fail_first: int = 0
    """The first N requests to each distinct path fail with ``fail_status`` (counted per faults setting)."""
    fail_status: int = 429
    fail_models: frozenset[str] = frozenset()
    """Models whose ``/endpoints`` always answer 502."""
    timeout_rate: float = 0.0
    """Share of requests that sleep ``hang`` seconds before answering, to trip a client's read timeout."""
    hang: float = 0.0
    truncate_rate: float = 0.0
    """Share of successful responses whose body is cut in half while Content-Length stays whole."""
    truncate_paths: frozenset[str] = frozenset()
    """Paths whose successful responses are always truncated."""
    drift: frozenset[str] = frozenset()
    """Schema drift kinds from ``DRIFT_KINDS``, applied to ``drift_models`` (empty: every model)."""
    drift_models: frozenset[str] = frozenset()
    drop_models: frozenset[str] = frozenset()
    """Models left out of ``/models``; their ``/endpoints`` answer 404."""
    ignore_output_modalities: bool = False
    """``GET /models`` answers every ``output_modalities`` (``all``, ``embeddings`` …) with the default text-model
    list, as an upstream that does not know the parameter would: a sweep must not read it as removals."""
    echo_credentials: bool = False
    """Injected errors repeat the request's ``Authorization`` header and its full URL (query included) in their
    message, as a careless proxy does: what a client must never print or store."""

    # Streaming faults: POST /chat/completions only, applied after the faults above let the request through.
    chunk_bytes: int = 0
    """0: each SSE event (or a whole JSON body) goes out in one write. N > 0: every chat response body (SSE or
    JSON, echo or replay) is written N bytes per write, so a client sees lines split anywhere (N=1 works)."""
    chunk_delay: float = 0.0
    """Seconds between two writes of a chat response body."""
    echo_tokens_per_second: float = 0.0
    """0: an echo stream goes as fast as it can; else its tokens are paced at this rate (token i at i/rate s)."""
    stream_error_after: int = 0
    """0: off. N: an echo stream sends N content chunks, then OpenRouter's mid-stream error chunk
    (``error`` {code 502}, ``finish_reason: "error"``) and ends there: no usage, no ``[DONE]``."""
    stream_drop_after: int = 0
    """0: off. N: an echo stream sends N content chunks, then the connection is cut mid-body (no ``[DONE]``,
    no end of the chunked body): the client sees a transport error, never a clean end."""

    def __post_init__(self) -> None:
        # Accept any iterable for the set-valued knobs so callers can pass lists or sets; store frozensets
        # so a Faults stays hashable and immutable.
        for name in (*_MODEL_SETS, "drift", "truncate_paths"):
            value = getattr(self, name)
            if isinstance(value, str) or not isinstance(value, Iterable):
                raise ConfigError(f"faults.{name} must be a list of strings, not {value!r}")
            object.__setattr__(self, name, frozenset(value))
        statuses = self.failure_statuses
        if isinstance(statuses, int | str) or not isinstance(statuses, Iterable):
            raise ConfigError(f"faults.failure_statuses must be a list of HTTP statuses, not {statuses!r}")
        object.__setattr__(self, "failure_statuses", tuple(statuses))
        self._validate()

    def _validate(self) -> None:
        for name in _RATES:
            value = _number(name, getattr(self, name))
            if not 0.0 <= value <= 1.0:
                raise ConfigError(f"faults.{name}={value!r} must be between 0 and 1")
        for name in _SECONDS:
            value = _number(name, getattr(self, name))
            if value < 0:
                raise ConfigError(f"faults.{name}={value!r} seconds must not be negative")
        if not isinstance(self.ignore_output_modalities, bool):
            raise ConfigError(
                f"faults.ignore_output_modalities={self.ignore_output_modalities!r} must be true or false"
            )
        if not isinstance(self.echo_credentials, bool):
            raise ConfigError(f"faults.echo_credentials={self.echo_credentials!r} must be true or false")
        if self.seed is not None and not _is_int(self.seed):
            raise ConfigError(f"faults.seed={self.seed!r} must be a whole number or null")
        for name in _COUNTS:
            value = getattr(self, name)
            if not _is_int(value) or value < 0:
                raise ConfigError(f"faults.{name}={value!r} must be a whole number >= 0")
        rate = _number("echo_tokens_per_second", self.echo_tokens_per_second)
        if rate < 0:
            raise ConfigError(f"faults.echo_tokens_per_second={rate!r} must be >= 0 (0: as fast as possible)")
        if not self.failure_statuses:
            raise ConfigError("faults.failure_statuses must name at least one HTTP status, e.g. [429, 502]")
        for status in (*self.failure_statuses, self.fail_status):
            if not _is_int(status) or not 400 <= status <= 599:
                raise ConfigError(f"injected status {status!r} must be an HTTP error status (400..599)")
        for name in (*_MODEL_SETS, "drift", "truncate_paths"):
            for item in getattr(self, name):
                if not isinstance(item, str) or not item:
                    raise ConfigError(f"faults.{name} holds {item!r}; every entry must be a non-empty string")
        unknown = sorted(self.drift - DRIFT_KINDS)
        if unknown:
            raise ConfigError(f"unknown drift kind(s) {unknown}; choose from {sorted(DRIFT_KINDS)}")
        for path in self.truncate_paths:
            if not path.startswith(API_PREFIX + "/"):
                raise ConfigError(
                    f"faults.truncate_paths entry {path!r} must be a full request path such as '{API_PREFIX}/models'"
                )
        # A hang without a rate (or a rate without a hang) would silently do nothing.
        if (self.hang > 0) != (self.timeout_rate > 0):
            raise ConfigError(
                f"faults.hang={self.hang!r} and faults.timeout_rate={self.timeout_rate!r} only act together; "
                "set both (timeout_rate=1 hangs every request) or neither"
            )
        if self.drift_models and not self.drift:
            raise ConfigError("faults.drift_models is set but faults.drift is empty; name the drift kinds too")

    @property
    def active(self) -> bool:
        """Whether this value changes anything at all compared with a well-behaved server."""
        return self != Faults()

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (sets become sorted lists) that :meth:`from_dict` turns back into ``self``."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, frozenset):
                value = sorted(value)
            elif isinstance(value, tuple):
                value = list(value)
            out[f.name] = value
        return out

    def to_json(self) -> str:
        """Compact JSON text of :meth:`to_dict`."""
        return json.dumps(self.to_dict(), separators=(",", ":"))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Faults:
        """Build from a JSON object; missing knobs keep their defaults, unknown knobs are an error."""
        if not isinstance(data, Mapping):
            raise ConfigError(f"faults must be a JSON object, not {type(data).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"unknown fault knob(s) {unknown}; known knobs: {sorted(known)}")
        return cls(**data)

    @classmethod
    def from_json(cls, text: str) -> Faults:
        """Parse JSON text such as ``'{"latency": 0.2, "fail_first": 1}'``."""
        try:
            data = json.loads(text)
        except (json.JSONDecodeError, RecursionError, ValueError) as exc:  # also nesting or digits past a limit
            reason = exc if isinstance(exc, json.JSONDecodeError) else "nested too deeply or a number too long"
            raise ConfigError(f'faults are not valid JSON ({reason}); pass an object like {{"latency": 0.2}}') from None
        if not isinstance(data, dict):
            raise ConfigError(f'faults must be a JSON object, not {type(data).__name__}; e.g. {{"latency": 0.2}}')
        return cls.from_dict(data)


def _is_int(value: object) -> bool:
    # bool is an int subclass, but `"fail_first": true` is a mistake, not 1.
    return isinstance(value, int) and not isinstance(value, bool)


def _number(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ConfigError(f"faults.{name}={value!r} must be a finite number")
    return float(value)


# Re-exported for callers that build a Faults field by field (e.g. a CLI flag per knob).
FAULT_KNOBS: tuple[str, ...] = tuple(f.name for f in fields(Faults))
