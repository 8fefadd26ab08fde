"""What one call produced, and what it cost: ``Generation`` and the prices it is costed with.

The cost is the engine's (``catalog.cost``): the response's usage, normalised to the usage contract, priced
with the sheet in force at the response's time for the endpoint that served it (the provider OpenRouter
names; the model's list price when the history does not know that provider). OpenRouter's billed
``usage.cost`` (a float; for BYOK calls the upstream cost) is kept beside it, with the difference.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Protocol

from catalog.client.assemble import Draft, ToolCall
from catalog.client.structured import parse_reply
from catalog.cost.bodies import usage_from_body
from catalog.cost.engine import cost_usage
from catalog.cost.reconcile import decimal_or_none
from catalog.cost.sheets import PriceTable, SheetVersion
from catalog.cost.usage import COUNT_COLUMNS, ROW_FLAGS, usage_frame
from catalog.cost.workload import EndpointFilters, WorkloadProfile
from catalog.errors import InputError
from catalog.prices import PriceFormatError, canonical, parse_price_sheet

if TYPE_CHECKING:
    from catalog.client.billing import BilledCost

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class PriceSource(Protocol):
    """What the client needs from the catalog (``catalog.Catalog`` is one): the price table, and a ranking
    for ``route="cheapest"`` (a ``catalog.cost.profile.Ranking``) at an instant."""

    @property
    def table(self) -> PriceTable: ...

    def cheapest(
        self,
        model: str | None = None,
        profile: WorkloadProfile | None = None,
        *,
        as_of: datetime | str | None = None,
        filters: EndpointFilters | None = None,
    ) -> Any: ...


@dataclass
class Generation:
    """One completed call: what the model said, the tokens it used, and what that cost."""

    text: str
    tool_calls: list[ToolCall]
    finish_reason: str | None
    usage: dict[str, int]
    cost: Decimal | None
    cost_status: str  # the engine's status (ok, unknown, no_price, dynamic, invalid) or no_usage / no_prices
    billed_cost: Decimal | None
    elapsed: float
    ttft: float | None
    provider: str | None
    model: str | None
    id: str | None
    reasoning: str | None = None
    native_finish_reason: str | None = None
    cost_reason: str | None = None
    price_source: str | None = None  # endpoint / model (the history) or custom (a registered model)
    created: datetime | None = None
    streamed: bool = False
    is_byok: bool = False  # billed_cost is then the provider's charge (OpenRouter bills 0 for BYOK calls)
    via: str = "openrouter"  # or "native": the provider's own API was called directly (catalog.client.native)
    upstream_model: str | None = None  # a direct call: the model id the provider's API knows
    # The JSON Schema the call asked the reply to match (its response_format), for ``parsed``.
    response_schema: dict[str, Any] | None = field(default=None, repr=False)

    @property
    def parsed(self) -> Any:
        """The reply as JSON (numbers as exact ``Decimal``/``int``), checked against the call's
        ``response_format`` schema; a ``StructuredOutputError`` naming the JSON path of the first violation
        (or saying the text is not JSON) otherwise. Parsed again on each access: the text is the record."""
        return parse_reply(self.text, self.response_schema)

    # the client that made the call, for billed(): never shown, compared or serialised
    client: Any = field(default=None, repr=False, compare=False)

    @property
    def cost_difference(self) -> Decimal | None:
        """Computed minus billed (None unless both are known)."""
        return self.cost - self.billed_cost if self.cost is not None and self.billed_cost is not None else None

    def billed(self, client: Any = None, *, wait: float = 10.0) -> BilledCost:
        """What OpenRouter billed for this call (``GET /generation``, asked again for up to ``wait`` seconds
        while the record is not written yet) beside the computed cost, with ``catalog reconcile``'s verdict;
        without usage in the answer, the record's native counts are priced (``catalog.client.billing``).
        ``client``: another open client to ask (default: the one that made the call). On an ``AsyncClient``'s
        generation, ``await g.abilled()``."""
        from catalog.client.billing import reconcile

        client = self._lookup_client(client, "billed")
        if inspect.iscoroutinefunction(client.generation_record):
            raise InputError("this generation came from an AsyncClient: use `await generation.abilled()`")
        return reconcile(self, client.generation_record(self._billed_id(), wait=wait), client.prices)

    async def abilled(self, client: Any = None, *, wait: float = 10.0) -> BilledCost:
        """``billed()`` through an ``AsyncClient``, awaited."""
        from catalog.client.billing import reconcile

        client = self._lookup_client(client, "abilled")
        if not inspect.iscoroutinefunction(client.generation_record):
            return await asyncio.to_thread(self.billed, client, wait=wait)
        record = await client.generation_record(self._billed_id(), wait=wait)
        return await asyncio.to_thread(reconcile, self, record, client.prices)

    def _lookup_client(self, client: Any, name: str) -> Any:
        client = client if client is not None else self.client
        if client is None or not hasattr(client, "generation_record"):
            raise InputError(f"{name}() needs the client that made the call, or pass one: generation.{name}(client)")
        if getattr(getattr(client, "_http", None), "is_closed", False):
            raise InputError(f"the client that made this call is closed; pass an open one: generation.{name}(client)")
        return client

    def _billed_id(self) -> str:
        if self.via == "native":
            raise InputError(
                f"this call went to {self.provider} directly, not through OpenRouter: OpenRouter holds no billed "
                "record of it (the provider's own console does)"
            )
        if not self.id:
            raise InputError("the answer carried no generation id, so its billed record cannot be looked up")
        return self.id

    def to_dict(self) -> dict[str, Any]:
        def money(value: Decimal | None) -> str | None:
            return canonical(value) if value is not None else None

        return {
            "id": self.id,
            "model": self.model,
            "provider": self.provider,
            "text": self.text,
            "reasoning": self.reasoning,
            "tool_calls": [call.to_dict() for call in self.tool_calls],
            "finish_reason": self.finish_reason,
            "native_finish_reason": self.native_finish_reason,
            "usage": self.usage,
            "cost": money(self.cost),
            "cost_status": self.cost_status,
            "cost_reason": self.cost_reason,
            "price_source": self.price_source,
            "billed_cost": money(self.billed_cost),
            "is_byok": self.is_byok,
            "cost_difference": money(self.cost_difference),
            "elapsed_s": round(self.elapsed, 6),
            "ttft_s": round(self.ttft, 6) if self.ttft is not None else None,
            "created": self.created.isoformat().replace("+00:00", "Z") if self.created else None,
            "streamed": self.streamed,
            "via": self.via,
            "upstream_model": self.upstream_model,
        }


@dataclass(frozen=True)
class CustomModel:
    """A model served elsewhere (a self-hosted OpenAI-compatible server) with prices of its own."""

    model_id: str
    sheet: SheetVersion
    base_url: str | None = None
    api_key: str | None = field(default=None, repr=False)
    upstream_model: str | None = None  # the name that server knows it by (default: the id)


class Prices:
    """The price table the client costs with: the catalog's (loaded on first use) plus registered models."""

    def __init__(
        self,
        source: PriceSource | PriceTable | Callable[[], PriceTable] | None = None,
        *,
        as_of: datetime | str | None = None,
    ) -> None:
        self.source = source
        self.as_of = as_of  # the instant route="cheapest" ranks at (None: the catalog's newest snapshot)
        self.custom: dict[str, CustomModel] = {}
        self._table: PriceTable | None = None

    def register(
        self,
        model_id: str,
        pricing: dict[str, Any],
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        upstream_model: str | None = None,
    ) -> CustomModel:
        if "/" not in model_id:
            raise InputError(f"custom model id {model_id!r} needs an author part, e.g. local/{model_id}")
        try:
            sheet = parse_price_sheet(pricing)
        except PriceFormatError as exc:
            raise InputError(
                f"custom model {model_id}: {exc}; give prices as OpenRouter does, in USD per token"
            ) from None
        version = SheetVersion("model", model_id, None, None, None, EPOCH, None, sheet, canonical_slug=model_id)
        model = CustomModel(model_id, version, base_url.rstrip("/") if base_url else None, api_key, upstream_model)
        self.custom[model_id] = model
        self._table = None
        return model

    def table(self) -> PriceTable | None:
        if self._table is None:
            base = self._base()
            versions = [*(base.versions if base is not None else []), *(m.sheet for m in self.custom.values())]
            self._table = PriceTable.from_sheets(versions) if versions else None
        return self._table

    def _base(self) -> PriceTable | None:
        source = self.source
        if source is None:
            return None
        if isinstance(source, PriceTable):
            return source
        if callable(source) and not hasattr(source, "cheapest"):
            return source()
        return source.table  # type: ignore[union-attr]

    def cheapest(self, model: str, profile: WorkloadProfile, filters: EndpointFilters) -> Any:
        """The catalog's ranking of ``model``'s endpoints for one request at ``as_of``; its ``routing`` is the
        ``provider`` object to send. No endpoint to route to is an InputError saying why (each exclusion, or
        the ranking's note when ``as_of`` is before the endpoint history)."""
        source = self.source
        if source is None or not hasattr(source, "cheapest"):
            raise InputError('route="cheapest" needs the catalog: pass prices=Catalog.open() to the client')
        ranking = source.cheapest(model, profile, as_of=self.as_of, filters=filters)
        if ranking.routing is None:
            raise InputError(f"route='cheapest': no endpoint of {model} to route to: {_why_none(ranking)}")
        return ranking

    def price(self, draft: Draft, model: str, *, now: datetime, provider: str | None = None) -> dict[str, Any]:
        """The usage of ``draft`` and its cost: counts, cost, status, reason, source, billed, time.
        ``provider``: a direct call's provider, whose endpoint prices ``model`` whatever the answer names."""
        out: dict[str, Any] = {"usage": {}, "cost": None, "status": "no_usage", "reason": None, "source": None}
        out["billed"], out["created"], out["byok"] = None, _created(draft.created), False
        if draft.usage_body is None:
            out["reason"] = "the response reported no usage"
            return out
        problems: list[str] = []
        try:
            row = usage_from_body(draft.usage_body, source=draft.id or "response", problems=problems)
        except InputError as exc:  # a usage the normaliser cannot read at all: reported, never a crash
            out["status"], out["reason"] = "invalid", str(exc)
            return out
        out["usage"] = {k: int(row[k]) for k in COUNT_COLUMNS if row.get(k) is not None}
        out["created"] = row.get("timestamp") or out["created"]  # the normaliser's reading of the body's time
        out["byok"] = bool(row.get("is_byok"))
        billed = row.get("upstream_cost") if out["byok"] else row.get("billed_cost")
        out["billed"] = decimal_or_none(billed)
        table = self.table()
        if table is None:
            out["status"], out["reason"] = "no_prices", "no price table: pass prices=Catalog.open() to the client"
            if any(row.get(flag) for flag in ROW_FLAGS):  # what the engine would price as invalid, said as such
                out["status"], out["reason"] = "invalid", "; ".join(problems)
            return out
        custom = model in self.custom
        priced_row = {
            **{k: row[k] for k in COUNT_COLUMNS if row.get(k) is not None},
            **{k: row[k] for k in ROW_FLAGS if k in row},  # an unreadable count prices as invalid, never as 0
            "model": model if custom or provider else (row.get("model") or model),
            "provider": None if custom else (provider or row.get("provider") or draft.provider),
            "timestamp": out["created"] or now,
        }
        if not custom and table.resolve_model(str(priced_row["model"])) is None and table.resolve_model(model):
            priced_row["model"] = model  # the response named a variant the history does not list; ask for the id
        priced = cost_usage(usage_frame([priced_row]), table, at=now).row(0, named=True)
        out["status"], out["reason"] = str(priced["status"]), priced["reason"]
        out["cost"] = priced["cost_total"]
        out["source"] = "custom" if custom and priced["status"] == "ok" else priced["price_source"]
        if problems:
            out["reason"] = "; ".join(problems)
        return out


def _why_none(ranking: Any) -> str:
    if getattr(ranking, "note", None):
        return f"{ranking.note}; pass a later as_of or drop route='cheapest'"
    excluded = getattr(ranking, "excluded", None) or []
    if excluded:
        reasons = "; ".join(f"{row.get('tag') or row.get('endpoint_key')}: {row.get('reason')}" for row in excluded[:5])
        more = f" (and {len(excluded) - 5} more)" if len(excluded) > 5 else ""
        return f"every endpoint is excluded for this request: {reasons}{more}"
    return "none has a listed price; drop route='cheapest'"


def _created(value: float | None) -> datetime | None:
    try:
        return datetime.fromtimestamp(float(value), UTC) if value is not None else None
    except (TypeError, ValueError, OverflowError, OSError):
        return None
