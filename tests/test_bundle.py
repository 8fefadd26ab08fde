"""The bundled offline data in ``data/bundle``: its manifest, its v1 shapes, its reader, and that it rebuilds
byte for byte from the recordings (those tests need ``../shared`` and are marked ``shared``)."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import re
import shutil
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from catalog import settings
from catalog.bundle import Bundle, DayState
from catalog.bundle.build import (
    build,
    catalog_models,
    endpoint_records,
    public_endpoint,
    recorded_times,
    snapshot_bytes,
    write_bundle,
)
from catalog.bundle.spec import SPEC_FILE, spec_document, spec_schema, spec_schemas, without_annotations
from catalog.errors import BundleError, InputError, NotFoundError

COMMITTED = settings.BUNDLE_DIR  # the committed bundle, whatever CATALOG_BUNDLE says
FULL_DAYS = [(date(2026, 7, 17) + timedelta(days=n)).isoformat() for n in range(20)]
MODELS_ONLY = [
    "2024-11-10",
    "2025-04-23",
    "2025-04-24T175421Z",
    "2025-05-12",
    "2025-05-23",
    "2025-05-26",
    "2025-07-29",
    "2025-12-18",
    "2026-01-10T011641Z",
    "2026-01-10T182335Z",
    "2026-01-20",
    "2026-01-29",
    "2026-02-27",
    "2026-04-01",
    "2026-05-01",
]
# components.schemas.PublicEndpoint.required and ListEndpointsResponse.required in spec/openapi.yaml
# (test_spec_required_keys_are_the_ones_checked keeps these in step with the spec)
PUBLIC_ENDPOINT_REQUIRED = {
    "name",
    "model_id",
    "model_name",
    "context_length",
    "pricing",
    "provider_name",
    "tag",
    "quantization",
    "max_completion_tokens",
    "max_prompt_tokens",
    "supported_parameters",
    "uptime_last_30m",
    "uptime_last_5m",
    "uptime_last_1d",
    "supports_implicit_caching",
    "latency_last_30m",
    "throughput_last_30m",
}
LIST_ENDPOINTS_REQUIRED = {"id", "name", "created", "description", "architecture", "endpoints"}
NOT_PRICES = {"discount", "overrides", "min_prompt_tokens", "utc_start", "utc_end"}
CHAT_RECORDINGS = 31  # every file in ../shared/data/openrouter/chat


def _shared_source() -> Path:
    raw = os.environ.get("CATALOG_SHARED_DATA")
    return Path(raw) if raw else settings.PROJECT_ROOT.parent / "shared" / "data" / "openrouter"


@pytest.fixture(scope="module")
def bundle() -> Bundle:
    return Bundle(COMMITTED)


@pytest.fixture(scope="module")
def source() -> Path:
    path = _shared_source()
    if not (path / "SOURCES.md").is_file():
        pytest.skip(f"recorded data not found at {path} (set CATALOG_SHARED_DATA)")
    return path


@pytest.fixture(scope="module")
def spec(source: Path) -> dict[str, Any]:
    yaml = pytest.importorskip("yaml")
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # the C loader reads the 1.3 MB spec 5x faster
    document: dict[str, Any] = yaml.load((source / "spec/openapi.yaml").read_text(encoding="utf-8"), Loader=loader)
    return document


def _full_days(bundle: Bundle) -> list[DayState]:
    return [bundle.load(info.id) for info in bundle.snapshots("full")]


def _endpoints_of(state: DayState, model_id: str) -> list[dict[str, Any]]:
    endpoints: list[dict[str, Any]] = state.endpoints[model_id]["endpoints"]
    return endpoints


def _source_line(source: Path, day: str, model_slug: str, variant: str = "standard") -> dict[str, Any]:
    with gzip.open(source / f"endpoint-stats-daily/model-stats-{day}.jsonl.gz", "rt", encoding="utf-8") as fh:
        for line in fh:
            row = json.loads(line)
            if row["model_slug"] == model_slug and row["variant"] == variant:
                return row
    raise AssertionError(f"{model_slug} ({variant}) not in the {day} stats")


# --- manifest and reader -----------------------------------------------------------------------------------


def test_manifest_lists_models_only_snapshots_then_the_full_days_in_order(bundle: Bundle) -> None:
    infos = bundle.snapshots()
    assert [i.id for i in infos] == MODELS_ONLY + FULL_DAYS
    assert [i.id for i in bundle.snapshots("full")] == FULL_DAYS
    assert [i.id for i in bundle.snapshots("models")] == MODELS_ONLY
    stamps = [i.taken_at for i in infos]
    assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps)
    assert all(i.taken_at.utcoffset() == timedelta(0) for i in infos)
    assert {i.file for i in bundle.snapshots("full")} == {f"days/{d}.json.gz" for d in FULL_DAYS}


def test_taken_at_comes_from_sources_md_converted_to_utc(bundle: Bundle) -> None:
    # "2025-05-26T19:46:14+10:00" in SOURCES.md
    assert bundle.get("2025-05-26").taken_at == datetime(2025, 5, 26, 9, 46, 14, tzinfo=UTC)
    assert bundle.get("2026-07-17").taken_at == datetime(2026, 7, 17, 18, 2, 29, tzinfo=UTC)
    # no SOURCES.md row for this /models file: the day's scraper run (endpoints-daily scraped_at)
    assert bundle.get("2026-08-01").taken_at == datetime(2026, 8, 1, 16, 1, 56, tzinfo=UTC)


def test_unknown_snapshot_names_the_closest_ids_and_the_range(bundle: Bundle) -> None:
    with pytest.raises(NotFoundError) as err:
        bundle.get("2026-0801")
    message = str(err.value)
    assert "'2026-0801'" in message and "closest: 2026-08-01" in message
    assert "from 2024-11-10 to 2026-08-05" in message
    # a day holding two captures suggests both
    with pytest.raises(NotFoundError, match="closest: 2026-01-10T011641Z, 2026-01-10T182335Z"):
        bundle.get("2026-01-10")


def test_unknown_kind_is_an_input_error(bundle: Bundle) -> None:
    with pytest.raises(InputError, match="full, models"):
        bundle.snapshots("daily")


def test_load_is_cached(bundle: Bundle) -> None:
    assert bundle.load("2026-07-20") is bundle.load("2026-07-20")


def test_missing_manifest_says_how_to_rebuild(tmp_path: Path) -> None:
    with pytest.raises(BundleError, match=r"manifest\.json is missing.*python -m catalog\.bundle build"):
        Bundle(tmp_path)


def test_corrupt_snapshot_file_is_named(tmp_path: Path) -> None:
    shutil.copy(COMMITTED / "manifest.json", tmp_path / "manifest.json")
    (tmp_path / "days").mkdir()
    (tmp_path / "days" / "2026-07-18.json.gz").write_bytes(b"\x1f\x8b not really gzip")
    damaged = Bundle(tmp_path)
    with pytest.raises(BundleError, match=r"2026-07-18\.json\.gz is corrupt"):
        damaged.load("2026-07-18")
    with pytest.raises(BundleError, match=r"2026-07-19\.json\.gz is missing"):
        damaged.load("2026-07-19")


# --- contents ----------------------------------------------------------------------------------------------


def test_every_listed_model_has_an_endpoints_entry(bundle: Bundle) -> None:
    for state in _full_days(bundle):
        ids = [m["id"] for m in state.models]
        assert len(ids) == len(set(ids)) == state.info.models > 300
        more = [m["id"] for m in state.more_models]
        # the models of other kinds (embeddings, image …) have their endpoints too, and are never text models
        assert more and not set(more) & set(ids), state.info.id
        assert all("text" not in m["architecture"]["output_modalities"] for m in state.more_models)
        assert set(state.endpoints) == set(ids) | set(more), state.info.id
        assert all(data["id"] == model_id for model_id, data in state.endpoints.items())
        total = sum(len(data["endpoints"]) for data in state.endpoints.values())
        assert total == state.info.endpoints > 900
        assert state.providers is not None and len(state.providers) == state.info.providers > 70


def test_endpoints_have_every_spec_required_key(bundle: Bundle) -> None:
    for state in _full_days(bundle):
        for model_id, data in state.endpoints.items():
            assert set(data) >= LIST_ENDPOINTS_REQUIRED, model_id
            assert set(data["architecture"]) == {
                "tokenizer",
                "instruct_type",
                "modality",
                "input_modalities",
                "output_modalities",
            }
            for endpoint in data["endpoints"]:
                assert set(endpoint) >= PUBLIC_ENDPOINT_REQUIRED, (state.info.id, model_id, endpoint["tag"])
                assert "display_pricing" not in endpoint["pricing"]
                assert isinstance(endpoint["supports_implicit_caching"], bool)


def test_prices_stay_the_recorded_strings(bundle: Bundle) -> None:
    state = bundle.load("2026-08-01")
    for data in state.endpoints.values():
        for endpoint in data["endpoints"]:
            pricing = endpoint["pricing"]
            for entry in [pricing, *pricing.get("overrides", [])]:
                assert all(isinstance(v, str) for k, v in entry.items() if k not in NOT_PRICES), entry
    baidu = [e for e in _endpoints_of(state, "deepseek/deepseek-v3.2") if e["tag"] == "baidu/fp8"]
    assert [e["pricing"] for e in baidu] == [
        {
            "prompt": "0.0000002072",
            "completion": "0.0000003108",
            "input_cache_read": "0.00000002072",
            "discount": 0.26,
        }
    ]
    assert baidu[0]["model_id"] == "deepseek/deepseek-v3.2-20251201"  # the permaslug
    assert baidu[0]["provider_name"] == "Baidu"


def test_descriptions_are_dropped_everywhere(bundle: Bundle) -> None:
    for info in bundle.snapshots():
        state = bundle.load(info.id)
        assert len(state.models) == info.models
        assert not [m["id"] for m in state.models if "description" in m], info.id
        assert all(data["description"] == "" for data in state.endpoints.values())
    # other fields stay as recorded
    sonnet = next(m for m in bundle.load("2026-08-01").models if m["id"] == "~anthropic/claude-sonnet-latest")
    assert sonnet["alias_target"] == {
        "name": "Anthropic: Claude Sonnet 5",
        "slug": "anthropic/claude-sonnet-5",
    }


def test_routers_list_no_endpoints_and_aliases_keep_theirs(bundle: Bundle) -> None:
    state = bundle.load("2026-08-01")
    assert _endpoints_of(state, "openrouter/auto") == []
    assert state.endpoints["openrouter/auto"]["architecture"]["tokenizer"] == "Router"
    alias = _endpoints_of(state, "~anthropic/claude-sonnet-latest")
    assert len(alias) == 7
    assert all(e["model_name"] == "Anthropic Claude Sonnet Latest" for e in alias)


def test_two_endpoints_of_one_provider_are_both_kept_in_recorded_order(bundle: Bundle) -> None:
    state = bundle.load("2026-07-17")
    together = [e for e in _endpoints_of(state, "google/gemma-4-31b-it") if e["tag"] == "together"]
    assert [e["pricing"]["prompt"] for e in together] == ["0.00000039", "0.00000028"]
    vertex = [e for e in _endpoints_of(state, "qwen/qwen3-235b-a22b-2507") if e["tag"] == "google-vertex/us-south1"]
    assert [e["pricing"]["prompt"] for e in vertex] == ["0.00000022", "0.00000025"]
    # the recorded order flips by 2026-08-05, and the bundle follows it
    later = [e for e in _endpoints_of(bundle.load("2026-08-05"), "google/gemma-4-31b-it") if e["tag"] == "together"]
    assert [e["pricing"]["prompt"] for e in later] == ["0.00000028", "0.00000039"]


def test_variant_ids_map_to_their_own_endpoints(bundle: Bundle) -> None:
    state = bundle.load("2026-08-01")
    free = [m["id"] for m in state.models if m["id"].endswith(":free")]
    assert free
    for model_id in free:
        for endpoint in _endpoints_of(state, model_id):
            assert endpoint["model_id"].endswith(":free"), (model_id, endpoint["model_id"])


def test_implicit_caching_flags_come_through(bundle: Bundle) -> None:
    state = bundle.load("2026-08-01")
    flagged = {
        (m, e["tag"]) for m, d in state.endpoints.items() for e in d["endpoints"] if e["supports_implicit_caching"]
    }
    assert len(flagged) == 55
    assert ("google/gemini-3-flash-preview", "google-ai-studio") in flagged
    assert ("deepseek/deepseek-v3.2", "baidu/fp8") not in flagged  # no flag recorded → false


def test_providers_use_the_spec_names_sorted_by_slug(bundle: Bundle) -> None:
    providers = bundle.load("2026-08-01").providers
    assert providers is not None
    slugs = [p["slug"] for p in providers]
    assert slugs == sorted(slugs) and len(set(slugs)) == len(slugs)
    by_slug = {p["slug"]: p for p in providers}
    assert by_slug["amazon-bedrock"]["name"] == "Amazon Bedrock"
    assert by_slug["google-vertex"]["name"] == "Google"  # displayName "Google Vertex" is the website label
    keys = {"name", "slug", "privacy_policy_url", "terms_of_service_url", "status_page_url"}
    keys |= {"headquarters", "datacenters", "data_policy"}
    assert all(set(p) == keys for p in providers)
    assert all(isinstance(v, bool) for p in providers for k, v in p["data_policy"].items() if k != "retention_days")
    assert by_slug["aion-labs"]["data_policy"]["retention_days"] == 30


def test_models_only_snapshots_carry_models_alone(bundle: Bundle) -> None:
    state = bundle.load("2026-02-27")  # recorded as a bare array
    assert state.info.kind == "models" and state.endpoints == {} and state.providers is None
    assert len(state.models) == 343
    assert len(bundle.load("2024-11-10").models) == 194  # recorded as {"data": [...]}


def test_bundle_stays_small() -> None:
    files = [p for p in COMMITTED.rglob("*") if p.is_file()]
    total = sum(p.stat().st_size for p in files)
    assert len(files) == 1 + len(FULL_DAYS) + len(MODELS_ONLY) + CHAT_RECORDINGS + 1  # + spec/schemas.json
    assert total < 15_000_000, f"data/bundle is {total:,} bytes"


def test_chat_recordings_are_listed_and_checked_against_the_manifest(bundle: Bundle) -> None:
    names = bundle.chat_recordings()
    assert len(names) == CHAT_RECORDINGS and names == sorted(names)
    assert {n.rsplit(".", 1)[1] for n in names} == {"json", "sse"}
    manifest = json.loads((COMMITTED / "manifest.json").read_text())
    entries = {e["name"]: e for e in manifest["chat"]}
    for name in names:
        data = bundle.chat_recording(name)
        assert len(data) == entries[name]["bytes"]
        assert hashlib.sha256(data).hexdigest() == entries[name]["sha256"] == manifest["sources"][f"chat/{name}"]
    assert bundle.chat_recording("stream-2025-08-06.sse").startswith(b": OPENROUTER PROCESSING\n\n")
    assert bundle.chat_recording("stream-2025-08-06.sse").endswith(b"data: [DONE]\n\n")


def test_an_unknown_chat_recording_names_the_closest(bundle: Bundle) -> None:
    with pytest.raises(NotFoundError, match=r"no chat recording 'stream-2025-08-06'.*closest: stream-2025-08-06\.sse"):
        bundle.chat_recording("stream-2025-08-06")


def _bundle_copy(tmp_path: Path) -> Path:
    root = tmp_path / "bundle"
    root.mkdir()
    shutil.copy(COMMITTED / "manifest.json", root / "manifest.json")
    shutil.copytree(COMMITTED / "chat", root / "chat")
    return root


def test_an_altered_chat_recording_is_a_bundle_error_naming_the_file(tmp_path: Path) -> None:
    root = _bundle_copy(tmp_path)
    name = "nonstream-tool-call.json"
    original = gzip.decompress((root / "chat" / f"{name}.gz").read_bytes())
    altered = original.replace(b'"divide"', b'"Divide"')
    assert altered != original and len(altered) == len(original)  # same size: only the hash can tell
    (root / "chat" / f"{name}.gz").write_bytes(gzip.compress(altered))
    bundle = Bundle(root)
    with pytest.raises(BundleError, match=rf"chat/{name}\.gz does not match the manifest's sha256"):
        bundle.chat_recording(name)
    assert bundle.chat_recording("stream-cache.sse")  # the others still read
    (root / "chat" / "stream-cache.sse.gz").unlink()
    with pytest.raises(BundleError, match=r"stream-cache\.sse\.gz is missing"):
        Bundle(root).chat_recording("stream-cache.sse")
    (root / "chat" / "stream-reasoning.sse.gz").write_bytes(b"not gzip")
    with pytest.raises(BundleError, match=r"stream-reasoning\.sse\.gz is corrupt"):
        Bundle(root).chat_recording("stream-reasoning.sse")


def test_a_bundle_without_chat_entries_holds_no_recordings(tmp_path: Path) -> None:
    root = _bundle_copy(tmp_path)
    manifest = json.loads((root / "manifest.json").read_text())
    del manifest["chat"]
    (root / "manifest.json").write_text(json.dumps(manifest))
    assert Bundle(root).chat_recordings() == []
    manifest["chat"] = [{"name": "x.sse"}]
    (root / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match="malformed chat entry"):
        Bundle(root)


# --- the bundled spec schemas ---------------------------------------------------------------------------------


def _schema_positions(schema: Any, where: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every (sub)schema of ``schema`` with its path: a second, plain walk over the 2020-12 applicators."""
    if not isinstance(schema, dict):
        return
    yield where, schema
    for keyword, value in schema.items():
        if keyword in ("properties", "patternProperties", "$defs"):
            for name, sub in value.items():
                yield from _schema_positions(sub, f"{where}/{keyword}/{name}")
        elif keyword in ("items", "additionalProperties", "not", "contains", "propertyNames"):
            yield from _schema_positions(value, f"{where}/{keyword}")
        elif keyword in ("allOf", "anyOf", "oneOf", "prefixItems"):
            for i, sub in enumerate(value):
                yield from _schema_positions(sub, f"{where}/{keyword}/{i}")


def test_the_bundled_spec_is_listed_in_the_manifest_with_its_hash(bundle: Bundle) -> None:
    manifest = json.loads((COMMITTED / "manifest.json").read_text())
    raw = (COMMITTED / SPEC_FILE).read_bytes()
    assert manifest["spec"] == {
        "file": SPEC_FILE,
        "bytes": len(raw),
        "sha256": hashlib.sha256(raw).hexdigest(),
        "schemas": len(spec_schemas(COMMITTED)),
    }
    document = spec_document(COMMITTED)
    assert document["roots"] == {
        "ProviderPreferences": "ProviderPreferences",
        "ChatRequest": "ChatRequest",
        "GenerationResponse": "GenerationResponse",
        "ActivityResponse": "ActivityResponse",
        "UnauthorizedResponse": "UnauthorizedResponse",
        "ForbiddenResponse": "ForbiddenResponse",
        "NotFoundResponse": "NotFoundResponse",
        # bodies the spec writes inline, kept under "inline" by role, with where they were found
        "KeyResponse": "#/paths/~1key/get/responses/200/content/application~1json/schema",
        "CreditsResponse": "#/paths/~1credits/get/responses/200/content/application~1json/schema",
        "EmbeddingsRequest": "#/paths/~1embeddings/post/requestBody/content/application~1json/schema",
        "EmbeddingsResponse": "#/paths/~1embeddings/post/responses/200/content/application~1json/schema",
    }
    assert set(document["inline"]) == {"KeyResponse", "CreditsResponse", "EmbeddingsRequest", "EmbeddingsResponse"}
    assert document["source"]["sha256"] == manifest["sources"]["spec/openapi.yaml"]


def test_bundled_schemas_carry_no_prose_but_keep_properties_named_like_it() -> None:
    schemas = spec_schemas(COMMITTED)
    prose = [
        f"{where}.{key}"
        for name, schema in schemas.items()
        for where, sub in _schema_positions(schema, name)
        for key in sub
        if key in ("description", "example", "examples") or key.startswith("x-")
    ]
    assert prose == []
    # a function tool's own "description" is a property of the request, not prose about the schema
    function = schemas["ChatFunctionTool"]["anyOf"][0]["properties"]["function"]
    assert "description" in function["properties"] and "name" in function["required"]
    assert set(schemas["ProviderPreferences"]["properties"]) >= {
        "order", "only", "ignore", "allow_fallbacks", "require_parameters", "data_collection", "zdr",
        "quantizations", "sort", "max_price", "preferred_min_throughput", "preferred_max_latency",
    }  # fmt: skip
    assert schemas["ProviderPreferences"]["additionalProperties"] is False


def test_every_reference_in_the_bundled_schemas_resolves_inside_the_file() -> None:
    schemas = spec_schemas(COMMITTED)
    text = (COMMITTED / SPEC_FILE).read_text()
    refs = {ref.split("/")[-1] for ref in re.findall(r'"\$ref":"([^"]+)"', text)}
    assert refs and refs <= set(schemas)
    assert all(ref.startswith("#/components/schemas/") for ref in re.findall(r'"\$ref":"([^"]+)"', text))


def test_spec_schema_validates_with_jsonschema_and_names_unknown_components() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    validator = jsonschema.Draft202012Validator(spec_schema("ProviderPreferences", COMMITTED))
    assert validator.is_valid({"order": ["deepinfra/fp8"], "allow_fallbacks": False, "max_price": {"prompt": "1"}})
    assert not validator.is_valid({"order": ["a"], "fallbacks": True})  # additionalProperties: false
    assert not validator.is_valid({"max_price": {"prompt": 1}})  # prices are strings in the spec
    assert not validator.is_valid({"quantizations": ["fp7"]})
    request = jsonschema.Draft202012Validator(spec_schema("ChatRequest", COMMITTED))
    assert request.is_valid({"model": "a/b", "messages": [{"role": "user", "content": "hi"}]})
    assert not request.is_valid({"model": "a/b", "messages": []})  # minItems 1
    with pytest.raises(NotFoundError, match=r"no schema 'Nope' in the bundled spec; it holds .*ProviderPreferences"):
        spec_schema("Nope", COMMITTED)


_TINY_SPEC = """\
openapi: 3.1.0
paths:
  /chat/completions:
    post:
      requestBody:
        content:
          application/json:
            schema:
              $ref: '#/components/schemas/Req'
  /key: {get: {responses: {'200': {content: {application/json: {schema: {$ref: '#/components/schemas/Any'}}}}}}}
  /credits:
    get:
      responses:
        '200':
          content:
            application/json:
              schema: {description: inline, properties: {data: {$ref: '#/components/schemas/Inlined'}}}
  /generation: {get: {responses: {'200': {content: {application/json: {schema: {$ref: '#/components/schemas/Any'}}}}}}}
  /activity: {get: {responses: {'200': {content: {application/json: {schema: {$ref: '#/components/schemas/Any'}}}}}}}
  /embeddings:
    post:
      requestBody: {content: {application/json: {schema: {$ref: '#/components/schemas/Any'}}}}
      responses: {'200': {content: {application/json: {schema: {$ref: '#/components/schemas/Any'}}}}}
components:
  schemas:
    Any: {type: object}
    Inlined: {type: object, x-hint: dropped}
    UnauthorizedResponse: {type: object}
    ForbiddenResponse: {type: object}
    NotFoundResponse: {type: object}
    Req:
      description: 'a request'
      example: {provider: {}}
      x-speakeasy-name: 'Request'
      properties:
        description: {type: string, description: 'a property called description'}
        provider: {$ref: '#/components/schemas/ProviderPreferences'}
        kind:
          discriminator: {propertyName: type, mapping: {a: '#/components/schemas/Mapped'}}
          enum: [{description: data}]
      type: object
    ProviderPreferences:
      properties:
        sort: {anyOf: [{$ref: '#/components/schemas/Sort'}, {type: 'null'}], examples: [price]}
      additionalProperties: false
    Sort: {enum: [price, latency], description: 'how'}
    Mapped: {type: object}
    Unreferenced: {type: string}
"""


def test_a_tiny_spec_bundles_its_roots_and_their_references_without_prose(tmp_path: Path) -> None:
    source = _tiny_source(tmp_path / "src")
    (source / "spec").mkdir()
    (source / "spec" / "openapi.yaml").write_text(_TINY_SPEC)
    result = build(source)
    document = json.loads(result.files[SPEC_FILE])
    assert document["components"]["schemas"] == {
        "Req": {
            "properties": {
                "description": {"type": "string"},
                "provider": {"$ref": "#/components/schemas/ProviderPreferences"},
                "kind": {
                    "discriminator": {"propertyName": "type", "mapping": {"a": "#/components/schemas/Mapped"}},
                    "enum": [{"description": "data"}],  # enum values are data, never stripped
                },
            },
            "type": "object",
        },
        "ProviderPreferences": {
            "properties": {"sort": {"anyOf": [{"$ref": "#/components/schemas/Sort"}, {"type": "null"}]}},
            "additionalProperties": False,
        },
        "Sort": {"enum": ["price", "latency"]},
        "Mapped": {"type": "object"},
        "Any": {"type": "object"},
        "Inlined": {"type": "object"},  # referenced from an inline body only, and bundled all the same
        "UnauthorizedResponse": {"type": "object"},
        "ForbiddenResponse": {"type": "object"},
        "NotFoundResponse": {"type": "object"},
    }
    assert document["inline"] == {"CreditsResponse": {"properties": {"data": {"$ref": "#/components/schemas/Inlined"}}}}
    assert document["roots"]["ChatRequest"] == "Req" and document["roots"]["KeyResponse"] == "Any"
    assert (
        document["roots"]["CreditsResponse"] == "#/paths/~1credits/get/responses/200/content/application~1json/schema"
    )
    assert result.manifest["spec"]["schemas"] == 9 and "spec/openapi.yaml" in result.manifest["sources"]
    assert result.files[SPEC_FILE] == build(source).files[SPEC_FILE]  # deterministic
    write_bundle(result, tmp_path / "out")
    assert spec_schema("ChatRequest", tmp_path / "out")["$ref"] == "#/components/schemas/Req"
    inline = spec_schema("CreditsResponse", tmp_path / "out")
    assert inline["properties"] == {"data": {"$ref": "#/components/schemas/Inlined"}} and "Inlined" in str(inline)
    # a source without the spec builds a bundle without it, and a rebuild drops the stale file
    (source / "spec" / "openapi.yaml").unlink()
    write_bundle(build(source), tmp_path / "out")
    assert not (tmp_path / "out" / SPEC_FILE).exists()


def test_a_spec_referencing_a_missing_component_fails_naming_it(tmp_path: Path) -> None:
    source = _tiny_source(tmp_path / "src")
    (source / "spec").mkdir()
    (source / "spec" / "openapi.yaml").write_text(_TINY_SPEC.replace("    Mapped: {type: object}\n", ""))
    with pytest.raises(InputError, match=r"components\.schemas has no 'Mapped'"):
        build(source)


def test_a_spec_without_a_root_operation_fails_naming_it(tmp_path: Path) -> None:
    source = _tiny_source(tmp_path / "src")
    (source / "spec").mkdir()
    (source / "spec" / "openapi.yaml").write_text(_TINY_SPEC.replace("  /activity:", "  /activity-moved:"))
    with pytest.raises(InputError, match=r"no schema at paths//activity/get/responses/200"):
        build(source)


def test_a_missing_bundled_spec_is_a_bundle_error_with_the_fix(tmp_path: Path) -> None:
    with pytest.raises(BundleError, match=r"no bundled spec schemas at .*rebuild it"):
        spec_schemas(tmp_path)


# --- build rules on small inputs ---------------------------------------------------------------------------


def test_recorded_times_read_the_sources_tables_in_utc() -> None:
    text = "\n".join(
        [
            "| file | size | repository | commit | snapshot date (UTC unless offset shown) |",
            "| `models/models-2025-05-26.json` | 393 KB | a/b | `1464e65c8a39` | 2025-05-26T19:46:14+10:00 |",
            "| `models/models-2026-07-17.json` | 515 KB | c/d | `15048f3beb1b` | 2026-07-17T18:02:29Z |",
            "| `chat/x.json` | 390 B | e/f | `05fbaaa3b26d` | no date |",
        ]
    )
    assert recorded_times(text) == {
        "models/models-2025-05-26.json": "2025-05-26T09:46:14Z",
        "models/models-2026-07-17.json": "2026-07-17T18:02:29Z",
    }


def test_models_bodies_may_be_wrapped_or_bare() -> None:
    model = {"id": "a/b", "name": "A: B", "description": "prose", "pricing": {"prompt": "5.6e-7"}}
    expected = [{"id": "a/b", "name": "A: B", "pricing": {"prompt": "5.6e-7"}}]
    assert catalog_models({"data": [model]}, "x.json") == expected
    assert catalog_models([model], "x.json") == expected
    with pytest.raises(InputError, match=r"x\.json is not a /models body"):
        catalog_models({"models": []}, "x.json")


def _record(endpoint_id: str, prompt: str, **extra: Any) -> dict[str, Any]:
    return {
        "id": endpoint_id,
        "name": "Together | a/b-2026",
        "model_variant_permaslug": "a/b-2026",
        "provider_name": "Together",
        "provider_slug": "together",
        "quantization": "unknown",
        "context_length": 1000,
        "max_completion_tokens": None,
        "max_prompt_tokens": None,
        "supported_parameters": ["tools"],
        "status": 0,
        "pricing": {"prompt": prompt, "completion": "0.000001", "discount": 0, "display_pricing": []},
        **extra,
    }


def test_endpoint_records_keep_one_copy_of_a_repeated_id_and_both_same_provider_endpoints() -> None:
    line = {"model_slug": "a/b", "variant": "standard"}
    rows = [
        {
            **line,
            "endpoints": [
                _record("e1", "0.00000039"),
                _record("e2", "0.00000028"),
                _record("e1", "0.00000039"),
            ],
        },
        {"model_slug": "a/b", "variant": "free", "endpoints": None},
        {"model_slug": "not/listed", "variant": "standard", "endpoints": [_record("e3", "1")]},
    ]
    text = "\n".join(json.dumps(row) for row in rows)
    records = endpoint_records(text, "stats.jsonl", {"a/b", "a/b:free"})
    assert [(r["id"], r["pricing"]["prompt"]) for r in records["a/b"]] == [
        ("e1", "0.00000039"),
        ("e2", "0.00000028"),
    ]
    assert records["a/b:free"] == []
    assert "not/listed" not in records


def test_public_endpoint_derives_uptime_and_percentiles() -> None:
    record = _record(
        "e1",
        "0.0000002072",
        status_heuristics={"success": 3, "derankableError": 1, "rateLimited": 50},
        status_heuristics_5m={"success": 0, "derankableError": 0, "rateLimited": 7},
        stats={
            f"p{n}_{m}": n * (1 if m == "latency" else 2)
            for n in (50, 75, 90, 95, 99)
            for m in ("latency", "throughput")
        },
        features={"supports_implicit_caching": True},
    )
    endpoint = public_endpoint(record, {"id": "a/b", "name": "A: B"})
    assert endpoint["uptime_last_30m"] == 75.0  # rate-limited requests are not counted
    assert endpoint["uptime_last_5m"] is None  # no successes and no errors: no data
    assert endpoint["uptime_last_1d"] is None  # not recorded
    assert endpoint["latency_last_30m"] == {"p50": 50, "p75": 75, "p90": 90, "p99": 99}
    assert endpoint["throughput_last_30m"] == {"p50": 100, "p75": 150, "p90": 180, "p99": 198}
    assert endpoint["supports_implicit_caching"] is True
    assert endpoint["pricing"] == {"prompt": "0.0000002072", "completion": "0.000001", "discount": 0}
    assert (endpoint["model_id"], endpoint["model_name"], endpoint["tag"]) == ("a/b-2026", "A: B", "together")
    bare = public_endpoint(_record("e2", "1"), {"id": "a/b", "name": "A: B"})
    assert bare["latency_last_30m"] is None and bare["supports_implicit_caching"] is False


def test_snapshot_bytes_are_deterministic_gzip() -> None:
    document = {"b": "é", "a": [1, 2]}
    data = snapshot_bytes(document)
    assert data == snapshot_bytes({"a": [1, 2], "b": "é"})
    assert data[4:8] == b"\0\0\0\0"  # gzip mtime field
    assert gzip.decompress(data) == '{"a":[1,2],"b":"é"}'.encode()


def _tiny_source(root: Path) -> Path:
    """A two-model recorded-data tree: one full day (2026-01-02) and one models-only snapshot."""
    model = {
        "id": "a/b",
        "name": "A: B",
        "created": 1,
        "description": "prose",
        "architecture": {"tokenizer": "X"},
    }
    router = {"id": "openrouter/auto", "name": "Auto", "created": 2, "pricing": {"prompt": "-1"}}
    (root / "models").mkdir(parents=True)
    (root / "models" / "models-2026-01-02.json").write_text(json.dumps([model, router]))
    (root / "models" / "models-2025-12-01.json").write_text(json.dumps({"data": [model]}))
    (root / "models" / "partial").mkdir()
    (root / "models" / "partial" / "models-2025-12-02-trimmed.json").write_text(json.dumps([model]))
    stats = {"model_slug": "a/b", "variant": "standard", "endpoints": [_record("e1", "0.1")]}
    (root / "endpoint-stats-daily").mkdir()
    (root / "endpoint-stats-daily" / "model-stats-2026-01-02.jsonl.gz").write_bytes(
        gzip.compress(json.dumps(stats).encode())
    )
    provider = {"name": "Together", "displayName": "Together AI", "slug": "together", "icon": {"url": "x"}}
    (root / "providers-daily").mkdir()
    (root / "providers-daily" / "providers-2026-01-02.json.gz").write_bytes(
        gzip.compress(json.dumps([provider]).encode())
    )
    (root / "SOURCES.md").write_text(
        "| `models/models-2026-01-02.json` | 1 KB | a/b | `c` | 2026-01-02T10:00:00+02:00 |\n"
        "| `models/models-2025-12-01.json` | 1 KB | a/b | `c` | 2025-12-01T00:00:00Z |\n"
    )
    return root


def test_a_tiny_source_builds_and_reads_back(tmp_path: Path) -> None:
    result = build(_tiny_source(tmp_path / "src"))
    assert sorted(result.files) == ["days/2026-01-02.json.gz", "models/2025-12-01.json.gz"]
    assert "models/partial/models-2025-12-02-trimmed.json" not in result.manifest["sources"]
    write_bundle(result, tmp_path / "out")
    bundle = Bundle(tmp_path / "out")
    assert [(i.id, i.kind, i.endpoints) for i in bundle.snapshots()] == [
        ("2025-12-01", "models", 0),
        ("2026-01-02", "full", 1),
    ]
    day = bundle.load("2026-01-02")
    assert day.info.taken_at == datetime(2026, 1, 2, 8, 0, tzinfo=UTC)
    assert day.endpoints["openrouter/auto"]["endpoints"] == []
    assert day.endpoints["a/b"]["architecture"]["modality"] is None  # required key, unrecorded
    assert day.providers == [
        {
            "name": "Together",
            "slug": "together",
            "privacy_policy_url": None,
            "terms_of_service_url": None,
            "status_page_url": None,
            "headquarters": None,
            "datacenters": None,
            "data_policy": {},
        }
    ]


def test_chat_recordings_are_bundled_byte_for_byte_as_deterministic_gzip(tmp_path: Path) -> None:
    source = _tiny_source(tmp_path / "src")
    (source / "chat").mkdir()
    transcript = b': OPENROUTER PROCESSING\n\ndata: {"a": 1}\r\n\ndata: [DONE]\n\n'
    (source / "chat" / "stream-x.sse").write_bytes(transcript)
    (source / "chat" / "body.json").write_bytes(b'{\n  "b": "\xc3\xa9"\n}')
    result = build(source)
    assert result.files["chat/stream-x.sse.gz"][4:8] == b"\0\0\0\0"  # gzip mtime field
    assert result.files == build(source).files
    assert [e["name"] for e in result.manifest["chat"]] == ["body.json", "stream-x.sse"]
    out = tmp_path / "out"
    (out / "chat").mkdir(parents=True)
    (out / "chat" / "gone.sse.gz").write_bytes(b"stale")  # a build drops what it no longer lists
    write_bundle(result, out)
    assert sorted(p.name for p in (out / "chat").iterdir()) == ["body.json.gz", "stream-x.sse.gz"]
    bundle = Bundle(out)
    assert bundle.chat_recordings() == ["body.json", "stream-x.sse"]
    assert bundle.chat_recording("stream-x.sse") == transcript
    assert bundle.chat_recording("body.json") == (source / "chat" / "body.json").read_bytes()


def test_a_snapshot_without_a_recorded_time_fails_naming_the_file(tmp_path: Path) -> None:
    source = _tiny_source(tmp_path)
    (source / "models" / "models-2025-11-30.json").write_text("[]")
    with pytest.raises(InputError, match=r"no snapshot time for models/models-2025-11-30\.json"):
        build(source)


# --- against the recordings (../shared) ---------------------------------------------------------------------


@pytest.mark.shared
def test_endpoints_match_the_source_line(bundle: Bundle, source: Path) -> None:
    row = _source_line(source, "2026-08-01", "deepseek/deepseek-v3.2")
    endpoints = _endpoints_of(bundle.load("2026-08-01"), "deepseek/deepseek-v3.2")
    assert [e["tag"] for e in endpoints] == [r["provider_slug"] for r in row["endpoints"]]
    for endpoint, record in zip(endpoints, row["endpoints"], strict=True):
        recorded = {k: v for k, v in record["pricing"].items() if k != "display_pricing"}
        assert endpoint["pricing"] == recorded
        assert endpoint["provider_model_id"] == record["provider_model_id"]  # the provider's own id, kept
        heuristics = record.get("status_heuristics")
        if heuristics and heuristics["success"] + heuristics["derankableError"]:
            share = heuristics["success"] / (heuristics["success"] + heuristics["derankableError"])
            assert endpoint["uptime_last_30m"] == round(100 * share, 4)
        else:
            assert endpoint["uptime_last_30m"] is None
        stats = record.get("stats")
        expected = {p: stats[f"{p}_latency"] for p in ("p50", "p75", "p90", "p99")} if stats else None
        assert endpoint["latency_last_30m"] == expected


@pytest.mark.shared
@pytest.mark.slow  # seconds, not milliseconds: left out of make test-fast
def test_spec_required_keys_are_the_ones_checked(spec: dict[str, Any]) -> None:
    schemas = spec["components"]["schemas"]
    assert set(schemas["PublicEndpoint"]["required"]) == PUBLIC_ENDPOINT_REQUIRED
    assert set(schemas["ListEndpointsResponse"]["required"]) == LIST_ENDPOINTS_REQUIRED


def _spec_minus_prose(value: Any, parent: str | None = None) -> Any:
    """The spec's text minus prose, read independently of the build: drop description / example / examples /
    x-… keys of every object except a map of property names, and leave data (enum, const, default) alone."""
    if isinstance(value, list):
        return [_spec_minus_prose(v) for v in value]
    if not isinstance(value, dict) or parent in ("enum", "const", "default", "discriminator"):
        return value
    names = parent in ("properties", "patternProperties")
    return {
        k: _spec_minus_prose(v, None if names else k)
        for k, v in value.items()
        if names or not (k in ("description", "example", "examples") or k.startswith("x-"))
    }


@pytest.mark.shared
@pytest.mark.slow  # seconds, not milliseconds: left out of make test-fast
def test_bundled_schemas_equal_the_specs_minus_prose(spec: dict[str, Any]) -> None:
    schemas = spec["components"]["schemas"]
    body = spec["paths"]["/chat/completions"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"$ref": "#/components/schemas/ChatRequest"}
    closure: set[str] = set()
    todo = ["ProviderPreferences", "ChatRequest", "GenerationResponse", "ActivityResponse"]
    todo += ["UnauthorizedResponse", "ForbiddenResponse", "NotFoundResponse"]
    inline = {
        "KeyResponse": spec["paths"]["/key"]["get"]["responses"]["200"]["content"]["application/json"]["schema"],
        "CreditsResponse": spec["paths"]["/credits"]["get"]["responses"]["200"]["content"]["application/json"][
            "schema"
        ],
        "EmbeddingsRequest": spec["paths"]["/embeddings"]["post"]["requestBody"]["content"]["application/json"][
            "schema"
        ],
        "EmbeddingsResponse": spec["paths"]["/embeddings"]["post"]["responses"]["200"]["content"]["application/json"][
            "schema"
        ],
    }
    assert spec_document(COMMITTED)["inline"] == {role: _spec_minus_prose(schema) for role, schema in inline.items()}
    todo += [r.split("/")[-1] for schema in inline.values() for r in re.findall(r"'\$ref': '([^']+)'", repr(schema))]
    while todo:
        name = todo.pop()
        if name not in closure:
            closure.add(name)
            todo += [r.split("/")[-1] for r in re.findall(r"'\$ref': '([^']+)'", repr(schemas[name]))]
    bundled = spec_schemas(COMMITTED)
    assert set(bundled) == closure and len(closure) > 50
    assert {name: _spec_minus_prose(schemas[name]) for name in closure} == bundled
    assert bundled == {name: without_annotations(schemas[name]) for name in closure}


@pytest.mark.shared
@pytest.mark.slow  # seconds, not milliseconds: left out of make test-fast
def test_first_and_last_day_validate_against_the_spec(bundle: Bundle, spec: dict[str, Any]) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT202012

    registry = Registry().with_resource("urn:spec", Resource.from_contents(spec, default_specification=DRAFT202012))
    provider_ref = (
        "urn:spec#/paths/~1providers/get/responses/200/content/application~1json/schema/properties/data/items"
    )
    endpoints = jsonschema.Draft202012Validator(
        {"$ref": "urn:spec#/components/schemas/ListEndpointsResponse"}, registry=registry
    )
    providers = jsonschema.Draft202012Validator({"$ref": provider_ref}, registry=registry)
    for day in (FULL_DAYS[0], FULL_DAYS[-1]):
        state = bundle.load(day)
        problems = [f"{m}: {e.message}" for m, d in state.endpoints.items() for e in endpoints.iter_errors(d)]
        problems += [f"{p['slug']}: {e.message}" for p in state.providers or [] for e in providers.iter_errors(p)]
        assert problems == [], problems[:5]


@pytest.mark.shared
def test_every_chat_recording_round_trips_byte_for_byte(bundle: Bundle, source: Path) -> None:
    recorded = sorted(p.name for p in (source / "chat").iterdir())
    assert bundle.chat_recordings() == recorded
    for name in recorded:
        assert bundle.chat_recording(name) == (source / "chat" / name).read_bytes(), name


@pytest.mark.slow  # several seconds on its own
@pytest.mark.shared
def test_rebuild_is_byte_identical(tmp_path: Path, source: Path) -> None:
    out = tmp_path / "bundle"
    (out / "days").mkdir(parents=True)
    (out / "days" / "1999-01-01.json.gz").write_bytes(b"stale")  # a build drops what it no longer lists
    write_bundle(build(source), out)
    rebuilt = {p.relative_to(out).as_posix(): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    committed = {p.relative_to(COMMITTED).as_posix(): p.read_bytes() for p in COMMITTED.rglob("*") if p.is_file()}
    assert sorted(rebuilt) == sorted(committed)
    assert [name for name in committed if rebuilt[name] != committed[name]] == []


def test_build_refuses_a_directory_without_sources_md(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"no SOURCES\.md"):
        build(tmp_path)
