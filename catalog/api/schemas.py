"""Response shapes, published in the OpenAPI document. Money is an exact decimal string, times ISO-8601 UTC.

Handlers return prebuilt JSON bytes (cached per data version), so these models document and are checked by
the contract tests; they are not run on every response.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

Money = str | None


class Open(BaseModel):
    """Rows carry every stored column; the ones named here are always present."""

    model_config = ConfigDict(extra="allow")


class ErrorBody(BaseModel):
    code: str = Field(examples=["not_found"])
    message: str
    detail: Any = Field(description="Structured detail (e.g. did_you_mean), or null")


class ErrorResponse(BaseModel):
    error: ErrorBody


class ModelRow(Open):
    model_id: str
    name: str | None
    context_length: int | None
    modality: str | None
    input_modalities: list[str] | None
    output_modalities: list[str] | None
    supported_parameters: list[str] | None
    endpoints: int
    price_prompt: Money
    price_completion: Money
    discount: Money
    valid_from: str


class ModelList(BaseModel):
    as_of: str
    total: int
    limit: int
    offset: int
    items: list[ModelRow]


class EndpointRow(Open):
    endpoint_key: str
    model_id: str
    tag: str
    provider_name: str | None
    quantization: str | None
    context_length: int | None
    status: int | None
    price_prompt: Money
    price_completion: Money
    discount: Money
    pricing_text: str
    valid_from: str
    valid_to: str | None


class SheetRow(Open):
    kind: str
    model_id: str


class ModelDetail(BaseModel):
    as_of: str
    model: ModelRow
    endpoints: list[EndpointRow]
    price_sheets: list[SheetRow]


class VersionRow(Open):
    valid_from: str
    valid_to: str | None
    pricing_text: str


class EndpointHistory(BaseModel):
    endpoint_key: str
    tag: str
    provider_name: str | None
    versions: list[VersionRow]


class ModelHistory(BaseModel):
    model_id: str
    from_: str | None = Field(alias="from")
    to: str | None
    model_versions: list[VersionRow]
    endpoints: list[EndpointHistory]


class ProviderRow(Open):
    slug: str
    name: str | None
    endpoints: int
    models: int


class ProviderList(BaseModel):
    as_of: str
    items: list[ProviderRow]


class ProviderDetail(BaseModel):
    as_of: str
    provider: ProviderRow
    endpoints: list[EndpointRow]


class ChangeRow(BaseModel):
    at: str
    entity: str
    kind: str
    model_id: str
    endpoint_key: str | None
    tag: str | None
    provider_name: str | None
    field: str | None
    old: str | None
    new: str | None
    pct_change: float | None


class ChangeList(BaseModel):
    since: str
    until: str
    total: int
    limit: int
    offset: int
    items: list[ChangeRow]


class RankedRow(Open):
    rank: int
    model_id: str
    tag: str
    endpoint_key: str
    provider: str | None = Field(description="Provider slug (null for a model's list price)")
    price_source: str = Field(description="endpoint: its own sheet; model: the model's list price from /models")
    cost_per_request: Money
    cost_per_million_tokens: Money
    terms: dict[str, str]
    term_shares: dict[str, float]


class ExcludedRow(Open):
    model_id: str
    tag: str
    endpoint_key: str
    reason: str = Field(description="The limit the endpoint fails, e.g. `context 200,000 < 252,000 (…)`")
    requirement: str = Field(description="Short code: context, max_prompt, tools, status, provider, max_price, …")


class DefaultRoutingBody(BaseModel):
    expected_cost_per_request: Money = Field(description="Expected cost per request under default routing")
    saving_per_request: Money = Field(description="What pinning the cheapest saves per request")
    saving_percent: Money
    endpoints: int
    shares: dict[str, str] = Field(description="Endpoint tag → probability under default routing")
    weighting: str


class DataAgeBody(BaseModel):
    snapshot_id: int | None = Field(description="The good snapshot in force at as_of (null before the first)")
    snapshot_at: str | None
    newest_snapshot_at: str
    age_seconds: int = Field(description="Now minus the newest good snapshot")
    stale: bool
    stale_after_seconds: int


class Cheapest(BaseModel):
    as_of: str
    model: str | None
    profile: dict[str, Any]
    filters: dict[str, Any]
    ranked: list[RankedRow]
    ties: int = Field(description="How many endpoints share rank 1")
    excluded: list[ExcludedRow]
    explanation: str
    note: str | None = Field(description="Said plainly when the answer is not what was asked (e.g. list prices)")
    default_routing: DefaultRoutingBody | None
    provider: dict[str, Any] | None = Field(description="OpenRouter `provider` routing object for the winner")
    data: DataAgeBody | None = Field(description="The snapshot this answer comes from and the data's age")
    stale: bool = Field(description="The newest snapshot is older than the threshold (also `X-Data-Stale`)")


class UnitRate(BaseModel):
    sku: str = Field(description="The SKU used, as listed (`groq_stt:audio_hours`; `pricing.prompt` for tokens)")
    usd: Money = Field(description="Its exact USD price per `per`")
    per: str = Field(description="The unit that price is per: may differ from the unit counted (minutes → hour)")


class UnitRankedRow(Open):
    rank: int = Field(description="Equal costs share a rank (1, 1, 3)")
    model_id: str
    endpoint_key: str
    tag: str
    status: int | None
    cost: Money = Field(description="Exact USD cost of the workload")
    terms: dict[str, str] = Field(description="Unit counted → its exact cost")
    skus: dict[str, str] = Field(description="Unit counted → the SKU it is priced at")
    rates: dict[str, UnitRate] = Field(description="Unit counted → the SKU, its price and the unit it is per")


class UnitExcludedRow(Open):
    model_id: str
    endpoint_key: str
    tag: str
    status: int | None
    reason: str = Field(description="Why it is not ranked: `no 1080p price per second`, `status … (not ok)`")


class UnitWorkloadBody(BaseModel):
    counts: dict[str, str] = Field(description="Unit → exact count (`minute`: `60`)")
    variant: list[str] = Field(description="Variant tokens every SKU used carries (`1080p`)")


class UnitCheapest(BaseModel):
    """``/v1/cheapest?kind=…``: endpoints of a kind ranked by the exact cost of counts in their own units."""

    as_of: str
    kind: str = Field(description="video, speech, transcription, embeddings, image, rerank or audio")
    model: str | None
    workload: UnitWorkloadBody
    ranked: list[UnitRankedRow]
    ties: int = Field(description="How many endpoints share rank 1")
    excluded: list[UnitExcludedRow]
    data: DataAgeBody | None = Field(description="The snapshot this answer comes from and the data's age")
    stale: bool = Field(description="The newest snapshot is older than the threshold (also `X-Data-Stale`)")


class CostRow(Open):
    source: str | None
    model: str | None
    status: str
    cost_total: Money


class CostResult(BaseModel):
    rows: list[CostRow]
    totals: dict[str, Any]
    problems: list[str]
    shape: dict[str, Any] | None = Field(
        description="How flat rows were read: the shape, which column became which usage field, what was not "
        "priced and why (null when every item was a response body)"
    )


class SnapshotRow(Open):
    snapshot_id: int
    taken_at: str
    status: str
    source: str
    kinds: str


class SnapshotList(BaseModel):
    total: int
    limit: int
    offset: int
    items: list[SnapshotRow]


class Health(BaseModel):
    status: str
    data_version: str
    snapshots: dict[str, Any]
