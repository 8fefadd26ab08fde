"""The changes page: every recorded change, newest first, filtered by kind, model and provider and paged in the
browser (``site/static/changes.js``), under the strict CSP (the rows are data in the page, not fetched).

Each row is formatted here, by the same filters as the month pages' rows (``change_cells``: one unit everywhere,
a list's change as a diff), so the script only places text. Without the script the page shows the newest
``FIRST_PAGE`` rows and the month pages (``changes/YYYY-MM.html``) hold the rest.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

PAGE_SIZE = 100  # rows a page of the changes page shows


def provider_of(change: dict[str, Any]) -> str:
    """The provider slug of an endpoint change (its tag's first part, as ``catalog changes --provider`` matches);
    "" for a model's list price."""
    tag = change.get("tag")
    return tag.split("/", 1)[0] if tag else ""


def changes_values(
    changes: list[dict[str, Any]], model_ids: set[str], providers: list[dict[str, Any]]
) -> dict[str, Any]:
    """The changes page's values: the newest rows as rendered, the filters' choices and the embedded rows."""
    from catalog.website.build import change_cells, change_diff, page_name, when  # build imports this module

    models = sorted({c["model_id"] for c in changes})
    position = {m: i for i, m in enumerate(models)}
    rows = []
    for c in changes:
        old, new, moved = change_cells(c)
        field = c.get("field") or ("prompt" if c["kind"] in ("added", "removed") and not c.get("in_units") else "")
        rows.append(
            [when(c["at"]), position[c["model_id"]], c["kind"], c.get("tag") or "list price", field, old, new, moved,
             change_diff(c), provider_of(c)]
        )  # fmt: skip
    names: dict[str, str] = {p["slug"]: str(p["name"] or p["slug"]) for p in providers}
    slugs = sorted({provider_of(c) for c in changes} - {""}, key=lambda s: (str(names.get(s) or s).lower(), s))
    return {
        "changes": changes[:PAGE_SIZE],
        "total": len(changes),
        "kinds": Counter(c["kind"] for c in changes).most_common(),
        "change_models": models,
        "change_providers": [(s, names.get(s, s)) for s in slugs],
        "changes_json": {
            "page_size": PAGE_SIZE,
            "models": [[m, f"models/{page_name(m)}.html" if m in model_ids else None] for m in models],
            "rows": rows,
        },
    }
