"""Bad input never becomes a traceback or a 500: one corpus through the CLI commands and API routes that read it.

Each case was a traceback or a silent wrong answer once (issue 16, items 5-9). A whole file that cannot be
read ends the command with exit 2 and one line naming the file and what to do; a bad value inside a row makes
that row invalid (never priced, never priced at a wrapped-around year) while the rest of the batch is priced.
Through the API the same inputs are a 4xx in the one error shape, or an answer whose row says why it failed.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any, NamedTuple

import polars as pl
import pytest
from fastapi.testclient import TestClient
from helpers import Ran, run_cli

from catalog import json_input
from catalog.api import ApiState, create_app
from catalog.cost.bodies import usage_from_text
from catalog.errors import InputError
from catalog.store.db import connect

MODEL = "deepseek/deepseek-v3.2"
WHEN = "2026-08-01T00:00:00Z"
HUGE = "1e999999999"  # a JSON number whose exponent overflows Decimal arithmetic


@pytest.fixture(scope="module")
def db(replayed_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("bad-input") / "history.duckdb"
    shutil.copyfile(replayed_template, path)
    return path


@pytest.fixture(scope="module")
def client(db: Path) -> Iterator[TestClient]:
    con = connect(db, read_only=True)
    try:
        with TestClient(create_app(ApiState(con, db)), raise_server_exceptions=False) as test_client:
            yield test_client
    finally:
        con.close()


def catalog(db: Path, *args: str) -> Ran:
    return run_cli(*args, env={"CATALOG_DB": str(db)})


def one_line_error(ran: Ran, *mentions: str) -> str:
    """Exit 2, nothing but one line on stderr (click's usage errors add their usage lines first)."""
    assert ran.returncode == 2, ran
    assert "Traceback" not in ran.stderr + ran.stdout, ran.stderr
    line = ran.stderr.strip().splitlines()[-1]
    assert line.lower().startswith("error:"), ran.stderr
    for mention in mentions:
        assert mention in line, line
    return line


# --- usage files: one bad value makes its row invalid; a file that cannot be read is one line ---------------------


class RowCase(NamedTuple):
    name: str
    suffix: str
    text: str


def chat(created: object = 1785000000, prompt: object = 5, cost: object = None) -> str:
    """A chat completion body with its numbers written as given (``HUGE`` stays a JSON number)."""
    usage = f'"prompt_tokens": {prompt}, "completion_tokens": 1' + ("" if cost is None else f', "cost": {cost}')
    return f'{{"id": "x", "model": "{MODEL}", "created": {created}, "usage": {{{usage}}}}}'


def flat_csv(timestamp: object = WHEN, prompt: object = 10) -> str:
    return f"timestamp,model,prompt_tokens,completion_tokens\n{timestamp},{MODEL},{prompt},1\n"


ROW_CASES = [
    RowCase("csv-count-overflow", ".csv", flat_csv(prompt=HUGE)),
    RowCase(
        "json-count-overflow", ".json", f'[{{"model": "{MODEL}", "prompt_tokens": {HUGE}, "completion_tokens": 1}}]'
    ),
    RowCase("chat-count-overflow", ".json", chat(prompt=HUGE)),
    RowCase("chat-created-overflow", ".json", chat(created=HUGE)),
    RowCase("chat-cost-overflow", ".json", chat(cost=HUGE)),
    # Unix seconds past the year 9999 were wrapped by the flat-file reader and priced in year 248073.
    RowCase("csv-seconds-wrap", ".csv", flat_csv(timestamp=99999999999999)),
    RowCase("csv-seconds-1e15", ".csv", flat_csv(timestamp=10**15)),
    RowCase("csv-seconds-negative", ".csv", flat_csv(timestamp=-5)),
    RowCase("chat-created-wrap", ".json", chat(created=99999999999999)),
]


@pytest.mark.parametrize("case", ROW_CASES, ids=[c.name for c in ROW_CASES])
def test_a_bad_value_makes_its_row_invalid_in_the_cli(db: Path, tmp_path: Path, case: RowCase) -> None:
    good = flat_csv()
    path = tmp_path / f"usage{case.suffix}"
    path.write_text(case.text)
    ran = catalog(db, "cost", str(path), "--json")
    assert ran.returncode == 0 and "Traceback" not in ran.stderr, ran
    answer = json.loads(ran.stdout)
    assert answer["rows"] == 1 and answer["status"].get("ok", 0) == 0, answer  # never priced
    # The good row beside it is still priced (CSV cases: one file of both).
    if case.suffix == ".csv":
        path.write_text(case.text + good.split("\n", 1)[1])
        both = json.loads(catalog(db, "cost", str(path), "--json").stdout)
        assert both["rows"] == 2 and both["status"]["ok"] == 1, both


@pytest.mark.parametrize("case", [c for c in ROW_CASES if c.suffix == ".json"], ids=lambda c: c.name)
def test_a_bad_value_is_a_row_problem_through_reconcile_and_the_api(
    db: Path, tmp_path: Path, client: TestClient, case: RowCase
) -> None:
    path = tmp_path / "bodies.json"
    path.write_text(case.text)
    ran = catalog(db, "reconcile", str(path), "--json")
    assert ran.returncode in (0, 1) and "Traceback" not in ran.stderr + ran.stdout, ran
    body = case.text if case.text.startswith("[") else f"[{case.text}]"  # the huge number sent as written
    response = client.post("/v1/cost", content=body.encode())
    assert response.status_code < 500, response.text
    if response.status_code == 200:
        assert [row["status"] for row in response.json()["rows"]] != ["ok"], response.json()


class FileCase(NamedTuple):
    name: str
    make: Any  # (path) -> None
    mentions: tuple[str, ...]


def _write(text: str | bytes) -> Any:
    def make(path: Path) -> None:
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(text)

    return make


def _parquet(frame: dict[str, Any]) -> Any:
    return lambda path: pl.DataFrame(frame).write_parquet(path)


FILE_CASES = [
    FileCase("byok-yes", _write(f"model,prompt_tokens,is_byok\n{MODEL},1,yes\n"), ("is_byok", "true or false")),
    FileCase("model-list", _parquet({"model": [[MODEL]], "prompt_tokens": [1]}), ("'model'", "text")),
    FileCase("bad-quote", _write(f'model,prompt_tokens\n"{MODEL},1\nx,"y,2\n'), ("usage file", "escaped")),
    FileCase("nested", _write("[" * 200_000 + "]" * 200_000), ("usage file", "nested too deeply")),
    FileCase("long-integer", _write('[{"model": "m", "prompt_tokens": ' + "7" * 5001 + "}]"), ("usage file", "digits")),
]
SUFFIX = {"model-list": ".parquet", "nested": ".json", "long-integer": ".json"}


@pytest.mark.parametrize("case", FILE_CASES, ids=[c.name for c in FILE_CASES])
def test_a_file_that_cannot_be_read_is_one_line(db: Path, tmp_path: Path, case: FileCase) -> None:
    path = tmp_path / f"usage{SUFFIX.get(case.name, '.csv')}"
    case.make(path)
    one_line_error(catalog(db, "cost", str(path)), *case.mentions)


def test_json_input_turns_every_parser_failure_into_a_decode_error() -> None:
    for text in ("[" * 200_000, "1" * 5001, '{"a": NaN}', '{"a": -Infinity}', b"\xff[]"):
        with pytest.raises(json.JSONDecodeError):
            json_input.loads(text)
    assert json_input.loads('{"a": 1.25, "b": 3}') == {"a": Decimal("1.25"), "b": 3}
    # A body reader given such a document says so in one problem line, never a RecursionError.
    with pytest.raises(InputError, match="nested too deeply"):
        usage_from_text("[" * 200_000 + "]" * 200_000, "deep.json")


# --- options: bounded, checked before the work, and UTF-8 ---------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "mentions"),
    [
        (("models", "--limit", "99999999999999999999"), ("--limit", "1<=x<=1000000000")),
        (("changes", "--limit", "99999999999999999999"), ("--limit",)),
        (("cheapest", MODEL, "--min-uptime", "150"), ("--min-uptime", "0<=x<=100")),
        (("cheapest", MODEL, "--min-uptime", "nan"), ("min-uptime",)),
        (("cheapest", MODEL, "--input", "99999999999999999999"), ("--input",)),
        (("cheapest", MODEL, "--limit", "99999999999999999999"), ("--limit",)),
        (("models", "--search", "\udcff"), ("argument 3", "UTF-8")),
        (("cheapest", "\udcffbad/model"), ("argument 2", "UTF-8")),
    ],
    ids=lambda v: " ".join(v) if isinstance(v, tuple) and v and v[0] in ("models", "changes", "cheapest") else None,
)
def test_an_option_out_of_range_is_one_line(db: Path, args: tuple[str, ...], mentions: tuple[str, ...]) -> None:
    one_line_error(catalog(db, *args), *mentions)


def test_an_unwritable_output_is_refused_before_the_costing(db: Path, tmp_path: Path) -> None:
    usage = tmp_path / "usage.csv"
    usage.write_text(f"timestamp,model,prompt_tokens,completion_tokens\n{WHEN},{MODEL},10,1\n")
    one_line_error(catalog(db, "cost", str(usage), "--out", str(tmp_path / "no" / "dir" / "o.csv")), "does not exist")
    one_line_error(catalog(db, "cost", str(usage), "--out", str(tmp_path / "o.txt")), ".parquet")
    # Refused before anything was read: an unreadable usage file does not get the chance to fail first.
    one_line_error(catalog(db, "cost", str(tmp_path / "missing.csv"), "--out", str(tmp_path / "o.txt")), ".parquet")
    assert catalog(db, "cost", str(usage), "--out", str(tmp_path / "o.csv")).returncode == 0
    assert pl.read_csv(tmp_path / "o.csv").height == 1


# --- a client that goes away mid-upload ----------------------------------------------------------------------


def test_a_client_dropping_its_upload_is_not_logged_as_a_crash(db: Path) -> None:
    """A real server (uvicorn on loopback): a POST /v1/cost whose client closes after part of its body used to
    log two tracebacks (``ClientDisconnect``); the server must log nothing and keep answering."""
    import logging
    import socket
    import time

    import httpx
    import uvicorn

    from catalog.asgi_server import bind, quiet_config, serve_in_thread

    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    con = connect(db, read_only=True)
    sock = bind("127.0.0.1", 0)
    port = sock.getsockname()[1]
    server = uvicorn.Server(quiet_config(create_app(ApiState(con, db))))
    handler = Keep(level=logging.WARNING)
    loggers = [logging.getLogger(name) for name in ("uvicorn.error", "uvicorn", "starlette", "fastapi")]
    for logger in loggers:
        logger.addHandler(handler)
    try:
        with serve_in_thread(server, sock, name="bad-input api"):
            with socket.create_connection(("127.0.0.1", port), timeout=5) as client:
                head = b"POST /v1/cost HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n"
                client.sendall(head + b'[{"model": "')
                time.sleep(0.3)  # the server is reading the body when the client goes
            time.sleep(0.5)
            # (a first cost call in a fresh install compiles the numba pass: seconds, not a hang)
            after = httpx.post(f"http://127.0.0.1:{port}/v1/cost", content=b"[]", timeout=60)
            assert after.status_code == 200, after.text
    finally:
        for logger in loggers:
            logger.removeHandler(handler)
        con.close()
    assert [r.getMessage() for r in records] == []


# --- credentials in a base URL --------------------------------------------------------------------------------


def test_credentials_in_the_base_url_are_never_shown_or_stored(tmp_path: Path, bundle: Any) -> None:
    """``--base-url`` with user-info (and an unreachable one): neither the output nor any stored text holds the
    password, so the API's snapshot list and the site's downloads cannot publish it."""
    from catalog.fake import FakeOpenRouter, serve_in_thread

    secret = "s3cret-pass-word"
    db = tmp_path / "history.duckdb"
    assert run_cli("init", "--db", str(db)).returncode == 0  # `sync` needs an existing file
    with serve_in_thread(FakeOpenRouter(bundle, day="2026-08-05")) as url:
        good = url.replace("http://", f"http://someone:{secret}@")
        synced = run_cli("sync", "--base-url", good, "--db", str(db), "--json")
    assert synced.returncode == 0, synced.stderr
    failed = run_cli("sync", "--base-url", f"http://someone:{secret}@127.0.0.1:9/api/v1", "--db", str(db))
    assert failed.returncode != 0
    for ran in (synced, failed):
        assert secret not in ran.stdout + ran.stderr
    con = connect(db, read_only=True)
    try:
        stored = con.execute("SELECT source, coalesce(error_summary, '') FROM snapshots").fetchall()
    finally:
        con.close()
    assert len(stored) == 2 and all(secret not in source + summary for source, summary in stored), stored
    assert any("***@" in source for source, _ in stored), stored  # the URL is kept, its credentials masked
