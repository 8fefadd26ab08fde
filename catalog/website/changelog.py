"""The changes page: every recorded change, newest first, filtered by kind, model and provider and paged in the
browser (``site/static/changes.js``), under the strict CSP (the rows are data, not fetched: ``connect-src`` is
``'none'``).

Each row is formatted here, by the same filters as the month pages' rows (``change_cells``: one unit everywhere,
a list's change as a diff), so the script only places text. The rows are in one data script per month
(``changes/YYYY-MM.js``, ``month_script``) that the page loads before ``changes.js``: a month's script depends on
its changes alone, so a sweep rewrites the newest month's, and a build links the others from the last one (a year
of changes is ten megabytes; re-rendering and compressing it after every sweep was most of an incremental build).
The page itself holds the models' links, the filters' choices and the newest rows as HTML. Without the script the
page shows the newest ``PAGE_SIZE`` rows and the month pages (``changes/YYYY-MM.html``) hold the rest.
"""

from __future__ import annotations

import json
import operator
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
    (``catalog.website.facts``), so a change is not formatted again on every build. The row's model position
    (its second item: in its month's list of models) is written in per use. Holding the changes keeps their
    identities theirs; rows no build used since the previous one are dropped (``next_build``)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.known: dict[int, tuple[dict[str, Any], str, str]] = {}
        self.used: dict[int, tuple[dict[str, Any], str, str]] = {}

    def next_build(self) -> None:
        with self.lock:
            if self.used:
                self.known, self.used = self.used, {}

    def texts(self, changes: list[dict[str, Any]], position: dict[str, int]) -> list[str]:
        with self.lock:
            known, used = self.known, self.used
            out = []
            for c in changes:
                key = id(c)
                found = used.get(key) or known.get(key)
                if found is None or found[0] is not c:
                    head, tail = _row_parts(c)
                    found = (c, head, tail)
                used[key] = found
                out.append(f"{found[1]}{position[c['model_id']]}{found[2]}")
        return out


def _row_parts(c: dict[str, Any]) -> tuple[str, str]:
    """A change's row as JSON text before and after its model position: ``[when, position, kind, …]``."""
    from catalog.website.build import change_cells, change_diff, when  # build imports this module

    old, new, moved = change_cells(c)
    field = c.get("field") or ("prompt" if c["kind"] in ("added", "removed") and not c.get("in_units") else "")
    rest = [c["kind"], c.get("tag") or "list price", field, old, new, moved, change_diff(c), provider_of(c)]
    return f"[{json.dumps(when(c['at']))}, ", f", {json.dumps(rest)[1:]}"


ROWS = RowTexts()
MONTH_SCRIPT = "(self.catalogChanges = self.catalogChanges || []).push({});\n"  # one month's rows, newest first


def month_script(changes: list[dict[str, Any]]) -> str:
    """A month's data script: its changes (newest first) as ``{"models": [model id, …], "rows": [row, …]}``, each
    row's model a position in the month's own list (a month's script is the same whatever other months hold),
    pushed onto ``self.catalogChanges`` in the order the page loads the months (newest first). JSON with keys
    sorted and ASCII only, as ``tojson`` writes it: no text can end the script."""
    models = sorted({c["model_id"] for c in changes})
    position = {m: i for i, m in enumerate(models)}
    rows = ", ".join(ROWS.texts(changes, position))
    return MONTH_SCRIPT.format(f'{{"models": {json.dumps(models)}, "rows": [{rows}]}}')


def provider_of(change: dict[str, Any]) -> str:
    """The provider slug of an endpoint change (its tag's first part, as ``catalog changes --provider`` matches);
    "" for a model's list price."""
    tag = change.get("tag")
    return tag.split("/", 1)[0] if tag else ""


def changes_values(
    changes: list[dict[str, Any]], model_ids: set[str], providers: list[dict[str, Any]]
) -> dict[str, Any]:
    """The changes page's values: the newest rows as rendered, the filters' choices and the embedded data: each
    model's page (or none), for the rows of the months' scripts (``month_script``)."""
    from catalog.website.build import _CHANGES_CARRY, page_name  # build imports this module

    ids, tags, kinds = _change_sets(changes, _CHANGES_CARRY)
    models = sorted(ids)
    # The embedded data as ``tojson`` writes it (keys sorted).
    linked = [[m, f"models/{page_name(m)}.html" if m in model_ids else None] for m in models]
    spelled = f'{{"models": {json.dumps(linked)}, "page_size": {PAGE_SIZE}}}'
    names: dict[str, str] = {p["slug"]: str(p["name"] or p["slug"]) for p in providers}
    # by distinct tag (a few thousand), not by change (a year holds ~10^5): provider_of's slug of each
    slugs = sorted({t.split("/", 1)[0] for t in tags if t} - {""}, key=lambda s: (str(names.get(s) or s).lower(), s))
    return {
        "changes": changes[:PAGE_SIZE],
        "total": len(changes),
        "kinds": kinds.most_common(),
        "change_models": models,
        "change_providers": [(s, names.get(s, s)) for s in slugs],
        "changes_json": RawJson(spelled),
    }


def _change_sets(changes: list[dict[str, Any]], carry: Any) -> tuple[set[str], set[str | None], Counter[str]]:
    """The models and tags the changes name and the count of each kind (in the order the list first names
    them). The last build's are carried (``carry``: ``build._CHANGES_CARRY``): a build's changes are the sweep's
    new ones in front of its list, so only those are counted, not a year of them every build."""
    found = carry.after("sets", changes, None)
    new = changes if found is None else found[0]
    ids = set(map(operator.itemgetter("model_id"), new))
    tags = set(map(operator.methodcaller("get", "tag"), new))
    kinds = Counter(map(operator.itemgetter("kind"), new))
    if found is not None:  # copies: what the last build kept stays its own
        old_ids, old_tags, old_kinds = found[1][1]
        ids |= old_ids
        tags |= old_tags
        for kind, n in old_kinds.items():  # after the new list's kinds: the order the whole list names them
            kinds[kind] += n
    carry.keep("sets", changes, None, (ids, tags, kinds))
    return ids, tags, kinds
