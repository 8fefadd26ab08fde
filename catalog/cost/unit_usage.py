"""Usage of the other kinds of model (video, speech, transcription, rerank, music, image), priced in their own
units: a second pass over the rows the token engine (``catalog.cost.engine``) has priced.

The usage contract carries, beside the token counts, the counts these models bill by (``UNIT_USAGE``):
``input_images`` / ``output_images``, ``megapixels``, ``video_seconds`` (with ``video_resolution``: 720p,
1080p, 4k …), ``speech_characters``, ``audio_minutes``, ``search_units`` and ``songs``. They may be fractional
(1.5 minutes) and are read as exact decimals (text, integers or decimals; a float through its shortest
spelling), never rounded.

Why a second pass and not more rate columns in the engine: these prices are not keys of a price sheet but SKUs
of an endpoint version (``endpoint_skus``), chosen by the count's unit, direction and variant
(``catalog.cost.units.pick``). The engine already finds, for every row, the price version in force at the
row's time for its endpoint (``sheet_id``: by tag, provider, first listed); the SKUs of that same endpoint
version are the ones in force then. So the as-of, status and endpoint rules are the engine's, unchanged; this
pass only adds the unit terms:

* a row with unit counts is priced at those SKUs: ``cost_units`` = Σ count × USD price (exact ``Decimal``;
  ``audio_minutes`` on a SKU per hour or per second converted as ``catalog.cost.units.term`` converts: a
  division by 60 or 3600 is rounded half to even to 10⁻²⁴ USD, the only rounding), added to ``cost_total``;
  ``cost_base`` = total / (1 − discount) of that endpoint version, rounded half up to the money's unit, as
  the engine does (listed prices already include the discount: never applied again);
  ``unit_skus`` names the SKU used per count. A count no SKU of the endpoint prices (no 4k price per second,
  only a model-level price then) makes the row ``no_price`` with the reason; informational SKUs
  (``bfl:informational_output_megapixels``) are not prices and are never used.
* a row of a model whose endpoint bills its kind's own unit (a video model per second, a speech model per
  character, …) with no count of it is ``invalid`` with the reason — never a silent $0 (those models list
  ``prompt`` / ``completion`` as 0, or carry their unit price there).
* unit counts on a text model's row are ``invalid`` (a text model bills none of them).

Rows the engine could not price (unknown model, no price then, bad counts) keep its status. The pass runs only
when a batch has unit columns or rows of such models; other batches are returned as they are.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from typing import Any

import polars as pl

from catalog.cost.sheets import ROUTING_SUFFIXES, PriceTable
from catalog.cost.units import SkuPrice, pick, sku_prices, term
from catalog.openrouter.skus import model_kind

# usage column -> (unit, direction of the SKU preferred: None for the unit's own default)
UNIT_USAGE: dict[str, tuple[str, str | None]] = {
    "input_images": ("image", "input"),
    "output_images": ("image", "output"),
    "megapixels": ("megapixel", None),
    "video_seconds": ("second", None),
    "speech_characters": ("character", None),
    "audio_minutes": ("minute", None),
    "search_units": ("search", None),
    "songs": ("song", None),
}
RESOLUTION = "video_resolution"  # the variant (720p, 1080p, 4k …) the video_seconds SKU must carry
UNIT_COLUMNS = (*UNIT_USAGE, RESOLUTION)
# The unit a model of each kind bills by: its rows must count it when its endpoint prices it.
KIND_UNIT = {
    "video": "video_seconds",
    "speech": "speech_characters",
    "transcription": "audio_minutes",
    "rerank": "search_units",
    "audio": "songs",
    "image": "output_images",
}
MONEY = ("cost_total", "cost_base", "saving")


@dataclass
class UnitSkus:
    """The SKU prices of every endpoint version that lists some, by (endpoint key, valid_from) — the identity
    of the engine's price version of it — with the version's discount; and every model's kind."""

    by_version: dict[tuple[str, Any], tuple[list[SkuPrice], Decimal]]
    kinds: dict[str, str]
    # Models some endpoint version of which prices their kind's own unit (a video model per second): a row of
    # one priced without an endpoint (the model-level sheet, whose token prices are 0) is refused, not $0.
    billing: frozenset[str] = frozenset()

    @classmethod
    def from_rows(
        cls,
        versions: Iterable[Mapping[str, Any]],
        outputs: Mapping[str, Any],
        slugs: Mapping[str, str] | None = None,
    ) -> UnitSkus:
        """``catalog.store.queries.unit_sku_versions``, ``model_outputs`` and ``model_slugs`` rows (a
        canonical slug has its model's kind; an id that is also another model's slug keeps its own)."""
        kinds = {m: model_kind(o) for m, o in outputs.items()}
        for slug, model_id in (slugs or {}).items():
            if model_id in kinds:
                kinds.setdefault(slug, kinds[model_id])
        by_version: dict[tuple[str, Any], tuple[list[SkuPrice], Decimal]] = {}
        billing: set[str] = set()
        for v in versions:
            prices = sku_prices(v["skus"] or [])
            by_version[(v["endpoint_key"], v["valid_from"])] = (prices, Decimal(v["discount"] or 0))
            model_id = str(v["endpoint_key"]).partition("@")[0]
            own = KIND_UNIT.get(kinds.get(model_id, "text"))
            if own is not None and pick(prices, UNIT_USAGE[own][0], (), UNIT_USAGE[own][1]) is not None:
                billing.add(model_id)
        return cls(by_version, kinds, frozenset(billing))

    def kind_of(self, name: str | None) -> str:
        """The kind of the model a usage row names: by id, canonical slug, or either with a routing suffix
        (``:nitro``, ``:floor``, ``:online``), as the price table resolves them; else ``text``."""
        if not name:
            return "text"
        kind = self.kinds.get(name)
        if kind is None:
            base, _, suffix = name.partition(":")
            kind = self.kinds.get(base) if suffix in ROUTING_SUFFIXES else None
        return kind or "text"

    def unit_model_names(self, names: Iterable[str | None]) -> list[str]:
        """Those of ``names`` that name a model of another kind than text."""
        return [name for name in names if name and self.kind_of(name) != "text"]


def unit_rows(frame: pl.DataFrame, skus: UnitSkus) -> pl.Series:
    """Per row: whether it has a unit count or is of a model of another kind (this pass's rows)."""
    present = [c for c in UNIT_USAGE if c in frame.columns]
    names = frame["model"].cast(pl.String)
    mask = names.is_in(skus.unit_model_names(names.unique().to_list())).fill_null(False)
    if present:
        mask = mask | frame.select(pl.any_horizontal(pl.col(c).is_not_null() for c in present)).to_series()
    return mask


def needs_units(frame: pl.DataFrame, skus: UnitSkus) -> bool:
    """Whether a batch has a unit count or a row of a model of another kind (the pass has work to do): from the
    batch's distinct model names, so a large text-only batch costs a ``unique``, not a string test per row."""
    if frame.height == 0:
        return False
    present = [c for c in UNIT_USAGE if c in frame.columns]
    if present and frame.select(pl.any_horizontal(pl.col(c).is_not_null() for c in present).any()).item():
        return True
    model = frame["model"] if "model" in frame.columns else None
    if model is None or not (model.dtype == pl.String or isinstance(model.dtype, pl.Categorical | pl.Enum)):
        return False  # not a column of names: the engine refuses it with the contract's error, naming the fix
    return bool(skus.unit_model_names(model.unique().cast(pl.String).to_list()))


def merge_money(parts: list[pl.DataFrame]) -> list[pl.DataFrame]:
    """Summaries with their money at one decimal scale (the widest), so they concatenate exactly."""
    scale = max((p.schema[c].scale or 0 for p in parts for c in MONEY if c in p.columns), default=0)  # type: ignore[attr-defined]
    return [p.with_columns(pl.col(c).cast(pl.Decimal(38, scale)) for c in MONEY if c in p.columns) for p in parts]


def _count(text: Any, column: str) -> tuple[Decimal | None, str | None]:
    try:
        value = Decimal(str(text).strip())
    except (InvalidOperation, ValueError):
        value = None
    if value is None or not value.is_finite() or value < 0:
        return None, f"{column} {str(text)[:40]!r} is not a count; give a number of at least 0 (e.g. 8 or 1.5)"
    return value, None


def price_units(priced: pl.DataFrame, table: PriceTable, skus: UnitSkus) -> pl.DataFrame:
    """The engine's output with the unit terms added (see the module doc): ``cost_units`` and ``unit_skus``
    columns, and ``status`` / ``reason`` / money changed on the rows this pass prices or refuses."""
    if not needs_units(priced, skus):
        return priced
    present = [c for c in UNIT_USAGE if c in priced.columns]
    n = priced.height
    status = priced["status"].cast(pl.String).to_list()
    reason = priced["reason"].cast(pl.String).to_list()
    money = {c: priced[c].to_list() for c in MONEY}
    units_cost: list[Decimal | None] = [None] * n
    used: list[str | None] = [None] * n
    sheet = priced["sheet_id"].to_list()
    models = priced["model"].cast(pl.String).to_list()
    counts = {c: priced[c].to_list() for c in present}
    resolution = priced[RESOLUTION].to_list() if RESOLUTION in priced.columns else [None] * n
    scale = table.scale
    for i in range(n):
        given = {c: counts[c][i] for c in present if counts[c][i] is not None}
        version = table.versions[sheet[i]] if sheet[i] is not None and sheet[i] >= 0 else None
        model_id = version.model_id if version is not None else (table.resolve_model(models[i] or "") or models[i])
        kind = skus.kind_of(model_id)
        if not given and kind == "text":
            continue
        if status[i] != "ok":
            continue  # the engine's verdict (unknown model, no price then, bad counts) stands
        listed = (
            skus.by_version.get((version.key, version.valid_from)) if version and version.kind == "endpoint" else None
        )
        offered, discount = listed if listed is not None else ([], Decimal(0))
        if given and kind == "text":
            status[i], reason[i] = "invalid", f"{', '.join(given)} given for a text model: it bills tokens only"
            money = _blank(money, i)
            continue
        if not given:
            own = KIND_UNIT.get(kind)
            if own is None:
                continue
            if pick(offered, UNIT_USAGE[own][0], (), UNIT_USAGE[own][1]) is not None:
                status[i] = "invalid"
                reason[i] = (
                    f"a {kind} model bills per {UNIT_USAGE[own][0]} here: give {own} (its own unit); "
                    "token counts alone are not what it bills"
                )
                money = _blank(money, i)
            elif (version is None or version.kind != "endpoint") and model_id in skus.billing:
                # No endpoint chosen: the model-level sheet lists its token prices (0 for most such models),
                # while its endpoints bill by the unit. Priced by tokens alone, it would be a silent $0.
                status[i] = "invalid"
                reason[i] = (
                    f"a {kind} model bills per {UNIT_USAGE[own][0]}: give {own} (its own unit) and a provider "
                    "or endpoint; token counts alone are not what it bills"
                )
                money = _blank(money, i)
            continue
        total = Decimal(0)
        names: list[str] = []
        problem = None
        for column, text in given.items():
            value, problem = _count(text, column)
            if value is None:
                status[i], reason[i] = "invalid", problem
                break
            unit, direction = UNIT_USAGE[column]
            wanted = (str(resolution[i]).strip().lower(),) if column == "video_seconds" and resolution[i] else ()
            chosen = pick(offered, unit, wanted, direction)
            if chosen is None:
                asked = f" {'/'.join(wanted)}" if wanted else ""
                if version is not None and version.kind == "endpoint":
                    problem = f"no{asked} price per {unit} ({column}) at {version.tag} then"
                else:  # the engine fell back to the model-level sheet, which lists no SKUs
                    problem = f"no{asked} price per {unit} ({column}) without an endpoint: give provider or endpoint"
                status[i], reason[i] = "no_price", problem
                break
            total += term(value, chosen, unit)
            names.append(f"{column}={chosen.sku}")
        if problem is not None:
            money = _blank(money, i)
            continue
        units_cost[i] = total
        used[i] = " ".join(names)
        cost = Decimal(money["cost_total"][i] or 0) + total
        money["cost_total"][i] = cost
        base = _base(cost, discount, scale)
        money["cost_base"][i] = base
        money["saving"][i] = base - cost if base is not None else None
    digits = max([scale, *(_digits(v) for c in MONEY for v in money[c]), *(_digits(v) for v in units_cost)])
    dtype = pl.Decimal(38, digits)
    statuses = priced.schema["status"]
    return priced.with_columns(
        pl.Series("status", status).cast(statuses),
        pl.Series("reason", reason, dtype=pl.String).cast(pl.Categorical),
        *(pl.Series(c, money[c], dtype=dtype) for c in MONEY),
        pl.Series("cost_units", units_cost, dtype=dtype),
        pl.Series("unit_skus", used, dtype=pl.String),
    )


def _blank(money: dict[str, list[Any]], i: int) -> dict[str, list[Any]]:
    for c in MONEY:
        money[c][i] = None
    return money


def _base(total: Decimal, discount: Decimal, scale: int) -> Decimal | None:
    """total / (1 − discount), rounded half up to ``10**-scale`` (the engine's rule); None when 1 − discount ≤ 0."""
    share = Fraction(1) - Fraction(discount)
    if share <= 0:
        return None
    units = Fraction(total) * 10**scale / share  # exact: no decimal context rounds on the way
    if discount == 0:
        return total
    whole = units.numerator if units.denominator == 1 else math.floor(units + Fraction(1, 2))
    return Decimal(f"{whole}e-{scale}")  # from text: exact, whatever the decimal context's precision


def _digits(value: Decimal | None) -> int:
    if value is None:
        return 0
    exponent = value.normalize().as_tuple().exponent
    return -exponent if isinstance(exponent, int) and exponent < 0 else 0
