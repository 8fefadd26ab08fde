"""What an incremental site build keeps of a page's inputs from the last build must equal making it again from the
whole: each model's changes (``by_model_changes``), a list's digest and a feed's entries known by the list
(``_PerList``), and the digest of a carried ranking, ranked endpoint or sheet version in a fingerprint
(``_HeldDigests``): two inputs fingerprint alike exactly when they spell alike whole."""

from __future__ import annotations

import json
import pickle
import random
import shutil
from dataclasses import fields, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from catalog.cost.profile import RankedEndpoint
from catalog.cost.sheets import SheetVersion
from catalog.library import Catalog
from catalog.prices import parse_price_sheet
from catalog.website import build, changelog, output, pricedata
from catalog.website import facts as site_facts
from catalog.website.build import FEED_ENTRIES, PRICE_KINDS, ListDigests, PageCache, _feed_rows, _PerList
from catalog.website.facts import ModelRanking, by_model_changes

AT = datetime(2027, 3, 1, tzinfo=UTC)
KINDS = ["price", "price", "discount", "overrides", "tier", "context", "added"]


def changes_before(end: datetime, n: int, rng: random.Random, models: int = 6) -> list[dict[str, Any]]:
    """``n`` changes before ``end``, newest first."""
    out, at = [], end
    for _ in range(n):
        at -= timedelta(minutes=rng.randrange(1, 600))
        out.append({"at": at, "model_id": f"m{rng.randrange(models)}", "kind": rng.choice(KINDS)})
    return out


def grouped_whole(changes: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """The plain definition: each model's changes in list order."""
    out: dict[str, list[dict[str, Any]]] = {}
    for change in changes:
        out.setdefault(change["model_id"], []).append(change)
    return out


def test_each_models_changes_carried_across_sweeps_equal_grouping_the_whole_list() -> None:
    rng = random.Random(11)
    changes = changes_before(AT, 400, rng)
    grouped = by_model_changes(changes)
    assert grouped == grouped_whole(changes)
    for n in (0, 1, 3, 40, 0, 7):  # sweeps: new changes in front, some models untouched, a new model once
        new = changes_before(changes[0]["at"] + timedelta(days=1), n, rng, models=7 if n == 40 else 6)
        earlier = grouped
        grouped = by_model_changes(new, earlier)
        changes = new + changes
        assert grouped == grouped_whole(changes)
        touched = {c["model_id"] for c in new}
        for model_id, rows in grouped.items():  # an untouched model keeps its list, the same object
            assert (rows is earlier.get(model_id)) == (model_id not in touched), model_id


def test_a_lists_digest_known_by_the_list_equals_the_digest_made_from_its_items() -> None:
    rng = random.Random(5)
    changes = changes_before(AT, 900, rng)
    carried = ListDigests()
    lists = by_model_changes(changes)
    for _sweep in range(4):
        carried.next_build()
        for rows in lists.values():
            assert carried.of(rows) == ListDigests().of(list(rows))  # a fresh one walks every item
        new = changes_before(changes[0]["at"] + timedelta(hours=3), 5, rng)
        changes = new + changes
        lists = by_model_changes(new, lists)
    # a list changed in place (never done by the site: checked all the same) is not taken for the one it was
    rows = next(iter(lists.values()))
    before = carried.of(rows)
    rows.append({"at": AT, "model_id": "m0", "kind": "price"})
    assert carried.of(rows) == ListDigests().of(list(rows)) != before
    rows[-1] = {"at": AT, "model_id": "m0", "kind": "discount"}
    assert carried.of(rows) == ListDigests().of(list(rows))


def test_a_list_known_whole_keeps_its_blocks_for_the_list_a_sweep_makes_of_it(monkeypatch: Any) -> None:
    """Builds that know a model's list whole still keep its blocks: when a sweep puts a change in front of it,
    only the newest block is spelled, and the digest is the one made from every item."""
    rng = random.Random(9)
    rows = changes_before(AT, 3 * build.DIGEST_BLOCK + 10, rng)
    carried = ListDigests()
    carried.of(rows)
    for _build in range(3):  # known whole each time
        carried.next_build()
        carried.of(rows)
    spelled: list[int] = []
    real = build._spelled
    monkeypatch.setattr(build, "_spelled", lambda value: spelled.append(1) or real(value))
    carried.next_build()
    longer = changes_before(AT + timedelta(days=1), 1, rng) + rows
    assert carried.of(longer) == ListDigests().of(list(longer))
    assert len(spelled) == 1 + 4  # this list's newest block; then the fresh one's four


def test_a_feeds_entries_known_by_its_list_equal_the_first_price_changes() -> None:
    rng = random.Random(3)
    memo = _PerList()
    changes = changes_before(AT, 1200, rng, models=2)  # some feeds full (FEED_ENTRIES)
    lists = by_model_changes(changes)
    for _sweep in range(3):
        memo.next_build()
        for rows in lists.values():
            found = memo.of(rows, _feed_rows)
            assert found == [c for c in rows if c["kind"] in PRICE_KINDS][:FEED_ENTRIES]
            assert memo.of(rows, _feed_rows) is found  # known: not made again
        new = changes_before(changes[0]["at"] + timedelta(hours=3), 30, rng, models=2)
        changes = new + changes
        lists = by_model_changes(new, lists)


def ranked(**values: Any) -> RankedEndpoint:
    return RankedEndpoint(**{f.name: values.get(f.name) for f in fields(RankedEndpoint)})


def version(prompt: str, **values: Any) -> SheetVersion:
    sheet = parse_price_sheet({"prompt": prompt, "completion": "0.000002"})
    base = SheetVersion("endpoint", "m/a", "p", "p", "P", AT, None, sheet, key="m/a@p")
    return replace(base, **values)


def test_a_carried_object_fingerprints_as_its_whole_spelling_does() -> None:
    """Fingerprints with the held digests are equal exactly when the inputs' plain spellings are (each object
    spelled as its fields, the telemetry of a ranked endpoint left out as before), for equal objects that are
    distinct, the same object met again, and objects differing in any one field."""
    cache = PageCache(Path("unused"), code="test")
    rows = [
        ranked(tag="p", cost_per_request=Decimal("0.001")),
        ranked(tag="p", cost_per_request=Decimal("0.001")),  # equal, another object
        ranked(tag="p", cost_per_request=Decimal("0.0010")),  # equal value, spelled otherwise
        ranked(tag="q", cost_per_request=Decimal("0.001")),
        ranked(tag="p", cost_per_request=Decimal("0.001"), uptime_last_1d=99.5),  # telemetry: not an input
    ]
    rankings = [
        ModelRanking(ranked=[rows[0]], explanation="x"),
        ModelRanking(ranked=[rows[1]], explanation="x"),
        ModelRanking(ranked=[rows[2]], explanation="x"),
        ModelRanking(ranked=[rows[0]], explanation="y"),
        ModelRanking(ranked=[rows[3]], explanation="x"),
        ModelRanking(ranked=[rows[0]], excluded=[{"endpoint_key": "e", "reason": "r"}], explanation="x"),
        ModelRanking(),
    ]
    versions = [
        version("0.000001"),
        version("0.000001"),
        version("0.0000010"),
        version("0.000001", valid_to=AT + timedelta(hours=1)),
        version("0.000001", provider_name="Other"),
        version("0.000003"),
    ]

    def plain(value: Any) -> bytes:
        """The whole spelling: every carried object as its type and fields, nothing held."""

        def spelled(obj: Any) -> Any:
            if isinstance(obj, RankedEndpoint):
                return ("RankedEndpoint", [spelled(getattr(obj, n)) for n in build._RANKED_INPUTS])
            if isinstance(obj, ModelRanking | SheetVersion):
                return (type(obj).__name__, [spelled(getattr(obj, f.name)) for f in fields(obj)])
            if isinstance(obj, dict):
                return {k: spelled(v) for k, v in obj.items()}
            if isinstance(obj, list):
                return [spelled(v) for v in obj]
            if isinstance(obj, Decimal):
                return ("decimal", str(obj))
            return obj

        return pickle.dumps(spelled(value), protocol=5)

    contexts = [{"presets": {"chat": r}, "cheapest": r.ranked[0] if r.ranked else None} for r in rankings]
    contexts += [{"sheets": {"m/a@p": v}} for v in versions]
    contexts += [{"custom_rows": [{"ranked": r}]} for r in rows]
    for build_number in range(3):  # the digests made by one build are known to the next ones
        build._HELD.next_build()
        keys = [cache.fingerprint("model.html", c) for c in contexts]
        for a, ca in zip(keys, contexts, strict=True):
            for b, cb in zip(keys, contexts, strict=True):
                assert (a == b) == (plain(ca) == plain(cb)), (build_number, ca, cb)
    assert len(set(keys)) < len(keys)  # some pairs are equal inputs: the check above compares both ways


def test_price_histories_carried_across_sweeps_equal_histories_made_from_nothing(
    replayed_template: Path, tmp_path: Path
) -> None:
    """A model a sweep touched keeps the entries of its versions the sweep did not open or close (the same
    objects); the whole equals pricing every version again, at each of the newest snapshots in turn."""
    db = tmp_path / "history.duckdb"
    shutil.copyfile(replayed_template, db)
    reused = 0
    with Catalog.open(db) as cat:
        taken = [
            r[0].astimezone(UTC)
            for r in cat.con.execute(
                "SELECT taken_at FROM snapshots WHERE status <> 'failed' ORDER BY taken_at DESC LIMIT 4"
            ).fetchall()
        ][::-1]
        earlier = None
        for at in taken:
            histories = site_facts._price_histories(cat.table, at, earlier)
            assert histories == site_facts._price_histories(cat.table, at), at
            if earlier is not None:
                touched = {
                    v.model_id for v in map(cat.table.versions.__getitem__, cat.table.versions_between(earlier.at, at))
                }
                before = {id(r) for m in touched for r in earlier.histories.get(m, [])}
                reused += sum(id(r) in before for m in touched for r in histories.get(m, []))
            earlier = site_facts._Earlier(at, (), cat.table.scale, [], histories, {})
    assert reused  # the carry is what is tested: touched models kept entries


def test_an_entrys_text_kept_by_its_values_and_lists_is_what_json_dumps_writes() -> None:
    """``entry_text`` (kept across builds) and a model entry's text equal ``json.dumps`` of the entry itself, for
    entries sharing their sheet's lists, equal values of other types (1, 1.0, True), and lists made again."""
    rng = random.Random(4)
    sheets = [([["1e-6", "2e-6"], None], [[0, None, None]]), ([["3e-7", "0"]], []), ([None], [[1000, 60, 120]])]
    values = [None, 0, 1, 1.0, True, False, 128000, "x", "é<"]
    for _ in range(3000):
        variants, conds = rng.choice(sheets)
        if rng.random() < 0.2:  # the same lists' values in other objects
            variants, conds = [list(v) if v else v for v in variants], [list(c) for c in conds]
        entry = [
            rng.choice(["t", "u", "é"]),
            rng.choice([None, "P", "Q"]),
            variants,
            conds,
            *(rng.choice(values) for _ in range(7)),
        ]
        assert pricedata.entry_text(entry) == json.dumps(entry) == json.dumps(entry, sort_keys=True)
        model = {"inputs": ["text", rng.choice(["image", "é"])], "id": rng.choice(["a/b", "c"]), "endpoints": [entry]}
        assert pricedata._model_text(model) == json.dumps(model, sort_keys=True)
    odd = [["t", {"b": 1, "a": 2}, [], [], 1], {"id": "x", "endpoints": [], "inputs": [], "more": 1}]
    assert pricedata.entry_text(odd[0]) == json.dumps(odd[0], sort_keys=True)  # not an endpoint's shape
    assert pricedata._model_text(odd[1]) == json.dumps(odd[1], sort_keys=True)


def test_the_changes_pages_values_carried_across_sweeps_equal_counting_the_whole_list(monkeypatch: Any) -> None:
    """The changes page's models, providers and kinds (most common first, ties in the order the list first names
    them) are carried from the last build's list; they equal counting the whole list, whatever list comes next."""
    monkeypatch.setattr(build, "_CHANGES_CARRY", build._ChangesCarry())
    rng = random.Random(21)
    tags = [None, "", "alpha", "beta/fp8", "gamma", "alpha/x"]
    providers = [{"slug": "alpha", "name": "Alpha"}, {"slug": "beta", "name": None}]

    def made(end: datetime, n: int) -> list[dict[str, Any]]:
        rows = changes_before(end, n, rng, models=9)
        for row in rows:
            row["tag"] = rng.choice(tags)
        return rows

    def whole(changes: list[dict[str, Any]]) -> dict[str, Any]:
        from collections import Counter

        models = sorted({c["model_id"] for c in changes})
        found = {c.get("tag") for c in changes}
        return {
            "change_models": models,
            "kinds": Counter(c["kind"] for c in changes).most_common(),
            "slugs": sorted({t.split("/", 1)[0] for t in found if t}),
            "total": len(changes),
        }

    def values(changes: list[dict[str, Any]]) -> dict[str, Any]:
        found = changelog.changes_values(changes, {"m1", "m2"}, providers)
        return {
            "change_models": found["change_models"],
            "kinds": found["kinds"],
            "slugs": sorted(s for s, _name in found["change_providers"]),
            "total": found["total"],
        }

    changes = made(AT, 300)
    assert values(changes) == whole(changes)
    for n in (0, 1, 5, 60, 2):  # sweeps: new changes (new kinds, models and tags among them) in front
        new = made(changes[0]["at"] + timedelta(days=1), n)
        if n == 5:
            new[0]["kind"] = "removed"  # a kind the list had not named
        changes = new + changes
        assert build._CHANGES_CARRY.after("sets", changes, None) is not None  # the carry is what is tested
        assert values(changes) == whole(changes)
    assert values(changes[3:]) == whole(changes[3:])  # not an extension of the last list: counted whole


def test_endpoint_rows_carried_are_the_rows_without_telemetry_and_the_last_ones_only_when_spelled_alike() -> None:
    """``RowsCarry`` gives each row without its telemetry (``_without_telemetry_row``), the last build's object
    when that spells the same, never when any value reads otherwise: a Decimal's exponent, a time's offset, a
    float's sign, another price sheet object, the order of the keys, a list holding other than texts."""
    from datetime import timezone

    sheet = parse_price_sheet({"prompt": "0.000001", "completion": "0.000002"})
    base = {
        "endpoint_key": "m/a@p",
        "price_prompt": Decimal("0.000001000"),
        "valid_from": AT,
        "supported_parameters": ["tools", "seed"],
        "sheet": sheet,
        "ranked": True,
        "context_length": 128000,
        "uptime_last_1d": 99.5,
        "tie_uptime": 99.5,
    }
    carry = build.RowsCarry()
    first = carry.rows("model", [base])[0]
    assert first == build._without_telemetry_row(base)
    same = [
        {**base},
        {**base, "uptime_last_1d": 12.0, "tie_uptime": None, "latency_p50": 3.0},  # telemetry: not spelled
        {**base, "supported_parameters": ["tools", "seed"]},
    ]
    other = [
        {**base, "price_prompt": Decimal("0.00000100")},  # equal, another exponent
        {**base, "valid_from": AT.astimezone(timezone(timedelta(hours=2)))},  # the same instant, another offset
        {**base, "sheet": parse_price_sheet({"prompt": "0.000001", "completion": "0.000002"})},  # equal, not it
        {**base, "ranked": 1},  # equal, another type
        {**base, "context_length": 128001},
        {**base, "supported_parameters": ["tools"]},
        {"ranked": True, **base},  # another order of keys
        {**base, "discount": 0.0},
        {**base, "supported_parameters": [1, 2]},
    ]
    for row in same:
        carry.next_build()
        assert carry.rows("model", [row])[0] is first
    assert carry.rows("provider", [base])[0] is not first  # another kind of page: its own rows
    for row in other:
        carry.next_build()
        carry.rows("model", [base])  # the last build's is ``first`` again
        found = carry.rows("model", [row])[0]
        assert found is not first and found == build._without_telemetry_row(row)
        assert list(found) == list(build._without_telemetry_row(row))
    carry.next_build()
    carry.next_build()  # a row no build met for two builds is not kept
    assert carry.rows("model", [base])[0] is not first
    assert (
        build.same_row({"x": -0.0}, {"x": 0.0}) is False
        and build.same_row({"x": float("1.5")}, {"x": float("1.5")}) is False
    )


def test_a_list_of_endpoint_rows_digests_as_its_rows_do_whatever_objects_they_share() -> None:
    """Rows of the last build beside new ones share other objects than rows made together: their digest is made
    row by row, so the same rows give the same digest, and rows spelled otherwise another."""
    shared = Decimal("0.000001")
    together = [{"k": "a", "p": shared}, {"k": "b", "p": shared}]  # one object in both rows
    apart = [{"k": "a", "p": Decimal("0.000001")}, {"k": "b", "p": Decimal("0.000001")}]
    carry = build.RowsCarry()
    assert pickle.dumps(together) != pickle.dumps(apart)  # spelled together, the sharing shows
    assert carry.digest(together) == build.RowsCarry().digest(apart) == carry.digest(apart)
    carry.next_build()
    assert carry.digest(together) == carry.digest(apart)  # known rows, by identity
    assert carry.digest([{"k": "a", "p": Decimal("0.0000010")}, apart[1]]) != carry.digest(apart)
    assert carry.digest(apart[::-1]) != carry.digest(apart)


def test_the_manifests_text_is_what_json_dumps_writes_at_indent_0() -> None:
    rng = random.Random(2)
    texts = ["a.html", "é/ü.atom", 'q"uote', "\u2028"]
    for _ in range(300):
        files = {
            rng.choice(texts) + str(i): {
                "sha256": rng.choice(texts),
                "size": rng.randrange(10**6),
                "gzip": rng.choice([None, 5, [1, {"x": None}], {}]),
            }
            for i in range(rng.randrange(0, 5))
        }
        pages = {rng.choice(texts) + str(i): rng.choice([*texts, {"k": [1]}, {}]) for i in range(rng.randrange(0, 4))}
        extra = rng.choice([{}, {"history": {"key": ["2027", [1, 2]], "downloads": [{"files": [["csv", "a", 1]]}]}}])
        manifest = {"format": 1, "code": rng.choice(texts), "files": files, "pages": pages, "extra": extra}
        assert output.manifest_text(manifest) == json.dumps(manifest, indent=0)
    assert output.manifest_text({}) == json.dumps({}, indent=0)
