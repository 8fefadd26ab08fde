"""``client.embed(model, inputs)``: ``POST /embeddings`` and what it cost.

The request is the spec's embeddings body (``model``, ``input`` — one string or a list —, and ``dimensions``,
``encoding_format``, ``input_type``, ``user``, ``provider`` when given); ``provider:author/model`` pins a
provider as ``generate`` does. The answer's vectors come back in input order (by ``index``), with the usage
(``prompt_tokens``; an embedding has no completion) priced by the engine exactly as a chat answer's is: the
price in force at the answer's time for the provider that served it, else the model's list price. Until
OpenRouter's embeddings models are in the history, ``client.register_model(id, {"prompt": "…"})`` gives one a
price (``price_source: "custom"``). OpenRouter's billed ``usage.cost`` is kept beside it, read exactly.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from catalog.client.assemble import Draft
from catalog.client.generation import Prices
from catalog.client.ids import ModelRef
from catalog.errors import InputError, UpstreamError
from catalog.prices import canonical
from catalog.settings import join_url

EMBEDDING_OPTIONS = ("dimensions", "encoding_format", "input_type", "user", "provider")


@dataclass
class Embeddings:
    """The vectors of one ``embed`` call (one per input, in order), its usage and its cost."""

    vectors: list[list[float]]
    model: str | None
    usage: dict[str, int]
    cost: Decimal | None
    cost_status: str
    billed_cost: Decimal | None
    elapsed: float
    id: str | None = None
    provider: str | None = None
    cost_reason: str | None = None
    price_source: str | None = None
    data: dict[str, Any] = field(default_factory=dict, repr=False)  # the answer as received, vectors aside

    @property
    def cost_difference(self) -> Decimal | None:
        """Computed minus billed (None unless both are known)."""
        return self.cost - self.billed_cost if self.cost is not None and self.billed_cost is not None else None

    def to_dict(self) -> dict[str, Any]:
        def money(value: Decimal | None) -> str | None:
            return canonical(value) if value is not None else None

        return {
            "id": self.id,
            "model": self.model,
            "provider": self.provider,
            "vectors": self.vectors,
            "usage": self.usage,
            "cost": money(self.cost),
            "cost_status": self.cost_status,
            "cost_reason": self.cost_reason,
            "price_source": self.price_source,
            "billed_cost": money(self.billed_cost),
            "cost_difference": money(self.cost_difference),
            "elapsed_s": round(self.elapsed, 6),
        }


@dataclass(frozen=True)
class EmbeddingsCall:
    """Where to send one ``embed`` call, and what: the URL, the key to send (None: none) and the body."""

    url: str
    key: str | None
    body: dict[str, Any]
    model: str  # the id the cost is looked up by


def embeddings_call(
    prices: Prices, base_url: str, api_key: str | None, model: str, inputs: str | list[str], **options: Any
) -> EmbeddingsCall:
    """The request ``embed`` sends; unknown options are refused with the known ones."""
    unknown = sorted(set(options) - set(EMBEDDING_OPTIONS))
    if unknown:
        raise InputError(f"embed() got {', '.join(unknown)}; it takes {', '.join(EMBEDDING_OPTIONS)}")
    if isinstance(inputs, str):
        texts: str | list[str] = inputs
    elif isinstance(inputs, list | tuple) and inputs and all(isinstance(t, str) for t in inputs):
        texts = list(inputs)
    else:
        raise InputError("inputs must be a string or a non-empty list of strings")
    custom = prices.custom.get(model)
    options = {k: v for k, v in options.items() if v is not None}
    if custom is not None:
        body = {"model": custom.upstream_model or model, "input": texts, **options}
        if custom.base_url:  # its own server, with its own key: never the OpenRouter one
            return EmbeddingsCall(join_url(custom.base_url, "embeddings"), custom.api_key, body, model)
        return EmbeddingsCall(join_url(base_url, "embeddings"), api_key, body, model)
    ref = ModelRef.parse(model)
    body = {"model": ref.model, "input": texts, **options}
    routing = ref.routing(options.get("provider"))
    if routing is not None:
        body["provider"] = routing
    return EmbeddingsCall(join_url(base_url, "embeddings"), api_key, body, ref.model)


def embeddings_result(prices: Prices, call: EmbeddingsCall, body: Any, elapsed: float) -> Embeddings:
    """The answer ``body`` as ``Embeddings``, its usage priced; not the spec's shape is an ``UpstreamError``."""
    items = body.get("data") if isinstance(body, dict) else None
    if not isinstance(items, list):
        raise UpstreamError(f"POST /embeddings answered without a data list: {str(body)[:120]!r}")
    vectors: list[tuple[int, list[float]]] = []
    for position, item in enumerate(items):
        vector = item.get("embedding") if isinstance(item, dict) else None
        if not isinstance(vector, list) or not all(isinstance(x, int | float | Decimal) for x in vector):
            raise UpstreamError(f"POST /embeddings: data[{position}].embedding is not a list of numbers")
        index = item.get("index", position)
        vectors.append((index if isinstance(index, int) else position, [float(x) for x in vector]))
    draft = Draft()
    draft.id = body.get("id") if isinstance(body.get("id"), str) else None
    draft.model = body.get("model") if isinstance(body.get("model"), str) else None
    draft.provider = body.get("provider") if isinstance(body.get("provider"), str) else None
    draft.created = time.time()  # an embeddings answer carries no time: it is priced as of now
    if isinstance(body.get("usage"), dict):
        # the normaliser reads OpenRouter's usage object as a chat completion's (prompt_tokens, cost, is_byok)
        draft.usage_body = {k: v for k, v in body.items() if k != "data"}
    priced = prices.price(draft, call.model, now=datetime.now(UTC))
    return Embeddings(
        vectors=[vector for _, vector in sorted(vectors, key=lambda pair: pair[0])],
        model=draft.model or call.model,
        usage=priced["usage"],
        cost=priced["cost"],
        cost_status=priced["status"],
        billed_cost=priced["billed"],
        elapsed=elapsed,
        id=draft.id,
        provider=draft.provider,
        cost_reason=priced["reason"],
        price_source=priced["source"],
        data={k: v for k, v in body.items() if k != "data"},
    )
