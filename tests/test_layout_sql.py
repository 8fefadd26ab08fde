"""SQL lives in ``catalog/store/``: no other module of ``catalog`` or ``jobs`` holds an SQL statement.

Every ``.py`` outside the store is parsed and each string literal (f-strings included: their literal parts
joined) is checked for the start of a ``SELECT``, ``INSERT``, ``UPDATE`` or ``DELETE`` statement, written the
way SQL is written here (upper-case keyword followed by the clause that makes it a statement). Prose that
merely uses the words ("select a model", "Update the site") does not match. The good-snapshot predicate is
also written exactly once, in the store.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("catalog", "jobs")
STORE = ROOT / "catalog" / "store"

# Files allowed to hold SQL for now, each with the reason. Keep this empty: a statement belongs in a store
# function with a name that says what it reads or writes.
ALLOWED: dict[str, str] = {}

STATEMENT = re.compile(
    r"""
    \b(?:
        SELECT\b[\s\S]*?\bFROM\b            # SELECT … FROM
      | SELECT\s+(?:DISTINCT\s+)?[\w*(]     # SELECT 1, SELECT count(*), SELECT max(...)
      | INSERT\s+(?:OR\s+\w+\s+)?INTO\b
      | UPDATE\s+\w+\s+SET\b
      | DELETE\s+FROM\b
    )
    """,
    re.VERBOSE,
)
GOOD_SNAPSHOT = re.compile(r"status\s*(?:<>|!=)\s*'failed'")


def _literals(tree: ast.AST) -> list[tuple[int, str]]:
    """Every string literal with its line; an f-string's literal parts joined with a space."""
    found: list[tuple[int, str]] = []
    in_fstring: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            parts = [v.value for v in node.values if isinstance(v, ast.Constant) and isinstance(v.value, str)]
            in_fstring.update(id(v) for v in node.values)
            found.append((node.lineno, " ".join(parts)))
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in in_fstring:
            found.append((node.lineno, node.value))
    return found


def _sources() -> list[Path]:
    return sorted(p for package in PACKAGES for p in (ROOT / package).rglob("*.py") if STORE not in p.parents)


def sql_outside_the_store() -> list[str]:
    hits = []
    for path in _sources():
        name = path.relative_to(ROOT).as_posix()
        if name in ALLOWED:
            continue
        for line, text in _literals(ast.parse(path.read_text(encoding="utf-8"), filename=name)):
            match = STATEMENT.search(text)
            if match:
                hits.append(f"{name}:{line}: {' '.join(match.group(0).split())[:60]}")
    return sorted(hits)


def test_no_sql_statement_outside_the_store() -> None:
    hits = sql_outside_the_store()
    assert not hits, "SQL outside catalog/store/ (give it a named store function):\n" + "\n".join(hits)


def test_the_scan_finds_statements_and_ignores_prose() -> None:
    tree = ast.parse(
        "a = 'SELECT max(taken_at) FROM snapshots'\n"
        "b = f'DELETE FROM {table} WHERE x = ?'\n"
        "c = '''\n    UPDATE snapshots SET raw_pruned_at = ?'''\n"
        "d = 'INSERT INTO t VALUES (1)'\n"
        "e = 'select a model, then update the site; delete from the list'\n"
        "f = 'SELECT'\n"
        "g = 'Update the site after every sweep'\n"
    )
    flagged = {line for line, text in _literals(tree) if STATEMENT.search(text)}
    assert flagged == {1, 2, 3, 5}


def test_the_good_snapshot_predicate_is_written_once() -> None:
    places = []
    for path in [*_sources(), *sorted(STORE.rglob("*.py"))]:
        name = path.relative_to(ROOT).as_posix()
        if name not in ALLOWED:
            lines = path.read_text(encoding="utf-8").splitlines()
            places += [f"{name}:{n}" for n, line in enumerate(lines, 1) if GOOD_SNAPSHOT.search(line)]
    assert len(places) == 1 and places[0].startswith("catalog/store/snapshots.py:"), places
