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
    │   └── PayloadError          a body that is not the JSON shape we expect (truncated, drifted)
    └── StoreError                the DuckDB history cannot be used
        ├── StoreLockedError      another process owns the database file
        └── SnapshotOrderError    a snapshot older than the newest one already stored

The CLI turns a ``CatalogError`` into one clean line on stderr and exit code 2 (1 for a failed sweep);
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
