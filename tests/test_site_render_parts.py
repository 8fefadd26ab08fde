"""The parts of a page the build makes in Python for speed, each against what it replaced: the row parts that
were Jinja macros (cost, price, links, policy), the dict-first field lookup, the memoised filters, the price
data's JSON spelt from per-model parts, and the page cache's one pack file. No history needed."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace

import jinja2
import pytest
from jinja2.compiler import CodeGenerator
from markupsafe import Markup, escape

from catalog.website import build
from catalog.website.build import SITE_DIR, BodyPack, PageCache, environment
from catalog.website.changelog import dumps
from catalog.website.pricedata import ENTRY_TEXTS, PriceJson

# The macros as _macros.html defined them before they became Python functions (build.cost_html, …).
OLD_MACROS = """
{% macro model_link(root, model_id, name=None) -%}
<a href="{{ root }}models/{{ model_id|page }}.html">{{ name or model_id }}</a>
{%- endmacro %}

{% macro provider_link(root, slug, name, provider_slugs) -%}
PROVIDER_LINK
{%- endmacro %}

{% macro cost(value) -%}
{% if value is none %}—{% else %}<span title="${{ value|exact }}">{{ value|usd }}</span>{% endif %}
{%- endmacro %}

{% macro price(value) -%}
{% if value is none %}dynamic{% else %}<span title="${{ value|exact }} per token">{{ value|per_m }}</span>{% endif %}
{%- endmacro %}

{% macro policy(value) -%}
{{ 'yes' if value else 'no' if value is sameas false else 'unknown' }}
{%- endmacro %}
""".replace(
    "PROVIDER_LINK",
    '{% if slug in provider_slugs %}<a href="{{ root }}providers/{{ slug|page }}.html">{{ name or slug }}</a>'
    "{% else %}{{ name or slug }}{% endif %}",
)
HOSTILE = ['<script>alert("x")</script>', "a&b", "it's", "x/../y:free", ""]
AMOUNTS = [None, Decimal(0), Decimal("0.0000003705"), Decimal("1.000"), Decimal("12345.6789"), Decimal("-0.25")]


@pytest.fixture(scope="module")
def env() -> jinja2.Environment:
    return environment(SITE_DIR / "templates")


def old(env: jinja2.Environment, call: str, **values: object) -> str:
    return env.from_string(OLD_MACROS + "{{ " + call + " }}").render(**values).strip("\n")


def new(env: jinja2.Environment, call: str, **values: object) -> str:
    return env.from_string("{{ " + call + " }}").render(**values)


def test_the_row_parts_give_the_text_the_macros_gave(env: jinja2.Environment) -> None:
    for value in AMOUNTS:
        for call in ("cost(v)", "price(v)"):
            assert new(env, call, v=value) == old(env, call, v=value), (call, value)
    for policy in (True, False, None, 0, "yes"):
        assert new(env, "policy(v)", v=policy) == old(env, "policy(v)", v=policy), policy
    for text in HOSTILE:
        for name in (None, text, "<b>"):
            values: dict[str, object] = {"m": text, "n": name, "r": "../"}
            call = "model_link(r, m, n)"
            assert new(env, call, **values) == old(env, call, **values), (text, name)
            for slugs in ([text], []):
                linked: dict[str, object] = {"s": text, "n": name, "r": "../", "slugs": slugs}
                call = "provider_link(r, s, n, slugs)"
                assert new(env, call, **linked) == old(env, call, **linked), (text, name, slugs)
    assert "<script>" not in new(env, "model_link(r, m)", r="", m=HOSTILE[0])  # escaped, not markup


def test_a_dict_field_reads_its_item_and_a_method_name_stays_the_method(env: jinja2.Environment) -> None:
    row = {"items": 7, "price": "p", "none": None}
    assert env.from_string("{{ row.price }}|{{ row.none }}").render(row=row) == "p|None"
    # Jinja's order for a name dict has as a method: the method (as before the item-first lookup)
    assert env.from_string("{{ row.items is callable }}").render(row=row) == "True"
    with pytest.raises(jinja2.UndefinedError):
        env.from_string("{{ row.missing }}").render(row=row)
    with pytest.raises(jinja2.UndefinedError):  # not a plain dict: the default lookup, StrictUndefined as ever
        env.from_string("{{ row.missing }}").render(row=PriceJson(row))


class _Html:
    def __html__(self) -> str:
        return "<b>safe</b>"


class _Text(str):
    def __str__(self) -> str:
        return "<spelt>"


def test_what_a_template_writes_is_what_markupsafe_escape_writes() -> None:
    values: list[object] = [*HOSTILE, "\"'&<>", Markup("<i>kept</i>"), _Html(), _Text("x"), None, 0, 1.5, *AMOUNTS]
    for value in values:
        assert build.output_text(value) == str(escape(value)), value
    with pytest.raises(jinja2.UndefinedError):  # StrictUndefined still refuses to be written
        build.output_text(jinja2.StrictUndefined(name="missing"))


def test_compiled_templates_write_and_read_fields_as_jinja_does(env: jinja2.Environment) -> None:
    stock = environment(SITE_DIR / "templates")
    stock.code_generator_class = CodeGenerator  # Jinja's own: escape() and environment.getattr for every value
    source = (
        "{% macro m(x) %}<{{ x.name }}>{% endmacro %}"
        "{{ row.name }}|{{ row.inner.name }}|{{ m(row) }}|{{ [row.inner.name, row.name]|join(',') }}|"
        "{% for r in rows if r.name %}{{ r.name }}{{ r.inner.name if r.inner else '-' }};{% endfor %}|"
        "{% set t %}{{ row.name }}{% endset %}{{ t }}|{{ row.items is callable }}|{{ obj.real }}|{{ cell }}"
    )
    row = {"name": "<a&b>", "inner": {"name": "it's"}}
    values = {"row": row, "rows": [row, {"name": "", "inner": None}, {"name": '"q"', "inner": None}]}
    for cell in [Markup("<i>x</i>"), Decimal("0.25"), None, '<script>alert("x")</script>']:
        ours = env.from_string(source).render(**values, obj=3, cell=cell)
        assert ours == stock.from_string(source).render(**values, obj=3, cell=cell), cell
    assert "&lt;a&amp;b&gt;" in ours and "<script>" not in ours


# The loop model.html ran over a ranking's rows before they were made by build.ranked_rows.
OLD_RANKED_LOOP = """{% for r in ranked %}
<tr><td class="num">{{ r.rank }}</td><td>{{ r.tag }}{% if r.rank == 1 %} <small>cheapest</small>{% endif %}</td>
<td class="num">{{ cost(r.cost_per_request) }}</td><td class="num">{{ r.cost_per_million_tokens|usd }}</td>
<td class="num">{% if r.discount != 0 %}{{ cost(r.base_per_request) }} <small>({{ (r.discount|float * 100)|round(1) }} % off)</small>{% else %}—{% endif %}</td>
<td><small>{% for term, share in r.term_shares.items() %}{{ term }} {{ share|whole_percent }} %{% if not loop.last %}, {% endif %}{% endfor %}{% if r.overrides_applied %}; tier applied{% endif %}</small></td></tr>
{% endfor %}
"""  # noqa: E501


def test_the_ranking_rows_are_what_the_template_loop_wrote(env: jinja2.Environment) -> None:
    rows = [
        SimpleNamespace(
            rank=rank,
            tag=tag,
            cost_per_request=cost,
            cost_per_million_tokens=per_m,
            discount=discount,
            base_per_request=None if discount == 0 else Decimal("0.004"),
            term_shares=shares,
            overrides_applied=tiers,
        )
        for rank, tag, cost, per_m, discount, shares, tiers in [
            (1, HOSTILE[0], Decimal("0.0012"), Decimal("0.48"), Decimal(0), {"prompt": 0.625, "<b>": 0.375}, 0),
            (1, "a&b/fp8", Decimal("0.0012"), None, Decimal("0.125"), {"completion": 1.0}, 1),
            (3, "it's", Decimal("12345.6789"), Decimal("1.000"), Decimal("0.3333"), {}, 2),
        ]
    ]
    old_rows = env.from_string(OLD_RANKED_LOOP).render(ranked=rows)
    assert env.from_string("{{ ranked_rows(ranked) }}").render(ranked=rows) == old_rows
    assert "<script>" not in old_rows and "12.5 % off" in old_rows and "33.3 % off" in old_rows
    assert build.ranked_rows([]) == ""


# The loops changes.html (a month's page) and _changes_table.html (a model's) ran over the changes before their
# rows were made by build.change_rows and build.change_log_rows.
OLD_MONTH_LOOP = """<tbody>
{% for c in changes %}
{% set old, new, moved = c|change_cells %}
<tr><td class="when">{{ c.at|when }}</td><td class="model">{% if c.model_id in model_ids %}{{ model_link(root, c.model_id) }}{% else %}{{ c.model_id }}{% endif %}</td><td>{{ c.kind }}</td><td>{{ c.tag or 'list price' }}</td><td>{{ c.field or ('prompt' if c.kind in ('added', 'removed') and not c.get('in_units') else '') }}</td>
<td class="num">{{ old }}</td><td class="num">{{ new }}</td><td class="num move"{% if c|change_diff %} title="{{ c|change_diff }}"{% endif %}>{{ moved }}</td></tr>
{% endfor %}
</tbody>"""  # noqa: E501
OLD_LOG_LOOP = """<tbody>
{% for c in log %}
{% set old, new, moved = c|change_cells %}
<tr><td class="when">{{ c.at|when }}</td><td>{{ c.kind }}</td><td>{{ c.tag or 'list price' }}</td><td>{{ c.field or ('prompt' if c.kind in ('added', 'removed') and not c.get('in_units') else '') }}</td><td class="num">{{ old }}</td><td class="num">{{ new }}</td><td class="num move"{% if c|change_diff %} title="{{ c|change_diff }}"{% endif %}>{{ moved }}</td></tr>
{% endfor %}
</tbody>"""  # noqa: E501


def test_the_change_rows_are_what_the_template_loops_wrote(env: jinja2.Environment) -> None:
    at = datetime(2026, 7, 25, 12, 30, tzinfo=UTC)
    base = {"model_id": "acme/a", "entity": "endpoint", "pct_change": None, "old": None, "new": None}
    changes = [
        {**base, "at": at, "kind": "price", "tag": "a&b/fp8", "field": "prompt", "old": Decimal("1e-6"),
         "new": Decimal("2e-6"), "pct_change": 100.0},
        {**base, "at": at, "kind": "added", "tag": HOSTILE[0], "field": None, "new": Decimal("3e-7"),
         "model_id": HOSTILE[0]},
        {**base, "at": at - timedelta(hours=1), "kind": "removed", "tag": "x", "field": None, "old": Decimal(0),
         "in_units": True, "model_id": "acme/units"},
        {**base, "at": at - timedelta(days=2), "kind": "parameters", "tag": None, "field": "supported_parameters",
         "old": "tools,logprobs", "new": "tools,<b>,seed,a,b,c,d"},
        {**base, "at": at - timedelta(days=3), "kind": "price", "tag": "", "field": "", "old": "<i>"},
        {**base, "at": at - timedelta(days=4), "kind": "overrides", "tag": "t", "field": "overrides",
         "old": '[{"min_prompt_tokens": 200000}]', "new": None},
    ]  # fmt: skip
    for model_ids in (["acme/a", HOSTILE[0]], [], ["acme/units", "acme/a"]):
        for root in ("../", ""):
            values = {"changes": changes, "model_ids": model_ids, "root": root}
            old_rows = env.from_string(OLD_MONTH_LOOP).render(**values)
            rows = env.from_string("<tbody>\n{{ change_rows(root, changes, model_ids) }}</tbody>").render(**values)
            assert rows == old_rows, (model_ids, root)
    old_log = env.from_string(OLD_LOG_LOOP).render(log=changes)
    assert env.from_string("<tbody>\n{{ change_log_rows(log) }}</tbody>").render(log=changes) == old_log
    assert "<script>" not in old_rows and "<b>" not in old_log and 'title="+' in old_log and "$1/M" in old_log
    assert build.change_rows("../", [], []) == build.change_log_rows([]) == ""


# The loop feed.atom ran over its entries before they were made by build.feed_entries.
OLD_FEED_LOOP = """{% for c in entries %}
{% set where = c.tag or 'list price' %}
{% set what = c.field or c.kind %}
{% set old, new, moved = c|change_cells %}
{% set move = old ~ ' → ' ~ new ~ (' (' ~ moved ~ ')' if moved else '') %}
  <entry>
    <id>tag:llm-price-catalog,2026:change/{{ c.model_id }}/{{ c.endpoint_key or 'list' }}/{{ what }}/{{ c.at|rfc3339 }}</id>
    <title>{{ c.model_id }} · {{ where }}: {{ what }} {{ move }}</title>
    <updated>{{ c.at|rfc3339 }}</updated>
    <link rel="alternate" type="text/html" href="{{ site }}{{ 'models/' ~ (c.model_id|page) ~ '.html#changes' if c.model_id in linked else 'changes.html' }}"/>
    <content type="text">{{ c.model_id }}, {{ where }}: {{ what }} {{ move }} at {{ c.at|when }}.</content>
  </entry>
{% endfor %}
"""  # noqa: E501


def test_the_feed_entries_are_what_the_template_loop_wrote() -> None:
    xml = environment(SITE_DIR / "templates")  # autoescaped as the feeds are (``.atom``)
    at = datetime(2026, 7, 25, 12, 30, 0, 250000, tzinfo=UTC)
    base = {"model_id": "acme/a", "entity": "endpoint", "pct_change": None, "old": None, "new": None}
    entries = [
        {**base, "at": at, "kind": "price", "tag": "a&b/fp8", "field": "prompt", "endpoint_key": "acme/a@a&b/fp8",
         "old": Decimal("1e-6"), "new": Decimal("2e-6"), "pct_change": 100.0},
        {**base, "at": at, "kind": "discount", "tag": HOSTILE[0], "field": "discount", "endpoint_key": None,
         "model_id": HOSTILE[0], "old": Decimal("0.1"), "new": Decimal(0)},
        {**base, "at": at - timedelta(hours=1), "kind": "price", "tag": None, "field": "", "endpoint_key": "",
         "model_id": "x/../y:free", "old": "<i>", "new": "it's"},
    ]  # fmt: skip
    for site in ("../../", "", "https://prices.example.org/a&b/"):
        for linked in (["acme/a", HOSTILE[0]], [], ["x/../y:free"]):
            values = {"entries": entries, "site": site, "linked": linked}
            old_entries = xml.from_string(OLD_FEED_LOOP).render(**values)
            assert xml.from_string("{{ feed_entries(site, entries, linked) }}").render(**values) == old_entries
    assert "<script>" not in old_entries and "&amp;b" in old_entries and "→" in old_entries
    assert build.feed_entries("", [], []) == ""


def test_the_memoised_filters_spell_equal_values_alike_and_types_apart() -> None:
    instant = datetime(2026, 7, 25, 12, 30, tzinfo=UTC)
    elsewhere = instant.astimezone(timezone(timedelta(hours=5)))
    assert build.when(elsewhere) == build.when(instant) == "2026-07-25 12:30 UTC"
    assert build.rfc3339(elsewhere) == "2026-07-25T12:30:00Z"
    assert build.day(elsewhere - timedelta(hours=13)) == "2026-07-24"
    assert build.usd(Decimal("1.0")) == build.usd(Decimal("1.00")) == "$1"
    assert build.per_million_text(Decimal("0.00000025")) == "$0.25"
    assert build.whole_percent(0.125) == 12 and build.whole_percent(0.135) == 14  # half to even, as round|int
    change = {"field": "supported_parameters", "old": "a,b", "new": "b,c", "kind": "other"}
    first = build.change_cells(change)
    assert first == ("2 params", "2 params", "+c −a") and build.change_cells(change) is first
    other = {**change, "new": "a,b,c"}  # another dict: its own cells, never the first's
    assert build.change_cells(other) == ("2 params", "3 params", "+c")


def test_the_price_json_is_what_json_dumps_writes() -> None:
    entries = [{"id": "a/b", "inputs": ["text"], "endpoints": [["t", "<p>", {}, [], None]]}, {"id": "c", "x": 1.5}]
    data = PriceJson({"scale": 30, "models": entries, "presets": {"b": 1, "a": [1, "é"]}, "at_minute": None})
    ENTRY_TEXTS.next_build()
    assert dumps(data, sort_keys=True) == json.dumps(dict(data), sort_keys=True)
    assert dumps(PriceJson({**data, "models": entries[1:]}), sort_keys=True) == json.dumps(
        {**data, "models": entries[1:]}, sort_keys=True
    )
    assert dumps(data, indent=2) == json.dumps(dict(data), indent=2)  # other options: plain json.dumps


def test_the_page_cache_keeps_the_bodies_a_build_used_in_one_pack(tmp_path: Path) -> None:
    folder = tmp_path / ".site.pages"
    cache = PageCache(folder, code="test")
    bodies = {"a.html": "body of a ✓", "b.html": "<p>b</p>"}
    for target, text in bodies.items():
        assert cache.body(cache.key(target, "model.html", {"page": target}), text.strip) == text
    folder.mkdir()
    (folder / "0123.body").write_text("a body file of the old layout")
    cache.prune()
    assert sorted(p.name for p in folder.iterdir()) == ["bodies.pack"]
    pack = BodyPack.read(folder / "bodies.pack")
    assert sorted(pack.index) == sorted(cache.used.values())
    build._BODIES.pop(str(folder))  # a new process: nothing in memory, the pack on disk
    build._PACKS.pop(str(folder), None)  # (nor any note of the pack this process wrote)
    again = PageCache(folder, code="test")
    assert (
        again.body(again.key("a.html", "model.html", {"page": "a.html"}), lambda: "rendered again") == bodies["a.html"]
    )
    assert again.body(again.key("c.html", "model.html", {"page": "c.html"}), lambda: "new") == "new"
    assert (again.reused, again.rendered) == (1, 1)
    again.prune()  # b.html was not used: it leaves the pack
    assert sorted(BodyPack.read(folder / "bodies.pack").index) == sorted(again.used.values())


def test_a_damaged_pack_renders_the_pages_again(tmp_path: Path) -> None:
    folder = tmp_path / ".site.pages"
    folder.mkdir()
    key = PageCache(folder, code="test").fingerprint("model.html", {})
    damages = [
        b"",
        b"not json\n",
        b'["a list"]\n',
        json.dumps({key: [0, 99]}).encode() + b"\nshort",  # a body cut short
        json.dumps({key: [0, 2]}).encode() + b"\n\xff\xfe",  # not UTF-8
        json.dumps({key: ["0", 2]}).encode() + b"\nok",
    ]
    for damage in damages:
        (folder / "bodies.pack").write_bytes(damage)
        build._BODIES.pop(str(folder), None)  # a new process: only the pack
        cache = PageCache(folder, code="test")
        assert cache.body(cache.key("k.html", "model.html", {}), lambda: "made") == "made", damage
        assert (cache.rendered, cache.reused) == (1, 0), damage
    (folder / "bodies.pack").write_bytes(json.dumps({key: [0, 2]}).encode() + b"\nok")  # and a sound one
    build._BODIES.pop(str(folder), None)
    cache = PageCache(folder, code="test")
    assert cache.body(cache.key("k.html", "model.html", {}), lambda: "made") == "ok"


def _changes_for_grouping(n: int, seed: int) -> list[dict[str, object]]:
    """Changes with tags that are a slug, a slug and a path, none, empty, or a slug no provider has."""
    import random

    rng = random.Random(seed)
    start = datetime(2025, 11, 30, 20, tzinfo=UTC)
    tags = [None, "", "alpha", "alpha/fp8", "beta/x/y", "gamma", "zeta/q", "/odd", "alpha/"]
    rows = []
    for i in range(n):
        when = start + timedelta(hours=rng.choice([0, 1, 3, 24 * 31, 24 * 62]) * rng.random())
        if i % 3 == 0:
            when = when.astimezone(timezone(timedelta(hours=5)))
        rows.append(
            {
                "at": when,
                "tag": rng.choice(tags),
                "model_id": f"m/{rng.randrange(7)}",
                "kind": rng.choice(["price", "discount", "added"]),
            }
        )
    return rows


@pytest.mark.parametrize("seed", range(6))
def test_changes_values_as_before(seed: int) -> None:
    """The changes page's models, kinds and providers, now by ``map`` and per distinct tag: as the per-change
    comprehensions found them."""
    from collections import Counter

    from catalog.website.changelog import changes_values, provider_of

    changes = _changes_for_grouping(400, seed)
    providers = [{"slug": s, "name": s.title()} for s in ("alpha", "beta", "gamma", "delta")]
    values = changes_values(changes, {"m/1", "m/2"}, providers)  # type: ignore[arg-type]
    assert values["change_models"] == sorted({c["model_id"] for c in changes})  # type: ignore[type-var]
    assert values["kinds"] == Counter(c["kind"] for c in changes).most_common()
    names = {p["slug"]: p["name"] for p in providers}
    assert values["change_providers"] == [
        (s, names.get(s, s))
        for s in sorted({provider_of(c) for c in changes} - {""}, key=lambda s: (str(names.get(s) or s).lower(), s))
    ]
