"""How a chat response body goes out on the wire: whole events or N-byte writes, delays, a cut connection.

A body is an async iterator of byte pieces (one SSE event, or a whole JSON body, per piece). With
``Faults.chunk_bytes = 0`` each piece is one write; with N > 0 the pieces are joined and re-cut into N-byte
writes, so one write can end inside a line and the next begin in another event, as a real network (or
proxy) delivers them. ``Faults.chunk_delay`` seconds pass between two writes.

Two markers steer the writer from inside a body:

- ``FLUSH`` (an empty piece): the body is about to wait (token pacing), so bytes held back for a full
  N-byte write go out now rather than after the wait;
- raising :class:`ConnectionCut`: what was produced so far goes out, then the response ends without its
  last chunk and uvicorn closes the connection: the client sees the body stop mid-way (for a chunked SSE
  body, httpx raises ``RemoteProtocolError``), never a clean end.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping
from contextlib import aclosing

import anyio
from starlette.types import Receive, Scope, Send

from catalog.fake.inject import expect_incomplete_response

FLUSH = b""

Pause = Callable[[float], Awaitable[None]]


class ConnectionCut(Exception):
    """Raised by a body iterator where the connection is to be dropped (``Faults.stream_drop_after``)."""


class ChatBody:
    """An ASGI response: status and headers, then ``pieces`` written as the faults say.

    Stops writing (quietly) when the client disconnects, so a paced stream nobody reads does not run on.
    """

    def __init__(
        self,
        pieces: AsyncGenerator[bytes, None],
        *,
        status: int,
        headers: Mapping[str, str],
        chunk_bytes: int,
        chunk_delay: float,
        pause: Pause,
    ) -> None:
        self.pieces = pieces
        self.status = status
        self.headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
        self.chunk_bytes = chunk_bytes
        self.chunk_delay = chunk_delay
        self.pause = pause
        self._sent = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status, "headers": self.headers})
        completed = False
        async with anyio.create_task_group() as group:

            async def cancel_on_disconnect() -> None:
                while (await receive())["type"] != "http.disconnect":
                    pass
                group.cancel_scope.cancel()

            group.start_soon(cancel_on_disconnect)
            completed = await self._write_all(send)
            group.cancel_scope.cancel()
        if not completed:
            # Returning with the body unfinished makes uvicorn close the connection: a deliberate cut (or
            # a client that left), not a bug worth an error in the log.
            expect_incomplete_response()

    async def _write_all(self, send: Send) -> bool:
        """Write every piece; True when the body ended normally, False when it was cut."""
        size = self.chunk_bytes
        held = b""
        try:
            async with aclosing(self.pieces) as pieces:
                async for piece in pieces:
                    if size <= 0:
                        if piece:
                            await self._write(send, piece)
                        continue
                    held += piece
                    start = 0
                    while len(held) - start >= size:
                        await self._write(send, held[start : start + size])
                        start += size
                    held = held[start:]
                    if piece == FLUSH and held:
                        await self._write(send, held)
                        held = b""
        except ConnectionCut:
            if held:
                await self._write(send, held)
            return False
        if held:
            await self._write(send, held)
        await send({"type": "http.response.body", "body": b"", "more_body": False})
        return True

    async def _write(self, send: Send, data: bytes) -> None:
        if self._sent and self.chunk_delay > 0:
            await self.pause(self.chunk_delay)
        await send({"type": "http.response.body", "body": data, "more_body": True})
        self._sent += 1


def sse_events(transcript: bytes) -> list[bytes]:
    """A recorded SSE transcript cut after each blank line (``\\n\\n``): one piece per event or comment."""
    pieces = []
    start = 0
    while True:
        end = transcript.find(b"\n\n", start)
        if end < 0:
            break
        pieces.append(transcript[start : end + 2])
        start = end + 2
    if start < len(transcript):
        pieces.append(transcript[start:])
    return pieces


async def each(pieces: list[bytes]) -> AsyncGenerator[bytes, None]:
    """The pieces of an already complete body, as the iterator :class:`ChatBody` writes."""
    for piece in pieces:
        yield piece
