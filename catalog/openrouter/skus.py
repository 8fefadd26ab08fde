"""SKU prices (``pricing_skus``) and model kinds, read from names alone: pure functions, no I/O.

A SKU is ``prefix:name`` (``alibaba_video:duration_seconds_720p``) with a price as text. The name is read for
structure — the unit it bills, the direction (input / output) and the variant (resolution, multilingual, with
or without audio …) — but never required to be understood: an unknown name is kept whole, with no unit, and is
still a price. The amount is the recorded text as an exact ``Decimal`` (never through a float); a name that
says ``cents`` (``bfl_video:cents_per_second_output`` 17) is in US cents, so ``usd`` is the amount / 100.
``informational_*`` keys, ``*_multiplier`` keys and ``upstream_cost_*`` are facts about billing, not prices
(``is_price`` false): they are stored and shown, and never priced or announced as price changes.

A model's *kind* comes from its output modalities, first match wins: ``embeddings``, ``rerank``, ``video``,
``speech``, ``transcription``, ``image`` (image-only and image+text models alike), ``audio`` (music and
text+audio models: the ``/song`` SKUs), else ``text``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

KINDS: tuple[str, ...] = ("embeddings", "rerank", "video", "speech", "transcription", "image", "audio", "text")
KIND_ALIASES = {"music": "audio", "embedding": "embeddings", "images": "image", "videos": "video", "tts": "speech"}
# The output modality each kind is listed under, for ``/models?output_modalities=…`` and the scope rules.
ALL_SCOPE = "all"

# name fragment -> unit, checked in this order (``image_output_tokens`` bills tokens, not images)
_UNITS: tuple[tuple[str, str], ...] = (
    ("tokens", "token"),
    ("megapixel", "megapixel"),
    ("pixels", "pixel"),
    ("characters", "character"),
    ("bytes", "byte"),
    ("minutes", "minute"),
    ("hours", "hour"),
    ("second", "second"),
    # no bare "duration": the one recorded (google_cloud_stt:duration) is listed at its per-minute price, so
    # the name alone does not say the unit; it stays a price with no unit rather than a wrong one
    ("search", "search"),
    ("song", "song"),
    ("font", "font"),
    ("reference", "reference"),
    ("image", "image"),
    ("generation", "generation"),
)
_RESOLUTION = re.compile(r"(?:^|_)(\d{3,4}p|\d+k)(?=_|$)")
_QUALIFIERS = (
    "multilingual",
    "without_audio",
    "with_audio",
    "high_context",
    "text_to_video",
    "image_to_video",
    "video_continuation",
    "cache_read",
    "cache_write",
    "moodboard",
    "style_reference",
    "super_resolution",
    "minimum",
)


@dataclass(frozen=True)
class Sku:
    """One SKU price as recorded, with what its name says."""

    sku: str  # the whole key as recorded, prefix included
    text: str  # the price as recorded
    amount: Decimal | None  # Decimal(text); None when the text is not a number (kept, never a failure)
    usd: Decimal | None  # USD per unit: the amount, or amount / 100 for a name in cents
    unit: str | None  # token, second, character, minute, search, song, image, megapixel …; None: unknown
    billable: str | None  # input / output / None
    variant: str | None  # resolution and qualifiers, comma-separated (``720p``, ``with_audio,4k``)
    is_price: bool

    @property
    def cents(self) -> bool:
        return "cents" in self.name

    @property
    def name(self) -> str:
        return self.sku.split(":", 1)[1] if ":" in self.sku else self.sku


def parse_sku(sku: str, value: Any) -> Sku:
    """Read one SKU; never raises (an unreadable price keeps its text and has no amount)."""
    text = value if isinstance(value, str) else str(value)
    name = (sku.split(":", 1)[1] if ":" in sku else sku).lower()
    amount: Decimal | None
    try:
        amount = Decimal(text)
    except (InvalidOperation, ValueError):
        amount = None
    if amount is not None and not amount.is_finite():
        amount = None
    not_price = name.startswith("informational_") or name.endswith("_multiplier") or name.startswith("upstream_cost")
    unit = next((u for fragment, u in _UNITS if fragment in name), None)
    if name.endswith("_multiplier"):
        unit = "multiplier"
    words = set(re.split(r"[_\-]", name))
    billable = "input" if words & {"input", "prompt"} else "output" if words & {"output", "completion"} else None
    variant_parts = [q for q in _QUALIFIERS if q in name and not (q == "with_audio" and "without_audio" in name)]
    variant_parts += _RESOLUTION.findall(name)
    usd = None
    if amount is not None and not not_price:
        usd = amount / 100 if "cents" in name else amount
    return Sku(
        sku=sku,
        text=text,
        amount=amount,
        usd=usd,
        unit=unit,
        billable=billable,
        variant=",".join(variant_parts) or None,
        is_price=not not_price and amount is not None,
    )


def parse_skus(raw: Any) -> tuple[Sku, ...]:
    """A ``pricing_skus`` object → its SKUs sorted by name (anything but an object: none)."""
    if not isinstance(raw, Mapping):
        return ()
    return tuple(parse_sku(str(k), v) for k, v in sorted(raw.items(), key=lambda kv: str(kv[0])))


def model_kind(output_modalities: Iterable[str] | None) -> str:
    """The kind of a model from its output modalities (see the module doc)."""
    outputs = set(output_modalities or ())
    return next((k for k in KINDS[:-1] if k in outputs), "text")


def normalise_kind(kind: str) -> str | None:
    """A kind as a user types it (``music``, ``Embedding``) → one of ``KINDS``, or None."""
    lowered = kind.strip().lower()
    lowered = KIND_ALIASES.get(lowered, lowered)
    return lowered if lowered in KINDS else None


def in_scope(output_modalities: Iterable[str] | None, scope: str) -> bool:
    """Whether a model with these outputs is one a snapshot of ``scope`` lists.

    ``scope`` is ``all`` or comma-separated output modalities (``text``: the default ``/models``, which lists
    every model with a text output). A model with no recorded outputs is an old text model.
    """
    if scope == ALL_SCOPE:
        return True
    outputs = set(output_modalities or ()) or {"text"}
    return bool(outputs & set(scope.split(",")))
