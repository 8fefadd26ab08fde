"""Rendering for the CLI: exact JSON for programs, compact tables for people, progress bars on terminals."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import click

from catalog import money
from catalog.exact_json import jsonable
from catalog.money import canonical
from catalog.times import iso

if TYPE_CHECKING:
    import polars as pl


def rows_of(frame: pl.DataFrame, columns: Sequence[str] | None = None) -> list[dict[str, Any]]:
    if columns is not None:
        frame = frame.select([c for c in columns if c in frame.columns])
    return frame.to_dicts()


def emit_json(payload: Any) -> None:
    click.echo(json.dumps(jsonable(payload), indent=2, ensure_ascii=False))


def per_million_text(value: Any) -> str:
    """Display only: $ per million tokens, trimmed. Storage and JSON keep the exact per-token decimal."""
    if value is None:
        return "dynamic"
    if not isinstance(value, Decimal):
        return str(value)
    return canonical(money.per_million(value))


def cell(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, Decimal):
        return canonical(value)
    if isinstance(value, datetime):
        return iso(value) or ""
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def emit_table(title: str, headers: Sequence[str], rows: Sequence[Sequence[Any]], *, note: str | None = None) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    console = Console(soft_wrap=False, width=None if sys.stdout.isatty() else 200)
    table = Table(title=title, title_justify="left", show_lines=False, header_style="bold")
    for header in headers:
        table.add_column(header, overflow="fold")
    for row in rows:
        # Cells are data, not markup: "[min_prompt_tokens=256000]" must print, not vanish as a style tag.
        table.add_row(*[escape(cell(v)) for v in row])
    console.print(table)
    if note:
        console.print(note, style="dim")


@contextmanager
def progress_bar(label: str, *, enabled: bool, unit: str | None = None) -> Iterator[Any]:
    """A rich progress bar on a terminal; a no-op callback elsewhere (``--json``, pipes, CI). With ``unit``
    it also shows the rate (``12.3 M rows/s``) and the time left."""
    if not enabled or not sys.stderr.isatty():
        yield lambda done, total, label=None: None
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        ProgressColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )
    from rich.text import Text

    class Rate(ProgressColumn):
        def render(self, task: Any) -> Text:
            speed = task.finished_speed or task.speed
            if speed is None:
                return Text(f"… {unit}/s")
            scaled = f"{speed / 1e6:.1f} M" if speed >= 1e6 else f"{speed:,.0f}"
            return Text(f"{scaled} {unit}/s")

    columns: list[Any] = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()]
    if unit:
        columns += [Rate(), TextColumn("ETA"), TimeRemainingColumn()]
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(label, total=None)

        def update(done: int, total: int | None, label: str | None = None) -> None:
            """``total`` None: a step whose length is unknown (a pulsing bar); ``label`` renames the step."""
            if label:  # drawn at once: a step that starts and ends between two refreshes is still seen
                bar.update(task, completed=done, total=total, description=label, refresh=True)
            else:
                bar.update(task, completed=done, total=total)

        yield update
