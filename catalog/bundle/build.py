"""Build the bundled offline data (``data/bundle``) from the recordings in ``../shared/data/openrouter``.

The project must work on a fresh clone without ``../shared``, so it ships a compact extract of them:

    manifest.json              {"format": 1, "snapshots": [chronological], "chat": [by name], "sources": {path: sha256}}
    days/<YYYY-MM-DD>.json.gz  a full day: /models, the other kinds' models (``more_models``), v1 endpoints of
                               every listed model, provider directory
    models/<id>.json.gz        a /models-only snapshot
    chat/<name>.gz             a recorded chat response (``chat/<name>`` in the source), its exact bytes gzipped
    spec/schemas.json          the spec schemas the project validates its output against (``catalog.bundle.spec``)

Which snapshots:

- full days are the days with an ``endpoint-stats-daily/model-stats-<day>.jsonl.gz`` (2026-07-17 → 08-05);
  each needs the same day's ``models/models-<day>.json`` and ``providers-daily/providers-<day>.json.gz``;
- every other top-level ``models/models-*.json`` is a models-only snapshot; its id is the file stem after
  ``models-``. ``models/partial/`` (real responses a test suite trimmed to 4–5 models) and
  ``models/filtered/`` (the answer to ``?supported_parameters=structured_outputs``) are left out on purpose:
  they are not full catalogs, and a history built from them would show hundreds of models vanishing for a day.

``taken_at`` comes from the "snapshot date" column of the tables in ``SOURCES.md``. SOURCES.md has rows for
only 6 of the 20 daily ``/models`` files; for the other days the time is the ``scraped_at`` of that day's
``endpoints-daily`` CSV, which SOURCES.md calls authoritative for the daily sets (the scraper run's start).
A snapshot with neither fails the build, naming the file.

Facts only: every model's prose ``description`` is dropped; every other field is kept exactly as recorded
(price strings are never reformatted). Endpoints are translated from the website-internal stats records into
the v1 ``ListEndpointsResponse.data`` shape (plus ``provider_model_id``, the provider's own id of the model,
which the stats records carry and v1 does not), providers from the website-internal directory into v1
``/providers`` items plus a ``data_policy`` extension (see ``provider_entry``).

Models of the other kinds (embeddings, image, video, speech, transcription, rerank). ``/models`` answers
``output_modalities=text`` by default, so the recorded ``models-<day>.json`` lacks every model without a text
output; the stats records carry them (each endpoint record has the website's ``model`` object). A full day's
``more_models`` holds, in recorded order, every stats line whose model has endpoints, a ``model`` object and
no ``text`` among its output modalities (a text model missing from ``/models`` is a retired or hidden slug and
stays out, as before). Each is a v1 ``Model`` built from that ``model`` object:

- ``id`` is the stats line's id (``stats_model_id``), ``canonical_slug`` the model's ``permaslug``, ``created``
  its ``created_at`` as Unix seconds, ``hugging_face_id`` its ``hf_slug`` (empty → null);
- ``architecture``: the recorded input / output modalities, ``modality`` spelled as v1 does
  (``text+image->video``), ``tokenizer`` "Other" (the record has none), ``instruct_type`` as recorded;
- ``pricing`` is the first endpoint's ``pricing`` minus ``display_pricing`` (v1 /models shows the default
  endpoint's prices; these keys are all v1 price keys), ``top_provider`` the first endpoint's context and
  completion limits with ``is_moderated`` from its ``moderation_required``;
- ``supported_parameters`` the union of the endpoints', ``supported_voices`` the model's
  ``supported_tts_voices``, ``default_parameters``/``per_request_limits``/``expiration_date`` null,
  ``knowledge_cutoff`` as recorded, ``links.details`` the v1 endpoints URL of the canonical slug.

SKU prices. For many of these models ``prompt``/``completion`` are ``"0"`` and the real price is only in the
record's ``pricing_json`` (``alibaba_video:duration_seconds_720p``, ``tts:characters``, ``rerank:search-units``,
``bfl_video:cents_per_second_output`` in cents …). v1 has a home for them only on video models
(``VideoModel.pricing_skus``: prefix stripped, values as strings) and image endpoints (``ImagePricingEntry``,
a float); speech, transcription, rerank, embeddings and music endpoints have none. The least surprising
carrier for all of them is the same name on the v1 ``PublicEndpoint`` itself: every endpoint of a model whose
output modalities are not just ``text`` gets ``pricing_skus`` = the record's whole ``pricing_json`` with the
provider prefix kept (two providers of one model use different prefixes, and the prefix names the unit's
meaning), every value as a string holding its recorded text: a JSON number keeps its digits as written
(``5e-09``, ``17``), never reformatted through a float. ``informational_*`` keys are kept too (they are
facts, not prices; the store marks them). Text-only models get no ``pricing_skus``: their v1 ``pricing`` is
their price, and their SKU maps would double the bundle. The fake derives ``/embeddings/models``,
``/images/models`` (+ endpoints, ``ImagePricingEntry``) and ``/videos/models`` from these at serve time.

Chat recordings (JSON bodies, SSE transcripts, one error body) are kept byte for byte, because the fake
server replays them and clients are tested on exactly what OpenRouter sent: each ``chat`` entry is
``{"name", "file", "bytes", "sha256"}`` with the size and hash of the raw (not the gzipped) bytes, which the
reader checks on every load.

The spec (``spec/openapi.yaml``, optional in the source like ``chat/``) is parsed with PyYAML, a test
dependency: building the bundle is a maintainer's job (``make bundle`` runs in the project's test virtualenv),
and nothing reads YAML at run time. The manifest's ``spec`` entry is ``{"file", "bytes", "sha256", "schemas"}``.

Bytes are deterministic (sorted keys, compact JSON, gzip with mtime 0 and no file name), so rebuilding from
the same inputs gives identical files, which a test checks.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from catalog.bundle.spec import SPEC_FILE, SPEC_SOURCE, document_bytes, extract
from catalog.errors import InputError

FORMAT = 1
CHAT_DIR = "chat"
ARCHITECTURE_KEYS = ("tokenizer", "instruct_type", "modality", "input_modalities", "output_modalities")

# website-internal dataPolicy key -> key of our ``data_policy`` extension (retentionDays is recorded for some
# providers from 2026-07 on; it is a policy fact like the others, so it is kept too)
DATA_POLICY_KEYS = {
    "training": "training",
    "trainingOpenRouter": "training_openrouter",
    "retainsPrompts": "retains_prompts",
    "canPublish": "can_publish",
    "requiresUserIDs": "requires_user_ids",
    "retentionDays": "retention_days",
}

_TABLE_ROW = re.compile(r"^\|\s*`(?P<path>[^`]+)`\s*\|.*\|\s*(?P<date>[^|]*?)\s*\|\s*$")
_TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:Z|[+-]\d{2}:\d{2})")


@dataclass
class SourceReader:
    """Reads files under the source directory and remembers the sha256 of each one it read."""

    root: Path
    hashes: dict[str, str] = field(default_factory=dict)

    def read(self, relative: str) -> bytes:
        """The bytes of ``root/relative``; a missing file is an ``InputError`` naming it."""
        path = self.root / relative
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise InputError(
                f"cannot read {path}: {exc.strerror or exc}; pass --from the recorded data directory "
                "(…/shared/data/openrouter)"
            ) from None
        self.hashes[relative] = hashlib.sha256(data).hexdigest()
        return data

    def read_text(self, relative: str) -> str:
        """The text of ``relative``, gunzipped first when its name ends in ``.gz``."""
        data = self.read(relative)
        if relative.endswith(".gz"):
            try:
                data = gzip.decompress(data)
            except (OSError, EOFError) as exc:
                raise InputError(f"{self.root / relative} is not a valid gzip file ({exc})") from None
        return data.decode("utf-8")

    def read_json(self, relative: str) -> Any:
        """The parsed JSON document in ``relative``."""
        try:
            return json.loads(self.read_text(relative))
        except json.JSONDecodeError as exc:
            raise InputError(f"{self.root / relative} is not JSON: {exc}") from None


def utc_timestamp(value: str) -> str:
    """``2025-05-26T19:46:14+10:00`` or ``…Z`` → ``2025-05-26T09:46:14Z``."""
    return datetime.fromisoformat(value).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def recorded_times(sources_md: str) -> dict[str, str]:
    """Map each file in the SOURCES.md tables to its "snapshot date" column, as a UTC timestamp."""
    times: dict[str, str] = {}
    for line in sources_md.splitlines():
        row = _TABLE_ROW.match(line)
        stamp = _TIMESTAMP.search(row["date"]) if row else None
        if row and stamp:
            times[row["path"]] = utc_timestamp(stamp.group())
    return times


def catalog_models(body: Any, relative: str) -> list[dict[str, Any]]:
    """The model list of a /models body (``{"data": [...]}`` or a bare array), without prose descriptions."""
    models = body.get("data") if isinstance(body, dict) else body
    if not isinstance(models, list) or not all(isinstance(m, dict) and "id" in m for m in models):
        raise InputError(f"{relative} is not a /models body: expected {{'data': [...]}} or a list of models")
    return [{key: value for key, value in model.items() if key != "description"} for model in models]


def _uptime(heuristics: dict[str, Any] | None) -> float | None:
    # The spec: successful / (successful + error) * 100, rate-limited requests excluded; null without data.
    if not heuristics:
        return None
    success = heuristics.get("success") or 0
    total = success + (heuristics.get("derankableError") or 0)
    return round(success / total * 100, 4) if total else None


def _percentiles(stats: dict[str, Any] | None, measure: str) -> dict[str, Any] | None:
    if not stats:
        return None
    values = {p: stats.get(f"{p}_{measure}") for p in ("p50", "p75", "p90", "p99")}
    return None if any(v is None for v in values.values()) else values


def sku_texts(raw_skus: Any) -> dict[str, str] | None:
    """A ``pricing_json`` parsed with numbers as their text → ``{sku: recorded text}`` (None: no map)."""
    if not isinstance(raw_skus, dict):
        return None
    return {str(key): value if isinstance(value, str) else json.dumps(value) for key, value in raw_skus.items()}


def public_endpoint(record: dict[str, Any], model: dict[str, Any], skus: Any = None) -> dict[str, Any]:
    """One website-internal endpoint record → a v1 ``PublicEndpoint`` (every spec-required key present);
    ``skus`` (the record's ``pricing_json`` read with numbers as text) adds ``pricing_skus``."""
    # display_pricing is the website's rendering of the same prices; v1 does not carry it.
    pricing = {key: value for key, value in record["pricing"].items() if key != "display_pricing"}
    # supports_implicit_caching lives in record["features"], a dict of per-endpoint capability flags (nowhere
    # else in the stats line). It is only ever recorded as true (50–68 bundled endpoints a day: Azure, OpenAI,
    # Google AI Studio / Vertex, Bedrock, DeepSeek, Alibaba, Z.AI, Groq, Baidu); absent means false.
    features = record.get("features") or {}
    return {
        "name": record["name"],
        "model_id": record["model_variant_permaslug"],
        "model_name": model["name"],
        "provider_name": record["provider_name"],
        # provider_slug is already the v1 tag (provider plus variant: deepinfra/fp8, amazon-bedrock/eu-west-1)
        "tag": record["provider_slug"],
        "quantization": record["quantization"],
        "context_length": record["context_length"],
        "max_completion_tokens": record["max_completion_tokens"],
        "max_prompt_tokens": record["max_prompt_tokens"],
        "supported_parameters": record["supported_parameters"],
        "status": record["status"],
        "pricing": pricing,
        "uptime_last_30m": _uptime(record.get("status_heuristics")),
        "uptime_last_5m": _uptime(record.get("status_heuristics_5m")),
        "uptime_last_1d": _uptime(record.get("status_heuristics_1d")),
        "latency_last_30m": _percentiles(record.get("stats"), "latency"),
        "throughput_last_30m": _percentiles(record.get("stats"), "throughput"),
        "supports_implicit_caching": features.get("supports_implicit_caching") is True,
        # Not in the v1 shape: the id the provider's own API knows the model by (``claude-haiku-4-5-20251001``
        # for anthropic/claude-haiku-4.5 at Anthropic). The client calls a provider directly with it.
        "provider_model_id": record.get("provider_model_id") or None,
        **({"pricing_skus": skus} if skus is not None else {}),
    }


def model_endpoints(
    model: dict[str, Any], records: list[dict[str, Any]], skus: dict[str, dict[str, str] | None] | None = None
) -> dict[str, Any]:
    """The ``data`` object of ``GET /models/{author}/{slug}/endpoints`` for one /models entry; ``skus`` maps an
    endpoint record's id to its SKU texts (only for models that are not text-only)."""
    architecture = model.get("architecture") or {}
    carried = skus if skus is not None and not text_only(architecture.get("output_modalities")) else {}
    return {
        "id": model["id"],
        "name": model["name"],
        "created": model["created"],
        # prose is not bundled, but the spec requires the field
        "description": "",
        "architecture": {key: architecture.get(key) for key in ARCHITECTURE_KEYS},
        "endpoints": [public_endpoint(record, model, carried.get(record["id"])) for record in records],
    }


def stats_model_id(row: dict[str, Any]) -> str:
    """The /models id of a stats line: the slug for variant ``standard``, else ``slug:variant``."""
    slug, variant = row["model_slug"], row["variant"]
    return slug if variant == "standard" else f"{slug}:{variant}"


def text_only(output_modalities: Any) -> bool:
    """Whether a model lists only ``text`` among its outputs (what ``/models`` lists by default is any model
    with a text output; a missing list is an old text model)."""
    return not output_modalities or list(output_modalities) == ["text"]


def other_kind(record_model: Any) -> bool:
    """Whether a stats record's ``model`` object is a model ``/models`` does not list by default."""
    return isinstance(record_model, dict) and "text" not in (record_model.get("output_modalities") or ["text"])


def _unix(stamp: Any) -> int:
    return int(datetime.fromisoformat(str(stamp)).timestamp()) if stamp else 0


def other_model(model_id: str, records: list[dict[str, Any]]) -> dict[str, Any]:
    """A v1 ``Model`` for a model of another kind, from its endpoint records (see the module doc)."""
    site = records[0]["model"]
    first = records[0]
    inputs, outputs = list(site.get("input_modalities") or []), list(site.get("output_modalities") or [])
    params = sorted({p for r in records for p in r.get("supported_parameters") or []})
    slug = site.get("permaslug") or model_id
    return {
        "id": model_id,
        "canonical_slug": slug,
        "hugging_face_id": site.get("hf_slug") or None,
        "name": site.get("name") or model_id,
        "created": _unix(site.get("created_at")),
        "context_length": site.get("context_length"),
        "architecture": {
            "input_modalities": inputs,
            "output_modalities": outputs,
            "modality": "+".join(inputs) + "->" + "+".join(outputs),
            "tokenizer": "Other",
            "instruct_type": site.get("instruct_type"),
        },
        "pricing": {key: value for key, value in first["pricing"].items() if key != "display_pricing"},
        "top_provider": {
            "context_length": first.get("context_length"),
            "max_completion_tokens": first.get("max_completion_tokens"),
            "is_moderated": first.get("moderation_required") is True,
        },
        "per_request_limits": None,
        "supported_parameters": params,
        "default_parameters": None,
        "supported_voices": site.get("supported_tts_voices"),
        "knowledge_cutoff": site.get("knowledge_cutoff"),
        "expiration_date": None,
        "links": {"details": f"/api/v1/models/{slug}/endpoints"},
    }


@dataclass
class StatsDay:
    """What one ``model-stats-<day>.jsonl`` holds for the bundle."""

    records: dict[str, list[dict[str, Any]]]  # model id -> endpoint records, recorded order
    skus: dict[str, dict[str, str] | None]  # endpoint record id -> its pricing_json as texts
    others: list[str]  # ids of the models of other kinds, recorded order


def endpoint_records(text: str, relative: str, model_ids: set[str]) -> dict[str, list[dict[str, Any]]]:
    """The endpoint records of each listed model in a ``model-stats-<day>.jsonl`` text, in recorded order."""
    return stats_day(text, relative, model_ids).records


def stats_day(text: str, relative: str, model_ids: set[str]) -> StatsDay:
    """The endpoint records of each listed model and of each model of another kind, with their SKU texts."""
    records: dict[str, list[dict[str, Any]]] = {}
    skus: dict[str, dict[str, str] | None] = {}
    others: list[str] = []
    seen: dict[str, set[str]] = {}
    for line_no, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            model_id = stats_model_id(row)
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise InputError(f"{relative} line {line_no} is not a model stats record ({exc})") from None
        # The website lists more models than /models: models of other kinds (bundled as ``more_models``) and
        # retired or hidden text slugs (not bundled: no /models ever listed them that day).
        endpoints = row.get("endpoints") or []
        other = model_id not in model_ids and bool(endpoints) and other_kind(endpoints[0].get("model"))
        if model_id not in model_ids and not other:
            continue
        if other and model_id not in records:
            others.append(model_id)
        if other or any(not text_only((e.get("model") or {}).get("output_modalities")) for e in endpoints):
            # numbers as their text: a SKU price such as 5e-09 is kept as written (see the module doc)
            textual = json.loads(line, parse_float=str, parse_int=str)
            for raw in textual.get("endpoints") or []:
                skus.setdefault(str(raw.get("id")), sku_texts(raw.get("pricing_json")))
        kept = records.setdefault(model_id, [])
        ids = seen.setdefault(model_id, set())
        for record in endpoints:
            # One endpoint record (same id) listed twice for a model is one endpoint: keep the first. (None of
            # the 20 recorded days has such a repeat, but the scraper's format allows it and a repeat would
            # double-count the endpoint.)
            # Two records of one provider with different ids are distinct endpoints (e.g. two `together`
            # endpoints for google/gemma-4-31b-it, two `google-vertex/us-south1` for qwen/qwen3-235b-a22b-2507
            # at different prices): both are kept, in the recorded order. Alias models (~author/…-latest)
            # repeat their target's endpoints on their own line; they stay under the alias id, because the
            # store records what upstream listed.
            if record["id"] in ids:
                continue
            ids.add(record["id"])
            kept.append(record)
    return StatsDay(records, skus, others)


def provider_entry(record: dict[str, Any]) -> dict[str, Any]:
    """A website-internal provider record → a v1 ``/providers`` item plus our ``data_policy`` extension."""
    # ``name``, not ``displayName``: every recorded name is in the spec's ProviderName enum ("Amazon Bedrock",
    # "Google", "Z.AI") and equals the endpoints' provider_name; displayName is the website label ("Google
    # Vertex", "Z.ai", "Baidu Qianfan"), 17 of which are not in the enum.
    policy = record.get("dataPolicy") or {}
    return {
        "name": record["name"],
        "slug": record["slug"],
        "privacy_policy_url": policy.get("privacyPolicyURL"),
        "terms_of_service_url": policy.get("termsOfServiceURL"),
        "status_page_url": record.get("statusPageUrl"),
        "headquarters": record.get("headquarters"),
        "datacenters": record.get("datacenters"),
        "data_policy": {ours: policy[theirs] for theirs, ours in DATA_POLICY_KEYS.items() if theirs in policy},
    }


def snapshot_bytes(document: dict[str, Any]) -> bytes:
    """Deterministic gzip of a snapshot document: same document, same bytes."""
    return gzip_bytes(json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))


def gzip_bytes(raw: bytes) -> bytes:
    """Deterministic gzip (mtime 0, no file name): same input, same bytes."""
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0, filename="", compresslevel=9) as gz:
        gz.write(raw)
    return buffer.getvalue()


@dataclass(frozen=True)
class BuildResult:
    """What a build produced: the manifest and the bytes of every file, keyed by path inside the bundle."""

    manifest: dict[str, Any]
    files: dict[str, bytes]

    @property
    def total_bytes(self) -> int:
        return sum(len(data) for data in self.files.values())


class _Builder:
    def __init__(self, source: Path) -> None:
        if not (source / "SOURCES.md").is_file():
            raise InputError(
                f"{source} is not the recorded data directory (no SOURCES.md); pass --from …/shared/data/openrouter"
            )
        self.reader = SourceReader(source)
        self.times = recorded_times(self.reader.read_text("SOURCES.md"))
        self.files: dict[str, bytes] = {}
        self.snapshots: list[dict[str, Any]] = []
        self.chat: list[dict[str, Any]] = []
        self.spec: dict[str, Any] | None = None

    def full_days(self) -> list[str]:
        stats = (self.reader.root / "endpoint-stats-daily").glob("model-stats-*.jsonl.gz")
        days = sorted(p.name[len("model-stats-") : -len(".jsonl.gz")] for p in stats)
        if not days:
            raise InputError(f"no endpoint-stats-daily/model-stats-<day>.jsonl.gz in {self.reader.root}")
        return days

    def models_files(self) -> list[Path]:
        # top level only: models/partial/ and models/filtered/ are not full catalogs (see the module doc)
        return sorted((self.reader.root / "models").glob("models-*.json"))

    def taken_at(self, models_file: str, day: str | None) -> str:
        if models_file in self.times:
            return self.times[models_file]
        if day is not None and (self.reader.root / f"endpoints-daily/endpoints-{day}.csv.gz").is_file():
            csv_file = f"endpoints-daily/endpoints-{day}.csv.gz"
            first = next(csv.DictReader(io.StringIO(self.reader.read_text(csv_file))), None)
            if first and first.get("scraped_at"):
                return utc_timestamp(first["scraped_at"])
        raise InputError(
            f"no snapshot time for {models_file}: add its row to the models/ table in SOURCES.md"
            + (f" (endpoints-daily/endpoints-{day}.csv.gz has no scraped_at either)" if day else "")
        )

    def add(self, document: dict[str, Any], file: str, endpoints: int, providers: int) -> None:
        self.files[file] = snapshot_bytes(document)
        self.snapshots.append(
            {
                "id": document["id"],
                "taken_at": document["taken_at"],
                "kind": document["kind"],
                "file": file,
                "models": len(document["models"]),
                **({"more_models": len(document["more_models"])} if document.get("more_models") else {}),
                "endpoints": endpoints,
                "providers": providers,
            }
        )

    def add_full_day(self, day: str) -> None:
        models_file = f"models/models-{day}.json"
        models = catalog_models(self.reader.read_json(models_file), models_file)
        stats_file = f"endpoint-stats-daily/model-stats-{day}.jsonl.gz"
        stats = stats_day(self.reader.read_text(stats_file), stats_file, {m["id"] for m in models})
        records = stats.records
        try:
            more = [other_model(model_id, records[model_id]) for model_id in stats.others]
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(f"{stats_file}: a model of another kind lacks the {exc} field") from None
        endpoints: dict[str, dict[str, Any]] = {}
        for model in [*models, *more]:
            try:
                # No stats line or no live endpoint (router models such as openrouter/auto) → an empty list.
                endpoints[model["id"]] = model_endpoints(model, records.get(model["id"], []), stats.skus)
            except KeyError as exc:
                raise InputError(f"{models_file} / {stats_file}: {model['id']} lacks the {exc} field") from None
        providers_file = f"providers-daily/providers-{day}.json.gz"
        directory = self.reader.read_json(providers_file)
        if not isinstance(directory, list):
            raise InputError(f"{providers_file} is not a list of provider records")
        providers = sorted((provider_entry(r) for r in directory), key=lambda p: str(p["slug"]))
        document = {
            "id": day,
            "taken_at": self.taken_at(models_file, day),
            "kind": "full",
            "models": models,
            "more_models": more,
            "endpoints": endpoints,
            "providers": providers,
        }
        total = sum(len(data["endpoints"]) for data in endpoints.values())
        self.add(document, f"days/{day}.json.gz", total, len(providers))

    def add_models_only(self, path: Path) -> None:
        models_file = f"models/{path.name}"
        snapshot_id = path.stem[len("models-") :]
        models = catalog_models(self.reader.read_json(models_file), models_file)
        document = {
            "id": snapshot_id,
            "taken_at": self.taken_at(models_file, None),
            "kind": "models",
            "models": models,
        }
        self.add(document, f"models/{snapshot_id}.json.gz", 0, 0)

    def add_chat_recordings(self) -> None:
        # Optional in the source (a hand-made test tree has none); every file in chat/ is a recording.
        for path in sorted(p for p in (self.reader.root / CHAT_DIR).glob("*") if p.is_file()):
            relative = f"{CHAT_DIR}/{path.name}"
            raw = self.reader.read(relative)
            file = f"{CHAT_DIR}/{path.name}.gz"
            self.files[file] = gzip_bytes(raw)
            self.chat.append(
                {"name": path.name, "file": file, "bytes": len(raw), "sha256": self.reader.hashes[relative]}
            )

    def add_spec(self) -> None:
        # Optional in the source (a hand-made test tree has none), like the chat recordings.
        if not (self.reader.root / SPEC_SOURCE).is_file():
            return
        try:
            import yaml
        except ImportError:
            raise InputError(
                f"reading {SPEC_SOURCE} needs PyYAML: install the test extras (pip install -e '.[test]')"
            ) from None
        text = self.reader.read_text(SPEC_SOURCE)
        try:
            document = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
        except yaml.YAMLError as exc:
            raise InputError(f"{self.reader.root / SPEC_SOURCE} is not YAML: {exc}") from None
        bundled = extract(document, self.reader.hashes[SPEC_SOURCE])
        raw = document_bytes(bundled)
        self.files[SPEC_FILE] = raw
        self.spec = {
            "file": SPEC_FILE,
            "bytes": len(raw),
            "sha256": hashlib.sha256(raw).hexdigest(),
            "schemas": len(bundled["components"]["schemas"]),
        }

    def result(self) -> BuildResult:
        self.snapshots.sort(key=lambda s: (s["taken_at"], s["id"]))
        manifest = {
            "format": FORMAT,
            "snapshots": self.snapshots,
            "chat": self.chat,
            **({"spec": self.spec} if self.spec else {}),
            "sources": dict(sorted(self.reader.hashes.items())),
        }
        return BuildResult(manifest=manifest, files=dict(self.files))


def build(source: Path) -> BuildResult:
    """Read the recordings under ``source`` and return the bundle's files (nothing is written)."""
    builder = _Builder(source)
    days = builder.full_days()
    for day in days:
        builder.add_full_day(day)
    for path in builder.models_files():
        if path.stem[len("models-") :] not in days:
            builder.add_models_only(path)
    builder.add_chat_recordings()
    builder.add_spec()
    return builder.result()


def manifest_bytes(manifest: dict[str, Any]) -> bytes:
    """The manifest as written: sorted keys, indent 1, trailing newline."""
    return (json.dumps(manifest, sort_keys=True, indent=1) + "\n").encode("utf-8")


def write_bundle(result: BuildResult, out: Path) -> int:
    """Write ``result`` under ``out`` and drop snapshot files it no longer lists; return the bytes written."""
    out.mkdir(parents=True, exist_ok=True)
    for relative, data in result.files.items():
        path = out / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    for folder, pattern in (("days", "*.gz"), ("models", "*.gz"), (CHAT_DIR, "*.gz"), ("spec", "*.json")):
        for stale in (out / folder).glob(pattern):
            if f"{folder}/{stale.name}" not in result.files:
                stale.unlink()
    # the manifest goes last, so a build that dies half-way never points at files it did not write
    manifest = manifest_bytes(result.manifest)
    (out / "manifest.json").write_bytes(manifest)
    return result.total_bytes + len(manifest)
