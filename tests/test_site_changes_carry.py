"""The site's changes by month and by provider are carried from the last build (``_CHANGES_CARRY``): a build's
changes are the sweep's new ones in front of the last build's list (the same objects). What they make must equal
sorting the whole list, as the site did before, whatever list comes next."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

from catalog.website import build
from catalog.website.build import FEED_ENTRIES, PRICE_KINDS, _changes_by_provider, _months

SLUGS = ["alpha", "beta", "gamma"]
AT = datetime(2027, 3, 1, tzinfo=UTC)


def months_whole(changes: list[dict[str, Any]], at: datetime) -> list[tuple[str, list[dict[str, Any]]]]:
    """The plain definition: every change named its UTC month, in list order."""
    months: dict[str, list[dict[str, Any]]] = {}
    for change in changes:
        months.setdefault(change["at"].astimezone(UTC).strftime("%Y-%m"), []).append(change)
    return list(months.items()) or [(at.astimezone(UTC).strftime("%Y-%m"), [])]


def by_provider_whole(changes: list[dict[str, Any]], slugs: list[str]) -> dict[str, Any]:
    """Each provider's changes, the models they are of and its feed's entries, from the whole list."""
    out: dict[str, list[dict[str, Any]]] = {}
    for change in changes:
        tag = change.get("tag")
        if tag in slugs:
            out.setdefault(tag, []).append(change)
        elif tag and tag.partition("/")[0] in slugs:
            out.setdefault(tag.partition("/")[0], []).append(change)
    return {
        slug: (rows, {c["model_id"] for c in rows}, [c for c in rows if c["kind"] in PRICE_KINDS][:FEED_ENTRIES])
        for slug, rows in out.items()
    }


def changes_before(end: datetime, n: int, rng: random.Random) -> list[dict[str, Any]]:
    """``n`` changes before ``end``, newest first, some minutes to days apart (months change within a list)."""
    out, at = [], end
    for _ in range(n):
        at -= timedelta(minutes=rng.randrange(1, 60 * 24 * 3))
        tag = rng.choice([None, "", "alpha", "beta/fp8", "gamma", "delta", "alpha/x", "zeta/alpha"])
        kind = rng.choice(["price", "price", "discount", "overrides", "tier", "context"])
        out.append({"at": at, "tag": tag, "model_id": f"m{rng.randrange(5)}", "kind": kind})
    return out


def facts_of(changes: list[dict[str, Any]], slugs: list[str]) -> Any:
    return SimpleNamespace(changes=changes, providers=[{"slug": s} for s in slugs])


def check(changes: list[dict[str, Any]], slugs: list[str], at: datetime = AT) -> None:
    assert _months(changes, at) == months_whole(changes, at)
    found = _changes_by_provider(facts_of(changes, slugs))
    assert {s: (p.rows, p.model_ids, p.entries) for s, p in found.items()} == by_provider_whole(changes, slugs)


def test_carried_months_and_providers_equal_sorting_the_whole_list(monkeypatch: Any) -> None:
    monkeypatch.setattr(build, "_CHANGES_CARRY", build._ChangesCarry())
    rng = random.Random(7)
    older = changes_before(AT - timedelta(days=40), 1500, rng)  # some providers' feeds full (FEED_ENTRIES)
    check(older, SLUGS)  # nothing carried yet
    assert build._CHANGES_CARRY.after("months", older, None) is not None
    # sweeps: new changes in front of the same objects, in the newest month and opening new months
    changes = older
    for days in (0, 1, 20, 45):
        newest = changes[0]["at"] + timedelta(days=days, hours=1)
        new = changes_before(newest, rng.randrange(0, 30) if days < 45 else 700, rng)
        changes = new + changes
        assert build._CHANGES_CARRY.after("months", changes, None) is not None  # the carry is what is tested
        check(changes, SLUGS)
    check(changes, SLUGS)  # the same list again: all carried
    check(changes, [*SLUGS, "delta"])  # another provider: its changes are not in the carried lists
    check(changes, SLUGS)


def test_a_list_not_ending_with_the_last_one_is_sorted_whole(monkeypatch: Any) -> None:
    monkeypatch.setattr(build, "_CHANGES_CARRY", build._ChangesCarry())
    rng = random.Random(11)
    changes = changes_before(AT, 300, rng)
    check(changes, SLUGS)
    copied = [dict(c) for c in changes]  # equal items, other objects (another build's facts): not carried
    copied[-1]["tag"] = "alpha"
    assert build._CHANGES_CARRY.after("months", copied, None) is None
    check(copied, SLUGS)
    trimmed = copied[:-5]  # the oldest dropped: not the last list's tail
    assert build._CHANGES_CARRY.after("months", trimmed, None) is None
    check(trimmed, SLUGS)
    check([], SLUGS)  # none at all: the as-of month's empty page
    check(changes_before(AT, 3, rng), SLUGS, AT + timedelta(days=400))
