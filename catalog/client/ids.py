"""Model ids as the client takes them, and the request fields they become.

* ``author/model`` lets OpenRouter route among the model's providers;
* ``provider:author/model`` (OpenRouter.jl's syntax, e.g. ``groq:moonshotai/kimi-k2-0905``) pins one provider:
  ``provider.only = [provider]`` and no fallbacks;
* suffixes ``:free``, ``:nitro``, ``:floor``, ``:online`` (after the model) pass through unchanged: they are
  part of the id OpenRouter routes on. A colon *before* the first slash is a provider, one after it a suffix.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from catalog.errors import InputError


@dataclass(frozen=True)
class ModelRef:
    model: str
    provider: str | None = None  # a pinned provider slug

    @classmethod
    def parse(cls, text: str) -> ModelRef:
        value = text.strip()
        if any(ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0 for c in value):
            raise InputError(f"model {text[:60]!r} holds control characters; write author/model (openai/gpt-4o)")
        slash = value.find("/")
        colon = value.find(":")
        dots = any(part.strip() in ("", ".", "..") for part in value.split("/"))  # a path, not an id
        if slash <= 0 or slash == len(value) - 1 or dots:
            raise InputError(
                f"model {text!r} is not an OpenRouter id: write author/model (openai/gpt-4o), "
                "or provider:author/model to pin a provider (groq:moonshotai/kimi-k2-0905)"
            )
        if 0 <= colon < slash:
            provider, model = value[:colon].strip(), value[colon + 1 :].strip()
            if not provider or "/" not in model:
                raise InputError(f"model {text!r}: write provider:author/model, e.g. groq:moonshotai/kimi-k2-0905")
            return cls(model, provider)
        return cls(value)

    def routing(self, provider: dict[str, Any] | None) -> dict[str, Any] | None:
        """The request's ``provider`` object: the caller's, with the pinned provider forced in."""
        if self.provider is None:
            return provider
        return {**(provider or {}), "only": [self.provider], "allow_fallbacks": False}
