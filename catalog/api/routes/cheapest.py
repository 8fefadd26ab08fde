"""The cheapest endpoint for a workload. Its query parameters are built from ``catalog.cost.query.CHEAPEST``,
the one definition ``catalog cheapest`` builds its options from too.

A program sending its real token counts asks a new query nearly every time, so the uncached answer is the one
that has to be cheap. Three things made it slow, and each has its cut:

* **parameter parsing** — FastAPI validates each of the ~40 declared query parameters per request, most of a
  cached answer's time. ``CheapestRoute`` reads the query string itself when every value is in a plain form
  (digits, a listed choice, ``true``/``false``; no repeated single value): the same values FastAPI would
  produce. Anything else goes through FastAPI's own validation, so errors and edge cases are FastAPI's.
* **ranking** — the snapshot's ``RankIndex`` (built at refresh) ranks one model in plain integers; with it
  ready, a one-model ranking runs on the event loop (no thread hop); every-model rankings and index builds
  go to the thread pool.
* **JSON encoding** — one ``orjson`` pass with Decimal/datetime hooks (``deps.encode``) instead of copying
  the whole answer through ``jsonable`` first.

The body is cached per data version without ``data``/``stale``; those (the age changes by the second) are
appended as each answer is sent.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal
from urllib.parse import parse_qsl

from fastapi import APIRouter, Depends, Query, Request
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response
from starlette.types import Scope, Send

from catalog.api import schemas
from catalog.api.deps import (
    ERRORS,
    AsOf,
    State,
    age_members,
    answer,
    cache_key,
    data_headers,
    decimal,
    encode,
    etag_matches,
    instant,
    resolve,
)
from catalog.api.errors import ApiError
from catalog.api.state import ApiState, View
from catalog.cost.profile import Ranking
from catalog.cost.query import CHEAPEST, CheapestQuery, Param, build_query
from catalog.cost.ranker import RankIndex
from catalog.cost.ranking_json import encode_ranking
from catalog.cost.units import UNIT_COUNTS, WORKLOAD_NAMES, UnitRanking, WorkloadError, rank_endpoints, unit_workload
from catalog.freshness import DataAge
from catalog.times import now

router = APIRouter(tags=["costs"])
SHARE_LENGTH = 40  # a share is sent as decimal text; nothing longer is a share
MODEL_LENGTH = 200


def _annotation(param: Param) -> Any:
    """The parameter's type and its ``Query`` constraints."""
    doc = param.doc
    if param.kind == "count":
        kind: Any = int if param.default is not None else int | None
        return Annotated[kind, Query(ge=param.minimum, le=param.maximum, description=doc)]
    if param.kind == "share":
        return Annotated[str, Query(max_length=SHARE_LENGTH, description=doc)]
    if param.kind == "money":
        return Annotated[str | None, Query(max_length=SHARE_LENGTH, description=doc)]
    if param.kind == "number":
        return Annotated[float | None, Query(ge=0, description=doc)]
    if param.kind == "choice":
        choice: Any = Literal[param.choices]
        return Annotated[choice if param.default is not None else choice | None, Query(description=doc)]
    if param.kind == "names":
        return Annotated[list[str] | None, Query(description=doc)]
    if param.kind == "percent":
        return Annotated[float | None, Query(ge=param.minimum, le=param.maximum, description=doc)]
    return bool


@dataclass(frozen=True)
class Asked:
    model: str | None
    query: CheapestQuery
    as_of: str | None


async def _asked(**values: Any) -> Asked:
    """The request's model, query (checked: a bad share or profile is a 400 here) and ``as_of``."""
    query = build_query(values, lambda text, param: decimal(text, param.name))
    return Asked(values["model"], query, values["as_of"])


def _parameter(name: str, annotation: Any, default: Any) -> inspect.Parameter:
    return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=annotation, default=default)


Model = Annotated[str | None, Query(max_length=200, description="A model id; omit to rank every model.")]
# FastAPI reads a dependency's parameters from its signature: the model, the spec's parameters in order, as_of.
_asked.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
    [
        _parameter("model", Model, None),
        *(_parameter(p.name, _annotation(p), p.default) for p in CHEAPEST),
        _parameter("as_of", AsOf, None),
    ]
)


# The plain forms the fast reader takes; anything else is left to FastAPI's validation.
_WHOLE = re.compile(r"0|[1-9][0-9]{0,12}")
_NUMBER = re.compile(r"(?:0|[1-9][0-9]{0,14})(?:\.[0-9]{1,15})?")
_FLAGS = {"true": True, "false": False, "1": True, "0": False}
_PARAMS = {p.name: p for p in CHEAPEST}
_DEFAULTS: dict[str, Any] = {"model": None, "as_of": None, **{p.name: p.default for p in CHEAPEST}}
# A workload of another kind (``kind=video&seconds=8``): never read by the fast path (``plain_values``).
UNIT_NAMES = frozenset({"kind", *WORKLOAD_NAMES})


def _plain(param: Param, text: str) -> tuple[bool, Any]:
    """``(True, value)`` when ``text`` is in a plain form FastAPI reads as ``value`` and accepts."""
    kind = param.kind
    if kind == "count":
        if not _WHOLE.fullmatch(text):
            return False, None
        value: Any = int(text)
        low, high = param.minimum, param.maximum
        return (low is None or value >= low) and (high is None or value <= high), value
    if kind in ("share", "money"):
        return len(text) <= SHARE_LENGTH, text
    if kind == "choice":
        return text in param.choices, text
    if kind == "flag":
        return text in _FLAGS, _FLAGS.get(text)
    if kind in ("percent", "number"):
        if not _NUMBER.fullmatch(text):
            return False, None
        number = float(text)
        low, high = (param.minimum, param.maximum) if kind == "percent" else (0, None)
        return (low is None or number >= low) and (high is None or number <= high), number
    return False, None


def plain_values(items: list[tuple[str, str]]) -> dict[str, Any] | None:
    """The route's values from the query string when every one is plain (see the module docstring); ``None``
    sends the request through FastAPI's validation instead."""
    values = dict(_DEFAULTS)
    seen: set[str] = set()
    for name, text in items:
        param = _PARAMS.get(name)
        if param is not None and param.kind == "names":
            values[name] = [*(values[name] or ()), text]
            continue
        if name in seen:
            return None  # a repeated single value: FastAPI's rule decides which one counts
        if param is not None:
            ok, value = _plain(param, text)
            if not ok:
                return None
            values[name] = value
        elif name == "model":
            if len(text) > MODEL_LENGTH:
                return None
            values[name] = text
        elif name == "as_of":
            values[name] = text
        elif name in UNIT_NAMES:
            return None  # a workload of another kind (``kind=video&seconds=8``): the route's own path answers it
        else:
            continue  # not the route's: FastAPI ignores it too
        seen.add(name)
    return values


_QUERIES_KEPT = 256
# The plain queries read (``plain_values``), by everything but their token counts: a program sending its real
# counts asks the same query with other counts every time, and ``build_query`` checked the rest already.
_queries: dict[tuple[Any, ...], CheapestQuery] = {}
_COUNTED = ("input", "output")
_UNCOUNTED = tuple(p.name for p in CHEAPEST if p.name not in _COUNTED)


def _key_value(value: Any) -> Any:
    if value.__class__ is list:
        return tuple(value)
    if value.__class__ is float:  # -0.0 and 0.0 are equal keys, and their queries spell them apart
        return (float, str(value))
    return value


def plain_query(values: dict[str, Any]) -> CheapestQuery:
    """``build_query`` of ``plain_values``' ``values`` (a bad share or profile raises here, as there): a query
    seen with other token counts is that one with these counts (``WorkloadProfile.with_tokens``)."""
    key = tuple([_key_value(values[name]) for name in _UNCOUNTED])
    found = _queries.get(key)
    if found is None:
        found = build_query(values, lambda text, param: decimal(text, param.name))
        if len(_queries) >= _QUERIES_KEPT:
            _queries.clear()
        _queries[key] = found
        return found
    profile = found.profile
    counts = values["input"], values["output"]
    if counts == (profile.input_tokens, profile.output_tokens):
        return found
    return CheapestQuery(profile.with_tokens(*counts), found.filters, found.fallbacks)


async def _cheapest(request: Request, state: View, asked: Asked) -> Response:
    """Answer ``asked``: the cached body, else the ranking — inline for one model on a ready index."""
    at = instant(asked.as_of, state, "as_of")
    model_id = resolve(state, asked.model) if asked.model is not None else None
    if state.table is None:
        raise ApiError(503, "no_data", "the history holds no prices yet")
    key = cache_key(request)
    body = state.lookup(key)
    if body is None:
        generation = state.generation
        index = state.ready_index(at) if model_id is not None else None
        if index is not None:  # well under a millisecond: cheaper than the hop to a thread
            body = _encoded(_rank(index, asked, at, model_id))
            state.keep(key, body, generation)
        else:
            body = await run_in_threadpool(state.cached, key, lambda: _build(state, asked, at, model_id))
    return answer(request, state, body, data_at=at)


def _rank(index: RankIndex, asked: Asked, at: datetime, model_id: str | None) -> Ranking:
    query = asked.query
    return index.rank(query.profile, query.filters, model=model_id, fallbacks=query.fallbacks, at=at)


def _build(state: View, asked: Asked, at: datetime, model_id: str | None) -> bytes:
    index = state.rank_index(at)
    if index is None:
        raise ApiError(503, "no_data", "the history holds no prices yet")
    return _encoded(_rank(index, asked, at, model_id))


def _encoded(ranking: Ranking) -> bytes:
    """The answer's JSON without ``data`` (appended per response, with ``stale``): written from the ranking's
    integers and per-endpoint pieces (``catalog.cost.ranking_json``) when its rows are the index's."""
    fast = encode_ranking(ranking)
    if fast is not None:
        return fast
    body = ranking.to_dict(spelt=True)
    body.pop("data", None)
    return encode(body)


_PATH = "/v1/cheapest"
_KNOWN = frozenset(_DEFAULTS) | UNIT_NAMES  # the route's query parameters: what ``cache_key`` keeps of a query
_JSON = (b"content-type", b"application/json")


def _name(item: tuple[str, str]) -> str:
    return item[0]


async def fast_answer(api: ApiState, scope: Scope, send: Send, extra: tuple[tuple[bytes, bytes], ...] = ()) -> bool:
    """Answer a plain ``GET /v1/cheapest`` for one model whose rank index is ready, beside the framework (the
    app calls this before its middleware and router); True when it sent the answer (``fast_response``)."""
    found = fast_response(api, scope["query_string"], scope["headers"], extra)
    if found is None:
        return False
    status, headers, body = found
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
    return True


def fast_response(
    api: ApiState, raw: bytes, request_headers: list[tuple[bytes, bytes]], extra: tuple[tuple[bytes, bytes], ...] = ()
) -> tuple[int, list[tuple[bytes, bytes]], bytes] | None:
    """The status, raw headers and body of a plain ``GET /v1/cheapest?{raw}`` for one model whose rank index is
    ready, or None to leave the request to the route. Synchronous: the served protocol calls it as soon as a
    request's headers are in (``catalog.asgi_server``), the app's fast path (``fast_answer``) otherwise.

    The same bytes and headers as the route, from the same steps (``plain_values``, ``build_query``,
    ``instant``, ``resolve``, the state's response cache under the route's ``cache_key``, ``_encoded``,
    ``answer``), without the framework's per-request objects; ``extra``: the headers the app's middleware
    would add (its security headers), last as the middleware sends them. Whatever it does not answer here — a
    query that is not plain, every model at once, an index still building, any error — it leaves to the route
    (None), which answers it as it always did: errors keep their one shape and status.

    A query string read once is kept as a template (``_Template``) under its bytes with the digits of its
    ``input`` and ``output`` left out: a program sending its real token counts asks the same query with other
    counts every time, and the template gives its model, ``as_of``, query and cache key without reading the
    other parameters again."""
    if not raw.isascii():
        return None
    # One pass of the count pattern: the query's pieces around its counts (``_COUNTS``' groups in between).
    pieces = _COUNTS.split(raw)
    counts: list[tuple[bytes, bytes]] = []
    shape = raw
    if len(pieces) > 1:
        counts = list(zip(pieces[1::3], pieces[2::3], strict=True))
        pieces[2::3] = _BLANK * len(counts)
        shape = b"\xff".join(pieces)  # no query has the byte (it is ASCII): the pieces are told apart
    templates: dict[bytes, _Template] = api.query_templates
    template = templates.get(shape)
    try:
        if template is not None:
            filled = template.fill(counts)
            if filled is not None:
                return _fast(api, request_headers, template.model, template.as_of, *filled, extra, template)
        items = parse_qsl(raw.decode("ascii"), keep_blank_values=True)  # as Starlette's ``QueryParams`` reads it
        values = plain_values(items)
        if values is None or values["model"] is None:
            return None
        query = plain_query(values)
        key = (_PATH, tuple(sorted([item for item in items if item[0] in _KNOWN], key=_name)))
        found = _fast(api, request_headers, values["model"], values["as_of"], query, key, extra)
        if found is not None and template is None and len(counts) == len({name for name, _ in counts}):
            # Kept once answered here: a query this path leaves to the route is read in full each time.
            if len(templates) >= _TEMPLATES_KEPT:
                templates.clear()
            templates[shape] = _Template(values["model"], values["as_of"], query, key)
        return found
    except Exception:  # the route answers it: the same error, in the API's one shape
        return None


# An ``input`` or ``output`` parameter whose value is plain digits, as a whole ``&``-separated pair (the names
# as sent: a percent-escaped name stays in the template's bytes, and so does any other spelling of a count).
# A template's key has the pieces between them joined by a byte no query has, each count's digits left out:
# ``input=`` (blank) is another template than ``input=5``.
_COUNTS = re.compile(rb"(?<![^&])(input|output)=([0-9]+)(?![^&])")
_BLANK = [b""]
_TEMPLATES_KEPT = 256


class _Template:
    """What a plain query string reads as (``plain_values`` + ``plain_query``, and the route's cache key), for
    the same string with other digits in its ``input`` / ``output`` pairs: ``fill`` puts those in. ``context``:
    what its last answer found beside the ranking (``_Context``), for the next ones of the same second."""

    __slots__ = ("as_of", "context", "counted", "key", "model", "query")

    def __init__(self, model: str, as_of: str | None, query: CheapestQuery, key: tuple[Any, ...]) -> None:
        self.model, self.as_of, self.query, self.key = model, as_of, query, key
        # Where each count sits in the cache key's items (sorted by name: the same place for every filling).
        self.counted = {name: i for i, (name, _) in enumerate(key[1]) if name in _COUNTED}
        self.context: _Context | None = None

    def fill(self, counts: list[tuple[bytes, bytes]]) -> tuple[CheapestQuery, tuple[Any, ...]] | None:
        """The query and cache key with these counts (the ones the template was read with, at most once each);
        None for a count ``plain_values`` would not take: the general reading then decides."""
        query = self.query
        profile = query.profile
        tokens = {"input": profile.input_tokens, "output": profile.output_tokens}
        items = list(self.key[1])
        for name_bytes, digits in counts:
            name, text = name_bytes.decode("ascii"), digits.decode("ascii")
            ok, value = _plain(_PARAMS[name], text)
            if not ok:
                return None
            tokens[name] = value
            items[self.counted[name]] = (name, text)
        if (tokens["input"], tokens["output"]) != (profile.input_tokens, profile.output_tokens):
            profile = profile.with_tokens(tokens["input"], tokens["output"])
            query = CheapestQuery(profile, query.filters, query.fallbacks)
        return query, (_PATH, tuple(items))


_HEADS_KEPT = 64
# The response heads of one data version, data age (by the second) and app: (the 304's headers, the 200's
# before its content-length, after it). Every answer of that second shares them; ``_fast`` adds the length.
_heads: dict[tuple[str, DataAge | None, tuple[tuple[bytes, bytes], ...]], tuple[list[Any], list[Any], list[Any]]]
_heads = {}


def _head(
    state: View, age: DataAge | None, extra: tuple[tuple[bytes, bytes], ...]
) -> tuple[list[Any], list[Any], list[Any]]:
    key = (state.etag, age, extra)
    found = _heads.get(key)
    if found is None:
        data = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in data_headers(state, age).items()]
        found = ([*data, *extra], data, [_JSON, *extra])
        if len(_heads) >= _HEADS_KEPT:
            _heads.clear()
        _heads[key] = found
    return found


_SECOND = timedelta(seconds=1)


class _Context:
    """What an answer finds beside its ranking — its instant, the model id, the rank index, the data's age, the
    response heads and the body's ``data`` members — for one data state, query (model and ``as_of``) and app,
    while the data's age is the same whole number of seconds: ``since`` to ``until``. Found once, it serves
    every answer of that template in that second (the steps of ``_fast`` below, not repeated)."""

    __slots__ = ("age", "at", "data", "extra", "heads", "index", "members", "model_id", "since", "stale_after", "until")

    def __init__(self, state: View, model: str, as_of: str | None, extra: tuple[Any, ...], t: datetime) -> None:
        self.data, self.extra, self.at = state.data, extra, instant(as_of, state, "as_of")
        self.model_id = resolve(state, model)
        self.index = state.ready_index(self.at) if state.table is not None else None
        log, self.stale_after = state.data.log, state.stale_after
        self.age = age = log.age(self.at, self.stale_after, when=t)
        self.heads, self.members = _head(state, age, extra), age_members(age)
        self.since = self.until = None
        newest = log.newest
        # The age is whole seconds since the newest snapshot; an ``as_of`` omitted is that snapshot from then on.
        if age is not None and newest is not None and t >= newest:
            self.since = newest + timedelta(seconds=age.age_seconds)
            self.until = self.since + _SECOND


def _context(
    api: ApiState, model: str, as_of: str | None, extra: tuple[Any, ...], template: _Template | None
) -> tuple[View, _Context]:
    """The state to answer from and its ``_Context`` for this query now: the template's while it holds."""
    state = api.pin()
    t = now()
    found = template.context if template is not None else None
    if (
        found is not None
        and found.data is state.data
        and found.extra == extra
        and found.stale_after == state.stale_after
        and found.since is not None
        and found.since <= t < found.until  # type: ignore[operator]  # set together
        and found.index is not None
    ):
        return state, found
    made = _Context(state, model, as_of, extra, t)
    if template is not None:
        template.context = made
    return state, made


def _fast(
    api: ApiState,
    request_headers: list[tuple[bytes, bytes]],
    model: str,
    as_of: str | None,
    query: CheapestQuery,
    key: tuple[Any, ...],
    extra: tuple[tuple[bytes, bytes], ...] = (),
    template: _Template | None = None,
) -> tuple[int, list[tuple[bytes, bytes]], bytes] | None:
    """``_cheapest`` without the framework: the status, raw headers and body ``answer`` would send (the same
    steps: the instant, the model, the cached body or the ranking, the data's age, the heads; ``_Context``)."""
    state, context = _context(api, model, as_of, extra, template)
    if state.table is None:
        return None
    body = state.lookup(key)
    if body is None:
        generation = state.generation
        index, at, model_id = context.index, context.at, context.model_id
        if index is None:
            return None
        body = _encoded(_rank(index, Asked(model_id, query, as_of), at, model_id))
        state.keep(key, body, generation)
    not_modified, before, after = context.heads
    match = next((value for name, value in request_headers if name == b"if-none-match"), None)
    if match is not None and etag_matches(match.decode("latin-1"), state.etag):
        return 304, not_modified, b""
    body = body[:-1] + context.members  # ``with_data``
    return 200, [*before, (b"content-length", str(len(body)).encode()), *after], body


class CheapestRoute(APIRoute):
    """``/v1/cheapest`` as declared (its OpenAPI parameters, FastAPI's validation for anything unusual), with
    plain queries read without FastAPI's per-parameter validation (``plain_values``)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        validated = super().get_route_handler()

        async def handler(request: Request) -> Response:
            values = plain_values(request.query_params.multi_items())
            if values is None:
                return await validated(request)
            query = plain_query(values)
            api: ApiState = request.app.state.catalog
            return await _cheapest(request, api.pin(), Asked(values["model"], query, values["as_of"]))

        return handler


async def cheapest(
    request: Request,
    state: State,
    asked: Annotated[Asked, Depends(_asked)],
    units: Annotated[UnitsAsked, Depends(_units_asked)],
) -> Response:
    """Rank endpoints by what the workload costs (per request, exact, and per M tokens), with why, and the
    OpenRouter ``provider`` routing object that pins the choice. The same answer as ``catalog cheapest``,
    plus ``stale`` and the data's age (also in the ``X-Data-Age`` / ``X-Data-Stale`` headers).

    With ``kind`` (embeddings, image, video, speech, transcription, rerank, audio): the endpoints of that kind
    of model ranked by the exact cost of a workload in their own units — ``seconds`` (with ``resolution``),
    ``characters``, ``minutes``, ``searches``, ``songs``, ``megapixels``, ``images`` (made), embeddings'
    ``input`` tokens — at the SKU prices in force: the same answer as ``catalog cheapest --kind … --json``
    (``as_of``, ``kind``, ``model``, ``workload``, ``ranked`` with ``rank`` / ``cost`` / ``terms`` / ``skus``,
    ``ties``, ``excluded`` with the ``reason``, ``data``, ``stale``); equal costs share a rank."""
    if units.kind is not None or units.given:
        return await _cheapest_units(request, state, asked, units)
    return await _cheapest(request, state, asked)


# -- other kinds of model, priced in their own units ---------------------------------------------------------

_COUNT_DOC = {
    "seconds": "Non-text workload (with `kind`): seconds of video.",
    "characters": "Non-text workload: characters of speech.",
    "minutes": "Non-text workload: minutes of audio (transcription).",
    "searches": "Non-text workload: search units (rerank).",
    "songs": "Non-text workload: songs (music).",
    "megapixels": "Non-text workload: megapixels (images).",
}


@dataclass(frozen=True)
class UnitsAsked:
    kind: str | None
    counts: dict[str, str | None]
    resolution: str | None
    variant: str | None

    @property
    def given(self) -> list[str]:
        """The workload parameters given (beside ``kind``)."""
        named = {**self.counts, "resolution": self.resolution, "variant": self.variant}
        return [name for name, value in named.items() if value is not None]


async def _units_asked(**values: Any) -> UnitsAsked:
    return UnitsAsked(
        values["kind"], {name: values[name] for name in UNIT_COUNTS}, values["resolution"], values["variant"]
    )


_units_asked.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
    [
        _parameter(
            "kind",
            Annotated[
                str | None,
                Query(
                    max_length=SHARE_LENGTH,
                    description="Rank the endpoints of this kind of model in their own units: embeddings, image, "
                    "video, speech, transcription, rerank, audio (music). Omit for text models.",
                ),
            ],
            None,
        ),
        *(
            _parameter(name, Annotated[str | None, Query(max_length=SHARE_LENGTH, description=doc)], None)
            for name, doc in _COUNT_DOC.items()
        ),
        _parameter(
            "resolution",
            Annotated[str | None, Query(max_length=SHARE_LENGTH, description="Non-text workload: 720p, 1080p, 4k…")],
            None,
        ),
        _parameter(
            "variant",
            Annotated[
                str | None,
                Query(
                    max_length=SHARE_LENGTH,
                    description="Non-text workload: a SKU variant every price used must carry (multilingual, "
                    "with_audio…).",
                ),
            ],
            None,
        ),
    ]
)


async def _cheapest_units(request: Request, state: View, asked: Asked, units: UnitsAsked) -> Response:
    """``/v1/cheapest?kind=…``: ``Catalog.cheapest_units``'s ranking (``catalog.cost.units.rank_endpoints``)
    over the SKU prices in force at ``as_of``; a bad workload is a 400 naming the parameter and the fix."""
    if units.kind is None:
        raise ApiError(
            400,
            "bad_parameter",
            f"{units.given[0]}: prices a workload of another kind of model; add kind (video, speech, image, …)",
            {"parameter": units.given[0]},
        )
    counts = {name: decimal(text, name) if text is not None else None for name, text in units.counts.items()}
    profile = asked.query.profile
    try:
        wanted, workload = unit_workload(
            units.kind,
            counts,
            units.resolution,
            units.variant,
            {"input": profile.input_tokens, "images": profile.images},
        )
    except WorkloadError as err:
        raise ApiError(400, "bad_parameter", f"{err.parameter}: {err}", {"parameter": err.parameter}) from None
    at = instant(asked.as_of, state, "as_of")
    model_id = resolve(state, asked.model) if asked.model is not None else None

    def build() -> bytes:
        rows = state.unit_candidates(at, model_id)
        ranked, excluded = rank_endpoints(rows, workload, wanted)
        body = UnitRanking(at, wanted, model_id, workload, ranked, excluded).to_dict()
        body.pop("data")  # appended per response, with ``stale`` (the age changes by the second)
        return encode(body)

    body = await run_in_threadpool(state.cached, cache_key(request), build)
    return answer(request, state, body, data_at=at)


router.add_api_route(
    "/v1/cheapest",
    cheapest,
    methods=["GET"],
    # two answers: the token ranking, or with ``kind`` the ranking in the kind's own units (``_cheapest_units``)
    response_model=schemas.Cheapest | schemas.UnitCheapest,
    responses=ERRORS,
    route_class_override=CheapestRoute,
)
