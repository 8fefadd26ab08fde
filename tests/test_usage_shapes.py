"""Usage logs in other systems' shapes (``catalog.cost.shapes``): each fixture in tests/fixtures/usage_shapes is read
as its shape and prices exactly as the same counts written in the engine's own names; a count nothing reads is an
error, a row without counts is invalid, and billed amounts are set beside the computed cost."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from helpers import run_cli

from catalog.cost.reconcile import compare_billed
from catalog.cost.shapes import count_like, read_shape
from catalog.cost.usage import COUNT_COLUMNS, conform
from catalog.errors import InputError
from catalog.library import Catalog
from catalog.usage_files import read_usage

FIXTURES = Path(__file__).parent / "fixtures" / "usage_shapes"
NOON = datetime(2026, 8, 1, 12, tzinfo=UTC)
LATER = datetime(2026, 8, 1, 13, 30, tzinfo=UTC)

# The same calls in the engine's own names, written out by hand from each fixture and the containment rules
# of its system (cached tokens inside the prompt for OpenAI / OpenRouter / genai-prices / LiteLLM; Anthropic's
# input_tokens beside its cache reads and writes; reasoning inside the completion everywhere).
EXPECTED: dict[str, tuple[str, list[dict[str, Any]]]] = {
    "openai_chat.csv": (
        "openai-chat",
        [
            {
                "timestamp": NOON,
                "model": "openai/gpt-4o-mini",
                "provider": "OpenAI",
                "prompt_tokens": 2006,
                "completion_tokens": 300,
                "cache_read_tokens": 1920,
            },
            {
                "timestamp": LATER,
                "model": "google/gemini-2.5-flash",
                "provider": "Google AI Studio",
                "prompt_tokens": 5120,
                "completion_tokens": 1840,
                "cache_read_tokens": 4096,
                "reasoning_tokens": 1200,
            },
        ],
    ),
    "openai_responses.csv": (
        "openai-responses",
        [
            {
                "timestamp": NOON,
                "model": "openai/gpt-4.1",
                "prompt_tokens": 36000,
                "completion_tokens": 1200,
                "cache_read_tokens": 32768,
            },
            {"timestamp": LATER, "model": "openai/gpt-4.1", "prompt_tokens": 1500, "completion_tokens": 2400},
        ],
    ),
    "anthropic_messages.jsonl": (
        "anthropic",
        [
            {
                "timestamp": NOON,
                "model": "anthropic/claude-sonnet-4",
                "provider": "anthropic",
                "prompt_tokens": 2095 + 12000 + 4000,
                "completion_tokens": 503,
                "cache_read_tokens": 12000,
                "cache_write_tokens": 1000,
                "cache_write_1h_tokens": 3000,
                "reasoning_tokens": 120,
                "web_searches": 2,
            },
            {
                "timestamp": LATER,
                "model": "anthropic/claude-sonnet-4",
                "provider": "anthropic",
                "prompt_tokens": 410 + 2500,
                "completion_tokens": 77,
                "cache_write_tokens": 2500,
            },
        ],
    ),
    "genai_prices.csv": (
        "genai-prices",
        [
            {
                "timestamp": NOON,
                "model": "google/gemini-2.5-flash",
                "prompt_tokens": 9000,
                "completion_tokens": 640,
                "cache_read_tokens": 3000,
                "cache_write_tokens": 1000,
                "audio_input_tokens": 1000,
            },
            {
                "timestamp": LATER,
                "model": "anthropic/claude-sonnet-4",
                "prompt_tokens": 4740,
                "completion_tokens": 255,
                "cache_write_tokens": 4735,
            },
        ],
    ),
    "openrouter_generation.jsonl": (
        "openrouter-generation",
        [
            {
                "timestamp": datetime(2026, 8, 1, 12, 0, 0, 433273, tzinfo=UTC),
                "model": "deepseek/deepseek-v3.2",
                "provider": "DeepInfra",
                "prompt_tokens": 10000,
                "completion_tokens": 1500,
                "cache_read_tokens": 3000,
                "reasoning_tokens": 500,
            },
            {
                "timestamp": LATER,
                "model": "anthropic/claude-sonnet-4",
                "provider": "Google Vertex",
                "prompt_tokens": 1205,
                "completion_tokens": 60,
            },
        ],
    ),
    "openrouter_activity.json": (
        "openrouter-activity",
        [
            {
                "timestamp": datetime(2026, 8, 1, tzinfo=UTC),
                "model": "openai/gpt-4.1",
                "provider": "OpenAI",
                "prompt_tokens": 5000,
                "completion_tokens": 625,
                "requests": 5,
            },
            {
                "timestamp": datetime(2026, 8, 1, tzinfo=UTC),
                "model": "deepseek/deepseek-v3.2",
                "provider": "DeepInfra",
                "prompt_tokens": 40000,
                "completion_tokens": 4000,
                "reasoning_tokens": 1000,
                "requests": 12,
            },
        ],
    ),
    "litellm_spend_logs.csv": (
        "litellm",
        [
            {
                "timestamp": datetime(2026, 8, 1, 12, 0, 0, 120000, tzinfo=UTC),
                "model": "openai/gpt-4o-mini",
                "provider": "openai",
                "prompt_tokens": 550,
                "completion_tokens": 200,
            },
            {
                "timestamp": LATER,
                "model": "deepseek/deepseek-v3.2",
                "provider": "openrouter",
                "prompt_tokens": 3000,
                "completion_tokens": 300,
            },
        ],
    ),
}


def contract_frame(rows: list[dict[str, Any]]) -> pl.DataFrame:
    columns = ["timestamp", "model", "provider", *COUNT_COLUMNS]
    filled = [
        {c: row.get(c, 1 if c == "requests" else None if c in ("provider",) else 0) for c in columns} for row in rows
    ]
    frame = pl.DataFrame(filled, schema_overrides={"timestamp": pl.Datetime("us", "UTC"), "provider": pl.String})
    return frame.with_columns(pl.col(c).cast(pl.Int64) for c in COUNT_COLUMNS)


def test_every_fixture_is_in_the_table_and_named_in_the_readme() -> None:
    readme = (FIXTURES / "README.md").read_text(encoding="utf-8")
    files = sorted(p.name for p in FIXTURES.iterdir() if p.name != "README.md")
    assert files == sorted(EXPECTED)
    for name, (shape, _) in EXPECTED.items():
        assert f"`{name}` | `{shape}`" in readme


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_fixture_reads_as_its_shape_with_the_counts_written_out(name: str) -> None:
    shape, rows = EXPECTED[name]
    frame, problems, report = read_usage(FIXTURES / name)
    assert problems == [] and report is not None
    assert report.shape == shape
    columns = ["timestamp", "model", "provider", *COUNT_COLUMNS]
    want = conform(contract_frame(rows)).select(columns)
    assert conform(frame).select(columns).to_dicts() == want.to_dicts()


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_fixture_prices_exactly_as_the_engines_own_names(name: str, replayed_template: Path) -> None:
    _, rows = EXPECTED[name]
    frame, _, _ = read_usage(FIXTURES / name)
    with Catalog.open(replayed_template) as cat:
        shaped = cat.cost(frame)
        own = cat.cost(contract_frame(rows))
    assert shaped["status"].to_list() == own["status"].to_list() == ["ok"] * len(rows)
    terms = [c for c in own.columns if c.startswith("cost_")] + ["saving"]
    assert shaped.select(terms).to_dicts() == own.select(terms).to_dicts()
    assert all(cost > 0 for cost in shaped["cost_total"])


def test_nested_parquet_reads_as_the_same_rows_as_its_jsonl(tmp_path: Path) -> None:
    # Parquet keeps the nesting as struct columns (cache_creation.ephemeral_1h_input_tokens …).
    nested = pl.read_ndjson(FIXTURES / "anthropic_messages.jsonl")
    assert isinstance(nested.schema["cache_creation"], pl.Struct)
    nested.write_parquet(tmp_path / "anthropic.parquet")
    from_parquet, _, report = read_usage(tmp_path / "anthropic.parquet")
    from_jsonl, _, _ = read_usage(FIXTURES / "anthropic_messages.jsonl")
    assert report is not None and report.shape == "anthropic"
    counts = list(COUNT_COLUMNS)
    assert conform(from_parquet).select(counts).to_dicts() == conform(from_jsonl).select(counts).to_dicts()


def test_the_plain_csv_new_users_write_is_priced_and_says_what_it_read(replayed_template: Path, tmp_path: Path) -> None:
    usage = tmp_path / "usage.csv"
    usage.write_text(
        "timestamp,model,input_tokens,output_tokens\n"
        "2026-08-01T12:00:00Z,deepseek/deepseek-v3.2,20000,1000\n"
        "2026-08-01T12:00:00Z,deepseek/deepseek-v3.2,,\n",
        encoding="utf-8",
    )
    out = tmp_path / "priced.parquet"
    done = run_cli("cost", str(usage), "--json", "--out", str(out), "--db", str(replayed_template))
    assert done.returncode == 0, done.stderr
    line = done.stderr.splitlines()[0]
    assert "openai-responses" in line and "OpenAI" in line and "Anthropic" in line
    assert "prompt_tokens ← input_tokens" in line and "completion_tokens ← output_tokens" in line
    report = json.loads(done.stdout)
    assert report["shape"]["shape"] == "openai-responses" and "anthropic" in report["shape"]["same_as"]
    assert report["shape"]["columns"]["prompt_tokens"] == "input_tokens"
    assert report["status"] == {"ok": 1, "invalid": 1}
    priced = pl.read_parquet(out)
    ok, empty = priced.row(0, named=True), priced.row(1, named=True)
    with Catalog.open(replayed_template) as cat:
        sheet = cat.table.versions[ok["sheet_id"]].sheet
    assert ok["cost_total"] == 20000 * sheet.prices["prompt"] + 1000 * sheet.prices["completion"] > 0
    # Never a silent $0: the row without counts is invalid, with what the file had.
    assert empty["status"] == "invalid" and empty["cost_total"] is None
    assert empty["reason"] == "no usage counts (columns seen: timestamp, model, input_tokens, output_tokens)"
    (grand,) = report["summary"]
    assert grand["total"] is True and Decimal(grand["cost_total"]) == ok["cost_total"]


def test_a_count_nothing_reads_is_an_error_naming_it_and_the_accepted_names(
    replayed_template: Path, tmp_path: Path
) -> None:
    usage = tmp_path / "usage.csv"
    usage.write_text("model,foo_tokens\ndeepseek/deepseek-v3.2,12\n", encoding="utf-8")
    done = run_cli("cost", str(usage), "--db", str(replayed_template))
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "'foo_tokens'" in done.stderr and "--map" in done.stderr and "--ignore-column" in done.stderr
    for accepted in ("prompt_tokens", "input_tokens", "cache_read_input_tokens", "native_tokens_prompt"):
        assert accepted in done.stderr
    # Left out on purpose, the row has nothing to price: invalid, not $0.
    ignored = run_cli("cost", str(usage), "--ignore-column", "foo_tokens", "--json", "--db", str(replayed_template))
    assert ignored.returncode == 0, ignored.stderr
    assert json.loads(ignored.stdout)["status"] == {"invalid": 1}
    # Mapped, it is the prompt.
    mapped = run_cli("cost", str(usage), "--map", "foo_tokens=prompt_tokens", "--json", "--db", str(replayed_template))
    assert mapped.returncode == 0, mapped.stderr
    assert json.loads(mapped.stdout)["status"] == {"ok": 1}
    assert "prompt_tokens ← foo_tokens (--map)" in mapped.stderr
    bad = run_cli("cost", str(usage), "--map", "foo_tokens=tokens", "--db", str(replayed_template))
    assert bad.returncode == 2 and "prompt_tokens" in bad.stderr


def test_format_forces_a_shape(replayed_template: Path, tmp_path: Path) -> None:
    usage = tmp_path / "usage.csv"
    usage.write_text("timestamp,model,input_tokens,output_tokens\n2026-08-01,openai/gpt-4.1,100,10\n", encoding="utf-8")
    done = run_cli("cost", str(usage), "--format", "genai-prices", "--json", "--db", str(replayed_template))
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["shape"]["shape"] == "genai-prices"
    wrong = run_cli("cost", str(usage), "--format", "nope", "--db", str(replayed_template))
    assert wrong.returncode == 2 and "litellm" in wrong.stderr


def test_billed_and_computed_side_by_side_per_row_and_per_group(replayed_template: Path, tmp_path: Path) -> None:
    out = tmp_path / "priced.parquet"
    fixture = FIXTURES / "openai_chat.csv"
    done = run_cli("cost", str(fixture), "--by", "model", "--json", "--out", str(out), "--db", str(replayed_template))
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    priced = pl.read_parquet(out)
    # Parquet keeps the money DECIMAL; billed is what usage.cost says, difference is computed − billed.
    assert priced.schema["cost_total"] == priced.schema["billed"] == priced.schema["difference"]
    assert isinstance(priced.schema["billed"], pl.Decimal)
    assert priced["billed"].to_list() == [Decimal("0.0003369"), Decimal("0.0050")]
    for row in priced.iter_rows(named=True):
        assert row["difference"] == row["cost_total"] - row["billed"]
    assert priced["verdict"].to_list() == ["match", "differs"]
    assert report["verdicts"] == {"match": 1, "differs": 1}
    groups = {g["model"]: g for g in report["summary"] if not g["total"]}
    assert (
        groups["openai/gpt-4o-mini"]["verdict"] == "match" and groups["google/gemini-2.5-flash"]["verdict"] == "differs"
    )
    (grand,) = [g for g in report["summary"] if g["total"]]
    assert Decimal(grand["billed"]) == sum(priced["billed"], Decimal(0))
    assert Decimal(grand["difference"]) == sum(priced["difference"], Decimal(0))
    assert grand["rows_match"] == 1 and grand["rows_differs"] == 1


def test_reconcile_is_a_view_of_the_same_comparison(replayed_template: Path, tmp_path: Path) -> None:
    fixtures = [FIXTURES / "openrouter_generation.jsonl", FIXTURES / "litellm_spend_logs.csv"]
    done = run_cli("reconcile", *map(str, fixtures), "--json", "--db", str(replayed_template))
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)["rows"]
    with Catalog.open(replayed_template) as cat:
        want = [compare_billed(cat.cost(read_usage(f)[0]))["verdict"].to_list() for f in fixtures]
    assert [r["verdict"] for r in rows] == want[0] + want[1]
    # The BYOK generation: OpenRouter billed 0 and the provider 0.004515, which is what is compared.
    byok = rows[1]
    assert byok["byok"] is True and byok["verdict"] == "match" and Decimal(byok["billed"]) == Decimal("0.004515")
    assert rows[2]["source"] == "litellm_spend_logs.csv:2"


def test_unpriceable_groups_are_blank_and_csv_money_has_no_trailing_zeros(
    replayed_template: Path, tmp_path: Path
) -> None:
    usage = tmp_path / "usage.csv"
    usage.write_text(
        "timestamp,model,prompt_tokens,completion_tokens\n"
        "2026-08-01T12:00:00Z,openai/gpt-4o-mini,1000,100\n"
        "2026-08-01T12:00:00Z,nobody/nothing,1000,100\n",
        encoding="utf-8",
    )
    out = tmp_path / "priced.csv"
    done = run_cli("cost", str(usage), "--by", "model", "--json", "--out", str(out), "--db", str(replayed_template))
    assert done.returncode == 0, done.stderr
    groups = {g["model"]: g for g in json.loads(done.stdout)["summary"]}
    assert groups["nobody/nothing"]["cost_total"] is None and groups["nobody/nothing"]["saving"] is None
    assert groups[None]["total"] is True and groups[None]["cost_total"] == groups["openai/gpt-4o-mini"]["cost_total"]
    text = pl.read_csv(out, infer_schema=False)
    assert text["cost_total"].to_list() == [groups["openai/gpt-4o-mini"]["cost_total"], None]
    money = [c for c in text.columns if c.startswith("cost_") or c == "saving"]
    cells = [v for c in money for v in text[c].to_list() if v is not None]
    assert cells and not any(re.search(r"\.\d*0$|\.$", v) for v in cells)
    table = run_cli("cost", str(usage), "--by", "model", "--db", str(replayed_template))
    assert re.search(r"│ total\s+│ 2 ", table.stdout)


# --- the mapping itself, without prices ------------------------------------------------------------------------


def test_anthropic_cache_split_that_does_not_add_up_is_invalid() -> None:
    frame = pl.DataFrame(
        {
            "model": ["a/b", "a/b"],
            "input_tokens": [10, 10],
            "output_tokens": [1, 1],
            "cache_creation_input_tokens": [50, 51],
            "cache_creation.ephemeral_5m_input_tokens": [20, 20],
            "cache_creation.ephemeral_1h_input_tokens": [30, 30],
        }
    )
    shaped, report = read_shape(frame)
    assert report.shape == "anthropic"
    assert shaped["prompt_tokens"].to_list() == [60, 61]
    assert shaped["_invalid_reason"].to_list()[0] is None
    assert "not the sum of its 5-minute and 1-hour parts" in shaped["_invalid_reason"].to_list()[1]


def test_count_like_names() -> None:
    assert all(map(count_like, ["foo_tokens", "tokenCount", "n_count", "requests", "web_fetch_requests"]))
    assert not any(map(count_like, ["cache_discount", "account", "model", "spend", "usage"]))


def test_flattened_names_match_in_any_spelling() -> None:
    spellings = [
        "usage.prompt_tokens_details.cached_tokens",
        "usage_prompt_tokens_details_cached_tokens",
        "prompt_tokens_details__cached_tokens",
        "Prompt_Tokens_Details.Cached_Tokens",
    ]
    for spelling in spellings:
        frame = pl.DataFrame({"model": ["a/b"], "prompt_tokens": [10], spelling: [4]})
        shaped, report = read_shape(frame)
        assert report.shape == "openai-chat" and shaped["cache_read_tokens"].to_list() == [4], spelling


def test_a_map_to_an_unknown_column_is_an_error() -> None:
    with pytest.raises(InputError, match="not a column"):
        read_shape(pl.DataFrame({"model": ["a/b"], "prompt_tokens": [1]}), maps={"nope": "prompt_tokens"})


def test_help_and_readme_list_every_shape_and_name_with_a_csv_example() -> None:
    from catalog.cost.shapes import SHAPES
    from catalog.settings import PROJECT_ROOT

    help_text = run_cli("cost", "--help").stdout
    readme = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("### Usage logs as other systems write them", 1)[1].split("\n## ", 1)[0]
    for shape in SHAPES:
        assert re.search(rf"^\s+{re.escape(shape.name)}\s", help_text, re.MULTILINE), shape.name
        assert f"| `{shape.name}` |" in section, shape.name
        for name in shape.count_columns():
            assert name in help_text, name
            assert name.rsplit(".", 1)[-1] in section, name
    for text in (help_text, section):
        assert "timestamp,model,input_tokens,output_tokens" in text


def test_reconcile_reads_files_with_the_same_format_map_and_ignore_column_as_cost(
    replayed_template: Path, tmp_path: Path
) -> None:
    """`reconcile` takes `cost`'s three reading options, from the one definition, and applies them to each file."""
    from catalog.cli.cost import cost_cmd, reconcile_cmd

    def reading(command: Any) -> list[tuple[Any, ...]]:
        return [
            (p.name, tuple(p.opts), p.multiple, p.help)
            for p in command.params
            if p.name in ("shape", "maps", "ignored")
        ]

    assert reading(reconcile_cmd) == reading(cost_cmd) and len(reading(cost_cmd)) == 3
    # A gateway's own names: counts and the billed amount mapped, a retry counter left out.
    usage = tmp_path / "gateway.csv"
    usage.write_text(
        "timestamp,model,foo_tokens,bar_tokens,charged,retry_count\n"
        "2026-08-01T12:00:00Z,openai/gpt-4.1,36000,1200,0.0816,0\n",
        encoding="utf-8",
    )
    db = ("--db", str(replayed_template))
    unread = run_cli("reconcile", str(usage), "--json", *db)
    assert unread.returncode == 2 and "'foo_tokens'" in unread.stderr and "--map" in unread.stderr, unread.stderr
    maps = [
        "--map",
        "foo_tokens=prompt_tokens",
        "--map",
        "bar_tokens=completion_tokens",
        "--map",
        "charged=billed_cost",
    ]
    done = run_cli("reconcile", str(usage), *maps, "--ignore-column", "retry_count", "--json", *db)
    assert done.returncode == 0, done.stderr
    assert "prompt_tokens ← foo_tokens (--map)" in done.stderr
    (row,) = json.loads(done.stdout)["rows"]
    with Catalog.open(replayed_template) as cat:
        same = conform(pl.DataFrame([{"timestamp": NOON, "model": "openai/gpt-4.1", "prompt_tokens": 36000,
                                      "completion_tokens": 1200}]))  # fmt: skip
        expected = cat.cost(same)["cost_total"][0]
    assert Decimal(row["computed"]) == expected and Decimal(row["billed"]) == Decimal("0.0816")
    assert row["verdict"] in ("match", "differs")
    # --format forces a shape here too, and an unknown one is refused naming the known ones.
    litellm = tmp_path / "spend.csv"
    litellm.write_text(
        "startTime,model,prompt_tokens,completion_tokens,spend\n2026-08-01T12:00:00Z,openai/gpt-4.1,100,10,0.00028\n",
        encoding="utf-8",
    )
    forced = run_cli("reconcile", str(litellm), "--format", "litellm", "--json", *db)
    assert forced.returncode == 0 and "litellm" in forced.stderr, forced.stderr
    assert Decimal(json.loads(forced.stdout)["rows"][0]["billed"]) == Decimal("0.00028")
    wrong = run_cli("reconcile", str(litellm), "--format", "nope", *db)
    assert wrong.returncode == 2 and "litellm" in wrong.stderr and "Traceback" not in wrong.stderr
