"""The changes page: every recorded change, newest first, filtered by kind, model and provider and paged in the
browser (``site/static/changes.js``), under the strict CSP (the rows are data in the page, not fetched).

Each row is formatted here, by the same filters as the month pages' rows (``change_cells``: one unit everywhere,
a list's change as a diff), so the script only places text. Without the script the page shows the newest
``FIRST_PAGE`` rows and the month pages (``changes/YYYY-MM.html``) hold the rest.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from typing import Any

PAGE_SIZE = 100  # rows a page of the changes page shows


class RawJson:
    """JSON text made already: the site's ``tojson`` writes it as it is (``build.environment``), as
    ``json.dumps(value, sort_keys=True)`` would have written the value it stands for."""

    def __init__(self, text: str) -> None:
        self.text = text


def dumps(value: Any, **options: Any) -> str:
    """The site's ``tojson``: ``json.dumps``, but for ``RawJson``, already text, and for a value that spells
    itself (``pricedata.PriceJson``: the same text from parts made once), its own."""
    if isinstance(value, RawJson):
        return value.text
    spell = getattr(value, "json_text", None)
    text = spell(options) if spell is not None else None
    return text if text is not None else json.dumps(value, **options)


class RowTexts:
    """Each change's row of the changes page as JSON text, kept from one build to the next by the identity of
    the change: the site's facts carry earlier changes forward as the same objects, never changed once made
    (``catalog.website.facts``), so a year of changes is not formatted again on every build. The row's model
    position (its second item) may move as models come and go: it is written in per build. Holding the
    changes keeps their identities theirs; rows no build used since the previous one are dropped."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.known: dict[int, tuple[dict[str, Any], str, str]] = {}

    def texts(self, changes: list[dict[str, Any]], position: dict[str, int]) -> list[str]:
        with self.lock:
            known, used = self.known, {}
            out = []
            for c in changes:
                found = known.get(id(c))
                if found is None or found[0] is not c:
                    head, tail = _row_parts(c)
                    found = (c, head, tail)
                used[id(c)] = found
                out.append(f"{found[1]}{position[c['model_id']]}{found[2]}")
            self.known = used
        return out


def _row_parts(c: dict[str, Any]) -> tuple[str, str]:
    """A change's row as JSON text before and after its model position: ``[when, position, kind, …]``."""
    from catalog.website.build import change_cells, change_diff, when  # build imports this module

    old, new, moved = change_cells(c)
    field = c.get("field") or ("prompt" if c["kind"] in ("added", "removed") and not c.get("in_units") else "")
    rest = [c["kind"], c.get("tag") or "list price", field, old, new, moved, change_diff(c), provider_of(c)]
    return f"[{json.dumps(when(c['at']))}, ", f", {json.dumps(rest)[1:]}"


_ROWS = RowTexts()


def provider_of(change: dict[str, Any]) -> str:
    """The provider slug of an endpoint change (its tag's first part, as ``catalog changes --provider`` matches);
    "" for a model's list price."""
    tag = change.get("tag")
    return tag.split("/", 1)[0] if tag else ""


def changes_values(
    changes: list[dict[str, Any]], model_ids: set[str], providers: list[dict[str, Any]]
) -> dict[str, Any]:
    """The changes page's values: the newest rows as rendered, the filters' choices and the embedded rows."""
    from catalog.website.build import page_name  # build imports this module

    models = sorted({c["model_id"] for c in changes})
    position = {m: i for i, m in enumerate(models)}
    # The embedded data as ``tojson`` writes it (keys sorted), its rows from ``_ROWS``.
    linked = [[m, f"models/{page_name(m)}.html" if m in model_ids else None] for m in models]
    rows = ", ".join(_ROWS.texts(changes, position))
    spelled = f'{{"models": {json.dumps(linked)}, "page_size": {PAGE_SIZE}, "rows": [{rows}]}}'
    names: dict[str, str] = {p["slug"]: str(p["name"] or p["slug"]) for p in providers}
    slugs = sorted({provider_of(c) for c in changes} - {""}, key=lambda s: (str(names.get(s) or s).lower(), s))
    return {
        "changes": changes[:PAGE_SIZE],
        "total": len(changes),
        "kinds": Counter(c["kind"] for c in changes).most_common(),
        "change_models": models,
        "change_providers": [(s, names.get(s, s)) for s in slugs],
        "changes_json": RawJson(spelled),
    }
