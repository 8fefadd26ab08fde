"""A fake OpenRouter API: recorded days served over real HTTP on loopback, with injectable faults.

OpenRouter itself is not reachable from tests or CI, so the fetcher talks to this server instead; the
same fetcher code points at ``https://openrouter.ai/api/v1`` for real users. Modules:

- ``source``: what a day source looks like (``catalog.bundle.Bundle``, or ``MemorySource`` in tests);
- ``faults``: the :class:`Faults` value (latency, failures, hangs, truncation, schema drift);
- ``view``: a recorded day with the data faults applied (drift, dropped models);
- ``inject``: the middleware that applies transport faults and keeps the request log;
- ``chat``: ``POST /chat/completions``: echo models (exact usage and cost at ``ECHO_PRICING``) and replays
  of the bundled chat recordings; ``stream``: how those bodies are written (split writes, pacing, cuts);
  ``echo_models``: the echo models' catalog entries (``FakeOpenRouter(..., echo_models=True)``);
- ``native``: providers' own APIs (OpenAI chat and Responses, Anthropic Messages, Gemini, OpenAI-compatible)
  answering echoes in each native shape (written by ``native_bodies``), for the client's direct calls
  (``native_base_urls``);
- ``embeddings``: ``POST /embeddings``: deterministic echo embeddings with exact usage and cost;
- ``account``: ``GET /key``, ``/credits``, ``/generation``, ``/activity`` from the generation records of the calls
  the fake answered (``FakeOpenRouter(..., account=FakeAccount(...))`` sets the limit, credits, management keys);
- ``server``: :class:`FakeOpenRouter`, the routes; ``serve``: running it (thread or foreground).

Typical test::

    fake = FakeOpenRouter(MemorySource([memory_day("2026-07-17", models)]))
    with serve_in_thread(fake) as base_url:
        httpx.get(f"{base_url}/models")
"""

from catalog.fake.account import FakeAccount, GenerationLog, GenerationRecord
from catalog.fake.chat import ECHO_PRICING, ECHO_PROVIDER, ChatRecordingSource, EchoUsage, tokens
from catalog.fake.echo_models import ECHO_MODELS
from catalog.fake.faults import DRIFT_KINDS, Faults
from catalog.fake.inject import LoggedRequest, RequestLog
from catalog.fake.native import native_base_urls
from catalog.fake.runner import DEFAULT_PORT, base_url, run, serve_in_thread
from catalog.fake.server import FakeOpenRouter
from catalog.fake.source import (
    DayStateLike,
    MemoryDay,
    MemorySnapshot,
    MemorySource,
    SnapshotInfoLike,
    SnapshotSource,
    memory_day,
    resolve_day,
)
from catalog.fake.view import ServedDay

__all__ = [
    "DEFAULT_PORT",
    "DRIFT_KINDS",
    "ECHO_MODELS",
    "ECHO_PRICING",
    "ECHO_PROVIDER",
    "ChatRecordingSource",
    "DayStateLike",
    "EchoUsage",
    "FakeAccount",
    "FakeOpenRouter",
    "Faults",
    "GenerationLog",
    "GenerationRecord",
    "LoggedRequest",
    "MemoryDay",
    "MemorySnapshot",
    "MemorySource",
    "RequestLog",
    "ServedDay",
    "SnapshotInfoLike",
    "SnapshotSource",
    "base_url",
    "memory_day",
    "native_base_urls",
    "resolve_day",
    "run",
    "serve_in_thread",
    "tokens",
]
