"""``catalog site build`` says what it is doing (issue 18, item 9): on a terminal a bar names each step and
counts the pages; elsewhere one summary line, as before."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import pytest
from helpers import run_cli
from site_helpers import Hostile

from catalog.cli.output import progress_bar
from catalog.library import Catalog
from catalog.website.build import build_site


def test_the_build_names_its_steps_in_order_and_counts_every_page(hostile: Hostile, tmp_path: Path) -> None:
    stages: list[str] = []
    counts: list[tuple[int, int]] = []
    with Catalog.open(hostile.db) as cat:
        report = build_site(
            cat, tmp_path / "site", progress=lambda done, total: counts.append((done, total)), stage=stages.append
        )
    assert stages == ["reading the history", "rendering pages", "writing the manifest"]
    # The bar's total is known before the first page and is the number of pages the build writes.
    assert {total for _, total in counts} == {report.pages}
    assert [done for done, _ in counts] == list(range(1, report.pages + 1))


def test_on_a_terminal_the_bar_shows_each_step(monkeypatch: pytest.MonkeyPatch) -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    screen = Terminal()
    monkeypatch.setattr(sys, "stderr", screen)
    with progress_bar("building", enabled=True) as step:
        step(0, None, "reading the history")
        step(3, 10, "rendering pages")
    shown = screen.getvalue()
    assert "reading the history" in shown and "rendering pages" in shown and "3/10" in shown


def test_off_a_terminal_only_the_summary_line(hostile: Hostile, tmp_path: Path) -> None:
    done = run_cli("site", "build", "--db", str(hostile.db), "--out", str(tmp_path / "site"))
    assert done.returncode == 0, done.stderr
    assert done.stderr == "" and done.stdout.count("\n") == 1 and done.stdout.startswith("built ")
    quiet = run_cli("site", "build", "--db", str(hostile.db), "--out", str(tmp_path / "site"), "--json")
    assert quiet.returncode == 0 and json.loads(quiet.stdout)["pages"] > 0 and quiet.stderr == ""
