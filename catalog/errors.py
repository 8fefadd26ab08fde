"""Every error the catalog raises on purpose.

    CatalogError                  base: a message that names the thing and says what to do
    ├── ConfigError               a bad setting, flag or environment variable
    ├── InputError                bad user input (a date, a model id, a file)
    │   ├── NotFoundError         a model / provider / snapshot that is not in the history
    │   ├── UsageFormatError      a usage value that is not a count or an exact amount (catalog.cost.normalise)
    │   └── NoUsageError          a body or transcript with nothing to price: an error, no usage (catalog.cost.bodies)
    ├── BundleError               the bundled offline data is missing or does not match its manifest
    ├── SweepInterrupted          a sweep stopped (shutdown) before it was stored; nothing was written
    ├── FetchError                talking to OpenRouter failed after retries
    │   ├── HTTPStatusError       a non-2xx answer (carries the status and OpenRouter's error message)
    │   ├── PayloadError          a body that is not the JSON shape we expect (truncated, drifted)
    │   └── GenerationError       a chat completion failed: OpenRouter's status, code and message (catalog.client)
    │       ├── BadRequestError   400: the request itself is wrong (unknown model, bad parameter)
    │       ├── AuthError         401: no key, or a key OpenRouter does not accept
    │       ├── CreditsError      402: the account has no credits left for this request
    │       ├── ModerationError   403: the input was flagged by moderation
    │       ├── RateLimitError    429: rate limited (``retry_after`` seconds when the answer said)
    │       ├── UpstreamError     408 / 5xx: the provider or OpenRouter failed or timed out
    │       └── StreamError       the stream broke after it started: an error chunk, a cut connection, no [DONE]
    │           └── StreamLimitError  the answer broke a bound the client sets (``limit`` names the option)
    └── StoreError                the DuckDB history cannot be used
        ├── StoreLockedError      another process owns the database file
        ├── SnapshotOrderError    a snapshot older than the newest one already stored
        ├── StoreWriteError       a write failed (a full disk, an I/O error): nothing of it was stored
        ├── NotACatalogError      the file is missing, empty or another program's: no history of ours in it
        └── StoreDamagedError     the file is ours but unusable: corrupt, missing tables, or a newer schema

The CLI turns a ``CatalogError`` into one clean line on stderr and exit code 2 (1 for a failed sweep or any
other upstream or network failure; a ``GenerationError`` that is the caller's to fix, ``bad_input``, is 2);
no traceback reaches a user for an expected failure.
"""

from __future__ import annotations


class CatalogError(Exception):
    """Base class: ``str(err)`` is a complete, user-facing sentence."""


class ConfigError(CatalogError):
    pass


class InputError(CatalogError):
    pass


class NotFoundError(InputError):
    pass


class BundleError(CatalogError):
    pass


class SweepInterrupted(CatalogError):
    pass


class FetchError(CatalogError):
    def __init__(self, message: str, *, url: str | None = None) -> None:
        super().__init__(message)
        self.url = url


class HTTPStatusError(FetchError):
    def __init__(self, message: str, *, url: str | None = None, status: int, retry_after: float | None = None):
        super().__init__(message, url=url)
        self.status = status
        self.retry_after = retry_after


class PayloadError(FetchError):
    pass


class StoreError(CatalogError):
    pass


class StoreLockedError(StoreError):
    pass


class SnapshotOrderError(StoreError):
    pass


class StoreWriteError(StoreError):
    """A write to the database file failed (a full disk, an I/O error). The failed transaction left nothing
    behind; what was committed before is intact. ``fatal``: DuckDB invalidated the open database (a failed
    checkpoint), so this process can use it no more and must open the file again."""

    def __init__(self, message: str, *, fatal: bool = False) -> None:
        super().__init__(message)
        self.fatal = fatal


class NotACatalogError(StoreError):
    pass


class StoreDamagedError(StoreError):
    pass


class GenerationError(FetchError):
    """A chat completion that did not complete. ``partial`` is the ``Generation`` assembled before a stream
    broke (text, and usage when OpenRouter sent it: that usage is billed). Never carries the API key."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: int | str | None = None,
        metadata: dict[str, object] | None = None,
        retry_after: float | None = None,
        partial: object = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.metadata = metadata or {}
        self.retry_after = retry_after
        self.partial = partial

    @property
    def bad_input(self) -> bool:
        """The caller's to fix, not the upstream's: an answer 4xx other than 408 (timeout) and 429 (rate limit):
        an unknown id (404), no or a refused key (401), a key without the right (403), a bad request (400), no
        credits left (402); or a key refused before sending. The CLI exits 2 for these, as for any bad input,
        and 1 for an upstream or network failure (5xx, 408, 429, a broken stream or answer)."""
        if isinstance(self, StreamError):
            return False  # the request was accepted; what broke came after
        if self.status is not None:
            return 400 <= self.status < 500 and self.status not in (408, 429)
        return isinstance(self, AuthError | BadRequestError | CreditsError | ModerationError)


class BadRequestError(GenerationError):
    pass


class AuthError(GenerationError):
    pass


class CreditsError(GenerationError):
    pass


class ModerationError(GenerationError):
    pass


class RateLimitError(GenerationError):
    pass


class UpstreamError(GenerationError):
    pass


class StreamError(GenerationError):
    pass


class StreamLimitError(StreamError):
    """An answer that broke a bound the client keeps so a hostile or broken upstream cannot hang it or fill
    its memory: an event or a body too large, an answer too long, no data for too long. ``limit`` is the
    client option that sets the bound (``max_event_bytes``, ``max_answer_bytes``, ``idle_timeout``) and
    ``bound`` its value; the message says how to raise it. The connection is closed, nothing is retried."""

    def __init__(self, message: str, *, limit: str, bound: float, partial: object = None) -> None:
        super().__init__(message, partial=partial)
        self.limit = limit
        self.bound = bound
