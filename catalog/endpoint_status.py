"""An endpoint's ``status`` code in words.

OpenRouter's spec (``EndpointStatus``) lists the codes 0, -1, -2, -3, -5 and -10 and says nothing of what
they mean. The recorded daily endpoint records (July 2026, ~22,000 endpoint-days) pair two of them with a
flag that does: every ``-3`` endpoint has ``is_deranked: true`` (and no other code has it) and the one
``-10`` endpoint has ``is_disabled: true``. ``0`` is the normal state of ~90 % of endpoints. The rest are
not ok for a reason nobody wrote down, so they are named as such with their code rather than guessed at.
"""

from __future__ import annotations

# Only meanings the recordings show; a code missing here reads "not ok (code N)".
_MEANINGS: dict[int, str] = {
    0: "ok",
    -3: "deranked",
    -10: "disabled",
}


def status_text(code: int | None) -> str:
    """``0`` (or no status recorded) is "ok"; a known code its meaning; any other "not ok (code N)"."""
    if code is None:
        return "ok"
    return _MEANINGS.get(code, f"not ok (code {code})")


def is_ok(code: int | None) -> bool:
    return code in (0, None)
