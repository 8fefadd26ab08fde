"""The other kinds of model priced from every face: usage logs (`catalog cost`, `/v1/cost`, `Catalog.cost`) in
their own units, the unit ranking from Python and `/v1/cheapest?kind=…`, ties, informational SKUs and the SKU
download.

The acceptance checks read the raw recording in ``../shared`` with plain ``json`` and compute the expected
money with plain ``Decimal`` (skipped without it); the rest run on the bundled history.
"""

from __future__ import annotations

import gzip
import json
import shutil
from collections import Counter
from collections.abc import Iterator
from decimal import ROUND_HALF_EVEN, Context, Decimal, localcontext
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from helpers import run_cli, shared_data_dir
from starlette.testclient import TestClient

from catalog.api import ApiState, create_app
from catalog.store import queries
from catalog.store.db import connect

DAY = "2026-08-05"
LATE = f"{DAY}T23:00:00Z"  # after that day's snapshot: its prices are in force


@pytest.fixture(scope="module")
def history(replayed_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    path = tmp_path_factory.mktemp("kinds-cost") / "history.duckdb"
    shutil.copyfile(replayed_template, path)
    yield path


@pytest.fixture(scope="module")
def client(history: Path) -> Iterator[TestClient]:
    con = connect(history, read_only=True)
    try:
        with TestClient(create_app(ApiState(con, history)), raise_server_exceptions=False) as test_client:
            yield test_client
    finally:
        con.close()


# --- the recording, read independently ------------------------------------------------------------------------


def _recorded_endpoints() -> list[tuple[str, str, dict[str, str], str]]:
    """(model id, provider slug, SKU texts, v1 prompt text) of every endpoint listed on DAY."""
    root = shared_data_dir()
    assert root is not None
    out = []
    with gzip.open(root / f"endpoint-stats-daily/model-stats-{DAY}.jsonl.gz", "rt", encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            row = json.loads(line)  # prices stay text: str(...) of a JSON string is the string
            model = row["model_slug"] if row["variant"] == "standard" else f"{row['model_slug']}:{row['variant']}"
            seen: dict[str, int] = {}
            for e in row.get("endpoints") or []:
                seen[e["provider_slug"]] = seen.get(e["provider_slug"], 0) + 1
            for e in row.get("endpoints") or []:
                if seen[e["provider_slug"]] == 1:  # a provider listed twice is matched by tag: left out here
                    skus = {k: str(v) for k, v in (e.get("pricing_json") or {}).items()}
                    out.append((model, e["provider_slug"], skus, str(e["pricing"]["prompt"])))
    return out


def _usd(sku: str, text: str) -> Decimal:
    return Decimal(text) / 100 if "cents" in sku else Decimal(text)


# (usage column, count, rule selecting the one SKU a plain reader expects to bill it)
CASES: list[tuple[str, str, str, Any]] = [
    ("video", "video_seconds", "8", lambda k: "second" in k and "1080p" in k),
    ("speech", "speech_characters", "50000", lambda k: k.endswith(":characters")),
    ("transcription", "audio_minutes", "1.5", lambda k: k.endswith(":audio_minutes")),
    ("rerank", "search_units", "100", lambda k: k.endswith(":search-units")),
    ("audio", "songs", "3", lambda k: k.endswith(":song_generation")),
    ("image", "output_images", "4", lambda k: k.endswith(":cents_per_image_output")),
]


def _pick_endpoint(rule: Any, taken: set[str]) -> tuple[str, str, str, str]:
    """The first recorded endpoint (sorted) with exactly one priced SKU the rule selects, none of them 0."""
    for model, provider, skus, _ in sorted(_recorded_endpoints()):
        chosen = [k for k in skus if rule(k)]
        if len(chosen) == 1 and Decimal(skus[chosen[0]]) != 0 and model not in taken:
            return model, provider, chosen[0], skus[chosen[0]]
    raise AssertionError("no endpoint in the recording fits the rule")


@pytest.mark.shared
@pytest.mark.slow
def test_acceptance_4_one_workload_per_kind_through_catalog_cost(history: Path, tmp_path: Path) -> None:
    rows, expected = [], []
    taken: set[str] = set()
    for kind, column, count, rule in CASES:
        model, provider, sku, text = _pick_endpoint(rule, taken)
        taken.add(model)
        row = {"timestamp": LATE, "model": model, "provider": provider, column: count}
        if column == "video_seconds":
            row["video_resolution"] = "1080p"
        rows.append(row)
        expected.append((kind, model, Decimal(count) * _usd(sku, text), sku))
    # embeddings bill tokens: a row of prompt tokens, priced at the recorded prompt price
    emb = next(r for r in sorted(_recorded_endpoints()) if "embed" in r[0] and Decimal(r[3]) > 0)
    rows.append({"timestamp": LATE, "model": emb[0], "provider": emb[1], "prompt_tokens": 1000000})
    expected.append(("embeddings", emb[0], 1000000 * Decimal(emb[3]), None))
    usage = tmp_path / "usage.jsonl"
    usage.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    out = tmp_path / "priced.jsonl"
    ran = run_cli("cost", str(usage), "--out", str(out), "--db", str(history))
    assert ran.returncode == 0, ran.stderr
    priced = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    for (kind, model, money, sku), row in zip(expected, priced, strict=True):
        assert row["model"] == model
        assert row["status"] == "ok", (kind, row["reason"])
        assert Decimal(row["cost_total"]) == money, kind
        if sku is not None:
            assert sku in row["unit_skus"], kind
    # the totals (linear path plus the unit rows) equal the plain sum
    total = json.loads(run_cli("cost", str(usage), "--json", "--db", str(history)).stdout)
    assert Decimal(total["summary"][0]["cost_total"]) == sum(m for _, _, m, _ in expected)
    assert total["rows"] == len(rows) and total["status"] == {"ok": len(rows)}


@pytest.mark.shared
@pytest.mark.slow
def test_a_row_of_a_unit_model_without_its_unit_is_invalid_never_free(history: Path) -> None:
    from catalog.library import Catalog

    model, provider, _, _ = _pick_endpoint(CASES[0][3], set())
    with Catalog.open(history) as cat:
        priced = cat.cost(
            [
                {"timestamp": LATE, "model": model, "provider": provider, "prompt_tokens": 100},
                {
                    "timestamp": LATE,
                    "model": model,
                    "provider": provider,
                    "video_seconds": "8",
                    "video_resolution": "9k",
                },
                {"timestamp": LATE, "model": "deepseek/deepseek-v3.2", "video_seconds": "8"},
            ]
        ).to_dicts()
    assert [r["status"] for r in priced] == ["invalid", "no_price", "invalid"]
    assert "video_seconds" in priced[0]["reason"] and priced[0]["cost_total"] is None
    assert "9k" in priced[1]["reason"] and priced[1]["cost_total"] is None
    assert "text model" in priced[2]["reason"]


def test_a_unit_model_by_slug_suffix_or_without_a_provider_is_never_free(history: Path, tmp_path: Path) -> None:
    from catalog.library import Catalog

    with connect(history, read_only=True) as con:
        # a video model that usage may name by its dated canonical slug, whose endpoints bill per second
        model, slug = con.execute(
            """SELECT m.model_id, any_value(m.canonical_slug) FROM model_versions m
               JOIN endpoint_versions e ON e.model_id = m.model_id
               JOIN endpoint_skus k ON k.version_id = e.version_id
               WHERE list_contains(m.output_modalities, 'video') AND k.unit = 'second' AND k.is_price
                 AND m.canonical_slug <> m.model_id
               GROUP BY 1 ORDER BY 1 LIMIT 1"""
        ).fetchone()
    names = [model, slug, f"{model}:nitro"]
    rows = [{"timestamp": LATE, "model": name, "prompt_tokens": 100} for name in names]
    rows.append({"timestamp": LATE, "model": "deepseek/deepseek-v3.2", "prompt_tokens": 100})
    with Catalog.open(history) as cat:
        priced = cat.cost(rows).to_dicts()
    # Without a provider the engine prices a row at the model-level sheet, whose token prices are 0 for these
    # models: every spelling of the model is refused, naming its unit; the text row is priced.
    assert [r["status"] for r in priced] == ["invalid"] * 3 + ["ok"]
    assert all("video_seconds" in r["reason"] and r["cost_total"] is None for r in priced[:3])
    assert Decimal(priced[3]["cost_total"]) > 0
    # the CLI's totals take the linear path for text rows: the unit model's rows must not slip into it at $0
    usage = tmp_path / "usage.csv"
    usage.write_text(
        "timestamp,model,input_tokens\n" + "".join(f"{r['timestamp']},{r['model']},100\n" for r in rows),
        encoding="utf-8",
    )
    ran = run_cli("cost", str(usage), "--json", "--db", str(history))
    assert ran.returncode == 0, ran.stderr
    total = json.loads(ran.stdout)
    assert total["status"] == {"invalid": 3, "ok": 1}
    assert Decimal(total["summary"][0]["cost_total"]) == Decimal(priced[3]["cost_total"])


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".parquet"])
def test_out_keeps_one_set_of_columns_when_a_later_batch_has_unit_rows(
    history: Path, tmp_path: Path, suffix: str
) -> None:
    import polars as pl

    from catalog.cli.cost import _Writer
    from catalog.library import Catalog

    with connect(history, read_only=True) as con:
        model, provider = con.execute(
            """SELECT e.model_id, e.provider_name FROM endpoint_versions e
               JOIN endpoint_skus k ON k.version_id = e.version_id
               WHERE k.unit = 'second' AND k.is_price AND k.price_usd > 0 ORDER BY ALL LIMIT 1"""
        ).fetchone()
    with Catalog.open(history) as cat:
        text = cat.cost([{"timestamp": LATE, "model": "deepseek/deepseek-v3.2", "prompt_tokens": 100}] * 2)
        video = cat.cost([{"timestamp": LATE, "model": model, "provider": provider, "video_seconds": "8"}])
    assert "cost_units" not in text.columns and "cost_units" in video.columns  # the batches differ
    out = tmp_path / f"priced{suffix}"
    writer = _Writer(out)
    writer.write(text)
    writer.write(video)
    writer.close()
    read = {".csv": pl.read_csv, ".jsonl": pl.read_ndjson, ".parquet": pl.read_parquet}[suffix](out)
    columns = [*text.columns, "cost_units", "unit_skus"]
    assert read.height == 3 and sorted(read.columns) == sorted(columns)
    if suffix != ".jsonl":  # a JSON line names its fields; the others are read by position
        assert read.columns == columns
    assert [str(m) for m in read["model"]] == ["deepseek/deepseek-v3.2"] * 2 + [model]
    assert read["cost_units"][:2].to_list() == [None, None]
    assert Decimal(str(read["cost_units"][2])) == Decimal(str(video["cost_units"][0])) > 0
    assert read["unit_skus"][2] == video["unit_skus"][0]


@pytest.mark.slow
def test_informational_megapixel_skus_never_price(history: Path) -> None:
    """FLUX lists only informational megapixel SKUs (is_price false): a megapixel workload finds no price there,
    in the ranking and in a usage row alike."""
    import duckdb

    con = duckdb.connect(str(history), read_only=True)
    flux = con.execute(
        "SELECT DISTINCT e.model_id, e.tag FROM endpoint_versions e JOIN endpoint_skus s USING (version_id) "
        "WHERE s.sku LIKE '%informational%megapixels' AND e.valid_to IS NULL ORDER BY 1"
    ).fetchall()
    informational = con.execute(
        "SELECT count(*), bool_or(is_price) FROM endpoint_skus WHERE sku LIKE '%informational%'"
    ).fetchall()[0]
    con.close()
    assert flux and informational[0] > 0 and informational[1] is False
    ran = run_cli("cheapest", "--kind", "image", "--megapixels", "2", "--json", "--db", str(history))
    assert ran.returncode == 0, ran.stderr
    answer = json.loads(ran.stdout)
    ranked = {r["model_id"] for r in answer["ranked"]}
    assert not ranked & {m for m, _ in flux}
    excluded = {e["model_id"]: e["reason"] for e in answer["excluded"]}
    assert all(excluded[m] == "no price per megapixel" for m, _ in flux)
    from catalog.library import Catalog

    with Catalog.open(history) as cat:
        row = cat.cost([{"model": flux[0][0], "endpoint": flux[0][1], "megapixels": "2"}]).row(0, named=True)
    assert row["status"] == "no_price" and "megapixel" in row["reason"] and row["cost_total"] is None


# --- time units: minutes price a SKU billed per hour ---------------------------------------------------------

MINUTES = "7"  # 7 minutes on a price per hour: 7 × price ÷ 60, which ends in no decimal digit for $0.04 or $0.10


def _per_hour_plain(minutes: str, text: str) -> Decimal:
    """The documented rule with plain ``decimal``: minutes × hourly price ÷ 60, rounded half to even to 24
    places (enough precision that only the quantize rounds)."""
    with localcontext(Context(prec=100)):
        return (Decimal(minutes) * Decimal(text) / 60).quantize(Decimal("1e-24"), rounding=ROUND_HALF_EVEN)


def _per_hour_endpoints() -> dict[tuple[str, str], tuple[str, str]]:
    """(model, provider) → (SKU, price text) of the recorded endpoints billing audio per hour and in no other
    time unit (so the hourly SKU is the one a reader expects to be used)."""
    out = {}
    for model, provider, skus, _ in _recorded_endpoints():
        timed = {k: v for k, v in skus.items() if any(w in k.split(":")[-1] for w in ("seconds", "minutes", "hours"))}
        hourly = [k for k in timed if k.endswith(":audio_hours") and Decimal(timed[k]) > 0]
        if len(hourly) == 1 and len(timed) == 1:
            out[(model, provider)] = (hourly[0], timed[hourly[0]])
    return out


@pytest.mark.shared
@pytest.mark.slow
def test_minutes_of_audio_price_per_hour_endpoints_as_plain_decimal_in_every_face(
    history: Path, client: TestClient, tmp_path: Path
) -> None:
    from catalog.library import Catalog

    hourly = _per_hour_endpoints()
    assert len(hourly) >= 3, hourly  # groq, xai, azure bill per hour on that day
    expected = {key: _per_hour_plain(MINUTES, text) for key, (_sku, text) in hourly.items()}
    # some of them end in no decimal digit (the rounding is exercised): 7 × $0.04 ÷ 60 = $0.004666…
    assert any((Fraction(Decimal(MINUTES) * Decimal(t)) / 60 * 10**24).denominator > 1 for _, t in hourly.values())
    ran = run_cli("cheapest", "--kind", "transcription", "--minutes", MINUTES, "--as-of", LATE, "--json",
                  "--db", str(history))  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    cli = json.loads(ran.stdout)
    ranked = {(r["model_id"], r["tag"]): r for r in cli["ranked"]}
    for key, money in expected.items():
        row = ranked[key]  # ranked, never excluded for billing another time unit
        assert Decimal(row["cost"]) == money, key
        sku, text = hourly[key]
        assert row["skus"] == {"minute": sku}
        assert row["rates"]["minute"] == {"sku": sku, "usd": str(Decimal(text).normalize()), "per": "hour"}
    # the cheapest endpoint for minutes of audio bills per hour on that day: the one the ranking used to miss
    cheapest = cli["ranked"][0]
    assert (cheapest["model_id"], cheapest["tag"]) in hourly and cheapest["rank"] == 1
    assert not any("per minute" in e["reason"] and (e["model_id"], e["tag"]) in hourly for e in cli["excluded"])
    # Python and the API: the same ranking
    with Catalog.open(history) as cat:
        ranking = cat.cheapest_units("transcription", minutes=MINUTES, as_of=LATE)
    assert [(r["model_id"], r["tag"], r["cost"]) for r in ranking.ranked] == [
        (r["model_id"], r["tag"], Decimal(r["cost"])) for r in cli["ranked"]
    ]
    response = client.get("/v1/cheapest", params={"kind": "transcription", "minutes": MINUTES, "as_of": LATE})
    assert response.status_code == 200, response.text
    api = response.json()
    api.pop("stale"), api.pop("data"), cli.pop("data")
    assert api == cli
    # a usage log row of audio minutes on such an endpoint: the same cost (CLI, Python, /v1/cost)
    rows = [{"timestamp": LATE, "model": m, "provider": p, "audio_minutes": MINUTES} for m, p in sorted(hourly)]
    usage = tmp_path / "usage.jsonl"
    usage.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    out = tmp_path / "priced.jsonl"
    done = run_cli("cost", str(usage), "--out", str(out), "--db", str(history))
    assert done.returncode == 0, done.stderr
    priced = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    with Catalog.open(history) as cat:
        library = cat.cost(rows).to_dicts()
    served = client.post("/v1/cost", json=rows)
    assert served.status_code == 200, served.text
    for row, cli_row, lib_row, api_row in zip(rows, priced, library, served.json()["rows"], strict=True):
        key = (row["model"], row["provider"])
        assert cli_row["status"] == lib_row["status"] == "ok", cli_row["reason"]
        money = expected[key]
        assert Decimal(cli_row["cost_total"]) == lib_row["cost_total"] == Decimal(api_row["cost_total"]) == money
        assert cli_row["unit_skus"] == f"audio_minutes={hourly[key][0]}"


def test_time_units_convert_with_one_rounding_half_to_even() -> None:
    """The rule on made-up prices: a smaller SKU unit multiplies, exact; a larger one divides last and rounds
    half to even at 10**-24 USD (2.5e-24 → 2e-24, 3.5e-24 → 4e-24); the cheapest SKU per unit counted wins."""
    from catalog.cost.units import SkuPrice, UnitWorkload, pick, price

    def sku(name: str, usd: str, unit: str) -> SkuPrice:
        return SkuPrice(name, Decimal(usd), unit, None, None)

    one = UnitWorkload({"minute": Decimal(1)})
    assert price([sku("h", "1.5e-22", "hour")], one).total == Decimal("2e-24")  # 2.5e-24: half to even, down
    assert price([sku("h", "2.1e-22", "hour")], one).total == Decimal("4e-24")  # 3.5e-24: half to even, up
    assert price([sku("h", "0.1", "hour")], one).total == Decimal("0.001666666666666666666667")
    assert price([sku("s", "0.000035", "second")], UnitWorkload({"minute": Decimal("1.5")})).total == Decimal(
        "0.00315"
    )  # 1.5 × 60 × 0.000035, exact
    assert price([sku("m", "0.006", "minute")], UnitWorkload({"second": Decimal(30)})).total == Decimal("0.003")
    # per minute: $0.005 (hour) < $0.006 (minute) < $0.06 (second): the hourly SKU is used, and named
    offered = [sku("m", "0.006", "minute"), sku("h", "0.3", "hour"), sku("s", "0.001", "second")]
    cost = price(offered, UnitWorkload({"minute": Decimal(60)}))
    assert cost.total == Decimal("0.3") and cost.rates["minute"] == {"sku": "h", "usd": Decimal("0.3"), "per": "hour"}
    chosen = pick(offered, "minute")
    assert chosen is not None and chosen.sku == "h"
    # characters and bytes are not converted: a byte price never prices characters
    assert price([sku("b", "0.000015", "byte")], UnitWorkload({"character": Decimal(10)})).total is None


# --- one engine: Python, CLI and API give the same ranking ----------------------------------------------------


@pytest.mark.slow
def test_python_cli_and_api_rank_a_video_workload_alike(history: Path, client: TestClient) -> None:
    from catalog.library import Catalog

    with Catalog.open(history) as cat:
        ranking = cat.cheapest_units("video", seconds=8, resolution="1080p", as_of=DAY)
    assert ranking.ranked and ranking.data is not None
    assert ranking.data.stale  # the bundled history is months old
    assert ranking.data.snapshot_at is not None and ranking.data.snapshot_at.date().isoformat() == DAY
    ran = run_cli("cheapest", "--kind", "video", "--seconds", "8", "--resolution", "1080p", "--as-of", DAY, "--json",
                  "--db", str(history))  # fmt: skip
    assert ran.returncode == 0
    cli = json.loads(ran.stdout)
    response = client.get("/v1/cheapest", params={"kind": "video", "seconds": "8", "resolution": "1080p", "as_of": DAY})
    assert response.status_code == 200, response.text
    api = response.json()
    assert api.pop("stale") is True
    for body in (cli, api):
        body.pop("data")
    assert api == cli
    assert [Decimal(r["cost"]) for r in cli["ranked"]] == [r["cost"] for r in ranking.ranked]
    assert response.headers["X-Data-Stale"] == "true"


@pytest.mark.slow
@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ({"seconds": "8"}, "seconds"),  # a unit count without kind: never ignored
        ({"kind": "text", "seconds": "8"}, "kind"),
        ({"kind": "hologram", "seconds": "8"}, "kind"),
        ({"kind": "video"}, "kind"),  # nothing to price
        ({"kind": "video", "seconds": "-1"}, "seconds"),
        ({"kind": "video", "seconds": "abc"}, "seconds"),
    ],
)
def test_api_refuses_a_bad_unit_workload_in_its_one_error_shape(
    client: TestClient, query: dict[str, str], parameter: str
) -> None:
    response = client.get("/v1/cheapest", params={"model": "openai/sora-2-pro", **query})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "bad_parameter" and parameter in error["message"]


@pytest.mark.slow
def test_a_kind_request_is_never_answered_by_the_text_fast_path(client: TestClient) -> None:
    app = client.app
    query = b"model=openai/sora-2-pro&kind=video&seconds=8"
    assert app.answer_now(b"/v1/cheapest", query, []) is None  # type: ignore[attr-defined]
    body = client.get("/v1/cheapest?" + query.decode()).json()
    assert body["kind"] == "video" and "profile" not in body
    parameters = {p["name"] for p in client.get("/openapi.json").json()["paths"]["/v1/cheapest"]["get"]["parameters"]}
    assert {"kind", "seconds", "characters", "minutes", "searches", "songs", "megapixels", "resolution"} <= parameters


@pytest.mark.slow
def test_api_cost_prices_unit_rows_like_the_library(history: Path, client: TestClient) -> None:
    from catalog.library import Catalog

    rows = [
        {"timestamp": LATE, "model": "openai/sora-2-pro", "provider": "openai", "video_seconds": 8,
         "video_resolution": "1080p"},
        {"timestamp": LATE, "model": "deepseek/deepseek-v3.2", "prompt_tokens": 1000, "completion_tokens": 10},
    ]  # fmt: skip
    response = client.post("/v1/cost", json=rows)
    assert response.status_code == 200, response.text
    body = response.json()
    with Catalog.open(history) as cat:
        priced = cat.cost(rows).to_dicts()
    assert [Decimal(r["cost_total"]) for r in body["rows"]] == [r["cost_total"] for r in priced]
    assert Decimal(body["totals"]["cost_total"]) == sum(r["cost_total"] for r in priced)
    assert body["rows"][0]["cost_units"] is not None and priced[0]["unit_skus"].startswith("video_seconds=")


@pytest.mark.slow
def test_the_api_reads_the_unit_prices_once_per_data_state(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    import catalog.api.state as api_state

    calls: Counter[str] = Counter()
    for name in ("unit_sku_versions", "unit_candidates"):
        real = getattr(queries, name)

        def counted(*args: Any, _real: Any = real, _name: str = name, **kwargs: Any) -> Any:
            calls[_name] += 1
            return _real(*args, **kwargs)

        monkeypatch.setattr(api_state.queries, name, counted)
    row = {"timestamp": LATE, "model": "openai/sora-2-pro", "provider": "openai", "video_resolution": "1080p"}
    totals = []
    for seconds in (8, 9, 10):  # three requests, each answered anew (other counts)
        response = client.post("/v1/cost", json=[{**row, "video_seconds": seconds}])
        assert response.status_code == 200, response.text
        totals.append(Decimal(response.json()["totals"]["cost_total"]))
        ranked = client.get("/v1/cheapest", params={"kind": "video", "seconds": str(seconds), "as_of": DAY})
        assert ranked.status_code == 200, ranked.text
    assert totals[0] > 0 and totals[1] - totals[0] == totals[2] - totals[1]  # the price of one second, each time
    assert calls["unit_sku_versions"] <= 1 and calls["unit_candidates"] <= 1, calls


# --- ties, exact discount -------------------------------------------------------------------------------------


def test_equal_costs_share_a_rank_in_a_stable_documented_order() -> None:
    from catalog.cost.units import UnitWorkload, rank_endpoints

    def endpoint(model: str, key: str, price: str, uptime: float | None) -> dict[str, Any]:
        sku = {"sku": "v:duration_seconds", "price_usd": Decimal(price), "unit": "second", "billable": None,
               "variant": None, "is_price": True}  # fmt: skip
        return {"model_id": model, "endpoint_key": key, "tag": key, "status": 0, "output_modalities": ["video"],
                "price_prompt": None, "skus": [sku], "uptime_last_1d": uptime, "throughput_p50": None}  # fmt: skip

    rows = [
        endpoint("a/v", "a/v@z", "0.10", 90.0),
        endpoint("b/v", "b/v@y", "0.1", 99.0),  # the same price written otherwise: a tie
        endpoint("c/v", "c/v@x", "0.1", None),
        endpoint("d/v", "d/v@w", "0.2", 100.0),
    ]
    ranked, _ = rank_endpoints(rows, UnitWorkload({"second": Decimal(8)}), "video")
    assert [(r["rank"], r["model_id"]) for r in ranked] == [(1, "b/v"), (1, "a/v"), (1, "c/v"), (4, "d/v")]


def test_the_undiscounted_base_of_a_unit_cost_is_rounded_as_the_engine_rounds() -> None:
    from fractions import Fraction

    from catalog.cost.unit_usage import _base

    total, discount, scale = Decimal("0.672"), Decimal("0.26"), 24
    exact = Fraction(total) / (1 - Fraction(discount)) * 10**scale
    whole = int(exact) + (1 if exact - int(exact) >= Fraction(1, 2) else 0)
    assert _base(total, discount, scale) == Decimal(whole) / Decimal(10**scale)
    assert _base(total, Decimal(0), scale) == total
    assert _base(total, Decimal(1), scale) is None


# --- the SKU download ------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_sku_prices_are_a_download_with_exact_decimal_text(history: Path, tmp_path: Path) -> None:
    from datetime import UTC, datetime

    import duckdb

    from catalog.store import exports

    con = duckdb.connect(str(history), read_only=True)
    try:
        at = datetime(2026, 8, 5, 23, 59, tzinfo=UTC)
        downloads = {d.name: d for d in exports.write_history(con, tmp_path, at)}
        stored = con.execute(
            "SELECT count(*) FROM endpoint_skus WHERE version_id IN "
            "(SELECT version_id FROM endpoint_versions WHERE valid_from <= ?)",
            [at],
        ).fetchall()[0][0]
    finally:
        con.close()
    assert downloads["endpoint_skus"].rows == stored > 0
    rows = json.loads((tmp_path / "endpoint_skus.json").read_text(encoding="utf-8"))
    priced = [r for r in rows if r["price"] is not None]
    assert priced and all(
        isinstance(r["price"], str) and Decimal(r["price"]) == Decimal(r["price_text"]) for r in priced
    )
    exported = duckdb.connect(str(tmp_path / "catalog.duckdb"), read_only=True)
    try:
        assert exported.execute("SELECT count(*) FROM endpoint_skus").fetchall()[0][0] == stored
    finally:
        exported.close()
