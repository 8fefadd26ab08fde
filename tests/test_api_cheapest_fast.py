"""``/v1/cheapest`` reads plain query strings itself (``catalog.api.routes.cheapest.plain_values``) and leaves
anything else to FastAPI's validation. Both readings must give the same answer, byte for byte, for every query
either accepts, and the same error for every query FastAPI refuses."""

from __future__ import annotations

import gc
import re
import socket
import time
import weakref
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest
import uvicorn
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from catalog.api import ApiState, create_app, settle_heap
from catalog.api.deps import _query_names
from catalog.api.routes import cheapest as route
from catalog.asgi_server import bind, serve_config, serve_in_thread
from catalog.cost.query import CHEAPEST
from catalog.cost.workload import EndpointFilters, WorkloadProfile
from catalog.exact_json import jsonable
from catalog.library import Catalog
from catalog.settings import ServeSettings
from catalog.store.db import connect
from catalog.times import use_clock

MODEL = "deepseek/deepseek-v3.2"
CLOCK = datetime(2026, 12, 2, 12, tzinfo=UTC)
QUERIES: list[list[tuple[str, str]]] = [
    [("model", MODEL)],
    [("model", MODEL), ("input", "20000"), ("output", "1000"), ("cache_hit", "0.8"), ("as_of", "2026-08-01")],
    [("model", MODEL), ("input", "250000"), ("output", "2000"), ("tools", "true"), ("structured_output", "1")],
    [("model", MODEL), ("reasoning_effort", "high"), ("sort", "throughput"), ("order", "baidu"), ("order", "novita")],
    [("model", MODEL), ("quantization", "fp8"), ("quantization", "bf16"), ("no_training", "true")],
    [("model", MODEL), ("min_uptime", "99.5"), ("preferred_max_latency", "1.5"), ("max_price_prompt", "0.3")],
    [("model", MODEL), ("exclude_provider", "siliconflow"), ("fallbacks", "0"), ("any_status", "false")],
    [("model", MODEL), ("zdr", "true"), ("allow_fallbacks", "true"), ("unknown", "ignored")],
    [("input", "20000"), ("output", "1000")],  # every model: ranked off the event loop
    [("model", MODEL), ("as_of", "2025-06-01")],  # before the endpoint history
    # Not plain, so FastAPI reads them: the same answers (or errors) as it always gave.
    [("model", MODEL), ("tools", "yes")],
    [("model", MODEL), ("input", "20000"), ("input", "30000")],
    [("model", MODEL), ("input", "007")],
    [("model", MODEL), ("input", "-1")],
    [("model", MODEL), ("input", str(10**13))],
    [("model", MODEL), ("min_uptime", "101")],
    [("model", MODEL), ("min_uptime", "1e1")],
    [("model", MODEL), ("cache_ttl", "2h")],
    [("model", MODEL), ("cache_hit", "x" * 41)],
    [("model", MODEL), ("cache_hit", "2")],
    [("model", "no/such-model")],
    [("model", MODEL), ("as_of", "yesterday")],
]


@pytest.fixture(scope="module")
def answers(replayed_template: Path) -> Iterator[dict[str, list[tuple[int, bytes]]]]:
    """Every query's status and body, read the plain way and FastAPI's way (each on a fresh state)."""
    con = connect(replayed_template, read_only=True)
    found: dict[str, list[tuple[int, bytes]]] = {}
    try:
        for reading in ("plain", "validated"):
            with pytest.MonkeyPatch.context() as patch, use_clock(CLOCK):
                if reading == "validated":
                    patch.setattr(route, "plain_values", lambda items: None)
                with TestClient(create_app(ApiState(con, replayed_template))) as client:
                    responses = [client.get("/v1/cheapest", params=q) for q in QUERIES]
                    found[reading] = [(r.status_code, r.content) for r in responses]
        yield found
    finally:
        con.close()


def test_plain_and_validated_readings_answer_the_same(answers: dict[str, list[tuple[int, bytes]]]) -> None:
    for query, plain, validated in zip(QUERIES, answers["plain"], answers["validated"], strict=True):
        assert plain == validated, query
    statuses = [status for status, _ in answers["plain"]]
    assert statuses[:11] == [200] * 11 and 400 in statuses and 404 in statuses  # both kinds were exercised


def test_plain_values_take_exactly_the_plain_forms() -> None:
    values = route.plain_values([("model", MODEL), ("input", "5"), ("parameter", "tools"), ("parameter", "seed")])
    assert values is not None
    assert values["model"] == MODEL and values["input"] == 5 and values["parameter"] == ["tools", "seed"]
    defaults: dict[str, Any] = {p.name: p.default for p in CHEAPEST}
    assert {k: v for k, v in values.items() if k not in ("model", "input", "parameter", "as_of")} == {
        k: v for k, v in defaults.items() if k not in ("input", "parameter")
    }
    for items in (
        [("input", "5.0")],
        [("input", "+5")],
        [("tools", "True")],
        [("sort", "cost")],
        [("model", "m" * 201)],
        [("as_of", "2026-08-01"), ("as_of", "2026-08-02")],
        [("min_uptime", "-1")],
        [("preferred_min_throughput", "nan")],
    ):
        assert route.plain_values(items) is None, items


def test_the_one_pass_encoding_spells_what_jsonable_spells(replayed_template: Path) -> None:
    with Catalog.open(replayed_template) as cat:
        for as_of in (None, "2026-07-20", "2025-06-01"):
            for model in (MODEL, "anthropic/claude-sonnet-4.5", None):
                profile = WorkloadProfile(250_000, 2_000, cache_hit=Decimal("0.5"), images=1)
                ranking = cat.cheapest(model, profile, as_of=as_of, filters=EndpointFilters(status_ok=False))
                expected = ranking.to_dict()
                assert expected.pop("data") is not None
                assert route._encoded(ranking) == orjson.dumps(jsonable(expected)), (as_of, model)


def test_the_framework_free_path_answers_what_the_route_answers(replayed_template: Path) -> None:
    """A plain one-model ``GET`` is answered before FastAPI (``fast_answer``); with that path off the route
    answers: the same status, raw headers and body, cached or not, a 304 for a current ETag included."""
    con = connect(replayed_template, read_only=True)
    taken: list[bool] = []
    real = route._fast

    def counted(*args: Any) -> Any:
        found = real(*args)
        taken.append(found is not None)
        return found

    async def off(*args: Any) -> bool:
        return False

    found: dict[str, list[tuple[int, list[tuple[bytes, bytes]], bytes]]] = {}
    try:
        for way in ("fast", "route"):
            with pytest.MonkeyPatch.context() as patch, use_clock(CLOCK):
                patch.setattr(route, "_fast", counted)
                if way == "route":
                    patch.setattr(route, "fast_answer", off)
                with TestClient(create_app(ApiState(con, replayed_template))) as client:
                    responses = [client.get("/v1/cheapest", params=q) for q in [*QUERIES[:10], QUERIES[1]]]
                    etag = responses[1].headers["etag"]
                    for match in (etag, f"W/{etag}", '"other"', "*"):
                        responses.append(
                            client.get("/v1/cheapest", params=QUERIES[1], headers={"If-None-Match": match})
                        )
                    responses.append(client.head("/v1/cheapest", params=QUERIES[1]))
                    found[way] = [(r.status_code, r.headers.raw, r.content) for r in responses]
    finally:
        con.close()
    assert found["fast"] == found["route"]
    statuses = [status for status, _, _ in found["fast"]]
    assert statuses == [200] * 11 + [304, 304, 200, 304, 200]
    # Most were answered by the fast path: not every model at once, nor a snapshot whose index is not built yet
    # (the route builds it off the event loop), nor HEAD; a repeated query is, from the cache the route filled.
    assert taken.count(True) >= 10 and taken[-5:] == [True] * 5
    assert all(b"x-data-age" in dict(h) for _, h, _ in found["fast"])


def test_a_query_read_once_answers_other_counts_as_a_fresh_reading_does(replayed_template: Path) -> None:
    """The framework-free path keeps what a query string reads as under its shape (the digits of its ``input``
    and ``output`` left out) and fills in the counts of the next one: the same status, headers and body as a
    state that reads that string afresh. A count spelt otherwise (blank, a leading zero, repeated, too large)
    is not filled in: it is read as before, so the route answers it."""
    con = connect(replayed_template, read_only=True)
    plain = f"model={MODEL}&input={{}}&output={{}}&cache_hit=0.8&order=baidu".format
    try:
        with use_clock(CLOCK):
            kept, fresh = ApiState(con, replayed_template), ApiState(con, replayed_template)
            assert route.fast_response(kept, plain(20000, 1000).encode(), []) is not None
            assert len(kept.query_templates) == 1
            for raw in (plain(20001, 1000), plain(0, 0), plain(250000, 2000), plain(20000, 1000) + "&sort=latency"):
                fresh.query_templates.clear()
                filled, read = route.fast_response(kept, raw.encode(), []), route.fast_response(fresh, raw.encode(), [])
                assert filled is not None and filled == read, raw
            assert len(kept.query_templates) == 2  # the last one has another shape: a template of its own
            for raw in (plain("", 1000), plain("007", 1000), plain(5, 1000) + "&input=6", plain(10**13, 1)):
                assert route.fast_response(kept, raw.encode(), []) is None, raw
            assert len(kept.query_templates) == 2
    finally:
        con.close()


def test_a_template_answers_with_the_data_age_of_the_second_it_answers_in(replayed_template: Path) -> None:
    """What a template keeps beside the ranking (``_Context``: instant, model, index, data age, heads) serves
    only the second it was found in: later answers carry their own age, in the body and the headers, as a
    state reading the query afresh gives them; a refreshed state is never answered from an older one's."""
    con = connect(replayed_template, read_only=True)
    plain = f"model={MODEL}&input={{}}&output=1000&cache_hit=0.8".format
    try:
        kept = ApiState(con, replayed_template)
        ages = []
        for step, seconds in enumerate((0.0, 0.4, 0.999, 1.0, 61.5, 86_400.0)):
            with use_clock(CLOCK + timedelta(seconds=seconds)):
                fresh = ApiState(con, replayed_template)
                raw = plain(20_000 + step).encode()
                filled, read = route.fast_response(kept, raw, []), route.fast_response(fresh, raw, [])
                assert filled is not None and filled == read, seconds
                ages.append(dict(filled[1])[b"x-data-age"])
        assert len(kept.query_templates) == 1  # every answer after the first came from the one template
        assert ages[0] == ages[1] == ages[2] != ages[3] != ages[4] != ages[5]
        with use_clock(CLOCK):
            assert kept.refresh(force=True)  # a new state: the template's context is of the old one
            raw = plain(30_000).encode()
            filled, read = (
                route.fast_response(kept, raw, []),
                route.fast_response(ApiState(con, replayed_template), raw, []),
            )
            assert filled is not None and filled == read
    finally:
        con.close()


def test_the_fast_path_keys_its_cache_as_the_route_does() -> None:
    """``cache_key`` keeps the route's own query parameters (its dependencies' included); the fast path keeps
    the same ones, so the two fill and read one cache."""
    (declared,) = [r for r in route.router.routes if getattr(r, "path", None) == "/v1/cheapest"]
    assert isinstance(declared, APIRoute)
    assert _query_names(declared) == route._KNOWN and {"model", "as_of", "input", "order"} <= route._KNOWN


def test_settling_the_heap_frees_cycles_and_freezes_what_is_alive() -> None:
    """``settle_heap`` (after a state loads or a refresh swaps one in) collects what is garbage, then freezes the
    rest: a full collection no longer traverses it, so it cannot pause requests for the state's size."""

    class Node:
        pass

    alive, dead = [Node()], Node()
    dead.itself = dead  # type: ignore[attr-defined]  # a cycle only the collector frees
    gone = weakref.ref(dead)
    del dead
    try:
        settle_heap()
        assert gone() is None  # collected before the freeze, not kept forever
        assert gc.get_freeze_count() > 0 and not any(o is alive for o in gc.get_objects())
    finally:
        gc.unfreeze()
    assert any(o is alive for o in gc.get_objects())  # tracked again once unfrozen


def _exchange(port: int, requests: bytes, responses: int) -> list[tuple[bytes, bytes]]:
    """Send ``requests`` at once on one connection; read ``responses`` answers (head, body) in order."""
    sock = socket.create_connection(("127.0.0.1", port))
    sock.settimeout(30)
    data, found = b"", []
    try:
        sock.sendall(requests)
        while len(found) < responses:
            head, sep, rest = data.partition(b"\r\n\r\n")
            sized = re.search(rb"content-length: (\d+)", head)
            length = int(sized.group(1)) if sized else 0  # a 304 has no body
            if sep and len(rest) >= length:
                found.append((head, rest[:length]))
                data = rest[length:]
                continue
            chunk = sock.recv(65536)
            assert chunk, f"closed after {len(found)} answers"
            data += chunk
    finally:
        sock.close()
    return found


def _get(query: str, *headers: str) -> bytes:
    return "".join(
        [f"GET /v1/cheapest?{query} HTTP/1.1\r\nHost: test\r\n", *(h + "\r\n" for h in headers), "\r\n"]
    ).encode()


def test_the_served_protocol_answers_plain_cheapest_requests_at_once_with_the_apps_bytes(
    replayed_template: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``catalog serve``'s protocol answers a plain ``GET /v1/cheapest`` as soon as its headers are in
    (``CatalogApi.answer_now``): the same status, headers and body as the app answers over ASGI, pipelined
    requests still answered in order (one the shortcut does not take between two it does), a 304 included, and
    no read deadline left behind."""
    from catalog.api.app import CatalogApi

    taken: list[bool] = []
    real = CatalogApi.answer_now

    def counted(self: CatalogApi, *args: Any) -> Any:
        found = real(self, *args)
        taken.append(found is not None)
        return found

    queries = [f"model={MODEL}&input={20000 + i}&output=1000&cache_hit=0.8" for i in range(3)]
    etag_query = f"model={MODEL}&input=30000"
    pipelined = b"".join(
        [
            _get(queries[0]),
            _get(queries[1]),
            b"GET /v1/models?limit=1 HTTP/1.1\r\nHost: test\r\n\r\n",  # not the shortcut's: the app answers it
            _get(queries[2]),  # behind a request in flight: left to the app, to keep the order
        ]
    )
    answers: dict[str, list[tuple[bytes, bytes]]] = {}
    con = connect(replayed_template, read_only=True)
    try:
        for way in ("at once", "asgi"):
            with pytest.MonkeyPatch.context() as patch, use_clock(CLOCK):
                patch.setattr(CatalogApi, "answer_now", counted if way == "at once" else lambda *args: None)
                config = serve_config(create_app(ApiState(con, replayed_template)), ServeSettings(0.5, 0.5))
                sock = bind("127.0.0.1", 0)
                port = sock.getsockname()[1]
                with serve_in_thread(uvicorn.Server(config), sock, name=f"cheapest {way}"):
                    found = _exchange(port, pipelined, 4)
                    found += _exchange(port, _get(f"model={MODEL}&input=abc"), 1)  # not plain: the route's 400
                    (etag_answer,) = _exchange(port, _get(etag_query), 1)
                    etag = re.search(rb"etag: (\S+)", etag_answer[0]).group(1).decode()  # type: ignore[union-attr]
                    found += _exchange(port, _get(etag_query, f"If-None-Match: {etag}"), 1)
                    keep = socket.create_connection(("127.0.0.1", port))  # idle past both deadlines, then asked
                    try:
                        keep.sendall(_get(queries[0]))
                        keep.recv(65536)
                        time.sleep(1.5)
                        keep.sendall(_get(queries[1]))
                        assert keep.recv(65536).startswith(b"HTTP/1.1 200"), way
                    finally:
                        keep.close()
                answers[way] = [(re.sub(rb"date: [^\r]*\r\n", b"", head), body) for head, body in found]
    finally:
        con.close()
    assert answers["at once"] == answers["asgi"]
    statuses = [int(head.split(b" ")[1]) for head, _ in answers["at once"]]
    assert statuses == [200, 200, 200, 200, 400, 304]
    inputs = [orjson.loads(answers["at once"][i][1])["profile"]["input_tokens"] for i in (0, 1, 3)]
    assert inputs == [20000, 20001, 20002] and b'"items"' in answers["at once"][2][1]
    assert orjson.loads(answers["at once"][4][1])["error"]["code"] == "bad_parameter"
    assert b"content-security-policy" in answers["at once"][5][0]  # the 304 keeps the security headers
    # Answered at once: the first two, the ETag's pair and the idle connection's two; the models list and the
    # bad query were the app's (the request queued behind the models list never reached the shortcut).
    assert taken == [True, True, False, False, True, True, True, True]


def test_catalog_up_s_app_answers_at_once_with_the_bytes_it_sends(replayed_template: Path, tmp_path: Path) -> None:
    """``catalog up`` serves the API mounted in its own app: the served protocol's shortcut reaches the API's
    (``ServiceApp.answer_now``) and gives the status, headers and body the whole app sends for the same request,
    and leaves every other path to the app."""
    from jobs.app import build_app
    from jobs.config import load_config
    from jobs.context import JobContext
    from jobs.scheduler import build_scheduler
    from jobs.sources import make_source

    con = connect(replayed_template, read_only=True)
    try:
        ctx = JobContext(
            con=con, db=replayed_template, config=load_config(None, source="replay"), source=make_source("replay")
        )
        ctx.reader = con.cursor()
        api = create_app(ApiState(con.cursor(), replayed_template))
        app = build_app(
            ctx, build_scheduler(ctx), url="http://127.0.0.1:1", started_at=CLOCK, token="t", api=api, site=None
        )
        headers = [(b"host", b"testserver")]
        with use_clock(CLOCK), TestClient(app) as client:
            for query in (f"model={MODEL}&input=20000&output=1000&cache_hit=0.8", f"model={MODEL}&input=31234"):
                found = app.answer_now(b"/v1/cheapest", query.encode(), headers)  # type: ignore[attr-defined]
                assert found is not None
                response = client.get(f"/v1/cheapest?{query}")
                assert (response.status_code, response.headers.raw, response.content) == found
            assert app.answer_now(b"/health", b"", headers) is None  # type: ignore[attr-defined]
            assert app.answer_now(b"/v1/models", b"", headers) is None  # type: ignore[attr-defined]
    finally:
        con.close()
