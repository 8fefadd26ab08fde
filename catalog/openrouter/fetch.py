"""Fetching one sweep over HTTP: ``/models`` (``?output_modalities=all`` for the full scope, with the official
lists of the other kinds beside it) first, then ``/providers`` and every listed model's ``/endpoints`` with
bounded concurrency. Only raw payloads are collected here; ``catalog.openrouter.payload.assemble`` parses them.

A sweep has an overall deadline (``sweep_deadline``, retries and waits for a free slot included). What is not
fetched by then fails as any failed GET does, under the fetch rules: no ``/models`` is a failed snapshot, a
model whose ``/endpoints`` is missing makes it partial (nothing of that model is closed).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from datetime import UTC, datetime

import httpx

from catalog.errors import FetchError
from catalog.openrouter.client import OpenRouterClient
from catalog.openrouter.payload import (
    ALL_KINDS,
    KIND_LIST_PATHS,
    MODELS_PATH,
    PROVIDERS_PATH,
    SCOPES,
    Progress,
    RawPayload,
    Sweep,
    assemble,
    endpoints_path,
    listed_models,
    models_path,
    read_models,
    unfetchable_endpoints,
)
from catalog.openrouter.skus import ALL_SCOPE
from catalog.redact import redact, redact_bytes
from catalog.settings import FetchSettings, join_url

# Statuses with which an upstream says it does not know ``?output_modalities=all``: the sweep falls back to the
# default ``/models`` (text scope) rather than failing.
UNKNOWN_PARAMETER = frozenset({400, 404, 422})


async def _fetch(client: OpenRouterClient, path: str) -> RawPayload:
    key = client.settings.api_key
    try:
        fetched = await client.get(path)
    except FetchError as exc:
        return RawPayload(path, getattr(exc, "status", None), None, redact(str(exc), (key,)))
    # An upstream that repeats our key in a body it serves: the archive keeps bodies for ever and the site
    # publishes what they hold, so the key is masked before anything parses or stores the body.
    return RawPayload(path, fetched.status, redact_bytes(fetched.body, (key,)))


async def _by_deadline(
    client: OpenRouterClient, path: str, deadline: float, gate: asyncio.Semaphore | None = None
) -> RawPayload:
    """``_fetch`` (after a free slot of ``gate``), or the sweep deadline's failure if that comes first."""
    try:
        async with asyncio.timeout_at(deadline):
            if gate is None:
                return await _fetch(client, path)
            async with gate:
                return await _fetch(client, path)
    except TimeoutError:
        url = redact(join_url(client.settings.base_url, path))
        seconds = client.settings.sweep_deadline
        return RawPayload(
            path,
            None,
            None,
            f"GET {url} not finished within the sweep's {seconds:g} s deadline (CATALOG_SWEEP_DEADLINE)",
        )


async def fetch_sweep(
    settings: FetchSettings,
    *,
    kinds: Iterable[str] = ALL_KINDS,
    taken_at: datetime | None = None,
    source: str | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    progress: Progress | None = None,
    scope: str = ALL_SCOPE,
) -> Sweep:
    """Fetch one snapshot over HTTP with bounded concurrency and parse it. Never raises for a failed GET.

    ``scope``: ``all`` (every kind of model) or ``text`` (the default ``/models`` only, as before scopes).
    """
    wanted = frozenset(kinds)
    unknown = wanted - ALL_KINDS
    if unknown or "models" not in wanted:
        raise ValueError(f"kinds must include 'models' and be among {sorted(ALL_KINDS)}, got {sorted(wanted)}")
    if scope not in SCOPES:
        raise ValueError(f"scope must be one of {list(SCOPES)}, got {scope!r}")
    started = time.monotonic()
    stamp = taken_at or datetime.now(UTC)
    raw: list[RawPayload] = []
    deadline = asyncio.get_running_loop().time() + settings.sweep_deadline
    async with OpenRouterClient(settings, transport=transport) as client:
        lists = [models_path(scope), *(KIND_LIST_PATHS.values() if scope == ALL_SCOPE else ())]
        fetched = await asyncio.gather(*(_by_deadline(client, path, deadline) for path in lists))
        models_raw = fetched[0]
        raw.extend(fetched)
        if scope == ALL_SCOPE and models_raw.status in UNKNOWN_PARAMETER:
            # an upstream (or a proxy) that refuses the parameter: the default list, recorded as text scope
            models_raw = await _by_deadline(client, MODELS_PATH, deadline)
            raw.append(models_raw)
            fetched.append(models_raw)
        models_read = read_models(models_raw)  # unusable: assemble() reports it as the fatal error
        listing = listed_models({p.path: p for p in fetched}, models_read)
        model_ids = [r.model_id for r in listing.read.records or ()]
        tasks: list[asyncio.Task[RawPayload]] = []
        if "providers" in wanted and models_raw.ok:
            tasks.append(asyncio.create_task(_by_deadline(client, PROVIDERS_PATH, deadline)))
        if "endpoints" in wanted and model_ids:
            gate = asyncio.Semaphore(settings.concurrency)
            done = 0

            async def one(model_id: str) -> RawPayload:
                nonlocal done
                unfetchable = unfetchable_endpoints(model_id)
                if unfetchable is not None:
                    payload = RawPayload(endpoints_path(model_id), None, None, unfetchable)
                else:
                    payload = await _by_deadline(client, endpoints_path(model_id), deadline, gate)
                done += 1
                if progress is not None:
                    progress(done, len(model_ids))
                return payload

            tasks.extend(asyncio.create_task(one(m)) for m in model_ids)
        raw.extend(await asyncio.gather(*tasks))
        retries = client.retries
    sweep = assemble(raw, taken_at=stamp, source=source or settings.base_url, kinds=wanted, listing=listing)
    sweep.duration_s = time.monotonic() - started
    sweep.retries = retries
    return sweep
