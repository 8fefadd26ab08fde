"""Every model OpenRouter sells: the other kinds (embeddings, image, video, speech, transcription, rerank, music)
in the bundle, the fake, the sweep's scope, the SKU prices and the change feed.

The acceptance tests compare with the raw recordings in ``../shared`` read with plain ``json`` (skipped without
them); the rest run on the bundled data alone.
"""

from __future__ import annotations

import asyncio
import gzip
import itertools
import json
import random
import shutil
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Context, Decimal, localcontext
from pathlib import Path
from typing import Any

import duckdb
import pytest
from helpers import run_cli, shared_data_dir
from starlette.testclient import TestClient

from catalog.bundle import Bundle
from catalog.fake import FakeOpenRouter, Faults, serve_in_thread
from catalog.fake.source import MemorySource, memory_day
from catalog.openrouter.fetch import fetch_sweep
from catalog.openrouter.skus import in_scope, model_kind, parse_sku
from catalog.settings import FetchSettings
from catalog.store import queries
from catalog.store.db import connect
from catalog.store.ingest import record_snapshot

DAY = "2026-08-05"

# --- independent reading of the recordings (plain json, nothing from catalog) ------------------------------


def _kind(outputs: list[str]) -> str:
    # the documented rule, written out again: first match in this order, else text
    for kind in ("embeddings", "rerank", "video", "speech", "transcription", "image", "audio"):
        if kind in outputs:
            return kind
    return "text"


def _recorded_lines(day: str) -> list[dict[str, Any]]:
    root = shared_data_dir()
    assert root is not None
    with gzip.open(root / f"endpoint-stats-daily/model-stats-{day}.jsonl.gz", "rt", encoding="utf-8") as f:
        # numbers as exact Decimals: a SKU price recorded as 5e-09 is Decimal("5e-09")
        return [json.loads(line, parse_float=Decimal, parse_int=Decimal) for line in f if line.strip()]


def _line_id(line: dict[str, Any]) -> str:
    return line["model_slug"] if line["variant"] == "standard" else f"{line['model_slug']}:{line['variant']}"


def _recorded_models(day: str) -> dict[str, list[str]]:
    """model id -> output modalities: the default /models list plus the stats lines of models without text."""
    root = shared_data_dir()
    assert root is not None
    body = json.loads((root / f"models/models-{day}.json").read_text(encoding="utf-8"))
    listed = body["data"] if isinstance(body, dict) else body
    models = {m["id"]: list((m.get("architecture") or {}).get("output_modalities") or ["text"]) for m in listed}
    for line in _recorded_lines(day):
        endpoints = line.get("endpoints") or []
        site = endpoints[0].get("model") if endpoints else None
        if _line_id(line) not in models and site and "text" not in site["output_modalities"]:
            models[_line_id(line)] = list(site["output_modalities"])
    return models


def _is_price(name: str) -> bool:
    bare = name.split(":", 1)[-1]
    return not (bare.startswith(("informational_", "upstream_cost")) or bare.endswith("_multiplier"))


def _days() -> list[str]:
    root = shared_data_dir()
    assert root is not None
    files = sorted((root / "endpoint-stats-daily").glob("model-stats-*.jsonl.gz"))
    return [p.name[len("model-stats-") : -len(".jsonl.gz")] for p in files]


# --- fixtures ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def replayed(replayed_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The 20 full days as `catalog replay` stores them (a private copy for this module)."""
    path = tmp_path_factory.mktemp("kinds") / "history.duckdb"
    shutil.copyfile(replayed_template, path)
    yield path


# --- bundle and fake -----------------------------------------------------------------------------------------


def test_the_bundle_holds_every_kind_with_sku_texts(bundle: Bundle) -> None:
    state = bundle.load(DAY)
    kinds = Counter(model_kind(m["architecture"]["output_modalities"]) for m in state.more_models)
    assert set(kinds) == {"embeddings", "image", "video", "speech", "transcription", "rerank"}
    skus = [e["pricing_skus"] for m in state.more_models for e in state.endpoints[m["id"]]["endpoints"]]
    assert skus and all(isinstance(v, str) for s in skus for v in s.values())
    # a JSON number keeps its recorded digits (5e-09 is never 5E-9 nor 0.000000005)
    bge = state.endpoints["baai/bge-base-en-v1.5"]["endpoints"][0]["pricing_skus"]
    assert bge == {"openai-embeddings:prompt_tokens": "5e-09"}
    # text-only models carry no SKU map
    assert not any(
        "pricing_skus" in e
        for m in state.models[:50]
        for e in state.endpoints[m["id"]]["endpoints"]
        if m["architecture"]["output_modalities"] == ["text"]
    )


def test_the_fake_honours_output_modalities_and_serves_the_kind_routes(bundle: Bundle) -> None:
    fake = FakeOpenRouter(bundle, day=DAY)
    client = TestClient(fake.app)
    default = client.get("/api/v1/models").json()["data"]
    everything = client.get("/api/v1/models", params={"output_modalities": "all"}).json()["data"]
    embeddings = client.get("/api/v1/models", params={"output_modalities": "embeddings"}).json()["data"]
    assert all("text" in m["architecture"]["output_modalities"] for m in default)
    assert len(everything) == len(default) + len(bundle.load(DAY).more_models)
    assert embeddings == client.get("/api/v1/embeddings/models").json()["data"]
    assert {m["id"] for m in embeddings} <= {m["id"] for m in everything}
    videos = client.get("/api/v1/videos/models").json()["data"]
    happy = next(v for v in videos if v["id"] == "alibaba/happyhorse-1.0")
    assert happy["pricing_skus"] == {"duration_seconds_1080p": "0.1694", "duration_seconds_720p": "0.0988"}
    assert happy["supported_resolutions"] == ["1080p", "720p"]
    images = client.get("/api/v1/images/models").json()["data"]
    seedream = next(i for i in images if i["id"].startswith("bytedance-seed/seedream"))
    listing = client.get(seedream["endpoints"]).json()
    pricing = listing["endpoints"][0]["pricing"]
    assert pricing and {p["billable"] for p in pricing} <= {
        "output_image",
        "input_image",
        "input_font",
        "input_reference",
        "input_text",
    }
    # the knob: an upstream that ignores the parameter answers the text list whatever is asked
    fake.set_faults(Faults(ignore_output_modalities=True))
    ignored = client.get("/api/v1/models", params={"output_modalities": "all"}).json()["data"]
    assert [m["id"] for m in ignored] == [m["id"] for m in default]
    # and the fault knobs still reach the new routes
    fake.set_faults(Faults(fail_first=1, fail_status=503))
    assert client.get("/api/v1/videos/models").status_code == 503
    assert client.get("/api/v1/videos/models").status_code == 200


def test_unknown_sku_names_are_kept_as_they_are() -> None:
    odd = parse_sku("newco:glorbs_per_frobnication", "0.5")
    assert (odd.sku, odd.text, odd.amount, odd.usd, odd.unit, odd.is_price) == (
        "newco:glorbs_per_frobnication",
        "0.5",
        Decimal("0.5"),
        Decimal("0.5"),
        None,
        True,
    )
    cents = parse_sku("bfl_video:cents_per_second_output", "17")
    assert (cents.amount, cents.usd, cents.unit, cents.billable) == (Decimal(17), Decimal("0.17"), "second", "output")
    words = parse_sku("x:not-a-number", "about a dollar")
    assert (words.amount, words.is_price, words.text) == (None, False, "about a dollar")
    video = parse_sku("google:duration_seconds_without_audio_4k", "0.4")
    assert video.variant == "without_audio,4k" and video.unit == "second"
    # A bare "duration" says no unit (Google's STT lists it at its per-minute price): kept, never priced by a guess.
    bare = parse_sku("google_cloud_stt:duration", "0.016")
    assert (bare.unit, bare.usd, bare.is_price) == (None, Decimal("0.016"), True)


# --- scope -------------------------------------------------------------------------------------------------


def _mini_days() -> MemorySource:
    text = {
        "id": "a/chat",
        "name": "Chat",
        "created": 1,
        "context_length": 8,
        "canonical_slug": "a/chat",
        "architecture": {"input_modalities": ["text"], "output_modalities": ["text"], "modality": "text->text"},
        "pricing": {"prompt": "0.000001", "completion": "0.000002"},
    }
    emb = {
        **text,
        "id": "a/embed",
        "canonical_slug": "a/embed",
        "name": "Embed",
        "architecture": {
            "input_modalities": ["text"],
            "output_modalities": ["embeddings"],
            "modality": "text->embeddings",
        },
    }

    def listing(model: dict[str, Any], price: str) -> dict[str, Any]:
        endpoint = {
            "name": "p",
            "model_id": model["id"],
            "model_name": model["name"],
            "provider_name": "P",
            "tag": "p",
            "context_length": 8,
            "pricing": {"prompt": "0", "completion": "0"},
            "status": 0,
            "supported_parameters": [],
        }
        if "embeddings" in model["architecture"]["output_modalities"]:
            endpoint["pricing_skus"] = {"p:prompt_tokens": price}
        return {
            "id": model["id"],
            "name": model["name"],
            "created": 1,
            "description": "",
            "architecture": model["architecture"],
            "endpoints": [endpoint],
        }

    providers = [{"name": "P", "slug": "p"}]
    days = []
    for i, price in enumerate(("0.00000002", "0.00000003", "0.00000003")):
        day = memory_day(
            f"2026-08-0{i + 1}", [text], {"a/chat": listing(text, price), "a/embed": listing(emb, price)}, providers
        )
        days.append(type(day)(day.info, day.models, day.endpoints, day.providers, [emb]))
    return MemorySource(days)


def _sweep_into(con: duckdb.DuckDBPyConnection, url: str, day: str, scope: str = "all") -> Any:
    taken = datetime.fromisoformat(day).replace(hour=12, tzinfo=UTC)
    return record_snapshot(con, asyncio.run(fetch_sweep(FetchSettings(base_url=url), taken_at=taken, scope=scope)))


def test_a_text_only_snapshot_after_a_full_one_closes_no_other_kind(tmp_path: Path) -> None:
    """Acceptance 3, with the fake's output_modalities handling switched off for the second sweep."""
    fake = FakeOpenRouter(_mini_days(), day="2026-08-01")
    con = connect(tmp_path / "h.duckdb")
    with serve_in_thread(fake) as url:
        first = _sweep_into(con, url, "2026-08-01")
        fake.set_day("2026-08-02")
        fake.set_faults(Faults(ignore_output_modalities=True))
        # /models answers text only; the embeddings model is still listed by /embeddings/models
        second = _sweep_into(con, url, "2026-08-02")
        fake.set_day("2026-08-03")
        third = _sweep_into(con, url, "2026-08-03", scope="text")  # asks the default /models only
    scopes = [r[0] for r in con.execute("SELECT scope FROM snapshots ORDER BY snapshot_id").fetchall()]
    assert scopes == ["all", "embeddings,text", "text"]
    assert (first.models, second.models, third.models) == (2, 2, 1)
    # day 2 moved the embeddings price (a version replaced, not a removal); day 3 changed nothing of it
    assert third.closed == 0
    open_models = {r[0] for r in con.execute("SELECT model_id FROM model_versions WHERE valid_to IS NULL").fetchall()}
    assert open_models == {"a/chat", "a/embed"}
    open_endpoints = con.execute("SELECT model_id FROM endpoint_versions WHERE valid_to IS NULL ORDER BY 1").fetchall()
    assert open_endpoints == [("a/chat",), ("a/embed",)]
    rows = queries.changes(con, datetime(2026, 8, 1, tzinfo=UTC), datetime(2026, 8, 4, tzinfo=UTC)).to_dicts()
    assert not [r for r in rows if r["kind"] == "removed"]


def test_widening_the_scope_is_one_change_not_an_added_line_per_model(tmp_path: Path) -> None:
    fake = FakeOpenRouter(_mini_days(), day="2026-08-01")
    con = connect(tmp_path / "h.duckdb")
    with serve_in_thread(fake) as url:
        _sweep_into(con, url, "2026-08-01", scope="text")
        fake.set_day("2026-08-02")
        _sweep_into(con, url, "2026-08-02")  # widened: the embeddings model is seen for the first time
        fake.set_day("2026-08-03")
        _sweep_into(con, url, "2026-08-03")
    rows = queries.changes(con, datetime(2026, 8, 1, tzinfo=UTC), datetime(2026, 8, 4, tzinfo=UTC)).to_dicts()
    assert [r["new"] for r in rows if r["kind"] == "coverage"] == ["catalog now covers embeddings models"]
    assert not [r for r in rows if r["kind"] == "added"]
    assert in_scope(["embeddings"], "all") and not in_scope(["embeddings"], "text")


def test_a_sku_change_is_a_price_change_old_to_new(tmp_path: Path) -> None:
    fake = FakeOpenRouter(_mini_days(), day="2026-08-01")
    con = connect(tmp_path / "h.duckdb")
    with serve_in_thread(fake) as url:
        _sweep_into(con, url, "2026-08-01")
        fake.set_day("2026-08-02")
        _sweep_into(con, url, "2026-08-02")
    rows = queries.changes(con, datetime(2026, 8, 1, tzinfo=UTC), datetime(2026, 8, 3, tzinfo=UTC)).to_dicts()
    sku = [(r["model_id"], r["field"], r["old"], r["new"]) for r in rows if r["field"] == "sku:p:prompt_tokens"]
    assert sku == [("a/embed", "sku:p:prompt_tokens", Decimal("0.00000002"), Decimal("0.00000003"))]
    versions = con.execute(
        "SELECT s.price_text, s.price FROM endpoint_skus s JOIN endpoint_versions e USING (version_id) "
        "WHERE e.model_id = 'a/embed' ORDER BY e.valid_from"
    ).fetchall()
    assert versions == [("0.00000002", Decimal("0.00000002")), ("0.00000003", Decimal("0.00000003"))]


# --- acceptance on the recordings -----------------------------------------------------------------------------


@pytest.mark.shared
@pytest.mark.slow
def test_acceptance_1_every_kind_counted_as_the_recording(replayed: Path) -> None:
    recorded = Counter(_kind(outputs) for outputs in _recorded_models(DAY).values())
    assert recorded["embeddings"] == 31  # the figure, from the same recording
    for kind, expected in recorded.items():
        ran = run_cli("models", "--kind", kind, "--as-of", DAY, "--json", "--db", str(replayed))
        assert ran.returncode == 0, ran.stderr
        listed = json.loads(ran.stdout)
        assert len(listed) == expected, kind
        assert {m["kind"] for m in listed} == {kind}
    embeddings = json.loads(
        run_cli("models", "--kind", "embeddings", "--as-of", DAY, "--json", "--db", str(replayed)).stdout
    )
    wanted = {m for m, outputs in _recorded_models(DAY).items() if _kind(outputs) == "embeddings"}
    assert {m["model_id"] for m in embeddings} == wanted


def test_the_models_table_never_shows_a_model_billed_in_its_units_at_a_token_price_of_zero(replayed: Path) -> None:
    ran = run_cli("models", "--kind", "video", "--as-of", DAY, "--db", str(replayed))
    assert ran.returncode == 0, ran.stderr
    rows = [line for line in ran.stdout.splitlines() if "│ video" in line]
    assert rows, ran.stdout
    for line in rows:
        cells = [c.strip() for c in line.strip("│ ").split("│")]
        assert cells[-2:] == ["per unit", "per unit"], line


@pytest.mark.shared
@pytest.mark.slow
def test_acceptance_2_sku_prices_equal_the_recorded_strings(replayed: Path) -> None:
    lines = _recorded_lines(DAY)
    models = _recorded_models(DAY)
    candidates = [
        (_line_id(line), endpoint)
        for line in lines
        if _line_id(line) in models and models[_line_id(line)] != ["text"]
        for endpoint in line.get("endpoints") or []
        if endpoint.get("pricing_json")
    ]
    chosen = random.Random(19).sample(candidates, 20)
    con = duckdb.connect(str(replayed), read_only=True)
    at = datetime(2026, 8, 5, 23, 59, 59, tzinfo=UTC)
    for model_id, endpoint in chosen:
        rows = con.execute(
            "SELECT e.endpoint_key, s.sku, s.price_text, s.price FROM endpoint_versions e "
            "JOIN endpoint_skus s USING (version_id) WHERE e.model_id = ? AND e.valid_from <= ? "
            "AND (e.valid_to IS NULL OR e.valid_to > ?)",
            [model_id, at, at],
        ).fetchall()
        stored: dict[str, dict[str, tuple[str, Decimal]]] = {}
        for key, sku, text, price in rows:
            stored.setdefault(key, {})[sku] = (text, price)
        recorded = {k: Decimal(v) if not isinstance(v, Decimal) else v for k, v in endpoint["pricing_json"].items()}
        match = [s for s in stored.values() if set(s) == set(recorded)]
        assert match, (model_id, endpoint["provider_slug"])
        assert any(all(s[k][1] == recorded[k] and Decimal(s[k][0]) == recorded[k] for k in recorded) for s in match)


@pytest.mark.shared
@pytest.mark.slow
def test_acceptance_5_sku_change_events_equal_a_diff_of_the_recordings(replayed: Path) -> None:
    repeated: set[tuple[str, str]] = set()

    def endpoint_skus(day: str) -> dict[tuple[str, str], dict[str, Decimal]]:
        models = _recorded_models(day)
        found: dict[tuple[str, str], list[dict[str, Decimal]]] = {}
        for line in _recorded_lines(day):
            model_id = _line_id(line)
            if model_id not in models or models[model_id] == ["text"]:
                continue
            seen = set()
            for endpoint in line.get("endpoints") or []:
                if endpoint["id"] in seen:
                    continue
                seen.add(endpoint["id"])
                prices = {k: Decimal(v) for k, v in (endpoint.get("pricing_json") or {}).items() if _is_price(k)}
                found.setdefault((model_id, endpoint["provider_slug"]), []).append(prices)
        # one provider listing a model twice is matched by the store, not by this plain diff: left out
        repeated.update(key for key, group in found.items() if len(group) > 1)
        return {key: group[0] for key, group in found.items() if len(group) == 1}

    days = _days()
    expected = set()
    for before, after in itertools.pairwise(days):
        old, new = endpoint_skus(before), endpoint_skus(after)
        for key in set(old) & set(new):
            for sku in set(old[key]) | set(new[key]):
                if old[key].get(sku) != new[key].get(sku):
                    expected.add((after, key[0], key[1], sku, old[key].get(sku), new[key].get(sku)))
    ran = run_cli("changes", "--since", days[0], "--until", days[-1], "--json", "--db", str(replayed))
    assert ran.returncode == 0, ran.stderr
    events = {
        (
            row["at"][:10],
            row["model_id"],
            row["tag"],
            row["field"][len("sku:") :],
            None if row["old"] is None else Decimal(row["old"]),
            None if row["new"] is None else Decimal(row["new"]),
        )
        for row in json.loads(ran.stdout)["changes"]
        if (row["field"] or "").startswith("sku:") and (row["model_id"], row["tag"]) not in repeated
    }
    assert expected, "the 20 days hold SKU price changes"
    assert events == expected


def plain_cost(count: Decimal, unit: str, usd: Decimal, sku: str) -> Decimal:
    """count × price with plain ``decimal``: a time count on a SKU billed in another time unit (read from its
    name: ``audio_hours``, ``audio_seconds``) converted, a division by the larger unit rounded half to even to
    24 places (the documented rule)."""
    seconds = {"second": 1, "minute": 60, "hour": 3600}
    billed = next((u for u in ("hour", "minute", "second") if u in sku.split(":")[-1]), unit)
    if unit not in seconds or billed == unit:
        return count * usd
    with localcontext(Context(prec=100)):
        exact = count * usd * seconds[unit] / seconds[billed]
        larger = seconds[billed] > seconds[unit]
        return exact.quantize(Decimal("1e-24"), rounding=ROUND_HALF_EVEN) if larger else exact


# (kind, options, unit priced) for acceptance 4: one workload of each kind
WORKLOADS = [
    ("video", ["--seconds", "8", "--resolution", "1080p"], "second", Decimal(8)),
    ("embeddings", ["--input", "1000000"], "token", Decimal(1000000)),
    ("speech", ["--characters", "50000"], "character", Decimal(50000)),
    ("transcription", ["--minutes", "60"], "minute", Decimal(60)),
    ("rerank", ["--searches", "100"], "search", Decimal(100)),
    ("audio", ["--songs", "3"], "song", Decimal(3)),
    ("image", ["--images", "4"], "image", Decimal(4)),
]


@pytest.mark.shared
@pytest.mark.slow
@pytest.mark.parametrize(("kind", "options", "unit", "count"), WORKLOADS, ids=[w[0] for w in WORKLOADS])
def test_acceptance_4_unit_costs_equal_a_plain_decimal_computation(
    replayed: Path, kind: str, options: list[str], unit: str, count: Decimal
) -> None:
    ran = run_cli("cheapest", "--kind", kind, *options, "--as-of", DAY, "--json", "--db", str(replayed))
    assert ran.returncode == 0, ran.stderr
    answer = json.loads(ran.stdout)
    assert answer["ranked"], answer["excluded"][:3]
    recorded = {
        # the SKUs, and the v1 prompt price (an embeddings endpoint without a token SKU bills tokens there)
        (_line_id(line), e["provider_slug"]): {
            **(e.get("pricing_json") or {}),
            "pricing.prompt": e["pricing"]["prompt"],
        }
        for line in _recorded_lines(DAY)
        for e in line.get("endpoints") or []
    }
    costs = [Decimal(r["cost"]) for r in answer["ranked"]]
    assert costs == sorted(costs)
    for row in answer["ranked"][:5]:
        sku = row["skus"][unit]
        text = recorded[(row["model_id"], row["tag"])][sku]
        usd = Decimal(text) / 100 if "cents" in sku else Decimal(text)
        assert Decimal(row["cost"]) == plain_cost(count, unit, usd, sku), (row["model_id"], sku)
        if "--resolution" in options:
            assert options[options.index("--resolution") + 1] in sku


def test_unit_pricing_picks_the_matching_sku_exactly() -> None:
    from catalog.cost.units import SkuPrice, UnitWorkload, price

    skus = [
        SkuPrice("v:duration_seconds", Decimal("0.1"), "second", None, None),
        SkuPrice("v:duration_seconds_1080p", Decimal("0.2"), "second", None, "1080p"),
        SkuPrice("v:duration_seconds_with_audio_1080p", Decimal("0.3"), "second", None, "with_audio,1080p"),
        SkuPrice("v:text_to_video_duration_seconds_4k", Decimal("0"), "second", None, "text_to_video,4k"),
    ]
    hd = price(skus, UnitWorkload({"second": Decimal(8)}, ("1080p",)))
    assert (hd.total, hd.skus) == (Decimal("1.6"), {"second": "v:duration_seconds_1080p"})
    loud = price(skus, UnitWorkload({"second": Decimal(8)}, ("1080p", "with_audio")))
    assert loud.total == Decimal("2.4")
    plain = price(skus, UnitWorkload({"second": Decimal(3)}))
    assert plain.total == Decimal("0.3")
    # a SKU listed at 0 is not a price for its unit: 4k is not offered here
    four_k = price(skus, UnitWorkload({"second": Decimal(8)}, ("4k",)))
    assert four_k.total is None and four_k.reason == "no 4k price per second"
    # tokens fall back to the v1 prompt price; a unit with no SKU leaves the endpoint unpriced
    assert price([], UnitWorkload({"token": Decimal(1000)}), Decimal("0.000001")).total == Decimal("0.001")
    assert price(skus, UnitWorkload({"song": Decimal(1)})).total is None
