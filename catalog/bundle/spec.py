"""The schemas of OpenRouter's OpenAPI spec that the project checks its output against, bundled in
``data/bundle/spec/schemas.json``.

The build (``catalog.bundle.build``) reads the recorded ``spec/openapi.yaml`` and keeps the roots in ``ROOTS``
and every component schema they reference, transitively. A root is found by name in ``components.schemas``
(``ProviderPreferences``, the error bodies) or by the path of an operation's request or response body (the chat
request; the account and generation look-ups; embeddings), so a renamed component is followed. A body the spec
writes inline (``GET /key``, ``GET /credits``, ``POST /embeddings``) is kept under ``inline`` by its role, and
its ``roots`` entry is the JSON pointer it was found at. Annotations are dropped: ``description``, ``example``,
``examples`` (prose and sample data) and ``x-…`` vendor extensions (code-generator hints) wherever they are
schema keywords — a *property* called ``description`` (a tool function has one) is kept. Everything else is
kept exactly, ``$ref`` strings included, so the file is one JSON-Schema 2020-12 document in which
``#/components/schemas/<Name>`` resolves as it does in the spec:

    {"components": {"schemas": {<Name>: <schema>, …}}, "inline": {<role>: <schema>, …},
     "roots": {"ProviderPreferences": …, "ChatRequest": …, "KeyResponse": "#/paths/~1key/…", …},
     "source": {"file": "spec/openapi.yaml", "sha256": …}}

``spec_schema(name)`` gives one root or component as a self-contained schema (the ``$ref``, or the inline
schema, plus the components) that any JSON-Schema 2020-12 validator takes as is; the project itself has no
validator at run time (its tests use ``jsonschema``).
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from catalog import settings
from catalog.errors import BundleError, InputError, NotFoundError

SPEC_SOURCE = "spec/openapi.yaml"
SPEC_FILE = "spec/schemas.json"
REF_PREFIX = "#/components/schemas/"


def request_body(path: str, method: str = "post") -> tuple[str, ...]:
    """Where the spec gives the JSON request body of an operation."""
    return ("paths", path, method, "requestBody", "content", "application/json", "schema")


def ok_body(path: str, method: str = "get") -> tuple[str, ...]:
    """Where the spec gives the JSON body of an operation's 200 answer."""
    return ("paths", path, method, "responses", "200", "content", "application/json", "schema")


CHAT_REQUEST_PATH = request_body("/chat/completions")
# role -> how the build finds the schema: a component name, or the path of the operation body it is
ROOTS: dict[str, str | tuple[str, ...]] = {
    "ProviderPreferences": "ProviderPreferences",
    "ChatRequest": CHAT_REQUEST_PATH,
    "KeyResponse": ok_body("/key"),
    "CreditsResponse": ok_body("/credits"),
    "GenerationResponse": ok_body("/generation"),
    "ActivityResponse": ok_body("/activity"),
    "EmbeddingsRequest": request_body("/embeddings"),
    "EmbeddingsResponse": ok_body("/embeddings", "post"),
    # the error bodies the look-ups answer with
    "UnauthorizedResponse": "UnauthorizedResponse",
    "ForbiddenResponse": "ForbiddenResponse",
    "NotFoundResponse": "NotFoundResponse",
}
ANNOTATIONS = frozenset({"description", "example", "examples"})

# JSON Schema 2020-12 keywords whose value holds subschemas: a map of names to schemas, one schema, a list of them.
# Any other keyword's value is data (enum, const, default, required, discriminator …) and is copied untouched.
_NAMED = frozenset({"properties", "patternProperties", "$defs", "definitions", "dependentSchemas"})
_ONE = frozenset(
    {
        "items",
        "additionalProperties",
        "not",
        "if",
        "then",
        "else",
        "contains",
        "propertyNames",
        "unevaluatedItems",
        "unevaluatedProperties",
        "additionalItems",
    }
)
_MANY = frozenset({"allOf", "anyOf", "oneOf", "prefixItems"})


def is_annotation(keyword: str) -> bool:
    """Whether a schema keyword is dropped from the bundle (prose, samples, vendor extensions)."""
    return keyword in ANNOTATIONS or keyword.startswith("x-")


def without_annotations(schema: Any) -> Any:
    """``schema`` with every annotation keyword dropped at every schema position (names of properties kept)."""
    if isinstance(schema, list):  # ``items`` as a list (pre-2020 drafts)
        return [without_annotations(s) for s in schema]
    if not isinstance(schema, dict):
        return schema  # a boolean schema
    kept: dict[str, Any] = {}
    for keyword, value in schema.items():
        if is_annotation(keyword):
            continue
        if keyword in _NAMED and isinstance(value, dict):
            kept[keyword] = {name: without_annotations(sub) for name, sub in value.items()}
        elif keyword in _ONE:
            kept[keyword] = without_annotations(value)
        elif keyword in _MANY and isinstance(value, list):
            kept[keyword] = [without_annotations(sub) for sub in value]
        else:
            kept[keyword] = value
    return kept


def references(value: Any) -> set[str]:
    """The component names a schema refers to: every ``$ref`` and every discriminator mapping target."""
    found: set[str] = set()
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "$ref" and isinstance(item, str):
                found.add(_component_name(item))
            elif key == "discriminator" and isinstance(item, dict):
                found.update(_component_name(target) for target in (item.get("mapping") or {}).values())
            else:
                found |= references(item)
    elif isinstance(value, list):
        for item in value:
            found |= references(item)
    return found


def _component_name(ref: str) -> str:
    if not ref.startswith(REF_PREFIX) or "/" in ref[len(REF_PREFIX) :]:
        raise InputError(f"{SPEC_SOURCE}: reference {ref!r} is not a {REF_PREFIX}<Name> the bundle can follow")
    return ref[len(REF_PREFIX) :]


def pointer(where: tuple[str, ...]) -> str:
    """``where`` as a JSON pointer (RFC 6901) into the spec."""
    return "#/" + "/".join(step.replace("~", "~0").replace("/", "~1") for step in where)


def _root(document: dict[str, Any], where: str | tuple[str, ...]) -> tuple[str, dict[str, Any] | None]:
    """A root's component name, or (for a body the spec writes inline) its pointer and the schema itself."""
    if isinstance(where, str):
        return where, None
    node: Any = document
    for step in where:
        node = node.get(step) if isinstance(node, dict) else None
    if not isinstance(node, dict):
        raise InputError(f"{SPEC_SOURCE} has no schema at {'/'.join(where)}: the operation moved or was renamed")
    if set(node) - ANNOTATIONS == {"$ref"} and isinstance(node["$ref"], str):
        return _component_name(node["$ref"]), None
    return pointer(where), node


def extract(document: Any, sha256: str) -> dict[str, Any]:
    """The bundled document (see the module doc) from a parsed OpenAPI ``document``."""
    schemas = document.get("components", {}).get("schemas") if isinstance(document, dict) else None
    if not isinstance(schemas, dict):
        raise InputError(f"{SPEC_SOURCE} has no components.schemas: is it OpenRouter's OpenAPI document?")
    found = {role: _root(document, where) for role, where in ROOTS.items()}
    roots = {role: name for role, (name, _) in found.items()}
    inline = {role: schema for role, (_, schema) in found.items() if schema is not None}
    wanted: set[str] = set()
    todo = [name for name, schema in found.values() if schema is None]
    for schema in inline.values():
        todo.extend(references(schema))
    while todo:
        name = todo.pop()
        if name in wanted:
            continue
        if name not in schemas:
            raise InputError(f"{SPEC_SOURCE}: components.schemas has no {name!r} (referenced by the bundled schemas)")
        wanted.add(name)
        todo.extend(references(schemas[name]) - wanted)
    return {
        "components": {"schemas": {name: without_annotations(schemas[name]) for name in sorted(wanted)}},
        "inline": {role: without_annotations(schema) for role, schema in sorted(inline.items())},
        "roots": roots,
        "source": {"file": SPEC_SOURCE, "sha256": sha256},
    }


def document_bytes(document: dict[str, Any]) -> bytes:
    """The bundled document as written: compact, sorted keys, UTF-8, a trailing newline (same input, same bytes)."""
    return (json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False) + "\n").encode("utf-8")


# --- reading --------------------------------------------------------------------------------------------------


@cache
def _load(root: Path) -> dict[str, Any]:
    path = root / SPEC_FILE
    hint = "rebuild it with `python -m catalog.bundle build --from ../shared/data/openrouter`"
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BundleError(f"no bundled spec schemas at {path}; {hint}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BundleError(f"cannot read {path} ({exc}); {hint}") from None
    schemas = document.get("components", {}).get("schemas") if isinstance(document, dict) else None
    if not isinstance(schemas, dict) or not schemas:
        raise BundleError(f"{path} holds no components.schemas; {hint}")
    return dict(document)


def spec_document(root: Path | None = None) -> dict[str, Any]:
    """The whole bundled document (``components.schemas``, ``roots``, ``source``); read once, do not modify."""
    return _load(Path(root) if root is not None else settings.bundle_dir())


def spec_schemas(root: Path | None = None) -> dict[str, Any]:
    """Every bundled component schema by name (annotations dropped); read once, do not modify."""
    schemas: dict[str, Any] = spec_document(root)["components"]["schemas"]
    return schemas


def spec_schema(name: str, root: Path | None = None) -> dict[str, Any]:
    """Component ``name`` as a self-contained JSON-Schema 2020-12 schema (``$ref`` + the bundled components),
    for any validator: ``jsonschema.Draft202012Validator(spec_schema("ProviderPreferences"))``.

    ``name`` is a component (``ProviderPreferences``) or a root's role (``ChatRequest``, ``KeyResponse`` …); a
    role whose body the spec writes inline is that schema with the components beside it."""
    document = spec_document(root)
    inline = document.get("inline", {})
    if name in inline:
        return {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            **inline[name],
            "components": document["components"],
        }
    component = document.get("roots", {}).get(name, name)
    if component not in document["components"]["schemas"]:
        known = ", ".join(sorted([*document["components"]["schemas"], *inline]))
        raise NotFoundError(f"no schema {name!r} in the bundled spec; it holds {known}")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$ref": REF_PREFIX + component,
        "components": document["components"],
    }
