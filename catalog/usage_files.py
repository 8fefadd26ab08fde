"""Usage files → a usage frame: the file reading the cost engine itself never does.

Flat usage columns (CSV, Parquet, JSONL of contract fields) are read columnar and fast; raw response
bodies (JSON, JSONL, SSE transcripts) go through ``catalog.cost.bodies``. Either way bad rows come back as
messages, and a file that cannot be read at all is an ``InputError`` naming it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import polars as pl

from catalog import json_input
from catalog.cost.bodies import read_text
from catalog.cost.shapes import ShapeReport, read_shape, text_columns
from catalog.cost.usage import USAGE_SCHEMA, usage_frame
from catalog.errors import InputError


def read_usage_file(path: str | Path, **options: Any) -> tuple[list[dict[str, Any]], list[str]]:
    """Rows (in contract fields) from a JSON / JSONL / SSE file of response bodies or flat rows."""
    rows, problems, _ = read_usage_text(Path(path), **options)
    return rows, problems


def read_usage_text(path: Path, **options: Any) -> tuple[list[dict[str, Any]], list[str], ShapeReport | None]:
    try:
        text = path.read_text(encoding="utf-8-sig")  # a BOM is not part of the JSON
    except UnicodeDecodeError:
        raise InputError(f"usage file {path} is not UTF-8 text; give JSON, JSONL or an SSE transcript") from None
    except OSError as err:
        raise InputError(f"cannot read usage file {path}: {err.strerror or err}") from None
    return read_text(text, path.name, **options)


def read_usage(
    path: Path,
    *,
    forced: str | None = None,
    maps: Mapping[str, str] | None = None,
    ignore: Iterable[str] = (),
) -> tuple[pl.DataFrame, list[str], ShapeReport | None]:
    """CSV / Parquet / JSONL of flat usage columns in any shape ``catalog.cost.shapes`` knows, or JSON / JSONL /
    SSE of raw response bodies; with the report of which shape was read (None: bodies, each read by its keys)."""
    suffix = path.suffix.lower()
    if not path.is_file():
        raise InputError(f"usage file {path} does not exist")
    options: dict[str, Any] = {"forced": forced, "maps": maps, "ignore": ignore}
    try:
        frame = None
        if suffix == ".parquet":
            frame = pl.read_parquet(path)
        elif suffix == ".csv":
            present = pl.read_csv(path, n_rows=0).columns
            # Money and names are text as written: never through a float, never a number for an id.
            frame = pl.read_csv(path, schema_overrides={c: pl.String for c in text_columns(present)})
        elif suffix in (".jsonl", ".ndjson") and _flat_jsonl(path):
            frame = pl.read_ndjson(path, infer_schema_length=10_000)
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise InputError(f"cannot read usage file {path}: {_one_line(exc)}") from None
    if frame is not None:
        shaped, report = read_shape(frame, **options)
        return shaped, [], report
    rows, problems, found = read_usage_text(path, **options)
    return usage_frame(rows), problems, found


def _flat_jsonl(path: Path) -> bool:
    """A JSONL file of flat rows of one shape, none of them a response body: read fast, columnar."""
    try:
        with path.open(encoding="utf-8") as handle:
            for line in handle:
                if line.strip():
                    first = json_input.loads(line)
                    return isinstance(first, dict) and set(first) <= set(USAGE_SCHEMA)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return False  # not flat rows: the body reader reads it, or says why it cannot
    return False


def _one_line(exc: Exception) -> str:
    """A reader's error in one line: polars wraps the cause in a page of generic advice ("Original error: ...")."""
    text = str(exc)
    text = text.split("Original error:", 1)[1] if "Original error:" in text else text
    text = " ".join(text.replace("`", "").split())
    return text if len(text) <= 200 else text[:200] + "…"
