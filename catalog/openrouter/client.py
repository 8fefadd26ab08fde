"""The HTTP side: GET a path under the OpenRouter base URL, with retries, and hand back exact JSON.

Retried (exponential backoff with jitter, ``Retry-After`` honoured, capped attempts): 429, 500, 502, 503,
504, timeouts, broken connections and bodies that end early or are not JSON. Not retried: other 4xx — they
will not get better by asking again. The API key goes into the ``Authorization`` header only; it is never part
of a message, a log line or a ``repr``. Every message is built redacted (``catalog.redact``): the base URL's
user-info and key parameters, and the key itself or any ``sk-or-…`` token an upstream echoes in its error body.

Bounded whatever the upstream does: httpx's timeouts bound each read, so an upstream trickling a byte at a time
would never trip them; each attempt also has an overall deadline (``request_deadline``, headers to the last
byte). The body is streamed and counted, and a body past ``max_body_bytes`` is abandoned as it arrives (never
retried: it would only come back as large), so memory stays bounded by the cap, not by what is sent.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from catalog import __version__
from catalog.errors import FetchError, HTTPStatusError, PayloadError
from catalog.openrouter.payload import parse_json
from catalog.redact import redact
from catalog.settings import FetchSettings, join_url

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
MAX_RETRY_AFTER = 120.0
# An error answer is read only for its message (300 characters are shown): its first bytes are enough.
ERROR_BODY_BYTES = 64 * 1024


class BodyTooLarge(Exception):
    """A 200 body past the cap: ``declared`` by its ``Content-Length`` (then nothing was read), else found so
    while streaming (reading stopped there)."""

    def __init__(self, declared: int | None = None) -> None:
        super().__init__(declared)
        self.declared = declared


@dataclass(frozen=True)
class Fetched:
    """One answered GET: the exact bytes (for the raw archive) and the JSON parsed with exact decimals."""

    path: str
    status: int
    body: bytes
    data: Any
    attempts: int


def _retry_after(response: httpx.Response) -> float | None:
    raw = response.headers.get("retry-after")
    if not raw:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _error_message(response: httpx.Response, body: bytes, secrets: tuple[str, ...]) -> str:
    """OpenRouter's ``{"error": {"code", "message"}}`` when present, else the status line; redacted before it is
    cut to length, so a key the cut would split is still recognised whole."""
    try:
        payload = parse_json(body)
        message = payload["error"]["message"]
        if isinstance(message, str) and message:
            return redact(message, secrets)[:300]
    except (ValueError, KeyError, TypeError):
        pass
    return response.reason_phrase or "no message"


class OpenRouterClient:
    """Async GETs against one base URL. The transport is injectable (tests hand in their own)."""

    def __init__(
        self,
        settings: FetchSettings,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self.settings = settings
        headers = {"User-Agent": f"openrouter-price-catalog/{__version__}", "Accept": "application/json"}
        if settings.api_key:
            headers["Authorization"] = f"Bearer {settings.api_key}"
        timeout = httpx.Timeout(settings.read_timeout, connect=settings.connect_timeout)
        limits = httpx.Limits(max_connections=settings.concurrency, max_keepalive_connections=settings.concurrency)
        self._http = httpx.AsyncClient(
            headers=headers,
            timeout=timeout,
            limits=limits,
            transport=transport,
        )
        self._secrets = (settings.api_key,) if settings.api_key else ()
        self._sleep = sleep
        self._rng = rng or random.Random()
        self.retries = 0  # total retries made, for the snapshot summary

    async def __aenter__(self) -> OpenRouterClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    def _backoff(self, attempt: int) -> float:
        base = min(self.settings.backoff_cap, self.settings.backoff_base * 2 ** (attempt - 1))
        return base * (0.5 + self._rng.random())  # full jitter around the base keeps herds apart

    async def _read(self, path: str) -> tuple[httpx.Response, bytes]:
        """One GET, its body streamed and counted: past the cap reading stops, whatever is still to come."""
        async with self._http.stream("GET", join_url(self.settings.base_url, path)) as response:
            ok = response.status_code == 200
            cap = self.settings.max_body_bytes if ok else ERROR_BODY_BYTES
            declared = response.headers.get("content-length", "")
            if ok and declared.isascii() and declared.isdigit() and int(declared) > cap:
                raise BodyTooLarge(int(declared))  # said up front: not one byte of it is read
            body = bytearray()
            # Decoded bytes (after any gzip): the cap bounds what is held, so a compressed bomb is cut off too.
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > cap:
                    if not ok:
                        del body[cap:]
                        break
                    raise BodyTooLarge()
            return response, bytes(body)

    def _too_large(self, url: str, declared: int | None) -> FetchError:
        cap = f"{self.settings.max_body_bytes / (1024 * 1024):g} MB cap"
        what = (
            f"the body is {declared / (1024 * 1024):,.1f} MB, over the {cap}: not read"
            if declared is not None
            else f"the body went past the {cap}: reading stopped there"
        )
        return PayloadError(
            f"GET {url}: {what}, nothing stored; if the upstream's answers really grew that large, raise "
            "CATALOG_MAX_BODY_MB",
            url=url,
        )

    async def get(self, path: str) -> Fetched:
        """GET ``path`` (relative to the base URL) and parse it, retrying what is worth retrying."""
        url = redact(join_url(self.settings.base_url, path))
        deadline = self.settings.request_deadline
        last: FetchError | None = None
        for attempt in range(1, self.settings.max_attempts + 1):
            wait: float | None = None
            try:
                async with asyncio.timeout(deadline):
                    response, body = await self._read(path)  # an early end raises here
            except BodyTooLarge as exc:
                raise self._too_large(url, exc.declared) from None
            except TimeoutError:
                last = FetchError(
                    f"GET {url} did not finish within its {deadline:g} s deadline (CATALOG_REQUEST_DEADLINE)",
                    url=url,
                )
            except httpx.TimeoutException as exc:
                last = FetchError(f"GET {url} timed out ({type(exc).__name__})", url=url)
            except httpx.TransportError as exc:
                last = FetchError(redact(f"GET {url} failed: {type(exc).__name__}: {exc}", self._secrets), url=url)
            else:
                if response.status_code == 200:
                    try:
                        return Fetched(path, 200, body, parse_json(body), attempt)
                    except ValueError as exc:
                        last = PayloadError(
                            redact(f"GET {url} returned a body that is not valid JSON ({exc})", self._secrets), url=url
                        )
                else:
                    wait = _retry_after(response)
                    last = HTTPStatusError(
                        f"GET {url} answered {response.status_code}: {_error_message(response, body, self._secrets)}",
                        url=url,
                        status=response.status_code,
                        retry_after=wait,
                    )
                    if response.status_code not in RETRY_STATUSES:
                        raise last
            if attempt == self.settings.max_attempts:
                break
            delay = min(wait, MAX_RETRY_AFTER) if wait is not None else self._backoff(attempt)
            self.retries += 1
            await self._sleep(delay)
        assert last is not None
        raise type(last)(f"{last} (gave up after {self.settings.max_attempts} attempts)", **_error_kwargs(last))


def _error_kwargs(err: FetchError) -> dict[str, Any]:
    if isinstance(err, HTTPStatusError):
        return {"url": err.url, "status": err.status, "retry_after": err.retry_after}
    return {"url": err.url}
