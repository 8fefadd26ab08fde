"""Benchmark: how long the ``catalog`` command takes to start, on this tree and on a base revision, in one run.

Each figure is the wall time of a fresh process (``python -m catalog …`` with the tree on ``PYTHONPATH``, run from
the tree, the same Python for both), median and min of ``--runs`` runs after one warm-up:

- ``catalog --help`` and ``catalog <cmd> --help`` for every command (the median over commands is printed too);
- ``catalog models --json`` on a replayed history: the bundled full days replayed once into a temp DuckDB file by
  this tree (``catalog replay --direct``, the same history as over HTTP in a few seconds), or ``--db PATH`` (an
  existing history, only read).

The peer is the same script's figures on ``--base`` (default: the revision before start-up was made lazy),
extracted with ``git archive`` into a temp directory. Also printed: which heavy libraries ``import catalog.cli``
loads in each tree.

Targets: ``--help`` and ``<cmd> --help`` ≤ 0.4 s; ``models --json`` ≤ 1.5 s.

    python bench/startup.py [--base REV] [--runs 7] [--db PATH]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Sequence
from io import BytesIO
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_BASE = "72444f4"
TARGET_HELP_S = 0.4
TARGET_MODELS_S = 1.5
COMMANDS = (
    "cheapest",
    "cost",
    "price",
    "models",
    "endpoints",
    "changes",
    "replay",
    "sync",
    "site",
    "gen",
    "serve",
    "fake-openrouter",
    "up",
    "status",
    "jobs",
)
HEAVY = ("polars", "duckdb", "pyarrow", "httpx", "starlette", "fastapi", "uvicorn", "rich", "apscheduler")


def extract(rev: str, into: Path) -> Path:
    """The tree of ``rev`` (its ``catalog`` and ``jobs`` packages and the bundle) in ``into``."""
    archive = subprocess.run(["git", "archive", rev], cwd=ROOT, capture_output=True, check=True).stdout
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    return into


def run(tree: Path, args: Sequence[str]) -> float:
    env = {**os.environ, "PYTHONPATH": str(tree), "NO_COLOR": "1"}
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "catalog", *args], cwd=tree, env=env, capture_output=True, text=True, timeout=300
    )
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"`catalog {' '.join(args)}` failed in {tree}:\n{done.stderr[-2000:]}")
    return elapsed


def timed(tree: Path, args: Sequence[str], runs: int) -> tuple[float, float]:
    run(tree, args)  # warm-up: bytecode compiled, files in the page cache
    times = [run(tree, args) for _ in range(runs)]
    return statistics.median(times), min(times)


def loaded(tree: Path) -> list[str]:
    code = f"import sys, catalog.cli; print(' '.join(m for m in {HEAVY!r} if m in sys.modules))"
    env = {**os.environ, "PYTHONPATH": str(tree)}
    out = subprocess.run([sys.executable, "-c", code], cwd=tree, env=env, capture_output=True, text=True, check=True)
    return out.stdout.split()


def history(db: Path | None, scratch: Path) -> Path:
    if db is not None:
        if not db.exists():
            raise SystemExit(f"--db {db}: no such file")
        return db
    db = scratch / "history.duckdb"
    started = time.perf_counter()
    run(ROOT, ["replay", "--direct", "--db", str(db)])
    print(f"history: the bundled full days replayed into a temp file in {time.perf_counter() - started:.1f} s")
    return db


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", default=DEFAULT_BASE, help=f"the revision to compare with (default {DEFAULT_BASE})")
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--db", type=Path, help="an existing history for `models --json` (default: replay one)")
    opts = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-startup-") as tmp:
        scratch = Path(tmp)
        base = extract(opts.base, scratch / "base")
        db = history(opts.db, scratch)
        trees = {"this tree": ROOT, f"base {opts.base}": base}
        rows: list[tuple[str, str, float, float]] = []
        for label, tree in trees.items():
            print(f"{label}: `import catalog.cli` loads {', '.join(loaded(tree)) or 'none of ' + ', '.join(HEAVY)}")
            rows.append((label, "catalog --help", *timed(tree, ["--help"], opts.runs)))
            per_command = [timed(tree, [cmd, "--help"], opts.runs) for cmd in COMMANDS]
            rows.append(
                (
                    label,
                    f"catalog <cmd> --help (median of {len(COMMANDS)} commands; slowest)",
                    statistics.median(m for m, _ in per_command),
                    max(m for m, _ in per_command),
                )
            )
            models = timed(tree, ["models", "--json", "--db", str(db)], opts.runs)
            rows.append((label, "catalog models --json", *models))

    print(f"\n{'tree':<18} {'command':<62} {'median':>8} {'min/max':>8}")
    for label, what, median, other in rows:
        print(f"{label:<18} {what:<62} {median:>7.3f}s {other:>7.3f}s")
    mine = [r for r in rows if r[0] == "this tree"]
    ok_help = all(r[2] <= TARGET_HELP_S and r[3] <= TARGET_HELP_S for r in mine[:2])
    ok_models = mine[2][2] <= TARGET_MODELS_S
    print(f"\ntarget --help ≤ {TARGET_HELP_S} s (every command): {'PASS' if ok_help else 'FAIL'}")
    print(f"target models --json ≤ {TARGET_MODELS_S} s: {'PASS' if ok_models else 'FAIL'}")


if __name__ == "__main__":
    main()
