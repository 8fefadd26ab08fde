"""The client's calls besides ``generate``: account and generation look-ups, and embeddings.

    client.key_info()                     GET /key              → KeyInfo
    client.credits()                      GET /credits          → Credits (a management key)
    client.generation_record(id)          GET /generation?id=   → GenerationRecord
    client.activity(date=None)            GET /activity         → [ActivityRow] (a management key)
    client.embed(model, inputs, ...)      POST /embeddings      → Embeddings (vectors, usage, exact cost)

``Lookups`` / ``AsyncLookups`` are mixed into ``Client`` / ``AsyncClient`` (the same methods, awaited there), so
each call goes through the client's own rules: its key and attribution headers, its timeouts, retries of 429 /
502 / 503 and of connections never opened (with backoff, honouring ``Retry-After``), a bound on the body read
(``max_event_bytes``), OpenRouter's error body as a typed ``GenerationError`` and every upstream text redacted.
An error adds the likely fix: no key set for a 401, a management key for a 403, the id for a 404.

``generation_record(id, wait=S)`` also retries a 404 for up to ``S`` seconds: OpenRouter writes a generation's
record shortly after the call ends, so a look-up right after a call can miss it (``Generation.billed`` waits).
"""

from __future__ import annotations

import asyncio
import re
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import httpx

from catalog.client.account import ActivityRow, Credits, GenerationRecord, KeyInfo
from catalog.client.assemble import loads
from catalog.client.embeddings import Embeddings, embeddings_call, embeddings_result
from catalog.client.request import Identity, Request, checked_key
from catalog.errors import AuthError, GenerationError, InputError, ModerationError, StreamLimitError, UpstreamError
from catalog.settings import join_url

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator

    from catalog.client.generation import Prices

_ERROR_HEAD = 64 * 1024
_NOT_FOUND_PAUSE = (0.25, 2.0)  # first pause and cap between look-ups of a record not written yet


@dataclass(frozen=True)
class _Call:
    what: str  # "GET /key": how messages name the call
    method: str
    url: str
    headers: dict[str, str]
    params: dict[str, str] | None = None
    body: dict[str, Any] | None = None
    keyed: bool = True

    def as_request(self) -> Request:
        """The call as the client's retry rules take it (they name a call by its ``model``)."""
        return Request(self.url, self.headers, self.body or {}, self.what, False)


class _Shared:
    """What both faces share: building a call, reading its answer, explaining its errors."""

    if TYPE_CHECKING:  # provided by catalog.client.client._Base
        who: Identity
        base_url: str
        prices: Prices
        max_attempts: int
        max_event_bytes: int

        def refused(self, response: httpx.Response, raw: bytes, attempt: int, source: str = ...) -> float: ...
        def unreached(self, request: Request, exc: httpx.TransportError, attempt: int) -> float: ...
        def backoff(self, attempt: int, retry_after: float | None) -> float: ...
        def scrub(self, error: GenerationError) -> GenerationError: ...

    def _call(
        self,
        what: str,
        path: str,
        *,
        params: dict[str, str] | None = None,
        body: dict[str, Any] | None = None,
        url: str | None = None,
        key: str | None = None,
        keyed: bool = True,
    ) -> _Call:
        headers = {"Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        key = key if not keyed else self.who.api_key
        if key:
            headers["Authorization"] = f"Bearer {checked_key(key)}"
        if self.who.referer:
            headers["HTTP-Referer"] = self.who.referer
        if self.who.title:
            headers["X-Title"] = self.who.title
        method = "POST" if body is not None else "GET"
        if url is None:
            # In the URL, after the base URL's own query: httpx's params= would replace that query.
            url = join_url(self.base_url, f"{path}?{urlencode(params)}" if params else path)
            params = None
        return _Call(what, method, url, headers, params, body, keyed)

    def _explained(self, error: GenerationError, call: _Call) -> GenerationError:
        hint = None
        if isinstance(error, AuthError) and call.keyed and not self.who.api_key:
            hint = "no key was sent: set OPENROUTER_API_KEY (or pass api_key=)"
        elif isinstance(error, AuthError):
            hint = "check the key (OPENROUTER_API_KEY)"
        elif isinstance(error, ModerationError) and call.what in ("GET /credits", "GET /activity"):
            hint = f"{call.what} needs a management key (openrouter.ai/settings/management-keys)"
        elif error.status == 404 and call.what == "GET /generation":
            hint = "check the id (the id of a completion, gen-…; a record appears a few seconds after its call)"
        if hint is None:
            return self.scrub(error)
        explained = type(error)(
            f"{call.what}: {error}; {hint}",
            status=error.status,
            code=error.code,
            metadata=error.metadata,
            retry_after=error.retry_after,
        )
        return self.scrub(explained)

    def _too_large(self, call: _Call, seen: int) -> StreamLimitError:
        return StreamLimitError(
            f"{call.what} answered with more than max_event_bytes={self.max_event_bytes:,} bytes ({seen:,} seen); "
            "if the answer is real, raise it: Client(max_event_bytes=...)",
            limit="max_event_bytes",
            bound=self.max_event_bytes,
        )

    def _json(self, call: _Call, raw: bytes) -> Any:
        try:
            return loads(raw)
        except (ValueError, RecursionError):
            raise self.scrub(
                UpstreamError(f"{call.what} answered with something that is not JSON: {raw[:120]!r}")
            ) from None

    def _embed_call(self, model: str, inputs: str | list[str], options: dict[str, Any]) -> Any:
        call = embeddings_call(self.prices, self.base_url, self.who.api_key, model, inputs, **options)
        keyed = call.key is self.who.api_key
        return call, self._call("POST /embeddings", "", body=call.body, url=call.url, key=call.key, keyed=keyed)

    def _not_found_pause(self, error: GenerationError, call: _Call, deadline: float, pause: float) -> float | None:
        """How long to wait before asking again for a record not written yet; None: raise ``error``."""
        if error.status != 404 or call.what != "GET /generation" or time.monotonic() + pause > deadline:
            return None
        return pause


class Lookups(_Shared):
    """The look-ups and ``embed`` on the synchronous ``Client``."""

    if TYPE_CHECKING:
        _http: httpx.Client

    def key_info(self) -> KeyInfo:
        """``GET /key``: the calling key's limit, usage, remaining credit, rate limit and tier."""
        return KeyInfo.from_body(self._send(self._call("GET /key", "/key"))[0])

    def credits(self) -> Credits:
        """``GET /credits``: credits bought and used (needs a management key)."""
        return Credits.from_body(self._send(self._call("GET /credits", "/credits"))[0])

    def activity(self, date: str | None = None) -> list[ActivityRow]:
        """``GET /activity``: the last 30 UTC days by day, model and endpoint (``date``: one day; a management key)."""
        params = {"date": date} if date else None
        return ActivityRow.list_from_body(self._send(self._call("GET /activity", "/activity", params=params))[0])

    def generation_record(self, generation_id: str, *, wait: float = 0.0) -> GenerationRecord:
        """``GET /generation?id=``: the call as billed; a 404 is asked again for up to ``wait`` seconds."""
        call = self._call("GET /generation", "/generation", params={"id": _generation_id(generation_id)})
        deadline, pause = time.monotonic() + wait, _NOT_FOUND_PAUSE[0]
        while True:
            try:
                return GenerationRecord.from_body(self._send(call)[0])
            except GenerationError as error:
                wait_for = self._not_found_pause(error, call, deadline, pause)
                if wait_for is None:
                    raise
                time.sleep(wait_for)
                pause = min(pause * 2, _NOT_FOUND_PAUSE[1])

    def embed(self, model: str, inputs: str | list[str], **options: Any) -> Embeddings:
        """``POST /embeddings``: one vector per input (in order), the usage and its exact cost. Options:
        ``dimensions``, ``encoding_format``, ``input_type``, ``user``, ``provider``."""
        target, call = self._embed_call(model, inputs, options)
        body, elapsed = self._send(call)
        return embeddings_result(self.prices, target, body, elapsed)

    def _send(self, call: _Call) -> tuple[Any, float]:
        """The answer's JSON and the seconds the answering attempt took."""
        request = call.as_request()
        try:
            for attempt in range(1, self.max_attempts + 1):
                started = time.perf_counter()
                try:
                    with self._http.stream(
                        call.method, call.url, params=call.params, json=call.body, headers=call.headers
                    ) as response:
                        if response.status_code >= 400:
                            head = _head(response.iter_bytes())
                            time.sleep(self.refused(response, head, attempt))
                            continue
                        raw = self._whole(call, response.iter_bytes())
                except httpx.TransportError as exc:
                    time.sleep(self.unreached(request, exc, attempt))
                    continue
                return self._json(call, raw), time.perf_counter() - started
        except GenerationError as error:
            raise self._explained(error, call) from None
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _whole(self, call: _Call, chunks: Iterator[bytes]) -> bytes:
        parts, size = [], 0
        for chunk in chunks:
            size += len(chunk)
            if size > self.max_event_bytes:
                raise self._too_large(call, size)
            parts.append(chunk)
        return b"".join(parts)


class AsyncLookups(_Shared):
    """The same on ``AsyncClient``, awaited."""

    if TYPE_CHECKING:
        _http: httpx.AsyncClient

    async def key_info(self) -> KeyInfo:
        return KeyInfo.from_body((await self._send(self._call("GET /key", "/key")))[0])

    async def credits(self) -> Credits:
        return Credits.from_body((await self._send(self._call("GET /credits", "/credits")))[0])

    async def activity(self, date: str | None = None) -> list[ActivityRow]:
        params = {"date": date} if date else None
        answer = await self._send(self._call("GET /activity", "/activity", params=params))
        return ActivityRow.list_from_body(answer[0])

    async def generation_record(self, generation_id: str, *, wait: float = 0.0) -> GenerationRecord:
        call = self._call("GET /generation", "/generation", params={"id": _generation_id(generation_id)})
        deadline, pause = time.monotonic() + wait, _NOT_FOUND_PAUSE[0]
        while True:
            try:
                return GenerationRecord.from_body((await self._send(call))[0])
            except GenerationError as error:
                wait_for = self._not_found_pause(error, call, deadline, pause)
                if wait_for is None:
                    raise
                await asyncio.sleep(wait_for)
                pause = min(pause * 2, _NOT_FOUND_PAUSE[1])

    async def embed(self, model: str, inputs: str | list[str], **options: Any) -> Embeddings:
        target, call = self._embed_call(model, inputs, options)
        body, elapsed = await self._send(call)
        # pricing is a Polars step (and may load the price table): off the event loop, as generate does
        return await asyncio.to_thread(embeddings_result, self.prices, target, body, elapsed)

    async def _send(self, call: _Call) -> tuple[Any, float]:
        request = call.as_request()
        try:
            for attempt in range(1, self.max_attempts + 1):
                started = time.perf_counter()
                try:
                    async with self._http.stream(
                        call.method, call.url, params=call.params, json=call.body, headers=call.headers
                    ) as response:
                        if response.status_code >= 400:
                            head = await _ahead(response.aiter_bytes())
                            await asyncio.sleep(self.refused(response, head, attempt))
                            continue
                        raw = await self._whole(call, response.aiter_bytes())
                except httpx.TransportError as exc:
                    await asyncio.sleep(self.unreached(request, exc, attempt))
                    continue
                return self._json(call, raw), time.perf_counter() - started
        except GenerationError as error:
            raise self._explained(error, call) from None
        raise AssertionError("unreachable: the last attempt returns or raises")

    async def _whole(self, call: _Call, chunks: AsyncIterator[bytes]) -> bytes:
        parts, size = [], 0
        async for chunk in chunks:
            size += len(chunk)
            if size > self.max_event_bytes:
                raise self._too_large(call, size)
            parts.append(chunk)
        return b"".join(parts)


def _generation_id(generation_id: str) -> str:
    if not isinstance(generation_id, str) or not generation_id.strip():
        raise InputError("a generation id is required: the id of a completion (gen-…), e.g. Generation.id")
    text = generation_id.strip()
    # Ids are letters, digits, - and _ (gen-1760000000-AbC…): anything else is a paste error, not an id to send.
    if len(text) > 200 or not re.fullmatch(r"[A-Za-z0-9_-]+", text):
        raise InputError(f"generation id {text[:40]!r} is not an id of a completion: write gen-…, e.g. Generation.id")
    return text


def _head(chunks: Iterator[bytes]) -> bytes:
    """The start of an error answer: its message is there; the rest is left unread."""
    parts, size = [], 0
    for chunk in chunks:
        parts.append(chunk)
        size += len(chunk)
        if size >= _ERROR_HEAD:
            break
    return b"".join(parts)[:_ERROR_HEAD]


async def _ahead(chunks: AsyncIterator[bytes]) -> bytes:
    parts, size = [], 0
    async for chunk in chunks:
        parts.append(chunk)
        size += len(chunk)
        if size >= _ERROR_HEAD:
            break
    return b"".join(parts)[:_ERROR_HEAD]
