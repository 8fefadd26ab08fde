"""Helpers shared by the static site's tests (``test_site*.py``); not a test module.

Reading built pages (``Page``, ``resolve``, ``broken_links``), the hostile upstream day served by the fake
OpenRouter, and the node process that runs ``site/static/cost.js``. The fixtures built from these (``site``,
``cat``, ``site_at``, ``hostile``; each built once per run with ``helpers.built_once``) are in conftest.py.
"""

from __future__ import annotations

import json
import posixpath
import shutil
import subprocess
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from helpers import run_cli

from catalog.fake import FakeOpenRouter, MemorySource, memory_day, serve_in_thread
from catalog.settings import PROJECT_ROOT
from catalog.website.build import page_name

COST_JS = PROJECT_ROOT / "site" / "static" / "cost.js"
ATOM = "{http://www.w3.org/2005/Atom}"


# --- reading pages -----------------------------------------------------------------------------------------


class Page(HTMLParser):
    """One HTML page: every start tag with its attributes, the ids, the scripts and the #models body rows."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.text = text
        self.elements: list[tuple[str, dict[str, str | None]]] = []
        self.ids: set[str] = set()
        self.scripts: list[tuple[dict[str, str | None], str]] = []  # (attributes, raw text)
        self.model_rows: list[dict[str, str | None]] = []  # <tr> in <table id="models"><tbody>
        self.h1: list[str] = []
        self.time_datetimes: list[str | None] = []
        self._script: dict[str, str | None] | None = None
        self._script_text: list[str] = []
        self._in_models = self._in_tbody = self._in_h1 = False
        self.feed(text)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        self.elements.append((tag, values))
        if values.get("id"):
            self.ids.add(str(values["id"]))
        if tag == "script":
            self._script, self._script_text = values, []
        elif tag == "table" and values.get("id") == "models":
            self._in_models = True
        elif tag == "tbody" and self._in_models:
            self._in_tbody = True
        elif tag == "tr" and self._in_tbody:
            self.model_rows.append(values)
        elif tag == "h1":
            self._in_h1 = True
            self.h1.append("")
        elif tag == "time":
            self.time_datetimes.append(values.get("datetime"))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag == "script":
            self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag == "script" and self._script is not None:
            self.scripts.append((self._script, "".join(self._script_text)))
            self._script = None
        elif tag == "table":
            self._in_models = self._in_tbody = False
        elif tag == "tbody":
            self._in_tbody = False
        elif tag == "h1":
            self._in_h1 = False

    def handle_data(self, data: str) -> None:
        if self._script is not None:
            self._script_text.append(data)
        if self._in_h1:
            self.h1[-1] += data

    def refs(self) -> Iterator[tuple[str, str, str]]:
        """(tag, attribute, value) of every href and src."""
        for tag, values in self.elements:
            for name in ("href", "src"):
                value = values.get(name)
                if value is not None:
                    yield tag, name, value

    def price_data(self) -> dict[str, Any]:
        (raw,) = [text for attrs, text in self.scripts if attrs.get("id") == "price-data"]
        return json.loads(raw)


def read_pages(out: Path) -> dict[str, Page]:
    """Every .html page of a built site, by its path relative to the site root."""
    return {p.relative_to(out).as_posix(): Page(p.read_text(encoding="utf-8")) for p in sorted(out.rglob("*.html"))}


def resolve(page: str, ref: str) -> tuple[str, str] | None:
    """The file (relative to the site root) and fragment a link on ``page`` points at; None when external."""
    parts = urlsplit(ref)
    if parts.scheme or parts.netloc or ref.startswith("//"):
        return None
    path = unquote(parts.path)
    target = posixpath.normpath(posixpath.join(posixpath.dirname(page), path)) if path else page
    return target, parts.fragment


def broken_links(out: Path, pages: dict[str, Page]) -> list[str]:
    """Every relative href/src of the pages and the feeds whose file (or #fragment id) does not exist."""
    refs = [(name, ref) for name, page in pages.items() for _, _, ref in page.refs()]
    for path in sorted(out.rglob("*.atom")):
        feed = ET.parse(path).getroot()
        name = path.relative_to(out).as_posix()
        refs += [(name, str(link.get("href"))) for link in feed.iter(f"{ATOM}link")]
    broken = []
    for name, ref in refs:
        found = resolve(name, ref)
        if found is None:
            continue
        target, fragment = found
        if target.startswith("../") or target == ".." or not (out / target).is_file():
            broken.append(f"{name}: {ref} (no file {target})")
        elif fragment and (target not in pages or fragment not in pages[target].ids):
            broken.append(f"{name}: {ref} (no id {fragment!r} in {target})")
    return broken


def model_page(model_id: str) -> str:
    return f"models/{page_name(model_id)}.html"


def provider_page(slug: str) -> str:
    return f"providers/{page_name(slug)}.html"


def tree(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` with its content (to show a folder was left untouched)."""
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


# --- builds ------------------------------------------------------------------------------------------------


@dataclass
class Built:
    out: Path
    db: Path
    at: datetime
    report: dict[str, Any]
    pages: dict[str, Page] = field(default_factory=dict)


# --- hostile upstream text, synced over loopback ---------------------------------------------------------

XSS_NAME = "<script>alert(1)</script>"
XSS_DESCRIPTION = '"><img src=x onerror=alert(1)>'
SCRIPT_CLOSER = "</script><script>alert(2)</script>"
EVIL = "evil/xss:beta"  # ':' must not read as a URL scheme in a relative link
GOOD = "acme/good"


def v1_model(model_id: str, name: str, prompt: str, completion: str, description: str = "") -> dict[str, Any]:
    return {
        "id": model_id, "canonical_slug": model_id, "name": name, "description": description, "created": 1784000000,
        "context_length": 131072,
        "architecture": {"modality": "text->text", "input_modalities": ["text"], "output_modalities": ["text"],
                         "tokenizer": "Other", "instruct_type": None},
        "pricing": {"prompt": prompt, "completion": completion},
        "supported_parameters": ["max_tokens", "temperature"],
    }  # fmt: skip


def v1_listing(m: dict[str, Any], *endpoints: tuple[str, str, str]) -> dict[str, Any]:
    """The /endpoints object of ``m``: one endpoint per (provider name, tag, quantization)."""
    return {
        "id": m["id"], "name": m["name"], "created": m["created"], "description": m["description"],
        "architecture": m["architecture"],
        "endpoints": [
            {"name": f"{p} | {m['id']}", "model_id": m["id"], "model_name": m["name"], "context_length": 131072,
             "pricing": dict(m["pricing"]), "provider_name": p, "tag": tag, "quantization": quant,
             "max_completion_tokens": 8192, "supported_parameters": ["max_tokens", XSS_DESCRIPTION], "status": 0}
            for p, tag, quant in endpoints
        ],
    }  # fmt: skip


def hostile_day() -> Any:
    evil = v1_model(EVIL, XSS_NAME, "0.000001", "0.000002", XSS_DESCRIPTION)
    good = v1_model(GOOD, "Good model", "0.0000005", "0.0000015")
    providers = [
        {"name": "Evil<b>Corp</b>", "slug": "evilcorp", "privacy_policy_url": "javascript:alert(1)",
         "terms_of_service_url": " JavaScript:alert(1)", "status_page_url": "https://status.example/ok",
         "headquarters": XSS_DESCRIPTION, "datacenters": ["<i>x</i>"]},
        {"name": "Fine", "slug": "fine", "privacy_policy_url": 'https://fine.example/" onmouseover="alert(1)',
         "terms_of_service_url": "data:text/html,<script>alert(1)</script>", "status_page_url": None},
    ]  # fmt: skip
    endpoints = {
        EVIL: v1_listing(
            evil,
            ("Evil<b>Corp</b>", "evilcorp", "fp8"),
            (SCRIPT_CLOSER, f"evilcorp/{XSS_DESCRIPTION}", XSS_DESCRIPTION),
            (XSS_NAME, '"><svg onload=alert(3)>/x', "fp8"),
        ),
        GOOD: v1_listing(good, ("Fine", "fine", "fp8")),
    }
    return memory_day("2026-07-17", [evil, good], endpoints, providers)


def sync_from_fake(day: Any, db: Path) -> dict[str, Any]:
    """One ``catalog sync`` over loopback HTTP from a fake serving ``day``; its JSON summary."""
    if not db.exists():  # `sync` needs an existing file: creating one is `catalog init`'s
        assert run_cli("init", "--db", str(db)).returncode == 0
    with serve_in_thread(FakeOpenRouter(MemorySource([day]))) as url:
        done = run_cli("sync", "--base-url", url, "--db", str(db), "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@dataclass
class Hostile:
    out: Path
    db: Path
    stdout: str
    pages: dict[str, Page]


# --- cost.js, run by node ------------------------------------------------------------------------------

NODE_WORKER = r"""
const cost = require(process.argv[2]);
const readline = require("readline");
const lines = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
function handle(req) {
  switch (req.op) {
    case "rank": {
      const data = cost.decode(req.data);
      return req.profiles.map((p) => {
        const out = {};
        for (const model of data.models) {
          out[model.id] = cost.rank(model, p, data, req.filters || null).map((r) => [
            r.endpoint.key, cost.decimal(r.units, data.scale), cost.perMillion(r.units, p, data.scale)]);
        }
        return out;
      });
    }
    case "ranking": {
      // The full answer per model: ranks, exclusions with reasons, ties and the default-routing figures.
      const data = cost.decode(req.data);
      return req.profiles.map((p) => {
        const out = {};
        for (const model of data.models) {
          const r = cost.ranking(model, p, data, req.filters || null);
          const d = cost.defaultRouting(r.ranked);
          out[model.id] = {
            ranked: r.ranked.map((row) => [row.endpoint.key, cost.decimal(row.units, data.scale), row.rank]),
            excluded: r.excluded.map((e) => [e.endpoint.key, e.requirement, e.reason]),
            ties: r.ties,
            routing: cost.routing(r.ranked, p),
            default: d && {
              expected: cost.decimal(d.expected, data.scale), saving: cost.decimal(d.saving, data.scale),
              percent: cost.hundredths(d.percent), endpoints: d.endpoints,
              shares: d.shares.map((s) => cost.decimal(s, 4))
            }
          };
        }
        return out;
      });
    }
    case "part": return req.cases.map(([total, percent]) => cost.part(BigInt(total), percent).toString());
    case "decimal": return req.cases.map(([units, scale]) => cost.decimal(BigInt(units), scale));
    case "usd": return req.cases.map(([units, scale]) => cost.usd(BigInt(units), scale));
    case "units": return req.cases.map(([text, scale]) => cost.units(text, scale).toString());
    case "usage": return req.cases.map((p) => {
      const u = cost.usage(p);
      return Object.fromEntries(Object.entries(u).map(([k, v]) => [k, v.toString()]));
    });
    default: throw new Error("unknown op " + req.op);
  }
}
lines.on("line", (line) => {
  let answer;
  try { answer = { ok: handle(JSON.parse(line)) }; } catch (e) { answer = { error: String((e && e.stack) || e) }; }
  process.stdout.write(JSON.stringify(answer) + "\n");
});
"""


class Node:
    """One node process running cost.js for the whole module: a JSON request per line, an answer per line."""

    def __init__(self, folder: Path) -> None:
        node = shutil.which("node")
        assert node is not None
        script = folder / "cost_worker.js"
        script.write_text(NODE_WORKER)
        self.proc = subprocess.Popen(
            [node, str(script), str(COST_JS)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )

    def __call__(self, op: str, **payload: Any) -> Any:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps({"op": op, **payload}) + "\n")
        self.proc.stdin.flush()
        answer = json.loads(self.proc.stdout.readline())
        assert "error" not in answer, answer.get("error")
        return answer["ok"]

    def close(self) -> None:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.close()
        try:
            self.proc.wait(timeout=10)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            self.proc.stdout.close()
