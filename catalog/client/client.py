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
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from contextlib import AbstractAsyncContextManager, AbstractContextManager
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx

from catalog.client.assemble import Draft
from catalog.client.failures import error_from
from catalog.client.generation import CustomModel, Generation, Prices, PriceSource
from catalog.client.request import Identity, Prompt, Request, build_request, checked_key, shown_url
from catalog.client.sse import SSEDecoder
from catalog.cost.sheets import PriceTable
from catalog.errors import GenerationError, InputError, RateLimitError, StreamError, UpstreamError
from catalog.settings import OPENROUTER_BASE_URL

RETRY_STATUSES = frozenset({429, 502, 503})
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
    "transport",
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
    ) -> None:
        key = checked_key(api_key if api_key is not None else os.environ.get("OPENROUTER_API_KEY"))
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

    def __repr__(self) -> str:  # never the key
        key = "set" if self.who.api_key else "unset"
        return f"{type(self).__name__}(base_url={shown_url(self.base_url)!r}, key={key})"

    def register_model(self, model_id: str, pricing: dict[str, Any], **where: Any) -> CustomModel:
        """Use ``model_id`` with its own prices (OpenRouter's pricing shape, USD per token), served by
        ``base_url=`` (an OpenAI-compatible ``…/v1``; default: this client's) as ``upstream_model=``, with
        ``api_key=`` for that server (the OpenRouter key is never sent there)."""
        return self.prices.register(model_id, pricing, **where)

    def request(self, prompt: Prompt, model: str, **options: Any) -> Request:
        """The call ``generate`` would send (see ``catalog.client.request.build_request`` for the options)."""
        return build_request(self.prices, self.base_url, self.who, prompt, model, **options)

    # -- what comes back -------------------------------------------------------------------------------------

    def refused(self, response: httpx.Response, raw: bytes, attempt: int) -> float:
        """An error status before any answer: how long to wait before retrying, or raise it as a typed error."""
        error = error_from(response.status_code, _json(raw), response.headers)
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

    def broken(self, request: Request, draft: Draft, exc: Exception, partial: Generation) -> StreamError:
        return StreamError(
            f"the connection to {request.model} broke mid-stream after {draft.chunks} chunks "
            f"({type(exc).__name__}); the answer is cut short and was not retried (it may already be billed); "
            "the text so far is on .partial",
            partial=partial,
        )

    def generation(self, request: Request, draft: Draft, started: float, ended: float, streamed: bool) -> Generation:
        priced = self.prices.price(draft, request.model, now=datetime.now(UTC))
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
            provider=draft.provider,
            model=draft.model or request.model,
            id=draft.id,
            reasoning="".join(draft.reasoning) or None,
            native_finish_reason=draft.native_finish_reason,
            cost_reason=priced["reason"],
            price_source=priced["source"],
            created=priced["created"],
            streamed=streamed,
            is_byok=priced["byok"],
        )


class Client(_Base):
    """The synchronous client. ``transport`` (an ``httpx`` transport) is for tests and proxies."""

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
        self, prompt: Prompt, model: str, *, on_text: Callable[[str], Any] | None = None, **options: Any
    ) -> Generation:
        """Call ``model`` with ``prompt`` (a string, or OpenAI-style messages). Options: ``sys_msg``,
        ``stream``, ``tools``, ``response_format``, ``provider``, ``models``, ``route``, and any other body
        parameter (``max_tokens`` …). ``on_text`` gets each piece of text as it arrives (the whole text at once
        for an answer that is not streamed). ``elapsed`` and ``ttft`` count from the attempt that answered."""
        request = self.request(prompt, model, **options)
        for attempt in range(1, self.max_attempts + 1):
            started = time.perf_counter()
            try:
                with self._open(request) as response:
                    if response.status_code >= 400:
                        time.sleep(self.refused(response, response.read(), attempt))
                        continue
                    draft = Draft()
                    streamed = _is_stream(response)
                    if streamed:
                        try:
                            _read_stream(draft, response.iter_bytes(), on_text)
                        except _Broken as exc:
                            ended = time.perf_counter()
                            partial = self.generation(request, draft, started, ended, True)
                            raise self.broken(request, draft, exc.cause, partial) from None
                    else:
                        _read_body(draft, response.headers, response.read(), on_text)
                    result = self.generation(request, draft, started, time.perf_counter(), streamed)
                    return self.check(request, draft, streamed, result)
            except httpx.TransportError as exc:
                time.sleep(self.unreached(request, exc, attempt))
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _open(self, request: Request) -> AbstractContextManager[httpx.Response]:
        return self._http.stream("POST", request.url, json=request.body, headers=request.headers)


class AsyncClient(_Base):
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
        self, prompt: Prompt, model: str, *, on_text: Callable[[str], Any] | None = None, **options: Any
    ) -> Generation:
        request = self.request(prompt, model, **options)
        for attempt in range(1, self.max_attempts + 1):
            started = time.perf_counter()
            try:
                async with self._open(request) as response:
                    if response.status_code >= 400:
                        await asyncio.sleep(self.refused(response, await response.aread(), attempt))
                        continue
                    draft = Draft()
                    streamed = _is_stream(response)
                    if streamed:
                        try:
                            await _aread_stream(draft, response.aiter_bytes(), on_text)
                        except _Broken as exc:
                            ended = time.perf_counter()
                            partial = await asyncio.to_thread(self.generation, request, draft, started, ended, True)
                            raise self.broken(request, draft, exc.cause, partial) from None
                    else:
                        _read_body(draft, response.headers, await response.aread(), on_text)
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


def _is_stream(response: httpx.Response) -> bool:
    return response.headers.get("content-type", "").startswith("text/event-stream")


def _read_stream(draft: Draft, chunks: Iterable[bytes], on_text: Callable[[str], Any] | None) -> None:
    decoder = SSEDecoder()
    try:
        for chunk in chunks:
            _events(draft, decoder.feed(chunk), on_text)
        _events(draft, decoder.close(), on_text)
    except (httpx.TransportError, UnicodeDecodeError) as exc:
        raise _Broken(exc) from None


async def _aread_stream(draft: Draft, chunks: AsyncIterator[bytes], on_text: Callable[[str], Any] | None) -> None:
    decoder = SSEDecoder()
    try:
        async for chunk in chunks:
            _events(draft, decoder.feed(chunk), on_text)
        _events(draft, decoder.close(), on_text)
    except (httpx.TransportError, UnicodeDecodeError) as exc:
        raise _Broken(exc) from None


def _events(draft: Draft, events: Iterator[Any] | list[Any], on_text: Callable[[str], Any] | None) -> None:
    for event in events:
        before = len(draft.text)
        try:
            draft.add_event(event.data)
        except (ValueError, AttributeError, TypeError) as exc:
            raise StreamError(f"a stream event is not a JSON chunk ({exc}): {event.data[:120]!r}") from None
        if on_text is not None:
            for piece in draft.text[before:]:
                on_text(piece)


def _read_body(draft: Draft, headers: httpx.Headers, raw: bytes, on_text: Callable[[str], Any] | None) -> None:
    """A whole answer: a JSON body (also when a stream was asked for and the server answered at once)."""
    try:
        body = json.loads(raw, parse_float=Decimal)  # usage.cost stays the exact decimal OpenRouter wrote
    except ValueError:
        body = None
    if not isinstance(body, dict):
        kind = headers.get("content-type", "no content type")
        raise GenerationError(f"the answer is neither JSON nor an event stream ({kind}): {raw[:120]!r}")
    draft.add_body(body)
    if on_text and draft.text:
        on_text("".join(draft.text))


def _json(raw: bytes) -> Any:
    try:
        return json.loads(raw, parse_float=Decimal)
    except ValueError:
        return {"error": {"message": raw[:300].decode("utf-8", "replace")}}


def _stream_error(draft: Draft, partial: Generation) -> StreamError:
    error = draft.error or {}
    return StreamError(
        f"the stream from {partial.model} failed after it started: {error.get('message') or error} "
        f"(code {error.get('code')}); not retried, the text so far is on .partial",
        status=error.get("code") if isinstance(error.get("code"), int) else None,
        code=error.get("code"),
        metadata=error.get("metadata") if isinstance(error.get("metadata"), dict) else {},
        partial=partial,
    )
