"""One corpus of bad input through every CLI command and option, and every API route and parameter.

The commands are read from the click group (``catalog.cli.cli`` with the commands other packages register) and
the routes from the API's routers (checked against its OpenAPI document) and the service's own Starlette routes
(``SERVICE_PARAMS`` says what each reads: Starlette declares nothing), so a new command, option, route or query
parameter is in the run without being listed here: it only needs a *kind* (what it reads: a count, an instant, a
model id …), found from its click type or annotation, else from ``TEXT_KINDS`` / ``API_TEXT_KINDS`` by name. A
parameter without a kind, or a command without a baseline, fails ``test_every_command_option_and_route_is_reached``.

For each (command or route, parameter, value) one call is made with the baseline's other arguments, and:

* a value that is not valid for the parameter's kind is refused: exit 2 and exactly one ``error:`` line (click's
  usage lines may come before it) naming the option, argument or thing; through the API a 4xx in the one error
  shape (``catalog.api.errors``) whose one-line message names the parameter;
* a valid value is accepted: the command succeeds (exit 0, or reaches the work a stub stands in for), the route
  answers 2xx;
* never a traceback, never a 5xx.

Whether a value is valid is decided by the kind, independently of the product's own parsing (``valid``): a
number is ASCII digits within the parameter's bounds, an instant is one of the spelled-out good ones.

Slow or networked work (a sweep, a server, a site build, a chat call) is replaced by a stub that raises
``Reached``: the arguments were read and checked, which is what is under test. Each parameter gets two good values
and five bad ones of its kind's corpus, chosen by a rotation that differs per parameter; ``CATALOG_CORPUS_FULL=1``
runs the whole cross-product (a minute on one core).
"""

from __future__ import annotations

import os
import re
import shutil
import types
import typing
import urllib.parse
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal
from unittest import mock

import click
import polars as pl
import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from helpers import Ran, built_once, run_cli
from starlette.routing import Mount, Route

from catalog.api import ApiState, create_app
from catalog.api.routes import ROUTERS
from catalog.bundle import Bundle
from catalog.cli import cli, load_plugin_commands
from catalog.cost.query import CHEAPEST
from catalog.library import Catalog
from catalog.store.db import connect

FULL = os.environ.get("CATALOG_CORPUS_FULL") == "1"
SAMPLE = 5  # bad values per parameter (and two good ones) unless FULL
DAY = "2026-08-05"
MODEL = "deepseek/deepseek-v3.2"

HUGE = "1e999999999"  # overflows Decimal arithmetic and float parsing
LONG_DIGITS = "7" * 5001  # past Python's int-from-text digit limit
BIG = "99999999999999999999"  # past a 64-bit integer
LONG = "x" * 10_000
NUL = "a\x00b"
CONTROL = "\x1b[31mred\x07\r"
SURROGATE = "bad\udcff"  # a non-UTF-8 argv byte, as Python hands it to the program
TRAVERSAL = "../../../../etc/passwd"

# Values any number parameter is given; each is valid or not by ``valid`` (ASCII digits, within bounds).
NUMBERS = [HUGE, LONG_DIGITS, BIG, "nan", "inf", "-inf", "-1", "150", "²", "١", "", "1.5", LONG, NUL, "0x10", "1e3"]
# Values that are bad for every kind but free text, whatever the kind's own syntax.
ANY_BAD = ["", LONG, NUL, CONTROL, TRAVERSAL, "%00", "'; DROP TABLE snapshots; --"]


class Reached(Exception):
    """Raised by a stub standing in for slow or networked work: the arguments were accepted."""


@dataclass(frozen=True)
class Kind:
    """What a parameter reads. ``good``: values that must be accepted; ``bad``: values that must be refused;
    numbers decide by ``valid`` instead. ``words``: other ways an error line may name the parameter."""

    name: str
    good: tuple[str, ...] = ()
    bad: tuple[str, ...] = ()
    words: tuple[str, ...] = ()
    low: Decimal | None = None
    high: Decimal | None = None
    whole: bool = False  # numbers: only whole numbers

    @property
    def numeric(self) -> bool:
        return self.name in ("int", "float", "share", "money")

    def corpus(self) -> list[str]:
        if self.numeric:
            edges = [str(v) for v in (self.low, self.high) if v is not None and abs(v) < 10**13]
            return [*dict.fromkeys([*edges, *NUMBERS])]
        return [*self.good, *self.bad]

    def valid(self, value: str) -> bool:
        if self.numeric:
            pattern = r"-?[0-9]{1,30}" if self.whole else r"-?[0-9]{1,30}(\.[0-9]{1,30})?([eE][-+]?[0-9]{1,3})?"
            if not re.fullmatch(pattern, value):
                return False
            number = Decimal(value)
            return (self.low is None or number >= self.low) and (self.high is None or number <= self.high)
        return value in self.good


def number_kind(name: str, low: Any, high: Any, *, whole: bool) -> Kind:
    def exact(bound: Any) -> Decimal | None:
        return None if bound is None else Decimal(str(bound))

    return Kind(name, low=exact(low), high=exact(high), whole=whole)


INSTANT = Kind(
    "instant",
    good=(DAY, f"{DAY}T20:00:00Z", "2026-08-05T23:00:00+02:00"),  # after the day's snapshot
    bad=(
        "2026-13-01", "2026-02-30", "2026-08-05T25:00:00Z", "10000-01-01", "١٩٧٠-٠١-٠١", HUGE, BIG, "-1", "nan",
        "yesterday", *ANY_BAD,
    ),
    words=("time", "date"),
)  # fmt: skip
MODEL_ID = Kind(
    "model",
    good=(MODEL,),
    bad=("no-such/model", "deepseek", *ANY_BAD, "\u202emodel", "deepseek/deepseek-v3.2\x00"),
    words=("model",),
)
DURATION = Kind(
    "duration", good=("90s", "15m", "2h", "1d", "600"), bad=("0", "-1", "nan", "inf", HUGE, "١", "²", *ANY_BAD)
)
URL = Kind(
    "url", good=("http://127.0.0.1:9/api/v1",), bad=("ftp://x", "not a url", "http://", *ANY_BAD), words=("url",)
)
FAULTS = Kind(
    "faults",
    good=('{"fail_first": 1}',),
    bad=("[" * 200_000, "{", HUGE, '{"fail_first": ' + LONG_DIGITS + "}", '{"nope": 1}', *ANY_BAD),
    words=("fault", "json"),
)
HOST = Kind("host", good=("127.0.0.1",), bad=("999.999.999.999", "no such host.invalid", *ANY_BAD), words=("host",))
DAY_KIND = Kind("day", good=(DAY,), bad=("1999-01-01", "2026-13-01", *ANY_BAD), words=("day",))
GROUPS = Kind("groups", good=("model", "model,provider"), bad=("nope", "model,,x", *ANY_BAD), words=("--by",))
TEXT = Kind("text", good=("deep", LONG, CONTROL, TRAVERSAL, "ü漢字", "%00", "'; DROP TABLE x; --"), bad=())
# Values that may be taken or refused (free text with a NUL, non-UTF-8 bytes), but never crash anything.
EITHER = (NUL,)

# Files, made in the test's folder when named by a placeholder ``{name}``.
USAGE_FILE = Kind(
    "usage file",
    good=("{good_csv}",),
    bad=("{missing}", "{directory}", "{bad_quote}", "{nested}", "{long_integer}", "{byok_yes}", "{model_list}",
         "{not_utf8}", "", NUL, LONG),
    words=("usage file", "file", "usage column"),
)  # fmt: skip
BODY_FILE = Kind(
    "body file",
    good=("{good_body}",),
    bad=("{missing}", "{directory}", "{nested}", "{long_integer}", "{not_utf8}", "", NUL, LONG),
    words=("usage file", "file"),
)
OUT_FILE = Kind(
    "output file",
    good=("{out_csv}",),
    bad=("{out_in_missing_folder}", "{directory}", "{out_txt}", "{out_under_a_file}", "", NUL, LONG),
    words=("--out",),
)
SCHEMA_FILE = Kind(
    "JSON Schema file",
    good=("{good_schema}",),
    bad=("{missing}", "{directory}", "{nested}", "{long_integer}", "{not_utf8}", "{json_list}", "", NUL, LONG),
    words=("--json-schema", "file"),
)
OUT_HTML = Kind(
    "report file",
    good=("{out_html}",),
    bad=("{out_csv}", "{out_in_missing_folder}", "{directory}", "{out_under_a_file}", "", NUL, LONG),
    words=("--out",),
)
OUT_FOLDER = Kind("output folder", good=("{site_out}",), bad=("{good_csv}", NUL, LONG), words=("--out",))
# Not yet here: a file that is not a catalog ("{good_csv}") as --db, which DuckDB answers with a raw exception; the
# check at open of issue 16 (items 12-13, foreign files and the schema check) owns it.
DB = Kind("database", good=("{db}",), bad=("{directory}", NUL, LONG), words=("database", "--db"))
DB_READ = Kind("database", good=DB.good, bad=(*DB.bad, "{missing}"), words=DB.words)
CONFIG = Kind(
    "config file",
    good=("{empty_toml}",),
    bad=("{missing}", "{directory}", "{bad_toml}", "{not_utf8}", "{deep_toml}", NUL, LONG),
    words=("config",),
)
QUANTIZATION = Kind("quantization", good=("fp8", "bf16"), bad=("fp9", "fp 8", *ANY_BAD), words=("quantization",))
# The usage options of `catalog cost` and POST /v1/cost, against a file or body with the columns of ``good_csv`` /
# ``ROW`` (timestamp, model, prompt_tokens, completion_tokens): a shape that reads them, a column of them.
SHAPE = Kind(
    "usage shape",
    good=("contract", "openai-chat"),
    bad=("nope", "CONTRACT", " contract", "anthropic", *ANY_BAD),  # anthropic leaves prompt_tokens unread
    words=("format", "shape"),
)
MAPS = Kind(
    "column map",
    good=("prompt_tokens=prompt_tokens", "completion_tokens=completion_tokens"),
    bad=("nope", "=prompt_tokens", "prompt_tokens=", "prompt_tokens=nope", "no_such=prompt_tokens", *ANY_BAD),
    words=("map",),
)
IGNORED = Kind("column", good=("completion_tokens",), bad=("no_such", *ANY_BAD), words=("ignore", "column"))
STOP = Kind("stop sequence", good=("END", "\n\n", "ü漢字", CONTROL, TRAVERSAL, LONG), bad=("",), words=("stop",))
PROVIDER_NAMES = Kind(
    "provider names",
    good=("deepinfra", "groq,deepinfra", "Google AI Studio"),
    bad=("", ",", "groq,,deepinfra", CONTROL, NUL, "x" * 3000),
    words=("provider",),
)
REQUEST_OPTION = Kind(
    "request option",
    good=('user="me"', 'transforms=["middle-out"]', "top_k=3"),
    bad=("nope", "=1", "user=me", "temprature=1", "temperature=5", "top_k=1.5", "[" * 200_000, "user=" + "[" * 200_000,
         "seed=" + LONG_DIGITS, "temperature=" + HUGE, "provider=1", *ANY_BAD),
    words=("option",),
)  # fmt: skip
TITLE = Kind("app name", good=("My App", "deep"), bad=("ü漢字", CONTROL, NUL, LONG, "", " "), words=("title",))
GENERATION_ID = Kind(
    "generation id", good=("gen-1785000000-AbCdEf012345",), bad=("no such id", *ANY_BAD), words=("generation id",)
)
MAX_CAP = 10**15 - 1  # a price cap at or past 10**15 USD caps nothing
BOOL = Kind("flag", good=("true", "false", "1", "0"), bad=("2", "maybe", "", LONG, NUL, HUGE))

# Options read as free text by click, by name: what they really read.
TEXT_KINDS: dict[str, Kind] = {
    "as_of": INSTANT,
    "since": INSTANT,
    "until": INSTANT,
    # replay --from / --to: good times are ones with a recorded day on each side (past the newest there is nothing
    # to load, a refusal)
    "start": Kind("instant", good=(DAY, f"{DAY}T10:00:00Z", f"{DAY}T12:00:00+02:00"), bad=INSTANT.bad),
    "end": Kind("instant", good=(DAY, f"{DAY}T10:00:00Z", f"{DAY}T12:00:00+02:00"), bad=INSTANT.bad),
    "at": INSTANT,
    "model": MODEL_ID,
    "search": TEXT,
    "provider": TEXT,
    "deadline": DURATION,
    "base_url": URL,
    "faults_json": FAULTS,
    "host": HOST,
    "day": DAY_KIND,
    "by": GROUPS,
    "prompt": TEXT,
    "sys_msg": TEXT,
    "cost.shape": SHAPE,
    "cost.maps": MAPS,
    "cost.ignored": IGNORED,
    "reconcile.shape": SHAPE,
    "reconcile.maps": MAPS,
    "reconcile.ignored": IGNORED,
    "stop": STOP,
    "provider_order": PROVIDER_NAMES,
    "provider_only": PROVIDER_NAMES,
    "provider_ignore": PROVIDER_NAMES,
    "raw_options": REQUEST_OPTION,
    "referer": URL,
    "title": TITLE,
    "generation_id": GENERATION_ID,
    # author/model (a provider: before it, a :suffix after it), else sent upstream as it is: OpenRouter says which
    # ids it serves (a failed call, exit 1)
    "gen.model": Kind(
        "model id",
        good=("echo/echo", "openai/gpt-4o:free", "groq:moonshotai/kimi-k2-0905", "deepseek/deepseek-v3.2"),
        bad=("deepseek", "/model", "author/", "deep\x1bseek/x", "'; DROP TABLE x; --", "ü漢字", *ANY_BAD),
        words=("model",),
    ),
    # site report --models: ids separated by commas (an unknown, repeated or missing one is refused)
    "site report.models": Kind(
        "model ids",
        good=(MODEL, f" {MODEL} ,"),
        bad=(*MODEL_ID.bad, ",", f"{MODEL},{MODEL}", ",".join([MODEL] * 9)),
        words=("model",),
    ),
    "models.kind": Kind("kind", good=("text", "embeddings", "music"), bad=("nope", " text", *ANY_BAD), words=("kind",)),
    # cheapest --kind needs the counts of that kind: alone (the baseline has none) every value is refused
    "cheapest.kind": Kind("kind", bad=("nope", "text", "video", *ANY_BAD), words=("kind",)),
    **{
        # the counts and variant of a non-text workload: refused without --kind (never ignored), bad counts too
        f"cheapest.{name}": Kind(name, bad=("8", "-1", "abc", "nan", *ANY_BAD), words=(name,))
        for name in ("seconds", "characters", "minutes", "searches", "songs", "megapixels", "resolution", "variant")
    },
    "price.provider": Kind(
        "endpoint", bad=("no-such-provider", TRAVERSAL, CONTROL, LONG, "%00"), words=("endpoint", "provider")
    ),
}
PATH_KINDS: dict[str, Kind] = {
    "usage_file": USAGE_FILE,
    "files": BODY_FILE,
    "out": OUT_FILE,
    "site build.out": OUT_FOLDER,
    "site report.out": OUT_HTML,
    "db": DB,
    "config_file": CONFIG,
    "schema_file": SCHEMA_FILE,
}
READERS = {"models", "endpoints", "history", "changes", "snapshots", "cost", "cheapest", "price", "reconcile"}
READERS |= {"status", "jobs list", "jobs history", "serve", "site build", "site report"}


def choice_kind(choices: Any) -> Kind:
    good = tuple(str(c) for c in choices)
    return Kind("choice", good=good, bad=(good[0].upper() + "X", " " + good[0], *ANY_BAD))


def cli_kind(command: str, param: click.Parameter) -> Kind | None:
    """What ``param`` of ``command`` reads; ``None``: nobody said (the coverage test names it)."""
    kind = param.type
    # site report takes the workload and filters of cheapest (one option definition)
    cheapest = {p.name: p for p in CHEAPEST} if command in ("cheapest", "site report") else {}
    if isinstance(kind, click.Choice):
        return choice_kind(kind.choices)
    if isinstance(kind, click.types.IntParamType):
        return number_kind("int", getattr(kind, "min", None), getattr(kind, "max", None), whole=True)
    if isinstance(kind, click.types.FloatParamType):
        return number_kind("float", getattr(kind, "min", None), getattr(kind, "max", None), whole=False)
    if isinstance(kind, click.Path):
        found = PATH_KINDS.get(f"{command}.{param.name}") or PATH_KINDS.get(param.name or "")
        return DB_READ if found is DB and command in READERS else found
    if param.name in cheapest:
        spec = cheapest[param.name]
        if spec.kind == "share":
            return number_kind("share", 0, 1, whole=False)
        if spec.kind == "money":
            return number_kind("money", 0, MAX_CAP, whole=False)
        if param.name == "quantization":
            return QUANTIZATION
        if spec.kind == "names":
            return TEXT
    return TEXT_KINDS.get(f"{command}.{param.name}") or TEXT_KINDS.get(param.name or "")


# --- the commands -------------------------------------------------------------------------------------------


def commands() -> dict[str, click.Command]:
    """Every leaf command by its path (``site build``), the plugin commands included."""
    load_plugin_commands()
    found: dict[str, click.Command] = {}

    def walk(prefix: str, group: click.Group) -> None:
        for name, command in group.commands.items():
            path = f"{prefix} {name}".strip()
            if isinstance(command, click.Group):
                walk(path, command)
            else:
                found[path] = command

    walk("", cli)
    return found


def _stub(target: str) -> Any:
    def reached(*_args: Any, **_kwargs: Any) -> None:
        raise Reached(target)

    return mock.patch(target, reached)


# A valid call of each command (its parameters by name) and what stands in for its slow or networked work.
FAKE_URL = "http://127.0.0.1:9/api/v1"
BASELINES: dict[str, tuple[dict[str, Any], tuple[str, ...]]] = {
    "models": ({"limit": "2", "as_json": True}, ()),
    "endpoints": ({"model": MODEL, "as_json": True}, ()),
    "history": ({"model": MODEL, "as_json": True}, ()),
    "changes": ({"since": "2026-08-01", "as_json": True}, ()),
    "snapshots": ({"as_json": True}, ()),
    "cost": ({"usage_file": "{good_csv}", "as_json": True}, ()),
    "cheapest": ({"model": MODEL, "as_json": True}, ()),
    "price": ({"model": MODEL, "as_json": True}, ()),
    "reconcile": ({"files": ("{good_csv}",), "as_json": True}, ()),  # a usage file: the column options apply
    "sync": ({"base_url": FAKE_URL}, ("catalog.pipeline.sync_once",)),
    "replay": ({}, ("catalog.replay.replay", "catalog.replay.load_bundle")),
    "rederive": ({}, ("catalog.pipeline.rederive",)),
    "serve": ({"port": "0"}, ("uvicorn.Server.run",)),
    "fake-openrouter": ({"port": "0"}, ("uvicorn.Server.run",)),
    "site build": ({"out": "{site_out}"}, ("catalog.website.build.build_site",)),
    "site report": ({"models": MODEL, "out": "{out_html}"}, ()),
    # The request is built and checked (every option), then the call itself is the stub.
    "gen": ({"prompt": "hello", "model": "echo/echo", "base_url": FAKE_URL}, ("catalog.client.Client._generate",)),
    "init": ({}, ()),  # the test's history: "is a catalog", nothing created
    "account": ({"base_url": FAKE_URL}, ("catalog.client.Client._send",)),
    "generation": (
        {"generation_id": "gen-1785000000-AbCdEf012345", "base_url": FAKE_URL},
        ("catalog.client.Client._send",),
    ),
    "up": ({"port": "0"}, ("jobs.service.connect",)),  # after the address is bound
    "status": ({"as_json": True}, ()),
    "jobs run": ({"name": "snapshot_catalog", "source": "replay"}, ("jobs.runner.run_job", "jobs.cli.run_dry")),
    "jobs list": ({"as_json": True}, ()),
    "jobs history": ({"as_json": True}, ()),
}
# Parameters that read no value from outside.
VALUELESS = {"as_json"}


def argv(path: str, command: click.Command, values: dict[str, Any]) -> list[str]:
    """``catalog PATH`` with ``values``: options as ``--name=value`` (a value may start with a dash), then
    ``--`` and the arguments."""
    options: list[str] = []
    arguments: list[str] = []
    for param in command.params:
        if param.name not in values:
            continue
        value = values[param.name]
        items = value if isinstance(value, tuple) else (value,)
        if isinstance(param, click.Argument):
            arguments += items
        elif isinstance(param, click.Option) and param.is_flag:
            options += [param.opts[-1]] if value else []
        else:
            long = max(param.opts, key=len)
            options += [f"{long}={item}" for item in items]
    return [*path.split(), *options, "--", *arguments]


@dataclass
class Files:
    """The placeholder files of one test's folder, made on first use."""

    folder: Path
    db: Path
    made: dict[str, Path] = field(default_factory=dict)
    catalog: Catalog | None = None

    def path(self, name: str) -> Path:
        if name == "db":
            return self.db
        if name not in self.made:
            self.made[name] = self._make(name)
        return self.made[name]

    def _make(self, name: str) -> Path:
        path = self.folder / name
        good_row = f"timestamp,model,prompt_tokens,completion_tokens\n{DAY}T20:00:00Z,{MODEL},10,1\n"
        writes: dict[str, str | bytes] = {
            "good_csv": good_row,
            "good_body": f'{{"id": "x", "model": "{MODEL}", "created": 1785000000, '
            '"usage": {"prompt_tokens": 5, "completion_tokens": 1, "cost": 0.00001}}',
            "bad_quote": f'model,prompt_tokens\n"{MODEL},1\nx,"y,2\n',
            "nested": "[" * 200_000 + "]" * 200_000,
            "long_integer": '[{"model": "m", "prompt_tokens": ' + LONG_DIGITS + "}]",
            "byok_yes": f"model,prompt_tokens,is_byok\n{MODEL},1,yes\n",
            "not_utf8": b"model,prompt_tokens\n\xff\xfe,1\n",
            "good_schema": '{"type": "object", "properties": {"answer": {"type": "string"}}}',
            "json_list": '[{"type": "object"}]',
            "empty_toml": "",
            "bad_toml": "[jobs\nx = ",
            "deep_toml": "x = " + "[" * 100_000,
        }
        suffix = {"good_body": ".json", "nested": ".json", "long_integer": ".json", "good_schema": ".json"}
        suffix |= {"json_list": ".json"}
        suffix |= {"empty_toml": ".toml", "bad_toml": ".toml", "deep_toml": ".toml", "model_list": ".parquet"}
        path = path.with_suffix(suffix.get(name, ".csv"))
        if name in writes:
            text = writes[name]
            path.write_bytes(text if isinstance(text, bytes) else text.encode())
        elif name == "model_list":
            pl.DataFrame({"model": [[MODEL]], "prompt_tokens": [1]}).write_parquet(path)
        elif name == "directory":
            path = self.folder / "a-directory"
            path.mkdir(exist_ok=True)
        elif name == "missing":
            path = self.folder / "no-such-file.csv"
        elif name == "out_csv":
            path = self.folder / "out" / "priced.csv"
            path.parent.mkdir(exist_ok=True)
        elif name == "out_html":
            path = self.folder / "report.html"
        elif name == "out_txt":
            path = self.folder / "priced.txt"
        elif name == "out_in_missing_folder":
            path = self.folder / "no" / "such" / "folder" / "priced.csv"
        elif name == "out_under_a_file":
            path = self.path("good_csv") / "priced.csv"
        elif name == "site_out":
            path = self.folder / "site"
        else:
            raise AssertionError(f"no such placeholder file: {name}")
        return path

    def open_catalog(self, path: Any = None, **kwargs: Any) -> Catalog:
        """``Catalog.open``, but the test's own history is opened once and kept open for all its calls (its price
        table is built once rather than per call: the run's time is the point); any other file as usual."""
        if path is not None and Path(path) != self.db:
            return OPEN_CATALOG(path, **kwargs)
        if self.catalog is None:
            self.catalog = OPEN_CATALOG(self.db, **kwargs)
            self.catalog.close = lambda: None  # type: ignore[method-assign]
        return self.catalog

    def fill(self, value: Any) -> Any:
        if isinstance(value, tuple):
            return tuple(self.fill(v) for v in value)
        if isinstance(value, str) and re.fullmatch(r"\{[a-z_]+\}", value):
            return str(self.path(value[1:-1]))
        return value


def sample(values: list[str], key: str, kind: Kind) -> list[str]:
    """The values one parameter gets: all of them in a full run; else two of the kind's good values and a slice
    of the bad ones, both rotating with the parameter, so the parameters of a kind share out the whole corpus."""
    if FULL:
        return values
    good = [v for v in values if expected(kind, v) != "bad"]
    bad = [v for v in values if expected(kind, v) == "bad"]
    start = zlib.crc32(key.encode())
    return [*_turn(good, start, 2), *_turn(bad, start, SAMPLE)]


def _turn(values: list[str], start: int, count: int) -> list[str]:
    if len(values) <= count:
        return values
    return [values[(start + i) % len(values)] for i in range(count)]


def error_lines(ran: Ran) -> list[str]:
    return [line for line in ran.stderr.splitlines() if line.lower().startswith("error:")]


def names_parameter(line: str, param: click.Parameter, kind: Kind, value: str) -> bool:
    name = param.name or ""
    shown = [*param.opts, name, name.replace("_", " "), name.replace("_", "-"), param.human_readable_name]
    shown += kind.words
    lowered = line.lower()
    # click names a parameter as it shows it ("Invalid value for '{a|b}'"); the group names a raw argument by its
    # position (not UTF-8, a NUL).
    if "invalid value for '" in lowered or re.search(r"argument \d+ \(", line):
        return True
    return any(word and word.lower() in lowered for word in shown) or (len(value) > 3 and value[:40] in line)


def run(command_path: str, command: click.Command, values: dict[str, Any], files: Files, stubs: tuple[str, ...]) -> Ran:
    args = argv(command_path, command, values)
    db = files.db
    with _patches(stubs), mock.patch.object(Catalog, "open", files.open_catalog):
        try:
            return run_cli(*args, env={"CATALOG_DB": str(db), "CATALOG_SITE_DIR": None})
        except Reached:
            return Ran(tuple(args), 0, "", "")
        except Exception as exc:  # what escaped the console entry point: the user would see its traceback
            return Ran(tuple(args), 1, "", f"Traceback (escaped): {type(exc).__name__}: {str(exc)[:300]}")


@contextmanager
def _patches(targets: tuple[str, ...]) -> Iterator[None]:
    patches = [_stub(t) for t in targets]
    for p in patches:
        p.start()
    try:
        yield
    finally:
        for p in patches:
            p.stop()


# --- the history every call reads: one recorded day, stored once per run --------------------------------------


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from catalog.replay import load_bundle

    def make(folder: Path) -> None:
        bundle = Bundle()
        con = connect(folder / "history.duckdb")
        try:
            load_bundle(con, bundle, [s for s in bundle.snapshots("full") if s.id == DAY])
        finally:
            con.close()

    return built_once(tmp_path_factory, "corpus-one-day", make) / "history.duckdb"


OPEN_CATALOG = Catalog.open


@pytest.fixture
def files(history: Path, tmp_path: Path) -> Iterator[Files]:
    """This test's folder, with a private copy of the history (the writers open it for writing)."""
    db = tmp_path / "history.duckdb"
    shutil.copyfile(history, db)
    made = Files(tmp_path, db)
    yield made
    if made.catalog is not None:
        Catalog.close(made.catalog)


def test_every_command_option_and_route_is_reached(api_routes: dict[str, Any]) -> None:
    """A new command needs a baseline, a new option a kind: otherwise it would be left out of the corpus."""
    found = commands()
    assert set(found) == set(BASELINES), "commands without a baseline (or baselines of no command)"
    unkinded = [
        f"{path} {param.name}"
        for path, command in found.items()
        for param in command.params
        if param.name not in VALUELESS
        and not (isinstance(param, click.Option) and param.is_flag)
        and cli_kind(path, param) is None
    ]
    assert unkinded == [], "parameters with no kind: add them to TEXT_KINDS or PATH_KINDS"
    assert api_routes, "no API route found"
    unkinded_api = [
        f"{route} {name}" for route, params in api_routes.items() for name, k in params.items() if k is None
    ]
    assert unkinded_api == [], "query or path parameters with no kind: add them to API_TEXT_KINDS"


@pytest.mark.parametrize("command_path", sorted(BASELINES))
def test_every_option_refuses_bad_values_in_one_line_and_takes_good_ones(command_path: str, files: Files) -> None:
    command = commands()[command_path]
    baseline, stubs = BASELINES[command_path]
    base = {name: files.fill(value) for name, value in baseline.items()}
    ran = run(command_path, command, base, files, stubs)
    assert ran.returncode == 0, f"the baseline fails: {ran}"
    problems: list[str] = []
    for param in command.params:
        if param.name in VALUELESS or (isinstance(param, click.Option) and param.is_flag):
            continue
        kind = cli_kind(command_path, param)
        assert kind is not None, param.name
        values = sample(
            [*kind.corpus(), *(EITHER if kind is TEXT else ()), SURROGATE], f"{command_path}.{param.name}", kind
        )
        for value in dict.fromkeys(values):
            filled = files.fill(value)
            asked = {**base, param.name: (filled,) if param.nargs == -1 or param.multiple else filled}
            ran = run(command_path, command, asked, files, stubs)
            problem = judge(ran, param, kind, value)
            if problem:
                problems.append(f"{command_path} {param.name}={value[:60]!r}: {problem}")
    assert problems == [], "\n".join(problems)


def expected(kind: Kind, value: str) -> Literal["good", "bad", "either"]:
    """Whether ``value`` must be taken or refused, decided by the kind, not by the product's own parsing."""
    if value == SURROGATE:
        return "bad"  # no command can store, print or look up text that is not Unicode
    if kind.numeric:
        return "good" if kind.valid(value) else "bad"
    if value in kind.good:
        return "good"
    if kind is TEXT and value in EITHER:
        return "either"
    return "bad"


def judge(ran: Ran, param: click.Parameter, kind: Kind, value: str) -> str | None:
    """What is wrong with how a command took ``value`` (``None``: nothing)."""
    output = ran.stdout + ran.stderr
    if "Traceback" in output or ran.returncode not in (0, 2):
        return f"exit {ran.returncode}: {output[-600:]}"
    want = expected(kind, value)
    if ran.returncode == 0:
        return (
            f"an invalid value accepted (exit 0): {ran.stdout[:150]!r} {ran.stderr[:150]!r}" if want == "bad" else None
        )
    lines = error_lines(ran)
    if len(lines) != 1:
        return f"exit 2 with {len(lines)} error lines: {ran.stderr[-600:]!r}"
    before, _, after = ran.stderr.partition(lines[0])
    # Before the error line only click's usage block (its "Usage:" line, wrapped, and "Try ..."); nothing after.
    others = [line for line in before.splitlines() if line.strip() and not line.startswith(("Usage:", "Try '", " "))]
    if after.strip() or others:
        return f"more than the error line on stderr: {others[:3]!r}"
    if not names_parameter(lines[0], param, kind, value):
        return f"the error does not name the parameter: {lines[0][:300]!r}"
    if want == "good":
        return f"a valid value refused: {lines[0][:300]!r}"
    return None


# --- the API: the query routes and the service's own, as `catalog up` serves them --------------------------------

TOKEN = "corpus-token"
JOB = Kind("job", good=("snapshot_catalog",), bad=("no_such_job", "SNAPSHOT_CATALOG", *ANY_BAD), words=("job",))
AUTHOR = Kind("model author", good=("deepseek",), bad=("no-such-author", *ANY_BAD), words=("model",))
SLUG = Kind("model slug", good=("deepseek-v3.2",), bad=("no-such-model", *ANY_BAD), words=("model",))
PROVIDER = Kind("provider", good=("PROVIDER",), bad=("no-such-provider", *ANY_BAD), words=("provider",))
# strict=true answers 503 while the history is stale (a one-day history is): only the lenient spellings are good.
STRICT = Kind("strict", good=("false", "0", "no"), bad=("maybe", "2", "on", LONG, CONTROL), words=("strict",))
API_TEXT_KINDS: dict[str, Kind] = {
    "as_of": INSTANT,
    "since": INSTANT,
    "until": INSTANT,
    "from": INSTANT,
    "to": INSTANT,
    "at": INSTANT,
    "model": MODEL_ID,
    "q": TEXT,
    "modality": TEXT,
    "parameter": TEXT,
    "provider": TEXT,
    "author": AUTHOR,
    "slug": SLUG,
    "/v1/providers/{slug}.slug": PROVIDER,
    "format": SHAPE,
    "map": MAPS,
    "ignore_column": IGNORED,
    # /v1/cheapest?kind=…: a non-text workload. The baseline names no kind and no count, so, as on the CLI, a
    # kind alone has nothing to price and a count or variant without a kind is refused (never ignored).
    "/v1/cheapest.kind": Kind("kind", bad=("nope", "text", "video", *ANY_BAD), words=("kind",)),
    **{
        f"/v1/cheapest.{name}": Kind(name, bad=("8", "-1", "abc", "1080p", *ANY_BAD), words=(name,))
        for name in ("seconds", "characters", "minutes", "searches", "songs", "megapixels", "resolution", "variant")
    },
}
# The service's own routes (Starlette: nothing to introspect but the paths) and what each reads.
SERVICE_PARAMS: dict[str, dict[str, Kind]] = {
    "GET /": {},
    "GET /service": {},
    "GET /health": {"strict": STRICT},
    "GET /jobs/runs": {"job": JOB, "limit": number_kind("int", 1, 10_000, whole=True)},
    "POST /jobs/{name}/run": {"name": JOB},
}
API_BASELINE: dict[str, dict[str, str]] = {
    "GET /v1/changes": {"until": "2026-08-06"},  # after every good since (the default is the newest snapshot)
    "GET /v1/cheapest": {"model": MODEL},
    "GET /v1/models/{author}/{slug}": {"author": "deepseek", "slug": "deepseek-v3.2"},
    "GET /v1/models/{author}/{slug}/history": {"author": "deepseek", "slug": "deepseek-v3.2"},
    "GET /v1/providers/{slug}": {"slug": "PROVIDER"},
    "POST /jobs/{name}/run": {"name": "snapshot_catalog"},
}


def _plain_type(annotation: Any) -> Any:
    """``X`` from ``X | None``; a ``Literal`` or ``list[str]`` as it is."""
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        (inner,) = [a for a in typing.get_args(annotation) if a is not type(None)]
        return inner
    return annotation


def _bounds(field_info: Any) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for item in getattr(field_info, "metadata", ()):
        for name in ("ge", "le", "max_length"):
            if getattr(item, name, None) is not None:
                found[name] = getattr(item, name)
    return found


def api_kind(route_key: str, name: str, annotation: Any, field_info: Any) -> Kind | None:
    kind_of = _plain_type(annotation)
    bounds = _bounds(field_info)
    shares = {p.name: p.kind for p in CHEAPEST}
    if kind_of is bool:
        return BOOL
    if kind_of is int:
        return number_kind("int", bounds.get("ge"), bounds.get("le"), whole=True)
    if kind_of is float:
        return number_kind("float", bounds.get("ge"), bounds.get("le"), whole=False)
    if typing.get_origin(kind_of) is Literal:
        return choice_kind(typing.get_args(kind_of))
    if route_key == "GET /v1/cheapest" and shares.get(name) == "share":
        return number_kind("share", 0, 1, whole=False)
    if route_key == "GET /v1/cheapest" and shares.get(name) == "money":
        return number_kind("money", 0, MAX_CAP, whole=False)
    if route_key == "GET /v1/cheapest" and name == "quantization":
        return QUANTIZATION
    found = API_TEXT_KINDS.get(f"{route_key.split()[1]}.{name}") or API_TEXT_KINDS.get(name)
    if typing.get_origin(kind_of) is list and found is None:
        found = TEXT
    if found is not None and "max_length" in bounds:  # longer text is refused by the declared bound
        fits = tuple(v for v in found.good if len(v) <= bounds["max_length"])
        found = Kind(
            found.name, good=fits, bad=(*found.bad, *(v for v in found.good if v not in fits)), words=found.words
        )
    return found


def api_parameters(app: Any) -> dict[str, dict[str, Kind | None]]:
    """Every FastAPI route's query and path parameters (its dependencies' included), with their kinds: the
    routers' routes (FastAPI includes a router lazily, so ``app.routes`` holds a stand-in for each) and the app's
    own. That nothing published is missed is checked against the OpenAPI document."""
    found: dict[str, dict[str, Kind | None]] = {}
    for route in [*(r for router in ROUTERS for r in router.routes), *app.routes]:
        if not isinstance(route, APIRoute) or not route.include_in_schema:
            continue
        for method in sorted(route.methods):
            key = f"{method} {route.path}"
            params: dict[str, Kind | None] = {}
            pending = [route.dependant]
            while pending:
                dependant = pending.pop()
                for field_ in [*dependant.query_params, *dependant.path_params]:
                    params[field_.alias] = api_kind(key, field_.alias, field_.field_info.annotation, field_.field_info)
                pending += dependant.dependencies
            found[key] = params
    published = {f"{m.upper()} {path}" for path, ops in app.openapi()["paths"].items() for m in ops}
    assert published <= set(found), f"published routes not reached: {sorted(published - set(found))}"
    return found


@dataclass
class Service:
    client: TestClient
    routes: dict[str, dict[str, Kind | None]]
    provider: str


@pytest.fixture(scope="module")
def service(history: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """The app `catalog up` serves (its routes, the query API under them) over a private copy of the history."""
    from jobs.app import build_app
    from jobs.config import load_config
    from jobs.context import JobContext
    from jobs.scheduler import build_scheduler
    from jobs.sources import make_source

    db = tmp_path_factory.mktemp("corpus-api") / "history.duckdb"
    shutil.copyfile(history, db)
    con = connect(db)
    source = make_source("replay")
    try:
        ctx = JobContext(con=con, db=db, config=load_config(None, source="replay"), source=source)
        api = create_app(ApiState(con.cursor(), db))
        app = build_app(
            ctx, build_scheduler(ctx), url="http://testserver", started_at=datetime.now(UTC), token=TOKEN, api=api
        )
        routes = api_parameters(api)
        for route in app.routes:
            if isinstance(route, Route) and not isinstance(route, Mount):
                for method in sorted((route.methods or {"GET"}) - {"HEAD"}):
                    routes[f"{method} {route.path}"] = dict(SERVICE_PARAMS.get(f"{method} {route.path}", {"?": None}))
        provider = con.execute("SELECT slug FROM provider_versions ORDER BY slug LIMIT 1").fetchone()
        assert provider is not None
        with TestClient(app, raise_server_exceptions=False) as client:
            yield Service(client, routes, provider[0])
    finally:
        source.close()
        con.close()


@pytest.fixture(scope="module")
def api_routes(service: Service) -> dict[str, dict[str, Kind | None]]:
    return service.routes


def _quoted(value: str) -> str:
    if value == SURROGATE:
        return "bad%FF"  # the bytes a client sends that are not UTF-8
    return urllib.parse.quote(value, safe="")


def call(service: Service, route_key: str, values: dict[str, str]) -> Any:
    method, path = route_key.split(" ", 1)
    query = []
    for name, value in values.items():
        value = service.provider if value == "PROVIDER" else value
        if "{" + name + "}" in path:
            path = path.replace("{" + name + "}", _quoted(value))
        else:
            query.append(f"{urllib.parse.quote(name)}={_quoted(value)}")
    url = path + ("?" + "&".join(query) if query else "")
    if method == "POST":
        headers = {"Authorization": f"Bearer {TOKEN}"} if path.startswith("/jobs/") else {}
        # /v1/cost: one row, so that its options (format, map, ignore_column) have columns to read
        body = b"[]" if path.startswith("/jobs/") else f"[{ROW}]".encode()
        return service.client.post(url, content=body, headers=headers)
    return service.client.get(url)


def api_judge(response: Any, name: str, kind: Kind, value: str) -> str | None:
    status = response.status_code
    if status >= 500:
        return f"{status}: {response.text[:300]}"
    want = expected(kind, value)
    if status < 400:
        return f"an invalid value accepted ({status}): {response.text[:150]!r}" if want == "bad" else None
    try:
        body = response.json()
    except ValueError:
        return f"{status} that is not JSON: {response.text[:200]!r}"
    error = body.get("error") if isinstance(body, dict) else None
    if set(body) != {"error"} or not isinstance(error, dict) or set(error) != {"code", "message", "detail"}:
        return f"{status} not in the one error shape: {response.text[:200]!r}"
    message = error["message"]
    if not isinstance(message, str) or "\n" in message or not message:
        return f"{status} message is not one line: {message!r}"
    routed_away = status == 404 and error["code"] == "not_found" and ("/" in value or value in ("", ".."))
    lowered = message.lower()
    names = (name, name.replace("_", "-"), *kind.words)
    if not routed_away and not any(w.lower() in lowered for w in names) and value[:40] not in message:
        return f"{status} does not name {name}: {message[:200]!r}"
    if want == "good":
        return f"a valid value refused ({status}): {message[:200]!r}"
    return None


def test_every_api_parameter_refuses_bad_values_in_the_one_error_shape(service: Service) -> None:
    problems: list[str] = []
    for route_key, params in sorted(service.routes.items()):
        base = API_BASELINE.get(route_key, {})
        baseline = call(service, route_key, base)
        if baseline.status_code >= 300 and not route_key.startswith("POST /jobs/"):
            problems.append(f"{route_key} baseline: {baseline.status_code} {baseline.text[:200]}")
        for name, kind in params.items():
            assert kind is not None, (route_key, name)
            values = sample([*kind.corpus(), *(EITHER if kind is TEXT else ()), SURROGATE], f"{route_key}.{name}", kind)
            for value in dict.fromkeys(values):
                if route_key.startswith("POST /jobs/") and expected(kind, value) == "good":
                    continue  # would ask the (unstarted) scheduler for a sweep: only the refusals are asked
                if value == "" and "{" + name + "}" in route_key:
                    continue  # an empty path segment is another path (/v1/providers/ is the list), not a value
                try:
                    response = call(service, route_key, {**base, name: value})
                except Exception as exc:  # escaped the app's error handlers
                    problems.append(f"{route_key} {name}={value[:60]!r}: {type(exc).__name__}: {str(exc)[:200]}")
                    continue
                problem = api_judge(response, name, kind, value)
                if problem:
                    problems.append(f"{route_key} {name}={value[:60]!r}: {problem}")
    assert problems == [], "\n".join(problems)


# --- bodies: every route that reads one ------------------------------------------------------------------------

ROW = f'{{"model": "{MODEL}", "timestamp": "{DAY}T20:00:00Z", "prompt_tokens": 10, "completion_tokens": 1}}'
# (body, whether the request is refused whole); a body that is taken may still hold rows that are refused: those
# come back with a status other than ok, never priced.
BODIES: list[tuple[str, bytes, bool]] = [
    ("not JSON", b"{model: x", True),
    ("empty", b"", True),
    ("nested", b"[" * 200_000 + b"]" * 200_000, True),
    ("long integer", b'[{"model": "m", "prompt_tokens": ' + LONG_DIGITS.encode() + b"}]", True),
    ("NaN", b'[{"model": "m", "prompt_tokens": NaN}]', True),
    ("not UTF-8", b'[{"model": "\xff\xfe"}]', True),
    ("lone surrogate", b'[{"model": "\\udcff"}]', True),
    ("an object", ROW.encode(), True),
    ("a string", b'"rows"', True),
    ("too many rows", ("[" + ",".join(["{}"] * 10_001) + "]").encode(), True),
    ("too large", b"[" + b" " * 1_100_000 + b"]", True),
    ("huge count", ROW.replace("10", HUGE, 1).encode().join((b"[", b"]")), False),
    ("huge created", f'[{{"id": "x", "model": "{MODEL}", "created": {HUGE}, "usage": {{}}}}]'.encode(), False),
    ("year 248073", ROW.replace(f'"{DAY}T20:00:00Z"', "99999999999999").encode().join((b"[", b"]")), False),
    ("unknown model", ROW.replace(MODEL, "no-such/model").encode().join((b"[", b"]")), False),
    ("not an item", b'[1, null, [], "x"]', False),
]


def test_every_body_route_refuses_bad_bodies_in_the_one_error_shape(service: Service) -> None:
    posts = sorted(key for key in service.routes if key.startswith("POST /v1/"))
    assert posts == ["POST /v1/cost"], "a new route reading a body: give it a corpus here"
    good = service.client.post("/v1/cost", content=f"[{ROW}]".encode())
    assert good.status_code == 200 and [r["status"] for r in good.json()["rows"]] == ["ok"], good.text
    problems: list[str] = []
    for name, body, refused in BODIES:
        response = service.client.post("/v1/cost", content=body)
        if refused:
            problem = api_judge(response, "body", Kind("body", words=("body", "items", "json")), "")
        elif response.status_code != 200:
            problem = f"{response.status_code}: {response.text[:200]}"
        else:
            answer = response.json()
            statuses = [row["status"] for row in answer["rows"]]  # an item that is no row at all is a problem
            problem = f"a bad row priced: {answer}" if "ok" in statuses or not statuses + answer["problems"] else None
        if problem:
            problems.append(f"POST /v1/cost {name}: {problem}")
    assert problems == [], "\n".join(problems)
