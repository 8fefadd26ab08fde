"""What the index page is rendered from besides the models: their default order and the price movers.

The default view answers the site's main question: models by what one request of the default workload costs
at their cheapest endpoint, cheapest first, with the free ones (``:free`` variants, every price 0) left out by
the page's script. Without the script the free ones follow the paid ones and the unpriced come last.
"""

from __future__ import annotations

from typing import Any

from catalog.library import Catalog
from catalog.openrouter.skus import KINDS
from catalog.website.facts import SiteFacts
from catalog.website.movers import gather_movers, movers_json
from catalog.website.unitmodels import kind_label


def default_order(models: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Paid models by cost ascending, then free ones, then those without a cost; by model id among equals."""

    def key(model: dict[str, Any]) -> tuple[int, Any, str]:
        cheapest = model["cheapest"]
        if cheapest is None:
            return 2, 0, model["model_id"]
        cost = cheapest.cost_per_request
        return (1 if cost == 0 else 0), cost, model["model_id"]

    return sorted(models, key=key)


def index_values(cat: Catalog, facts: SiteFacts, data: dict[str, Any]) -> dict[str, Any]:
    """The index template's values besides ``models`` and the price data (``data``)."""
    movers = gather_movers(cat, facts, data)
    kinds = {m["kind"] for m in facts.models} | {m["kind"] for m in facts.unit_models}
    return {
        "rows": default_order(facts.models),
        "movers": movers,
        "movers_json": movers_json(movers, data),
        "positions": {m["model_id"]: i for i, m in enumerate(facts.models)},
        # The models priced in their own units, after the others (no token cost to sort by), by kind and id.
        "unit_rows": sorted(facts.unit_models, key=lambda m: (KINDS.index(m["kind"]), m["model_id"])),
        "kinds": [(k, kind_label(k)) for k in KINDS if k in kinds],
        "kind_labels": {k: kind_label(k) for k in KINDS},
    }
