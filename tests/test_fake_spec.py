"""Every response the fake serves for a recorded day is valid against OpenRouter's official OpenAPI spec.

The spec (``spec/openapi.yaml`` in the shared recordings, OpenAPI 3.1 = JSON Schema 2020-12) is loaded
once; ``#/components/...`` refs resolve through a ``referencing.Registry`` holding the whole document.
Each body is checked against the schema the spec gives for that path and status, strictly: required
keys, types and enums as published. Values seen in real recordings but missing from a spec enum may be
accepted only through ``SPEC_ENUM_ALLOWANCES`` below, one named value at a time.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from catalog.fake import FakeOpenRouter, Faults, MemorySource, memory_day, serve_in_thread
from catalog.settings import PROJECT_ROOT

pytestmark = pytest.mark.shared

SPEC_URI = "urn:openrouter:openapi"
ENDPOINTS_PATH = "/models/{author}/{slug}/endpoints"
BUNDLE_MANIFEST = PROJECT_ROOT / "data" / "bundle" / "manifest.json"
NO_FULL_DAY = "(no full day)"

# Component enum → values observed in recorded real responses that the 2026-08-22 spec does not list.
# Empty: every provider name, parameter, quantization, modality, tokenizer, instruct type and endpoint
# status in the 20 full days (2026-07-17 … 08-05) is in the spec. Add a value here only with the day
# it was seen, never by loosening a schema.
SPEC_ENUM_ALLOWANCES: Mapping[str, frozenset[Any]] = {}

# The spec schema of each error status the fake sends.
ERROR_SCHEMAS = {
    400: "BadRequestResponse",
    404: "NotFoundResponse",
    405: "BadRequestResponse",  # the spec has no 405 schema; the shape is the same as every error
    429: "TooManyRequestsResponse",
    500: "InternalServerResponse",
    502: "BadGatewayResponse",
    503: "ServiceUnavailableResponse",
}


def _shared_data() -> Path:
    raw = os.environ.get("CATALOG_SHARED_DATA")
    return Path(raw) if raw else PROJECT_ROOT.parent / "shared" / "data" / "openrouter"


SPEC_FILE = _shared_data() / "spec" / "openapi.yaml"


def _spec_json(config: pytest.Config) -> str:
    """The spec as JSON text. Parsing the 1.3 MB YAML takes a second or more, so the JSON is kept in
    pytest's cache, keyed by the spec file's size and mtime; JSON then loads in ~30 ms."""
    stat = SPEC_FILE.stat()
    cache = getattr(config, "cache", None)  # absent under -p no:cacheprovider
    cached = None
    if cache is not None:
        cached = cache.mkdir("openrouter-spec") / f"openapi-{stat.st_size}-{stat.st_mtime_ns}.json"
        if cached.is_file():
            return cached.read_text(encoding="utf-8")
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with SPEC_FILE.open(encoding="utf-8") as f:
        text = json.dumps(yaml.load(f, Loader=loader))
    if cached is not None:
        partial = cached.with_suffix(f".{os.getpid()}.tmp")  # xdist workers may write at once
        partial.write_text(text, encoding="utf-8")
        partial.replace(cached)
    return text


@pytest.fixture(scope="module")
def published_spec(pytestconfig: pytest.Config) -> dict[str, Any]:
    """The spec exactly as published."""
    if not SPEC_FILE.is_file():
        pytest.skip(f"OpenRouter spec not found at {SPEC_FILE} (set CATALOG_SHARED_DATA)")
    document: dict[str, Any] = json.loads(_spec_json(pytestconfig))
    return document


@pytest.fixture(scope="module")
def spec(published_spec: dict[str, Any]) -> dict[str, Any]:
    """The spec with ``SPEC_ENUM_ALLOWANCES`` added to its enums (a copy; the published one stays as is)."""
    document: dict[str, Any] = json.loads(json.dumps(published_spec))
    for component, extra in SPEC_ENUM_ALLOWANCES.items():
        document["components"]["schemas"][component]["enum"].extend(sorted(extra, key=str))
    return document


def _validator(spec: dict[str, Any], pointer: str) -> Draft202012Validator:
    registry = Registry().with_resource(SPEC_URI, Resource.from_contents(spec, default_specification=DRAFT202012))
    return Draft202012Validator({"$ref": f"{SPEC_URI}#{pointer}"}, registry=registry)


def response_validator(spec: dict[str, Any], path: str, status: str = "200") -> Draft202012Validator:
    """The validator for the JSON body the spec documents for ``GET path`` answering ``status``."""
    assert "application/json" in spec["paths"][path]["get"]["responses"][status]["content"]
    escaped = path.replace("~", "~0").replace("/", "~1")
    return _validator(spec, f"/paths/{escaped}/get/responses/{status}/content/application~1json/schema")


def component_validator(spec: dict[str, Any], name: str) -> Draft202012Validator:
    return _validator(spec, f"/components/schemas/{name}")


def problems(validator: Draft202012Validator, body: object, where: str) -> list[str]:
    """Every violation as 'where: json/path: message' (enum messages shortened to the offending value)."""
    out = []
    for error in validator.iter_errors(body):
        message = f"{error.instance!r} is not in the spec enum" if error.validator == "enum" else error.message
        out.append(f"{where}: {error.json_path}: {message[:200]}")
    return out


def summary(found: list[str]) -> str:
    """Violations grouped by kind (indices stripped), most frequent first, for a readable failure."""
    grouped = Counter(p.split(": ", 1)[1].translate(str.maketrans("", "", "0123456789")) for p in found)
    return "\n".join(f"{n} × {kind}" for kind, n in grouped.most_common(30))


# --- a full recorded day, every response -------------------------------------------------------------


def _full_days() -> list[str]:
    """The newest full day; every full day when CATALOG_SPEC_ALL_DAYS=1 (about a second per day)."""
    if not BUNDLE_MANIFEST.is_file():
        return []
    snapshots = json.loads(BUNDLE_MANIFEST.read_text(encoding="utf-8"))["snapshots"]
    full = [s["id"] for s in sorted(snapshots, key=lambda s: s["taken_at"]) if s["kind"] == "full"]
    return full if os.environ.get("CATALOG_SPEC_ALL_DAYS") == "1" else full[-1:]


@pytest.mark.skipif(not BUNDLE_MANIFEST.is_file(), reason="no bundle at data/bundle (build it first)")
@pytest.mark.parametrize("day", _full_days() or [NO_FULL_DAY])
@pytest.mark.slow  # seconds, not milliseconds: left out of make test-fast
def test_every_response_of_a_recorded_day_matches_the_spec(spec: dict[str, Any], day: str) -> None:
    from catalog.bundle import Bundle

    if day == NO_FULL_DAY:
        pytest.skip("the bundle holds no full day")
    bundle = Bundle()
    fake = FakeOpenRouter(bundle, day=day)
    assert fake.served.info.kind == "full"
    found: list[str] = []
    with serve_in_thread(fake) as url, httpx.Client(base_url=url, timeout=10) as client:
        models = client.get("/models")
        assert models.status_code == 200
        found += problems(response_validator(spec, "/models"), models.json(), "/models")
        providers = client.get("/providers")
        assert providers.status_code == 200
        found += problems(response_validator(spec, "/providers"), providers.json(), "/providers")
        endpoints = response_validator(spec, ENDPOINTS_PATH)
        model_ids = [m["id"] for m in models.json()["data"]]
        for model_id in model_ids:
            response = client.get(f"/models/{model_id}/endpoints")
            assert response.status_code == 200, f"{model_id}: {response.text[:200]}"
            assert response.json()["data"]["id"] == model_id
            found += problems(endpoints, response.json(), f"/models/{model_id}/endpoints")
    assert fake.log.count(status=200) == len(model_ids) + 2
    assert len(model_ids) == bundle.get(day).models
    assert not found, f"{len(found)} spec violations on {day}:\n{summary(found)}"


def test_the_validators_are_strict(spec: dict[str, Any]) -> None:
    """Guard against a vacuous check: bodies that break the spec in the ways drift would must fail."""
    models = response_validator(spec, "/models")
    good = _page([_model("openai/gpt-5.2")])
    assert problems(models, good, "/models") == []
    assert problems(models, {"data": good["data"]}, "/models")  # no total_count / links
    bad_parameter = _page([_model("openai/gpt-5.2", supported_parameters=["temperature", "telepathy"])])
    assert any("'telepathy' is not in the spec enum" in p for p in problems(models, bad_parameter, "/models"))
    no_price = _page([_model("openai/gpt-5.2")])
    del no_price["data"][0]["pricing"]["completion"]
    assert problems(models, no_price, "/models")
    endpoints = response_validator(spec, ENDPOINTS_PATH)
    unknown_provider = {"data": _listing(_model("a/b"), provider_name="Nope Cloud")}
    assert any("'Nope Cloud'" in p for p in problems(endpoints, unknown_provider, "endpoints"))


def test_allowances_only_hold_values_the_spec_lacks(published_spec: dict[str, Any]) -> None:
    for component, extra in SPEC_ENUM_ALLOWANCES.items():
        published = set(published_spec["components"]["schemas"][component]["enum"])
        assert not extra & published, f"{component}: {sorted(extra & published)} are in the spec now; drop them"


# --- hand-made days: errors, drift --------------------------------------------------------------------


def _model(model_id: str, **extra: Any) -> dict[str, Any]:
    body = {
        "id": model_id,
        "canonical_slug": model_id,
        "name": model_id,
        "created": 1784000000,
        "context_length": 8192,
        "architecture": {
            "modality": "text->text",
            "input_modalities": ["text"],
            "output_modalities": ["text"],
            "tokenizer": "GPT",
            "instruct_type": None,
        },
        "pricing": {"prompt": "0.000001", "completion": "0.000002", "request": "0"},
        "top_provider": {"context_length": 8192, "max_completion_tokens": 4096, "is_moderated": True},
        "per_request_limits": None,
        "supported_parameters": ["temperature", "max_tokens"],
        "default_parameters": {},
        "supported_voices": None,
        "links": {"details": f"/api/v1/models/{model_id}/endpoints"},
    }
    body.update(extra)
    return body


def _listing(model: dict[str, Any], provider_name: str = "OpenAI") -> dict[str, Any]:
    endpoint = {
        "name": f"{provider_name} | {model['id']}",
        "model_id": model["id"],
        "model_name": model["name"],
        "context_length": 8192,
        "pricing": {**model["pricing"], "discount": 0},
        "provider_name": provider_name,
        "tag": "openai",
        "quantization": None,
        "max_completion_tokens": 4096,
        "max_prompt_tokens": None,
        "supported_parameters": ["temperature"],
        "status": 0,
        "uptime_last_30m": 99.0,
        "uptime_last_5m": None,
        "uptime_last_1d": 98.5,
        "supports_implicit_caching": True,
        "latency_last_30m": {"p50": 1, "p75": 2, "p90": 3, "p99": 4},
        "throughput_last_30m": None,
    }
    return {
        "id": model["id"],
        "name": model["name"],
        "created": model["created"],
        "description": "",
        "architecture": model["architecture"],
        "endpoints": [endpoint],
    }


def _page(models: list[dict[str, Any]]) -> dict[str, Any]:
    return {"data": models, "total_count": len(models), "links": {"next": None}}


@pytest.fixture(scope="module")
def memory_fake() -> Iterator[tuple[FakeOpenRouter, httpx.Client]]:
    gpt = _model("openai/gpt-5.2")
    full = memory_day("2026-07-17", [gpt], {gpt["id"]: _listing(gpt)}, [])
    old = memory_day("2025-04-23", [_model("openai/gpt-4o")])
    fake = FakeOpenRouter(MemorySource([full, old]))
    with serve_in_thread(fake) as url, httpx.Client(base_url=url, timeout=5) as client:
        yield fake, client


def test_hand_made_day_matches_the_spec(spec: dict[str, Any], memory_fake: tuple[FakeOpenRouter, httpx.Client]) -> None:
    fake, client = memory_fake
    fake.set_day(None)
    fake.set_faults(None)
    assert problems(response_validator(spec, "/models"), client.get("/models").json(), "/models") == []
    endpoints = client.get("/models/openai/gpt-5.2/endpoints").json()
    assert problems(response_validator(spec, ENDPOINTS_PATH), endpoints, "endpoints") == []
    assert problems(response_validator(spec, "/providers"), client.get("/providers").json(), "providers") == []


def test_error_bodies_match_the_spec(spec: dict[str, Any], memory_fake: tuple[FakeOpenRouter, httpx.Client]) -> None:
    fake, client = memory_fake
    fake.set_faults(None)
    fake.set_day("2026-07-17")
    responses = [
        client.get("/models/nobody/nothing/endpoints"),
        client.get("/nothing"),
        client.post("/models"),
        client.get("/models", params={"limit": 5000}),
    ]
    fake.set_day("2025-04-23")
    responses += [client.get("/providers"), client.get("/models/openai/gpt-4o/endpoints")]
    fake.set_day("2026-07-17")
    for status in (429, 500, 502, 503):
        fake.set_faults(Faults(failure_rate=1, failure_statuses=(status,)))
        responses.append(client.get("/models"))
    fake.set_faults(None)
    assert sorted({r.status_code for r in responses}) == [400, 404, 405, 429, 500, 502, 503]
    found = []
    for response in responses:
        validator = component_validator(spec, ERROR_SCHEMAS[response.status_code])
        found += problems(validator, response.json(), f"{response.request.url.path} {response.status_code}")
    assert not found, "\n".join(found)
    unknown = response_validator(spec, ENDPOINTS_PATH, "404")
    assert problems(unknown, responses[0].json(), "404") == []


def test_drift_breaks_the_spec_only_where_it_should(
    spec: dict[str, Any], memory_fake: tuple[FakeOpenRouter, httpx.Client]
) -> None:
    fake, client = memory_fake
    fake.set_day("2026-07-17")
    models = response_validator(spec, "/models")
    # Additive drift stays valid: the spec allows unknown properties, so only a strict parser notices.
    fake.set_faults(Faults(drift=frozenset({"unknown_field", "unknown_price_key", "dynamic_price"})))
    assert problems(models, client.get("/models").json(), "/models") == []
    # Removing keys the current spec requires is a real contract break.
    fake.set_faults(Faults(drift=frozenset({"missing_optional"})))
    found = problems(models, client.get("/models").json(), "/models")
    fake.set_faults(None)
    assert any("'top_provider' is a required property" in p for p in found)
    assert any("'per_request_limits' is a required property" in p for p in found)
