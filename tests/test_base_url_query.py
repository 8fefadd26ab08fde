"""A base URL with a query (``https://gateway/api/v1?key=…``, a gateway's key or routing tag) is what its user
wants sent with every request: the path joins before the query and the query goes on every request, of the
fetcher (``catalog sync``) and of the generation client (chat, look-ups, embeddings). Before, ``/models`` landed
inside the query and every request went to the base itself. The query's credential is never shown or stored.

Against the fake over loopback, wrapped so that it records each request's path and query as they arrived."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest
from helpers import run_cli
from starlette.types import Receive, Scope, Send

from catalog.client import Client
from catalog.fake import FakeOpenRouter, MemorySource, memory_day, serve_in_thread
from catalog.fake.account import FakeAccount
from catalog.fake.chat import ECHO_PRICING
from catalog.settings import join_url

SECRET = "gateway-secret-0123456789"
KEY = "sk-or-v1-base-url-query-test"


@pytest.mark.parametrize(
    ("base", "path", "joined"),
    [
        ("https://h/api/v1", "models", "https://h/api/v1/models"),
        ("https://h/api/v1?key=abc", "models", "https://h/api/v1/models?key=abc"),
        (
            "https://h/api/v1/?key=abc&tag=x",
            "/models/a/b:free/endpoints",
            "https://h/api/v1/models/a/b:free/endpoints?key=abc&tag=x",
        ),
        ("https://h/api/v1?key=abc", "generation?id=gen-1", "https://h/api/v1/generation?key=abc&id=gen-1"),
        ("https://h:8443?key=a%2Fb", "key", "https://h:8443/key?key=a%2Fb"),  # the query's bytes as they were
        ("https://h/v1#frag", "models", "https://h/v1/models"),  # a fragment is never sent
    ],
)
def test_join_url_puts_the_path_before_the_base_s_query(base: str, path: str, joined: str) -> None:
    assert join_url(base, path) == joined


class RecordingFake(FakeOpenRouter):
    """The fake, with every request's path and query recorded before it answers."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.seen: list[tuple[str, str]] = []
        inner = super().app

        async def recording(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] == "http":
                self.seen.append((scope["path"], scope.get("query_string", b"").decode("latin-1")))
            await inner(scope, receive, send)

        self._recording = recording

    @property
    def app(self) -> Any:
        return self._recording


@pytest.fixture
def served() -> Iterator[tuple[RecordingFake, str]]:
    fake = RecordingFake(MemorySource([memory_day("2026-07-17", [], {}, [])]), echo_models=True, account=FakeAccount())
    with serve_in_thread(fake) as url:
        yield fake, f"{url}?key={SECRET}"


def _all_kept_the_query(seen: list[tuple[str, str]]) -> None:
    assert seen, "no request reached the upstream"
    for path, query in seen:
        assert path.startswith("/api/v1/") and "key=" not in path, path  # the path went to its route
        assert query.split("&")[0] == f"key={SECRET}", (path, query)  # the base's query, on every request


def test_sync_sends_the_base_url_s_query_with_every_request_and_stores_no_credential(
    served: tuple[RecordingFake, str], tmp_path: Path
) -> None:
    fake, url = served
    db = tmp_path / "h.duckdb"
    assert run_cli("init", "--db", str(db)).returncode == 0
    ran = run_cli("sync", "--base-url", url, "--db", str(db), "--json")
    assert ran.returncode == 0, ran.stderr
    _all_kept_the_query(fake.seen)
    assert {path for path, _ in fake.seen} >= {"/api/v1/models", "/api/v1/providers"}
    assert SECRET not in ran.stdout + ran.stderr
    con = duckdb.connect(str(db), read_only=True)
    try:
        stored = con.execute("SELECT source, coalesce(error_summary, '') FROM snapshots").fetchall()
    finally:
        con.close()
    assert stored and all(SECRET not in source + error for source, error in stored), stored


def test_the_generation_client_keeps_the_query_on_chat_lookups_and_embeddings(
    served: tuple[RecordingFake, str],
) -> None:
    fake, url = served
    with Client(base_url=url, api_key=KEY, max_attempts=1) as client:
        client.register_model("echo/echo", ECHO_PRICING)
        generation = client.generate("one two three", "echo/echo")
        streamed = client.generate("one two", "echo/echo", stream=True)
        client.key_info()
        record = client.generation_record(str(generation.id))
        client.embed("echo/echo", ["a b"])
        shown = repr(client)
    assert generation.text and streamed.text and record.id == generation.id
    _all_kept_the_query(fake.seen)
    paths = {path for path, _ in fake.seen}
    assert {"/api/v1/chat/completions", "/api/v1/key", "/api/v1/generation", "/api/v1/embeddings"} <= paths
    # the look-up's own parameter follows the base's query
    assert any(query == f"key={SECRET}&id={generation.id}" for path, query in fake.seen if path.endswith("/generation"))
    assert SECRET not in shown


def test_an_upstream_error_names_the_url_without_the_query_s_credential(served: tuple[RecordingFake, str]) -> None:
    _fake, url = served
    missing = run_cli("generation", "gen-unknown", "--base-url", url, env={"OPENROUTER_API_KEY": KEY})
    assert missing.returncode != 0 and "gen-unknown" in missing.stderr
    broken = run_cli("sync", "--base-url", url.replace("/api/v1", "/nowhere"), "--json")
    assert broken.returncode != 0
    for ran in (missing, broken):
        assert SECRET not in ran.stdout + ran.stderr and "Traceback" not in ran.stderr, ran.stderr
