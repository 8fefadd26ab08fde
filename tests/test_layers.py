"""The one-way layers (pyproject's ``[tool.importlinter]`` contracts) hold, and the check does catch a break."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _lint(cwd: Path, *, config: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(cwd)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--no-logo", str(config)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_layer_contracts_are_kept() -> None:
    result = _lint(ROOT, config=ROOT / "pyproject.toml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_a_forbidden_import_breaks_the_check(tmp_path: Path) -> None:
    # A copy of the packages with the store importing httpx: the same contracts must reject it.
    for package in ("catalog", "jobs"):
        shutil.copytree(ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__"))
    target = tmp_path / "catalog" / "store" / "snapshots.py"
    target.write_text(target.read_text() + "\nimport httpx  # noqa\n")
    result = _lint(tmp_path, config=ROOT / "pyproject.toml")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "catalog.store.snapshots -> httpx" in result.stdout


def _loaded_after(statement: str, modules: tuple[str, ...]) -> list[str]:
    code = f"import sys; {statement}; print(' '.join(m for m in {modules!r} if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


def test_the_command_line_starts_without_the_heavy_libraries() -> None:
    # `catalog --help` lists every command, the service's too: none of them may load these at import.
    heavy = ("polars", "duckdb", "pyarrow", "httpx", "starlette", "fastapi", "uvicorn", "catalog.store")
    statement = "import catalog.cli, jobs.cli; catalog.cli.load_plugin_commands()"
    assert _loaded_after(statement, heavy) == []


def test_the_store_loads_no_http_and_the_live_sweep_no_fake_server() -> None:
    assert _loaded_after("import catalog.store.ingest, catalog.store.rebuild", ("httpx", "starlette")) == []
    assert _loaded_after("import catalog.pipeline", ("starlette", "fastapi", "catalog.fake", "catalog.bundle")) == []


def test_every_job_resolves_to_a_function() -> None:
    from jobs.registry import JOBS

    for spec in JOBS.values():
        assert callable(spec.run), spec.target
