"""The fake OpenRouter over real HTTP on loopback: routes, error shapes, day switching, every fault knob."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from catalog.errors import ConfigError, NotFoundError
from catalog.fake import (
    FakeOpenRouter,
    Faults,
    MemorySource,
    memory_day,
    resolve_day,
    serve_in_thread,
)
from catalog.settings import PROJECT_ROOT

V1 = "/api/v1"


def model(model_id: str, prompt: str, completion: str, **extra: Any) -> dict[str, Any]:
    """A v1 Model in the July 2026 shape (zero-valued optional price keys included on purpose)."""
    canonical = extra.pop("canonical_slug", model_id)
    body = {
        "id": model_id,
        "canonical_slug": canonical,
        "hugging_face_id": None,
        "name": model_id.upper(),
        "created": 1784000000,
        "context_length": 131072,
        "architecture": {
            "modality": "text->text",
            "input_modalities": ["text"],
            "output_modalities": ["text"],
            "tokenizer": "Other",
            "instruct_type": None,
        },
        "pricing": {"prompt": prompt, "completion": completion, "request": "0", "image": "0"},
        "top_provider": {"context_length": 131072, "max_completion_tokens": 8192, "is_moderated": False},
        "per_request_limits": None,
        "supported_parameters": ["max_tokens", "temperature"],
        "default_parameters": {},
        "supported_voices": None,
        "knowledge_cutoff": None,
        "expiration_date": None,
        "links": {"details": f"/api/v1/models/{canonical}/endpoints"},
    }
    body.update(extra)
    return body


def listing(m: dict[str, Any], *providers: str) -> dict[str, Any]:
    """The /endpoints data object of a model, one endpoint per provider at the model's prices."""
    endpoints = [
        {
            "name": f"{p} | {m['canonical_slug']}",
            "model_id": m["canonical_slug"],
            "model_name": m["name"],
            "context_length": 131072,
            "pricing": {**m["pricing"], "discount": 0},
            "provider_name": p,
            "tag": p.lower(),
            "quantization": "fp8",
            "max_completion_tokens": 8192,
            "max_prompt_tokens": None,
            "supported_parameters": list(m["supported_parameters"]),
            "status": 0,
            "uptime_last_30m": 99.5,
            "uptime_last_5m": 100.0,
            "uptime_last_1d": 99.9,
            "supports_implicit_caching": False,
            "latency_last_30m": {"p50": 300, "p75": 400, "p90": 500, "p99": 900},
            "throughput_last_30m": {"p50": 80, "p75": 70, "p90": 60, "p99": 20},
        }
        for p in providers
    ]
    return {
        "id": m["id"],
        "name": m["name"],
        "created": m["created"],
        "description": "",
        "architecture": m["architecture"],
        "endpoints": endpoints,
    }


GEMMA_FREE = model("google/gemma-4-31b-it:free", "0", "0", canonical_slug="google/gemma-4-31b-it-20260402")
GEMMA = model("google/gemma-4-31b-it", "0.0000001", "0.0000003", canonical_slug="google/gemma-4-31b-it-20260402")
FABLE = model(
    "~anthropic/claude-fable-latest",
    "0.00001",
    "0.00005",
    alias_target={"name": "Anthropic: Claude Fable 5", "slug": "anthropic/claude-fable-5"},
)
GPT = model(
    "openai/gpt-5.2",
    "0.00000125",
    "0.00001",
    supported_parameters=["max_tokens", "tools", "structured_outputs"],
)
GPT_DEARER = model(
    "openai/gpt-5.2",
    "0.0000015",
    "0.00001",
    supported_parameters=["max_tokens", "tools", "structured_outputs"],
)
DEEPSEEK = model("deepseek/deepseek-v4", "0.00000028", "0.00000042", canonical_slug="deepseek/deepseek-v4-20260718")
PROVIDERS = [
    {
        "name": "DeepInfra",
        "slug": "deepinfra",
        "privacy_policy_url": None,
        "terms_of_service_url": None,
        "status_page_url": None,
    },
    {
        "name": "OpenAI",
        "slug": "openai",
        "privacy_policy_url": "https://openai.com/privacy",
        "terms_of_service_url": None,
        "status_page_url": None,
    },
]


def full_day(day: str, models: list[dict[str, Any]]) -> Any:
    return memory_day(day, models, {m["id"]: listing(m, "DeepInfra", "OpenAI") for m in models}, PROVIDERS)


DAY_17 = full_day("2026-07-17", [GEMMA_FREE, GEMMA, FABLE, GPT])
DAY_18 = full_day("2026-07-18", [GEMMA, FABLE, GPT_DEARER, DEEPSEEK])
OLD_DAY = memory_day("2025-04-23", [model("openai/gpt-4o", "0.0000025", "0.00001")])


def make_source() -> MemorySource:
    return MemorySource([DAY_18, OLD_DAY, DAY_17])


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[FakeOpenRouter, str]]:
    fake = FakeOpenRouter(make_source())
    with serve_in_thread(fake) as url:
        yield fake, url


@pytest.fixture
def fake(served: tuple[FakeOpenRouter, str]) -> FakeOpenRouter:
    """The module's server, back to its defaults for every test (newest full day, no faults, empty log)."""
    fake, _ = served
    fake.set_day(None)
    fake.set_faults(None)
    fake.log.reset()
    return fake


@pytest.fixture(scope="module")
def module_client(served: tuple[FakeOpenRouter, str]) -> Iterator[httpx.Client]:
    # One client for the module: building an httpx.Client costs tens of milliseconds (its SSL context).
    with httpx.Client(base_url=served[1], timeout=5.0) as c:
        yield c


@pytest.fixture
def client(module_client: httpx.Client, fake: FakeOpenRouter) -> httpx.Client:
    return module_client


@pytest.fixture
def root(served: tuple[FakeOpenRouter, str]) -> str:
    """The server root, where the /_fake control routes live."""
    return served[1].removesuffix(V1)


def ids(response: httpx.Response) -> list[str]:
    return [m["id"] for m in response.json()["data"]]


# --- routes -------------------------------------------------------------------------------------------


def test_models_serves_the_newest_full_day_as_json(client: httpx.Client, fake: FakeOpenRouter) -> None:
    response = client.get("/models")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert fake.day == "2026-07-18"
    body = response.json()
    assert ids(response) == [m["id"] for m in DAY_18.models]
    assert body["data"][2]["pricing"]["prompt"] == "0.0000015"
    assert body["total_count"] == 4
    assert body["links"] == {"next": None}


def test_models_filters_by_supported_parameters(client: httpx.Client) -> None:
    response = client.get("/models", params={"supported_parameters": "tools,structured_outputs"})
    assert ids(response) == ["openai/gpt-5.2"]
    assert response.json()["total_count"] == 1


def test_models_pages_with_offset_and_limit(client: httpx.Client) -> None:
    first = client.get("/models", params={"limit": 3})
    assert ids(first) == [m["id"] for m in DAY_18.models[:3]]
    assert first.json()["total_count"] == 4
    next_url = first.json()["links"]["next"]
    assert next_url == "/api/v1/models?offset=3&limit=3"
    second = client.get(next_url.removeprefix(V1))
    assert ids(second) == ["deepseek/deepseek-v4"]
    assert second.json()["links"]["next"] is None
    bad = client.get("/models", params={"limit": 0})
    assert bad.status_code == 400
    assert bad.json()["error"]["code"] == 400


def test_providers(client: httpx.Client) -> None:
    response = client.get("/providers")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"data": PROVIDERS}


@pytest.mark.parametrize("model_id", ["google/gemma-4-31b-it", "~anthropic/claude-fable-latest", "openai/gpt-5.2"])
def test_endpoints_of_each_model(client: httpx.Client, model_id: str) -> None:
    response = client.get(f"/models/{model_id}/endpoints")
    assert response.status_code == 200
    data = response.json()["data"]
    assert data["id"] == model_id
    assert [e["provider_name"] for e in data["endpoints"]] == ["DeepInfra", "OpenAI"]


def test_endpoints_of_a_free_variant(client: httpx.Client, fake: FakeOpenRouter) -> None:
    fake.set_day("2026-07-17")
    response = client.get("/models/google/gemma-4-31b-it:free/endpoints")
    assert response.status_code == 200
    assert response.json()["data"]["endpoints"][0]["pricing"]["prompt"] == "0"


def test_endpoints_by_canonical_slug_as_links_details_gives_it(client: httpx.Client) -> None:
    details = next(m for m in client.get("/models").json()["data"] if m["id"] == "deepseek/deepseek-v4")
    response = client.get(details["links"]["details"].removeprefix(V1))
    assert response.status_code == 200
    assert response.json()["data"]["id"] == "deepseek/deepseek-v4"


def test_unknown_model_is_openrouters_404(client: httpx.Client) -> None:
    response = client.get("/models/nobody/nothing:free/endpoints")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"error": {"code": 404, "message": "Model nobody/nothing:free not found"}}


@pytest.mark.parametrize("path", ["/api/v1/nothing", "/api/v1/models/openai/gpt-5.2", "/nothing", "/"])
def test_unknown_paths_are_404_in_the_error_shape(client: httpx.Client, root: str, path: str) -> None:
    response = client.get(root + path)
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/json"
    assert response.json()["error"]["code"] == 404
    assert path in response.json()["error"]["message"]


def test_wrong_method_is_405_in_the_error_shape(client: httpx.Client) -> None:
    response = client.post("/models")
    assert response.status_code == 405
    assert response.json() == {"error": {"code": 405, "message": "Method Not Allowed"}}


def test_models_only_day_has_models_but_no_providers_or_endpoints(client: httpx.Client, fake: FakeOpenRouter) -> None:
    fake.set_day("2025-04-23")
    assert ids(client.get("/models")) == ["openai/gpt-4o"]
    providers = client.get("/providers")
    assert providers.status_code == 404
    assert providers.json()["error"]["code"] == 404
    endpoints = client.get("/models/openai/gpt-4o/endpoints")
    assert endpoints.status_code == 404
    assert endpoints.json()["error"]["message"] == "Model openai/gpt-4o not found"


# --- choosing and switching the day --------------------------------------------------------------------


def test_resolve_day() -> None:
    source = make_source()
    assert resolve_day(source, None) == "2026-07-18"
    assert resolve_day(source, "2026-07-17") == "2026-07-17"
    models_only = MemorySource([OLD_DAY])
    assert resolve_day(models_only, None) == "2025-04-23"
    with pytest.raises(NotFoundError, match="2026-09-01"):
        resolve_day(source, "2026-09-01")


def test_set_day_in_process_changes_what_models_returns(client: httpx.Client, fake: FakeOpenRouter) -> None:
    assert "deepseek/deepseek-v4" in ids(client.get("/models"))
    assert fake.set_day("2026-07-17") == "2026-07-17"
    after = client.get("/models")
    assert ids(after) == [m["id"] for m in DAY_17.models]
    assert client.get("/models/deepseek/deepseek-v4/endpoints").status_code == 404
    with pytest.raises(NotFoundError):
        fake.set_day("2026-09-01")
    assert fake.day == "2026-07-17"


def test_set_day_over_http(client: httpx.Client, root: str, fake: FakeOpenRouter) -> None:
    response = client.post(f"{root}/_fake/day", json={"day": "2026-07-17"})
    assert response.status_code == 200
    assert response.json()["day"] == "2026-07-17"
    assert fake.day == "2026-07-17"
    gpt = next(m for m in client.get("/models").json()["data"] if m["id"] == "openai/gpt-5.2")
    assert gpt["pricing"]["prompt"] == "0.00000125"

    unknown = client.post(f"{root}/_fake/day", json={"day": "2031-01-01"})
    assert unknown.status_code == 404
    assert "2031-01-01" in unknown.json()["error"]["message"]
    assert fake.day == "2026-07-17"
    assert client.post(f"{root}/_fake/day", content=b"not json").status_code == 400
    assert client.post(f"{root}/_fake/day", json={"day": 17}).status_code == 400


def test_state_route_reports_day_faults_and_request_counts(client: httpx.Client, root: str) -> None:
    client.get("/models")
    client.get("/models")
    client.get("/models/nobody/nothing/endpoints")
    state = client.get(f"{root}/_fake/state").json()
    assert state["day"] == "2026-07-18"
    assert state["kind"] == "full"
    assert state["faults"] == Faults().to_dict()
    assert state["requests"] == {"/api/v1/models": 2, "/api/v1/models/nobody/nothing/endpoints": 1}
    assert state["statuses"] == {"200": 2, "404": 1}


def test_request_log_in_process(client: httpx.Client, fake: FakeOpenRouter) -> None:
    client.get("/models")
    client.get("/providers")
    client.get("/nothing")
    assert fake.log.count() == 3
    assert fake.log.count("/api/v1/models", status=200) == 1
    assert fake.log.by_status() == {200: 2, 404: 1}
    assert [e.method for e in fake.log.entries] == ["GET", "GET", "GET"]


# --- faults: the value ---------------------------------------------------------------------------------


def test_faults_round_trip_through_json() -> None:
    faults = Faults(
        latency=0.1,
        failure_rate=0.25,
        failure_statuses=(429, 503),
        fail_models=frozenset({"b/b", "a/a"}),
        drift=frozenset({"dynamic_price"}),
        truncate_paths=frozenset({"/api/v1/models"}),
        seed=None,
    )
    assert Faults.from_json(faults.to_json()) == faults
    assert faults.to_dict()["fail_models"] == ["a/a", "b/b"]
    assert Faults.from_dict({"fail_models": ["x/y"]}).fail_models == frozenset({"x/y"})
    assert not Faults().active
    assert faults.active


@pytest.mark.parametrize(
    ("knobs", "message"),
    [
        ({"failure_rate": 1.5}, "failure_rate=1.5 must be between 0 and 1"),
        ({"latency": -1}, "latency=-1"),
        ({"latency": "1"}, "must be a finite number"),
        ({"fail_first": True}, "fail_first=True"),
        ({"failure_statuses": [200]}, "400..599"),
        ({"failure_statuses": []}, "at least one"),
        ({"drift": ["renamed_field"]}, "renamed_field"),
        ({"drift_models": ["a/b"]}, "drift is empty"),
        ({"hang": 5}, "only act together"),
        ({"timeout_rate": 1}, "only act together"),
        ({"truncate_paths": ["models"]}, "full request path"),
        ({"fail_models": "a/b"}, "list of strings"),
        ({"latncy": 1}, "unknown fault knob"),
    ],
)
def test_faults_are_validated_with_messages_naming_the_knob(knobs: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        Faults.from_dict(knobs)


def test_faults_over_http(client: httpx.Client, root: str, fake: FakeOpenRouter) -> None:
    response = client.post(f"{root}/_fake/faults", json={"fail_first": 1, "fail_status": 503})
    assert response.status_code == 200
    assert response.json()["faults"]["fail_first"] == 1
    assert fake.faults == Faults(fail_first=1, fail_status=503)
    assert client.get("/models").status_code == 503
    assert client.get("/models").status_code == 200

    invalid = client.post(f"{root}/_fake/faults", json={"failure_rate": 2})
    assert invalid.status_code == 400
    assert "failure_rate" in invalid.json()["error"]["message"]
    assert fake.faults == Faults(fail_first=1, fail_status=503)
    assert client.post(f"{root}/_fake/faults", json={}).status_code == 200
    assert not fake.faults.active


# --- faults on the wire --------------------------------------------------------------------------------


def test_failure_rate_429_carries_retry_after_and_the_error_shape(client: httpx.Client, fake: FakeOpenRouter) -> None:
    fake.set_faults(Faults(failure_rate=1, failure_statuses=(429,), retry_after=3))
    response = client.get("/models")
    assert response.status_code == 429
    assert response.headers["retry-after"] == "3"
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {
        "error": {"code": 429, "message": "Rate limit exceeded", "metadata": {"fault": "failure_rate"}}
    }


def test_failure_rate_is_repeatable_for_a_seed(client: httpx.Client, fake: FakeOpenRouter) -> None:
    def statuses() -> list[int]:
        fake.set_faults(Faults(failure_rate=0.5, failure_statuses=(500, 502), seed=7))
        return [client.get("/providers").status_code for _ in range(24)]

    first = statuses()
    assert first == statuses()
    assert {200, 500, 502} <= set(first)
    fake.set_faults(Faults(failure_rate=0.5, failure_statuses=(500, 502), seed=8))
    assert [client.get("/providers").status_code for _ in range(24)] != first


def test_fail_first_counts_per_path(client: httpx.Client, fake: FakeOpenRouter) -> None:
    fake.set_faults(Faults(fail_first=2, retry_after=0))
    models = [client.get("/models") for _ in range(3)]
    assert [r.status_code for r in models] == [429, 429, 200]
    assert models[0].headers["retry-after"] == "0"
    assert models[0].json()["error"]["metadata"] == {"fault": "fail_first"}
    assert client.get("/providers").status_code == 429
    assert fake.log.statuses("/api/v1/models") == [429, 429, 200]
    assert fake.log.statuses("/api/v1/providers") == [429]


def test_fail_models_always_502_on_their_endpoints(client: httpx.Client, fake: FakeOpenRouter) -> None:
    fake.set_faults(Faults(fail_models=frozenset({"~anthropic/claude-fable-latest"})))
    for _ in range(2):
        failing = client.get("/models/~anthropic/claude-fable-latest/endpoints")
        assert failing.status_code == 502
        assert failing.json()["error"]["code"] == 502
    assert client.get("/models/openai/gpt-5.2/endpoints").status_code == 200
    assert "~anthropic/claude-fable-latest" in ids(client.get("/models"))


def test_latency_delays_each_request_but_not_the_others(
    served: tuple[FakeOpenRouter, str], fake: FakeOpenRouter
) -> None:
    fake.set_faults(Faults(latency=0.3))

    async def five_at_once() -> list[float]:
        async with httpx.AsyncClient(base_url=served[1]) as client:

            async def timed() -> float:
                start = time.monotonic()
                response = await client.get("/providers")
                assert response.status_code == 200
                return time.monotonic() - start

            return await asyncio.gather(*(timed() for _ in range(5)))

    start = time.monotonic()
    each = asyncio.run(five_at_once())
    total = time.monotonic() - start
    assert min(each) >= 0.3
    assert total < 5 * 0.3  # the sleeps overlap: latency does not serialise requests


def test_hang_trips_a_client_read_timeout(client: httpx.Client, fake: FakeOpenRouter) -> None:
    fake.set_faults(Faults(timeout_rate=1, hang=3))
    start = time.monotonic()
    with pytest.raises(httpx.ReadTimeout):
        client.get("/models", timeout=httpx.Timeout(5.0, read=0.2))
    assert time.monotonic() - start < 1.0
    fake.set_faults(None)
    assert client.get("/models").status_code == 200


def test_truncated_body_raises_in_httpx(
    client: httpx.Client, fake: FakeOpenRouter, caplog: pytest.LogCaptureFixture
) -> None:
    fake.set_faults(Faults(truncate_paths=frozenset({"/api/v1/models"})))
    uvicorn_log = logging.getLogger("uvicorn.error")
    uvicorn_log.addHandler(caplog.handler)  # directly: uvicorn's own logging config may stop propagation
    try:
        with pytest.raises(httpx.RemoteProtocolError, match="peer closed connection without sending complete"):
            client.get("/models")
    finally:
        uvicorn_log.removeHandler(caplog.handler)
    assert client.get("/providers").status_code == 200  # only the named path is cut
    # The deliberate cut is not reported as a server error.
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text


def test_truncated_body_keeps_the_full_content_length(
    served: tuple[FakeOpenRouter, str], client: httpx.Client, fake: FakeOpenRouter
) -> None:
    full = client.get("/models").content
    fake.set_faults(Faults(truncate_rate=1))
    host, port = served[1].removeprefix("http://").removesuffix(V1).split(":")
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(b"GET /api/v1/models HTTP/1.1\r\nHost: fake\r\n\r\n")
        raw = b""
        while chunk := sock.recv(65536):
            raw += chunk
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    assert f"content-length: {len(full)}".encode() in head.lower()
    assert body == full[: len(full) // 2]
    with pytest.raises(json.JSONDecodeError):
        json.loads(body)


def test_truncation_spares_errors(client: httpx.Client, fake: FakeOpenRouter) -> None:
    fake.set_faults(Faults(truncate_rate=1))
    response = client.get("/models/nobody/nothing/endpoints")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == 404


def test_drift_unknown_field_on_named_models_only(client: httpx.Client, fake: FakeOpenRouter) -> None:
    fake.set_faults(Faults(drift=frozenset({"unknown_field"}), drift_models=frozenset({"openai/gpt-5.2"})))
    by_id = {m["id"]: m for m in client.get("/models").json()["data"]}
    assert "x_new_field" in by_id["openai/gpt-5.2"]
    assert "x_new_field" not in by_id["google/gemma-4-31b-it"]
    endpoints = client.get("/models/openai/gpt-5.2/endpoints").json()["data"]["endpoints"]
    assert all("x_new_field" in e for e in endpoints)
    other = client.get("/models/google/gemma-4-31b-it/endpoints").json()["data"]["endpoints"]
    assert not any("x_new_field" in e for e in other)


def test_drift_unknown_price_key(client: httpx.Client, fake: FakeOpenRouter) -> None:
    fake.set_faults(Faults(drift=frozenset({"unknown_price_key"})))
    assert all(m["pricing"]["x_new_price"] == "0.000001" for m in client.get("/models").json()["data"])
    endpoint = client.get("/models/openai/gpt-5.2/endpoints").json()["data"]["endpoints"][0]
    assert endpoint["pricing"]["x_new_price"] == "0.000001"


def test_drift_missing_optional(client: httpx.Client, fake: FakeOpenRouter) -> None:
    fake.set_faults(Faults(drift=frozenset({"missing_optional"})))
    gpt = next(m for m in client.get("/models").json()["data"] if m["id"] == "openai/gpt-5.2")
    assert "top_provider" not in gpt
    assert "per_request_limits" not in gpt
    assert gpt["pricing"] == {"prompt": "0.0000015", "completion": "0.00001"}
    endpoint = client.get("/models/openai/gpt-5.2/endpoints").json()["data"]["endpoints"][0]
    assert endpoint["pricing"] == {"prompt": "0.0000015", "completion": "0.00001"}  # "0"s and discount 0 gone
    assert "uptime_last_1d" not in endpoint
    assert "latency_last_30m" not in endpoint
    assert endpoint["uptime_last_30m"] == 99.5


def test_drift_dynamic_price(client: httpx.Client, fake: FakeOpenRouter) -> None:
    fake.set_faults(Faults(drift=frozenset({"dynamic_price"}), drift_models=frozenset({"deepseek/deepseek-v4"})))
    by_id = {m["id"]: m for m in client.get("/models").json()["data"]}
    assert (
        by_id["deepseek/deepseek-v4"]["pricing"]["prompt"],
        by_id["deepseek/deepseek-v4"]["pricing"]["completion"],
    ) == (
        "-1",
        "-1",
    )
    assert by_id["openai/gpt-5.2"]["pricing"]["prompt"] == "0.0000015"
    endpoint = client.get("/models/deepseek/deepseek-v4/endpoints").json()["data"]["endpoints"][0]
    assert endpoint["pricing"]["prompt"] == "-1"


def test_drift_leaves_the_recording_untouched(client: httpx.Client, fake: FakeOpenRouter) -> None:
    before = client.get("/models").content
    fake.set_faults(Faults(drift=frozenset({"unknown_field", "missing_optional", "dynamic_price"})))
    assert client.get("/models").content != before
    fake.set_faults(None)
    assert client.get("/models").content == before
    assert DAY_18.models[2]["pricing"]["prompt"] == "0.0000015"


def test_drop_models(client: httpx.Client, fake: FakeOpenRouter) -> None:
    fake.set_faults(Faults(drop_models=frozenset({"openai/gpt-5.2"})))
    response = client.get("/models")
    assert "openai/gpt-5.2" not in ids(response)
    assert response.json()["total_count"] == 3
    gone = client.get("/models/openai/gpt-5.2/endpoints")
    assert gone.status_code == 404
    assert gone.json() == {"error": {"code": 404, "message": "Model openai/gpt-5.2 not found"}}


# --- running it ----------------------------------------------------------------------------------------


def test_serve_in_thread_shuts_down_cleanly_even_with_a_request_hanging() -> None:
    threads_before = set(threading.enumerate())
    fake = FakeOpenRouter(make_source(), faults=Faults(timeout_rate=1, hang=30))
    with serve_in_thread(fake) as url:
        port = int(url.removesuffix(V1).rsplit(":", 1)[1])
        # A control route runs set_day on a worker thread of the server's loop: that one must end too.
        assert httpx.post(url.removesuffix(V1) + "/_fake/day", json={"day": "2026-07-17"}).status_code == 200
        hanging = threading.Thread(target=_get_ignoring_errors, args=(url + "/models",), daemon=True)
        hanging.start()
        time.sleep(0.2)  # let the request reach the server and start hanging
        start = time.monotonic()
    assert time.monotonic() - start < 2.0
    hanging.join(timeout=5)
    assert not hanging.is_alive()
    # AnyIO's idle worker threads (which ran the control route) retire on their own timer; ours must be gone.
    left = [t for t in set(threading.enumerate()) - threads_before if not t.name.startswith("AnyIO worker")]
    assert not left, left
    with pytest.raises(ConnectionRefusedError), socket.create_connection(("127.0.0.1", port), timeout=1):
        pass


def _get_ignoring_errors(url: str) -> None:
    with contextlib.suppress(httpx.HTTPError):
        httpx.get(url, timeout=10)


def test_two_servers_get_their_own_ports() -> None:
    first, second = FakeOpenRouter(make_source()), FakeOpenRouter(make_source(), day="2026-07-17")
    with serve_in_thread(first) as url_a, serve_in_thread(second) as url_b:
        assert url_a != url_b
        assert len(ids(httpx.get(url_a + "/models"))) == 4
        assert "google/gemma-4-31b-it:free" in ids(httpx.get(url_b + "/models"))


def test_a_taken_port_is_a_clear_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        fake = FakeOpenRouter(make_source())
        with (
            pytest.raises(ConfigError, match=f"cannot listen on 127.0.0.1:{port}"),
            serve_in_thread(fake, port=port),
        ):
            pass


RUN_SCRIPT = """
from catalog.fake import MemorySource, memory_day, run
day = memory_day("2026-07-17", [{"id": "a/b", "canonical_slug": "a/b", "name": "A B"}], {}, [])
run(port=0, source=MemorySource([day]))
"""


def test_run_serves_in_the_foreground_until_ctrl_c() -> None:
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    with subprocess.Popen(
        [sys.executable, "-c", RUN_SCRIPT], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    ) as proc:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert first.startswith("fake OpenRouter serving http://127.0.0.1:"), first
        assert "day 2026-07-17 (full snapshot, 1 models)" in proc.stdout.readline()
        url = first.split()[-1]
        assert url.endswith("/api/v1")
        assert ids(httpx.get(url + "/models")) == ["a/b"]
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err
    assert "fake OpenRouter stopped" in out
    assert "Traceback" not in err
