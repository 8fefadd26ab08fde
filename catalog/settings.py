"""Settings read from flags and the environment, in one place.

Nothing here opens a connection; the HTTP client and the database are built by the caller from these values.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from catalog.errors import ConfigError, InputError
from catalog.freshness import DEFAULT_STALE_AFTER
from catalog.redact import redact
from catalog.times import parse_duration

OPENROUTER_BASE_URL = "https://openrouter.ai/api/v1"


def join_url(base: str, path: str) -> str:
    """``path`` under ``base``, joined before any query the base carries: ``https://host/api/v1?key=abc`` and
    ``models`` give ``https://host/api/v1/models?key=abc``. A base URL's query (a gateway's key, a routing tag)
    is what its user wants sent with every request; appended after it, the path would land in the query and
    every request would go to the base itself. A query of ``path``'s own follows the base's."""
    parts = urlsplit(base)
    own_path, _, own_query = path.partition("?")  # not urlsplit: "x:y/..." would read as a scheme
    joined = f"{parts.path.rstrip('/')}/{own_path.lstrip('/')}"
    query = "&".join(q for q in (parts.query, own_query) if q)
    return urlunsplit((parts.scheme, parts.netloc, joined, query, ""))


# Shipped files and runtime data. In a checkout (or an editable install of one) the templates are `site/` and
# the bundle `data/bundle/` at the top of the project. A wheel carries the same folders inside the package, as
# `catalog/_site` and `catalog/_bundle` (never a top-level `site`, which would shadow the standard library's).
PACKAGE_DIR = Path(__file__).resolve().parent
PROJECT_ROOT = PACKAGE_DIR.parent
# A wheel's package holds its own copy of the data; a checkout's holds none and sits beside pyproject.toml.
IN_CHECKOUT = (PROJECT_ROOT / "pyproject.toml").is_file() and not (PACKAGE_DIR / "_bundle").is_dir()


def _shipped(packaged: str, checkout: str) -> Path:
    """The packaged copy when there is one, else the checkout's folder."""
    inside = PACKAGE_DIR / packaged
    return inside if inside.is_dir() else PROJECT_ROOT / checkout


SITE_SOURCE = _shipped("_site", "site")  # templates/ and static/ of the static site
BUNDLE_DIR = _shipped("_bundle", "data/bundle")  # the bundled recorded data


def data_dir() -> Path:
    """Where runtime data goes by default (the database, the site): ``data/`` in the checkout; once installed
    from a wheel, ``data/`` in the current directory, so nothing is ever written inside the installed package."""
    return PROJECT_ROOT / "data" if IN_CHECKOUT else Path.cwd() / "data"


def default_db() -> Path:
    return data_dir() / "catalog.duckdb"


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a whole number; set it to e.g. {default}") from None
    if value < 1:
        raise ConfigError(f"{name}={raw!r} must be at least 1")
    return value


def _env_float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a number of seconds; set it to e.g. {default}") from None
    if value <= 0:
        raise ConfigError(f"{name}={raw!r} must be greater than 0")
    return value


def _env_duration(name: str, default: float) -> float:
    """Seconds from ``name`` (``"90s"``, ``"10m"`` or a number of seconds), else ``default``."""
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return parse_duration(raw, what=name)
    except InputError as exc:
        raise ConfigError(str(exc)) from None


# Bounds on what one sweep may cost, whatever the upstream does. A real sweep takes seconds and its largest body
# (/models) is under 1 MB; each default is far above that and far below what would hang or exhaust the service.
REQUEST_DEADLINE = 120.0  # one GET, headers to the last body byte (a trickling body cannot outlive it)
SWEEP_DEADLINE = 900.0  # one whole sweep with its retries: well inside the hourly schedule
MAX_BODY_MB = 32  # one upstream body, counted while it streams in (the real /models is ~0.6 MB)


@dataclass(frozen=True)
class FetchSettings:
    """How the fetcher talks to OpenRouter (or to the fake server)."""

    base_url: str = OPENROUTER_BASE_URL
    # repr=False: the key must never show up in a log line or a traceback.
    api_key: str | None = field(default=None, repr=False)
    concurrency: int = 8
    connect_timeout: float = 5.0
    read_timeout: float = 30.0
    max_attempts: int = 4
    backoff_base: float = 0.5
    backoff_cap: float = 20.0
    request_deadline: float = REQUEST_DEADLINE
    sweep_deadline: float = SWEEP_DEADLINE
    max_body_bytes: int = MAX_BODY_MB * 1024 * 1024

    @classmethod
    def from_env(
        cls, *, base_url: str | None = None, concurrency: int | None = None, sweep_deadline: float | None = None
    ) -> FetchSettings:
        url = base_url or os.environ.get("OPENROUTER_BASE_URL") or OPENROUTER_BASE_URL
        if not url.startswith(("http://", "https://")):
            raise ConfigError(f"base URL {redact(url)!r} must start with http:// or https://")
        return cls(
            base_url=url.rstrip("/"),
            api_key=os.environ.get("OPENROUTER_API_KEY") or None,
            concurrency=concurrency or _env_int("CATALOG_CONCURRENCY", 8),
            connect_timeout=_env_float("CATALOG_CONNECT_TIMEOUT", 5.0),
            read_timeout=_env_float("CATALOG_READ_TIMEOUT", 30.0),
            max_attempts=_env_int("CATALOG_MAX_ATTEMPTS", 4),
            request_deadline=_env_duration("CATALOG_REQUEST_DEADLINE", REQUEST_DEADLINE),
            sweep_deadline=sweep_deadline or _env_duration("CATALOG_SWEEP_DEADLINE", SWEEP_DEADLINE),
            max_body_bytes=_env_int("CATALOG_MAX_BODY_MB", MAX_BODY_MB) * 1024 * 1024,
        )


@dataclass(frozen=True)
class ServeSettings:
    """How long a client of ``catalog serve`` / ``catalog up`` may take to send one request, and how large its
    headers may be (uvicorn's own idle bound between requests, ``timeout_keep_alive``, stays as it is)."""

    # Headers are one small packet from any real client; the body of the largest accepted request (POST
    # /v1/cost, 1 MB) needs a minute only below ~17 KB/s.
    header_timeout: float = 10.0
    body_timeout: float = 60.0
    max_header_bytes: int = 64 * 1024

    @classmethod
    def from_env(cls) -> ServeSettings:
        return cls(
            header_timeout=_env_duration("CATALOG_HEADER_TIMEOUT", cls.header_timeout),
            body_timeout=_env_duration("CATALOG_BODY_TIMEOUT", cls.body_timeout),
        )


def db_path(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The DuckDB file: ``--db``, else ``CATALOG_DB``, else ``data/catalog.duckdb`` (see ``data_dir``)."""
    raw = explicit or os.environ.get("CATALOG_DB")
    return Path(raw).expanduser() if raw else default_db()


def bundle_dir() -> Path:
    raw = os.environ.get("CATALOG_BUNDLE")
    return Path(raw).expanduser() if raw else BUNDLE_DIR


def site_dir(db: Path | None = None) -> Path:
    """Where the static site is built: ``$CATALOG_SITE_DIR``, else ``data/site`` for the default database,
    else ``<db stem>-site`` beside the database (so two histories never share one site)."""
    raw = os.environ.get("CATALOG_SITE_DIR")
    if raw:
        return Path(raw).expanduser()
    db = db if db is not None else db_path()
    if db.resolve() == default_db().resolve():
        return data_dir() / "site"
    return db.with_name(f"{db.stem}-site")


def stale_after(explicit: float | None = None) -> float:
    """Seconds after which the newest snapshot makes answers stale: ``explicit`` (``catalog up`` passes twice
    its catalog sweep interval), else ``CATALOG_STALE_AFTER`` (a duration: ``"2h"``, ``"90m"``, ``"1d"`` or
    seconds), else 2 h — twice the default hourly sweep."""
    if explicit is not None:
        return explicit
    raw = os.environ.get("CATALOG_STALE_AFTER")
    if raw is None or raw.strip() == "":
        return DEFAULT_STALE_AFTER
    try:
        return parse_duration(raw, what="CATALOG_STALE_AFTER")
    except InputError as exc:
        raise ConfigError(str(exc)) from None
