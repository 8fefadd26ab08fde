"""``Client`` / ``AsyncClient``: one entry point, ``generate``, for OpenRouter chat completions.

    with Client(prices=Catalog.open()) as client:
        g = client.generate("Name two colours", "openai/gpt-4o-mini", stream=True, on_text=print)
        g.text, g.usage, g.cost, g.billed_cost, g.cost_difference, g.ttft, g.provider

Streaming and non-streaming share one pipeline (``catalog.client.assemble.Draft``) and give the same
``Generation``. Errors (``catalog.errors.GenerationError`` and its kinds) carry OpenRouter's status, code and
message, never the API key. 429 / 502 / 503 answers — and connections that could not be opened — are
retried with exponential backoff and jitter, honouring ``Retry-After``, but only before the first byte of
the answer: once a response has started, a failure is raised (``StreamError``, with what arrived so far in
``partial``), because a retry could bill the call twice. No hidden system prompt is ever added.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx

from catalog.client.assemble import Draft
from catalog.client.generation import CustomModel, Generation, Prices, PriceSource
from catalog.client.ids import ModelRef
from catalog.client.sse import SSEDecoder
from catalog.cost.profile import WorkloadProfile
from catalog.cost.sheets import PriceTable
from catalog.errors import (
    AuthError,
    BadRequestError,
    CreditsError,
    GenerationError,
    InputError,
    ModerationError,
    RateLimitError,
    StreamError,
    UpstreamError,
)
from catalog.settings import OPENROUTER_BASE_URL

RETRY_STATUSES = frozenset({429, 502, 503})
_KINDS: dict[int, type[GenerationError]] = {
    400: BadRequestError,
    401: AuthError,
    402: CreditsError,
    403: ModerationError,
    408: UpstreamError,
    429: RateLimitError,
}

Prompt = str | list[dict[str, Any]]


@dataclass
class Request:
    """One call, ready to send: where, with which headers (the key among them) and body."""

    url: str
    headers: dict[str, str] = field(repr=False)
    body: dict[str, Any]
    model: str  # the id costs are looked up by
    stream: bool


class _Base:
    def __init__(
        self,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        prices: PriceSource | PriceTable | Callable[[], PriceTable] | None = None,
        referer: str | None = None,
        title: str | None = None,
        timeout: float = 120.0,
        connect_timeout: float = 10.0,
        max_attempts: int = 4,
        backoff_base: float = 0.5,
        backoff_cap: float = 20.0,
    ) -> None:
        self._api_key = api_key if api_key is not None else os.environ.get("OPENROUTER_API_KEY") or None
        url = base_url or os.environ.get("OPENROUTER_BASE_URL") or OPENROUTER_BASE_URL
        if not url.startswith(("http://", "https://")):
            raise InputError(f"base URL {url!r} must start with http:// or https://")
        self.base_url = url.rstrip("/")
        self.prices = Prices(prices)
        self.referer = referer
        self.title = title
        self.timeout = httpx.Timeout(timeout, connect=connect_timeout)
        if max_attempts < 1:
            raise InputError("max_attempts must be at least 1")
        self.max_attempts = max_attempts
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap

    def __repr__(self) -> str:  # never the key
        return f"{type(self).__name__}(base_url={self.base_url!r}, key={'set' if self._api_key else 'unset'})"

    def register_model(self, model_id: str, pricing: dict[str, Any], **where: Any) -> CustomModel:
        """Use ``model_id`` with its own prices (OpenRouter's pricing shape, USD per token), served by
        ``base_url=`` (an OpenAI-compatible ``…/v1``; default: this client's) as ``upstream_model=``, with
        ``api_key=`` for that server."""
        return self.prices.register(model_id, pricing, **where)

    # -- the request ---------------------------------------------------------------------------------------------

    def request(
        self,
        prompt: Prompt,
        model: str,
        *,
        sys_msg: str | None = None,
        stream: bool = False,
        tools: list[dict[str, Any]] | None = None,
        response_format: dict[str, Any] | None = None,
        provider: dict[str, Any] | None = None,
        models: list[str] | None = None,
        route: str | None = None,
        **params: Any,
    ) -> Request:
        messages = _messages(prompt, sys_msg)
        custom = self.prices.custom.get(model)
        ref = ModelRef(model) if custom else ModelRef.parse(model)
        body: dict[str, Any] = {"model": (custom.upstream_model or model) if custom else ref.model}
        body["messages"] = messages
        if models:
            body["models"] = [ref.model, *(ModelRef.parse(m).model for m in models)]  # fallbacks, in order
        if stream:
            body["stream"] = True
        body["usage"] = {"include": True}  # usage (and cost) on every answer, streamed or not
        if tools is not None:
            body["tools"] = tools
        if response_format is not None:
            body["response_format"] = response_format
        if route == "cheapest":
            profile = _estimate(messages, params)
            provider = {**self.prices.cheapest_routing(ref.model, profile), **(provider or {})}
        elif route is not None:
            raise InputError(f'route={route!r}: the only route is "cheapest" (OpenRouter routes otherwise)')
        routing = ref.routing(provider)
        if routing is not None and not custom:
            body["provider"] = routing
        body.update(params)
        headers = {"Content-Type": "application/json", "Accept": "text/event-stream" if stream else "application/json"}
        key = custom.api_key if custom and custom.base_url else self._api_key
        if key:
            headers["Authorization"] = f"Bearer {key}"
        if self.referer:
            headers["HTTP-Referer"] = self.referer
        if self.title:
            headers["X-Title"] = self.title
        base = custom.base_url if custom and custom.base_url else self.base_url
        return Request(f"{base}/chat/completions", headers, body, model if custom else ref.model, stream)

    def refused(self, response: httpx.Response, raw: bytes, attempt: int) -> float:
        """An error status before any answer: how long to wait before retrying, or raise it as a typed error."""
        error = _error(response.status_code, _json(raw), response.headers)
        if error.status in RETRY_STATUSES and attempt < self.max_attempts:
            return self.backoff(attempt, error.retry_after)
        raise error

    def unreached(self, request: Request, exc: httpx.TransportError, attempt: int) -> float:
        """A transport failure before any answer: a connection never opened is retried; anything else (a
        timeout after the request went out) could have been billed, so it is raised."""
        if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout) and attempt < self.max_attempts:
            return self.backoff(attempt, None)
        if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout):
            raise UpstreamError(f"could not connect to {request.url}: {type(exc).__name__}") from None
        if isinstance(exc, httpx.TimeoutException):
            raise UpstreamError(f"{request.model}: no answer in time ({type(exc).__name__})") from None
        raise UpstreamError(f"{request.model}: the connection failed ({type(exc).__name__})") from None

    def backoff(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.backoff_cap * 4)
        return random.uniform(0, min(self.backoff_cap, self.backoff_base * 2 ** (attempt - 1)))

    def finish(self, request: Request, draft: Draft, started: float, streamed: bool) -> Generation:
        if draft.error is not None and streamed:
            raise _stream_error(draft, self._generation(request, draft, started, streamed))
        if draft.error is not None:  # a 200 whose body is an error
            raise _error(None, {"error": draft.error}, None)
        if streamed and not draft.done:
            partial = self._generation(request, draft, started, streamed)
            raise StreamError(
                f"the stream from {request.model} ended without [DONE] after {draft.chunks} chunks: the answer "
                "may be cut short (the text so far is on .partial)",
                partial=partial,
            )
        return self._generation(request, draft, started, streamed)

    def broken(self, request: Request, draft: Draft, started: float, exc: _Broken) -> StreamError:
        return StreamError(
            f"the connection to {request.model} broke mid-stream after {draft.chunks} chunks ({exc}); the answer "
            "is cut short and was not retried (it may already be billed); the text so far is on .partial",
            partial=self._generation(request, draft, started, True),
        )

    def _generation(self, request: Request, draft: Draft, started: float, streamed: bool) -> Generation:
        now = datetime.now(UTC)
        priced = self.prices.price(draft, request.model, now=now)
        cost: Decimal | None = priced["cost"]
        return Generation(
            text="".join(draft.text),
            tool_calls=draft.tool_calls,
            finish_reason=draft.finish_reason,
            usage=priced["usage"],
            cost=cost,
            cost_status=priced["status"],
            billed_cost=priced["billed"],
            elapsed=time.perf_counter() - started,
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
        """Call ``model`` with ``prompt`` (a string, or OpenAI-style messages); see :meth:`_Base.request` for
        the options (``sys_msg``, ``stream``, ``tools``, ``response_format``, ``provider``, ``models``,
        ``route``, and any other body parameter such as ``max_tokens``). ``on_text`` gets each piece of text
        as it arrives (the whole text at once without ``stream``)."""
        request = self.request(prompt, model, **options)
        started = time.perf_counter()
        for attempt in range(1, self.max_attempts + 1):
            try:
                with self._open(request) as response:
                    if response.status_code >= 400:
                        time.sleep(self.refused(response, response.read(), attempt))
                        continue
                    draft = Draft()
                    if request.stream:
                        try:
                            _consume(draft, response.iter_bytes(), on_text)
                        except _Broken as exc:
                            raise self.broken(request, draft, started, exc) from None
                    else:
                        draft.add_body(_body(response.read()))
                        if on_text and draft.text:
                            on_text("".join(draft.text))
                    return self.finish(request, draft, started, request.stream)
            except httpx.TransportError as exc:
                time.sleep(self.unreached(request, exc, attempt))
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _open(self, request: Request) -> AbstractContextManager[httpx.Response]:
        return self._http.stream("POST", request.url, json=request.body, headers=request.headers)


class AsyncClient(_Base):
    """The asynchronous client: the same ``generate``, awaited."""

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
        started = time.perf_counter()
        for attempt in range(1, self.max_attempts + 1):
            try:
                async with self._open(request) as response:
                    if response.status_code >= 400:
                        await asyncio.sleep(self.refused(response, await response.aread(), attempt))
                        continue
                    draft = Draft()
                    if request.stream:
                        try:
                            await _aconsume(draft, response.aiter_bytes(), on_text)
                        except _Broken as exc:
                            raise self.broken(request, draft, started, exc) from None
                    else:
                        draft.add_body(_body(await response.aread()))
                        if on_text and draft.text:
                            on_text("".join(draft.text))
                    return self.finish(request, draft, started, request.stream)
            except httpx.TransportError as exc:
                await asyncio.sleep(self.unreached(request, exc, attempt))
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _open(self, request: Request) -> AbstractAsyncContextManager[httpx.Response]:
        return self._http.stream("POST", request.url, json=request.body, headers=request.headers)


# -- the pieces both faces share ------------------------------------------------------------------------------


def _consume(draft: Draft, chunks: Iterator[bytes], on_text: Callable[[str], Any] | None) -> None:
    decoder = SSEDecoder()
    try:
        for chunk in chunks:
            for event in decoder.feed(chunk):
                _event(draft, event.data, on_text)
        for event in decoder.close():
            _event(draft, event.data, on_text)
    except (httpx.TransportError, UnicodeDecodeError) as exc:
        raise _cut(draft, exc) from None


async def _aconsume(draft: Draft, chunks: AsyncIterator[bytes], on_text: Callable[[str], Any] | None) -> None:
    decoder = SSEDecoder()
    try:
        async for chunk in chunks:
            for event in decoder.feed(chunk):
                _event(draft, event.data, on_text)
        for event in decoder.close():
            _event(draft, event.data, on_text)
    except (httpx.TransportError, UnicodeDecodeError) as exc:
        raise _cut(draft, exc) from None


def _event(draft: Draft, data: str, on_text: Callable[[str], Any] | None) -> None:
    before = len(draft.text)
    try:
        draft.add_event(data)
    except (ValueError, AttributeError, TypeError) as exc:
        raise StreamError(f"a stream event is not a JSON chunk ({exc}): {data[:120]!r}") from None
    if on_text is not None:
        for piece in draft.text[before:]:
            on_text(piece)


class _Broken(Exception):
    """The transport failed mid-stream (turned into a ``StreamError`` with the partial generation)."""


def _cut(draft: Draft, exc: Exception) -> _Broken:
    return _Broken(type(exc).__name__)


def _json(raw: bytes) -> Any:
    try:
        return json.loads(raw, parse_float=Decimal)  # usage.cost stays the exact decimal OpenRouter wrote
    except ValueError:
        return {"error": {"message": raw[:300].decode("utf-8", "replace")}}


def _body(raw: bytes) -> dict[str, Any]:
    body = _json(raw)
    if not isinstance(body, dict):
        raise StreamError(f"the answer is not a JSON object: {raw[:120]!r}")
    return body


def _error(status: int | None, body: Any, headers: httpx.Headers | None) -> GenerationError:
    """OpenRouter's error body (``{"error": {"code", "message", "metadata"}}``) as a typed error."""
    error = body.get("error") if isinstance(body, dict) else None
    error = error if isinstance(error, dict) else {}
    code = error.get("code")
    status = status or (code if isinstance(code, int) else None)
    message = str(error.get("message") or "no message")
    metadata = error.get("metadata") if isinstance(error.get("metadata"), dict) else {}
    raw = metadata.get("raw") if metadata else None
    detail = f" ({raw})" if isinstance(raw, str) and raw and raw not in message else ""
    kind = _KINDS.get(status or 0, UpstreamError if (status or 0) >= 500 else GenerationError)
    retry_after = None
    if headers is not None and headers.get("retry-after"):
        try:
            retry_after = float(headers["retry-after"])
        except ValueError:
            retry_after = None
    return kind(
        f"OpenRouter answered {status}: {message}{detail}",
        status=status,
        code=code,
        metadata=metadata,
        retry_after=retry_after,
    )


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


def _messages(prompt: Prompt, sys_msg: str | None) -> list[dict[str, Any]]:
    if isinstance(prompt, str):
        messages: list[dict[str, Any]] = [{"role": "user", "content": prompt}]
    elif isinstance(prompt, list) and all(isinstance(m, dict) and "role" in m for m in prompt):
        messages = list(prompt)
    else:
        raise InputError("prompt must be a string or a list of messages ({'role': ..., 'content': ...})")
    return [{"role": "system", "content": sys_msg}, *messages] if sys_msg else messages


def _estimate(messages: list[dict[str, Any]], params: dict[str, Any]) -> WorkloadProfile:
    """A workload profile for ``route="cheapest"``: about four characters a token, and max_tokens out."""
    chars = sum(len(json.dumps(m.get("content"))) for m in messages)
    output = params.get("max_tokens") or params.get("max_completion_tokens") or 500
    return WorkloadProfile(max(1, chars // 4), int(output))
