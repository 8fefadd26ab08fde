"""Bytes on the wire: compact JSON bodies and OpenRouter's error shape.

Every error the fake sends, injected or not, is ``{"error": {"code", "message", "metadata"?}}`` (the
spec's ``*Response`` error schemas), with ``content-type: application/json``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from starlette.responses import Response

JSON = "application/json"


def encode(body: object) -> bytes:
    """JSON bytes as OpenRouter sends them: compact, UTF-8."""
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


def error_body(status: int, message: str, metadata: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """OpenRouter's error object; ``metadata`` is left out when there is none, as OpenRouter does."""
    error: dict[str, Any] = {"code": status, "message": message}
    if metadata:
        error["metadata"] = dict(metadata)
    return {"error": error}


def json_response(body: object, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    """A JSON response from a body that is already encoded (bytes) or still a Python value."""
    content = body if isinstance(body, bytes) else encode(body)
    return Response(content, status_code=status, headers=dict(headers or {}), media_type=JSON)


def error_response(
    status: int,
    message: str,
    metadata: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """An error response in OpenRouter's shape."""
    return json_response(error_body(status, message, metadata), status, headers)
