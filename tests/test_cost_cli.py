"""`catalog cost` and `catalog reconcile` end to end, on files, over the replayed history."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest
from conftest import shared_data_dir
from cost_reference import MONEY_NAMES, reference_cost
from helpers import run_cli

from catalog.library import Catalog


def synthetic_usage(rows: int) -> pl.DataFrame:
    """A deterministic mix over a few real models and providers, spread over the 20 recorded days."""
    models = ["deepseek/deepseek-v3.2", "google/gemini-2.5-flash", "openai/gpt-4o-mini", "qwen/qwen3.7-plus"]
    providers = [None, "baidu", "google-ai-studio", "openai", "alibaba"]
    start = int(datetime(2026, 7, 17, 18, tzinfo=UTC).timestamp())
    i = pl.int_range(0, rows, eager=True)
    h = i.hash(seed=7)
    prompt = (h % 50_000 + 100).cast(pl.Int64)
    return pl.DataFrame(
        {
            "timestamp": pl.from_epoch(start + (h % (19 * 86_400)).cast(pl.Int64), time_unit="s").dt.replace_time_zone(
                "UTC"
            ),
            "model": pl.Series(models).gather(i % len(models)),
            "provider": pl.Series(providers, dtype=pl.String).gather((h // 7) % len(providers)),
            "prompt_tokens": prompt,
            "completion_tokens": (h // 13 % 4_000 + 10).cast(pl.Int64),
            "cache_read_tokens": (prompt * (h // 17 % 90) // 100).cast(pl.Int64),
        }
    )


def test_cost_of_a_million_rows_totals_equal_the_per_row_sum(replayed_template: Path, tmp_path: Path) -> None:
    usage = tmp_path / "usage.parquet"
    synthetic_usage(1_000_000).write_parquet(usage)
    out = tmp_path / "priced.parquet"
    done = run_cli("cost", str(usage), "--out", str(out), "--by", "model", "--json", "--db", str(replayed_template))
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["rows"] == 1_000_000
    priced = pl.read_parquet(out)
    assert priced.height == 1_000_000
    # Exact: the per-row terms add up to the row totals, and the groups to the file's total.
    terms = [c for c in priced.columns if c.startswith("cost_") and c not in ("cost_total", "cost_base")]
    ok = priced.filter(pl.col("status") == "ok")
    assert ok.height > 900_000
    assert (ok.select(pl.sum_horizontal(terms)).to_series() == ok["cost_total"]).all()
    groups, (grand,) = report["summary"][:-1], report["summary"][-1:]
    total = sum((Decimal(g["cost_total"]) for g in groups if g["cost_total"] is not None), Decimal(0))
    assert total == ok["cost_total"].sum() == Decimal(grand["cost_total"])
    assert grand["total"] is True and grand["model"] is None and not any(g["total"] for g in groups)
    assert sum(g["rows"] for g in groups) == grand["rows"] == 1_000_000
    # And the money itself, independently: a sample of rows through the one-row Decimal reference, with the
    # sheet each row says priced it (the sheet choice is tested on real days in test_cheapest.py).
    with Catalog.open(replayed_template) as cat:
        table = cat.table
        for row in ok.gather(list(range(0, 1_000_000, 4_999))).to_dicts():
            want = reference_cost(row, table.versions[row["sheet_id"]].sheet, row["timestamp"], table.scale)
            assert {k: row[k] for k in MONEY_NAMES} == want


def test_cost_reads_csv_and_jsonl_and_flags_bad_rows(replayed_template: Path, tmp_path: Path) -> None:
    usage = synthetic_usage(50)
    bad = pl.DataFrame(
        {
            "timestamp": [datetime(2026, 8, 1, tzinfo=UTC)] * 2,
            "model": ["deepseek/deepseek-v3.2", "nobody/nothing"],
            "prompt_tokens": [10, 10],
            "completion_tokens": [5, 5],
            "cache_read_tokens": [20, 0],
        }
    )
    frame = pl.concat([usage, bad], how="diagonal_relaxed")
    csv, jsonl = tmp_path / "u.csv", tmp_path / "u.jsonl"
    frame.write_csv(csv)
    frame.write_ndjson(jsonl)
    reports = []
    for path in (csv, jsonl):
        done = run_cli("cost", str(path), "--json", "--db", str(replayed_template))
        assert done.returncode == 0, done.stderr
        reports.append(json.loads(done.stdout))
    assert reports[0] == reports[1]
    assert reports[0]["status"]["invalid"] == 1 and reports[0]["status"]["unknown"] == 1
    assert reports[0]["status"]["ok"] == 50


def test_cost_names_a_missing_file(replayed_template: Path, tmp_path: Path) -> None:
    done = run_cli("cost", str(tmp_path / "nope.csv"), "--db", str(replayed_template))
    assert done.returncode == 2 and "nope.csv" in done.stderr and "Traceback" not in done.stderr


# What each recorded response that does not match is, checked one by one (see the issue note):
UNPRICED_BEFORE_HISTORY = {
    # calls from 2025-11 / 2026-07-17 11:05 / 2024-11-10 01:00, before the first snapshot listing the model
    "nonstream-usage-reasoning-1.json",
    "nonstream-usage-reasoning-2.json",
    "responses-api-prompt-cache-1.json",
    "responses-api-prompt-cache-2.json",
    "responses-api-stream.sse",
    "stream-2024-11-10-gpt-4o.sse",
}
EXPLAINED = {
    # Gemini implicit cache: OpenRouter reports 2161 cached AND 2161 cache-write tokens in a 2168-token
    # prompt and bills both; inside-the-prompt containment makes that row invalid, and we say so.
    "nonstream-gemini-implicit-cache-1.json": "invalid",
    # a `:free` variant our snapshots never listed
    "stream-finish-length.sse": "unknown",
}


@pytest.mark.shared
def test_reconcile_agrees_with_billed_cost_where_the_price_is_known(replayed_all_template: Path) -> None:
    chat = shared_data_dir() / "chat"  # type: ignore[operator]
    done = run_cli("reconcile", *sorted(str(p) for p in chat.iterdir()), "--json", "--db", str(replayed_all_template))
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    rows = {r["source"]: r for r in report["rows"]}
    matched = {s for s, r in rows.items() if r["verdict"] == "match"}
    assert len(matched) >= 19
    for source in matched:
        relative = rows[source]["relative"]
        assert relative is None or abs(Decimal(relative)) <= Decimal("1e-9")
    for source in UNPRICED_BEFORE_HISTORY:
        assert rows[source]["status"] == "no_price", source
    for source, status in EXPLAINED.items():
        assert rows[source]["status"] == status, source
    # BYOK: OpenRouter bills 0 and reports the provider's charge upstream; that is what we match.
    assert rows["nonstream-cost-zero-upstream-cost-1.json"]["byok"] is True
    assert "nonstream-cost-zero-upstream-cost-1.json" in matched
    # An advisor/server tool call billed ~$0.0144 on top of 0.0001776 of tokens: no usage field carries it.
    assert rows["stream-tool-cache-write-fields.sse"]["verdict"] == "differs"
    assert Decimal(rows["stream-tool-cache-write-fields.sse"]["computed"]) == Decimal("0.0001776")
    assert any("429" in skipped for skipped in report["skipped"])


@pytest.mark.parametrize("kind", ["parquet", "csv"])
def test_a_folder_is_streamed_and_its_totals_equal_the_per_row_path(
    replayed_template: Path, tmp_path: Path, kind: str
) -> None:
    """A folder of files priced batch by batch: the totals by linearity equal the per-row path's (--out),
    and both equal the whole frame priced in memory."""
    from catalog.cost.totals import summarise
    from catalog.usage_files import usage_batches

    usage = synthetic_usage(30_000)
    folder = tmp_path / "logs"
    folder.mkdir()
    for index, part in enumerate(usage.iter_slices(12_000)):
        path = folder / f"part-{index}.{kind}"
        part.write_parquet(path) if kind == "parquet" else part.write_csv(path)
    total, batches = usage_batches(folder, batch_rows=5_000)
    sizes = [b.height for b in batches]
    assert sum(sizes) == 30_000 and max(sizes) <= 5_000 and len(sizes) >= 6
    assert total == (30_000 if kind == "parquet" else None)
    at = "2026-07-20T00:00:00Z"
    args = ("cost", str(folder), "--by", "model,day", "--json", "--at", at, "--db", str(replayed_template))
    linear = run_cli(*args)
    per_row = run_cli(*args, "--out", str(tmp_path / "priced.parquet"))
    assert linear.returncode == 0 and per_row.returncode == 0, linear.stderr + per_row.stderr
    got, want = json.loads(linear.stdout), json.loads(per_row.stdout)
    assert (got["rows"], got["status"]) == (want["rows"], want["status"]) == (30_000, want["status"])

    def by_group(report: dict) -> dict:
        return {(g["model"], g["day"]): g for g in report["summary"] if not g["total"]}

    grand = [g for g in got["summary"] if g["total"]]
    assert [g["cost_total"] for g in grand] == [str(sum(Decimal(g["cost_total"] or 0) for g in by_group(got).values()))]

    assert by_group(got) == by_group(want)
    with Catalog.open(replayed_template) as cat:
        whole = summarise(cat.cost(usage, at=at), ["model", "day"])
    assert {(r["model"], str(r["day"])): r["cost_total"] for r in whole.to_dicts()} == {
        k: Decimal(g["cost_total"]) for k, g in by_group(got).items()
    }
