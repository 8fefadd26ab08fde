"""Secrets out of any text before it is shown, logged or stored: one function, ``redact``.

Text that came from outside (an upstream's error body, a URL someone typed, a stored error summary) may hold
a credential: OpenRouter echoes nothing, but a proxy or a self-hosted server may repeat the request's
``Authorization`` header in its error. ``redact`` masks, wherever they appear:

* the secrets the caller names (its own API keys), whatever they look like;
* OpenRouter keys (``sk-or-…``) and the value of any ``Bearer`` / ``Basic`` credential;
* the user-info of a URL (``https://user:secret@host`` → ``https://***@host``);
* the value of a query parameter that names a key or token (``?api_key=…``, ``&token=…``).

Only the standard library: every layer may import this module. Masking is idempotent, so text already
redacted can pass through again.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

MASK = "***"

# A secret shorter than this is not looked for by value (masking every "ab" in a message would hide the
# message, and a key that short is not a key); the patterns below still catch it in a header or a URL.
_SHORTEST_SECRET = 8

_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\bsk-or-[A-Za-z0-9_\-]+"), "sk-or-" + MASK),
    (re.compile(r"\b(Bearer|Basic)(\s+)(?!\*\*\*)[^\s\"',;})\]]+", re.IGNORECASE), r"\1\2" + MASK),
    (re.compile(r"(://)[^/@\s\"']*@"), r"\1" + MASK + "@"),
    (
        re.compile(r"([?&](?:api[_-]?key|key|token|access[_-]?token|auth|password|secret)=)[^&#\s\"']+", re.I),
        r"\1" + MASK,
    ),
)


def redact(text: str, secrets: Iterable[str | None] = ()) -> str:
    """``text`` with every credential it holds masked (see the module docstring for what counts)."""
    for secret in sorted({s for s in secrets if s and len(s) >= _SHORTEST_SECRET}, key=len, reverse=True):
        text = text.replace(secret, MASK)
    for pattern, mask in _PATTERNS:
        text = pattern.sub(mask, text)
    return text


def redact_bytes(data: bytes, secrets: Iterable[str | None] = ()) -> bytes:
    """``data`` (a body as served) with each named secret masked by value: a body keeps its bytes otherwise, so
    only the caller's own keys are looked for (the patterns above are for text that is shown, not for data)."""
    for secret in sorted({s for s in secrets if s and len(s) >= _SHORTEST_SECRET}, key=len, reverse=True):
        data = data.replace(secret.encode(), MASK.encode())
    return data


def redact_value(value: Any, secrets: Iterable[str | None] = ()) -> Any:
    """``value`` (JSON-like: dicts, lists, strings) with ``redact`` applied to every string in it, keys too."""
    secrets = tuple(secrets)
    if isinstance(value, str):
        return redact(value, secrets)
    if isinstance(value, dict):
        return {redact_value(k, secrets): redact_value(v, secrets) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(redact_value(v, secrets) for v in value)
    return value
