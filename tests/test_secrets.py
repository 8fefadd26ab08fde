"""No credential from a base URL or an echoed header is ever shown, stored, published or served (issue 16, items
14-15, acceptance 3).

The fake OpenRouter echoes the request's ``Authorization`` header and full URL in the errors it injects (as a
careless proxy does), and sweeps run against it with a password in the base URL's user-info, a ``?key=`` in its
query and an ``sk-or-v1-…`` key in ``OPENROUTER_API_KEY``. Then the secrets are looked for in: the output of
every CLI command that reads the history, every column of every table of the DuckDB file (archived bodies
decompressed), every file ``catalog site build`` writes (the DuckDB and Parquet downloads read back as
tables too), and every answer of ``catalog up`` (``/v1/*``, ``/service``, ``/health``, ``/jobs/*``, its log).
None may appear. Rows stored by an older version are scrubbed by a migration and redacted again by readers.
"""

from __future__ import annotations

import base64
import gzip
import json
import secrets
from pathlib import Path
from typing import Any

import click
import duckdb
import httpx
import pytest
from helpers import run_cli
from test_faults import MODELS, PROVIDERS, listing, memory_day
from test_service import ONLY_THE_SWEEP, Up, wait_until

from catalog.cli import cli as catalog_cli
from catalog.fake import FakeOpenRouter, Faults, MemorySource, serve_in_thread
from catalog.store import exports, queries, runlog
from catalog.store.db import connect
from catalog.store.migrations import MIGRATIONS

FAILING = MODELS[0]["id"]  # its /endpoints always answer 502, with the request's credentials echoed
# Commands that neither read the history's text nor print it: servers (their answers are checked below), the
# costing commands (their input is a usage file), the generation client (masks its own keys; its tests show
# it) and the bundled replay (no base URL of the user's).
NOT_READERS = {"fake-openrouter", "serve", "up", "gen", "cost", "reconcile", "replay"}


class Secrets:
    def __init__(self) -> None:
        self.password = "pw-" + secrets.token_hex(8)
        self.query_key = "qk-" + secrets.token_hex(8)
        self.api_key = "sk-or-v1-" + secrets.token_hex(24)
        self.basic = base64.b64encode(f"agent:{self.password}".encode()).decode()

    def all(self) -> list[str]:
        # The key's random part too: a mask that kept the key but its prefix would still leak it.
        return [self.password, self.query_key, self.api_key, self.api_key.removeprefix("sk-or-v1-"), self.basic]

    def leaked(self, text: str | bytes) -> list[str]:
        raw = text if isinstance(text, bytes) else text.encode("utf-8", "backslashreplace")
        return [s for s in self.all() if s.encode() in raw]


def small_fake() -> FakeOpenRouter:
    day = memory_day("2026-07-17", MODELS, {m["id"]: listing(m, "DeepInfra", "Together") for m in MODELS}, PROVIDERS)
    return FakeOpenRouter(MemorySource([day]), faults=Faults(fail_models={FAILING}, echo_credentials=True))


def dump_database(path: Path) -> str:
    """Every value of every table (archived bodies decompressed), as text."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        out: list[str] = []
        tables = [r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()]
        assert tables, path
        for table in tables:
            for row in con.execute(f'SELECT * FROM "{table}"').fetchall():
                for value in row:
                    if isinstance(value, bytes | bytearray):
                        value = gzip.decompress(value) if value[:2] == b"\x1f\x8b" else value
                        out.append(bytes(value).decode("utf-8", "backslashreplace"))
                    else:
                        out.append(str(value))
        return "\n".join(out)
    finally:
        con.close()


def dump_parquet(path: Path) -> str:
    con = duckdb.connect()
    try:
        quoted = str(path).replace("'", "''")
        return "\n".join(str(row) for row in con.execute(f"SELECT * FROM read_parquet('{quoted}')").fetchall())
    finally:
        con.close()


def test_no_credential_is_shown_stored_published_or_served(tmp_path: Path) -> None:
    s = Secrets()
    db = tmp_path / "history.duckdb"
    env = {"CATALOG_DB": str(db), "OPENROUTER_API_KEY": s.api_key, "CATALOG_MAX_ATTEMPTS": "1"}
    outputs: dict[str, str] = {}

    def cli(*args: str) -> None:
        ran = run_cli(*args, env=env)
        assert "Traceback" not in ran.stderr, ran.stderr
        outputs[" ".join(args)] = ran.stdout + ran.stderr

    cli("init")  # `sync` writes into an existing catalog
    with serve_in_thread(small_fake()) as url:
        with_user = url.replace("http://", f"http://agent:{s.password}@")
        with_query = f"{url}?key={s.query_key}"
        cli("sync", "--base-url", url)  # the API key goes as Bearer; the failing model's 502 echoes it
        cli("sync", "--base-url", with_user, "--json")  # user-info: sent as Basic, echoed, stored as the source
        cli("sync", "--base-url", with_query)  # the key in the query string
        cli("sync", "--base-url", f"http://agent:{s.password}@127.0.0.1:9/api/v1?key={s.query_key}")  # unreachable

        # The fake did echo them: without redaction they would be everywhere below.
        con = connect(db, read_only=True)
        try:
            stored = con.execute("SELECT status, source, coalesce(error_summary, '') FROM snapshots").fetchall()
            payload_errors = [r[0] for r in con.execute("SELECT error FROM raw_payloads WHERE error > ''").fetchall()]
        finally:
            con.close()
        # The query-string base works (its query goes on every request): only the unreachable one fails.
        assert [r[0] for r in stored] == ["partial", "partial", "partial", "failed"], stored
        assert any("Authorization: Bearer ***)" in e for e in payload_errors), payload_errors
        assert any("Authorization: Basic ***)" in e for e in payload_errors), payload_errors
        assert any("agent:" not in r[1] and "***@" in r[1] for r in stored), stored

        # The account look-ups talk to the same base URL (its query kept, its credential never shown).
        cli("account", "--base-url", with_query)
        cli("generation", "gen-none", "--base-url", with_user)
        for command in (
            ("snapshots",),
            ("snapshots", "--json"),
            ("models",),
            ("endpoints", FAILING),
            ("history", MODELS[1]["id"]),
            ("changes", "--since", "2026-01-01"),
            ("cheapest", MODELS[1]["id"]),
            ("price", MODELS[1]["id"]),
            ("status",),
            ("status", "--json"),
            ("jobs", "list", "--json"),
            ("jobs", "history", "--json"),
            ("rederive",),
            ("site", "build", "--out", str(tmp_path / "site")),
        ):
            cli(*command)

        # The service: a sweep with the password in the base URL, then every answer it gives.
        up = Up(db, {**env, "CATALOG_JOB_SNAPSHOT_CATALOG_EVERY": "1s", **ONLY_THE_SWEEP}, "--base-url", with_user)
        try:
            wait_until(lambda: up.job()["runs"] >= 1 and not up.job()["running"], 60, "a sweep by the service")
            answers: dict[str, httpx.Response] = {}
            for path in (
                "/",
                "/service",
                "/health",
                "/jobs/runs",
                "/jobs/runs?job=snapshot_catalog",
                "/v1/snapshots",
                "/v1/models",
                f"/v1/models/{MODELS[1]['id']}",
                f"/v1/models/{MODELS[1]['id']}/history",
                "/v1/providers",
                "/v1/providers/deepinfra",
                "/v1/changes?since=2026-01-01",
                f"/v1/cheapest?model={MODELS[1]['id']}",
                "/openapi.json",
                "/docs",
            ):
                answers[path] = httpx.get(f"{up.url}{path}", timeout=30)
            answers["POST /jobs/snapshot_catalog/run"] = httpx.post(f"{up.url}/jobs/snapshot_catalog/run", timeout=30)
        finally:
            assert up.stop() == 0, up.output()
        outputs["catalog up"] = up.output()

    ran_commands = {key.split()[0] for key in outputs}
    every = set(catalog_cli.list_commands(click.Context(catalog_cli)))
    assert every - NOT_READERS <= ran_commands and "up" in every, "a command was left out"
    for name, text in outputs.items():
        assert s.leaked(text) == [], (name, text)
    for path, answer in answers.items():
        assert answer.status_code < 500, (path, answer.text)
        assert s.leaked(answer.content + str(answer.headers).encode()) == [], (path, answer.text)
    assert "***@" in answers["/service"].json()["source"]  # the source is named, its credentials masked
    assert "Authorization: Basic ***" in answers["/jobs/runs"].text  # the echo is served, masked

    assert s.leaked(dump_database(db)) == []
    files = [p for p in (tmp_path / "site").rglob("*") if p.is_file()]
    assert any(p.name == "catalog.duckdb" for p in files) and any(p.suffix == ".parquet" for p in files)
    for path in files:
        assert s.leaked(path.read_bytes()) == [], path
        if path.suffix == ".duckdb":
            assert s.leaked(dump_database(path)) == [], path
        elif path.suffix == ".parquet":
            assert s.leaked(dump_parquet(path)) == [], path


# --- rows stored by an older version --------------------------------------------------------------------------


def _older_file(path: Path, s: Secrets) -> None:
    """A history as a version before the redaction stored it: migrations 1-2 only, credentials in every column
    that repeats a URL or an upstream's answer."""
    con = duckdb.connect(str(path))
    try:
        con.execute(
            "CREATE TABLE schema_migrations (step INTEGER PRIMARY KEY, name VARCHAR NOT NULL, "
            "applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
        )
        for step, (name, apply) in enumerate(MIGRATIONS[:2], start=1):
            apply(con)
            con.execute("INSERT INTO schema_migrations (step, name) VALUES (?, ?)", [step, name])
        _leaky_rows(con, s, snapshot_id=1)
    finally:
        con.close()


def _leaky_rows(con: duckdb.DuckDBPyConnection, s: Secrets, *, snapshot_id: int) -> None:
    url = f"http://agent:{s.password}@proxy.invalid/api/v1?key={s.query_key}"
    echoed = (
        f"GET {url}/models answered 502: Bad Gateway "
        f"(Authorization: Bearer {s.api_key}, Proxy-Authorization: Basic {s.basic})"
    )
    con.execute(
        "INSERT INTO snapshots (snapshot_id, taken_at, started_at, source, kinds, status, error_summary) "
        "VALUES (?, '2026-07-17 00:00:00+00', '2026-07-17 00:00:00+00', ?, 'models', 'failed', ?)",
        [snapshot_id, url, echoed],
    )
    con.execute(
        "INSERT INTO raw_payloads (snapshot_id, path, status, error) VALUES (?, 'models', 502, ?)",
        [snapshot_id, echoed],
    )
    con.execute(
        "INSERT INTO job_runs (job, trigger, started_at, finished_at, status, error_summary, detail, pid) "
        "VALUES ('snapshot_catalog', 'schedule', now(), now(), 'failed', ?, ?, 1)",
        [echoed, json.dumps({"problems": echoed, "source": url})],
    )


def test_a_migration_scrubs_credentials_an_older_version_stored(tmp_path: Path) -> None:
    s = Secrets()
    db = tmp_path / "old.duckdb"
    _older_file(db, s)
    assert len(s.leaked(dump_database(db))) == 5  # the older file holds every one of them
    connect(db).close()  # any writer migrates
    assert s.leaked(dump_database(db)) == []
    con = connect(db, read_only=True)
    try:
        (source, summary) = con.execute("SELECT source, error_summary FROM snapshots").fetchall()[0]
        (detail,) = con.execute("SELECT detail FROM job_runs").fetchall()[0]
    finally:
        con.close()
    # What is not a secret stays: where the sweep went and why it failed.
    assert source == "http://***@proxy.invalid/api/v1?key=***"
    assert "answered 502: Bad Gateway" in summary and "Bearer ***," in summary
    assert json.loads(detail)["source"] == source


@pytest.mark.parametrize("reader", ["snapshots", "run_history", "job_health", "exports"])
def test_readers_redact_rows_written_without_redaction(tmp_path: Path, reader: str) -> None:
    """A row written into a migrated file by a program that does not redact (an older version still running):
    every reader that serves, prints or publishes it masks it again."""
    s = Secrets()
    db = tmp_path / "mixed.duckdb"
    con = connect(db)
    try:
        _leaky_rows(con, s, snapshot_id=1)
        assert len(s.leaked(dump_database_from(con))) == 5
        seen: Any
        if reader == "snapshots":
            seen = queries.snapshots(con).to_dicts()
        elif reader == "run_history":
            seen = runlog.run_history(con).to_dicts()
        elif reader == "job_health":
            seen = [h.to_dict() for h in runlog.job_health(con, {"snapshot_catalog": 60.0})]
        else:
            out = tmp_path / "downloads"
            exports.write_history(con, out, queries.snapshots(con)["taken_at"][0])
            seen = [dump_database(out / "catalog.duckdb")] + [p.read_bytes() for p in out.iterdir()]
    finally:
        con.close()
    text = json.dumps(seen, default=lambda v: v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v))
    assert s.leaked(text) == [], text
    assert "***" in text


def dump_database_from(con: duckdb.DuckDBPyConnection) -> str:
    rows = con.execute("SELECT source, error_summary FROM snapshots").fetchall()
    rows += con.execute("SELECT error_summary, detail::VARCHAR FROM job_runs").fetchall()
    return "\n".join(str(r) for r in rows)


def test_a_body_that_repeats_the_key_is_archived_and_parsed_with_the_key_masked() -> None:
    """An upstream that puts the caller's key into a body it serves (a 200, not an error): the archive keeps
    bodies for ever and the site publishes what they hold, so the key is masked before anything reads it."""
    import asyncio

    from test_faults import model

    from catalog.openrouter.fetch import fetch_sweep
    from catalog.settings import FetchSettings

    s = Secrets()
    leaky = {**model("acme/alpha", "0.000001", "0.000002"), "name": f"Alpha (key {s.api_key})"}

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"data": [leaky]})

    settings = FetchSettings(base_url="http://upstream.invalid/api/v1", api_key=s.api_key)
    sweep = asyncio.run(fetch_sweep(settings, kinds={"models"}, transport=httpx.MockTransport(answer)))
    assert sweep.fatal is None and sweep.models is not None
    assert sweep.models[0].facts["name"] == "Alpha (key ***)"
    assert all(s.leaked(p.body or b"") == [] for p in sweep.raw) and b"(key ***)" in (sweep.raw[0].body or b"")
