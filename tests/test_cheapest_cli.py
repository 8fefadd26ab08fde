"""``catalog cheapest``'s table for people: the excluded endpoints with their reasons (bounded by ``--limit``),
the default-routing line, and the same facts as ``--json``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from helpers import run_cli

SONNET = ["cheapest", "anthropic/claude-sonnet-4.5", "--as-of", "2026-08-05", "--input", "250000", "--output", "2000"]


def _json(db: Path, *args: str) -> dict[str, Any]:
    done = run_cli(*args, "--json", "--db", str(db))
    assert done.returncode == 0, done.stderr
    answer: dict[str, Any] = json.loads(done.stdout)
    return answer


def test_the_table_lists_each_excluded_endpoint_with_its_limit(replayed_template: Path) -> None:
    answer = _json(replayed_template, *SONNET)
    excluded = answer["excluded"]
    assert excluded and all(e["requirement"] for e in excluded)
    done = run_cli(*SONNET, "--db", str(replayed_template))
    assert done.returncode == 0, done.stderr
    assert f"excluded: {len(excluded)}" in done.stdout
    for row in excluded:
        assert row["tag"] in done.stdout and row["reason"] in done.stdout
    context = [e for e in excluded if e["requirement"] == "context"]
    assert context and "< 252,000" in context[0]["reason"]


def test_limit_bounds_ranked_and_excluded_rows_and_counts_the_rest(replayed_template: Path) -> None:
    args = ["cheapest", "--as-of", "2026-08-05", "--input", "250000", "--output", "2000", "--tools"]
    answer = _json(replayed_template, *args)
    ranked, excluded = answer["ranked"], answer["excluded"]
    assert len(ranked) > 2 and len(excluded) > 2
    done = run_cli(*args, "--limit", "2", "--db", str(replayed_template))
    assert done.returncode == 0, done.stderr
    assert f"{len(ranked) - 2} more ranked" in done.stdout
    assert f"{len(excluded) - 2} more excluded" in done.stdout
    ranked_table, excluded_table = done.stdout.split(f"excluded: {len(excluded)}")
    assert len([line for line in ranked_table.splitlines() if line.startswith("│")]) == 2
    rows = [line for line in excluded_table.splitlines() if line.startswith("│")]
    assert len(rows) == 2 and excluded[0]["reason"] in rows[0] and excluded[1]["reason"] in rows[1]


def test_the_default_routing_line_matches_the_json(replayed_template: Path) -> None:
    answer = _json(replayed_template, *SONNET)
    routing = answer["default_routing"]
    assert routing is not None
    done = run_cli(*SONNET, "--db", str(replayed_template))
    expected = (
        f"default routing ≈ ${routing['expected_cost_per_request']} per request; pinning saves "
        f"${routing['saving_per_request']} ({routing['saving_percent']} %)"
    )
    assert expected in done.stdout
