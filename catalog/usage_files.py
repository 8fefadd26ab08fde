"""Usage files → a usage frame: the file reading the cost engine itself never does.

Flat usage columns (CSV, Parquet, JSONL of contract fields) are read columnar and fast; raw response
bodies (JSON, JSONL, SSE transcripts) go through ``catalog.cost.bodies``. Either way bad rows come back as
messages, and a file that cannot be read at all is an ``InputError`` naming it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
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


# Streamed inputs: a Parquet file, or a folder of Parquet / CSV files. Batches of this many rows keep the
# memory under a GB whatever the input's size, and are large enough that a batch's fixed costs (resolving
# its models, deciding its price cells) are small beside its rows.
BATCH_ROWS = 1 << 21
_STREAMED = (".parquet", ".csv")


def streams(path: Path) -> bool:
    """Whether ``path`` is read in batches (``usage_batches``) rather than whole (``read_usage``)."""
    return path.is_dir() or (path.is_file() and path.suffix.lower() == ".parquet")


def usage_batches(path: Path, *, batch_rows: int = BATCH_ROWS) -> tuple[int | None, Iterator[pl.DataFrame]]:
    """The rows of a Parquet file or of a folder of Parquet / CSV files, in batches of at most ``batch_rows``:
    how many rows there are (None when the count would need a pass over CSV) and the batches.

    Arrow's dataset reader streams row groups (Parquet) and blocks (CSV), so a file larger than memory is
    priced in bounded memory; files are read in name order."""
    import pyarrow.dataset as ds

    files = _stream_files(path)
    suffixes = {f.suffix.lower() for f in files}
    if len(suffixes) > 1:
        raise InputError(f"{path} mixes Parquet and CSV files; give a folder of one kind")
    kind = "parquet" if suffixes == {".parquet"} else "csv"
    try:
        if kind == "csv":
            # Text columns stay text (model names like "1.5", ids); counts and times are read by ``conform``.
            present = pl.read_csv(files[0], n_rows=0).columns
            strings = text_columns(present)
            import pyarrow as pa
            import pyarrow.csv as pacsv

            options = pacsv.ConvertOptions(column_types={c: pa.string() for c in strings})
            dataset = ds.dataset([str(f) for f in files], format=ds.CsvFileFormat(convert_options=options))
            total = None
            source = lambda: dataset.to_batches(  # noqa: E731 - the two kinds' sources side by side
                batch_size=batch_rows, batch_readahead=1, fragment_readahead=1
            )
        else:
            import pyarrow.parquet as pq

            total = sum(pq.ParquetFile(str(f)).metadata.num_rows for f in files)

            def source() -> Iterator[Any]:
                # One file, and within it one row group, at a time: the dataset scanner decodes whole files ahead
                # (a GB and more with files of 10M rows, even with its read-ahead at 1).
                for file in files:
                    with pq.ParquetFile(str(file)) as reader:
                        yield from reader.iter_batches(batch_size=batch_rows)
    except (OSError, ValueError) as exc:  # pyarrow's ArrowInvalid is a ValueError
        raise InputError(f"cannot read usage {path}: {_one_line(exc)}") from None

    def batches() -> Iterator[pl.DataFrame]:
        import pyarrow as pa

        pending: list[Any] = []  # Arrow batches come a row group at a time: gathered up to ``batch_rows``
        count = 0
        try:
            # Arrow's CSV scanner reads ahead 4 files and 16 batches by default: with large files that alone is GBs.
            for batch in source():
                if count + batch.num_rows > batch_rows and pending:
                    yield _frame(pa.Table.from_batches(pending))
                    pending, count = [], 0
                if batch.num_rows:
                    pending.append(batch)
                    count += batch.num_rows
            if pending:
                yield _frame(pa.Table.from_batches(pending))
        except (OSError, ValueError) as exc:
            raise InputError(f"cannot read usage {path}: {_one_line(exc)}") from None

    return total, batches()


def _frame(table: Any) -> pl.DataFrame:
    frame = pl.from_arrow(table)
    assert isinstance(frame, pl.DataFrame)
    return frame


def _stream_files(path: Path) -> list[Path]:
    if not path.exists():
        raise InputError(f"usage file {path} does not exist")
    if path.is_file():
        return [path]
    files = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in _STREAMED)
    if not files:
        raise InputError(f"folder {path} holds no .parquet or .csv files; give usage files there")
    return files
