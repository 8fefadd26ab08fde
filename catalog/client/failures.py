"""OpenRouter's error answers as typed errors, and how long ``Retry-After`` says to wait.

An error body is ``{"error": {"code", "message", "metadata"}}`` (``metadata.raw`` often holds the provider's
own words); the status picks the kind (``catalog.errors``: 400 bad request, 401 auth, 402 credits, 403
moderation, 429 rate limit, 408 / 5xx upstream).
"""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from catalog.errors import (
    AuthError,
    BadRequestError,
    CreditsError,
    GenerationError,
    ModerationError,
    RateLimitError,
    UpstreamError,
)

_KINDS: dict[int, type[GenerationError]] = {
    400: BadRequestError,
    401: AuthError,
    402: CreditsError,
    403: ModerationError,
    408: UpstreamError,
    429: RateLimitError,
}


def retry_after(headers: httpx.Headers | None) -> float | None:
    """``Retry-After`` in seconds: a number, or an HTTP date (RFC 9110); None when absent or unreadable."""
    value = headers.get("retry-after") if headers is not None else None
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def error_from(
    status: int | None, body: Any, headers: httpx.Headers | None, source: str = "OpenRouter"
) -> GenerationError:
    error = body.get("error") if isinstance(body, dict) else None
    error = error if isinstance(error, dict) else {}
    code = error.get("code")
    status = status or (code if isinstance(code, int) else None)
    message = str(error.get("message") or "no message")
    metadata = error.get("metadata") if isinstance(error.get("metadata"), dict) else {}
    raw = metadata.get("raw") if metadata else None
    detail = f" ({raw})" if isinstance(raw, str) and raw and raw not in message else ""
    kind = _KINDS.get(status or 0, UpstreamError if (status or 0) >= 500 else GenerationError)
    return kind(
        f"{source} answered {status}: {message}{detail}",
        status=status,
        code=code,
        metadata=metadata,
        retry_after=retry_after(headers),
    )
