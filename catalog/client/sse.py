"""Server-sent events, decoded incrementally: bytes in as they arrive, complete events out.

A transport may split a line — or a UTF-8 character — anywhere, so the decoder keeps what it has not yet
seen the end of. Lines end with ``\\r\\n``, ``\\r`` or ``\\n`` (a ``\\r`` at the end of a read may be the first
half of a ``\\r\\n``); ``: comment`` lines (OpenRouter's ``: OPENROUTER PROCESSING`` keep-alive) are dropped;
``data:`` lines accumulate until a blank line dispatches the event. ``event:``, ``id:`` and ``retry:`` fields
are kept on the event but OpenRouter sends none on chat completions.

Lines are cut on bytes, before decoding: ``\\r`` and ``\\n`` never occur inside a UTF-8 sequence, so a
complete line is always whole characters, and each read is scanned once, when it arrives (a line that
arrives in a thousand reads costs what it would in one; re-splitting the pending text on every read made one
long line quadratic). What the decoder holds is bounded: a line, or an event's data, longer than
``max_event_bytes`` raises :class:`EventTooLarge` instead of growing without end.
"""

from __future__ import annotations

from dataclasses import dataclass

_BOM = b"\xef\xbb\xbf"
DEFAULT_MAX_EVENT_BYTES = 8 * 1024 * 1024


@dataclass(frozen=True)
class Event:
    data: str
    event: str = "message"


class EventTooLarge(Exception):
    """One line, or one event's data, is longer than the decoder takes; ``size`` is how much it had seen."""

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(f"an event of more than {limit:,} bytes ({size:,} seen)")
        self.size = size
        self.limit = limit


class SSEDecoder:
    """Feed bytes with :meth:`feed`; each call returns the events completed by them."""

    def __init__(self, max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES) -> None:
        self.max_event_bytes = max_event_bytes
        self._pending: list[bytes] = []  # the pieces of the line not yet ended
        self._pending_size = 0
        self._data: list[str] = []
        self._data_size = 0  # bytes of the event's data lines so far
        self._line_bytes = 0  # bytes of the line being read
        self._event = "message"
        self._cr = False  # the last read ended with "\r": a "\n" starting the next one belongs to it
        self._first_line = True  # a byte-order mark may open the stream
        self.bytes_seen = 0

    def feed(self, chunk: bytes) -> list[Event]:
        if not chunk:
            return []  # an empty read must not forget a pending "\r"
        self.bytes_seen += len(chunk)
        # bytes.splitlines cuts at \r\n, \r and \n only (unlike str.splitlines), in one pass over this read.
        pieces = chunk.splitlines(keepends=True)
        if self._cr and pieces[0] == b"\n":
            pieces = pieces[1:]  # the second half of a "\r\n" cut between two reads
        events: list[Event] = []
        for piece in pieces:
            if piece.endswith(b"\n"):
                line = piece[:-2] if piece.endswith(b"\r\n") else piece[:-1]
            elif piece.endswith(b"\r"):
                line = piece[:-1]
            else:
                self._hold(piece)  # the last piece, no line end yet
                break
            event = self._line(self._take(line))
            if event is not None:
                events.append(event)
        # A read that ends in "\r" may have cut a "\r\n" in two: a "\n" opening the next read belongs to it.
        self._cr = bool(pieces) and pieces[-1].endswith(b"\r")
        return events

    def _hold(self, piece: bytes) -> None:
        self._pending.append(piece)
        self._pending_size += len(piece)
        if self._pending_size > self.max_event_bytes:
            raise EventTooLarge(self._pending_size, self.max_event_bytes)

    def _take(self, tail: bytes) -> str:
        """The line that ends with ``tail``: the pending pieces and it, decoded (strict UTF-8)."""
        if self._pending:
            self._pending.append(tail)
            raw = b"".join(self._pending)
            self._pending, self._pending_size = [], 0
        else:
            raw = tail
        self._line_bytes = len(raw)
        if self._first_line:
            self._first_line = False
            raw = raw.removeprefix(_BOM)  # a byte-order mark is not part of the first line
        return raw.decode("utf-8")

    def _line(self, line: str) -> Event | None:
        if not line:
            if not self._data:
                self._event = "message"
                return None
            event = Event("\n".join(self._data), self._event)
            self._data, self._data_size, self._event = [], 0, "message"
            return event
        if line.startswith(":"):
            return None
        field, _, value = line.partition(":")
        if value.startswith(" "):
            value = value[1:]
        if field == "data":
            self._data_size += self._line_bytes + 1
            if self._data_size > self.max_event_bytes:
                raise EventTooLarge(self._data_size, self.max_event_bytes)
            self._data.append(value)
        elif field == "event":
            self._event = value
        return None

    def close(self) -> list[Event]:
        """The end of the stream. An event still open (no blank line after it) is dispatched — the SSE spec
        discards it, but a server that omits the last blank line still sent its final chunk on purpose.

        Raises ``UnicodeDecodeError`` if the stream ended inside a UTF-8 character."""
        events = []
        if self._pending and (event := self._line(self._take(b""))) is not None:
            events.append(event)
        if self._data:
            events.append(Event("\n".join(self._data), self._event))
            self._data, self._data_size = [], 0
        return events
