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
