"""Helpers every test module may use; not a test module.

- ``run_cli``: ``catalog ARGS`` in this process (click's test isolation), through the console entry point's
  error edge, so the exit code and the one-line errors are those of the real command. Use ``run_process`` only
  where a real process is the point (a second process holding a lock, signals, a kill).
- ``built_once``: make something expensive once per run under a file lock, shared by every xdist worker.
- ``shared_data_dir``: the raw recordings beside the checkout (``CATALOG_SHARED_DATA`` or ``../shared``).
- ``spec_validator`` / ``spec_problems``: a jsonschema validator for a schema of the bundled OpenRouter spec
  (``ProviderPreferences``, ``ChatRequest``), and what is wrong with an object against one.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from click.testing import CliRunner
from jsonschema import Draft202012Validator

from catalog.bundle import spec_schema
from catalog.cli import main
from catalog.settings import PROJECT_ROOT


@dataclass(frozen=True)
class Ran:
    """What a command did: its exit code and what it wrote (the fields of ``subprocess.CompletedProcess``)."""

    args: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str


def run_cli(*args: str, env: Mapping[str, str | None] | None = None, input: str | None = None) -> Ran:
    """Run ``catalog ARGS`` in this process; ``env`` adds (or, with None, removes) variables for the call."""
    runner = CliRunner()
    argv = ["catalog", *args]
    with runner.isolation(input=input, env=env) as (stdout, stderr, _), mock.patch.object(sys, "argv", argv):
        try:
            main()
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
        out, err = stdout.getvalue(), stderr.getvalue()
    return Ran(args, code, out.decode(), err.decode("utf-8", "backslashreplace"))


def run_process(
    *args: str, env: Mapping[str, str] | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m catalog ARGS`` as its own process (the environment plus ``env``)."""
    return subprocess.run(
        [sys.executable, "-m", "catalog", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


def run_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The run's own temp folder, shared by its xdist workers.

    Under xdist each worker has its own basetemp inside the run's directory: share the parent, which is still
    private to this run. Without xdist the basetemp itself is the run's directory."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


def built_once(tmp_path_factory: pytest.TempPathFactory, name: str, make: Callable[[Path], None]) -> Path:
    """``make(folder)`` once per run under a lock; every worker then reads the finished folder.

    A folder without its ``done`` mark (a build that failed or was killed) is cleared and made again."""
    root = run_root(tmp_path_factory)
    folder = root / name
    with open(root / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (folder / "done").exists():
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir()
            make(folder)
            (folder / "done").write_text("ok")
    return folder


def shared_data_dir() -> Path | None:
    """The recorded OpenRouter data beside the checkout (present on developer machines and in CI)."""
    raw = os.environ.get("CATALOG_SHARED_DATA")
    path = Path(raw) if raw else PROJECT_ROOT.parent / "shared" / "data" / "openrouter"
    return path if path.is_dir() else None


@cache
def spec_validator(name: str) -> Draft202012Validator:
    """A validator for component ``name`` of the bundled spec (``catalog.bundle.spec_schema``), made once."""
    return Draft202012Validator(spec_schema(name))


def spec_problems(obj: Any, name: str = "ProviderPreferences") -> list[str]:
    """Every way ``obj`` breaks schema ``name`` of the bundled spec, as "path: message" lines ([] when valid)."""
    return [
        f"{'/'.join(map(str, error.absolute_path)) or '.'}: {error.message}"
        for error in spec_validator(name).iter_errors(obj)
    ]
