"""Provider usage shapes → the one usage contract (``catalog.cost.usage``, domain notes §3).

Each ``from_*`` function takes one provider's usage object, parsed with ``json.loads(..., parse_float=Decimal)``
so that money stays exact, and returns a dict of contract fields: counts as ``int``, ``billed_cost`` /
``upstream_cost`` as the exact decimal text received, ``is_byok`` as ``bool``. A field the provider did not
send (or sent as ``null``) is left out; the contract reads a missing count as 0.

    from_openrouter_chat(usage)         OpenRouter (and OpenAI) chat completions: prompt_tokens / completion_tokens
    from_openrouter_responses(usage)    OpenRouter (and OpenAI) Responses API: input_tokens / output_tokens
    from_anthropic(usage)               Anthropic Messages: input_tokens EXCLUDES the cache, so it is added back
    from_gemini(usage_metadata)         Gemini: thoughts BESIDE candidates, cached content INSIDE the prompt
    from_openai(usage)                  OpenAI native, chat or Responses shape, told apart by its keys

Bad values — two modes, chosen by the caller with ``problems``:

* strict (``problems=None``, the default): a value that is not a whole, non-negative number (a bool, a fraction,
  text that is not a number, a negative count, money as a binary float, an object where a number belongs) raises
  ``UsageFormatError``, whose message names every such field.
* collecting (``problems=[...]``): nothing raises; a message naming each bad field is appended to the list and
  the row is still returned. A value of the wrong *kind* is left out of the row (there is nothing exact to
  keep). A negative number is kept as given: it is a count, just an impossible one, and the engine's validity
  check flags the row beside the other impossible usage (parts larger than their whole). Batch readers
  (``catalog.cost.bodies``) use this mode so one bad row never stops a file.

Nothing is clamped or reconciled here: OpenRouter sometimes reports parts that exceed their whole (a Gemini
call with 2161 cached *and* 2161 cache-write tokens out of a 2168-token prompt); that is passed on faithfully
for the engine to flag.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from catalog.errors import InputError

# Plain or scientific decimal text, as upstream numbers are written; Decimal() alone would also accept
# "Infinity", "NaN" or "1_000".
_NUMBER = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$")
_INT64_MAX = 2**63 - 1
_INT64_DIGITS = 18  # the adjusted exponent of INT64_MAX: any count beyond it is too large
# Amounts of USD outside 1e-40 .. 1e15 are not prices or bills; Decimal arithmetic on them would underflow or
# overflow the context rather than answer.
_MONEY_EXPONENTS = (-40, 15)


def _short(value: Any) -> str:
    """``value`` as a message shows it: a 5,000-character number would bury the message."""
    text = repr(value)
    return text if len(text) <= 40 else f"{text[:20]}…{text[-8:]} ({len(text):,} characters)"


class UsageFormatError(InputError):
    """Usage values that are not counts or amounts we can take exactly; ``problems`` lists one per field."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


# --- one value -------------------------------------------------------------------------------------------------


def _number(value: Any) -> Decimal | None:
    """``value`` as an exact Decimal if it is a JSON number or numeric text; ``None`` for any other kind."""
    if isinstance(value, bool):  # bool is an int subclass: true must not count as 1 token
        return None
    if isinstance(value, int | Decimal):
        number = Decimal(value)
    elif isinstance(value, str) and _NUMBER.match(value.strip()):
        try:
            number = Decimal(value.strip())
        except InvalidOperation:
            return None
    else:
        return None
    return number if number.is_finite() else None


def count_value(value: Any, *, field: str, problems: list[str]) -> int | None:
    """A token / unit count as ``int``; bad values are described in ``problems`` (see the module docstring).

    ``12``, ``Decimal("12.0")`` and ``"12"`` are all 12. A float is accepted only when whole, since a
    whole float is still the exact count.
    """
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    number = _number(value)
    if number is None:
        problems.append(f"{field} is {value!r}, not a whole number of tokens")
        return None
    # Magnitude first: arithmetic on an exponent like 1e999999999 overflows the Decimal context.
    if number.adjusted() > _INT64_DIGITS or abs(number) > _INT64_MAX:  # the contract stores counts as Int64
        problems.append(f"{field} is {_short(value)}, too large to be a count of tokens")
        return None
    if number != number.to_integral_value():
        problems.append(f"{field} is {value!r}, not a whole number of tokens")
        return None
    whole = int(number)
    if whole < 0:
        problems.append(f"{field} is {whole}, a negative count (kept as given so the row is flagged invalid)")
    return whole


def money_text(value: Any, *, field: str, problems: list[str]) -> str | None:
    """An amount of USD as exact decimal text (``Decimal`` → its own spelling, ``0`` stays ``"0"``)."""
    if value is None:
        return None
    if isinstance(value, float):
        # The exact amount is already lost; refusing makes the caller fix the parse (as prices do).
        problems.append(f"{field} {value!r} arrived as a binary float; parse JSON with parse_float=Decimal")
        return None
    number = _number(value)
    if number is None:
        problems.append(f"{field} is {_short(value)}, not an amount of USD")
        return None
    if number and not _MONEY_EXPONENTS[0] <= number.adjusted() <= _MONEY_EXPONENTS[1]:
        problems.append(f"{field} is {_short(value)}, not a plausible amount of USD")
        return None
    text = value.strip() if isinstance(value, str) else str(value)
    if number < 0:
        problems.append(f"{field} is {text}, a negative amount (kept as given)")
    return text


def flag_value(value: Any, *, field: str, problems: list[str]) -> bool | None:
    """A JSON boolean; anything else is described in ``problems`` and left out."""
    if value is None or isinstance(value, bool):
        return value
    problems.append(f"{field} is {value!r}, not true or false")
    return None


# --- one usage object ------------------------------------------------------------------------------------------


class _Usage:
    """Reads fields of one usage object by path, describing bad values instead of raising."""

    def __init__(self, usage: Any, name: str, problems: list[str]) -> None:
        if not isinstance(usage, Mapping):
            problems.append(f"{name} is {usage!r}, expected an object")
            usage = {}
        self.usage: Mapping[str, Any] = usage
        self.name = name
        self.problems = problems

    def field(self, path: tuple[str, ...]) -> str:
        return ".".join((self.name, *path))

    def get(self, *path: str) -> Any:
        node: Any = self.usage
        for depth, key in enumerate(path):
            if node is None:
                return None
            if not isinstance(node, Mapping):
                message = f"{self.field(path[:depth])} is {node!r}, expected an object"
                if message not in self.problems:  # one report per bad object, not one per field read from it
                    self.problems.append(message)
                return None
            node = node.get(key)
        return node

    def count(self, *path: str) -> int | None:
        return count_value(self.get(*path), field=self.field(path), problems=self.problems)

    def money(self, *path: str) -> str | None:
        return money_text(self.get(*path), field=self.field(path), problems=self.problems)

    def flag(self, *path: str) -> bool | None:
        return flag_value(self.get(*path), field=self.field(path), problems=self.problems)

    def counts(self, paths: Mapping[str, tuple[str, ...]]) -> dict[str, int | None]:
        return {target: self.count(*path) for target, path in paths.items()}

    def modality(self, key: str, modality: str) -> int | None:
        """Sum of ``tokenCount`` over a Gemini ``[{modality, tokenCount}]`` list for one modality."""
        entries = self.get(key)
        if entries is None:
            return None
        if not isinstance(entries, list):
            self.problems.append(f"{self.field((key,))} is {entries!r}, expected a list")
            return None
        total: int | None = None
        for index, entry in enumerate(entries):
            if not isinstance(entry, Mapping):
                self.problems.append(f"{self.name}.{key}[{index}] is {entry!r}, expected an object")
            elif entry.get("modality") == modality:
                # Gemini leaves out zero counts, so an entry without tokenCount is 0 tokens.
                field = f"{self.name}.{key}[{index}].tokenCount"
                count = count_value(entry.get("tokenCount", 0), field=field, problems=self.problems)
                total = _sum(total, count)
        return total


def _sum(*parts: int | None) -> int | None:
    """Sum of the parts that were reported; ``None`` when none was (so "missing" stays distinguishable from 0)."""
    present = [part for part in parts if part is not None]
    return sum(present) if present else None


def _finish(row: Mapping[str, Any], found: list[str], problems: list[str] | None) -> dict[str, Any]:
    if problems is None:
        if found:
            raise UsageFormatError(found)
    else:
        problems.extend(found)
    return {name: value for name, value in row.items() if value is not None}


def _money(usage: _Usage) -> dict[str, Any]:
    """OpenRouter's billing fields, the same in chat completions and Responses API usage."""
    return {
        "billed_cost": usage.money("cost"),
        "upstream_cost": usage.money("cost_details", "upstream_inference_cost"),
        "is_byok": usage.flag("is_byok"),
    }


# --- the shapes ------------------------------------------------------------------------------------------------

_OPENAI_CHAT = {
    "prompt_tokens": ("prompt_tokens",),
    "completion_tokens": ("completion_tokens",),
    "cache_read_tokens": ("prompt_tokens_details", "cached_tokens"),
    "audio_input_tokens": ("prompt_tokens_details", "audio_tokens"),
    "reasoning_tokens": ("completion_tokens_details", "reasoning_tokens"),
    "audio_output_tokens": ("completion_tokens_details", "audio_tokens"),
}
_OPENROUTER_CHAT = {
    **_OPENAI_CHAT,
    "cache_write_tokens": ("prompt_tokens_details", "cache_write_tokens"),
    "image_output_tokens": ("completion_tokens_details", "image_tokens"),
    "web_searches": ("server_tool_use_details", "web_search_requests"),
}
_OPENAI_RESPONSES = {
    "prompt_tokens": ("input_tokens",),
    "completion_tokens": ("output_tokens",),
    "cache_read_tokens": ("input_tokens_details", "cached_tokens"),
    "reasoning_tokens": ("output_tokens_details", "reasoning_tokens"),
}
_OPENROUTER_RESPONSES = {
    **_OPENAI_RESPONSES,
    "cache_write_tokens": ("input_tokens_details", "cache_write_tokens"),
    "web_searches": ("server_tool_use_details", "web_search_requests"),
}


def from_openrouter_chat(usage: Mapping[str, Any], *, problems: list[str] | None = None) -> dict[str, Any]:
    """OpenRouter's chat-completions ``usage``: cached reads and writes inside the prompt, reasoning inside the
    completion, ``cost`` as billed. Every field is optional (2024 bodies have no cost, cache writes only since
    2026). OpenRouter reports one ``cache_write_tokens`` count, so every write is a 5-minute write here."""
    found: list[str] = []
    reader = _Usage(usage, "usage", found)
    return _finish({**reader.counts(_OPENROUTER_CHAT), **_money(reader)}, found, problems)


def from_openrouter_responses(usage: Mapping[str, Any], *, problems: list[str] | None = None) -> dict[str, Any]:
    """OpenRouter's Responses API ``usage``: ``input_tokens`` / ``output_tokens`` with the same containment
    and the same billing fields as chat completions."""
    found: list[str] = []
    reader = _Usage(usage, "usage", found)
    return _finish({**reader.counts(_OPENROUTER_RESPONSES), **_money(reader)}, found, problems)


def from_anthropic(usage: Mapping[str, Any], *, problems: list[str] | None = None) -> dict[str, Any]:
    """Anthropic's native ``usage``. ``input_tokens`` excludes the cache, so the prompt is input + cache reads +
    cache writes. The ``cache_creation`` split, when present, decides 5-minute vs 1-hour writes; without it
    every write is a 5-minute write (the only TTL before the split existed)."""
    found: list[str] = []
    reader = _Usage(usage, "usage", found)
    read = reader.count("cache_read_input_tokens")
    creation = reader.count("cache_creation_input_tokens")
    five_minutes = reader.count("cache_creation", "ephemeral_5m_input_tokens")
    one_hour = reader.count("cache_creation", "ephemeral_1h_input_tokens")
    split = _sum(five_minutes, one_hour)
    if split is None:
        five_minutes = creation
    elif creation is not None and creation != split:
        # The split would price a different number of written tokens than the total says: not usable as is.
        found.append(
            f"usage.cache_creation ({five_minutes or 0} 5-minute + {one_hour or 0} 1-hour tokens) does not add "
            f"up to usage.cache_creation_input_tokens ({creation})"
        )
    row = {
        "prompt_tokens": _sum(reader.count("input_tokens"), read, creation if creation is not None else split),
        "completion_tokens": reader.count("output_tokens"),
        "cache_read_tokens": read,
        "cache_write_tokens": five_minutes,
        "cache_write_1h_tokens": one_hour,
        # OpenRouter's Anthropic-compatible shape adds thinking tokens, which Anthropic bills inside output.
        "reasoning_tokens": reader.count("output_tokens_details", "thinking_tokens"),
        "web_searches": reader.count("server_tool_use", "web_search_requests"),
    }
    return _finish(row, found, problems)


def from_gemini(usage_metadata: Mapping[str, Any], *, problems: list[str] | None = None) -> dict[str, Any]:
    """Gemini's ``usageMetadata``. ``cachedContentTokenCount`` is inside ``promptTokenCount``; thoughts are
    reported *beside* the candidates, so completion = candidates + thoughts; tool-use prompt tokens are prompt
    too. Audio and image counts come from the per-modality details."""
    found: list[str] = []
    reader = _Usage(usage_metadata, "usageMetadata", found)
    thoughts = reader.count("thoughtsTokenCount")
    row = {
        "prompt_tokens": _sum(reader.count("promptTokenCount"), reader.count("toolUsePromptTokenCount")),
        "completion_tokens": _sum(reader.count("candidatesTokenCount"), thoughts),
        "cache_read_tokens": reader.count("cachedContentTokenCount"),
        "reasoning_tokens": thoughts,
        "audio_input_tokens": _sum(
            reader.modality("promptTokensDetails", "AUDIO"), reader.modality("toolUsePromptTokensDetails", "AUDIO")
        ),
        "audio_output_tokens": reader.modality("candidatesTokensDetails", "AUDIO"),
        "image_output_tokens": reader.modality("candidatesTokensDetails", "IMAGE"),
    }
    return _finish(row, found, problems)


def from_openai(usage: Mapping[str, Any], *, problems: list[str] | None = None) -> dict[str, Any]:
    """OpenAI's native ``usage``, either shape: Chat Completions (``prompt_tokens`` …) or Responses
    (``input_tokens`` …), told apart by their keys. Cached and audio tokens inside the prompt, reasoning and
    audio inside the completion, as OpenRouter reports them."""
    found: list[str] = []
    reader = _Usage(usage, "usage", found)
    responses = "input_tokens" in reader.usage or "output_tokens" in reader.usage
    return _finish(reader.counts(_OPENAI_RESPONSES if responses else _OPENAI_CHAT), found, problems)
