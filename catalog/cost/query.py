"""The parameters of a cheapest-endpoint query, defined once.

``CHEAPEST`` lists them in order: the workload profile (``WorkloadProfile``), the endpoint filters
(``EndpointFilters``) and the routing fallbacks. ``catalog cheapest`` builds its click options from it and
``GET /v1/cheapest`` its query parameters, and both turn the values back into a query with ``build_query``.
A parameter's default is the dataclass field's own (the fallbacks' is ``DEFAULT_FALLBACKS``, which
``rank_endpoints`` also uses), so it is written nowhere else; the faces add only what is theirs: the CLI's
help line, the API's description and its upper bounds (a public endpoint refuses absurd sizes before doing any work).

No face is imported here: this module says what the query is, not how a command line or a URL spells it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import MISSING, dataclass, fields
from decimal import Decimal
from typing import Any, Literal

from catalog.cost.workload import DEFAULT_FALLBACKS, REASONING_EFFORTS, SORTS, EndpointFilters, WorkloadProfile

# count: a whole number; share: decimal text 0–1; money: decimal text in USD (None: no cap); number: a float ≥ 0
# (None: unset); percent: a float 0–100; choice: one of ``choices``; flag: a bool; names: a repeated text.
Kind = Literal["count", "share", "money", "number", "choice", "flag", "names", "percent"]
Target = Literal["profile", "filters", "routing"]
MAX_TOKENS = 10**12  # the API's bound for every token or request count
MAX_FALLBACKS = 20
ROUTING_DEFAULTS: dict[str, Any] = {"fallbacks": DEFAULT_FALLBACKS}  # rank_endpoints' keyword defaults


@dataclass(frozen=True)
class Param:
    """One parameter: ``name`` in the API (``--name-with-dashes`` on the command line)."""

    name: str
    target: Target
    field: str  # the WorkloadProfile / EndpointFilters field it fills (for routing: the rank_endpoints argument)
    kind: Kind
    help: str  # the CLI's help line
    doc: str | None = None  # the API's description (None: the document has none)
    minimum: int | None = None  # counts: the least value
    maximum: int | None = None  # the upper bound, the same for the API and the CLI
    choices: tuple[str, ...] = ()
    show_default: bool = True  # the CLI shows the default in its help
    invert: bool = False  # the flag says the opposite of the field (any_status → not status_ok)

    @property
    def option(self) -> str:
        return "--" + self.name.replace("_", "-")

    @property
    def default(self) -> Any:
        """The default as both faces take it: a share as its decimal text, a flag as a bool, a list as None."""
        if self.target == "routing":
            value = ROUTING_DEFAULTS[self.field]
        else:
            owner = WorkloadProfile if self.target == "profile" else EndpointFilters
            (found,) = [f for f in fields(owner) if f.name == self.field]
            assert found.default is not MISSING, f"{owner.__name__}.{self.field} has no default"
            value = found.default
        if self.kind == "names":
            return None
        if self.kind == "share":
            return str(value)
        return (not value) if self.invert else value


def _count(name: str, target: Target, field: str, help: str, doc: str | None = None, **kw: Any) -> Param:
    return Param(name, target, field, "count", help, doc, **{"minimum": 0, "maximum": MAX_TOKENS, **kw})


CHEAPEST: tuple[Param, ...] = (
    _count("input", "profile", "input_tokens", "Input tokens per request.", "Input tokens per request."),
    _count("output", "profile", "output_tokens", "Output tokens per request.", "Output tokens per request."),
    Param(
        "cache_hit",
        "profile",
        "cache_hit",
        "share",
        "Share of input read from the prompt cache (0–1).",
        "Share of input read from cache, 0–1.",
    ),
    Param(
        "cache_write",
        "profile",
        "cache_write",
        "share",
        "Share of input written to the prompt cache (0–1).",
        "Share of input written to cache.",
    ),
    Param(
        "cache_ttl",
        "profile",
        "cache_ttl",
        "choice",
        "Cache write lifetime.",
        "Cache write lifetime: 5m or 1h.",
        choices=("5m", "1h"),
    ),
    Param(
        "reasoning",
        "profile",
        "reasoning",
        "share",
        "Share of output that is reasoning (0–1).",
        "Share of output that is reasoning.",
    ),
    _count("requests", "profile", "requests", "Requests in the workload.", minimum=1),
    _count("images", "profile", "images", "Input images per request.", show_default=False),
    _count("web_searches", "profile", "web_searches", "Web searches per request.", show_default=False),
    Param("tools", "profile", "tools", "flag", "The request sends tools (needs an endpoint supporting tools)."),
    Param(
        "structured_output",
        "profile",
        "structured_output",
        "flag",
        "The request asks for a response format / structured output.",
    ),
    Param(
        "reasoning_effort",
        "profile",
        "reasoning_effort",
        "choice",
        "The request's reasoning effort (any but none needs reasoning support).",
        "Reasoning effort of the request; any but none needs an endpoint supporting reasoning.",
        choices=REASONING_EFFORTS,
        show_default=False,
    ),
    _count("min_context", "filters", "min_context", "Minimum context length.", minimum=1, show_default=False),
    _count(
        "min_max_completion",
        "filters",
        "min_max_completion",
        "Minimum max-completion tokens.",
        minimum=1,
        show_default=False,
    ),
    Param(
        "parameter",
        "filters",
        "parameters",
        "names",
        "Required supported parameter (repeat): tools, response_format, reasoning …",
        "Required parameters (repeat).",
    ),
    Param(
        "quantization",
        "filters",
        "quantizations",
        "names",
        "Allowed quantization (repeat): fp8, bf16 …",
        "Allowed quantizations (repeat).",
    ),
    Param(
        "provider",
        "filters",
        "providers",
        "names",
        "Only these providers (slug, name or tag; repeat).",
        "Only these providers (repeat).",
    ),
    Param(
        "exclude_provider",
        "filters",
        "exclude_providers",
        "names",
        "Never these providers (repeat).",
        "Never these providers.",
    ),
    Param("no_training", "filters", "no_training", "flag", "Only providers that do not train on prompts."),
    Param(
        "no_prompt_retention", "filters", "no_prompt_retention", "flag", "Only providers that do not retain prompts."
    ),
    Param("any_status", "filters", "status_ok", "flag", "Also rank endpoints whose status was not ok.", invert=True),
    Param("exclude_free", "filters", "exclude_free", "flag", "Leave out free endpoints (:free variants)."),
    Param(
        "min_uptime",
        "filters",
        "min_uptime",
        "percent",
        "Minimum uptime over the last day, percent (latest telemetry).",
        minimum=0,
        maximum=100,
    ),
    Param("zdr", "filters", "zdr", "flag", "Only zero-data-retention providers (retain no prompts)."),
    *(
        Param(
            f"max_price_{key}",
            "filters",
            f"max_price_{key}",
            "money",
            f"Maximum {key} price, USD{unit} (OpenRouter's max_price).",
            f"Maximum {key} price in USD{unit}.",
            show_default=False,
        )
        for key, unit in (
            ("prompt", " per million tokens"),
            ("completion", " per million tokens"),
            ("request", " per request"),
            ("image", " per image"),
        )
    ),
    Param(
        "sort",
        "filters",
        "sort",
        "choice",
        "Rank by price, throughput (p50, highest first) or latency (p50, lowest first).",
        "Rank by price, throughput or latency.",
        choices=SORTS,
    ),
    Param(
        "order",
        "filters",
        "order",
        "names",
        "These providers first, in this order (slug, name or tag; repeat).",
        "Providers first, in this order (repeat).",
    ),
    Param("allow_fallbacks", "filters", "allow_fallbacks", "flag", "Emit allow_fallbacks: true in the routing object."),
    Param(
        "preferred_min_throughput",
        "filters",
        "preferred_min_throughput",
        "number",
        "Rank endpoints with at least this throughput (tokens/s, p50) first.",
        "Endpoints with at least this p50 throughput (tokens/s) rank first.",
        show_default=False,
    ),
    Param(
        "preferred_max_latency",
        "filters",
        "preferred_max_latency",
        "number",
        "Rank endpoints with at most this latency (seconds, p50) first.",
        "Endpoints with at most this p50 latency (seconds) rank first.",
        show_default=False,
    ),
    _count("fallbacks", "routing", "fallbacks", "Fallbacks in the routing object.", maximum=MAX_FALLBACKS),
)


@dataclass(frozen=True)
class CheapestQuery:
    profile: WorkloadProfile
    filters: EndpointFilters
    fallbacks: int


def build_query(values: Mapping[str, Any], number: Callable[[str, Param], Decimal]) -> CheapestQuery:
    """The query ``values`` (one per ``CHEAPEST`` name) ask for. ``number`` reads a share's or an amount's text,
    so each face words a bad number its own way; the profile then checks the values themselves (raising
    ``InputError``)."""
    parts: dict[Target, dict[str, Any]] = {"profile": {}, "filters": {}, "routing": {}}
    for param in CHEAPEST:
        value = values[param.name]
        if param.kind == "share":
            value = number(value, param)
        elif param.kind == "money":
            value = None if value is None else number(value, param)
        elif param.kind == "names":
            value = tuple(value or ())
        elif param.invert:
            value = not value
        parts[param.target][param.field] = value
    return CheapestQuery(WorkloadProfile(**parts["profile"]), _filters(parts["filters"]), parts["routing"]["fallbacks"])


_FILTERS_KEPT = 1024
_filters_made: dict[tuple[Any, ...], EndpointFilters] = {}


def _filters(values: dict[str, Any]) -> EndpointFilters:
    """``EndpointFilters(**values)``, made once per distinct values: filters are immutable, and the queries a
    server answers ask for the same few (a program varies its token counts, not its filters). A float or an
    amount is told apart by its text too (``-0.0`` from ``0.0``, ``1.0`` from ``1``), so a filter shared between
    two queries is one either of them would have made."""
    key = tuple((v.__class__, str(v)) if isinstance(v, float | Decimal) else v for v in values.values())
    found = _filters_made.get(key)
    if found is None:
        found = EndpointFilters(**values)  # an invalid value raises here, every time: nothing is kept
        if len(_filters_made) >= _FILTERS_KEPT:
            _filters_made.clear()
        _filters_made[key] = found
    return found
