"""The Atom feeds (issue 18, item 7): one entry per price change, a feed per model and per provider linked from
their pages, and absolute links when the site knows where it is served. Parsed with ElementTree in the Atom
namespace; every entry must carry what RFC 4287 requires (id, title, updated, a link)."""

from __future__ import annotations

import contextlib
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from helpers import run_cli
from site_helpers import ATOM, Built, Hostile, model_page, resolve

import jobs.site
from catalog.library import Catalog
from catalog.store import queries
from catalog.website.build import PRICE_KINDS, page_name
from catalog.website.facts import EPOCH

MODEL = "deepseek/deepseek-v3.2"


def parse_feed(path: Path) -> ET.Element:
    feed = ET.parse(path).getroot()
    assert feed.tag == f"{ATOM}feed", path
    for child in ("id", "title", "updated"):
        assert (feed.findtext(f"{ATOM}{child}") or "").strip(), f"{path}: feed without {child}"
    ids = []
    for entry in feed.findall(f"{ATOM}entry"):
        for child in ("id", "title", "updated", "content"):
            assert (entry.findtext(f"{ATOM}{child}") or "").strip(), f"{path}: entry without {child}"
        assert entry.find(f"{ATOM}link[@rel='alternate']") is not None
        datetime.fromisoformat(str(entry.findtext(f"{ATOM}updated")).replace("Z", "+00:00"))
        ids.append(entry.findtext(f"{ATOM}id"))
    assert len(ids) == len(set(ids)), f"{path}: repeated entry ids"
    return feed


def test_each_entry_of_the_site_feed_is_one_change(site: Built) -> None:
    feed = parse_feed(site.out / "feed.atom")
    entries = feed.findall(f"{ATOM}entry")
    assert len(entries) > 20
    for entry in entries:
        content = str(entry.findtext(f"{ATOM}content"))
        # One change: one move, one sentence (several changes once ran together in one entry).
        assert content.count("→") == 1 and content.count(" at ") == 1, content
        assert str(entry.findtext(f"{ATOM}title")).count("→") == 1


def test_a_model_page_links_its_feed_holding_its_price_changes(site: Built, cat: Catalog, site_at: datetime) -> None:
    name = model_page(MODEL)
    page = site.pages[name]
    target = (f"feeds/models/{page_name(MODEL)}.atom", "")
    alternates = [v for t, v in page.elements if t == "link" and v.get("type") == "application/atom+xml"]
    assert target in [resolve(name, str(v["href"])) for v in alternates]
    visible = [v for t, v in page.elements if t == "a" and v.get("class") == "feed"]
    assert [resolve(name, str(v["href"])) for v in visible] == [target]
    feed = parse_feed(site.out / "feeds" / "models" / f"{page_name(MODEL)}.atom")
    entries = feed.findall(f"{ATOM}entry")
    changes = queries.changes(cat.con, EPOCH, site_at, model=MODEL).to_dicts()
    with_prices = [c for c in changes if c["kind"] in PRICE_KINDS]
    assert len(entries) == min(len(with_prices), 200) > 0
    assert all(str(e.findtext(f"{ATOM}title")).startswith(f"{MODEL} · ") for e in entries)


def test_a_provider_page_links_its_feed_of_its_endpoints_changes(site: Built) -> None:
    found = 0
    for name, page in site.pages.items():
        if not name.startswith("providers/"):
            continue
        slug = name.removeprefix("providers/").removesuffix(".html")  # the page name of the slug
        href = f"../feeds/providers/{slug}.atom"
        assert f'<a class="feed" href="{href}">' in page.text, name
        feed = parse_feed(site.out / "feeds" / "providers" / f"{slug}.atom")
        for entry in feed.findall(f"{ATOM}entry"):
            found += 1
            tag = str(entry.findtext(f"{ATOM}title")).split(" · ", 1)[1].split(":", 1)[0]
            assert slug in (page_name(tag), page_name(tag.split("/")[0])), (name, tag)
    assert found > 20


def test_base_url_makes_every_feed_link_absolute(hostile: Hostile, tmp_path: Path) -> None:
    out = tmp_path / "site"
    base = "https://prices.example.org/llm/"
    done = run_cli("site", "build", "--db", str(hostile.db), "--out", str(out), "--base-url", base.rstrip("/"))
    assert done.returncode == 0, done.stderr
    feeds = sorted(out.rglob("*.atom"))
    assert len(feeds) == 1 + 2 + 3  # the site's, two models, three providers
    links = [str(link.get("href")) for path in feeds for link in parse_feed(path).iter(f"{ATOM}link")]
    assert links and all(href.startswith(base) for href in links)
    assert f"{base}feeds/models/" in " ".join(links) and f"{base}changes.html" in links


def test_the_service_builds_its_feeds_against_the_url_it_serves_at(monkeypatch: pytest.MonkeyPatch) -> None:
    """``catalog up`` sets ``site_url`` once bound; the build job passes it on unless CATALOG_SITE_URL says
    where the public copy lives."""
    seen: list[str | None] = []

    def fake_render(_cat: object, out: Path, *, base_url: str | None, **_: object) -> object:
        seen.append(base_url)
        raise RuntimeError("stop here")

    class Ctx:
        db = Path("history.duckdb")
        site_dir = Path("site")
        site_url = "http://127.0.0.1:8123/"
        config = type("Config", (), {"stale_after": lambda self: 7200.0})()
        data_state = None  # no API state: the job reads the history itself

        @contextlib.contextmanager
        def writing(self) -> Iterator[Any]:
            yield type("Con", (), {"cursor": lambda self: type("Cur", (), {"close": lambda self: None})()})()

    monkeypatch.setattr(jobs.site, "render_site", fake_render)
    monkeypatch.delenv("CATALOG_SITE_URL", raising=False)
    for public in (None, "https://prices.example.org/"):
        if public:
            monkeypatch.setenv("CATALOG_SITE_URL", public)
        with pytest.raises(RuntimeError):
            jobs.site.build_site(Ctx())  # type: ignore[arg-type]
    assert seen == ["http://127.0.0.1:8123/", "https://prices.example.org/"]
