"""The generation client: call a model through OpenRouter (or a registered model of your own) and account
the tokens and the cost of every call.

    from catalog import Catalog
    from catalog.client import Client

    with Catalog.open() as cat, Client(prices=cat) as client:
        g = client.generate("Name two colours", "openai/gpt-4o-mini", stream=True, on_text=print)
        print(g.usage, g.cost, g.billed_cost, g.cost_difference, g.provider, g.ttft)

``provider:author/model`` (``anthropic:anthropic/claude-haiku-4.5``) calls that provider's own API when its
key is set (``ANTHROPIC_API_KEY`` …; ``catalog.client.native``), with the model id the catalog recorded for
that endpoint, and otherwise goes through OpenRouter pinned to it; ``Generation.via`` says which.

``generate`` / ``agenerate`` below do one call with a client built from the environment
(``OPENROUTER_API_KEY``, ``OPENROUTER_BASE_URL``). The package imports only settings, errors and the cost
engine: the catalog reaches it as a ``prices`` argument, never as an import.
"""

from __future__ import annotations

from typing import Any

from catalog.client.assemble import ToolCall
from catalog.client.client import CLIENT_OPTIONS, AsyncClient, Client
from catalog.client.generation import Generation
from catalog.client.ids import ModelRef
from catalog.client.options import ChatOptions, cached_text, json_schema
from catalog.client.request import Prompt
from catalog.client.structured import StructuredOutputError


def generate(prompt: Prompt, model: str, **options: Any) -> Generation:
    """One call with a client from the environment; ``prices=`` (e.g. ``Catalog.open()``) costs it. Client
    options (``CLIENT_OPTIONS``) go to the client, the rest into the call."""
    client_options = {k: options.pop(k) for k in CLIENT_OPTIONS if k in options}
    with Client(**client_options) as client:
        return client.generate(prompt, model, **options)


async def agenerate(prompt: Prompt, model: str, **options: Any) -> Generation:
    """The same, awaited."""
    client_options = {k: options.pop(k) for k in CLIENT_OPTIONS if k in options}
    async with AsyncClient(**client_options) as client:
        return await client.generate(prompt, model, **options)


__all__ = [
    "AsyncClient",
    "ChatOptions",
    "Client",
    "Generation",
    "ModelRef",
    "StructuredOutputError",
    "ToolCall",
    "agenerate",
    "cached_text",
    "generate",
    "json_schema",
]
