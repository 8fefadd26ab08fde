"""``Client`` / ``AsyncClient``: one entry point, ``generate``, for OpenRouter chat completions.

    with Client(prices=Catalog.open()) as client:
        g = client.generate("Name two colours", "openai/gpt-4o-mini", stream=True, on_text=print)
        g.text, g.usage, g.cost, g.billed_cost, g.cost_difference, g.ttft, g.provider

Streaming and non-streaming share one pipeline (``catalog.client.assemble.Draft``): an answer is read by
what it is (an SSE stream or a JSON body, whatever was asked for) and gives the same ``Generation``. Errors
(``catalog.errors.GenerationError`` and its kinds) carry OpenRouter's status, code and message, never the API
key. 429 / 502 / 503 answers — and connections that could not be opened — are retried with exponential
backoff and jitter, honouring ``Retry-After`` (a wait longer than the client's limit is raised instead), but
only before the first byte of an answer: once a response has started, a failure is raised (``StreamError``,
with what arrived so far in ``partial``), because a retry could bill the call twice. No hidden system prompt.

Everything read from upstream is bounded, so a broken or hostile server can neither hang the client nor fill
its memory: ``idle_timeout`` seconds without a data event end a stream (keep-alive comments do not count;
a connection silent for ``timeout`` seconds ends at the read timeout first), ``max_event_bytes`` bounds one
event or line of a stream and a whole non-streamed body, ``max_answer_bytes`` the text, reasoning and
tool-call arguments of one answer. Breaking a bound closes the connection and raises a ``StreamLimitError``
naming the option to raise. Upstream text in an error (or anywhere the client keeps it) goes through
``catalog.redact.redact``: the caller's keys, ``sk-or-…`` tokens and ``Bearer`` values never show.
"""

from __future__ import annotations

import asyncio
import os
import random
import time
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from contextlib import AbstractAsyncContextManager, AbstractContextManager
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Unpack

import httpx

from catalog.client.assemble import Draft, loads
from catalog.client.failures import error_from
from catalog.client.generation import CustomModel, Generation, Prices, PriceSource
from catalog.client.lookups import AsyncLookups, Lookups
from catalog.client.native import native_access
from catalog.client.options import ChatOptions
from catalog.client.request import (
    Identity,
    Prompt,
    Request,
    build_request,
    checked_key,
    response_schema,
    shown_url,
)
from catalog.client.sse import DEFAULT_MAX_EVENT_BYTES, Event, EventTooLarge, SSEDecoder
from catalog.cost.sheets import PriceTable
from catalog.errors import (
    GenerationError,
    InputError,
    RateLimitError,
    StreamError,
    StreamLimitError,
    UpstreamError,
)
from catalog.redact import redact, redact_value
from catalog.settings import OPENROUTER_BASE_URL

RETRY_STATUSES = frozenset({429, 502, 503})
DEFAULT_IDLE_TIMEOUT = 600.0  # a reasoning model that hides its thinking may send only keep-alives for minutes
DEFAULT_MAX_ANSWER_BYTES = 32 * 1024 * 1024  # ~100× the longest answer a model writes (128k tokens)
ERROR_BODY_BYTES = 64 * 1024  # what is read of an error answer: its message is at the start
# What ``catalog.client.generate`` passes to the client rather than into the request body.
CLIENT_OPTIONS = (
    "api_key",
    "base_url",
    "prices",
    "as_of",
    "referer",
    "title",
    "timeout",
    "connect_timeout",
    "max_attempts",
    "backoff_base",
    "backoff_cap",
    "idle_timeout",
    "max_event_bytes",
    "max_answer_bytes",
    "transport",
    "native",
)


class _Base:
    def __init__(
        self,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        prices: PriceSource | PriceTable | Callable[[], PriceTable] | None = None,
        as_of: datetime | str | None = None,
        referer: str | None = None,
        title: str | None = None,
        timeout: float = 120.0,
        connect_timeout: float = 10.0,
        max_attempts: int = 4,
        backoff_base: float = 0.5,
        backoff_cap: float = 20.0,
        idle_timeout: float = DEFAULT_IDLE_TIMEOUT,
        max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES,
        max_answer_bytes: int = DEFAULT_MAX_ANSWER_BYTES,
        native: Mapping[str, Mapping[str, str]] | bool | None = None,
    ) -> None:
        key = checked_key(api_key if api_key is not None else os.environ.get("OPENROUTER_API_KEY"))
        # The providers called directly for provider:author/model (their keys set): catalog.client.native.
        self.native = native_access(native)
        self.who = Identity(key, referer, title)
        url = base_url or os.environ.get("OPENROUTER_BASE_URL") or OPENROUTER_BASE_URL
        if not url.startswith(("http://", "https://")):
            raise InputError(f"base URL {shown_url(url)!r} must start with http:// or https://")
        self.base_url = url.rstrip("/")
        # as_of: the instant route="cheapest" ranks at (default: the catalog's newest snapshot); costs are
        # always at each answer's own time.
        self.prices = Prices(prices, as_of=as_of)
        self.timeout = httpx.Timeout(timeout, connect=connect_timeout)
        if max_attempts < 1:
            raise InputError("max_attempts must be at least 1")
        self.max_attempts = max_attempts
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        for name, value in (
            ("idle_timeout", idle_timeout),
            ("max_event_bytes", max_event_bytes),
            ("max_answer_bytes", max_answer_bytes),
        ):
            if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < float("inf"):
                raise InputError(f"{name}={value!r} must be a positive number")
        self.idle_timeout = float(idle_timeout)
        self.max_event_bytes = int(max_event_bytes)
        self.max_answer_bytes = int(max_answer_bytes)

    def __repr__(self) -> str:  # never the key
        key = "set" if self.who.api_key else "unset"
        return f"{type(self).__name__}(base_url={shown_url(self.base_url)!r}, key={key})"

    def redacted(self, text: str) -> str:
        """``text`` without any key this client holds (nor any other credential ``redact`` recognises)."""
        return redact(text, self._secrets())

    def _secrets(self) -> list[str | None]:
        natives = [access.api_key for access in self.native.values()]
        return [self.who.api_key, *natives, *(model.api_key for model in self.prices.custom.values())]

    def scrub(self, error: GenerationError) -> GenerationError:
        """``error`` with the upstream text it carries redacted, in place: the one edge every error of
        ``generate`` passes, whichever path built it."""
        secrets = self._secrets()
        error.args = tuple(redact(a, secrets) if isinstance(a, str) else a for a in error.args)
        error.metadata = redact_value(error.metadata, secrets)
        if isinstance(error.partial, Generation) and error.partial.cost_reason:
            error.partial.cost_reason = redact(error.partial.cost_reason, secrets)
        return error

    def register_model(self, model_id: str, pricing: dict[str, Any], **where: Any) -> CustomModel:
        """Use ``model_id`` with its own prices (OpenRouter's pricing shape, USD per token), served by
        ``base_url=`` (an OpenAI-compatible ``…/v1``; default: this client's) as ``upstream_model=``, with
        ``api_key=`` for that server (the OpenRouter key is never sent there)."""
        return self.prices.register(model_id, pricing, **where)

    def request(self, prompt: Prompt, model: str, **options: Unpack[ChatOptions]) -> Request:
        """The call ``generate`` would send (see ``catalog.client.request.build_request`` for the options)."""
        return build_request(self.prices, self.base_url, self.who, prompt, model, native=self.native, **options)

    # -- what comes back -------------------------------------------------------------------------------------

    def refused(self, response: httpx.Response, raw: bytes, attempt: int, source: str = "OpenRouter") -> float:
        """An error status before any answer: how long to wait before retrying, or raise it as a typed error
        (``source``: who answered, for its message)."""
        error = error_from(response.status_code, _json(raw), response.headers, source)
        if error.status not in RETRY_STATUSES or attempt >= self.max_attempts:
            raise error
        if error.retry_after is not None and error.retry_after > self.backoff_cap * 4:
            raise RateLimitError(
                f"{error} — and asks to wait {error.retry_after:.0f} s, longer than this client waits; try later",
                status=error.status,
                code=error.code,
                metadata=error.metadata,
                retry_after=error.retry_after,
            )
        return self.backoff(attempt, error.retry_after)

    def unreached(self, request: Request, exc: httpx.TransportError, attempt: int) -> float:
        """A transport failure before any answer: a connection never opened is retried; anything else (a
        timeout after the request went out) could have been billed, so it is raised."""
        never_opened = isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout)
        if never_opened and attempt < self.max_attempts:
            return self.backoff(attempt, None)
        if never_opened:
            raise UpstreamError(f"could not connect to {shown_url(request.url)}: {type(exc).__name__}") from None
        if isinstance(exc, httpx.TimeoutException):
            raise UpstreamError(f"{request.model}: no answer in time ({type(exc).__name__})") from None
        raise UpstreamError(f"{request.model}: the connection failed ({type(exc).__name__})") from None

    def backoff(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return retry_after
        return random.uniform(0, min(self.backoff_cap, self.backoff_base * 2 ** (attempt - 1)))

    def check(self, request: Request, draft: Draft, streamed: bool, result: Generation) -> Generation:
        """``result``, or raise for an answer that did not complete: an error chunk, an error body, a stream
        without its end (with ``result`` as what arrived)."""
        if draft.error is not None and streamed:
            raise _stream_error(draft, result)
        if draft.error is not None:  # a 200 whose body is an error
            raise error_from(None, {"error": draft.error}, None)
        if streamed and not draft.done:
            raise StreamError(
                f"the stream from {request.model} ended without [DONE] after {draft.chunks} chunks: the answer "
                "may be cut short (the text so far is on .partial)",
                partial=result,
            )
        return result

    def stopped(self, request: Request, draft: Draft, exc: _Broken | _Limit, partial: Generation) -> StreamError:
        """What to raise when reading an answer stopped part-way, with what arrived as ``partial``."""
        if isinstance(exc, _Limit):
            return self.limited(request, draft, exc, partial)
        return self.broken(request, draft, exc.cause, partial)

    def limited(self, request: Request, draft: Draft, exc: _Limit, partial: Generation) -> StreamLimitError:
        what = {
            "idle_timeout": f"sent no data for {exc.seen:g} s (idle_timeout={exc.bound:g} s; keep-alive comments "
            "do not count)",
            "max_event_bytes": f"sent an event (or a body) of more than max_event_bytes={exc.bound:,} bytes "
            f"({exc.seen:,} seen)",
            "max_answer_bytes": f"sent an answer longer than max_answer_bytes={exc.bound:,} bytes of text, "
            "reasoning and tool-call arguments",
        }[exc.limit]
        return StreamLimitError(
            f"{request.model} {what} after {draft.chunks} chunks; the connection was closed and the call not "
            f"retried (it may already be billed); if the answer is real, raise it: Client({exc.limit}=...); "
            "the text so far is on .partial",
            limit=exc.limit,
            bound=exc.bound,
            partial=partial,
        )

    def broken(self, request: Request, draft: Draft, exc: Exception, partial: Generation) -> StreamError:
        return StreamError(
            f"the connection to {request.model} broke mid-stream after {draft.chunks} chunks "
            f"({type(exc).__name__}); the answer is cut short and was not retried (it may already be billed); "
            "the text so far is on .partial",
            partial=partial,
        )

    def generation(self, request: Request, draft: Draft, started: float, ended: float, streamed: bool) -> Generation:
        native = request.native
        # A direct answer names the provider's own model id: it is costed as the OpenRouter id at that provider.
        pinned = native.api.provider if native else None
        priced = self.prices.price(draft, request.model, now=datetime.now(UTC), provider=pinned)
        cost: Decimal | None = priced["cost"]
        return Generation(
            text="".join(draft.text),
            tool_calls=draft.tool_calls,
            finish_reason=draft.finish_reason,
            usage=priced["usage"],
            cost=cost,
            cost_status=priced["status"],
            billed_cost=priced["billed"],
            elapsed=ended - started,
            ttft=draft.first_token_at - started if draft.first_token_at is not None else None,
            provider=(native.provider_name or native.api.provider) if native else draft.provider,
            model=request.model if native else draft.model or request.model,
            id=draft.id,
            reasoning="".join(draft.reasoning) or None,
            native_finish_reason=draft.native_finish_reason,
            cost_reason=self.redacted(priced["reason"]) if priced["reason"] else None,
            price_source=priced["source"],
            created=priced["created"],
            streamed=streamed,
            is_byok=priced["byok"],
            response_schema=request.schema if native else response_schema(request.body),
            client=self,
            via="native" if native else "openrouter",
            upstream_model=(draft.model or native.upstream_model) if native else None,
        )


class Client(_Base, Lookups):
    """The synchronous client. ``transport`` (an ``httpx`` transport) is for tests and proxies. Besides
    ``generate``: ``key_info``, ``credits``, ``generation_record``, ``activity`` and ``embed``
    (``catalog.client.lookups``)."""

    def __init__(self, *, transport: httpx.BaseTransport | None = None, **options: Any) -> None:
        super().__init__(**options)
        self._http = httpx.Client(timeout=self.timeout, transport=transport)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def generate(
        self,
        prompt: Prompt,
        model: str,
        *,
        on_text: Callable[[str], Any] | None = None,
        **options: Unpack[ChatOptions],
    ) -> Generation:
        """Call ``model`` with ``prompt`` (a string, or OpenAI-style messages). Options: ``sys_msg``,
        ``stream``, and OpenRouter's request fields, typed and checked (``catalog.client.options.ChatOptions``:
        sampling, ``reasoning``, ``response_format``, ``tools``, ``plugins``, ``provider``, ``models``,
        ``route`` …); an unknown name is refused, ``extra_body={...}`` passes anything through. ``on_text``
        gets each piece of text as it arrives (the whole text at once for an answer that is not streamed).
        ``elapsed`` and ``ttft`` count from the attempt that answered."""
        request = self.request(prompt, model, **options)
        try:
            return self._generate(request, on_text)
        except GenerationError as error:
            raise self.scrub(error)  # noqa: B904 - the same error, its text redacted in place

    def _generate(self, request: Request, on_text: Callable[[str], Any] | None) -> Generation:
        for attempt in range(1, self.max_attempts + 1):
            started = time.perf_counter()
            try:
                with self._open(request) as response:  # leaving it closes the connection, whatever ended the read
                    if response.status_code >= 400:
                        head = _head(response.iter_bytes(), ERROR_BODY_BYTES)
                        time.sleep(self.refused(response, head, attempt, _source(request)))
                        continue
                    draft = request.draft()
                    streamed = _is_stream(response)
                    try:
                        if streamed:
                            reader = _Reader(self, draft, on_text)
                            try:
                                for chunk in response.iter_bytes():
                                    reader.feed(chunk)
                                reader.close()
                            except httpx.TransportError as exc:
                                raise _Broken(exc) from None
                        else:
                            raw = _whole(response.iter_bytes(), self.max_event_bytes)
                            _read_body(draft, response.headers, raw, on_text)
                    except (_Broken, _Limit) as exc:
                        partial = self.generation(request, draft, started, time.perf_counter(), streamed)
                        raise self.stopped(request, draft, exc, partial) from None
                    result = self.generation(request, draft, started, time.perf_counter(), streamed)
                    return self.check(request, draft, streamed, result)
            except httpx.TransportError as exc:
                time.sleep(self.unreached(request, exc, attempt))
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _open(self, request: Request) -> AbstractContextManager[httpx.Response]:
        return self._http.stream("POST", request.url, json=request.body, headers=request.headers)


class AsyncClient(_Base, AsyncLookups):
    """The asynchronous client: the same ``generate``, awaited. Costing (a Polars step, and on first use
    loading the price table) runs in a worker thread, off the event loop."""

    def __init__(self, *, transport: httpx.AsyncBaseTransport | None = None, **options: Any) -> None:
        super().__init__(**options)
        self._http = httpx.AsyncClient(timeout=self.timeout, transport=transport)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def generate(
        self,
        prompt: Prompt,
        model: str,
        *,
        on_text: Callable[[str], Any] | None = None,
        **options: Unpack[ChatOptions],
    ) -> Generation:
        request = self.request(prompt, model, **options)
        try:
            return await self._generate(request, on_text)
        except GenerationError as error:
            raise self.scrub(error)  # noqa: B904 - the same error, its text redacted in place

    async def _generate(self, request: Request, on_text: Callable[[str], Any] | None) -> Generation:
        for attempt in range(1, self.max_attempts + 1):
            started = time.perf_counter()
            try:
                async with self._open(request) as response:
                    if response.status_code >= 400:
                        head = await _ahead(response.aiter_bytes(), ERROR_BODY_BYTES)
                        await asyncio.sleep(self.refused(response, head, attempt, _source(request)))
                        continue
                    draft = request.draft()
                    streamed = _is_stream(response)
                    try:
                        if streamed:
                            reader = _Reader(self, draft, on_text)
                            try:
                                async for chunk in response.aiter_bytes():
                                    reader.feed(chunk)
                                reader.close()
                            except httpx.TransportError as exc:
                                raise _Broken(exc) from None
                        else:
                            raw = await _awhole(response.aiter_bytes(), self.max_event_bytes)
                            _read_body(draft, response.headers, raw, on_text)
                    except (_Broken, _Limit) as exc:
                        ended = time.perf_counter()
                        partial = await asyncio.to_thread(self.generation, request, draft, started, ended, streamed)
                        raise self.stopped(request, draft, exc, partial) from None
                    ended = time.perf_counter()
                    result = await asyncio.to_thread(self.generation, request, draft, started, ended, streamed)
                    return self.check(request, draft, streamed, result)
            except httpx.TransportError as exc:
                await asyncio.sleep(self.unreached(request, exc, attempt))
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _open(self, request: Request) -> AbstractAsyncContextManager[httpx.Response]:
        return self._http.stream("POST", request.url, json=request.body, headers=request.headers)


# -- reading an answer, the same for both faces ----------------------------------------------------------------


class _Broken(Exception):
    """The transport failed mid-stream (raised as a ``StreamError`` with the partial generation)."""

    def __init__(self, cause: Exception) -> None:
        super().__init__(type(cause).__name__)
        self.cause = cause


class _Limit(Exception):
    """The answer broke one of the client's bounds (raised as a ``StreamLimitError`` with the partial)."""

    def __init__(self, limit: str, bound: float, seen: float) -> None:
        super().__init__(limit)
        self.limit = limit
        self.bound = bound
        self.seen = seen


def _source(request: Request) -> str:
    return request.native.api.provider if request.native else "OpenRouter"


def _is_stream(response: httpx.Response) -> bool:
    return response.headers.get("content-type", "").startswith("text/event-stream")


class _Reader:
    """A stream, chunk by chunk, into ``draft``, within the client's bounds. The idle clock restarts at each
    data event, never at a comment: a server that only says it is still processing is stopped after
    ``idle_timeout``. It is read as bytes arrive (a connection that sends nothing ends at the read timeout)."""

    def __init__(self, bounds: _Base, draft: Draft, on_text: Callable[[str], Any] | None) -> None:
        self.decoder = SSEDecoder(bounds.max_event_bytes)
        self.draft = draft
        self.on_text = on_text
        self.idle_timeout = bounds.idle_timeout
        self.max_answer_bytes = bounds.max_answer_bytes
        self.last_event = time.monotonic()

    def feed(self, chunk: bytes) -> None:
        try:
            events = self.decoder.feed(chunk)
        except EventTooLarge as exc:
            raise _Limit("max_event_bytes", exc.limit, exc.size) from None
        except UnicodeDecodeError as exc:
            raise _Broken(exc) from None
        now = time.monotonic()
        if events:
            self.last_event = now
        elif now - self.last_event > self.idle_timeout:
            raise _Limit("idle_timeout", self.idle_timeout, round(now - self.last_event, 3))
        self._add(events)

    def close(self) -> None:
        try:
            events = self.decoder.close()
        except UnicodeDecodeError as exc:
            raise _Broken(exc) from None
        except EventTooLarge as exc:
            raise _Limit("max_event_bytes", exc.limit, exc.size) from None
        self._add(events)

    def _add(self, events: list[Event]) -> None:
        draft = self.draft
        for event in events:
            before = len(draft.text)
            try:
                draft.add_event(event.data)
            except (ValueError, AttributeError, TypeError, RecursionError) as exc:
                raise StreamError(
                    f"a stream event is not a JSON chunk ({type(exc).__name__}: {str(exc)[:200]}): {event.data[:120]!r}"
                ) from None
            if draft.size > self.max_answer_bytes:
                raise _Limit("max_answer_bytes", self.max_answer_bytes, draft.size)
            if self.on_text is not None:
                for piece in draft.text[before:]:
                    self.on_text(piece)


def _whole(chunks: Iterable[bytes], limit: int) -> bytes:
    """A whole body, refused (``_Limit``) as soon as it passes ``limit`` bytes, before it is all in memory."""
    parts, size = [], 0
    for chunk in chunks:
        size += len(chunk)
        if size > limit:
            raise _Limit("max_event_bytes", limit, size)
        parts.append(chunk)
    return b"".join(parts)


async def _awhole(chunks: AsyncIterator[bytes], limit: int) -> bytes:
    parts, size = [], 0
    async for chunk in chunks:
        size += len(chunk)
        if size > limit:
            raise _Limit("max_event_bytes", limit, size)
        parts.append(chunk)
    return b"".join(parts)


def _head(chunks: Iterable[bytes], limit: int) -> bytes:
    """The first ``limit`` bytes of a body (an error answer: its message is at the start; the rest is left)."""
    parts, size = [], 0
    for chunk in chunks:
        parts.append(chunk)
        size += len(chunk)
        if size >= limit:
            break
    return b"".join(parts)[:limit]


async def _ahead(chunks: AsyncIterator[bytes], limit: int) -> bytes:
    parts, size = [], 0
    async for chunk in chunks:
        parts.append(chunk)
        size += len(chunk)
        if size >= limit:
            break
    return b"".join(parts)[:limit]


def _read_body(draft: Draft, headers: httpx.Headers, raw: bytes, on_text: Callable[[str], Any] | None) -> None:
    """A whole answer: a JSON body (also when a stream was asked for and the server answered at once)."""
    try:
        body = loads(raw)  # usage.cost stays the exact decimal OpenRouter wrote
    except (ValueError, RecursionError):
        body = None
    if not isinstance(body, dict):
        kind = headers.get("content-type", "no content type")
        raise GenerationError(f"the answer is neither JSON nor an event stream ({kind}): {raw[:120]!r}")
    try:
        draft.add_body(body)
    except (ValueError, AttributeError, TypeError) as exc:
        raise GenerationError(
            f"the answer is JSON but not a chat completion ({type(exc).__name__}: {str(exc)[:200]}): {raw[:120]!r}"
        ) from None
    if on_text and draft.text:
        on_text("".join(draft.text))


def _json(raw: bytes) -> Any:
    try:
        return loads(raw)
    except (ValueError, RecursionError):
        return {"error": {"message": raw[:300].decode("utf-8", "replace")}}


def _stream_error(draft: Draft, partial: Generation) -> StreamError:
    error: dict[str, Any] = draft.error if isinstance(draft.error, dict) else {"message": str(draft.error)}
    return StreamError(
        f"the stream from {partial.model} failed after it started: {error.get('message') or error} "
        f"(code {error.get('code')}); not retried, the text so far is on .partial",
        status=error.get("code") if isinstance(error.get("code"), int) else None,
        code=error.get("code"),
        metadata=error.get("metadata") if isinstance(error.get("metadata"), dict) else {},
        partial=partial,
    )
