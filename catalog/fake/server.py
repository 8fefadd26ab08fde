"""The fake OpenRouter: recorded days served over real HTTP in the exact v1 shapes.

Routes (the same paths as ``https://openrouter.ai/api/v1``)::

    GET  /api/v1/models                        {"data": [Model], "total_count", "links"}; ``output_modalities``
                                               (default ``text``; ``all``; a comma list) as upstream, unless
                                               the ``ignore_output_modalities`` fault is on
    GET  /api/v1/embeddings/models, /images/models, /images/models/{author}/{slug}/endpoints, /videos/models
                                               the other kinds' lists (catalog.fake.kinds)
    GET  /api/v1/providers                     {"data": [Provider]}       404 on a models-only day
    GET  /api/v1/models/{author}/{slug}/endpoints  {"data": ListEndpointsResponse}  404 unknown model
    POST /api/v1/chat/completions              echo/<anything> answers, replay/<recording> replays
                                               (catalog.fake.chat; JSON or SSE; 400 bad request)
    POST /api/v1/embeddings                    echo/<anything> embeddings (catalog.fake.embeddings)
    GET  /api/v1/key, /credits, /activity      the account, from the calls answered (catalog.fake.account)
    GET  /api/v1/generation?id=                the record of a call the fake answered (404 unknown id)
    POST /_native/{provider}/...               providers' own APIs: echo answers in each native shape
                                               (catalog.fake.native; for the client's direct calls)
    GET  /_fake/state                          {"day", "kind", "faults", "requests", "statuses"}
    POST /_fake/day     {"day": "2026-07-18"}  serve another day (404 if unknown)
    POST /_fake/faults  {...Faults...}         replace the faults (400 if invalid)

With ``echo_models=True`` the catalog routes also list the echo models (``catalog.fake.echo_models``).
Anything else is a 404 (405 for a wrong method) in OpenRouter's error shape. The served day and the
faults can change while the server runs, from the test's thread (:meth:`FakeOpenRouter.set_day`) or
over HTTP; each change swaps one immutable :class:`ServedDay`, so a request never sees half of one.
"""

from __future__ import annotations

import threading
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp

from catalog.errors import ConfigError, NotFoundError
from catalog.fake.account import AccountRoutes, FakeAccount
from catalog.fake.chat import ChatCompletions, ChatRecordingSource
from catalog.fake.echo_models import with_echo_models
from catalog.fake.embeddings import EmbeddingsRoute
from catalog.fake.faults import API_PREFIX, Faults
from catalog.fake.inject import FaultInjector, FaultState, RequestLog, endpoints_model, pause
from catalog.fake.kinds import KindRoutes
from catalog.fake.native import NATIVE_PREFIX, NativeRoutes
from catalog.fake.responses import error_response, json_response
from catalog.fake.source import DayStateLike, SnapshotSource, resolve_day
from catalog.fake.view import ServedDay, models_page

_MAX_LIMIT = 1000  # the spec's maximum page size for /models


class FakeOpenRouter:
    """A fake OpenRouter API over a snapshot source (``catalog.bundle.Bundle`` or a ``MemorySource``).

    ``day`` is a snapshot id or ``YYYY-MM-DD`` (default: the newest full day). ``echo_models=True`` lists
    the echo models in ``/models``, ``/endpoints`` and ``/providers`` (chat completions answer them either
    way). Replays come from ``recordings``, else from ``source`` when it holds chat recordings (a
    ``Bundle``), else from the bundled data. Serve ``app`` with uvicorn, or use
    ``catalog.fake.serve_in_thread``.
    """

    def __init__(
        self,
        source: SnapshotSource,
        day: str | None = None,
        faults: Faults | None = None,
        *,
        echo_models: bool = False,
        recordings: ChatRecordingSource | None = None,
        account: FakeAccount | None = None,
    ) -> None:
        self.source = source
        # the account behind every key: its limit, credits and the generation records of the calls answered
        self.account = account or FakeAccount()
        self.echo_models = echo_models
        self.log = RequestLog()
        self._lock = threading.Lock()
        self._faults = FaultState(faults or Faults())
        # Sources cache what they load (the bundle parses a day once), so the fake keeps only the current day.
        self._state = self._listed(source.load(resolve_day(source, day)))
        self._served = ServedDay.build(self._state, self._faults.faults)
        self._released = threading.Event()
        if recordings is None and isinstance(source, ChatRecordingSource):
            recordings = source
        self.chat = ChatCompletions(
            faults=lambda: self._faults.faults,
            pause=lambda seconds: pause(seconds, self._released),
            recordings=recordings,
            generations=self.account.generations,
        )
        # providers' own APIs, for the client's direct calls (catalog.fake.native)
        self.native = NativeRoutes(faults=lambda: self._faults.faults, pause=lambda s: pause(s, self._released))
        self._app = self._build_app()

    @property
    def app(self) -> ASGIApp:
        """The ASGI application."""
        return self._app

    @property
    def day(self) -> str:
        """The id of the snapshot being served."""
        return self._served.info.id

    @property
    def served(self) -> ServedDay:
        """What is being served right now, faults applied."""
        return self._served

    @property
    def faults(self) -> Faults:
        """The faults in force."""
        return self._faults.faults

    def set_day(self, day: str | None) -> str:
        """Serve another snapshot (id or ``YYYY-MM-DD``; None: newest full day); returns its id.

        Raises NotFoundError, naming the day, when the source has no such snapshot.
        """
        snapshot_id = resolve_day(self.source, day)
        state = self._listed(self.source.load(snapshot_id))
        with self._lock:
            self._state = state
            self._served = ServedDay.build(state, self._faults.faults)
        return snapshot_id

    def set_faults(self, faults: Faults | None) -> None:
        """Replace the faults (None: none). ``fail_first`` counting and the RNG streams start over."""
        state = FaultState(faults or Faults())
        with self._lock:
            self._faults = state
            self._served = ServedDay.build(self._state, state.faults)

    def state(self) -> dict[str, Any]:
        """What ``GET /_fake/state`` answers: the day, the faults and the request counts."""
        return {
            "day": self.day,
            "kind": self._served.info.kind,
            "faults": self.faults.to_dict(),
            "requests": self.log.by_path(),
            "statuses": {str(k): v for k, v in sorted(self.log.by_status().items())},
        }

    def _listed(self, state: DayStateLike) -> DayStateLike:
        return with_echo_models(state) if self.echo_models else state

    def release_pauses(self) -> None:
        """Cut every running latency, hang or stream pacing sleep short (called on shutdown); later sleeps
        are skipped."""
        self._released.set()

    def hold_pauses(self) -> None:
        """Make latency and hang sleep again after :meth:`release_pauses` (called on startup)."""
        self._released.clear()

    def _build_app(self) -> Starlette:
        routes = [
            Route(API_PREFIX + "/models", self._models, methods=["GET"]),
            *self._kind_routes(),
            Route(API_PREFIX + "/providers", self._providers, methods=["GET"]),
            Route(API_PREFIX + "/models/{model_path:path}", self._endpoints, methods=["GET"]),
            Route(API_PREFIX + "/chat/completions", self.chat.handle, methods=["POST"]),
            *self._account_routes(),
            Route(NATIVE_PREFIX + "/{provider}/{path:path}", self.native.handle, methods=["POST"]),
            Route("/_fake/state", self._control_state, methods=["GET"]),
            Route("/_fake/day", self._control_day, methods=["POST"]),
            Route("/_fake/faults", self._control_faults, methods=["POST"]),
        ]
        injector = Middleware(FaultInjector, current=lambda: self._faults, log=self.log, released=self._released)
        return Starlette(
            routes=routes,
            middleware=[injector],
            exception_handlers={HTTPException: _http_error},
        )

    def _kind_routes(self) -> list[Route]:
        kinds = KindRoutes(lambda: self._served)
        return [
            Route(API_PREFIX + "/embeddings/models", kinds.embeddings_models, methods=["GET"]),
            Route(API_PREFIX + "/images/models", kinds.images_models, methods=["GET"]),
            Route(API_PREFIX + "/images/models/{model_path:path}", kinds.image_endpoints, methods=["GET"]),
            Route(API_PREFIX + "/videos/models", kinds.videos_models, methods=["GET"]),
        ]

    def _account_routes(self) -> list[Route]:
        account = AccountRoutes(self.account)
        return [
            Route(API_PREFIX + "/embeddings", EmbeddingsRoute(self.account.generations).handle, methods=["POST"]),
            Route(API_PREFIX + "/key", account.key, methods=["GET"]),
            Route(API_PREFIX + "/credits", account.credits, methods=["GET"]),
            Route(API_PREFIX + "/generation", account.generation, methods=["GET"]),
            Route(API_PREFIX + "/activity", account.activity, methods=["GET"]),
        ]

    async def _models(self, request: Request) -> Response:
        served = self._served
        params = request.query_params
        wanted = {p.strip() for p in params.get("supported_parameters", "").split(",") if p.strip()}
        paged = "offset" in params or "limit" in params
        modalities = None if self.faults.ignore_output_modalities else params.get("output_modalities")
        default_list = modalities is None or modalities.strip() == "text"
        if not wanted and not paged:
            return json_response(served.models_body_for(None if default_list else modalities))
        listed = served.models if default_list else served.listed(modalities)
        models = [m for m in listed if wanted <= set(m.get("supported_parameters") or ())]
        if not paged:
            return json_response(models_page(models, len(models), None))
        try:
            offset = int(params.get("offset", "0"))
            limit = int(params.get("limit", "500"))
        except ValueError:
            return error_response(400, "offset and limit must be whole numbers")
        if offset < 0 or not 1 <= limit <= _MAX_LIMIT:
            return error_response(400, f"offset must be >= 0 and limit between 1 and {_MAX_LIMIT}")
        page = models[offset : offset + limit]
        next_url = None
        if offset + limit < len(models):
            query = f"offset={offset + limit}&limit={limit}"
            if wanted:
                query += "&supported_parameters=" + ",".join(sorted(wanted))
            if not default_list and modalities is not None:
                query += "&output_modalities=" + modalities
            next_url = f"{API_PREFIX}/models?{query}"
        return json_response(models_page(page, len(models), next_url))

    async def _providers(self, request: Request) -> Response:
        served = self._served
        if served.providers_body is None:
            return error_response(
                404,
                f"Providers not found: snapshot {served.info.id} recorded models only",
                {"snapshot": served.info.id},
            )
        return json_response(served.providers_body)

    async def _endpoints(self, request: Request) -> Response:
        served = self._served
        model_ref = endpoints_model(request.scope["path"])
        if model_ref is None:
            return _not_found(request.scope["path"])
        body = served.endpoints_body(model_ref)
        if body is None:
            metadata = None
            if not served.has_endpoints:
                metadata = {"snapshot": served.info.id, "reason": "models-only snapshot: no endpoint data"}
            return error_response(404, f"Model {model_ref} not found", metadata)
        return json_response(body)

    async def _control_state(self, request: Request) -> Response:
        return json_response(self.state())

    async def _control_day(self, request: Request) -> Response:
        body = await _json_object(request)
        if isinstance(body, Response):
            return body
        day = body.get("day")
        if day is not None and not isinstance(day, str):
            return error_response(400, 'body must be {"day": "YYYY-MM-DD"} (or a snapshot id, or null)')
        try:
            await run_in_threadpool(self.set_day, day)
        except NotFoundError as exc:
            return error_response(404, str(exc), {"day": day})
        return json_response(self.state())

    async def _control_faults(self, request: Request) -> Response:
        body = await _json_object(request)
        if isinstance(body, Response):
            return body
        try:
            faults = Faults.from_dict(body)
        except (ConfigError, TypeError) as exc:
            return error_response(400, str(exc))
        await run_in_threadpool(self.set_faults, faults)
        return json_response(self.state())


async def _json_object(request: Request) -> dict[str, Any] | Response:
    try:
        body = await request.json()
    except ValueError:
        return error_response(400, "request body must be a JSON object")
    if not isinstance(body, dict):
        return error_response(400, "request body must be a JSON object")
    return body


def _not_found(path: str) -> Response:
    return error_response(404, f"Not Found: no route for {path}")


async def _http_error(request: Request, exc: Exception) -> Response:
    # Starlette's own 404 / 405 (no route, wrong method) in OpenRouter's error shape instead of plain text.
    if not isinstance(exc, HTTPException):
        raise exc
    if exc.status_code == 404:
        return _not_found(request.scope["path"])
    return error_response(exc.status_code, exc.detail, headers=exc.headers)
