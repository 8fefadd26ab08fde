"""Whole response bodies, SSE transcripts and usage files → rows of the usage contract.

    usage_from_body(body, source=...)   one JSON body: OpenRouter chat / Responses, Anthropic, Gemini, OpenAI
    usage_from_sse(text, source=...)    one streamed transcript: the last chunk that carries usage
    usage_from_row(row, source=...)     a row already in contract field names
    usage_from_text(text, name)         a .json / .jsonl / .sse file's text → (rows, problems), never stopping early

A row is the normalised usage (``catalog.cost.normalise``) plus ``model``, ``provider``, ``timestamp`` (UTC),
``id`` and ``source``; fields the body does not carry are left out.

Errors (both ``InputError``):

    UsageFormatError   bad values, raised only in strict mode (``problems=None``); with a ``problems`` list the
                       row is returned and each bad field described there (see ``catalog.cost.normalise``)
    NoUsageError       nothing to count: an error body (a 429 …), a body or transcript without usage

Messages in ``problems`` start with the row's ``source``. They may also hold notes that do not make a row
invalid, e.g. a stream that reported usage and then an error: the usage was billed, so the row is kept.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from catalog import json_input
from catalog.cost.normalise import (
    UsageFormatError,
    count_value,
    flag_value,
    from_anthropic,
    from_gemini,
    from_openai,
    from_openrouter_chat,
    from_openrouter_responses,
    money_text,
)
from catalog.cost.shapes import ShapeReport, map_rows, no_counts_reason
from catalog.cost.usage import BAD_TIME, COUNT_COLUMNS, INVALID_REASON, NOT_WHOLE, UNIT_COUNT_COLUMNS, USAGE_SCHEMA
from catalog.errors import InputError
from catalog.times import UNIX_SECONDS_RANGE

Row = dict[str, Any]

# Keys that mark a provider's response body; a dict without any of them is a row in contract field names.
_BODY_KEYS = frozenset({"usage", "usageMetadata", "error", "object", "choices", "candidates", "response", "type"})
_ANTHROPIC_KEYS = frozenset({"cache_creation_input_tokens", "cache_read_input_tokens", "cache_creation"})
_CHAT_OBJECTS = frozenset({"chat.completion", "chat.completion.chunk"})
# Carried over from earlier stream chunks when the chunk with usage lacks them.
_METADATA_KEYS = ("id", "model", "provider", "created", "created_at", "modelVersion", "responseId", "createTime")
# The SSE spec's line ends only: str.splitlines() would also split at U+2028, which JSON text may hold raw.
_LINE_END = re.compile(r"\r\n|\r|\n")


class NoUsageError(InputError):
    """The input is not usage at all: an error body, or a body / transcript that reports no usage."""


# --- one body --------------------------------------------------------------------------------------------------


def usage_from_body(body: Mapping[str, Any], *, source: str, problems: list[str] | None = None) -> Row:
    """The usage row of one response body, its shape detected from its keys.

    OpenRouter chat completions (and chunks) and Responses API bodies (or a ``response.completed`` event);
    Anthropic messages (``type: "message"``), Gemini (``usageMetadata``), and OpenAI native bodies, which
    OpenRouter's shapes extend, so they read the same. Raises ``NoUsageError`` for a body without usage (an
    ``error`` body says its error); bad values as described in the module docstring.
    """
    if not isinstance(body, Mapping):
        raise InputError(f"{source}: a response body must be a JSON object, not {type(body).__name__}")
    if str(body.get("type", "")).startswith("response.") and isinstance(body.get("response"), Mapping):
        body = body["response"]
    usage_key = "usageMetadata" if body.get("usageMetadata") is not None else "usage"
    usage = body.get(usage_key)
    error = body.get("error")
    if usage is None:
        if error is not None:
            raise NoUsageError(f"{source}: skipped, the body is an {_describe_error(error)}")
        raise NoUsageError(
            f"{source}: skipped, the body has no usage (keys: {', '.join(sorted(map(str, body))) or 'none'})"
        )
    found: list[str] = []
    row = _normalise(body, usage_key, usage, found)
    if found:
        row[NOT_WHOLE] = True  # a usage value could not be read: price the row as invalid, never as if it were 0
    before = len(found)
    when = _created(body, found)
    if len(found) > before:
        row[BAD_TIME] = True  # an unreadable time: never priced at "now" instead
    row |= _metadata(body, found)
    if when is not None:
        row["timestamp"] = when
    row["source"] = source
    if problems is None and found:
        raise UsageFormatError([f"{source}: {message}" for message in found])
    if problems is not None:
        problems.extend(f"{source}: {message}" for message in found)
        if error is not None:
            problems.append(f"{source}: kept the usage of a body that also reports an {_describe_error(error)}")
    return row


def _normalise(body: Mapping[str, Any], usage_key: str, usage: Any, found: list[str]) -> Row:
    if usage_key == "usageMetadata":
        return from_gemini(usage, problems=found)
    keys = set(usage) if isinstance(usage, Mapping) else set()
    if (body.get("type") == "message" and "input_tokens" in keys) or keys & _ANTHROPIC_KEYS:
        return from_anthropic(usage, problems=found)
    if body.get("object") == "response":
        return from_openrouter_responses(usage, problems=found)
    if body.get("object") in _CHAT_OBJECTS or "prompt_tokens" in keys:
        return from_openrouter_chat(usage, problems=found)
    return from_openai(usage, problems=found)


def _metadata(body: Mapping[str, Any], found: list[str]) -> Row:
    row: Row = {
        "model": _text(body, "model", found) or _text(body, "modelVersion", found),
        "provider": _text(body, "provider", found),
        "id": _text(body, "id", found) or _text(body, "responseId", found),
    }
    return {name: value for name, value in row.items() if value is not None}


def _text(body: Mapping[str, Any], key: str, found: list[str]) -> str | None:
    value = body.get(key)
    if value is None or isinstance(value, str):
        return value
    found.append(f"{key} is {value!r}, not text")
    return None


def _created(body: Mapping[str, Any], found: list[str]) -> datetime | None:
    for key in ("created", "created_at"):  # chat completions; Responses API
        if body.get(key) is not None:
            return _timestamp(body[key], key, found)
    if body.get("createTime") is not None:  # Vertex AI's Gemini bodies
        return _timestamp(body["createTime"], "createTime", found)
    return None


def _timestamp(value: Any, field: str, found: list[str]) -> datetime | None:
    """Unix seconds (as OpenRouter's ``created``), an ISO text or a datetime / date → an aware UTC datetime."""
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    if isinstance(value, str) and not (value.strip().lstrip("-").isascii() and value.strip().lstrip("-").isdigit()):
        try:
            parsed = datetime.fromisoformat(value.strip())
            return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
        except (ValueError, OverflowError):  # OverflowError: an offset past the ends of the calendar
            found.append(f"{field} is {value!r}, not an ISO timestamp or unix seconds")
            return None
    invalid: list[str] = []
    seconds = count_value(value, field=field, problems=invalid)
    if seconds is None or invalid:
        found.append(f"{field} is {value!r}, not an ISO timestamp or unix seconds")
        return None
    low, high = UNIX_SECONDS_RANGE
    if not low <= seconds <= high:
        found.append(f"{field} is {seconds}, out of range for unix seconds ({low} to {high:,}, years 1970-9999)")
        return None
    return datetime.fromtimestamp(seconds, UTC)


def _describe_error(error: Any) -> str:
    if not isinstance(error, Mapping):
        return f"error: {error!r}"
    code = error.get("code")
    text = f"error {code}" if code is not None else "error"
    metadata = error.get("metadata")
    if not isinstance(metadata, Mapping):
        metadata = {}
    if metadata.get("provider_name"):
        text += f" from {metadata['provider_name']}"
    text += f": {error.get('message') or 'no message'}"
    raw = metadata.get("raw")
    if isinstance(raw, str) and raw and raw != error.get("message"):
        text += f" ({raw if len(raw) <= 200 else raw[:200] + '…'})"
    return text


# --- a row in contract field names -----------------------------------------------------------------------------


def usage_from_row(row: Mapping[str, Any], *, source: str, problems: list[str] | None = None) -> Row:
    """A flat row already in contract field names, checked value by value; ``source`` replaces any given one.

    Unknown fields are bad values (strict: ``UsageFormatError``; collecting: dropped and described).
    """
    found: list[str] = []
    out: Row = {}
    for name, value in row.items():
        if value is None:
            continue
        if name not in USAGE_SCHEMA:
            found.append(f"unknown field {name!r}; known fields: {', '.join(USAGE_SCHEMA)}")
        elif name in COUNT_COLUMNS:
            out[name] = count_value(value, field=name, problems=found)
            if out[name] is None:
                out[NOT_WHOLE] = True  # priced as invalid, never as if the count were 0
        elif name in ("billed_cost", "upstream_cost"):
            out[name] = money_text(value, field=name, problems=found)
        elif name in UNIT_COUNT_COLUMNS:
            # A count of another unit (8 seconds, 1.5 minutes) as its exact text; one that is not a number is
            # kept as given and makes the row invalid when priced (catalog.cost.unit_usage), never dropped.
            if isinstance(value, bool) or not isinstance(value, int | float | Decimal | str):
                found.append(f"{name} is {value!r}, not a count")
            else:
                out[name] = repr(value) if isinstance(value, float) else str(value)
        elif name == "is_byok":
            out[name] = flag_value(value, field=name, problems=found)
        elif name == "timestamp":
            out[name] = _timestamp(value, name, found)
            if out[name] is None:
                out[BAD_TIME] = True  # never priced at "now" instead
        else:
            out[name] = _text(row, name, found)
    out = {name: value for name, value in out.items() if value is not None}
    out["source"] = source
    if problems is None and found:
        raise UsageFormatError([f"{source}: {message}" for message in found])
    if problems is not None:
        problems.extend(f"{source}: {message}" for message in found)
    return out


# --- SSE transcripts -------------------------------------------------------------------------------------------


def usage_from_sse(text: str, *, source: str, problems: list[str] | None = None) -> Row:
    """The usage row of one streamed transcript (chat completions, Responses API, Anthropic or Gemini streams).

    Comment lines (``: OPENROUTER PROCESSING``), ``event:`` lines, ``[DONE]`` and any line ending are fine.
    The last chunk carrying usage wins (2024–2025 streams sent it on an earlier chunk than the last); a
    Responses stream's usage rides on its ``response.*`` events; an Anthropic stream's ``message_delta`` usage
    updates its ``message_start``. Id, model, provider and creation time missing on that chunk are taken
    from the others. Raises ``NoUsageError`` when no chunk carries usage; a data line that is not JSON is a
    bad value (strict: ``UsageFormatError``; collecting: described, and the rest is read).
    """
    found: list[str] = []
    chunks: list[Mapping[str, Any]] = []
    for line, event, data in _sse_events(text):
        for parsed in _sse_json(data, line, found):
            # "message" is SSE's default event name, not Anthropic's message type: it says nothing.
            named = event is not None and event != "message" and "type" not in parsed
            chunks.append({**parsed, "type": event} if named else parsed)
    final, error = _final_chunk(chunks)
    if final is None:
        if error is not None:
            raise NoUsageError(f"{source}: skipped, the stream ended with an {_describe_error(error)}")
        raise NoUsageError(f"{source}: skipped, none of the {len(chunks)} chunks of the transcript carries usage")
    if error is not None and final.get("error") is None:
        final = {**final, "error": error}
    if problems is None and found:
        raise UsageFormatError([f"{source}: {message}" for message in found])
    if problems is not None:
        problems.extend(f"{source}: {message}" for message in found)
    return usage_from_body(final, source=source, problems=problems)


def _sse_events(text: str) -> Iterator[tuple[int, str | None, str]]:
    """(first line number, event name, data) of each event, per the SSE spec: blank lines end an event."""
    data: list[str] = []
    event: str | None = None
    start = 0
    for number, line in enumerate(_LINE_END.split(text), 1):
        if not line:
            if data:
                yield start, event, "\n".join(data)
            data, event = [], None
            continue
        if line.startswith(":"):  # keep-alive comment
            continue
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "data":
            start = start if data else number
            data.append(value)
        elif name == "event":
            event = value
        # id: and retry: steer reconnection; they carry nothing we count.
    if data:
        yield start, event, "\n".join(data)


def _sse_json(data: str, line: int, found: list[str]) -> list[Mapping[str, Any]]:
    if data.strip() == "[DONE]":
        return []
    try:
        parsed = [json_input.loads(data)]
    except json.JSONDecodeError as err:
        # A transcript that lost its blank lines joins several chunks into one event: read them one by one.
        pieces = data.split("\n")
        try:
            parsed = [json_input.loads(piece) for piece in pieces if piece.strip() != "[DONE]"]
        except json.JSONDecodeError:
            found.append(f"line {line}: data is not JSON ({err.msg})")
            return []
    chunks = [chunk for chunk in parsed if isinstance(chunk, Mapping)]
    if len(chunks) != len(parsed):
        found.append(f"line {line}: data is not a JSON object")
    return chunks


def _final_chunk(chunks: list[Mapping[str, Any]]) -> tuple[Mapping[str, Any] | None, Any]:
    """The last chunk that carries usage (metadata filled from the others) and the stream's last error."""
    final: Mapping[str, Any] | None = None
    message: dict[str, Any] | None = None  # an Anthropic stream's message, updated by message_delta
    metadata: dict[str, Any] = {}
    error: Any = None
    for chunk in chunks:
        kind = str(chunk.get("type") or "")
        if kind.startswith("response.") and isinstance(chunk.get("response"), Mapping):
            chunk = chunk["response"]
        elif kind == "message_start" and isinstance(chunk.get("message"), Mapping):
            message = {**chunk["message"], "usage": dict(chunk["message"].get("usage") or {})}
            chunk = message
        elif kind == "message_delta" and message is not None and isinstance(chunk.get("usage"), Mapping):
            # Deltas repeat the cumulative counts; later values replace earlier ones.
            message["usage"].update({key: value for key, value in chunk["usage"].items() if value is not None})
            chunk = message
        for key in _METADATA_KEYS:
            if chunk.get(key) is not None:
                metadata.setdefault(key, chunk[key])
        if chunk.get("error") is not None:
            error = chunk["error"]
        elif kind == "error":
            error = chunk
        if chunk.get("usage") is not None or chunk.get("usageMetadata") is not None:
            final = chunk
    if final is None:
        return None, error
    missing = {key: value for key, value in metadata.items() if final.get(key) is None}
    return {**final, **missing}, error


# --- files -----------------------------------------------------------------------------------------------------


def usage_from_text(text: str, name: str, **options: Any) -> tuple[list[Row], list[str]]:
    """``read_text`` without the shape report."""
    rows, problems, _ = read_text(text, name, **options)
    return rows, problems


def read_text(text: str, name: str, **options: Any) -> tuple[list[Row], list[str], ShapeReport | None]:
    """Usage rows from the text of one file called ``name``, and a message for every part not used.

    ``.json``: one body, or a list of bodies or flat rows. ``.jsonl`` / ``.ndjson``: one body or flat row per
    line; a bad line is described as ``name:line`` and the rest is read. ``.sse``: one streamed transcript.
    Other names are sniffed from their first characters. Sources are ``name:line`` (JSONL), ``name[index]``
    (a JSON list) or ``name``. Raises ``InputError`` naming the file when it is not JSON at all. Reading the
    file is the caller's (``catalog.usage_files``): the cost package does no I/O. Flat rows are read in any
    shape ``read_items`` knows (``options``: ``forced``, ``maps``, ``ignore``); the report says which.
    """
    path = Path(name)
    rows: list[Row] = []
    problems: list[str] = []
    report: ShapeReport | None = None
    kind = _file_kind(path, text)
    if kind == "sse":
        _collect(lambda: usage_from_sse(text, source=path.name, problems=problems), rows, problems)
    elif kind == "jsonl":
        pairs: list[tuple[str, Any]] = []
        for number, line in enumerate(_LINE_END.split(text), 1):
            if not line.strip():
                continue
            source = f"{path.name}:{number}"
            try:
                pairs.append((source, json_input.loads(line)))
            except json.JSONDecodeError as err:
                pairs.append((source, _Unread(f"{source}: not valid JSON ({err.msg} at column {err.colno})")))
        rows, problems, report = read_items(pairs, **options)
    else:
        try:
            document = json_input.loads(text)
        except json.JSONDecodeError as err:
            raise InputError(
                f"usage file {path} is not valid JSON ({err.msg} at line {err.lineno}, column {err.colno}); "
                "for one object per line, name the file .jsonl"
            ) from None
        if isinstance(document, Mapping) and not _BODY_KEYS & document.keys() and "data" in document:
            # An OpenRouter listing saved whole (GET /activity, GET /generation): its rows are under "data".
            data = document["data"]
            document = data if isinstance(data, list) else [data]
        if isinstance(document, list):
            return read_items([(f"{path.name}[{i}]", item) for i, item in enumerate(document)], **options)
        rows, problems, report = read_items([(path.name, document)], **options)
    return rows, problems, report


def usage_from_items(items: list[Any], name: str, **options: Any) -> tuple[list[Row], list[str]]:
    """Usage rows from a list of response bodies and/or flat rows (sources ``name[index]``)."""
    rows, problems, _ = read_items([(f"{name}[{index}]", item) for index, item in enumerate(items)], **options)
    return rows, problems


class _Unread:
    """An item that could not be parsed: only its message goes on."""

    def __init__(self, message: str) -> None:
        self.message = message


def read_items(
    pairs: list[tuple[str, Any]],
    *,
    forced: str | None = None,
    maps: Mapping[str, str] | None = None,
    ignore: Iterable[str] = (),
) -> tuple[list[Row], list[str], ShapeReport | None]:
    """Rows, problems (in item order) and, when there are flat rows, how their shape was read.

    Response bodies are read body by body (their shape is in their keys); flat rows are read together as one
    shape (``catalog.cost.shapes``): the engine's own names, OpenAI, Anthropic, OpenRouter, LiteLLM or
    genai-prices names, ``forced`` or with ``maps``. A row with no count at all is marked invalid, never free.
    """
    found: dict[int, Row] = {}
    notes: dict[int, list[str]] = {}
    flat: list[tuple[int, str, Mapping[str, Any]]] = []
    for index, (source, item) in enumerate(pairs):
        notes[index] = []
        if isinstance(item, _Unread):
            notes[index].append(item.message)
        elif not isinstance(item, Mapping):
            notes[index].append(f"{source}: skipped, expected a JSON object, got {type(item).__name__}")
        elif _is_body(item):
            try:
                found[index] = _mark_no_counts(usage_from_body(item, source=source, problems=notes[index]), item)
            except NoUsageError as err:
                notes[index].append(str(err))
        else:
            flat.append((index, source, item))
    report = None
    if flat:
        mapped, report = map_rows([item for _, _, item in flat], forced=forced, maps=maps, ignore=ignore)
        as_given = report.shape == "contract" and not maps
        for (index, source, item), row in zip(flat, mapped, strict=True):
            given = {k: v for k, v in row.items() if k != INVALID_REASON}
            # In the engine's own names the row is checked as given, so an unknown field is named, not dropped.
            checked = usage_from_row(item if as_given else given, source=source, problems=notes[index])
            if INVALID_REASON in row:
                checked[INVALID_REASON] = row[INVALID_REASON]
            found[index] = checked
    return [found[i] for i in sorted(found)], [note for i in sorted(notes) for note in notes[i]], report


def _is_body(item: Mapping[str, Any]) -> bool:
    """A response body, not a flat row: its keys say so (a flat row may have a ``usage`` amount, as an OpenRouter
    activity row does, but a body's ``usage`` is an object)."""
    usage = item.get("usage")
    return bool((_BODY_KEYS - {"usage"}) & item.keys()) or isinstance(usage, Mapping)


def _mark_no_counts(row: Row, body: Mapping[str, Any]) -> Row:
    """A body whose usage holds no count is not a free call: it is invalid, with what its usage did hold."""
    if NOT_WHOLE in row or any(name in row for name in COUNT_COLUMNS):
        return row
    usage = body.get("usageMetadata") or body.get("usage") or (body.get("response") or {}).get("usage")
    keys = [str(key) for key in usage] if isinstance(usage, Mapping) else []
    return {**row, INVALID_REASON: no_counts_reason(keys)}


def _file_kind(path: Path, text: str) -> str:
    suffix = path.suffix.lower()
    if suffix in (".sse", ".json", ".jsonl", ".ndjson"):
        return {".ndjson": "jsonl"}.get(suffix, suffix[1:])
    head = text.lstrip()
    if head.startswith((":", "data:", "event:")):
        return "sse"
    try:
        json_input.loads(text)
    except json.JSONDecodeError:
        return "jsonl"
    return "json"


def _collect(read: Callable[[], Row], rows: list[Row], problems: list[str]) -> None:
    try:
        rows.append(read())
    except NoUsageError as err:
        problems.append(str(err))
