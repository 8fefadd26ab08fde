"""``POST /api/v1/embeddings`` on the fake: deterministic echo embeddings with exact usage and a billed cost.

``echo/<anything>`` embeds each input text (a string, or a list of strings) as ``dimensions`` numbers (default
:data:`DEFAULT_DIMENSIONS`) drawn from SHA-256 of the dimensions and the text, each in [-1, 1] with six
decimals: the same text always gives the same vector, another text another one. Usage counts the echo tokens
of every input (``catalog.fake.chat.tokens``), ``total_tokens`` the same; ``cost`` is exactly
``prompt_tokens × ECHO_PRICING["prompt"]``, so an embedding is priced like the echo model's prompt. Each answer
is kept as a generation record (``api_type: "embeddings"``) for ``GET /generation``.

The body is the spec's embeddings request; token-id arrays and multimodal inputs, which the fake cannot echo,
are a 400 saying so, as is ``encoding_format: "base64"``. The answer is the spec's response: ``{"id", "object":
"list", "data": [{"object": "embedding", "embedding", "index"}], "model", "usage"}``.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import time
from decimal import Decimal
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from catalog.fake.account import GenerationLog, GenerationRecord, elapsed_ms
from catalog.fake.chat import ECHO_PREFIX, ECHO_PRICING, ECHO_PROVIDER, tokens
from catalog.fake.responses import error_response, json_response

DEFAULT_DIMENSIONS = 8
MAX_DIMENSIONS = 4096
_PROMPT_PRICE = Decimal(ECHO_PRICING["prompt"])


def echo_vector(text: str, dimensions: int) -> list[float]:
    """The echo embedding of ``text``: ``dimensions`` numbers in [-1, 1], six decimals, from SHA-256."""
    out: list[float] = []
    for block in itertools.count():
        digest = hashlib.sha256(f"{dimensions}\0{block}\0{text}".encode()).digest()
        for i in range(0, len(digest), 2):
            out.append(round(int.from_bytes(digest[i : i + 2], "big") / 32767.5 - 1, 6))
            if len(out) == dimensions:
                return out
    raise AssertionError("unreachable")


class EmbeddingsRoute:
    """The route, recording each answer in ``generations``."""

    def __init__(self, generations: GenerationLog) -> None:
        self.generations = generations
        self._ids = itertools.count(1)

    async def handle(self, request: Request) -> Response:
        started = time.monotonic()
        try:
            body = json.loads(await request.body())
        except ValueError:
            return error_response(400, "request body must be a JSON object (Content-Type: application/json)")
        problem = _problem(body)
        if problem:
            return error_response(400, problem)
        model: str = body["model"]
        raw = body["input"]
        texts: list[str] = [raw] if isinstance(raw, str) else list(raw)
        dimensions = body.get("dimensions") or DEFAULT_DIMENSIONS
        prompt = sum(len(tokens(text)) for text in texts)
        cost = prompt * _PROMPT_PRICE
        generation_id = f"gen-emb-echo-{next(self._ids)}"
        self.generations.record(
            GenerationRecord(
                id=generation_id,
                model=model,
                provider=ECHO_PROVIDER,
                created=time.time(),
                prompt_tokens=prompt,
                completion_tokens=0,
                cached_tokens=0,
                reasoning_tokens=0,
                cost=cost,
                streamed=False,
                finish_reason=None,
                latency_ms=elapsed_ms(started),
                api_type="embeddings",
            )
        )
        return json_response(
            {
                "id": generation_id,
                "object": "list",
                "data": [
                    {"object": "embedding", "embedding": echo_vector(text, dimensions), "index": index}
                    for index, text in enumerate(texts)
                ],
                "model": model,
                "usage": {"prompt_tokens": prompt, "total_tokens": prompt, "cost": float(cost), "is_byok": False},
            },
            headers={"x-generation-id": generation_id},
        )


def _problem(body: Any) -> str | None:
    """What the real API (or the fake, for what it cannot echo) would refuse with 400, else None."""
    if not isinstance(body, dict):
        return "request body must be a JSON object"
    model = body.get("model")
    if not isinstance(model, str) or not model.startswith(ECHO_PREFIX) or len(model) == len(ECHO_PREFIX):
        return f"model {model!r} is not a valid model ID (the fake embeds with echo/<anything>)"
    raw = body.get("input")
    texts = [raw] if isinstance(raw, str) else raw
    if not isinstance(texts, list) or not texts or not all(isinstance(t, str) and t for t in texts):
        return "input must be a non-empty string or a non-empty list of non-empty strings (the fake embeds text)"
    dimensions = body.get("dimensions")
    if dimensions is not None and (
        not isinstance(dimensions, int) or isinstance(dimensions, bool) or not 1 <= dimensions <= MAX_DIMENSIONS
    ):
        return f"dimensions must be a whole number from 1 to {MAX_DIMENSIONS}, not {dimensions!r}"
    if body.get("encoding_format", "float") != "float":
        return 'encoding_format: the fake answers "float" only'
    return None
