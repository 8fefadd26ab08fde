"""Server-sent events, decoded incrementally: bytes in as they arrive, complete events out.

A transport may split a line — or a UTF-8 character — anywhere, so the decoder keeps what it has not yet
seen the end of. Lines end with ``\\r\\n``, ``\\r`` or ``\\n`` (a ``\\r`` at the end of a read may be the first
half of a ``\\r\\n``); ``: comment`` lines (OpenRouter's ``: OPENROUTER PROCESSING`` keep-alive) are dropped;
``data:`` lines accumulate until a blank line dispatches the event. ``event:``, ``id:`` and ``retry:`` fields
are kept on the event but OpenRouter sends none on chat completions.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass

_LINE_END = re.compile(r"\r\n|\r|\n")


@dataclass(frozen=True)
class Event:
    data: str
    event: str = "message"


class SSEDecoder:
    """Feed bytes with :meth:`feed`; each call returns the events completed by them."""

    def __init__(self) -> None:
        self._text = codecs.getincrementaldecoder("utf-8")(errors="strict")
        self._pending = ""  # text after the last complete line
        self._data: list[str] = []
        self._event = "message"
        self._cr = False  # the last read ended with "\r": a "\n" starting the next one belongs to it
        self._started = False
        self.bytes_seen = 0

    def feed(self, chunk: bytes) -> list[Event]:
        if not chunk:
            return []  # an empty read must not forget a pending "\r"
        self.bytes_seen += len(chunk)
        text = self._text.decode(chunk)
        if not self._started and text:
            self._started = True
            text = text.removeprefix("\ufeff")  # a byte-order mark is not part of the first line
        if self._cr and text.startswith("\n"):
            text = text[1:]
        self._cr = text.endswith("\r")
        lines = _LINE_END.split(self._pending + text)
        self._pending = lines.pop()  # what follows the last line end: maybe half a line
        events: list[Event] = []
        for line in lines:
            event = self._line(line)
            if event is not None:
                events.append(event)
        return events

    def _line(self, line: str) -> Event | None:
        if not line:
            if not self._data:
                self._event = "message"
                return None
            event = Event("\n".join(self._data), self._event)
            self._data, self._event = [], "message"
            return event
        if line.startswith(":"):
            return None
        field, _, value = line.partition(":")
        if value.startswith(" "):
            value = value[1:]
        if field == "data":
            self._data.append(value)
        elif field == "event":
            self._event = value
        return None

    def close(self) -> list[Event]:
        """The end of the stream. An event still open (no blank line after it) is dispatched — the SSE spec
        discards it, but a server that omits the last blank line still sent its final chunk on purpose.

        Raises ``UnicodeDecodeError`` if the stream ended inside a UTF-8 character."""
        self._text.decode(b"", final=True)
        events = []
        if self._pending:
            line, self._pending = self._pending, ""
            if (event := self._line(line)) is not None:
                events.append(event)
        if self._data:
            events.append(Event("\n".join(self._data), self._event))
            self._data = []
        return events
