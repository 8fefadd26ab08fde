"""The static site against hostile upstream text, synced over loopback HTTP from the fake OpenRouter.

Names, descriptions, URLs and quantizations carrying markup and scripts stay text; only the site's own scripts
run; no ``javascript:`` or ``data:`` URL becomes a link; the embedded price data cannot close its ``<script>``
element; ids and slugs with ``..`` segments cannot steer where pages are written. The ``hostile`` site (built
once per run) is the fixture in conftest.py; its day is ``site_helpers.hostile_day``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from urllib.parse import urlsplit

from helpers import run_cli
from site_helpers import (
    EVIL,
    GOOD,
    SCRIPT_CLOSER,
    XSS_DESCRIPTION,
    XSS_NAME,
    Hostile,
    Page,
    broken_links,
    model_page,
    provider_page,
    resolve,
    sync_from_fake,
    v1_listing,
    v1_model,
)

from catalog.fake import memory_day
from catalog.library import Catalog
from catalog.settings import SITE_SOURCE

BUILD_SCRIPTS = {"build.js": "catalogBuild", "telemetry.js": "catalogTelemetry"}  # written by every build
MONTH_SCRIPT = re.compile(r"changes/\d{4}-\d{2}\.js")  # the changes page's rows, a script a month


def site_texts(out: Path) -> dict[str, str]:
    return {p.relative_to(out).as_posix(): p.read_text() for p in out.rglob("*") if p.suffix in (".html", ".atom")}


def test_hostile_names_stay_text_scripts_are_only_ours(hostile: Hostile) -> None:
    assert model_page(EVIL) in hostile.pages and provider_page("evilcorp") in hostile.pages
    for name, page in hostile.pages.items():
        for attrs, text in page.scripts:
            if attrs.get("type") == "application/json":
                assert attrs.get("src") is None, name
                json.loads(text)  # the whole body is the data: nothing closed the element early
            else:
                assert set(attrs) == {"src"}, f"{name}: {attrs}"
                # Only the project's own scripts, shipped in site/static (cost.js, app.js, index.js, …), the two
                # data scripts every build writes and the changes page's month scripts (checked below).
                target, fragment = resolve(name, str(attrs["src"])) or ("", "")
                assert target.endswith(".js") and not fragment, name
                assert (
                    target in BUILD_SCRIPTS
                    or MONTH_SCRIPT.fullmatch(target)
                    or (target.startswith("static/") and (SITE_SOURCE / target).is_file())
                ), f"{name}: {target}"
                assert not text.strip(), f"{name}: inline script {text[:80]!r}"
        for tag, values in page.elements:
            handlers = [a for a in values if a.lower().startswith("on")]
            assert not handlers, f"{name}: <{tag}> has {handlers}"
        assert not [t for t, _ in page.elements if t in ("img", "iframe", "object", "embed", "b", "i")], name
    for script, variable in BUILD_SCRIPTS.items():
        # Nothing but one JSON value (ASCII: hostile text is escaped) assigned to its global.
        text = (hostile.out / script).read_text(encoding="ascii")
        head = f"self.{variable} = "
        assert text.startswith(head) and text.endswith(";\n") and text.count("\n") == 1, script
        json.loads(text[len(head) : -2])
    assert EVIL in json.loads((hostile.out / "telemetry.js").read_text().split(" = ", 1)[1][:-2])
    months = [p for p in hostile.out.rglob("*.js") if MONTH_SCRIPT.fullmatch(p.relative_to(hostile.out).as_posix())]
    assert months
    for script in months:
        # Nothing but one JSON value (ASCII) pushed onto the changes page's list.
        text = script.read_text(encoding="ascii")
        head, tail = "(self.catalogChanges = self.catalogChanges || []).push(", ");\n"
        assert text.startswith(head) and text.endswith(tail) and text.count("\n") == 1, script
        json.loads(text[len(head) : -len(tail)])
    for name, text in site_texts(hostile.out).items():
        lowered = text.lower()
        assert "<img" not in lowered and "<b>" not in lowered and "<i>" not in lowered, name
        assert "<script>alert" not in lowered and "<svg onload" not in lowered, name


def test_no_javascript_or_data_url_is_ever_a_link(hostile: Hostile) -> None:
    for name, page in hostile.pages.items():
        for tag, attr, ref in page.refs():
            scheme = urlsplit(ref.strip()).scheme.lower()
            allowed = ("", "http", "https") if tag == "a" else ("", "data")
            assert scheme in allowed, f"{name}: <{tag} {attr}={ref!r}>"
            if scheme == "data":
                assert tag == "link" and ref == "data:,", name
    evilcorp = hostile.pages[provider_page("evilcorp")]
    hrefs = [values.get("href") for tag, values in evilcorp.elements if tag == "a"]
    assert "https://status.example/ok" in hrefs  # the one http(s) URL is linked: links work at all
    assert not [h for h in hrefs if h and "javascript" in h.lower()]
    fine = hostile.pages[provider_page("fine")]
    assert not [v for t, v in fine.elements if t == "a" and "example" in str(v.get("href"))]
    assert "privacy policy" not in fine.text and "terms of service" not in fine.text


def test_injected_text_is_escaped_on_the_model_page_and_the_index(hostile: Hostile) -> None:
    model = hostile.pages[model_page(EVIL)]
    index = hostile.pages["index.html"]
    escaped = "&lt;script&gt;alert(1)&lt;/script&gt;"
    assert escaped in model.text and escaped in index.text
    assert model.h1 == [XSS_NAME]  # shown as the text it is
    assert f"<title>{escaped} · LLM price catalog</title>" in model.text
    assert XSS_NAME not in model.text and XSS_NAME not in index.text
    assert "&#34;&gt;&lt;img src=x onerror=alert(1)&gt;" in model.text  # the quantization, as text
    assert all(XSS_DESCRIPTION not in text for text in site_texts(hostile.out).values())
    rows = index.model_rows
    assert {r["data-id"] for r in rows} == {EVIL, GOOD}


def test_embedded_json_cannot_close_its_script_element(hostile: Hostile) -> None:
    for name in ("index.html", model_page(EVIL)):
        page = hostile.pages[name]
        start = page.text.index('<script type="application/json" id="price-data">')
        body = page.text[start:].split(">", 1)[1].split("</script>", 1)[0]
        assert "</" not in body and "<!--" not in body and "<script" not in body.lower()
        data = page.price_data()
        assert json.loads(body) == data
        evil = next(m for m in data["models"] if m["id"] == EVIL)
        assert {e[1] for e in evil["endpoints"]} == {"Evil<b>Corp</b>", SCRIPT_CLOSER, XSS_NAME}  # round trip


def test_chart_data_cannot_close_its_script_element(hostile: Hostile) -> None:
    """The chart's JSON (read by static/chart.js, which writes labels as text) carries the endpoints' tags as
    upstream sent them, markup and script closers included, without ever ending its element early."""
    page = hostile.pages[model_page(EVIL)]
    start = page.text.index('<script type="application/json" id="chart-history">')
    body = page.text[start:].split(">", 1)[1].split("</script>", 1)[0]
    assert "</" not in body and "<!--" not in body and "<script" not in body.lower()
    labels = [s["label"] for s in json.loads(body)["series"] if s["kind"] == "endpoint"]
    with Catalog.open(hostile.db) as cat:
        tags = {
            t for (t,) in cat.con.execute("SELECT tag FROM endpoint_versions WHERE model_id = ?", [EVIL]).fetchall()
        }
    assert sorted(labels) == sorted(tags) and any("<" in t for t in tags)
    assert 'data-chart="chart-history"' in page.text


def test_hostile_site_links_resolve(hostile: Hostile) -> None:
    assert broken_links(hostile.out, hostile.pages) == []
    # the slug '"><svg onload=alert(3)>' (from an endpoint tag) got a page with a safe file name, linked
    slug = '"><svg onload=alert(3)>'
    assert provider_page(slug) in hostile.pages
    assert provider_page(slug) == "providers/_22__3e__3c_svg_20_onload_3d_alert_28_3_29__3e_.html"


def test_upstream_ids_cannot_write_outside_their_folder(tmp_path: Path) -> None:
    """Model ids and provider slugs are upstream text too: ``..`` in them must not steer where pages go."""
    good = v1_model(GOOD, "Good model", "0.0000005", "0.0000015")
    climber = v1_model("acme/../../../climbed-model", "Climber", "0.000001", "0.000002")
    usurper = v1_model("../index", "Usurper", "0.000001", "0.000002")
    providers = [{"name": "Fine", "slug": "fine"}, {"name": "Climber", "slug": "../../../climbed-provider"}]
    day = memory_day(
        "2026-07-17",
        [good, climber, usurper],
        {GOOD: v1_listing(good, ("Fine", "fine", "fp8"))},
        providers,
    )
    sync_from_fake(day, tmp_path / "history.duckdb")
    nest = tmp_path / "a" / "b"
    nest.mkdir(parents=True)
    done = run_cli("site", "build", "--db", str(tmp_path / "history.duckdb"), "--out", str(nest / "site"))
    assert done.returncode == 0, done.stderr
    outside = sorted(
        p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.html") if nest / "site" not in p.parents
    )
    assert outside == []
    index = Page((nest / "site" / "index.html").read_text())
    assert {r["data-id"] for r in index.model_rows} == {GOOD, "acme/../../../climbed-model", "../index"}
