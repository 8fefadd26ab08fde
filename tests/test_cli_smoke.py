import json

from helpers import run_cli

from catalog.bundle import Bundle


def test_endpoints_as_of_lists_that_days_exact_prices(replayed_db, bundle: Bundle) -> None:
    out = run_cli("endpoints", "deepseek/deepseek-v3.2", "--as-of", "2026-07-20", "--json", "--db", str(replayed_db))
    assert out.returncode == 0, out.stderr
    listed = json.loads(out.stdout)["endpoints"]
    recorded = bundle.load("2026-07-20").endpoints["deepseek/deepseek-v3.2"]["endpoints"]
    assert sorted(e["tag"] for e in listed) == sorted(e["tag"] for e in recorded)
    by_tag = {e["tag"]: e for e in listed}
    for rec in recorded:
        for key in ("prompt", "completion"):
            # exact: the stored DECIMAL equals the recorded string, digit for digit once normalised
            from decimal import Decimal

            assert Decimal(by_tag[rec["tag"]][f"price_{key}"]) == Decimal(rec["pricing"][key])
