"""Benchmark: the generation client against the fake OpenRouter's echo model, beside the official openai SDK.

The fake runs in its own process (``catalog fake-openrouter --port 0``), so the client's parsing is what this
process spends. Three figures, each for our ``Client``, the ``openai`` SDK pointed at the same fake (the peer)
and a bare ``httpx`` stream that only reads bytes (the floor), runs interleaved:

* **long stream**: one echo reply of ``--tokens`` tokens, one SSE event each: events per second (wall) and
  the client process's CPU microseconds per event (what parsing costs, whatever the server's speed);
* **time to first token**: a short streamed prompt, ``--ttft-runs`` times: the median time from the call to
  the first piece of text, and ours minus bare httpx (the overhead the client adds; target ≤ 1 ms).

* **one long line**: a ``data:`` line of ``--line-mb`` MB that arrives in 64 KiB reads with no line end, decoded
  by ``SSEDecoder`` and by the decoder it replaced (which re-split all pending text on every read, so its time
  grew with the square of the line; kept below as the reference), each timed once; then how much the default
  ``max_event_bytes`` lets the client read of it before it stops.

Prints figures; the targets are "≥ the openai SDK's throughput", "≥ 4× its events per CPU second", "≤ 1 ms
added time to first token" and a long line decoded in time linear in its length.

    pip install -e '.[bench]'
    python bench/client.py [--tokens 20000] [--runs 5] [--ttft-runs 60] [--line-mb 20] [--only-line]
"""

from __future__ import annotations

import argparse
import codecs
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx
from service import CATALOG, wait_for_line

from catalog.client import Client
from catalog.client.sse import DEFAULT_MAX_EVENT_BYTES, EventTooLarge, SSEDecoder

MODEL = "echo/bench"


def ours_stream(client: Client, prompt: str) -> tuple[int, str]:
    pieces: list[str] = []
    generation = client.generate(prompt, MODEL, stream=True, on_text=pieces.append)
    return len(pieces), generation.text


def openai_stream(sdk: object, prompt: str) -> tuple[int, str]:
    stream = sdk.chat.completions.create(  # type: ignore[attr-defined]
        model=MODEL, messages=[{"role": "user", "content": prompt}], stream=True
    )
    pieces = [c.choices[0].delta.content for c in stream if c.choices and c.choices[0].delta.content]
    return len(pieces), "".join(pieces)


def bare_stream(http: httpx.Client, url: str, prompt: str) -> tuple[int, str]:
    body = {"model": MODEL, "messages": [{"role": "user", "content": prompt}], "stream": True}
    events = 0
    with http.stream("POST", f"{url}/chat/completions", json=body) as response:
        for line in response.iter_lines():
            events += line.startswith("data: ")
    return events, ""


def timed(run: Callable[[], tuple[int, str]]) -> tuple[float, float, int, str]:
    wall, cpu = time.perf_counter(), time.process_time()
    events, text = run()
    return time.perf_counter() - wall, time.process_time() - cpu, events, text


def first_text(run: Callable[[Callable[[], None]], None]) -> float:
    """Seconds from the call to the first piece of text; ``run`` calls its argument at that moment."""
    started = time.perf_counter()
    seen: list[float] = []

    def mark() -> None:
        if not seen:
            seen.append(time.perf_counter())

    run(mark)
    return seen[0] - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tokens", type=int, default=20_000, help="echo tokens (= SSE events) in the long stream")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--ttft-runs", type=int, default=60)
    parser.add_argument("--line-mb", type=int, default=20, help="MB of the one long line (0: skip that figure)")
    parser.add_argument("--only-line", action="store_true", help="only the long-line figure (no fake, no SDK)")
    args = parser.parse_args()
    if args.line_mb > 0:
        long_line(args.line_mb)
    if args.only_line:
        return
    try:
        from openai import OpenAI
    except ImportError:
        sys.exit("the peer needs the openai SDK: pip install -e '.[bench]'")

    with tempfile.TemporaryDirectory(prefix="bench-client-") as scratch:
        out = Path(scratch) / "fake.out"
        with out.open("wb") as sink:
            fake = subprocess.Popen([*CATALOG, "fake-openrouter", "--port", "0"], stdout=sink, stderr=subprocess.STDOUT)
        try:
            url = wait_for_line(fake, out, r"fake OpenRouter serving (http://\S+)", 60).group(1)
            run(args, url, OpenAI(base_url=url, api_key="bench", max_retries=0))
        finally:
            fake.terminate()
            fake.wait(timeout=30)


def run(args: argparse.Namespace, url: str, sdk: object) -> None:
    prompt = "word " * args.tokens
    with Client(base_url=url, api_key="bench") as client, httpx.Client(timeout=120) as http:
        ours_stream(client, "warm up")
        openai_stream(sdk, "warm up")
        bare_stream(http, url, "warm up")
        results: dict[str, list[tuple[float, float, int]]] = {"ours": [], "openai": [], "httpx": []}
        for _ in range(args.runs):
            for name, job in (
                ("ours", lambda: ours_stream(client, prompt)),
                ("openai", lambda: openai_stream(sdk, prompt)),
                ("httpx", lambda: bare_stream(http, url, prompt)),
            ):
                wall, cpu, events, text = timed(job)
                if name != "httpx":
                    assert text == prompt.strip() + " " or text == prompt, f"{name} lost text"
                results[name].append((wall, cpu, events))
        print(f"fake OpenRouter at {url} (own process); echo stream of {args.tokens:,} tokens, {args.runs} runs")
        print(f"{'long stream':<28}{'events/s (wall)':>18}{'CPU µs/event':>15}{'wall s':>9}")
        rate, per_cpu = {}, {}
        for name, rows in results.items():
            wall = statistics.median(r[0] for r in rows)
            cpu = statistics.median(r[1] for r in rows)
            events = rows[0][2]
            rate[name] = events / wall
            per_cpu[name] = events / cpu
            label = {"ours": "catalog Client", "openai": "openai SDK (peer)", "httpx": "bare httpx lines (floor)"}
            print(f"  {label[name]:<26}{rate[name]:>18,.0f}{cpu / events * 1e6:>15.1f}{wall:>9.3f}")
        verdict = "PASS" if rate["ours"] >= rate["openai"] else "FAIL"
        print(f"  ours / openai: {rate['ours'] / rate['openai']:.2f}× (target ≥ 1×: {verdict})")
        # Events per CPU second: what parsing costs, whatever the machine's load does to wall time.
        cpu_ratio = per_cpu["ours"] / per_cpu["openai"]
        verdict = "PASS" if cpu_ratio >= 4 else "FAIL"
        print(f"  events per CPU second, ours / openai: {cpu_ratio:.2f}× (target ≥ 4×: {verdict})")

        ttft: dict[str, list[float]] = {"ours": [], "openai": [], "httpx": []}
        short = "hello there, general"
        for _ in range(args.ttft_runs):
            ttft["httpx"].append(first_text(lambda mark: _bare_first(http, url, short, mark)))
            ttft["ours"].append(
                first_text(lambda mark: client.generate(short, MODEL, stream=True, on_text=lambda _p: mark()))
            )
            ttft["openai"].append(first_text(lambda mark: _openai_first(sdk, short, mark)))
        print(f"{'time to first token':<28}{'median ms':>12}{'p90 ms':>9}")
        for name in ("httpx", "ours", "openai"):
            values = sorted(ttft[name])
            p90 = values[int(len(values) * 0.9) - 1]
            print(f"  {name:<26}{statistics.median(values) * 1000:>12.3f}{p90 * 1000:>9.3f}")
        added = (statistics.median(ttft["ours"]) - statistics.median(ttft["httpx"])) * 1000
        verdict = "PASS" if added <= 1 else "FAIL"
        print(f"  added by the client over bare httpx: {added:.3f} ms (target ≤ 1 ms: {verdict})")


class ResplitDecoder:
    """The line splitting of the decoder ``SSEDecoder`` replaced (before issue 16): every read re-split the
    whole pending text, so one line arriving in N reads was scanned N times. Kept only as the reference."""

    _LINE_END = re.compile(r"\r\n|\r|\n")

    def __init__(self) -> None:
        self._text = codecs.getincrementaldecoder("utf-8")(errors="strict")
        self._pending = ""
        self.lines = 0

    def feed(self, chunk: bytes) -> None:
        lines = self._LINE_END.split(self._pending + self._text.decode(chunk))
        self._pending = lines.pop()
        self.lines += len(lines)


def long_line(megabytes: int) -> None:
    """Decode one ``data:`` line of ``megabytes`` MB, in 64 KiB reads, with the new and the old decoder."""
    block = b"a" * 65536
    reads = megabytes * 1024 * 1024 // len(block)
    size = reads * len(block)
    print(f"one data: line of {size / 1e6:.0f} MB in {reads:,} reads of 64 KiB, no line end until the last")
    new = SSEDecoder(max_event_bytes=size * 2)  # room for the whole line: time the decoding, not the cap
    started = time.perf_counter()
    new.feed(b"data: ")
    for _ in range(reads):
        new.feed(block)
    events = new.feed(b"\n\n")
    new_s = time.perf_counter() - started
    assert len(events[0].data) == size
    old = ResplitDecoder()
    started = time.perf_counter()
    old.feed(b"data: ")
    for _ in range(reads):
        old.feed(block)
    old.feed(b"\n\n")
    old_s = time.perf_counter() - started
    print(f"  SSEDecoder (each read scanned once): {new_s:8.3f} s")
    print(f"  re-split decoder (before):           {old_s:8.3f} s   ({old_s / new_s:,.0f}× slower)")
    capped = SSEDecoder()
    fed = 0
    try:
        capped.feed(b"data: ")
        for _ in range(reads):
            capped.feed(block)
            fed += len(block)
    except EventTooLarge:
        print(f"  default max_event_bytes ({DEFAULT_MAX_EVENT_BYTES:,}): stopped after {fed / 1e6:.1f} MB")
    else:
        print(f"  default max_event_bytes ({DEFAULT_MAX_EVENT_BYTES:,}): the line fits")


def _bare_first(http: httpx.Client, url: str, prompt: str, mark: Callable[[], None]) -> None:
    body = {"model": MODEL, "messages": [{"role": "user", "content": prompt}], "stream": True}
    with http.stream("POST", f"{url}/chat/completions", json=body) as response:
        for chunk in response.iter_bytes():
            if b'"content"' in chunk:
                mark()
        # read to the end, as the others do


def _openai_first(sdk: object, prompt: str, mark: Callable[[], None]) -> None:
    for chunk in openai_stream_iter(sdk, prompt):
        if chunk.choices and chunk.choices[0].delta.content:
            mark()


def openai_stream_iter(sdk: object, prompt: str) -> object:
    return sdk.chat.completions.create(  # type: ignore[attr-defined]
        model=MODEL, messages=[{"role": "user", "content": prompt}], stream=True
    )


if __name__ == "__main__":
    main()
