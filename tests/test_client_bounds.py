"""The generation client against hostile upstreams (issue 16, items 3, 5 and 15), over real loopback sockets.

A small raw HTTP server (below) plays the upstream: it answers with exactly the bytes a scenario yields, as a
broken or hostile server would, and records when the client closed the connection. Each scenario also ends
by itself after a bound, so a client without the fix fails the test instead of hanging the suite.

What is proved:

* a stream of only keep-alive comments ends at the client's ``idle_timeout``, and the connection is closed;
* an endless content stream ends at ``max_answer_bytes`` with a ``StreamLimitError``, holding no more than
  the bound (plus one event), and the connection is closed;
* a ``data:`` line that never ends stops at ``max_event_bytes`` without being read whole, and decoding is
  linear: the work of scanning for line ends grows with the bytes fed, not with their square;
* ``1e999999999`` as a count, a time or an amount is reported as invalid usage, in ``generate`` and in
  ``catalog gen`` — never a ``decimal.Overflow`` traceback;
* an error that echoes ``Authorization: Bearer <key>`` (or any ``sk-or-…`` token) never shows the key: not in
  the exception, its metadata, ``catalog gen``'s output, nor anything the client keeps.
"""

from __future__ import annotations

import asyncio
import json
import re
import socketserver
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from helpers import run_cli

from catalog.client import AsyncClient, Client, Generation
from catalog.client import sse as sse_module
from catalog.client.sse import EventTooLarge, SSEDecoder
from catalog.errors import GenerationError, StreamError, StreamLimitError, UpstreamError
from catalog.redact import redact

SECRET = "sk-or-v1-bounds-secret-0123456789abcdef"
OTHER_TOKEN = "sk-or-v1-someone-elses-key-42"
SSE = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n"
GIVE_UP = 20.0  # seconds after which a scenario ends by itself (a client without bounds would wait for ever)

Scenario = Callable[["Seen"], Iterator[bytes]]


@dataclass
class Seen:
    """What the upstream saw of one request: its headers, how much it sent, and how it ended."""

    headers: dict[str, str] = field(default_factory=dict)
    sent: int = 0
    closed_by_client: bool = False
    ended: threading.Event = field(default_factory=threading.Event)
    ended_at: float | None = None


class Upstream(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.scenario: Scenario = lambda seen: iter(())
        self.requests: list[Seen] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/api/v1"


class _Handler(socketserver.StreamRequestHandler):
    server: Upstream

    def handle(self) -> None:
        seen = Seen()
        self.server.requests.append(seen)
        self.rfile.readline()  # the request line
        while (line := self.rfile.readline().decode("latin-1").strip()) != "":
            name, _, value = line.partition(":")
            seen.headers[name.strip().lower()] = value.strip()
        self.rfile.read(int(seen.headers.get("content-length", "0")))
        try:
            for piece in self.server.scenario(seen):
                self.wfile.write(piece)
                seen.sent += len(piece)
        except (BrokenPipeError, ConnectionResetError):
            seen.closed_by_client = True
        finally:
            seen.ended_at = time.monotonic()
            seen.ended.set()


@pytest.fixture(scope="module")
def upstream() -> Iterator[Upstream]:
    server = Upstream()
    thread = threading.Thread(target=server.serve_forever, name="hostile-upstream", daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def chunk(content: str) -> bytes:
    body = {
        "id": "gen-x",
        "object": "chat.completion.chunk",
        "model": "h/x",
        "choices": [{"delta": {"content": content}}],
    }
    return b"data: " + json.dumps(body).encode() + b"\n\n"


def run(face: str, client_options: dict[str, Any], prompt: str = "x", **options: Any) -> Generation:
    """One call with the sync or the async client."""
    if face == "sync":
        with Client(**client_options) as client:
            return client.generate(prompt, "h/x", **options)

    async def call() -> Generation:
        async with AsyncClient(**client_options) as client:
            return await client.generate(prompt, "h/x", **options)

    return asyncio.run(call())


def closed_soon(seen: Seen) -> bool:
    """Whether the upstream noticed the client's close (its writes failed) well before giving up."""
    return seen.ended.wait(GIVE_UP / 2) and seen.closed_by_client


# --- item 3: idle timeout, answer cap, event cap, linear decoding ------------------------------------------------


@pytest.mark.parametrize("face", ["sync", "async"])
def test_a_stream_of_only_keep_alive_comments_ends_at_the_idle_timeout(upstream: Upstream, face: str) -> None:
    def comments(seen: Seen) -> Iterator[bytes]:
        yield SSE
        given_up = time.monotonic() + GIVE_UP
        while time.monotonic() < given_up:
            yield b": OPENROUTER PROCESSING\n\n"
            time.sleep(0.02)

    upstream.scenario = comments
    options = {"base_url": upstream.url, "api_key": SECRET, "max_attempts": 1, "timeout": 5.0, "idle_timeout": 0.5}
    started = time.monotonic()
    with pytest.raises(StreamLimitError) as caught:
        run(face, options, stream=True)
    waited = time.monotonic() - started
    assert caught.value.limit == "idle_timeout" and caught.value.bound == 0.5
    assert "idle_timeout" in str(caught.value) and "Client(idle_timeout=" in str(caught.value)
    # Comments kept the per-read timeout (5 s) from ever firing; the idle bound ended it, long before GIVE_UP.
    assert 0.5 <= waited < GIVE_UP / 2, waited
    assert isinstance(caught.value.partial, Generation) and caught.value.partial.text == ""
    assert closed_soon(upstream.requests[-1])


def test_data_events_restart_the_idle_clock_comments_do_not(upstream: Upstream) -> None:
    """A slow answer that keeps sending data is not stopped: only time without a data event counts."""

    def slow_answer(seen: Seen) -> Iterator[bytes]:
        yield SSE
        for word in ("one ", "two ", "three ", "four"):
            yield b": OPENROUTER PROCESSING\n\n"
            time.sleep(0.2)
            yield chunk(word)
        yield b"data: [DONE]\n\n"

    upstream.scenario = slow_answer
    options = {"base_url": upstream.url, "max_attempts": 1, "idle_timeout": 0.5}
    assert run("sync", options, stream=True).text == "one two three four"  # 0.8 s in all, 0.2 s between events


@pytest.mark.parametrize("face", ["sync", "async"])
def test_an_endless_content_stream_ends_at_the_answer_cap_with_bounded_memory(upstream: Upstream, face: str) -> None:
    piece = "y" * 1024

    def endless(seen: Seen) -> Iterator[bytes]:
        yield SSE
        given_up = time.monotonic() + GIVE_UP
        while time.monotonic() < given_up and seen.sent < 64 * 1024 * 1024:
            yield chunk(piece)

    upstream.scenario = endless
    cap = 256 * 1024
    options = {"base_url": upstream.url, "max_attempts": 1, "max_answer_bytes": cap}
    pieces: list[str] = []
    with pytest.raises(StreamLimitError) as caught:
        run(face, options, stream=True, on_text=pieces.append)
    assert caught.value.limit == "max_answer_bytes" and "Client(max_answer_bytes=" in str(caught.value)
    partial = caught.value.partial
    assert isinstance(partial, Generation)
    # What the client holds is the bound plus at most the one event that crossed it — not what was sent.
    assert cap < len(partial.text) <= cap + len(piece)
    assert "".join(pieces) == partial.text[: len("".join(pieces))] and len("".join(pieces)) <= cap
    seen = upstream.requests[-1]
    assert closed_soon(seen) and seen.sent < 64 * 1024 * 1024


@pytest.mark.parametrize("face", ["sync", "async"])
def test_a_data_line_that_never_ends_stops_at_the_event_cap(upstream: Upstream, face: str) -> None:
    size = 20 * 1024 * 1024

    def endless_line(seen: Seen) -> Iterator[bytes]:
        yield SSE + b'data: {"choices": [{"delta": {"content": "'
        block = b"z" * 65536
        for _ in range(size // len(block)):
            yield block

    upstream.scenario = endless_line
    options = {"base_url": upstream.url, "max_attempts": 1, "max_event_bytes": 1024 * 1024}
    with pytest.raises(StreamLimitError) as caught:
        run(face, options, stream=True)
    assert caught.value.limit == "max_event_bytes" and "Client(max_event_bytes=" in str(caught.value)
    seen = upstream.requests[-1]
    assert closed_soon(seen) and seen.sent < size  # stopped before the line was read whole


def test_a_whole_body_larger_than_the_event_cap_is_refused_before_it_is_read(upstream: Upstream) -> None:
    def huge_body(seen: Seen) -> Iterator[bytes]:
        yield b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n"
        yield b'{"choices": [{"message": {"content": "'
        for _ in range(320):
            yield b"w" * 65536

    upstream.scenario = huge_body
    options = {"base_url": upstream.url, "max_attempts": 1, "max_event_bytes": 1024 * 1024}
    with pytest.raises(StreamLimitError) as caught:
        run("sync", options)
    assert caught.value.limit == "max_event_bytes"
    assert closed_soon(upstream.requests[-1])


class _Work:
    """Counts the bytes (or characters) a decoder scans for line ends, whichever way it scans them."""

    def __init__(self) -> None:
        self.scanned = 0

    def read(self, data: bytes) -> bytes:
        work = self

        class Counted(bytes):
            def splitlines(self, keepends: bool = False) -> list[bytes]:  # how SSEDecoder cuts each read
                work.scanned += len(self)
                return bytes(self).splitlines(keepends)

        return Counted(data)

    def pattern(self) -> Any:
        """A line-end pattern counting what it splits: how a decoder re-splitting its pending text scanned."""
        work, pattern = self, re.compile(r"\r\n|\r|\n")

        class Counted:
            def split(self, text: str) -> list[str]:
                work.scanned += len(text)
                return pattern.split(text)

        return Counted()


def scan_work(monkeypatch: pytest.MonkeyPatch, line_bytes: int) -> int:
    """Bytes scanned for line ends while one ``data:`` line of ``line_bytes`` arrives in 64 KiB reads."""
    work = _Work()
    monkeypatch.setattr(sse_module, "_LINE_END", work.pattern(), raising=False)
    decoder = SSEDecoder()
    block = b"a" * 65536
    decoder.feed(work.read(b"data: "))
    for _ in range(line_bytes // len(block)):
        decoder.feed(work.read(block))
    assert [e.data for e in decoder.feed(work.read(b"\n\n"))] == ["a" * line_bytes]
    assert work.scanned >= line_bytes  # the counter saw the decoder's scanning
    return work.scanned


def test_decoding_one_long_line_is_linear_in_its_length(monkeypatch: pytest.MonkeyPatch) -> None:
    small = scan_work(monkeypatch, 1024 * 1024)
    large = scan_work(monkeypatch, 4 * 1024 * 1024)
    # Each read is scanned once: 4× the bytes is 4× the work (re-splitting the pending text made it ~16×).
    assert large <= 4 * small + 1024, (small, large)


def test_the_event_cap_holds_for_a_line_for_many_lines_and_at_the_end() -> None:
    decoder = SSEDecoder(max_event_bytes=1000)
    decoder.feed(b"data: " + b"a" * 900)
    with pytest.raises(EventTooLarge) as caught:
        decoder.feed(b"a" * 200)  # still no line end: the pending line passes the cap
    assert caught.value.limit == 1000 and caught.value.size > 1000
    many = SSEDecoder(max_event_bytes=1000)
    with pytest.raises(EventTooLarge):
        many.feed(b"data: 0123456789\n" * 100)  # each line small, the event's data too large
    fits = SSEDecoder(max_event_bytes=1000)
    assert [e.data for e in fits.feed(b"data: 0123456789\n" * 50 + b"\n")] == ["\n".join(["0123456789"] * 50)]


# --- item 5: absurd numbers from upstream --------------------------------------------------------------------------

HUGE = "1e999999999"


def body_with(numbers: dict[str, str]) -> bytes:
    """A chat completion whose ``created``, counts or cost are the JSON number texts given."""
    usage = {"prompt_tokens": "3", "completion_tokens": "2", "cost": "0.00001"}
    created = numbers.pop("created", "1767225600")
    usage |= numbers
    fields = ", ".join(f'"{k}": {v}' for k, v in usage.items())
    text = (
        f'{{"id": "gen-huge", "object": "chat.completion", "model": "local/h", "provider": "H", "created": {created}, '
        f'"choices": [{{"message": {{"role": "assistant", "content": "ok"}}, "finish_reason": "stop"}}], '
        f'"usage": {{{fields}}}}}'
    )
    return text.encode()


def answer(body: bytes, stream: bool) -> Scenario:
    def send(seen: Seen) -> Iterator[bytes]:
        if stream:
            as_chunk = body.replace(b"chat.completion", b"chat.completion.chunk").replace(b'"message"', b'"delta"')
            yield SSE + b"data: " + as_chunk + b"\n\ndata: [DONE]\n\n"
        else:
            yield b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n" + body

    return send


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize(
    ("numbers", "named"),
    [
        ({"prompt_tokens": HUGE}, "prompt_tokens"),
        ({"completion_tokens": "-" + HUGE}, "completion_tokens"),
        ({"cost": HUGE}, "cost"),
        ({"created": HUGE}, "created"),
        ({"prompt_tokens": "1" * 5001}, "prompt_tokens"),
    ],
)
def test_absurd_numbers_from_upstream_are_invalid_usage_not_a_crash(
    upstream: Upstream, numbers: dict[str, str], named: str, stream: bool
) -> None:
    upstream.scenario = answer(body_with(dict(numbers)), stream)
    with Client(base_url=upstream.url, max_attempts=1) as client:
        # A registered model gives the client a price table, so the engine prices the row (as invalid).
        client.register_model("local/h", {"prompt": "0.000001", "completion": "0.000002"})
        generation = client.generate("x", "local/h", stream=stream)
    assert generation.text == "ok"
    assert generation.cost_status == "invalid" and generation.cost is None
    assert named in (generation.cost_reason or ""), generation.cost_reason
    json.dumps(generation.to_dict())  # and it can be written out


def test_catalog_gen_against_an_upstream_sending_a_huge_count_reports_it(upstream: Upstream, tmp_path: Any) -> None:
    upstream.scenario = answer(body_with({"prompt_tokens": HUGE, "created": HUGE}), stream=False)
    env = {"OPENROUTER_API_KEY": SECRET, "CATALOG_DB": str(tmp_path / "none.duckdb")}
    done = run_cli("gen", "x", "-m", "h/x", "--base-url", upstream.url, env=env)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr and "Overflow" not in done.stderr
    assert "not computed (invalid:" in done.stderr and "prompt_tokens" in done.stderr
    as_json = run_cli("gen", "x", "-m", "h/x", "--json", "--base-url", upstream.url, env=env)
    report = json.loads(as_json.stdout)
    assert report["cost_status"] == "invalid" and report["created"] is None


# --- item 15: an upstream echoing the key ------------------------------------------------------------------------


def _echo_error(status: int, content_type: str, body: Callable[[str], bytes]) -> Scenario:
    def send(seen: Seen) -> Iterator[bytes]:
        echoed = seen.headers.get("authorization", "")
        head = f"HTTP/1.1 {status} Echo\r\nContent-Type: {content_type}\r\nConnection: close\r\n\r\n"
        yield head.encode() + body(echoed)

    return send


def _json_error(echoed: str) -> bytes:
    error = {
        "code": 401,
        "message": f"invalid credentials: Authorization: {echoed}",
        "metadata": {"raw": f"upstream said: {echoed}; also tried {OTHER_TOKEN}", "headers": {"authorization": echoed}},
    }
    return json.dumps({"error": error}).encode()


def _error_chunk(echoed: str) -> bytes:
    chunk = {"id": "gen-e", "choices": [], "error": {"code": 502, "message": f"provider refused {echoed}"}}
    return b"data: " + json.dumps(chunk).encode() + b"\n\n"


ECHOES = {
    "json error body": _echo_error(401, "application/json", _json_error),
    "plain-text error body": _echo_error(502, "text/plain", lambda e: f"bad gateway; you sent {e}".encode()),
    "200 that is not JSON": _echo_error(200, "text/html", lambda e: f"<p>{e}</p>".encode()),
    "mid-stream error chunk": _echo_error(200, "text/event-stream", _error_chunk),
    "chunk that is not JSON": _echo_error(200, "text/event-stream", lambda e: f"data: {{{e}\n\n".encode()),
}


@pytest.mark.parametrize("face", ["sync", "async"])
@pytest.mark.parametrize("shape", sorted(ECHOES))
def test_an_upstream_echoing_the_key_never_gets_it_shown(upstream: Upstream, shape: str, face: str) -> None:
    upstream.scenario = ECHOES[shape]
    options = {"base_url": upstream.url, "api_key": SECRET, "max_attempts": 1}
    with pytest.raises(GenerationError) as caught:
        run(face, options, stream=True)
    assert upstream.requests[-1].headers["authorization"] == f"Bearer {SECRET}"  # it was echoed
    error = caught.value
    shown = " ".join([str(error), repr(error), json.dumps(error.metadata, default=str)])
    if isinstance(error.partial, Generation):
        shown += json.dumps(error.partial.to_dict())
    assert SECRET not in shown and OTHER_TOKEN not in shown, shown
    assert "sk-or-***" in shown or "Bearer ***" in shown  # what was there is still said, masked


def test_catalog_gen_never_prints_an_echoed_key(upstream: Upstream, tmp_path: Any) -> None:
    env = {"OPENROUTER_API_KEY": SECRET, "CATALOG_DB": str(tmp_path / "none.duckdb")}
    # a refused key (401) is the caller's to fix (exit 2); a stream broken by the upstream is its failure (exit 1)
    for shape, code in (("json error body", 2), ("mid-stream error chunk", 1)):
        upstream.scenario = ECHOES[shape]
        done = run_cli("gen", "x", "-m", "h/x", "--stream", "--base-url", upstream.url, env=env)
        assert done.returncode == code and "***" in done.stderr.strip().splitlines()[-1], (shape, done.stderr)
        assert SECRET not in done.stdout + done.stderr and OTHER_TOKEN not in done.stdout + done.stderr
        assert "Traceback" not in done.stderr


def test_a_registered_models_own_key_is_redacted_too(upstream: Upstream) -> None:
    own = "local-server-key-7f3a9c"  # no sk-or- prefix: only knowing the key finds it
    upstream.scenario = _echo_error(400, "application/json", lambda e: json.dumps({"error": {"message": e}}).encode())
    with Client(base_url=upstream.url, api_key=SECRET, max_attempts=1) as client:
        client.register_model("local/own", {"prompt": "0", "completion": "0"}, base_url=upstream.url, api_key=own)
        with pytest.raises(GenerationError) as caught:
            client.generate("x", "local/own")
    assert upstream.requests[-1].headers["authorization"] == f"Bearer {own}"
    assert own not in str(caught.value) and "***" in str(caught.value)


def test_redact_masks_keys_tokens_headers_and_url_credentials() -> None:
    text = (
        f"Authorization: Bearer {SECRET}; token {OTHER_TOKEN}; basic: Basic dXNlcjpwYXNz; "
        "https://user:pw@example.org/v1?api_key=abc&x=1; mine: plain-key-1234"
    )
    masked = redact(text, ["plain-key-1234", None, "ab"])
    assert SECRET not in masked and OTHER_TOKEN not in masked and "dXNlcjpwYXNz" not in masked
    assert "user:pw" not in masked and "api_key=abc" not in masked and "plain-key-1234" not in masked
    assert "x=1" in masked and "Authorization: Bearer ***" in masked and "https://***@example.org" in masked
    assert redact(masked) == masked  # idempotent
    assert "ab" in redact("absent", ["ab"])  # a too-short "secret" is not hunted by value


def test_errors_of_an_upstream_never_reached_still_name_no_credentials() -> None:
    """The URL in an error goes through the same function (user-info and key parameters masked)."""
    with (
        Client(base_url=f"http://u:{SECRET}@127.0.0.1:9/api/v1?api_key={OTHER_TOKEN}", max_attempts=1) as client,
        pytest.raises(UpstreamError) as caught,
    ):
        client.generate("x", "h/x")
    assert SECRET not in str(caught.value) and OTHER_TOKEN not in str(caught.value)
    assert not isinstance(caught.value, StreamError)
