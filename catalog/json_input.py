"""JSON that arrives from outside (usage files, request bodies, upstream answers), read exactly and safely.

``loads`` is ``json.loads`` with numbers exact (``Decimal`` for fractions), ``NaN`` / ``Infinity`` refused (JSON
has no such numbers), and every way Python's parser fails on hostile input raised as ``json.JSONDecodeError`` —
the one error callers already handle for malformed JSON: nesting deeper than the interpreter's stack would
otherwise be a ``RecursionError``, and an integer past Python's digit limit a bare ``ValueError``.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def loads(text: str | bytes) -> Any:
    """Parse ``text``; any failure is a ``json.JSONDecodeError`` (its ``msg`` says what, ``pos`` where if known)."""
    try:
        return json.loads(text, parse_float=Decimal, parse_constant=_no_constant)
    except json.JSONDecodeError:
        raise
    except RecursionError:
        raise json.JSONDecodeError("nested too deeply", _doc(text), 0) from None
    except ValueError as err:  # an integer past the digit limit, NaN / Infinity, bad UTF-8 in bytes
        message = str(err).split("\n")[0]
        if "integer string conversion" in message:
            message = "a number with thousands of digits (no count or price has that many)"
        raise json.JSONDecodeError(message, _doc(text), 0) from None


def _doc(text: str | bytes) -> str:
    # JSONDecodeError counts lines and columns in the document it is given; position 0 needs none of it.
    return text[:0] if isinstance(text, str) else ""
