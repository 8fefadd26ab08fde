"""Usage files → a usage frame: the file reading the cost engine itself never does.

Flat usage columns (CSV, Parquet, JSONL of contract fields) are read columnar and fast; raw response
bodies (JSON, JSONL, SSE transcripts) go through ``catalog.cost.bodies``. Either way bad rows come back as
messages, and a file that cannot be read at all is an ``InputError`` naming it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import polars as pl

from catalog import json_input
from catalog.cost.bodies import usage_from_text
from catalog.cost.usage import USAGE_SCHEMA, usage_frame
from catalog.errors import InputError

_STRINGS = ("model", "provider", "endpoint", "id", "billed_cost", "upstream_cost", "source")


def read_usage_file(path: str | Path) -> tuple[list[dict[str, Any]], list[str]]:
    """Rows (in contract fields) from a JSON / JSONL / SSE file of response bodies or flat rows."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")  # a BOM is not part of the JSON
    except UnicodeDecodeError:
        raise InputError(f"usage file {path} is not UTF-8 text; give JSON, JSONL or an SSE transcript") from None
    except OSError as err:
        raise InputError(f"cannot read usage file {path}: {err.strerror or err}") from None
    return usage_from_text(text, path.name)


def read_usage(path: Path) -> tuple[pl.DataFrame, list[str]]:
    """CSV / Parquet / JSONL of flat usage columns, or JSON / JSONL / SSE of raw response bodies."""
    suffix = path.suffix.lower()
    if not path.is_file():
        raise InputError(f"usage file {path} does not exist")
    try:
        if suffix == ".parquet":
            return pl.read_parquet(path), []
        if suffix == ".csv":
            present = pl.read_csv(path, n_rows=0).columns
            return pl.read_csv(path, schema_overrides={c: pl.String for c in _STRINGS if c in present}), []
        if suffix in (".jsonl", ".ndjson") and _flat_jsonl(path):
            frame = pl.read_ndjson(path, infer_schema_length=10_000)
            return frame.with_columns(pl.col(c).cast(pl.String) for c in _STRINGS if c in frame.columns), []
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise InputError(f"cannot read usage file {path}: {_one_line(exc)}") from None
    rows, problems = read_usage_file(path)
    return usage_frame(rows), problems


def _flat_jsonl(path: Path) -> bool:
    """A JSONL file of flat contract rows (read fast, columnar) rather than of response bodies."""
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
