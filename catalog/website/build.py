"""``catalog site build``: render the static site from the history.

Templates and assets live in the project's top-level ``site/`` folder (``templates/``, ``static/``); Jinja2
renders them with autoescaping on for HTML and XML, so text from upstream (model names, provider names,
URLs) can never become markup. The site is written to a temporary folder beside ``--out`` and swapped into
place when complete, so a server reading ``--out`` never sees a half-built site. Links are relative: the
folder can be hosted under any path by any static file server.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import functools
import gc
import glob
import hashlib
import io
import itertools
import json
import operator
import os
import pickle
import re
import shutil
import signal
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jinja2
import polars as pl
from jinja2 import nodes
from jinja2.compiler import CodeGenerator, Frame, optimizeconst
from markupsafe import Markup, escape

import catalog
from catalog import money, settings
from catalog.cost.profile import DEFERRED_FIELDS, CostUnits, RankedEndpoint
from catalog.cost.sheets import SheetVersion
from catalog.endpoint_status import status_text
from catalog.errors import InputError
from catalog.freshness import DataAge, describe_age
from catalog.library import Catalog
from catalog.money import canonical
from catalog.prices import PRICE_KEYS
from catalog.settings import SITE_SOURCE
from catalog.store import exports, queries
from catalog.store.snapshots import newest_good_snapshot, snapshot_log
from catalog.times import now
from catalog.website import changelog, chart
from catalog.website import compare as comparing
from catalog.website.changelog import changes_values
from catalog.website.facts import CHANGE_WINDOWS, ModelRanking, SiteFacts, gather
from catalog.website.indexpage import index_values
from catalog.website.output import FileFacts, Output
from catalog.website.packer import Packer
from catalog.website.presets import DEFAULT, INPUT_STEPS, OUTPUT_STEPS, PRESETS
from catalog.website.pricedata import ENTRY_TEXTS, RATE_ORDER, PriceJson, price_data
from catalog.website.unitmodels import unit_page

SITE_DIR = SITE_SOURCE
# The pages' policy: nothing from elsewhere, no inline script or style. Written into every page (for any
# static host) and sent as a header by ``catalog up`` (which can add what a <meta> tag cannot).
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'none'; "
    "base-uri 'none'; form-action 'none'"
)
MAX_NAME = 120  # bytes of one path part (ASCII after escaping); file systems allow 255
MARKER = ".catalog-site"  # in every build: only a folder holding it is replaced by the next build
MODEL_PAGE_CHANGES = 30  # the newest changes on a model page; the rest on its own changes page
_UNSAFE = re.compile(r"[^A-Za-z0-9.-]")


def _escape(match: re.Match[str]) -> str:
    return "_" + format(ord(match.group()), "x") + "_"


@functools.lru_cache(maxsize=16384)  # a model or provider is linked from many pages
def page_name(identifier: str) -> str:
    """A file name for a model id or provider slug: ``/`` keeps its folder, anything outside ``[A-Za-z0-9.-]``
    becomes ``_xx_`` (its code point in hex), so ``:free`` cannot read as a URL scheme and no two ids collide.
    A leading dot is escaped too: an upstream id such as ``a/../../x`` must never name a path outside the site.
    A part too long for a file system keeps its start and gets a hash of the whole instead of the rest."""
    parts = []
    for part in identifier.split("/"):
        safe = _UNSAFE.sub(_escape, part)
        if safe.startswith("."):
            safe = "_2e_" + safe[1:]
        if len(safe) > MAX_NAME:
            safe = safe[: MAX_NAME - 18] + "--" + hashlib.sha256(part.encode()).hexdigest()[:16]
        parts.append(safe or "_")
    return "/".join(parts)


# -- display filters (exact values go in titles and data attributes; these are for reading) --------------


def _dollars(rounded: Decimal) -> str:
    return ("−$" if rounded < 0 else "$") + canonical(abs(rounded))


# The amounts a page shows recur on many pages (a model's, its providers', the index); equal Decimals spell alike
# (``canonical`` normalises), so caching by value is exact. ``typed``: an int never shares a Decimal's entry.
@functools.lru_cache(maxsize=65536, typed=True)
def usd(value: Decimal | None, digits: int = 4) -> str:
    """An amount in dollars, rounded to ``digits`` significant digits."""
    return "—" if value is None else _dollars(money.significant(value, digits))


@functools.lru_cache(maxsize=65536, typed=True)
def per_million_text(value: Decimal | None) -> str:
    """A per-token price as $ per million tokens."""
    return "dynamic" if value is None else _dollars(money.per_million(value, digits=4))


def exact(value: Decimal | None) -> str:
    return canonical(value)


def pct(value: Decimal | float | None, digits: int = 1) -> str:
    if value is None:
        return "—"
    number = float(value)
    if abs(number) < 0.05:
        return "±0 %"
    return f"{'+' if number > 0 else '−'}{abs(number):.{digits}f} %"


def whole_percent(share: float) -> int:
    """A share as whole percent, half to even (what ``(share * 100)|round|int`` gave, in one call a row)."""
    return round(share * 100)


def hundredths(value: Decimal | None) -> str:
    """A percent held to 0.01 with both decimals ("9.90"), as cost.js spells it."""
    return "—" if value is None else format(value.quantize(Decimal("0.01")), "f")


def count(value: int | None) -> str:
    return "—" if value is None else f"{value:,}"


# The date filters run for every change row of every page (a change is shown on its model's pages, its month's
# page, the feeds): each instant is spelled once. Equal instants spell the same in UTC whatever their zone, so
# keying by the (aware) datetime is exact.
@functools.lru_cache(maxsize=8192)
def when(value: datetime | None) -> str:
    return "—" if value is None else value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def age(seconds: float | None) -> str:
    """A duration for reading ("25 min", "5 h", "119 days"), as every face says a data age."""
    return "—" if seconds is None else describe_age(seconds)


@functools.lru_cache(maxsize=8192)
def day(value: datetime | None) -> str:
    return "—" if value is None else value.astimezone(UTC).strftime("%Y-%m-%d")


@functools.lru_cache(maxsize=8192)
def rfc3339(value: datetime) -> str:
    """UTC, with the microseconds when there are any (a snapshot's time must round-trip through --as-of)."""
    stamp = value.astimezone(UTC)
    return stamp.isoformat(timespec="microseconds" if stamp.microsecond else "seconds").replace("+00:00", "Z")


def web_url(value: str | None) -> str | None:
    """Only http(s) URLs from upstream become links (a ``javascript:`` URL would run on click)."""
    return value if value and re.fullmatch(r"https?://[^\s\"'<>]+", value) else None


def host(url: str) -> str:
    """The site a link leads to, as its label ("openai.com"), so a reader sees where before clicking."""
    name = urlsplit(url).hostname or url
    return name.removeprefix("www.")


PER_UNIT = {"request": "request", "image": "image", "web_search": "search"}  # priced per unit, not per token


def change_value(value: Decimal | str | None, field: str | None) -> str:
    """A change's old or new value in one unit: token prices in $ per million tokens ("$0.25/M"), unit
    prices in $ per unit ("$0.01/request"), a discount as a percent, counts with separators, else as
    recorded."""
    if value is None:
        return ""
    if not isinstance(value, Decimal):
        return value
    if field in PER_UNIT:
        return f"{usd(value)}/{PER_UNIT[field]}"
    if field in PRICE_KEYS:
        return f"{per_million_text(value)}/M"
    if field == "discount":
        return f"{canonical(value * 100)} %"
    return canonical(value)


def _items(text: str | None) -> list[str]:
    return [part for part in (text or "").split(",") if part]


def _tiers(text: str | None) -> str:
    try:
        found = json.loads(text) if text else None
    except ValueError:
        return text or ""
    n = len(found) if isinstance(found, list) else 0
    return "none" if n == 0 else f"{n} tier{'' if n == 1 else 's'}"


DIFF_SHOWN = 5  # items of a list's diff a change row shows; the rest is counted (the whole is in its title)


class _PerChange:
    """What a filter made of a change, by the change: a change is shown on several pages of a build (its model's
    page and changes page, its month's page, the feeds) and on those of the next builds (``facts`` carries its
    dict forward, never changed). Keyed by identity (the dict is held, so its id is not reused); entries no
    build met since the previous one are dropped (``next_build``)."""

    def __init__(self, make: Callable[[dict[str, Any]], Any]) -> None:
        self.make = make
        self.known: dict[int, tuple[dict[str, Any], Any]] = {}
        self.used: dict[int, tuple[dict[str, Any], Any]] = {}
        self.lock = threading.Lock()

    def __call__(self, c: dict[str, Any]) -> Any:
        key = id(c)
        found = self.used.get(key)
        if found is None or found[0] is not c:
            found = self.known.get(key)
            if found is None or found[0] is not c:
                found = (c, self.make(c))
            with self.lock:
                self.used[key] = found
        return found[1]

    def next_build(self) -> None:
        with self.lock:
            if self.used:
                self.known, self.used = self.used, {}


def _change_diff(c: dict[str, Any]) -> str:
    if c.get("field") != "supported_parameters":
        return ""
    before, after = _items(c.get("old")), _items(c.get("new"))
    return " ".join([f"+{p}" for p in after if p not in before] + [f"−{p}" for p in before if p not in after])


def _change_cells(c: dict[str, Any]) -> tuple[str, str, str]:
    """A change row's Old, New and Change cells, each short enough for the table to fit its box: a list (the
    supported parameters) as its counts and a diff ("+tools −logprobs"), price tiers as their counts, an
    endpoint added or removed by its prompt price, a number's move as a percent."""
    field, old, new = c.get("field"), c.get("old"), c.get("new")
    if field == "supported_parameters":
        before, after = _items(old), _items(new)
        diff = _change_diff(c).split()
        shown = diff if len(diff) <= DIFF_SHOWN else [*diff[: DIFF_SHOWN - 1], f"and {len(diff) - DIFF_SHOWN + 1} more"]
        return f"{len(before)} params", f"{len(after)} params", " ".join(shown)
    if field == "overrides":
        return _tiers(old), _tiers(new), ""
    if c.get("kind") in ("added", "removed"):
        if c.get("in_units"):  # a model priced in its own units: its prompt price ("0") is no price of it
            return ("", "priced per unit", "") if c["kind"] == "added" else ("priced per unit", "", "")
        field = "prompt"  # such a row carries the endpoint's prompt price
    moved = pct(c["pct_change"]) if c.get("pct_change") is not None else ""
    return change_value(old, field), change_value(new, field), moved


class _PerList:
    """What ``make`` gave for a list, by the list: the site's facts carry a model's changes and price history
    from build to build as the same list while they do not change (``catalog.website.facts.by_model_changes``;
    never changed once made), so what a page makes of one (its digest, a feed's entries) is made once. Keyed by
    identity and checked by length and end items (the list is held, so its id is not reused); entries no build
    met since the previous one are dropped (``next_build``)."""

    def __init__(self) -> None:
        self.known: dict[int, tuple[list[Any], int, Any]] = {}
        self.used: dict[int, tuple[list[Any], int, Any]] = {}
        self.lock = threading.Lock()

    def get(self, items: list[Any]) -> tuple[bool, Any]:
        """``(True, value)`` when ``put`` was given this list since the last build but one, else ``(False, None)``."""
        key = id(items)
        found = self.used.get(key) or self.known.get(key)
        if found is None or found[0] is not items or found[1] != len(items):
            return False, None
        if items and (found[2][0] is not items[0] or found[2][1] is not items[-1]):
            return False, None
        with self.lock:
            self.used[key] = found
        return True, found[2][2]

    def put(self, items: list[Any], value: Any) -> None:
        ends = (items[0], items[-1]) if items else (None, None)
        with self.lock:
            self.used[id(items)] = (items, len(items), (*ends, value))

    def of(self, items: list[Any], make: Callable[[list[Any]], Any]) -> Any:
        known, value = self.get(items)
        if not known:
            value = make(items)
            self.put(items, value)
        return value

    def next_build(self) -> None:
        with self.lock:
            if self.used:
                self.known, self.used = self.used, {}


change_diff = _PerChange(_change_diff)  # a list change's whole diff (a change row's title), else nothing
change_cells = _PerChange(_change_cells)


try:  # markupsafe's C escaping, without the ``Markup`` it wraps each result in (a Python ``__new__`` per call)
    from markupsafe._speedups import _escape_inner as _escaped
except ImportError:  # pragma: no cover - without the compiled module (or should it move): the public function
    _escaped = escape


# -- the small parts every row of a table makes (were Jinja macros: a macro call costs more than its output) --
# Spelt with ``escape`` and f-strings: ``Markup.format`` goes through ``string.Formatter``, slower than the rest.


def cost_html(value: Decimal | None) -> Markup:
    """An amount rounded for reading, the exact figure in its title."""
    if value is None:
        return Markup("—")
    return Markup(f'<span title="${_escaped(exact(value))}">{_escaped(usd(value))}</span>')


def price_html(value: Decimal | None) -> Markup:
    """A per-token price as $ per million tokens, the exact per-token figure in its title."""
    if value is None:
        return Markup("dynamic")
    return Markup(f'<span title="${_escaped(exact(value))} per token">{_escaped(per_million_text(value))}</span>')


def model_link(root: str, model_id: str, name: str | None = None) -> Markup:
    return Markup(
        f'<a href="{_escaped(root)}models/{_escaped(page_name(model_id))}.html">{_escaped(name or model_id)}</a>'
    )


def provider_link(root: str, slug: str, name: str | None, provider_slugs: Any) -> Markup:
    """A provider's name, linked to its page when the site has one."""
    if slug in provider_slugs:
        return Markup(
            f'<a href="{_escaped(root)}providers/{_escaped(page_name(slug))}.html">{_escaped(name or slug)}</a>'
        )
    return escape(name or slug)


def ranked_rows(ranked: list[RankedEndpoint]) -> Markup:
    """A model page's ranking table rows (rank, endpoint, cost, $ per M, without discount, where the money goes),
    one a line: what the template's loop over the rows wrote (a tenth of a model page's rendering), the same
    characters (``tests/test_site_render_parts.py``)."""
    rows = []
    for r in ranked:
        cheapest = " <small>cheapest</small>" if r.rank == 1 else ""
        if r.discount != 0:  # as ``(r.discount|float * 100)|round(1)`` spelt it
            off = f"{cost_html(r.base_per_request)} <small>({round(float(r.discount) * 100, 1)} % off)</small>"
        else:
            off = "—"
        terms = ", ".join(f"{_escaped(term)} {whole_percent(share)} %" for term, share in r.term_shares.items())
        tier = "; tier applied" if r.overrides_applied else ""
        rows.append(
            f'<tr><td class="num">{r.rank}</td><td>{_escaped(r.tag)}{cheapest}</td>\n'
            f'<td class="num">{cost_html(r.cost_per_request)}</td><td class="num">'
            f"{_escaped(usd(r.cost_per_million_tokens))}</td>\n"
            f'<td class="num">{off}</td>\n<td><small>{terms}{tier}</small></td></tr>\n'
        )
    return Markup("".join(rows))


def policy(value: bool | None) -> str:
    return "yes" if value else "no" if value is False else "unknown"


_DICT_NAMES = frozenset(dir(dict))


def output_text(value: Any) -> str:
    """What ``{{ value }}`` writes with autoescaping on: ``markupsafe.escape(value)``, the same characters, as a plain
    string. Jinja calls ``escape`` for every value a template writes (a few hundred thousand a build) and joins the
    results into the page at once, so the ``Markup`` each call made was thrown away; making it was most of a
    call's cost. Markup (``__html__``) goes as it is, anything else as its ``str`` escaped, as markupsafe does."""
    if type(value) is str:
        return _escaped(value)
    html = getattr(value, "__html__", None)
    if html is not None:
        return html()
    return _escaped(str(value))


def _change_row_parts(c: dict[str, Any]) -> tuple[str, str, str]:
    """A change's row of a changes table in the parts its two tables share, as their template loops wrote them:
    the time cell, the kind, endpoint and field cells, and the Old, New and Change cells with the row's end."""
    old, new, moved = change_cells(c)
    field = c["field"] or ("prompt" if c["kind"] in ("added", "removed") and not c.get("in_units") else "")
    diff = change_diff(c)
    title = f' title="{output_text(diff)}"' if diff else ""
    return (
        f'<tr><td class="when">{output_text(when(c["at"]))}</td>',
        f"<td>{output_text(c['kind'])}</td><td>{output_text(c['tag'] or 'list price')}</td>"
        f"<td>{output_text(field)}</td>",
        f'<td class="num">{output_text(old)}</td><td class="num">{output_text(new)}</td>'
        f'<td class="num move"{title}>{output_text(moved)}</td></tr>\n',
    )


change_row_parts = _PerChange(_change_row_parts)  # a year of changes: each row made once, kept between builds


def change_rows(root: str, changes: list[dict[str, Any]], model_ids: Any) -> Markup:
    """A month page's rows (``changes.html``), one a change, with its model linked when the site has its page:
    what the template's loop over the changes wrote (a month at a year is thousands of rows, and the newest
    month's page is made again after every sweep), the same characters (``tests/test_site_render_parts.py``)."""
    linked = set(model_ids)
    cells: dict[str, str] = {}
    rows = []
    for c in changes:
        head, middle, tail = change_row_parts(c)
        model_id = c["model_id"]
        cell = cells.get(model_id)
        if cell is None:
            shown = model_link(root, model_id) if model_id in linked else output_text(model_id)
            cell = cells[model_id] = f'<td class="model">{shown}</td>'
        rows.append(f"{head}{cell}{middle}\n{tail}")
    return Markup("".join(rows))


def change_log_rows(changes: list[dict[str, Any]]) -> Markup:
    """A model's changes table's rows (``_changes_table.html``): what its loop wrote, the same characters."""
    return Markup("".join(f"{head}{middle}{tail}" for head, middle, tail in map(change_row_parts, changes)))


def _feed_entry_parts(c: dict[str, Any]) -> tuple[str, str]:
    """A change's Atom entry as the feeds' loop wrote it, before and after its link's target (which depends on
    the feed: its base and whether the model has a page)."""
    where, what = c["tag"] or "list price", c["field"] or c["kind"]
    old, new, moved = change_cells(c)
    move = output_text(f"{old} → {new}{f' ({moved})' if moved else ''}")
    model, at, read = output_text(c["model_id"]), output_text(rfc3339(c["at"])), output_text(when(c["at"]))
    where_text, what_text = output_text(where), output_text(what)
    return (
        "  <entry>\n"
        f"    <id>tag:llm-price-catalog,2026:change/{model}/{output_text(c['endpoint_key'] or 'list')}/{what_text}/"
        f"{at}</id>\n"
        f"    <title>{model} · {where_text}: {what_text} {move}</title>\n"
        f"    <updated>{at}</updated>\n"
        '    <link rel="alternate" type="text/html" href="',
        f'"/>\n    <content type="text">{model}, {where_text}: {what_text} {move} at {read}.</content>\n  </entry>\n',
    )


feed_entry_parts = _PerChange(_feed_entry_parts)


def feed_entries(site: str, entries: list[dict[str, Any]], linked: Any) -> Markup:
    """A feed's entries (``feed.atom``), one a change: what the template's loop wrote, the same characters
    (``tests/test_site_render_parts.py``); each change's entry kept between builds (the site's feed is made by
    every build)."""
    pages = set(linked)
    base = output_text(site)
    out = []
    for c in entries:
        head, tail = feed_entry_parts(c)
        model_id = c["model_id"]
        target = f"models/{page_name(model_id)}.html#changes" if model_id in pages else "changes.html"
        out.append(f"{head}{base}{output_text(target)}{tail}")
    return Markup("".join(out))


class _CodeGenerator(CodeGenerator):
    """Jinja's code generator, with each compiled template's output escaping done by ``output_text``: the name
    ``escape`` in a compiled template is what its output expressions call (``{{ … }}``); nothing else there calls
    it (buffered output, macros and blocks are joined and marked safe as before), and constants are escaped
    when compiled, by markupsafe."""

    def visit_Template(self, node: nodes.Template, frame: Frame | None = None) -> None:
        super().visit_Template(node, frame)
        self.writeline("escape = environment.output_text")

    @optimizeconst
    def visit_Getattr(self, node: nodes.Getattr, frame: Frame) -> None:
        """``row.field`` of a plain dict as an item read in place (the site's rows are dicts: a few hundred
        thousand reads a build), else ``environment.getattr`` as before, which reads a dict the same way
        (``_Environment.getattr``). The object is evaluated once, into a local of the compiled function."""
        if self.environment.is_async or node.attr in _DICT_NAMES:
            super().visit_Getattr(node, frame)
            return
        self.write(f"(_field[{node.attr!r}] if type(_field := ")
        self.visit(node.node, frame)
        self.write(f") is dict and {node.attr!r} in _field else environment.getattr(_field, {node.attr!r}))")


class _Environment(jinja2.Environment):
    """Jinja's environment, reading ``row.field`` of a plain dict as ``row["field"]`` first. Jinja tries the
    attribute first, which for a dict fails with an exception before the item is read: a tenth of a build's
    time went to those exceptions, the site's rows being dicts. The same value either way (a dict has no
    attribute of another name than its methods', which are left to Jinja's order)."""

    code_generator_class = _CodeGenerator
    output_text = staticmethod(output_text)

    def getattr(self, obj: Any, attribute: str) -> Any:
        if type(obj) is dict and attribute not in _DICT_NAMES:
            try:
                return obj[attribute]
            except KeyError:
                pass
        return super().getattr(obj, attribute)


def environment(templates: Path) -> jinja2.Environment:
    env = _Environment(
        loader=jinja2.FileSystemLoader(templates),
        autoescape=jinja2.select_autoescape(["html", "xml", "atom"]),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        # A build's environment is keyed by the templates' digest (``_environment``): a changed template gets a
        # new one, so the loader need not stat every template file on every include of every page.
        auto_reload=False,
    )
    env.policies["json.dumps_function"] = changelog.dumps  # JSON made already goes as it is
    env.globals.update(
        cost=cost_html,
        price=price_html,
        model_link=model_link,
        provider_link=provider_link,
        policy=policy,
        ranked_rows=ranked_rows,
        change_rows=change_rows,
        change_log_rows=change_log_rows,
        feed_entries=feed_entries,
    )
    env.filters.update(
        usd=usd,
        per_m=per_million_text,
        exact=exact,
        pct=pct,
        hundredths=hundredths,
        whole_percent=whole_percent,
        count=count,
        when=when,
        age=age,
        day=day,
        rfc3339=rfc3339,
        web_url=web_url,
        page=page_name,
        change_value=change_value,
        change_cells=change_cells,
        change_diff=change_diff,
        status_text=status_text,
        host=host,
    )
    return env


_ENVIRONMENTS: dict[tuple[Path, str], jinja2.Environment] = {}


def _environment(templates: Path, code: str) -> jinja2.Environment:
    """One environment per templates folder and code version: the service builds after every sweep, and
    compiling the templates again each time costs more than rendering a page."""
    key = (templates.resolve(), code)
    if key not in _ENVIRONMENTS:
        _ENVIRONMENTS.clear()
        _ENVIRONMENTS[key] = environment(templates)
    return _ENVIRONMENTS[key]


@dataclass(frozen=True)
class BuildReport:
    out: Path
    at: datetime
    pages: int
    models: int
    providers: int
    bytes: int
    seconds: float
    largest_model_page: tuple[str, int]
    rendered: int = 0  # pages rendered by this build
    reused: int = 0  # pages whose inputs were unchanged since the last build, taken from it
    linked: int = 0  # of those, the pages the last build's folder held: linked, neither written nor compressed

    def to_dict(self) -> dict[str, Any]:
        return {
            "out": str(self.out),
            "as_of": rfc3339(self.at),
            "pages": self.pages,
            "models": self.models,
            "providers": self.providers,
            "bytes": self.bytes,
            "seconds": round(self.seconds, 3),
            "largest_model_page": {"page": self.largest_model_page[0], "bytes": self.largest_model_page[1]},
            "rendered": self.rendered,
            "reused": self.reused,
            "linked": self.linked,
        }


def build_site(
    cat: Catalog,
    out: Path,
    *,
    at: datetime | None = None,
    site_templates: Path = SITE_DIR,
    progress: Callable[[int, int], None] | None = None,
    base_url: str | None = None,
    stale_after: float | None = None,
    built_at: datetime | None = None,
    stage: Callable[[str], None] | None = None,
    workers: int | None = None,
    background_removal: bool = False,
    heap_frozen: bool | None = None,
) -> BuildReport:
    """Render the whole site as of ``at`` (default: the newest snapshot that did not fail) into ``out``.

    ``base_url``: where the site will be served; the Atom feed resolves its links against it (feed readers
    fetch a feed without the page around it). ``stale_after``: seconds the newest snapshot may be old at build
    time before every page carries a banner saying the data is old (``catalog.settings.stale_after``: the
    service passes twice its sweep interval; else ``CATALOG_STALE_AFTER``, else 2 h). ``built_at``: the build
    time the pages state (default: now; a fixed one makes two builds of the same data byte-identical).

    Incremental: a page whose inputs are those of a page the last build of ``out`` rendered is not rendered
    again (``PageCache``); the output is byte for byte what a build from nothing gives.

    ``workers``: processes that make pages (default 1). With 2, a forked helper makes part of the model,
    provider and month pages (``_Helper``); the bytes are the same. Not the default: measured idle on two cores
    it did not shorten a full build (7.4 s against 6.8 s for one process; again with the packer process writing
    the pages, 2.4-3.2 s against 2.4-2.7 s, for 0.5-0.8 s more CPU: the second core already writes, compresses
    and exports), and forking a process that runs other threads (the service's server and scheduler) risks a
    helper stuck on a lock copied while held.

    ``background_removal``: return once the new site is in place, while a thread removes the old one (the
    service's job: thousands of files at a year, 0.1-0.6 s of file-system waits that no reader needs); by default
    the old site is gone when the build returns. A build that finds an old site still there removes it first.

    ``heap_frozen``: whether something of the caller's froze objects out of the collector before (True: the
    service, whose API state does after each refresh; ``_out_of_collector``); None asks the collector, whose
    count walks every frozen object (tens of milliseconds with the service's state at a year)."""
    if base_url is not None and (
        not re.fullmatch(r"https?://[^\s\"'<>?#]+", base_url) or not urlsplit(base_url).hostname
    ):
        raise InputError(
            f"--base-url (or CATALOG_SITE_URL) {base_url!r} must be an http(s) URL without a query or fragment, "
            "e.g. https://prices.example.org/"
        )
    if base_url is not None and not base_url.endswith("/"):
        base_url += "/"
    started = time.perf_counter()
    workers = workers if workers is not None else 1
    if not (site_templates / "templates").is_dir():
        raise InputError(f"no site templates in {site_templates}; run from a clone of the project (site/templates)")
    newest = newest_good_snapshot(cat.con)
    if newest is None:
        raise InputError(f"{cat.path} holds no snapshot yet; load it with `catalog up` or `catalog sync`")
    # The state at any instant is the one the last snapshot before it recorded: the site says when that was.
    shown = newest_good_snapshot(cat.con, at) if at is not None else newest
    if shown is None:
        first = queries.first_good_snapshot(cat.con)
        raise InputError(
            f"--as-of {rfc3339(at) if at else ''} is before the history starts ({rfc3339(first) if first else '?'}); "
            "give a later instant or leave --as-of out for the newest"
        )
    at = shown
    out = out.resolve()
    if out.exists() and not (out / MARKER).is_file() and (not out.is_dir() or any(out.iterdir())):
        raise InputError(
            f"{out} exists and is not a site built by `catalog site build` (no {MARKER} in it); it is left as it "
            "is: choose a new or empty folder for --out"
        )
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        with _build_lock(out):
            work = out.parent / f".{out.name}.building-{os.getpid()}"
            try:
                built_at = built_at or now()
                # The catalog's log when it is the history's as it is now (the service's, kept by its refresh: a
                # year of snapshots is not read again for every build), else read.
                log = cat.snapshots if cat.snapshots.newest == newest else snapshot_log(cat.con)
                age = log.age(at, settings.stale_after(stale_after), when=built_at)
                assert age is not None  # the history holds a good snapshot: ``newest``
                cache = PageCache(out.parent / f".{out.name}.pages", code_version(site_templates))
                output = Output(work, cache.code, previous=out if (out / MARKER).is_file() else None)
                # The history downloads are DuckDB's work (it releases the GIL): they run beside the rest.
                with _out_of_collector(heap_frozen), ThreadPoolExecutor(1, thread_name_prefix="site-downloads") as side:
                    history = side.submit(_history_downloads, cat, output, at)
                    try:
                        step = stage or (lambda _name: None)
                        step("reading the history")
                        facts = gather(cat, at)
                        gc.freeze()  # the facts live as long as the build: no full collection walks them
                        step("rendering pages")
                        pages = _render(
                            facts,
                            cat,
                            output,
                            site_templates,
                            age,
                            built_at,
                            progress,
                            base_url,
                            cache,
                            history,
                            workers,
                        )
                    finally:
                        history.cancel()
                step("writing the manifest")
                written = output.finish(cache.used)
                removing = _swap(work, out)
                cache.prune()
                if not background_removal:
                    removing.join()  # the old site is gone when the build returns (and before its lock is let go)
            finally:
                shutil.rmtree(work, ignore_errors=True)
    except OSError as exc:
        where = exc.filename or out
        raise InputError(f"could not write the site to {out}: {exc.strerror or exc} ({where})") from None
    sizes = _written_sizes(written, str(out))
    model_pages = {k: v for k, v in sizes.items() if k.startswith("models/") and k.endswith(".html")}
    largest = max(model_pages.items(), key=lambda kv: kv[1]) if model_pages else ("", 0)
    return BuildReport(
        out=out,
        at=at,
        pages=pages,
        models=len(facts.models),
        providers=len(facts.providers),
        bytes=sum(sizes.values()),
        seconds=time.perf_counter() - started,
        largest_model_page=largest,
        rendered=cache.rendered,
        reused=cache.reused + cache.linked,
        linked=cache.linked,
    )


def _written_sizes(files: dict[str, FileFacts], top: str) -> dict[str, int]:
    """Every file of a finished build (at ``top``) by its path from there, with its size: the files the build
    described for its manifest (``Output.finish``: every file but the dot files) and their ``.gz``, and the dot
    files of the top folder (the marker, the manifest). The same as walking the folder, without
    the stat of thousands of files."""
    found: dict[str, int] = {}
    for rel, facts in files.items():
        found[rel] = facts.size
        if facts.gzip_size is not None:
            found[rel + ".gz"] = facts.gzip_size
    with os.scandir(top) as entries:
        for entry in entries:
            if entry.name.startswith(".") and entry.is_file():
                found[entry.name] = entry.stat().st_size
    return found


@contextlib.contextmanager
def _out_of_collector(frozen: bool | None = None) -> Iterator[None]:
    """Keep what is alive now, and what the build freezes meanwhile (its facts), out of the garbage collector's
    full collections (``gc.freeze``): each would walk the history, the price table and the facts again (two or
    three a build, about a tenth of a build's CPU at 20 days). Frozen objects are still freed when no longer
    referenced. Unfrozen after the build unless something had frozen objects before (the service settles its
    state that way, and unfreezing it would expose the state to full collections again: it unfreezes and collects
    after its own refreshes). ``frozen``: whether something had (None: counted, a walk of every frozen object)."""
    owner = gc.get_freeze_count() == 0 if frozen is None else not frozen
    gc.freeze()
    try:
        yield
    finally:
        if owner:
            gc.unfreeze()


@contextlib.contextmanager
def _build_lock(out: Path) -> Iterator[None]:
    """One build of ``out`` at a time (``catalog site build`` beside the service's own build_site job), and
    the leftovers of a build that was killed are removed by the next one."""
    with open(out.parent / f".{out.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        for kind in ("building", "old"):
            for stale in out.parent.glob(f".{glob.escape(out.name)}.{kind}-*"):
                shutil.rmtree(stale, ignore_errors=True)
        yield


_SWAPS = itertools.count()


def _swap(work: Path, out: Path) -> threading.Thread:
    """Put the finished site at ``out``: two renames, so readers see the old site or the new, never a mix
    (for the instant between them, a missing page). Builds of one folder hold its lock, so none interleave."""
    # A name of its own per build: a removal left running by the last build (``background_removal``) never holds
    # the name this one renames to.
    old = out.parent / f".{out.name}.old-{os.getpid()}-{next(_SWAPS)}"
    with contextlib.suppress(FileNotFoundError):
        out.rename(old)
    work.rename(out)
    # Removed beside the next steps (thousands of names at a year; its files are mostly this build's too, linked),
    # joined before the build returns; a build killed meanwhile leaves it to the next build, which removes what
    # is left (``_build_lock``).
    removing = threading.Thread(target=shutil.rmtree, args=(old,), kwargs={"ignore_errors": True}, daemon=True)
    removing.start()
    return removing


# -- incremental builds ------------------------------------------------------------------------------------
#
# The pages of one entity (a model, its changes, a provider, its feed) and a month's changes hold nothing of the
# build's own: their context has no build instant at all (a template that reached for it would fail, by
# StrictUndefined, not go stale). What a reader needs of the build is in ``build.js`` and ``telemetry.js``,
# written by every build and filled in by ``static/stamp.js``: the as-of instant, build time and data age (the
# footer's sentence), the as-of day, the newest telemetry; a model's chart ends at its last price event and
# chart.js carries its open lines on to the build's instant. The stale-data banner is in the page, without the
# age (the build's), so it is part of the inputs. Such a page is then a function of its inputs (the fingerprint):
# when the last build wrote the same fingerprint for it, its file (and ``.gz``) is linked from that build, never
# rendered, written or compressed again (``Output.reuse``); else its body comes from the page cache if a build
# rendered those inputs, else it is rendered. The site's own pages (index, compare, providers, the changes
# browser, the feed, methodology, downloads) are rendered every build with the build's facts spliced in.

STAMP = "<!--catalog-stamp:{}-->"  # autoescaping makes ``<!--`` impossible in upstream text: only templates write it
# A month's changes too, and the feed of one model or provider (the site's feed is rendered every build).
ENTITY_PAGES = ("model.html", "unit_model.html", "model_changes.html", "provider.html", "changes.html", "entity.atom")
# Telemetry is the newest observation, not a version: it moves with nearly every sweep for nearly every
# endpoint. A page's body is rendered without it (an endpoint row loses these keys; a ranked endpoint's are
# left out of its fingerprint) and a model page's telemetry cells are filled in from ``telemetry.js``.
# What telemetry decides (the order of endpoints that cost the same) stays in the inputs: the ranked lists and
# the price data keep it.
TELEMETRY_KEYS = ("uptime_last_1d", "latency_p50", "throughput_p50", "telemetry_at", "tie_uptime", "tie_throughput")
TELEMETRY_FIELDS = ("uptime_last_1d", "latency_p50", "throughput_p50")  # of a ranked endpoint
CODE_FILES = ("money.py", "freshness.py", "prices.py")  # catalog modules the filters format with


def code_version(site_templates: Path) -> str:
    """What renders a page besides its inputs: the templates, the website code, the money formatting, and the
    versions of the package and of Jinja. A change to any of them renders every page again."""
    digest = hashlib.sha256(f"catalog {catalog.__version__}; jinja2 {jinja2.__version__}".encode())
    package = Path(__file__).resolve().parent
    sources = sorted((site_templates / "templates").glob("*")) + sorted(package.glob("*.py"))
    sources += [package.parent / name for name in CODE_FILES]
    for path in sources:
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:32]


class PageCache:
    """The bodies of the pages the last builds of a site rendered, by the fingerprint of their inputs.

    Kept beside the site (``.<out>.pages/bodies.pack``): a static host serving ``out`` never sees it. One file
    for all bodies, not one per page: creating a thousand files cost a build more CPU than rendering a tenth of
    its pages. Written under the build lock, after the swap, through a temporary name, so a killed build leaves
    the last whole pack; it holds the bodies this build used and no others."""

    def __init__(self, folder: Path, code: str) -> None:
        self.folder, self.code = folder, code
        self.used: dict[str, str] = {}  # page -> fingerprint
        self.rendered = self.reused = 0
        self.linked = 0  # pages the last build's folder had with the same inputs: linked, not written
        with _DIGESTS_LOCK:
            self.digests = _DIGESTS.setdefault(str(folder), ListDigests())
            # The bodies the last build of this site in this process used, by fingerprint (the service builds
            # after every sweep: reading them again from the pack would cost more than splicing them).
            self.memory = _BODIES.setdefault(str(folder), {})
            # The pack on disk is the one this process wrote from ``memory`` (not touched since): it holds no
            # body memory lacks, and is not read (after a first build it is a whole site's bodies).
            in_memory = _PACKS.get(str(folder)) == _stat(folder / PACK)
        self.digests.next_build()
        _HELD.next_build()
        self.kept: dict[str, str] = {}  # the bodies this build used, for the next one
        self.packed: BodyPack | None = BodyPack({}, b"") if in_memory else None  # read on the first miss
        self.pack_keys: set[str] | None = set(self.memory) if in_memory else None  # what the pack holds

    def fingerprint(self, template: str, context: dict[str, Any]) -> str:
        """A hash of everything the template is given. Pickled: it spells every value exactly (Decimals as
        their digits, times with their zone) and fast; equal pickles are equal inputs. (A set would pickle
        in hash order, which differs between processes: a page context holds none, only sorted lists.)"""
        digest = hashlib.sha256(f"{self.code}\0{template}\0".encode())
        digest.update(_spelled(context))
        return digest.hexdigest()[:40]

    def key(self, target: str, template: str, inputs: dict[str, Any]) -> str:
        """The fingerprint of page ``target`` of ``template`` rendered from ``inputs``, kept for the manifest."""
        key = self.used[target] = self.fingerprint(template, inputs)
        return key

    def body(self, key: str, render: Callable[[], str]) -> str:
        """The page's body: the last builds' if one rendered the inputs of fingerprint ``key``, else ``render()``."""
        found = self.memory.get(key)
        if found is None:
            if self.packed is None:
                self.packed = BodyPack.read(self.folder / PACK)
            found = self.packed.get(key)
        if found is not None:
            self.kept[key] = found
            self.reused += 1
            return found
        text = render()
        self.kept[key] = text
        self.rendered += 1
        return text

    def prune(self) -> None:
        """After the swap: the bodies this build used become the pack (and the memory); the others are dropped,
        from memory and from the folder (files of an older layout too)."""
        self.memory.clear()
        self.memory.update(self.kept)
        if self.pack_keys is None:
            if self.packed is None:
                self.packed = BodyPack.read(self.folder / PACK)
            self.pack_keys = set(self.packed.index)
        if self.pack_keys != set(self.kept) or not (self.folder / PACK).is_file():
            self.folder.mkdir(parents=True, exist_ok=True)
            BodyPack.write(self.folder / PACK, self.kept)
        with _DIGESTS_LOCK:
            _PACKS[str(self.folder)] = _stat(self.folder / PACK)
        with contextlib.suppress(OSError):
            for path in self.folder.iterdir():
                if path.name != PACK:
                    path.unlink(missing_ok=True)


PACK = "bodies.pack"


class BodyPack:
    """Page bodies in one file: a line of JSON (fingerprint -> [offset, length] of its UTF-8 after that line),
    then the bodies. Read whole, each body decoded when asked for. Not a pickle: the folder is a file like
    any other, and reading it must not run code. A pack that cannot be read is none (every page renders)."""

    def __init__(self, index: dict[str, list[int]], blob: bytes) -> None:
        self.index, self.blob = index, blob

    @classmethod
    def read(cls, path: Path) -> BodyPack:
        try:
            data = path.read_bytes()
            head, _, _ = data.partition(b"\n")
            index = json.loads(head)
            start = len(head) + 1
        except (OSError, ValueError):
            return cls({}, b"")
        if not isinstance(index, dict):
            return cls({}, b"")
        return cls(index, memoryview(data)[start:].tobytes() if start < len(data) else b"")

    def get(self, key: str) -> str | None:
        where = self.index.get(key)
        if not (isinstance(where, list) and len(where) == 2):
            return None
        offset, length = where
        if not (isinstance(offset, int) and isinstance(length, int)) or offset + length > len(self.blob):
            return None
        try:
            return self.blob[offset : offset + length].decode("utf-8")
        except UnicodeDecodeError:
            return None

    @staticmethod
    def write(path: Path, bodies: dict[str, str]) -> None:
        index: dict[str, list[int]] = {}
        parts, offset = [], 0
        for key in sorted(bodies):
            encoded = bodies[key].encode("utf-8")
            index[key] = [offset, len(encoded)]
            parts.append(encoded)
            offset += len(encoded)
        scratch = path.with_name(f"{path.name}.tmp-{os.getpid()}")
        with open(scratch, "wb") as sink:
            sink.write(json.dumps(index, separators=(",", ":")).encode() + b"\n")
            sink.writelines(parts)
        scratch.rename(path)


def _digest(value: Any) -> Digest:
    """Stands for ``value`` in a fingerprint: the hash of its spelling."""
    return Digest(hashlib.sha256(_spelled(value)).hexdigest())


def _spelled(value: Any) -> bytes:
    spelled = io.BytesIO()
    pickler = pickle.Pickler(spelled, protocol=5)
    pickler.dispatch_table = _FINGERPRINT_REDUCERS  # type: ignore[assignment]
    pickler.dump(value)
    return spelled.getvalue()


@dataclass(frozen=True)
class Digest:
    """Stands for a list in a fingerprint: the hash of its items as a fingerprint spells them."""

    sha256: str


class ListDigests:
    """Digests of long lists (a model's price history and changes, a month's changes), kept from one build of a
    site to the next by the identity of their items: those items are the ones the site's facts carry forward
    (``catalog.website.facts``: never changed once made), so a list of the same items has the same digest, and
    a year of history is not spelled again for every page on every build. Holding the lists keeps their items'
    identities theirs; entries no build used since the previous one are dropped.

    A list's digest is that of its blocks of ``DIGEST_BLOCK`` items counted from its end, each spelled alone and
    kept the same way: the site's lists are newest first and a sweep puts its changes in front, so a month's
    changes or a model's, grown by a sweep, spell only their newest block again, not the whole list."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.known: dict[tuple[int, ...], tuple[list[Any], Digest]] = {}
        self.used: dict[tuple[int, ...], tuple[list[Any], Digest]] = {}
        self.blocks_known: dict[tuple[int, ...], tuple[list[Any], bytes]] = {}
        self.blocks_used: dict[tuple[int, ...], tuple[list[Any], bytes]] = {}
        # By the list itself first: a carried list (most of them) is not even walked for its items' ids.
        self.lists = _PerList()
        self.rows = RowsCarry()  # the site's endpoint rows, carried so that each is spelled once

    def next_build(self) -> None:
        self.lists.next_build()
        self.rows.next_build()
        with self.lock:
            if self.used:
                self.known, self.used = self.used, {}
            if self.blocks_used:
                self.blocks_known, self.blocks_used = self.blocks_used, {}

    def of(self, items: list[Any]) -> Digest:
        digest, blocks = self.lists.of(items, self._of)
        # A list known as a whole keeps its blocks too: when a sweep puts a change in front of it, only the
        # newest block is spelled again.
        with self.lock:
            for key, found in blocks:
                self.blocks_used[key] = found
        return digest

    def _of(self, items: list[Any]) -> tuple[Digest, list[tuple[tuple[int, ...], tuple[list[Any], bytes]]]]:
        key = tuple(map(id, items))
        with self.lock:
            found = self.used.get(key) or self.known.get(key)
        blocks: list[tuple[tuple[int, ...], tuple[list[Any], bytes]]] = []
        if found is None:
            found = (list(items), Digest(self._blocks(items, blocks)))
        else:
            self._blocks(items, blocks, spell=False)
        with self.lock:
            self.used[key] = found
        return found[1], blocks

    def _blocks(
        self, items: list[Any], blocks: list[tuple[tuple[int, ...], tuple[list[Any], bytes]]], spell: bool = True
    ) -> str:
        """The digest of ``items`` by blocks (each block's key and entry added to ``blocks``); ``spell`` False:
        the blocks known only (the list's digest is known)."""
        digest = hashlib.sha256()
        for end in range(len(items), 0, -DIGEST_BLOCK):
            block = items[max(0, end - DIGEST_BLOCK) : end]
            key = tuple(map(id, block))
            with self.lock:
                found = self.blocks_used.get(key) or self.blocks_known.get(key)
            if found is None:
                if not spell:
                    continue
                found = (block, hashlib.sha256(_spelled(block)).digest())
            with self.lock:
                self.blocks_used[key] = found
            blocks.append((key, found))
            digest.update(found[1])
        return digest.hexdigest()


# Items of a list spelled together for its digest (``ListDigests``): a list a sweep grew spells its newest
# block again, so a small block is less to spell; a larger one, fewer blocks to look up.
DIGEST_BLOCK = 64


_DIGESTS: dict[str, ListDigests] = {}  # per page cache folder (one site)
_BODIES: dict[str, dict[str, str]] = {}  # per page cache folder: fingerprint -> body
_PACKS: dict[str, tuple[int, int, int] | None] = {}  # per page cache folder: the pack as this process left it


def _stat(path: Path) -> tuple[int, int, int] | None:
    """Which file ``path`` is (a pack is replaced by a rename: a new inode), None when there is none."""
    try:
        found = path.stat()
    except OSError:
        return None
    return found.st_ino, found.st_size, found.st_mtime_ns


_DIGESTS_LOCK = threading.Lock()


def _without_telemetry_row(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if k not in TELEMETRY_KEYS}


class RowsCarry:
    """Endpoint rows without their telemetry (``_without_telemetry_row``), carried from one build of a site to the
    next: a row the same as the last build's row of that endpoint (and kind of page) is that row, the same object,
    so a page's fingerprint knows its endpoints by identity (``ListDigests``) instead of spelling every row of
    every page after each sweep. The same means spelled the same: the same keys in the same order, and each value
    the same object or of the same type and equal, a Decimal with the same digits and exponent, a time with the
    same offset, a list of texts; any other value (a float, a price sheet) only as the same object."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.known: dict[tuple[str, str], dict[str, Any]] = {}
        self.used: dict[tuple[str, str], dict[str, Any]] = {}
        self.spelled_known: dict[int, tuple[dict[str, Any], bytes]] = {}
        self.spelled_used: dict[int, tuple[dict[str, Any], bytes]] = {}

    def next_build(self) -> None:
        with self.lock:
            if self.used:
                self.known, self.used = self.used, {}
            if self.spelled_used:
                self.spelled_known, self.spelled_used = self.spelled_used, {}

    def digest(self, rows: list[dict[str, Any]]) -> Digest:
        """Stands for ``rows`` in a fingerprint: the hash of each row's spelling, made once per row object. Each
        row is spelled alone: rows of the last build beside new ones share fewer objects than rows made together,
        and a spelling of the whole list would say so (a shared object is spelled as a reference)."""
        digest = hashlib.sha256()
        for row in rows:
            found = self.spelled_used.get(id(row)) or self.spelled_known.get(id(row))
            if found is None or found[0] is not row:
                found = (row, hashlib.sha256(_spelled(row)).digest())
            with self.lock:
                self.spelled_used[id(row)] = found
            digest.update(found[1])
        return Digest(digest.hexdigest())

    def rows(self, kind: str, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        out = []
        for row in rows:
            shown = _without_telemetry_row(row)
            key = (kind, row["endpoint_key"])
            last = self.used.get(key) or self.known.get(key)
            if last is not None and same_row(last, shown):
                shown = last
            with self.lock:
                self.used[key] = shown
            out.append(shown)
        return out


def same_row(old: dict[str, Any], new: dict[str, Any]) -> bool:
    """Whether two rows spell the same (``RowsCarry``)."""
    if old != new or list(old) != list(new):
        return False
    for a, b in zip(old.values(), new.values(), strict=True):
        if a is b:
            continue
        kind = type(a)
        if kind is not type(b):
            return False
        if kind is Decimal:
            if a.compare_total(b):  # 0 only for the same digits and exponent (and sign)
                return False
        elif kind is datetime:
            if a.utcoffset() != b.utcoffset():
                return False
        elif kind is list:
            if not all(type(x) is str for x in a) or not all(type(x) is str for x in b):
                return False
        elif kind not in _PLAIN:
            return False
    return True


_PLAIN = (str, int, bool)  # equal values of these types spell alike


def _model_inputs(model: dict[str, Any], carry: RowsCarry | None = None) -> dict[str, Any]:
    """What a model page is rendered from: the model without its endpoints' telemetry and without the index's
    price-change columns (a model page shows neither; a template that reached for them would fail)."""
    shown = {k: v for k, v in model.items() if k != "change"}
    if carry is None:
        shown["endpoints_now"] = [_without_telemetry_row(r) for r in model["endpoints_now"]]
    else:
        shown["endpoints_now"] = carry.rows("model", model["endpoints_now"])
    return shown


def _ranked_inputs(*values: Any) -> None:
    """Stands for a ranked endpoint in a fingerprint (never called: fingerprints are never unpickled)."""


def _reduce_ranked(obj: RankedEndpoint) -> tuple[Any, ...]:
    """A ranked endpoint in a fingerprint: without its telemetry fields, which no template shows (the order
    they decided is in the lists); were one shown, a build from nothing would show the new value and the
    byte-for-byte test of incremental builds would fail."""
    units = obj.__dict__.get("_deferred")
    if isinstance(units, CostUnits):
        # A ranking's row: its amounts follow from its integer cost units, which stand for them here (spelling
        # them as Decimals for every page of every build, rendered or not, was most of a fingerprint's time).
        fixed = tuple(_unshared(getattr(obj, name)) for name in _FIXED_INPUTS)
        return _ranked_inputs, (
            fixed,
            units.total,
            units.base,
            tuple(units.parts),
            units.names,
            units.scale,
            units.tokens,
            units.requests,
        )
    return _ranked_inputs, tuple(_unshared(getattr(obj, name)) for name in _RANKED_INPUTS)


def _unshared(value: Any) -> Any:
    """A ranked endpoint's amount as a new object: its amounts are made on first read, some as one object in
    two fields (the cost and the workload cost), and which read comes first depends on the pages made before,
    here or in a helper process; the pickler would spell a shared object as a reference, so the fingerprint
    would depend on that order. Fresh texts spell the values alone."""
    if isinstance(value, Decimal):
        return ("decimal", str(value))
    if isinstance(value, dict):
        return {k: _unshared(v) for k, v in value.items()}
    return value


_RANKED_INPUTS = tuple(f.name for f in dataclasses.fields(RankedEndpoint) if f.name not in TELEMETRY_FIELDS)
_FIXED_INPUTS = tuple(name for name in _RANKED_INPUTS if name not in DEFERRED_FIELDS)


def _held_inputs(*values: Any) -> None:
    """Stands for a carried object in a fingerprint (never called: fingerprints are never unpickled)."""


class _HeldDigests:
    """The digests of the objects a site's facts carry from build to build unchanged (``catalog.website.facts``:
    a model's rankings, their ranked endpoints, the price table's sheet versions), by identity: a fingerprint
    spells such an object as its type and the hash of its whole spelling, made once, not once per page per build
    (a year's rankings were most of a model's fingerprint). Never changed once made (a ranking, a frozen ranked
    endpoint or sheet version), so the same object has the same spelling. Holding the objects keeps their ids
    theirs; entries no build used since the previous one are dropped (``next_build``)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.known: dict[int, tuple[Any, bytes]] = {}
        self.used: dict[int, tuple[Any, bytes]] = {}

    def next_build(self) -> None:
        with self.lock:
            if self.used:
                self.known, self.used = self.used, {}

    def reduce(self, obj: Any, spell: Callable[[Any], tuple[Any, ...]]) -> tuple[Any, ...]:
        key = id(obj)
        found = self.used.get(key)
        if found is None or found[0] is not obj:
            found = self.known.get(key)
            if found is None or found[0] is not obj:
                found = (obj, hashlib.sha256(_spelled(spell(obj))).digest())
            with self.lock:
                self.used[key] = found
        return _held_inputs, (type(obj).__name__, found[1])


_HELD = _HeldDigests()


def _fields(obj: Any) -> tuple[Any, ...]:
    """A dataclass's values in field order: what it is, for its digest (its type is spelled beside)."""
    return tuple(getattr(obj, f.name) for f in dataclasses.fields(obj))


def _held_ranked(obj: RankedEndpoint) -> tuple[Any, ...]:
    return _HELD.reduce(obj, lambda o: _reduce_ranked(o)[1])


def _held_ranking(obj: ModelRanking) -> tuple[Any, ...]:
    return _HELD.reduce(obj, _fields)


def _held_version(obj: SheetVersion) -> tuple[Any, ...]:
    return _HELD.reduce(obj, _fields)


# Looked up by the C pickler for these types only (a reducer_override would be a Python call per object).
_FINGERPRINT_REDUCERS = {RankedEndpoint: _held_ranked, ModelRanking: _held_ranking, SheetVersion: _held_version}


def _stamps(names: tuple[str, ...]) -> dict[str, Any]:
    return {name: Markup(STAMP.format(name)) for name in names}


class _Memo(dict[str, str]):
    """A text per key, made by ``make`` the first time the key is read."""

    def __init__(self, make: Callable[[str], str]) -> None:
        super().__init__()
        self.make = make

    def __missing__(self, key: str) -> str:
        value = self[key] = self.make(key)
        return value


def _splice(body: str, parts: dict[str, str]) -> str:
    for name, text in parts.items():
        body = body.replace(STAMP.format(name), text)
    return body


def _marked(texts: dict[str, str]) -> dict[str, Markup]:
    return {name: Markup(text) for name, text in texts.items()}


def _no_chart() -> Markup:
    raise AssertionError("only a model page draws a chart")  # a template that reached for one without it


# Where an entity page names the as-of day ("Endpoints now"): static/stamp.js writes "on <day>" from build.js.
ON_DAY = '<span data-stamp="on-day">now</span>'


def telemetry_texts(row: dict[str, Any]) -> list[str]:
    """The uptime, latency and throughput of a model page's endpoint row, as its cells read."""
    uptime, latency, throughput = row["uptime_last_1d"], row["latency_p50"], row["throughput_p50"]
    return [
        "—" if uptime is None else f"{uptime:.1f} %",
        "—" if latency is None else f"{latency / 1000:.2f} s",
        "—" if throughput is None else f"{throughput:.0f}",
    ]


def _build_scripts(output: Output, facts: SiteFacts, age: DataAge, built_at: datetime) -> None:
    """``build.js`` and ``telemetry.js``: what this build says that the pages of one entity do not (they are the
    same from build to build until their inputs change), read by ``static/stamp.js`` and ``static/chart.js``.
    JSON (ASCII, so no text can end the script) assigned to one global each; text only, never markup."""
    history = f" (the history goes on to {when(age.newest_snapshot_at)})" if facts.at != age.newest_snapshot_at else ""
    asof = (
        f"Prices as of {when(facts.at)}{history}. Built {when(built_at)} from OpenRouter's public catalog, the "
        f"newest snapshot then {describe_age(age.age_seconds)} old."
    )
    build = {"at": int(facts.at.timestamp()), "text": {"asof": asof, "on-day": f"on {day(facts.at)}"}}
    output.write("build.js", f"self.catalogBuild = {json.dumps(build, sort_keys=True)};\n".encode())
    telemetry = {m["model_id"]: [telemetry_texts(r) for r in m["endpoints_now"]] for m in facts.models}
    output.write("telemetry.js", f"self.catalogTelemetry = {json.dumps(telemetry, sort_keys=True)};\n".encode())


def _render(
    facts: SiteFacts,
    cat: Catalog,
    output: Output,
    site_templates: Path,
    age: DataAge,
    built_at: datetime,
    progress: Callable[[int, int], None] | None,
    base_url: str | None,
    cache: PageCache,
    history: Future[list[exports.Download]],
    workers: int,
) -> int:
    env = _environment(site_templates / "templates", cache.code)
    change_cells.next_build()
    change_row_parts.next_build()
    feed_entry_parts.next_build()
    changelog.ROWS.next_build()
    ENTRY_TEXTS.next_build()
    change_diff.next_build()
    FEED_ROWS.next_build()
    work = output.folder
    shutil.copytree(site_templates / "static", work / "static")
    (work / MARKER).write_text("built by `catalog site build`; a later build replaces this folder whole\n")
    writer = _Writer(output)
    write = writer.write
    model_ids = {m["model_id"] for m in facts.models} | {m["model_id"] for m in facts.unit_models}
    provider_slugs = {p["slug"] for p in facts.providers}
    # What every page shows whatever it is about; the build's instant is spliced in, not rendered.
    shared = {
        "presets": PRESETS,
        "default": DEFAULT,
        "input_steps": INPUT_STEPS,
        "output_steps": OUTPUT_STEPS,
        "content_security_policy": CONTENT_SECURITY_POLICY,
        "price_keys": PRICE_KEYS,
    }
    common = {
        **shared,
        "at": facts.at,
        "newest": age.newest_snapshot_at,
        "built_at": built_at,
        "data_age": age,
        "windows": facts.windows,
        "model_ids": model_ids,
        "provider_slugs": provider_slugs,
        "base_url": base_url,
    }
    when = {"at": facts.at, "newest": age.newest_snapshot_at, "built_at": built_at, "data_age": age}
    shared_digest = Digest(hashlib.sha256(_spelled(shared)).hexdigest())
    banner = env.get_template("_banner.html").render(**when)
    # by folder depth; made when a page is met (before a helper is forked)
    footers = _Memo(lambda root: env.get_template("_footer.html").render(**when, root=root).rstrip("\n"))
    updated = rfc3339(facts.at)  # an empty feed's <updated>: the build's instant, spliced in
    stamps = _stamps(("banner", "footer", "updated"))
    total = (
        2 * len(facts.models)
        + len(facts.unit_models)
        + sum(len(m["changes"]) > MODEL_PAGE_CHANGES for m in facts.models)
    )
    # the seven pages written once (the index, compare, the changes page, …) and one per month of changes (at
    # least the as-of month's)
    months = _months(facts.changes, facts.at)
    total += 2 * len(facts.providers) + 7 + len(months)
    # The pages of one entity (``ENTITY_PAGES``) are queued and made after the loops, part of them in a helper
    # process (``_Helper``); the others are made where they are met.
    queued: list[_Queued] = []

    def feed(
        target: str,
        about: dict[str, str],
        rows: list[dict[str, Any]],
        linked: list[str],
        entries: list[dict[str, Any]] | None = None,
    ) -> None:
        """An Atom feed, one entry per price change; its links absolute when the site knows its URL. ``entries``:
        the rows' first ``FEED_ENTRIES`` price changes when known (a provider's are carried)."""
        if entries is None:
            entries = FEED_ROWS.of(rows, _feed_rows)
        values: dict[str, Any] = {"feed": about, "entries": entries, "linked": linked, "absolute": base_url}
        if target == "feed.atom":
            page("feed.atom", target, **values)
        else:  # as an entity page: unchanged inputs, the last build's body
            page("entity.atom", target, digested={"entries": cache.digests.of(entries)}, **values)

    done = 0

    def tick(pages: int = 1) -> None:
        nonlocal done
        for _ in range(pages):
            done += 1
            if progress:
                progress(done, total)

    def page(
        template: str,
        target: str,
        *,
        chart: Callable[[], Markup] | None = None,
        digested: dict[str, Any] | None = None,
        **values: Any,
    ) -> None:
        """Render (or take from the last build) one page. ``digested``: values the fingerprint reads instead of
        the ones given, the same but for long lists replaced by their digests (``ListDigests``). ``chart``: makes
        a model page's chart (called only when the page is rendered)."""
        depth = target.count("/")
        root = "../" * depth
        if os.path.isabs(target) or ".." in target.split("/"):  # page_name makes this impossible; a last guard
            raise InputError(f"refusing to write {target!r} outside the site folder")
        if template in ENTITY_PAGES:
            # Nothing of this build's own in the page (build.js and telemetry.js say it): its bytes follow from
            # its inputs alone, so a page whose inputs the last build had is that build's file, linked.
            own = {"banner": page_banner, "footer": page_footers[root], "on_day": ON_DAY, "updated": page_updated}
            context = {**shared, "root": root, "stamp": _marked(own), "chart_html": chart or _no_chart, **values}
            # What the fingerprint reads: the values shared by every page once per build as a digest, not spelled
            # again for each page, and the page's own texts (the banner says when the data went stale).
            inputs = {"_shared": shared_digest, "root": root, "_own": own, **values, **(digested or {})}
            key = cache.key(target, template, inputs)
            if output.reuse(target, key):
                cache.linked += 1
                tick()
                return

            def make() -> bytes:
                render = lambda: env.get_template(template).render(**context)  # noqa: E731
                return cache.body(key, render).encode()

            queued.append(_Queued(target, make, _WEIGHTS[template]))
            return
        body = env.get_template(template).render(**common, root=root, stamp=stamps, **values)
        parts = {"banner": banner, "footer": footers[root], "updated": updated}
        write(target, _splice(body, parts).encode())
        tick()

    # The texts of the pages of one entity (``ENTITY_PAGES``): build-independent, so each is in their inputs.
    page_banner = env.get_template("_banner_page.html").render(data_age=age)
    page_footers = _Memo(lambda root: env.get_template("_footer_page.html").render(root=root).rstrip("\n"))
    first = facts.endpoint_start or facts.at  # an empty feed of a model or provider: updated when the history began
    page_updated = rfc3339(first)
    helper: _Helper | None = None
    try:
        _build_scripts(output, facts, age, built_at)
        data = price_data(facts.models, facts.table, facts.at)
        _entity_pages(page, feed, facts, data, cache, env, months)
        for target, text in _month_scripts(output, cache, months):
            write(target, text.encode())

        # The helper process makes its share of the queued pages while this one makes the site's own pages.
        mine, theirs = _shares(queued, workers)
        if theirs:
            helper = _Helper.start(theirs, output, cache)

        def made(pages: list[_Queued], counted: int = 0) -> None:
            """Make ``pages`` here; the first ``counted`` of them were counted already (by a helper that failed)."""
            for n, item in enumerate(pages):
                write(item.target, item.make())
                tick((n >= counted) + (helper.progress() if helper else 0))

        _site_pages(page, feed, cat, facts, data, [m for m, _ in months], model_ids)
        made(mine)
        _downloads_page(page, cat, facts.at, work, history)
        if helper is not None:
            failed, counted = helper.finish(output, cache, tick), helper.reported
            helper = None
            made(failed, counted)  # a helper that failed: its pages are made here, as without one
        writer.finish()
    finally:
        if helper is not None:
            helper.stop()
        writer.stop()
    return done


class _Writer:
    """Writes, hashes and compresses the pages beside the rendering: in a process of their own when the build
    writes every page (``Packer``: a thread would wait for the GIL after each call it makes), else (an incremental
    build writes a few) in a thread."""

    def __init__(self, output: Output) -> None:
        self.output = output
        self.packer = _packer(output) if not output.before_pages else None
        self.thread = ThreadPoolExecutor(1, thread_name_prefix="site-writer")
        self.written: list[Future[Any]] = []

    def write(self, target: str, data: bytes) -> None:
        if self.packer is not None:
            self.packer.write(target, data)
        else:
            self.written.append(self.thread.submit(self.output.write, target, data))

    def finish(self) -> None:
        """Wait for every page to be written; an error writing one is this build's error."""
        if self.packer is not None:
            packer, self.packer = self.packer, None
            packer.finish()
        self.thread.shutdown(wait=True)
        for done in self.written:
            done.result()

    def stop(self) -> None:
        """After an error (or ``finish``): nothing left running."""
        if self.packer is not None:
            self.packer.stop()
        self.thread.shutdown(wait=True)


def _packer(output: Output) -> Packer | None:
    """A packer process for ``output``, or None (the pages are written by a thread) where none can start."""
    try:
        return Packer.start(output)
    except OSError:
        return None


MONTH_SCRIPTS = "month_scripts"  # the manifest's note (``extra``) of each month's data script's fingerprint


def _month_scripts(
    output: Output, cache: PageCache, months: list[tuple[str, list[dict[str, Any]]]]
) -> list[tuple[str, str]]:
    """The changes page's data scripts, a month each (``changelog.month_script``): those whose changes the last
    build wrote (its manifest notes each one's fingerprint) are its files, linked; the others' (path, text), to
    write. A month's script depends on its changes alone, so after a sweep only the newest month's is made."""
    last = output.before_extra.get(MONTH_SCRIPTS)
    before = last if isinstance(last, dict) else {}
    noted: dict[str, str] = {}
    output.extra[MONTH_SCRIPTS] = noted
    made = []
    for month, rows in months:
        target = f"changes/{month}.js"
        key = noted[target] = cache.fingerprint("month script", {"rows": cache.digests.of(rows)})
        if before.get(target) == key and output.link(target):
            continue
        made.append((target, changelog.month_script(rows)))
    return made


# A queued page's share of the rendering work, for splitting the queue between two processes.
_WEIGHTS = {
    "model.html": 4,
    "unit_model.html": 1,
    "model_changes.html": 3,
    "provider.html": 3,
    "changes.html": 3,
    "entity.atom": 1,
}
HELPER_SHARE = 0.85  # of the queued pages' weight: this process makes the site's own pages meanwhile (measured)
MIN_SHARED = 64  # queued pages below which a helper process costs more than it saves


@dataclass(frozen=True)
class _Queued:
    target: str
    make: Callable[[], bytes]  # the page's bytes: its body (rendered or from the cache) with this build's stamps
    weight: int


def _shares(queued: list[_Queued], workers: int) -> tuple[list[_Queued], list[_Queued]]:
    """This process's pages and the helper's (none with one worker, or too few pages to be worth a process):
    interleaved, so both get pages of every kind, the helper ``HELPER_SHARE`` of the weight."""
    if workers < 2 or len(queued) < MIN_SHARED or not hasattr(os, "fork"):
        return queued, []
    mine, theirs = [], []
    total = sum(q.weight for q in queued)
    given = 0
    seen = 0
    for item in queued:
        seen += item.weight
        if given + item.weight <= HELPER_SHARE * seen or (given == 0 and seen >= total):
            theirs.append(item)
            given += item.weight
        else:
            mine.append(item)
    return mine, theirs


class _Helper:
    """A forked copy of this process that makes its share of the queued pages and writes them (with their ``.gz``)
    into the build folder; it reports a byte per page on a pipe and, at the end, what ``Output`` and ``PageCache``
    learnt (the bodies too, for the page cache's pack), in a file of the build folder. Forked: it has the facts,
    templates and cache as they are, nothing is sent but the result, and it never touches the database. It leaves
    with ``os._exit`` (no clean-up of what it shares with this process). If it fails, its pages are made here
    (``finish`` returns them)."""

    def __init__(self, pid: int, reader: int, result: Path, pages: list[_Queued]) -> None:
        self.pid, self.reader, self.result, self.pages = pid, reader, result, pages
        self.reported = 0

    @classmethod
    def start(cls, pages: list[_Queued], output: Output, cache: PageCache) -> _Helper:
        reader, writer = os.pipe()
        result = output.folder / f".helper-{os.getpid()}.pickle"
        # The collector in the helper would walk (and so copy) every object it shares with this process: frozen
        # here (and left so: the build unfreezes, ``_out_of_collector``), off there (what it makes is freed by
        # reference counting; it lives for one build).
        gc.freeze()
        pid = os.fork()
        if pid == 0:  # the helper
            status = 1
            try:
                gc.disable()
                os.close(reader)
                rendered, reused = cache.rendered, cache.reused
                files = {}
                for item in pages:
                    files[item.target] = output.write(item.target, item.make())
                    os.write(writer, b".")
                used = {target: cache.used[target] for target in files}
                kept = {key: cache.kept[key] for key in used.values()}  # for the pack the parent writes
                with open(result, "wb") as sink:
                    pickle.dump((files, used, kept, cache.rendered - rendered, cache.reused - reused), sink)
                status = 0
            finally:
                os._exit(status)
        os.close(writer)
        os.set_blocking(reader, False)
        return cls(pid, reader, result, pages)

    def progress(self) -> int:
        """Pages the helper made since the last call."""
        try:
            got = len(os.read(self.reader, 65536))
        except BlockingIOError:
            return 0
        self.reported += got
        return got

    def finish(self, output: Output, cache: PageCache, tick: Callable[[int], None]) -> list[_Queued]:
        """Wait for the helper and take in what it made; the pages it did not make (all, if it failed)."""
        os.set_blocking(self.reader, True)
        while chunk := os.read(self.reader, 65536):
            self.reported += len(chunk)
            tick(len(chunk))
        os.close(self.reader)
        _pid, status = os.waitpid(self.pid, 0)
        try:
            with open(self.result, "rb") as source:
                files, used, kept, rendered, reused = pickle.load(source)
            self.result.unlink()
        except (OSError, ValueError, EOFError, pickle.UnpicklingError):
            files = None
        if status != 0 or files is None:
            with contextlib.suppress(OSError):
                self.result.unlink()
            return self.pages
        output.files.update(files)
        cache.used.update(used)
        cache.kept.update(kept)
        cache.rendered += rendered
        cache.reused += reused
        return []

    def stop(self) -> None:
        """An error in this process: the helper is ended and waited for (its files go with the build folder)."""
        with contextlib.suppress(OSError):
            os.kill(self.pid, signal.SIGKILL)
        with contextlib.suppress(OSError):
            os.waitpid(self.pid, 0)
        with contextlib.suppress(OSError):
            os.close(self.reader)


def _entity_pages(
    page: Callable[..., None],
    feed: Callable[..., None],
    facts: SiteFacts,
    data: dict[str, Any],
    cache: PageCache,
    env: jinja2.Environment,
    months: list[tuple[str, list[dict[str, Any]]]],
) -> None:
    """The pages of one model, provider or month (``ENTITY_PAGES``) and their feeds."""
    model_ids = {m["model_id"] for m in facts.models} | {m["model_id"] for m in facts.unit_models}
    provider_slugs = {p["slug"] for p in facts.providers}
    by_provider = _changes_by_provider(facts)
    tokens = DEFAULT.profile.input_tokens + DEFAULT.profile.output_tokens
    chart_template = env.get_template("_chart.html")
    entries = {m["id"]: m for m in data["models"]}
    # What every model page's price data holds but its model's entry and minute: in its fingerprint as one digest
    # a build, not spelled again for each page.
    common_data = _digest({k: v for k, v in data.items() if k not in ("models", "at_minute")})
    endpoint_rows = cache.digests.rows
    for model in facts.models:
        single = PriceJson({**data, "models": [entries[model["model_id"]]]})
        if not _windowed(single):  # the minute of the day matters only to a time-windowed price
            single["at_minute"] = None

        def drawn(model: dict[str, Any] = model) -> Markup:
            found = chart.model_chart(model, tokens=tokens, workload=DEFAULT.label.lower(), describe=usd)
            return Markup(chart_template.render(chart=found, model=model, default=DEFAULT, root="../").rstrip("\n"))

        shown = _model_inputs(model, endpoint_rows)
        # The model as both its pages' fingerprints read it (its lists as their digests): spelled once.
        lists = {k: cache.digests.of(shown[k]) for k in ("history", "changes")}
        digested = {"model": _digest({**shown, **lists, "endpoints_now": endpoint_rows.digest(shown["endpoints_now"])})}
        slugs = sorted({r["provider_slug"] for r in model["endpoints_now"]} & provider_slugs)
        page(
            "model.html",
            f"models/{page_name(model['model_id'])}.html",
            chart=drawn,
            model=shown,
            price_json=single,
            routing_json=json.dumps({"provider": model["routing"]}, indent=2) if model["routing"] else None,
            change_limit=MODEL_PAGE_CHANGES,
            provider_slugs=slugs,
            digested={**digested, "price_json": (common_data, single["at_minute"], single["models"][0])},
        )
        if len(model["changes"]) > MODEL_PAGE_CHANGES:
            target = f"model-changes/{page_name(model['model_id'])}.html"
            page("model_changes.html", target, model=shown, digested=digested)
        name = page_name(model["model_id"])
        heading = {
            "title": f"{model['model_id']}: price changes",
            "subtitle": f"Price, discount and tier changes of {model['model_id']} and its provider endpoints",
            "id": f"feed/models/{model['model_id']}",
            "self": f"feeds/models/{name}.atom",
            "alternate": f"models/{name}.html",
        }
        feed(f"feeds/models/{name}.atom", heading, model["changes"], [model["model_id"]])
    for unit in facts.unit_models:  # priced in their own units (catalog/website/unitmodels.py)
        page("unit_model.html", f"models/{page_name(unit['model_id'])}.html", **unit_page(unit, provider_slugs))
    for provider in facts.providers:
        linked = sorted({r["model_id"] for r in provider["endpoints_now"]} & model_ids)
        shown = {**provider, "endpoints_now": endpoint_rows.rows("provider", provider["endpoints_now"])}
        name = page_name(provider["slug"])
        spelled = {"provider": {**shown, "endpoints_now": endpoint_rows.digest(shown["endpoints_now"])}}
        page("provider.html", f"providers/{name}.html", provider=shown, model_ids=linked, digested=spelled)
        found = by_provider.get(provider["slug"])
        rows = found.rows if found else []
        heading = {
            "title": f"{provider['name'] or provider['slug']}: price changes",
            "subtitle": f"Price, discount and tier changes of the endpoints {provider['slug']} serves",
            "id": f"feed/providers/{provider['slug']}",
            "self": f"feeds/providers/{name}.atom",
            "alternate": f"providers/{name}.html",
        }
        feed_linked = sorted(found.model_ids & model_ids) if found else []
        feed(f"feeds/providers/{name}.atom", heading, rows, feed_linked, found.entries if found else [])
    for month, rows in months:
        target = f"changes/{month}.html"
        linked = sorted({c["model_id"] for c in rows} & model_ids)
        listed = [m for m, _ in months]
        digest = {"changes": cache.digests.of(rows)}
        page("changes.html", target, month=month, changes=rows, months=listed, model_ids=linked, digested=digest)


def _site_pages(
    page: Callable[..., None],
    feed: Callable[[str, dict[str, str], list[dict[str, Any]], list[str]], None],
    cat: Catalog,
    facts: SiteFacts,
    data: dict[str, Any],
    months: list[str],
    model_ids: set[str],
) -> None:
    """The site's own pages (rendered every build): the index, compare, providers, changes, the feed, methodology."""
    index = index_values(cat, facts, data)  # its order and the price movers (catalog/website/indexpage.py)
    page("index.html", "index.html", models=facts.models, price_json=data, facets=_facets(facts), **index)
    _compare_page(page, facts, data)
    page("providers.html", "providers.html", providers=facts.providers)
    # changes.html: every change, filtered and paged in the browser; a page per month for reading without it.
    page(
        "changes_browse.html",
        "changes.html",
        months=months,
        **changes_values(facts.changes, model_ids, facts.providers),
    )
    site_feed = {
        "title": "LLM price changes",
        "subtitle": "Price, discount and tier changes of OpenRouter models and provider endpoints",
        "id": "feed",
        "self": "feed.atom",
        "alternate": "changes.html",
    }
    feed("feed.atom", site_feed, facts.changes, sorted({c["model_id"] for c in facts.changes} & model_ids))
    page("methodology.html", "methodology.html", rates=RATE_ORDER, windows_days=CHANGE_WINDOWS)


def _downloads_page(
    page: Callable[..., None], cat: Catalog, at: datetime, work: Path, history: Future[list[exports.Download]]
) -> None:
    """The prices in force as a download, and the downloads page listing it with the history's."""
    prices_now = cat.prices(at)
    # As known at the instant: a sheet that a later snapshot closed was still open then.
    prices_now = prices_now.with_columns(
        pl.when(pl.col("valid_to").dt.epoch("us") > int(at.timestamp() * 1_000_000))
        .then(None)
        .otherwise(pl.col("valid_to"))
        .alias("valid_to")
    )
    about = (
        "every price sheet in force at the as-of instant: endpoints and model list prices, exact decimal strings, "
        "base (undiscounted) prompt and completion prices, overrides as JSON"
    )
    (work / "downloads").mkdir(parents=True, exist_ok=True)
    downloads = [exports.write_frame(prices_now, work / "downloads", "prices-now", about)]
    downloads += history.result()
    page("downloads.html", "downloads.html", downloads=downloads, history_at=history_instant(cat.con, at))


def _compare_page(page: Callable[..., None], facts: SiteFacts, data: dict[str, Any]) -> None:
    """``compare.html``: the price data of every model (the index's) and each one's cost history, so its script
    can put any 2–4 of them side by side; rendered with a default choice for a reader without JavaScript."""
    selection = comparing.default_selection(facts.models)
    start, info = comparing.site_page_data(facts.models, facts.at, page_name)
    chart_json = comparing.site_chart(info, selection)
    page(
        "compare.html",
        "compare.html",
        models=facts.models,
        price_json=data,
        selection=selection,
        rows=comparing.site_rows(facts.models, selection),
        info=info,
        start=start,
        series_chart=chart_json,
        chart_id="compare-chart",
        geometry=comparing.svg_chart(chart_json, start, facts.at),
    )


HISTORY_EVERY = "day"  # the history downloads are as of the last snapshot before 00:00 UTC of the as-of day


def history_instant(con: Any, at: datetime) -> datetime:
    """The instant the history downloads are as of, for a site as of ``at``: the newest good snapshot at or before
    the start of ``at``'s UTC day, or ``at`` itself while the history is younger than that. The exports are the
    whole history in three formats and a DuckDB file (hundreds of MB at a year, and ``last_seen`` moves with every
    sweep): written once a day, each build of that day links them (``_history_downloads``). A function of the
    history and ``at`` alone, so a build from nothing gives the same files."""
    day = at.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return newest_good_snapshot(con, day) or at


def _export_code() -> str:
    """What writes the exports besides the history (a change to it writes them again)."""
    store = Path(exports.__file__).resolve().parent
    digest = hashlib.sha256()
    for name in ("exports.py", "redaction.py"):
        digest.update((store / name).read_bytes())
    return digest.hexdigest()[:32]


def _history_downloads(cat: Catalog, output: Output, at: datetime) -> list[exports.Download]:
    """Every history table as known at ``history_instant(at)``, in every format, and the DuckDB file; each with
    its ``.gz``. The last build's files when it wrote them as of the same instant from the same history (its
    manifest notes the instant and ``exports.known_mark``): linked, neither exported, hashed nor compressed again.
    Through a cursor of its own: it runs in a thread beside the rendering."""
    folder = output.folder / "downloads"
    folder.mkdir(parents=True, exist_ok=True)
    cursor = cat.con.cursor()
    try:
        instant = history_instant(cursor, at)
        key = [rfc3339(instant), exports.known_mark(cursor, instant), _export_code()]
        last = output.before_extra.get("history")
        if isinstance(last, dict) and last.get("key") == key:
            downloads = [
                exports.Download(d["name"], d["about"], d["rows"], tuple(tuple(f) for f in d["files"]))
                for d in last["downloads"]
            ]
            names = [f"downloads/{name}" for d in downloads for _fmt, name, _size in d.files]
            if all(output.link(name) for name in names):
                output.extra["history"] = last
                return downloads
            for name in names:  # a file of the last build is missing or was touched: all written again
                output.files.pop(name, None)
                for stale in (folder / Path(name).name, folder / (Path(name).name + ".gz")):
                    stale.unlink(missing_ok=True)
        downloads = exports.write_history(cursor, folder, instant)
    finally:
        cursor.close()
    for download in downloads:
        for _fmt, name, _size in download.files:
            output.add(f"downloads/{name}")
    output.extra["history"] = {
        "key": key,
        "at": rfc3339(instant),
        "downloads": [dataclasses.asdict(d) for d in downloads],
    }
    return downloads


def _windowed(data: dict[str, Any]) -> bool:
    """Whether an entry of the price data has an override with a UTC time window."""
    return any(c[1] is not None for m in data["models"] for e in m["endpoints"] for c in e[3])


def _months(changes: list[dict[str, Any]], at: datetime) -> list[tuple[str, list[dict[str, Any]]]]:
    """Changes by UTC month, newest month first (the changes page is one page a month); with none at all, the
    as-of month's page says so. The last build's months are carried (``_CHANGES_CARRY``): only a sweep's new
    changes are named a month, not a year of them every build."""
    found = _CHANGES_CARRY.after("months", changes, None)
    months = _by_month(changes if found is None else found[0])
    if found is not None:  # the last build's months after the sweep's (a month in both: its new rows first)
        for month, rows in found[1][1]:
            months[month] = months[month] + rows if month in months else rows
    _CHANGES_CARRY.keep("months", changes, None, list(months.items()))
    return list(months.items()) or [(at.astimezone(UTC).strftime("%Y-%m"), [])]


def _by_month(changes: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    months: dict[str, list[dict[str, Any]]] = {}
    rows: list[dict[str, Any]] = []
    low = high = None  # the current month's span: a year of changes is named a month at a time, not one by one
    for change in changes:  # already newest first
        when = change["at"]
        if low is None or high is None or not low <= when < high:
            t = when.astimezone(UTC)
            low = datetime(t.year, t.month, 1, tzinfo=UTC)
            high = datetime(t.year + t.month // 12, t.month % 12 + 1, 1, tzinfo=UTC)
            rows = months.setdefault(f"{t.year:04d}-{t.month:02d}", [])
        rows.append(change)
    return months


class _ChangesCarry:
    """What the last build made of its whole list of changes (by month, by provider), kept for the next one: a
    build's changes are the sweep's new ones in front of the last build's list, the same objects
    (``catalog.website.facts``), so only those new ones need sorting into it. Checked by the identity of every
    item of the old list (any other list is sorted whole); ``scope`` is what else the result depends on."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.kept: dict[str, tuple[list[Any], Any, Any]] = {}

    def after(self, name: str, changes: list[Any], scope: Any) -> tuple[list[Any], tuple[Any, Any]] | None:
        """The changes ``changes`` has in front of the last build's list and what that build made of the list
        (``(scope, result)``), or None when ``changes`` does not end with that list or ``scope`` differs."""
        with self.lock:
            found = self.kept.get(name)
        if found is None:
            return None
        old, old_scope, result = found
        start = len(changes) - len(old)
        if not old or start < 0 or old_scope != scope or changes[start] is not old[0]:
            return None
        if not all(map(operator.is_, itertools.islice(changes, start, None), old)):
            return None
        return changes[:start], (old_scope, result)

    def keep(self, name: str, changes: list[Any], scope: Any, result: Any) -> None:
        with self.lock:
            self.kept[name] = (list(changes), scope, result)


_CHANGES_CARRY = _ChangesCarry()


def _facets(facts: SiteFacts) -> dict[str, list[Any]]:
    inputs: set[str] = set()
    providers: dict[str, str] = {}
    for model in facts.models:
        inputs.update(model["input_modalities"] or [])
        for row in model["endpoints_now"]:
            providers.setdefault(row["provider_slug"], row["provider_name"] or row["provider_slug"])
    for unit in facts.unit_models:  # the index filters them by provider too
        for row in unit["endpoints_now"]:
            if row["provider_slug"]:
                providers.setdefault(row["provider_slug"], row["provider_name"] or row["provider_slug"])
    return {
        "modalities": sorted(inputs),
        "providers": sorted(providers.items(), key=lambda kv: kv[1].lower()),
    }


PRICE_KINDS = ("price", "discount", "overrides")  # what a feed tells of
FEED_ENTRIES = 200  # the newest changes a feed holds


def _feed_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A feed's entries: the first ``FEED_ENTRIES`` price changes of ``rows`` (newest first)."""
    return list(itertools.islice((c for c in rows if c["kind"] in PRICE_KINDS), FEED_ENTRIES))


FEED_ROWS = _PerList()  # a model's feed entries, by its list of changes (carried from build to build)


@dataclass(frozen=True)
class _ProviderChanges:
    """A provider's endpoint changes (newest first), the models they are of and its feed's entries."""

    rows: list[dict[str, Any]]
    model_ids: frozenset[str]
    entries: list[dict[str, Any]]  # its newest ``FEED_ENTRIES`` changes of ``PRICE_KINDS``

    @classmethod
    def of(cls, rows: list[dict[str, Any]]) -> _ProviderChanges:
        entries = list(itertools.islice((c for c in rows if c["kind"] in PRICE_KINDS), FEED_ENTRIES))
        return cls(rows, frozenset(c["model_id"] for c in rows), entries)

    def before(self, older: _ProviderChanges) -> _ProviderChanges:
        """These changes followed by ``older``'s (each part's entries hold its newest ones: enough for both)."""
        entries = (self.entries + older.entries)[:FEED_ENTRIES]
        return _ProviderChanges(self.rows + older.rows, self.model_ids | older.model_ids, entries)


def _changes_by_provider(facts: SiteFacts) -> dict[str, _ProviderChanges]:
    """Each provider's endpoint changes, newest first: those whose tag is its slug or starts with ``slug/``
    (as ``catalog changes --provider`` picks them). The last build's are carried (``_CHANGES_CARRY``), with the
    models they are of and their feed's entries: a sweep's few changes are sorted, not a year of them."""
    slugs = frozenset(p["slug"] for p in facts.providers)
    found = _CHANGES_CARRY.after("providers", facts.changes, slugs)
    newer = _by_provider(facts.changes if found is None else found[0], slugs)
    out = {slug: _ProviderChanges.of(rows) for slug, rows in newer.items()}
    if found is not None:
        for slug, older in found[1][1].items():
            out[slug] = out[slug].before(older) if slug in out else older
    _CHANGES_CARRY.keep("providers", facts.changes, slugs, dict(out))
    return out


def _by_provider(changes: list[dict[str, Any]], slugs: frozenset[str]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for change in changes:
        tag = change.get("tag")
        if not tag:
            continue
        if tag in slugs:
            out.setdefault(tag, []).append(change)
        head = tag.partition("/")[0]
        if head != tag and head in slugs:
            out.setdefault(head, []).append(change)
    return out
