"""A structured-output reply read back: its JSON, checked against the schema the call asked for.

The check covers the JSON Schema that structured outputs use (the subset OpenAI's strict mode and
OpenRouter's docs describe): ``type`` (one or a list), ``properties`` / ``required`` /
``additionalProperties``, ``items`` / ``prefixItems`` / ``minItems`` / ``maxItems``, ``enum`` / ``const``,
``anyOf`` / ``oneOf`` / ``allOf``, ``$ref`` into ``$defs`` / ``definitions``, string length and ``pattern``,
number bounds. A keyword outside it is not checked (the provider's strict mode enforces it). The package
has no validator dependency at run time (tests cross-check this one with ``jsonschema``); the first
violation is reported with its JSON path (``$.colours[1]``), as ``jsonschema`` would find it.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any

from catalog.errors import GenerationError


class StructuredOutputError(GenerationError):
    """The reply is not JSON, or not JSON matching the call's schema; ``path`` names the first violation."""

    def __init__(self, message: str, *, path: str = "$", text: str = "") -> None:
        super().__init__(message)
        self.path = path
        self.text = text


def parse_reply(text: str, schema: dict[str, Any] | None) -> Any:
    """``text`` as JSON, checked against ``schema`` when there is one."""
    try:
        value = json.loads(text, parse_float=Decimal)  # numbers stay exact, as everywhere money may appear
    except ValueError as exc:
        raise StructuredOutputError(
            f"the reply is not JSON ({exc}): {text[:120]!r}; ask for it with response_format=json_schema(...)",
            text=text,
        ) from None
    if schema is not None:
        problem = first_violation(value, schema, schema, "$")
        if problem is not None:
            path, why = problem
            raise StructuredOutputError(f"the reply does not match the schema at {path}: {why}", path=path, text=text)
    return value


_TYPES: dict[str, Any] = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: (
        (isinstance(v, int) and not isinstance(v, bool)) or (isinstance(v, Decimal) and v == v.to_integral_value())
    ),
    "number": lambda v: isinstance(v, int | Decimal) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
}


def first_violation(value: Any, schema: Any, root: dict[str, Any], path: str) -> tuple[str, str] | None:
    """``(path, why)`` of the first place ``value`` breaks ``schema``, or None."""
    if schema is False:
        return path, "no value is allowed here"
    if not isinstance(schema, dict):
        return None  # true: anything
    if "$ref" in schema:
        target = _resolve(root, schema["$ref"])
        found = first_violation(value, target, root, path)
        if found:
            return found
    kinds = schema.get("type")
    if kinds is not None:
        names = [kinds] if isinstance(kinds, str) else list(kinds)
        if not any(_TYPES.get(name, lambda v: True)(value) for name in names):
            return path, f"expected {' or '.join(names)}, got {_shown(value)}"
    if "enum" in schema and value not in schema["enum"]:
        return path, f"{_shown(value)} is not one of {schema['enum']}"
    if "const" in schema and value != schema["const"]:
        return path, f"{_shown(value)} is not {schema['const']!r}"
    for keyword in ("allOf", "anyOf", "oneOf"):
        if keyword in schema:
            found = _combined(keyword, value, schema[keyword], root, path)
            if found:
                return found
    if isinstance(value, dict):
        return _object(value, schema, root, path)
    if isinstance(value, list):
        return _array(value, schema, root, path)
    return _scalar(value, schema, path)


def _scalar(value: Any, schema: dict[str, Any], path: str) -> tuple[str, str] | None:
    if isinstance(value, str):
        if len(value) < schema.get("minLength", 0) or len(value) > schema.get("maxLength", len(value)):
            return path, f"{_shown(value)} has {len(value)} characters, outside the schema's length"
        if "pattern" in schema and not re.search(schema["pattern"], value):
            return path, f"{_shown(value)} does not match {schema['pattern']!r}"
    if _TYPES["number"](value):
        for keyword, broken in (
            ("minimum", lambda b: value < b),
            ("maximum", lambda b: value > b),
            ("exclusiveMinimum", lambda b: value <= b),
            ("exclusiveMaximum", lambda b: value >= b),
        ):
            if keyword in schema and broken(Decimal(str(schema[keyword]))):
                return path, f"{value} breaks {keyword} {schema[keyword]}"
    return None


def _combined(keyword: str, value: Any, options: list[Any], root: dict[str, Any], path: str) -> tuple[str, str] | None:
    found = [first_violation(value, option, root, path) for option in options]
    if keyword == "allOf":
        return next((f for f in found if f), None)
    matches = sum(f is None for f in found)
    if matches == 0:
        return path, f"{_shown(value)} matches none of the {keyword} alternatives"
    if keyword == "oneOf" and matches > 1:
        return path, f"{_shown(value)} matches {matches} of the oneOf alternatives, not exactly one"
    return None


def _object(value: dict[str, Any], schema: dict[str, Any], root: dict[str, Any], path: str) -> tuple[str, str] | None:
    for name in schema.get("required", []):
        if name not in value:
            return path, f"required property {name!r} is missing"
    properties = schema.get("properties", {})
    extra = schema.get("additionalProperties", True)
    for name, item in value.items():
        where = f"{path}.{name}" if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name) else f"{path}[{json.dumps(name)}]"
        if name in properties:
            found = first_violation(item, properties[name], root, where)
        elif extra is False:
            return where, f"property {name!r} is not allowed (additionalProperties is false)"
        else:
            found = first_violation(item, extra, root, where)
        if found:
            return found
    return None


def _array(value: list[Any], schema: dict[str, Any], root: dict[str, Any], path: str) -> tuple[str, str] | None:
    if len(value) < schema.get("minItems", 0) or len(value) > schema.get("maxItems", len(value)):
        return path, f"{len(value)} items, outside the schema's minItems/maxItems"
    prefix = schema.get("prefixItems", [])
    for i, item in enumerate(value):
        sub = prefix[i] if i < len(prefix) else schema.get("items", True)
        found = first_violation(item, sub, root, f"{path}[{i}]")
        if found:
            return found
    return None


def _resolve(root: dict[str, Any], ref: str) -> Any:
    if not ref.startswith("#"):
        raise StructuredOutputError(f"schema reference {ref!r} is not local (#/$defs/…): inline it")
    node: Any = root
    for step in [s for s in ref[1:].split("/") if s]:
        step = step.replace("~1", "/").replace("~0", "~")
        if not isinstance(node, dict) or step not in node:
            raise StructuredOutputError(f"schema reference {ref!r} points nowhere in the schema")
        node = node[step]
    return node


def _shown(value: Any) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= 60 else text[:57] + "..."
